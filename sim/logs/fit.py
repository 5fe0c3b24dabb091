"""``sim fit``: a scenario fitted to access logs, a request table or a counts trace, for what-if runs
and studies, and its check against the replay it came from.

What is fitted, and how (each stated in the scenario it writes):

* **rate profile** (``traffic.model = "profile"``): ``rate = base × daily[hour] × weekly[day] ×
  trend``, fitted to the hourly counts by alternating means (the shape of a multiplicative model);
  the 24 daily levels are the nodes of sim's piecewise-linear daily shape, solved so that each
  clock hour's mean of the interpolated curve is the fitted level (the circulant system
  ``(v[h−1] + 6 v[h] + v[h+1]) / 8 = level[h]``); the levels (each clock hour's mean over the
  source's days) shrunk toward a smooth daily profile by an empirical-Bayes weight, so that a
  source of a few days does not carry its hours' burst noise into them (:func:`shrink_daily`);
  a weekly shape (7 levels) from 14 days of data, and a compound trend from 14 days when its
  slope is 3 standard errors from 0;
* **burstiness beyond Poisson** (per-second sources; :mod:`sim.logs.burstfit`): when the
  per-second index of dispersion about the fitted rate is more than 4 standard errors above 1,
  Poisson, Markov-modulated Poisson processes (``burst.model = "mmpp"``, 2 states up to as many as
  the BIC supports, by EM) and a Hawkes process (``"hawkes"``, by the method of moments on the
  autocovariances) are fitted, and the one whose simulated busiest second per hour best matches
  the source's in the upper tail of its distribution over hours, on hours it was not fitted to,
  is chosen (the stated criterion: see that module);
* **payloads** (logs): per route (the busiest up to :data:`MAX_ROUTES`, the rest together), exact
  sizes ``values_bytes`` at up to :data:`SIZE_POINTS` points: the means of equal-count groups of
  the sorted logged sizes, so each route's mean size is the logged mean;
* **connection reuse** (logs that name client connections): ``per_connection`` with the logged
  requests per connection and the logged connections' mean lifetime (exponential), so new and
  active connections match the log in expectation (Little's law);
* **Lambda durations** (logs with processing times): lognormal with the logged mean and the standard
  deviation of ln(duration).

What is not fitted keeps sim's defaults and says so in a comment.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.errors import TraceError
from sim.logs.burstfit import BurstFit, describe, fit_burst
from sim.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, iso_utc

#: Routes fitted one by one (the rest share one size distribution).
MAX_ROUTES = 8
#: Smallest share of the requests a route needs to be fitted on its own.
MIN_ROUTE_SHARE = 0.01
#: Points of an exact-size distribution.
SIZE_POINTS = 32
#: Days of data a weekly shape and a trend need.
WEEKLY_DAYS = 14
#: A month for growth rates (sim's: a twelfth of the mean Gregorian year).
SECONDS_PER_MONTH = 365.2425 * SECONDS_PER_DAY / 12


@dataclass
class FitSource:
    """What a fit reads: the per-second counts over whole clock hours, and the logged requests."""

    path: str
    kind: str  # "logs", "requests" or "trace"
    first_hour_s: int
    hours: int
    per_second: NDArray[
        np.float64
    ]  # requests in each second from first_hour_s (expected, step > 1)
    step_s: int
    log: Any = None  # RequestLog for logs and request tables
    trace_format: str | None = None
    #: how the source was read (the replay it is checked against reads it the same way)
    fmt: str = "auto"
    max_malformed_share: float = 0.001
    idle_timeout_s: float = 60.0

    #: share of each clock hour the source covers (its first and last hours may be partial)
    cover: NDArray[np.float64] | None = None
    #: the source's span, epoch seconds: ``[begin_s, end_s)`` (whole seconds)
    begin_s: int = 0
    end_s: int = 0

    @property
    def total(self) -> float:
        return float(self.per_second.sum())

    def covered(self) -> NDArray[np.float64]:
        return self.cover if self.cover is not None else np.ones(self.hours)

    def covered_seconds(self) -> NDArray[np.bool_]:
        """Which seconds of ``per_second`` lie inside the source's span (all without a span)."""
        out = np.ones(self.per_second.size, dtype=np.bool_)
        if self.end_s > self.begin_s:
            out[:] = False
            out[max(0, self.begin_s - self.first_hour_s) : self.end_s - self.first_hour_s] = True
        return out

    @property
    def per_hour(self) -> NDArray[np.float64]:
        hourly = self.per_second.reshape(self.hours, SECONDS_PER_HOUR).sum(axis=1)
        return np.asarray(hourly, dtype=np.float64)


