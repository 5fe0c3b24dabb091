"""The Application Load Balancer: an hourly price plus LCU-hours (the highest of four traffic
dimensions each hour), public IPv4 addresses when internet-facing, trust stores with mutual TLS.

Source: https://aws.amazon.com/elasticloadbalancing/pricing/ ; public IPv4:
https://aws.amazon.com/vpc/pricing/ (one address per enabled AZ, since 2024-02-01). The LCU rules are
in :mod:`sim.pricing.alb`; the dimensions are derived from the facts by
:func:`sim.pricing.derive.derive_columns`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.doors.base import BillingContext, Door, Features, Option, behind
from sim.engine.paths import DIRECT
from sim.pricing.charge import Charge

if TYPE_CHECKING:
    from sim.config import Scenario


def options(scenario: Scenario) -> list[Option]:
    return [Option("alb", "alb", DIRECT)] if scenario.alb.enabled else []


def charges(option: Option, ctx: BillingContext) -> list[Charge]:
    f, cfg = ctx.facts, ctx.scenario.alb
    out = [
        ctx.charge(
            option, "front_door", "alb_hours", "ALB-hour", f.constant(1), "alb_hour",
            usage="alb_hours", hourly=True,
        ),
        ctx.charge(
            option, "front_door", "lcu", "LCU-hour", f("lcu"), "alb_lcu_hour", usage="alb_lcu_hours"
        ),
    ]  # fmt: skip
    if cfg.internet_facing:
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
    return [*out, *behind(option, ctx)]


DOOR = Door(
    name="alb",
    title="Application Load Balancer",
    features=Features(
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
            "timeout_s": "the Lambda function's",
        },
    ),
    options=options,
    charges=charges,
    meters=("lcu", "direct_invocations", "direct_gb_seconds", "direct_response_bytes"),
    prices=(
        "alb_hour",
        "alb_lcu_hour",
        "public_ipv4_hour",
        "alb_trust_store_hour",
        "data_transfer_out",
    ),
)
