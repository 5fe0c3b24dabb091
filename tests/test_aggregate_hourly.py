"""``aggregate`` fidelity's hourly path (sim/engine/aggregate.py, sim/traffic/hourly.py).

* the per-hour summaries against the 3,600 per-second rates they replace: the hour's and each
  minute's expected count, the bound of the largest rate, the distribution of the busiest second;
* the draws against their exact distributions, across seeds, and against ``request`` fidelity and
  the per-second path;
* where the hourly path is taken: exactly where the bounds say, and the state that spans a switch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from conftest import scenario_with
from scipy.special import pdtr, pdtrc

import sim.engine.aggregate as aggregate
from sim.engine import simulate
from sim.engine.aggregate import HOURLY_EPSILON, _Aggregate, throttle_free_count
from sim.engine.core import Horizon
from sim.rng import run_seed_sequence, streams
from sim.traffic import build_sampler
from sim.traffic.arrivals import arrivals_for
from sim.traffic.hourly import PoissonRate, discrete_gauss, hourly_rates

QUIET = ("lambda_url.enabled=false", "cloudfront.origins=[]", "engine.fidelity='aggregate'")
DAY = ("scenario.duration_days=1",)
#: profiles whose per-hour sums are checked against their seconds
PROFILES: dict[str, tuple[str, ...]] = {
    "seed": (),
    "off the hour and minute": (
        "scenario.start=2026-11-01T13:20:30Z",
        "scenario.duration_days=2.3",
    ),
    "constant": ("traffic={model='constant', requests_per_s=42.5}", "scenario.duration_days=0.2"),
    "composed": (
        "traffic={model='profile', requests_per_s=3000, factors=["
        "{model='daily_cycle', peak_to_mean=3.5, peak_hour_utc=14}, "
        "{model='weekly_cycle', weekday=1.2, weekend=0.6, utc_offset_hours=5.5}, "
        "{model='trend', growth_per_month=0.3}, "
        "{model='scheduled_peak', start=2026-11-03T10:20:00Z, ramp_up_s=300, plateau_s=1800, "
        "decay_s=700, multiplier=6}]}",
        "scenario.duration_days=4",
    ),
    "hourly levels": (
        "traffic={model='profile', requests_per_s=2, factors=[{model='daily_cycle', "
        "hourly=[1,1,1,1,1,1,2,3,4,5,6,7,8,7,6,5,4,3,2,1,1,1,1,1]}]}",
        "scenario.duration_days=1.5",
    ),
    "steps": (
        "traffic={model='profile', requests_per_s=20, factors=[{model='scheduled_peak', "
        "start=2026-11-01T03:17:10Z, plateau_s=600, multiplier=40, every_days=0.5}]}",
        "scenario.duration_days=1",
    ),
}


def seconds_of(*overrides: str) -> tuple[Any, Horizon, np.ndarray, np.ndarray]:
    """A scenario, its horizon, and each second's rate and hour (what the per-second path uses)."""
    s = scenario_with(*QUIET, *overrides)
    hz = Horizon.of(s)
    sec = np.arange(hz.start_s, hz.end_s)
    lam = arrivals_for(s).expected_per_s(hz.origin_epoch_s + sec + 0.5)
    return s, hz, lam, sec


def rates_of(s: Any, hz: Horizon) -> Any:
    rate = PoissonRate.of(arrivals_for(s))
    assert rate is not None
    return hourly_rates(rate, hz.origin_epoch_s, hz.start_s, hz.end_s)


# ------------------------------------------------------------------ the per-hour summaries
@pytest.mark.parametrize(("n", "k"), [(1, 4), (7, 4), (60, 2), (60, 8), (3600, 8), (3600, 16)])
def test_discrete_gauss_sums_polynomials_exactly(n: int, k: int) -> None:
    x, w = discrete_gauss(n, k)
    points = np.arange(n, dtype=np.float64)
    for degree in range(min(2 * k, 2 * n)):
        scale = max(1.0, (n - 1) / 2)  # centred and scaled: no cancellation in the check
        f = ((points - (n - 1) / 2) / scale) ** degree
        g = ((x - (n - 1) / 2) / scale) ** degree
        assert float(g @ w) == pytest.approx(float(f.sum()), rel=1e-10, abs=1e-9 * n)


