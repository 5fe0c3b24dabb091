"""API Gateway REST API: per-request tiers on the month-to-date count (a cache hit is a billed call;
429s are not billed). Source: https://aws.amazon.com/api-gateway/pricing/"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.doors.base import BillingContext, Door, Features, Option, behind, lambda_charges
from sim.doors.waf import WAF_PRICES, waf_charges, waf_of
from sim.engine.paths import GATEWAY
from sim.pricing.charge import Charge
from sim.units import BINARY_GB_BYTES

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
        "timeout_s": "raisable for regional APIs",
        "max_response_bytes": "6 MB from a Lambda function (Lambda's limit)",
        "mutual_tls": "no charge",
    },
)


def options(scenario: Scenario) -> list[Option]:
    return (
        [Option("apigw_rest", "apigw_rest", GATEWAY)] if "rest" in scenario.apigateway.apis else []
    )


def rest_requests(
    option: Option, ctx: BillingContext, accepted: str = "gateway_requests"
) -> Charge:
    """Billed REST calls: every accepted request (column ``accepted``), cache hits included."""
    return ctx.charge(
        option,
        "front_door",
        "requests",
        "request",
        ctx.facts(accepted),
        "apigw_rest_requests",
        usage="rest_requests",
    )


def private_endpoint(option: Option, ctx: BillingContext) -> list[Charge]:
    """A private REST API is called through an interface VPC endpoint (AWS PrivateLink): endpoint-
    hours in each of its AZs and the GB it processes (requests and responses), instead of data
    transfer out. Source: https://aws.amazon.com/privatelink/pricing/ (PRICING.md, "Private APIs")."""
    f = ctx.facts
    processed = (f("request_bytes") + f(f"{option.path}_response_bytes")) / BINARY_GB_BYTES
    return [
        ctx.charge(
            option, "front_door", "privatelink_hours", "endpoint-AZ-hour",
            f.constant(ctx.scenario.apigateway.vpc_endpoint_azs), "privatelink_endpoint_hour",
            hourly=True,
        ),
        ctx.charge(
            option, "transfer", "privatelink_data", "GB (2^30 bytes) processed", processed,
            "privatelink_gb", usage="privatelink_gb",
        ),
    ]  # fmt: skip


def rest_door_charges(option: Option, ctx: BillingContext) -> list[Charge]:
    """What every REST option bills besides its requests (and its cache): WAF, and either the
    Lambda function and data transfer out, or, private, PrivateLink and the function."""
    out = waf_charges(option, ctx, ctx.facts("requests"))
    if ctx.private:
        return [*out, *private_endpoint(option, ctx), *lambda_charges(option, ctx)]
    return [*out, *behind(option, ctx)]


def rest_prices(option: Option, scenario: Scenario) -> tuple[str, ...]:
    """The entries a REST option needs beyond its requests: WAF's, PrivateLink's."""
    out: tuple[str, ...] = WAF_PRICES if waf_of(scenario) is not None else ()
    if scenario.requirements.private:
        out += ("privatelink_endpoint_hour", "privatelink_gb")
    return out


def charges(option: Option, ctx: BillingContext) -> list[Charge]:
    return [rest_requests(option, ctx), *rest_door_charges(option, ctx)]


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
    option_prices=rest_prices,
)
