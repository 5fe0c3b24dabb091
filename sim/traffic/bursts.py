"""Burst processes and random flash crowds: stateful, each exact for its definition.

A burst process turns an expected rate per second (the profile's, already multiplied by any
realised flash crowds) into counts per second, carrying its state across consecutive windows (called
in time order, each a run of consecutive seconds given by their midpoints, epoch seconds). Nothing is
decided once per window: every state change happens at its own continuous time.

* :class:`Mmpp`: a continuous-time Markov chain switches the rate multiplier at exponential times; the
  count of a second is Poisson with mean ``rate × ∫ level(state(t)) dt`` over that second (exact:
  given the state path, a modulated Poisson process is Poisson with the integrated intensity).
* :class:`Hawkes`: the branching (cluster) representation: immigrants are Poisson with rate
  ``rate × (1 − n)``; every event has Poisson(n) children, each after an Exp(τ) delay. Children that
  fall beyond the window are carried to later windows. Per-second counts are returned; the engine
  spreads a second's arrivals uniformly within it, so sub-second clustering is not represented (the
  meters are per second and per minute: nothing billed needs exact times inside a second).
* :class:`OnOff`: sources alternate Pareto ON and OFF periods, starting in the stationary
  (equilibrium-renewal) state; the count of a second is Poisson with mean
  ``rate × (ON source-seconds in it) / E[sources ON]``.
* :class:`FlashCrowds`: onsets Poisson in continuous time, Pareto amplitudes; a multiplier per second.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from sim.traffic.models import FlashCrowdsFactor, HawkesBurst, MmppBurst, OnOffBurst
from sim.traffic.profiles import trapezoid

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class Burst(Protocol):
    """Counts per second from an expected rate per second, with state across windows."""

    @property
    def mean_factor(self) -> float:
        """Long-run mean of the counts over the rate (1 when normalised)."""
        ...

    def counts(
        self, rng: np.random.Generator, t_mid_epoch_s: FloatArray, rate_per_s: FloatArray
    ) -> IntArray:
        """Requests in each second (midpoints given; consecutive seconds, windows in time order)."""
        ...


def window_edges(t_mid_epoch_s: FloatArray) -> tuple[float, float]:
    """``[a, b)`` covered by a run of consecutive seconds given by their midpoints."""
    return float(t_mid_epoch_s[0]) - 0.5, float(t_mid_epoch_s[-1]) + 0.5


def per_second_overlap(
    n_seconds: int, starts: FloatArray, ends: FloatArray, weights: FloatArray | None = None
) -> FloatArray:
    """``Σ_i w_i |[s_i, e_i) ∩ [k, k+1)|`` for ``k = 0 .. n_seconds − 1`` (times relative to the window).

    With ``F(t) = Σ_i w_i |[s_i, e_i) ∩ (−∞, t)| = Σ_i w_i clip(t − s_i, 0, e_i − s_i)``, second ``k``
    gets ``F(k+1) − F(k)``; ``F`` at all edges at once from sorted starts and ends:
    ``F(t) = Σ_{s_i<t} w_i (t − s_i) − Σ_{e_i<t} w_i (t − e_i)``.
    """
    edges = np.arange(n_seconds + 1, dtype=np.float64)
    if starts.size == 0:
        return np.zeros(n_seconds)
    w = np.ones(starts.size) if weights is None else weights

    def ramp(points: FloatArray) -> FloatArray:
        order = np.argsort(points, kind="stable")
        p, ww = points[order], w[order]
        cw = np.concatenate(([0.0], np.cumsum(ww)))
        cwp = np.concatenate(([0.0], np.cumsum(ww * p)))
        k = np.searchsorted(p, edges, side="left")  # points strictly below each edge
        return np.asarray(edges * cw[k] - cwp[k])

    f = ramp(starts) - ramp(ends)
    return np.maximum(np.diff(f), 0.0)


# =========================================================================== MMPP
def mmpp_stationary(sojourn_s: FloatArray, jump: FloatArray) -> FloatArray:
    """Stationary law of the chain: ``π Q = 0`` with ``Q = diag(1/sojourn) (P − I)``."""
    n = sojourn_s.size
    q = (jump - np.eye(n)) / sojourn_s[:, None]
    a = np.vstack([q.T, np.ones(n)])
    rhs = np.concatenate([np.zeros(n), [1.0]])
    pi, *_ = np.linalg.lstsq(a, rhs, rcond=None)
    pi = np.maximum(pi, 0.0)
    return np.asarray(pi / pi.sum())


def default_jumps(n: int) -> FloatArray:
    """Uniform jumps to the other states."""
    p = np.full((n, n), 1.0 / (n - 1))
    np.fill_diagonal(p, 0.0)
    return p


@dataclass
class Mmpp:
    """Markov-modulated Poisson process (see the module docstring)."""

    levels: FloatArray
    sojourn_s: FloatArray
    jump: FloatArray
    _state: int | None = field(default=None, repr=False)
    _next_switch: float = field(default=0.0, repr=False)  # epoch seconds

    @classmethod
    def from_config(cls, cfg: MmppBurst) -> Mmpp:
        sojourn = np.asarray(cfg.sojourn_s, dtype=np.float64)
        n = sojourn.size
        jump = default_jumps(n) if cfg.transitions is None else np.asarray(cfg.transitions)
        levels = np.asarray(cfg.levels, dtype=np.float64)
        if cfg.normalize:
            levels = levels / float(mmpp_stationary(sojourn, jump) @ levels)
        return cls(levels, sojourn, jump)

    @property
    def stationary(self) -> FloatArray:
        return mmpp_stationary(self.sojourn_s, self.jump)

    @property
    def mean_factor(self) -> float:
        return float(self.stationary @ self.levels)

    def counts(
        self, rng: np.random.Generator, t_mid_epoch_s: FloatArray, rate_per_s: FloatArray
    ) -> IntArray:
        a, b = window_edges(t_mid_epoch_s)
        n = self.levels.size
        if self._state is None:  # stationary start; the residual sojourn is Exp again (memoryless)
            self._state = int(np.searchsorted(np.cumsum(self.stationary), rng.random()))
            self._state = min(self._state, n - 1)
            self._next_switch = a + rng.exponential(self.sojourn_s[self._state])
        cum_jump = np.cumsum(self.jump, axis=1)
        knots = [0.0]
        lv: list[float] = []
        state, nxt = self._state, self._next_switch
        while nxt < b:
            knots.append(nxt - a)
            lv.append(float(self.levels[state]))
            state = min(int(np.searchsorted(cum_jump[state], rng.random(), side="right")), n - 1)
            nxt += rng.exponential(self.sojourn_s[state])
        knots.append(b - a)
        lv.append(float(self.levels[state]))
        self._state, self._next_switch = state, nxt
        x = np.asarray(knots)
        cum = np.concatenate(([0.0], np.cumsum(np.diff(x) * np.asarray(lv))))
        rel = t_mid_epoch_s - a
        integral = np.interp(rel + 0.5, x, cum) - np.interp(rel - 0.5, x, cum)
        return rng.poisson(rate_per_s * np.maximum(integral, 0.0)).astype(np.int64)


# =========================================================================== Hawkes
#: Most events simulated to warm a Hawkes process up before the first window.
HAWKES_WARMUP_EVENTS = 2_000_000


@dataclass
class Hawkes:
    """Self-exciting process by its branching representation (see the module docstring).

    Warm-up: the first window is preceded by ``W = 20 τ / (1 − n)`` seconds of simulated history (at
    the first second's rate), begun from the mean excitation; its influence on the first window then
    decays as ``exp(−(1 − n) W / τ) = e^{−20}``. If that history would exceed
    :data:`HAWKES_WARMUP_EVENTS` events, ``W`` is shortened to fit (the start is then mean-exact,
    with a transient in higher moments of about ``τ / (1 − n)`` seconds).
    """

    branching_ratio: float
    decay_s: float
    _pending: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    _started: bool = field(default=False, repr=False)

    @classmethod
    def from_config(cls, cfg: HawkesBurst) -> Hawkes:
        return cls(cfg.branching_ratio, cfg.decay_s)

    @property
    def mean_factor(self) -> float:
        return 1.0

    def _cascade(
        self, rng: np.random.Generator, events: FloatArray, origin: float, span: float
    ) -> IntArray:
        """Process ``events`` (seconds after ``origin``, all in ``[0, span)``) and their descendants
        inside ``[0, span)``: per-second counts of all of them; descendants at or after ``span``
        join the pending events (as epoch seconds).

        Each event has Poisson(n) children: drawn per generation as Poisson(n × size) children, each
        given a parent uniformly at random (the same law: Poisson splitting).
        """
        n, tau = self.branching_ratio, self.decay_s
        size = max(1, math.ceil(span))
        out = np.zeros(size, dtype=np.int64)
        carried = [self._pending]
        current = events
        while current.size:
            out += np.bincount(current.astype(np.int64), minlength=size)[:size]
            k = int(rng.poisson(n * current.size))
            kids = current[rng.integers(0, current.size, k)] + rng.exponential(tau, k)
            inside = kids < span
            carried.append(kids[~inside] + origin)
            current = kids[inside]
        self._pending = np.concatenate(carried)
        return out

    def _warm_up(self, rng: np.random.Generator, a: float, rate0: float) -> None:
        n, tau = self.branching_ratio, self.decay_s
        mu = rate0 * (1 - n)
        if mu <= 0 or n == 0:
            return
        w = 20 * tau / (1 - n)
        w = min(w, HAWKES_WARMUP_EVENTS / max(rate0, 1e-300))
        t0 = a - w
        # the history before t0 at its mean: children still due after t0 ~ Poisson(μ n τ / (1 − n))
        due = t0 + rng.exponential(tau, rng.poisson(mu * n * tau / (1 - n)))
        immigrants = t0 + w * rng.random(rng.poisson(mu * w))
        early = due[due < a]
        self._pending = due[due >= a]
        self._cascade(rng, np.concatenate([immigrants, early]) - t0, t0, w)

    def counts(
        self, rng: np.random.Generator, t_mid_epoch_s: FloatArray, rate_per_s: FloatArray
    ) -> IntArray:
        a, b = window_edges(t_mid_epoch_s)
        if not self._started:
            self._started = True
            self._warm_up(rng, a, float(rate_per_s[0]))
        n = self.branching_ratio
        k = rng.poisson(rate_per_s * (1 - n))
        immigrants = np.repeat(np.arange(k.size, dtype=np.float64), k) + rng.random(int(k.sum()))
        due = self._pending < b
        carried = self._pending[due] - a
        self._pending = self._pending[~due]
        counts = self._cascade(rng, np.concatenate([immigrants, carried]), a, b - a)
        return counts[: t_mid_epoch_s.size]


# =========================================================================== ON/OFF
def pareto_scale(mean_s: float, shape: float) -> float:
    """Minimum ``x_m`` of a Pareto law with the given mean: ``x_m = mean (α − 1) / α``."""
    return mean_s * (shape - 1) / shape


def pareto(rng: np.random.Generator, x_m: FloatArray | float, shape: float, n: int) -> FloatArray:
    """Pareto draws ``x_m U^(−1/α)``."""
    return np.asarray(x_m * (1.0 - rng.random(n)) ** (-1.0 / shape))


def pareto_residual(rng: np.random.Generator, mean_s: float, shape: float, n: int) -> FloatArray:
    """Draws from the equilibrium (forward-recurrence) law of a Pareto period, density ``P(X > x)/mean``.

    Its CDF is ``x/mean`` up to ``x_m`` (reached at ``(α−1)/α``), then
    ``(α−1)/α + (1 − (x_m/x)^(α−1))/α``; inverted piecewise.
    """
    x_m = pareto_scale(mean_s, shape)
    u = rng.random(n)
    knee = (shape - 1) / shape
    tail = x_m * np.maximum(shape * (1 - u), 1e-300) ** (-1.0 / (shape - 1))
    return np.asarray(np.where(u < knee, u * mean_s, tail))


@dataclass
class OnOff:
    """Superposed ON/OFF sources with Pareto periods (see the module docstring)."""

    sources: int
    on_mean_s: float
    off_mean_s: float
    shape: float
    _on: NDArray[np.bool_] | None = field(default=None, repr=False)
    _period_start: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    _period_end: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)

    @classmethod
    def from_config(cls, cfg: OnOffBurst) -> OnOff:
        return cls(cfg.sources, cfg.on_mean_s, cfg.off_mean_s, cfg.pareto_shape)

    @property
    def p_on(self) -> float:
        return self.on_mean_s / (self.on_mean_s + self.off_mean_s)

    @property
    def mean_factor(self) -> float:
        return 1.0

    def _start(self, rng: np.random.Generator, a: float) -> None:
        on = rng.random(self.sources) < self.p_on
        residual_on = pareto_residual(rng, self.on_mean_s, self.shape, self.sources)
        residual_off = pareto_residual(rng, self.off_mean_s, self.shape, self.sources)
        self._on = on
        self._period_start = np.full(self.sources, a)
        self._period_end = a + np.where(on, residual_on, residual_off)

    def on_seconds(self, rng: np.random.Generator, a: float, b: float) -> FloatArray:
        """Source-seconds ON in each second of ``[a, b)``, advancing every source to ``b``."""
        if self._on is None:
            self._start(rng, a)
        assert self._on is not None
        on, ps, pe = self._on, self._period_start, self._period_end
        starts: list[FloatArray] = []
        ends: list[FloatArray] = []
        x_on = pareto_scale(self.on_mean_s, self.shape)
        x_off = pareto_scale(self.off_mean_s, self.shape)
        cycle = self.on_mean_s + self.off_mean_s
        switching = pe < b
        # sources whose current period runs past the window: its ON part, up to b
        stay = np.flatnonzero(~switching & on)
        starts.append(np.maximum(ps[stay], a))
        ends.append(np.full(stay.size, b))
        # sources whose current period ends inside: its ON part, then the periods that follow
        done = np.flatnonzero(switching & on)
        starts.append(np.maximum(ps[done], a))
        ends.append(pe[done])
        idx = np.flatnonzero(switching)
        while idx.size:
            k = int(min(max(8, 2 * (b - a) / cycle + 8), max(8, 4_000_000 // idx.size)))
            # new period j is ON iff the current state flipped j + 1 times is ON
            state = (~on[idx])[:, None] ^ (np.arange(k) % 2 == 1)[None, :]
            scale = np.where(state, x_on, x_off)
            d = scale * (1.0 - rng.random((idx.size, k))) ** (-1.0 / self.shape)
            e = pe[idx][:, None] + np.cumsum(d, axis=1)
            s = e - d
            begun = s < b  # the first new period begins at the old end, inside the window
            rec = begun & state
            starts.append(s[rec])
            ends.append(np.minimum(e[rec], b))
            # the last period begun inside the window becomes the current one
            last = begun.sum(axis=1) - 1
            rows = np.arange(idx.size)
            on[idx] = state[rows, last]
            ps[idx] = s[rows, last]
            pe[idx] = e[rows, last]
            idx = idx[pe[idx] < b]  # all k periods ended inside: draw more
        st, en = np.concatenate(starts), np.concatenate(ends)
        keep = en > st
        return per_second_overlap(round(b - a), st[keep] - a, en[keep] - a)

    def counts(
        self, rng: np.random.Generator, t_mid_epoch_s: FloatArray, rate_per_s: FloatArray
    ) -> IntArray:
        a, b = window_edges(t_mid_epoch_s)
        on_s = self.on_seconds(rng, a, b)
        mean_on = self.sources * self.p_on
        return rng.poisson(rate_per_s * on_s / mean_on).astype(np.int64)


# =========================================================================== flash crowds
@dataclass
class FlashCrowds:
    """Realised flash crowds: a multiplier ``1 + Σ_k (A_k − 1) s(t − onset_k)`` per second."""

    cfg: FlashCrowdsFactor
    _onsets: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    _amplitudes: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    _until: float | None = field(default=None, repr=False)

    @property
    def mean_factor(self) -> float:
        return self.cfg.mean_factor

    def _draw(self, rng: np.random.Generator, a: float, b: float) -> None:
        c = self.cfg
        n = rng.poisson(c.per_day / 86_400 * (b - a))
        onsets = a + (b - a) * rng.random(n)
        amp = c.amplitude_min * (1.0 - rng.random(n)) ** (-1.0 / c.amplitude_shape)
        if c.amplitude_max is not None:
            amp = np.minimum(amp, c.amplitude_max)
        self._onsets = np.concatenate([self._onsets, onsets])
        self._amplitudes = np.concatenate([self._amplitudes, amp])

    def factor(self, rng: np.random.Generator, t_mid_epoch_s: FloatArray) -> FloatArray:
        """The multiplier at each second's midpoint (windows in time order)."""
        a, b = window_edges(t_mid_epoch_s)
        c = self.cfg
        if self._until is None:  # crowds begun before the first window, still under way
            self._until = a - c.span_s
        self._draw(rng, self._until, b)
        self._until = b
        live = self._onsets + c.span_s > a
        self._onsets, self._amplitudes = self._onsets[live], self._amplitudes[live]
        out = np.ones(t_mid_epoch_s.size)
        for onset, amp in zip(self._onsets, self._amplitudes, strict=True):
            lo = int(max(0, math.floor(onset - a)))
            hi = int(min(t_mid_epoch_s.size, math.ceil(onset + c.span_s - a) + 1))
            if hi > lo:
                dt = t_mid_epoch_s[lo:hi] - onset
                out[lo:hi] += (amp - 1) * trapezoid(dt, c.ramp_up_s, c.duration_s, c.decay_s)
        return out


#: ``burst`` model -> builder.
BURSTS: dict[str, Callable[[Any], Burst]] = {
    "mmpp": Mmpp.from_config,
    "hawkes": Hawkes.from_config,
    "on_off": OnOff.from_config,
}
