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


def test_a_poisson_stream_stays_poisson_and_a_modulated_one_gets_states() -> None:
    """Per-second Poisson counts about the fitted rate: dispersion within 4 standard errors of 1
    (the test's false-alarm chance is below 1e-4). Counts from a two-level modulation (0.5 and
    3, a quarter of the time at 3, held for 30 s): states chosen, the top level and its share
    recovered within 10 % (each from ~10⁵ seconds)."""
    rng = np.random.default_rng(8)
    counts, _, _ = poisson_stream(rng, 3, False, 0.0)
    src = per_second_source(counts)
    fit = F.fit_profile(src)
    traffic = F.traffic_section(fit, None)  # type: ignore[arg-type]
    cfg = ProfileTraffic.model_validate(tuples(traffic))
    mid = T0 + np.arange(counts.size) + 0.5
    expected = build_profile(cfg, float(T0)).rate_per_s(mid)
    poisson = F.fit_burst(counts.astype(np.float64), expected)
    assert poisson.chosen == "poisson"
    assert abs(poisson.dispersion - 1) < 4 * poisson.dispersion_se
    n = counts.size
    high = np.repeat(rng.random(n // 30) < 0.25, 30)[:n]
    level = np.where(high, 3.0, 0.5)
    level = level / (0.25 * 3.0 + 0.75 * 0.5)
    bursty = rng.poisson(expected * level).astype(np.float64)
    burst = F.fit_burst(bursty, expected)
    assert burst.chosen == "mmpp" and burst.levels is not None and burst.shares is not None
    assert burst.levels[-1] == pytest.approx(level.max(), rel=0.1)
    assert burst.shares[-1] == pytest.approx(0.25, rel=0.1)
    section = burst.section()
    assert section is not None
    for row in section["transitions"]:
        assert math.isclose(sum(row), 1.0, abs_tol=1e-12)


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
