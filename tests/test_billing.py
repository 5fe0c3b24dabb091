"""The bill right on every path (issue 9): each option its own deployment, Erlang's loss formula,
every cache size its own hits, AWS's size limits, calendar months and the 30-day projection, free
tiers, the account around the API, re-pricing, and the smaller inconsistencies."""

from __future__ import annotations

import heapq
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import CONFIGS, SEED, metered, scenario_with
from scipy.stats import poisson

import sim
from sim.config import load_scenario
from sim.engine.gateway import ContinuousTokenBucket, LossSystem, erlang_b
from sim.errors import ConfigError


def erlang(c: int, a: float) -> float:
    return float(poisson.pmf(c, a) / poisson.cdf(c, a))


def total(m: pa.Table, name: str) -> int:
    return int(pc.sum(m.column(name)).as_py() or 0)


# =========================================================================== engine pieces
def test_erlang_b_is_the_recursion() -> None:
    """B(0, a) = 1, B(c, a) = a B(c−1, a) / (c + a B(c−1, a))."""
    for a in (0.5, 10.0, 60.0, 100.0):
        b = 1.0
        for c in range(1, 121):
            b = a * b / (c + a * b)
            assert erlang_b(c, np.array([a]))[0] == pytest.approx(b, rel=1e-9)


def _brute_loss(t: np.ndarray, d: np.ndarray, limit: int) -> np.ndarray:
    heap: list[float] = []
    ok = np.zeros(t.size, dtype=bool)
    for i in np.argsort(t, kind="stable"):
        while heap and heap[0] <= t[i]:
            heapq.heappop(heap)
        if len(heap) < limit:
            heapq.heappush(heap, t[i] + d[i])
            ok[i] = True
    return ok


@pytest.mark.parametrize("limit", [1, 3, 20])
def test_the_loss_system_is_exact_across_batches(limit: int) -> None:
    rng = np.random.default_rng(limit)
    system = LossSystem(limit)
    times, durations, admitted = [], [], []
    for b in range(8):
        counts = rng.poisson(rng.uniform(0.2, 6), 30)
        t = np.repeat(np.arange(b * 30, b * 30 + 30, dtype=float), counts)
        t = t + rng.random(t.size)
        d_ms = rng.exponential(rng.uniform(200, 4000), t.size)
        admitted.append(system.admit(t, d_ms, counts.astype(np.int64), b * 30))
        times.append(t)
        durations.append(d_ms / 1000)
    t, d = np.concatenate(times), np.concatenate(durations)
    assert (np.concatenate(admitted) == _brute_loss(t, d, limit)).all()


def _brute_bucket(t: np.ndarray, rate: float, burst: float) -> np.ndarray:
    tokens, last = burst, 0.0
    out = np.zeros(t.size, dtype=bool)
    for k, i in enumerate(np.argsort(t, kind="stable")):
        tokens = min(burst, tokens + rate * (t[i] - last))
        last = t[i]
        if tokens >= 1:
            tokens -= 1
        else:
            out[i] = True
        del k
    return out


def test_the_continuous_token_bucket_is_exact_across_batches() -> None:
    rng = np.random.default_rng(3)
    for _ in range(25):
        rate, burst = rng.uniform(5, 50), rng.uniform(1, 80)
        bucket = ContinuousTokenBucket(rate, burst)
        times, masks = [], []
        for b in range(6):
            lam = rng.uniform(0, 2) * rate * np.ones(20)
            lam[rng.integers(0, 20, 3)] *= rng.uniform(0, 5)
            counts = rng.poisson(lam).astype(np.int64)
            t = np.repeat(np.arange(b * 20, b * 20 + 20, dtype=float), counts)
            t = t + rng.random(t.size)
            m = bucket.throttle(counts, t, b * 20)
            masks.append(np.zeros(t.size, dtype=bool) if m is None else m)
            times.append(t)
        t = np.concatenate(times)
        assert (np.concatenate(masks) == _brute_bucket(t, rate, burst)).all()


# =========================================================================== each option its own Lambda
THROTTLED = (
    "traffic={model='constant', requests_per_s=100.0}",
    "scenario.duration_days=0.25",
    "backend.duration={model='fixed', ms=1000}",
    "backend.concurrency_limit=50",
    "apigateway.throttle.rate_per_s=60",
    "apigateway.throttle.burst=60",
    "apigateway.cache.enabled=true",
    "apigateway.cache.ttl_s=300",
    "apigateway.cache.keys={model='zipf', count=10, exponent=0.8}",
)


