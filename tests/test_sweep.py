"""Break-even sweeps: the interpolation, the range parsing, planning, the seed's break-even volume
against the analytic value, and the command line (output files, bad ranges)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import SEED

from sim.config import DailyCycleTraffic
from sim.errors import ConfigError
from sim.output import read_provenance
from sim.sweep import (
    DEFAULT_STEPS,
    SWEEP_COLUMNS,
    SweepRange,
    SweepResult,
    breakeven,
    find_sign_changes,
    parse_vary,
    plan_sweep,
    run_sweep,
)

#: One day of the seed, comparing the ALB with the REST and HTTP APIs (the break-evens below are
#: those of these three; the seed's function URL and CloudFront options are not simulated).
ONE_DAY = ("scenario.duration_days=1", "lambda_url.enabled=false", "cloudfront.origins=[]")


def sim_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


# =========================================================================== interpolation
def test_a_linear_difference_crosses_where_it_should() -> None:
    x = np.arange(0.0, 11.0)
    (c,) = find_sign_changes(x, 2.0 * (x - 3.3))
    assert c.value == pytest.approx(3.3, rel=1e-12)
    assert (c.lower, c.upper, c.sign_below) == (3.0, 4.0, -1)
    (c,) = find_sign_changes(x, 3.3 - x)
    assert c.value == pytest.approx(3.3, rel=1e-12) and c.sign_below == 1


def test_a_log_sweep_interpolates_in_log_value() -> None:
    # d = ln(x / 813,000) is linear in log(x): the log interpolation is exact, the linear one is not
    x = np.geomspace(1e5, 1e7, 9)
    d = np.log(x / 813_000)
    (c,) = find_sign_changes(x, d, log=True)
    assert c.value == pytest.approx(813_000, rel=1e-12)
    (lin,) = find_sign_changes(x, d, log=False)
    assert lin.value != pytest.approx(813_000, rel=1e-3)
    assert c.lower < 813_000 < c.upper


def test_every_crossing_is_found_and_touches_are_not_crossings() -> None:
    x = np.linspace(0.0, 10.0, 101)
    d = (x - 2.05) * (x - 7.05)  # two crossings, known
    first, second = find_sign_changes(x, d)
    assert first.value == pytest.approx(2.05, abs=1e-3) and first.sign_below == 1
    assert second.value == pytest.approx(7.05, abs=1e-3) and second.sign_below == -1
    # a zero on a grid point between opposite signs is a crossing there; a touch is not
    assert [c.value for c in find_sign_changes([1, 2, 3], [-1.0, 0.0, 1.0])] == [2.0]
    assert find_sign_changes([1, 2, 3], [1.0, 0.0, 1.0]) == []
    # a tie over several points between opposite signs: one crossing, in its middle
    (tie,) = find_sign_changes([1, 2, 3, 4, 5], [-1.0, 0.0, 0.0, 0.0, 2.0])
    assert tie.value == 3.0
    assert find_sign_changes([1, 2, 3], [1.0, 2.0, 3.0]) == []


@pytest.mark.parametrize(
    ("values", "diff", "log"),
    [
        ([1, 2, 2], [1, -1, 1], False),  # not strictly increasing
        ([1, 2], [1], False),  # lengths differ
        ([0, 1, 2], [1, -1, 1], True),  # log of 0
        ([1, 2, 3], [1, float("nan"), 1], False),
    ],
)
def test_bad_interpolation_input_is_refused(
    values: list[float], diff: list[float], log: bool
) -> None:
    with pytest.raises(ValueError):
        find_sign_changes(values, diff, log=log)


def test_breakeven_names_the_cheaper_option_on_each_side_and_the_envelope() -> None:
    x = np.linspace(0.0, 10.0, 11)
    costs = {
        "front_door": {
            "fixed": 25.0 + 0.1 * x,  # crosses "per_use" at 25 / 2.9
            "per_use": 3.0 * x,
            "pricey": 50.0 + 5.0 * x,  # never cheapest, never crosses the others
        }
    }
    found = breakeven(x, costs)
    pairs = {tuple(p["options"]): p for p in found["pairs"]}
    (c,) = pairs[("fixed", "per_use")]["crossings"]
    assert c["value"] == pytest.approx(25 / 2.9)
    assert (c["cheaper_below"], c["cheaper_above"]) == ("per_use", "fixed")
    assert c["cost_per_30_days_usd"] == pytest.approx(3.0 * 25 / 2.9)
    assert pairs[("fixed", "pricey")]["crossings"] == []
    assert pairs[("fixed", "pricey")]["cheaper_throughout"] == "fixed"
    assert pairs[("per_use", "pricey")]["cheaper_throughout"] == "per_use"
    segments = found["cheapest"]["front_door"]
    assert [s["option"] for s in segments] == ["per_use", "fixed"]
    assert segments[0]["from"] == 0.0 and segments[1]["to"] == 10.0
    assert segments[0]["to"] == segments[1]["from"] == pytest.approx(25 / 2.9)


# =========================================================================== ranges and plans
def test_vary_syntax() -> None:
    assert parse_vary("traffic.requests_per_day=1e5:1e7") == SweepRange(
        "traffic.requests_per_day", 1e5, 1e7, DEFAULT_STEPS, False
    )
    assert parse_vary(" a.b = 1e5 : 1e7 : log ") == SweepRange("a.b", 1e5, 1e7, DEFAULT_STEPS, True)
    assert parse_vary("a.b=1:2:5:lin") == SweepRange("a.b", 1.0, 2.0, 5, False)
    r = parse_vary("a.b=1e7:1e5:3:log")  # descending is fine: the grid ascends
    assert list(r.grid()) == pytest.approx([1e5, 1e6, 1e7], rel=1e-12)
    assert r.grid()[0] == 1e5 and r.grid()[-1] == 1e7


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("a.b=5:5", "a.b", "empty range"),
        ("a.b=1:5:1", "a.b", "at least 2"),
        ("a.b=1:5:x", "a.b", "whole number"),
        ("a.b=0:5:log", "a.b", "crosses zero"),
        ("a.b=-1:5:3:log", "a.b", "crosses zero"),
        ("a.b=x:5", "a.b", "START must be a number"),
        ("a.b=1:inf", "a.b", "finite"),
        ("a.b=1", "a.b", "expected PATH=START:STOP"),
        ("a.b=1:2:3:4", "a.b", "expected PATH=START:STOP"),
        ("=1:2", "=1:2", "expected PATH=START:STOP"),
        ("a..b=1:2", "a..b=1:2", "expected PATH=START:STOP"),
    ],
)
def test_bad_ranges_name_the_field(text: str, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_vary(text)
    ((named, message),) = info.value.problems
    assert named == field and words in message


def test_keep_shape_scales_the_peak_with_the_volume() -> None:
    plan = plan_sweep(SEED, "traffic.requests_per_day=1e5:2e7:4:log", ONE_DAY)
    assert plan.keep_shape and set(plan.coupled) == {"traffic.peak_requests_per_s"}
    for value, scenario in zip(plan.values, plan.scenarios, strict=True):
        traffic = scenario.traffic
        assert isinstance(traffic, DailyCycleTraffic)
        assert traffic.requests_per_day == pytest.approx(value)
        factor = traffic.peak_requests_per_s / (value / 86_400)
        assert factor == pytest.approx(120 / (5e6 / 86_400))  # the seed's peak-to-mean
    with pytest.raises(ConfigError) as info:  # without it, a fixed peak falls below the mean
        plan_sweep(SEED, "traffic.requests_per_day=1e5:2e7:4:log", ONE_DAY, keep_shape=False)
    fields = [f for f, _ in info.value.problems]
    assert "traffic.peak_requests_per_s" in fields
    assert any("at traffic.requests_per_day = 20,000,000" in m for _, m in info.value.problems)


def test_fields_that_are_not_numbers_or_not_there_are_refused() -> None:
    for vary, words in [
        ("traffic.requests_per_dya=1:2", "names no field"),
        ("traffic.requests_per_s=1:2", "names no field"),  # not a field of daily_cycle
        ("nosuch.x=1:2", "names no field"),
        ("scenario.name=1:2", "not a numeric field"),
        ("payload.request=1:2", "is a table"),
        ("alb.rules_processed=1.5:20", "whole-number field"),
    ]:
        with pytest.raises(ConfigError) as info:
            plan_sweep(SEED, vary, ONE_DAY)
        ((field, message),) = info.value.problems
        assert field == vary.partition("=")[0] and words in message, (vary, message)


def test_whole_number_fields_take_whole_values_once() -> None:
    plan = plan_sweep(SEED, "alb.rules_processed=10:12:9", ONE_DAY)
    assert plan.values == (10.0, 11.0, 12.0)
    assert [s.alb.rules_processed for s in plan.scenarios] == [10, 11, 12]


# =========================================================================== the seed's break-even
@pytest.fixture(scope="module")
def seed_sweep() -> SweepResult:
    # One day of the seed scenario per point (the ALB's hourly part and every per-request price
    # scale exactly to 30 days), 17 points evenly spaced in log over 1e5..1e7 requests a day.
    plan = plan_sweep(SEED, "traffic.requests_per_day=1e5:1e7:17:log", ONE_DAY)
    return run_sweep(plan)


# Analytic 30-day costs of the front doors, for N requests per 30 days (2 KB processed per request,
# Lambda targets, bytes dominate the LCU in every hour at these volumes):
#   ALB  = 720 h × ($0.0225 + 2 × $0.005)  +  N × 2048 B / 0.4e9 B per LCU-hour × $0.008
#        = $23.40 + N × $4.096e-8
#   HTTP = N × $1.00e-6,  REST = N × $3.50e-6
ALB_FIXED_30D_USD = 720 * (0.0225 + 2 * 0.005)
ALB_PER_REQUEST_USD = 2048 / 0.4e9 * 0.008
PER_REQUEST_USD = {"apigw_http": 1.0e-6, "apigw_rest": 3.5e-6}


def analytic_breakeven_per_day(option: str) -> float:
    return ALB_FIXED_30D_USD / (PER_REQUEST_USD[option] - ALB_PER_REQUEST_USD) / 30


@pytest.mark.parametrize("option", ["apigw_http", "apigw_rest"])
def test_the_seed_sweep_finds_the_analytic_breakeven(seed_sweep: SweepResult, option: str) -> None:
    exact = analytic_breakeven_per_day(option)  # HTTP: 813,313 a day (24.40 M per 30 days)
    if option == "apigw_http":
        assert exact == pytest.approx(813_313, abs=1)
    x = np.asarray(seed_sweep.plan.values)
    # Two errors separate the measured crossing from the exact one:
    # 1. interpolation: the difference is linear in the volume, A·x − c, but interpolated linearly
    #    in u = log(x) over steps h = ln(10^(2/16)) = 0.288; A·e^u is convex, so the chord's zero
    #    lies below the true one by at most about h²/8 = 1.04 % (relative). The same interpolation
    #    on the analytic curves gives exactly the crossing the grid can see: `on_grid`.
    # 2. Poisson noise: a day at ~0.8 M requests has a relative count error of 1/sqrt(0.8e6) =
    #    0.11 %; both costs are proportional to the count (plus the fixed part), so the zero moves
    #    by about that much. 0.5 % is 4.5 sigma.
    h = math.log(x[1] / x[0])
    n30 = 30 * x
    analytic = ALB_FIXED_30D_USD + n30 * ALB_PER_REQUEST_USD - n30 * PER_REQUEST_USD[option]
    (on_grid,) = find_sign_changes(x, analytic, log=True)
    assert on_grid.value < exact
    assert on_grid.value == pytest.approx(exact, rel=h**2 / 8)
    noise_rel = 5e-3

    pairs = {(tuple(p["options"]), p["basis"]): p for p in seed_sweep.breakeven["pairs"]}
    for basis in ("front_door", "total"):  # backend and transfer are the same behind each door
        (c,) = pairs[(("alb", option), basis)]["crossings"]
        assert c["value"] == pytest.approx(on_grid.value, rel=noise_rel)
        assert c["value"] == pytest.approx(exact, rel=h**2 / 8 + noise_rel)
        assert (c["cheaper_below"], c["cheaper_above"]) == (option, "alb")
    # the cheapest front door: HTTP below its break-even with the ALB, the ALB above
    segments = seed_sweep.breakeven["cheapest"]["front_door"]
    assert [s["option"] for s in segments] == ["apigw_http", "alb"]


def test_the_seed_sweep_table(seed_sweep: SweepResult) -> None:
    t = seed_sweep.table
    assert t.column_names == list(SWEEP_COLUMNS)
    assert t.num_rows == 17 * 3
    rows = t.to_pylist()
    for row in rows:
        assert row["total_usd"] == pytest.approx(
            row["front_door_usd"] + row["backend_usd"] + row["transfer_usd"]
        )
        # the projection prices 30 days of usage: the front doors' charges are linear at these
        # volumes (one tier, 24 h × 30 = 720 ALB hours), the backend's and transfer's are not
        # (their monthly free allowances are spent once a month, not once a day)
        assert row["front_door_per_30_days_usd"] == pytest.approx(30 * row["front_door_usd"])
        assert row["total_per_30_days_usd"] >= row["front_door_per_30_days_usd"]
        assert row["requests"] == pytest.approx(row["value"], rel=0.02)
    http = [r for r in rows if r["option"] == "apigw_http"]
    assert [r["front_door_usd"] for r in http] == sorted(r["front_door_usd"] for r in http)


def test_a_sweep_point_is_what_sim_run_summarises() -> None:
    """The sweep's own pricing (no cost table, no summary) against ``sim.api.run``'s summary,
    point by point: period totals over two calendar months with tiers, free allowances and the
    account's other usage crossing them (Lambda's GB-seconds), and the 30-day projection."""
    from sim.api import run

    overrides = (
        "scenario.start=2026-11-30T12:00:00Z",  # 36 hours: two calendar months
        'scenario.duration="36h"',
        "lambda_url.enabled=false",
        "cloudfront.origins=[]",
        "account.other_monthly_usage.lambda_gb_seconds=399000",  # the free 400,000 run out
        "account.other_monthly_usage.lambda_requests=999000",
        'engine.fidelity="aggregate"',
    )
    plan = plan_sweep(SEED, "traffic.requests_per_day=1e5:1e7:3:log", overrides)
    result = run_sweep(plan)
    rows = result.table.to_pylist()
    for value, scenario in zip(plan.values, plan.scenarios, strict=True):
        summary = run(scenario, None, plots=False).summary
        got = {r["option"]: r for r in rows if r["value"] == value}
        assert list(got) == list(summary["options"])  # the same options, in the same order
        for option, t in summary["options"].items():
            want = {
                **{k: t[k] for k in ("front_door_usd", "backend_usd", "transfer_usd", "total_usd")},
                "front_door_per_30_days_usd": t["per_30_days_usd"]["front_door_usd"],
                "total_per_30_days_usd": t["per_30_days_usd"]["total_usd"],
            }
            for k, v in want.items():
                assert got[option][k] == pytest.approx(v, rel=1e-9, abs=1e-9), (value, option, k)
            assert got[option]["requests"] == summary["traffic"]["requests"]
    assert len(summary["months"]) == 2 and rows[0]["backend_usd"] > 0


# =========================================================================== command line
def test_sweep_command_writes_table_breakeven_and_plot(tmp_path: Path) -> None:
    r = sim_cli(
        "sweep", str(SEED), *(a for s in ONE_DAY for a in ("--set", s)),
        "--vary", "traffic.requests_per_day=2e5:2e6:3:log", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = tmp_path / "results" / "seed-sweep"
    assert sorted(p.name for p in out.iterdir()) == [
        "breakeven.json",
        "manifest.json",
        "report.html",
        "sweep.parquet",
        "sweep.png",
    ]
    assert "apigw_http cheaper below" in r.stdout
    table = pq.read_table(out / "sweep.parquet")
    assert table.column_names == list(SWEEP_COLUMNS) and table.num_rows == 9
    doc = json.loads((out / "breakeven.json").read_text())
    assert doc["path"] == "traffic.requests_per_day" and doc["scale"] == "log"
    assert doc["values"] == pytest.approx([2e5, math.sqrt(2e5 * 2e6), 2e6])
    prov = read_provenance(out / "sweep.parquet")
    assert prov == doc["provenance"]
    assert prov["seed"] == 20261101 and prov["sweep"]["path"] == "traffic.requests_per_day"
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("vary", "field"),
    [
        ("traffic.requests_per_day=1e6:1e6", "traffic.requests_per_day"),  # empty
        ("traffic.requests_per_day=0:1e7:log", "traffic.requests_per_day"),  # log reaches 0
        ("traffic.requests_per_day=-1e5:1e7:5:log", "traffic.requests_per_day"),  # crosses 0
        ("traffic.requests_per_day=1e5:1e7:1", "traffic.requests_per_day"),  # one step
        ("traffic.requests_per_dya=1e5:1e7", "traffic.requests_per_dya"),  # no such field
        ("traffic.peak_requests_per_s=10:200", "traffic.peak_requests_per_s"),  # below the mean
    ],
)
def test_bad_ranges_exit_2_naming_the_field_with_no_output(
    tmp_path: Path, vary: str, field: str
) -> None:
    out = tmp_path / "out"
    r = sim_cli(
        "sweep", str(SEED), "--set", "scenario.duration_days=1", "--vary", vary, "--out", str(out)
    )
    assert r.returncode == 2, r.stderr
    assert f"- {field}:" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []
