"""Free tiers as AWS has them since 2025-07-15, and the monthly usage they apply to.

Source: AWS Billing User Guide, "Tracking your AWS Free Tier usage"
(https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/tracking-free-tier-usage.html):
"12 months free is only applicable to customers who signed up for AWS before July 15, 2025."
Elastic Load Balancing and API Gateway are 12-months-free offers; Lambda, data transfer out and
CloudFront are Always Free (PRICING.md, "Free tiers since 2025-07-15").

``pricing.free_tier`` chooses which offers a bill applies:

* ``"always_free"`` (the default): every account's Always Free allowances (Lambda 1 M requests and
  400,000 GB-s, 100 GB of data transfer out to the internet, 100 GiB of streamed responses;
  CloudFront 1 TB out and 10 M requests);
* ``"legacy_12_month"``: those plus the 12-month offers of accounts opened before 2025-07-15 in
  their first year (ALB 750 hours and 15 LCU-hours, API Gateway 1 M REST calls, 1 M HTTP calls,
  1 M WebSocket messages and 750,000 connection minutes a month);
* ``"none"``: no allowance at all.

Every allowance is a monthly quantity of one **usage** (what AWS meters per account, region and
month); the month's first units of that usage are free, whatever else in the account consumed them
(``[account] other_monthly_usage`` says how much the rest of the account uses each month).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "FREE_TIER_CHOICES",
    "OFFERS",
    "USAGE",
    "FreeAllowance",
    "allowance",
    "tiers_after",
]

#: The values of ``pricing.free_tier``.
FREE_TIER_CHOICES = ("always_free", "legacy_12_month", "none")

#: Choice -> the offers it applies.
OFFERS: dict[str, tuple[str, ...]] = {
    "always_free": ("always_free",),
    "legacy_12_month": ("always_free", "legacy_12_month"),
    "none": (),
}

#: Usage keys (per account, region and month) -> their unit. ``[account] other_monthly_usage`` and
#: the free-tier table of a price book use these names.
USAGE: dict[str, str] = {
    "alb_hours": "ALB-hours",
    "alb_lcu_hours": "LCU-hours",
    "rest_requests": "REST API requests",
    "http_requests": "HTTP API request units (512 KB)",
    "websocket_messages": "WebSocket message units (32 KB)",
    "websocket_connection_minutes": "WebSocket connection minutes",
    "lambda_requests": "Lambda requests",
    "lambda_gb_seconds": "Lambda GB-seconds",
    "data_transfer_gb": "GB of data transfer out to the internet",
    "privatelink_gb": "GB processed by interface VPC endpoints",
    "lambda_streaming_gb": "GB of Lambda streamed response beyond each response's first 6 MB",
    "cloudfront_requests": "CloudFront HTTP and HTTPS requests",
    "cloudfront_data_transfer_gb": "GB out of CloudFront to the internet",
}


@dataclass(frozen=True)
class FreeAllowance:
    """A monthly free quantity of one usage, and the offer it belongs to.

    Attributes
    ----------
    quantity : float
        Free units per month.
    offer : str
        ``"always_free"`` or ``"legacy_12_month"``.
    unit, source, retrieved : str
        What a unit is, and where and when the number was read.
    note : str or None
    """

    quantity: float
    offer: str
    unit: str
    source: str
    retrieved: str
    note: str | None = None
    #: The usage's published tiers start after the free units (data transfer out), rather than
    #: the free units being the first units of the first tier.
    tiers_after: bool = False


def tiers_after(table: Mapping[str, FreeAllowance], usage: str) -> bool:
    """Whether ``usage``'s published tiers begin after its free allowance."""
    entry = table.get(usage)
    return bool(entry is not None and entry.tiers_after)


def allowance(table: Mapping[str, FreeAllowance], usage: str, choice: str) -> float:
    """Free units per month of ``usage`` under the ``pricing.free_tier`` ``choice``.

    Parameters
    ----------
    table
        A price book's free-tier table (usage -> allowance).
    usage
        A key of :data:`USAGE`.
    choice
        One of :data:`FREE_TIER_CHOICES`.

    Returns
    -------
    float
        0 when the usage has no allowance, or its offer is not applied.
    """
    if choice not in OFFERS:
        raise ValueError(f"free tier must be one of {', '.join(FREE_TIER_CHOICES)}, got {choice!r}")
    entry = table.get(usage)
    if entry is None or entry.offer not in OFFERS[choice]:
        return 0.0
    return entry.quantity
