"""Break-even sweeps: one scenario run across a range of one input, and where the options' costs cross.

``sim sweep CONFIG --vary PATH=START:STOP[:STEPS][:log]`` runs the scenario once per value of one
numeric field (every point on the same seed: common random numbers), prices every option, and writes
``results/<scenario name>-sweep/`` (or ``--out DIR``), atomically:

* ``sweep.parquet``: one row per value and option (columns in :data:`SWEEP_COLUMNS`);
* ``breakeven.json``: for each pair of options and each basis (front door, total), every value where
  their cost difference changes sign, by linear interpolation of the difference between grid points
  (in ``log(value)`` on a log sweep), with the option cheaper below and above it; and the cheapest
  option along the range;
* ``sweep.png``: cost per 30 days against the value for each option, crossings marked;
* ``report.html``: the break-even points, the cheapest option along the range and the curves, on
  one self-contained page (:mod:`sim.report`).

Everything is validated before anything runs or is written: the range itself, the field it names,
and the scenario at every value of the grid (a bad value is a :class:`~sim.errors.ConfigError`
naming the field and the value).

Keeping the shape: varying ``traffic.requests_per_day`` (or ``traffic.requests_per_s``) of a traffic
model that also sets ``traffic.peak_requests_per_s`` scales the peak in proportion (``keep_shape``,
the default), so the peak-to-mean factor of the daily cycle stays that of the base scenario; without
it a peak fixed for one volume is below the mean at higher volumes (invalid) and a spike at lower ones.
"""

from __future__ import annotations

import difflib
import math
import time
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations, pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel

from sim.config import (
    SPELLINGS,
    Scenario,
    apply_overrides,
    price_book_for,
    read_toml,
    scenario_from_dict,
)
from sim.errors import ConfigError
from sim.resources import LONG_WORK_S

if TYPE_CHECKING:  # matplotlib is imported when the figure is drawn
    from matplotlib.figure import Figure

__all__ = [
    "BASES",
    "DEFAULT_STEPS",
    "SWEEP_COLUMNS",
    "SignChange",
    "SweepPlan",
    "SweepRange",
    "SweepResult",
    "breakeven",
    "find_sign_changes",
    "parse_vary",
    "plan_sweep",
    "run_sweep",
    "sweep_command",
    "write_sweep",
]

#: Grid points when ``--vary`` gives no STEPS.
DEFAULT_STEPS = 9
#: Bases of the break-even: the front door alone, and everything (front door + backend + transfer).
BASES = ("front_door", "total")
#: Columns of ``sweep.parquet``: one row per value and option.
SWEEP_COLUMNS = (
    "value",
    "option",
    "front_door_usd",
    "backend_usd",
    "transfer_usd",
    "total_usd",
    "front_door_per_30_days_usd",
    "total_per_30_days_usd",
    "requests",
)
#: Fields that carry the volume of a traffic model; with ``keep_shape`` the peak follows them.
VOLUME_PATHS = ("traffic.requests_per_day", "traffic.requests_per_s")
PEAK_PATH = "traffic.peak_requests_per_s"
VARY_SOURCE = "<--vary>"
#: At most this many failing grid values are listed in an error (then a count).
MAX_LISTED_PROBLEMS = 8


# =========================================================================== the range
@dataclass(frozen=True)
class SweepRange:
    """``PATH=START:STOP[:STEPS][:log]``: a field and the grid of values it takes."""

    path: str
    start: float
    stop: float
    steps: int = DEFAULT_STEPS
    log: bool = False

    def grid(self) -> NDArray[np.float64]:
        """The values, ascending: evenly spaced, or evenly spaced in ``log(value)``."""
        lo, hi = sorted((self.start, self.stop))
        spacing = np.geomspace if self.log else np.linspace
        values = np.asarray(spacing(lo, hi, self.steps), dtype=float)
        values[0], values[-1] = lo, hi  # exact ends, whatever the rounding inside
        return values

    @property
    def scale(self) -> str:
        return "log" if self.log else "linear"


