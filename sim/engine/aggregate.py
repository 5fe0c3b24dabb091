"""``aggregate`` fidelity: hours drawn from their per-hour distributions, or second by second.

Each hour takes one of two paths (the meters' ``per_second`` column says which):

* **hourly** (:meth:`_Aggregate.hourly_hours`): when the requests are a Poisson stream with a
  deterministic rate (constant, daily cycle, a composable profile without flash crowds or
  bursts) and bounds computed from the inputs put the probability that a per-second mechanism
  acts in the hour below :data:`HOURLY_EPSILON` (the throttle refusing a request, a Lambda
  concurrency limit being reached; and the hour busy enough that its busiest second, drawn apart
  from its count, agrees with it). Its counts come from their per-hour distributions
  (:mod:`sim.traffic.hourly` sums the per-second rates by quadrature): each minute's new
  connections ``Poisson(p · Λ_minute)`` and the hour's other requests ``Poisson((1 − p) · Λ)``,
  exactly the per-second path's joint law of requests and new connections; ``peak_rps`` from the
  exact distribution of the largest of the hour's per-second counts (``Π_s F(m; λ_s)``, inverted),
  drawn independently of the hour's count: their correlation is ``Σ_s λ_s P(N_s = max) /
  (σ_N σ_max)`` (Stein's identity for Poisson counts), about ``1 / (0.4 √3600) ≈ 0.04`` whatever
  the rate; nothing is throttled or refused. CloudFront's cache and its pooled connections to an
  ALB keep the per-second path (their per-second thinning and pool).
* **per second**: each second's count drawn from the arrival process (so hourly counts and the
  per-second peak have exactly ``request`` fidelity's distribution for every arrival process),
  API Gateway's throttle applied to these counts per second, and the rest as below.

Both paths then share the hourly model of everything else; what is exact and what is
approximate:

* new connections: ``Binomial(requests in the minute, new connections per request)``;
* active connections: each minute's new connections spread over the minutes they stay open by the
  lifetime distribution (:class:`ConnectionKernel`; exact in expectation, and nothing past the
  period's end); for sessions, lifetimes are taken as exponential with the sessions' mean lifetime;
* bytes and Lambda billed milliseconds: sums of ``n`` i.i.d. values drawn as
  ``n·mean + sqrt(n·variance)·Z`` (central limit theorem; exact for fixed sizes; request and response
  sums jointly normal with the route mix's covariance); each path's share of them is taken in
  proportion to its invocations (billed ms) or deliveries (response bytes);
* each path's Lambda concurrency limit (per-second hours): Erlang's loss formula per second
  (:func:`erlang_b`, exact for Poisson arrivals and any duration distribution in steady state) on
  the path's arrival rate, smoothed over ``max(60 s, 10 × mean duration)``; the hour's throttles
  are ``Binomial(invocations, mean blocking)``; ``<path>_peak_concurrency`` is the busiest
  second's arrivals × the mean duration (Little's law), on both paths;
* HTTP API 512 KB units and WebSocket 32 KB units: ``n × E[units per message]``, rounded (exact for
  fixed sizes); messages over 128 KB are counted out in proportion;
* cache hits, at each size: the TTL cache's hit ratio under Poisson requests, per key and hour,
  ``λ_k·ttl / (1 + λ_k·ttl)``, bounded by Che's approximation of that size's LRU capacity (see
  :func:`sim.engine.gateway.ttl_hit_ratio`), from the hour's count on either path; responses over
  1 MB are never cached;
* requests over a limit (feasibility): ``n × P(X > limit)`` from each distribution's survival
  function.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray
from scipy.special import pdtr, pdtrc

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
from sim.traffic.hourly import HourlyRates, PoissonRate, hourly_rates
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
    if scenario.engine.warmup_s:  # the warm-up's connections (rates over it alone)
        connections = replace(connections, steady_start=True)
    seconds = min(connections.warm_span_s(), horizon.end_s - horizon.start_s)
    per_second = connections.expected_open_after_start(rates, seconds)
    minute = (horizon.start_s + np.arange(seconds)) // SECONDS_PER_MINUTE
    first = int(minute[0]) if seconds else 0
    per_minute = np.bincount(minute - first, weights=per_second).astype(np.float64)
    meter.add_connection_seconds(first, per_minute)


#: An hour takes the hourly path when the probability that a per-second mechanism acts in it (the
#: gateway's throttle refuses a request, or a Lambda concurrency limit is reached), bounded from the
#: inputs, is below this; otherwise it runs second by second.
HOURLY_EPSILON = 1e-9


def throttle_free_count(rate_per_s: float, burst: float) -> int:
    """The largest count per second that no token bucket of ``rate_per_s`` and ``burst`` ever
    refuses while it starts full and every second's count stays at or below it:
    ``min(⌊rate⌋, ⌊burst / 2⌋)``.

    * :class:`~sim.engine.gateway.TokenBucket` (per second, this engine): a full bucket serves a
      second's ``c ≤ rate`` requests (``c ≤ ⌊tokens + rate⌋``) and ends it full again
      (``min(burst, burst + rate − c) = burst``).
    * :class:`~sim.engine.gateway.ContinuousTokenBucket` (``request`` fidelity): a request is
      refused only if, since the bucket was last full at some ``s``, more than ``burst + rate · ℓ``
      requests arrived in ``[s, s + ℓ]``; an interval of length ``ℓ`` touches at most ``ℓ + 2``
      seconds, so with at most ``c`` a second it holds ``c (ℓ + 2) ≤ burst + rate · ℓ`` requests
      when ``c ≤ rate`` and ``2c ≤ burst``.
    """
    return max(0, min(math.floor(rate_per_s), math.floor(burst / 2)))


@dataclass(frozen=True)
class _SecondDetail:
    """What the per-second path knows of its window beyond the hourly totals."""

    counts: NDArray[np.int64]
    served_s: NDArray[np.int64]
    starts: NDArray[np.int64]  # first second of each hour in the window

    @functools.cached_property
    def hour_idx(self) -> NDArray[np.int64]:
        """Each second's hour in the window (0, 1, ...)."""
        hour_s = np.diff(np.append(self.starts, self.counts.size))
        return np.repeat(np.arange(self.starts.size), hour_s)


