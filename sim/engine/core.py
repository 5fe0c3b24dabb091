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
from dataclasses import dataclass, field, replace
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
    cacheable: NDArray[np.bool_] | None = None  # accepted, a GET the REST cache may answer
    #: per cached path: answered by that path's cache
    hits: dict[str, NDArray[np.bool_]] = field(default_factory=dict)
    #: per path: the requests that reach its Lambda function, and those it admits (not throttled)
    invoked: dict[str, NDArray[np.bool_] | None] = field(default_factory=dict)
    admitted: dict[str, NDArray[np.bool_] | None] = field(default_factory=dict)
    #: per path, per second: execution-seconds started (mean concurrency by Little's law)
    concurrency: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    #: CloudFront (when compared): the edge location of each request, the requests its cache
    #: answers, and those API Gateway's throttle refuses among the rest (its own bucket)
    edge: NDArray[np.int64] | None = None
    edge_hits: NDArray[np.bool_] | None = None
    edge_throttled: NDArray[np.bool_] | None = None
    #: a replayed log: the requests whose client connection it does not know (the connection
    #: model opens theirs); ``request_bytes`` etc. then hold the logged values (-1 / NaN unknown)
    unconnected: NDArray[np.bool_] | None = None

    @property
    def n(self) -> int:
        return int(self.arrival_s.size)


def rates_before_start(scenario: Scenario, horizon: Horizon) -> NDArray[np.float64] | None:
    """Expected requests per second in each second before the period's start (``[0]`` the last
    one) as far back as a connection open at the start can have been opened; None when the
    connections start empty (``connections.start = "empty"``, or sessions, which start with the
    period). A replay's rates before its first second are unknown: those after it stand in."""
    from sim.traffic.connections import PerConnection

    model = build_connection_model(scenario.connections)
    if not isinstance(model, PerConnection) or not model.steady_start:
        return None
    x = np.arange(model.warm_span_s(), dtype=np.float64)
    start = float(horizon.origin_epoch_s + horizon.start_s)
    if scenario.traffic.model == "replay":
        span = float(horizon.end_s - horizon.start_s)
        mid = start + np.minimum(x, span - 1.0) + 0.5
    else:
        mid = start - x - 0.5
    return np.asarray(arrivals_for(scenario).expected_per_s(mid), dtype=np.float64)


