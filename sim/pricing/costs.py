"""Cost timelines, calendar-month bills and the 30-day projection, from charges and a price book.

Rules (PRICING.md):

* per-hour charges (ALB hours, public IPv4, trust stores, cache hours) bill every clock hour the
  period touches, a partial hour as a full one;
* monthly tiers (API Gateway requests, Lambda, data transfer out, LCU-hours with a free allowance)
  apply to the month-to-date quantity of the calendar month (UTC), reset at each month start, so an
  hour that crosses a tier boundary is split into one row per tier. Each month starts where the rest
  of the account leaves it (``[account] other_monthly_usage``; nothing by default), and a free
  allowance is the month's first units of its usage (a leading $0 tier);
* each calendar month the period touches is its own invoice;
* the 30-day projection prices the period's usage scaled to 30 days (per-hour charges: the hours a
  30-day period starting at the same time of day touches) through the same tiers and allowances:
  never scaled dollars.

Every row satisfies ``cost_usd = quantity × unit_price_usd``. This module reads charges and prices
only, never the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from sim.pricing.book import Price
from sim.pricing.charge import CATEGORIES, Charge
from sim.pricing.tiers import cumulative_cost

__all__ = [
    "COST_COLUMNS",
    "Period",
    "cost_timeline",
    "month_keys",
    "period_totals",
    "projected_costs",
    "projected_costs_many",
]

#: Column name -> (unit, description): the documented schema of costs.parquet.
COST_COLUMNS: dict[str, tuple[str, str]] = {
    "hour": ("timestamp UTC", "start of the clock hour"),
    "option": (
        "name",
        "alb, apigw_rest, apigw_http, apigw_rest_cached[_<size>gb], apigw_websocket",
    ),
    "category": ("name", "front_door, backend (Lambda) or transfer (data out)"),
    "component": (
        "name",
        "what is billed: alb_hours, lcu, public_ipv4, trust_store, requests, ...",
    ),
    "tier": (
        "index",
        "0-based published tier of a tiered price (null for flat prices; free units: tier 0 at $0)",
    ),
    "quantity": ("see unit", "billed quantity in the hour"),
    "unit": ("text", "unit of quantity"),
    "unit_price_usd": ("USD per unit", "price of one unit"),
    "cost_usd": ("USD", "quantity × unit_price_usd"),
}

_SCHEMA_FIELDS = [
    ("option", pa.string()),
    ("category", pa.string()),
    ("component", pa.string()),
    ("tier", pa.int16()),
    ("quantity", pa.float64()),
    ("unit", pa.string()),
    ("unit_price_usd", pa.float64()),
    ("cost_usd", pa.float64()),
]


def month_keys(hours: pa.Array | pa.ChunkedArray) -> NDArray[np.int64]:
    """Calendar month (UTC) of each hour as ``year * 12 + month - 1``."""
    ts = np.asarray(hours.to_numpy(), dtype="datetime64[M]")
    return ts.astype(np.int64)


@dataclass(frozen=True)
class Period:
    """The simulated period, for the projection: its length and whether it starts on the hour."""

    duration_s: int
    n_hours: int
    starts_on_the_hour: bool
    n_days: int = 0  # UTC days the period touches
    starts_at_midnight: bool = True

    @property
    def hours_in_30_days(self) -> int:
        """Clock hours a 30-day period starting at the same time of day touches."""
        return 720 if self.starts_on_the_hour else 721

    @property
    def days_in_30_days(self) -> int:
        """UTC days a 30-day period starting at the same time of day touches."""
        return 30 if self.starts_at_midnight else 31


def _account(charge: Charge, account_usage: Mapping[str, float]) -> float:
    """The rest of the account's monthly usage that comes before this charge's units."""
    if not charge.usage:
        return 0.0
    return float(account_usage.get(charge.usage, 0.0)) * charge.share


def _prior_each_hour(q: NDArray[np.float64], months: NDArray[np.int64]) -> NDArray[np.float64]:
    """Month-to-date quantity before each hour (reset at each calendar month)."""
    cum = np.cumsum(q)
    before = cum - q
    if q.size:
        starts = np.flatnonzero(np.diff(months, prepend=months[0] - 1))
        base = np.repeat(before[starts], np.diff(np.append(starts, q.size)))
        before = before - base
    return before


def _rows(
    charge: Charge, months: NDArray[np.int64], account: float
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """``(hour index, tier, quantity, unit price)`` rows of one charge (tier -1: a flat price)."""
    q = np.asarray(charge.quantity, dtype=np.float64)
    n = q.size
    idx = np.arange(n, dtype=np.int64)
    if isinstance(charge.price, Price) and not charge.free and not account:
        return idx, np.full(n, -1, np.int64), q, np.full(n, charge.price.value)
    tiers = charge.tiers().tiers
    labels = charge.tier_labels()
    start = account + _prior_each_hour(q, months)
    end = start + q
    lows = [0.0, *(t.up_to for t in tiers[:-1])]
    highs = [*(t.up_to for t in tiers[:-1]), np.inf]
    hour_parts, tier_parts, qty_parts, price_parts = [], [], [], []
    for k, (lo, hi, tier) in enumerate(zip(lows, highs, tiers, strict=True)):
        assert lo is not None and hi is not None
        inside = (start >= lo) & (end <= hi)
        seg = np.where(inside, q, np.minimum(end, hi) - np.maximum(start, lo))
        # a zero-usage hour gets one row at the month-to-date tier's price
        empty = (q == 0) & (start >= lo) & (start < hi)
        take = (seg > 0) | empty
        hour_parts.append(idx[take])
        tier_parts.append(np.full(int(take.sum()), k, np.int64))
        qty_parts.append(np.where(empty[take], 0.0, seg[take]))
        price_parts.append(np.full(int(take.sum()), tier.price))
    hour = np.concatenate(hour_parts)
    internal = np.concatenate(tier_parts)
    order = np.lexsort((internal, hour))
    return (
        hour[order],
        np.asarray(labels, dtype=np.int64)[internal[order]],
        np.concatenate(qty_parts)[order],
        np.concatenate(price_parts)[order],
    )


def cost_timeline(
    charges: Sequence[Charge],
    hours: pa.Array | pa.ChunkedArray,
    account_usage: Mapping[str, float] | None = None,
) -> pa.Table:
    """The cost table (:data:`COST_COLUMNS`) of ``charges`` over the meter table's ``hours``.

    ``account_usage`` (usage -> monthly quantity used elsewhere in the account and region) starts
    each month's tiers where the rest of the account leaves them.
    """
    account_usage = account_usage or {}
    months = month_keys(hours)
    hour_type = hours.type
    parts: dict[str, list[Any]] = {k: [] for k in COST_COLUMNS}
    hour_values = np.asarray(hours.to_numpy())
    for charge in charges:
        account = _account(charge, account_usage)
        h, tier, qty, price = _rows(charge, months, account)
        parts["hour"].append(hour_values[h])
        parts["tier"].append(tier)
        parts["quantity"].append(qty)
        parts["unit_price_usd"].append(price)
        for name in ("option", "category", "component", "unit"):
            parts[name].append(np.full(h.size, getattr(charge, name), dtype=object))
    if not charges:
        return pa.table(
            {"hour": pa.array([], hour_type), **{n: pa.array([], t) for n, t in _SCHEMA_FIELDS}}
        )
    tier_all = np.concatenate(parts["tier"])
    qty_all = np.concatenate(parts["quantity"])
    price_all = np.concatenate(parts["unit_price_usd"])
    columns = {
        "hour": pa.array(np.concatenate(parts["hour"]), hour_type),
        "option": pa.array(np.concatenate(parts["option"]), pa.string()),
        "category": pa.array(np.concatenate(parts["category"]), pa.string()),
        "component": pa.array(np.concatenate(parts["component"]), pa.string()),
        "tier": pa.array(tier_all, pa.int16(), mask=tier_all < 0),
        "quantity": pa.array(qty_all, pa.float64()),
        "unit": pa.array(np.concatenate(parts["unit"]), pa.string()),
        "unit_price_usd": pa.array(price_all, pa.float64()),
        "cost_usd": pa.array(qty_all * price_all, pa.float64()),
    }
    return pa.table(columns)


def _scale(charge: Charge, period: Period) -> float:
    """What the period's quantity of ``charge`` is multiplied by for 30 days: days for a daily
    fee, clock hours for an hourly charge, seconds of traffic for usage."""
    if charge.daily:
        return period.days_in_30_days / max(1, period.n_days)
    if charge.hourly:
        return period.hours_in_30_days / max(1, period.n_hours)
    return 30 * 86_400 / period.duration_s


def _flat(charge: Charge, account: float) -> bool:
    """A flat price with nothing before its units (no free allowance, no other usage)."""
    return isinstance(charge.price, Price) and not charge.free and not account


def _tiered_usd(
    projected: float | NDArray[np.float64], account: float | NDArray[np.float64], tiers: Any
) -> Any:
    """USD of ``projected`` units after ``account`` units of the month (elementwise): the month's
    cost function at the end minus at the start."""
    return cumulative_cost(account + projected, tiers) - cumulative_cost(account, tiers)


def _option_costs(charges: Sequence[Charge], usd: Sequence[float]) -> dict[str, dict[str, Any]]:
    """Per option: USD per category, per component and in total, summed in the charges' order."""
    out: dict[str, dict[str, Any]] = {}
    for charge, value in zip(charges, usd, strict=True):
        entry = out.setdefault(
            charge.option,
            {**{f"{c}_usd": 0.0 for c in CATEGORIES}, "total_usd": 0.0, "components_usd": {}},
        )
        entry[f"{charge.category}_usd"] += value
        entry["total_usd"] += value
        entry["components_usd"][charge.component] = (
            entry["components_usd"].get(charge.component, 0.0) + value
        )
    return out


