"""Monthly fees prorated over the clock: by the hour (AWS WAF) or by the day (CloudFront's
flat-rate plans).

* AWS WAF: "$5.00 per web ACL per month (prorated hourly)", "$1.00 per rule per month (prorated
  hourly)" (https://aws.amazon.com/waf/pricing/): each clock hour the resource exists costs
  ``fee / hours in that calendar month``, so a whole month costs the fee.
* CloudFront flat-rate plans (AWS Billing and Cost Management, Pricing Plan Manager User Guide,
  "Pro from day 16 of a 30-day month: $15 ÷ 30 days × 15 days = $7.50"): each UTC day the plan is
  active costs ``fee / days in that calendar month``; the day it starts counts whole.

Every function here returns a **quantity in months** per metered hour, to be priced at the monthly
fee (:mod:`sim.pricing.costs` multiplies): the sum over a calendar month the resource exists whole
is exactly 1.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "days_in_month",
    "hours_in_month",
    "month_share_per_day",
    "month_share_per_hour",
    "prorated_fee_usd",
]


def _hours_utc(hours: NDArray[np.datetime64] | NDArray[np.int64]) -> NDArray[np.datetime64]:
    return np.asarray(hours).astype("datetime64[h]")


def days_in_month(hours: NDArray[np.datetime64]) -> NDArray[np.int64]:
    """Days in the calendar month (UTC) of each hour."""
    months = _hours_utc(hours).astype("datetime64[M]")
    return np.asarray((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(
        np.int64
    )


def hours_in_month(hours: NDArray[np.datetime64]) -> NDArray[np.int64]:
    """Clock hours in the calendar month (UTC) of each hour."""
    return days_in_month(hours) * 24


def month_share_per_hour(hours: NDArray[np.datetime64]) -> NDArray[np.float64]:
    """Per metered hour: the share of its month a fee prorated hourly bills (1 / hours in the
    month); a partial hour counts whole, as every per-hour AWS charge does."""
    return 1.0 / hours_in_month(hours).astype(np.float64)


def month_share_per_day(hours: NDArray[np.datetime64]) -> NDArray[np.float64]:
    """Per metered hour: the share of its month a fee prorated by the day bills, put on the first
    metered hour of each UTC day (1 / days in the month; 0 on the day's other hours)."""
    h = _hours_utc(hours)
    out = np.zeros(h.size, dtype=np.float64)
    if h.size == 0:
        return out
    day = h.astype("datetime64[D]")
    first = np.flatnonzero(np.diff(day.astype(np.int64), prepend=day[0].astype(np.int64) - 1))
    out[first] = 1.0 / days_in_month(h[first]).astype(np.float64)
    return out


def prorated_fee_usd(fee_usd: float, units_in_month: int, units_active: float) -> float:
    """A monthly fee prorated over ``units_active`` of the month's ``units_in_month`` (days or hours):
    ``fee ÷ units_in_month × units_active`` (the Pricing Plan Manager example:
    ``$15 ÷ 30 days × 15 days = $7.50``)."""
    if fee_usd < 0 or units_in_month <= 0 or not 0 <= units_active <= units_in_month:
        raise ValueError(
            f"need fee ≥ 0 and 0 ≤ units_active ≤ units_in_month > 0, got {fee_usd!r}, "
            f"{units_active!r}, {units_in_month!r}"
        )
    return fee_usd / units_in_month * units_active
