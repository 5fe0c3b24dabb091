"""Front doors as plug-ins: one module each, one registry (:data:`DOORS`).

Each module declares a :class:`~sim.doors.base.Door`: the options it adds to a scenario, the path
its Lambda function is on, what it bills and what it supports. Everything else (the scenario's
options, the bill, the feature table) reads the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.doors import alb, apigw_http, apigw_rest, apigw_rest_cached, apigw_websocket
from sim.doors.base import BillingContext, Door, Facts, Features, Option

if TYPE_CHECKING:
    from sim.config import Scenario

__all__ = ["DOORS", "BillingContext", "Door", "Facts", "Features", "Option", "options_for"]

#: Door name -> door, in the order options are listed.
DOORS: dict[str, Door] = {
    d.name: d
    for d in (
        alb.DOOR,
        apigw_rest.DOOR,
        apigw_http.DOOR,
        apigw_rest_cached.DOOR,
        apigw_websocket.DOOR,
    )
}


def options_for(scenario: Scenario) -> list[Option]:
    """Every option the scenario compares, door by door."""
    return [o for door in DOORS.values() for o in door.options(scenario)]
