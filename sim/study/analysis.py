"""Analysis of a finished study, with SALib's estimators: ``<out>/analysis/``.

* ``sensitivity.parquet``: one row per (outcome, input, index): ``value`` and its bootstrap confidence
  interval ``[conf_low, conf_high]``. Which indices depends on the design (:data:`ANALYSES`):
  ``sobol``: Sobol' first-order ``S1`` and total ``ST`` (and ``S2`` with second order), SALib
  ``sobol.analyze``; ``morris``: ``mu_star`` (with interval), ``mu`` and ``sigma``, SALib
  ``morris.analyze`` (elementary effects per unit of the input's quantile, so inputs compare);
  ``monte_carlo``/``latin_hypercube``: first-order ``S1`` by RBD-FAST (SALib ``rbd_fast.analyze``)
  and the Spearman rank correlation ``spearman`` (Fisher-z interval).
* ``convergence.parquet``: the same indices of the decision outcomes (savings and log cost ratios)
  on growing prefixes of the design (``runs`` column), with fewer bootstrap resamples.
* ``quantiles.parquet``: mean, standard deviation and quantiles of every numeric outcome.
* ``analysis.json``: probability that each option is cheapest (Wilson interval), savings summary,
  the most influential inputs of the key outcome, and notes.
* plots: ``savings_histogram.png``, ``indices.png``, ``savings_vs_inputs.png``, ``convergence.png``.

Every resampling is seeded explicitly from the study's root seed (never 0: SALib takes a seed of 0
as "no seed" and falls back to numpy's global state).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray
from scipy import stats

from sim.output import json_writer, parquet_writer, result_directory
from sim.study.design import ANALYSIS_STREAM, DesignSettings, Saltelli, derived_seed
from sim.study.spec import Study

FloatArray = NDArray[np.float64]
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: Bootstrap resamples for each point of the convergence curves (the full sample uses the study's).
CONVERGENCE_RESAMPLES = 100

INDEX_COLUMNS = ("outcome", "input", "index", "value", "conf_low", "conf_high")


@dataclass(frozen=True)
class AnalysisSettings:
    """What every analysis function needs besides the data."""

    labels: tuple[str, ...]
    method: str
    second_order: bool
    levels: int
    resamples: int
    confidence: float
    seed: int

    @property
    def problem(self) -> dict[str, Any]:
        k = len(self.labels)
        return {"num_vars": k, "names": list(self.labels), "bounds": [[0.0, 1.0]] * k}


IndexRow = dict[str, Any]
#: ``(settings, unit scores, {outcome: values})`` -> index rows, outcome by outcome in order.
AnalysisFunction = Callable[
    [AnalysisSettings, FloatArray, Mapping[str, FloatArray]], list[IndexRow]
]


def _row(outcome: str, name: str, index: str, value: float, conf: float | None) -> IndexRow:
    half = float(conf) if conf is not None and math.isfinite(conf) else float("nan")
    return {
        "outcome": outcome,
        "input": name,
        "index": index,
        "value": float(value),
        "conf_low": float(value) - half,
        "conf_high": float(value) + half,
    }


#: Most bytes of one bootstrap batch of the Sobol' estimators (the outputs gathered by the
#: resampled base points, every matrix of the design): bounds their memory.
SOBOL_BATCH_BYTES = 64 * 2**20


def _ratio(num: FloatArray, var: FloatArray) -> FloatArray:
    """``num / var`` where the variance is above machine epsilon, else 0 (SALib's guard)."""
    eps = np.finfo(float).eps
    out = np.zeros(np.shape(var), dtype=np.float64)
    np.divide(num, var, out=out, where=np.asarray(var) > eps)
    return out


def saltelli(
    y: FloatArray, k: int, second_order: bool, resamples: int, confidence: float, seed: int
) -> dict[str, FloatArray]:
    """Sobol' indices of a Saltelli design's outputs, with bootstrap half-widths: the numbers of
    SALib's ``sobol.analyze(problem, y, calc_second_order=second_order,
    num_resamples=resamples, conf_level=confidence, seed=seed)`` (tested against it), for a
    nonzero ``seed``.

    The estimators are SALib's: first order Saltelli et al. (2010) ``mean(B (AB_j − A)) / V``,
    total Jansen's ``mean((A − AB_j)²) / 2V``, second order Saltelli (2002)
    ``mean(BA_j AB_k − A B) / V − S_j − S_k``, ``V`` the variance of ``A`` and ``B`` together,
    on outputs standardised to mean 0 and variance 1; the bootstrap resamples the ``N`` base points
    (``default_rng(seed).integers(N, size=(N, resamples))``, as SALib draws them) and the
    half-width is ``z × sd`` of the resampled estimates. Vectorised: each matrix gathered once per
    resample batch for every input and pair (SALib gathers ``A`` and ``B`` again for each).

    Returns
    -------
    dict
        ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (``k`` each) and, with ``second_order``,
        ``S2`` and ``S2_conf`` (``k × k``, NaN on and below the diagonal).
    """
    eps = np.finfo(float).eps
    step = 2 * k + 2 if second_order else k + 2
    n = y.size // step
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    standard = (y - y.mean()) / y.std()
    blocks = standard.reshape(n, step)
    a, b = blocks[:, 0], blocks[:, step - 1]
    ab = blocks[:, 1 : k + 1]
    ba = blocks[:, k + 1 : 2 * k + 1] if second_order else None
    pairs = [(j, m) for j in range(k) for m in range(j + 1, k)] if second_order else []

    def estimates(
        a: FloatArray, b: FloatArray, ab: FloatArray, ba: FloatArray | None
    ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        """S1, ST (``k × …``) and S2 (``pairs × …``) of matrices whose first axis is the base
        point (SALib's ``first_order``, ``total_order``, ``second_order``)."""
        both = np.concatenate([a, b], axis=0)
        var = np.var(both, axis=0)
        flat = bool(np.ptp(both) <= eps)  # SALib: a constant output has indices 0
        shape = (k, *np.shape(var))
        if flat:
            zeros = np.zeros(shape)
            return zeros, zeros, np.zeros((len(pairs), *np.shape(var))) if pairs else None
        s1 = np.stack([_ratio(np.mean(b * (ab[:, j] - a), axis=0), var) for j in range(k)])
        st = np.stack([_ratio(0.5 * np.mean((a - ab[:, j]) ** 2, axis=0), var) for j in range(k)])
        s2 = None
        if pairs and ba is not None:
            both_ab = a * b
            s2 = np.stack(
                [
                    _ratio(np.mean(ba[:, j] * ab[:, m] - both_ab, axis=0), var) - s1[j] - s1[m]
                    for j, m in pairs
                ]
            )
        return s1, st, s2

    s1, st, s2 = estimates(a, b, ab, ba)
    resample = np.random.default_rng(seed).integers(n, size=(n, resamples))
    columns = max(1, SOBOL_BATCH_BYTES // max(1, n * step * 8))
    boot1 = np.empty((k, resamples))
    boott = np.empty((k, resamples))
    boot2 = np.empty((len(pairs), resamples))
    spread = 0.0
    lowest, highest = np.inf, -np.inf
    for lo in range(0, resamples, columns):
        r = resample[:, lo : lo + columns]
        ar, br = a[r], b[r]
        both = np.concatenate([ar, br], axis=0)
        lowest, highest = min(lowest, float(both.min())), max(highest, float(both.max()))
        e1, et, e2 = estimates(
            ar, br, ab[r].transpose(0, 2, 1), None if ba is None else ba[r].transpose(0, 2, 1)
        )
        boot1[:, lo : lo + columns] = e1
        boott[:, lo : lo + columns] = et
        if e2 is not None:
            boot2[:, lo : lo + columns] = e2
    spread = highest - lowest  # SALib: np.ptp of A and B resampled; 0 -> intervals 0
    out: dict[str, FloatArray] = {
        "S1": s1,
        "ST": st,
        "S1_conf": z * boot1.std(axis=1, ddof=1) if spread != 0 else np.zeros(k),
        "ST_conf": z * boott.std(axis=1, ddof=1) if spread != 0 else np.zeros(k),
    }
    if second_order:
        out["S2"] = np.full((k, k), np.nan)
        out["S2_conf"] = np.full((k, k), np.nan)
        for i, (j, m) in enumerate(pairs):
            assert s2 is not None
            out["S2"][j, m] = s2[i]
            out["S2_conf"][j, m] = z * boot2[i].std(ddof=1)
    return out


def sobol_indices(
    s: AnalysisSettings, x: FloatArray, y: FloatArray, outcome: str
) -> list[IndexRow]:
    """Sobol' first-order and total indices (and second order) with bootstrap intervals
    (:func:`saltelli`: SALib's ``sobol.analyze``, vectorised)."""
    si = saltelli(y, len(s.labels), s.second_order, s.resamples, s.confidence, s.seed)
    rows = []
    for j, name in enumerate(s.labels):
        rows.append(_row(outcome, name, "S1", si["S1"][j], si["S1_conf"][j]))
        rows.append(_row(outcome, name, "ST", si["ST"][j], si["ST_conf"][j]))
    if s.second_order:
        for a in range(len(s.labels)):
            for b in range(a + 1, len(s.labels)):
                name = f"{s.labels[a]} × {s.labels[b]}"
                rows.append(_row(outcome, name, "S2", si["S2"][a, b], si["S2_conf"][a, b]))
    return rows


def morris_indices(
    s: AnalysisSettings, x: FloatArray, y: FloatArray, outcome: str
) -> list[IndexRow]:
    """Morris ``mu_star`` (bootstrap interval), ``mu`` and ``sigma`` (SALib ``morris.analyze``)."""
    from SALib.analyze import morris

    si = morris.analyze(
        s.problem,
        x,
        y,
        num_resamples=s.resamples,
        conf_level=s.confidence,
        num_levels=s.levels,
        seed=s.seed,
    )
    rows = []
    for j, name in enumerate(s.labels):
        rows.append(_row(outcome, name, "mu_star", si["mu_star"][j], si["mu_star_conf"][j]))
        rows.append(_row(outcome, name, "mu", si["mu"][j], None))
        rows.append(_row(outcome, name, "sigma", si["sigma"][j], None))
    return rows


#: Most elements of one bootstrap batch of RBD-FAST (outcomes × resamples × sample size): bounds
#: its memory.
RBD_BATCH_ELEMENTS = 1 << 22


def _zigzag(x: FloatArray) -> NDArray[np.int64]:
    """Plischke's (2010) order of each row of ``x``: the even ranks ascending, then the odd ranks
    descending (the positions, in each row, that reorder the outputs)."""
    order = np.argsort(x, axis=-1)
    return np.concatenate([order[..., ::2], order[..., 1::2][..., ::-1]], axis=-1)


def _rbd_first_order(permuted: FloatArray, m: int) -> FloatArray:
    """RBD-FAST first-order index of outputs already in the zig-zag order of an input (along the
    last axis), with Tissot & Prieur's bias correction.

    The power of the first ``m`` harmonics over the power of all non-zero frequencies of the
    one-sided periodogram (Tarantola, Gatelli & Mara 2006), as SALib's ``rbd_fast`` computes it
    with ``scipy.signal.periodogram`` (constant detrend, boxcar window), one sample at a time.
    Here without the whole spectrum: the DFT coefficients ``C_k``, ``1 ≤ k ≤ m``, are
    ``y @ exp(−2πi k t / n)`` (a constant has none, so the detrend changes none of them), and by
    Parseval the one-sided periodogram's non-zero frequencies hold ``n Σ (y − ȳ)²`` (bins
    1 … n − 1 once each: a real signal's spectrum is symmetric), so
    ``S1 = 2 Σ_{k ≤ m} |C_k|² / (n Σ (y − ȳ)²)`` (the density's common factor cancels). Unskewed
    by ``S1 − λ/(1 − λ) (1 − S1)``, ``λ = 2m / n`` (Tissot & Prieur 2012). The outputs should be
    centred on their overall mean beforehand (the sums of squares then lose no precision).
    """
    n = permuted.shape[-1]
    angle = 2 * np.pi * np.outer(np.arange(n), np.arange(1, m + 1)) / n
    harmonics = np.concatenate([np.cos(angle), np.sin(angle)], axis=1)  # n × 2m
    flat = permuted.reshape(-1, n)
    power = ((flat @ harmonics) ** 2).sum(axis=1)
    total = flat.sum(axis=1)
    spread = np.einsum("ij,ij->i", flat, flat) - total * total / n  # Σ (y − ȳ)²
    s1 = (2 * power / (n * spread)).reshape(permuted.shape[:-1])
    lam = 2 * m / n
    return np.asarray(s1 - lam / (1 - lam) * (1 - s1), dtype=np.float64)


def rbd_fast(
    x: FloatArray, y: FloatArray, m: int, resamples: int, confidence: float, seed: int
) -> tuple[FloatArray, FloatArray]:
    """RBD-FAST first-order indices of every column of ``x`` and their bootstrap half-widths, for
    one outcome (``y``: ``n`` values) or several (``outcomes × n``).

    For each outcome, the numbers of SALib's ``rbd_fast.analyze(problem, x, y, M=m,
    num_resamples=resamples, conf_level=confidence, seed=seed)`` (tested against it): for each
    input in turn, ``resamples`` bootstrap samples of half the runs (drawn with replacement from
    ``default_rng(seed)``, in SALib's order, so every outcome gets the same samples), the index of
    each, and ``z × sd`` of them (``z`` the normal quantile of the confidence level). Vectorised:
    every resample and outcome of an input in a few array operations, the samples' orders found
    once for all outcomes, instead of a ``scipy.signal.periodogram`` call per resample.

    Returns
    -------
    (S1, half-width)
        Shaped like ``y`` without its last axis, plus one axis of inputs (``k`` or
        ``outcomes × k``).
    """
    ys = np.atleast_2d(np.asarray(y, dtype=np.float64))
    ys = ys - ys.mean(axis=1, keepdims=True)  # no index changes; the sums keep their precision
    rng = np.random.default_rng(seed)
    n, k = x.shape
    half = int(n * 0.5)
    batch = max(1, RBD_BATCH_ELEMENTS // max(1, half * len(ys)))
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    s1 = np.empty((len(ys), k))
    conf = np.empty((len(ys), k))
    for j in range(k):
        s1[:, j] = _rbd_first_order(ys[:, _zigzag(x[:, j])], m)
        boot = np.empty((len(ys), resamples))
        for lo in range(0, resamples, batch):
            rows = min(batch, resamples - lo)
            # SALib draws rng.choice(n, size=half) per resample: the same stream as this
            idx = rng.integers(0, n, size=(rows, half))
            runs = np.take_along_axis(idx, _zigzag(x[idx, j]), axis=1)
            boot[:, lo : lo + rows] = _rbd_first_order(ys[:, runs], m)
        conf[:, j] = z * boot.std(axis=1, ddof=1)
    if np.ndim(y) == 1:
        return s1[0], conf[0]
    return s1, conf


def spearman(x: FloatArray, y: FloatArray) -> FloatArray:
    """Spearman rank correlation of every column of ``x`` with each outcome (rows of ``y``, or one
    outcome): Pearson's correlation of their average ranks (ties share their mean rank), as
    ``scipy.stats.spearmanr`` computes it (tested against it); ``outcomes × k`` (or ``k``)."""
    ys = np.atleast_2d(np.asarray(y, dtype=np.float64))
    rx = stats.rankdata(x, axis=0)
    ry = stats.rankdata(ys, axis=1)
    rx = rx - rx.mean(axis=0)
    ry = ry - ry.mean(axis=1, keepdims=True)
    num = ry @ rx
    den = np.sqrt(np.outer((ry**2).sum(axis=1), (rx**2).sum(axis=0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.asarray(np.clip(num / den, -1.0, 1.0), dtype=np.float64)
    return rho[0] if np.ndim(y) == 1 else rho


def sampling_indices(
    s: AnalysisSettings, x: FloatArray, outcomes: Mapping[str, FloatArray]
) -> list[IndexRow]:
    """For Monte Carlo and Latin hypercube designs: RBD-FAST first-order indices (bootstrap
    interval; :func:`rbd_fast`, SALib's estimator vectorised) and Spearman rank correlations
    (Fisher-z interval) of every outcome."""
    if not outcomes:
        return []
    names = list(outcomes)
    ys = np.vstack([outcomes[o] for o in names])
    n = ys.shape[1]
    m = max(1, min(10, (n - 1) // 4))
    fast = n >= 4 * m + 2
    if fast:
        s1, conf = rbd_fast(x, ys, m, s.resamples, s.confidence, s.seed)
    rho_all = spearman(x, ys)
    z = stats.norm.ppf(0.5 + s.confidence / 2)
    varies = [bool(np.ptp(x[:, j]) > 0) for j in range(x.shape[1])]
    rows: list[IndexRow] = []
    for i, outcome in enumerate(names):
        if fast:
            rows += [
                _row(outcome, name, "S1", s1[i, j], conf[i, j]) for j, name in enumerate(s.labels)
            ]
        for j, name in enumerate(s.labels):
            if not varies[j]:
                continue
            rho = float(rho_all[i, j])
            if n > 3 and abs(rho) < 1:
                lo, hi = np.tanh(np.arctanh(rho) + np.array([-z, z]) / math.sqrt(n - 3))
            else:
                lo = hi = rho
            rows.append(
                {
                    "outcome": outcome,
                    "input": name,
                    "index": "spearman",
                    "value": rho,
                    "conf_low": float(lo),
                    "conf_high": float(hi),
                }
            )
    return rows


def _each(
    fn: Callable[[AnalysisSettings, FloatArray, FloatArray, str], list[IndexRow]],
) -> AnalysisFunction:
    """An analysis of one outcome at a time, applied to each outcome in turn."""

    def analyse_each(
        s: AnalysisSettings, x: FloatArray, outcomes: Mapping[str, FloatArray]
    ) -> list[IndexRow]:
        return [row for name, y in outcomes.items() for row in fn(s, x, y, name)]

    return analyse_each


#: Design name -> analysis function (SALib estimator matching the design).
ANALYSES: dict[str, AnalysisFunction] = {
    "sobol": _each(sobol_indices),
    "morris": _each(morris_indices),
    "monte_carlo": sampling_indices,
    "latin_hypercube": sampling_indices,
}

#: Design name -> the index that ranks inputs by influence.
RANKING_INDEX = {
    "sobol": "ST",
    "morris": "mu_star",
    "monte_carlo": "S1",
    "latin_hypercube": "S1",
}


def prefix_sizes(settings: AnalysisSettings, runs: int) -> list[int]:
    """Growing numbers of runs that are themselves valid designs (for convergence curves)."""
    k = len(settings.labels)
    if settings.method == "sobol":
        block = Saltelli.block(
            k, DesignSettings(settings.method, settings.second_order, settings.levels)
        )
        n = runs // block
        sizes = [2**e * block for e in range(2, int(math.log2(n)) + 1)]
    elif settings.method == "morris":
        r = runs // (k + 1)
        counts = sorted({max(2, round(r / 2**e)) for e in range(0, 6)})
        sizes = [c * (k + 1) for c in counts]
    else:
        sizes = sorted({max(16, runs // 2**e) for e in range(0, 6)})
    return [n for n in sizes if n <= runs] or [runs]


def numeric_outcomes(results: pa.Table) -> list[str]:
    """Outcome columns holding numbers (all but ``run`` and the names)."""
    return [
        f.name
        for f in results.schema
        if f.name != "run" and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
    ]


def key_outcome(study: Study, results: pa.Table) -> str | None:
    """The outcome the README and plots lead with: the reference's savings against the best
    other option (or against the only other one)."""
    names = results.column_names
    ref = study.reference
    for name in (
        f"savings_usd_{ref}_vs_best",
        *[f"savings_usd_{ref}_vs_{o}" for o in study.options],
    ):
        if name in names:
            return name
    numeric = numeric_outcomes(results)
    return numeric[0] if numeric else None


def relative_outcome(study: Study, results: pa.Table) -> str | None:
    """The relative counterpart of the key outcome: the log cost ratio of the best other option
    (or the only other one) over the reference. Free of the volume's scale, it shows what else
    decides the reference's advantage."""
    names = results.column_names
    ref = study.reference
    candidates = (
        f"log_cost_ratio_best_over_{ref}",
        *[f"log_cost_ratio_{o}_over_{ref}" for o in study.options],
    )
    return next((n for n in candidates if n in names), None)


def _analysable(
    results: pa.Table, names: Sequence[str], n: int | None = None
) -> tuple[dict[str, FloatArray], list[str]]:
    """The outcomes (their first ``n`` runs) that can be analysed, and notes on those that cannot."""
    ys: dict[str, FloatArray] = {}
    notes: list[str] = []
    for name in names:
        y = results.column(name).to_numpy()[:n].astype(np.float64)
        if not np.all(np.isfinite(y)):
            notes.append(f"{name}: not analysed (non-finite values)")
        elif np.ptp(y) == 0:
            notes.append(f"{name}: not analysed (the same in every run)")
        else:
            ys[name] = y
    return ys, notes


def sensitivity(
    settings: AnalysisSettings,
    unit: FloatArray,
    results: pa.Table,
    outcomes: Sequence[str],
) -> tuple[list[IndexRow], list[str]]:
    """Indices of every outcome; outcomes that cannot be analysed get a note instead."""
    ys, notes = _analysable(results, outcomes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rows = ANALYSES[settings.method](settings, unit, ys)
    return rows, notes


def convergence(
    settings: AnalysisSettings,
    unit: FloatArray,
    results: pa.Table,
    outcomes: Sequence[str],
) -> list[IndexRow]:
    """Indices on growing prefixes of the design: do they settle as runs grow?"""
    analyse = ANALYSES[settings.method]
    light = AnalysisSettings(
        settings.labels,
        settings.method,
        settings.second_order,
        settings.levels,
        min(settings.resamples, CONVERGENCE_RESAMPLES),
        settings.confidence,
        settings.seed,
    )
    rows: list[IndexRow] = []
    for n in prefix_sizes(settings, results.num_rows):
        ys, _ = _analysable(results, outcomes, n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rows += [{**r, "runs": n} for r in analyse(light, unit[:n], ys)]
    return rows


def quantile_table(results: pa.Table, outcomes: Sequence[str]) -> pa.Table:
    """Mean, standard deviation, extremes and :data:`QUANTILES` of each numeric outcome."""
    cols: dict[str, list[Any]] = {"outcome": [], "mean": [], "std": [], "min": []}
    for q in QUANTILES:
        cols[f"p{round(q * 100):02d}"] = []
    cols["max"] = []
    for name in outcomes:
        y = results.column(name).to_numpy().astype(np.float64)
        y = y[np.isfinite(y)]
        cols["outcome"].append(name)
        if y.size == 0:
            for k in cols:
                if k != "outcome":
                    cols[k].append(None)
            continue
        cols["mean"].append(float(y.mean()))
        cols["std"].append(float(y.std(ddof=1)) if y.size > 1 else 0.0)
        cols["min"].append(float(y.min()))
        for q in QUANTILES:
            cols[f"p{round(q * 100):02d}"].append(float(np.quantile(y, q)))
        cols["max"].append(float(y.max()))
    return pa.table(cols)


def probability_cheapest(
    results: pa.Table, options: Sequence[str], confidence: float
) -> dict[str, dict[str, Any]]:
    """Share of runs in which each option is cheapest, with a Wilson interval."""
    cheapest = results.column("cheapest").to_pylist()
    n = len(cheapest)
    out = {}
    for o in options:
        k = sum(1 for c in cheapest if c == o)
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
        out[o] = {"probability": k / n, "runs": k, "ci": [float(ci.low), float(ci.high)]}
    return out


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _index_table(rows: list[IndexRow], with_runs: bool = False) -> pa.Table:
    names = [*(("runs",) if with_runs else ()), *INDEX_COLUMNS]
    types = {"runs": pa.int64(), "outcome": pa.string(), "input": pa.string(), "index": pa.string()}
    schema = pa.schema([pa.field(n, types.get(n, pa.float64())) for n in names])
    return pa.Table.from_pylist(rows, schema=schema)


def ranking(rows: list[IndexRow], outcome: str, index: str) -> list[dict[str, Any]]:
    """Inputs ordered by ``index`` of ``outcome`` (largest first; by magnitude for Spearman)."""
    picked = [r for r in rows if r["outcome"] == outcome and r["index"] == index]
    if not picked:
        picked = [r for r in rows if r["outcome"] == outcome and r["index"] == "spearman"]
    picked.sort(key=lambda r: -abs(r["value"]))
    return [
        {
            "input": r["input"],
            "index": r["index"],
            "value": r["value"],
            "ci": [r["conf_low"], r["conf_high"]],
        }
        for r in picked
    ]


def analysis_settings(study: Study) -> AnalysisSettings:
    """The analysis' settings of ``study`` (its design's, and the seed derived from its root)."""
    spec = study.spec
    return AnalysisSettings(
        labels=study.labels,
        method=spec.design.method,
        second_order=spec.design.second_order,
        levels=spec.design.levels,
        resamples=spec.design.bootstrap,
        confidence=spec.design.confidence,
        seed=derived_seed(study.seed, ANALYSIS_STREAM),
    )


def _unit(study: Study, design: pa.Table, runs: int) -> FloatArray:
    """The design's unit scores of its first ``runs`` runs (``runs × inputs``)."""
    return np.column_stack(
        [design.column(f"u:{label}").to_numpy()[:runs] for label in study.labels]
    )


# --------------------------------------------------------------------------- stopping
def _widths(
    probability: dict[str, dict[str, Any]] | None,
    rows: Sequence[IndexRow],
    outcomes: Sequence[str],
    index: str,
) -> dict[str, float | None]:
    """The widest interval of P(cheapest) over the options, and of ``index`` over the inputs of
    ``outcomes`` (whole widths; ``None``: not known, e.g. an outcome that could not be
    analysed)."""
    out: dict[str, float | None] = {}
    if probability is not None:
        out["p_cheapest"] = max(v["ci"][1] - v["ci"][0] for v in probability.values())
    widest: float | None = None
    for outcome in outcomes:
        picked = [r for r in rows if r["outcome"] == outcome and "×" not in r["input"]]
        ranked = [r for r in picked if r["index"] == index] or [
            r for r in picked if r["index"] == "spearman"
        ]
        spans = [r["conf_high"] - r["conf_low"] for r in ranked]
        if not spans or not all(math.isfinite(w) for w in spans):
            return {**out, "indices": None}
        widest = max(widest or 0.0, *spans)
    out["indices"] = widest
    return out


def interval_widths(study: Study, design: pa.Table, results: pa.Table) -> dict[str, float | None]:
    """What ``study.stop_at_ci_width`` judges after a round (``results``: its first runs): the
    widest interval of P(cheapest) over the options, and of the ranking index (:data:`RANKING_INDEX`)
    over every input of the key outcome and its relative counterpart, with the study's
    resamples, confidence and seed (the final analysis' numbers on the same runs)."""
    settings = analysis_settings(study)
    probability = (
        probability_cheapest(results, study.options, settings.confidence)
        if "cheapest" in results.column_names
        else None
    )
    outcomes = [o for o in (key_outcome(study, results), relative_outcome(study, results)) if o]
    ys, _ = _analysable(results, outcomes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rows = ANALYSES[settings.method](settings, _unit(study, design, results.num_rows), ys)
    return _widths(probability, rows, outcomes, RANKING_INDEX[settings.method])


def narrow_enough(widths: dict[str, float | None], stop: Any) -> bool:
    """Whether every width ``stop`` (a :class:`~sim.study.spec.StopAtWidth`) asks for is at most
    the width asked (a width not known is not narrow enough)."""
    for name in ("p_cheapest", "indices"):
        asked = getattr(stop, name)
        if asked is None:
            continue
        got = widths.get(name)
        if got is None or got > asked:
            return False
    return True


def analyse(
    study: Study,
    design: pa.Table,
    results: pa.Table,
    rounds: Sequence[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, pa.Table]]:
    """The analysis document and its tables (nothing written).

    ``rounds``: the rounds a study with ``stop_at_ci_width`` judged before its last (see
    :func:`interval_widths`); the document then says how it stopped (``stopping``).
    """
    spec = study.spec
    settings = analysis_settings(study)
    unit = _unit(study, design, results.num_rows)
    outcomes = numeric_outcomes(results)
    rows, notes = sensitivity(settings, unit, results, outcomes)
    decisions = [o for o in outcomes if o.startswith(("savings_usd_", "log_cost_ratio_"))]
    conv = convergence(settings, unit, results, decisions or outcomes)
    quantiles = quantile_table(results, outcomes)
    key = key_outcome(study, results)
    relative = relative_outcome(study, results)
    doc: dict[str, Any] = {
        "study": study.name,
        "runs": results.num_rows,
        "design": settings.method,
        "fidelity": study.fidelity,
        "options": list(study.options),
        "reference": study.reference,
        "cost_basis": spec.study.cost_basis,
        "confidence": settings.confidence,
        "bootstrap_resamples": settings.resamples,
        "analysis_seed": settings.seed,
        "key_outcome": key,
        "relative_outcome": relative,
        "ranking_index": RANKING_INDEX[settings.method],
    }
    if "cheapest" in results.column_names:
        doc["probability_cheapest"] = probability_cheapest(
            results, study.options, settings.confidence
        )
    if "dominant_lcu_dimension" in results.column_names:
        dims = results.column("dominant_lcu_dimension").to_pylist()
        doc["dominant_lcu_dimension"] = {d: dims.count(d) / len(dims) for d in sorted(set(dims))}
    qrows = {r["outcome"]: r for r in quantiles.to_pylist()}
    doc["savings"] = {
        name: {
            **{k: qrows[name][k] for k in ("mean", "p05", "p50", "p95")},
            "probability_positive": float(np.mean(results.column(name).to_numpy() > 0)),
        }
        for name in outcomes
        if name.startswith("savings_usd_")
    }
    if key is not None:
        doc["most_influential"] = ranking(rows, key, RANKING_INDEX[settings.method])
    if relative is not None:
        doc["most_influential_relative"] = ranking(rows, relative, RANKING_INDEX[settings.method])
    doc["influence_by_outcome"] = {
        name: [r["input"] for r in ranking(rows, name, RANKING_INDEX[settings.method])[:3]]
        for name in outcomes
    }
    if settings.method in ("sobol", "morris"):
        notes.append(
            f"quantiles and probabilities are over the {settings.method} design's runs, whose "
            "rows are not independent draws; their intervals are approximate"
        )
    if spec.correlations and settings.method in ("monte_carlo", "latin_hypercube"):
        notes.append(
            "inputs are rank-correlated: first-order indices mix correlated inputs' effects"
        )
    stop = spec.study.stop_at_ci_width
    if stop is not None and rounds is not None:
        judged = [dict(r) for r in rounds if r["runs"] <= results.num_rows]
        if judged and judged[-1]["runs"] == results.num_rows:  # the round it stopped at
            reached = bool(judged[-1]["narrow_enough"])
        else:  # the last round (not judged to stop: no more runs to add): its intervals
            final = _widths(
                doc.get("probability_cheapest"),
                rows,
                [o for o in (key, relative) if o],
                RANKING_INDEX[settings.method],
            )
            reached = narrow_enough(final, stop)
            judged.append(
                {
                    "round": len(judged) + 1,
                    "runs": results.num_rows,
                    "widths": final,
                    "narrow_enough": reached,
                }
            )
        doc["stopping"] = {
            "asked": stop.model_dump(mode="json"),
            "rounds": judged,
            "runs": results.num_rows,
            "most_runs": study.runs,
            "reached": reached,
        }
        if not reached:
            notes.append(
                f"stop_at_ci_width: the intervals were still wider than asked after the most "
                f"runs ({study.runs:,}); raise study.runs for narrower ones"
            )
    doc["notes"] = notes
    tables = {
        "sensitivity.parquet": _index_table(rows),
        "convergence.parquet": _index_table(conv, with_runs=True),
        "quantiles.parquet": quantiles,
    }
    return _clean(doc), tables


#: The analysis' directory inside a study directory.
ANALYSIS_DIR = "analysis"
#: The tables the analysis writes.
ANALYSIS_TABLES = ("sensitivity.parquet", "convergence.parquet", "quantiles.parquet")


def analysis_file_names(plots: bool = True) -> list[str]:
    """Every file ``analysis/`` may hold."""
    from sim.study.plots import STUDY_PLOTS

    return [*ANALYSIS_TABLES, "analysis.json", *(STUDY_PLOTS if plots else ())]


def write_analysis(
    out: Path,
    study: Study,
    design: pa.Table,
    results: pa.Table,
    *,
    plots: bool = True,
    drawn: list[dict[str, str]] | None = None,
    rounds: Sequence[dict[str, Any]] | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Write ``<out>/analysis/`` (a result directory: its files appear together once all are
    written, and only files this package wrote there are replaced); return ``analysis.json``.

    ``drawn``: filled with the figures as inline SVG for the report (drawn once, with the PNGs).
    ``rounds``: see :func:`analyse`. ``timings``: given ``analysis_s`` and ``plots_s``.
    """
    import time

    from sim.study.plots import write_study_plots

    started = time.perf_counter()
    doc, tables = analyse(study, design, results, rounds)
    assert tuple(tables) == ANALYSIS_TABLES
    prov = {"study": study.name, "study_hash": study.hashes()["study"]}
    drawing = 0.0
    with result_directory(out / ANALYSIS_DIR, "analysis", analysis_file_names(plots)) as stage:
        for name, table in tables.items():
            parquet_writer(table, prov)(stage / name)
        if plots:
            begun = time.perf_counter()
            doc["plots"] = [
                p.name for p in write_study_plots(stage, study, design, results, doc, tables, drawn)
            ]
            drawing = time.perf_counter() - begun
        json_writer(doc)(stage / "analysis.json")
    if timings is not None:
        timings["analysis_s"] = time.perf_counter() - started - drawing
        timings["plots_s"] = drawing
    return doc
