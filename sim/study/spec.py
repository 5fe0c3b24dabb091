"""Study files: TOML validated into frozen pydantic models, resolved against their base scenario.

A study file has a ``[study]`` table (name, runs, root seed, fidelity, options, outcomes), a
``[base]`` table (``path`` to a scenario file with optional ``set`` overrides, or the scenario's
tables inline), a ``[design]`` table, one ``[[inputs]]`` table per uncertain input and optional
``[[correlations]]``. See ``configs/studies/seed-sensitivity.toml`` for a commented example.

Validation happens in two steps, both before anything is written: the file against the models below,
then every input against the base scenario (the field exists and holds a value; every sampled
scenario validates).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from sim._model import StrictModel, error_message, tuples
from sim.config import (
    Scenario,
    apply_overrides,
    read_toml,
    scenario_from_dict,
)
from sim.errors import ConfigError
from sim.study.design import (
    DESIGNS,
    DesignSettings,
    Saltelli,
    correlation_matrix,
    is_positive_definite,
    spearman_to_pearson,
)
from sim.study.distributions import DISTRIBUTIONS, AnyInput, InputConfig

#: Outcomes a study can record for every run (see :mod:`sim.study.outcomes`).
OUTCOMES = (
    "cost",
    "savings",
    "log_cost_ratio",
    "cheapest",
    "dominant_lcu_dimension",
    "peak_lcu",
    "requests",
    "throttled_requests",
)
Outcome = Literal[
    "cost",
    "savings",
    "log_cost_ratio",
    "cheapest",
    "dominant_lcu_dimension",
    "peak_lcu",
    "requests",
    "throttled_requests",
]
DEFAULT_OUTCOMES: tuple[Outcome, ...] = (
    "cost",
    "savings",
    "log_cost_ratio",
    "cheapest",
    "dominant_lcu_dimension",
    "peak_lcu",
)
FIDELITIES = ("aggregate", "request")


class _Model(StrictModel):
    """Strict, frozen, closed (see :mod:`sim._model`)."""


class StopAtWidth(_Model):
    """``study.stop_at_ci_width``: run in rounds, doubling the runs, until the intervals are
    narrower than asked (widths are whole widths, high minus low, at the design's confidence)."""

    p_cheapest: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Widest interval of P(cheapest) allowed, for every option (a probability).",
    )
    indices: float | None = Field(
        default=None,
        gt=0,
        description="Widest interval allowed of the ranking index (ST for sobol, S1 otherwise) of "
        "every input, for the key outcome and its relative counterpart.",
    )
    first_round_runs: int | None = Field(
        default=None,
        ge=1,
        description="Runs of the first round [default: study.runs / 8, to the design's "
        "granularity]; each round doubles them, up to study.runs.",
    )

    @model_validator(mode="after")
    def _asks_something(self) -> StopAtWidth:
        if self.p_cheapest is None and self.indices is None:
            raise ValueError("give p_cheapest, indices or both (or one width for both)")
        return self