@pytest.fixture(scope="module")
def throttled() -> dict[str, pa.Table]:
    s = scenario_with(*THROTTLED)
    return {f: metered(s, fidelity=f) for f in ("request", "aggregate")}


def test_each_option_throttles_its_own_invocations(throttled: dict[str, pa.Table]) -> None:
    """6 h at 100 req/s of 1 s invocations, a limit of 50, API Gateway at 60/s (burst 60), a
    10-key cache with a 300 s TTL.

    * ALB: Poisson arrivals at 100/s into 50 servers: Erlang B(50, 100) = 50.9 % refused. The
      refused share is a mean over about 21,600 one-second blocks (the holding time), each a
      share with sd ≤ 0.5: 5 sd ≤ 5 × 0.5 / sqrt(21,600) = 0.017.
    * REST and HTTP APIs: the gateway lets about 60/s through. Its token bucket spaces the accepted
      requests almost evenly: a periodic stream of 60/s into 50 servers of 1 s loses 1/6; a Poisson
      one Erlang B(50, 60) = 21.6 %. The truth lies between (±0.017 as above).
    * the cached REST API: 10 keys, each missed once per 300 s: 720 misses, none throttled.
    """
    m = throttled["request"]
    n = total(m, "requests")
    assert total(m, "direct_lambda_throttled") / n == pytest.approx(erlang(50, 100), abs=0.017)
    accepted = total(m, "gateway_requests")
    assert accepted / 21600 == pytest.approx(60, rel=0.01)
    refused = total(m, "gateway_lambda_throttled") / accepted
    assert 1 / 6 - 0.017 < refused < erlang(50, 60) + 0.017
    assert total(m, "gateway_invocations") == accepted - total(m, "gateway_lambda_throttled")
    assert total(m, "cached_0p5gb_invocations") == 720
    assert total(m, "cached_0p5gb_lambda_throttled") == 0


def test_aggregate_fidelity_uses_erlangs_formula_per_path(throttled: dict[str, pa.Table]) -> None:
    """The aggregate model: Erlang B on each path's own arrival rate (binomial spread on ~10⁶
    invocations: sd < 0.0005)."""
    m = throttled["aggregate"]
    n = total(m, "requests")
    assert total(m, "direct_lambda_throttled") / n == pytest.approx(erlang(50, 100), abs=0.002)
    g = total(m, "gateway_requests")
    assert total(m, "gateway_lambda_throttled") / g == pytest.approx(erlang(50, 60), abs=0.005)
    assert total(m, "cached_0p5gb_lambda_throttled") == 0


def test_a_long_function_throttles_as_erlang_b_not_littles_law() -> None:
    """100 req/s, 10 s functions, limit 1,000: Erlang B(1000, 1000) = 2.48 % (the per-second Little's
    law estimate gave 3.84 %). Refusals come in clusters of at most ~100 (one second's excess):
    the share's sd ≤ sqrt(refused × 100) / N, 5 sd ≈ 0.5 percentage points at N = 2.16 M."""
    s = scenario_with(
        "traffic={model='constant', requests_per_s=100.0}",
        "scenario.duration_days=0.25",
        "backend.duration={model='fixed', ms=10000}",
        "backend.concurrency_limit=1000",
    )
    expected = erlang(1000, 1000)
    assert expected == pytest.approx(0.0248, abs=5e-5)
    for fidelity in ("request", "aggregate"):
        m = metered(s, fidelity=fidelity)
        n = total(m, "requests")
        share = total(m, "direct_lambda_throttled") / n
        assert abs(share - expected) < 5 * np.sqrt(expected * n * 100) / n, fidelity
        assert share < 0.0384 - 0.005


def test_a_throttled_invocation_sends_no_response_body(throttled: dict[str, pa.Table]) -> None:
    m = throttled["request"]
    # 1 KB fixed responses: the bytes sent are those of the invocations that ran (and cache hits)
    assert total(m, "direct_response_bytes") == 1024 * total(m, "direct_invocations")
    assert total(m, "gateway_response_bytes") == 1024 * total(m, "gateway_invocations")
    hits = total(m, "cached_0p5gb_hits")
    assert total(m, "cached_0p5gb_response_bytes") == 1024 * (
        hits + total(m, "cached_0p5gb_invocations")
    )
    assert total(m, "response_bytes") == 1024 * total(m, "requests")


# =========================================================================== caches, limits
def test_every_cache_size_has_its_own_hits() -> None:
    """2 M Zipf(0.7) keys of 4,000 B at 200 req/s, TTL 1 h: a 237 GB cache holds every key (the TTL
    alone decides), a 0.5 GB one holds 134,217 of them (LRU evictions cost hits). In aggregate
    fidelity each size gets its own Che + TTL hit ratio; in request fidelity each its own cache."""
    s = scenario_with(
        "traffic={model='constant', requests_per_s=200.0}",
        "scenario.duration_days=0.0833333333333333333",
        "payload.response={model='fixed', bytes=4000}",
        "apigateway.cache.enabled=true",
        "apigateway.cache.ttl_s=3600",
        "apigateway.cache.sizes_gb=[0.5, 237]",
        "apigateway.cache.keys={model='zipf', count=2000000, exponent=0.7}",
    )
    assert [o for o in s.options if "cached" in o] == [
        "apigw_rest_cached_0.5gb",
        "apigw_rest_cached_237gb",
    ]
    for fidelity in ("request", "aggregate"):
        m = metered(s, fidelity=fidelity)
        asked = total(m, "cache_requests")
        small, large = (total(m, f"cached_{t}_hits") / asked for t in ("0p5gb", "237gb"))
        assert large > small + 0.03, fidelity
        billed = sim.price(m, s)
        for option, tag in (
            ("apigw_rest_cached_0.5gb", "0p5gb"),
            ("apigw_rest_cached_237gb", "237gb"),
        ):
            lam = billed.filter(
                (pc.field("option") == option) & (pc.field("component") == "lambda_requests")
            )
            assert sum(lam.column("quantity").to_pylist()) == total(m, f"cached_{tag}_invocations")


def test_the_cache_set_matches_a_brute_force_cache_per_size() -> None:
    from sim.engine.core import CacheSet
    from sim.engine.gateway import LruTtlCache, TtlCache

    rng = np.random.default_rng(11)
    ttl = 40.0
    caches = CacheSet(TtlCache(60, ttl), ("cached_big",), {"cached_5": LruTtlCache(5, ttl)})
    expiry = {"big": {}, "5": {}}
    lru: dict[int, float] = {}
    for b in range(4):
        t = rng.uniform(b * 100, b * 100 + 100, 800)
        k = rng.integers(0, 60, 800)
        asks = rng.random(800) < 0.8
        hits = caches.lookup(t, k, asks)
        for i in np.argsort(t, kind="stable"):
            if not asks[i]:
                assert not hits["cached_big"][i] and not hits["cached_5"][i]
                continue
            key, now = int(k[i]), float(t[i])
            big = expiry["big"].get(key, -np.inf) > now
            assert hits["cached_big"][i] == big
            if not big:
                expiry["big"][key] = now + ttl
            small = key in lru and lru[key] > now
            assert hits["cached_5"][i] == small
            if small:
                lru[key] = lru.pop(key)
            else:
                lru.pop(key, None)
                lru[key] = now + ttl
                if len(lru) > 5:
                    lru.pop(next(iter(lru)))


def test_responses_over_1_mb_are_never_cached() -> None:
    s = scenario_with(
        "traffic={model='constant', requests_per_s=20.0}",
        "scenario.duration_days=0.0416666666666666667",
        "payload.response={model='fixed', bytes=2000000}",
        "apigateway.cache.enabled=true",
        "apigateway.cache.keys={model='zipf', count=10, exponent=1.0}",
    )
    for fidelity in ("request", "aggregate"):
        m = metered(s, fidelity=fidelity)
        assert total(m, "cached_0p5gb_hits") == 0, fidelity
        assert total(m, "over_cache_item") == total(m, "cache_requests") > 0
    r = sim.run(s)
    assert any(f["finding"] == "over_cache_item" for f in r.summary["findings"])


def test_websocket_messages_over_128_kb_are_refused_not_billed() -> None:
    s = scenario_with(
        "traffic={model='constant', requests_per_s=5.0}",
        "scenario.duration_days=0.0416666666666666667",
        "payload.request={model='fixed', bytes=200000}",
        "apigateway.apis=['websocket']",
        "alb.enabled=false",
    )
    r = sim.run(s)
    m = r.meters
    assert total(m, "over_websocket_message") == total(m, "requests") > 0
    assert total(m, "websocket_message_units") == 0
    kinds = {f["finding"]: f for f in r.summary["findings"]}
    assert kinds["over_websocket_message"]["options"] == ["apigw_websocket"]


# =========================================================================== months and projection
def _front(summary: dict, option: str, key: str = "front_door_usd") -> float:
    return float(summary["options"][option]["per_30_days_usd"][key])


def test_the_30_day_projection_prices_usage_not_scaled_dollars() -> None:
    """400 req/s from 2026-03-01: 30 days hold 1.04 B REST calls, across two tiers. A 2-day run's
    projection prices its usage × 15 through the tiers: it must match a 30-day run within the
    Poisson spread of the counts (2-day total: sd 5,900, × 15; 30-day: sd 32,000), at the marginal
    $2.80/M: 5 × (15 × 5,900 + 32,000) × 2.8e-6 ≈ $1.70."""
    base = (
        "traffic={model='constant', requests_per_s=400.0}",
        "scenario.start=2026-03-01T00:00:00Z",
        "engine.fidelity='aggregate'",
    )
    short = sim.run(scenario_with(*base, "scenario.duration_days=2")).summary
    month = sim.run(scenario_with(*base, "scenario.duration_days=30")).summary
    rest_month = month["options"]["apigw_rest"]["front_door_usd"]
    assert 400 * 86400 * 30 > 1e9  # past the second tier
    assert _front(short, "apigw_rest") == pytest.approx(rest_month, abs=1.70)
    # scaled dollars would have said 15 × the 2-day bill: all at $3.50/M
    assert 15 * short["options"]["apigw_rest"]["front_door_usd"] > rest_month + 300
    for option in ("alb", "apigw_http"):
        assert _front(short, option) == pytest.approx(
            month["options"][option]["front_door_usd"], rel=0.002
        )
    # the months: one invoice for March
    assert [m["month"] for m in month["months"]] == ["2026-03"]


def test_free_tiers_do_not_turn_the_ranking_of_a_short_run() -> None:
    """With the legacy 12-month free tiers, a 2-day run used to rank the ALB and REST the other way
    round from a 30-day run (its scaled dollars spent the allowances 15 times)."""
    base = (
        "traffic={model='constant', requests_per_s=1.0}",
        "scenario.start=2026-03-01T00:00:00Z",
        "engine.fidelity='aggregate'",
        "pricing.free_tier='legacy_12_month'",
    )
    short = sim.run(scenario_with(*base, "scenario.duration_days=2")).summary
    month = sim.run(scenario_with(*base, "scenario.duration_days=30")).summary
    assert short["cheapest_per_30_days"] == month["cheapest"]
    for option in ("alb", "apigw_rest", "apigw_http"):
        assert _front(short, option, "total_usd") == pytest.approx(
            month["options"][option]["total_usd"], abs=0.05
        )


def test_each_calendar_month_is_its_own_invoice() -> None:
    s = scenario_with(
        "scenario.start=2026-11-30T12:00:00Z",
        "scenario.duration_days=1",
        "traffic.requests_per_day=2000000",
        "traffic.peak_requests_per_s=40",
    )
    r = sim.run(s)
    months = r.summary["months"]
    assert [(m["month"], m["hours"]) for m in months] == [("2026-11", 12), ("2026-12", 12)]
    for option, t in r.summary["options"].items():
        assert sum(m["options"][option]["total_usd"] for m in months) == pytest.approx(
            t["total_usd"], rel=1e-12
        )
    assert r.summary["period"]["start"] == "2026-11-30T12:00:00+00:00"


def test_the_period_starts_when_the_scenario_does() -> None:
    s = scenario_with(
        "scenario.start=2026-11-01T10:30:00Z",
        "scenario.duration_days=0.125",
        "traffic.requests_per_day=100000",
        "traffic.peak_requests_per_s=3",
    )
    summary = sim.run(s).summary
    assert summary["period"]["start"] == "2026-11-01T10:30:00+00:00"
    # 10:30 to 13:30 touches four clock hours; a 30-day period from 10:30 touches 721
    alb = summary["options"]["alb"]["per_30_days_components_usd"]["alb_hours"]
    assert alb == pytest.approx(721 * 0.0225, rel=1e-12)