def connections_at_start(
    scenario: Scenario, horizon: Horizon, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Remaining lifetimes of the connections open when the period starts (see
    :meth:`sim.traffic.connections.PerConnection.open_at_start`); empty when they start empty."""
    from sim.traffic.connections import PerConnection

    if scenario.traffic.model == "access_log":  # the log shows which were open
        from sim.traffic.logreplay import LogArrivals

        log = arrivals_for(scenario)
        assert isinstance(log, LogArrivals)
        return log.open_at_start(float(horizon.origin_epoch_s + horizon.start_s))
    rates = rates_before_start(scenario, horizon)
    model = build_connection_model(scenario.connections)
    if rates is None or not isinstance(model, PerConnection):
        return np.zeros(0)
    return model.open_at_start(rng, rates)


def run_request(
    scenario: Scenario,
    horizon: Horizon,
    rngs: dict[str, np.random.Generator],
    progress: ProgressCallback | None = None,
) -> pa.Table:
    """``request`` fidelity: every request exists as array entries; exact meters."""
    from sim.meters import HourlyMeter

    meter = HourlyMeter(scenario, horizon)
    meter.open_at_start(connections_at_start(scenario, horizon, rngs["start"]))
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
            if w.carried_start_epoch_s is not None and w.carried_end_epoch_s is not None:
                conns = replace(
                    conns,
                    carried_start_s=w.carried_start_epoch_s - origin,
                    carried_end_s=w.carried_end_epoch_s - origin,
                )
            if w.opened_start_epoch_s is not None and w.opened_end_epoch_s is not None:
                conns = replace(
                    conns,
                    start_s=np.concatenate([conns.start_s, w.opened_start_epoch_s - origin]),
                    end_s=np.concatenate([conns.end_s, w.opened_end_epoch_s - origin]),
                )
            batch = Batch(
                start_s=a,
                end_s=b,
                counts=counts,
                arrival_s=arrival,
                connections=conns,
                request_bytes=_reorder(w.request_bytes, order),
                response_bytes=_reorder(w.response_bytes, order),
                duration_ms=_reorder(w.duration_ms, order),
                unconnected=_reorder(w.unconnected, order),
            )
        else:
            counts = arrivals.counts(rng, midpoints)
            arrival = np.repeat(seconds.astype(np.float64), counts) + rng.random(int(counts.sum()))
            batch = Batch(start_s=a, end_s=b, counts=counts, arrival_s=arrival)
        yield out.put(batch)
        yield env.timeout(b - env.now)
    yield out.put(None)


def _reorder(values: NDArray[Any] | None, order: NDArray[np.intp]) -> NDArray[Any] | None:
    return None if values is None else values[order]


def _fill(given: NDArray[Any], unknown: NDArray[np.bool_], drawn: NDArray[Any]) -> NDArray[Any]:
    """What the source gave, with the draws where it gave nothing (``unknown``)."""
    return np.where(unknown, drawn, given) if unknown.any() else given


def _merge_connections(
    arrival_s: NDArray[np.float64],
    logged: Connections,
    drawn: Connections,
    unconnected: NDArray[np.bool_],
) -> Connections:
    """The source's connections with the model's for the requests it did not connect (each
    opening request's connection starts with it)."""
    end = np.full(unconnected.size, np.nan)
    k = int(logged.new.sum())  # the rest: connections opened by no request
    end[logged.new] = logged.end_s[:k]
    idx = np.flatnonzero(unconnected)
    new = logged.new.copy()
    new[idx[drawn.new]] = True
    end[idx[drawn.new]] = drawn.end_s
    return Connections(
        new=new,
        start_s=np.concatenate([arrival_s[new], logged.start_s[k:]]),
        end_s=np.concatenate([end[new], logged.end_s[k:]]),
        carried_start_s=logged.carried_start_s, carried_end_s=logged.carried_end_s,
    )  # fmt: skip


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
        durations = duration(rngs["backend"], n)
        conns = batch.connections
        if conns is None:
            conns = connections.open(rngs["connections"], batch.arrival_s)
        elif batch.unconnected is not None and batch.unconnected.any():
            drawn = connections.open(rngs["connections"], batch.arrival_s[batch.unconnected])
            conns = _merge_connections(batch.arrival_s, conns, drawn, batch.unconnected)
        if batch.request_bytes is not None:  # a replayed log: its values where it has them
            assert batch.response_bytes is not None and batch.duration_ms is not None
            request_bytes = _fill(batch.request_bytes, batch.request_bytes < 0, request_bytes)
            response_bytes = _fill(batch.response_bytes, batch.response_bytes < 0, response_bytes)
            durations = _fill(batch.duration_ms, np.isnan(batch.duration_ms), durations)
        yield out.put(
            Batch(
                start_s=batch.start_s,
                end_s=batch.end_s,
                counts=batch.counts,
                arrival_s=batch.arrival_s,
                request_bytes=request_bytes,
                response_bytes=response_bytes,
                connections=conns,
                duration_ms=durations,
            )
        )


def _gateway(
    env: simpy.Environment,
    scenario: Scenario,
    rngs: dict[str, np.random.Generator],
    inp: simpy.Store,
    out: simpy.Store,
) -> Generator[Any, Any, None]:
    """Each deployment's path to Lambda, batch by batch: API Gateway's throttle, the REST cache at
    each size, and each path's own Lambda concurrency limit (see :mod:`sim.engine.paths`)."""
    from sim.engine.gateway import (
        CACHE_MAX_ITEM_BYTES,
        WEBSOCKET_MAX_MESSAGE_BYTES,
        ContinuousTokenBucket,
        LossSystem,
        ZipfKeys,
        little_concurrency,
    )
    from sim.engine.paths import engine_paths

    gw = scenario.apigateway
    bucket = (
        ContinuousTokenBucket(gw.throttle.rate_per_s, gw.throttle.burst)
        if gw.throttle.enabled
        else None
    )
    paths = engine_paths(scenario)
    caches = CacheSet.for_scenario(scenario)
    keys = ZipfKeys(gw.cache.keys.count, gw.cache.keys.exponent).sampler() if caches else None
    limit = scenario.backend.concurrency_limit
    loss = {p.name: LossSystem(limit) for p in paths}
    edge = EdgeStage.for_scenario(scenario, paths)
    while True:
        batch: Batch | None = yield inp.get()
        if batch is None:
            yield out.put(None)
            return
        assert batch.duration_ms is not None and batch.response_bytes is not None
        throttled = None
        if bucket is not None:
            throttled = bucket.throttle(batch.counts, batch.arrival_s, batch.start_s)
        served = ~throttled if throttled is not None else None
        cacheable = None
        hits: dict[str, NDArray[np.bool_]] = {}
        if caches is not None and keys is not None:
            rng = rngs["cache"]
            cacheable = rng.random(batch.n) < gw.cache.cacheable_share
            request_keys = keys(rng, batch.n)
            if served is not None:
                cacheable &= served
            # a response over 1 MB is never cached: a miss that stores nothing
            asks = cacheable & (batch.response_bytes <= CACHE_MAX_ITEM_BYTES)
            hits = caches.lookup(batch.arrival_s, request_keys, asks)
        edge_of = edge_hits = edge_throttled = None
        if edge is not None:
            edge_of, edge_hits, edge_throttled = edge.step(rngs["cloudfront"], batch)
        invoked: dict[str, NDArray[np.bool_] | None] = {}
        admitted: dict[str, NDArray[np.bool_] | None] = {}
        concurrency: dict[str, NDArray[np.float64]] = {}
        for p in paths:
            reach = served if p.through_gateway else None
            if p.edge:
                assert edge_hits is not None
                reach = ~edge_hits
                if p.through_gateway and edge_throttled is not None:
                    reach &= ~edge_throttled
            if p.cache_size_gb is not None:
                reach = ~hits[p.name] if reach is None else reach & ~hits[p.name]
            if p.websocket:
                assert batch.request_bytes is not None
                accepted = np.asarray(batch.request_bytes <= WEBSOCKET_MAX_MESSAGE_BYTES)
                reach = accepted if reach is None else reach & accepted
            invoked[p.name] = reach
            counts, arrival, duration = batch.counts, batch.arrival_s, batch.duration_ms
            if reach is not None:
                second = np.floor(arrival[reach]).astype(np.int64) - batch.start_s
                counts = np.bincount(second, minlength=batch.counts.size).astype(np.int64)
                arrival, duration = arrival[reach], duration[reach]
            concurrency[p.name] = little_concurrency(counts, duration)
            ok = loss[p.name].admit(arrival, duration, counts, batch.start_s)
            if reach is None:
                admitted[p.name] = None if ok.all() else ok
            else:
                full = np.zeros(batch.n, dtype=np.bool_)
                full[reach] = ok
                admitted[p.name] = full
        yield out.put(
            replace(
                batch,
                throttled=throttled,
                cacheable=cacheable,
                hits=hits,
                invoked=invoked,
                admitted=admitted,
                concurrency=concurrency,
                edge=edge_of,
                edge_hits=edge_hits,
                edge_throttled=edge_throttled,
            )
        )


@dataclass
class EdgeStage:
    """CloudFront in the pipeline: each request's edge location (uniform), the edge caches (one
    exact TTL cache per edge location, keys as for the REST cache) and, for origins behind API
    Gateway, the throttle's own bucket fed CloudFront's misses only."""

    edges: int
    cache: Any  # TtlCache over (edge, key) pairs, or None
    keys: Any
    cacheable_share: float
    key_count: int
    bucket: Any  # ContinuousTokenBucket, or None

    @classmethod
    def for_scenario(cls, scenario: Scenario, paths: Any) -> EdgeStage | None:
        from sim.engine.gateway import ContinuousTokenBucket, TtlCache, ZipfKeys
        from sim.engine.paths import cloudfront_origins

        if not cloudfront_origins(scenario):
            return None
        cf = scenario.cloudfront
        cache = keys = None
        if cf.cache.enabled:
            cache = TtlCache(cf.edge_locations * cf.cache.keys.count, cf.cache.ttl_s)
            keys = ZipfKeys(cf.cache.keys.count, cf.cache.keys.exponent).sampler()
        throttle = scenario.apigateway.throttle
        bucket = None
        if any(p.edge and p.through_gateway for p in paths) and throttle.enabled:
            bucket = ContinuousTokenBucket(throttle.rate_per_s, throttle.burst)
        return cls(
            cf.edge_locations, cache, keys, cf.cache.cacheable_share, cf.cache.keys.count, bucket
        )

    def step(
        self, rng: np.random.Generator, batch: Batch
    ) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.bool_] | None]:
        """``(edge of each request, answered by its edge's cache, refused by the throttle)``."""
        n = batch.n
        edge = rng.integers(0, self.edges, n).astype(np.int64)
        hits = np.zeros(n, dtype=np.bool_)
        if self.cache is not None:
            cacheable = rng.random(n) < self.cacheable_share
            key = self.keys(rng, n)
            idx = np.flatnonzero(cacheable)
            hits[idx] = self.cache.lookup(
                batch.arrival_s[idx], edge[idx] * self.key_count + key[idx]
            )
        throttled = None
        if self.bucket is not None:
            miss = np.flatnonzero(~hits)
            arrival = batch.arrival_s[miss]
            second = np.floor(arrival).astype(np.int64) - batch.start_s
            counts = np.bincount(second, minlength=batch.counts.size).astype(np.int64)
            # the misses, grouped by second as the bucket expects
            order = np.argsort(second, kind="stable")
            refused = self.bucket.throttle(counts, arrival[order], batch.start_s)
            throttled = np.zeros(n, dtype=np.bool_)
            if refused is not None:
                throttled[miss[order[refused]]] = True
        return edge, hits, throttled


