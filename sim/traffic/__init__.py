"""Traffic models: rate profiles, size and duration distributions, connection models.

Each family is a registry of named implementations with one signature, keyed by the ``model`` field of
its scenario section (see :mod:`sim.config`).
"""

from __future__ import annotations

from sim.traffic.arrivals import ArrivalProcess, build_arrivals
from sim.traffic.connections import ConnectionModel, build_connection_model
from sim.traffic.distributions import Sampler, build_sampler
from sim.traffic.profiles import RateProfile, build_profile

__all__ = [
    "ArrivalProcess",
    "ConnectionModel",
    "RateProfile",
    "Sampler",
    "build_arrivals",
    "build_connection_model",
    "build_profile",
    "build_sampler",
]