def parse_vary(text: str) -> SweepRange:
    """Parse ``PATH=START:STOP[:STEPS][:log]`` (STEPS defaults to :data:`DEFAULT_STEPS`).

    Raises
    ------
    ConfigError
        From ``<--vary>``, naming PATH: malformed text, START = STOP (an empty range), STEPS < 2, or
        a log scale with START or STOP ≤ 0.
    """
    expected = (
        "expected PATH=START:STOP[:STEPS][:log], e.g. traffic.requests_per_day=1e5:1e7:17:log"
    )
    path, sep, spec = (s.strip() for s in text.partition("="))
    parts = path.split(".")
    if not sep or not path or not all(p.strip() for p in parts):
        raise ConfigError(VARY_SOURCE, [(text, expected)])
    path = ".".join(p.strip() for p in parts)

    def fail(message: str) -> ConfigError:
        return ConfigError(VARY_SOURCE, [(path, message)])

    fields = [f.strip() for f in spec.split(":")]
    log = False
    if len(fields) > 2 and fields[-1].lower() in ("log", "lin", "linear"):
        log = fields.pop().lower() == "log"
    if len(fields) not in (2, 3):
        raise fail(f"{expected} (got {spec!r})")
    start, stop = (
        _number(f, name, fail) for f, name in zip(fields[:2], ("START", "STOP"), strict=True)
    )
    steps = DEFAULT_STEPS
    if len(fields) == 3:
        digits = fields[2].replace("_", "")
        if not (digits.isascii() and digits.isdigit()):
            raise fail(f"STEPS must be a whole number (got {fields[2]!r})")
        steps = int(digits)
        if steps < 2:
            raise fail(f"STEPS must be at least 2 (got {steps})")
    if start == stop:
        raise fail(f"empty range: START and STOP are both {_fmt(start)}")
    if log and (start <= 0 or stop <= 0):
        raise fail(
            f"a log scale needs START and STOP > 0 (got {_fmt(start)} to {_fmt(stop)}: the range "
            "reaches or crosses zero); drop ':log' for a linear range"
        )
    return SweepRange(path, start, stop, steps, log)


def _number(text: str, name: str, fail: Callable[[str], ConfigError]) -> float:
    try:
        value = float(text)
    except ValueError:
        raise fail(f"{name} must be a number (got {text!r})") from None
    if not math.isfinite(value):
        raise fail(f"{name} must be finite (got {text!r})")
    return value


