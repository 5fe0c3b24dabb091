"""The public API: load a scenario, simulate it, price it, write its results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from sim.config import Scenario, load_scenario, price_book_for
from sim.engine import simulate
from sim.engine.core import ProgressCallback
from sim.output import (
    json_writer,
    parquet_writer,
    plan_directory,
    result_directory,
    versions,
)
from sim.pricing.book import PriceBook
from sim.pricing.costs import cost_timeline
from sim.summary import build_summary

__all__ = ["RunResult", "load_scenario", "price", "provenance", "run", "simulate"]


def price(meters: pa.Table, scenario: Scenario, book: PriceBook | None = None) -> pa.Table:
    """Price a meter table under the scenario's region and price book (or ``book``)."""
    book = book if book is not None else price_book_for(scenario)
    return cost_timeline(meters, scenario, book.region(scenario.scenario.region))


def provenance(scenario: Scenario, seed: int, book: PriceBook) -> dict[str, Any]:
    """What produced a result: config hash, seed, price book, versions."""
    return {
        "scenario": scenario.scenario.name,
        "config_hash": scenario.config_hash(),
        "seed": seed,
        "fidelity": scenario.engine.fidelity,
        "region": scenario.scenario.region,
        "price_book": {"id": book.id, "retrieved": book.retrieved},
        "free_tier": scenario.pricing.free_tier,
        "versions": versions(),
        "config": scenario.model_dump(mode="json"),
    }


@dataclass(frozen=True)
class RunResult:
    """A finished run: its tables, summary and where they were written."""

    meters: pa.Table
    costs: pa.Table
    summary: dict[str, Any]
    out_dir: Path | None


RUN_FILES = ("meters.parquet", "costs.parquet", "summary.json")


def run_file_names(plots: bool) -> list[str]:
    """The files ``sim run`` writes into its result directory."""
    from sim.plots import PLOTS

    return [*RUN_FILES, *(PLOTS if plots else ())]


def run(
    scenario: Scenario,
    out_dir: str | Path | None = None,
    *,
    seed: int | None = None,
    plots: bool = True,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Simulate, price and (if ``out_dir``) write ``meters.parquet``, ``costs.parquet``,
    ``summary.json`` and the plots into the result directory ``out_dir``.

    The directory is checked before anything is simulated (see :mod:`sim.output`: only files this
    package wrote are replaced), and the files appear together once all are written.
    """
    names = run_file_names(plots)
    if out_dir is not None:
        plan_directory(out_dir, "run", names)  # refuse a bad target before the work
    seed = scenario.scenario.seed if seed is None else seed
    book = price_book_for(scenario)
    meters = simulate(scenario, seed=seed, progress=progress)
    costs = price(meters, scenario, book)
    prov = provenance(scenario, seed, book)
    summary = build_summary(meters, costs, prov, scenario.scenario.duration_s)
    if out_dir is None:
        return RunResult(meters, costs, summary, None)
    out = Path(out_dir)
    with result_directory(out, "run", names) as stage:
        parquet_writer(meters, prov)(stage / "meters.parquet")
        parquet_writer(costs, prov)(stage / "costs.parquet")
        json_writer(summary)(stage / "summary.json")
        if plots:
            from sim.plots import write_plots

            write_plots(meters, costs, stage, scenario.scenario.name, provenance=prov)
    return RunResult(meters, costs, summary, out)
