"""The three fidelity modes against each other.

* ``request`` and ``reference`` draw the same inputs, so their hourly meters must be identical
  (integer counters exactly, connection-seconds to floating-point rounding);
* ``aggregate`` draws differently, so it must agree with ``request`` in distribution: across seeds,
  the mean of each hourly quantity must match within a tolerance derived from its variance.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import scenario_with

from sim.engine import simulate
from sim.meters import METER_COLUMNS

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
    fast = simulate(s, fidelity="request")
    slow = simulate(s, fidelity="reference")
    assert fast.num_rows == slow.num_rows == 4
    assert fast.column("requests").to_numpy().sum() > 1000
    for name in METER_COLUMNS:
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
        runs = [simulate(s, seed=seed, fidelity=mode) for seed in SEEDS]
        out[mode] = {
            name: np.vstack([r.column(name).to_numpy() for r in runs])
            for name in ("requests", "processed_bytes", "new_connections", "active_connections",
                         "lcu", "http_request_units", "lambda_billed_ms", "peak_rps")
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
    assert np.array_equal(req["http_request_units"], req["requests"])
    assert np.array_equal(agg["http_request_units"], agg["requests"])
    # billed ms: compound Poisson, E[D²] = mean² · exp(σ²), plus rounding (< 1 ms each)
    sd = np.sqrt(lam * (40**2 * np.exp(0.5**2) + 40))
    _assert_means_agree(req["lambda_billed_ms"], agg["lambda_billed_ms"], sd)


def test_peak_rps_has_the_same_distribution(both_modes: dict[str, dict[str, np.ndarray]]) -> None:
    # both modes draw per-second counts from the same arrival process: the hourly peaks are
    # identically distributed; their spread is bounded by that of a Poisson count at the peak rate
    req, agg = both_modes["request"]["peak_rps"], both_modes["aggregate"]["peak_rps"]
    sd = np.sqrt(req.max(axis=0))
    _assert_means_agree(req.astype(float), agg.astype(float), sd)
