"""API Gateway's throttle and cache, Lambda's concurrency limit, WebSocket and feasibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from conftest import CONFIGS, scenario_with

import sim
from sim.config import load_scenario
from sim.engine import simulate
from sim.engine.gateway import (
    TokenBucket,
    TtlCache,
    ZipfKeys,
    che_characteristic_time,
    throttled_mask,
    ttl_hit_ratio,
)
from sim.errors import ConfigError


# ------------------------------------------------------------------------ throttle
def test_a_full_bucket_absorbs_one_burst_then_throttles_the_excess() -> None:
    bucket = TokenBucket(rate_per_s=100, burst=50)
    counts = np.array([90, 160, 130, 130, 20, 0, 0, 100], dtype=np.int64)
    out = bucket.throttle(counts)
    # second 1: 50 tokens + 100 refill serve 150 of 160; second 2: 0 + 100 of 130; ...;
    # second 4: 20 served, bucket refills by 80 -> 50 (full)
    assert out.tolist() == [0, 10, 30, 30, 0, 0, 0, 0]
    assert bucket.tokens == 50


def test_sustained_overload_throttles_rate_excess_minus_the_burst() -> None:
    bucket = TokenBucket(rate_per_s=10_000, burst=5_000)
    counts = np.full(60, 12_000, dtype=np.int64)
    throttled = bucket.throttle(counts)
    # the fluid bound: over T seconds at rate c > r, c·T − (r·T + burst) requests are refused
    assert throttled.sum() == 60 * 12_000 - (60 * 10_000 + 5_000)


def test_bucket_state_carries_across_batches() -> None:
    counts = np.array([0, 180, 170, 40, 150, 160, 0, 150], dtype=np.int64)
    whole = TokenBucket(100, 60).throttle(counts)
    split = TokenBucket(100, 60)
    parts = np.concatenate([split.throttle(counts[:3]), split.throttle(counts[3:])])
    assert whole.tolist() == parts.tolist()


def test_the_last_arrivals_of_a_second_are_refused() -> None:
    counts = np.array([3, 2], dtype=np.int64)
    arrivals = np.array([0.9, 0.1, 0.5, 1.7, 1.2])
    mask = throttled_mask(counts, np.array([2, 0], dtype=np.int64), arrivals, 0)
    assert mask.tolist() == [True, False, True, False, False]


def test_peaks_over_the_throttle_are_failures_not_bills(tmp_path: Path) -> None:
    s = scenario_with(
        "traffic={model='constant', requests_per_s=130.0}",
        "scenario.duration_days=0.0416666666666666667",
        "apigateway.throttle.rate_per_s=100",
        "apigateway.throttle.burst=50",
    )
    r = sim.run(s)
    m = r.meters
    throttled = int(m.column("gateway_throttled").to_numpy().sum())
    requests = int(m.column("requests").to_numpy().sum())
    assert throttled > 0.15 * requests
    assert m.column("gateway_requests").to_numpy().sum() == requests - throttled
    rest = r.costs.filter(
        (pa.compute.field("option") == "apigw_rest") & (pa.compute.field("component") == "requests")
    )
    assert sum(rest.column("quantity").to_pylist()) == requests - throttled
    kinds = {f["finding"]: f for f in r.summary["findings"]}
    assert kinds["apigw_throttled"]["requests"] == throttled
    assert "alb" not in kinds["apigw_throttled"]["options"]


# ------------------------------------------------------------------------ cache
def test_ttl_cache_matches_a_request_by_request_cache_across_batches() -> None:
    rng = np.random.default_rng(1)
    keys_n, ttl = 50, 7.0
    cache = TtlCache(keys_n, ttl)
    expiry = np.full(keys_n, -np.inf)
    for b in range(5):
        t = rng.uniform(b * 100, (b + 1) * 100, 2000)
        k = rng.integers(0, keys_n, 2000)
        hit = cache.lookup(t, k)
        brute = np.zeros(2000, dtype=bool)
        for i in np.argsort(t, kind="stable"):
            if t[i] < expiry[k[i]]:
                brute[i] = True
            else:
                expiry[k[i]] = t[i] + ttl
        assert (hit == brute).all()


def test_zipf_keys_follow_their_law() -> None:
    keys = ZipfKeys(1000, 0.9)
    draws = keys.sampler()(np.random.default_rng(5), 400_000)
    p = keys.probabilities
    freq = np.bincount(draws, minlength=1000) / draws.size
    # the most popular keys: binomial standard error sqrt(p(1-p)/n)
    se = np.sqrt(p[:20] * (1 - p[:20]) / draws.size)
    assert (np.abs(freq[:20] - p[:20]) < 5 * se).all()


def test_che_characteristic_time_solves_its_equation() -> None:
    rates = ZipfKeys(5000, 0.8).probabilities * 200
    t = che_characteristic_time(rates, 1000)
    assert np.sum(-np.expm1(-rates * t)) == pytest.approx(1000, rel=1e-9)
    assert che_characteristic_time(rates, 5000) == np.inf


def test_simulated_hit_ratio_matches_the_ttl_formula() -> None:
    """Request-level TTL caching against ``h = λT / (1 + λT)`` per key, for Poisson requests.

    Tolerance: a key's misses form a renewal process with cycle T + Exp(λ); over a period τ their
    count has variance ≈ τ·Var(cycle)/E[cycle]³ = τ·λ⁻²/(T + λ⁻¹)³ (renewal CLT); summed over keys.
    """
    rate, ttl, period = 40.0, 30, 6 * 3600
    keys = ZipfKeys(2000, 0.9)
    s = scenario_with(
        "traffic={model='constant', requests_per_s=40.0}",
        "scenario.duration_days=0.25",
        "apigateway.cache.enabled=true",
        "apigateway.cache.ttl_s=30",
        "apigateway.cache.keys={model='zipf', count=2000, exponent=0.9}",
    )
    m = simulate(s)
    n = m.column("cache_requests").to_numpy().sum()
    misses = n - m.column("cached_0p5gb_hits").to_numpy().sum()
    lam = rate * keys.probabilities
    expected_misses = np.sum(lam * period * (1 - ttl_hit_ratio(lam, ttl)))
    var = np.sum(period * lam**-2 / (ttl + 1 / lam) ** 3)
    assert abs(misses - expected_misses) < 5 * np.sqrt(var) + 2000  # + first miss of each key
    assert n == m.column("gateway_requests").to_numpy().sum()  # every accepted request is cacheable


def test_aggregate_hits_agree_with_request_hits() -> None:
    args = (
        "traffic={model='constant', requests_per_s=40.0}",
        "scenario.duration_days=0.25",
        "apigateway.cache.enabled=true",
        "apigateway.cache.ttl_s=60",
        "apigateway.cache.cacheable_share=0.7",
        "apigateway.cache.keys={model='zipf', count=5000, exponent=1.0}",
    )
    exact = simulate(scenario_with(*args), fidelity="request")
    approx = simulate(scenario_with(*args), fidelity="aggregate")
    ratio = [
        m.column("cached_0p5gb_hits").to_numpy().sum() / m.column("cache_requests").to_numpy().sum()
        for m in (exact, approx)
    ]
    # the aggregate formula ignores each key's first miss of the run: at most 5000 / 605,000
    assert ratio[0] == pytest.approx(ratio[1], abs=0.01)


def test_cache_hits_are_billed_but_save_lambda() -> None:
    r = sim.run(load_scenario(CONFIGS / "cached-catalog.toml", ["scenario.duration_days=1"]))
    m, t = r.meters, r.summary["options"]
    calls = m.column("gateway_requests").to_numpy()
    hits = m.column("cached_1p6gb_hits").to_numpy()
    assert (m.column("cached_1p6gb_invocations").to_numpy() == calls - hits).all()
    cached = r.costs.filter(pa.compute.field("option") == "apigw_rest_cached")
    req = cached.filter(pa.compute.field("component") == "requests")
    assert sum(req.column("quantity").to_pylist()) == calls.sum()
    hours = cached.filter(pa.compute.field("component") == "cache_hours")
    assert set(hours.column("unit_price_usd").to_pylist()) == {0.038}
    assert hours.num_rows == 24
    # the shipped catalogue: the cache pays for itself, and its counterpart does not
    assert t["apigw_rest_cached"]["total_usd"] < t["apigw_rest"]["total_usd"]
    r2 = sim.run(
        load_scenario(
            CONFIGS / "cached-catalog-no-payoff.toml",
            ["scenario.duration_days=1", "engine.fidelity='aggregate'"],
        )
    )
    t2 = r2.summary["options"]
    assert t2["apigw_rest_cached"]["total_usd"] > t2["apigw_rest"]["total_usd"]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("apigateway.cache.sizes_gb=[2.0]", "apigateway.cache.sizes_gb.0"),
        ("apigateway.cache.ttl_s=3601", "apigateway.cache.ttl_s"),
        (
            "apigateway.cache.keys={model='zipf', count=10, exponent=0}",
            "apigateway.cache.keys.exponent",
        ),
        ("backend.concurrency_limit=0", "backend.concurrency_limit"),
        ("apigateway.throttle.rate_per_s=-1", "apigateway.throttle.rate_per_s"),
    ],
)
def test_bad_gateway_settings_name_the_field(override: str, field: str) -> None:
    with pytest.raises(ConfigError) as exc:
        scenario_with("apigateway.cache.enabled=true", override)
    assert field in dict(exc.value.problems)


def test_several_cache_sizes_are_separate_options() -> None:
    s = scenario_with("apigateway.cache.enabled=true", "apigateway.cache.sizes_gb=[0.5, 6.1]")
    cached = [o for o in s.options if o.startswith("apigw_rest_cached")]
    assert cached == ["apigw_rest_cached_0.5gb", "apigw_rest_cached_6.1gb"]


# ------------------------------------------------------------------------ Lambda, WebSocket, limits
def test_concurrency_limit_throttles_and_is_reported() -> None:
    r = sim.run(
        scenario_with(
            "traffic={model='constant', requests_per_s=50.0}",
            "scenario.duration_days=0.0416666666666666667",
            "backend.duration={model='fixed', ms=1000}",
            "backend.concurrency_limit=40",
            "cloudfront.origins=[]",
        )
    )
    m = r.meters
    requests = m.column("requests").to_numpy().sum()
    throttled = m.column("direct_lambda_throttled").to_numpy().sum()
    # offered load 50/s × 1 s = 50 Erlangs on 40 servers: Erlang B(40, 50) = 24.6% refused
    assert 0.2 * requests < throttled < 0.3 * requests
    assert m.column("direct_invocations").to_numpy().sum() == requests - throttled
    lambda_findings = [f for f in r.summary["findings"] if f["finding"] == "lambda_throttled"]
    affected = {o for f in lambda_findings for o in f["options"]}
    assert affected == {"alb", "apigw_rest", "apigw_http", "lambda_url"}


def test_websocket_chat_reproduces_aws_example_8() -> None:
    """PRICING.md example 8: 18 M messages ($18.00) + 21.6 M connection minutes ($5.40).

    The simulated month is random: 3 M client messages ~ Poisson (sd 1,732, × 6 messages each with
    the server's 5 replies), 30,000 connections ~ Poisson (sd 173, × 720 minutes); and connections
    opened in the last 12 h are cut at the period's end, which removes ν·L²/2 = 180,000 minutes
    in expectation.
    """
    r = sim.run(load_scenario(CONFIGS / "websocket-chat.toml"))
    m = r.meters
    messages = m.column("websocket_message_units").to_numpy().sum()
    minutes = m.column("connection_minutes").to_numpy().sum()
    assert abs(messages - 18e6) < 5 * 6 * 1732
    assert abs(minutes - (21.6e6 - 180_000)) < 5 * 173 * 720
    front = r.summary["options"]["apigw_websocket"]["front_door_usd"]
    expected = 18.00 + (21.6e6 - 180_000) * 0.25e-6
    sd_usd = np.hypot(6 * 1732 * 1e-6, 173 * 720 * 0.25e-6)
    assert abs(front - expected) < 5 * sd_usd


def test_oversized_payloads_and_long_durations_are_findings() -> None:
    r = sim.run(
        scenario_with(
            "traffic={model='constant', requests_per_s=2.0}",
            "scenario.duration_days=0.0416666666666666667",
            "payload.request={model='fixed', bytes=2000000}",
            "backend.duration={model='fixed', ms=29500}",
        )
    )
    kinds = {f["finding"]: f for f in r.summary["findings"]}
    n = r.summary["traffic"]["requests"]
    assert kinds["over_alb_lambda_payload"]["requests"] == n
    assert kinds["over_rest_timeout"]["requests"] == n
    # behind CloudFront the origin's limits still apply
    assert kinds["over_rest_timeout"]["options"] == ["apigw_rest", "cloudfront_apigw_rest"]
    assert kinds["over_alb_lambda_payload"]["options"] == ["alb", "cloudfront_alb"]
    assert "over_http_timeout" not in kinds  # 29.5 s is inside HTTP's 30 s
    assert "over_cloudfront_timeout" not in kinds  # and inside CloudFront's 30 s
    assert "over_apigw_payload" not in kinds  # 2 MB is inside API Gateway's 10 MB


def test_capacity_bound_cache_matches_ches_approximation() -> None:
    """When the keys do not fit, the exact LRU cache against Che's approximation.

    A 0.5 GB cache holds 536 responses of 1,000,000 bytes; 5,000 Zipf(0.8) keys at 40 requests/s.
    Tolerance: 5 binomial standard errors of the hit ratio over N requests, plus 0.01 for Che's
    approximation itself (asymptotically exact for Zipf popularity; Fricker, Robert and Roberts,
    ITC 2012, report errors well under 1% at these sizes).
    """
    from sim.engine.gateway import LruTtlCache, che_hit_probabilities

    args = (
        "traffic={model='constant', requests_per_s=40.0}",
        "scenario.duration_days=0.25",
        "payload.response={model='fixed', bytes=1000000}",
        "apigateway.cache.enabled=true",
        "apigateway.cache.ttl_s=3600",
        "apigateway.cache.keys={model='zipf', count=5000, exponent=0.8}",
    )
    m = simulate(scenario_with(*args), fidelity="request")
    n = m.column("cache_requests").to_numpy().sum()
    h = m.column("cached_0p5gb_hits").to_numpy().sum() / n
    p = ZipfKeys(5000, 0.8).probabilities
    che = float(np.sum(p * che_hit_probabilities(p, 536)))
    assert abs(h - che) < 5 * np.sqrt(che * (1 - che) / n) + 0.01
    approx = simulate(scenario_with(*args), fidelity="aggregate")
    h_agg = (
        approx.column("cached_0p5gb_hits").to_numpy().sum()
        / approx.column("cache_requests").to_numpy().sum()
    )
    assert abs(h_agg - che) < 0.01  # the TTL bound barely binds at one hour
    # the exact LRU cache evicts: a capacity of one entry alternating keys never hits
    lru = LruTtlCache(1, 100.0)
    assert not lru.lookup(np.arange(6.0), np.array([0, 1, 0, 1, 0, 1])).any()
