"""An inhomogeneous Poisson stream summarised hour by hour, without its 3,600 seconds per hour.

The engines draw a Poisson count for every second with the rate at the second's midpoint,
``λ_s = λ(s + ½)``. The ``aggregate`` engine's hourly path (:mod:`sim.engine.aggregate`) needs, per
clock hour, only

* the hour's expected count ``Λ = Σ_s λ_s`` (the hour's count is ``Poisson(Λ)``) and each minute's
  (``Poisson`` splitting: the minutes' counts are independent Poissons that add up to the hour's);
* an upper bound of the hour's ``λ_s`` (for the bounds that decide whether a per-second mechanism
  can act in the hour);
* the distribution of the hour's busiest second, ``P(max_s N_s ≤ m) = Π_s F(m; λ_s)``
  (``F`` the Poisson CDF), to draw ``peak_rps`` from it exactly.

:class:`PoissonRate` is the deterministic rate of a stream (a scale times a product of shapes from
:mod:`sim.traffic.profiles`, each of which knows its period, its breakpoints and its maxima), and
:func:`hourly_rates` computes the above for every hour of a period.

How the sums are computed, and how exact they are:

* Each hour is cut at the profile's breakpoints (a scheduled peak's corners, a weekly step, a
  user-given day's hourly levels) into *pieces* on which the rate is analytic. A sum
  ``Σ_{j<n} f(x₀ + j + ½)`` over a piece is computed with the **discrete Gauss rule** for ``n``
  equally spaced points (:func:`discrete_gauss`: nodes and weights of the orthogonal polynomials of
  the uniform measure on ``n`` points, Golub–Welsch), which is exact for every polynomial of degree
  ``< 2K`` with ``K`` nodes; its error for an analytic ``f`` is that of Gauss–Legendre,
  ``C_K · max|f^(2K)|`` (:func:`gauss_error_factor`). The number of nodes is chosen per piece
  (and a piece cut into panels) so that the bound, for an integrand that varies like
  ``exp(α x)`` on the panel mapped to ``[−1, 1]``, is below ``GAUSS_RELATIVE_ERROR`` (1e-10)
  relative: ``α`` is the larger of half the log-range of ``λ`` over the piece and, for the peak's
  distribution, ``c · (λ_max − λ_min) / 2`` with ``c = d log P(N > m) / dλ`` at the top of the
  table (how fast the Poisson tail changes with the rate). Tests check the sums and the peak's
  distribution against the 3,600 terms for the shipped profiles and steep ones.
* A minute's expected count is ``n · λ(centre)`` for each run of its seconds between breakpoints
  (exact for a rate linear over the run; otherwise off by at most ``n (n² − 1) / 24 · max|λ''|``,
  about 1e-6 of the minute's count for a daily cycle), then the hour's minutes are scaled to add up
  to the hour's ``Λ``.
* The peak's distribution: ``log P(max ≤ m) = Σ_s log F(m; λ_s)`` by the same rule, for every
  ``m`` of a table from below ``P(max < m) = 10⁻¹²`` to above ``P(max > m) = 10⁻¹²`` (union bound),
  from one Poisson CDF and one survival function per node and the Poisson probabilities in between.
  A peak drawn by inversion from it has the exact distribution up to the quadrature error (a CDF
  error ``|e^G − e^Ĝ| ≤ |G − Ĝ|``) and those two tails.
* Hours that repeat (the profile has a period, e.g. a daily or weekly cycle, and the hours start
  at the same phase with the same length) share one computation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaln, ndtri, pdtr, pdtrc

from sim.units import SECONDS_PER_HOUR, SECONDS_PER_MINUTE

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Target relative error of a Gauss sum for an integrand varying like ``exp(α x)`` on ``[−1, 1]``.
GAUSS_RELATIVE_ERROR = 1e-10
#: Node counts used per panel, smallest first.
GAUSS_NODES = (4, 8, 16)
#: The peak's table starts where ``log P(max ≤ m)`` is below this (``P < 10⁻¹²``) ...
LOG_CDF_FLOOR = math.log(1e-12)
#: ... and ends where the union bound ``n · P(N > m)`` at the hour's highest rate is below this.
UPPER_TAIL = 1e-12
#: Largest ``types × nodes × table rows`` computed at once (memory of the peak tables).
_CHUNK_CELLS = 2_000_000


@runtime_checkable
class Shape(Protocol):
    """A non-negative function of time that describes itself (see :mod:`sim.traffic.profiles`)."""

    @property
    def period_s(self) -> int | None: ...

    def __call__(self, t_epoch_s: FloatArray) -> FloatArray: ...

    def breakpoints(self, t0_s: float, t1_s: float) -> FloatArray: ...

    def critical(self, t0_s: float, t1_s: float) -> tuple[FloatArray, FloatArray]: ...


@dataclass(frozen=True)
class _ProfileShape:
    """A whole rate profile (constant, daily cycle) as a shape."""

    profile: Any

    @property
    def period_s(self) -> int | None:
        return int(self.profile.period_s) if self.profile.period_s is not None else None

    def __call__(self, t_epoch_s: FloatArray) -> FloatArray:
        return np.asarray(self.profile.rate_per_s(t_epoch_s), dtype=np.float64)

    def breakpoints(self, t0_s: float, t1_s: float) -> FloatArray:
        return np.asarray(self.profile.breakpoints(t0_s, t1_s), dtype=np.float64)

    def critical(self, t0_s: float, t1_s: float) -> tuple[FloatArray, FloatArray]:
        t, v = self.profile.critical(t0_s, t1_s)
        return np.asarray(t, dtype=np.float64), np.asarray(v, dtype=np.float64)


@dataclass(frozen=True)
class PoissonRate:
    """The rate of a Poisson stream: ``scale × Π shapes(t)``, requests/s."""

    scale: float
    shapes: tuple[Shape, ...]

    @classmethod
    def of(cls, arrivals: Any) -> PoissonRate | None:
        """The rate of ``arrivals`` when it is a Poisson stream with a deterministic rate that
        describes itself (constant, daily cycle, a composable profile without flash crowds and
        without a burst process); None otherwise (sessions, bursts, flash crowds, replays)."""
        from sim.traffic.arrivals import ModulatedArrivals, PoissonArrivals
        from sim.traffic.profiles import ConstantProfile, DailyCycleProfile

        if isinstance(arrivals, PoissonArrivals):
            if isinstance(arrivals.profile, ConstantProfile | DailyCycleProfile):
                return cls(float(arrivals.scale), (_ProfileShape(arrivals.profile),))
            return None
        if isinstance(arrivals, ModulatedArrivals):
            if arrivals._flash is not None or arrivals._burst is not None:
                return None
            profile = arrivals._profile
            if profile is None or not all(isinstance(f, Shape) for f in profile.factors):
                return None
            return cls(float(profile.base_per_s * arrivals.scale), tuple(profile.factors))  # type: ignore[arg-type]
        return None

    def __call__(self, t_epoch_s: FloatArray) -> FloatArray:
        t = np.asarray(t_epoch_s, dtype=np.float64)
        out = np.full(t.shape, self.scale, dtype=np.float64)
        for shape in self.shapes:
            out *= shape(t)
        return out

    @property
    def period_s(self) -> int | None:
        """A common period of every shape (their least common multiple), or None."""
        periods = [s.period_s for s in self.shapes]
        if any(p is None for p in periods):
            return None
        return math.lcm(SECONDS_PER_HOUR, *(int(p) for p in periods if p is not None))

    def breakpoints(self, t0_s: float, t1_s: float) -> FloatArray:
        """Sorted instants in ``(t0, t1)`` where some shape is not analytic."""
        parts = [s.breakpoints(t0_s, t1_s) for s in self.shapes]
        return np.unique(np.concatenate([np.zeros(0), *parts]))

    def upper(self, t0_s: FloatArray, t1_s: FloatArray) -> FloatArray:
        """An upper bound of the rate over each ``[t0, t1]`` (intervals sorted, not
        overlapping): per shape, the largest of its values at the ends and at its critical
        instants inside; their product."""
        out = np.full(t0_s.shape, self.scale, dtype=np.float64)
        if t0_s.size == 0:
            return out
        lo, hi = float(t0_s.min()), float(t1_s.max())
        for shape in self.shapes:
            top = np.maximum(shape(t0_s), shape(t1_s))
            t, v = shape.critical(lo, hi)
            if t.size:
                i = np.searchsorted(t0_s, t, side="right") - 1
                ok = (i >= 0) & (t <= t1_s[np.maximum(i, 0)])
                np.maximum.at(top, i[ok], v[ok])
            out *= top
        return out


@lru_cache(maxsize=256)
def discrete_gauss(n: int, k: int) -> tuple[FloatArray, FloatArray]:
    """Nodes ``x ∈ [0, n − 1]`` and weights of the ``k``-point Gauss rule for the sum over the
    points ``0, 1, …, n − 1``: ``Σ_j f(j) ≈ Σ_i w_i f(x_i)``, exact for polynomials of degree
    ``< 2k``. The monic discrete Chebyshev (Gram) polynomials of those points satisfy
    ``p_{i+1}(x) = (x − (n − 1)/2) p_i(x) − β_i p_{i−1}(x)``, ``β_i = i² (n² − i²) / (4 (4i² − 1))``;
    the nodes are the eigenvalues of their Jacobi matrix and the weights ``n`` times the squared
    first components of its eigenvectors (Golub and Welsch, 1969). With ``k ≥ n``: the points."""
    if k >= n:
        return np.arange(n, dtype=np.float64), np.ones(n)
    i = np.arange(1, k, dtype=np.float64)
    beta = i * i * (n * n - i * i) / (4 * (4 * i * i - 1))
    jacobi = np.diag(np.sqrt(beta), 1)
    jacobi = jacobi + jacobi.T
    x, v = np.linalg.eigh(jacobi)
    nodes = x + (n - 1) / 2
    weights = n * v[0] ** 2
    return np.asarray(nodes, dtype=np.float64), np.asarray(weights, dtype=np.float64)


def gauss_error_factor(k: int) -> float:
    """``C_k = 2^(2k+1) (k!)⁴ / ((2k + 1) ((2k)!)³)``: the ``k``-point Gauss–Legendre rule on
    ``[−1, 1]`` errs by ``C_k · f^(2k)(ξ)`` for some ``ξ``."""
    log_c = (
        (2 * k + 1) * math.log(2) + 4 * math.lgamma(k + 1) - math.log(2 * k + 1)
        - 3 * math.lgamma(2 * k + 1)
    )  # fmt: skip
    return math.exp(log_c)


def _alpha_limit(k: int) -> float:
    """The largest ``α`` for which ``C_k α^(2k+1)`` (the relative error bound for ``exp(α x)``,
    whose integral over ``[−1, 1]`` is about ``e^α / α``) stays below the target."""
    return float((GAUSS_RELATIVE_ERROR / gauss_error_factor(k)) ** (1.0 / (2 * k + 1)))


_ALPHA = {k: _alpha_limit(k) for k in GAUSS_NODES}


def nodes_for(alpha: FloatArray) -> tuple[IntArray, IntArray]:
    """Per piece: Gauss nodes per panel and panels, for an integrand varying like ``exp(α x)``."""
    k = np.full(alpha.shape, GAUSS_NODES[-1], dtype=np.int64)
    for nodes in reversed(GAUSS_NODES[:-1]):
        k[alpha <= _ALPHA[nodes]] = nodes
    panels = np.maximum(1, np.ceil(alpha / _ALPHA[GAUSS_NODES[-1]])).astype(np.int64)
    return k, panels


def _segments(points: IntArray, lo: IntArray, hi: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Cut the disjoint, sorted segments ``[lo_r, hi_r)`` at ``points`` (any integers): the cells
    ``[start, end)`` and the segment of each."""
    cuts = np.unique(np.concatenate((points, lo, hi)))
    start, end = cuts[:-1], cuts[1:]
    seg = np.searchsorted(lo, start, side="right") - 1
    ok = (seg >= 0) & (end <= hi[np.maximum(seg, 0)]) & (start >= lo[np.maximum(seg, 0)])
    return start[ok], end[ok], seg[ok]


@dataclass
class HourlyRates:
    """Per-hour summaries of a Poisson stream's per-second rates (see the module docstring).

    Hours that share a *type* have the same per-second rates. Per type: ``seconds`` (of the hour
    inside the period), ``expected`` (``Σ_s λ_s``), ``per_minute`` (``(types, 60)``: each minute's
    ``Σ λ_s``, zero outside the period), ``upper`` (a bound of the largest ``λ_s``), ``m_top`` (a
    count with ``P(max_s N_s > m_top) ≤ 10⁻¹²`` by the union bound at ``upper``), and the
    quadrature nodes of its seconds: their rates and weights, type after type (``node_start``).
    """

    rate: PoissonRate
    types: IntArray  # per hour of the run
    seconds: IntArray
    expected: FloatArray
    per_minute: FloatArray
    upper: FloatArray
    m_top: IntArray
    node_rate: FloatArray
    node_w: FloatArray
    node_start: IntArray  # per type, and one past the last

    def peak_log_cdf(self, kinds: IntArray) -> tuple[IntArray, FloatArray]:
        """For each type in ``kinds``: a first ``m`` and ``log P(max ≤ m)`` for ``m = m_lo,
        m_lo + 1, …`` with ``P(max < m_lo) < 10⁻¹²`` and ``P(max > the last) < 10⁻¹²`` (rows
        padded to one length with 0, i.e. ``P = 1``)."""
        lowest = np.full(kinds.size, LOG_CDF_FLOOR)
        return self._bracket(kinds, lowest, np.full(kinds.size, math.log1p(-UPPER_TAIL)))

    def sample_peaks(self, rng: np.random.Generator, hour_types: IntArray) -> IntArray:
        """The busiest second of each hour (types given), drawn by inversion of its
        distribution: the first ``m`` with ``log P(max ≤ m) ≥ log U``. Per type, only the rows
        between the lowest and the highest of its hours' ``log U`` are computed."""
        if hour_types.size == 0:
            return np.zeros(0, np.int64)
        kinds, which = np.unique(hour_types, return_inverse=True)
        log_u = np.log(rng.random(hour_types.size))
        lowest = np.zeros(kinds.size)
        highest = np.full(kinds.size, -np.inf)
        np.minimum.at(lowest, which, log_u)
        np.maximum.at(highest, which, log_u)
        m_lo, table = self._bracket(kinds, lowest, highest)
        below = (table[which] < log_u[:, None]).sum(axis=1)
        return np.asarray(m_lo[which] + below, dtype=np.int64)

    def _nodes(self, kinds: IntArray) -> tuple[FloatArray, FloatArray]:
        """The types' node rates and weights, padded to one width (rate 0 and weight 0)."""
        start, stop = self.node_start[kinds], self.node_start[kinds + 1]
        count = stop - start
        width = int(count.max())
        lam = np.zeros((kinds.size, width))
        w = np.zeros((kinds.size, width))
        row = np.repeat(np.arange(kinds.size), count)
        col = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        flat = np.repeat(start, count) + col
        lam[row, col] = self.node_rate[flat]
        w[row, col] = self.node_w[flat]
        return lam, w

    def _bracket(
        self, kinds: IntArray, lowest: FloatArray, highest: FloatArray
    ) -> tuple[IntArray, FloatArray]:
        """Rows of ``log P(max ≤ m)`` from an ``m_lo`` where it is below ``lowest`` (or
        ``m_lo = 0``) to an ``m`` where it is at least ``highest``."""
        lam, w = self._nodes(kinds)
        n = self.seconds[kinds].astype(np.float64)
        top = lam.max(axis=1)
        root = np.sqrt(top)
        # first guesses, for a steady hour at the highest node rate: where its n seconds give
        # log P(max ≤ m) = lowest and = highest (n · P(N > m) ≈ −log P)
        z_lo = -ndtri(np.clip(-lowest / n, 1e-300, 0.5))
        z_hi = -ndtri(np.clip(-highest / n, 1e-300, 0.5))
        m_top = np.ceil(top + z_hi * root + z_hi * z_hi / 3 + 1).astype(np.int64)
        m_lo = np.clip(np.floor(top + z_lo * root - 1), 0, m_top).astype(np.int64)
        rows = self._log_cdf_rows(lam, w, m_lo, m_top)
        step = np.ceil(root + 2).astype(np.int64)
        while True:  # widen where a guess fell short, computing only the rows added
            low = np.array(
                [bool(g[0] >= lowest[i] and m_lo[i] > 0) for i, g in enumerate(rows)], np.bool_
            )
            high = np.array([bool(g[-1] < highest[i]) for i, g in enumerate(rows)], np.bool_)
            if not (low.any() or high.any()):
                break
            if low.any():
                i = np.flatnonzero(low)
                new_lo = np.maximum(0, m_lo[i] - step[i])
                extra = self._log_cdf_rows(lam[i], w[i], new_lo, m_lo[i] - 1)
                for j, g in zip(i.tolist(), extra, strict=True):
                    rows[j] = np.concatenate((g, rows[j]))
                m_lo[i] = new_lo
            if high.any():
                i = np.flatnonzero(high)
                extra = self._log_cdf_rows(lam[i], w[i], m_top[i] + 1, m_top[i] + step[i])
                for j, g in zip(i.tolist(), extra, strict=True):
                    rows[j] = np.concatenate((rows[j], g))
                m_top[i] += step[i]
            step *= 2
        width = max(r.size for r in rows)
        table = np.zeros((kinds.size, width))
        for k, r in enumerate(rows):
            table[k, : r.size] = r
        return m_lo, table

    @staticmethod
    def _log_cdf_rows(
        lam: FloatArray, w: FloatArray, m_lo: IntArray, m_top: IntArray
    ) -> list[FloatArray]:
        """Per type: ``Σ_i w_i log F(m; λ_i)`` for ``m = m_lo … m_top`` (nodes padded with
        ``w = 0``). Types are taken in groups of about the same width."""
        out: list[FloatArray] = [np.zeros(0)] * lam.shape[0]
        nodes = (w > 0).sum(axis=1)
        span = m_top - m_lo + 1
        order = np.lexsort((span, nodes))
        a = 0
        while a < order.size:
            # a group: up to the chunk's cells, padded to its widest type
            b = a + 1
            while (
                b < order.size
                and (b - a + 1) * int(nodes[order[b]]) * int(span[order[a : b + 1]].max())
                <= _CHUNK_CELLS
                and nodes[order[b]] <= 2 * nodes[order[a]] + 4
            ):
                b += 1
            sel = order[a:b]
            width, rows = int(nodes[sel].max()), int(span[sel].max())
            g = _log_cdf_block(lam[sel, :width], w[sel, :width], m_lo[sel], rows)
            for j, i in enumerate(sel.tolist()):
                out[i] = g[j, : int(span[i])]
            a = b
        return out


