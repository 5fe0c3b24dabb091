"""The three fidelity modes against each other.

* ``request`` and ``reference`` draw the same inputs, so their hourly meters must be identical
  (integer counters exactly, connection-seconds to floating-point rounding);
* ``aggregate`` draws differently, so it must agree with ``request`` in distribution: across seeds,
  the mean of each hourly quantity must match within a tolerance derived from its variance.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import metered, scenario_with

from sim.meters import meter_columns

SMALL = (
    "scenario.duration_days=0.125",
    "scenario.start=2026-11-01T13:20:00Z",
    "traffic.requests_per_day=250000",
    "traffic.peak_requests_per_s=6",
    "payload.response={model='lognormal', mean_bytes=3000, sigma=1.0}",
    "payload.request={model='lognormal', mean_bytes=700000, sigma=0.6}",
    "backend.duration={model='lognormal', mean_ms=35, sigma=0.8}",
    "connections.requests_per_connection=3",
    "connections.lifetime_s=45",
)


@pytest.mark.parametrize("batch_s", [3600, 60])
def test_request_and_reference_meter_identically(batch_s: int) -> None:
    s = scenario_with(*SMALL, f"engine.batch_s={batch_s}")
    fast = metered(s, fidelity="request")
    slow = metered(s, fidelity="reference")
    assert fast.num_rows == slow.num_rows == 4
    assert fast.column("requests").to_numpy().sum() > 1000
    for name in meter_columns(s):
        a, b = fast.column(name), slow.column(name)
        if a.type in ("double", "float"):
            assert np.allclose(a.to_numpy(), b.to_numpy(), rtol=1e-9, atol=1e-9), name
        else:
            assert a.equals(b), name


SEEDS = range(12)
DAY = (
    "scenario.duration_days=1",
    "traffic.requests_per_day=2000000",
    "traffic.peak_requests_per_s=50",
    "payload.response={model='lognormal', mean_bytes=2048, sigma=0.9}",
    "backend.duration={model='lognormal', mean_ms=40, sigma=0.5}",
    "connections.requests_per_connection=4",
    "connections.lifetime_s=20",
)


@pytest.fixture(scope="module")
def both_modes() -> dict[str, dict[str, np.ndarray]]:
    s = scenario_with(*DAY)
    out: dict[str, dict[str, np.ndarray]] = {}
    for mode in ("request", "aggregate"):
        runs = [metered(s, seed=seed, fidelity=mode) for seed in SEEDS]
        out[mode] = {
            name: np.vstack([r.column(name).to_numpy() for r in runs])
            for name in (
                "requests",
                "processed_bytes",
                "new_connections",
                "active_connections",
                "lcu",
                "gateway_http_units",
                "direct_billed_ms",
                "peak_rps",
            )
        }
    return out


def _assert_means_agree(a: np.ndarray, b: np.ndarray, sd_one_run: np.ndarray) -> None:
    """Per hour: |mean_a − mean_b| < 5 · sd · sqrt(2 / runs) (two independent means)."""
    runs = a.shape[0]
    z = np.abs(a.mean(axis=0) - b.mean(axis=0)) / (sd_one_run * np.sqrt(2 / runs))
    assert z.max() < 5, z.max()


def test_hourly_requests_agree(both_modes: dict[str, dict[str, np.ndarray]]) -> None:
    req, agg = both_modes["request"]["requests"], both_modes["aggregate"]["requests"]
    # Poisson: the variance of an hour's count is its mean
    _assert_means_agree(req, agg, np.sqrt(req.mean(axis=0)))


def test_hourly_bytes_and_lcu_agree(both_modes: dict[str, dict[str, np.ndarray]]) -> None:
    req, agg = both_modes["request"], both_modes["aggregate"]
    lam = req["requests"].mean(axis=0)
    # compound Poisson: Var(Σ X) = λ E[X²]; request 1024 fixed + response lognormal(2048, 0.9)
    ex2 = 1024**2 + 2 * 1024 * 2048 + 2048**2 * np.exp(0.9**2)
    sd = np.sqrt(lam * ex2)
    _assert_means_agree(req["processed_bytes"], agg["processed_bytes"], sd)
    _assert_means_agree(req["lcu"], agg["lcu"], sd / 0.4e9)


def test_connections_agree(both_modes: dict[str, dict[str, np.ndarray]]) -> None:
    req, agg = both_modes["request"], both_modes["aggregate"]
    lam = req["requests"].mean(axis=0)
    nu = lam / 4  # new connections per hour: a thinned Poisson count
    _assert_means_agree(req["new_connections"], agg["new_connections"], np.sqrt(nu))
    # active × 3600 = connection-seconds; compound Poisson with exponential lifetimes:
    # Var = ν E[L²] = ν · 2 · 20²
    sd = np.sqrt(nu * 2 * 20**2) / 3600
    _assert_means_agree(req["active_connections"], agg["active_connections"], sd)


def test_units_and_billed_ms_agree(both_modes: dict[str, dict[str, np.ndarray]]) -> None:
    req, agg = both_modes["request"], both_modes["aggregate"]
    lam = req["requests"].mean(axis=0)
    # 1 KB requests are one unit each: exact counts in both modes
    assert np.array_equal(req["gateway_http_units"], req["requests"])
    assert np.array_equal(agg["gateway_http_units"], agg["requests"])
    # billed ms: compound Poisson, E[D²] = mean² · exp(σ²), plus rounding (< 1 ms each)
    sd = np.sqrt(lam * (40**2 * np.exp(0.5**2) + 40))
    _assert_means_agree(req["direct_billed_ms"], agg["direct_billed_ms"], sd)


def test_peak_rps_has_the_same_distribution(both_modes: dict[str, dict[str, np.ndarray]]) -> None:
    # request fidelity draws per-second counts; aggregate fidelity's hourly path (every hour of
    # this day: tests/test_aggregate_hourly.py) draws the hour's busiest second from the exact
    # distribution of their maximum: identically distributed; their spread is bounded by that of
    # a Poisson count at the peak rate
    req, agg = both_modes["request"]["peak_rps"], both_modes["aggregate"]["peak_rps"]
    sd = np.sqrt(req.max(axis=0))
    _assert_means_agree(req.astype(float), agg.astype(float), sd)


ROUTED = (
    "scenario.duration_days=1",
    "traffic.requests_per_day=1000000",
    "traffic.peak_requests_per_s=25",
    "connections={model='sessions', requests_per_session=6, think_time_s=20, idle_timeout_s=60}",
    "payload={routes=[{name='read', share=0.8, request={model='fixed', bytes=500}, "
    "response={model='lognormal', mean_bytes=4000, sigma=0.8}}, {name='write', share=0.2, "
    "request={model='lognormal', mean_bytes=200000, sigma=0.5}, response={model='fixed', bytes=300}}]}",
)


def test_aggregate_follows_sessions_and_route_mixes() -> None:
    """Daily totals of both modes against the same expectations, across seeds.

    Requests come in sessions of m requests (geometric, mean 6): the day's count is compound
    Poisson, Var = ν·E[m²] with ν = N/6 sessions and E[m²] = 2·6² − 6 for a geometric on 1, 2, ...
    Processed bytes: E[bytes per request] from the route mix; the tolerance adds the size variance.
    """
    s = scenario_with(*ROUTED)
    n_expected = 1_000_000
    var_n = n_expected / 6 * (2 * 36 - 6)
    mean_bytes = 0.8 * (500 + 4000) + 0.2 * (200_000 + 300)
    for mode in ("request", "aggregate"):
        totals = [metered(s, seed=k, fidelity=mode) for k in range(4)]
        n = np.array([m.column("requests").to_numpy().sum() for m in totals])
        b = np.array([m.column("processed_bytes").to_numpy().sum() for m in totals])
        new = np.array([m.column("new_connections").to_numpy().sum() for m in totals])
        assert abs(n.mean() - n_expected) < 5 * np.sqrt(var_n / 4), mode
        # bytes per request: the route mix's mean (size variance over ~4 M requests is tiny, the
        # request-count noise cancels in the ratio)
        assert (b / n).mean() == pytest.approx(mean_bytes, rel=0.01), mode
        # connections per request, as the sessions model says: (1 + 5·P(G > 60)) / 6
        per_request = (1 + 5 * np.exp(-60 / 20)) / 6
        assert (new / n).mean() == pytest.approx(per_request, rel=0.02), mode