def test_aggregate_connection_time_ends_with_the_period() -> None:
    """websocket-chat over 2 days: 12-hour connections opened in the last 12 h are metered up to
    the period's end in both fidelities. Connection minutes are compound Poisson (2,000 connections
    of 720 minutes, sd ≈ 720 × sqrt(2,000) ≈ 32,000): 5 sd between two independent runs."""
    s = load_scenario(CONFIGS / "websocket-chat.toml", ["scenario.duration_days=2"])
    minutes = {
        f: float(pc.sum(metered(s, fidelity=f).column("connection_minutes")).as_py())
        for f in ("request", "aggregate")
    }
    assert abs(minutes["aggregate"] - minutes["request"]) < 5 * np.sqrt(2) * 32_000
    # ν = 1,000 connections a day, L = 720 min. Started in steady state (the default), ν L are
    # open throughout: ν T L (the ν L²/2 open at the start balance the ν L²/2 cut at the end)
    nu, life, days = 1000 / 1440, 720.0, 2
    assert minutes["aggregate"] == pytest.approx(nu * days * 1440 * life, rel=0.05)
    # started empty: ν T L − ν L² / 2, the end's cut alone
    empty = load_scenario(
        CONFIGS / "websocket-chat.toml", ["scenario.duration_days=2", "connections.start='empty'"]
    )
    cut = float(pc.sum(metered(empty, fidelity="aggregate").column("connection_minutes")).as_py())
    assert cut == pytest.approx(nu * days * 1440 * life - nu * life**2 / 2, rel=0.05)


def test_aggregate_connection_time_carries_across_windows_off_the_minute() -> None:
    """The same, starting 30 s into a minute over 4 days: aggregate fidelity's day-long windows
    then share a minute, and the carried connection time must not be lost at each boundary
    (4,000 connections of 720 minutes: sd ≈ 720 × sqrt(4,000) ≈ 45,500)."""
    s = load_scenario(
        CONFIGS / "websocket-chat.toml",
        ["scenario.start=2026-11-01T00:00:30Z", "scenario.duration_days=4"],
    )
    minutes = {
        f: float(pc.sum(metered(s, fidelity=f).column("connection_minutes")).as_py())
        for f in ("request", "aggregate")
    }
    assert abs(minutes["aggregate"] - minutes["request"]) < 5 * np.sqrt(2) * 45_500


WS_CUT = (
    "traffic={model='constant', requests_per_s=5.0}",
    "scenario.duration_days=0.25",
    "payload.request={model='fixed', bytes=3072}",
    "payload.response={model='lognormal', mean_bytes=150000, sigma=0.8}",
    "apigateway.apis=['websocket']",
    "alb.enabled=false",
    "lambda_url.enabled=false",
    "cloudfront.origins=[]",
)


def test_websocket_units_stop_at_128_kb_in_both_fidelities() -> None:
    """Responses averaging 150 KB: a response over 128 KB cannot be sent, so only those at most
    128 KB are server units, in both fidelities (aggregate: E[units · 1{size ≤ 128 KB}] from the
    size distribution). Tolerance: 5 standard errors of the unit counts (each ≤ 4 units)."""
    s = scenario_with(*WS_CUT)
    fast, agg = metered(s), metered(s, fidelity="aggregate")
    for name in ("gateway_ws_client_units", "gateway_ws_server_units", "websocket_invocations"):
        a = float(pc.sum(fast.column(name)).as_py())
        b = float(pc.sum(agg.column(name)).as_py())
        n = float(pc.sum(fast.column("requests")).as_py())
        assert abs(a - b) < 5 * np.sqrt(2 * 16 * n), name
    # the request engine: exactly the responses of at most 128 KB
    assert (
        float(pc.sum(fast.column("gateway_ws_server_units")).as_py())
        < 0.6 * float(pc.sum(fast.column("websocket_invocations")).as_py()) * 4
    )


def test_a_refused_websocket_message_invokes_nothing() -> None:
    s = scenario_with(*WS_CUT, "payload.request={model='fixed', bytes=200000}",
                      "payload.response={model='fixed', bytes=1000}", "pricing.free_tier='none'")  # fmt: skip
    r = sim.run(s)
    ws = r.summary["options"]["apigw_websocket"]["components_usd"]
    assert ws["messages"] == 0
    assert ws["lambda_requests"] == ws["lambda_gb_seconds"] == ws["data_transfer"] == 0
    assert total(r.meters, "websocket_invocations") == 0 < total(r.meters, "gateway_invocations")


def test_data_transfer_tiers_start_after_the_global_free_tier() -> None:
    """'first 10 TB / month data transfer out beyond the global free tier': with 10,240 GB used
    elsewhere in the account the next 100 GB are still in the first tier ($0.09)."""
    s = scenario_with(
        "scenario.duration_days=0.0416666666666666667", "pricing.free_tier='always_free'",
        "account.other_monthly_usage={data_transfer_gb=10240}",
    )  # fmt: skip
    costs = sim.run(s).costs
    dto = costs.filter(
        (pc.field("option") == "alb") & (pc.field("component") == "data_transfer")
    ).to_pylist()
    assert {row["unit_price_usd"] for row in dto} == {0.09}
    assert {row["tier"] for row in dto} == {0}


