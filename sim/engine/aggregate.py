"""``aggregate`` fidelity: per-second counts drawn directly, everything else from sums (for studies).

What is exact and what is approximate:

* requests per second: drawn from the same arrival process as ``request`` fidelity, so per-hour counts
  and the per-second peak have exactly the same distribution; API Gateway's throttle and Lambda's
  concurrency estimate work on these counts exactly as in ``request`` fidelity;
* new connections: ``Binomial(requests in the minute, new connections per request)``;
* active connections: Little's law per minute, ``new connections × mean lifetime / 60``, credited to
  the minute the connections open (the hourly mean is exact in expectation; a per-minute peak is
  smoothed when lifetimes span several minutes);
* bytes and Lambda billed milliseconds: sums of ``n`` i.i.d. values drawn as
  ``n·mean + sqrt(n·variance)·Z`` (central limit theorem; exact for fixed sizes; request and response
  sums jointly normal with the route mix's covariance); the shares of them
  that go through API Gateway or past the cache are taken in proportion to the requests;
* HTTP API 512 KB units and WebSocket 32 KB units: ``n × E[units per message]``, rounded (exact for
  fixed sizes);
* cache hits: the TTL cache's hit ratio under Poisson requests, per key and hour,
  ``λ_k·ttl / (1 + λ_k·ttl)`` (see :func:`sim.engine.gateway.ttl_hit_ratio`);
* requests over a limit (feasibility): ``n × P(X > limit)`` from each distribution's survival
  function.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from sim.config import Scenario
from sim.engine.core import Horizon, ProgressCallback
from sim.engine.gateway import (
    ConcurrencyLimit,
    TokenBucket,
    ZipfKeys,
    cache_capacity_entries,
    che_hit_probabilities,
    ttl_hit_ratio,
)
from sim.meters import HTTP_UNIT_BYTES, LIMITS, WEBSOCKET_UNIT_BYTES, HourlyMeter
from sim.traffic import build_connection_model, build_sampler
from sim.traffic.arrivals import arrivals_for
from sim.traffic.payloads import Payload, build_payload
from sim.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_MINUTE

WINDOW_S = SECONDS_PER_DAY  # seconds drawn at once: bounded memory, few Python iterations
MAX_KEY_GROUPS = 100_000  # beyond this, neighbouring Zipf keys are pooled for the hit ratio


def _payload_sums(
    rng: np.random.Generator, n: NDArray[np.int64], payload: Payload
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Request and response byte sums of ``n`` requests: a bivariate normal (CLT) with the
    per-request covariance of the route mix, at least one byte per message."""
    req, resp = payload.request, payload.response
    sd_q, sd_r = np.sqrt(req.variance), np.sqrt(resp.variance)
    rho = payload.covariance_bytes2 / (sd_q * sd_r) if sd_q > 0 and sd_r > 0 else 0.0
    z1 = rng.standard_normal(n.size)
    z2 = rng.standard_normal(n.size)
    root = np.sqrt(n)
    q = n * req.mean + root * sd_q * z1
    r = n * resp.mean + root * sd_r * (rho * z1 + np.sqrt(max(0.0, 1 - rho**2)) * z2)
    return (
        np.asarray(np.rint(np.maximum(q, n)), dtype=np.int64),
        np.asarray(np.rint(np.maximum(r, n)), dtype=np.int64),
    )


class _HitRatio:
    """Share of a key-mix's requests that the cache answers, as a function of the total rate.

    Per key, the TTL bound ``λ_k·ttl / (1 + λ_k·ttl)``; when the keys do not all fit, also Che's
    approximation of the LRU capacity bound ``1 − exp(−p_k·x)`` (rate-free); a key's hit
    probability is the tighter of the two.
    """

    def __init__(self, keys: ZipfKeys, ttl_s: float, capacity: int) -> None:
        p = keys.probabilities
        lru = che_hit_probabilities(p, capacity)
        if p.size > MAX_KEY_GROUPS:  # pool neighbouring keys (their probabilities are close)
            groups = np.array_split(np.arange(p.size), MAX_KEY_GROUPS)
            weights = np.array([g.size for g in groups], dtype=np.float64)
            lru = np.array([lru[g].mean() for g in groups])
            p = np.array([p[g].mean() for g in groups])
        else:
            weights = np.ones(p.size)
        self.p, self.weights, self.ttl_s, self.lru = p, weights, ttl_s, lru

    def __call__(self, rate_per_s: float) -> float:
        if rate_per_s <= 0 or self.ttl_s <= 0:
            return 0.0
        h = np.minimum(ttl_hit_ratio(rate_per_s * self.p, self.ttl_s), self.lru)
        return float(np.sum(self.weights * self.p * h))