class StudySection(_Model):
    """What the study is: its name, size, seed, and what it compares and records."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        max_length=100,
        description="Study name; results go to results/<name>/ by default.",
    )
    runs: int = Field(gt=0, le=10_000_000, description="Number of simulation runs.")
    seed: int = Field(default=0, ge=0, description="Root seed: run i uses (seed, i) alone.")
    fidelity: Literal["aggregate", "request"] = Field(
        default="aggregate",
        description="Engine fidelity of every run: aggregate (fast, default) or request (exact).",
    )
    chunk_size: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Runs per task and per file in runs/ [default: sized to the executor: about "
        "8 chunks per worker, each at most about 30 s of runs]. Changes no result.",
    )
    options: tuple[str, ...] | None = Field(
        default=None,
        description="Options compared (alb, apigw_rest, apigw_http) [default: the base scenario's].",
    )
    reference: str | None = Field(
        default=None,
        description="Savings and cost ratios are of this option against the others "
        "[default: the first option].",
    )
    cost_basis: Literal["total", "front_door"] = Field(
        default="total",
        description="Cost compared: total (front door + Lambda + transfer) or front_door only.",
    )
    outcomes: tuple[Outcome, ...] = Field(
        default=DEFAULT_OUTCOMES, min_length=1, description="Outcomes recorded for every run."
    )
    stop_at_ci_width: StopAtWidth | None = Field(
        default=None,
        description="Run in rounds that double the runs (up to study.runs) and stop once the "
        "intervals are narrower than these widths: { p_cheapest = 0.02, indices = 0.05 }, or one "
        "width for both.",
    )

    @field_validator("stop_at_ci_width", mode="before")
    @classmethod
    def _one_width(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"p_cheapest": value, "indices": value}
        return value

    @field_validator("options", "outcomes")
    @classmethod
    def _unique(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("lists an entry twice")
        return value


class DesignSection(_Model):
    """How the runs are chosen and analysed."""

    method: str = Field(
        default="latin_hypercube",
        description="monte_carlo, latin_hypercube, sobol (Sobol' indices) or morris (screening).",
    )
    second_order: bool = Field(
        default=False, description="sobol: also second-order indices (runs = N (2D + 2))."
    )
    levels: int = Field(default=4, ge=2, le=100, description="morris: grid levels (even).")
    bootstrap: int = Field(
        default=1000, ge=10, le=100_000, description="Bootstrap resamples for confidence intervals."
    )
    confidence: float = Field(
        default=0.95, gt=0, lt=1, description="Level of the confidence intervals."
    )

    @field_validator("method")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in DESIGNS:
            raise ValueError(f"unknown design {value!r}; expected one of {', '.join(DESIGNS)}")
        return value

    @field_validator("levels")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(f"must be even (got {value})")
        return value

    @property
    def settings(self) -> DesignSettings:
        """What the design registry needs."""
        return DesignSettings(self.method, self.second_order, self.levels)


class CorrelationSpec(_Model):
    """A rank (Spearman) correlation between two inputs, named by their labels."""

    inputs: tuple[str, str]
    rank: float = Field(gt=-1, lt=1, description="Target Spearman rank correlation.")


class StudyFile(_Model):
    """A whole study file (without ``[base]``, which is resolved separately)."""

    study: StudySection
    design: DesignSection = Field(default_factory=DesignSection)
    inputs: tuple[InputConfig, ...] = Field(min_length=1)
    correlations: tuple[CorrelationSpec, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> StudyFile:
        labels = [i.label for i in self.inputs]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"inputs: two inputs share the name {dupes[0]!r}")
        fields = [i.field for i in self.inputs]
        dupes = sorted({x for x in fields if fields.count(x) > 1})
        if dupes:
            raise ValueError(f"inputs: two inputs set the field {dupes[0]!r}")
        design = DESIGNS[self.design.method]
        problem = design.runs_problem(self.study.runs, len(self.inputs), self.design.settings)
        if problem is not None:
            raise ValueError(f"study.runs: {problem}")
        if self.study.stop_at_ci_width is not None:
            self._check_rounds()
        if self.correlations:
            if not design.supports_correlation:
                raise ValueError(
                    f"correlations: a {self.design.method} design needs independent inputs; "
                    "rank correlations apply to monte_carlo and latin_hypercube designs"
                )
            self._check_correlations(labels)
        return self

    def rounds(self) -> tuple[int, ...]:
        """Runs at the end of each round: ``(study.runs,)`` without ``stop_at_ci_width``."""
        stop = self.study.stop_at_ci_width
        if stop is None:
            return (self.study.runs,)
        first = stop.first_round_runs or default_first_round(
            self.study.runs, len(self.inputs), self.design.settings
        )
        return round_sizes(self.study.runs, first)

    def _check_rounds(self) -> None:
        stop = self.study.stop_at_ci_width
        assert stop is not None
        where = "study.stop_at_ci_width"
        runs = self.study.runs
        if stop.p_cheapest is not None and "cheapest" not in self.study.outcomes:
            raise ValueError(f"{where}: p_cheapest needs the outcome 'cheapest' recorded")
        first = stop.first_round_runs
        if first is not None and first >= runs:
            raise ValueError(
                f"{where}.first_round_runs: must be below study.runs ({runs}), got {first}"
            )
        rounds = self.rounds()
        design = DESIGNS[self.design.method]
        problem = design.rounds_problem(rounds, len(self.inputs), self.design.settings)
        if problem is not None:
            raise ValueError(f"{where}: {problem}")
        if len(rounds) < 2:
            raise ValueError(
                f"{where}: {runs} runs of a {self.design.method} design make one round only: "
                "give more runs (rounds double them) or set first_round_runs"
            )
        block = (
            Saltelli.block(len(self.inputs), self.design.settings)
            if self.design.method == "sobol"
            else 1
        )
        least = 4 * block if self.design.method == "sobol" else 10
        if rounds[0] < least:
            raise ValueError(
                f"{where}: the first round has {rounds[0]} runs; at least {least} are needed for "
                "its intervals"
            )
        size = self.study.chunk_size
        common = math.gcd(*rounds)
        if size is not None and common % size:
            raise ValueError(
                f"study.chunk_size: must divide every round's runs ({', '.join(map(str, rounds))}) "
                f"so that rounds end on whole chunks; got {size} (try a divisor of {common})"
            )

    def _check_correlations(self, labels: list[str]) -> None:
        seen: set[frozenset[str]] = set()
        for c in self.correlations:
            a, b = c.inputs
            for name in (a, b):
                if name not in labels:
                    raise ValueError(
                        f"correlations: {name!r} is not an input; expected one of "
                        f"{', '.join(labels)}"
                    )
            pair = frozenset((a, b))
            if a == b:
                raise ValueError(f"correlations: {a!r} is correlated with itself")
            if pair in seen:
                raise ValueError(f"correlations: the pair {a!r}, {b!r} is given twice")
            seen.add(pair)
            for i in self.inputs:
                if i.label in pair and i.categorical:
                    raise ValueError(
                        f"correlations: {i.label!r} is a choice; rank correlation needs ordered "
                        "values"
                    )
        m = self.correlation_matrix()
        if not (is_positive_definite(m) and is_positive_definite(spearman_to_pearson(m))):
            raise ValueError(
                "correlations: the rank correlations are inconsistent (their matrix is not "
                "positive definite)"
            )

    def correlation_matrix(self) -> np.ndarray:
        """The inputs' target rank correlation matrix (identity if none)."""
        return correlation_matrix(
            [i.label for i in self.inputs],
            [(c.inputs[0], c.inputs[1], c.rank) for c in self.correlations],
        )