def test_tiers_are_the_published_ones_with_a_free_allowance() -> None:
    """The free units are tier 0 at $0; the paid units keep their published tier index."""
    s = scenario_with("scenario.duration_days=0.0416666666666666667")
    costs = sim.run(s).costs
    rows = costs.filter(
        (pc.field("option") == "alb") & (pc.field("component") == "lambda_gb_seconds")
    ).to_pylist()
    assert {(r["tier"], r["unit_price_usd"]) for r in rows} == {(0, 0.0)}
    costs = sim.run(s.model_copy(update={"pricing": s.pricing.model_copy(
        update={"free_tier": "none"})})).costs  # fmt: skip
    rows = costs.filter(
        (pc.field("option") == "alb") & (pc.field("component") == "lambda_gb_seconds")
    ).to_pylist()
    assert {r["tier"] for r in rows} == {0} and {r["unit_price_usd"] for r in rows} != {0.0}


def test_aggregate_caches_start_empty() -> None:
    """2 M Zipf(0.7) keys, TTL 1 h, 6 h: an empty cache loses Σ h_k²/2 hits against the stationary
    ratio (renewal theory), and aggregate fidelity takes them off; request fidelity's exact cache
    starts empty. Tolerance: 5 binomial standard errors of the hit ratio, plus 0.3 points for the
    renewal asymptote's error over a finite period."""
    s = scenario_with(
        "traffic={model='constant', requests_per_s=200.0}", "scenario.duration_days=0.25",
        "payload.response={model='fixed', bytes=4000}", "apigateway.cache.enabled=true",
        "apigateway.cache.ttl_s=3600", "apigateway.cache.sizes_gb=[237]",
        "apigateway.cache.keys={model='zipf', count=2000000, exponent=0.7}",
        "cloudfront.origins=[]",
    )  # fmt: skip
    ratio = {}
    for f in ("request", "aggregate"):
        m = metered(s, fidelity=f)
        ratio[f] = total(m, "cached_237gb_hits") / total(m, "cache_requests")
    n = 200 * 6 * 3600
    h = ratio["request"]
    assert abs(ratio["aggregate"] - h) < 5 * np.sqrt(h * (1 - h) / n) + 0.003


def test_a_lambda_throttle_is_a_share_of_the_options_invocations() -> None:
    """The finding's share is of what the option asked its function for, not of all requests."""
    r = sim.run(
        scenario_with(
            "traffic={model='constant', requests_per_s=50.0}",
            "scenario.duration_days=0.0416666666666666667",
            "backend.duration={model='fixed', ms=1000}", "backend.concurrency_limit=40",
            "apigateway.throttle={rate_per_s=30, burst=30}", "cloudfront.origins=[]",
        )
    )  # fmt: skip
    m = r.meters
    findings = [f for f in r.summary["findings"] if f["finding"] == "lambda_throttled"]
    assert {o for f in findings for o in f["options"]} >= {"alb", "lambda_url"}
    for f in findings:
        path = "gateway" if f["options"][0].startswith("apigw") else "direct"
        asked = total(m, f"{path}_invocations") + total(m, f"{path}_lambda_throttled")
        assert f["share"] == pytest.approx(total(m, f"{path}_lambda_throttled") / asked)


# =========================================================================== free tiers, account
def _components(summary: dict, option: str) -> dict[str, float]:
    return summary["options"][option]["components_usd"]


def test_free_tier_choices() -> None:
    """30 days of 200,000 requests a day (6 M requests, 1 KB each way):

    * always_free (default): Lambda's 1 M requests free, the ALB and API Gateway billed in full;
    * legacy_12_month: also the ALB's 720 hours (of 750) and 15 LCU-hours, 1 M REST and 1 M HTTP
      calls;
    * none: everything billed.
    """
    base = (
        "traffic.requests_per_day=200000",
        "traffic.peak_requests_per_s=5",
        "engine.fidelity='aggregate'",
    )
    runs = {
        c: sim.run(scenario_with(*base, f"pricing.free_tier='{c}'")).summary
        for c in ("always_free", "legacy_12_month", "none")
    }
    n = runs["none"]["traffic"]["requests"]
    lam = {c: _components(runs[c], "alb")["lambda_requests"] for c in runs}
    assert lam["none"] == pytest.approx(n * 0.2e-6, rel=1e-9)
    assert lam["always_free"] == pytest.approx((n - 1e6) * 0.2e-6, rel=1e-9)
    assert lam["legacy_12_month"] == lam["always_free"]
    alb = {c: _components(runs[c], "alb") for c in runs}
    assert alb["always_free"]["alb_hours"] == pytest.approx(720 * 0.0225, rel=1e-9)
    assert alb["legacy_12_month"]["alb_hours"] == 0.0
    lcu_hours = runs["none"]["alb"]["lcu_hours"]
    assert alb["legacy_12_month"]["lcu"] == pytest.approx((lcu_hours - 15) * 0.008, rel=1e-9)
    rest = {c: _components(runs[c], "apigw_rest")["requests"] for c in runs}
    assert rest["always_free"] == pytest.approx(n * 3.5e-6, rel=1e-9)
    assert rest["legacy_12_month"] == pytest.approx((n - 1e6) * 3.5e-6, rel=1e-9)


