"""Amazon VPC Lattice and AWS PrivateLink billing rules (internal APIs).

VPC Lattice (https://aws.amazon.com/vpc/lattice/pricing/; ``pricelist/pricing-page/2025-10/vpc.json``:
"Charge per Hour per VPC Lattice Service", "Charge per GB Data Processed by VPC Lattice Service",
"Charge per Request per hour processed by VPC Lattice Service"): per service-hour (each hour or
partial hour), per GB processed, and per request of HTTP/HTTPS listeners with "an Always Free Tier of
300,000 requests/connections per hour": "we deduct 300,000 from the number of requests/connections in
an hour" (the file's "Free for the first 300 000 Requests per hour"). No inter-AZ charge.

PrivateLink (https://aws.amazon.com/privatelink/pricing/; "Hourly charge for VPC Endpoints" and
"Charge for per GB data processed by VPC Endpoints" from 0 to 1 PB, 1 to 5 PB, over 5 PB): a private
REST API is called through an interface VPC endpoint, billed per endpoint-hour in each AZ it is
enabled in (a partial hour as a whole one) and per GB processed, instead of data transfer out.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from sim.pricing._numeric import AnyArray, as_quantities
from sim.pricing.book import RegionPrices

__all__ = [
    "LATTICE_FREE_REQUESTS_PER_HOUR",
    "PRIVATELINK_TIER_BOUNDS_GB",
    "lattice_billed_requests",
    "lattice_month_usd",
]

LATTICE_FREE_REQUESTS_PER_HOUR = 300_000
"""Requests deducted from each hour's count before VPC Lattice bills requests."""

#: Upper ends of PrivateLink's monthly GB-processed tiers (1 PB = 1,048,576 GB, as the file writes).
PRIVATELINK_TIER_BOUNDS_GB = (1_048_576.0, 5_242_880.0)


def lattice_billed_requests(requests_per_hour: float | AnyArray) -> NDArray[np.float64]:
    """Requests VPC Lattice bills in each hour: ``max(0, requests − 300,000)``."""
    q = np.asarray(as_quantities("requests_per_hour", requests_per_hour), dtype=np.float64)
    return np.asarray(np.maximum(0.0, q - LATTICE_FREE_REQUESTS_PER_HOUR), dtype=np.float64)


def lattice_month_usd(
    prices: RegionPrices,
    *,
    services: int,
    hours: int,
    gb_processed: float,
    requests_per_hour: float | AnyArray,
) -> float:
    """VPC Lattice for a month: service-hours, GB processed, and each hour's requests beyond the
    first 300,000 (``requests_per_hour``: one number for every hour, or one per hour)."""
    if services < 0 or hours < 0 or gb_processed < 0:
        raise ValueError("services, hours and GB must be ≥ 0")
    per_hour = np.broadcast_to(np.asarray(requests_per_hour, dtype=np.float64), (hours,))
    total = services * hours * prices.need("lattice_service_hour").value
    total += gb_processed * prices.need("lattice_gb").value
    total += float(lattice_billed_requests(per_hour).sum()) * prices.need("lattice_requests").value
    return float(total)
