"""Units and conversions used across the package.

Names carry their unit (``_s``, ``_bytes``, ``_gb``, ``_usd``, ``_per_s``). Two GB conventions coexist in
AWS's published examples, so every conversion names its convention:

* decimal (1 GB = 10**9 bytes): the ELB examples (300 KB/s for an hour = 1.08 GB processed);
* binary (1 GB = 2**30 bytes, 1,048,576 KB): the API Gateway examples (15,000,000 KB = 14.3 GB).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from fractions import Fraction

SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86_400
DAYS_PER_BILLING_MONTH = 30  # "per 30-day month" figures in summaries

BYTES_PER_KB = 1024  # payload sizes in scenario files: 1 KB = 1024 bytes
DECIMAL_GB_BYTES = 1_000_000_000
BINARY_GB_BYTES = 2**30


#: Longest duration string read (a period is a few characters; this stops a wrong value early).
_MAX_DURATION_CHARS = 64
_NUMBER = r"\d+(?:\.\d+)?"
#: ``1d12h``, ``730h``, ``90m``, ``3600s``, ``1d 12h``: days, hours, minutes, seconds, in that order.
_SHORT = re.compile(
    rf"(?:(?P<d>{_NUMBER})d)?\s*(?:(?P<h>{_NUMBER})h)?\s*(?:(?P<m>{_NUMBER})m)?\s*"
    rf"(?:(?P<s>{_NUMBER})s)?"
)
#: ISO 8601 durations without years and months: ``P30D``, ``PT730H``, ``P1DT12H``, ``P2W``.
_ISO = re.compile(
    rf"P(?:(?P<w>{_NUMBER})W)?(?:(?P<d>{_NUMBER})D)?"
    rf"(?:T(?:(?P<h>{_NUMBER})H)?(?:(?P<m>{_NUMBER})M)?(?:(?P<s>{_NUMBER})S)?)?",
    re.IGNORECASE,
)
_UNIT_S = {
    "w": 7 * SECONDS_PER_DAY,
    "d": SECONDS_PER_DAY,
    "h": SECONDS_PER_HOUR,
    "m": SECONDS_PER_MINUTE,
    "s": 1,
}
DURATION_EXAMPLES = "'30d', '730h', '1d12h', '90m', '3600s' or ISO 8601 'P30D', 'PT730H', 'P1DT12H'"


def parse_duration_s(text: str) -> int:
    """Seconds in a duration string: ``"730h"``, ``"30d"``, ``"90m"``, ``"3600s"``, combinations
    such as ``"1d12h"`` (days, hours, minutes, seconds in that order, each at most once; ``m`` is
    minutes), or ISO 8601 (``"PT730H"``, ``"P30D"``, ``"P1DT12H"``, ``"P2W"``).

    Years and months are refused (their length varies: a month is 28 to 31 days). A component may
    have a decimal fraction (``"1.5h"``); the total must be a whole, positive number of seconds.

    Raises
    ------
    ValueError
        Saying what was expected; the caller names the field.
    """
    s = text.strip()
    if len(s) > _MAX_DURATION_CHARS:
        raise ValueError(
            f"is {len(s)} characters long: expected a duration such as {DURATION_EXAMPLES}"
        )
    iso = s[:1] in ("P", "p")
    match = (_ISO if iso else _SHORT).fullmatch(s)
    if iso:
        date = s[1:].upper().partition("T")[0]
        if "Y" in date or "M" in date:
            raise ValueError(
                f"{s!r} counts years or months, which have no fixed length (a month is 28 to 31 "
                "days): give days or hours instead, e.g. 'P30D' or 'PT720H'"
            )
        if match is not None and s.upper().endswith("T"):
            match = None  # 'P1DT': a time designator with no time after it
    if re.fullmatch(_NUMBER, s):
        raise ValueError(f"{s!r} has no unit: expected a duration such as {DURATION_EXAMPLES}")
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f"expected a duration such as {DURATION_EXAMPLES} (got {s!r})")
    total = sum(
        (Fraction(value) * _UNIT_S[unit] for unit, value in match.groupdict().items() if value),
        Fraction(0),
    )
    if total.denominator != 1:
        raise ValueError(f"{s!r} is {float(total):g} s: expected a whole number of seconds")
    if total <= 0:
        raise ValueError(f"{s!r} is no time at all: expected a positive duration")
    return int(total)


def iso_utc(epoch_s: float) -> str:
    """``2026-11-01T00:00:00Z``: an instant (seconds since the epoch) to the second, in UTC."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