@pytest.mark.parametrize("name", list(PROFILES))
def test_hour_and_minute_sums_and_the_bound_match_the_seconds(name: str) -> None:
    """The hour's expected count to 1e-9 (quadrature target 1e-10), each minute's to 1e-8 (the
    2-point rule per run of seconds between breakpoints, scaled to the hour), and the bound of
    the largest rate: never below it, and within 1 % (it decides which hours run per second)."""
    s, hz, lam, sec = seconds_of(*PROFILES[name])
    r = rates_of(s, hz)
    hour = sec // 3600
    expected = np.bincount(hour, weights=lam)
    assert np.allclose(r.expected[r.types], expected, rtol=1e-9, atol=0)
    per_minute = np.bincount(sec // 60, weights=lam, minlength=hz.n_hours * 60)
    got = r.per_minute[r.types].ravel()
    assert np.allclose(got, per_minute, rtol=1e-8, atol=1e-9)
    top = np.maximum.reduceat(lam, np.flatnonzero(np.diff(hour, prepend=-1)))
    upper = r.upper[r.types]
    assert (upper >= top).all()
    assert (upper <= 1.01 * top + 1e-12).all()
    assert (r.seconds[r.types] == np.bincount(hour)).all()


def exact_log_cdf(lam: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``log P(max_s N_s ≤ m) = Σ_s log F(m; λ_s)``, second by second."""
    return np.array([np.sum(np.log(pdtr(float(k), lam))) for k in m])


@pytest.mark.parametrize("name", ["seed", "composed", "steps", "off the hour and minute"])
def test_the_busiest_seconds_distribution_matches_the_product_over_seconds(name: str) -> None:
    """``P(max ≤ m)`` from the quadrature against ``Π_s F(m; λ_s)`` over each hour's 3,600
    seconds: within 1e-8 at every m of the table (the table's tails are below 1e-12)."""
    s, hz, lam, sec = seconds_of(*PROFILES[name])
    r = rates_of(s, hz)
    hour = sec // 3600
    kinds = np.unique(r.types)
    pick = kinds[np.linspace(0, kinds.size - 1, min(kinds.size, 12)).astype(int)]
    m_lo, table = r.peak_log_cdf(pick)
    for i, k in enumerate(pick.tolist()):
        h = int(np.flatnonzero(r.types == k)[0])
        rows = table[i][: int(np.flatnonzero(table[i] < 0).max(initial=0)) + 2]
        # every row where the CDF moves, and the table's two ends (at most 40 rows: each costs
        # 3,600 Poisson CDFs here)
        inner = np.flatnonzero((rows > math.log(1e-9)) & (rows < math.log1p(-1e-9)))
        idx = np.unique(np.concatenate(([0, rows.size - 1], inner[:: max(1, inner.size // 38)])))
        exact = exact_log_cdf(lam[hour == h], m_lo[i] + idx)
        assert np.max(np.abs(np.exp(rows[idx]) - np.exp(exact))) < 1e-8, (name, h)
        assert exact[0] < math.log(1e-12) or m_lo[i] == 0
        assert exact[-1] > math.log1p(-1e-12) - 1e-12


def test_peak_draws_follow_the_exact_distribution() -> None:
    """40,000 draws of the seed's busiest hour against its exact CDF: the Dvoretzky–Kiefer–
    Wolfowitz bound, P(sup |F_n − F| > ε) ≤ 2 exp(−2 n ε²), gives ε = 0.0135 at 1e-6."""
    s, hz, lam, sec = seconds_of()
    r = rates_of(s, hz)
    hour = sec // 3600
    busiest = int(np.argmax(np.bincount(hour, weights=lam)))
    n = 40_000
    draws = r.sample_peaks(np.random.default_rng(7), np.full(n, r.types[busiest]))
    m = np.arange(draws.min() - 1, draws.max() + 1)
    exact = np.exp(exact_log_cdf(lam[hour == busiest], m))
    empirical = np.searchsorted(np.sort(draws), m, side="right") / n
    eps = math.sqrt(math.log(2 / 1e-6) / (2 * n))
    assert np.max(np.abs(empirical - exact)) < eps


# ------------------------------------------------------------------ where the hourly path is taken
def per_second(table: Any) -> np.ndarray:
    return np.asarray(table.column("per_second").to_numpy(zero_copy_only=False), dtype=bool)


def engine(s: Any) -> _Aggregate:
    return _Aggregate(s, Horizon.of(s), streams(run_seed_sequence(1)), None)


def test_the_shipped_studys_month_runs_hourly() -> None:
    s = scenario_with(*QUIET)
    m = simulate(s)
    assert not per_second(m).any()
    assert m.column("gateway_throttled").to_numpy().sum() == 0


def test_a_throttle_near_the_peak_sends_exactly_the_hours_it_may_bind_per_second() -> None:
    """A bucket of 150/s and burst 200 (c = min(150, 100) = 100 a second is never refused) on the
    seed's cycle (22 to 120 requests/s): the bound ``n · P(Poisson(λ̄) > 100) < 1e-9``, computed
    here from the hour's exact largest rate, holds at night and fails around the peak. The
    engine's bound uses an upper bound of that rate (≥ it, within 1e-9), so it sends at least
    those hours per second, and no others whose bound is below ε/2. An hour whose bound holds
    still runs per second when the hour before ended with the bucket not full."""
    over = ("apigateway.throttle={rate_per_s=150, burst=200}", *DAY)
    s, _hz, lam, sec = seconds_of(*over)
    c = throttle_free_count(150, 200)
    assert c == 100
    hour = sec // 3600
    top = np.maximum.reduceat(lam, np.flatnonzero(np.diff(hour, prepend=-1)))
    risk = 3600 * pdtrc(c, top)
    ok = engine(s).hourly_hours()
    assert not ok[risk >= HOURLY_EPSILON].any()
    assert ok[risk < HOURLY_EPSILON / 2].all()
    assert 0 < ok.sum() < ok.size
    for seed in range(4):
        m = simulate(s, seed=seed)
        ps = per_second(m)
        assert ps[~ok].all()
        carried = ps & ok  # only right after a per-second hour
        assert all(h > 0 and ps[h - 1] for h in np.flatnonzero(carried))
        throttled = m.column("gateway_throttled").to_numpy()
        assert (throttled[~ps] == 0).all()
    # where the throttle does bind (100/s against a peak of 120/s), it acts in those hours only
    m = simulate(scenario_with(*QUIET, "apigateway.throttle={rate_per_s=100, burst=200}", *DAY))
    throttled = m.column("gateway_throttled").to_numpy()
    assert throttled.sum() > 0 and (throttled[~per_second(m)] == 0).all()


def test_a_concurrency_limit_near_the_load_sends_the_busy_hours_per_second() -> None:
    """1 s functions: in flight ≈ λ · 1 s, from 22 at night to 120 at the peak; a limit of 100.
    The bound ``Λ · P(Poisson(m̄) ≥ 100)``, ``m̄ = E[D] · max(λ̄ this hour, λ̄ the hour before)``
    (fixed durations: no tail beyond an hour), computed here from the exact largest rates."""
    over = ("backend.duration={model='fixed', ms=1000}", "backend.concurrency_limit=100", *DAY)
    s, _hz, lam, sec = seconds_of(*over)
    hour = sec // 3600
    top = np.maximum.reduceat(lam, np.flatnonzero(np.diff(hour, prepend=-1)))
    before = np.concatenate(([0.0], top[:-1]))
    risk = np.bincount(hour, weights=lam) * pdtrc(99, np.maximum(before, top))
    ok = engine(s).hourly_hours()
    assert not ok[risk >= HOURLY_EPSILON].any()
    assert ok[risk < HOURLY_EPSILON / 2].all()
    assert 0 < ok.sum() < ok.size
    m = simulate(s)
    ps = per_second(m)
    assert np.array_equal(ps, ~ok)  # no throttle, so nothing carries a switch
    refused = m.column("direct_lambda_throttled").to_numpy()
    assert (refused[~ps] == 0).all()
    assert refused[ps].sum() > 0  # the limit does act at the peak


def test_a_bucket_left_short_keeps_the_next_hour_per_second(monkeypatch: Any) -> None:
    """Hours 1 and 2 may take the hourly path, but the bucket ends hour 0 short of full: hour 1
    runs per second (and ends full), hour 2 hourly."""
    s = scenario_with(*QUIET, "scenario.duration_days=0.125")  # 3 hours
    monkeypatch.setattr(_Aggregate, "hourly_hours", lambda self: np.array([False, True, True]))
    original = _Aggregate._per_second
    drained: list[bool] = []

    def per_second_then_drain(self: Any, a: int, b: int) -> None:
        original(self, a, b)
        if not drained:
            self.bucket.tokens = self.bucket.burst - 1
            drained.append(True)

    monkeypatch.setattr(_Aggregate, "_per_second", per_second_then_drain)
    assert list(per_second(simulate(s))) == [True, True, False]


@pytest.mark.parametrize(
    "over",
    [
        ("connections={model='sessions', requests_per_session=6, think_time_s=20, "
         "idle_timeout_s=60}",),
        ("traffic={model='profile', requests_per_s=20, burst={model='mmpp', levels=[1, 5], "
         "sojourn_s=[100, 10]}}",),
        ("traffic={model='profile', requests_per_s=20, factors=[{model='flash_crowds', "
         "per_day=3}]}",),
        ("cloudfront.origins=['alb']",),
        ("cloudfront.origins=['lambda_url']", "cloudfront.cache={enabled=true}"),
    ],
)  # fmt: skip
def test_streams_and_doors_without_an_hourly_form_run_per_second(over: tuple[str, ...]) -> None:
    """Sessions, bursts, flash crowds (hourly counts not Poisson), CloudFront's cache (misses
    thinned second by second) and its pooled connections to an ALB."""
    s = scenario_with(*QUIET, "scenario.duration_days=0.25", *over)
    assert per_second(simulate(s)).all()


def test_cloudfront_without_its_cache_in_front_of_a_function_url_runs_hourly() -> None:
    s = scenario_with(*QUIET, "scenario.duration_days=0.25", "cloudfront.origins=['lambda_url']")
    m = simulate(s)
    assert not per_second(m).any()
    assert np.array_equal(m.column("edge_requests").to_numpy(), m.column("requests").to_numpy())


def test_hours_too_quiet_for_their_peak_run_per_second() -> None:
    """At 0.003 requests/s (10.8 an hour), a busiest second drawn apart from the count could
    contradict it (``P(Poisson(10.8) ≤ m_top) ≥ ε``): per second. At 0.5/s, hourly, and the draws
    are consistent: a peak of at least 1 in an hour with requests, never above the count."""
    low = scenario_with(*QUIET, "traffic={model='constant', requests_per_s=0.003}", *DAY)
    assert per_second(simulate(low)).all()
    mid = scenario_with(*QUIET, "traffic={model='constant', requests_per_s=0.5}", *DAY)
    for seed in range(20):
        m = simulate(mid, seed=seed)
        assert not per_second(m).any()
        n = m.column("requests").to_numpy()
        peak = m.column("peak_rps").to_numpy()
        assert ((peak >= 1) == (n >= 1)).all()
        assert (peak <= n).all()


def test_same_seed_same_numbers_across_both_paths() -> None:
    s = scenario_with(*QUIET, "apigateway.throttle={rate_per_s=150, burst=200}", *DAY)
    a, b = simulate(s, seed=3), simulate(s, seed=3)
    assert a.equals(b)
    assert per_second(a).any() and not per_second(a).all()
    assert not a.equals(simulate(s, seed=4))


def test_connection_time_adds_up_across_switches() -> None:
    """Connection-seconds are the new connections times their mean lifetime (the kernel spreads
    each minute's new connections exactly in expectation), across hourly and per-second hours
    alike; only what falls after the period's end is cut (at most the last 16 minutes' new
    connections × 30 s; the kernel drops the 1e-9 of the lifetime it truncates)."""
    s = scenario_with(
        *QUIET, "apigateway.throttle={rate_per_s=150, burst=200}", "connections.start='empty'", *DAY
    )
    m = simulate(s)
    ps = per_second(m)
    assert ps.any() and not ps.all()
    conn_s = float((m.column("active_connections").to_numpy() * 3600).sum())
    new = m.column("new_connections").to_numpy()
    life = 30.0
    full = float(new.sum()) * life
    assert full * (1 - 1e-8) - new[-1] * life <= conn_s <= full * (1 + 1e-9)


# ------------------------------------------------------------------ the draws, across seeds
SEEDS = 200


def _pooled_z(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    return ((x - mean) / np.sqrt(var)).ravel()


def _standard(z: np.ndarray) -> None:
    """Pooled standardised values: mean 0 within 5 standard errors, variance 1 within 5
    (standard error of a sample variance of n normal values: sqrt(2 / n))."""
    n = z.size
    assert abs(z.mean()) < 5 / math.sqrt(n), z.mean()
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / n), z.var()


def _randomised_pit(peaks: np.ndarray, log_cdf: Any, rng: np.random.Generator) -> np.ndarray:
    """``F(m − 1) + V · (F(m) − F(m − 1))``: uniform on (0, 1) when m has the CDF F."""
    lo = np.exp(log_cdf(peaks - 1))
    hi = np.exp(log_cdf(peaks))
    return np.asarray(lo + rng.random(peaks.shape) * (hi - lo))


def _uniform(u: np.ndarray) -> None:
    """Kolmogorov distance to U(0, 1) within the DKW bound at 1e-6."""
    n = u.size
    grid = np.sort(u)
    d = np.max(np.abs(np.arange(1, n + 1) / n - grid))
    assert d < math.sqrt(math.log(2 / 1e-6) / (2 * n)), d


@pytest.fixture(scope="module")
def seed_day() -> dict[str, Any]:
    """The seed's first day (volume 1 M/day, peak 25/s: quick at request fidelity too), its
    exact per-second rates, and the hourly meters of 200 seeds (12 at request fidelity, and 200
    on the per-second path)."""
    over = ("traffic.requests_per_day=1000000", "traffic.peak_requests_per_s=25", *DAY)
    s, _hz, lam, sec = seconds_of(*over)
    out: dict[str, Any] = {"scenario": s, "lam": lam, "hour": sec // 3600}
    names = ("requests", "new_connections", "peak_rps", "request_bytes", "response_bytes",
             "direct_billed_ms", "active_connections", "peak_active_connections", "per_second")  # fmt: skip

    def runs(seeds: range, **kw: Any) -> dict[str, np.ndarray]:
        tables = [simulate(s, seed=k, **kw) for k in seeds]
        return {n: np.vstack([t.column(n).to_numpy(zero_copy_only=False) for t in tables])
                for n in names}  # fmt: skip

    out["hourly"] = runs(range(SEEDS))
    out["request"] = runs(range(12), fidelity="request")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(aggregate, "HOURLY_EPSILON", 0.0)  # no bound is below 0: all per second
        out["per_second"] = runs(range(SEEDS))
    assert not out["hourly"]["per_second"].any()
    assert out["per_second"]["per_second"].all()
    return out


def test_hourly_counts_are_poisson_with_the_hours_expectation(seed_day: dict[str, Any]) -> None:
    """Requests per hour: Poisson(Λ_h), so (N − Λ)/√Λ has mean 0 and variance 1; new
    connections: Poisson(Λ_h / 10) (10 requests per connection); both paths and request
    fidelity."""
    lam = np.bincount(seed_day["hour"], weights=seed_day["lam"])
    for mode in ("hourly", "per_second", "request"):
        d = seed_day[mode]
        _standard(_pooled_z(d["requests"], lam, lam))
        _standard(_pooled_z(d["new_connections"], lam / 10, lam / 10))


def test_the_busiest_second_has_its_exact_distribution(seed_day: dict[str, Any]) -> None:
    """``peak_rps`` against ``Π_s F(m; λ_s)`` over the hour's seconds, by the randomised
    probability integral transform, pooled over hours and seeds; both paths and request
    fidelity draw it from the same distribution."""
    lam, hour = seed_day["lam"], seed_day["hour"]
    modes = ("hourly", "per_second", "request")
    rng = np.random.default_rng(11)
    u: dict[str, list[np.ndarray]] = {mode: [] for mode in modes}
    for h in range(24):
        peaks = {mode: seed_day[mode]["peak_rps"][:, h] for mode in modes}
        lo = min(int(p.min()) for p in peaks.values()) - 1
        hi = max(int(p.max()) for p in peaks.values())
        table = exact_log_cdf(lam[hour == h], np.arange(lo, hi + 1))  # each m once

        def log_cdf(m: np.ndarray, table: np.ndarray = table, lo: int = lo) -> np.ndarray:
            return np.asarray(table[m - lo])

        for mode in modes:
            u[mode].append(_randomised_pit(peaks[mode], log_cdf, rng))
    for mode in modes:
        _uniform(np.concatenate(u[mode]))


def test_sums_agree_with_request_fidelity_and_the_per_second_path(
    seed_day: dict[str, Any],
) -> None:
    """Bytes and billed ms per hour: compound Poisson, ``Var = Λ · E[X²]``; 1 KB requests and
    responses (fixed) and lognormal durations (mean 40 ms, σ 0.5: ``E[D²] = 40² e^{σ²}``, plus
    under 1 ms of rounding per request)."""
    lam = np.bincount(seed_day["hour"], weights=seed_day["lam"])
    billed = build_sampler(seed_day["scenario"].backend.duration).expected_units(1.0)  # E⌈D⌉
    for mode in ("hourly", "per_second", "request"):
        d = seed_day[mode]
        for name in ("request_bytes", "response_bytes"):
            _standard(_pooled_z(d[name], lam * 1024, lam * 1024**2))
        # Var: Λ E[⌈D⌉²] exactly (request), Λ (Var D + E[⌈D⌉]²) by the CLT (aggregate); both
        # within 0.05 % of Λ (E[D²] + E[D]) here
        _standard(
            _pooled_z(d["direct_billed_ms"], lam * billed, lam * (40**2 * math.exp(0.25) + 40))
        )


def test_connection_meters_agree_with_the_per_second_path(seed_day: dict[str, Any]) -> None:
    """Active connections (hour mean) and the busiest minute of open connections: the same
    model on both paths (per-minute new connections spread by the lifetime kernel), so per hour
    the means over 200 seeds agree within 5 standard errors of their difference, and so do the
    variances (within 5 · sqrt(2/199) relative, each)."""
    a, b = seed_day["hourly"], seed_day["per_second"]
    for name in ("active_connections", "peak_active_connections"):
        x, y = a[name], b[name]
        se = np.sqrt(x.var(axis=0, ddof=1) / SEEDS + y.var(axis=0, ddof=1) / SEEDS)
        assert np.max(np.abs(x.mean(axis=0) - y.mean(axis=0)) / se) < 5, name
        ratio = x.var(axis=0, ddof=1) / y.var(axis=0, ddof=1)
        assert np.max(np.abs(np.log(ratio))) < 5 * math.sqrt(2 * 2 / (SEEDS - 1)), name
