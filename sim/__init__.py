"""sim: simulate API traffic and what an ALB or API Gateway front door would bill for it, hour by hour.

>>> import sim
>>> scenario = sim.load_scenario("configs/seed.toml")      # doctest: +SKIP
>>> result = sim.run(scenario, "results/seed")             # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.api import RunResult, load_scenario, price, run, simulate

__version__ = "0.1.0"
__all__ = ["RunResult", "__version__", "load_scenario", "price", "run", "simulate"]


def __getattr__(name: str) -> Any:
    """The public API, imported on first use (``sim --help`` need not load the engine)."""
    if name in __all__ and name != "__version__":
        import sim.api

        return getattr(sim.api, name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
