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

import json
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

    The whole scenario is validated from its JSON document (the reference path; see
    :class:`RunScenarios` for the fast one a study uses). ``full=False`` skips the price-book
    checks (region, book file) when no input can change them: the base scenario passed them.
    """
    from sim.config import scenario_from_json

    # the base is a JSON document (``model_dump(mode="json")``) with plain numbers set into it
    data = apply_values(spec.base_data, spec.targets, values, spec.fidelity)
    try:
        return scenario_from_json(
            data, spec.source, references=full or touches_price_book(spec.targets)
        )
    except ConfigError as exc:
        raise invalid_run(spec, run_index, values, exc) from None


def invalid_run(
    spec: RunSpec, run_index: int, values: Mapping[str, Any], exc: ConfigError
) -> RunError:
    """The error of a run whose sampled inputs make the scenario invalid."""
    problems = "; ".join(f"{f}: {m}" if f else m for f, m in exc.problems)
    return RunError(
        f"{spec.source}: run {run_index}: the sampled inputs ({describe_values(values)}) make "
        f"the scenario invalid: {problems}. Narrow or truncate those inputs' distributions."
    )


def touches_price_book(targets: Sequence[Target]) -> bool:
    """Whether an input sets a field that the price-book checks look at."""
    return any(t.path[0] == "pricing" or t.path == ("scenario", "region") for t in targets)


#: Validated sections a :class:`RunScenarios` keeps (each a few kB at most).
SECTION_CACHE = 4096


class RunScenarios:
    """Every run's validated scenario, made fast from the validated base scenario.

    A run differs from the base only in the sections (top-level tables) its inputs set. Those
    sections are validated again, with the very validators and context the whole scenario's
    validation uses (a model holding that one field of :class:`~sim.config.Scenario`, its
    annotation and its field info), and put in the base with ``model_copy``; the other sections
    are the base's, already validated. A section seen before (e.g. an input with few distinct
    values) is taken from a bounded cache, keyed by its JSON text. The result equals the whole
    scenario's validation (``Scenario`` has no validator across its sections; this is checked at
    start, and the whole path is used if that ever changes, or when an input touches the price
    book's settings); a test compares both on every run of the shipped study's design.

    Any value that makes a section invalid, or leaves the scenario nothing to compare, is refused
    by the reference path (:func:`scenario_for_run`), so the :class:`RunError` is the same.
    """

    def __init__(self, spec: RunSpec) -> None:
        from sim.config import Scenario, scenario_from_json

        self.spec = spec
        self.sections = tuple(sorted({t.path[0] for t in spec.targets}))
        self._copied = frozenset({*self.sections, "engine"})
        decorators = Scenario.__pydantic_decorators__
        across = bool(
            decorators.model_validators or decorators.field_validators or decorators.validators
        )
        self.whole = across or touches_price_book(spec.targets)
        base_data = apply_values(spec.base_data, (), {}, spec.fidelity)
        try:
            self.base = scenario_from_json(base_data, spec.source, references=False)
        except ConfigError as exc:
            raise RunError(f"{spec.source}: the base scenario is invalid: {exc}") from None
        self._models = {name: _section_model(name) for name in self.sections}
        self._cache: dict[tuple[str, str], Any] = {}

    def __call__(self, run_index: int, values: Mapping[str, Any]) -> Any:
        """Run ``run_index``'s scenario; :class:`RunError` naming the inputs if invalid."""
        from pydantic import ValidationError

        spec = self.spec
        if self.whole:
            return scenario_for_run(spec, run_index, values, full=False)
        data = apply_values(
            spec.base_data, spec.targets, values, spec.fidelity, sections=self._copied
        )
        update: dict[str, Any] = {}
        try:
            for name in self.sections:
                text = json.dumps(data[name], default=_json_value)
                key = (name, text)
                section = self._cache.get(key)
                if section is None:
                    holder = self._models[name].model_validate_json(
                        f'{{"{name}": {text}}}', context={"source": spec.source}
                    )
                    section = getattr(holder, name)
                    if len(self._cache) >= SECTION_CACHE:
                        self._cache.pop(next(iter(self._cache)))  # the oldest
                    self._cache[key] = section
                update[name] = section
        except ValidationError:
            return scenario_for_run(spec, run_index, values, full=False)  # raises its RunError
        scenario = self.base.model_copy(update=update)
        if not scenario.options:
            return scenario_for_run(spec, run_index, values, full=False)  # raises its RunError
        return scenario


def _section_model(name: str) -> Any:
    """A strict model with one field: the scenario's section ``name``, exactly as declared."""
    from pydantic import create_model

    from sim._model import StrictModel
    from sim.config import Scenario

    field = Scenario.model_fields[name]
    fields: Any = {name: (field.annotation, field)}
    return create_model(f"ScenarioSection_{name}", __base__=StrictModel, **fields)


def _json_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not a scenario value: {value!r}")


# --------------------------------------------------------------------------- per worker process
_BOOKS: dict[str, Any] = {}
_PRICES: dict[tuple[Any, ...], Any] = {}
_SCENARIOS: dict[str, RunScenarios] = {}


def _price_book(scenario: Any) -> Any:
    """The price book a scenario names, loaded once per worker process."""
    from sim.config import price_book_for

    key = scenario.pricing.book
    if key not in _BOOKS:
        _BOOKS[key] = price_book_for(scenario)
    return _BOOKS[key]


