"""CloudFront in the engine: its pooled connections to the origin (the model of
:mod:`sim.engine.edge`, three ways), its edge caches, what reaches the origin, and streamed
function-URL responses."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute
import pytest
from conftest import metered, scenario_with

import sim
from sim.engine.edge import EdgePool, EventPool, PoolStep, empty_pool, expected_pool
from sim.engine.gateway import ZipfKeys, ttl_hit_ratio
from sim.meters import meter_columns


def _events(
    rng: np.random.Generator, n: int, edges: int, end: float, hold_mean: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.sort(rng.uniform(0, end, n))
    e = rng.integers(0, edges, n)
    hold = rng.exponential(hold_mean, n)
    hold[rng.random(n) < 0.1] = 0.0  # answered at once (throttled): the shortest hold
    hold[rng.random(n) < 0.01] *= 2000  # a few longer than a batch
    return e, t, hold


def _event_pool(e: np.ndarray, t: np.ndarray, hold: np.ndarray, pool: EventPool) -> EventPool:
    events = sorted(
        [(float(ti), 1, int(ei)) for ti, ei in zip(t, e, strict=True)]
        + [(float(ti + max(h, 1e-6)), 0, int(ei)) for ti, h, ei in zip(t, hold, e, strict=True)]
    )
    for ti, kind, ei in events:  # at a tie a release comes first, as in the vectorised pool
        if ti >= pool.end_s:
            break
        if kind:
            pool.acquire(ei, ti)
        else:
            pool.release(ei, ti)
    pool.finish()
    return pool


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("batch_s", [3600, 300, 7])
def test_the_vectorised_pool_is_the_event_pool_across_batches(seed: int, batch_s: int) -> None:
    rng = np.random.default_rng(seed)
    edges, keepalive, hours = 4, [5.0, 1.0, 60.0, 17.0][seed], 2
    end = hours * 3600.0
    e, t, hold = _events(rng, 12_000, edges, end, 0.4)
    vec = EdgePool(edges, keepalive, hours, end)
    for a in np.arange(0, end, batch_s):
        m = (t >= a) & (t < a + batch_s)
        vec.add(e[m], t[m], hold[m], min(a + batch_s, end))
    vec.finish()
    ref = _event_pool(e, t, hold, EventPool(edges, keepalive, hours, end))
    assert vec.new.sum() > 100
    np.testing.assert_array_equal(vec.new, ref.new)
    np.testing.assert_allclose(vec.connection_s, ref.connection_s, rtol=1e-10)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("batch_s", [3600, 300, 7])
def test_the_pool_in_steps_is_the_event_pool(seed: int, batch_s: int) -> None:
    """request fidelity's split (PoolStep: the ordered step runs a batch's head and tail, the
    batch itself is an empty pool's) counts what the event-by-event pool counts; batches the
    carried state reaches beyond (long holds, 7 s batches) run through the carried pool."""
    rng = np.random.default_rng(seed)
    edges, keepalive, hours = 4, [5.0, 1.0, 60.0, 17.0][seed], 2
    end = hours * 3600.0
    e, t, hold = _events(rng, 12_000, edges, end, 0.4)
    state = EdgePool(edges, keepalive, hours, end)
    new, connection_s = np.zeros(hours), np.zeros(hours)
    split = 0
    for a in np.arange(0, end, batch_s):
        b = min(a + batch_s, end)
        m = (t >= a) & (t < b)
        step, state = PoolStep.of(state, e[m], t[m], hold[m], a, b)
        split += step.sequential is None
        n_, s_ = step.facts(e[m], t[m], hold[m])
        new[step.hour] += n_
        connection_s[step.hour] += s_
    ref = _event_pool(e, t, hold, EventPool(edges, keepalive, hours, end))
    assert split > 0
    np.testing.assert_array_equal(new, ref.new)
    np.testing.assert_allclose(connection_s, ref.connection_s, rtol=1e-10)


@pytest.mark.parametrize("offset_s", [0.0, 7200.0, 1e7])
def test_an_empty_pool_in_one_pass_is_the_event_pool(offset_s: float) -> None:
    """empty_pool (one sort of packed integer keys where they fit: not from time 0) against the
    event-by-event pool, with ties: two arrivals at once, and releases at an arrival's time."""
    rng = np.random.default_rng(3)
    edges, keepalive, n = 5, 2.0, 6000
    end = offset_s + 3600.0
    t = offset_s + np.sort(rng.uniform(0, 3600, n))
    t[1::97] = t[0::97][: t[1::97].size]  # simultaneous arrivals
    e = rng.integers(0, edges, n)
    hold = rng.exponential(0.8, n)
    hold[5::101] = (t[6::101] - t[5::101])[: hold[5::101].size]  # released as another arrives
    ref = _event_pool(e, t, hold, EventPool(edges, keepalive, int(end // 3600) + 1, end))
    new, connection_s = empty_pool(edges, keepalive, e, t, hold, end)
    assert new == ref.new.sum() > 100
    assert connection_s == pytest.approx(ref.connection_s.sum(), rel=1e-10)


def test_one_level_of_the_pool_is_exactly_its_expected_value() -> None:
    """Poisson arrivals at 0.2/s per edge, 1 ms holds, K = 5 s: a second connection needs two
    requests in flight at once (a share ≈ λ·d·λK ≈ 2e-4 of the time), so level 1 decides, and its
    expectations are exact: the edge is empty for the last K seconds with probability
    e^{−λ(K+d)}; connections open at rate λ·e^{−λ(K+d)}. Tolerance: 5 standard errors of a
    time average whose correlation time is K + d + 1/λ, plus the higher levels' share."""
    rng = np.random.default_rng(11)
    lam, d, k, edges, hours = 0.2, 0.001, 5.0, 8, 24
    end = hours * 3600.0
    n = rng.poisson(lam * edges * end)
    t = np.sort(rng.uniform(0, end, n))
    e = rng.integers(0, edges, n)
    pool = EdgePool(edges, k, hours, end)
    pool.add(e, t, np.full(n, d), end)
    pool.finish()
    p_open = 1 - math.exp(-lam * (k + d))
    opened_rate = lam * math.exp(-lam * (k + d))
    exp_new, exp_open = expected_pool(np.array([lam]), d, k)
    higher_open = float(exp_open[0]) - p_open
    higher_new = float(exp_new[0]) - opened_rate
    assert 0 <= higher_open < 1e-3 * p_open and 0 <= higher_new < 1e-3 * opened_rate
    total_s = edges * end
    tau = k + d + 1 / lam
    sd_open = math.sqrt(p_open * (1 - p_open) * 2 * tau / total_s)
    assert abs(pool.connection_s.sum() / total_s - p_open) < 5 * sd_open + higher_open
    sd_new = math.sqrt(opened_rate * total_s) / total_s
    assert abs(pool.new.sum() / total_s - opened_rate) < 5 * sd_new + higher_new


CF = (
    "scenario.duration_days=0.125",
    "scenario.start=2026-11-01T13:20:00Z",
    "traffic.requests_per_day=400000",
    "traffic.peak_requests_per_s=9",
    "backend.duration={model='lognormal', mean_ms=300, sigma=0.8}",
    "cloudfront.origins=['alb', 'apigw_rest', 'lambda_url']",
    "cloudfront.edge_locations=3",
    "cloudfront.cache={enabled=true, ttl_s=30, cacheable_share=0.7,"
    " keys={model='zipf', count=200, exponent=0.9}}",
    "apigateway.throttle={rate_per_s=4, burst=8}",
    "lambda_url.streaming=true",
    "pricing.allow_unverified=true",
    "payload.response={model='lognormal', mean_bytes=4000000, sigma=0.6}",
)


@pytest.mark.parametrize("batch_s", [3600, 60])
def test_request_and_reference_meter_cloudfront_identically(batch_s: int) -> None:
    s = scenario_with(*CF, f"engine.batch_s={batch_s}")
    fast = metered(s, fidelity="request")
    slow = metered(s, fidelity="reference")
    names = meter_columns(s)
    assert {"edge_new_connections", "edge_gateway_accepted", "edge_direct_invocations",
            "direct_stream_excess_bytes", "edge_lcu"} <= set(names)  # fmt: skip
    assert fast.column("edge_new_connections").to_numpy().sum() > 50
    assert fast.column("edge_hits").to_numpy().sum() > 100
    for name in names:
        a, b = fast.column(name), slow.column(name)
        if a.type in ("double", "float"):
            assert np.allclose(a.to_numpy(), b.to_numpy(), rtol=1e-9, atol=1e-9), name
        else:
            assert a.equals(b), name


def test_the_origin_is_billed_on_what_reaches_it() -> None:
    """CloudFront's cache answers part of the traffic: API Gateway behind it sees (and throttles,
    and bills) only the misses, on its own bucket; the ALB behind it counts CloudFront's pooled
    connections, far fewer than the clients'."""
    s = scenario_with(*CF)
    m = metered(s)

    def total(c: str) -> int:
        return int(np.asarray(m.column(c).to_numpy()).sum())

    requests = total("requests")
    assert total("edge_requests") + total("edge_hits") == requests
    assert total("edge_gateway_accepted") + total("edge_gateway_throttled") == total(
        "edge_requests"
    )
    # the misses are fewer, so the same bucket refuses fewer of them
    assert total("edge_gateway_throttled") < total("gateway_throttled")
    assert total("edge_direct_invocations") == total("edge_requests") - total(
        "edge_direct_lambda_throttled"
    )
    assert total("edge_new_connections") < total("new_connections")
    # every viewer gets a response body but the throttled: the hits' and the function's
    assert total("edge_direct_response_bytes") == total("edge_hit_bytes") + int(
        np.asarray(m.column("edge_processed_bytes").to_numpy()).sum()
    ) - total("edge_request_bytes")
    r = sim.price(m, s)
    rest = r.filter(
        (pa.compute.field("option") == "cloudfront_apigw_rest")
        & (pa.compute.field("component") == "requests")
    )
    assert sum(rest.column("quantity").to_pylist()) == total("edge_gateway_accepted")


def test_the_edge_caches_hit_as_a_ttl_cache_per_edge_location() -> None:
    """Each edge location caches on its own: key k, requested at λ·p_k spread over E edges, hits
    with the TTL cache's ``x/(1+x)``, ``x = λ·p_k·ttl/E``. Tolerance: 5 binomial standard errors
    of the hit ratio plus the cold start (each (edge, key) loses at most one hit)."""
    e, keys, ttl, rate = 5, 300, 20, 40.0
    s = scenario_with(
        "traffic={model='constant', requests_per_s=40.0}", "scenario.duration_days=0.0416666666666666667",
        "cloudfront.origins=['lambda_url']", f"cloudfront.edge_locations={e}",
        f"cloudfront.cache={{enabled=true, ttl_s={ttl}, cacheable_share=1.0,"
        f" keys={{model='zipf', count={keys}, exponent=1.0}}}}",
    )  # fmt: skip
    m = metered(s)
    n = int(m.column("requests").to_numpy().sum())
    hits = int(m.column("edge_hits").to_numpy().sum())
    p = ZipfKeys(keys, 1.0).probabilities
    expected = float(np.sum(p * ttl_hit_ratio(rate * p / e, ttl)))
    h = hits / n
    assert abs(h - expected) < 5 * math.sqrt(expected * (1 - expected) / n) + e * keys / n
    agg = metered(s, fidelity="aggregate")
    h_agg = int(agg.column("edge_hits").to_numpy().sum()) / int(
        agg.column("requests").to_numpy().sum()
    )
    assert abs(h_agg - expected) < 5 * math.sqrt(expected * (1 - expected) / n) + e * keys / n


def test_aggregate_meters_cloudfront_as_request_does() -> None:
    """The pool in expectation (exact at one connection per edge, Poisson-clumped above) against
    the exact model on the same traffic: within 5 %."""
    s = scenario_with(
        "scenario.duration_days=0.25", "traffic.requests_per_day=2e6",
        "traffic.peak_requests_per_s=40", "cloudfront.origins=['alb']",
    )  # fmt: skip
    fast, agg = metered(s), metered(s, fidelity="aggregate")
    for name in ("edge_new_connections", "edge_active_connections", "edge_requests", "edge_lcu"):
        a = float(np.asarray(fast.column(name).to_numpy()).sum())
        b = float(np.asarray(agg.column(name).to_numpy()).sum())
        assert b == pytest.approx(a, rel=0.05), name


def test_streamed_responses_bill_their_bytes_beyond_6_mb() -> None:
    s = scenario_with(
        "traffic={model='constant', requests_per_s=2.0}", "scenario.duration_days=0.0416666666666666667",
        "payload.response={model='fixed', bytes=10485760}", "lambda_url.streaming=true",
        "pricing.allow_unverified=true", "pricing.free_tier='none'", "cloudfront.origins=[]",
    )  # fmt: skip
    r = sim.run(s)
    m = r.meters
    ran = int(m.column("direct_invocations").to_numpy().sum())
    excess = int(m.column("direct_stream_excess_bytes").to_numpy().sum())
    assert excess == ran * (10_485_760 - 6_291_456)
    url = r.summary["options"]["lambda_url"]["components_usd"]
    assert url["lambda_streaming"] == pytest.approx(excess / 2**30 * 0.008, rel=1e-12)
    kinds = {f["finding"]: f for f in r.summary["findings"]}
    # 10 MB responses: too big for every buffered option, not for a streaming function URL
    assert "lambda_url" not in kinds["over_lambda_payload"]["options"]
    assert "alb" in kinds["over_lambda_payload"]["options"]
    assert "over_lambda_url_stream" not in kinds
    assert any("unverified" in w for w in r.summary["warnings"])
