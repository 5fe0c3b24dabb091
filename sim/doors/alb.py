"""The Application Load Balancer: an hourly price plus LCU-hours (the highest of four traffic
dimensions each hour), public IPv4 addresses when internet-facing, trust stores with mutual TLS, and
AWS WAF when a web ACL is priced. Called from inside VPCs only (``requirements.private``) it is an
internal ALB: no public addresses, no internet data transfer.

Source: https://aws.amazon.com/elasticloadbalancing/pricing/ ; public IPv4:
https://aws.amazon.com/vpc/pricing/ (one address per enabled AZ, since 2024-02-01). The LCU rules are
in :mod:`sim.pricing.alb`; the dimensions are derived from the facts by
:func:`sim.pricing.derive.derive_columns`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.doors.base import BillingContext, Door, Features, Option, behind, lambda_charges
from sim.doors.waf import WAF_PRICES, waf_charges
from sim.engine.paths import DIRECT
from sim.pricing.charge import Charge

if TYPE_CHECKING:
    from sim.config import Scenario

ALB_PRICES = ("alb_hour", "alb_lcu_hour", "public_ipv4_hour", "alb_trust_store_hour")


def options(scenario: Scenario) -> list[Option]:
    return [Option("alb", "alb", DIRECT)] if scenario.alb.enabled else []


def alb_charges(
    option: Option, ctx: BillingContext, lcu: str = "lcu", internet_facing: bool = True
) -> list[Charge]:
    """The load balancer's own charges: hours, the LCU-hours of column ``lcu``, public IPv4
    addresses (internet-facing only) and trust stores."""
    f, cfg = ctx.facts, ctx.scenario.alb
    out = [
        ctx.charge(
            option, "front_door", "alb_hours", "ALB-hour", f.constant(1), "alb_hour",
            usage="alb_hours", hourly=True,
        ),
        ctx.charge(
            option, "front_door", "lcu", "LCU-hour", f(lcu), "alb_lcu_hour", usage="alb_lcu_hours"
        ),
    ]  # fmt: skip
    if internet_facing:
        out.append(
            ctx.charge(
                option, "front_door", "public_ipv4", "IPv4-address-hour",
                f.constant(cfg.availability_zones), "public_ipv4_hour", hourly=True,
            )
        )  # fmt: skip
    if cfg.mutual_tls and cfg.trust_stores:
        out.append(
            ctx.charge(
                option, "front_door", "trust_store", "trust-store-hour",
                f.constant(cfg.trust_stores), "alb_trust_store_hour", hourly=True,
            )
        )  # fmt: skip
    return out


def charges(option: Option, ctx: BillingContext) -> list[Charge]:
    internal = ctx.private or not ctx.scenario.alb.internet_facing
    out = [
        *alb_charges(option, ctx, internet_facing=not internal),
        *waf_charges(option, ctx, ctx.facts("requests")),
    ]
    if ctx.private:  # an internal ALB: its responses stay inside the VPC
        return [*out, *lambda_charges(option, ctx)]
    return [*out, *behind(option, ctx)]


FEATURES = Features(
    waf=True,
    api_keys=False,
    cache=None,
    private=True,
    mutual_tls=True,
    custom_domain=True,
    jwt_auth=True,
    websocket=False,
    max_request_bytes=1_048_576,
    max_response_bytes=1_048_576,
    timeout_s=900,
    notes={
        "private": "an internal ALB",
        "jwt_auth": "OIDC or Cognito login on HTTPS listeners",
        "websocket": "no WebSockets to Lambda targets",
        "max_response_bytes": "1 MB to and from Lambda targets",
        "timeout_s": "the Lambda function's",
    },
)

DOOR = Door(
    name="alb",
    title="Application Load Balancer",
    features=FEATURES,
    options=options,
    charges=charges,
    meters=("lcu", "direct_invocations", "direct_gb_seconds", "direct_response_bytes"),
    prices=(*ALB_PRICES, "data_transfer_out"),
    option_prices=lambda option, scenario: WAF_PRICES if _waf(scenario) else (),
)


def _waf(scenario: Scenario) -> bool:
    from sim.doors.waf import waf_of

    return waf_of(scenario) is not None