def run_aggregate(
    scenario: Scenario,
    horizon: Horizon,
    rngs: dict[str, np.random.Generator],
    progress: ProgressCallback | None = None,
) -> pa.Table:
    """Simulate at ``aggregate`` fidelity; returns the same meter table as ``request`` fidelity."""
    meter = HourlyMeter(scenario, horizon)
    gw = scenario.apigateway
    arrivals = arrivals_for(scenario)
    connections = build_connection_model(scenario.connections)
    payload = build_payload(scenario.payload)
    request_size, response_size = payload.request, payload.response
    duration = build_sampler(scenario.backend.duration)
    bucket = TokenBucket(gw.throttle.rate_per_s, gw.throttle.burst) if gw.throttle.enabled else None
    limit = ConcurrencyLimit(scenario.backend.concurrency_limit)
    hit_ratio = (
        _HitRatio(
            ZipfKeys(gw.cache.keys.count, gw.cache.keys.exponent),
            gw.cache.ttl_s,
            cache_capacity_entries(min(gw.cache.sizes_gb), payload.response.mean),
        )
        if gw.cache.enabled
        else None
    )
    p_new = min(1.0, connections.expected_new_per_request())
    lifetime_s = connections.expected_lifetime_s()
    http_per_request = request_size.expected_units(HTTP_UNIT_BYTES)
    ws_per_request = request_size.expected_units(
        WEBSOCKET_UNIT_BYTES
    ) + gw.websocket.server_messages_per_request * response_size.expected_units(
        WEBSOCKET_UNIT_BYTES
    )
    billed_ms_per_request = duration.expected_units(1.0)
    # P(over a limit) per request; request and response sizes taken as independent here
    exceed = {
        "over_alb_lambda_payload": 1
        - (1 - request_size.survival(LIMITS["over_alb_lambda_payload"][1]))
        * (1 - response_size.survival(LIMITS["over_alb_lambda_payload"][1])),
        "over_apigw_payload": request_size.survival(LIMITS["over_apigw_payload"][1]),
        "over_lambda_payload": 1
        - (1 - request_size.survival(LIMITS["over_lambda_payload"][1]))
        * (1 - response_size.survival(LIMITS["over_lambda_payload"][1])),
        "over_rest_timeout": duration.survival(LIMITS["over_rest_timeout"][1]),
        "over_http_timeout": duration.survival(LIMITS["over_http_timeout"][1]),
    }
    span = horizon.end_s - horizon.start_s

    for a in range(horizon.start_s, horizon.end_s, WINDOW_S):
        b = min(a + WINDOW_S, horizon.end_s)
        seconds = np.arange(a, b, dtype=np.int64)
        midpoints = (horizon.origin_epoch_s + seconds + 0.5).astype(np.float64)
        counts = arrivals.counts(rngs["arrivals"], midpoints)
        throttled = bucket.throttle(counts) if bucket is not None else np.zeros_like(counts)
        concurrency = np.asarray(counts * (duration.mean / 1000.0), dtype=np.float64)
        lambda_throttled = limit.throttled(counts, concurrency)

        hour = seconds // SECONDS_PER_HOUR
        h0 = int(hour[0])
        hour_idx = hour - h0
        starts = np.flatnonzero(np.diff(hour, prepend=hour[0] - 1))
        hour_s = np.diff(np.append(starts, seconds.size))

        def per_hour(x: NDArray[np.int64]) -> NDArray[np.int64]:
            return np.asarray(np.bincount(hour_idx, weights=x), dtype=np.int64)  # noqa: B023

        requests = per_hour(counts)
        served = requests - per_hour(throttled)
        share_served = np.divide(served, requests, out=np.zeros(requests.size), where=requests > 0)

        # connections, per minute
        minute = seconds // SECONDS_PER_MINUTE
        m0 = int(minute[0])
        per_minute = np.asarray(np.bincount(minute - m0, weights=counts), dtype=np.int64)
        new_per_minute = rngs["connections"].binomial(per_minute, p_new)
        minute_hour = (np.arange(m0, m0 + per_minute.size) * SECONDS_PER_MINUTE) // SECONDS_PER_HOUR
        new_per_hour = np.bincount(
            minute_hour - h0, weights=new_per_minute, minlength=requests.size
        )

        # the cache
        if hit_ratio is not None:
            cache_requests = rngs["cache"].binomial(served, gw.cache.cacheable_share)
            ratio = np.array(
                [hit_ratio(r / s) for r, s in zip(cache_requests, hour_s, strict=True)]
            )
            cache_hits = np.asarray(np.rint(cache_requests * ratio), dtype=np.int64)
        else:
            cache_requests = cache_hits = np.zeros(requests.size, dtype=np.int64)
        share_cached_calls = np.divide(
            served - cache_hits, requests, out=np.zeros(requests.size), where=requests > 0
        )

        request_bytes, response_bytes = _payload_sums(rngs["payload"], requests, payload)
        billed_ms = np.asarray(
            np.rint(
                np.maximum(
                    requests * billed_ms_per_request
                    + np.sqrt(requests * duration.variance)
                    * rngs["backend"].standard_normal(requests.size),
                    requests,
                )
            ),
            dtype=np.int64,
        )
        peak_concurrency = np.maximum.reduceat(concurrency, starts)
        meter.add_hourly(
            h0,
            requests=requests,
            peak_rps=np.maximum.reduceat(counts, starts).astype(np.int64),
            new_connections=new_per_hour.astype(np.int64),
            request_bytes=request_bytes,
            response_bytes=response_bytes,
            apigw_throttled=requests - served,
            apigw_response_bytes=np.rint(response_bytes * share_served).astype(np.int64),
            http_request_units=np.rint(served * http_per_request).astype(np.int64),
            websocket_message_units=(served * ws_per_request).astype(np.float64),
            cache_requests=np.asarray(cache_requests, dtype=np.int64),
            cache_hits=cache_hits,
            lambda_throttled=per_hour(lambda_throttled),
            lambda_peak_concurrency=peak_concurrency,
            lambda_billed_ms=billed_ms,
            apigw_lambda_billed_ms=np.rint(billed_ms * share_served).astype(np.int64),
            cached_lambda_billed_ms=np.rint(billed_ms * share_cached_calls).astype(np.int64),
            **{name: np.rint(requests * p).astype(np.int64) for name, p in exceed.items()},
        )
        meter.add_connection_seconds(m0, (new_per_minute * lifetime_s).astype(np.float64))
        if progress is not None:
            progress((b - horizon.start_s) / span)
    return meter.table()
