"""SimPy processes exchanging columnar batches of requests.

SimPy runs the clock; processes pass one batch (by default one clock hour of requests, as numpy arrays)
at a time through bounded stores, so memory stays flat however long the horizon is:

``source`` (Poisson counts per second from the rate profile, arrival times within each second)
-> ``shape`` (request/response sizes, connections, backend durations) -> ``record`` (hourly meters).

State that spans batches (open connections, counters) lives in the meters, carried explicitly. The
engine records facts; it never knows a price.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import simpy
from numpy.typing import NDArray

from sim.config import Scenario
from sim.rng import run_seed_sequence, streams
from sim.traffic import build_arrivals, build_connection_model, build_sampler
from sim.traffic.connections import Connections
from sim.traffic.distributions import sizes_bytes
from sim.units import SECONDS_PER_HOUR

ProgressCallback = Callable[[float], None]


@dataclass(frozen=True)
class Horizon:
    """The simulated period in engine time: seconds from ``origin_epoch_s``, the hour the start is in."""

    origin_epoch_s: int
    start_s: int
    end_s: int

    @classmethod
    def of(cls, scenario: Scenario) -> Horizon:
        start = int(scenario.scenario.start.timestamp())
        origin = start - start % SECONDS_PER_HOUR
        return cls(origin, start - origin, start - origin + scenario.scenario.duration_s)

    @property
    def n_hours(self) -> int:
        """Clock hours the period touches (a partial hour counts)."""
        return math.ceil(self.end_s / SECONDS_PER_HOUR)

    def batches(self, batch_s: int) -> list[tuple[int, int]]:
        """``[a, b)`` windows of at most ``batch_s`` seconds, never straddling a clock hour."""
        edges = range(self.start_s - self.start_s % batch_s, self.end_s, batch_s)
        return [(max(a, self.start_s), min(a + batch_s, self.end_s)) for a in edges]


@dataclass(frozen=True)
class Batch:
    """Requests arriving in ``[start_s, end_s)`` (engine seconds), one array entry per request."""

    start_s: int
    end_s: int
    counts: NDArray[np.int64]  # requests in each second of the window
    arrival_s: NDArray[np.float64]
    request_bytes: NDArray[np.int64] | None = None
    response_bytes: NDArray[np.int64] | None = None
    connections: Connections | None = None
    duration_ms: NDArray[np.float64] | None = None

    @property
    def n(self) -> int:
        return int(self.arrival_s.size)


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    run_index: int | None = None,
    progress: ProgressCallback | None = None,
) -> pa.Table:
    """Simulate a scenario and return its hourly meter table (see :mod:`sim.meters`).

    Parameters
    ----------
    scenario
        A validated scenario.
    seed
        Root seed; defaults to ``scenario.scenario.seed``.
    run_index
        Run number within a study (its stream is ``SeedSequence(seed, spawn_key=(run_index,))``).
    progress
        Called after each batch with the fraction of the horizon done.
    """
    from sim.meters import HourlyMeter

    root = scenario.scenario.seed if seed is None else seed
    rngs = streams(run_seed_sequence(root, run_index))
    horizon = Horizon.of(scenario)
    meter = HourlyMeter(scenario, horizon)

    env = simpy.Environment(initial_time=horizon.start_s)
    arrivals: simpy.Store = simpy.Store(env, capacity=1)
    shaped: simpy.Store = simpy.Store(env, capacity=1)
    env.process(_source(env, scenario, horizon, rngs["arrivals"], arrivals))
    env.process(_shape(env, scenario, rngs, arrivals, shaped))
    env.process(_record(env, horizon, meter, shaped, progress))
    env.run()
    return meter.table()


def _source(
    env: simpy.Environment,
    scenario: Scenario,
    horizon: Horizon,
    rng: np.random.Generator,
    out: simpy.Store,
) -> Generator[Any, Any, None]:
    """Poisson arrivals: a count per second at the rate of its midpoint, uniform within the second."""
    arrivals = build_arrivals(scenario.traffic)
    for a, b in horizon.batches(scenario.engine.batch_s):
        if env.now < a:
            yield env.timeout(a - env.now)
        seconds = np.arange(a, b, dtype=np.int64)
        midpoints = (horizon.origin_epoch_s + seconds + 0.5).astype(np.float64)
        counts = arrivals.counts(rng, midpoints)
        arrival = np.repeat(seconds.astype(np.float64), counts) + rng.random(int(counts.sum()))
        yield out.put(Batch(start_s=a, end_s=b, counts=counts, arrival_s=arrival))
        yield env.timeout(b - env.now)
    yield out.put(None)


def _shape(
    env: simpy.Environment,
    scenario: Scenario,
    rngs: dict[str, np.random.Generator],
    inp: simpy.Store,
    out: simpy.Store,
) -> Generator[Any, Any, None]:
    """Attach sizes, connections and backend durations to each batch."""
    request_size = build_sampler(scenario.payload.request)
    response_size = build_sampler(scenario.payload.response)
    duration = build_sampler(scenario.backend.duration)
    connections = build_connection_model(scenario.connections)
    while True:
        batch: Batch | None = yield inp.get()
        if batch is None:
            yield out.put(None)
            return
        n = batch.n
        yield out.put(
            Batch(
                start_s=batch.start_s,
                end_s=batch.end_s,
                counts=batch.counts,
                arrival_s=batch.arrival_s,
                request_bytes=sizes_bytes(request_size, rngs["payload"], n),
                response_bytes=sizes_bytes(response_size, rngs["payload"], n),
                connections=connections.open(rngs["connections"], batch.arrival_s),
                duration_ms=duration(rngs["backend"], n),
            )
        )


def _record(
    env: simpy.Environment,
    horizon: Horizon,
    meter: Any,
    inp: simpy.Store,
    progress: ProgressCallback | None,
) -> Generator[Any, Any, None]:
    """Hand each finished batch to the meters."""
    span = horizon.end_s - horizon.start_s
    while True:
        batch: Batch | None = yield inp.get()
        if batch is None:
            return
        meter.add(batch)
        if progress is not None:
            progress((batch.end_s - horizon.start_s) / span)
