"""Hourly meters: what happened on each path to the Lambda function, one row per clock hour (UTC).

The engine records **facts**: requests, connections opened and connection-seconds, bytes, API
Gateway's accepted and throttled requests, cache lookups and hits at each cache size, and, for each
path (:mod:`sim.engine.paths`), the invocations its Lambda admitted and throttled, their billed
milliseconds and the response bytes that reached clients. Everything a price rule defines from them
(LCU dimensions, rule evaluations, GB-seconds, WebSocket message units with the server's messages) is
derived by :func:`sim.pricing.derive.derive_columns` from the facts and the pricing settings, so a
stored run can be re-priced under other settings.

Definitions (DESIGN.md, PRICING.md):

* ``new_connections``: connections opened in the hour; ``active_connections``: connection-seconds in
  the hour / 3600 (the per-minute means averaged over the hour, as AWS does, also for a partial
  hour); connections still open at the period's end are counted up to it;
* ``<path>_invocations``: invocations the path's Lambda ran; ``<path>_lambda_throttled``: those its
  concurrency limit refused (billed by nobody, and answered with an error: no response body);
* ``<path>_response_bytes``: response bytes sent to clients on the path (responses of admitted
  invocations and of cache hits; API Gateway's 429s and Lambda's throttles send none);
* HTTP API units (512 KB) and WebSocket units (32 KB) are AWS metering rules, counted per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from sim.config import Scenario
from sim.engine.core import Batch, Horizon
from sim.engine.edge import MIN_HOLD_S
from sim.engine.intervals import add_interval_seconds
from sim.engine.paths import PathSpec, engine_paths
from sim.pricing.apigateway import (
    HTTP_METERING_INCREMENT_BYTES,
    WEBSOCKET_MAX_MESSAGE_BYTES,
    WEBSOCKET_METERING_INCREMENT_BYTES,
    http_request_units,
    websocket_message_units,
)
from sim.pricing.lambda_ import billed_duration_ms
from sim.units import SECONDS_PER_HOUR, SECONDS_PER_MINUTE

# Metering units the engine needs (not prices): re-exported so that the engine never imports pricing.
HTTP_UNIT_BYTES = HTTP_METERING_INCREMENT_BYTES
WEBSOCKET_UNIT_BYTES = WEBSOCKET_METERING_INCREMENT_BYTES
WEBSOCKET_MAX_BYTES = WEBSOCKET_MAX_MESSAGE_BYTES
CACHE_MAX_ITEM = 1_048_576
http_units = http_request_units
websocket_units = websocket_message_units
billed_ms = billed_duration_ms

#: Limits that make a request infeasible on a path (PRICING.md, "Limits that change the answer"):
#: meter name -> (what is compared, limit, what it means).
LIMITS: dict[str, tuple[str, float, str]] = {
    "over_alb_lambda_payload": (
        "bytes",
        1_048_576,
        "request or response over 1 MB (ALB to Lambda)",
    ),
    "over_apigw_payload": ("bytes", 10_485_760, "request over 10 MB (API Gateway payload limit)"),
    "over_lambda_payload": ("bytes", 6_291_456, "request or response over 6 MB (Lambda sync)"),
    "over_rest_timeout": ("ms", 29_000, "Lambda duration over 29 s (REST integration timeout)"),
    "over_http_timeout": ("ms", 30_000, "Lambda duration over 30 s (HTTP integration timeout)"),
    "over_cache_item": (
        "bytes",
        CACHE_MAX_ITEM,
        "cacheable response over 1 MB (API Gateway does not cache it: every one is a miss)",
    ),
    "over_websocket_message": (
        "bytes",
        WEBSOCKET_MAX_BYTES,
        "message over 128 KB (refused by a WebSocket API, not billed)",
    ),
}

#: Columns every meter table starts with: the traffic, the same for every option.
TRAFFIC_COLUMNS: dict[str, tuple[str, str]] = {
    "hour": ("timestamp UTC", "start of the clock hour [h, h+1)"),
    "hour_s": ("s", "seconds of the hour inside the simulated period"),
    "requests": ("requests", "requests arriving in the hour"),
    "mean_rps": ("requests/s", "requests / seconds of the hour inside the period"),
    "peak_rps": ("requests/s", "largest count in one second of the hour"),
    "per_second": (
        "bool",
        "simulated second by second (always in request and reference fidelity); false: aggregate "
        "fidelity drew the hour from its per-hour distributions",
    ),
    "new_connections": ("connections", "client connections opened in the hour"),
    "active_connections": ("connections", "connection-seconds in the hour / 3600"),
    "peak_active_connections": ("connections", "largest per-minute mean of open connections"),
    "connection_minutes": ("minutes", "connection-seconds in the hour / 60 (WebSocket billing)"),
    "request_bytes": ("bytes", "request bytes, headers included"),
    "response_bytes": ("bytes", "response bytes the backend produced, headers included"),
    "gateway_requests": ("requests", "requests API Gateway accepts and bills (not throttled)"),
    "gateway_throttled": ("requests", "requests refused by the gateway throttle (429, not billed)"),
    "gateway_http_units": ("units", "HTTP API units of accepted requests: ceil(bytes / 512 KB)"),
    "gateway_ws_client_units": (
        "units",
        "WebSocket 32 KB units of the client messages the API accepts (throttle passed, 128 KB "
        "at most)",
    ),
    "gateway_ws_server_units": (
        "units",
        "WebSocket 32 KB units of the responses the websocket path's function sent that fit a "
        "message (128 KB at most; one server message each, pricing multiplies by "
        "websocket.server_messages_per_request)",
    ),
    "cache_requests": ("requests", "accepted requests that are cacheable"),
}

#: Per-path columns, ``<path>_<name>`` (path: ``direct``, ``gateway``, ``cached_<size>``).
PATH_COLUMNS: dict[str, tuple[str, str]] = {
    "invocations": ("invocations", "Lambda invocations the path's function ran"),
    "lambda_throttled": ("invocations", "invocations its concurrency limit refused"),
    "billed_ms": ("ms", "billed durations (rounded up to 1 ms) of the invocations run, summed"),
    "response_bytes": ("bytes", "response bytes sent to clients on the path"),
    "peak_concurrency": ("executions", "largest per-second concurrency (Little's law)"),
}
#: Columns of cached paths only.
CACHE_PATH_COLUMNS: dict[str, tuple[str, str]] = {
    "hits": ("requests", "cacheable requests the cache of that size answered (still billed)"),
}


#: Facts only a run that compares a WebSocket API meters (its message units are counted request by
#: request; a run without one does not pay for them, and re-pricing it as a WebSocket API is refused).
WEBSOCKET_FACTS = ("gateway_ws_client_units", "gateway_ws_server_units", "over_websocket_message")

#: Facts of a run that compares CloudFront: what reaches the origin, and what the edge answers.
EDGE_COLUMNS: dict[str, tuple[str, str]] = {
    "edge_requests": (
        "requests",
        "requests CloudFront forwards to the origin (its cache's misses)",
    ),
    "edge_request_bytes": ("bytes", "their bytes (data sent to the origin)"),
    "edge_hits": ("requests", "requests CloudFront's edge caches answer"),
    "edge_hit_bytes": ("bytes", "response bytes of those"),
    "over_cloudfront_timeout": (
        "requests",
        "forwarded requests whose function runs longer than cloudfront.origin_response_timeout_s "
        "(CloudFront answers 504)",
    ),
}
#: With an ALB behind CloudFront: CloudFront's pooled connections to it (:mod:`sim.engine.edge`).
EDGE_POOL_COLUMNS: dict[str, tuple[str, str]] = {
    "edge_new_connections": ("connections", "connections CloudFront opens to the origin"),
    "edge_active_connections": (
        "connections",
        "CloudFront's connection-seconds to the origin in the hour / 3600",
    ),
}
#: With CloudFront caching in front of API Gateway: the throttle's own bucket on the misses.
EDGE_GATEWAY_COLUMNS: dict[str, tuple[str, str]] = {
    "edge_gateway_accepted": ("requests", "forwarded requests API Gateway accepts and bills"),
    "edge_gateway_throttled": ("requests", "forwarded requests its throttle refuses (429)"),
    "edge_gateway_http_units": ("units", "HTTP API 512 KB units of the accepted ones"),
}
#: With a function URL that streams its responses.
STREAMING_COLUMNS: dict[str, tuple[str, str]] = {
    "direct_stream_excess_bytes": (
        "bytes",
        "streamed response bytes beyond each response's first 6 MB (billed), of the invocations run",
    ),
    "over_lambda_url_stream": (
        "requests",
        "request over 6 MB or streamed response over 200 MB (function URL)",
    ),
}
STREAM_FREE_BYTES = 6_291_456
STREAM_MAX_BYTES = 209_715_200


@dataclass(frozen=True)
class MeterFlags:
    """Which optional facts a run meters (what its options need)."""

    websocket: bool = True
    cloudfront: bool = False
    edge_pool: bool = False
    edge_gateway: bool = False
    streaming: bool = False
    cloudfront_timeout_ms: float = 30_000.0


def meter_flags(scenario: Scenario) -> MeterFlags:
    """The optional facts a run of ``scenario`` meters."""
    from sim.engine.paths import EDGE_GATEWAY, cloudfront_origins

    origins = cloudfront_origins(scenario)
    paths = {p.name for p in engine_paths(scenario)}
    return MeterFlags(
        websocket=meters_websocket(scenario),
        cloudfront=bool(origins),
        edge_pool="alb" in origins,
        edge_gateway=EDGE_GATEWAY in paths,
        streaming=scenario.lambda_url.enabled and scenario.lambda_url.streaming,
        cloudfront_timeout_ms=scenario.cloudfront.origin_response_timeout_s * 1000.0,
    )


def fact_columns(
    paths: Iterable[PathSpec], websocket: bool | MeterFlags = True
) -> dict[str, tuple[str, str]]:
    """Column name -> (unit, description), in file order: the facts of ``paths`` (with the
    optional ones ``flags`` asks for; a bool: the WebSocket API's only)."""
    flags = websocket if isinstance(websocket, MeterFlags) else MeterFlags(websocket=websocket)
    cols = dict(TRAFFIC_COLUMNS)
    for p in paths:
        for name, doc in PATH_COLUMNS.items():
            cols[f"{p.name}_{name}"] = doc
        if p.cache_size_gb is not None:
            for name, doc in CACHE_PATH_COLUMNS.items():
                cols[f"{p.name}_{name}"] = doc
    for name, (_, _, what) in LIMITS.items():
        cols[name] = ("requests", what)
    if not flags.websocket:
        for name in WEBSOCKET_FACTS:
            del cols[name]
    if flags.cloudfront:
        cols.update(EDGE_COLUMNS)
    if flags.edge_pool:
        cols.update(EDGE_POOL_COLUMNS)
    if flags.edge_gateway:
        cols.update(EDGE_GATEWAY_COLUMNS)
    if flags.streaming:
        cols.update(STREAMING_COLUMNS)
    return cols


def meters_websocket(scenario: Scenario) -> bool:
    """Whether a run of ``scenario`` meters the WebSocket API's message units."""
    return "websocket" in scenario.apigateway.apis


_FLOAT_FACTS = ("active_connections", "peak_active_connections", "connection_minutes", "mean_rps",
                "edge_active_connections")  # fmt: skip


@dataclass(frozen=True)
class Contribution:
    """What each request of a batch adds to one fact: ``mask[i] × value[i]`` (a missing mask means
    every request, a missing value means 1)."""

    mask: NDArray[np.bool_] | None
    value: NDArray[np.int64] | NDArray[np.float64] | None  # whole numbers

    def total(self, n: int) -> int:
        # a float value holds whole numbers: its sums are exact below 2^53
        if self.mask is None:
            return n if self.value is None else int(self.value.sum())
        if self.value is None:
            return int(np.count_nonzero(self.mask))
        return int(np.dot(self.value, self.mask))

    def of(self, i: int) -> int:
        if self.mask is not None and not self.mask[i]:
            return 0
        return 1 if self.value is None else int(self.value[i])


def _units(size_bytes: NDArray[np.int64], increment: int, rule: Any) -> NDArray[np.int64] | None:
    """Each request's metering units under ``rule`` (``http_units``, ``websocket_units``); None
    (one each) when no size exceeds one ``increment``, as ``rule`` then says, without the
    per-request division."""
    if size_bytes.size == 0 or int(size_bytes.max()) <= increment:
        return None
    return np.asarray(rule(size_bytes), dtype=np.int64)


def _and(a: NDArray[np.bool_] | None, b: NDArray[np.bool_] | None) -> NDArray[np.bool_] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _or(a: NDArray[np.bool_] | None, b: NDArray[np.bool_]) -> NDArray[np.bool_] | None:
    return None if a is None else a | b


def contributions(
    batch: Batch, paths: Iterable[PathSpec], websocket: bool | MeterFlags = True
) -> dict[str, Contribution]:
    """Per fact (the additive counters of a meter table), each request's share: one definition of
    the meters for the ``request`` and ``reference`` engines alike."""
    flags = websocket if isinstance(websocket, MeterFlags) else MeterFlags(websocket=websocket)
    websocket = flags.websocket
    req, resp, dur = batch.request_bytes, batch.response_bytes, batch.duration_ms
    assert req is not None and resp is not None and dur is not None
    n = batch.n
    served = ~batch.throttled if batch.throttled is not None else None
    out: dict[str, Contribution] = {
        "requests": Contribution(None, None),
        "request_bytes": Contribution(None, req),
        "response_bytes": Contribution(None, resp),
        "gateway_requests": Contribution(served if served is not None else None, None),
        "gateway_throttled": Contribution(
            batch.throttled if batch.throttled is not None else np.zeros(n, np.bool_), None
        ),
        "gateway_http_units": Contribution(served, _units(req, HTTP_UNIT_BYTES, http_units)),
    }
    ws_ok = (req <= WEBSOCKET_MAX_BYTES) & (resp <= WEBSOCKET_MAX_BYTES) if websocket else None
    if ws_ok is not None:
        # a client message over 128 KB is refused (not billed, nothing invoked); a response over
        # 128 KB cannot be sent (the client message was still billed and the function run)
        out["gateway_ws_client_units"] = Contribution(
            _and(served, req <= WEBSOCKET_MAX_BYTES),
            _units(req, WEBSOCKET_UNIT_BYTES, websocket_units),
        )
    cacheable = batch.cacheable
    out["cache_requests"] = Contribution(
        cacheable if cacheable is not None else np.zeros(n, np.bool_), None
    )
    billed = np.asarray(billed_ms(dur), dtype=np.float64)  # whole milliseconds
    for p in paths:
        invoked = batch.invoked.get(p.name)
        admitted = batch.admitted.get(p.name)
        ran = admitted if admitted is not None else invoked
        refused = None
        if admitted is not None:
            refused = admitted ^ (invoked if invoked is not None else np.ones(n, np.bool_))
        out[f"{p.name}_invocations"] = Contribution(ran, None)
        out[f"{p.name}_lambda_throttled"] = Contribution(
            refused if refused is not None else np.zeros(n, np.bool_), None
        )
        out[f"{p.name}_billed_ms"] = Contribution(ran, billed)
        delivered = ran
        if p.cache_size_gb is not None:
            hits = batch.hits[p.name]
            out[f"{p.name}_hits"] = Contribution(hits, None)
            delivered = _or(ran, hits)
        if p.edge:
            assert batch.edge_hits is not None
            delivered = _or(ran, batch.edge_hits)
        if p.websocket:
            sendable = resp <= WEBSOCKET_MAX_BYTES
            delivered = _and(ran, sendable)
            out["gateway_ws_server_units"] = Contribution(
                delivered, _units(resp, WEBSOCKET_UNIT_BYTES, websocket_units)
            )
        out[f"{p.name}_response_bytes"] = Contribution(delivered, resp)
    big = np.maximum(req, resp)
    over = {
        "over_alb_lambda_payload": big > LIMITS["over_alb_lambda_payload"][1],
        "over_apigw_payload": req > LIMITS["over_apigw_payload"][1],
        "over_lambda_payload": big > LIMITS["over_lambda_payload"][1],
        "over_rest_timeout": dur > LIMITS["over_rest_timeout"][1],
        "over_http_timeout": dur > LIMITS["over_http_timeout"][1],
        "over_cache_item": (
            cacheable & (resp > CACHE_MAX_ITEM) if cacheable is not None else np.zeros(n, np.bool_)
        ),
    }
    if ws_ok is not None:
        over["over_websocket_message"] = ~ws_ok
    if flags.cloudfront:
        hits = batch.edge_hits if batch.edge_hits is not None else np.zeros(n, np.bool_)
        forwarded = ~hits
        out["edge_requests"] = Contribution(forwarded, None)
        out["edge_request_bytes"] = Contribution(forwarded, req)
        out["edge_hits"] = Contribution(hits, None)
        out["edge_hit_bytes"] = Contribution(hits, resp)
        over["over_cloudfront_timeout"] = forwarded & (dur > flags.cloudfront_timeout_ms)
    if flags.edge_gateway:
        hits = batch.edge_hits if batch.edge_hits is not None else np.zeros(n, np.bool_)
        refused = (
            batch.edge_throttled if batch.edge_throttled is not None else np.zeros(n, np.bool_)
        )
        accepted = ~hits & ~refused
        out["edge_gateway_accepted"] = Contribution(accepted, None)
        out["edge_gateway_throttled"] = Contribution(refused, None)
        out["edge_gateway_http_units"] = Contribution(
            accepted, _units(req, HTTP_UNIT_BYTES, http_units)
        )
    if flags.streaming:
        invoked, admitted = batch.invoked.get("direct"), batch.admitted.get("direct")
        ran = admitted if admitted is not None else invoked
        excess = np.maximum(resp - STREAM_FREE_BYTES, 0).astype(np.int64)
        out["direct_stream_excess_bytes"] = Contribution(ran, excess)
        over["over_lambda_url_stream"] = (req > STREAM_FREE_BYTES) | (resp > STREAM_MAX_BYTES)
    out.update({k: Contribution(v, None) for k, v in over.items()})
    return out


@dataclass
class BatchFacts:
    """One batch's share of the hourly facts: small, additive, merged in time order."""

    hour: int
    end_s: int
    counters: dict[str, int]
    peak_rps: int
    peaks: dict[str, float]
    first_minute: int = 0
    connection_s_per_min: NDArray[np.float64] | None = None  # from first_minute on
    pool_new: float | None = None  # CloudFront's pooled connections opened in the hour
    pool_connection_s: float = 0.0


class HourlyMeter:
    """Accumulates batches into hourly facts; :meth:`table` returns the meter table."""

    def __init__(self, scenario: Scenario, horizon: Horizon) -> None:
        self.scenario = scenario
        self.horizon = horizon
        self.paths = engine_paths(scenario)
        self.flags = meter_flags(scenario)
        self.websocket = self.flags.websocket
        self.columns = fact_columns(self.paths, self.flags)
        n = horizon.n_hours
        self._peaks = ["peak_rps", *(f"{p.name}_peak_concurrency" for p in self.paths)]
        derived = {"hour", "hour_s", "mean_rps", "per_second", *_FLOAT_FACTS, *self._peaks,
                   *EDGE_POOL_COLUMNS}  # fmt: skip
        self._pool_path = next((p.name for p in self.paths if p.edge and not p.through_gateway),
                               "direct")  # fmt: skip
        self._c: dict[str, NDArray[np.int64]] = {
            k: np.zeros(n, np.int64) for k in self.columns if k not in derived
        }
        self._f: dict[str, NDArray[np.float64]] = {k: np.zeros(n, np.float64) for k in self._peaks}
        self._c["peak_rps"] = np.zeros(n, np.int64)
        del self._f["peak_rps"]
        self._minutes = n * 60
        self._conn_s_per_min = np.zeros(self._minutes, np.float64)
        self._edge_new = np.zeros(n, np.float64)
        self._edge_s = np.zeros(n, np.float64)
        #: per hour: simulated second by second (``aggregate`` fidelity clears the hours it draws
        #: from their per-hour distributions)
        self.second_by_second = np.ones(n, np.bool_)

    def forwarded(
        self, batch: Batch
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        """The requests CloudFront forwards to the origin: their edge, arrival and connection
        hold (the function's duration when it answered, else at once)."""
        assert batch.edge is not None and batch.duration_ms is not None
        fwd = ~batch.edge_hits if batch.edge_hits is not None else np.ones(batch.n, np.bool_)
        invoked = batch.invoked.get(self._pool_path)
        admitted = batch.admitted.get(self._pool_path)
        ran = admitted if admitted is not None else invoked
        answered = fwd if ran is None else fwd & ran
        hold = np.where(answered, batch.duration_ms / 1000.0, MIN_HOLD_S)
        return batch.edge[fwd], batch.arrival_s[fwd], hold[fwd]

    def add(self, batch: Batch) -> None:
        """Count one batch (which lies inside one clock hour)."""
        self.merge(self.facts(batch))

    def facts(self, batch: Batch) -> BatchFacts:
        """One batch's share of the facts (the batch lies inside one clock hour), without adding
        it: what a worker process sends back (:mod:`sim.engine.workers`).

        A warm-up batch (before the period's start: :class:`~sim.engine.core.Horizon`) counts
        nothing but the open time of its connections after the start."""
        h = batch.start_s // SECONDS_PER_HOUR
        period_s = self.horizon.start_s
        warm = batch.end_s <= period_s
        counters: dict[str, int] = {}
        done: dict[tuple[int, int], int] = {}  # facts that sum the same values over the same mask
        for name, c in ({} if warm else contributions(batch, self.paths, self.flags)).items():
            key = (id(c.mask), id(c.value))
            if key not in done:
                done[key] = c.total(batch.n)
            counters[name] = done[key]
        peaks = {
            f"{name}_peak_concurrency": float(per_second.max())
            for name, per_second in batch.concurrency.items()
            if per_second.size and not warm
        }
        facts = BatchFacts(
            int(h),
            int(batch.end_s),
            counters,
            int(batch.counts.max()) if batch.counts.size and not warm else 0,
            peaks,
        )
        if batch.connections is not None:
            conns = batch.connections
            if not warm:
                facts.counters["new_connections"] = int(conns.start_s.size)
            starts, ends = conns.start_s, conns.end_s
            if conns.carried_start_s is not None and conns.carried_end_s is not None:
                # more open time of connections opened in earlier batches (a replayed log's)
                starts = np.concatenate([starts, conns.carried_start_s])
                ends = np.concatenate([ends, conns.carried_end_s])
            # only the open time inside the period is metered
            starts = np.maximum(starts, float(period_s))
            end = np.minimum(ends, self.horizon.end_s)
            if starts.size and bool((end > starts).any()):
                first = min(
                    int(max(batch.start_s, period_s) // SECONDS_PER_MINUTE),
                    int(float(starts.min()) // SECONDS_PER_MINUTE),
                )
                last = min(int(np.ceil(float(end.max()) / SECONDS_PER_MINUTE)), self._minutes)
                acc = np.zeros(max(last - first, 1))
                add_interval_seconds(acc, SECONDS_PER_MINUTE, starts, end, first)
                facts.first_minute, facts.connection_s_per_min = first, acc
        return facts

    def merge(self, facts: BatchFacts) -> None:
        """Add one batch's facts (:meth:`facts`); batches are merged in time order."""
        h = facts.hour
        for name, value in facts.counters.items():
            self._c[name][h] += value
        self._c["peak_rps"][h] = max(self._c["peak_rps"][h], facts.peak_rps)
        for name, peak in facts.peaks.items():
            self._f[name][h] = max(self._f[name][h], peak)
        if facts.connection_s_per_min is not None:
            self.add_connection_seconds(facts.first_minute, facts.connection_s_per_min)
        if facts.pool_new is not None:
            self._edge_new[h] += facts.pool_new
            self._edge_s[h] += facts.pool_connection_s

    def open_at_start(self, remaining_s: NDArray[np.float64]) -> None:
        """Connections already open when the period starts, each for its remaining lifetime:
        their connection-seconds count, they are not new connections of the period."""
        if remaining_s.size:
            start = np.full(remaining_s.size, float(self.horizon.start_s))
            add_interval_seconds(
                self._conn_s_per_min,
                SECONDS_PER_MINUTE,
                start,
                np.minimum(start + remaining_s, self.horizon.end_s),
            )

    def add_second_peaks(self, hour: int, batch: Batch) -> None:
        """The hour's busiest second and each path's highest per-second concurrency."""
        if batch.counts.size:
            self._c["peak_rps"][hour] = max(self._c["peak_rps"][hour], int(batch.counts.max()))
        for name, per_second in batch.concurrency.items():
            if per_second.size:
                peak = self._f[f"{name}_peak_concurrency"]
                peak[hour] = max(peak[hour], float(per_second.max()))

    def add_hourly(
        self, first_hour: int, **counters: NDArray[np.int64] | NDArray[np.float64]
    ) -> None:
        """Add per-hour totals (arrays starting at hour ``first_hour``) to the named facts; peaks
        are combined by maximum."""
        for name, values in counters.items():
            store = self._c if name in self._c else self._f
            target = store[name][first_hour : first_hour + len(values)]
            if name in self._peaks:
                np.maximum(target, values, out=target)
            else:
                target += values.astype(target.dtype)

    def add_connection_seconds(self, first_minute: int, seconds: NDArray[np.float64]) -> None:
        """Add connection-seconds per minute, starting at minute ``first_minute`` of the run."""
        end = min(first_minute + len(seconds), self._conn_s_per_min.size)
        self._conn_s_per_min[first_minute:end] += seconds[: end - first_minute]

    def add_edge_pool(
        self, first_hour: int, new: NDArray[np.float64], connection_s: NDArray[np.float64]
    ) -> None:
        """Add CloudFront's pooled connections (opened, connection-seconds) per hour (aggregate)."""
        self._edge_new[first_hour : first_hour + new.size] += new
        self._edge_s[first_hour : first_hour + connection_s.size] += connection_s

    def table(self) -> pa.Table:
        """The meter table of facts, one row per clock hour, columns as :func:`fact_columns`."""
        return self._table().slice(self.horizon.first_hour)  # without the warm-up's hours

    def _table(self) -> pa.Table:
        hz = self.horizon
        c = self._c
        n = hz.n_hours
        hour_start = np.arange(n, dtype=np.int64) * SECONDS_PER_HOUR
        hour_s = np.minimum(hour_start + SECONDS_PER_HOUR, hz.end_s) - np.maximum(
            hour_start, hz.start_s
        )
        per_min = self._conn_s_per_min.reshape(n, 60) / SECONDS_PER_MINUTE
        values: dict[str, object] = {
            "hour": pa.array(
                (hz.origin_epoch_s + hour_start) * 1_000_000, pa.timestamp("us", tz="UTC")
            ),
            "hour_s": hour_s,
            "mean_rps": c["requests"] / np.maximum(hour_s, 1),  # warm-up rows (<= 0) are cut
            "active_connections": per_min.mean(axis=1),
            "peak_active_connections": per_min.max(axis=1),
            "connection_minutes": per_min.sum(axis=1),
            "per_second": self.second_by_second,
            **self._f,
        }
        if self.flags.edge_pool:
            new, conn_s = self._edge_new, self._edge_s
            values["edge_new_connections"] = np.rint(new).astype(np.int64)
            values["edge_active_connections"] = conn_s / SECONDS_PER_HOUR
        columns = {name: values[name] if name in values else c[name] for name in self.columns}
        return pa.table(columns)


def meter_columns(scenario: Scenario) -> list[str]:
    """The columns of ``meters.parquet`` for ``scenario``, in file order: facts, then derived."""
    from sim.pricing.derive import DERIVED_COLUMNS, EDGE_DERIVED, PATH_DERIVED

    paths = engine_paths(scenario)
    flags = meter_flags(scenario)
    return [
        *fact_columns(paths, flags),
        *(c for c in DERIVED_COLUMNS if flags.websocket or c != "websocket_message_units"),
        *(c for c in EDGE_DERIVED if flags.edge_pool),
        *(f"{p.name}_{n}" for p in paths for n in PATH_DERIVED),
    ]


def documented_columns() -> dict[str, tuple[str, str]]:
    """Every meter column as the README documents it: per-path columns as ``<path>_<name>``."""
    from sim.pricing.derive import DERIVED_COLUMNS, EDGE_DERIVED, PATH_DERIVED

    return {
        **TRAFFIC_COLUMNS,
        **{f"<path>_{k}": v for k, v in PATH_COLUMNS.items()},
        **{f"<cached path>_{k}": v for k, v in CACHE_PATH_COLUMNS.items()},
        **{name: ("requests", what) for name, (_, _, what) in LIMITS.items()},
        **EDGE_COLUMNS,
        **EDGE_POOL_COLUMNS,
        **EDGE_GATEWAY_COLUMNS,
        **STREAMING_COLUMNS,
        **DERIVED_COLUMNS,
        **EDGE_DERIVED,
        **{f"<path>_{k}": v for k, v in PATH_DERIVED.items()},
    }
