"""Connection models: which requests open a connection, and how long connections stay open.

From them the meters derive the ALB's new connections per second and concurrent (active) connections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from sim.config import ConnectionConfig, PerConnectionModel


@dataclass(frozen=True)
class Connections:
    """Connections opened by one batch of requests (times in seconds from the run's origin)."""

    new: NDArray[np.bool_]  # per request: does it open a connection?
    start_s: NDArray[np.float64]  # per connection
    end_s: NDArray[np.float64]  # per connection


class ConnectionModel(Protocol):
    """Assigns requests to connections."""

    @property
    def mean_requests_per_connection(self) -> float: ...

    @property
    def mean_lifetime_s(self) -> float: ...

    def open(self, rng: np.random.Generator, arrival_s: NDArray[np.float64]) -> Connections:
        """The connections opened by requests arriving at ``arrival_s``."""
        ...


@dataclass(frozen=True)
class PerConnection:
    """Each request opens a connection with probability 1/k; lifetimes are i.i.d.

    New connections are then a Bernoulli thinning of the request stream (Poisson with rate λ/k), and
    by Little's law the mean number open is ``λ / k · E[lifetime]``.
    """

    requests_per_connection: float
    lifetime_s: float
    exponential: bool

    @property
    def mean_requests_per_connection(self) -> float:
        return self.requests_per_connection

    @property
    def mean_lifetime_s(self) -> float:
        return self.lifetime_s

    def open(self, rng: np.random.Generator, arrival_s: NDArray[np.float64]) -> Connections:
        n = arrival_s.size
        if self.requests_per_connection == 1:
            new = np.ones(n, dtype=np.bool_)
        else:
            new = rng.random(n) < 1.0 / self.requests_per_connection
        start = arrival_s[new]
        if self.exponential:
            life = rng.exponential(self.lifetime_s, start.size)
        else:
            life = np.full(start.size, self.lifetime_s)
        return Connections(new=new, start_s=start, end_s=start + life)

    @classmethod
    def from_config(cls, cfg: PerConnectionModel) -> PerConnection:
        return cls(
            cfg.requests_per_connection, cfg.lifetime_s, cfg.lifetime_distribution == "exponential"
        )


CONNECTION_MODELS: dict[str, Callable[..., ConnectionModel]] = {
    "per_connection": PerConnection.from_config,
}


def build_connection_model(cfg: ConnectionConfig) -> ConnectionModel:
    """The connection model a ``[connections]`` section describes."""
    return CONNECTION_MODELS[cfg.model](cfg)
