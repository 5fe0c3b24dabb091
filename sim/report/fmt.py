"""How the report and the Markdown summaries write numbers (one place, so a test can format a value
of ``summary.json`` exactly as the page shows it)."""

from __future__ import annotations

import math


def usd(value: float | None, *, sign: bool = False) -> str:
    """``$1,234.56`` (``-$1.00`` below zero; ``+$1.00`` with ``sign``); ``n/a`` for None."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    cents = round(value, 2) + 0.0  # no "-$0.00"
    text = f"${abs(cents):,.2f}"
    if cents < 0:
        return "-" + text
    return ("+" + text) if sign and cents > 0 else text


def pct(value: float | None, digits: int = 1, *, sign: bool = False) -> str:
    """``94.4%``; ``n/a`` for None."""
    if value is None or not math.isfinite(value):
        return "n/a"
    text = f"{round(value, digits) + 0.0:.{digits}f}%"
    return ("+" + text) if sign and round(value, digits) > 0 else text


def count(value: float | int) -> str:
    """``15,001,642`` (integers) or ``57.9`` (others, one decimal)."""
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def number(value: float | None, significant: int = 4) -> str:
    """``813,313``, ``0.0612``, ``1.2e-07``: ``significant`` digits, thousands separators."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0"
    if not 1e-4 <= abs(value) < 1e15:
        return f"{value:.{significant}g}"
    digits = math.floor(math.log10(abs(value))) + 1
    decimals = max(significant - digits, 0)
    text = f"{round(value, decimals):,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def prob(value: float | None) -> str:
    """A probability: ``0.998``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.3f}"


def index(value: float | None) -> str:
    """A sensitivity index: ``0.61``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{round(value, 2) + 0.0:.2f}"


def days(value: float) -> str:
    """``1 day``, ``3 days``, ``0.25 days``."""
    return f"{number(value)} day" if value == 1 else f"{number(value)} days"
