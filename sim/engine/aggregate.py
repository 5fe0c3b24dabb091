"""``aggregate`` fidelity: per-second counts drawn directly, everything else from sums (for studies).

What is exact and what is approximate:

* requests per second: drawn from the same arrival process as ``request`` fidelity, so per-hour counts
  and the per-second peak have exactly the same distribution; API Gateway's throttle works on these
  counts exactly as in ``request`` fidelity;
* new connections: ``Binomial(requests in the minute, new connections per request)``;
* active connections: each minute's new connections spread over the minutes they stay open by the
  lifetime distribution (:class:`ConnectionKernel`; exact in expectation, and nothing past the
  period's end); for sessions, lifetimes are taken as exponential with the sessions' mean lifetime;
* bytes and Lambda billed milliseconds: sums of ``n`` i.i.d. values drawn as
  ``n·mean + sqrt(n·variance)·Z`` (central limit theorem; exact for fixed sizes; request and response
  sums jointly normal with the route mix's covariance); each path's share of them is taken in
  proportion to its invocations (billed ms) or deliveries (response bytes);
* each path's Lambda concurrency limit: Erlang's loss formula per second (:func:`erlang_b`, exact for
  Poisson arrivals and any duration distribution in steady state) on the path's arrival rate,
  smoothed over ``max(60 s, 10 × mean duration)``; the hour's throttles are
  ``Binomial(invocations, mean blocking)``;
* HTTP API 512 KB units and WebSocket 32 KB units: ``n × E[units per message]``, rounded (exact for
  fixed sizes); messages over 128 KB are counted out in proportion;
* cache hits, at each size: the TTL cache's hit ratio under Poisson requests, per key and hour,
  ``λ_k·ttl / (1 + λ_k·ttl)``, bounded by Che's approximation of that size's LRU capacity (see
  :func:`sim.engine.gateway.ttl_hit_ratio`); responses over 1 MB are never cached;
* requests over a limit (feasibility): ``n × P(X > limit)`` from each distribution's survival
  function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from sim.config import Scenario
from sim.engine.core import Horizon, ProgressCallback
from sim.engine.edge import expected_pool
from sim.engine.gateway import (
    TokenBucket,
    ZipfKeys,
    cache_capacity_entries,
    che_hit_probabilities,
    erlang_b,
    ttl_hit_ratio,
)
from sim.engine.paths import engine_paths
from sim.meters import (
    CACHE_MAX_ITEM,
    HTTP_UNIT_BYTES,
    LIMITS,
    STREAM_FREE_BYTES,
    STREAM_MAX_BYTES,
    WEBSOCKET_MAX_BYTES,
    WEBSOCKET_UNIT_BYTES,
    HourlyMeter,
)
from sim.traffic import build_connection_model, build_sampler
from sim.traffic.arrivals import arrivals_for
from sim.traffic.distributions import expected_units_up_to, expected_value_up_to
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

    def _h(self, rate_per_s: float) -> NDArray[np.float64]:
        return np.minimum(ttl_hit_ratio(rate_per_s * self.p, self.ttl_s), self.lru)

    def __call__(self, rate_per_s: float) -> float:
        if rate_per_s <= 0 or self.ttl_s <= 0:
            return 0.0
        return float(np.sum(self.weights * self.p * self._h(rate_per_s)))

    def cold_start_misses(self, rate_per_s: float) -> float:
        """The hits an empty cache loses against the stationary ratio: ``Σ_k h_k²/2``. A key's
        misses form a renewal process with cycles ``ttl + Exp(λ_k)``; started empty (the first
        request a miss) instead of in equilibrium, it counts ``E[D²]/(2μ²) − E[D₁]/μ = h_k²/2``
        more misses over a long period (``μ = ttl + 1/λ_k``, ``D₁ ~ Exp(λ_k)``)."""
        if rate_per_s <= 0 or self.ttl_s <= 0:
            return 0.0
        return float(np.sum(self.weights * self._h(rate_per_s) ** 2) / 2)


def _expected_open_at_start(
    meter: HourlyMeter, scenario: Scenario, horizon: Horizon, connections: Any
) -> None:
    """The connection-seconds of the connections open when the period starts, in expectation
    (what ``request`` fidelity draws with :func:`sim.engine.core.connections_at_start`)."""
    from sim.engine.core import rates_before_start
    from sim.traffic.connections import PerConnection

    rates = rates_before_start(scenario, horizon)
    if rates is None or not isinstance(connections, PerConnection):
        return
    seconds = min(connections.warm_span_s(), horizon.end_s - horizon.start_s)
    per_second = connections.expected_open_after_start(rates, seconds)
    minute = (horizon.start_s + np.arange(seconds)) // SECONDS_PER_MINUTE
    first = int(minute[0]) if seconds else 0
    per_minute = np.bincount(minute - first, weights=per_second).astype(np.float64)
    meter.add_connection_seconds(first, per_minute)


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
    limit = scenario.backend.concurrency_limit
    paths = engine_paths(scenario)
    cached = [p for p in paths if p.cache_size_gb is not None]
    fits_cache = 1.0 - response_size.survival(CACHE_MAX_ITEM)
    hit_ratio = {
        p.name: _HitRatio(
            ZipfKeys(gw.cache.keys.count, gw.cache.keys.exponent),
            gw.cache.ttl_s,
            cache_capacity_entries(float(p.cache_size_gb or 0), response_size.mean),
        )
        for p in cached
    }
    p_new = min(1.0, connections.expected_new_per_request())
    kernel = ConnectionKernel.of(connections, horizon)
    _expected_open_at_start(meter, scenario, horizon, connections)
    http_per_request = request_size.expected_units(HTTP_UNIT_BYTES)
    # a client message over 128 KB is refused; a response over 128 KB cannot be sent
    ws_accepted = 1 - request_size.survival(WEBSOCKET_MAX_BYTES)
    ws_ok = ws_accepted * (1 - response_size.survival(WEBSOCKET_MAX_BYTES))
    ws_client = expected_units_up_to(request_size, WEBSOCKET_UNIT_BYTES, WEBSOCKET_MAX_BYTES)
    ws_server = expected_units_up_to(response_size, WEBSOCKET_UNIT_BYTES, WEBSOCKET_MAX_BYTES)
    ws_sent_bytes = expected_value_up_to(response_size, WEBSOCKET_MAX_BYTES)
    billed_ms_per_request = duration.expected_units(1.0)
    mean_s = duration.mean / 1000.0
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
        "over_websocket_message": 1 - ws_ok,
    }
    span = horizon.end_s - horizon.start_s
    flags = meter.flags
    cf = scenario.cloudfront
    edge_ratio = (
        _HitRatio(
            ZipfKeys(cf.cache.keys.count, cf.cache.keys.exponent),
            cf.cache.ttl_s,
            cf.cache.keys.count,  # every key fits: the TTL alone bounds the hits
        )
        if flags.cloudfront and cf.cache.enabled
        else None
    )
    edge_bucket = (
        TokenBucket(gw.throttle.rate_per_s, gw.throttle.burst)
        if flags.edge_gateway and gw.throttle.enabled
        else None
    )
    cf_timeout = duration.survival(flags.cloudfront_timeout_ms) if flags.cloudfront else 0.0
    stream_excess = response_size.expected_excess(STREAM_FREE_BYTES)
    if flags.streaming:
        exceed["over_lambda_url_stream"] = 1 - (1 - request_size.survival(STREAM_FREE_BYTES)) * (
            1 - response_size.survival(STREAM_MAX_BYTES)
        )

    for a in range(horizon.start_s, horizon.end_s, WINDOW_S):
        b = min(a + WINDOW_S, horizon.end_s)
        seconds = np.arange(a, b, dtype=np.int64)
        midpoints = (horizon.origin_epoch_s + seconds + 0.5).astype(np.float64)
        counts = arrivals.counts(rngs["arrivals"], midpoints)
        throttled = bucket.throttle(counts) if bucket is not None else np.zeros_like(counts)
        served_s = counts - throttled

        hour = seconds // SECONDS_PER_HOUR
        h0 = int(hour[0])
        hour_idx = hour - h0
        starts = np.flatnonzero(np.diff(hour, prepend=hour[0] - 1))
        hour_s = np.diff(np.append(starts, seconds.size))

        def per_hour(x: NDArray[Any]) -> NDArray[np.int64]:
            return np.asarray(np.rint(np.bincount(hour_idx, weights=x)), dtype=np.int64)  # noqa: B023

        requests = per_hour(counts)
        served = requests - per_hour(throttled)

        # connections: new ones per minute, their open time spread over the minutes (exact in
        # expectation, ending at the period's end)
        minute = seconds // SECONDS_PER_MINUTE
        m0 = int(minute[0])
        per_minute = np.asarray(np.bincount(minute - m0, weights=counts), dtype=np.int64)
        new_per_minute = rngs["connections"].binomial(per_minute, p_new)
        minute_hour = (np.arange(m0, m0 + per_minute.size) * SECONDS_PER_MINUTE) // SECONDS_PER_HOUR
        new_per_hour = np.bincount(
            minute_hour - h0, weights=new_per_minute, minlength=requests.size
        )
        kernel.add(meter, m0, new_per_minute)

        # the cache, at each size: hits per hour
        cache_requests = np.zeros(requests.size, dtype=np.int64)
        hits: dict[str, NDArray[np.int64]] = {}
        if cached:
            cache_requests = rngs["cache"].binomial(served, gw.cache.cacheable_share)
            storable = cache_requests * fits_cache
            for p in cached:
                ratio = np.array(
                    [hit_ratio[p.name](r / s) for r, s in zip(storable, hour_s, strict=True)]
                )
                expected = storable * ratio
                if a == horizon.start_s and expected.size:  # the cache starts empty
                    cold = hit_ratio[p.name].cold_start_misses(storable[0] / hour_s[0])
                    expected[0] = max(0.0, expected[0] - cold)
                hits[p.name] = np.asarray(np.rint(expected), dtype=np.int64)

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
        facts: dict[str, NDArray[Any]] = {}
        edge_hits = np.zeros(requests.size, dtype=np.int64)
        misses_s = counts
        edge_accepted_s = counts
        if flags.cloudfront:
            rng_cf = rngs["cloudfront"]
            miss = np.ones(requests.size)
            if edge_ratio is not None:
                cacheable = rng_cf.binomial(requests, cf.cache.cacheable_share)
                per_edge = cf.edge_locations
                ratio = np.array(
                    [edge_ratio(c / s / per_edge) for c, s in zip(cacheable, hour_s, strict=True)]
                )
                expected = cacheable * ratio
                if a == horizon.start_s and expected.size:  # every edge cache starts empty
                    rate = cacheable[0] / hour_s[0] / per_edge
                    expected[0] = max(
                        0.0, expected[0] - per_edge * edge_ratio.cold_start_misses(rate)
                    )
                hit = np.divide(expected, requests, out=np.zeros(requests.size), where=requests > 0)
                miss = 1.0 - np.clip(hit, 0.0, 1.0)
            # the forwarded requests second by second, and so per hour (hits: the rest)
            misses_s = rng_cf.binomial(counts, miss[hour_idx])
            forwarded = per_hour(misses_s)
            edge_hits = requests - forwarded
            facts["edge_requests"] = forwarded
            facts["edge_request_bytes"] = _share(request_bytes, forwarded, requests)
            facts["edge_hits"] = edge_hits
            facts["edge_hit_bytes"] = _share(response_bytes, edge_hits, requests)
            facts["over_cloudfront_timeout"] = np.rint(forwarded * cf_timeout).astype(np.int64)
            edge_accepted_s = misses_s
            if flags.edge_gateway:
                refused_s = (
                    edge_bucket.throttle(misses_s) if edge_bucket is not None
                    else np.zeros_like(misses_s)
                )  # fmt: skip
                edge_accepted_s = misses_s - refused_s
                accepted = per_hour(edge_accepted_s)
                facts["edge_gateway_accepted"] = accepted
                facts["edge_gateway_throttled"] = per_hour(misses_s) - accepted
                facts["edge_gateway_http_units"] = np.rint(accepted * http_per_request).astype(
                    np.int64
                )
            if flags.edge_pool:
                rate = smoothed(misses_s.astype(np.float64), mean_s) / cf.edge_locations
                opened, open_ = expected_pool(rate, mean_s, cf.origin_keepalive_s)
                meter.add_edge_pool(
                    h0,
                    np.bincount(hour_idx, weights=opened * cf.edge_locations).astype(np.float64),
                    np.bincount(hour_idx, weights=open_ * cf.edge_locations).astype(np.float64),
                )
        for p in paths:
            if p.edge:
                arrivals_s = (edge_accepted_s if p.through_gateway else misses_s).astype(np.float64)
                invoked = per_hour(arrivals_s)
            elif p.cache_size_gb is not None:
                invoked = served - hits[p.name]
                share = np.divide(invoked, served, out=np.zeros(served.size), where=served > 0)
                arrivals_s = served_s * share[hour_idx]
            elif p.websocket:
                arrivals_s = np.asarray(served_s * ws_accepted, dtype=np.float64)
                invoked = np.asarray(np.rint(served * ws_accepted), dtype=np.int64)
            elif p.through_gateway:
                invoked, arrivals_s = served, served_s.astype(np.float64)
            else:
                invoked, arrivals_s = requests, counts.astype(np.float64)
            concurrency = arrivals_s * mean_s
            refused = np.zeros(requests.size, dtype=np.int64)
            if limit is not None:
                blocked = erlang_b(limit, smoothed(arrivals_s, mean_s) * mean_s)
                weight = np.bincount(hour_idx, weights=arrivals_s * blocked)
                p_block = np.divide(weight, invoked, out=np.zeros(invoked.size), where=invoked > 0)
                refused = rngs["backend"].binomial(invoked, np.clip(p_block, 0.0, 1.0))
            ran = invoked - refused
            delivered = ran + (hits[p.name] if p.cache_size_gb is not None else 0)
            if p.edge:
                delivered = ran + edge_hits
            facts[f"{p.name}_invocations"] = ran
            facts[f"{p.name}_lambda_throttled"] = refused
            facts[f"{p.name}_billed_ms"] = _share(billed_ms, ran, requests)
            facts[f"{p.name}_response_bytes"] = _share(response_bytes, delivered, requests)
            if p.websocket:
                # the responses that fit a message (each ≤ 128 KB): their expected bytes
                facts[f"{p.name}_response_bytes"] = np.rint(ran * ws_sent_bytes).astype(np.int64)
                facts["gateway_ws_server_units"] = np.rint(ran * ws_server).astype(np.int64)
            facts[f"{p.name}_peak_concurrency"] = np.maximum.reduceat(concurrency, starts)
            if p.cache_size_gb is not None:
                facts[f"{p.name}_hits"] = hits[p.name]
            if p.name == "direct" and flags.streaming:
                facts["direct_stream_excess_bytes"] = np.rint(ran * stream_excess).astype(np.int64)
        meter.add_hourly(
            h0,
            requests=requests,
            peak_rps=np.maximum.reduceat(counts, starts).astype(np.int64),
            new_connections=new_per_hour.astype(np.int64),
            request_bytes=request_bytes,
            response_bytes=response_bytes,
            gateway_requests=served,
            gateway_throttled=requests - served,
            gateway_http_units=np.rint(served * http_per_request).astype(np.int64),
            cache_requests=np.asarray(cache_requests, dtype=np.int64),
            over_cache_item=np.rint(cache_requests * (1 - fits_cache)).astype(np.int64),
            **facts,
            **{
                name: np.rint(requests * p).astype(np.int64)
                for name, p in exceed.items()
                if meter.websocket or name != "over_websocket_message"
            },
        )
        if meter.websocket:
            meter.add_hourly(
                h0, gateway_ws_client_units=np.rint(served * ws_client).astype(np.int64)
            )
        if progress is not None:
            progress((b - horizon.start_s) / span)
    return meter.table()


def _share(
    total: NDArray[np.int64], part: NDArray[np.int64], whole: NDArray[np.int64]
) -> NDArray[np.int64]:
    """``total × part / whole`` per hour, rounded (a path's share of a sum over all requests)."""
    ratio = np.divide(part, whole, out=np.zeros(whole.size), where=whole > 0)
    return np.asarray(np.rint(total * ratio), dtype=np.int64)


def smoothed(per_second: NDArray[np.float64], mean_duration_s: float) -> NDArray[np.float64]:
    """The arrival rate per second as Erlang's formula takes it: a centred moving average over
    ``W = max(60 s, 10 × mean duration)`` (at most an hour), so that the offered load follows the
    rate's changes but not the per-second Poisson noise."""
    w = int(min(3600, max(60, math.ceil(10 * mean_duration_s))))
    if per_second.size <= 1:
        return per_second.astype(np.float64)
    w = min(w, per_second.size)
    box = np.ones(w)
    total = np.convolve(per_second, box, mode="same")
    norm = np.convolve(np.ones(per_second.size), box, mode="same")
    return np.asarray(total / norm, dtype=np.float64)


@dataclass
class ConnectionKernel:
    """Connection-seconds per minute from new connections per minute, exact in expectation.

    A connection opened at a uniform time ``t`` in its minute and open for a lifetime ``X`` (survival
    ``S``) overlaps minute ``k`` (relative ``[a, b)``) by, on average,
    ``(1/60) ∫₀⁶⁰ [G(b − t)⁺ − G(a − t)⁺] dt = (1/60) [H(b) − H(b − 60) − H(a) + H(a − 60)]``
    with ``G(u) = ∫₀ᵘ S``, ``H(u) = ∫₀ᵘ G`` (0 for u ≤ 0). The kernel spans the minutes until the
    expected remaining open time is below 1e-9 of the mean (at most a week); it is convolved with
    the new connections of each window and carried into the next, and what falls after the period's
    end is dropped (connections are metered up to the period's end).
    """

    weights: NDArray[np.float64]
    end_minute: float  # the period's end, in minutes of the run
    carry: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    carry_from: int = 0

    @classmethod
    def of(cls, model: Any, horizon: Horizon) -> ConnectionKernel:
        h_of = model.open_time_double_integral
        mean = model.expected_lifetime_s()
        k = 1
        while k < 7 * 24 * 60 and model.remaining_open_s(k * 60.0) > 1e-9 * mean:
            k *= 2
        edges = np.arange(k + 2, dtype=np.float64) * 60.0
        h = h_of(edges)
        h_minus = h_of(edges - 60.0)
        w = (h[1:] - h_minus[1:] - h[:-1] + h_minus[:-1]) / 60.0
        return cls(np.asarray(w[: k + 1], dtype=np.float64), horizon.end_s / 60.0)

    def add(self, meter: Any, first_minute: int, new_per_minute: NDArray[np.int64]) -> None:
        spread = np.convolve(new_per_minute.astype(np.float64), self.weights)
        if self.carry.size:
            # the carried tail starts at minute ``carry_from``: the window's first minute, or the
            # minute before when two windows share a minute (a start off the whole minute)
            shift = self.carry_from - first_minute
            if shift < 0:  # pragma: no cover - windows are contiguous
                raise AssertionError("aggregate windows must be contiguous")
            need = shift + self.carry.size
            if need > spread.size:
                spread = np.concatenate((spread, np.zeros(need - spread.size)))
            spread[shift:need] += self.carry
        n = new_per_minute.size
        self.carry, self.carry_from = spread[n:].copy(), first_minute + n
        out = spread[:n].copy()
        # the last minute may be cut by the period's end
        minutes = first_minute + np.arange(n)
        inside = np.clip(self.end_minute - minutes, 0.0, 1.0)
        out *= np.where(inside < 1.0, inside, 1.0)
        meter.add_connection_seconds(first_minute, out)
