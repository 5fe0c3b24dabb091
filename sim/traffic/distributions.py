"""Positive-valued distributions for sizes (bytes) and durations (ms).

Each model draws ``n`` values from a generator: ``sampler(rng, n) -> array``. Sizes are whole bytes
(at least 1); durations are milliseconds (floats, rounded up only when billed).

Besides drawing, every sampler knows its moments, which the ``aggregate`` fidelity mode uses to draw
sums of many values at once (central limit theorem) and billed units without drawing each value:

* ``mean`` and ``variance`` of one value;
* ``expected_units(increment)`` = ``E[max(1, ceil(X / increment))]``: the expected number of billed
  increments of one value (HTTP API 512 KB request units, Lambda's 1 ms rounding).

These are exact for :class:`Fixed` and :class:`Empirical` and numerically exact (to ~1e-12 relative)
for :class:`Lognormal`. They describe the continuous value ``X``; sizes are then rounded to whole
bytes (``max(1, rint(X))``), which moves the variance by at most 1/12 byte² and ``expected_units`` by
at most the probability that ``X`` lies within half a byte of a multiple of the increment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri

if TYPE_CHECKING:
    from sim.config import FixedDuration, LognormalDuration
    from sim.traffic.models import EmpiricalSize, FixedSize, LognormalSize

FloatArray = NDArray[np.float64]


class Sampler(Protocol):
    """Draws values of one positive distribution, and knows its moments."""

    @property
    def mean(self) -> float:
        """Expected value."""
        ...

    @property
    def variance(self) -> float:
        """Variance of one value."""
        ...

    @property
    def constant(self) -> float | None:
        """The value if the distribution is degenerate, else ``None``."""
        ...

    def expected_units(self, increment: float) -> float:
        """``E[max(1, ceil(X / increment))]``: expected billed increments of one value."""
        ...

    def survival(self, x: float) -> float:
        """``P(X > x)``, exact (e.g. the share of payloads over a size limit)."""
        ...

    def expected_excess(self, x: float) -> float:
        """``E[(X − x)⁺]``, exact (e.g. the streamed bytes beyond a free first part)."""
        ...

    def __call__(self, rng: np.random.Generator, n: int) -> FloatArray:
        """``n`` draws."""
        ...


@dataclass(frozen=True)
class Fixed:
    """A degenerate distribution."""

    value: float

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0

    @property
    def constant(self) -> float | None:
        return self.value

    def expected_units(self, increment: float) -> float:
        _check_increment(increment)
        return float(max(1, math.ceil(self.value / increment)))

    def survival(self, x: float) -> float:
        return float(self.value > x)

    def expected_excess(self, x: float) -> float:
        return max(0.0, self.value - x)

    def __call__(self, rng: np.random.Generator, n: int) -> FloatArray:
        return np.full(n, self.value, dtype=np.float64)


@dataclass(frozen=True)
class Lognormal:
    """Lognormal with the given mean and log-space standard deviation ``sigma``.

    ``ln X ~ Normal(μ, σ²)`` with ``μ = ln(mean) − σ²/2``, so ``E[X] = mean`` and
    ``Var[X] = mean² (exp(σ²) − 1)``.
    """

    mean_value: float
    sigma: float

    @property
    def mean(self) -> float:
        return self.mean_value

    @property
    def mu(self) -> float:
        """Mean of ``ln X``."""
        return math.log(self.mean_value) - self.sigma**2 / 2

    @property
    def variance(self) -> float:
        return self.mean_value**2 * math.expm1(self.sigma**2)

    @property
    def constant(self) -> float | None:
        return None

    def expected_units(self, increment: float) -> float:
        _check_increment(increment)
        return _lognormal_expected_units(self.mean_value, self.sigma, float(increment))

    def survival(self, x: float) -> float:
        if x <= 0:
            return 1.0
        return float(ndtr((self.mu - math.log(x)) / self.sigma))

    def expected_excess(self, x: float) -> float:
        """``mean·Φ(z + σ) − x·Φ(z)``, ``z = (μ − ln x)/σ``."""
        if x <= 0:
            return self.mean_value - x
        z = (self.mu - math.log(x)) / self.sigma
        return max(0.0, self.mean_value * float(ndtr(z + self.sigma)) - x * float(ndtr(z)))

    def __call__(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.lognormal(self.mu, self.sigma, n)


@dataclass(frozen=True)
class Exponential:
    """Exponential with the given mean (think times)."""

    mean_value: float

    @property
    def mean(self) -> float:
        return self.mean_value

    @property
    def variance(self) -> float:
        return self.mean_value**2

    @property
    def constant(self) -> float | None:
        return None

    def expected_units(self, increment: float) -> float:
        """``Σ_{k≥0} exp(−k·inc/m) = 1 / (1 − exp(−inc/m))`` (geometric series)."""
        _check_increment(increment)
        return 1.0 / -math.expm1(-increment / self.mean_value)

    def survival(self, x: float) -> float:
        return 1.0 if x <= 0 else math.exp(-x / self.mean_value)

    def expected_excess(self, x: float) -> float:
        """Memoryless: ``mean·exp(−x/mean)``."""
        return self.mean_value - x if x <= 0 else self.mean_value * math.exp(-x / self.mean_value)

    def __call__(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.exponential(self.mean_value, n)


@lru_cache(maxsize=256)
def _lognormal_expected_units(mean: float, sigma: float, increment: float) -> float:
    """``E[ceil(X / inc)] = Σ_{k≥0} P(X > k·inc)`` for a lognormal ``X`` (``X > 0``, so ≥ 1).

    The first ``K`` terms are summed directly; the tail ``Σ_{k≥K} f(k)`` with ``f(u) = P(X > u·inc)``
    by Euler–Maclaurin, ``∫_K^∞ f + f(K)/2 − f'(K)/12``, where ``∫_K^∞ f = E[(X − K·inc)⁺] / inc`` has a
    closed form. ``K`` reaches the 1 − 1e-15 quantile, or 2 million terms, where ``f`` varies on a
    scale of ``K`` steps and the next correction is far below double precision.
    """
    mu = math.log(mean) - sigma**2 / 2
    q = math.exp(mu + sigma * float(ndtri(1 - 1e-15)))
    k_max = int(min(2_000_000, math.ceil(q / increment) + 1))
    k = np.arange(1, k_max, dtype=np.float64)
    head = 1.0 + float(ndtr((mu - np.log(k * increment)) / sigma).sum())
    a = k_max * increment
    z = (mu - math.log(a)) / sigma
    surv = float(ndtr(z))
    partial = mean * float(ndtr(z + sigma)) - a * surv  # E[(X − a)⁺]
    pdf = math.exp(-0.5 * z * z) / (math.sqrt(2 * math.pi) * sigma * a)
    tail = partial / increment + surv / 2 + increment * pdf / 12  # −f'(K)/12 = inc·pdf(a)/12
    return head + tail


@dataclass(frozen=True)
class Empirical:
    """A histogram: bin ``i`` ``[edges[i], edges[i+1])`` has probability ``weights[i]`` (normalised),
    values spread uniformly within it; a bin of zero width is a point mass (an exact size).

    ``mean``, ``variance`` and ``expected_units`` are exact.
    """

    edges: tuple[float, ...]
    weights: tuple[float, ...]
    _p: FloatArray = field(init=False, repr=False, compare=False)
    _cdf: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=np.float64)
        if len(self.edges) != w.size + 1 or w.size == 0 or (w < 0).any() or w.sum() <= 0:
            raise ValueError("an empirical distribution needs n+1 edges and n weights ≥ 0, sum > 0")
        p = w / w.sum()
        object.__setattr__(self, "_p", p)
        cdf = np.cumsum(p)
        cdf[-1] = 1.0
        object.__setattr__(self, "_cdf", cdf)

    @classmethod
    def of_values(cls, values: Sequence[float], weights: Sequence[float]) -> Empirical:
        """Point masses at ``values`` (a discrete distribution), as zero-width bins.

        Values must be increasing; consecutive point masses are joined by zero-weight bins.
        """
        edges: list[float] = []
        ws: list[float] = []
        for i, (v, w) in enumerate(zip(values, weights, strict=True)):
            if i:
                ws.append(0.0)  # the gap between two point masses
            edges += [float(v), float(v)]
            ws.append(float(w))
        # edges hold each value twice, [v0, v0, v1, v1, ...]: bins (v0,v0) (v0,v1) (v1,v1) ...
        return cls(tuple(edges), tuple(ws))

    @property
    def _lo(self) -> FloatArray:
        return np.asarray(self.edges[:-1], dtype=np.float64)

    @property
    def _hi(self) -> FloatArray:
        return np.asarray(self.edges[1:], dtype=np.float64)

    @property
    def mean(self) -> float:
        return float((self._p * (self._lo + self._hi) / 2).sum())

    @property
    def variance(self) -> float:
        lo, hi = self._lo, self._hi
        second = (lo * lo + lo * hi + hi * hi) / 3  # E[X²] of a uniform on [lo, hi]
        return max(0.0, float((self._p * second).sum()) - self.mean**2)

    @property
    def constant(self) -> float | None:
        support = self._p > 0
        lo, hi = self._lo[support], self._hi[support]
        if (lo == hi).all() and (lo == lo[0]).all():
            return float(lo[0])
        return None

    def expected_units(self, increment: float) -> float:
        _check_increment(increment)
        lo, hi = self._lo, self._hi
        width = hi - lo
        point = width == 0
        # Uniform bins: E[ceil(X/inc)] = (G(hi) − G(lo)) / (hi − lo) with G(x) = ∫₀ˣ ceil(t/inc) dt.
        safe = np.where(point, 1.0, width)
        uniform = (_ceil_integral(hi, increment) - _ceil_integral(lo, increment)) / safe
        exact = np.maximum(1.0, np.ceil(lo / increment))
        units = np.where(point, exact, np.maximum(1.0, uniform))
        # a bin starting at 0 spends no mass at exactly 0, so max(1, ·) only matters for points
        return float((self._p * units).sum())

    def survival(self, x: float) -> float:
        lo, hi = self._lo, self._hi
        width = hi - lo
        above = np.where(
            width == 0,
            (lo > x).astype(np.float64),
            np.clip((hi - x) / np.where(width == 0, 1, width), 0, 1),
        )
        return float((self._p * above).sum())

    def expected_excess(self, x: float) -> float:
        """Per bin: a point's ``(v − x)⁺``; a uniform's ``(mid − x)`` below it, ``(hi − x)²/2w``
        inside it, 0 above it."""
        lo, hi = self._lo, self._hi
        width = hi - lo
        safe = np.where(width == 0, 1.0, width)
        inside = np.where(
            x >= hi, 0.0, np.where(x <= lo, (lo + hi) / 2 - x, (hi - x) ** 2 / (2 * safe))
        )
        per_bin = np.where(width == 0, np.maximum(0.0, lo - x), inside)
        return float((self._p * per_bin).sum())

    def __call__(self, rng: np.random.Generator, n: int) -> FloatArray:
        u = rng.random(n)
        i = np.minimum(np.searchsorted(self._cdf, u, side="right"), self._p.size - 1)
        lo, hi = self._lo[i], self._hi[i]
        return lo + (hi - lo) * rng.random(n)


def _ceil_integral(x: FloatArray, inc: float) -> FloatArray:
    """``G(x) = ∫₀ˣ ceil(t / inc) dt`` for ``x ≥ 0``: ``inc·n(n+1)/2 + (n+1)(x − n·inc)``, n = ⌊x/inc⌋."""
    n = np.floor(x / inc)
    return np.asarray(inc * n * (n + 1) / 2 + (n + 1) * (x - n * inc), dtype=np.float64)


@dataclass(frozen=True)
class Mixture:
    """Draw a component with probability ``weights[i]`` (normalised), then a value from it.

    The marginal size of a route mix. Moments are exact given the components' moments.
    """

    components: tuple[Sampler, ...]
    weights: tuple[float, ...]

    @property
    def probabilities(self) -> FloatArray:
        w = np.asarray(self.weights, dtype=np.float64)
        return np.asarray(w / w.sum(), dtype=np.float64)

    @property
    def mean(self) -> float:
        return float(
            sum(p * c.mean for p, c in zip(self.probabilities, self.components, strict=True))
        )

    @property
    def variance(self) -> float:
        p = self.probabilities
        second = sum(
            pi * (c.variance + c.mean**2) for pi, c in zip(p, self.components, strict=True)
        )
        return max(0.0, float(second) - self.mean**2)

    @property
    def constant(self) -> float | None:
        values = {c.constant for p, c in zip(self.probabilities, self.components, strict=True) if p}
        if len(values) == 1:
            (only,) = values
            return only
        return None

    def expected_units(self, increment: float) -> float:
        p = self.probabilities
        return float(
            sum(pi * c.expected_units(increment) for pi, c in zip(p, self.components, strict=True))
        )

    def survival(self, x: float) -> float:
        p = self.probabilities
        return float(sum(pi * c.survival(x) for pi, c in zip(p, self.components, strict=True)))

    def expected_excess(self, x: float) -> float:
        p = self.probabilities
        return float(
            sum(pi * c.expected_excess(x) for pi, c in zip(p, self.components, strict=True))
        )

    def __call__(self, rng: np.random.Generator, n: int) -> FloatArray:
        route = choose(rng, self.probabilities, n)
        out = np.empty(n, dtype=np.float64)
        for i, c in enumerate(self.components):
            idx = np.flatnonzero(route == i)
            out[idx] = c(rng, idx.size)
        return out


def expected_units_up_to(sampler: Sampler, increment: float, limit: float) -> float:
    """``E[ceil(X / inc) · 1{X ≤ limit}]`` for sizes ``X > 0``, exactly, from the survival function:
    ``ceil(X / inc) = Σ_{k≥0} 1{X > k·inc}``, so the expectation is
    ``Σ_{k·inc < limit} (S(k·inc) − S(limit))``."""
    _check_increment(increment)
    cut = sampler.survival(limit)
    k_max = math.ceil(limit / increment)
    return float(sum(max(0.0, sampler.survival(k * increment) - cut) for k in range(k_max)))


def expected_value_up_to(sampler: Sampler, limit: float) -> float:
    """``E[X · 1{X ≤ limit}] = E[X] − E[(X − limit)⁺] − limit · P(X > limit)``."""
    return max(0.0, sampler.mean - sampler.expected_excess(limit) - limit * sampler.survival(limit))


def choose(rng: np.random.Generator, probabilities: FloatArray, n: int) -> NDArray[np.intp]:
    """``n`` independent categorical draws (indices) with the given probabilities."""
    cdf = np.cumsum(probabilities)
    cdf[-1] = 1.0
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), cdf.size - 1)


def _check_increment(increment: float) -> None:
    if not increment > 0:
        raise ValueError(f"increment must be > 0, got {increment}")


def _empirical(c: EmpiricalSize) -> Empirical:
    if c.values_bytes is not None:
        return Empirical.of_values(c.values_bytes, c.weights)
    assert c.edges_bytes is not None
    return Empirical(tuple(float(e) for e in c.edges_bytes), tuple(c.weights))


#: Config class name -> sampler. Keyed by name, not class: :mod:`sim.config` imports this package,
#: so this module must not import :mod:`sim.config` at run time.
SAMPLERS: dict[str, Callable[[Any], Sampler]] = {
    "FixedSize": lambda c: Fixed(float(c.bytes)),
    "LognormalSize": lambda c: Lognormal(c.mean_bytes, c.sigma),
    "EmpiricalSize": _empirical,
    "FixedDuration": lambda c: Fixed(c.ms),
    "LognormalDuration": lambda c: Lognormal(c.mean_ms, c.sigma),
}


def build_sampler(
    cfg: FixedSize | LognormalSize | EmpiricalSize | FixedDuration | LognormalDuration,
) -> Sampler:
    """The sampler a size or duration section describes."""
    return SAMPLERS[type(cfg).__name__](cfg)


def sizes_bytes(sampler: Sampler, rng: np.random.Generator, n: int) -> NDArray[np.int64]:
    """Whole-byte sizes, at least 1 byte each."""
    return np.maximum(1, np.rint(sampler(rng, n))).astype(np.int64)