def _region_prices(scenario: Any) -> Any:
    """The region's prices for the scenario's options (checked once per distinct need)."""
    from sim.pricing.book import region_prices, scenario_price_needs

    key = (
        scenario.pricing.book,
        scenario.scenario.region,
        scenario.pricing.allow_unverified,
        frozenset(scenario_price_needs(scenario)),
    )
    if key not in _PRICES:
        _PRICES[key] = region_prices(_price_book(scenario), scenario)
    return _PRICES[key]


def run_scenarios(spec: RunSpec) -> RunScenarios:
    """The :class:`RunScenarios` of ``spec``'s study, made once per process."""
    if spec.study_hash not in _SCENARIOS:
        if len(_SCENARIOS) >= 4:
            _SCENARIOS.clear()
        _SCENARIOS[spec.study_hash] = RunScenarios(spec)
    return _SCENARIOS[spec.study_hash]


# --------------------------------------------------------------------------- runs
@dataclass(frozen=True)
class _Metered:
    """What one run leaves for its row besides its costs."""

    run: int
    charges: list[Any]
    period: Any
    usage: dict[str, float]
    paths: dict[str, str]
    meters: dict[str, Any]


def _meter(spec: RunSpec, run_index: int, scenario: Any) -> _Metered:
    """Simulate run ``run_index`` and compute its charges (not yet priced) and meter outcomes."""
    from sim.billing import charges_for, period_of
    from sim.engine import simulate
    from sim.summary import alb_drivers

    facts = simulate(scenario, seed=spec.root_seed, run_index=run_index)
    # the study's bill: the same charges as sim.api.bill_for's, priced for the 30-day projection
    # only (no hourly cost table); no metering check either: these meters come from this very
    # scenario, a line above
    derived, options, charges = charges_for(facts, scenario, _region_prices(scenario))
    outcomes = spec.outcomes
    meters: dict[str, Any] = {}
    if "dominant_lcu_dimension" in outcomes or "peak_lcu" in outcomes:
        drivers = alb_drivers(derived)
        meters["dominant_lcu_dimension"] = str(drivers["dominant_lcu_dimension"])
        meters["peak_lcu"] = float(drivers["peak_lcu"])
    if "requests" in outcomes:
        meters["requests"] = int(np.sum(derived.column("requests").to_numpy()))
    if "throttled_requests" in outcomes:
        meters["gateway_throttled"] = int(np.sum(derived.column("gateway_throttled").to_numpy()))
        for o in options:
            column = derived.column(f"{o.path}_lambda_throttled")
            meters[f"{o.name}_lambda_throttled"] = int(np.sum(column.to_numpy()))
    return _Metered(
        run_index,
        charges,
        period_of(scenario, derived),
        dict(scenario.account.other_monthly_usage),
        {o.name: o.path for o in options},
        meters,
    )


def outcome_row(
    spec: RunSpec,
    run_index: int,
    totals: Mapping[str, Mapping[str, Any]],
    meters: Mapping[str, Any],
) -> dict[str, Any]:
    """One run's outcome row from its 30-day projection (``totals``: per option, as
    :func:`sim.pricing.costs.projected_costs` gives it) and its meter outcomes."""
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
    for name in ("dominant_lcu_dimension", "peak_lcu", "requests"):
        if name in outcomes:
            row[name] = meters[name]
    if "throttled_requests" in outcomes:
        row["gateway_throttled"] = meters["gateway_throttled"]
        for o in options:
            row[f"{o}_lambda_throttled"] = meters[f"{o}_lambda_throttled"]
    return row


def run_rows(
    spec: RunSpec, runs: Sequence[int], values: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The outcome rows of ``runs`` (with their input values): each run simulated and its charges
    computed, then every run's 30-day projection priced at once
    (:func:`sim.pricing.costs.projected_costs_many`: the numbers of
    :func:`sim.pricing.costs.projected_costs`, hence of :func:`sim.api.bill_for`'s projection)."""
    from sim.pricing.costs import projected_costs_many

    scenarios = run_scenarios(spec)
    metered = [_meter(spec, i, scenarios(i, v)) for i, v in zip(runs, values, strict=True)]
    totals = projected_costs_many([(m.charges, m.period, m.usage) for m in metered])
    return [outcome_row(spec, m.run, t, m.meters) for m, t in zip(metered, totals, strict=True)]


def run_one(spec: RunSpec, run_index: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """Make run ``run_index`` with the given input values; return its outcome row.

    Costs are the options' 30-day projections (:func:`sim.pricing.costs.projected_costs`): usage
    scaled to 30 days and priced through tiers and free allowances, so runs of any length compare.
    """
    return run_rows(spec, [run_index], [values])[0]


def _log_ratio(a: float, b: float) -> float:
    return math.log(a / b) if a > 0 and b > 0 else float("nan")


def run_chunk(task: ChunkTask) -> pa.Table:
    """All runs of one chunk, as a table with :func:`outcome_schema`'s columns."""
    spec = task.spec
    schema = outcome_schema(spec.options, spec.reference, spec.outcomes)
    try:
        rows = run_rows(spec, list(task.runs), task.values)
    except RunError:
        raise
    except SimError as exc:  # e.g. ConfigError: not picklable as is; keep its message
        raise RunError(f"{spec.source}: chunk {task.chunk}: {exc}") from None
    return pa.Table.from_pylist(rows, schema=schema)
