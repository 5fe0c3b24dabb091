"""``request`` fidelity: columnar batches of requests, drawn in parallel, passed in time order
through the state that spans them.

A run is cut into batches (by default one clock hour of requests, as numpy arrays), so memory stays
flat however long the horizon is. Each batch goes through three steps:

1. ``source`` (:func:`source_batches`, in time order, in the run's process): the per-second counts
   from the arrival process (which carries state from window to window), or a detailed process's
   exact requests (sessions, a replayed log);
2. ``generate`` (:func:`generate`, anywhere): arrival times within each second, sizes, connections,
   backend durations and the cache and CloudFront draws, from the batch's own streams
   (:func:`sim.rng.batch_streams`);
3. ``apply`` (:meth:`OrderedState.apply`, in time order): API Gateway's token bucket, the caches,
   each path's Lambda concurrency limit and CloudFront's pooled connections, the state that spans
   batches; then ``meter`` (:func:`batch_facts`, anywhere): the batch's share of the hourly facts.

With ``workers`` > 1 (:mod:`sim.engine.workers`) worker processes draw and meter the batches and
the ordered state travels from one to the next; the meters are the same for any number of workers.
Connections still open at a batch's end add their connection-seconds to later minutes (additive).
The engine records facts; it never knows a price.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
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
    """The simulated period in engine time: seconds from ``origin_epoch_s``, the hour the start is in
    (the hour the warm-up starts in when there is one).

    ``warmup_s`` seconds before ``start_s`` are simulated and not billed (``engine.warmup_s``):
    their batches carry the state into the period (connections still open, caches, the token bucket,
    Lambda executions in flight, CloudFront's pool) and meter only the open time of their
    connections after the start; the meter table starts with the start's hour."""

    origin_epoch_s: int
    start_s: int
    end_s: int
    warmup_s: int = 0

    @classmethod
    def of(cls, scenario: Scenario, *, warmup: bool = False) -> Horizon:
        """The scenario's period; with ``warmup``, preceded by its ``engine.warmup_s``."""
        start = int(scenario.scenario.start.timestamp())
        warm = scenario.engine.warmup_s if warmup else 0
        origin = (start - warm) - (start - warm) % SECONDS_PER_HOUR
        return cls(origin, start - origin, start - origin + scenario.scenario.duration_s, warm)

    @property
    def n_hours(self) -> int:
        """Clock hours the simulation touches (a partial hour counts; warm-up hours too)."""
        return math.ceil(self.end_s / SECONDS_PER_HOUR)

    @property
    def first_hour(self) -> int:
        """The index of the period's first clock hour (after the warm-up's hours)."""
        return self.start_s // SECONDS_PER_HOUR

    @property
    def simulated_from_s(self) -> int:
        """Where the simulation starts: the warm-up's start, else the period's."""
        return self.start_s - self.warmup_s

    def batches(self, batch_s: int) -> list[tuple[int, int]]:
        """``[a, b)`` windows of at most ``batch_s`` seconds from the warm-up's start, never
        straddling a clock hour or the period's start."""
        lo = self.simulated_from_s
        out: list[tuple[int, int]] = []
        for a in range(lo - lo % batch_s, self.end_s, batch_s):
            x, y = max(a, lo), min(a + batch_s, self.end_s)
            if x < self.start_s < y:
                out += [(x, self.start_s), (self.start_s, y)]
            else:
                out.append((x, y))
        return out


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
    #: the batch's number in the run (its streams: :func:`sim.rng.batch_streams`)
    index: int = 0
    #: draws made with the batch: a REST-cacheable request (before the throttle) and its key;
    #: CloudFront's cacheable requests and their keys
    cache_draw: NDArray[np.bool_] | None = None
    cache_keys: NDArray[np.int64] | None = None
    edge_cacheable: NDArray[np.bool_] | None = None
    edge_keys: NDArray[np.int64] | None = None
    #: CloudFront's pooled connections: what the ordered step found (:class:`sim.engine.edge.PoolStep`)
    pool_step: Any = None

    @property
    def n(self) -> int:
        return int(self.arrival_s.size)


def rates_before_start(scenario: Scenario, horizon: Horizon) -> NDArray[np.float64] | None:
    """Expected requests per second in each second before the period's start (``[0]`` the last
    one) as far back as a connection open at the start can have been opened; None when the
    connections start empty (``connections.start = "empty"``, or sessions, which start with the
    period). A replay's rates before its first second are unknown: those after it stand in.

    With a warm-up (``engine.warmup_s``, which ``aggregate`` fidelity takes in expectation
    through these rates), the connections open at the start are those opened during it: the
    rates go back no further than its start, and a replay's are the trace's own there (none
    before the trace's first second)."""
    from sim.traffic.connections import PerConnection

    model = build_connection_model(scenario.connections)
    warmup = scenario.engine.warmup_s
    if not isinstance(model, PerConnection) or not (model.steady_start or warmup):
        return None
    reach = replace(model, steady_start=True).warm_span_s()
    x = np.arange(min(reach, warmup) if warmup else reach, dtype=np.float64)
    start = float(horizon.origin_epoch_s + horizon.start_s)
    if scenario.traffic.model == "replay" and not warmup:
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


@dataclass(frozen=True)
class SourceBatch:
    """What the ordered source gives one batch: its window and per-second counts, or the window of
    a detailed arrival process (sessions, a replayed access log) with its exact requests."""

    index: int
    start_s: int
    end_s: int
    counts: NDArray[np.int64] | None = None
    window: Any = None  # ArrivalWindow of a DetailedArrivalProcess


def source_batches(
    scenario: Scenario, horizon: Horizon, rng: np.random.Generator
) -> Generator[SourceBatch, None, None]:
    """The batches' counts (or detailed windows) in time order, from the run's ``arrivals`` stream
    (an arrival process carries state from one window to the next: bursts, flash crowds, sessions)."""
    arrivals = arrivals_for(scenario)
    detailed = isinstance(arrivals, DetailedArrivalProcess)
    origin = horizon.origin_epoch_s
    for index, (a, b) in enumerate(horizon.batches(scenario.engine.batch_s)):
        midpoints = (origin + np.arange(a, b, dtype=np.int64) + 0.5).astype(np.float64)
        if detailed:
            assert isinstance(arrivals, DetailedArrivalProcess)
            yield SourceBatch(index, a, b, window=arrivals.window(rng, midpoints))
        else:
            yield SourceBatch(index, a, b, counts=arrivals.counts(rng, midpoints))


@dataclass
class Context:
    """What every process of a ``request``-fidelity run knows (built once per process): the
    scenario's models, the run's seed sequence, and which mechanisms it has."""

    scenario: Scenario
    horizon: Horizon
    seq: np.random.SeedSequence
    with_pool: bool = True  # CloudFront's pooled connections metered by EdgePool (request fidelity)

    def __post_init__(self) -> None:
        from sim.engine.gateway import ZipfKeys
        from sim.engine.paths import cloudfront_origins, engine_paths
        from sim.meters import HourlyMeter

        sc = self.scenario
        self.payload = build_payload(sc.payload)
        self.duration = build_sampler(sc.backend.duration)
        self.connections = build_connection_model(sc.connections)
        self.paths = engine_paths(sc)
        gw = sc.apigateway
        self.cache_share = gw.cache.cacheable_share
        self.keys = (
            ZipfKeys(gw.cache.keys.count, gw.cache.keys.exponent).sampler()
            if gw.cache.enabled
            else None
        )
        cf = sc.cloudfront
        self.edges = cf.edge_locations if cloudfront_origins(sc) else 0
        self.edge_keys = None
        if self.edges and cf.cache.enabled:
            self.edge_keys = ZipfKeys(cf.cache.keys.count, cf.cache.keys.exponent).sampler()
        self.meter = HourlyMeter(sc, self.horizon)
        self.pooled = self.with_pool and self.meter.flags.edge_pool


def generate(ctx: Context, src: SourceBatch) -> Batch:
    """Batch ``src.index``: every request with its arrival time, sizes, connection, backend
    duration and the cache and CloudFront draws, from the batch's own streams
    (:func:`sim.rng.batch_streams`): the same batch whatever process draws it."""
    from sim.rng import batch_streams

    rng = batch_streams(ctx.seq, src.index)
    a, b = src.start_s, src.end_s
    origin = ctx.horizon.origin_epoch_s
    given: dict[str, Any] = {}
    if src.window is not None:
        w = src.window
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
        logged = Connections(new=opens, start_s=arrival[opens], end_s=ends)
        if w.carried_start_epoch_s is not None and w.carried_end_epoch_s is not None:
            logged = replace(
                logged,
                carried_start_s=w.carried_start_epoch_s - origin,
                carried_end_s=w.carried_end_epoch_s - origin,
            )
        if w.opened_start_epoch_s is not None and w.opened_end_epoch_s is not None:
            logged = replace(
                logged,
                start_s=np.concatenate([logged.start_s, w.opened_start_epoch_s - origin]),
                end_s=np.concatenate([logged.end_s, w.opened_end_epoch_s - origin]),
            )
        given = {
            "connections": logged,
            "request_bytes": _reorder(w.request_bytes, order),
            "response_bytes": _reorder(w.response_bytes, order),
            "duration_ms": _reorder(w.duration_ms, order),
            "unconnected": _reorder(w.unconnected, order),
        }
    else:
        assert src.counts is not None
        counts = src.counts
        seconds = np.arange(a, b, dtype=np.float64)
        arrival = np.repeat(seconds, counts) + rng["arrivals"].random(int(counts.sum()))
    n = arrival.size
    request_bytes, response_bytes = _payload(ctx, rng["payload"], n)
    durations = _draw(ctx.duration, rng["backend"], n)
    conns = given.get("connections")
    unconnected = given.get("unconnected")
    if conns is None:
        conns = ctx.connections.open(rng["connections"], arrival)
    elif unconnected is not None and unconnected.any():
        drawn = ctx.connections.open(rng["connections"], arrival[unconnected])
        conns = _merge_connections(arrival, conns, drawn, unconnected)
    if given.get("request_bytes") is not None:  # a replayed log: its values where it has them
        req, resp, dur = given["request_bytes"], given["response_bytes"], given["duration_ms"]
        request_bytes = _fill(req, req < 0, request_bytes)
        response_bytes = _fill(resp, resp < 0, response_bytes)
        durations = _fill(dur, np.isnan(dur), durations)
    draws: dict[str, Any] = {}
    if ctx.keys is not None:
        cache = rng["cache"]
        draws["cache_draw"] = cache.random(n) < ctx.cache_share
        draws["cache_keys"] = ctx.keys(cache, n)
    if ctx.edges:
        cf = rng["cloudfront"]
        draws["edge"] = cf.integers(0, ctx.edges, n).astype(np.int64)
        if ctx.edge_keys is not None:
            draws["edge_cacheable"] = cf.random(n) < ctx.scenario.cloudfront.cache.cacheable_share
            draws["edge_keys"] = ctx.edge_keys(cf, n)
    return Batch(
        start_s=a,
        end_s=b,
        counts=counts,
        arrival_s=arrival,
        request_bytes=request_bytes,
        response_bytes=response_bytes,
        connections=conns,
        duration_ms=durations,
        index=src.index,
        **draws,
    )


def _draw(sampler: Any, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    """``n`` draws of ``sampler``, the common cases without the sampler's general path: a
    degenerate distribution is its value (it draws nothing; a read-only view), a lognormal ``exp(μ + σ·Z)`` with
    numpy's vectorised ``exp`` (the same distribution; about a third faster than
    ``Generator.lognormal``, whose ``exp`` is scalar)."""
    from sim.traffic.distributions import Lognormal

    if sampler.constant is not None:  # a read-only view of the one value
        return np.broadcast_to(np.float64(sampler.constant), (n,))
    if isinstance(sampler, Lognormal):
        z = rng.standard_normal(n)
        z *= sampler.sigma
        z += sampler.mu
        return np.exp(z, out=z)
    return np.asarray(sampler(rng, n), dtype=np.float64)


def _sizes(sampler: Any, rng: np.random.Generator, n: int) -> NDArray[np.int64]:
    """Whole-byte sizes, at least 1 (:func:`sim.traffic.distributions.sizes_bytes`); a constant
    size is a read-only view of one value (nothing is drawn or written per request)."""
    if sampler.constant is not None:
        size = np.int64(max(1, round(float(sampler.constant))))
        return np.broadcast_to(size, (n,))
    return np.maximum(1, np.rint(_draw(sampler, rng, n))).astype(np.int64)


def _payload(
    ctx: Context, rng: np.random.Generator, n: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Request and response sizes (:meth:`sim.traffic.payloads.Payload.draw`; one route without
    the route draw)."""
    payload = ctx.payload
    if payload.routed:
        return payload.draw(rng, n)
    return _sizes(payload.requests[0], rng, n), _sizes(payload.responses[0], rng, n)


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


@dataclass
class OrderedState:
    """The state that spans batches, applied to each batch in time order: API Gateway's token
    bucket, the REST caches, CloudFront's edge caches and bucket, each path's Lambda function (its
    executions still running) and CloudFront's pooled connections to an ALB.

    :meth:`apply` is the only work a run does batch after batch; it is cheap where a mechanism
    cannot act (the bucket's and the loss systems' bounds prove it from the counts, and the pool
    needs only the few seconds the previous batch still reaches into: see :class:`PoolStep`).
    Everything else is drawn and metered per batch, in any process. The state is a plain picklable
    object: it travels to the process that drew the batch."""

    bucket: Any
    caches: CacheSet | None
    loss: dict[str, Any]
    edge: EdgeStage | None
    pool: Any  # EdgePool, or None

    @classmethod
    def for_context(cls, ctx: Context) -> OrderedState:
        from sim.engine.edge import EdgePool
        from sim.engine.gateway import ContinuousTokenBucket, LossSystem

        sc = ctx.scenario
        gw = sc.apigateway
        bucket = (
            ContinuousTokenBucket(gw.throttle.rate_per_s, gw.throttle.burst)
            if gw.throttle.enabled
            else None
        )
        limit = sc.backend.concurrency_limit
        pool = None
        if ctx.pooled:
            cf = sc.cloudfront
            pool = EdgePool(
                cf.edge_locations, cf.origin_keepalive_s, ctx.horizon.n_hours, ctx.horizon.end_s
            )
        return cls(
            bucket,
            CacheSet.for_scenario(sc),
            {p.name: LossSystem(limit) for p in ctx.paths},
            EdgeStage.for_scenario(sc, ctx.paths),
            pool,
        )

    def apply(self, ctx: Context, batch: Batch) -> Batch:
        """The batch with what the stateful mechanisms decided (throttled, cache hits, Lambda
        admissions, CloudFront's hits and refusals, the pool's step); the state moves on."""
        from sim.engine.gateway import CACHE_MAX_ITEM_BYTES, WEBSOCKET_MAX_MESSAGE_BYTES

        assert batch.duration_ms is not None and batch.response_bytes is not None
        throttled = None
        if self.bucket is not None:
            throttled = self.bucket.throttle(batch.counts, batch.arrival_s, batch.start_s)
        served = ~throttled if throttled is not None else None
        cacheable = None
        hits: dict[str, NDArray[np.bool_]] = {}
        if self.caches is not None:
            assert batch.cache_draw is not None and batch.cache_keys is not None
            cacheable = batch.cache_draw if served is None else batch.cache_draw & served
            # a response over 1 MB is never cached: a miss that stores nothing
            asks = cacheable & (batch.response_bytes <= CACHE_MAX_ITEM_BYTES)
            hits = self.caches.lookup(batch.arrival_s, batch.cache_keys, asks)
        edge_hits = edge_throttled = None
        if self.edge is not None:
            edge_hits, edge_throttled = self.edge.apply(batch)
        invoked: dict[str, NDArray[np.bool_] | None] = {}
        admitted: dict[str, NDArray[np.bool_] | None] = {}
        for p in ctx.paths:
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
            loss = self.loss[p.name]
            if loss.limit is None:
                admitted[p.name] = None
                continue
            counts, arrival, duration = batch.counts, batch.arrival_s, batch.duration_ms
            if reach is not None:
                second = np.floor(arrival[reach]).astype(np.int64) - batch.start_s
                counts = np.bincount(second, minlength=batch.counts.size).astype(np.int64)
                arrival, duration = arrival[reach], duration[reach]
            ok = loss.admit(arrival, duration, counts, batch.start_s)
            if reach is None:
                admitted[p.name] = None if ok.all() else ok
            else:
                full = np.zeros(batch.n, dtype=np.bool_)
                full[reach] = ok
                admitted[p.name] = full
        out = replace(
            batch,
            throttled=throttled,
            cacheable=cacheable,
            hits=hits,
            invoked=invoked,
            admitted=admitted,
            edge_hits=edge_hits,
            edge_throttled=edge_throttled,
        )
        if self.pool is not None:
            from sim.engine.edge import PoolStep

            edge, arrival, hold = ctx.meter.forwarded(out)
            step, self.pool = PoolStep.of(self.pool, edge, arrival, hold, out.start_s, out.end_s)
            out = replace(out, pool_step=step)
        return out


@dataclass
class EdgeStage:
    """CloudFront in the pipeline: each request's edge location (uniform), the edge caches (one
    exact TTL cache per edge location, keys as for the REST cache) and, for origins behind API
    Gateway, the throttle's own bucket fed CloudFront's misses only."""

    edges: int
    cache: Any  # TtlCache over (edge, key) pairs, or None
    key_count: int
    bucket: Any  # ContinuousTokenBucket, or None

    @classmethod
    def for_scenario(cls, scenario: Scenario, paths: Any) -> EdgeStage | None:
        from sim.engine.gateway import ContinuousTokenBucket, TtlCache
        from sim.engine.paths import cloudfront_origins

        if not cloudfront_origins(scenario):
            return None
        cf = scenario.cloudfront
        cache = None
        if cf.cache.enabled:
            cache = TtlCache(cf.edge_locations * cf.cache.keys.count, cf.cache.ttl_s)
        throttle = scenario.apigateway.throttle
        bucket = None
        if any(p.edge and p.through_gateway for p in paths) and throttle.enabled:
            bucket = ContinuousTokenBucket(throttle.rate_per_s, throttle.burst)
        return cls(cf.edge_locations, cache, cf.cache.keys.count, bucket)

    def apply(self, batch: Batch) -> tuple[NDArray[np.bool_], NDArray[np.bool_] | None]:
        """``(answered by its edge's cache, refused by the throttle)`` per request of ``batch``
        (whose edges, cacheable requests and keys were drawn with it)."""
        n = batch.n
        assert batch.edge is not None
        hits = np.zeros(n, dtype=np.bool_)
        if self.cache is not None:
            assert batch.edge_cacheable is not None and batch.edge_keys is not None
            idx = np.flatnonzero(batch.edge_cacheable)
            hits[idx] = self.cache.lookup(
                batch.arrival_s[idx], batch.edge[idx] * self.key_count + batch.edge_keys[idx]
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
        return hits, throttled


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


def ordered_batches(
    ctx: Context, rngs: dict[str, np.random.Generator]
) -> Generator[Batch, None, None]:
    """Every batch of the run in time order, drawn and passed through the ordered state in this
    process (``reference`` fidelity, and ``request`` fidelity with one worker)."""
    state = OrderedState.for_context(ctx)
    for src in source_batches(ctx.scenario, ctx.horizon, rngs["arrivals"]):
        yield state.apply(ctx, generate(ctx, src))


def run_request(
    scenario: Scenario,
    horizon: Horizon,
    seq: np.random.SeedSequence,
    progress: ProgressCallback | None = None,
    workers: int = 1,
) -> pa.Table:
    """``request`` fidelity: every request exists as array entries; exact meters.

    Batches are drawn and metered by ``workers`` processes (this one alone when 1), each batch
    from its own streams; the ordered state (:class:`OrderedState`) visits them in time order.
    The meters do not depend on ``workers``: the same batches, the same state, the same sums in
    the same order."""
    from sim.rng import streams

    rngs = streams(seq)
    ctx = Context(scenario, horizon, seq)
    meter = ctx.meter
    if not horizon.warmup_s:  # else the warm-up's connections are those open at the start
        meter.open_at_start(connections_at_start(scenario, horizon, rngs["start"]))
    span = horizon.end_s - horizon.simulated_from_s
    if workers > 1:
        from sim.engine.workers import run_parallel

        facts_in_order = run_parallel(ctx, rngs["arrivals"], workers)
    else:
        facts_in_order = (batch_facts(ctx, b) for b in ordered_batches(ctx, rngs))
    for facts in facts_in_order:
        meter.merge(facts)
        if progress is not None:
            progress((facts.end_s - horizon.simulated_from_s) / span)
    return meter.table()


def batch_facts(ctx: Context, batch: Batch) -> Any:
    """The meters' share of one batch that went through the ordered state (with CloudFront's
    pooled connections of the batch: :meth:`sim.engine.edge.PoolStep.facts`)."""
    facts = ctx.meter.facts(with_concurrency(ctx, batch))
    if batch.pool_step is not None and batch.end_s > ctx.horizon.start_s:  # not a warm-up's
        new, connection_s = batch.pool_step.facts(*ctx.meter.forwarded(batch))
        facts.pool_new, facts.pool_connection_s = new, connection_s
    return facts


def with_concurrency(ctx: Context, batch: Batch) -> Batch:
    """The batch with each path's execution-seconds started per second (Little's law)."""
    from sim.engine.gateway import little_concurrency

    assert batch.duration_ms is not None
    concurrency: dict[str, NDArray[np.float64]] = {}
    seen: dict[int, NDArray[np.float64]] = {}  # paths that reach the same requests (one mask)
    for p in ctx.paths:
        reach = batch.invoked.get(p.name)
        if id(reach) in seen:
            concurrency[p.name] = seen[id(reach)]
            continue
        counts, duration = batch.counts, batch.duration_ms
        if reach is not None:
            second = np.floor(batch.arrival_s[reach]).astype(np.int64) - batch.start_s
            counts = np.bincount(second, minlength=batch.counts.size).astype(np.int64)
            duration = duration[reach]
        concurrency[p.name] = seen[id(reach)] = little_concurrency(counts, duration)
    return replace(batch, concurrency=concurrency)
