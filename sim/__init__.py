"""sim: simulate API traffic and what an ALB or API Gateway front door would bill for it, hour by hour.

>>> import sim
>>> scenario = sim.load_scenario("configs/seed.toml")      # doctest: +SKIP
>>> result = sim.run(scenario, "results/seed")             # doctest: +SKIP
"""

from __future__ import annotations

from sim.api import RunResult, load_scenario, price, run, simulate

__version__ = "0.1.0"
__all__ = ["RunResult", "__version__", "load_scenario", "price", "run", "simulate"]