def test_the_old_switch_is_refused_with_the_three_values() -> None:
    for old in ("true", "false"):
        with pytest.raises(ConfigError) as exc:
            scenario_with(f"pricing.free_tier={old}")
        message = dict(exc.value.problems)["pricing.free_tier"]
        assert all(v in message for v in ("always_free", "legacy_12_month", "none"))


def test_other_usage_in_the_account_spends_the_allowances_first() -> None:
    base = (
        "traffic.requests_per_day=200000",
        "traffic.peak_requests_per_s=5",
        "engine.fidelity='aggregate'",
    )
    alone = sim.run(scenario_with(*base)).summary
    shared = sim.run(
        scenario_with(*base, "account.other_monthly_usage={lambda_requests=5e6}")
    ).summary
    n = alone["traffic"]["requests"]
    assert _components(alone, "alb")["lambda_requests"] == pytest.approx(
        (n - 1e6) * 0.2e-6, rel=1e-9
    )
    assert _components(shared, "alb")["lambda_requests"] == pytest.approx(n * 0.2e-6, rel=1e-9)
    with pytest.raises(ConfigError) as exc:
        scenario_with("account.other_monthly_usage={lamda_requests=1}")
    assert "did you mean 'lambda_requests'" in str(exc.value)


# =========================================================================== smaller items
def test_trust_stores_need_mutual_tls() -> None:
    with pytest.raises(ConfigError) as exc:
        scenario_with("alb.trust_stores=1")
    assert "alb.trust_stores" in dict(exc.value.problems)
    s = scenario_with(
        "alb.trust_stores=1", "alb.mutual_tls=true", "scenario.duration_days=0.0416666666666666667"
    )
    components = sim.run(s).summary["options"]["alb"]["components_usd"]
    assert components["trust_store"] == pytest.approx(0.005, rel=1e-9)  # the offer file's price


def test_an_instance_target_alb_with_a_lambda_backend_is_a_finding() -> None:
    s = scenario_with("alb.target_type='instance'", "scenario.duration_days=0.0416666666666666667")
    kinds = {f["finding"] for f in sim.run(s).summary["findings"]}
    assert "alb_target_not_lambda" in kinds


# =========================================================================== re-pricing
REPRICE_BASE = (
    "scenario.duration_days=0.25",
    "scenario.start=2026-11-30T20:00:00Z",
    "traffic.requests_per_day=3000000",
    "traffic.peak_requests_per_s=70",
    "apigateway.apis=['rest', 'http', 'websocket']",
)

PRICING_ONLY_CHANGES = [
    ["alb.target_type='instance'"],
    ["alb.rules_processed=60"],
    ["alb.mutual_tls=true", "alb.trust_stores=2"],
    ["alb.internet_facing=false"],
    ["alb.availability_zones=3"],
    ["backend.memory_mb=1769"],
    ["backend.architecture='arm64'"],
    ["apigateway.apis=['http']"],
    ["apigateway.websocket.server_messages_per_request=3"],
    ["pricing.free_tier='legacy_12_month'"],
    ["pricing.free_tier='none'"],
    ["account.other_monthly_usage={rest_requests=5e8, data_transfer_gb=200}"],
    ["scenario.region='ap-northeast-1'", "pricing.allow_unverified=true"],
    ["waf={rules=4, bot_control=true}"],
    ["requirements.waf=true"],
    ["requirements.private=true", "lattice.enabled=true"],
    ["cloudfront.plan='business'"],
    ["cloudfront.edge_regions={EU=0.5, India=0.5}", "cloudfront.https_share=0.5"],
    ["lambda_url.enabled=false"],
    ["transfer.enabled=false"],
]


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stored") / "run"
    sim.run(scenario_with(*REPRICE_BASE), out, plots=False)
    return out


