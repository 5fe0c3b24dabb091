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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import simpy
from numpy.typing import NDArray

from sim.config import Scenario
from sim.traffic import build_connection_model, build_sampler
from sim.traffic.arrivals import DetailedArrivalProcess, arrivals_for
from sim.traffic.connections import Connections
from sim.traffic.payloads import build_payload
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
    throttled: NDArray[np.bool_] | None = None  # refused by API Gateway's throttle
    cacheable: NDArray[np.bool_] | None = None  # a GET the REST cache may answer
    cache_hit: NDArray[np.bool_] | None = None  # answered by the cache (when cacheable, accepted)
    lambda_throttled: NDArray[np.int64] | None = None  # per second: refused by Lambda's limit
    lambda_concurrency: NDArray[np.float64] | None = None  # per second: mean executions

    @property
    def n(self) -> int:
        return int(self.arrival_s.size)


def run_request(
    scenario: Scenario,
    horizon: Horizon,
    rngs: dict[str, np.random.Generator],
    progress: ProgressCallback | None = None,
) -> pa.Table:
    """``request`` fidelity: every request exists as array entries; exact meters."""
    from sim.meters import HourlyMeter

    meter = HourlyMeter(scenario, horizon)
    env = simpy.Environment(initial_time=horizon.start_s)
    shaped = pipeline(env, scenario, horizon, rngs)
    env.process(_record(env, horizon, meter, shaped, progress))
    env.run()
    return meter.table()


def pipeline(
    env: simpy.Environment,
    scenario: Scenario,
    horizon: Horizon,
    rngs: dict[str, np.random.Generator],
) -> simpy.Store:
    """Start ``source -> shape -> gateway`` and return the store the finished batches arrive in."""
    arrivals: simpy.Store = simpy.Store(env, capacity=1)
    shaped: simpy.Store = simpy.Store(env, capacity=1)
    gated: simpy.Store = simpy.Store(env, capacity=1)
    env.process(_source(env, scenario, horizon, rngs["arrivals"], arrivals))
    env.process(_shape(env, scenario, rngs, arrivals, shaped))
    env.process(_gateway(env, scenario, rngs, shaped, gated))
    return gated


def _source(
    env: simpy.Environment,
    scenario: Scenario,
    horizon: Horizon,
    rng: np.random.Generator,
    out: simpy.Store,
) -> Generator[Any, Any, None]:
    """Arrivals, batch by batch, from the scenario's arrival process (:func:`arrivals_for`).

    Counts per second; each second's arrivals spread uniformly within it (how a Poisson process
    places a given number of points in an interval), unless the process knows the exact times and
    the connections they open (sessions): then those, sorted, with the batch's connections. Either
    way a batch's arrivals are grouped by second, seconds ascending, as ``counts`` says.
    """
    arrivals = arrivals_for(scenario)
    detailed = isinstance(arrivals, DetailedArrivalProcess)
    origin = horizon.origin_epoch_s
    for a, b in horizon.batches(scenario.engine.batch_s):
        if env.now < a:
            yield env.timeout(a - env.now)
        seconds = np.arange(a, b, dtype=np.int64)
        midpoints = (origin + seconds + 0.5).astype(np.float64)
        if detailed:
            assert isinstance(arrivals, DetailedArrivalProcess)
            w = arrivals.window(rng, midpoints)
            arrival = w.times_epoch_s - origin
            second = np.clip(np.floor(arrival).astype(np.int64) - a, 0, b - a - 1)
            # group by second (a stable radix sort on 16-bit keys: batches are ≤ 3600 s)
            order = np.argsort(second.astype(np.uint16), kind="stable")
            arrival, opens, second = arrival[order], w.opens[order], second[order]
            # connection ends are listed per opening request, in arrival order
            ends = np.full(w.opens.size, np.nan)
            ends[w.opens] = w.conn_end_epoch_s - origin
            ends = ends[order][opens]
            counts = np.bincount(second, minlength=b - a).astype(np.int64)
            conns = Connections(new=opens, start_s=arrival[opens], end_s=ends)
            batch = Batch(start_s=a, end_s=b, counts=counts, arrival_s=arrival, connections=conns)
        else:
            counts = arrivals.counts(rng, midpoints)
            arrival = np.repeat(seconds.astype(np.float64), counts) + rng.random(int(counts.sum()))
            batch = Batch(start_s=a, end_s=b, counts=counts, arrival_s=arrival)
        yield out.put(batch)
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
    payload = build_payload(scenario.payload)
    duration = build_sampler(scenario.backend.duration)
    connections = build_connection_model(scenario.connections)
    while True:
        batch: Batch | None = yield inp.get()
        if batch is None:
            yield out.put(None)
            return
        n = batch.n
        request_bytes, response_bytes = payload.draw(rngs["payload"], n)
        yield out.put(
            Batch(
                start_s=batch.start_s,
                end_s=batch.end_s,
                counts=batch.counts,
                arrival_s=batch.arrival_s,
                request_bytes=request_bytes,
                response_bytes=response_bytes,
                connections=batch.connections
                if batch.connections is not None
                else connections.open(rngs["connections"], batch.arrival_s),
                duration_ms=duration(rngs["backend"], n),
            )
        )


def _gateway(
    env: simpy.Environment,
    scenario: Scenario,
    rngs: dict[str, np.random.Generator],
    inp: simpy.Store,
    out: simpy.Store,
) -> Generator[Any, Any, None]:
    """API Gateway's throttle, the REST cache and Lambda's concurrency limit, batch by batch."""
    from sim.engine.gateway import (
        ConcurrencyLimit,
        LruTtlCache,
        TokenBucket,
        TtlCache,
        ZipfKeys,
        cache_capacity_entries,
        throttled_mask,
    )

    gw = scenario.apigateway
    bucket = TokenBucket(gw.throttle.rate_per_s, gw.throttle.burst) if gw.throttle.enabled else None
    cache: TtlCache | LruTtlCache | None = None
    if gw.cache.enabled:
        capacity = cache_capacity_entries(
            min(gw.cache.sizes_gb), build_payload(scenario.payload).response.mean
        )
        cache = (
            TtlCache(gw.cache.keys.count, gw.cache.ttl_s)
            if gw.cache.keys.count <= capacity
            else LruTtlCache(capacity, gw.cache.ttl_s)
        )
    keys = ZipfKeys(gw.cache.keys.count, gw.cache.keys.exponent).sampler() if cache else None
    limit = ConcurrencyLimit(scenario.backend.concurrency_limit)
    while True:
        batch: Batch | None = yield inp.get()
        if batch is None:
            yield out.put(None)
            return
        throttled = None
        if bucket is not None:
            per_second = bucket.throttle(batch.counts)
            throttled = throttled_mask(batch.counts, per_second, batch.arrival_s, batch.start_s)
        cacheable = hit = None
        if cache is not None and keys is not None:
            rng = rngs["cache"]
            cacheable = rng.random(batch.n) < gw.cache.cacheable_share
            request_keys = keys(rng, batch.n)
            hit = np.zeros(batch.n, dtype=np.bool_)
            asks = cacheable if throttled is None else cacheable & ~throttled
            hit[asks] = cache.lookup(batch.arrival_s[asks], request_keys[asks])
        assert batch.duration_ms is not None
        concurrency = limit.second_concurrency(batch.counts, batch.duration_ms)
        yield out.put(
            replace(
                batch,
                throttled=throttled,
                cacheable=cacheable,
                cache_hit=hit,
                lambda_throttled=limit.throttled(batch.counts, concurrency),
                lambda_concurrency=concurrency,
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
