"""Replay of a real trace as an arrival process.

The trace instant ``begin`` (default: the trace's first timestamp, rounded to a whole second) plays at
the scenario's start; simulated second ``t`` plays trace second ``t − start + offset``. With ``loop``
the trace repeats end to start (its span is a whole number of steps, so a step never straddles the
seam); without it, the traffic stops when the trace does.

Within a counted step of ``step_s`` seconds, the ``C`` counted requests are spread as a Poisson
process would spread them: each independently and uniformly over the step, i.e. the step's seconds
get ``Multinomial(C, 1/step_s, ...)`` (the engine then places each second's requests uniformly within
it). A step cut by a window boundary keeps its draw for the next window, so the result does not
depend on the window length. Scaling by ``s`` turns each counted request into ``⌊s⌋`` requests plus
one more with probability ``s − ⌊s⌋`` (exact at ``s = 1``, mean ``s·C``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from sim.traffic.models import SECONDS_PER_DAY, ReplayTraffic
from sim.traffic.traces import Trace, replayed_trace

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class ReplayProfile:
    """The replayed trace's rate: ``scale × count of the step / step_s`` (0 outside the trace when
    not looping)."""

    trace: Trace
    start_epoch_s: float
    offset_s: int
    loop: bool
    scale: float

    @property
    def mean_per_s(self) -> float:
        return self.scale * self.trace.mean_per_s

    @property
    def peak_per_s(self) -> float:
        return self.scale * self.trace.peak_per_s

    def steps(self, t_epoch_s: FloatArray) -> tuple[IntArray, IntArray, NDArray[np.bool_]]:
        """For each instant: trace position (s), step occurrence (unwrapped) and whether it plays."""
        pos = np.floor(np.asarray(t_epoch_s) - self.start_epoch_s).astype(np.int64) + self.offset_s
        occurrence = pos // self.trace.step_s
        n = self.trace.counts.size
        plays = (
            np.ones(pos.shape, dtype=np.bool_)
            if self.loop
            else (occurrence >= 0) & (occurrence < n)
        )
        return pos, occurrence, plays

    def rate_per_s(self, t_epoch_s: FloatArray) -> FloatArray:
        _, occ, plays = self.steps(t_epoch_s)
        counts = self.trace.counts[np.mod(occ, self.trace.counts.size)]
        rate = self.scale * counts.astype(np.float64) / self.trace.step_s
        return np.where(plays, rate, 0.0)


@dataclass
class ReplayArrivals:
    """Arrival process replaying a trace (see the module docstring)."""

    profile: ReplayProfile
    _carry_occ: int | None = field(default=None, repr=False)
    _carry_alloc: IntArray | None = field(default=None, repr=False)

    @classmethod
    def from_config(
        cls, cfg: ReplayTraffic, start_epoch_s: float | None, scale: float = 1.0
    ) -> ReplayArrivals:
        trace = replayed_trace(cfg)
        offset = 0 if cfg.begin is None else round(cfg.begin.timestamp()) - trace.start_epoch_s
        if not 0 <= offset < trace.span_s:
            raise ValueError(f"begin is outside the trace {cfg.path}")
        if cfg.scale is not None:
            volume = cfg.scale
        elif cfg.requests_per_day is not None:
            volume = cfg.requests_per_day / (trace.mean_per_s * SECONDS_PER_DAY)
        else:
            volume = 1.0
        start = float(start_epoch_s) if start_epoch_s is not None else math.nan
        return cls(ReplayProfile(trace, start, int(offset), cfg.loop, volume * scale))

    def _anchor(self, t_mid_epoch_s: FloatArray) -> None:
        if math.isnan(self.profile.start_epoch_s):  # no start given: the first second asked for
            start = float(np.floor(t_mid_epoch_s[0]))
            p = self.profile
            self.profile = ReplayProfile(p.trace, start, p.offset_s, p.loop, p.scale)

    def expected_per_s(self, t_mid_epoch_s: FloatArray) -> FloatArray:
        self._anchor(t_mid_epoch_s)
        return self.profile.rate_per_s(t_mid_epoch_s)

    def counts(self, rng: np.random.Generator, t_mid_epoch_s: FloatArray) -> IntArray:
        if t_mid_epoch_s.size == 0:
            return np.zeros(0, dtype=np.int64)
        self._anchor(t_mid_epoch_s)
        p = self.profile
        trace = p.trace
        step = trace.step_s
        pos, occ, plays = p.steps(t_mid_epoch_s)
        first, last = int(occ[0]), int(occ[-1])
        occurrences = np.arange(first, last + 1, dtype=np.int64)
        raw = trace.counts[np.mod(occurrences, trace.counts.size)]
        if not p.loop:
            raw = np.where((occurrences >= 0) & (occurrences < trace.counts.size), raw, 0)
        scaled = _scale(rng, raw, p.scale)
        if step == 1:
            out = scaled[occ - first]
            return np.where(plays, out, 0).astype(np.int64)
        # the steps' allocations over their seconds: Multinomial(C, uniform) each
        alloc = np.empty((occurrences.size, step), dtype=np.int64)
        fresh = np.ones(occurrences.size, dtype=np.bool_)
        if self._carry_occ == first and self._carry_alloc is not None:
            alloc[0] = self._carry_alloc
            fresh[0] = False
        if fresh.any():
            alloc[fresh] = rng.multinomial(scaled[fresh], np.full(step, 1.0 / step))
        out = alloc[occ - first, pos - occ * step]
        # keep the last step's draw if the window ends inside it
        self._carry_occ, self._carry_alloc = last, alloc[-1].copy()
        return np.where(plays, out, 0).astype(np.int64)


def _scale(rng: np.random.Generator, counts: IntArray, scale: float) -> IntArray:
    """Each request becomes ⌊s⌋ requests plus one more with probability s − ⌊s⌋."""
    if scale == 1.0:
        return counts
    whole = math.floor(scale)
    extra = rng.binomial(counts, scale - whole) if scale != whole else 0
    return np.asarray(whole * counts + extra, dtype=np.int64)
