"""One run of a study: apply the sampled inputs, simulate, price, and reduce to one outcome row.

:func:`run_one` is pure given its arguments: run ``i`` draws its randomness from
``SeedSequence(root_seed, spawn_key=(i,))`` alone (DESIGN.md), so the row is the same on any worker,
in any chunk, on any executor. :func:`run_chunk` runs a chunk of runs and returns their rows as a
table; it is what executors ship to worker processes.

Outcome columns (``<o>`` an option, ``<r>`` the reference option, costs on the study's cost basis),
grouped by the study-file outcome that asks for them:

* always: ``run`` (index);
* ``cost``: ``<o>_total_usd`` and ``<o>_front_door_usd`` (USD per 30 days: the period's usage
  projected to 30 days and priced through tiers and free allowances);
* ``savings``: ``savings_usd_<r>_vs_<o>`` = cost(o) − cost(r) (USD, > 0 when the reference is
  cheaper) and, with three or more options, ``savings_usd_<r>_vs_best`` against the cheapest other;
* ``log_cost_ratio``: ``log_cost_ratio_<o>_over_<r>`` = ln(cost(o) / cost(r)) (> 0 when the
  reference is cheaper) and, with three or more options, ``log_cost_ratio_best_over_<r>`` for the
  cheapest other;
* ``cheapest``: the option with the lowest cost (name);
* ``dominant_lcu_dimension``: the LCU dimension that set most of the ALB's LCU-hours (name);
* ``peak_lcu``: the ALB's highest hourly LCU;
* ``requests``: requests in the period;
* ``throttled_requests``: ``gateway_throttled`` (requests refused by API Gateway's throttle) and
  ``<o>_lambda_throttled`` (invocations refused by option ``o``'s own Lambda concurrency limit),
  summed over the period.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from sim.errors import ConfigError, SimError
from sim.study.spec import Target, apply_values


class RunError(SimError):
    """A run could not be made (one picklable message, so it crosses process boundaries)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to make any run of a study (small and picklable)."""

    source: str
    base_data: dict[str, Any]
    targets: tuple[Target, ...]
    fidelity: str
    root_seed: int
    options: tuple[str, ...]
    reference: str
    cost_basis: str
    outcomes: tuple[str, ...]
    study_hash: str


@dataclass(frozen=True)
class ChunkTask:
    """One chunk: runs ``first .. first + len(values) - 1`` with their input values."""

    spec: RunSpec
    chunk: int
    first: int
    values: tuple[dict[str, Any], ...]

    @property
    def runs(self) -> range:
        return range(self.first, self.first + len(self.values))


def throttle_columns(options: Sequence[str]) -> list[str]:
    """Outcome columns of throttled requests: API Gateway's, and each option's Lambda's."""
    return ["gateway_throttled", *(f"{o}_lambda_throttled" for o in options)]


def outcome_available(name: str) -> str | None:
    """Why an outcome cannot be recorded with this engine, or ``None`` if it can."""
    return None


def outcome_schema(options: Sequence[str], reference: str, outcomes: Sequence[str]) -> pa.Schema:
    """The columns of ``runs/*.parquet`` and ``results.parquet``, in order."""
    others = [o for o in options if o != reference]
    fields: list[pa.Field] = [pa.field("run", pa.int64())]
    if "cost" in outcomes:
        for o in options:
            fields += [
                pa.field(f"{o}_total_usd", pa.float64()),
                pa.field(f"{o}_front_door_usd", pa.float64()),
            ]
    if "savings" in outcomes:
        fields += [pa.field(f"savings_usd_{reference}_vs_{o}", pa.float64()) for o in others]
        if len(others) > 1:
            fields.append(pa.field(f"savings_usd_{reference}_vs_best", pa.float64()))
    if "log_cost_ratio" in outcomes:
        fields += [pa.field(f"log_cost_ratio_{o}_over_{reference}", pa.float64()) for o in others]
        if len(others) > 1:
            fields.append(pa.field(f"log_cost_ratio_best_over_{reference}", pa.float64()))
    if "cheapest" in outcomes:
        fields.append(pa.field("cheapest", pa.string()))
    if "dominant_lcu_dimension" in outcomes:
        fields.append(pa.field("dominant_lcu_dimension", pa.string()))
    if "peak_lcu" in outcomes:
        fields.append(pa.field("peak_lcu", pa.float64()))
    if "requests" in outcomes:
        fields.append(pa.field("requests", pa.int64()))
    if "throttled_requests" in outcomes:
        fields += [pa.field(c, pa.int64()) for c in throttle_columns(options)]
    return pa.schema(fields)


def describe_values(values: Mapping[str, Any]) -> str:
    """``name=value, ...`` for messages."""
    return ", ".join(
        f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v!r}" for k, v in values.items()
    )


