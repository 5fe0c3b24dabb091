"""API Gateway REST API: per-request tiers on the month-to-date count (a cache hit is a billed call;
429s are not billed). Source: https://aws.amazon.com/api-gateway/pricing/"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.doors.base import BillingContext, Door, Features, Option, behind
from sim.engine.paths import GATEWAY
from sim.pricing.charge import Charge

if TYPE_CHECKING:
    from sim.config import Scenario

REST_FEATURES = Features(
    waf=True,
    api_keys=True,
    cache="hourly",
    private=True,
    mutual_tls=True,
    custom_domain=True,
    jwt_auth=True,
    websocket=False,
    max_request_bytes=10_485_760,
    max_response_bytes=10_485_760,
    timeout_s=29,
    notes={
        "private": "private APIs through VPC endpoints (PrivateLink charges)",
        "jwt_auth": "Lambda or Cognito authorizers",
        "timeout_s": "29 s (raisable for regional APIs)",
        "mutual_tls": "no charge",
    },
)


def options(scenario: Scenario) -> list[Option]:
    return (
        [Option("apigw_rest", "apigw_rest", GATEWAY)] if "rest" in scenario.apigateway.apis else []
    )


def rest_requests(option: Option, ctx: BillingContext) -> Charge:
    """Billed REST calls: every accepted request, cache hits included."""
    return ctx.charge(
        option,
        "front_door",
        "requests",
        "request",
        ctx.facts("gateway_requests"),
        "apigw_rest_requests",
        usage="rest_requests",
    )


def charges(option: Option, ctx: BillingContext) -> list[Charge]:
    return [rest_requests(option, ctx), *behind(option, ctx)]


DOOR = Door(
    name="apigw_rest",
    title="API Gateway REST API",
    features=REST_FEATURES,
    options=options,
    charges=charges,
    meters=(
        "gateway_requests",
        "gateway_invocations",
        "gateway_gb_seconds",
        "gateway_response_bytes",
    ),
    prices=("apigw_rest_requests", "data_transfer_out"),
)
