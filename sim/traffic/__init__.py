"""Traffic models: rate profiles, burst processes, trace replay, sessions and connections, payloads.

Each family is a registry of named implementations with one signature, keyed by the ``model`` field of
its scenario section (models in :mod:`sim.traffic.models`, re-exported by :mod:`sim.config`):

* ``[traffic]``: :data:`sim.traffic.arrivals.ARRIVALS` (``constant``, ``daily_cycle``, ``profile``,
  ``replay``); a profile's factors :data:`sim.traffic.profiles.FACTORS` and burst processes
  :data:`sim.traffic.bursts.BURSTS` (``mmpp``, ``hawkes``, ``on_off``);
* ``[connections]``: :data:`sim.traffic.connections.CONNECTION_MODELS` (``per_connection``,
  ``sessions``) and the request sources :data:`sim.traffic.arrivals.REQUEST_SOURCES`;
* ``[payload]``: :data:`sim.traffic.distributions.SAMPLERS` (``fixed``, ``lognormal``,
  ``empirical``) and route mixes (:func:`sim.traffic.payloads.build_payload`).

Engines build a scenario's request stream with :func:`arrivals_for`. Nothing in this package imports
:mod:`sim.config` at run time (it imports this package).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.traffic.arrivals import ArrivalProcess, arrivals_for, build_arrivals
    from sim.traffic.connections import ConnectionModel, build_connection_model
    from sim.traffic.distributions import Sampler, build_sampler
    from sim.traffic.payloads import Payload, build_payload
    from sim.traffic.profiles import RateProfile, build_profile

#: Name -> the module that defines it, imported on first use: validating a scenario imports
#: :mod:`sim.traffic.models` (and with it this package) but none of the generators, whose scipy
#: imports alone take 0.4 s (``sim validate`` and ``sim --help`` stay well under a second).
_LAZY = {
    "ArrivalProcess": "sim.traffic.arrivals",
    "arrivals_for": "sim.traffic.arrivals",
    "build_arrivals": "sim.traffic.arrivals",
    "ConnectionModel": "sim.traffic.connections",
    "build_connection_model": "sim.traffic.connections",
    "Sampler": "sim.traffic.distributions",
    "build_sampler": "sim.traffic.distributions",
    "Payload": "sim.traffic.payloads",
    "build_payload": "sim.traffic.payloads",
    "RateProfile": "sim.traffic.profiles",
    "build_profile": "sim.traffic.profiles",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ArrivalProcess",
    "ConnectionModel",
    "Payload",
    "RateProfile",
    "Sampler",
    "arrivals_for",
    "build_arrivals",
    "build_connection_model",
    "build_payload",
    "build_profile",
    "build_sampler",
]