# =========================================================================== the plan
@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: the base scenario and the scenario at every value of the grid."""

    range: SweepRange
    base: Scenario
    values: tuple[float, ...]
    scenarios: tuple[Scenario, ...]
    keep_shape: bool
    #: Other fields moved with the swept one (``traffic.peak_requests_per_s`` with ``keep_shape``).
    coupled: dict[str, tuple[float, ...]] = field(default_factory=dict)
    source: str = "<scenario>"

    def describe(self) -> dict[str, Any]:
        """The sweep as JSON-able data (for provenance and ``breakeven.json``)."""
        r = self.range
        return {
            "path": r.path,
            "start": r.start,
            "stop": r.stop,
            "steps": r.steps,
            "scale": r.scale,
            "values": list(self.values),
            "keep_shape": self.keep_shape,
            "coupled": {k: list(v) for k, v in self.coupled.items()},
        }


def plan_sweep(
    config: str | Path,
    vary: SweepRange | str,
    overrides: Iterable[str] = (),
    *,
    seed: int | None = None,
    fidelity: str | None = None,
    keep_shape: bool = True,
    progress: Callable[[int], None] | None = None,
) -> SweepPlan:
    """Load ``config`` (with ``--set`` overrides, seed and fidelity) and validate every grid point
    (``progress(points validated)`` is called every 1,000 points).

    Raises
    ------
    ConfigError
        The file or an override is bad, PATH names no numeric field of the scenario, or the scenario
        is invalid at some value of the grid (each such value is named).
    """
    spec = parse_vary(vary) if isinstance(vary, str) else vary
    source = str(config)
    data = _base_data(config, overrides, seed, fidelity)
    base = scenario_from_dict(data, source)
    parts = spec.path.split(".")
    kind, base_value = _numeric_field(base, parts)
    values = spec.grid()
    if kind is int:
        if not (float(spec.start).is_integer() and float(spec.stop).is_integer()):
            raise ConfigError(
                VARY_SOURCE,
                [(spec.path, "is a whole-number field: START and STOP must be whole numbers")],
            )
        values = np.unique(np.round(values))
        if len(values) < 2:
            raise ConfigError(VARY_SOURCE, [(spec.path, "the range holds fewer than 2 values")])

    coupled: dict[str, list[float]] = {}
    peak = _lookup(data, PEAK_PATH.split("."))
    couple = (
        keep_shape
        and spec.path in VOLUME_PATHS
        and isinstance(base_value, int | float)
        and base_value > 0
        and isinstance(peak, int | float)
        and not isinstance(peak, bool)
    )
    scenarios: list[Scenario] = []
    problems: list[tuple[str, str]] = []
    failing = listed = 0
    for n_done, v in enumerate(values):
        if progress is not None and n_done and n_done % 1000 == 0:
            progress(n_done)
        value: float | int = int(v) if kind is int else float(v)
        point = _set_path(data, parts, value, source)
        if couple:
            assert isinstance(peak, int | float) and isinstance(base_value, int | float)
            scaled = float(peak) * float(value) / float(base_value)
            coupled.setdefault(PEAK_PATH, []).append(scaled)
            point = _set_path(point, PEAK_PATH.split("."), scaled, source)
        try:
            scenarios.append(scenario_from_dict(point, source))
        except ConfigError as exc:
            failing += 1
            if listed < MAX_LISTED_PROBLEMS:
                listed += 1
                problems += [
                    (f, m if f == spec.path else f"at {spec.path} = {_fmt(value)}: {m}")
                    for f, m in exc.problems
                ]
    if problems:
        if not couple and spec.path in VOLUME_PATHS and any(f == PEAK_PATH for f, _ in problems):
            problems.append(("", f"--keep-shape scales {PEAK_PATH} in proportion to the volume"))
        if failing > listed:
            problems.append(("", f"... invalid at {failing} of {len(values)} values in all"))
        raise ConfigError(source, problems)
    return SweepPlan(
        range=spec,
        base=base,
        values=tuple(float(v) for v in values),
        scenarios=tuple(scenarios),
        keep_shape=bool(couple),
        coupled={k: tuple(v) for k, v in coupled.items()},
        source=source,
    )


def _base_data(
    config: str | Path, overrides: Iterable[str], seed: int | None, fidelity: str | None
) -> dict[str, Any]:
    source = str(config)
    data = apply_overrides(read_toml(config), overrides)
    if seed is not None:
        data = _set_path(data, ["scenario", "seed"], seed, source)
    if fidelity is not None:
        data = _set_path(data, ["engine", "fidelity"], fidelity, source)
    return data


def load_base(
    config: str | Path,
    overrides: Iterable[str] = (),
    *,
    seed: int | None = None,
    fidelity: str | None = None,
) -> Scenario:
    """The sweep's base scenario (the file with overrides, seed and fidelity), validated."""
    return scenario_from_dict(_base_data(config, overrides, seed, fidelity), str(config))


def _set_path(
    data: dict[str, Any], parts: Sequence[str], value: Any, source: str
) -> dict[str, Any]:
    """A copy of ``data`` with ``value`` at the dotted path (tables created as needed)."""
    out = apply_overrides(data, ())  # a deep copy
    node = out
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(source, [(".".join(parts[: depth + 1]), "is a value, not a table")])
        node = child
    node[parts[-1]] = value
    other = SPELLINGS.get(tuple(parts))
    if other is not None:
        node.pop(other, None)  # the base's other spelling of the same setting gives way
    return out


def _lookup(data: dict[str, Any], parts: Sequence[str]) -> Any:
    node: Any = data
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _numeric_field(scenario: Scenario, parts: Sequence[str]) -> tuple[type, float | int | None]:
    """``(int or float, current value)`` of the numeric field at ``parts``; else a ConfigError."""
    path = ".".join(parts)
    node: Any = scenario
    for depth, part in enumerate(parts):
        fields = type(node).model_fields if isinstance(node, BaseModel) else {}
        if part not in fields:
            where = ".".join(parts[:depth]) or "the scenario"
            model = getattr(node, "model", None)
            if isinstance(node, BaseModel) and isinstance(model, str):
                where += f" (model {model!r})"
            message = f"names no field of {where}"
            if fields:
                close = difflib.get_close_matches(part, list(fields), n=1)
                hint = f"did you mean {close[0]!r}" if close else "expected one of"
                message += f"; {hint}" + ("" if close else " " + ", ".join(sorted(fields)))
            raise ConfigError(VARY_SOURCE, [(path, message)])
        annotation = fields[part].annotation
        node = getattr(node, part)
    if isinstance(node, BaseModel):
        raise ConfigError(VARY_SOURCE, [(path, "is a table, not a numeric field")])
    kinds = _annotation_types(annotation)
    if float in kinds:
        return float, node
    if int in kinds:
        return int, node
    raise ConfigError(VARY_SOURCE, [(path, f"is not a numeric field (its value is {node!r})")])