@dataclass
class CacheSet:
    """The REST cache at every configured size, fed the same lookups: sizes that hold every key
    share one exact TTL cache (their hits are the same); each size that does not gets its own
    exact LRU + TTL cache."""

    shared: Any  # TtlCache for the sizes where every key fits, or None
    shared_paths: tuple[str, ...]
    lru: dict[str, Any]  # path -> LruTtlCache

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> CacheSet | None:
        from sim.engine.gateway import LruTtlCache, TtlCache, cache_capacity_entries
        from sim.engine.paths import cache_path

        cache = scenario.apigateway.cache
        if not cache.enabled:
            return None
        mean_response = build_payload(scenario.payload).response.mean
        fits: list[str] = []
        lru: dict[str, Any] = {}
        for size in cache.sizes_gb:
            capacity = cache_capacity_entries(size, mean_response)
            if cache.keys.count <= capacity:
                fits.append(cache_path(size))
            else:
                lru[cache_path(size)] = LruTtlCache(capacity, cache.ttl_s)
        shared = TtlCache(cache.keys.count, cache.ttl_s) if fits else None
        return cls(shared, tuple(fits), lru)

    def lookup(
        self, arrival_s: NDArray[np.float64], keys: NDArray[np.int64], asks: NDArray[np.bool_]
    ) -> dict[str, NDArray[np.bool_]]:
        """Per cached path: which requests (of those that ``asks``) its cache answers."""
        out: dict[str, NDArray[np.bool_]] = {}
        idx = np.flatnonzero(asks)
        t, k = arrival_s[idx], keys[idx]
        if self.shared is not None:
            hit = np.zeros(asks.size, dtype=np.bool_)
            hit[idx] = self.shared.lookup(t, k)
            for name in self.shared_paths:
                out[name] = hit
        for name, cache in self.lru.items():
            hit = np.zeros(asks.size, dtype=np.bool_)
            hit[idx] = cache.lookup(t, k)
            out[name] = hit
        return out


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
