"""Amazon VPC Lattice, for internal APIs: service-hours, GB processed, and requests beyond the first
300,000 each hour; the Lambda function behind it; no internet data transfer (its callers are in
VPCs) and no inter-AZ charge. Rules in :mod:`sim.pricing.lattice`
(https://aws.amazon.com/vpc/lattice/pricing/)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.doors.base import BillingContext, Door, Features, Option, lambda_charges
from sim.engine.paths import DIRECT
from sim.pricing.charge import Charge
from sim.pricing.lattice import lattice_billed_requests
from sim.units import BINARY_GB_BYTES

if TYPE_CHECKING:
    from sim.config import Scenario


def options(scenario: Scenario) -> list[Option]:
    return [Option("vpc_lattice", "vpc_lattice", DIRECT)] if scenario.lattice.enabled else []


def charges(option: Option, ctx: BillingContext) -> list[Charge]:
    f = ctx.facts
    processed = (f("request_bytes") + f("direct_response_bytes")) / BINARY_GB_BYTES
    return [
        ctx.charge(
            option, "front_door", "lattice_service_hours", "service-hour",
            f.constant(ctx.scenario.lattice.services), "lattice_service_hour", hourly=True,
        ),
        ctx.charge(
            option, "front_door", "lattice_data", "GB (2^30 bytes) processed", processed,
            "lattice_gb",
        ),
        ctx.charge(
            option, "front_door", "lattice_requests", "request beyond 300,000 in the hour",
            lattice_billed_requests(f("requests")), "lattice_requests",
        ),
        *lambda_charges(option, ctx),
    ]  # fmt: skip


DOOR = Door(
    name="vpc_lattice",
    title="Amazon VPC Lattice",
    features=Features(
        waf=False,
        api_keys=False,
        cache=None,
        private=True,
        mutual_tls=False,
        custom_domain=True,
        jwt_auth=False,
        websocket=False,
        max_request_bytes=6_291_456,
        max_response_bytes=6_291_456,
        timeout_s=900,
        notes={
            "private": "services called from inside VPCs",
            "jwt_auth": "IAM auth policies",
            "max_response_bytes": "6 MB to and from Lambda targets",
            "timeout_s": "the Lambda function's",
        },
    ),
    options=options,
    charges=charges,
    meters=("requests", "request_bytes", "direct_invocations", "direct_response_bytes"),
    prices=("lattice_service_hour", "lattice_gb", "lattice_requests"),
)
