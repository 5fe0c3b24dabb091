"""Strict input, limits before allocation, no orphan processes, messages that read well in logs
(issue 8). Every refusal: exit 2, one message naming the file and the field, no traceback, nothing
written, in seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import CONFIGS, SEED, scenario_with

from sim.errors import ConfigError
from sim.resources import (
    BYTES_PER_REQUEST,
    Estimate,
    ResourceError,
    available_memory_bytes,
    check,
    estimate_run,
    estimate_study,
)

STUDY = CONFIGS / "studies" / "seed-sensitivity.toml"


def sim_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "HOME": str(cwd)},
        timeout=timeout,
    )


def refused_cleanly(r: subprocess.CompletedProcess[str], cwd: Path, *needles: str) -> None:
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    for needle in needles:
        assert needle in r.stderr, r.stderr
    assert not (cwd / "results").exists()


# =========================================================================== strict input
@pytest.mark.parametrize(
    ("override", "field", "expected"),
    [
        (
            "traffic.requests_per_day=true",
            "traffic.requests_per_day",
            "expected a number (got true)",
        ),
        ("alb.enabled='yes'", "alb.enabled", "expected true or false (got 'yes')"),
        ("backend.memory_mb='512'", "backend.memory_mb", "expected a whole number"),
        ("backend.memory_mb=512.0", "backend.memory_mb", "(got 512.0)"),
        ("alb.rules_processed=true", "alb.rules_processed", "expected a whole number"),
        ("traffic.requests_per_day=inf", "traffic.requests_per_day", "finite number (got inf)"),
        ("traffic.requests_per_day=nan", "traffic.requests_per_day", "finite number (got nan)"),
        ("connections.lifetime_s=inf", "connections.lifetime_s", "finite number"),
        ("payload.request.bytes=1e3", "payload.request.bytes", "whole number"),
        ("scenario.start='2026-11-01'", "scenario.start", "date-time"),
        ("apigateway.cache.sizes_gb=0.5", "apigateway.cache.sizes_gb", "expected an array"),
    ],
)
def test_no_value_is_silently_coerced(override: str, field: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        scenario_with(override)
    problems = dict(exc.value.problems)
    assert field in problems, problems
    assert expected in problems[field]
    assert len(problems) == 1  # the field the user got wrong, and only that one


def test_toml_arrays_still_fill_tuple_fields() -> None:
    s = scenario_with("apigateway.apis=['rest']", "apigateway.cache.sizes_gb=[0.5, 1.6]")
    assert s.apigateway.apis == ("rest",) and s.apigateway.cache.sizes_gb == (0.5, 1.6)
    assert scenario_with("traffic.requests_per_day=5000000").traffic.requests_per_day == 5e6


def test_a_message_gives_the_value_once() -> None:
    with pytest.raises(ConfigError) as exc:
        scenario_with("traffic.peak_requests_per_s=30")
    text = str(exc.value)
    assert text.count("(got 30)") == 1


def test_a_scenario_that_compares_nothing_is_an_error() -> None:
    with pytest.raises(ConfigError) as exc:
        scenario_with(
            "alb.enabled=false",
            "apigateway.apis=[]",
            "lambda_url.enabled=false",
            "cloudfront.origins=[]",
        )
    assert "compares no option" in dict(exc.value.problems)["apigateway.apis"]


# =========================================================================== limits
def test_available_memory_is_positive_and_below_the_total() -> None:
    total = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    assert 0 < available_memory_bytes() <= total


def test_the_run_estimate_follows_the_busiest_batch() -> None:
    """Seed: the busiest hour's expected requests are ∫ rate over that hour; the estimate holds
    BYTES_PER_REQUEST bytes for each (the engine alone: no CloudFront, whose connection pool the
    estimate adds on top)."""
    seed = scenario_with("cloudfront.origins=[]")
    est = estimate_run(seed)
    peak_hour = 120 * 3600  # the cycle peaks at 120/s: the busiest hour is a little below
    held = est.memory_bytes - 250 * 2**20
    assert 0.9 * peak_hour * BYTES_PER_REQUEST["plain"] < held < 1.01 * peak_hour * 96 + 2**25
    aggregate = estimate_run(seed, fidelity="aggregate")
    assert aggregate.memory_bytes < 300 * 2**20 and aggregate.seconds < est.seconds
    assert estimate_run(scenario_with()).memory_bytes > est.memory_bytes  # + the edge pool


def test_check_refuses_what_does_not_fit_and_says_what_to_change(tmp_path: Path) -> None:
    big = Estimate("run", 1e15, 0, 1, hints=["--fidelity aggregate"], source="f.toml", field="x")
    with pytest.raises(ResourceError, match=r"f.toml: x: .*909.5 TiB.*--fidelity aggregate"):
        check(big, tmp_path)
    check(big, tmp_path, enabled=False)  # --no-resource-check
    disk = Estimate("sweep", 1, 1e18, 1)
    with pytest.raises(ResourceError, match="free some space or choose another --out"):
        check(disk, tmp_path)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["traffic.requests_per_day=1e10", "traffic.peak_requests_per_s=2e5"], "would need about"),
        (["traffic.requests_per_day=1e12", "traffic.peak_requests_per_s=2e7"], "TiB of memory"),
        (["traffic.requests_per_day=1e300", "traffic.peak_requests_per_s=1e296"], "can count"),
    ],
)
def test_oversized_runs_are_refused_in_seconds(
    overrides: list[str], needle: str, tmp_path: Path
) -> None:
    args = [a for o in overrides for a in ("--set", o)]
    t0 = time.monotonic()
    r = sim_cli("run", str(SEED), *args, cwd=tmp_path)
    assert time.monotonic() - t0 < 30
    refused_cleanly(r, tmp_path, needle, str(SEED), "traffic.requests_per_day")
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_trace_with_an_absurd_count_is_refused(tmp_path: Path) -> None:
    (tmp_path / "huge.csv").write_text(
        "timestamp,requests\n2026-01-01T00:00:00Z,1000000000000000\n2026-01-01T00:01:00Z,5\n"
    )
    (tmp_path / "replay.toml").write_text(
        '[scenario]\nname = "r"\nstart = 2026-11-01T00:00:00Z\nduration_days = 1\n'
        '[traffic]\nmodel = "replay"\npath = "huge.csv"\n'
    )
    for fidelity in ("request", "aggregate"):
        r = sim_cli("run", "replay.toml", "--fidelity", fidelity, cwd=tmp_path)
        refused_cleanly(r, tmp_path, "replay.toml: traffic.path", "more than the meters can count")


def test_a_huge_sweep_is_refused_before_it_validates_its_grid(tmp_path: Path) -> None:
    t0 = time.monotonic()
    r = sim_cli(
        "sweep", str(SEED), "--vary", "traffic.requests_per_day=1e5:1e7:100000000", cwd=tmp_path
    )
    assert time.monotonic() - t0 < 30
    refused_cleanly(r, tmp_path, "--vary", "100,000,000 points", "fewer STEPS")


def test_a_huge_study_is_refused_and_a_large_one_announces_its_time(tmp_path: Path) -> None:
    t0 = time.monotonic()
    r = sim_cli("study", str(STUDY), "--runs", "9437184", cwd=tmp_path)
    assert time.monotonic() - t0 < 30
    refused_cleanly(r, tmp_path, "study.runs", "design.bootstrap")
    r = sim_cli("study", str(STUDY), "--runs", str(9 * 2**15), "--dry-run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "estimate for this study" in r.stdout and "h" in r.stdout
    assert not (tmp_path / "results").exists()


def test_the_study_estimate_counts_the_sobol_bootstrap() -> None:
    base = scenario_with()
    small = estimate_study(
        base, 1152, 7, 2, 20, "aggregate", method="sobol", bootstrap=1000, block=9
    )
    big = estimate_study(
        base, 9 * 2**20, 7, 2, 20, "aggregate", method="sobol", bootstrap=1000, block=9
    )
    assert small.memory_bytes < 2**30
    assert big.memory_bytes > 2**20 * 1000 * 8 * 4  # N × resamples × 8 B × 4 arrays
    assert big.seconds > 1000 * small.seconds


# =========================================================================== no orphans
def _processes_with(token: str) -> list[int]:
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            env = Path(f"/proc/{d}/environ").read_bytes()
            state = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in env and state != "Z":
            found.append(int(d))
    return found


@pytest.mark.parametrize("executor", [[], ["--dask", "local"]], ids=["local", "dask"])
def test_a_killed_study_leaves_no_process_behind(executor: list[str], tmp_path: Path) -> None:
    token = f"SIM_ORPHAN_TEST={uuid.uuid4().hex}"
    env = {**os.environ, "SIM_ORPHAN_TEST": token.split("=")[1], "HOME": str(tmp_path)}
    p = subprocess.Popen(
        [sys.executable, "-m", "sim", "study", str(STUDY), "--workers", "2", "-q", "--out",
         str(tmp_path / "s"), *executor],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while len(_processes_with(token)) < 3 and time.monotonic() < deadline:  # workers started
        time.sleep(0.2)
    assert len(_processes_with(token)) >= 3, "the study did not start its workers"
    time.sleep(2)  # computing
    p.kill()
    p.wait()
    deadline = time.monotonic() + 10
    while _processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(token) == []


# =========================================================================== logs
def test_messages_are_not_wrapped_when_output_is_not_a_terminal(tmp_path: Path) -> None:
    r = sim_cli("run", str(SEED), "--set", "traffic.requests_per_day=1e10", "--set",
                "traffic.peak_requests_per_s=2e5", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert len(line) > 200 and line.startswith("error: ") and line.endswith("--no-resource-check)")
    r = sim_cli("run", str(SEED), "--set", "scenario.duration_days=0.0416666666666666667",
                "--set", "traffic.requests_per_day=400000", "--set",
                "traffic.peak_requests_per_s=10", "--out", "r", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    saves = [line for line in r.stdout.splitlines() if " saves " in line]
    assert saves and all(
        line.rstrip().endswith(("apigw_rest", "apigw_http", "alb", "lambda_url")) for line in saves
    )
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["scenario"] == "seed"


# =========================================================================== adversarial cases
CONST = (
    '[scenario]\nname = "c"\nstart = 2026-11-01T00:00:00Z\nduration_days = 1\n'
    '[traffic]\nmodel = "constant"\nrequests_per_s = 100\n'
)


def test_a_sweep_is_estimated_at_the_ends_of_its_grid(tmp_path: Path) -> None:
    r = sim_cli("sweep", str(SEED), "--set", "scenario.duration_days=0.05", "--vary",
                "traffic.requests_per_day=1e6:1e12:3:log", "--dry-run", cwd=tmp_path)  # fmt: skip
    refused_cleanly(r, tmp_path, "--vary", "would need about")


def test_a_study_is_estimated_at_its_inputs_extremes(tmp_path: Path) -> None:
    (tmp_path / "const.toml").write_text(CONST)
    (tmp_path / "big.toml").write_text(
        '[study]\nname = "big"\nruns = 4\nfidelity = "request"\n[base]\npath = "const.toml"\n'
        '[[inputs]]\nfield = "traffic.requests_per_s"\ndistribution = "uniform"\nlow = 1e6\n'
        "high = 1e7\n"
    )
    r = sim_cli("study", "big.toml", "--out", "big", cwd=tmp_path)
    refused_cleanly(r, tmp_path, "big.toml", "would need about")
    assert not (tmp_path / "big").exists()


@pytest.mark.parametrize(
    "factor",
    [
        "{model='flash_crowds', per_day=0.5, amplitude_min=1e4, amplitude_shape=1.5, duration_s=1800}",
        "{model='scheduled_peak', start=2026-11-01T00:00:10Z, plateau_s=60, multiplier=1e6}",
    ],
)
def test_flash_crowds_and_short_peaks_are_in_the_estimate(factor: str, tmp_path: Path) -> None:
    traffic = f"traffic={{model='profile', requests_per_s=10.0, factors=[{factor}]}}"
    r = sim_cli("run", str(SEED), "--set", traffic, "--set", "scenario.duration_days=3000",
                "--dry-run", cwd=tmp_path)  # fmt: skip
    refused_cleanly(r, tmp_path, "would need about")


def test_the_periods_total_must_fit_the_counters(tmp_path: Path) -> None:
    (tmp_path / "const.toml").write_text(CONST)
    r = sim_cli("run", "const.toml", "--set", "traffic.requests_per_s=2e11", "--set",
                "scenario.duration_days=30", "--fidelity", "aggregate", cwd=tmp_path)  # fmt: skip
    refused_cleanly(r, tmp_path, "the period would carry")


@pytest.mark.parametrize(
    ("csv", "needle"),
    [
        ("timestamp,requests,requests\n2026-01-01T00:00:00Z,1,2\n", "appears more than once"),
        ("timestamp\n2026-01-01T00:00:00Z\ninf\n", "line 3: timestamp inf is not a date"),
        ("timestamp,requests\n2e15,1\n1e15,2\n", "line 2: timestamp 2e+15 is not a date"),
        ("timestamp,requests\n0,1e20\n60,1\n", "line 2: requests 1e+20 is too large"),
        ("timestamp,requests\n0,1\n199999999,1\n", "at most a day"),
    ],
)
def test_traces_that_no_engine_could_replay_are_refused(
    csv: str, needle: str, tmp_path: Path
) -> None:
    (tmp_path / "t.csv").write_text(csv)
    traffic = f"traffic={{model='replay', path='{tmp_path / 't.csv'}'}}"
    r = sim_cli("validate", str(SEED), "--set", traffic, cwd=tmp_path)
    refused_cleanly(r, tmp_path, needle, "traffic.path")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--set", "traffic." + ".".join(["a"] * 3000) + "=1"], "nested more than"),
        (["--set", "traffic.requests_per_day=" + "[" * 3000 + "]" * 3000], "nested too deeply"),
        (["--set", "scenario.start=9999-12-01T00:00:00Z"], "after the year 9998"),
        (["--set", "pricing.book='/dev/zero'"], "not a regular file"),
        (["--set", "traffic={model='profile', requests_per_s=1.0, burst={model='mmpp', "
          f"levels={list(range(1, 70))}, sojourn_s={[1.0] * 69}}}}}"], "at most 64"),
    ],
)  # fmt: skip
def test_more_bad_input_is_refused_cleanly(args: list[str], needle: str, tmp_path: Path) -> None:
    r = sim_cli("validate", str(SEED), *args, cwd=tmp_path)
    refused_cleanly(r, tmp_path, needle)


def test_days_steps_and_books_at_their_edges(tmp_path: Path) -> None:
    for days in ("1e308", "1e-300"):
        r = sim_cli("traffic", str(SEED), "--days", days, cwd=tmp_path)
        refused_cleanly(r, tmp_path, "--days")
    r = sim_cli(
        "sweep", str(SEED), "--vary", "traffic.requests_per_day=1e5:1e6:\u0663", cwd=tmp_path
    )
    refused_cleanly(r, tmp_path, "STEPS must be a whole number")
    (tmp_path / "book.toml").write_bytes(b"\xff\xfe binary")
    r = sim_cli("prices", "--book", str(tmp_path / "book.toml"), cwd=tmp_path)
    refused_cleanly(r, tmp_path, "not UTF-8")
