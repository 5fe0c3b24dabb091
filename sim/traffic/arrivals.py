"""Arrival processes: how many requests arrive in each second of a window.

An arrival process is stateful across consecutive windows (a burst or an excitation that began in
one window carries on into the next); the engine asks it for windows in time order. Every random draw
comes from the generator it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from sim.config import TrafficConfig
from sim.traffic.profiles import RateProfile, build_profile


class ArrivalProcess(Protocol):
    """Requests per second, window after window."""

    @property
    def profile(self) -> RateProfile:
        """The configured rate profile (what the stream should average to)."""
        ...

    def expected_per_s(self, t_mid_epoch_s: NDArray[np.float64]) -> NDArray[np.float64]:
        """Expected requests in each second (midpoints given, seconds since the epoch, UTC)."""
        ...

    def counts(
        self, rng: np.random.Generator, t_mid_epoch_s: NDArray[np.float64]
    ) -> NDArray[np.int64]:
        """Requests arriving in each second of the window (midpoints given)."""
        ...


@dataclass(frozen=True)
class PoissonArrivals:
    """A non-homogeneous Poisson process: an independent Poisson count per second.

    The count of a second has mean ``rate(midpoint) × 1 s``: exact for the per-second
    piecewise-constant rate, and the engine spreads a second's arrivals uniformly within it, which is
    exactly how a Poisson process places a given number of points in an interval.
    """

    profile: RateProfile

    def expected_per_s(self, t_mid_epoch_s: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.profile.rate_per_s(t_mid_epoch_s)

    def counts(
        self, rng: np.random.Generator, t_mid_epoch_s: NDArray[np.float64]
    ) -> NDArray[np.int64]:
        return rng.poisson(self.expected_per_s(t_mid_epoch_s)).astype(np.int64)


ARRIVALS: dict[str, Callable[[TrafficConfig], ArrivalProcess]] = {
    "constant": lambda cfg: PoissonArrivals(build_profile(cfg)),
    "daily_cycle": lambda cfg: PoissonArrivals(build_profile(cfg)),
}


def build_arrivals(cfg: TrafficConfig) -> ArrivalProcess:
    """The arrival process a ``[traffic]`` section describes."""
    return ARRIVALS[cfg.model](cfg)
