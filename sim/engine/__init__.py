"""The discrete-event engine: SimPy processes that exchange numpy batches of requests."""

from __future__ import annotations

from sim.engine.core import Batch, Horizon, simulate

__all__ = ["Batch", "Horizon", "simulate"]
