"""``sim fit``: each fitted part against data drawn from a known model, with tolerances from the
sampling error of the data, and the written scenario through sim's own validation."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim._model import tuples
from sim.logs import burstfit as BF  # noqa: N812
from sim.logs import fit as F  # noqa: N812
from sim.logs.requests import normalize
from sim.traffic.models import ProfileTraffic
from sim.traffic.profiles import build_profile

T0 = 1_764_547_200  # 2025-12-01T00:00:00Z, a Monday
HOUR = 3600


def test_daily_nodes_give_the_levels_as_clock_hour_means() -> None:
    """Through sim's own daily shape (linear between hour midpoints): each clock hour's mean of
    the curve built on the solved nodes is the level asked for."""
    levels = np.array([0.3, 0.3, 0.4, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 1.6, 1.7, 1.6,
                       1.5, 1.4, 1.3, 1.2, 1.1, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])  # fmt: skip
    levels = levels / levels.mean()
    nodes = F.daily_nodes(levels)
    cfg = ProfileTraffic.model_validate(
        tuples({"model": "profile", "requests_per_s": 1.0,
                "factors": [{"model": "daily_cycle", "hourly": list(nodes)}]})
    )  # fmt: skip
    t = T0 + np.arange(86_400) + 0.5
    rate = build_profile(cfg, float(T0)).rate_per_s(t)
    np.testing.assert_allclose(rate.reshape(24, HOUR).mean(axis=1), levels, rtol=1e-9)


def per_second_source(counts: np.ndarray[Any, Any]) -> F.FitSource:
    hours = counts.size // HOUR
    return F.FitSource("<test>", "trace", T0, hours, counts.astype(np.float64), 1)


def poisson_stream(rng: np.random.Generator, days: int, weekly: bool, growth: float) -> Any:
    t = np.arange(days * 86_400) + 0.5
    day = np.arange(days * 86_400) // 86_400
    shape = 1 + 0.6 * np.cos(2 * np.pi * (t / HOUR - 14) / 24)
    week = np.where((day % 7) >= 5, 0.5, 1.0) if weekly else np.ones(day.size)
    trend = (1 + growth) ** (np.arange(day.size) / F.SECONDS_PER_MONTH)
    rate = 20.0 * shape * week * trend
    return rng.poisson(rate), shape, week


def test_profile_shape_weekly_and_trend_are_recovered() -> None:
    """28 days of Poisson traffic at 20 req/s × a daily cosine × weekends at half × +10 %/month:
    each daily level is fitted from ~28·3600·20 requests (relative error ≈ 1/√(2·10⁶) ≈ 0.07 %),
    so 1 % is over ten standard errors; the weekly levels likewise; the growth within 1 point."""
    rng = np.random.default_rng(5)
    counts, _, _ = poisson_stream(rng, 28, True, 0.10)
    fit = F.fit_profile(per_second_source(counts))
    # the clock-hour means of the cosine
    x = np.arange(86_400) + 0.5
    want_daily = (1 + 0.6 * np.cos(2 * np.pi * (x / HOUR - 14) / 24)).reshape(24, HOUR).mean(1)
    np.testing.assert_allclose(fit.daily, want_daily / want_daily.mean(), rtol=0.01)
    assert fit.weekly is not None
    want_week = np.array([1, 1, 1, 1, 1, 0.5, 0.5]) / np.mean([1, 1, 1, 1, 1, 0.5, 0.5])
    np.testing.assert_allclose(fit.weekly, want_week, rtol=0.01)
    assert fit.growth_per_month == pytest.approx(0.10, abs=0.01)


def test_shrunk_daily_levels_are_closer_to_the_truth_on_a_few_days_of_bursts() -> None:
    """Two days at 5 req/s × a daily cosine through sim's own MMPP (levels 0.5 and 3, shares 0.8
    and 0.2, redrawn every 30 s): an hour's count varies by ``κ = 2τV/3600 = 1/60`` of its square
    beyond Poisson (``V = 1``, the levels' variance), so each raw level, a mean of 2 hours, is
    off by about 9 %. The truth (the clock-hour means of the cosine) lies in the smooth profile's
    span, so with the raw noise ``n``, the projection ``P`` onto the ``q = 7`` Fourier terms and
    weights ``w ≤ 1``, the shrunk level's error is ``‖Pn‖² + Σ w² ((I − P)n)²`` against the raw
    ``‖n‖²``: never larger (up to the renormalisation), and in expectation ``7/24 + (17/24)E[w²]``
    of it. ``Â`` is positive only when ``RSS/17`` exceeds ``σ²``, and its weight is ``1 − 1/X``
    for ``X ~ χ²₁₇/17`` (sd 0.34), so ``E[w²] < 0.05`` and the expected ratio is about 0.33; its
    sd over seeds (a Beta(3.5, 8.5) law, 0.125) makes the mean of 6 seeds' ratios < 0.5 a
    3.2-sd bound. κ̂ is the larger of the between-day estimate, of 23 degrees of freedom (48
    hours less 24 levels and 1 day factor) weighted by ``E²`` (``n_eff = 23 (ΣE²)² / (48 ΣE⁴) ≈
    15`` for the cosine: a relative standard error of ``√(2/n_eff) ≈ 0.36``), and the
    within-hour one: it is within 4 of the former's standard errors of 1/60, and the
    within-hour one alone is within 0.65 and 1.1 × 1/60 (its expectation is about 0.86 × 1/60:
    the 300-s blocks miss 1 − τ/300 = 10 % across their edges, and the per-hour line takes a
    little of the slow part; 48 hours of 10 degrees of freedom each give a relative standard
    error of √(2/480) ≈ 6.5 %, so both bounds are over 3.5 standard errors out). The fitted
    volume is the source's."""
    truth = BF.Candidate("mmpp", (0.5, 3.0), (0.8, 0.2), 30.0)
    x = np.arange(86_400) + 0.5
    want = (1 + 0.6 * np.cos(2 * np.pi * (x / HOUR - 14) / 24)).reshape(24, HOUR).mean(1)
    want /= want.mean()
    ratios = []
    for seed in range(6):
        counts = drawn(truth, 2, 5.0, 0.6, seed)
        fit = F.fit_profile(per_second_source(counts))
        s = fit.shrink
        assert s is not None
        raw, shrunk = np.sum((s.raw - want) ** 2), np.sum((fit.daily - want) ** 2)
        assert shrunk < raw * 1.001, (seed, shrunk, raw)
        ratios.append(shrunk / raw)
        e2 = np.repeat(want, 2) ** 2
        n_eff = 23 * e2.sum() ** 2 / np.sum(e2**2) / 48
        assert abs(s.kappa - 1 / 60) < 4 * math.sqrt(2 / n_eff) / 60, (s.kappa, n_eff)
        within = F.within_hour_kappa(per_second_source(counts)) * 60
        assert 0.65 < within < 1.1 and s.kappa >= within / 60
        hod = (np.arange(counts.size) // HOUR) % 24
        assert fit.base_per_s * np.sum(fit.daily[hod]) == pytest.approx(counts.sum(), rel=1e-12)
    assert np.mean(ratios) < 0.5, ratios


def test_the_shrinkage_weight_tends_to_1_with_many_days() -> None:
    """Through the same MMPP (``κ = 1/60``), a daily profile with hour-by-hour structure no
    3-harmonic series follows (a cosine plus two busy hours and a quiet one): the levels'
    variance about the smooth profile, ``A``, is that of the true levels, while each level's
    sampling variance ``σ²_h ≈ θ_h² κ / days`` falls as 1/days, so the weight ``A / (A + σ²)``
    tends to 1: at 28 days each weight is at least ``1 − 2 σ²_h / A`` (``Â`` is off ``A`` by
    about ``2√(A σ²/17) + σ²`` — a few % — so 2 is a wide margin) and the levels are the raw
    means within ``(1 − w)|L − S|``; at 2 days the weights are lower. A single day has no
    between-day dispersion: no shrinkage."""
    truth = BF.Candidate("mmpp", (0.5, 3.0), (0.8, 0.2), 30.0)
    hour = np.arange(24)
    shape = 1 + 0.6 * np.cos(2 * np.pi * (hour + 0.5 - 14) / 24)
    shape[[9, 10]] += 0.5
    shape[20] -= 0.4
    theta = shape / shape.mean()
    x = 2 * np.pi * (hour + 0.5) / 24
    basis = np.column_stack([np.ones(24)] + [f(k * x) for k in (1, 2, 3) for f in (np.cos, np.sin)])
    dev = theta - basis @ np.linalg.lstsq(basis, theta, rcond=None)[0]
    a_true = float(np.sum(dev**2)) / (24 - basis.shape[1])
    mean_weight = {}
    for days in (2, 28):
        rng = np.random.default_rng(days)
        m = np.tile(np.repeat(5.0 * shape, HOUR), days)
        t = np.arange(m.size) + 0.5
        process = truth.process()
        counts = np.concatenate(
            [process.counts(rng, t[i : i + 86_400], m[i : i + 86_400])
             for i in range(0, m.size, 86_400)]
        ).astype(np.float64)  # fmt: skip
        fit = F.fit_profile(per_second_source(counts))
        s = fit.shrink
        assert s is not None
        mean_weight[days] = float(s.weight.mean())
        if days == 28:
            sigma2 = theta**2 * (1 / 60) / days
            assert np.all(s.weight >= 1 - 2 * sigma2 / a_true), (s.weight, sigma2 / a_true)
            bound = (1 - s.weight) * np.abs(s.raw - s.smooth)
            assert np.all(np.abs(fit.daily - s.raw) <= bound + 2e-3 * s.raw)
    assert mean_weight[2] < mean_weight[28]
    one_day = F.fit_profile(per_second_source(drawn(truth, 1, 5.0, 0.6, 1)))
    assert one_day.shrink is None


def fitted_rate(counts: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The profile ``sim fit`` fits to per-second counts, as a rate per second."""
    fit = F.fit_profile(per_second_source(counts))
    cfg = ProfileTraffic.model_validate(tuples(F.traffic_section(fit, None)))  # type: ignore[arg-type]
    mid = T0 + np.arange(counts.size) + 0.5
    return np.asarray(build_profile(cfg, float(T0)).rate_per_s(mid))


def drawn(candidate: BF.Candidate, days: int, rate: float, amplitude: float, seed: int) -> Any:
    """Per-second counts from sim's own burst process (the engine's) at ``rate × (1 + amplitude ×
    cos(daily))``, and that rate."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * 86_400) + 0.5
    m = rate * (1 + amplitude * np.cos(2 * np.pi * (t / HOUR - 14) / 24))
    process = candidate.process()
    if process is None:
        return rng.poisson(m).astype(np.float64)
    return np.concatenate(
        [
            process.counts(rng, t[i : i + 86_400], m[i : i + 86_400])
            for i in range(0, t.size, 86_400)
        ]
    ).astype(np.float64)


def test_a_poisson_stream_stays_poisson() -> None:
    """Per-second Poisson counts about the fitted rate: dispersion within 4 standard errors of 1
    (the test's false-alarm chance is below 1e-4), so no burst process is tried."""
    counts = drawn(BF.Candidate("poisson"), 3, 20.0, 0.6, 8)
    fit = BF.fit_burst(counts, fitted_rate(counts), first_hour_s=T0)
    assert fit.chosen.model == "poisson" and not fit.candidates
    assert abs(fit.dispersion - 1) < 4 * fit.dispersion_se
    assert fit.section() is None


def hawkes_variance(n: float, tau: float, width_s: float) -> float:
    """Var(N_Δ)/λ of a stationary Hawkes process (as in tests/traffic/test_tr_bursts.py):
    1 + 2A [Δ/γ − (1 − e^(−γΔ))/γ²] / Δ·Δ with A = n(2 − n)/(2τ(1 − n)), γ = (1 − n)/τ."""
    a = n * (2 - n) / (2 * tau * (1 - n))
    g = (1 - n) / tau
    return width_s + 2 * a * (width_s / g - (1 - math.exp(-g * width_s)) / g**2)


def test_the_moment_fits_invert_the_exact_autocovariances() -> None:
    """The moment estimators are exact on exact moments. The lag-k covariance of unit bins of a
    process with stationary increments is the second difference of Var(N_Δ):
    Cov(N_0, N_k) = [V(k+1) − 2V(k) + V(k−1)] / 2; for a Hawkes process V from its covariance
    density (independently of the module's closed forms), for an MMPP redrawn every τ the level's
    integral has Var ∫_0^Δ L = 2Vτ² (Δ/τ − 1 + e^(−Δ/τ))."""
    n, tau = 0.6, 1.7
    lags = BF.ACF_LAGS

    def v(d: int) -> float:
        return hawkes_variance(n, tau, d) if d > 0 else 0.0

    i = np.array([v(1) - 1] + [(v(k + 1) - 2 * v(k) + v(k - 1)) / 2 for k in range(1, lags + 1)])
    got_n, got_tau = BF.hawkes_moments(i, np.full(lags + 1, 0.01))
    assert got_n == pytest.approx(n, rel=1e-5) and got_tau == pytest.approx(tau, rel=1e-5)

    redraw, var = 23.0, 0.4

    def w(d: int) -> float:
        return 2 * var * redraw**2 * (d / redraw - 1 + math.exp(-d / redraw))

    ck = np.array([0.0] + [(w(k + 1) - 2 * w(k) + w(k - 1)) / 2 for k in range(1, lags + 1)])
    assert BF.redraw_moments(ck, np.full(lags + 1, 0.01)) == pytest.approx(redraw, rel=1e-5)


def test_an_mmpp_is_recovered_and_chosen() -> None:
    """Two days at 5 req/s × a daily cosine through sim's own MMPP (levels 0.5 and 3, shares 0.8 and
    0.2, redrawn every 30 s): the check chooses an MMPP of 2 states (it did for 8 seeds of 8), and
    each parameter is within 4 of its batch-means standard errors of the truth (8 blocks: a t law
    with 7 degrees of freedom, two-sided 0.5 %), plus, for the levels and shares, the bias of
    seconds that hold a switch (the EM gives each second one state; a share 2/sojourn of state
    i's seconds are mixed, and each moves a level by at most the spread of the levels)."""
    truth = BF.Candidate("mmpp", (0.5, 3.0), (0.8, 0.2), 30.0)
    counts = drawn(truth, 2, 5.0, 0.6, 2)
    fit = BF.fit_burst(counts, fitted_rate(counts), first_hour_s=T0)
    assert fit.chosen.name == "mmpp-2", fit.candidates
    assert fit.candidates["mmpp-2"]["score_per_s"] < fit.candidates["hawkes"]["score_per_s"]
    mixed = max(2 / s for s in truth.sojourn_s) * (truth.levels[1] - truth.levels[0])
    se = fit.se
    for got, want, err in zip(fit.chosen.levels, truth.levels, se["levels"], strict=True):
        assert abs(got - want) < 4 * err + mixed, (got, want, err)
    for got, want, err in zip(fit.chosen.shares, truth.shares, se["shares"], strict=True):
        assert abs(got - want) < 4 * err + max(2 / s for s in truth.sojourn_s), (got, want, err)
    assert abs(fit.chosen.redraw_s - 30.0) < 4 * se["redraw_s"]
    section = fit.section()
    assert section is not None and section["model"] == "mmpp"
    for row in section["transitions"]:
        assert math.isclose(sum(row), 1.0, abs_tol=1e-12)
    # the written process spends the fitted shares of the time in its states (up to the
    # section's 6 significant digits)
    stationary = fit.chosen.process().stationary
    np.testing.assert_allclose(stationary, fit.chosen.shares, rtol=2e-5)


def test_a_hawkes_process_is_recovered_and_chosen() -> None:
    """Two days at 5 req/s × a daily cosine of amplitude 0.8 through sim's own Hawkes process
    (n = 0.5, τ = 0.2 s: clusters within the second, whose busiest seconds add to the rate rather
    than scale with it): the check chooses Hawkes (8 seeds of 8), and n and τ are within 4 of their
    batch-means standard errors (t law, 7 degrees of freedom: two-sided 0.5 %) of the truth."""
    counts = drawn(BF.Candidate("hawkes", branching_ratio=0.5, decay_s=0.2), 2, 5.0, 0.8, 1)
    fit = BF.fit_burst(counts, fitted_rate(counts), first_hour_s=T0)
    assert fit.chosen.model == "hawkes", fit.candidates
    se = fit.se
    assert abs(fit.chosen.branching_ratio - 0.5) < 4 * se["branching_ratio"]
    assert abs(fit.chosen.decay_s - 0.2) < 4 * se["decay_s"]
    assert fit.section() == {"model": "hawkes", "branching_ratio": pytest.approx(0.5, abs=0.05),
                             "decay_s": pytest.approx(0.2, abs=0.05)}  # fmt: skip


def test_a_source_too_short_to_check_stays_poisson() -> None:
    """Three hours of strongly modulated counts: the dispersion is far beyond Poisson's, but a
    half of one hour cannot be checked against the other, so the stream stays Poisson and says
    why (rather than failing)."""
    truth = BF.Candidate("mmpp", (0.5, 3.0), (0.8, 0.2), 30.0)
    counts = drawn(truth, 1, 5.0, 0.0, 3)[: 3 * HOUR]
    fit = BF.fit_burst(counts, np.full(counts.size, counts.mean()), first_hour_s=T0)
    assert fit.dispersion > 1 + BF.DISPERSION_Z * fit.dispersion_se
    assert fit.chosen.model == "poisson" and fit.section() is None
    assert "whole clock hours" in fit.notes[0]


def test_the_one_standard_error_rule() -> None:
    """Of the candidates within the best score's standard error, the fewest parameters."""

    def row(score: float, se: float, k: int) -> dict[str, Any]:
        return {"score_per_s": score, "score_se_per_s": se, "n_params": k}

    scores = {"mmpp-3": row(1.0, 0.2, 5), "hawkes": row(1.15, 0.1, 2), "mmpp-2": row(1.1, 0.1, 3)}
    assert BF.choose(scores) == "hawkes"
    scores["hawkes"] = row(1.25, 0.1, 2)
    assert BF.choose(scores) == "mmpp-2"
    assert BF.tail_distance(np.arange(100.0)[None, :], np.arange(100.0)) == 0.0


def test_exact_size_points_keep_the_mean() -> None:
    rng = np.random.default_rng(3)
    sizes = rng.lognormal(7, 1.2, 50_000).astype(np.int64) + 1
    points = F.size_points(sizes)
    assert points is not None and points["model"] == "empirical"
    v, w = np.array(points["values_bytes"]), np.array(points["weights"])
    assert len(v) <= F.SIZE_POINTS and np.all(np.diff(v) > 0)
    assert float(v @ w / w.sum()) == pytest.approx(sizes.mean(), rel=1e-7)
    assert F.size_points(np.full(10, 512)) == {"model": "fixed", "bytes": 512}


def write_log(tmp_path: Path, rng: np.random.Generator, hours: int) -> Path:
    """A log of ``hours`` hours: a daily cycle, two routes with their own sizes, keep-alive
    clients (5 s between their requests), lognormal processing times."""
    rate = 15 * (1 + 0.5 * np.cos(2 * np.pi * (np.arange(hours) - 14) / 24))
    per_hour = rng.poisson(rate * HOUR)
    t = np.concatenate([T0 + h * HOUR + np.sort(rng.random(c) * HOUR)
                        for h, c in enumerate(per_hour)])  # fmt: skip
    n = t.size
    route = np.where(rng.random(n) < 0.7, "/items", "/orders")
    big = route == "/orders"
    raw = pa.table(
        {
            "time_s": t,
            "request_bytes": pa.array(np.where(big, 4000, 700) + rng.integers(0, 200, n)),
            "response_bytes": pa.array(
                np.where(big, rng.integers(20_000, 60_000, n), rng.integers(500, 2000, n))
            ),
            "client": [f"10.0.0.{i % 250}:{4000 + i // 250}" for i in rng.integers(0, 60, n)],
            "route": route,
            "method": ["GET"] * n,
            "duration_ms": rng.lognormal(np.log(30), 0.5, n),
            "status": pa.array(np.full(n, 200), pa.int32()),
            "event_type": pa.nulls(n, pa.string()),
        }
    )
    path = tmp_path / "requests.parquet"
    pq.write_table(normalize(raw, salt=b"f"), path)
    return path


def test_sim_fit_writes_a_scenario_whose_bill_matches_the_replay(tmp_path: Path) -> None:
    """A day of logs: the written scenario validates and covers the logs' hours; with --report,
    each option's bill over the period is within 3 % of the replay's (the fitted means of sizes,
    reuse and durations are the logged ones; the hourly volumes are within Poisson noise)."""
    from click.testing import CliRunner

    from sim.cli import cli
    from sim.config import scenario_from_dict

    source = write_log(tmp_path, np.random.default_rng(12), 24)
    out, report = tmp_path / "fit.toml", tmp_path / "fit-report"
    result = CliRunner().invoke(
        cli, ["fit", str(source), "--out", str(out), "--report", str(report), "--seeds", "2"]
    )
    assert result.exit_code == 0, result.output
    data = tomllib.loads(out.read_text())
    scenario = scenario_from_dict(data, str(out))
    assert scenario.scenario.duration_s == 24 * HOUR
    assert [r.name for r in scenario.payload.routes] == ["/items", "/orders"]
    assert scenario.connections.model == "per_connection"
    doc = json.loads((report / "fit.json").read_text())
    for option, o in doc["options"].items():
        if o["replay_usd"] > 0.01:
            assert abs(o["difference"]) < 0.03, (option, o)
    assert (report / "fit_profile.png").stat().st_size > 10_000


def test_sim_fit_refuses_to_overwrite_a_file_it_did_not_write(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sim.cli import cli

    source = write_log(tmp_path, np.random.default_rng(13), 2)
    out = tmp_path / "mine.toml"
    out.write_text("# my own notes\n")
    result = CliRunner().invoke(cli, ["fit", str(source), "--out", str(out)])
    assert result.exit_code != 0
    assert out.read_text() == "# my own notes\n"


def test_the_nasa_day_fit_gets_the_busiest_second() -> None:
    """The shipped NASA 1995 day: the fitted scenario's 99th percentile over the 24 hours of the
    busiest second within 10 % of the replay's (19.5 req/s). Over 24 hours that percentile is
    nearly the day's busiest second, whose spread from seed to seed is about 1.8 req/s (measured
    over 20 seeds of the fitted scenario: 9 %); the mean of 10 seeds has a standard error of
    about 0.6 req/s (3 %), and the fitted scenario's expectation was 20.0 (+2 %). Each option's
    bill within 3 % of the replay's (the fitted rate keeps each hour's mean)."""
    path = Path(__file__).parents[2] / "configs/traces/nasa-http-1995-07-13-per-second.csv.gz"
    fit = F.fit(str(path))
    assert fit.burst is not None and fit.burst.chosen.model != "poisson"
    doc = F.check_fit(fit, seeds=10)
    p = doc["peak_rps_p99"]
    assert p["replay"] == pytest.approx(19.54)
    assert abs(p["difference"]) < 0.10, p
    for option, o in doc["options"].items():
        if o["replay_usd"] > 0.01:
            assert abs(o["difference"]) < 0.03, (option, o)
