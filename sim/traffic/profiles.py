"""Rate profiles: the expected request rate as a function of UTC time.

A profile maps absolute time (seconds since the Unix epoch, UTC) to an expected rate in requests/s.
The engine draws a Poisson count for every second with the rate at the second's midpoint, so the stream
is an exact non-homogeneous Poisson process for the per-second piecewise-constant rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq
from scipy.special import i0e

from sim.config import ConstantTraffic, DailyCycleTraffic, TrafficConfig
from sim.units import SECONDS_PER_DAY, SECONDS_PER_HOUR

FloatArray = NDArray[np.float64]


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

    @classmethod
    def from_config(cls, cfg: ConstantTraffic) -> ConstantProfile:
        return cls(cfg.requests_per_s)


def von_mises_concentration(peak_to_mean: float) -> float:
    """κ such that ``exp(κ) / I0(κ) = peak_to_mean`` (the von Mises bump's peak over its mean).

    ``exp(κ cos θ)`` has mean ``I0(κ)`` over a cycle and maximum ``exp(κ)``; the ratio rises
    monotonically from 1 (κ = 0) without bound, so every peak factor ≥ 1 is reached exactly once.
    """
    if peak_to_mean < 1:
        raise ValueError(f"peak_to_mean must be ≥ 1, got {peak_to_mean}")
    if peak_to_mean == 1:
        return 0.0

    def excess(kappa: float) -> float:
        return 1.0 / float(i0e(kappa)) - peak_to_mean

    # 1/i0e(κ) ~ sqrt(2πκ) for large κ, so κ = peak² bounds the root from above.
    return float(brentq(excess, 0.0, max(10.0, peak_to_mean**2), xtol=1e-14, rtol=1e-14))


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

    @classmethod
    def from_config(cls, cfg: DailyCycleTraffic) -> DailyCycleProfile:
        return cls(
            cfg.requests_per_day / SECONDS_PER_DAY, cfg.peak_requests_per_s, cfg.peak_hour_utc
        )


PROFILES: dict[str, Callable[..., RateProfile]] = {
    "constant": ConstantProfile.from_config,
    "daily_cycle": DailyCycleProfile.from_config,
}


def build_profile(cfg: TrafficConfig) -> RateProfile:
    """The rate profile a ``[traffic]`` section describes."""
    return PROFILES[cfg.model](cfg)