@pytest.mark.parametrize("change", PRICING_ONLY_CHANGES, ids=lambda c: c[0].split("=")[0])
def test_repricing_equals_a_fresh_run(change: list[str], stored_run: Path, tmp_path: Path) -> None:
    from sim.reprice import reprice

    repriced = reprice(stored_run, tmp_path / "re", change, plots=False)
    fresh = sim.run(scenario_with(*REPRICE_BASE, *change), tmp_path / "fresh", plots=False)
    assert repriced.costs.equals(fresh.costs)
    assert repriced.meters.column_names == fresh.meters.column_names
    assert repriced.meters.equals(fresh.meters)
    a = json.loads((tmp_path / "re" / "summary.json").read_text())
    b = json.loads((tmp_path / "fresh" / "summary.json").read_text())
    for key in ("options", "months", "alb", "findings", "cheapest", "gateway"):
        assert a[key] == b[key], key


@pytest.mark.parametrize(
    "change",
    [
        "traffic.requests_per_day=4000000",
        "apigateway.cache.ttl_s=60",
        "apigateway.throttle.rate_per_s=100",
        "backend.concurrency_limit=10",
        "backend.duration={model='fixed', ms=5}",
        "scenario.duration_days=0.5",
        "connections.lifetime_s=3",
        "scenario.seed=99",
        "engine.fidelity='aggregate'",
        "engine.batch_s=60",
        "engine.warmup_s=60",
        "cloudfront.edge_locations=3",
        "cloudfront.cache.enabled=true",
    ],
)
def test_repricing_refuses_what_changes_the_meters(change: str, stored_run: Path) -> None:
    from sim.reprice import reprice

    with pytest.raises(ConfigError) as exc:
        reprice(stored_run, None, [change])
    field = change.split("=")[0]
    assert any(f.startswith(field) for f, _ in exc.value.problems)
    assert "changes what is metered" in str(exc.value)


def test_a_run_stored_before_a_setting_existed_reprices_at_its_default() -> None:
    """A meter table stored by a version without ``engine.warmup_s`` was metered without a
    warm-up: its default (0) is no change; another value is."""
    from sim.reprice import metering_differences

    s = scenario_with(*REPRICE_BASE)
    stored = s.model_dump(mode="json")
    del stored["engine"]["warmup_s"]
    assert metering_differences(stored, s) == []
    warm = scenario_with(*REPRICE_BASE, "engine.warmup_s=60")
    assert metering_differences(stored, warm) == [("engine.warmup_s", None, 60)]


def test_the_reprice_command(stored_run: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "instance"
    r = subprocess.run(
        [sys.executable, "-m", "sim", "reprice", str(stored_run), "--out", str(out), "--set",
         "alb.target_type='instance'", "--no-plots", "-q"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    before = json.loads((stored_run / "summary.json").read_text())
    after = json.loads((out / "summary.json").read_text())
    # instance targets: 1 GB per LCU-hour instead of 0.4: the LCU charge falls by 0.4
    lcu = (before["alb"]["lcu_hours"], after["alb"]["lcu_hours"])
    assert lcu[1] == pytest.approx(0.4 * lcu[0], rel=1e-9)
    r = subprocess.run(
        [sys.executable, "-m", "sim", "reprice", str(stored_run), "--out", str(out), "--set",
         "traffic.requests_per_day=1e6"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2 and "changes what is metered" in r.stderr
    # an unquoted TOML datetime is a value like any other (refused cleanly, no traceback)
    r = subprocess.run(
        [sys.executable, "-m", "sim", "reprice", str(stored_run), "--out", str(out), "--set",
         "scenario.start=2026-04-01T00:00:00Z"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2 and "scenario.start: changes what is metered" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "sim", "reprice", str(SEED), "--out", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2 and "not a directory" in r.stderr


def test_repricing_as_an_api_the_run_did_not_meter_is_refused(tmp_path: Path) -> None:
    from sim.reprice import reprice

    out = tmp_path / "no-ws"
    sim.run(scenario_with("scenario.duration_days=0.0416666666666666667"), out, plots=False)
    m = sim.run(scenario_with("scenario.duration_days=0.0416666666666666667")).meters
    assert "gateway_ws_client_units" not in m.column_names  # not paid for when not compared
    with pytest.raises(ConfigError) as exc:
        reprice(out, None, ["apigateway.apis=['websocket']"])
    problems = dict(exc.value.problems)
    assert "apigw_websocket" in problems["apigateway.apis"]
