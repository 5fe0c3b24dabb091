"""Arrival processes: how many requests arrive in each second of a window.

An arrival process is stateful across consecutive windows (a burst, a flash crowd, an excitation or a
session that began in one window carries on into the next); the engine asks it for windows in time
order, each a run of consecutive seconds given by their midpoints (epoch seconds, UTC). Every random
draw comes from the generator it is given.

Registry :data:`ARRIVALS` maps the ``[traffic]`` model to a builder; :func:`build_arrivals` adds the
request source of the ``[connections]`` model (:data:`REQUEST_SOURCES`: sessions generate the
requests themselves); :func:`arrivals_for` builds both from a scenario and is what the engines use.

A process may also offer ``window(rng, t_mid) -> ArrivalWindow`` (:class:`DetailedArrivalProcess`)
when it knows more than counts: the exact arrival times and the connections they open (sessions).
Otherwise the engine spreads each second's arrivals uniformly within it, which is how a Poisson
process places a given number of points in an interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from sim.traffic.bursts import BURSTS, Burst, FlashCrowds
from sim.traffic.models import ConnectionConfig, ProfileTraffic, TrafficConfig
from sim.traffic.profiles import (
    ProductProfile,
    RateProfile,
    build_profile,
    flash_config,
    product_profile,
)

if TYPE_CHECKING:
    from sim.config import Scenario

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class ArrivalProcess(Protocol):
    """Requests per second, window after window."""

    @property
    def profile(self) -> RateProfile:
        """The configured rate profile (what the stream should average to)."""
        ...

    def expected_per_s(self, t_mid_epoch_s: FloatArray) -> FloatArray:
        """Expected requests in each second (midpoints given, seconds since the epoch, UTC)."""
        ...

    def counts(self, rng: np.random.Generator, t_mid_epoch_s: FloatArray) -> IntArray:
        """Requests arriving in each second of the window (midpoints given)."""
        ...


@dataclass(frozen=True)
class ArrivalWindow:
    """What a detailed arrival process knows about one window."""

    counts: IntArray  # requests in each second
    times_epoch_s: FloatArray  # each request's arrival time
    opens: NDArray[np.bool_]  # per request: does it open a connection?
    conn_end_epoch_s: FloatArray  # per opening request: when its connection closes
    #: what a replayed log knows of each request (else the engine draws it): sizes (-1 unknown),
    #: the target's processing time (NaN unknown), and the requests whose connection it does not
    #: know (the connection model opens theirs)
    request_bytes: IntArray | None = None
    response_bytes: IntArray | None = None
    duration_ms: FloatArray | None = None
    unconnected: NDArray[np.bool_] | None = None
    #: more open time of connections opened in earlier windows (see
    #: :class:`sim.traffic.connections.Connections`)
    carried_start_epoch_s: FloatArray | None = None
    carried_end_epoch_s: FloatArray | None = None
    #: new connections opened by no request of the window (connection logs' attempts): when
    #: each opens and closes
    opened_start_epoch_s: FloatArray | None = None
    opened_end_epoch_s: FloatArray | None = None


@runtime_checkable
class DetailedArrivalProcess(ArrivalProcess, Protocol):
    """An arrival process that also gives exact times and the connections (sessions)."""

    def window(self, rng: np.random.Generator, t_mid_epoch_s: FloatArray) -> ArrivalWindow: ...


@dataclass(frozen=True)
class PoissonArrivals:
    """A non-homogeneous Poisson process: an independent Poisson count per second.

    The count of a second has mean ``scale × rate(midpoint) × 1 s``: exact for the per-second
    piecewise-constant rate, and the engine spreads a second's arrivals uniformly within it, which is
    exactly how a Poisson process places a given number of points in an interval.
    """

    profile: RateProfile
    scale: float = 1.0

    def expected_per_s(self, t_mid_epoch_s: FloatArray) -> FloatArray:
        rate = self.profile.rate_per_s(t_mid_epoch_s)
        return rate if self.scale == 1.0 else rate * self.scale

    def counts(self, rng: np.random.Generator, t_mid_epoch_s: FloatArray) -> IntArray:
        return rng.poisson(self.expected_per_s(t_mid_epoch_s)).astype(np.int64)


@dataclass
class ModulatedArrivals:
    """A composable profile's stream: ``scale × base × Π deterministic factors``, times the realised
    flash crowds, as a Poisson stream or through a burst process.

    ``expected_per_s`` is the unconditional expectation: flash crowds by their long-run mean factor,
    bursts by theirs (1 when normalised). Without a start time, a trend is anchored at the first
    second asked for.
    """

    cfg: ProfileTraffic
    start_epoch_s: float | None = None
    scale: float = 1.0
    _profile: ProductProfile | None = field(default=None, repr=False)
    _flash: FlashCrowds | None = field(default=None, repr=False)
    _burst: Burst | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        flash = flash_config(self.cfg)
        self._flash = FlashCrowds(flash) if flash is not None else None
        self._burst = BURSTS[self.cfg.burst.model](self.cfg.burst) if self.cfg.burst else None
        if self.start_epoch_s is not None:
            self._profile = product_profile(self.cfg, self.start_epoch_s)

    def _anchor(self, t_mid_epoch_s: FloatArray) -> ProductProfile:
        if self._profile is None:
            self.start_epoch_s = math.floor(float(t_mid_epoch_s[0]))
            self._profile = product_profile(self.cfg, self.start_epoch_s)
        assert self._profile is not None
        return self._profile

    @property
    def profile(self) -> RateProfile:
        if self._profile is None:
            raise RuntimeError(
                "the profile needs the scenario's start: build with arrivals_for(scenario) or "
                "start_epoch_s=..., or ask for counts first"
            )
        return self._profile

    @property
    def burst_mean_factor(self) -> float:
        return self._burst.mean_factor if self._burst is not None else 1.0

    def expected_per_s(self, t_mid_epoch_s: FloatArray) -> FloatArray:
        profile = self._anchor(t_mid_epoch_s)
        return profile.rate_per_s(t_mid_epoch_s) * (self.scale * self.burst_mean_factor)

    def counts(self, rng: np.random.Generator, t_mid_epoch_s: FloatArray) -> IntArray:
        if t_mid_epoch_s.size == 0:
            return np.zeros(0, dtype=np.int64)
        rate = self._anchor(t_mid_epoch_s).deterministic_rate_per_s(t_mid_epoch_s) * self.scale
        if self._flash is not None:
            rate = rate * self._flash.factor(rng, t_mid_epoch_s)
        if self._burst is None:
            return rng.poisson(rate).astype(np.int64)
        return self._burst.counts(rng, t_mid_epoch_s, rate)


def _replay(cfg: Any, start_epoch_s: float | None, scale: float) -> ArrivalProcess:
    from sim.traffic.replay import ReplayArrivals

    return ReplayArrivals.from_config(cfg, start_epoch_s, scale)


def _access_log(cfg: Any, start_epoch_s: float | None, scale: float) -> ArrivalProcess:
    from sim.traffic.logreplay import LogArrivals

    return LogArrivals.from_config(cfg, start_epoch_s, scale)


#: ``[traffic]`` model -> builder ``(config, scenario start epoch or None, volume scale)``.
ARRIVALS: dict[str, Callable[[Any, float | None, float], ArrivalProcess]] = {
    "constant": lambda cfg, start, scale: PoissonArrivals(build_profile(cfg), scale),
    "daily_cycle": lambda cfg, start, scale: PoissonArrivals(build_profile(cfg), scale),
    "profile": lambda cfg, start, scale: ModulatedArrivals(cfg, start, scale),
    "replay": _replay,
    "access_log": _access_log,
}

ArrivalBuilder = Callable[[float], ArrivalProcess]


def _sessions(build: ArrivalBuilder, cfg: Any, start: float | None) -> ArrivalProcess:
    from sim.traffic.sessions import SessionArrivals

    return SessionArrivals(build(1.0 / cfg.requests_per_session), cfg, build(1.0))


#: ``[connections]`` model -> request source ``(builder of the traffic scaled by a factor, config,
#: start)``: ``per_connection`` takes the traffic as it is; ``sessions`` starts sessions at the
#: traffic's rate / requests per session and lets them send the requests.
REQUEST_SOURCES: dict[str, Callable[[ArrivalBuilder, Any, float | None], ArrivalProcess]] = {
    "per_connection": lambda build, _cfg, _start: build(1.0),
    "sessions": _sessions,
}


def build_arrivals(
    cfg: TrafficConfig,
    *,
    start_epoch_s: float | None = None,
    connections: ConnectionConfig | None = None,
    scale: float = 1.0,
) -> ArrivalProcess:
    """The arrival process a ``[traffic]`` section describes.

    Parameters
    ----------
    cfg
        The ``[traffic]`` section.
    start_epoch_s
        The scenario's start (epoch seconds): where a replay begins and a trend is 1. Without it they
        are anchored at the first second asked for.
    connections
        The ``[connections]`` section: with ``sessions`` the requests come from sessions.
    scale
        Multiplies the volume.
    """

    def build(factor: float) -> ArrivalProcess:
        return ARRIVALS[cfg.model](cfg, start_epoch_s, scale * factor)

    if connections is None:
        return build(1.0)
    return REQUEST_SOURCES[connections.model](build, connections, start_epoch_s)


def arrivals_for(scenario: Scenario) -> ArrivalProcess:
    """The request arrival process of a scenario (its traffic, through its connection model)."""
    return build_arrivals(
        scenario.traffic,
        start_epoch_s=scenario.scenario.start.timestamp(),
        connections=scenario.connections,
    )