def scenario_for_run(
    spec: RunSpec, run_index: int, values: Mapping[str, Any], *, full: bool = True
) -> Any:
    """The validated scenario of one run; a clear :class:`RunError` naming the inputs if invalid.

    ``full=False`` skips the price-book checks (region, book file) when no input can change them:
    the base scenario passed them already.
    """
    from sim.config import scenario_from_json

    # the base is a JSON document (``model_dump(mode="json")``) with plain numbers set into it
    data = apply_values(spec.base_data, spec.targets, values, spec.fidelity)
    try:
        return scenario_from_json(
            data, spec.source, references=full or touches_price_book(spec.targets)
        )
    except ConfigError as exc:
        problems = "; ".join(f"{f}: {m}" if f else m for f, m in exc.problems)
        raise RunError(
            f"{spec.source}: run {run_index}: the sampled inputs ({describe_values(values)}) make "
            f"the scenario invalid: {problems}. Narrow or truncate those inputs' distributions."
        ) from None


def touches_price_book(targets: Sequence[Target]) -> bool:
    """Whether an input sets a field that the price-book checks look at."""
    return any(t.path[0] == "pricing" or t.path == ("scenario", "region") for t in targets)


_BOOKS: dict[str, Any] = {}


def _price_book(scenario: Any) -> Any:
    """The price book a scenario names, loaded once per worker process."""
    from sim.config import price_book_for

    key = scenario.pricing.book
    if key not in _BOOKS:
        _BOOKS[key] = price_book_for(scenario)
    return _BOOKS[key]


def run_one(spec: RunSpec, run_index: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """Make run ``run_index`` with the given input values; return its outcome row.

    Costs are the options' 30-day projections (:func:`sim.pricing.costs.projected_costs`): usage
    scaled to 30 days and priced through tiers and free allowances, so runs of any length compare.
    """
    from sim.api import bill_for
    from sim.engine import simulate
    from sim.summary import alb_drivers

    scenario = scenario_for_run(spec, run_index, values, full=False)
    facts = simulate(scenario, seed=spec.root_seed, run_index=run_index)
    billed = bill_for(facts, scenario, _price_book(scenario))
    totals = billed.projection
    meters = billed.meters
    basis = f"{spec.cost_basis}_usd"
    options, ref = spec.options, spec.reference
    others = [o for o in options if o != ref]
    cost = {o: float(totals[o][basis]) for o in options}
    row: dict[str, Any] = {"run": run_index}
    outcomes = spec.outcomes
    if "cost" in outcomes:
        for o in options:
            row[f"{o}_total_usd"] = float(totals[o]["total_usd"])
            row[f"{o}_front_door_usd"] = float(totals[o]["front_door_usd"])
    if "savings" in outcomes:
        for o in others:
            row[f"savings_usd_{ref}_vs_{o}"] = cost[o] - cost[ref]
        if len(others) > 1:
            row[f"savings_usd_{ref}_vs_best"] = min(cost[o] for o in others) - cost[ref]
    if "log_cost_ratio" in outcomes:
        for o in others:
            row[f"log_cost_ratio_{o}_over_{ref}"] = _log_ratio(cost[o], cost[ref])
        if len(others) > 1:
            best = min(cost[o] for o in others)
            row[f"log_cost_ratio_best_over_{ref}"] = _log_ratio(best, cost[ref])
    if "cheapest" in outcomes:
        row["cheapest"] = min(options, key=lambda o: cost[o])
    if "dominant_lcu_dimension" in outcomes or "peak_lcu" in outcomes:
        drivers = alb_drivers(meters)
        if "dominant_lcu_dimension" in outcomes:
            row["dominant_lcu_dimension"] = str(drivers["dominant_lcu_dimension"])
        if "peak_lcu" in outcomes:
            row["peak_lcu"] = float(drivers["peak_lcu"])
    if "requests" in outcomes:
        row["requests"] = int(np.sum(meters.column("requests").to_numpy()))
    if "throttled_requests" in outcomes:
        paths = {o.name: o.path for o in billed.options}
        row["gateway_throttled"] = int(np.sum(meters.column("gateway_throttled").to_numpy()))
        for o in options:
            column = meters.column(f"{paths[o]}_lambda_throttled")
            row[f"{o}_lambda_throttled"] = int(np.sum(column.to_numpy()))
    return row


def _log_ratio(a: float, b: float) -> float:
    return math.log(a / b) if a > 0 and b > 0 else float("nan")


def run_chunk(task: ChunkTask) -> pa.Table:
    """All runs of one chunk, as a table with :func:`outcome_schema`'s columns."""
    spec = task.spec
    schema = outcome_schema(spec.options, spec.reference, spec.outcomes)
    try:
        rows = [run_one(spec, i, v) for i, v in zip(task.runs, task.values, strict=True)]
    except RunError:
        raise
    except SimError as exc:  # e.g. ConfigError: not picklable as is; keep its message
        raise RunError(f"{spec.source}: chunk {task.chunk}: {exc}") from None
    return pa.Table.from_pylist(rows, schema=schema)
