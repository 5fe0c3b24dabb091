"""API Gateway REST API with its cache: the REST API's calls (hits included) plus the cache's hourly
price, billed every hour it is enabled whatever the traffic and never in a free tier; the cache
saves Lambda invocations, not API calls. One option per cache size, each on its own path (its own
hits). Source: https://aws.amazon.com/api-gateway/pricing/"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.doors.apigw_rest import REST_FEATURES, rest_door_charges, rest_prices, rest_requests
from sim.doors.base import BillingContext, Door, Option
from sim.engine.paths import cache_path
from sim.pricing.apigateway import cache_hour_price
from sim.pricing.charge import Charge

if TYPE_CHECKING:
    from sim.config import Scenario


def option_name(size_gb: float, several: bool) -> str:
    """``apigw_rest_cached`` for one size, ``apigw_rest_cached_<size>gb`` for several."""
    return f"apigw_rest_cached_{size_gb:g}gb" if several else "apigw_rest_cached"


def options(scenario: Scenario) -> list[Option]:
    cache = scenario.apigateway.cache
    if not cache.enabled:
        return []
    several = len(cache.sizes_gb) > 1
    return [
        Option(option_name(s, several), "apigw_rest_cached", cache_path(s), {"size_gb": s})
        for s in cache.sizes_gb
    ]


def charges(option: Option, ctx: BillingContext) -> list[Charge]:
    size = float(option.params["size_gb"])
    hours = ctx.charge(
        option,
        "front_door",
        "cache_hours",
        f"cache-hour ({size:g} GB)",
        ctx.facts.constant(1),
        cache_hour_price(ctx.prices, size),
        hourly=True,
    )
    return [rest_requests(option, ctx), hours, *rest_door_charges(option, ctx)]


DOOR = Door(
    name="apigw_rest_cached",
    title="API Gateway REST API with its cache",
    features=REST_FEATURES,
    options=options,
    charges=charges,
    meters=("gateway_requests", "cache_requests"),
    prices=("apigw_rest_requests", "apigw_cache_hour", "data_transfer_out"),
    option_prices=rest_prices,
)