class _Aggregate:
    """The ``aggregate`` engine: constants, the state that spans windows, and the two paths."""

    def __init__(
        self,
        scenario: Scenario,
        horizon: Horizon,
        rngs: dict[str, np.random.Generator],
        progress: ProgressCallback | None,
    ) -> None:
        self.scenario, self.horizon, self.rngs, self.progress = scenario, horizon, rngs, progress
        self.meter = meter = HourlyMeter(scenario, horizon)
        self.gw = gw = scenario.apigateway
        self.arrivals = arrivals_for(scenario)
        connections = build_connection_model(scenario.connections)
        self.payload = payload = build_payload(scenario.payload)
        request_size, response_size = payload.request, payload.response
        self.duration = duration = build_sampler(scenario.backend.duration)
        self.bucket = (
            TokenBucket(gw.throttle.rate_per_s, gw.throttle.burst) if gw.throttle.enabled else None
        )
        self.limit = scenario.backend.concurrency_limit
        self.paths = engine_paths(scenario)
        self.cached = [p for p in self.paths if p.cache_size_gb is not None]
        self.fits_cache = 1.0 - response_size.survival(CACHE_MAX_ITEM)
        self.hit_ratio = {
            p.name: _HitRatio(
                ZipfKeys(gw.cache.keys.count, gw.cache.keys.exponent),
                gw.cache.ttl_s,
                cache_capacity_entries(float(p.cache_size_gb or 0), response_size.mean),
            )
            for p in self.cached
        }
        self.p_new = min(1.0, connections.expected_new_per_request())
        self.kernel = ConnectionKernel.of(connections, horizon)
        _expected_open_at_start(meter, scenario, horizon, connections)
        self.http_per_request = request_size.expected_units(HTTP_UNIT_BYTES)
        # a client message over 128 KB is refused; a response over 128 KB cannot be sent
        self.ws_accepted = 1 - request_size.survival(WEBSOCKET_MAX_BYTES)
        ws_ok = self.ws_accepted * (1 - response_size.survival(WEBSOCKET_MAX_BYTES))
        self.ws_client = expected_units_up_to(
            request_size, WEBSOCKET_UNIT_BYTES, WEBSOCKET_MAX_BYTES
        )
        self.ws_server = expected_units_up_to(
            response_size, WEBSOCKET_UNIT_BYTES, WEBSOCKET_MAX_BYTES
        )
        self.ws_sent_bytes = expected_value_up_to(response_size, WEBSOCKET_MAX_BYTES)
        self.billed_ms_per_request = duration.expected_units(1.0)
        self.mean_s = duration.mean / 1000.0
        # P(over a limit) per request; request and response sizes taken as independent here
        self.exceed = {
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
        self.flags = flags = meter.flags
        self.cf = cf = scenario.cloudfront
        self.edge_ratio = (
            _HitRatio(
                ZipfKeys(cf.cache.keys.count, cf.cache.keys.exponent),
                cf.cache.ttl_s,
                cf.cache.keys.count,  # every key fits: the TTL alone bounds the hits
            )
            if flags.cloudfront and cf.cache.enabled
            else None
        )
        self.edge_bucket = (
            TokenBucket(gw.throttle.rate_per_s, gw.throttle.burst)
            if flags.edge_gateway and gw.throttle.enabled
            else None
        )
        self.cf_timeout = (
            duration.survival(flags.cloudfront_timeout_ms) if flags.cloudfront else 0.0
        )
        self.stream_excess = response_size.expected_excess(STREAM_FREE_BYTES)
        if flags.streaming:
            self.exceed["over_lambda_url_stream"] = 1 - (
                1 - request_size.survival(STREAM_FREE_BYTES)
            ) * (1 - response_size.survival(STREAM_MAX_BYTES))
        self.rates = self._hourly_rates()

    # ------------------------------------------------------------------ which hours run hourly
    def _hourly_rates(self) -> HourlyRates | None:
        """The per-hour rates when the run can take the hourly path at all: a Poisson stream
        with a deterministic rate, and no CloudFront cache or pooled origin connections (their
        per-second thinning and pool stay per second)."""
        flags = self.flags
        if flags.cloudfront and (self.cf.cache.enabled or flags.edge_pool):
            return None
        rate = PoissonRate.of(self.arrivals)
        if rate is None:
            return None
        hz = self.horizon
        return hourly_rates(rate, hz.origin_epoch_s, hz.start_s, hz.end_s)

    def hourly_hours(self) -> NDArray[np.bool_]:
        """Per hour of the run: may it take the hourly path? True where the bound on the
        probability that a per-second mechanism acts in it is below :data:`HOURLY_EPSILON`:

        * the throttle: ``P(max_s N_s > c) ≤ n · P(Poisson(λ̄) > c)`` (union bound over the
          hour's ``n`` seconds, ``λ̄`` an upper bound of their rates, ``c`` from
          :func:`throttle_free_count`); the bucket must also be full when the hour starts
          (checked as the run goes);
        * the concurrency limit ``L``: without it, invocations in flight form an M/G/∞ system,
          Poisson with mean ``m(t) = ∫ λ(t − v) S(v) dv ≤ E[D] · λ̄_{h−1,h} + λ̄_max ·
          E[(D − 1 h)⁺]`` (``S`` the duration's survival, ``λ̄_{h−1,h}`` the bound over this hour
          and the one before); an invocation can only be refused if one finds ``L`` in flight,
          and the expected number that do is ``∫ λ(t) P(N(t) ≥ L) dt ≤ Λ · P(Poisson(m̄) ≥ L)``
          (Mecke's formula; every path's invocations are a thinning of the arrivals);
        * the hour's expected count ``Λ`` is large enough that its busiest second, drawn apart
          from its count, is consistent with it: ``P(Poisson(Λ) ≤ m_top) < ε`` (``m_top`` the
          top of the peak's table), so ``peak_rps ≤ requests`` and ``requests ≤ n · peak_rps``
          but with probability below ε.
        """
        rates = self.rates
        n_hours = self.horizon.n_hours
        if rates is None:
            return np.zeros(n_hours, dtype=np.bool_)
        kind = rates.types
        seconds = rates.seconds[kind].astype(np.float64)
        expected = rates.expected[kind]
        upper = rates.upper[kind]
        risk = pdtr(rates.m_top[kind].astype(np.float64), expected)
        if self.bucket is not None:
            c = throttle_free_count(self.bucket.rate_per_s, self.bucket.burst)
            risk = risk + seconds * pdtrc(float(c), upper)
        if self.limit is not None:
            first = self.horizon.start_s // SECONDS_PER_HOUR
            before = np.concatenate(([0.0], upper[:-1]))
            before[: first + 1] = 0.0  # nothing runs before the period starts
            tail_s = self.duration.expected_excess(SECONDS_PER_HOUR * 1000.0) / 1000.0
            in_flight = self.mean_s * np.maximum(before, upper) + float(upper.max()) * tail_s
            risk = risk + expected * pdtrc(float(self.limit - 1), in_flight)
        return np.asarray(risk < HOURLY_EPSILON, dtype=np.bool_)

    def _buckets_full(self) -> bool:
        return all(b is None or b.tokens >= b.burst for b in (self.bucket, self.edge_bucket))

    # ------------------------------------------------------------------ the run
    def run(self) -> pa.Table:
        """Walk the hours in order: runs of hours that may take the hourly path take it (when
        the throttle's bucket is full as they start), the others run second by second. New
        connections are collected per minute and spread over the minutes they stay open at the
        end (the kernel is linear: the same as spreading window by window)."""
        hz = self.horizon
        n_hours = hz.n_hours
        ok = self.hourly_hours()
        self.new_per_minute = np.zeros(n_hours * 60)
        drawn = self._draw_hourly(ok)
        hourly = np.zeros(n_hours, dtype=np.bool_)
        h = hz.start_s // SECONDS_PER_HOUR
        while h < n_hours:
            if ok[h] and self._buckets_full():
                h2 = h + 1
                while h2 < n_hours and ok[h2]:
                    h2 += 1
                hourly[h:h2] = True
            else:
                h2 = h + 1
                while h2 < n_hours and not ok[h2]:
                    h2 += 1
                a0 = max(h * SECONDS_PER_HOUR, hz.start_s)
                b0 = min(h2 * SECONDS_PER_HOUR, hz.end_s)
                for a in range(a0, b0, WINDOW_S):
                    self._per_second(a, min(a + WINDOW_S, b0))
                    self._report(min(a + WINDOW_S, b0))
            h = h2
        if hourly.any():
            self._hourly(hourly, drawn)
        self.kernel.add(self.meter, 0, self.new_per_minute)
        self.meter.second_by_second[hourly] = False
        self._report(hz.end_s)
        return self.meter.table()

    def _report(self, b: int) -> None:
        if self.progress is not None:
            hz = self.horizon
            self.progress((b - hz.start_s) / (hz.end_s - hz.start_s))

    # ------------------------------------------------------------------ the hourly path
    def _draw_hourly(self, ok: NDArray[np.bool_]) -> dict[str, NDArray[np.int64]]:
        """For every hour that may take the hourly path, drawn from its per-hour distributions:
        each minute's new connections ``Poisson(p · Λ_minute)``, the hour's other requests
        ``Poisson((1 − p) · Λ)`` (Poisson splitting: together exactly the per-second path's
        ``Binomial(requests, p)`` per minute of ``Poisson`` requests), and its busiest second from
        the distribution of the maximum of its per-second counts (independently of the count).
        Draws of hours that end up running per second (the bucket was not full) go unused."""
        n_hours = self.horizon.n_hours
        out = {
            "new_per_minute": np.zeros((n_hours, 60), dtype=np.int64),
            "requests": np.zeros(n_hours, dtype=np.int64),
            "peak_rps": np.zeros(n_hours, dtype=np.int64),
        }
        rates = self.rates
        if rates is None or not ok.any():
            return out
        kind = rates.types[ok]
        new = self.rngs["connections"].poisson(self.p_new * rates.per_minute[kind])
        others = self.rngs["arrivals"].poisson((1.0 - self.p_new) * rates.expected[kind])
        out["new_per_minute"][ok] = new
        out["requests"][ok] = new.sum(axis=1) + others
        out["peak_rps"][ok] = rates.sample_peaks(self.rngs["arrivals"], kind)
        return out

    def _hourly(self, hourly: NDArray[np.bool_], drawn: dict[str, NDArray[np.int64]]) -> None:
        """Meter the hours that took the hourly path (one call: the others' entries are zero):
        nothing throttled, nothing refused (the bounds of :meth:`hourly_hours`)."""
        rates = self.rates
        assert rates is not None
        new = np.where(hourly[:, None], drawn["new_per_minute"], 0)
        self.new_per_minute += new.ravel()
        requests = np.where(hourly, drawn["requests"], 0)
        self._meter_hours(
            0,
            hour_s=rates.seconds[rates.types],
            requests=requests,
            served=requests,
            peak_rps=np.where(hourly, drawn["peak_rps"], 0),
            new_per_hour=new.sum(axis=1),
            first=bool(hourly[0]),
            detail=None,
        )

    # ------------------------------------------------------------------ the per-second path
    def _per_second(self, a: int, b: int) -> None:
        """Seconds ``[a, b)`` one by one (counts drawn per second)."""
        hz, rngs = self.horizon, self.rngs
        seconds = np.arange(a, b, dtype=np.int64)
        midpoints = (hz.origin_epoch_s + seconds + 0.5).astype(np.float64)
        counts = self.arrivals.counts(rngs["arrivals"], midpoints)
        bucket = self.bucket
        throttled = bucket.throttle(counts) if bucket is not None else None
        served_s = counts - throttled if throttled is not None else counts

        h0 = a // SECONDS_PER_HOUR
        first_hour_end = (h0 + 1) * SECONDS_PER_HOUR
        # the window's hours: a partial first one, then whole ones (windows end on the hour or
        # at the period's end)
        starts = np.concatenate(
            ([0], np.arange(first_hour_end - a, b - a, SECONDS_PER_HOUR, dtype=np.int64))
        ).astype(np.int64)
        hour_s = np.diff(np.append(starts, seconds.size))
        requests = np.add.reduceat(counts, starts).astype(np.int64)
        served = (
            requests - np.add.reduceat(throttled, starts) if throttled is not None else requests
        )

        # connections: new ones per minute, their open time spread over the minutes (exact in
        # expectation, ending at the period's end)
        m0 = a // SECONDS_PER_MINUTE
        m_starts = np.concatenate(
            ([0], np.arange((m0 + 1) * SECONDS_PER_MINUTE - a, b - a, SECONDS_PER_MINUTE))
        ).astype(np.int64)
        per_minute = np.add.reduceat(counts, m_starts).astype(np.int64)
        new_per_minute = rngs["connections"].binomial(per_minute, self.p_new)
        minute_hour = (np.arange(m0, m0 + per_minute.size) * SECONDS_PER_MINUTE) // SECONDS_PER_HOUR
        new_per_hour = np.bincount(
            minute_hour - h0, weights=new_per_minute, minlength=requests.size
        )
        self.new_per_minute[m0 : m0 + new_per_minute.size] += new_per_minute
        self._meter_hours(
            h0,
            hour_s=hour_s,
            requests=requests,
            served=served,
            peak_rps=np.maximum.reduceat(counts, starts).astype(np.int64),
            new_per_hour=new_per_hour.astype(np.int64),
            first=a == hz.start_s,
            detail=_SecondDetail(counts, served_s, starts),
        )

    # ------------------------------------------------------------------ both paths: the hours
    def _meter_hours(
        self,
        h0: int,
        *,
        hour_s: NDArray[np.int64],
        requests: NDArray[np.int64],
        served: NDArray[np.int64],
        peak_rps: NDArray[np.int64],
        new_per_hour: NDArray[np.int64],
        first: bool,
        detail: _SecondDetail | None,
    ) -> None:
        """The hours' facts from their counts (``detail``: the per-second path's seconds)."""
        rngs, meter, flags, gw, cf = self.rngs, self.meter, self.flags, self.gw, self.cf
        mean_s = self.mean_s
        n = requests.size

        # the cache, at each size: hits per hour
        cache_requests = np.zeros(n, dtype=np.int64)
        hits: dict[str, NDArray[np.int64]] = {}
        if self.cached:
            cache_requests = rngs["cache"].binomial(served, gw.cache.cacheable_share)
            storable = cache_requests * self.fits_cache
            for p in self.cached:
                ratio = np.array(
                    [self.hit_ratio[p.name](r / s) for r, s in zip(storable, hour_s, strict=True)]
                )
                expected = storable * ratio
                if first and expected.size:  # the cache starts empty
                    cold = self.hit_ratio[p.name].cold_start_misses(storable[0] / hour_s[0])
                    expected[0] = max(0.0, expected[0] - cold)
                hits[p.name] = np.asarray(np.rint(expected), dtype=np.int64)

        request_bytes, response_bytes = _payload_sums(rngs["payload"], requests, self.payload)
        duration = self.duration
        billed_ms = np.asarray(
            np.rint(
                np.maximum(
                    requests * self.billed_ms_per_request
                    + np.sqrt(requests * duration.variance) * rngs["backend"].standard_normal(n),
                    requests,
                )
            ),
            dtype=np.int64,
        )
        facts: dict[str, NDArray[Any]] = {}
        edge_hits = np.zeros(n, dtype=np.int64)
        misses_s = detail.counts if detail is not None else None
        edge_accepted_s = misses_s
        if flags.cloudfront:
            rng_cf = rngs["cloudfront"]
            miss = np.ones(n)
            edge_ratio = self.edge_ratio
            if edge_ratio is not None:
                cacheable = rng_cf.binomial(requests, cf.cache.cacheable_share)
                per_edge = cf.edge_locations
                ratio = np.array(
                    [edge_ratio(c / s / per_edge) for c, s in zip(cacheable, hour_s, strict=True)]
                )
                expected = cacheable * ratio
                if first and expected.size:  # every edge cache starts empty
                    rate = cacheable[0] / hour_s[0] / per_edge
                    expected[0] = max(
                        0.0, expected[0] - per_edge * edge_ratio.cold_start_misses(rate)
                    )
                hit = np.divide(expected, requests, out=np.zeros(n), where=requests > 0)
                miss = 1.0 - np.clip(hit, 0.0, 1.0)
            if detail is not None:
                # the forwarded requests second by second, and so per hour (hits: the rest)
                misses_s = rng_cf.binomial(detail.counts, miss[detail.hour_idx])
                forwarded = np.add.reduceat(misses_s, detail.starts).astype(np.int64)
            else:  # the hourly path runs CloudFront only without its cache: it forwards all
                forwarded = requests
            edge_hits = requests - forwarded
            facts["edge_requests"] = forwarded
            facts["edge_request_bytes"] = _share(request_bytes, forwarded, requests)
            facts["edge_hits"] = edge_hits
            facts["edge_hit_bytes"] = _share(response_bytes, edge_hits, requests)
            facts["over_cloudfront_timeout"] = np.rint(forwarded * self.cf_timeout).astype(np.int64)
            edge_accepted_s = misses_s
            if flags.edge_gateway:
                assert detail is not None and misses_s is not None
                edge_bucket = self.edge_bucket
                refused_s = (
                    edge_bucket.throttle(misses_s) if edge_bucket is not None
                    else np.zeros_like(misses_s)
                )  # fmt: skip
                edge_accepted_s = misses_s - refused_s
                accepted = np.add.reduceat(edge_accepted_s, detail.starts).astype(np.int64)
                facts["edge_gateway_accepted"] = accepted
                facts["edge_gateway_throttled"] = forwarded - accepted
                facts["edge_gateway_http_units"] = np.rint(accepted * self.http_per_request).astype(
                    np.int64
                )
            if flags.edge_pool:
                assert detail is not None and misses_s is not None
                rate = smoothed(misses_s.astype(np.float64), mean_s) / cf.edge_locations
                opened, open_ = expected_pool(rate, mean_s, cf.origin_keepalive_s)
                meter.add_edge_pool(
                    h0,
                    np.bincount(detail.hour_idx, weights=opened * cf.edge_locations).astype(
                        np.float64
                    ),
                    np.bincount(detail.hour_idx, weights=open_ * cf.edge_locations).astype(
                        np.float64
                    ),
                )
        for p in self.paths:
            # the hour's invocations, and each second's arrivals as a share of the window's
            # arriving or served ones (``share``) or as their own series (``own``)
            own: NDArray[Any] | None = None
            share: NDArray[np.float64] | float = 1.0
            through = p.through_gateway
            if p.edge:
                assert detail is not None and misses_s is not None and edge_accepted_s is not None
                own = edge_accepted_s if through else misses_s
                invoked = np.add.reduceat(own, detail.starts).astype(np.int64)
            elif p.cache_size_gb is not None:
                invoked = served - hits[p.name]
                share = np.divide(invoked, served, out=np.zeros(n), where=served > 0)
            elif p.websocket:
                share = self.ws_accepted
                invoked = np.asarray(np.rint(served * self.ws_accepted), dtype=np.int64)
            else:
                invoked = served if through else requests
            refused = np.zeros(n, dtype=np.int64)
            if detail is None:  # the hourly path: nothing throttled, nothing refused (bounds)
                peak = peak_rps * share * mean_s
            else:
                if own is None:
                    base = detail.served_s if through else detail.counts
                    arrivals_s = (
                        base * share[detail.hour_idx] if isinstance(share, np.ndarray)
                        else base * share
                    )  # fmt: skip
                else:
                    arrivals_s = own
                arrivals_s = np.asarray(arrivals_s, dtype=np.float64)
                peak = np.maximum.reduceat(arrivals_s, detail.starts) * mean_s
                if self.limit is not None:
                    blocked = erlang_b(self.limit, smoothed(arrivals_s, mean_s) * mean_s)
                    weight = np.bincount(detail.hour_idx, weights=arrivals_s * blocked)
                    p_block = np.divide(weight, invoked, out=np.zeros(n), where=invoked > 0)
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
                facts[f"{p.name}_response_bytes"] = np.rint(ran * self.ws_sent_bytes).astype(
                    np.int64
                )
                facts["gateway_ws_server_units"] = np.rint(ran * self.ws_server).astype(np.int64)
            facts[f"{p.name}_peak_concurrency"] = np.asarray(peak, dtype=np.float64)
            if p.cache_size_gb is not None:
                facts[f"{p.name}_hits"] = hits[p.name]
            if p.name == "direct" and flags.streaming:
                facts["direct_stream_excess_bytes"] = np.rint(ran * self.stream_excess).astype(
                    np.int64
                )
        meter.add_hourly(
            h0,
            requests=requests,
            peak_rps=np.asarray(peak_rps, dtype=np.int64),
            new_connections=new_per_hour,
            request_bytes=request_bytes,
            response_bytes=response_bytes,
            gateway_requests=served,
            gateway_throttled=requests - served,
            gateway_http_units=np.rint(served * self.http_per_request).astype(np.int64),
            cache_requests=np.asarray(cache_requests, dtype=np.int64),
            over_cache_item=np.rint(cache_requests * (1 - self.fits_cache)).astype(np.int64),
            **facts,
            **{
                name: np.rint(requests * p).astype(np.int64)
                for name, p in self.exceed.items()
                if meter.websocket or name != "over_websocket_message"
            },
        )
        if meter.websocket:
            meter.add_hourly(
                h0, gateway_ws_client_units=np.rint(served * self.ws_client).astype(np.int64)
            )


def run_aggregate(
    scenario: Scenario,
    horizon: Horizon,
    rngs: dict[str, np.random.Generator],
    progress: ProgressCallback | None = None,
) -> pa.Table:
    """Simulate at ``aggregate`` fidelity; returns the same meter table as ``request`` fidelity."""
    return _Aggregate(scenario, horizon, rngs, progress).run()


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

    def add(self, meter: Any, first_minute: int, new_per_minute: NDArray[Any]) -> None:
        n = new_per_minute.size
        spread = np.convolve(np.asarray(new_per_minute, dtype=np.float64), self.weights)
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
        self.carry, self.carry_from = spread[n:].copy(), first_minute + n
        out = spread[:n]
        # the period's end: the minute it cuts keeps its share, the minutes after it nothing
        cut = self.end_minute - first_minute
        if cut < n:
            k = math.floor(cut)
            if k < 0:
                out[:] = 0.0
            else:
                out[k] *= cut - k
                out[k + 1 :] = 0.0
        meter.add_connection_seconds(first_minute, out)
