"""Front doors as plug-ins: one module each, one registry (:data:`DOORS`).

Each module declares a :class:`~sim.doors.base.Door`: the options it adds to a scenario, the path
its Lambda function is on, what it bills and what it supports. Everything else (the scenario's
options, the requirements, the bill, the feature table) reads the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.doors import (
    alb,
    apigw_http,
    apigw_rest,
    apigw_rest_cached,
    apigw_websocket,
    cloudfront,
    lambda_url,
    vpc_lattice,
)
from sim.doors.base import BillingContext, Door, Facts, Features, Option

if TYPE_CHECKING:
    from sim.config import Scenario
    from sim.doors.requirements import Assessed

__all__ = [
    "DOORS",
    "BillingContext",
    "Door",
    "Facts",
    "Features",
    "Option",
    "assessed",
    "options_for",
]

#: Door name -> door, in the order options are listed.
DOORS: dict[str, Door] = {
    d.name: d
    for d in (
        alb.DOOR,
        apigw_rest.DOOR,
        apigw_http.DOOR,
        apigw_rest_cached.DOOR,
        apigw_websocket.DOOR,
        lambda_url.DOOR,
        cloudfront.DOOR,
        vpc_lattice.DOOR,
    )
}


def assessed(scenario: Scenario) -> list[Assessed]:
    """Every option the scenario compares, with the requirements it fails
    (:func:`sim.doors.requirements.assess`)."""
    from sim.doors.requirements import assess

    return assess(scenario)


def options_for(scenario: Scenario) -> list[Option]:
    """Every option the scenario compares (those that fail a requirement included: they are billed
    for reference and left out of the ranking), door by door."""
    return [a.option for a in assessed(scenario)]
