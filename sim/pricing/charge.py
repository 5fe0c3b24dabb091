"""One billed component of an option: an hourly quantity series, its price, and what it uses.

A :class:`Charge` is what a front door (:mod:`sim.doors`) says it bills; :mod:`sim.pricing.costs`
turns charges into the cost timeline (tiers on the month-to-date quantity of each calendar month),
the calendar-month bills and the 30-day projection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sim.pricing.book import Price, TieredPrice

__all__ = ["CATEGORIES", "Charge"]

#: Where a charge belongs in a summary.
CATEGORIES = ("front_door", "backend", "transfer")


@dataclass(frozen=True)
class Charge:
    """One billed component.

    Attributes
    ----------
    option : str
        The option billed (``alb``, ``apigw_rest_cached_0.5gb``, ...).
    category : str
        One of :data:`CATEGORIES`.
    component : str
        What is billed (``alb_hours``, ``lcu``, ``requests``, ``lambda_gb_seconds`` ...).
    unit : str
        Unit of ``quantity``.
    quantity : ndarray
        Billed quantity in each hour of the meter table.
    price : Price or TieredPrice
        Its price (tiers on the month-to-date quantity).
    usage : str or None
        The monthly usage it counts towards (a key of :data:`sim.pricing.freetier.USAGE`): the free
        allowance and the rest of the account's usage apply to it.
    hourly : bool
        A charge for every hour the resource exists (ALB hours, addresses, caches, monthly fees
        prorated hourly), whatever the traffic: projected by hours, not by usage.
    daily : bool
        A monthly fee prorated by the day (CloudFront's flat-rate plans): projected by days.
    free : float
        Free units of ``usage`` per month under the scenario's free-tier choice (already scaled by
        ``share``).
    share : float
        The share of ``usage`` this charge carries when several charges split one usage in fixed
        proportions (CloudFront's edge regions and protocols): the free allowance and the rest of
        the account's usage apply in that proportion, so the month's first units are free
        whichever charge they fall in.
    """

    option: str
    category: str
    component: str
    unit: str
    quantity: NDArray[np.float64]
    price: Price | TieredPrice
    usage: str | None = None
    hourly: bool = False
    free: float = 0.0
    daily: bool = False
    share: float = 1.0
    free_after: bool = False  # the published tiers start after the free units

    def published(self) -> TieredPrice:
        return self.price if isinstance(self.price, TieredPrice) else TieredPrice.flat(self.price)

    def tiers(self) -> TieredPrice:
        """The price as tiers, with the free allowance as a leading $0 tier."""
        price = self.published()
        return price.with_free(self.free, self.free_after) if self.free else price

    def tier_labels(self) -> list[int]:
        """For each tier of :meth:`tiers`, the published tier it is (the free units: tier 0)."""
        published = self.published().tiers
        if not self.free:
            return list(range(len(published)))
        kept = len(self.tiers().tiers) - 1
        dropped = len(published) - kept
        return [0, *range(dropped, dropped + kept)]
