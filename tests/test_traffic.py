from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.traffic.distributions import Fixed, Lognormal, sizes_bytes
from sim.traffic.profiles import DailyCycleProfile, von_mises_concentration


@pytest.mark.parametrize("factor", [1.0, 1.01, 1.5, 2.0073, 5.0, 40.0])
def test_daily_cycle_has_the_configured_mean_and_peak(factor: float) -> None:
    mean = 5e6 / 86400
    profile = DailyCycleProfile(mean, mean * factor, peak_hour_utc=15)
    # midpoints of every second of a day: the midpoint rule is exact to rounding for a smooth
    # periodic function sampled over whole periods
    t = np.arange(86400) + 0.5 + 86400 * 20000
    rate = profile.rate_per_s(t)
    assert rate.mean() == pytest.approx(mean, rel=1e-12)
    # the maximum is the configured peak, reached at 15:00 UTC
    peak_time = np.array([86400 * 20000 + 15 * 3600.0])
    assert profile.rate_per_s(peak_time)[0] == pytest.approx(mean * factor, rel=1e-12)
    assert rate.max() <= mean * factor * (1 + 1e-12)


def test_von_mises_concentration_inverts_the_peak_factor() -> None:
    from scipy.special import i0e

    for factor in (1 + 1e-12, 1 + 1e-9, 1.2, 2.0, 2.9, 3.1, 10.0, 300.0, 1e5, 1e9, 1e100):
        kappa = von_mises_concentration(factor)
        # the root to within a few ulps: g(κ) = 1/i0e(κ) has elasticity κ·g'/g < 0.61, so a
        # few ulps of κ are a few ulps of g
        assert 1 / i0e(kappa) == pytest.approx(factor, rel=1e-14)
    assert von_mises_concentration(1.0) == 0.0
    for bad in (0.5, math.nan, math.inf, 1e155):
        with pytest.raises(ValueError):
            von_mises_concentration(bad)


def test_the_daily_cycle_does_not_import_scipy_optimize() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from sim.traffic.profiles import von_mises_concentration as v; "
        "v(2.0); print('scipy.optimize' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_lognormal_has_the_configured_mean() -> None:
    rng = np.random.default_rng(7)
    dist = Lognormal(1024, 0.8)
    n = 400_000
    x = dist(rng, n)
    # the sample mean's standard error is sd/sqrt(n) with sd = mean * sqrt(exp(sigma^2) - 1)
    se = 1024 * np.sqrt(np.exp(0.8**2) - 1) / np.sqrt(n)
    assert abs(x.mean() - 1024) < 5 * se


def test_sizes_are_whole_bytes_at_least_one() -> None:
    rng = np.random.default_rng(1)
    s = sizes_bytes(Lognormal(2, 3), rng, 10_000)
    assert s.dtype == np.int64 and s.min() >= 1
    assert (sizes_bytes(Fixed(1024), rng, 5) == 1024).all()


def test_hourly_counts_of_a_constant_stream_are_poisson() -> None:
    """Counts per hour have mean λ·3600 and Poisson dispersion (χ² test at fixed seed)."""
    from conftest import scenario_with

    from sim.engine import simulate

    rate = 3.0
    s = scenario_with("traffic={model='constant', requests_per_s=3.0}", "scenario.duration_days=20")
    counts = simulate(s).column("requests").to_numpy()
    k, mu = counts.size, rate * 3600
    se = np.sqrt(mu / k)
    assert abs(counts.mean() - mu) < 5 * se
    dispersion = ((counts - counts.mean()) ** 2).sum() / counts.mean()
    lo, hi = stats.chi2.ppf([1e-4, 1 - 1e-4], k - 1)
    assert lo < dispersion < hi


def test_daily_totals_follow_requests_per_day() -> None:
    from conftest import scenario_with

    from sim.engine import simulate

    s = scenario_with(
        "traffic.requests_per_day=200000",
        "traffic.peak_requests_per_s=6",
        "scenario.duration_days=7",
    )
    m = simulate(s)
    total = m.column("requests").to_numpy().sum()
    expected = 200_000 * 7
    assert abs(total - expected) < 5 * np.sqrt(expected)
    # the busiest hours are around the configured peak hour (15 UTC)
    by_hour = m.column("requests").to_numpy().reshape(7, 24).sum(axis=0)
    assert by_hour.argmax() in (14, 15)