def _annotation_types(annotation: Any) -> set[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return set().union(*(_annotation_types(a) for a in typing.get_args(annotation)))
    if origin is typing.Annotated:
        return _annotation_types(typing.get_args(annotation)[0])
    return {annotation}


# =========================================================================== break-even
@dataclass(frozen=True)
class SignChange:
    """Where a difference ``d = cost_a − cost_b`` changes sign between grid points.

    ``value`` is the interpolated zero; ``lower`` and ``upper`` the grid values that bracket it;
    ``sign_below`` is the sign of ``d`` just below it (−1: ``a`` cheaper below, +1: ``b`` cheaper).
    """

    value: float
    lower: float
    upper: float
    sign_below: int
    #: Position of the zero as a fraction of the way from ``lower`` to ``upper`` (in the
    #: interpolation variable: the value, or its logarithm).
    fraction: float


def find_sign_changes(values: ArrayLike, diff: ArrayLike, *, log: bool = False) -> list[SignChange]:
    """Every zero crossing of ``diff`` sampled at increasing ``values``.

    Between consecutive grid points of opposite sign the zero is found by linear interpolation of
    ``diff`` in ``value`` (in ``log(value)`` when ``log``). A grid point where ``diff`` is exactly 0 is
    a crossing only if the signs on either side differ (a touch is not a crossing); a run of exact
    zeros between opposite signs gives one crossing in its middle.

    Parameters
    ----------
    values
        Grid values, strictly increasing (> 0 when ``log``).
    diff
        The difference at each value (e.g. USD per 30 days).
    log
        Interpolate in ``log(value)``.
    """
    x = np.asarray(values, dtype=float)
    d = np.asarray(diff, dtype=float)
    if x.ndim != 1 or x.shape != d.shape:
        raise ValueError("values and diff must be 1-D and of the same length")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(d))):
        raise ValueError("values and diff must be finite")
    if np.any(np.diff(x) <= 0):
        raise ValueError("values must be strictly increasing")
    if log and np.any(x <= 0):
        raise ValueError("a log interpolation needs values > 0")
    u = np.log(x) if log else x

    def back(w: float) -> float:
        return float(np.exp(w)) if log else float(w)

    out: list[SignChange] = []
    nonzero = np.flatnonzero(d != 0)
    for j, k in pairwise(nonzero):
        if np.sign(d[j]) == np.sign(d[k]):
            continue
        if k == j + 1:
            t = d[j] / (d[j] - d[k])
            w = u[j] + t * (u[k] - u[j])
            value = x[k] if t == 1 else back(w)
        else:  # exact zeros at j+1 .. k-1: the middle of the tie
            w = (u[j + 1] + u[k - 1]) / 2
            t = (w - u[j]) / (u[k] - u[j])
            value = back(w)
        value = min(max(value, float(x[j])), float(x[k]))
        out.append(SignChange(value, float(x[j]), float(x[k]), int(np.sign(d[j])), float(t)))
    return out


def _at(values: NDArray[np.float64], y: NDArray[np.float64], change: SignChange) -> float:
    """``y`` interpolated at a sign change (in the same variable as the change was found)."""
    i = int(np.searchsorted(values, change.lower))
    k = int(np.searchsorted(values, change.upper))
    return float(y[i] + change.fraction * (y[k] - y[i]))


