"""The deployments a scenario compares, as the engine sees them: *paths* to the Lambda function.

Each option is its own deployment, so each has its own Lambda function whose invocations, throttles
and billed milliseconds follow from what reaches it. Options that send the same requests to Lambda
share a path (the facts are the same):

* ``direct``: every request (the ALB; later a function URL);
* ``gateway``: requests API Gateway's throttle lets through (REST, HTTP and WebSocket APIs);
* ``cached_<size>``: those, less the REST cache's hits at that cache size (one path per size).

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


def engine_paths(scenario: Scenario) -> tuple[PathSpec, ...]:
    """The paths the engine meters for ``scenario``: always ``direct`` and ``gateway`` (so a stored
    run can be re-priced for any of those options), and one per cache size when the cache is on."""
    paths = [PathSpec(DIRECT, False), PathSpec(GATEWAY, True)]
    cache = scenario.apigateway.cache
    if cache.enabled:
        paths += [PathSpec(cache_path(s), True, s) for s in cache.sizes_gb]
    return tuple(paths)