def load_source(path: str, fmt: str = "auto", *, max_malformed_share: float = 0.001) -> FitSource:
    """Read ``path``: logs or a request table (formats of :func:`sim.logs.requests.load_requests`),
    or a trace (``counts``, ``timestamps``: :func:`sim.traffic.traces.load_trace`; with ``auto``,
    a ``.csv``/``.csv.gz`` file, or a Parquet file that is not a request table)."""
    from sim.logs.requests import load_requests

    lower = path.lower()
    trace = fmt in ("counts", "timestamps") or (
        fmt == "auto" and (lower.endswith((".csv", ".csv.gz")) or _parquet_trace(path))
    )
    if trace:
        from sim.traffic.traces import load_trace

        t = load_trace(path, fmt if fmt != "auto" else "auto")
        first = t.start_epoch_s - t.start_epoch_s % SECONDS_PER_HOUR
        end = t.start_epoch_s + t.span_s
        hours = -(-(end - first) // SECONDS_PER_HOUR)
        per_second = np.zeros(hours * SECONDS_PER_HOUR)
        spread = np.repeat(t.counts.astype(np.float64) / t.step_s, t.step_s)
        at = t.start_epoch_s - first
        per_second[at : at + spread.size] = spread
        cover = _cover(first, hours, t.start_epoch_s, end)
        return FitSource(
            path, "trace", first, hours, per_second, t.step_s, None, t.kind, fmt, cover=cover,
            begin_s=t.start_epoch_s, end_s=end,
        )  # fmt: skip
    log = load_requests(path, fmt, max_malformed_share=max_malformed_share)
    first = math.floor(log.first_s / SECONDS_PER_HOUR) * SECONDS_PER_HOUR
    hours = math.floor(log.last_s / SECONDS_PER_HOUR) - first // SECONDS_PER_HOUR + 1
    sec = np.floor(log.time_s).astype(np.int64) - first
    per_second = np.bincount(sec, minlength=hours * SECONDS_PER_HOUR).astype(np.float64)
    kind = "requests" if log.source.get("format") in (None, "requests") else "logs"
    begin, end = math.floor(log.first_s), math.floor(log.last_s) + 1
    return FitSource(
        path, kind, first, hours, per_second, 1, log, None, fmt, max_malformed_share,
        cover=_cover(first, hours, begin, end), begin_s=begin, end_s=end,
    )  # fmt: skip


def _duration(seconds: int) -> str:
    """``"24h"``, ``"90m"`` or ``"5401s"``: the shortest exact spelling."""
    for unit, size in (("h", SECONDS_PER_HOUR), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _cover(first_hour_s: int, hours: int, begin_s: float, end_s: float) -> NDArray[np.float64]:
    """The share of each clock hour inside ``[begin_s, end_s)``."""
    lo = first_hour_s + SECONDS_PER_HOUR * np.arange(hours, dtype=np.float64)
    inside = np.minimum(lo + SECONDS_PER_HOUR, end_s) - np.maximum(lo, begin_s)
    return np.asarray(np.clip(inside / SECONDS_PER_HOUR, 1e-9, 1.0), dtype=np.float64)


def _parquet_trace(path: str) -> bool:
    if not path.lower().endswith((".parquet", ".pq")) or not Path(path).is_file():
        return False
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception:
        return False
    return "time_s" not in names


# =========================================================================== rate profile
def daily_nodes(levels: NDArray[np.float64]) -> NDArray[np.float64]:
    """The 24 nodes of sim's periodic piecewise-linear daily shape whose clock-hour means are
    ``levels``: solve ``(v[h−1] + 6 v[h] + v[h+1]) / 8 = levels[h]`` (circulant, always
    invertible); negative nodes (a level that drops faster than a line can) are set to 0."""
    a = np.zeros((24, 24))
    for h in range(24):
        a[h, h] = 6 / 8
        a[h, (h - 1) % 24] = 1 / 8
        a[h, (h + 1) % 24] = 1 / 8
    return np.asarray(np.maximum(np.linalg.solve(a, levels), 0.0), dtype=np.float64)


@dataclass
class ProfileFit:
    base_per_s: float
    daily: NDArray[np.float64]  # 24 levels, mean 1 (clock-hour means)
    weekly: NDArray[np.float64] | None  # 7 levels Monday first, mean 1
    growth_per_month: float | None
    notes: list[str] = field(default_factory=list)
    #: the daily levels' empirical-Bayes shrinkage (None: not applied, see :func:`shrink_daily`)
    shrink: Shrinkage | None = None


def fit_profile(src: FitSource) -> ProfileFit:
    """``base × daily × weekly × trend`` fitted to the hourly counts (alternating means)."""
    counts = src.per_hour
    cover = src.covered()  # a partial first or last hour weighs as much as it covers
    k = np.arange(src.hours)
    hour_s = src.first_hour_s + SECONDS_PER_HOUR * k
    hod = (hour_s // SECONDS_PER_HOUR) % 24
    day = hour_s // SECONDS_PER_DAY
    dow = (day + 3) % 7  # 1970-01-01 was a Thursday: Monday = 0
    days = src.hours / 24
    weekly_on = days >= WEEKLY_DAYS
    notes = []
    daily = np.ones(24)
    weekly = np.ones(7)
    trend = np.ones(src.hours)
    growth: float | None = None
    base = counts.sum() / (SECONDS_PER_HOUR * cover.sum())
    for _ in range(30):
        rest = base * SECONDS_PER_HOUR * weekly[dow] * trend * cover
        daily = _group_ratio(counts, rest, hod, 24)
        daily /= daily.mean()
        if weekly_on:
            rest = base * SECONDS_PER_HOUR * daily[hod] * trend * cover
            weekly = _group_ratio(counts, rest, dow, 7)
            weekly /= weekly.mean()
            expected = daily[hod] * weekly[dow]
            per_day = np.bincount(day - day[0], counts) / np.maximum(
                np.bincount(day - day[0], expected * cover * SECONDS_PER_HOUR), 1e-300
            )
            ok = per_day > 0
            x = np.flatnonzero(ok).astype(np.float64)
            if x.size >= 3:
                slope, _, se = _line(x, np.log(per_day[ok]))
                if abs(slope) > 3 * se:
                    growth = math.expm1(slope * SECONDS_PER_MONTH / SECONDS_PER_DAY)
                    trend = np.exp(slope * (k / 24.0))
                else:
                    growth, trend = None, np.ones(src.hours)
        model = daily[hod] * weekly[dow] * trend * cover
        base = counts.sum() / (SECONDS_PER_HOUR * model.sum())
    shrink = shrink_daily(counts, daily, base * SECONDS_PER_HOUR * weekly[dow] * trend * cover,
                          hod, day - day[0], within_hour_kappa(src))  # fmt: skip
    if shrink is not None:
        daily = shrink.levels
        model = daily[hod] * weekly[dow] * trend * cover
        base = counts.sum() / (SECONDS_PER_HOUR * model.sum())  # the total volume is kept
        notes.append(shrink.note())
    if days < 1:
        seen = np.unique(hod)
        missing = sorted(set(range(24)) - {int(h) for h in seen})
        if missing:
            daily[missing] = daily[seen].mean()
            daily /= daily.mean()
            notes.append(
                f"hours {', '.join(f'{h:02d}' for h in missing)} UTC are not in the source: "
                "their daily level is the mean of the others"
            )
    if not weekly_on:
        notes.append(
            f"{days:.3g} days of data: no weekly shape or trend (they need {WEEKLY_DAYS} days)"
        )
    return ProfileFit(float(base), daily, weekly if weekly_on else None, growth, notes, shrink)


#: Harmonics of the smooth daily profile the hourly levels are shrunk toward.
SMOOTH_HARMONICS = 3
#: Blocks of an hour, s, whose counts measure the hours' own burst variance.
WITHIN_BLOCK_S = 300


def within_hour_kappa(src: FitSource) -> float:
    """The relative variance ``κ`` of an hour's count beyond Poisson (``Var N = E + κ E²``) that
    the source's seconds show within its whole hours: each hour's counts in ``B`` blocks of
    :data:`WITHIN_BLOCK_S` (or the source's step, if longer), their residuals ``e`` about a line
    fitted to the hour's blocks (``B − 2`` degrees of freedom per hour, the rate's change within
    the hour taken out), ``μ`` the hour's mean block count:
    ``κ_b = max(0, (Σ e² B/(B − 2) − Σ μ) / Σ μ²)`` per block and ``κ = κ_b × block / 3600``, as
    bursts much shorter than a block add a variance that grows with the block's length (an MMPP
    redrawn every τ: ``2 τ V m² × length``; 90 % of it for τ = 30 s, since correlations across
    blocks are missed). Bursts slower than a block and differences between days are not seen:
    a lower bound (0 when the hour holds fewer than 4 blocks or no whole hour)."""
    block = max(WITHIN_BLOCK_S, src.step_s)
    b = SECONDS_PER_HOUR // block
    whole = src.covered() >= 1.0
    if SECONDS_PER_HOUR % block or b < 4 or not whole.any():
        return 0.0
    n = src.per_second.reshape(src.hours, b, block).sum(axis=2)[whole]  # no copy of the seconds
    x = np.arange(b) - (b - 1) / 2
    mean = n.mean(axis=1, keepdims=True)
    slope = (n @ x)[:, None] / float(x @ x)
    resid = n - mean - slope * x
    mu = np.repeat(mean, b, axis=1)
    extra = float(np.sum(resid**2)) * b / (b - 2) - float(mu.sum())
    return max(0.0, extra / max(float(np.sum(mu**2)), 1e-300)) * block / SECONDS_PER_HOUR


@dataclass
class Shrinkage:
    """The daily levels' empirical-Bayes shrinkage (:func:`shrink_daily`)."""

    raw: NDArray[np.float64]  # the levels before (mean 1)
    smooth: NDArray[np.float64]  # the smooth profile they are shrunk toward
    levels: NDArray[np.float64]  # the shrunk levels (mean 1)
    weight: NDArray[np.float64]  # each level's weight on its own mean: A / (A + σ²)
    kappa: float  # relative variance of an hour's count beyond Poisson: Var N = E + κ E²
    between: float  # A: the variance of the true levels about the smooth profile
    sampling: NDArray[np.float64]  # σ²: each raw level's sampling variance

    def note(self) -> str:
        return (
            f"daily levels shrunk toward a {SMOOTH_HARMONICS}-harmonic smooth profile by "
            f"empirical Bayes (each level's weight on its own mean {self.weight.min():.2f} to "
            f"{self.weight.max():.2f}; an hour's count varies between days as Poisson plus a "
            f"relative variance {self.kappa:.3g}; the levels vary about the smooth profile by "
            f"{math.sqrt(self.between):.3g})"
        )


def shrink_daily(
    counts: NDArray[np.float64],
    daily: NDArray[np.float64],
    rest: NDArray[np.float64],
    hod: NDArray[np.int64],
    day: NDArray[np.int64],
    kappa_within: float = 0.0,
) -> Shrinkage | None:
    """The daily levels shrunk toward a smooth daily profile by an empirical-Bayes weight.

    ``counts`` are the hourly counts, ``rest`` each hour's expected count without the daily
    level (``base × 3600 × weekly × trend × cover``), ``hod`` each hour's clock hour and ``day``
    its day (0, 1, …). Each raw level ``L_h = Σ N / Σ rest`` over the hours ``h`` of the
    source's days is the true level ``θ_h`` plus sampling noise: the hour's own bursts, which
    the fitted burst process adds again, and the hour's own differences between days. A day
    that is busier or quieter as a whole moves every level alike, which the levels' mean of 1
    takes out: it is not noise of the shape.

    *Sampling variance.* With a factor per day ``g_d = Σ_d N / Σ_d L_h rest`` (the day's own
    volume), an hour's count ``N`` of expectation ``E = L_h × rest × g_d`` varies as ``Var N =
    E + κ E²`` (Poisson plus a relative variance ``κ``: bursts whose variance over an hour grows
    as the rate squared, as an MMPP's does, or hours that differ between days by a factor); the
    residuals ``r = N − E`` have ``E[Σ r²] ≈ (1 − p/n) Σ(E + κE²)`` (``n`` hours, ``p = 24 +
    days − 1`` parameters: the levels and the day factors), so ``κ̂ = max(0, (Σ r² n/(n − p) −
    Σ E) / Σ E²)``. On a few days that estimate is loose (two days: one difference per clock
    hour, about 15 effective degrees of freedom, ±36 %), and the seconds within the hours
    measure the part of ``κ`` that bursts shorter than a few minutes give far more closely
    (``kappa_within``, :func:`within_hour_kappa`: a lower bound of ``κ``, as it leaves out
    slower differences), so the estimate is the larger of the two; then ``σ²_h = Var L_h =
    Σ_h (E + κ̂ E²) / (Σ_h rest g_d)²``, which falls as 1/days.

    *Prior.* ``θ_h = S_h + u_h`` with ``S`` a smooth profile (a Fourier series of
    :data:`SMOOTH_HARMONICS` harmonics, ``q = 2K + 1`` terms) and ``u_h`` of variance ``A``.
    ``S`` is the least-squares fit to ``L``; on 24 equally spaced hours its hat matrix has
    ``q/24`` on the diagonal, so the residual sum of squares has expectation ``(24 − q)(A +
    mean σ²)`` and ``Â = max(0, RSS/(24 − q) − mean σ²)`` (the method of moments; Morris,
    JASA 78, 1983).

    *Estimate.* The posterior mean ``S_h + w_h (L_h − S_h)`` with ``w_h = Â / (Â + σ²_h)``,
    renormalised to mean 1 (the caller rescales the base so that the fitted volume is the
    source's). With many days ``σ²_h → 0`` and ``w_h → 1`` (the levels as they were) wherever
    the levels depart from a smooth profile; with a few, the levels' burst noise is mostly
    removed rather than added again by the burst process.

    None (no shrinkage) when some clock hour is seen on fewer than 2 days: there is no
    between-day dispersion to measure it by.
    """
    seen = np.bincount(hod, minlength=24)
    days = int(day.max()) + 1
    n, n_params = counts.size, 24 + days - 1
    if seen.min() < 2 or n <= n_params:
        return None
    expected = daily[hod] * rest
    per_day = np.bincount(day, counts, minlength=days) / np.maximum(
        np.bincount(day, expected, minlength=days), 1e-300
    )
    expected = expected * per_day[day]
    rest = rest * per_day[day]
    resid = counts - expected
    extra = float(np.sum(resid**2)) * n / (n - n_params) - float(expected.sum())
    kappa = max(0.0, extra / max(float(np.sum(expected**2)), 1e-300), kappa_within)
    total_rest = np.bincount(hod, rest, minlength=24)
    var_n = np.bincount(hod, expected + kappa * expected**2, minlength=24)
    sampling = var_n / np.maximum(total_rest, 1e-300) ** 2
    x = 2 * np.pi * (np.arange(24) + 0.5) / 24
    basis = np.column_stack(
        [np.ones(24)] + [f(k * x) for k in range(1, SMOOTH_HARMONICS + 1) for f in (np.cos, np.sin)]
    )
    coef, *_ = np.linalg.lstsq(basis, daily, rcond=None)
    smooth = basis @ coef
    q = basis.shape[1]
    between = max(0.0, float(np.sum((daily - smooth) ** 2)) / (24 - q) - float(sampling.mean()))
    weight = between / (between + sampling) if between > 0 else np.zeros(24)
    levels = np.maximum(smooth + weight * (daily - smooth), 0.0)
    levels /= levels.mean()
    return Shrinkage(daily.copy(), smooth, levels, weight, kappa, between, sampling)


def _group_ratio(
    counts: NDArray[np.float64], rest: NDArray[np.float64], group: NDArray[np.int64], n: int
) -> NDArray[np.float64]:
    num = np.bincount(group, counts, minlength=n)
    den = np.bincount(group, rest, minlength=n)
    seen = den > 0
    out = np.ones(n)
    out[seen] = num[seen] / den[seen]
    return out


def _line(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float, float]:
    """Least-squares slope, intercept and the slope's standard error."""
    n = x.size
    xm, ym = x.mean(), y.mean()
    sxx = float(np.sum((x - xm) ** 2))
    slope = float(np.sum((x - xm) * (y - ym)) / sxx)
    intercept = float(ym - slope * xm)
    resid = y - intercept - slope * x
    se = math.sqrt(float(np.sum(resid**2)) / max(n - 2, 1) / sxx) if sxx > 0 else math.inf
    return slope, intercept, se


def traffic_section(fit: ProfileFit, start: datetime) -> dict[str, Any]:
    factors: list[dict[str, Any]] = [
        {"model": "daily_cycle", "hourly": [_round(v) for v in daily_nodes(fit.daily)]}
    ]
    if fit.weekly is not None:
        factors.append({"model": "weekly_cycle", "days": [_round(v) for v in fit.weekly]})
    if fit.growth_per_month is not None:
        factors.append(
            {"model": "trend", "growth_per_month": _round(fit.growth_per_month), "start": start}
        )
    return {"model": "profile", "requests_per_s": _round(fit.base_per_s), "factors": factors}


def _round(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


# =========================================================================== payloads, etc.
def size_points(values: NDArray[np.int64]) -> dict[str, Any] | None:
    """Exact sizes at up to :data:`SIZE_POINTS` points (group means of equal-count groups of the
    sorted sizes: the mean is kept), or None without values."""
    if values.size == 0:
        return None
    v = np.sort(np.maximum(values.astype(np.float64), 1.0))
    groups = np.array_split(v, min(SIZE_POINTS, v.size))
    means = np.array([g.mean() for g in groups])
    weights = np.array([g.size for g in groups], dtype=np.float64)
    # merge equal points (runs of one size)
    uniq, inv = np.unique(np.round(means, 3), return_inverse=True)
    merged_w = np.bincount(inv, weights)
    merged_v = np.bincount(inv, means * weights) / merged_w
    if uniq.size == 1:
        return {"model": "fixed", "bytes": max(1, round(float(merged_v[0])))}
    return {
        "model": "empirical",
        "values_bytes": [_round(float(x), 8) for x in merged_v],
        "weights": [int(w) for w in merged_w],
    }


def fit_payload(log: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """The ``[payload]`` section from the logged sizes (None when the log has none)."""
    import pyarrow.compute as pc

    notes: list[str] = []
    req_known, resp_known = log.known("request_bytes"), log.known("response_bytes")
    if not req_known.any() and not resp_known.any():
        return None, ["the source logs no sizes: payloads keep sim's defaults"]
    if not req_known.any():
        notes.append("the source logs no request sizes: requests keep sim's default size")
    req = log.column("request_bytes", np.int64, 0)
    resp = log.column("response_bytes", np.int64, 0)
    route_col = log.table.column("route").combine_chunks()
    if hasattr(route_col, "dictionary_decode"):
        route_col = route_col.dictionary_decode()
    # each request's route as a small integer: one pass, then integer masks per route
    encoded = pc.dictionary_encode(pc.fill_null(route_col, "-"))
    names = encoded.dictionary.to_pylist()
    route_of = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    counts = np.bincount(route_of, minlength=len(names))
    order = np.argsort(-counts, kind="stable")
    n = log.n
    kept = [int(i) for i in order[:MAX_ROUTES] if counts[i] / n >= MIN_ROUTE_SHARE]

    def sizes(mask: NDArray[np.bool_]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        r = size_points(req[mask & req_known])
        s = size_points(resp[mask & resp_known])
        if r is not None:
            out["request"] = r
        if s is not None:
            out["response"] = s
        return out

    if len(kept) <= 1 and len(names) <= 1:
        return sizes(np.ones(n, dtype=np.bool_)), notes
    routes = []
    in_kept = np.zeros(n, dtype=np.bool_)
    for code in kept:
        mask = route_of == code
        in_kept |= mask
        routes.append({"name": str(names[code])[:200], "share": int(mask.sum()), **sizes(mask)})
    rest = ~in_kept
    if rest.any():
        routes.append({"name": "(other routes)", "share": int(rest.sum()), **sizes(rest)})
    if len(routes) == 1:
        routes[0].pop("name")
        routes[0].pop("share")
        return routes[0], notes
    total = sum(r["share"] for r in routes)
    shares = [r["share"] / total for r in routes]
    rounded = [_round(s, 12) for s in shares]
    rounded[-1] = 1.0 - sum(rounded[:-1])
    for r, s in zip(routes, rounded, strict=True):
        r["share"] = s
    if len(names) > len(kept):
        notes.append(
            f"{len(names):,} routes: the {len(kept)} busiest each get their sizes, the others "
            "share one distribution"
        )
    return {"routes": routes}, notes


def fit_connections(log: Any, idle_timeout_s: float) -> tuple[dict[str, Any] | None, list[str]]:
    from sim.logs.requests import connection_spans

    spans = connection_spans(log, idle_timeout_s)
    n_conn = int(spans.opens.sum())
    if n_conn == 0:
        return None, ["the source names no client connection: connections keep sim's defaults"]
    life = spans.end_s - log.time_s[spans.opens]
    per = float(spans.known.sum()) / n_conn
    return {
        "model": "per_connection",
        "requests_per_connection": _round(max(1.0, per)),
        "lifetime_s": _round(float(life.mean())),
        "lifetime_distribution": "exponential",
    }, []


def fit_durations(log: Any) -> tuple[dict[str, Any] | None, list[str]]:
    known = log.known("duration_ms")
    if not known.any():
        return None, ["the source logs no processing times: Lambda durations keep sim's default"]
    d = np.maximum(log.column("duration_ms", np.float64, 0.0)[known], 0.01)
    sigma = float(np.std(np.log(d)))
    if sigma <= 1e-6:
        return {"model": "fixed", "ms": _round(float(d.mean()))}, []
    return {"model": "lognormal", "mean_ms": _round(float(d.mean())),
            "sigma": _round(min(sigma, 5.0))}, []  # fmt: skip


# =========================================================================== the scenario
@dataclass
class Fit:
    data: dict[str, Any]  # the scenario, as TOML values
    source: FitSource
    profile: ProfileFit
    burst: BurstFit | None
    notes: list[str]

    def toml(self) -> str:
        return scenario_toml(self)


def fit(
    path: str,
    fmt: str = "auto",
    *,
    name: str | None = None,
    region: str = "us-east-1",
    idle_timeout_s: float = 60.0,
    max_malformed_share: float = 0.001,
) -> Fit:
    """Fit a scenario to the source at ``path`` (see the module docstring)."""
    from sim.traffic.profiles import build_profile

    src = load_source(path, fmt, max_malformed_share=max_malformed_share)
    src.idle_timeout_s = idle_timeout_s
    if src.total <= 0:
        raise TraceError(f"{path}: holds no requests to fit")
    start = datetime.fromtimestamp(src.first_hour_s, UTC)
    profile = fit_profile(src)
    traffic = traffic_section(profile, start)
    notes = list(profile.notes)
    burst: BurstFit | None = None
    if src.step_s == 1:
        from sim._model import tuples
        from sim.traffic.models import ProfileTraffic

        cfg = ProfileTraffic.model_validate(tuples(traffic))
        mid = src.first_hour_s + np.arange(src.per_second.size, dtype=np.float64) + 0.5
        expected = build_profile(cfg, float(src.first_hour_s)).rate_per_s(mid)
        burst = fit_burst(
            src.per_second, expected, covered=src.covered_seconds(), first_hour_s=src.first_hour_s
        )
        notes += burst.notes
        section = burst.section()
        if section is not None:
            traffic["burst"] = section
    else:
        notes.append(f"the source counts per {src.step_s} s: no per-second burstiness to fit")
    stem = Path(path.rstrip("/")).name.split(".")[0] or "logs"
    data: dict[str, Any] = {
        "scenario": {
            "name": name or f"{stem}-fit",
            "start": datetime.fromtimestamp(src.begin_s, UTC),
            "duration": _duration(src.end_s - src.begin_s),
            "region": region,
            "seed": 1,
        },
        "traffic": traffic,
    }
    if src.log is not None:
        payload, more = fit_payload(src.log)
        notes += more
        if payload:
            data["payload"] = payload
        conns, more = fit_connections(src.log, idle_timeout_s)
        notes += more
        if conns:
            data["connections"] = conns
        durations, more = fit_durations(src.log)
        notes += more
        if durations:
            data["backend"] = {"duration": durations}
    else:
        notes.append("a counts trace has no sizes, connections or durations: sim's defaults")
    return Fit(data, src, profile, burst, notes)


# =========================================================================== TOML
def toml_value(value: Any) -> str:
    """A TOML value: numbers, booleans, strings, UTC datetimes, arrays and inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value}")
        text = repr(value)
        return text if any(ch in text for ch in ".e") else text + ".0"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


def scenario_toml(f: Fit) -> str:
    """The fitted scenario as a commented TOML file."""
    from sim.output import PROVENANCE_MARK

    src = f.source
    import textwrap

    lines = [f"# {PROVENANCE_MARK}: sim fit {src.path}"]
    intro = (
        f"Fitted to {src.total:,.0f} requests over {src.hours} clock hours from "
        f"{iso_utc(src.first_hour_s)} ({src.kind}). It covers the source's period, so its run "
        "compares hour by hour with the replay; change [scenario] start and duration, or "
        "scale traffic.requests_per_s, for what-if runs and studies."
    )
    lines += [f"# {t}" for t in textwrap.wrap(intro, 96)]
    for note in f.notes:
        lines += [f"# {t}" for t in textwrap.wrap(f"Note: {note}.", 96)]
    lines.append("")
    for section, values in f.data.items():
        lines.append(f"[{section}]")
        lines += _section_comments(section, f)
        routes = values.get("routes", ())
        for key, value in values.items():
            if key == "factors":
                lines.append("factors = [")
                lines += [f"  {toml_value(v)}," for v in value]
                lines.append("]")
            elif key != "routes":
                lines.append(f"{key} = {toml_value(value)}")
        lines.append("")
        for route in routes:
            lines.append(f"[[{section}.routes]]")
            lines += [f"{k} = {toml_value(v)}" for k, v in route.items()]
            lines.append("")
    return "\n".join(lines)


def _section_comments(section: str, f: Fit) -> list[str]:
    p, b = f.profile, f.burst
    if section == "traffic":
        out = [
            f"# rate = base × daily × {'weekly × ' if p.weekly is not None else ''}"
            f"{'trend' if p.growth_per_month is not None else ''}".rstrip(" ×")
            + f"; base {p.base_per_s:.6g} requests/s",
            "# daily levels per clock hour (mean 1): " + " ".join(f"{v:.3g}" for v in p.daily),
        ]
        if b is not None:
            import textwrap

            for sentence in describe(b):
                out += [f"# {t}" for t in textwrap.wrap(sentence, 96)]
        return out
    if section == "payload":
        return ["# logged sizes per route (exact values: group means of the sorted sizes)"]
    if section == "connections":
        return ["# logged requests per connection and mean open time (idle timeout included)"]
    if section == "backend":
        return ["# the logged target processing times (mean and spread of ln)"]
    return []


# =========================================================================== the check
def replay_data(f: Fit) -> dict[str, Any]:
    """The replay of the source as a scenario (TOML values): the fitted scenario's other sections,
    the source's own traffic, over the same clock hours (``request`` fidelity)."""
    src = f.source
    data = {k: dict(v) for k, v in f.data.items() if k != "traffic"}
    data["scenario"] = dict(f.data["scenario"])
    data["scenario"]["name"] = f"{f.data['scenario']['name']}-replay"
    # the same period as the fitted scenario: the source's span
    if src.kind == "trace":
        data["traffic"] = {"model": "replay", "path": str(Path(src.path).resolve()),
                           "format": src.fmt, "loop": False}  # fmt: skip
    else:
        data["traffic"] = {
            "model": "access_log",
            "path": str(Path(src.path).resolve()),
            "format": src.fmt,
            "max_malformed_share": src.max_malformed_share,
            "idle_timeout_s": src.idle_timeout_s,
            "begin": datetime.fromtimestamp(src.begin_s, UTC),  # each request at its own time
        }
    data["engine"] = {"fidelity": "request"}
    return data


def check_fit(f: Fit, *, seeds: int = 5, fidelity: str = "request") -> dict[str, Any]:
    """The fitted scenario (``seeds`` runs) against the replay of its source over the source's
    period: each option's bill, the hourly requests, and the 99th percentile over hours of the
    busiest second (``peak_rps``)."""
    from sim.api import run
    from sim.config import scenario_from_dict

    replay = run(scenario_from_dict(replay_data(f), "<replay of the source>"), None, plots=False)
    fitted_data = {k: dict(v) for k, v in f.data.items()}
    fitted_data["engine"] = {"fidelity": fidelity}
    fitted = scenario_from_dict(fitted_data, "<fitted scenario>")
    runs = [run(fitted, None, seed=s, plots=False) for s in range(1, seeds + 1)]

    def totals(summary: dict[str, Any]) -> dict[str, float]:
        return {o: float(t["total_usd"]) for o, t in summary["options"].items()}

    def col(r: Any, name: str) -> NDArray[np.float64]:
        return np.asarray(r.meters.column(name).to_numpy(), dtype=np.float64)

    want = totals(replay.summary)
    got = [totals(r.summary) for r in runs]
    options = {}
    for option, usd in want.items():
        fitted_usd = float(np.mean([g[option] for g in got]))
        options[option] = {
            "replay_usd": usd,
            "fitted_usd": fitted_usd,
            "fitted_sd_usd": float(np.std([g[option] for g in got], ddof=1)) if seeds > 1 else 0.0,
            "difference": (fitted_usd - usd) / usd if usd else None,
        }
    p99_replay = float(np.quantile(col(replay, "peak_rps"), 0.99))
    p99_runs = [float(np.quantile(col(r, "peak_rps"), 0.99)) for r in runs]
    p99_fitted = float(np.mean(p99_runs))
    return {
        "source": f.source.path,
        "period": {"start": iso_utc(f.source.first_hour_s), "hours": f.source.hours},
        "seeds": seeds,
        "fidelity": fidelity,
        "options": options,
        "largest_bill_difference": max(
            (abs(o["difference"]) for o in options.values() if o["difference"] is not None),
            default=None,
        ),
        "peak_rps_p99": {
            "replay": p99_replay,
            "fitted": p99_fitted,
            "fitted_per_seed": p99_runs,
            "fitted_se": float(np.std(p99_runs, ddof=1) / math.sqrt(seeds)) if seeds > 1 else None,
            "difference": (p99_fitted - p99_replay) / p99_replay if p99_replay else None,
        },
        "hourly": {
            "replay_requests": [float(x) for x in col(replay, "requests")],
            "fitted_requests": [float(x) for x in np.mean([col(r, "requests") for r in runs], 0)],
            "replay_peak_rps": [float(x) for x in col(replay, "peak_rps")],
            "fitted_peak_rps": [float(x) for x in np.mean([col(r, "peak_rps") for r in runs], 0)],
        },
        "burst": None if f.burst is None else f.burst.doc(),
        "notes": f.notes,
    }


def check_lines(doc: dict[str, Any]) -> list[str]:
    """The check as text: each option's bill, replay against fitted, and the peaks."""
    lines = [
        f"fitted scenario ({doc['seeds']} seeds, {doc['fidelity']} fidelity) against the replay "
        f"of {doc['source']} over {doc['period']['hours']} hours from {doc['period']['start']}:"
    ]
    for option, o in doc["options"].items():
        diff = o["difference"]
        lines.append(
            f"  {option}: replay ${o['replay_usd']:,.2f}, fitted ${o['fitted_usd']:,.2f}"
            + (f" ({100 * diff:+.2f}%)" if diff is not None else "")
        )
    p = doc["peak_rps_p99"]
    lines.append(
        f"  busiest second, 99th percentile over hours: replay {p['replay']:,.1f}, fitted "
        f"{p['fitted']:,.1f}"
        + (f" ± {p['fitted_se']:,.1f}" if p.get("fitted_se") is not None else "")
        + (f" ({100 * p['difference']:+.1f}%)" if p["difference"] is not None else "")
    )
    return lines


def check_figure(doc: dict[str, Any]) -> Any:
    """Hourly requests and busiest second: the replay against the fitted scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = doc["hourly"]
    x = np.arange(len(h["replay_requests"]))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    top.plot(x, h["replay_requests"], color="black", lw=1.4, label="replay (the source)")
    top.plot(x, h["fitted_requests"], color="tab:orange", lw=1.2, ls="--",
             label=f"fitted (mean of {doc['seeds']} seeds)")  # fmt: skip
    top.set_ylabel("requests per hour")
    top.legend(loc="upper left", fontsize=8, frameon=False)
    bottom.plot(x, h["replay_peak_rps"], color="black", lw=1.0)
    bottom.plot(x, h["fitted_peak_rps"], color="tab:orange", lw=1.0, ls="--")
    bottom.set_ylabel("busiest second (req/s)")
    bottom.set_xlabel(f"hours from {doc['period']['start']}")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    fig.suptitle(f"Fitted profile against {Path(doc['source']).name}", fontsize=10)
    fig.tight_layout()
    return fig


def summary_lines(f: Fit) -> list[str]:
    """What was fitted, in a few lines."""
    src, p, b = f.source, f.profile, f.burst
    lines = [
        f"{src.path}: {src.total:,.0f} requests over {src.hours} clock hours from "
        f"{iso_utc(src.first_hour_s)}",
        f"  rate: base {p.base_per_s:.6g} requests/s × daily shape (peak/mean "
        f"{p.daily.max():.3g})"
        + (" × weekly shape" if p.weekly is not None else "")
        + (f" × trend {100 * p.growth_per_month:+.2f}%/month" if p.growth_per_month else ""),
    ]
    if b is not None:
        lines += [f"  burst: {sentence}" for sentence in describe(b)]
    for key in ("payload", "connections", "backend"):
        if key in f.data:
            lines.append(f"  {key}: fitted from the source")
    lines += [f"  note: {n}" for n in f.notes]
    return lines
