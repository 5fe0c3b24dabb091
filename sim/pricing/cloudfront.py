"""Amazon CloudFront billing rules: requests and data transfer out by edge region, data to the
origin, free origin fetches, Always Free allowances, and the flat-rate plans.

Sources: https://aws.amazon.com/cloudfront/pricing/ and the pricing page's data
(``pricelist/pricing-page/2025-10/cloudfront.json``): per edge region, "Request HTTPS Methods" and
"Request HTTP Methods" per request, "Regional DT from <edge region> to Internet" in monthly tiers
(first 10 TB, next 40 TB, next 100 TB, next 350 TB, next 524 TB, next 4 PB, over 5 PB; 1 TB = 1,024 GB
as the file writes it: "Regional DT from Any to Internet 0 upto 1024" is the free terabyte), and
"Regional DT to Origin from <edge region>" per GB sent to the origin (request bodies). Origin
fetches from AWS origins (ALB, API Gateway, Lambda function URLs) are free: the origin's own data
transfer out disappears. Always Free: 1 TB out and 10,000,000 HTTP/HTTPS requests a month.

Flat-rate plans (since 2025-11-18; CloudFront Developer Guide, "Flat-rate pricing plans"): a monthly
fee with allowances of requests and data transfer; "you will not incur overage charges" (above an
allowance AWS may change how it delivers after sustained excess, a first spike up to 3× is
tolerated); a web ACL is included (no WAF fees); the fee is prorated by the day
(:mod:`sim.pricing.calendar`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.pricing.book import RegionPrices
from sim.pricing.calendar import prorated_fee_usd
from sim.pricing.tiers import priced_cost_usd

__all__ = [
    "DTO_TIER_BOUNDS_GB",
    "EDGE_REGIONS",
    "PLANS",
    "Plan",
    "cloudfront_month_usd",
    "plan_fee_usd",
    "plan_upgrade_usd",
]

#: CloudFront's price regions for viewers (the pricing page's names).
EDGE_REGIONS = (
    "United States",
    "Canada",
    "EU",
    "Japan",
    "Asia Pacific",
    "Australia",
    "India",
    "Middle East",
    "South Africa",
    "South America",
)

#: Upper ends of the monthly data-transfer-out tiers, GB (1 TB = 1,024 GB): 10 TB, +40, +100, +350,
#: +524 TB, +4 PB; beyond 5 PB the last tier.
DTO_TIER_BOUNDS_GB = (10_240.0, 51_200.0, 153_600.0, 512_000.0, 1_048_576.0, 5_242_880.0)

#: Plan names of ``cloudfront.plan``.
PLANS = ("pay_as_you_go", "free", "pro", "business", "premium")


@dataclass(frozen=True)
class Plan:
    """A flat-rate plan's terms (from the price book)."""

    name: str
    fee_usd: float  # per month
    requests: float  # allowance per month
    data_transfer_gb: float  # allowance per month (1 TB = 1,024 GB)
    waf_rules: int  # rules its included web ACL holds


def plan_fee_usd(fee_usd: float, days_in_month: int, days_active: int) -> float:
    """A flat-rate plan's fee for a month it is active ``days_active`` days of (the day it starts
    counts whole): ``fee ÷ days in the month × days active``. Pricing Plan Manager User Guide: Pro
    from day 16 of a 30-day month is ``$15 ÷ 30 days × 15 days = $7.50``."""
    return prorated_fee_usd(fee_usd, days_in_month, days_active)


def plan_upgrade_usd(
    old_fee_usd: float, new_fee_usd: float, days_in_month: int, days_remaining: int
) -> float:
    """What an upgrade charges on top of the month's old fee: the difference, prorated over the
    days left (the upgrade day included). Pricing Plan Manager User Guide: Pro → Business on day 16
    of a 30-day month is ``(($200 − $15) ÷ 30 days × 15 days) = $92.50``."""
    if new_fee_usd < old_fee_usd:
        raise ValueError("an upgrade moves to a dearer plan")
    return prorated_fee_usd(new_fee_usd - old_fee_usd, days_in_month, days_remaining)


def cloudfront_month_usd(
    prices: RegionPrices,
    edge_region: str,
    *,
    https_requests: float = 0.0,
    http_requests: float = 0.0,
    gb_out: float = 0.0,
    gb_to_origin: float = 0.0,
    free_requests: float = 0.0,
    free_gb_out: float = 0.0,
) -> float:
    """A pay-as-you-go month of one edge region: requests, data transfer out by tier, and data to
    the origin. ``free_requests`` and ``free_gb_out`` are the month's Always Free allowances (the
    month's first requests, HTTPS first, and the first GB out)."""
    free_https = min(free_requests, https_requests)
    free_http = min(free_requests - free_https, http_requests)
    total = (https_requests - free_https) * prices.edge(
        "cloudfront_requests_https", edge_region
    ).value
    total += (http_requests - free_http) * prices.edge(
        "cloudfront_requests_http", edge_region
    ).value
    total += priced_cost_usd(
        gb_out, prices.edge("cloudfront_data_transfer_out", edge_region), free_quantity=free_gb_out
    )
    total += gb_to_origin * prices.edge("cloudfront_origin_transfer", edge_region).value
    return float(total)