def breakeven(
    values: ArrayLike,
    costs: Mapping[str, Mapping[str, ArrayLike]],
    *,
    log: bool = False,
) -> dict[str, Any]:
    """Crossings of every pair of options on every basis, and the cheapest option along the range.

    Parameters
    ----------
    values
        Grid values, strictly increasing.
    costs
        ``costs[basis][option]``: USD per 30 days at each value, for each basis in :data:`BASES`
        (or any other names).
    log
        Interpolate in ``log(value)``.

    Returns
    -------
    dict
        ``pairs``: one entry per pair of options and basis with its ``crossings`` (``value``, the
        bracketing grid values, ``cost_per_30_days_usd`` there, ``cheaper_below``,
        ``cheaper_above``) and, when they never cross, ``cheaper_throughout``; ``cheapest``: per
        basis, the segments of the range where each option is the cheapest.
    """
    x = np.asarray(values, dtype=float)
    pairs: list[dict[str, Any]] = []
    cheapest: dict[str, list[dict[str, Any]]] = {}
    for basis, per_option in costs.items():
        curves = {o: np.asarray(c, dtype=float) for o, c in per_option.items()}
        for a, b in combinations(curves, 2):
            d = curves[a] - curves[b]
            crossings = [
                {
                    "value": c.value,
                    "between": [c.lower, c.upper],
                    "cost_per_30_days_usd": _at(x, curves[a], c),
                    "cheaper_below": a if c.sign_below < 0 else b,
                    "cheaper_above": b if c.sign_below < 0 else a,
                }
                for c in find_sign_changes(x, d, log=log)
            ]
            entry: dict[str, Any] = {"options": [a, b], "basis": basis, "crossings": crossings}
            if not crossings:
                entry["cheaper_throughout"] = (
                    a if np.all(d <= 0) and np.any(d < 0) else b if np.any(d > 0) else None
                )
            pairs.append(entry)
        cheapest[basis] = _envelope(x, curves, log)
    return {"pairs": pairs, "cheapest": cheapest}


def _envelope(
    x: NDArray[np.float64], curves: dict[str, NDArray[np.float64]], log: bool
) -> list[dict[str, Any]]:
    """Segments ``{option, from, to}`` of the range where each option is the cheapest."""
    if not curves:
        return []
    names = list(curves)
    stacked = np.vstack([curves[n] for n in names])
    winner = [names[i] for i in np.argmin(stacked, axis=0)]
    segments = [{"option": winner[0], "from": float(x[0]), "to": float(x[-1])}]
    for j in range(len(x) - 1):
        a, b = winner[j], winner[j + 1]
        if a == b:
            continue
        changes = find_sign_changes(
            x[j : j + 2], curves[a][j : j + 2] - curves[b][j : j + 2], log=log
        )
        switch = changes[0].value if changes else float(x[j + 1])
        segments[-1]["to"] = switch
        segments.append({"option": b, "from": switch, "to": float(x[-1])})
    return segments


