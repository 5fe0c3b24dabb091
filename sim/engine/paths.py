"""The deployments a scenario compares, as the engine sees them: *paths* to the Lambda function.

Each option is its own deployment, so each has its own Lambda function whose invocations, throttles
and billed milliseconds follow from what reaches it. Options that send the same requests to Lambda
share a path (the facts are the same):

* ``direct``: every request (the ALB, a function URL, VPC Lattice; CloudFront in front of an ALB
  or a function URL when CloudFront caches nothing);
* ``gateway``: requests API Gateway's throttle lets through (REST, HTTP and WebSocket APIs, and
  CloudFront in front of them when it caches nothing);
* ``cached_<size>``: those, less the REST cache's hits at that cache size (one path per size);
* ``websocket``: those a WebSocket API accepts as messages (128 KB at most: a larger client message
  is refused and invokes nothing), when one is compared;
* ``edge_direct``, ``edge_gateway``: with CloudFront's cache on, the requests it does not answer,
  straight to the function (origins ``lambda_url``, ``alb``) or through API Gateway's throttle, which
  then sees only those (origins ``apigw_http``, ``apigw_rest``).

The meters record each path's facts under its name (``direct_invocations``, ...); a front door
declares which path it bills (:mod:`sim.doors`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.config import Scenario

DIRECT = "direct"
GATEWAY = "gateway"
WEBSOCKET = "websocket"
EDGE_DIRECT = "edge_direct"
EDGE_GATEWAY = "edge_gateway"


def size_tag(size_gb: float) -> str:
    """A cache size as it appears in column names: ``0.5`` -> ``0p5gb``, ``237`` -> ``237gb``."""
    return f"{size_gb:g}gb".replace(".", "p")


def cache_path(size_gb: float) -> str:
    """The path of the REST API cached at ``size_gb``."""
    return f"cached_{size_tag(size_gb)}"


@dataclass(frozen=True)
class PathSpec:
    """One path: its name, whether it passes API Gateway's throttle, and its cache size."""

    name: str
    through_gateway: bool
    cache_size_gb: float | None = None
    edge: bool = False  # behind CloudFront's cache: its misses only
    websocket: bool = False  # client messages over 128 KB refused before the function


def cloudfront_origins(scenario: Scenario) -> tuple[str, ...]:
    """The origins of the CloudFront options the scenario compares (those it lists, and those its
    requirements add: :func:`sim.doors.options_for`)."""
    from sim.doors import options_for

    return tuple(o.params["origin"] for o in options_for(scenario) if o.door == "cloudfront")


def engine_paths(scenario: Scenario) -> tuple[PathSpec, ...]:
    """The paths the engine meters for ``scenario``: always ``direct`` and ``gateway`` (so a stored
    run can be re-priced for any of those options), one per cache size when the cache is on, and
    CloudFront's when it caches in front of the origins that need them."""
    paths = [PathSpec(DIRECT, False), PathSpec(GATEWAY, True)]
    cache = scenario.apigateway.cache
    if cache.enabled:
        paths += [PathSpec(cache_path(s), True, s) for s in cache.sizes_gb]
    if "websocket" in scenario.apigateway.apis:
        paths.append(PathSpec(WEBSOCKET, True, websocket=True))
    if scenario.cloudfront.cache.enabled:
        origins = cloudfront_origins(scenario)
        if {"lambda_url", "alb"} & set(origins):
            paths.append(PathSpec(EDGE_DIRECT, False, edge=True))
        if {"apigw_http", "apigw_rest"} & set(origins):
            paths.append(PathSpec(EDGE_GATEWAY, True, edge=True))
    return tuple(paths)


def edge_path(origin: str, scenario: Scenario) -> str:
    """The path of CloudFront in front of ``origin``."""
    direct = origin in ("lambda_url", "alb")
    if scenario.cloudfront.cache.enabled:
        return EDGE_DIRECT if direct else EDGE_GATEWAY
    return DIRECT if direct else GATEWAY
