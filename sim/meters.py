"""Hourly meters: what each front door would count, one row per clock hour (UTC).

Definitions (DESIGN.md, PRICING.md):

* ``new_connections``: connections opened in the hour;
* ``active_connections``: time-average of concurrently open connections over each minute, averaged over
  the hour (= connection-seconds in the hour / 3600);
* ``processed_bytes``: request + response bytes (headers included) of the hour's requests;
* ``rule_evaluations``: requests × max(0, rules processed − 10);
* ``lcu_*``: each dimension in LCUs (averaged over an hour, as AWS does, also for a partial hour);
  ``lcu`` is their maximum and ``lcu_dominant`` names it.

Connections opened near the end of the period are counted only up to its end.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from sim.config import Scenario
from sim.engine.core import Batch, Horizon
from sim.pricing import alb
from sim.pricing.apigateway import http_request_units
from sim.pricing.lambda_ import billed_duration_ms
from sim.units import SECONDS_PER_HOUR, SECONDS_PER_MINUTE

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
    "apigw_requests": ("requests", "API Gateway requests (REST: billed calls)"),
    "http_request_units": ("units", "HTTP API billed units: ceil(request bytes / 512 KB) each"),
    "lambda_invocations": ("invocations", "backend invocations"),
    "lambda_billed_ms": ("ms", "invocation durations rounded up to 1 ms, summed"),
    "lambda_gb_seconds": ("GB-s", "billed ms / 1000 × memory MB / 1024"),
    "data_out_bytes": ("bytes", "response bytes sent to clients"),
}

_COUNTERS = (
    "requests",
    "new_connections",
    "request_bytes",
    "response_bytes",
    "http_request_units",
    "lambda_billed_ms",
    "peak_rps",
)


class HourlyMeter:
    """Accumulates batches into hourly counters; :meth:`table` returns the meter table."""

    def __init__(self, scenario: Scenario, horizon: Horizon) -> None:
        self.scenario = scenario
        self.horizon = horizon
        n = horizon.n_hours
        self._c: dict[str, NDArray[np.int64]] = {k: np.zeros(n, np.int64) for k in _COUNTERS}
        self._conn_s_per_min = np.zeros(n * 60, np.float64)

    def add(self, batch: Batch) -> None:
        """Count one batch (which lies inside one clock hour)."""
        h = batch.start_s // SECONDS_PER_HOUR
        c = self._c
        c["requests"][h] += batch.n
        if batch.counts.size:
            c["peak_rps"][h] = max(c["peak_rps"][h], int(batch.counts.max()))
        if batch.request_bytes is not None:
            c["request_bytes"][h] += int(batch.request_bytes.sum())
            c["http_request_units"][h] += int(http_request_units(batch.request_bytes).sum())
        if batch.response_bytes is not None:
            c["response_bytes"][h] += int(batch.response_bytes.sum())
        if batch.duration_ms is not None:
            c["lambda_billed_ms"][h] += int(billed_duration_ms(batch.duration_ms).sum())
        if batch.connections is not None:
            conns = batch.connections
            c["new_connections"][h] += conns.start_s.size
            add_interval_seconds(
                self._conn_s_per_min,
                SECONDS_PER_MINUTE,
                conns.start_s,
                np.minimum(conns.end_s, self.horizon.end_s),
            )

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
        lcu = stacked.max(axis=0)
        dominant = np.array(LCU_DIMENSIONS)[stacked.argmax(axis=0)]
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
            "request_bytes": c["request_bytes"],
            "response_bytes": c["response_bytes"],
            "processed_bytes": processed,
            "rule_evaluations": requests * extra_rules,
            **{f"lcu_{d}": stacked[i] for i, d in enumerate(LCU_DIMENSIONS)},
            "lcu": lcu,
            "lcu_dominant": dominant,
            "apigw_requests": requests,
            "http_request_units": c["http_request_units"],
            "lambda_invocations": requests,
            "lambda_billed_ms": c["lambda_billed_ms"],
            "lambda_gb_seconds": c["lambda_billed_ms"] / 1000 * (s.backend.memory_mb / 1024),
            "data_out_bytes": c["response_bytes"],
        }
        assert list(columns) == list(METER_COLUMNS)
        return pa.table(columns)


def add_interval_seconds(
    acc: NDArray[np.float64],
    bin_s: float,
    start_s: NDArray[np.float64],
    end_s: NDArray[np.float64],
) -> None:
    """Add to each bin ``k`` of ``acc`` the total overlap of the intervals with ``[k·bin, (k+1)·bin)``.

    Exact and vectorised: with ``F(t) = Σ_i |[s_i, e_i) ∩ (−∞, t)|``, bin ``k`` receives
    ``F((k+1)·bin) − F(k·bin)``, and ``F(t) = Σ_{e_i ≤ t} e_i + t·(#{s_i < t} − #{e_i ≤ t}) − Σ_{s_i < t} s_i``
    is evaluated at all bin edges at once from the sorted starts and ends.
    """
    if start_s.size == 0:
        return
    ends = np.minimum(end_s, acc.size * bin_s)
    keep = ends > start_s
    if not keep.all():
        start_s, ends = start_s[keep], ends[keep]
        if start_s.size == 0:
            return
    lo = int(start_s.min() // bin_s)
    hi = int(np.ceil(ends.max() / bin_s))
    base = lo * bin_s  # shift times near zero for precision
    s = np.sort(start_s - base)
    e = np.sort(ends - base)
    cs = np.concatenate(([0.0], np.cumsum(s)))
    ce = np.concatenate(([0.0], np.cumsum(e)))
    edges = np.arange(hi - lo + 1, dtype=np.float64) * bin_s
    n_started = np.searchsorted(s, edges, side="left")
    n_ended = np.searchsorted(e, edges, side="right")
    f = ce[n_ended] + edges * (n_started - n_ended) - cs[n_started]
    acc[lo:hi] += np.diff(f)
