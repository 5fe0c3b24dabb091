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

#: ``(scenario, horizon, the run's seed sequence, progress, workers) -> meter table``.
Engine = Callable[
    [Scenario, Horizon, np.random.SeedSequence, ProgressCallback | None, int], pa.Table
]


def _aggregate(
    scenario: Scenario,
    horizon: Horizon,
    seq: np.random.SeedSequence,
    progress: ProgressCallback | None,
    workers: int,
) -> pa.Table:
    return run_aggregate(scenario, horizon, streams(seq), progress)


def _reference(
    scenario: Scenario,
    horizon: Horizon,
    seq: np.random.SeedSequence,
    progress: ProgressCallback | None,
    workers: int,
) -> pa.Table:
    return run_reference(scenario, horizon, seq, progress)


#: Fidelity name -> engine (DESIGN.md, "fidelity is a setting"). Only ``request`` fidelity uses
#: worker processes; the others run in the calling process whatever ``workers`` says.
FIDELITIES: dict[str, Engine] = {
    "request": run_request,
    "aggregate": _aggregate,
    "reference": _reference,
}


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    run_index: int | None = None,
    fidelity: str | None = None,
    progress: ProgressCallback | None = None,
    workers: int = 1,
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
    workers
        Processes that draw and meter ``request`` fidelity's batches (1: this one alone). The
        meters do not depend on it (:mod:`sim.engine.workers`).
    """
    check_workers(workers)
    root = scenario.scenario.seed if seed is None else seed
    seq = run_seed_sequence(root, run_index)
    used = fidelity or scenario.engine.fidelity
    if scenario.traffic.model == "access_log" or scenario.engine.warmup_s:
        from sim.config import engine_problems
        from sim.errors import ConfigError

        problems = engine_problems(scenario, used)
        if problems:
            raise ConfigError(f"scenario {scenario.scenario.name!r}", problems)
    horizon = Horizon.of(scenario, warmup=used == "request")
    table = FIDELITIES[used](scenario, horizon, seq, progress, workers)
    return stamp_metering(table, scenario, root, run_index, used)


def check_workers(workers: object) -> int:
    """``workers`` if it is a whole number ≥ 1, else a :class:`ValueError` that says so."""
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise ValueError(f"workers: expected a whole number ≥ 1 (got {workers!r})")
    return int(workers)


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
