"""Volume tiers: how a month-to-date quantity is split across AWS price tiers.

AWS tiers apply to the cumulative count of the calendar month (per account and region), so the
price of the next unit depends on how many were consumed before it. Metering hour by hour with a
running ``prior`` shows the tier crossing in the hour it happens, and the hours add up to the month
priced at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from sim.pricing._numeric import AnyArray, FloatArray, as_quantities, check_quantity
from sim.pricing.book import Tier, TieredPrice, _check_tiers

__all__ = [
    "Segment",
    "cumulative_cost",
    "period_costs",
    "priced_cost_usd",
    "priced_segments",
    "tier_segments",
    "tiered_cost",
]


@dataclass(frozen=True)
class Segment:
    """The part of a quantity that falls in one tier.

    Attributes
    ----------
    tier : int
        Index of the tier in the tier sequence (0-based).
    quantity : float
        Units billed in this tier.
    unit_price : float
        USD per unit in this tier.
    """

    tier: int
    quantity: float
    unit_price: float

    @property
    def cost(self) -> float:
        """USD for this segment."""
        return self.quantity * self.unit_price


def _bounds(tiers: Sequence[Tier]) -> list[tuple[float, float, float]]:
    _check_tiers(tuple(tiers))
    out, lower = [], 0.0
    for tier in tiers:
        upper = math.inf if tier.up_to is None else tier.up_to
        out.append((lower, upper, tier.price))
        lower = upper
    return out


def tier_segments(prior: float, quantity: float, tiers: Sequence[Tier]) -> list[Segment]:
    """Split ``quantity`` units consumed after ``prior`` units this month across price tiers.

    Parameters
    ----------
    prior : float
        Units already consumed this month (month-to-date count before this quantity), >= 0.
    quantity : float
        Units to price, >= 0.
    tiers : sequence of Tier
        Tiers with cumulative monthly ``up_to`` boundaries, the last unbounded.

    Returns
    -------
    list of Segment
        One segment per tier touched, in tier order; segments with zero quantity are omitted, so
        ``quantity == 0`` gives ``[]``.

    Raises
    ------
    ValueError
        If ``prior`` or ``quantity`` is negative or not finite, or the tiers are malformed.

    Notes
    -----
    AWS API Gateway and Lambda tiers apply to the month-to-date count per account and region
    (https://aws.amazon.com/api-gateway/pricing/, https://aws.amazon.com/lambda/pricing/).
    """
    start = check_quantity("prior", prior)
    amount = check_quantity("quantity", quantity)
    segments = []
    # Work in offsets from ``prior`` so a quantity inside one tier comes back exactly.
    for i, (lower, upper, price) in enumerate(_bounds(tiers)):
        lo = max(0.0, lower - start)
        hi = min(amount, upper - start)
        if hi > lo:
            segments.append(Segment(tier=i, quantity=hi - lo, unit_price=price))
    return segments


def tiered_cost(quantity: float, tiers: Sequence[Tier]) -> float:
    """USD for ``quantity`` units of one month priced from the first unit (prior 0).

    Parameters
    ----------
    quantity : float
        Units in the month, >= 0.
    tiers : sequence of Tier

    Returns
    -------
    float
        Sum of the segment costs of ``tier_segments(0, quantity, tiers)``.
    """
    return math.fsum(s.cost for s in tier_segments(0.0, quantity, tiers))


@overload
def cumulative_cost(cumulative_quantity: float, tiers: Sequence[Tier]) -> float: ...
@overload
def cumulative_cost(cumulative_quantity: AnyArray, tiers: Sequence[Tier]) -> FloatArray: ...
def cumulative_cost(
    cumulative_quantity: float | AnyArray, tiers: Sequence[Tier]
) -> float | FloatArray:
    """USD for the first ``cumulative_quantity`` units of the month, elementwise.

    The month-to-date cost function; the cost of units ``a`` to ``b`` is
    ``cumulative_cost(b) - cumulative_cost(a)``.

    Parameters
    ----------
    cumulative_quantity : float or ndarray
        Month-to-date units, >= 0.
    tiers : sequence of Tier

    Returns
    -------
    float or ndarray
        Same shape as the input.
    """
    q = as_quantities("cumulative_quantity", cumulative_quantity)
    total: float | FloatArray = 0.0
    for lower, upper, price in _bounds(tiers):
        total = total + np.clip(np.subtract(q, lower), 0.0, upper - lower) * price
    if np.ndim(total) == 0:
        return float(total)
    return np.asarray(total, dtype=np.float64)


def period_costs(quantities: AnyArray, tiers: Sequence[Tier], prior: float = 0.0) -> FloatArray:
    """USD per period (e.g. per hour) for consecutive quantities within one month.

    Parameters
    ----------
    quantities : ndarray
        1-D units consumed in each period, in time order, >= 0.
    tiers : sequence of Tier
    prior : float
        Units consumed this month before the first period.

    Returns
    -------
    ndarray
        Cost of each period; sums to ``tiered_cost(prior + sum) - tiered_cost(prior)``. A period
        with zero quantity costs exactly 0.
    """
    q = np.asarray(as_quantities("quantities", np.asarray(quantities)), dtype=np.float64)
    if q.ndim != 1:
        raise ValueError(f"quantities must be 1-D, got shape {q.shape}")
    start = check_quantity("prior", prior)
    ends = start + np.cumsum(q)
    starts = np.concatenate(([start], ends[:-1]))
    costs: FloatArray = cumulative_cost(ends, tiers) - cumulative_cost(starts, tiers)
    return costs


def priced_segments(
    quantity: float, prices: TieredPrice, prior: float = 0.0, free_quantity: float = 0.0
) -> list[Segment]:
    """Segments of ``quantity`` units after ``prior`` this month, with a monthly free allowance.

    Parameters
    ----------
    quantity : float
        Units to price, >= 0.
    prices : TieredPrice
        Published tiers.
    prior : float
        Units already consumed this month.
    free_quantity : float
        Free units per month (see :meth:`TieredPrice.with_free`: the first ``free_quantity`` units
        of the month cost $0; published tier boundaries are unchanged). Free units appear as a
        segment at unit price 0 in tier 0 of the shifted tiers.

    Returns
    -------
    list of Segment
    """
    return tier_segments(prior, quantity, prices.with_free(free_quantity).tiers)


def priced_cost_usd(
    quantity: float, prices: TieredPrice, prior: float = 0.0, free_quantity: float = 0.0
) -> float:
    """USD for :func:`priced_segments` (sum of segment costs)."""
    return math.fsum(s.cost for s in priced_segments(quantity, prices, prior, free_quantity))
