"""Rate profiles: the expected request rate as a function of UTC time.

A profile maps absolute time (seconds since the Unix epoch, UTC) to an expected rate in requests/s.
The engine draws a count for every second with the rate at the second's midpoint, so the stream is an
exact non-homogeneous Poisson process for the per-second piecewise-constant rate.

Profiles compose by multiplication (``model = "profile"``): ``rate(t) = base × Π factor_k(t)``. Each
factor is a registry entry (:data:`FACTORS`) keyed by its ``model``:

* ``daily_cycle``: mean 1 over each UTC day; a von Mises bump or a user-given 24-hour shape;
* ``weekly_cycle``: mean 1 over each week; one level per local day;
* ``trend``: compound growth, 1 at its start;
* ``scheduled_peak``: 1 outside the peak, a trapezoid up to the multiplier during it;
* ``flash_crowds``: random; realised per run by the arrival process (:mod:`sim.traffic.bursts`),
  and in a profile only through its long-run mean (:attr:`RateProfile.rate_per_s` is the
  *expected* rate).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.special import i0e, i1e

from sim.traffic.models import (
    SECONDS_PER_MONTH,
    ConstantTraffic,
    DailyCycleFactor,
    DailyCycleTraffic,
    FlashCrowdsFactor,
    ProfileTraffic,
    ScheduledPeakFactor,
    WeeklyCycleFactor,
)
from sim.units import SECONDS_PER_DAY, SECONDS_PER_HOUR

FloatArray = NDArray[np.float64]
#: Thursday 1 January 1970 was day 0 of the epoch: Monday-based weekday = (day + 3) mod 7.
_EPOCH_WEEKDAY = 3
_NONE = np.zeros(0)


def _times_every(offset_s: float, period_s: float, t0_s: float, t1_s: float) -> FloatArray:
    """The instants ``offset + k·period`` (any integer k) in ``[t0, t1]``."""
    first = math.ceil((t0_s - offset_s) / period_s)
    last = math.floor((t1_s - offset_s) / period_s)
    return np.asarray(offset_s + np.arange(first, last + 1) * period_s, dtype=np.float64)


# Besides the rate, each deterministic profile and factor describes its shape for the ``aggregate``
# engine's hourly path (:mod:`sim.traffic.hourly`):
#
# * ``period_s``: a whole number of seconds after which it repeats exactly (None: it does not);
# * ``breakpoints(t0, t1)``: the instants in ``(t0, t1)`` where it is not analytic (kinks, steps):
#   between them, sums of its values over consecutive seconds are computed by Gauss quadrature;
# * ``critical(t0, t1)``: instants in ``[t0, t1]`` and values there that bound it from above
#   besides its values at ``t0`` and ``t1`` (its maxima, and the higher side of a step): its
#   largest value over ``[t0, t1]`` is the largest of those.


class RateProfile(Protocol):
    """Expected arrival rate over time."""

    @property
    def mean_per_s(self) -> float:
        """Long-run mean rate, requests/s."""
        ...

    @property
    def peak_per_s(self) -> float:
        """Largest expected rate, requests/s."""
        ...

    def rate_per_s(self, t_epoch_s: FloatArray) -> FloatArray:
        """Expected rate at each instant (seconds since the epoch, UTC), requests/s."""
        ...


@dataclass(frozen=True)
class ConstantProfile:
    """A constant rate."""

    requests_per_s: float

    @property
    def mean_per_s(self) -> float:
        return self.requests_per_s

    @property
    def peak_per_s(self) -> float:
        return self.requests_per_s

    def rate_per_s(self, t_epoch_s: FloatArray) -> FloatArray:
        return np.full(np.shape(t_epoch_s), self.requests_per_s, dtype=np.float64)

    @property
    def period_s(self) -> int | None:
        return SECONDS_PER_HOUR

    def breakpoints(self, t0_s: float, t1_s: float) -> FloatArray:
        return _NONE

    def critical(self, t0_s: float, t1_s: float) -> tuple[FloatArray, FloatArray]:
        return _NONE, _NONE

    @classmethod
    def from_config(cls, cfg: ConstantTraffic) -> ConstantProfile:
        return cls(cfg.requests_per_s)


@lru_cache(maxsize=1024)
def von_mises_concentration(peak_to_mean: float) -> float:
    """κ such that ``exp(κ) / I0(κ) = peak_to_mean`` (the von Mises bump's peak over its mean).

    ``exp(κ cos θ)`` has mean ``I0(κ)`` over a cycle and maximum ``exp(κ)``; the ratio
    ``g(κ) = 1 / i0e(κ)`` rises monotonically from 1 (κ = 0) without bound, so every peak factor
    ≥ 1 is reached exactly once. Found by Newton's method on ``g`` (``g' = (i0e − i1e) / i0e²``,
    from ``i0e' = i1e − i0e``) kept inside a bracket that shrinks with every step, bisecting where
    a step would leave it, until the bracket is two adjacent doubles or a step no longer moves:
    the root to the last bit or two, in a few steps, without importing scipy.optimize (0.1–0.4 s).
    """
    r = float(peak_to_mean)
    if not r >= 1 or not math.isfinite(r * r):  # NaN, below 1, or κ ~ r²/2π beyond a double
        raise ValueError(f"peak_to_mean must be ≥ 1 and below 1e154, got {peak_to_mean}")
    if r == 1:
        return 0.0
    # g(κ) ~ sqrt(2πκ) for large κ, so κ = r² bounds the root from above; the first guess is
    # g's first-order inverse near 0 (g ≈ 1 + κ) or far from it (g ≈ sqrt(2πκ)).
    lo, hi = 0.0, max(10.0, r * r)
    x = r - 1.0 if r < 3 else r * r / (2 * math.pi)
    best, best_err = x, math.inf
    for _ in range(200):
        e0, e1 = float(i0e(x)), float(i1e(x))
        f = 1.0 / e0 - r
        if abs(f) < best_err:
            best, best_err = x, abs(f)
        if f == 0.0:
            return x
        if f < 0:
            lo = x
        else:
            hi = x
        if math.nextafter(lo, math.inf) >= hi:
            break
        # the Newton step f / g' = f · i0e · i0e / (i0e − i1e); the difference rounds to 0 beyond
        # κ ≈ 1e15, where i0e / (i0e − i1e) ≈ 2κ (g ~ sqrt(2πκ)) instead
        d = e0 - e1
        nxt = x - f * e0 * (e0 / d if d > 0 else 2 * x)
        if not lo < nxt < hi:
            nxt = lo + (hi - lo) / 2
        if nxt == x:
            break
        x = nxt
    return best


@dataclass(frozen=True)
class DailyCycleProfile:
    """``rate(t) = mean · exp(κ (cos θ − 1)) / i0e(κ)``, θ = 2π (t − peak time) / 1 day.

    The cycle's exact mean is ``mean`` and its maximum ``peak`` (at ``peak_hour_utc`` each day).
    """

    mean: float
    peak: float
    peak_hour_utc: float

    @property
    def kappa(self) -> float:
        return von_mises_concentration(self.peak / self.mean)

    @property
    def mean_per_s(self) -> float:
        return self.mean

    @property
    def peak_per_s(self) -> float:
        return self.peak

    def rate_per_s(self, t_epoch_s: FloatArray) -> FloatArray:
        kappa = self.kappa
        theta = (
            2
            * math.pi
            * (np.asarray(t_epoch_s) - self.peak_hour_utc * SECONDS_PER_HOUR)
            / SECONDS_PER_DAY
        )
        scale = self.mean / float(i0e(kappa))
        return np.asarray(scale * np.exp(kappa * (np.cos(theta) - 1.0)), dtype=np.float64)

    @property
    def period_s(self) -> int | None:
        return SECONDS_PER_DAY

    def breakpoints(self, t0_s: float, t1_s: float) -> FloatArray:
        return _NONE

    def critical(self, t0_s: float, t1_s: float) -> tuple[FloatArray, FloatArray]:
        """The daily peaks: between them the cycle is monotone or has its trough."""
        t = _times_every(self.peak_hour_utc * SECONDS_PER_HOUR, SECONDS_PER_DAY, t0_s, t1_s)
        return t, self.rate_per_s(t)

    @classmethod
    def from_config(cls, cfg: DailyCycleTraffic) -> DailyCycleProfile:
        return cls(
            cfg.requests_per_day / SECONDS_PER_DAY, cfg.peak_requests_per_s, cfg.peak_hour_utc
        )


# =========================================================================== composable factors
class Factor(Protocol):
    """A dimensionless multiplier of the rate over time."""

    @property
    def mean(self) -> float:
        """Long-run mean of the factor (1 for the cycles; 1 for a one-off peak or a trend)."""
        ...

    @property
    def peak(self) -> float:
        """Largest value within the ordinary cycle (1 for trends and scheduled peaks)."""
        ...

    def __call__(self, t_epoch_s: FloatArray) -> FloatArray:
        """The factor at each instant."""
        ...


@dataclass(frozen=True)
class VonMisesDay:
    """``exp(κ (cos θ − 1)) / i0e(κ)``, θ = 2π (t − peak hour) / 1 day: mean 1, peak ``peak_to_mean``."""

    peak_to_mean: float
    peak_hour_utc: float

    @property
    def mean(self) -> float:
        return 1.0

    @property
    def peak(self) -> float:
        return self.peak_to_mean

    def __call__(self, t_epoch_s: FloatArray) -> FloatArray:
        kappa = von_mises_concentration(self.peak_to_mean)
        theta = 2 * math.pi * (t_epoch_s - self.peak_hour_utc * SECONDS_PER_HOUR) / SECONDS_PER_DAY
        return np.asarray(np.exp(kappa * (np.cos(theta) - 1.0)) / float(i0e(kappa)))

    @property
    def period_s(self) -> int | None:
        return SECONDS_PER_DAY

    def breakpoints(self, t0_s: float, t1_s: float) -> FloatArray:
        return _NONE

    def critical(self, t0_s: float, t1_s: float) -> tuple[FloatArray, FloatArray]:
        t = _times_every(self.peak_hour_utc * SECONDS_PER_HOUR, SECONDS_PER_DAY, t0_s, t1_s)
        return t, self(t)


@dataclass(frozen=True)
class HourlyDay:
    """A user-given day: 24 levels at the hour midpoints (00:30, 01:30, ... UTC), joined linearly
    and periodically, divided by their mean. Linear interpolation between equally spaced nodes of a
    periodic function keeps the nodes' mean, so the factor's daily mean is exactly 1."""

    hourly: tuple[float, ...]

    @property
    def levels(self) -> FloatArray:
        h = np.asarray(self.hourly, dtype=np.float64)
        return np.asarray(h / h.mean(), dtype=np.float64)

    @property
    def mean(self) -> float:
        return 1.0

    @property
    def peak(self) -> float:
        return float(self.levels.max())

    def __call__(self, t_epoch_s: FloatArray) -> FloatArray:
        hour = np.mod(t_epoch_s, SECONDS_PER_DAY) / SECONDS_PER_HOUR - 0.5  # node k at hour k
        levels = self.levels
        xp = np.arange(-1, 25, dtype=np.float64)
        fp = np.concatenate(([levels[-1]], levels, [levels[0]]))
        return np.asarray(np.interp(hour, xp, fp))

    @property
    def period_s(self) -> int | None:
        return SECONDS_PER_DAY

    def _nodes(self, t0_s: float, t1_s: float) -> FloatArray:
        return _times_every(SECONDS_PER_HOUR / 2, SECONDS_PER_HOUR, t0_s, t1_s)

    def breakpoints(self, t0_s: float, t1_s: float) -> FloatArray:
        """The 24 levels' instants (hh:30 UTC), where the linear pieces meet."""
        t = self._nodes(t0_s, t1_s)
        return t[(t > t0_s) & (t < t1_s)]

    def critical(self, t0_s: float, t1_s: float) -> tuple[FloatArray, FloatArray]:
        t = self._nodes(t0_s, t1_s)
        hour = (np.mod(t, SECONDS_PER_DAY) // SECONDS_PER_HOUR).astype(np.int64)
        return t, np.asarray(self.levels[hour], dtype=np.float64)


def _daily(cfg: DailyCycleFactor, peak_to_mean: float | None = None) -> Factor:
    if cfg.hourly is not None:
        return HourlyDay(cfg.hourly)
    ratio = cfg.peak_to_mean if cfg.peak_to_mean is not None else peak_to_mean
    assert ratio is not None  # the config validator guarantees one of them
    return VonMisesDay(ratio, cfg.peak_hour_utc)


@dataclass(frozen=True)
class Weekly:
    """One level per local day (Monday first), divided by their mean: a step at local midnight."""

    days: tuple[float, ...]
    utc_offset_hours: float = 0.0

    @property
    def levels(self) -> FloatArray:
        d = np.asarray(self.days, dtype=np.float64)
        return np.asarray(d / d.mean(), dtype=np.float64)

    @property
    def mean(self) -> float:
        return 1.0

    @property
    def peak(self) -> float:
        return float(self.levels.max())

    def __call__(self, t_epoch_s: FloatArray) -> FloatArray:
        local = t_epoch_s + self.utc_offset_hours * SECONDS_PER_HOUR
        weekday = (np.floor(local / SECONDS_PER_DAY).astype(np.int64) + _EPOCH_WEEKDAY) % 7
        return np.asarray(self.levels[weekday])

    @property
    def period_s(self) -> int | None:
        return 7 * SECONDS_PER_DAY

    def _midnights(self, t0_s: float, t1_s: float) -> FloatArray:
        return _times_every(-self.utc_offset_hours * SECONDS_PER_HOUR, SECONDS_PER_DAY, t0_s, t1_s)

    def breakpoints(self, t0_s: float, t1_s: float) -> FloatArray:
        """Local midnights, where the level steps."""
        t = self._midnights(t0_s, t1_s)
        return t[(t > t0_s) & (t < t1_s)]

    def critical(self, t0_s: float, t1_s: float) -> tuple[FloatArray, FloatArray]:
        """At each local midnight, the higher of the two days' levels."""
        t = self._midnights(t0_s, t1_s)
        return t, np.maximum(self(t), self(t - 1.0))

    @classmethod
    def from_config(cls, cfg: WeeklyCycleFactor) -> Weekly:
        return cls(cfg.levels, cfg.utc_offset_hours)


@dataclass(frozen=True)
class Trend:
    """``(1 + g) ** ((t − start) / month)``; a month is 365.2425 / 12 days."""

    growth_per_month: float
    start_epoch_s: float

    @property
    def mean(self) -> float:
        return 1.0

    @property
    def peak(self) -> float:
        return 1.0

    def __call__(self, t_epoch_s: FloatArray) -> FloatArray:
        months = (t_epoch_s - self.start_epoch_s) / SECONDS_PER_MONTH
        return np.asarray(np.exp(months * math.log1p(self.growth_per_month)))

    @property
    def period_s(self) -> int | None:
        return SECONDS_PER_HOUR if self.growth_per_month == 0 else None

    def breakpoints(self, t0_s: float, t1_s: float) -> FloatArray:
        return _NONE

    def critical(self, t0_s: float, t1_s: float) -> tuple[FloatArray, FloatArray]:
        return _NONE, _NONE  # monotone: its largest value is at an end


def trapezoid(dt_s: FloatArray, ramp_up_s: float, plateau_s: float, decay_s: float) -> FloatArray:
    """Unit peak shape: 0 before 0, linear up to 1 over ``ramp_up_s``, 1 for ``plateau_s``, linear
    down to 0 over ``decay_s``, 0 after. Its area is ``ramp_up_s/2 + plateau_s + decay_s/2``."""
    up_end = ramp_up_s
    down_start = ramp_up_s + plateau_s
    end = down_start + decay_s
    xp = [0.0, up_end, down_start, end]
    fp = [0.0 if ramp_up_s > 0 else 1.0, 1.0, 1.0, 0.0 if decay_s > 0 else 1.0]
    out = np.interp(dt_s, xp, fp)
    return np.asarray(np.where((dt_s < 0) | (dt_s >= end), 0.0, out))


@dataclass(frozen=True)
class ScheduledPeak:
    """``1 + (multiplier − 1) × trapezoid(t − start)``, repeated every ``every_s`` if given."""

    start_epoch_s: float
    ramp_up_s: float
    plateau_s: float
    decay_s: float
    multiplier: float
    every_s: float | None = None

    @property
    def area_s(self) -> float:
        return self.ramp_up_s / 2 + self.plateau_s + self.decay_s / 2

    @property
    def mean(self) -> float:
        if self.every_s is None:
            return 1.0
        return 1.0 + (self.multiplier - 1) * self.area_s / self.every_s

    @property
    def peak(self) -> float:
        return 1.0

    def __call__(self, t_epoch_s: FloatArray) -> FloatArray:
        dt = t_epoch_s - self.start_epoch_s
        if self.every_s is not None:
            dt = np.where(dt >= 0, np.mod(dt, self.every_s), dt)
        return 1.0 + (self.multiplier - 1) * trapezoid(
            dt, self.ramp_up_s, self.plateau_s, self.decay_s
        )

    @property
    def period_s(self) -> int | None:
        return SECONDS_PER_HOUR if self.multiplier == 1 else None

    def _corners(self, t0_s: float, t1_s: float) -> tuple[FloatArray, FloatArray]:
        """The trapezoid's corners in ``[t0, t1]`` (each repetition's) and the higher of the
        factor's one-sided limits there: linear in between, so these and the ends bound it."""
        up, flat, down = self.ramp_up_s, self.plateau_s, self.decay_s
        offsets = np.array([0.0, up, up + flat, up + flat + down])
        fp = np.array([0.0 if up > 0 else 1.0, 1.0, 1.0, 0.0 if down > 0 else 1.0])
        # a corner's value: the inside limit, and 1 (outside the peak) at the first and last
        value = np.maximum(1.0 + (self.multiplier - 1) * fp, [1.0, -np.inf, -np.inf, 1.0])
        if self.every_s is None:
            starts = np.array([self.start_epoch_s])
        else:
            lo = max(0, math.floor((t0_s - self.start_epoch_s - offsets[-1]) / self.every_s))
            hi = max(-1, math.floor((t1_s - self.start_epoch_s) / self.every_s))
            starts = self.start_epoch_s + np.arange(lo, hi + 1) * self.every_s
        t = (starts[:, None] + offsets[None, :]).ravel()
        v = np.tile(value, starts.size)
        keep = (t >= t0_s) & (t <= t1_s)
        return t[keep], v[keep]

    def breakpoints(self, t0_s: float, t1_s: float) -> FloatArray:
        t, _ = self._corners(t0_s, t1_s)
        return np.unique(t[(t > t0_s) & (t < t1_s)])

    def critical(self, t0_s: float, t1_s: float) -> tuple[FloatArray, FloatArray]:
        return self._corners(t0_s, t1_s)

    @classmethod
    def from_config(cls, cfg: ScheduledPeakFactor) -> ScheduledPeak:
        every = cfg.every_days * SECONDS_PER_DAY if cfg.every_days is not None else None
        return cls(
            cfg.start.timestamp(), cfg.ramp_up_s, cfg.plateau_s, cfg.decay_s, cfg.multiplier, every
        )


@dataclass(frozen=True)
class ProductProfile:
    """``base × Π factors(t) × flash``: ``flash`` is the flash crowds' long-run mean factor (1 if none),
    so :meth:`rate_per_s` is the expected rate; :meth:`deterministic_rate_per_s` leaves it out (the
    arrival process multiplies the realised flash crowds in instead).

    ``mean_per_s`` is the long-run mean with any trend at 1; ``peak_per_s`` is the ordinary cycle's
    peak (``base`` × daily × weekly peak factors), what ``peak_requests_per_s`` configures.
    """

    base_per_s: float
    factors: tuple[Factor, ...] = ()
    flash: float = 1.0

    @property
    def mean_per_s(self) -> float:
        return self.base_per_s * self.flash * math.prod(f.mean for f in self.factors)

    @property
    def peak_per_s(self) -> float:
        return self.base_per_s * math.prod(f.peak for f in self.factors)

    def deterministic_rate_per_s(self, t_epoch_s: FloatArray) -> FloatArray:
        t = np.asarray(t_epoch_s, dtype=np.float64)
        rate = np.full(t.shape, self.base_per_s, dtype=np.float64)
        for f in self.factors:
            rate *= f(t)
        return rate

    def rate_per_s(self, t_epoch_s: FloatArray) -> FloatArray:
        return self.deterministic_rate_per_s(t_epoch_s) * self.flash


#: Factor model -> builder ``(factor config, profile config, start epoch) -> Factor | None``
#: (``None``: not deterministic, realised by the arrival process).
FACTORS: dict[str, Callable[[Any, ProfileTraffic, float], Factor | None]] = {
    "daily_cycle": lambda f, p, _: _daily(f, _solved_peak_to_mean(p)),
    "weekly_cycle": lambda f, _p, _s: Weekly.from_config(f),
    "trend": lambda f, _p, start: Trend(
        f.growth_per_month, f.start.timestamp() if f.start is not None else start
    ),
    "scheduled_peak": lambda f, _p, _s: ScheduledPeak.from_config(f),
    "flash_crowds": lambda _f, _p, _s: None,
}


def _solved_peak_to_mean(cfg: ProfileTraffic) -> float | None:
    """The daily cycle's peak-to-mean implied by ``peak_requests_per_s`` (validated reachable)."""
    if cfg.peak_requests_per_s is None:
        return None
    weekly = next((f for f in cfg.factors if isinstance(f, WeeklyCycleFactor)), None)
    top = cfg.base_per_s * (weekly.peak_to_mean if weekly is not None else 1.0)
    return max(1.0, cfg.peak_requests_per_s / top)


def flash_config(cfg: ProfileTraffic) -> FlashCrowdsFactor | None:
    """The profile's flash-crowds factor, if any."""
    return next((f for f in cfg.factors if isinstance(f, FlashCrowdsFactor)), None)


def product_profile(cfg: ProfileTraffic, start_epoch_s: float = 0.0) -> ProductProfile:
    """The composable profile of a ``model = "profile"`` section (``start_epoch_s``: the scenario's
    start, where a trend without its own ``start`` is 1)."""
    built = [FACTORS[f.model](f, cfg, start_epoch_s) for f in cfg.factors]
    flash = flash_config(cfg)
    return ProductProfile(
        cfg.base_per_s,
        tuple(f for f in built if f is not None),
        flash.mean_factor if flash is not None else 1.0,
    )


def _replay_profile(cfg: Any, start_epoch_s: float) -> RateProfile:
    from sim.traffic.replay import ReplayArrivals

    return ReplayArrivals.from_config(cfg, start_epoch_s).profile


def _access_log_profile(cfg: Any, start_epoch_s: float) -> RateProfile:
    from sim.traffic.logreplay import LogArrivals

    return LogArrivals.from_config(cfg, start_epoch_s).profile


PROFILES: dict[str, Callable[[Any, float], RateProfile]] = {
    "constant": lambda cfg, _: ConstantProfile.from_config(cfg),
    "daily_cycle": lambda cfg, _: DailyCycleProfile.from_config(cfg),
    "profile": product_profile,
    "replay": _replay_profile,
    "access_log": _access_log_profile,
}


def build_profile(cfg: Any, start_epoch_s: float = 0.0) -> RateProfile:
    """The rate profile of a ``[traffic]`` section: the expected rate over time.

    ``start_epoch_s`` is the scenario's start: where a trend is 1 and a replay begins.
    """
    return PROFILES[cfg.model](cfg, start_epoch_s)