# =========================================================================== running
@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: the table, the break-even document and the provenance."""

    plan: SweepPlan
    table: pa.Table
    breakeven: dict[str, Any]
    provenance: dict[str, Any]


PointProgress = Callable[[float, int], None]


def run_sweep(plan: SweepPlan, *, progress: PointProgress | None = None) -> SweepResult:
    """Run every point of ``plan`` in memory (same seed at every point) and find the crossings.

    ``progress(points_done, index)`` is called during and after each point (``points_done`` is
    fractional while point ``index`` runs).
    """
    from sim.api import provenance

    columns: dict[str, list[Any]] = {c: [] for c in SWEEP_COLUMNS}
    for i, (value, scenario) in enumerate(zip(plan.values, plan.scenarios, strict=True)):
        callback = None
        if progress is not None:
            report = progress

            def callback(fraction: float, i: int = i, report: PointProgress = report) -> None:
                report(i + min(max(fraction, 0.0), 1.0), i)

        for option, t in sweep_point(scenario, plan.source, callback).items():
            row = {"value": value, "option": option, **t}
            for c in SWEEP_COLUMNS:
                columns[c].append(row[c])
        if progress is not None:
            progress(i + 1, i)
    table = pa.table(
        {c: pa.array(v, type=_COLUMN_TYPES.get(c, pa.float64())) for c, v in columns.items()}
    )
    options = list(dict.fromkeys(columns["option"]))
    x = np.asarray(plan.values)
    costs = {
        basis: {o: _curve(table, o, f"{basis}_per_30_days_usd") for o in options} for basis in BASES
    }
    found = breakeven(x, costs, log=plan.range.log)
    prov = provenance(plan.base, plan.base.scenario.seed, price_book_for(plan.base, plan.source))
    prov["sweep"] = plan.describe()
    document = {
        "scenario": plan.base.scenario.name,
        **plan.describe(),
        "interpolation": (
            "linear in log(value) between grid points"
            if plan.range.log
            else "linear in value between grid points"
        ),
        "costs": "USD per 30 days (front door: the front door alone; total: with backend and "
        "transfer)",
        **found,
        "provenance": prov,
    }
    return SweepResult(plan, table, document, prov)


_COLUMN_TYPES = {"option": pa.string(), "requests": pa.int64()}


def sweep_point(
    scenario: Scenario, source: str = "<scenario>", progress: Callable[[float], None] | None = None
) -> dict[str, dict[str, Any]]:
    """One point of a sweep: simulate ``scenario`` (on its own seed) and price it; per option,
    the :data:`SWEEP_COLUMNS` but ``value`` and ``option``.

    The numbers of :func:`sim.api.run`'s summary (its period totals and 30-day projection, tested
    against it), without what a sweep does not keep: no hourly cost table (the period's totals
    come from each calendar month's quantities, :func:`sim.pricing.costs.period_totals`), no
    summary, no metering check (the meters are this scenario's, simulated a line above).
    """
    from sim.billing import charges_for, period_of
    from sim.engine import simulate
    from sim.pricing.book import region_prices
    from sim.pricing.costs import period_totals, projected_costs

    facts = simulate(scenario, seed=scenario.scenario.seed, progress=progress)
    prices = region_prices(price_book_for(scenario, source), scenario)
    derived, _, charges = charges_for(facts, scenario, prices)
    usage = dict(scenario.account.other_monthly_usage)
    totals = period_totals(charges, derived.column("hour"), usage)
    projected = projected_costs(charges, period_of(scenario, derived), usage)
    requests = int(np.sum(derived.column("requests").to_numpy()))
    out = {}
    for option, t in totals.items():
        per30 = projected[option]
        out[option] = {
            "front_door_usd": t["front_door_usd"],
            "backend_usd": t["backend_usd"],
            "transfer_usd": t["transfer_usd"],
            "total_usd": t["total_usd"],
            "front_door_per_30_days_usd": per30["front_door_usd"],
            "total_per_30_days_usd": per30["total_usd"],
            "requests": requests,
        }
    return out


def _curve(table: pa.Table, option: str, column: str) -> NDArray[np.float64]:
    options = table.column("option").to_numpy(zero_copy_only=False)
    return np.asarray(table.column(column).to_numpy()[options == option], dtype=float)


#: The files ``sim sweep`` writes into its result directory.
SWEEP_FILES = ("sweep.parquet", "breakeven.json", "sweep.png", "report.html")


def sweep_file_names(plots: bool) -> list[str]:
    """The files a sweep writes (the figure only with ``plots``; the report always, without
    figures when there are no plots)."""
    return list(SWEEP_FILES if plots else (*SWEEP_FILES[:2], SWEEP_FILES[3]))


def _validating_progress(err_console: Any, steps: int, quiet: bool) -> Callable[[int], None]:
    """Report validation of a long grid (a line every 10,000 points after the first 1,000)."""
    t0 = time.perf_counter()

    def report(done: int) -> None:
        if quiet or (done != 1000 and done % 10_000):
            return
        rate = done / max(1e-9, time.perf_counter() - t0)
        left = (steps - done) / rate
        err_console.print(
            f"validated {done:,} of {steps:,} grid points, about {left:,.0f} s to go",
            highlight=False,
        )

    return report


def write_sweep(result: SweepResult, out_dir: str | Path, *, plots: bool = True) -> Path:
    """Write ``sweep.parquet``, ``breakeven.json``, ``sweep.png`` and ``report.html`` into the
    result directory ``out_dir`` (see :mod:`sim.output`: only files this package wrote there are replaced)."""
    from sim.output import json_writer, parquet_writer, result_directory

    out = Path(out_dir)
    with result_directory(out, "sweep", sweep_file_names(plots)) as stage:
        parquet_writer(result.table, result.provenance)(stage / "sweep.parquet")
        json_writer(result.breakeven)(stage / "breakeven.json")
        drawn = []
        if plots:  # drawn once: sweep.png, then the report's SVG
            from sim.output import figure_writer
            from sim.report.svg import figure_svg

            fig = sweep_figure(result.table, result.breakeven)
            figure_writer(fig, result.provenance)(stage / "sweep.png")
            from sim.report.sweep import figure_title

            title = figure_title(result.breakeven)
            drawn.append({"name": "sweep", "title": title, "svg": figure_svg(fig, title)})
        from sim.output import text_writer
        from sim.report import REPORT_FILE, render_report

        page = render_report(stage, figures=plots, name=str(out), drawn=drawn).html
        text_writer(page)(stage / REPORT_FILE)
    return out


# =========================================================================== the figure
def plot_sweep(result: SweepResult, path: str | Path) -> Path:
    """Write ``sweep.png``: cost per 30 days against the swept value for each option."""
    out = Path(path)
    from sim.output import figure_writer

    figure_writer(sweep_figure(result.table, result.breakeven), result.provenance)(out)
    return out


def sweep_figure(table: pa.Table, doc: dict[str, Any]) -> Figure:
    """Cost per 30 days against the swept value for each option (front door | total), crossings
    marked, from ``sweep.parquet`` and ``breakeven.json`` alone (the report draws it again)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    x = np.asarray(doc["values"], dtype=float)
    log = doc.get("scale") == "log"
    options = list(dict.fromkeys(table.column("option").to_pylist()))
    fig, axes = plt.subplots(1, len(BASES), figsize=(12, 5.2), sharex=True)
    colors = {o: f"C{i}" for i, o in enumerate(options)}
    money = FuncFormatter(lambda v, _pos: f"${v:,.0f}" if abs(v) >= 10 else f"${v:,.2f}")
    for ax, basis in zip(axes, BASES, strict=True):
        column = f"{basis}_per_30_days_usd"
        curves = {o: _curve(table, o, column) for o in options}
        for option, y in curves.items():
            ax.plot(
                x, y, marker="o", markersize=3, linewidth=1.4, label=option, color=colors[option]
            )
        for pair in doc["pairs"]:
            if pair["basis"] != basis:
                continue
            for c in pair["crossings"]:
                if not _switches(doc, basis, c["value"]):
                    # a crossing where the cheapest option does not change: marked, not labelled
                    ax.plot(c["value"], c["cost_per_30_days_usd"], "x", color="0.5", ms=5)
                    continue
                ax.plot(c["value"], c["cost_per_30_days_usd"], "kx", markersize=8, mew=1.6)
                ax.annotate(
                    f"{_short(c['value'])}\n{pair['options'][0]} = {pair['options'][1]}",
                    (c["value"], c["cost_per_30_days_usd"]),
                    textcoords="offset points",
                    xytext=(6, -22),
                    fontsize=7,
                )
        for segment in doc["cheapest"].get(basis, [])[1:]:
            ax.axvline(segment["from"], color="grey", linestyle=":", linewidth=1)
        positive = all(np.all(y > 0) for y in curves.values())
        if log:
            ax.set_xscale("log")
            if positive:
                ax.set_yscale("log")
        ax.yaxis.set_major_formatter(money)
        if not log:
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _short(v)))
        ax.set_title(f"{'front door' if basis == 'front_door' else 'total'}, USD per 30 days")
        ax.set_xlabel(doc["path"] + (" (log scale)" if log else ""))
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("USD per 30 days")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="lower center", ncol=min(len(options), 4), fontsize=8,
        frameon=False,
    )  # fmt: skip
    note = ""
    if doc.get("coupled"):
        note = f" ({', '.join(doc['coupled'])} scaled in proportion)"
    fig.suptitle(f"{doc['scenario']}: cost against {doc['path']}{note}", fontsize=11)
    rows = -(-len(options) // 4)
    fig.tight_layout(rect=(0.0, 0.04 + 0.035 * rows, 1.0, 1.0))
    return fig


def _switches(doc: dict[str, Any], basis: str, value: float) -> bool:
    """Whether the cheapest option changes at ``value`` (a boundary of the cheapest segments)."""
    bounds = [seg["from"] for seg in doc["cheapest"].get(basis, [])[1:]]
    return any(math.isclose(value, b, rel_tol=1e-9) for b in bounds)


def _short(value: float) -> str:
    """Compact label: 813k, 1.2M."""
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def _fmt(value: float, significant: int = 6) -> str:
    """``value`` to ``significant`` digits, with thousands separators and no exponent."""
    if value == 0 or not 1e-4 <= abs(value) < 1e15:
        return f"{value:.{significant}g}"
    digits = math.floor(math.log10(abs(value))) + 1
    decimals = significant - digits
    text = f"{round(value, decimals):,.{max(decimals, 0)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# =========================================================================== command line
def sweep_command(
    config: Path,
    vary: str,
    *,
    out_dir: Path | None = None,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    fidelity: str | None = None,
    keep_shape: bool = True,
    plots: bool = True,
    quiet: bool = False,
    dry_run: bool = False,
    resource_check: bool = True,
    console: Any = None,
    err_console: Any = None,
    out_format: str = "table",
) -> SweepResult | None:
    """``sim sweep``: check the target and the resources, plan (validating every point), run with a
    progress bar, write, print. With ``dry_run``, say what would be written and stop."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = console if console is not None else Console()
    err_console = err_console if err_console is not None else Console(stderr=True)
    from sim.output import plan_directory
    from sim.resources import check, describe_lines, estimate_sweep

    spec = parse_vary(vary)
    base = load_base(config, overrides, seed=seed, fidelity=fidelity)
    out = out_dir if out_dir is not None else Path("results") / f"{base.scenario.name}-sweep"
    target = plan_directory(out, "sweep", sweep_file_names(plots))
    # the grid's ends, validated, stand for the grid in the estimate
    ends = SweepRange(spec.path, spec.start, spec.stop, 2, spec.log)
    edge = plan_sweep(config, ends, overrides, seed=seed, fidelity=fidelity, keep_shape=keep_shape)
    estimate = estimate_sweep(edge.scenarios, spec.steps, source=str(config))
    check(estimate, out, enabled=resource_check)
    if not quiet and estimate.seconds > LONG_WORK_S:
        err_console.print(estimate.describe(), highlight=False, markup=False)
    checked = _validating_progress(err_console, spec.steps, quiet)
    plan = plan_sweep(
        config, spec, overrides, seed=seed, fidelity=fidelity, keep_shape=keep_shape,
        progress=checked,
    )  # fmt: skip
    if dry_run:
        for line in [*target.describe(), *describe_lines(estimate), "dry run: nothing was written"]:
            console.print(line, highlight=False, markup=False)
        return None
    t0 = time.perf_counter()
    n = len(plan.values)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=quiet,
    ) as bar:
        task = bar.add_task(f"sweeping {plan.range.path}", total=n)

        def progress(done: float, index: int) -> None:
            bar.update(
                task,
                completed=done,
                description=f"{plan.range.path} = {_fmt(plan.values[index], 4)}",
            )

        result = run_sweep(plan, progress=progress)
    write_sweep(result, out, plots=plots)
    elapsed = time.perf_counter() - t0
    if not quiet and out_format == "table":
        print_sweep(result, console)
    elif not quiet:
        import click

        from sim.output import json_text
        from sim.report.markdown import sweep_markdown

        text = json_text(result.breakeven) if out_format == "json" else sweep_markdown(
            result.breakeven)  # fmt: skip
        click.echo(text, nl=False)
    closing = console if out_format == "table" else err_console
    closing.print(f"wrote {out}/ ({n} points) in {elapsed:.1f} s (open {out}/report.html)")
    return result


def print_sweep(result: SweepResult, console: Any) -> None:
    """A short table of costs per 30 days, and the crossings."""
    from rich import box
    from rich.table import Table

    plan = result.plan
    table = result.table
    options = list(dict.fromkeys(table.column("option").to_pylist()))
    title = f"{plan.base.scenario.name}: USD per 30 days, front door / total"
    if plan.coupled:
        title += f" ({', '.join(plan.coupled)} scaled in proportion)"
    out = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    out.add_column(plan.range.path.rsplit(".", 1)[-1], justify="right", no_wrap=True)
    for option in options:
        out.add_column(option, justify="right")
    curves = {
        (basis, o): _curve(table, o, f"{basis}_per_30_days_usd") for basis in BASES for o in options
    }
    for i, value in enumerate(plan.values):
        out.add_row(
            _fmt(value, 4),
            *(" / ".join(f"{curves[(basis, o)][i]:,.2f}" for basis in BASES) for o in options),
        )
    console.print(out, width=None if console.is_terminal else 160)
    interpolation = "log(value)" if plan.range.log else "value"
    console.print(f"break-even in {plan.range.path} (linear in {interpolation} between points):")
    for basis in BASES:
        label = basis.replace("_", " ")
        for pair in result.breakeven["pairs"]:
            if pair["basis"] != basis:
                continue
            for c in pair["crossings"]:
                console.print(
                    f"  {label}: {c['cheaper_below']} cheaper below {_fmt(c['value'])}, "
                    f"{c['cheaper_above']} above (${c['cost_per_30_days_usd']:,.2f} per 30 days)"
                )
        segments = result.breakeven["cheapest"][basis]
        cheapest = ", then ".join(
            f"{s['option']} ({_fmt(s['from'], 4)} to {_fmt(s['to'], 4)})" for s in segments
        )
        console.print(f"  cheapest {label}: {cheapest}")
