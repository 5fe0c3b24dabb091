"""``reference`` fidelity: one SimPy process per request and per connection.

Slow (about a million events a second at best) and meant for small runs: it proves that the
vectorised ``request`` engine meters exactly what a plain event-by-event simulation meters. It draws
the very same batches as ``request`` fidelity (same streams, same order), then lets each request and
each connection live as its own SimPy process, and meters them one event at a time.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
import simpy

from sim.config import Scenario
from sim.engine.core import (
    Batch,
    Context,
    Horizon,
    ProgressCallback,
    connections_at_start,
    ordered_batches,
    with_concurrency,
)
from sim.engine.edge import MIN_HOLD_S, EventPool
from sim.meters import HourlyMeter, contributions
from sim.units import SECONDS_PER_HOUR, SECONDS_PER_MINUTE


class EventMeter(HourlyMeter):
    """The hourly meters, fed one request and one connection event at a time."""

    def __init__(self, scenario: Scenario, horizon: Horizon) -> None:
        super().__init__(scenario, horizon)
        self._per_second: dict[int, int] = {}
        self._open = 0
        self._last_s = float(horizon.start_s)
        # CloudFront's pooled connections, one acquire and release event per forwarded request
        self.event_pool: EventPool | None = None
        if self.flags.edge_pool:
            cf = scenario.cloudfront
            self.event_pool = EventPool(
                cf.edge_locations, cf.origin_keepalive_s, horizon.n_hours, horizon.end_s
            )

    def request(self, t_s: float, facts: dict[str, int]) -> None:
        """One request arrives at ``t_s`` and adds ``facts`` (its share of each counter)."""
        h = int(t_s // SECONDS_PER_HOUR)
        for name, value in facts.items():
            if value:
                self._c[name][h] += value
        second = int(t_s)
        self._per_second[second] = self._per_second.get(second, 0) + 1

    def connection_opened(self, t_s: float) -> None:
        self._advance(t_s)
        self._open += 1
        self._c["new_connections"][int(t_s // SECONDS_PER_HOUR)] += 1

    def connection_open_at_start(self) -> None:
        """A connection already open when the period starts (not a new one of the period)."""
        self._advance(float(self.horizon.start_s))
        self._open += 1

    def connection_closed(self, t_s: float) -> None:
        self._advance(t_s)
        self._open -= 1

    def _advance(self, t_s: float) -> None:
        """Add ``open × time`` since the last event to the per-minute connection-seconds."""
        t_s = min(t_s, float(self.horizon.end_s))
        last = self._last_s
        if self._open and t_s > last:
            k = int(last // SECONDS_PER_MINUTE)
            while last < t_s:
                edge = min(t_s, (k + 1) * float(SECONDS_PER_MINUTE))
                self._conn_s_per_min[k] += self._open * (edge - last)
                last, k = edge, k + 1
        self._last_s = max(self._last_s, t_s)

    def table(self) -> pa.Table:
        self._advance(float(self.horizon.end_s))
        if self.event_pool is not None:
            self.event_pool.finish()
            self.add_edge_pool(0, self.event_pool.new, self.event_pool.connection_s)
        peak = self._c["peak_rps"]
        for second, count in self._per_second.items():
            h = second // SECONDS_PER_HOUR
            peak[h] = max(peak[h], count)
        return super().table()


def run_reference(
    scenario: Scenario,
    horizon: Horizon,
    seq: np.random.SeedSequence,
    progress: ProgressCallback | None = None,
) -> pa.Table:
    """Simulate with one SimPy process per request and per connection."""
    from sim.rng import streams

    rngs = streams(seq)
    meter = EventMeter(scenario, horizon)
    env = simpy.Environment(initial_time=horizon.start_s)
    for remaining in connections_at_start(scenario, horizon, rngs["start"]).tolist():
        env.process(_open_at_start(env, meter, float(horizon.start_s) + remaining))
    ctx = Context(scenario, horizon, seq, with_pool=False)
    batches = (with_concurrency(ctx, b) for b in ordered_batches(ctx, rngs))
    env.process(_spawn(env, horizon, meter, batches, progress))
    env.run(until=horizon.end_s)
    return meter.table()


def _spawn(
    env: simpy.Environment,
    horizon: Horizon,
    meter: EventMeter,
    batches: Iterator[Batch],
    progress: ProgressCallback | None,
) -> Generator[Any, Any, None]:
    """Turn each batch, at its start, into processes: one per connection, one per request."""
    span = horizon.end_s - horizon.start_s
    for batch in batches:
        if env.now < batch.start_s:
            yield env.timeout(batch.start_s - env.now)
        assert batch.request_bytes is not None and batch.response_bytes is not None
        assert batch.duration_ms is not None and batch.connections is not None
        for start, end in zip(batch.connections.start_s, batch.connections.end_s, strict=True):
            env.process(_connection(env, meter, float(start), float(end)))
        peaks = replace(batch, counts=np.zeros(0, dtype=np.int64))  # the busiest second: events
        meter.add_second_peaks(batch.start_s // SECONDS_PER_HOUR, peaks)
        shares = contributions(batch, meter.paths, meter.flags)
        for i in range(batch.n):
            facts = {name: c.of(i) for name, c in shares.items()}
            env.process(_request(env, meter, float(batch.arrival_s[i]), facts))
        if meter.event_pool is not None:
            edge, arrival, hold = meter.forwarded(batch)
            for e, t, d in zip(edge.tolist(), arrival.tolist(), hold.tolist(), strict=True):
                env.process(_origin_request(env, meter.event_pool, e, t, max(d, MIN_HOLD_S)))
        if progress is not None:
            progress((batch.end_s - horizon.start_s) / span)


def _request(
    env: simpy.Environment, meter: EventMeter, t_s: float, facts: dict[str, int]
) -> Generator[Any, Any, None]:
    yield env.timeout(max(0.0, t_s - env.now))
    meter.request(t_s, facts)


def _origin_request(
    env: simpy.Environment, pool: EventPool, edge: int, t_s: float, hold_s: float
) -> Generator[Any, Any, None]:
    """A request CloudFront forwards: it takes a pooled connection of its edge for its hold."""
    yield env.timeout(max(0.0, t_s - env.now))
    pool.acquire(edge, t_s)
    yield env.timeout(hold_s)
    pool.release(edge, t_s + hold_s)


def _connection(
    env: simpy.Environment, meter: EventMeter, start_s: float, end_s: float
) -> Generator[Any, Any, None]:
    yield env.timeout(max(0.0, start_s - env.now))
    meter.connection_opened(start_s)
    yield env.timeout(max(0.0, end_s - env.now))
    meter.connection_closed(end_s)


def _open_at_start(
    env: simpy.Environment, meter: EventMeter, end_s: float
) -> Generator[Any, Any, None]:
    """A connection open when the period starts, until ``end_s``."""
    meter.connection_open_at_start()
    yield env.timeout(max(0.0, end_s - env.now))
    meter.connection_closed(end_s)
