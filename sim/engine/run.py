"""One entry point for every fidelity: ``simulate(scenario) -> hourly meter table``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from sim.config import Scenario
from sim.engine.aggregate import run_aggregate
from sim.engine.core import Horizon, ProgressCallback, run_request
from sim.engine.reference import run_reference
from sim.rng import run_seed_sequence, streams

Engine = Callable[
    [Scenario, Horizon, dict[str, np.random.Generator], ProgressCallback | None], pa.Table
]

#: Fidelity name -> engine (DESIGN.md, "fidelity is a setting").
FIDELITIES: dict[str, Engine] = {
    "request": run_request,
    "aggregate": run_aggregate,
    "reference": run_reference,
}


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    run_index: int | None = None,
    fidelity: str | None = None,
    progress: ProgressCallback | None = None,
) -> pa.Table:
    """Simulate a scenario and return its hourly meter table (see :mod:`sim.meters`).

    Parameters
    ----------
    scenario
        A validated scenario.
    seed
        Root seed; defaults to ``scenario.scenario.seed``.
    run_index
        Run number within a study: its streams come from ``SeedSequence(seed, spawn_key=(i,))``.
    fidelity
        ``request``, ``aggregate`` or ``reference``; defaults to ``scenario.engine.fidelity``.
    progress
        Called now and then with the fraction of the horizon done.
    """
    root = scenario.scenario.seed if seed is None else seed
    rngs = streams(run_seed_sequence(root, run_index))
    used = fidelity or scenario.engine.fidelity
    if scenario.traffic.model == "access_log":
        from sim.config import access_log_problems
        from sim.errors import ConfigError

        problems = access_log_problems(scenario, used)
        if problems:
            raise ConfigError(f"scenario {scenario.scenario.name!r}", problems)
    table = FIDELITIES[used](scenario, Horizon.of(scenario), rngs, progress)
    return stamp_metering(table, scenario, root, run_index, used)


#: Key of the meter table's metadata that says what was simulated (see :func:`stamp_metering`).
METERING_KEY = b"sim.metering"


def stamp_metering(
    table: pa.Table, scenario: Scenario, seed: int, run_index: int | None, fidelity: str
) -> pa.Table:
    """The meter table with what produced its facts in its schema metadata (the scenario as
    validated, the seed, the run index and the fidelity), so that pricing can refuse a scenario
    that would have metered something else (:func:`sim.reprice.check_metering`)."""
    import json

    meta = dict(table.schema.metadata or {})
    meta[METERING_KEY] = json.dumps(
        {
            "config": scenario.model_dump(mode="json"),
            "seed": seed,
            "run_index": run_index,
            "fidelity": fidelity,
        },
        sort_keys=True,
    ).encode()
    return table.replace_schema_metadata(meta)
