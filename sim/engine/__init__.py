"""The discrete-event engine: SimPy processes that exchange numpy batches of requests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.engine.core import Batch, Horizon
    from sim.engine.run import FIDELITIES, simulate

__all__ = ["FIDELITIES", "Batch", "Horizon", "simulate"]

_HOME = {"Batch": "core", "Horizon": "core", "FIDELITIES": "run", "simulate": "run"}


def __getattr__(name: str) -> Any:
    """The engine's names, imported on first use: importing one of its modules (``sim.meters``
    imports ``sim.engine.core``) must not import every fidelity, which import ``sim.meters``."""
    if name in _HOME:
        from importlib import import_module

        return getattr(import_module(f"sim.engine.{_HOME[name]}"), name)
    raise AttributeError(f"module 'sim.engine' has no attribute {name!r}")
