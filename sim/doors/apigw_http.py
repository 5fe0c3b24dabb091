"""API Gateway HTTP API: per-unit tiers, one unit per 512 KB of request payload. Source:
https://aws.amazon.com/api-gateway/pricing/ ("HTTP APIs are metered in 512 KB increments")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.doors.base import BillingContext, Door, Features, Option, behind
from sim.engine.paths import GATEWAY
from sim.pricing.charge import Charge

if TYPE_CHECKING:
    from sim.config import Scenario


def options(scenario: Scenario) -> list[Option]:
    return (
        [Option("apigw_http", "apigw_http", GATEWAY)] if "http" in scenario.apigateway.apis else []
    )


def http_requests(option: Option, ctx: BillingContext, units: str = "gateway_http_units") -> Charge:
    """Billed HTTP API request units (column ``units``: 512 KB each) of the accepted requests."""
    return ctx.charge(
        option,
        "front_door",
        "requests",
        "request-unit (512 KB)",
        ctx.facts(units),
        "apigw_http_requests",
        usage="http_requests",
    )


def charges(option: Option, ctx: BillingContext) -> list[Charge]:
    return [http_requests(option, ctx), *behind(option, ctx)]


DOOR = Door(
    name="apigw_http",
    title="API Gateway HTTP API",
    features=Features(
        waf=False,
        api_keys=False,
        cache=None,
        private=False,
        mutual_tls=True,
        custom_domain=True,
        jwt_auth=True,
        websocket=False,
        max_request_bytes=10_485_760,
        max_response_bytes=10_485_760,
        timeout_s=30,
        notes={
            "jwt_auth": "JWT authorizers",
            "max_response_bytes": "6 MB from a Lambda function (Lambda's limit)",
            "waf": "offered behind CloudFront as cloudfront_apigw_http",
            "private": "public endpoint only (VPC links are for integrations, not clients)",
        },
    ),
    options=options,
    charges=charges,
    meters=(
        "gateway_http_units",
        "gateway_invocations",
        "gateway_gb_seconds",
        "gateway_response_bytes",
    ),
    prices=("apigw_http_requests", "data_transfer_out"),
)
