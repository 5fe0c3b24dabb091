"""Composable rate profiles: each factor against its definition; the composite's mean and peak; the
stream's per-hour counts against the configured mean with Poisson variance."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from scipy import integrate, stats

from sim._model import tuples
from sim.traffic.arrivals import build_arrivals
from sim.traffic.bursts import FlashCrowds
from sim.traffic.models import FlashCrowdsFactor, ProfileTraffic
from sim.traffic.profiles import DailyCycleProfile, product_profile

DAY = 86_400
MONDAY = datetime(2026, 11, 2, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC


def profile(**kw: Any) -> ProfileTraffic:
    return ProfileTraffic.model_validate(tuples({"model": "profile", **kw}))


def seconds(start: float, n: int) -> np.ndarray:
    return start + np.arange(n, dtype=np.float64) + 0.5


@pytest.mark.parametrize("factor", [1.0, 1.3, 2.0736, 8.0])
def test_daily_cycle_mean_and_peak_match_the_config(factor: float) -> None:
    per_day = 5e6
    cfg = profile(
        requests_per_day=per_day,
        peak_requests_per_s=per_day / DAY * factor,
        factors=[{"model": "daily_cycle", "peak_hour_utc": 15.5}],
    )
    p = product_profile(cfg, MONDAY)
    rate = p.rate_per_s(seconds(MONDAY, DAY))
    # the midpoint rule is exact to rounding for a smooth periodic function over whole periods
    assert rate.mean() == pytest.approx(per_day / DAY, rel=1e-12)
    assert p.rate_per_s(np.array([MONDAY + 15.5 * 3600]))[0] == pytest.approx(
        per_day / DAY * factor, rel=1e-12
    )
    assert rate.max() <= per_day / DAY * factor * (1 + 1e-12)
    assert p.peak_per_s == pytest.approx(per_day / DAY * factor, rel=1e-12)
    # the same shape as the shorthand model = "daily_cycle"
    old = DailyCycleProfile(per_day / DAY, per_day / DAY * factor, 15.5)
    assert np.allclose(old.rate_per_s(seconds(MONDAY, DAY)), rate, rtol=1e-12)


def test_weekly_and_daily_together_keep_volume_and_peak() -> None:
    per_day, peak = 2e6, 60.0
    cfg = profile(
        requests_per_day=per_day,
        peak_requests_per_s=peak,
        factors=[
            {"model": "daily_cycle", "peak_hour_utc": 14},
            {"model": "weekly_cycle", "weekday": 1.0, "weekend": 0.4},
        ],
    )
    p = product_profile(cfg, MONDAY)
    rate = p.rate_per_s(seconds(MONDAY, 7 * DAY))
    assert rate.mean() == pytest.approx(per_day / DAY, rel=1e-12)  # volume over a week
    assert rate.max() == pytest.approx(peak, rel=1e-9)  # the weekday peak, at 14:00
    by_day = rate.reshape(7, DAY).mean(axis=1)
    assert by_day[:5] == pytest.approx([by_day[0]] * 5, rel=1e-12)
    assert by_day[5] / by_day[0] == pytest.approx(0.4, rel=1e-12)  # Saturday
    assert by_day[6] / by_day[0] == pytest.approx(0.4, rel=1e-12)  # Sunday


def test_weekly_days_follow_local_midnight() -> None:
    cfg = profile(
        requests_per_s=1.0,
        factors=[{"model": "weekly_cycle", "days": [7, 1, 1, 1, 1, 1, 1], "utc_offset_hours": -5}],
    )
    p = product_profile(cfg, MONDAY)
    # Monday 00:00 local (UTC−5) is 05:00 UTC: before it, still Sunday
    levels = np.array([7, 1, 1, 1, 1, 1, 1]) / (13 / 7)
    at = p.rate_per_s(
        np.array([MONDAY + 4.9 * 3600, MONDAY + 5.1 * 3600, MONDAY + DAY + 5.1 * 3600])
    )
    assert at == pytest.approx([levels[6], levels[0], levels[1]], rel=1e-12)


def test_hourly_shape_is_the_users_day() -> None:
    hourly = [1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 10, 10, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    cfg = profile(requests_per_day=864_000, factors=[{"model": "daily_cycle", "hourly": hourly}])
    p = product_profile(cfg, MONDAY)
    mean = 864_000 / DAY
    levels = np.array(hourly) / np.mean(hourly)
    # at the hour midpoints the factor is the normalised level; the day's mean is exact
    mids = MONDAY + (np.arange(24) + 0.5) * 3600
    assert p.rate_per_s(mids) == pytest.approx(mean * levels, rel=1e-12)
    assert p.rate_per_s(seconds(MONDAY, DAY)).mean() == pytest.approx(mean, rel=1e-12)
    # linear between midpoints, and periodic across midnight
    assert p.rate_per_s(np.array([MONDAY + 3600.0]))[0] == pytest.approx(
        mean * (levels[0] + levels[1]) / 2
    )
    assert p.rate_per_s(np.array([MONDAY]))[0] == pytest.approx(mean * (levels[23] + levels[0]) / 2)
    assert p.peak_per_s == pytest.approx(mean * levels.max())


def test_trend_compounds_per_month() -> None:
    cfg = profile(requests_per_s=10.0, factors=[{"model": "trend", "growth_per_month": 0.05}])
    p = product_profile(cfg, MONDAY)
    month = 365.2425 * DAY / 12
    at = p.rate_per_s(np.array([MONDAY, MONDAY + month, MONDAY + 6 * month]))
    assert at == pytest.approx([10.0, 10.5, 10.0 * 1.05**6], rel=1e-12)


def test_scheduled_peak_ramp_plateau_decay_and_repeat() -> None:
    start = MONDAY + 18 * 3600
    cfg = profile(
        requests_per_s=10.0,
        factors=[
            {
                "model": "scheduled_peak",
                "start": datetime.fromtimestamp(start, UTC),
                "ramp_up_s": 600,
                "plateau_s": 3600,
                "decay_s": 1200,
                "multiplier": 6,
                "every_days": 7,
            }
        ],
    )
    p = product_profile(cfg, MONDAY)
    t = start + np.array([-1.0, 0.0, 300.0, 600.0, 2000.0, 4200.0, 4800.0, 5400.0, 7 * DAY + 300])
    assert p.rate_per_s(t) == pytest.approx(
        10 * np.array([1, 1, 3.5, 6, 6, 6, 3.5, 1, 3.5]), rel=1e-12
    )
    # periodic: the mean over a week adds (M − 1) × area / period
    week = p.rate_per_s(seconds(MONDAY, 7 * DAY)).mean()
    area = 300 + 3600 + 600
    assert week == pytest.approx(10 * (1 + 5 * area / (7 * DAY)), rel=1e-9)
    assert p.mean_per_s == pytest.approx(week, rel=1e-9)


def capped_pareto_second_moment_of_excess(cfg: FlashCrowdsFactor) -> float:
    """E[(min(A, c) − 1)²] for A = m U^(−1/α): density α m^α / x^(α+1) on [m, c), mass (m/c)^α at c."""
    a, m, c = cfg.amplitude_shape, cfg.amplitude_min, cfg.amplitude_max
    assert c is not None
    body, _ = integrate.quad(lambda x: (x - 1) ** 2 * a * m**a / x ** (a + 1), m, c)
    return float(body + (c - 1) ** 2 * (m / c) ** a)


def test_flash_crowds_long_run_mean() -> None:
    """The realised factor's time average over T against 1 + ν E[A − 1] area.

    Crowds wholly inside the period contribute (A_k − 1) × area each, and their number is
    Poisson(νT), so the average's standard error is sqrt(ν T E[(A − 1)²]) × area / T (compound
    Poisson); crowds cut by the period's ends shift it by at most 2 × E[A] × span / T.
    """
    cfg = FlashCrowdsFactor(
        model="flash_crowds",
        per_day=20,
        amplitude_min=1.5,
        amplitude_shape=2.5,
        amplitude_max=5,
        ramp_up_s=60,
        duration_s=600,
        decay_s=120,
    )
    flash = FlashCrowds(cfg)
    rng = np.random.default_rng(11)
    days = 200
    total = 0.0
    for d in range(days):
        total += flash.factor(rng, seconds(MONDAY + d * DAY, DAY)).sum()
    mean = total / (days * DAY)
    area = 30 + 600 + 60
    t = days * DAY
    se = math.sqrt(20 / DAY * t * capped_pareto_second_moment_of_excess(cfg)) * area / t
    edge = 2 * cfg.mean_amplitude * cfg.span_s / t
    assert abs(mean - cfg.mean_factor) < 5 * se + edge
    # and a crowd is really there: the busiest second is well above 1
    assert flash.factor(rng, seconds(MONDAY + days * DAY, 30 * DAY)).max() > 1.5


def hourly_z_scores(cfg: ProfileTraffic, hours: int, seed: int) -> np.ndarray:
    """(N_h − Λ_h) / sqrt(Λ_h) for each hour, drawn window by window as the engine does."""
    process = build_arrivals(cfg, start_epoch_s=MONDAY)
    rng = np.random.default_rng(seed)
    z = np.empty(hours)
    for h in range(hours):
        mids = seconds(MONDAY + h * 3600, 3600)
        lam = process.expected_per_s(mids).sum()
        z[h] = (process.counts(rng, mids).sum() - lam) / math.sqrt(lam)
    return z


def test_hourly_counts_have_the_configured_mean_and_poisson_variance() -> None:
    """Each hour's count is Poisson(Λ_h), Λ_h = Σ expected rate: so the z-scores have mean 0
    (standard error 1/sqrt(k)) and Σ z² is χ² with k degrees of freedom (Poisson variance = mean)."""
    cfg = profile(
        requests_per_day=1e6,
        peak_requests_per_s=25,
        factors=[
            {"model": "daily_cycle", "peak_hour_utc": 9},
            {"model": "weekly_cycle", "weekend": 0.5},
            {"model": "trend", "growth_per_month": 0.2},
            {
                "model": "scheduled_peak",
                "start": datetime.fromtimestamp(MONDAY + 3 * DAY, UTC),
                "ramp_up_s": 900,
                "plateau_s": 7200,
                "decay_s": 3600,
                "multiplier": 4,
            },
        ],
    )
    k = 24 * 42
    z = hourly_z_scores(cfg, k, seed=5)
    assert abs(z.mean()) < 5 / math.sqrt(k)
    lo, hi = stats.chi2.ppf([1e-5, 1 - 1e-5], k)
    assert lo < (z**2).sum() < hi
