"""The discrete-event engine: SimPy processes that exchange numpy batches of requests."""

from __future__ import annotations

from sim.engine.core import Batch, Horizon
from sim.engine.run import FIDELITIES, simulate

__all__ = ["FIDELITIES", "Batch", "Horizon", "simulate"]