def _log_cdf_block(lam: FloatArray, w: FloatArray, m_lo: IntArray, rows: int) -> FloatArray:
    """``Σ_i w_i log F(m; λ_i)`` for ``m = m_lo + r``, ``r < rows`` (``(types, rows)``)."""
    k, nodes = lam.shape
    lam = np.maximum(np.where(w > 0, lam, 0.0), 1e-300).ravel()  # padding: rate 0, F = 1
    r = np.arange(rows, dtype=np.float64)
    lo = np.repeat(m_lo.astype(np.float64), nodes)
    log_lam = np.log(lam)
    # layout (rows, type × node): the cumulative sums run down contiguous columns
    log_gamma = np.repeat(gammaln(m_lo[None, :] + r[:, None] + 1.0), nodes, axis=1)
    p = np.exp(r[:, None] * log_lam + (lo * log_lam - lam) - log_gamma)  # P(N = m)
    # P(N > m): from P(N > the last m) down, adding positive terms (no cancellation)
    tail = np.cumsum(p[:0:-1], axis=0)[::-1]
    tail = np.concatenate((tail, np.zeros((1, tail.shape[1]))), axis=0)
    tail += pdtrc(lo + (rows - 1), lam)
    log_f = np.log1p(-np.minimum(tail, 0.5))
    low = np.flatnonzero(tail[0] >= 0.5)  # columns where F < 1/2 somewhere: log F itself
    if low.size:
        cdf = np.cumsum(p[1:, low], axis=0)
        cdf = np.concatenate((np.zeros((1, low.size)), cdf), axis=0)
        cdf += pdtr(lo[low], lam[low])
        with np.errstate(divide="ignore"):
            log_f[:, low] = np.where(tail[:, low] >= 0.5, np.log(cdf), log_f[:, low])
    return np.asarray(np.einsum("rtn,tn->tr", log_f.reshape(rows, k, nodes), w))


