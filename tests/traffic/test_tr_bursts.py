"""Burst processes against their analytic properties (fixed seeds; tolerances derived in comments).

MMPP: long-run rate Σ π_i λ_i and the variance of counts; Hawkes: mean = baseline / (1 − n), the
variance of counts, the carry of children across windows and the stationary start; ON/OFF: the
stationary start, the normalised mean and long-range dependence.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from sim._model import tuples
from sim.traffic.arrivals import build_arrivals
from sim.traffic.bursts import Hawkes, Mmpp, OnOff, mmpp_stationary
from sim.traffic.models import HawkesBurst, MmppBurst, ProfileTraffic

T0 = 1_790_000_000.0  # any whole second


def stream(rate: float, burst: dict[str, Any]) -> Any:
    cfg = ProfileTraffic.model_validate(
        tuples({"model": "profile", "requests_per_s": rate, "burst": burst})
    )
    return build_arrivals(cfg, start_epoch_s=T0)


def run(process: Any, seconds: int, window: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for a in range(0, seconds, window):
        mids = T0 + np.arange(a, min(a + window, seconds), dtype=np.float64) + 0.5
        out.append(process.counts(rng, mids))
    return np.concatenate(out)


def bin_sums(counts: np.ndarray, width: int) -> np.ndarray:
    return counts[: counts.size // width * width].reshape(-1, width).sum(axis=1)


# --------------------------------------------------------------------------- MMPP
def two_state_count_variance(lam: np.ndarray, sojourn: np.ndarray, delta: float) -> float:
    """Var(N_Δ) of a stationary 2-state MMPP: λ̄Δ + 2σ²[Δ/q − (1 − e^(−qΔ))/q²], where σ² =
    (λ1 − λ2)² π1 π2 is the variance of the rate and q = 1/s1 + 1/s2 the decay rate of its
    autocorrelation (a 2-state chain forgets its state as e^(−qt))."""
    pi = np.array([sojourn[0], sojourn[1]]) / sojourn.sum()
    q = 1 / sojourn[0] + 1 / sojourn[1]
    var_rate = (lam[0] - lam[1]) ** 2 * pi[0] * pi[1]
    return float(pi @ lam * delta + 2 * var_rate * (delta / q - (1 - math.exp(-q * delta)) / q**2))


def test_mmpp_long_run_rate_and_variance() -> None:
    """Levels (2, 20) on a base of 1 request/s, sojourns (100 s, 10 s), not normalised: the long-run
    rate is Σ π_i λ_i = (100·2 + 10·20) / 110. The total over T has variance ≈ Var(N_T) above; the
    sample variance of K nearly independent bins of Δ ≫ 1/q has relative standard error sqrt(2/K)."""
    lam, soj = np.array([2.0, 20.0]), np.array([100.0, 10.0])
    p = stream(
        1.0, {"model": "mmpp", "levels": [2, 20], "sojourn_s": [100, 10], "normalize": False}
    )
    t = 2_000_000
    counts = run(p, t, 86_400, seed=1)
    mean = float(mmpp_stationary(soj, np.array([[0, 1], [1, 0.0]])) @ lam)
    assert mean == pytest.approx(400 / 110, rel=1e-12)
    assert p.expected_per_s(np.array([T0]))[0] == pytest.approx(mean, rel=1e-12)
    sd_total = math.sqrt(two_state_count_variance(lam, soj, t))
    assert abs(counts.sum() - mean * t) < 5 * sd_total
    delta, k = 5000, t // 5000
    ratio = bin_sums(counts, delta).var(ddof=1) / two_state_count_variance(lam, soj, delta)
    assert abs(ratio - 1) < 5 * math.sqrt(2 / k)


def test_mmpp_normalised_keeps_the_profiles_volume_with_hour_windows() -> None:
    p = stream(30.0, {"model": "mmpp", "levels": [1, 6], "sojourn_s": [300, 30]})
    t = 400_000
    counts = run(p, t, 3600, seed=2)
    lam = 30.0 * np.array([1, 6]) / ((300 * 1 + 30 * 6) / 330)
    sd = math.sqrt(two_state_count_variance(lam, np.array([300.0, 30.0]), t))
    assert abs(counts.sum() - 30.0 * t) < 5 * sd


def test_mmpp_three_states_follow_the_jump_matrix() -> None:
    """π solves π Q = 0: π_i ∝ ν_i s_i with ν the jump chain's stationary law. The time spent in
    state 0, measured as counts of an indicator level at a high rate, has asymptotic variance
    2 Σ_i π_i f̃_i g_i per unit time, with Q g = −f̃ and f̃ = f − πf (the Poisson equation)."""
    soj = np.array([50.0, 20.0, 5.0])
    jump = np.array([[0, 0.9, 0.1], [0.5, 0, 0.5], [1.0, 0, 0]])
    pi = mmpp_stationary(soj, jump)
    w, v = np.linalg.eig(jump.T)
    nu = np.real(v[:, np.argmin(np.abs(w - 1))])
    nu = nu / nu.sum()
    assert pi == pytest.approx(nu * soj / (nu * soj).sum(), rel=1e-10)

    rate = 1000.0
    cfg = MmppBurst(
        model="mmpp",
        levels=(1, 0, 0),
        sojourn_s=tuple(soj),
        transitions=tuple(map(tuple, jump)),
        normalize=False,
    )
    mmpp = Mmpp.from_config(cfg)
    rng = np.random.default_rng(3)
    t, total = 400_000, 0
    for a in range(0, t, 3600):
        mids = T0 + np.arange(a, min(a + 3600, t)) + 0.5
        total += int(mmpp.counts(rng, mids, np.full(mids.size, rate)).sum())
    q = (jump - np.eye(3)) / soj[:, None]
    f = np.array([1.0, 0, 0]) - pi[0]
    g = np.linalg.lstsq(np.vstack([q, pi]), np.concatenate([-f, [0]]), rcond=None)[0]
    var_time = 2 * float(pi @ (f * g)) * t  # variance of the time spent in state 0
    sd = math.sqrt(rate**2 * var_time + rate * pi[0] * t)  # plus the Poisson noise
    assert abs(total - rate * pi[0] * t) < 5 * sd


# --------------------------------------------------------------------------- Hawkes
def hawkes_count_variance(mean_rate: float, n: float, tau: float, delta: float) -> float:
    """Var(N_Δ) of a stationary Hawkes process with kernel φ(t) = (n/τ) e^(−t/τ): its covariance
    density is λ̄ A e^(−γ|u|), A = n(2 − n) / (2τ(1 − n)), γ = (1 − n)/τ, so
    Var(N_Δ) = λ̄Δ + 2λ̄A [Δ/γ − (1 − e^(−γΔ))/γ²]  (→ λ̄Δ / (1 − n)² for Δ ≫ 1/γ)."""
    a = n * (2 - n) / (2 * tau * (1 - n))
    g = (1 - n) / tau
    return mean_rate * delta + 2 * mean_rate * a * (delta / g - (1 - math.exp(-g * delta)) / g**2)


@pytest.mark.parametrize(("window", "seed"), [(3600, 4), (7, 5)])
def test_hawkes_mean_is_baseline_over_one_minus_n(window: int, seed: int) -> None:
    """The configured rate r gives baseline μ = r (1 − n), and the stream's mean must be
    μ / (1 − n) = r. With 7-second windows most clusters straddle windows: only if children are
    carried across them do the mean and variance hold. The total's standard deviation is
    sqrt(Var(N_T)); the sample variance of K bins of Δ ≫ 1/γ has relative standard error
    sqrt(2/K)."""
    n, tau, rate = 0.6, 1.0, 20.0
    p = stream(rate, {"model": "hawkes", "branching_ratio": n, "decay_s": tau})
    t = 100_000
    counts = run(p, t, window, seed)
    baseline = rate * (1 - n)
    assert abs(counts.sum() - baseline / (1 - n) * t) < 5 * math.sqrt(
        hawkes_count_variance(rate, n, tau, t)
    )
    delta, k = 100, t // 100
    ratio = bin_sums(counts, delta).var(ddof=1) / hawkes_count_variance(rate, n, tau, delta)
    assert abs(ratio - 1) < 5 * math.sqrt(2 / k)
    # far from Poisson: the dispersion is close to 1 / (1 − n)² = 6.25
    assert bin_sums(counts, delta).var() / bin_sums(counts, delta).mean() > 4


def test_hawkes_starts_stationary() -> None:
    """Fresh processes (warm-up included) against the stationary mean over their first 10 s: the
    replicates are independent, so the standard error is sqrt(Var(N_10) / R). Without the warm-up
    the first seconds would miss the excitation (mean about μ·10, 40 % of r·10 here)."""
    n, tau, rate, r = 0.6, 1.0, 20.0, 600
    rng = np.random.default_rng(6)
    mids = T0 + np.arange(10) + 0.5
    firsts = [
        Hawkes.from_config(HawkesBurst(model="hawkes", branching_ratio=n, decay_s=tau))
        .counts(rng, mids, np.full(10, rate))
        .sum()
        for _ in range(r)
    ]
    se = math.sqrt(hawkes_count_variance(rate, n, tau, 10) / r)
    assert abs(np.mean(firsts) - rate * 10) < 5 * se


# --------------------------------------------------------------------------- ON/OFF
def test_on_off_sources_start_and_stay_stationary() -> None:
    """With the equilibrium start, P(source ON) = on / (on + off) at every instant. The mean ON
    fraction over S independent sources has standard error ≤ sqrt(p(1 − p)/S) (each source's time
    average of its ON indicator has variance at most p(1 − p))."""
    s, p_on = 50_000, 5 / 25
    src = OnOff(s, 5.0, 20.0, 1.4)
    rng = np.random.default_rng(7)
    first = src.on_seconds(rng, T0, T0 + 1) / s
    later = src.on_seconds(rng, T0 + 1, T0 + 201) / s  # the sources have switched many times
    bound = math.sqrt(p_on * (1 - p_on) / s)
    assert abs(first[0] - p_on) < 5 * bound
    assert abs(later.mean() - p_on) < 5 * bound
    assert abs(later[-1] - p_on) < 5 * bound


def test_on_off_keeps_the_volume_and_is_long_range_dependent() -> None:
    """The count over T has mean r·T (normalised by E[sources ON]). Pareto periods with α = 1.4 give
    Hurst H = (3 − α)/2 = 0.8: the variance of m-second sums grows like m^(2H). The Poisson noise
    (slope 1) and the finite range pull the estimate toward 0.5, so we only require it to be well
    above 0.5 (short-range traffic) and below 1; the mean's tolerance is loose for the same reason
    (heavy tails: its error shrinks like T^(H − 1), not T^(−1/2))."""
    rate, t = 50.0, 1_000_000
    p = stream(
        rate,
        {"model": "on_off", "sources": 40, "on_mean_s": 10, "off_mean_s": 30, "pareto_shape": 1.4},
    )
    counts = run(p, t, 86_400, seed=8)
    assert abs(counts.mean() / rate - 1) < 0.1
    scales = np.array([10, 30, 100, 300, 1000, 3000])
    var = np.array([bin_sums(counts, m).var() for m in scales])
    slope = np.polyfit(np.log(scales), np.log(var), 1)[0]
    hurst = slope / 2
    assert 0.65 < hurst < 1.0
