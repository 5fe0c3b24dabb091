"""Positive-valued distributions for sizes (bytes) and durations (ms).

Each model draws ``n`` values from a generator: ``sampler(rng, n) -> array``. Sizes are whole bytes
(at least 1); durations are milliseconds (floats, rounded up only when billed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from sim.config import FixedDuration, FixedSize, LognormalDuration, LognormalSize


class Sampler(Protocol):
    """Draws values of one distribution."""

    @property
    def mean(self) -> float:
        """Expected value."""
        ...

    @property
    def constant(self) -> float | None:
        """The value if the distribution is degenerate, else ``None``."""
        ...

    def __call__(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
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
    def constant(self) -> float | None:
        return self.value

    def __call__(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        return np.full(n, self.value, dtype=np.float64)


@dataclass(frozen=True)
class Lognormal:
    """Lognormal with the given mean and log-space standard deviation ``sigma``."""

    mean_value: float
    sigma: float

    @property
    def mean(self) -> float:
        return self.mean_value

    @property
    def constant(self) -> float | None:
        return None

    def __call__(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        mu = math.log(self.mean_value) - self.sigma**2 / 2
        return rng.lognormal(mu, self.sigma, n)


SAMPLERS: dict[type, Callable[..., Sampler]] = {
    FixedSize: lambda c: Fixed(float(c.bytes)),
    LognormalSize: lambda c: Lognormal(c.mean_bytes, c.sigma),
    FixedDuration: lambda c: Fixed(c.ms),
    LognormalDuration: lambda c: Lognormal(c.mean_ms, c.sigma),
}


def build_sampler(cfg: FixedSize | LognormalSize | FixedDuration | LognormalDuration) -> Sampler:
    """The sampler a size or duration section describes."""
    return SAMPLERS[type(cfg)](cfg)


def sizes_bytes(sampler: Sampler, rng: np.random.Generator, n: int) -> NDArray[np.int64]:
    """Whole-byte sizes, at least 1 byte each."""
    return np.maximum(1, np.rint(sampler(rng, n))).astype(np.int64)