def hourly_rates(rate: PoissonRate, origin_epoch_s: int, start_s: int, end_s: int) -> HourlyRates:
    """The per-hour summaries of ``rate`` for the hours of ``[start_s, end_s)`` (seconds from
    ``origin_epoch_s``, a whole hour; hour ``h`` is ``[3600 h, 3600 (h + 1))``)."""
    n_hours = -(-end_s // SECONDS_PER_HOUR)
    h = np.arange(n_hours, dtype=np.int64)
    a = np.maximum(h * SECONDS_PER_HOUR, start_s)
    b = np.minimum((h + 1) * SECONDS_PER_HOUR, end_s)
    epoch_a = origin_epoch_s + a
    period = rate.period_s
    if period is not None:
        # an hour's type: its phase in the period and its length (< 4096 s)
        key = (epoch_a % period) * 4096 + (b - a)
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        order = np.argsort(first)
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        types = rank[inverse]
        reps = first[order]
    else:
        types = h.copy()
        reps = h.copy()
    lo, hi = a[reps], b[reps]
    n_types = reps.size
    seconds = hi - lo

    # the rate's breakpoints, as the first engine second on their right (by the second's midpoint)
    bp = rate.breakpoints(float(origin_epoch_s + start_s), float(origin_epoch_s + end_s))
    splits = np.unique(np.ceil(bp - origin_epoch_s - 0.5).astype(np.int64))
    seg_of = np.searchsorted(lo, splits, side="right") - 1
    inside = (seg_of >= 0) & (splits > lo[np.maximum(seg_of, 0)])
    splits = splits[inside & (splits < hi[np.maximum(seg_of, 0)])]  # those that cut a type's hour

    # minute cells: each minute's run of seconds between breakpoints
    edges = np.clip(
        reps[:, None] * SECONDS_PER_HOUR + np.arange(0, SECONDS_PER_HOUR + 1, 60), lo[:, None],
        hi[:, None],
    )  # fmt: skip
    if splits.size == 0:  # no sorting: each type's minutes, the empty ones left out
        keep = np.diff(edges, axis=1) > 0
        c0, c1 = edges[:, :-1][keep], edges[:, 1:][keep]
        cseg = np.nonzero(keep)[0]
    else:
        c0, c1, cseg = _segments(np.concatenate((edges.ravel(), splits)), lo, hi)
    # each cell's sum by the 2-point discrete Gauss rule (exact for cubics)
    cell_len = c1 - c0
    cell_sum = np.zeros(c0.size)
    cell_rate = np.zeros(c0.size)  # the larger of its two nodes' rates: a cell's level
    for n in np.unique(cell_len).tolist():
        which = np.flatnonzero(cell_len == n)
        x, w = discrete_gauss(int(n), 2)
        r = rate(origin_epoch_s + c0[which, None] + 0.5 + x[None, :])
        cell_sum[which] = r @ w
        cell_rate[which] = r.max(axis=1)
    minute_of = (c0 // SECONDS_PER_MINUTE) - (reps[cseg] * SECONDS_PER_HOUR) // SECONDS_PER_MINUTE

    # upper bounds of the per-second rates (their midpoints), per type: over the hour, or, where
    # that is loose (factors peaking at different moments), the largest over its cells
    # (times 1 + 1e-9: hours of one type are computed at the first one's instants; a later one's
    # rates differ by floating-point rounding, about 1e-11 of the rate)
    upper = rate.upper(origin_epoch_s + lo + 0.5, origin_epoch_s + hi - 0.5)
    seen = np.zeros(n_types)
    np.maximum.at(seen, cseg, cell_rate)
    loose = np.flatnonzero(upper > 1.001 * seen)
    if loose.size:
        cells = np.flatnonzero(np.isin(cseg, loose))
        fine = rate.upper(origin_epoch_s + c0[cells] + 0.5, origin_epoch_s + c1[cells] - 0.5)
        tight = np.zeros(n_types)
        np.maximum.at(tight, cseg[cells], fine)
        upper[loose] = np.minimum(upper[loose], tight[loose])
    upper = upper * (1 + 1e-9)
    # an m with n · P(N > m) ≤ UPPER_TAIL at the bound: P(max > m) ≤ UPPER_TAIL
    m_top = np.ceil(upper + 8.0 * np.sqrt(upper) + 12).astype(np.int64)
    while True:
        over = seconds * pdtrc(m_top.astype(np.float64), upper) > UPPER_TAIL
        if not over.any():
            break
        m_top[over] += np.ceil(0.5 * np.sqrt(upper[over]) + 1).astype(np.int64)
    # how fast the Poisson tail changes with the rate, d log P(N > m) / dλ = P(N = m) / P(N > m),
    # where the peak's CDF is 1 − 1e-3 or so: above, log P(max ≤ m) is too small for a relative
    # error to matter, below the tail changes more slowly
    m_c = np.ceil(seen + 5.3 * np.sqrt(seen) + 4)
    tail = pdtrc(m_c, seen)
    dens = np.exp(m_c * np.log(np.maximum(seen, 1e-300)) - seen - gammaln(m_c + 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        steep = np.where(tail > 0, dens / tail, 0.0)
    steep = np.where(np.isfinite(steep), steep, 0.0)

    # pieces: the runs between breakpoints; their nodes
    if splits.size == 0:
        p0, p1, pseg = lo, hi, np.arange(n_types)
    else:
        p0, p1, pseg = _segments(splits, lo, hi)
    piece_of_cell = np.searchsorted(p0, c0, side="right") - 1
    r_max = np.full(p0.size, 0.0)
    r_min = np.full(p0.size, np.inf)
    np.maximum.at(r_max, piece_of_cell, cell_rate)
    np.minimum.at(r_min, piece_of_cell, cell_rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_range = np.where(r_min > 0, np.log(r_max / r_min), 0.0)
    alpha = np.maximum(0.5 * log_range, 0.5 * steep[pseg] * (r_max - r_min))
    k, panels = nodes_for(alpha)
    length = p1 - p0
    every = k * panels >= length  # as many nodes as seconds: take the seconds themselves
    k[every], panels[every] = length[every], 1
    t_list: list[FloatArray] = []
    w_list: list[FloatArray] = []
    s_list: list[IntArray] = []
    for kk, pp in {(int(x), int(y)) for x, y in zip(k.tolist(), panels.tolist(), strict=True)}:
        sel = np.flatnonzero((k == kk) & (panels == pp))
        for j in range(pp):  # panel j of each piece: its share of the seconds
            u = p0[sel] + (length[sel] * j) // pp
            v = p0[sel] + (length[sel] * (j + 1)) // pp
            for n in np.unique(v - u).tolist():
                if n <= 0:
                    continue
                which = (v - u) == n
                x, w = discrete_gauss(int(n), kk)
                t_list.append((origin_epoch_s + u[which, None] + 0.5 + x[None, :]).ravel())
                w_list.append(np.tile(w, int(which.sum())))
                s_list.append(np.repeat(pseg[sel[which]], x.size))
    node_t = np.concatenate(t_list)
    node_w = np.concatenate(w_list)
    node_seg = np.concatenate(s_list)
    order = np.argsort(node_seg, kind="stable")
    node_t, node_w, node_seg = node_t[order], node_w[order], node_seg[order]
    node_rate = rate(node_t)
    node_start = np.concatenate(([0], np.cumsum(np.bincount(node_seg, minlength=n_types))))

    expected = np.bincount(node_seg, weights=node_w * node_rate, minlength=n_types)
    per_minute = np.zeros((n_types, 60))
    np.add.at(per_minute, (cseg, minute_of), cell_sum)
    total = per_minute.sum(axis=1)
    scale = np.divide(expected, total, out=np.zeros(n_types), where=total > 0)
    per_minute *= scale[:, None]
    return HourlyRates(
        rate=rate,
        types=np.asarray(types, np.int64),
        seconds=np.asarray(seconds, np.int64),
        expected=np.asarray(expected, np.float64),
        per_minute=per_minute,
        upper=np.asarray(upper, np.float64),
        m_top=m_top,
        node_rate=np.asarray(node_rate, np.float64),
        node_w=np.asarray(node_w, np.float64),
        node_start=np.asarray(node_start, np.int64),
    )
