"""Hourly meters: what each front door would count, one row per clock hour (UTC).

Definitions (DESIGN.md, PRICING.md):

* ``new_connections``: connections opened in the hour;
* ``active_connections``: time-average of concurrently open connections over each minute, averaged over
  the hour (= connection-seconds in the hour / 3600);
* ``processed_bytes``: request + response bytes (headers included) of the hour's requests;
* ``rule_evaluations``: requests × max(0, rules processed − 10);
* ``lcu_*``: each dimension in LCUs (averaged over an hour, as AWS does, also for a partial hour);
  ``lcu`` is their maximum and ``lcu_dominant`` names it.

Three paths reach the Lambda function: through the ALB (every request), through API Gateway (requests
the gateway throttle lets through) and through the cached REST API (those, less the cache hits).
Each has its own invocation and GB-second columns. Invocations refused by Lambda's concurrency limit
are removed from each path in proportion (see :class:`sim.engine.gateway.ConcurrencyLimit`).

Connections opened near the end of the period are counted only up to its end.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from sim.config import Scenario
from sim.engine.core import Batch, Horizon
from sim.engine.intervals import add_interval_seconds
from sim.pricing import alb
from sim.pricing.apigateway import (
    HTTP_METERING_INCREMENT_BYTES,
    WEBSOCKET_METERING_INCREMENT_BYTES,
    http_request_units,
    websocket_message_units,
)
from sim.pricing.lambda_ import billed_duration_ms
from sim.units import SECONDS_PER_HOUR, SECONDS_PER_MINUTE

# Metering units the engine needs (not prices): re-exported so that the engine never imports pricing.
HTTP_UNIT_BYTES = HTTP_METERING_INCREMENT_BYTES
WEBSOCKET_UNIT_BYTES = WEBSOCKET_METERING_INCREMENT_BYTES
http_units = http_request_units
websocket_units = websocket_message_units
billed_ms = billed_duration_ms

#: Limits that make a request infeasible on a path (PRICING.md, "Limits that change the answer").
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
}

LCU_DIMENSIONS = ("new_connections", "active_connections", "processed_bytes", "rule_evaluations")

#: Column name -> (unit, description), in file order: the documented schema of meters.parquet.
METER_COLUMNS: dict[str, tuple[str, str]] = {
    "hour": ("timestamp UTC", "start of the clock hour [h, h+1)"),
    "hour_s": ("s", "seconds of the hour inside the simulated period"),
    "requests": ("requests", "requests arriving in the hour"),
    "mean_rps": ("requests/s", "requests / seconds of the hour inside the period"),
    "peak_rps": ("requests/s", "largest count in one second of the hour"),
    "new_connections": ("connections", "connections opened in the hour"),
    "active_connections": ("connections", "mean concurrent connections (per-minute averages)"),
    "peak_active_connections": ("connections", "largest per-minute mean of open connections"),
    "connection_minutes": ("minutes", "connection-seconds in the hour / 60 (WebSocket billing)"),
    "request_bytes": ("bytes", "request bytes, headers included"),
    "response_bytes": ("bytes", "response bytes, headers included"),
    "processed_bytes": ("bytes", "request + response bytes"),
    "rule_evaluations": ("evaluations", "requests × max(0, rules processed − 10)"),
    "lcu_new_connections": ("LCU", "new connections per second / 25"),
    "lcu_active_connections": ("LCU", "active connections / 3000 (1500 with mutual TLS)"),
    "lcu_processed_bytes": ("LCU", "processed GB (10^9 bytes) / 1 (0.4 for Lambda targets)"),
    "lcu_rule_evaluations": ("LCU", "rule evaluations per second / 1000"),
    "lcu": ("LCU", "max of the four dimensions: the LCU-hours billed"),
    "lcu_dominant": ("name", "dimension that sets lcu"),
    "apigw_requests": ("requests", "requests API Gateway accepts and bills (not throttled)"),
    "apigw_throttled": ("requests", "requests refused by the gateway throttle (429, not billed)"),
    "http_request_units": ("units", "HTTP API units of accepted requests: ceil(bytes / 512 KB)"),
    "websocket_message_units": ("units", "WebSocket messages in 32 KB units, both directions"),
    "cache_requests": ("requests", "accepted requests that are cacheable"),
    "cache_hits": ("requests", "cacheable requests answered by the cache (still billed)"),
    "cache_misses": ("requests", "cacheable requests passed to Lambda"),
    "lambda_peak_concurrency": ("executions", "largest per-second concurrency (Little's law)"),
    "lambda_throttled": ("invocations", "invocations refused by the concurrency limit"),
    "lambda_invocations": ("invocations", "Lambda invocations behind the ALB"),
    "lambda_billed_ms": ("ms", "durations rounded up to 1 ms, summed, behind the ALB"),
    "lambda_gb_seconds": ("GB-s", "billed ms / 1000 × memory MB / 1024, behind the ALB"),
    "apigw_lambda_invocations": ("invocations", "Lambda invocations behind API Gateway"),
    "apigw_lambda_gb_seconds": ("GB-s", "GB-seconds behind API Gateway"),
    "cached_lambda_invocations": ("invocations", "Lambda invocations behind the cached REST API"),
    "cached_lambda_gb_seconds": ("GB-s", "GB-seconds behind the cached REST API"),
    "data_out_bytes": ("bytes", "response bytes sent to clients through the ALB"),
    "apigw_data_out_bytes": ("bytes", "response bytes sent to clients through API Gateway"),
    **{name: ("requests", description) for name, (_, _, description) in LIMITS.items()},
}

_INT_COUNTERS = (
    "requests",
    "peak_rps",
    "new_connections",
    "request_bytes",
    "response_bytes",
    "apigw_throttled",
    "http_request_units",
    "cache_requests",
    "cache_hits",
    "lambda_throttled",
    "lambda_billed_ms",
    "apigw_lambda_billed_ms",
    "cached_lambda_billed_ms",
    "apigw_response_bytes",
    *LIMITS,
)
_FLOAT_COUNTERS = ("websocket_message_units", "lambda_peak_concurrency")


class HourlyMeter:
    """Accumulates batches into hourly counters; :meth:`table` returns the meter table."""

    def __init__(self, scenario: Scenario, horizon: Horizon) -> None:
        self.scenario = scenario
        self.horizon = horizon
        n = horizon.n_hours
        self._c: dict[str, NDArray[np.int64]] = {k: np.zeros(n, np.int64) for k in _INT_COUNTERS}
        self._f: dict[str, NDArray[np.float64]] = {
            k: np.zeros(n, np.float64) for k in _FLOAT_COUNTERS
        }
        self._conn_s_per_min = np.zeros(n * 60, np.float64)
        self._server_messages = scenario.apigateway.websocket.server_messages_per_request

    def add(self, batch: Batch) -> None:
        """Count one batch (which lies inside one clock hour)."""
        h = batch.start_s // SECONDS_PER_HOUR
        c = self._c
        c["requests"][h] += batch.n
        if batch.counts.size:
            c["peak_rps"][h] = max(c["peak_rps"][h], int(batch.counts.max()))
        req, resp, dur = batch.request_bytes, batch.response_bytes, batch.duration_ms
        assert req is not None and resp is not None and dur is not None
        served = ~batch.throttled if batch.throttled is not None else np.ones(batch.n, np.bool_)
        billed = billed_ms(dur).astype(np.int64)
        c["request_bytes"][h] += int(req.sum())
        c["response_bytes"][h] += int(resp.sum())
        c["apigw_throttled"][h] += batch.n - int(served.sum())
        c["apigw_response_bytes"][h] += int(resp[served].sum())
        c["http_request_units"][h] += int(http_units(req[served]).sum())
        if "websocket" in self.scenario.apigateway.apis:
            self._f["websocket_message_units"][h] += float(
                websocket_units(req[served]).sum()
                + self._server_messages * websocket_units(resp[served]).sum()
            )
        c["lambda_billed_ms"][h] += int(billed.sum())
        c["apigw_lambda_billed_ms"][h] += int(billed[served].sum())
        if batch.cache_hit is not None and batch.cacheable is not None:
            cacheable = batch.cacheable & served
            hits = batch.cache_hit & cacheable
            c["cache_requests"][h] += int(cacheable.sum())
            c["cache_hits"][h] += int(hits.sum())
            c["cached_lambda_billed_ms"][h] += int(billed[served & ~hits].sum())
        else:
            c["cached_lambda_billed_ms"][h] += int(billed[served].sum())
        big = np.maximum(req, resp)
        c["over_alb_lambda_payload"][h] += int((big > LIMITS["over_alb_lambda_payload"][1]).sum())
        c["over_apigw_payload"][h] += int((req > LIMITS["over_apigw_payload"][1]).sum())
        c["over_lambda_payload"][h] += int((big > LIMITS["over_lambda_payload"][1]).sum())
        c["over_rest_timeout"][h] += int((dur > LIMITS["over_rest_timeout"][1]).sum())
        c["over_http_timeout"][h] += int((dur > LIMITS["over_http_timeout"][1]).sum())
        self.add_lambda(h, batch.lambda_throttled, batch.lambda_concurrency)
        if batch.connections is not None:
            conns = batch.connections
            c["new_connections"][h] += conns.start_s.size
            add_interval_seconds(
                self._conn_s_per_min,
                SECONDS_PER_MINUTE,
                conns.start_s,
                np.minimum(conns.end_s, self.horizon.end_s),
            )

    def add_lambda(
        self,
        hour: int,
        throttled: NDArray[np.int64] | None,
        concurrency: NDArray[np.float64] | None,
    ) -> None:
        """Count Lambda throttles and concurrency of seconds inside hour ``hour``."""
        if throttled is not None:
            self._c["lambda_throttled"][hour] += int(throttled.sum())
        if concurrency is not None and concurrency.size:
            peak = self._f["lambda_peak_concurrency"]
            peak[hour] = max(peak[hour], float(concurrency.max()))

    def add_hourly(
        self, first_hour: int, **counters: NDArray[np.int64] | NDArray[np.float64]
    ) -> None:
        """Add per-hour totals (arrays starting at hour ``first_hour``) to the named counters;
        peaks are combined by maximum."""
        for name, values in counters.items():
            store = self._c if name in self._c else self._f
            target = store[name][first_hour : first_hour + len(values)]
            if name in ("peak_rps", "lambda_peak_concurrency"):
                np.maximum(target, values, out=target)
            else:
                target += values.astype(target.dtype)

    def add_connection_seconds(self, first_minute: int, seconds: NDArray[np.float64]) -> None:
        """Add connection-seconds per minute, starting at minute ``first_minute`` of the run."""
        end = min(first_minute + len(seconds), self._conn_s_per_min.size)
        self._conn_s_per_min[first_minute:end] += seconds[: end - first_minute]

    def table(self) -> pa.Table:
        """The meter table, one row per clock hour, columns as :data:`METER_COLUMNS`."""
        s = self.scenario
        hz = self.horizon
        c = self._c
        n = hz.n_hours
        hour_start = np.arange(n, dtype=np.int64) * SECONDS_PER_HOUR
        hour_s = np.minimum(hour_start + SECONDS_PER_HOUR, hz.end_s) - np.maximum(
            hour_start, hz.start_s
        )
        per_min = self._conn_s_per_min.reshape(n, 60) / SECONDS_PER_MINUTE
        requests = c["requests"]
        processed = c["request_bytes"] + c["response_bytes"]
        extra_rules = max(0, s.alb.rules_processed - alb.FREE_RULES)
        dims = {
            "new_connections": alb.lcu_new_connections(c["new_connections"].astype(float)),
            "active_connections": alb.lcu_active_connections(
                per_min.mean(axis=1), mutual_tls=s.alb.mutual_tls
            ),
            "processed_bytes": alb.lcu_processed_bytes(
                processed.astype(float), lambda_target=s.alb.target_type == "lambda"
            ),
            "rule_evaluations": alb.lcu_rule_evaluations(
                requests.astype(float), s.alb.rules_processed
            ),
        }
        stacked = np.vstack([np.asarray(dims[d], dtype=float) for d in LCU_DIMENSIONS])
        apigw_requests = requests - c["apigw_throttled"]
        cached_calls = apigw_requests - c["cache_hits"]
        # Lambda's concurrency throttles, taken from each path in proportion
        kept = 1.0 - np.divide(
            c["lambda_throttled"], requests, out=np.zeros(n), where=requests > 0
        ).clip(0.0, 1.0)
        gb_per_ms = s.backend.memory_mb / 1024 / 1000

        def invocations(calls: NDArray[np.int64]) -> NDArray[np.int64]:
            return np.asarray(np.rint(calls * kept), dtype=np.int64)

        columns = {
            "hour": pa.array(
                (hz.origin_epoch_s + hour_start) * 1_000_000, pa.timestamp("us", tz="UTC")
            ),
            "hour_s": hour_s,
            "requests": requests,
            "mean_rps": requests / hour_s,
            "peak_rps": c["peak_rps"],
            "new_connections": c["new_connections"],
            "active_connections": per_min.mean(axis=1),
            "peak_active_connections": per_min.max(axis=1),
            "connection_minutes": per_min.sum(axis=1),
            "request_bytes": c["request_bytes"],
            "response_bytes": c["response_bytes"],
            "processed_bytes": processed,
            "rule_evaluations": requests * extra_rules,
            **{f"lcu_{d}": stacked[i] for i, d in enumerate(LCU_DIMENSIONS)},
            "lcu": stacked.max(axis=0),
            "lcu_dominant": np.array(LCU_DIMENSIONS)[stacked.argmax(axis=0)],
            "apigw_requests": apigw_requests,
            "apigw_throttled": c["apigw_throttled"],
            "http_request_units": c["http_request_units"],
            "websocket_message_units": self._f["websocket_message_units"],
            "cache_requests": c["cache_requests"],
            "cache_hits": c["cache_hits"],
            "cache_misses": c["cache_requests"] - c["cache_hits"],
            "lambda_peak_concurrency": self._f["lambda_peak_concurrency"],
            "lambda_throttled": c["lambda_throttled"],
            "lambda_invocations": invocations(requests),
            "lambda_billed_ms": c["lambda_billed_ms"],
            "lambda_gb_seconds": c["lambda_billed_ms"] * kept * gb_per_ms,
            "apigw_lambda_invocations": invocations(apigw_requests),
            "apigw_lambda_gb_seconds": c["apigw_lambda_billed_ms"] * kept * gb_per_ms,
            "cached_lambda_invocations": invocations(cached_calls),
            "cached_lambda_gb_seconds": c["cached_lambda_billed_ms"] * kept * gb_per_ms,
            "data_out_bytes": c["response_bytes"],
            "apigw_data_out_bytes": c["apigw_response_bytes"],
            **{name: c[name] for name in LIMITS},
        }
        assert list(columns) == list(METER_COLUMNS)
        return pa.table(columns)
