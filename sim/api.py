"""The public API: load a scenario, simulate it, price it, write its results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from sim.billing import Bill, bill
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
from sim.pricing.book import PriceBook, region_prices
from sim.summary import build_summary

__all__ = [
    "RunResult",
    "bill_for",
    "load_scenario",
    "price",
    "provenance",
    "run",
    "simulate",
    "write_run",
]


def price(meters: pa.Table, scenario: Scenario, book: PriceBook | None = None) -> pa.Table:
    """Price a meter table under the scenario's region, pricing settings and price book (or
    ``book``): the cost table. Derived columns are recomputed from the facts, so pricing-only
    settings (``alb.target_type``, ``backend.memory_mb`` ...) take effect."""
    return bill_for(meters, scenario, book).costs


def bill_for(meters: pa.Table, scenario: Scenario, book: PriceBook | None = None) -> Bill:
    """The whole bill of a meter table (costs, calendar months, 30-day projection).

    Raises
    ------
    ConfigError
        The meters were simulated with settings that change what is metered (another traffic,
        cache, throttle ...): pricing them under ``scenario`` would bill another scenario's facts.
    """
    from sim.reprice import check_metering

    check_metering(meters, scenario)
    book = book if book is not None else price_book_for(scenario)
    return bill(meters, scenario, region_prices(book, scenario))


def provenance(
    scenario: Scenario,
    seed: int,
    book: PriceBook,
    fidelity: str | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """What produced a result: config hash, seed, fidelity, price book, versions (and, for
    information only, the worker processes of a ``request``-fidelity run: the numbers do not
    depend on them)."""
    extra = {} if workers is None else {"workers": workers}
    return {
        "scenario": scenario.scenario.name,
        "config_hash": scenario.config_hash(),
        "seed": seed,
        "fidelity": fidelity or scenario.engine.fidelity,
        "region": scenario.scenario.region,
        "price_book": {"id": book.id, "retrieved": book.retrieved},
        "free_tier": scenario.pricing.free_tier,
        "versions": versions(),
        "config": scenario.model_dump(mode="json"),
        **extra,
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
    """The files ``sim run`` writes into its result directory (``report.html`` always: without
    ``plots`` it has no figures)."""
    from sim.plots import PLOTS
    from sim.report import REPORT_FILE

    return [*RUN_FILES, *(PLOTS if plots else ()), REPORT_FILE]


def run(
    scenario: Scenario,
    out_dir: str | Path | None = None,
    *,
    seed: int | None = None,
    plots: bool = True,
    progress: ProgressCallback | None = None,
    workers: int = 1,
) -> RunResult:
    """Simulate, price and (if ``out_dir``) write ``meters.parquet``, ``costs.parquet``,
    ``summary.json``, the plots and ``report.html`` into the result directory ``out_dir``.
    ``request`` fidelity's batches are drawn by ``workers`` processes (the numbers do not depend
    on it; 1: this process alone, the default for a library call, which may itself be one of many
    processes, as a study's runs are).

    The directory is checked before anything is simulated (see :mod:`sim.output`: only files this
    package wrote are replaced), and the files appear together once all are written.
    """
    if out_dir is not None:
        plan_directory(out_dir, "run", run_file_names(plots))  # refuse a bad target before work
    seed = scenario.scenario.seed if seed is None else seed
    price_book_for(scenario)  # a bad book fails before the simulation
    facts = simulate(scenario, seed=seed, progress=progress, workers=workers)
    return write_run(scenario, facts, out_dir, seed=seed, plots=plots, workers=workers)


def write_run(
    scenario: Scenario,
    facts: pa.Table,
    out_dir: str | Path | None,
    *,
    seed: int,
    plots: bool = True,
    source: str = "<scenario>",
    workers: int | None = None,
) -> RunResult:
    """Price ``facts`` under ``scenario`` and (if ``out_dir``) write the run's files
    (``workers``: the processes that simulated them, recorded in the provenance)."""
    from sim.reprice import metering_of

    book = price_book_for(scenario, source)
    billed = bill_for(facts, scenario, book)
    meters, costs = billed.meters, billed.costs
    metering = metering_of(facts) or {}
    fidelity = metering.get("fidelity")
    prov = provenance(scenario, seed, book, fidelity, workers if fidelity == "request" else None)
    summary = build_summary(billed, prov, scenario)
    if out_dir is None:
        return RunResult(meters, costs, summary, None)
    out = Path(out_dir)
    with result_directory(out, "run", run_file_names(plots)) as stage:
        parquet_writer(meters, prov)(stage / "meters.parquet")
        parquet_writer(costs, prov)(stage / "costs.parquet")
        json_writer(summary)(stage / "summary.json")
        drawn = []
        if plots:
            from sim.output import figure_writer
            from sim.plots import run_figures
            from sim.report.svg import figure_svg

            # each figure drawn once: its PNG file, then its SVG for the report
            for name, title, fig in run_figures(meters, costs, scenario.scenario.name, summary):
                figure_writer(fig, prov)(stage / name)
                drawn.append({"name": name, "title": title, "svg": figure_svg(fig, title)})
        from sim.output import text_writer
        from sim.report import REPORT_FILE, render_report

        page = render_report(stage, figures=plots, name=str(out), drawn=drawn).html
        text_writer(page)(stage / REPORT_FILE)
    return RunResult(meters, costs, summary, out)