def round_sizes(runs: int, first: int) -> tuple[int, ...]:
    """``first``, doubled while below ``runs``, then ``runs``: the runs at the end of each round."""
    sizes = []
    n = first
    while n < runs:
        sizes.append(n)
        n *= 2
    return (*sizes, runs)


def default_first_round(runs: int, k: int, settings: DesignSettings) -> int:
    """The first round's runs when the study file gives none: about an eighth of ``runs``, so at
    most four rounds, and a design of its own (a Sobol' design's ``N`` a power of two; a Latin
    hypercube's runs ``runs`` halved at most three times)."""
    if settings.method == "sobol":
        block = Saltelli.block(k, settings)
        return min(runs, max(4, runs // block // 8) * block)
    if settings.method == "latin_hypercube":
        first = runs
        for _ in range(3):
            if first % 2 or first // 2 < 10:
                break
            first //= 2
        return first
    return min(runs, max(10, -(-runs // 8)))


# --------------------------------------------------------------------------- derived quantities
def _mean_requests_per_s(data: Mapping[str, Any]) -> float:
    traffic = data["traffic"]
    if "requests_per_day" in traffic:
        return float(traffic["requests_per_day"]) / 86_400
    if "requests_per_s" in traffic:
        return float(traffic["requests_per_s"])
    raise KeyError("traffic has neither requests_per_day nor requests_per_s")


#: Quantities an input may be ``relative_to`` besides scenario fields: name -> f(scenario dict).
DERIVED: dict[str, Callable[[Mapping[str, Any]], float]] = {
    "traffic.mean_requests_per_s": _mean_requests_per_s,
}


# --------------------------------------------------------------------------- resolution
@dataclass(frozen=True)
class Target:
    """Where one input's values go in the scenario."""

    label: str
    path: tuple[str, ...]
    integer: bool
    relative_to: str | None


@dataclass(frozen=True)
class Study:
    """A validated study: its file, its resolved base scenario and where each input goes."""

    spec: StudyFile
    source: str
    base: Scenario
    base_data: dict[str, Any]
    targets: tuple[Target, ...]
    options: tuple[str, ...]
    reference: str

    @property
    def name(self) -> str:
        return self.spec.study.name

    @property
    def runs(self) -> int:
        return self.spec.study.runs

    @property
    def seed(self) -> int:
        return self.spec.study.seed

    @property
    def fidelity(self) -> str:
        return self.spec.study.fidelity

    @property
    def inputs(self) -> tuple[AnyInput, ...]:
        return self.spec.inputs

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(i.label for i in self.spec.inputs)

    @property
    def rounds(self) -> tuple[int, ...]:
        """Runs at the end of each round (``(runs,)`` without ``stop_at_ci_width``)."""
        return self.spec.rounds()

    @property
    def stop(self) -> StopAtWidth | None:
        """The widths the study stops at, if it runs in rounds."""
        return self.spec.study.stop_at_ci_width

    @property
    def chunk_size(self) -> int | None:
        """Runs per chunk the study file asks for, or ``None`` (then sized to the executor:
        :func:`sim.study.runner.default_chunk_size`)."""
        return self.spec.study.chunk_size

    def hashes(self) -> dict[str, str]:
        """SHA-256 of each part that shapes the results, and of them all (``study``).

        The chunk size and the file's location are left out: they change no result.
        """
        spec = self.spec.model_dump(mode="json")
        spec["study"].pop("chunk_size", None)
        parts = {
            "base_scenario": self.base.model_dump(mode="json"),
            "inputs": {"inputs": spec["inputs"], "correlations": spec["correlations"]},
            "design": {
                "design": spec["design"],
                "runs": spec["study"]["runs"],
                "seed": spec["study"]["seed"],
            },
            "runs": {
                "fidelity": spec["study"]["fidelity"],
                "options": list(self.options),
                "reference": self.reference,
                "cost_basis": spec["study"]["cost_basis"],
                "outcomes": spec["study"]["outcomes"],
                "name": spec["study"]["name"],
            },
        }
        if spec["study"].get("stop_at_ci_width") is not None:  # (absent: old studies' hashes)
            parts["design"]["stop_at_ci_width"] = spec["study"]["stop_at_ci_width"]
        out = {k: _sha256(v) for k, v in parts.items()}
        out["study"] = _sha256(out)
        return out

    def scenario_data(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The base scenario's dict with one run's input values applied (and the fidelity)."""
        return apply_values(self.base_data, self.targets, values, self.fidelity)


def _sha256(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def apply_values(
    base_data: Mapping[str, Any],
    targets: Sequence[Target],
    values: Mapping[str, Any],
    fidelity: str,
    *,
    sections: Collection[str] | None = None,
) -> dict[str, Any]:
    """A copy of ``base_data`` with each target set to its value: plain inputs first, then those
    ``relative_to`` another quantity (multiplied by it); integer fields are rounded.

    ``sections``: copy only these top-level tables (they must hold every target and ``engine``);
    the others are shared with ``base_data``, so the result must then be read, never changed.
    """
    if sections is None:
        data = _deep_copy(base_data)
    else:
        data = {
            k: _deep_copy(v) if k in sections and isinstance(v, Mapping) else v
            for k, v in base_data.items()
        }
    data.setdefault("engine", {})["fidelity"] = fidelity
    ordered = [t for t in targets if t.relative_to is None] + [
        t for t in targets if t.relative_to is not None
    ]
    for t in ordered:
        value = values[t.label]
        if isinstance(value, np.generic):
            value = value.item()
        if t.relative_to is not None:
            value = float(value) * _quantity(data, t.relative_to)
        if t.integer and isinstance(value, float):
            value = round(value)
        node = data
        for part in t.path[:-1]:
            node = node[part]
        node[t.path[-1]] = value
    return data


def _quantity(data: Mapping[str, Any], name: str) -> float:
    if name in DERIVED:
        return DERIVED[name](data)
    node: Any = data
    for part in name.split("."):
        node = node[part]
    return float(node)


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def load_study(path: str | Path, runs: int | None = None, chunk_size: int | None = None) -> Study:
    """Load and validate a study file (and its base scenario); ``runs``/``chunk_size`` override.

    Raises
    ------
    ConfigError
        Naming the file, each bad field and what was expected.
    """
    data = read_toml(path)
    return study_from_dict(data, str(path), runs=runs, chunk_size=chunk_size)


def study_from_dict(
    data: Mapping[str, Any],
    source: str = "<study>",
    *,
    runs: int | None = None,
    chunk_size: int | None = None,
) -> Study:
    """Validate a study given as a mapping; errors name ``source`` and each field."""
    raw = _deep_copy(data)
    base_raw = raw.pop("base", None)
    if runs is not None or chunk_size is not None:
        section = raw.setdefault("study", {})
        if isinstance(section, dict):
            if runs is not None:
                section["runs"] = runs
            if chunk_size is not None:
                section["chunk_size"] = chunk_size
    try:
        spec = StudyFile.model_validate(tuples(raw))
    except ValidationError as exc:
        raise ConfigError(source, _problems(exc, raw)) from None
    base = _resolve_base(base_raw, source)
    base_data = base.model_dump(mode="json")
    problems: list[tuple[str, str]] = []
    targets = tuple(_target(i, n, base, base_data, problems) for n, i in enumerate(spec.inputs))
    options, reference = _options(spec, base, problems)
    _check_outcomes(spec, problems)
    if problems:
        raise ConfigError(source, problems)
    return Study(spec, source, base, base_data, targets, options, reference)


def _resolve_base(base_raw: Any, source: str) -> Scenario:
    if base_raw is None:
        raise ConfigError(source, [("base", 'missing: give path = "scenario.toml" or the tables')])
    if isinstance(base_raw, str):
        base_raw = {"path": base_raw}
    if not isinstance(base_raw, dict):
        raise ConfigError(source, [("base", "expected a table or a path")])
    overrides = base_raw.pop("set", [])
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(source, [("base.set", 'expected a list of "section.key=value" strings')])
    path = base_raw.pop("path", None)
    if path is not None:
        if base_raw:
            raise ConfigError(
                source,
                [("base", f"give either path or inline tables, not both (got {sorted(base_raw)})")],
            )
        if not isinstance(path, str):
            raise ConfigError(source, [("base.path", "expected a path string")])
        scenario_path = Path(path)
        if not scenario_path.is_absolute() and not source.startswith("<"):
            scenario_path = Path(source).parent / scenario_path
        where = str(scenario_path)
        try:
            scenario_data = read_toml(scenario_path)
        except ConfigError as exc:
            raise ConfigError(
                source, [("base.path", f"{where}: {m}") for _, m in exc.problems]
            ) from None
    else:
        where, scenario_data = f"{source} [base]", base_raw
    try:
        return scenario_from_dict(apply_overrides(scenario_data, overrides), where)
    except ConfigError as exc:
        raise ConfigError(
            source,
            [
                (f"base.{f}" if f else "base", f"{m} (base scenario {where})")
                for f, m in exc.problems
            ],
        ) from None


def _leaves(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in data.items():
        if isinstance(v, Mapping):
            out += _leaves(v, f"{prefix}{k}.")
        else:
            out.append(f"{prefix}{k}")
    return out


def _lookup(data: Mapping[str, Any], path: Sequence[str]) -> tuple[bool, Any]:
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _target(
    spec: AnyInput,
    n: int,
    base: Scenario,
    base_data: Mapping[str, Any],
    problems: list[tuple[str, str]],
) -> Target:
    where = f"inputs[{spec.label}]"
    path = tuple(spec.field.split("."))
    leaves = _leaves(base_data)
    found, value = _lookup(base_data, path)
    integer = False
    if not found:
        close = difflib.get_close_matches(spec.field, leaves, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.append(
            (f"{where}.field", f"{spec.field!r} names no field of the base scenario{hint}")
        )
    elif isinstance(value, Mapping):
        inner = ", ".join(sorted(value))
        problems.append(
            (f"{where}.field", f"{spec.field!r} is a table, not a value; its fields: {inner}")
        )
    elif path[-1] == "model" or (path[0] == "scenario" and path[-1] in ("name", "seed")):
        problems.append((f"{where}.field", f"{spec.field!r} cannot be an uncertain input"))
    else:
        integer = _is_integer_field(base, path)
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if not spec.categorical and not numeric:
            problems.append(
                (
                    f"{where}.distribution",
                    f'{spec.field!r} holds {value!r}, not a number: use distribution = "choice"',
                )
            )
    if spec.relative_to is not None:
        ok = spec.relative_to in DERIVED
        if ok:
            try:
                DERIVED[spec.relative_to](base_data)
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(
                    (
                        f"{where}.relative_to",
                        f"{spec.relative_to!r} is not defined for this base scenario ({exc})",
                    )
                )
        else:
            found_rel, rel = _lookup(base_data, spec.relative_to.split("."))
            ok = found_rel and isinstance(rel, int | float) and not isinstance(rel, bool)
        if not ok:
            known = ", ".join(DERIVED)
            problems.append(
                (
                    f"{where}.relative_to",
                    f"{spec.relative_to!r} is neither a numeric field of the base scenario nor "
                    f"a derived quantity ({known})",
                )
            )
        elif spec.relative_to == spec.field:
            problems.append((f"{where}.relative_to", "an input cannot be relative to itself"))
        elif spec.categorical:
            problems.append((f"{where}.relative_to", "needs a numeric distribution, not a choice"))
    return Target(spec.label, path, integer, spec.relative_to)


def _is_integer_field(base: Scenario, path: Sequence[str]) -> bool:
    node: Any = base
    for part in path[:-1]:
        node = getattr(node, part, None)
        if not isinstance(node, BaseModel):
            return False
    field = type(node).model_fields.get(path[-1])
    return field is not None and field.annotation is int


def _options(
    spec: StudyFile, base: Scenario, problems: list[tuple[str, str]]
) -> tuple[tuple[str, ...], str]:
    available = base.options
    options = spec.study.options if spec.study.options is not None else available
    unknown = [o for o in options if o not in available]
    if unknown:
        problems.append(
            (
                "study.options",
                f"{', '.join(map(repr, unknown))} not priced by the base scenario; it prices "
                f"{', '.join(available)}",
            )
        )
        options = tuple(o for o in options if o in available)
    if len(options) < 2:
        problems.append(("study.options", "a study compares at least two options"))
    reference = spec.study.reference if spec.study.reference is not None else (options or ("",))[0]
    if options and reference not in options:
        problems.append(
            ("study.reference", f"{reference!r} is not one of the options ({', '.join(options)})")
        )
    return tuple(options), reference


def _check_outcomes(spec: StudyFile, problems: list[tuple[str, str]]) -> None:
    from sim.study.outcomes import outcome_available

    for name in spec.study.outcomes:
        why = outcome_available(name)
        if why is not None:
            problems.append(("study.outcomes", f"{name!r}: {why}"))


# --------------------------------------------------------------------------- error messages
def _problems(exc: ValidationError, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """pydantic's errors as ``(field, message)``: inputs named by their label, tags dropped."""
    out = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        if err["type"] == "too_short" and loc == ["inputs"] and raw.get("inputs"):
            continue  # pydantic's echo of an invalid item: the item's own error says it
        parts: list[str] = []
        model: Any = StudyFile
        i = 0
        while i < len(loc):
            part = loc[i]
            if (
                part in ("inputs", "correlations")
                and i + 1 < len(loc)
                and isinstance(loc[i + 1], int)
            ):
                label = _item_label(raw, str(part), int(loc[i + 1]))
                parts.append(f"{part}[{label}]")
                model = _input_model(raw, int(loc[i + 1])) if part == "inputs" else CorrelationSpec
                i += 2
                if part == "inputs" and i < len(loc) and loc[i] in DISTRIBUTIONS:
                    i += 1  # the union tag, not a field of the file
                continue
            parts.append(str(part))
            fields = getattr(model, "model_fields", {})
            nxt = fields.get(str(part))
            model = _model_of(nxt.annotation) if nxt is not None else None
            i += 1
        field = ".".join(parts)
        kind = err["type"]
        ctx = err.get("ctx", {})
        if kind == "missing":
            message = "missing required field"
        elif kind == "extra_forbidden":
            parent = _parent_model(raw, loc)
            names = list(getattr(parent, "model_fields", {}))
            close = difflib.get_close_matches(str(loc[-1]), names, n=1)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else (f"; expected one of {', '.join(sorted(names))}" if names else "")
            )
            message = "unknown field" + hint
        elif kind == "union_tag_invalid":
            message = f"unknown distribution {ctx.get('tag')!r}; expected one of {', '.join(DISTRIBUTIONS)}"
        elif kind == "union_tag_not_found":
            message = f"missing required field 'distribution' (one of {', '.join(DISTRIBUTIONS)})"
        else:
            message = error_message(
                kind, str(err["msg"]), err.get("input"), show_value=kind != "value_error"
            )
        head, sep, rest = message.partition(": ")
        if field == "" and sep and head.split(".")[0] in ("study", "inputs", "correlations"):
            field, message = head, rest  # a check across sections names its field first
        out.append((field, message))
    return out


def _item_label(raw: Mapping[str, Any], section: str, index: int) -> str:
    items = raw.get(section)
    if isinstance(items, list) and index < len(items) and isinstance(items[index], dict):
        item = items[index]
        if section == "inputs":
            label = item.get("name") or item.get("field")
            if isinstance(label, str):
                return label
        elif isinstance(item.get("inputs"), list):
            return "-".join(str(x) for x in item["inputs"])
    return f"#{index + 1}"


def _input_model(raw: Mapping[str, Any], index: int) -> Any:
    items = raw.get("inputs")
    if isinstance(items, list) and index < len(items) and isinstance(items[index], dict):
        return DISTRIBUTIONS.get(str(items[index].get("distribution")))
    return None


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _parent_model(raw: Mapping[str, Any], loc: Sequence[Any]) -> Any:
    model: Any = StudyFile
    i = 0
    while i < len(loc) - 1:
        part = loc[i]
        if part in ("inputs", "correlations") and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            model = _input_model(raw, loc[i + 1]) if part == "inputs" else CorrelationSpec
            i += 2
            if part == "inputs" and i < len(loc) - 1 and loc[i] in DISTRIBUTIONS:
                i += 1
            continue
        nxt = getattr(model, "model_fields", {}).get(str(part))
        model = _model_of(nxt.annotation) if nxt is not None else None
        i += 1
    return model