def period_totals(
    charges: Sequence[Charge],
    hours: pa.Array | pa.ChunkedArray,
    account_usage: Mapping[str, float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per option: USD per category, per component and in total over the period: what the rows
    of :func:`cost_timeline` add up to, without the rows.

    Each calendar month is its own bill whose tiers start where the rest of the account leaves
    them, so a month's cost of a tiered charge is the month's cost function at its end minus at
    its start: ``cumulative(account + Q_month) − cumulative(account)``, exactly the sum of the
    month's hourly rows (each row prices the part of its hour in each tier); a flat price with
    nothing before its units costs ``Σ quantity × price``. Tested against the timeline's sums.
    """
    usage = account_usage or {}
    months = month_keys(hours)
    starts = (
        np.flatnonzero(np.diff(months, prepend=months[0] - 1))
        if months.size
        else np.zeros(0, np.int64)
    )
    usd = []
    for charge in charges:
        q = np.asarray(charge.quantity, dtype=np.float64)
        account = _account(charge, usage)
        if not q.size:
            usd.append(0.0)
        elif _flat(charge, account):
            assert isinstance(charge.price, Price)
            usd.append(float(np.sum(q)) * charge.price.value)
        else:
            monthly = np.add.reduceat(q, starts)
            usd.append(float(np.sum(_tiered_usd(monthly, account, charge.tiers().tiers))))
    return _option_costs(charges, usd)


def projected_costs(
    charges: Sequence[Charge],
    period: Period,
    account_usage: Mapping[str, float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per option: USD per category, per component and in total for a 30-day month of the period's
    traffic (see the module docstring)."""
    account_usage = account_usage or {}
    usd = []
    for charge in charges:
        projected = float(np.sum(charge.quantity)) * _scale(charge, period)
        account = _account(charge, account_usage)
        if _flat(charge, account):
            assert isinstance(charge.price, Price)
            usd.append(projected * charge.price.value)
        else:
            usd.append(float(_tiered_usd(projected, account, charge.tiers().tiers)))
    return _option_costs(charges, usd)


def projected_costs_many(
    bills: Sequence[tuple[Sequence[Charge], Period, Mapping[str, float] | None]],
) -> list[dict[str, dict[str, Any]]]:
    """:func:`projected_costs` of many runs at once: ``bills`` holds each run's ``(charges, period,
    account_usage)``; the result, run by run, is what :func:`projected_costs` returns for it (the
    same numbers: every run's charges go through the same arithmetic, but the tiers are priced
    with one array operation per distinct price for all runs, not one call per charge and run).
    """
    usd: list[list[float]] = []
    tiered: dict[tuple[int, float, bool], tuple[Any, list[tuple[int, int]]]] = {}
    projected_at: dict[tuple[int, int], tuple[float, float]] = {}
    for r, (charges, period, account_usage) in enumerate(bills):
        usage = account_usage or {}
        row: list[float] = []
        for j, charge in enumerate(charges):
            projected = float(np.sum(charge.quantity)) * _scale(charge, period)
            account = _account(charge, usage)
            if _flat(charge, account):
                assert isinstance(charge.price, Price)
                row.append(projected * charge.price.value)
                continue
            row.append(0.0)  # priced below, with every run's charges at the same tiers
            key = (id(charge.price), charge.free, charge.free_after)
            if key not in tiered:
                tiered[key] = (charge.tiers().tiers, [])
            tiered[key][1].append((r, j))
            projected_at[(r, j)] = (projected, account)
        usd.append(row)
    for tiers, where in tiered.values():
        quantities = np.array([projected_at[w][0] for w in where], dtype=np.float64)
        before = np.array([projected_at[w][1] for w in where], dtype=np.float64)
        values = np.asarray(_tiered_usd(quantities, before, tiers), dtype=np.float64)
        for (r, j), value in zip(where, values.tolist(), strict=True):
            usd[r][j] = value
    return [_option_costs(b[0], row) for b, row in zip(bills, usd, strict=True)]
