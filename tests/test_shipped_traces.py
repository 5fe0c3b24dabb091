"""The trace excerpts in ``configs/traces/`` and the one-day configs that replay them: small, shipped
(in the sdist, not git-ignored), the full traces' rows for that day, and runnable from a fresh clone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.csv as pcsv
import pytest
from conftest import CONFIGS, ROOT, TRACES

from sim.config import load_scenario, read_toml
from sim.traffic.traces import load_trace, replayed_trace

#: config -> (excerpt, full trace, the day it holds)
DAYS = {
    "nasa-day": (
        "nasa-http-1995-07-13-per-second.csv.gz",
        "nasa-http-1995-per-second.parquet",
        datetime(1995, 7, 13, tzinfo=UTC),
    ),
    "worldcup98-day": (
        "worldcup98-1998-06-30-per-minute.csv.gz",
        "worldcup98-per-minute.csv.gz",
        datetime(1998, 6, 30, tzinfo=UTC),
    ),
}
EXCERPTS = CONFIGS / "traces"


@pytest.mark.parametrize("name", DAYS)
def test_the_excerpt_is_small_and_covers_the_day(name: str) -> None:
    excerpt, _, day = DAYS[name]
    path = EXCERPTS / excerpt
    assert path.stat().st_size < 1_000_000
    table = pcsv.read_csv(path)
    assert table.column_names == ["timestamp", "requests"]
    trace = load_trace(str(path))
    assert trace.start_epoch_s == int(day.timestamp())
    assert trace.span_s == 86_400
    assert table.num_rows == 86_400 // trace.step_s  # every step has its row, zeros included
    assert excerpt in (EXCERPTS / "README.md").read_text()


@pytest.mark.parametrize("name", DAYS)
def test_the_day_config_replays_its_excerpt_for_one_day(name: str) -> None:
    excerpt, _, day = DAYS[name]
    assert read_toml(CONFIGS / f"{name}.toml")["scenario"]["duration"] == "1d"
    s = load_scenario(CONFIGS / f"{name}.toml")
    assert s.scenario.duration_s == 86_400
    assert s.traffic.model == "replay"
    assert Path(s.traffic.path) == (EXCERPTS / excerpt).resolve()
    assert s.traffic.begin == day
    assert replayed_trace(s.traffic).start_epoch_s == int(day.timestamp())


@pytest.mark.parametrize("name", DAYS)
def test_the_excerpt_is_the_full_traces_day(name: str) -> None:
    excerpt, full, day = DAYS[name]
    if not (TRACES / full).exists():
        pytest.skip(f"the full trace is not at {TRACES / full} (../shared/traces)")
    whole = load_trace(str(TRACES / full))
    part = load_trace(str(EXCERPTS / excerpt))
    assert part.step_s == whole.step_s
    first = (int(day.timestamp()) - whole.start_epoch_s) // whole.step_s
    assert part.counts.tolist() == whole.counts[first : first + part.counts.size].tolist()


def test_the_excerpts_are_shipped() -> None:
    sdist = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert "configs" in sdist["targets"]["sdist"]["include"]
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    paths = [str(p.relative_to(ROOT)) for p in sorted(EXCERPTS.iterdir())]
    r = subprocess.run(
        ["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1 and r.stdout == "", f"git-ignored: {r.stdout}"


def fresh_copy(tmp_path: Path, name: str) -> Path:
    """The config and its excerpt alone, as a fresh clone has them (no ../shared beside it)."""
    root = tmp_path / "clone"
    (root / "configs" / "traces").mkdir(parents=True)
    shutil.copy(CONFIGS / f"{name}.toml", root / "configs")
    shutil.copy(EXCERPTS / DAYS[name][0], root / "configs" / "traces")
    return root / "configs" / f"{name}.toml"


@pytest.mark.parametrize(
    ("name", "overrides", "hours"),
    [("nasa-day", [], 24), ("worldcup98-day", ["--set", "scenario.duration='90m'"], 2)],
)
def test_the_day_config_runs_from_a_fresh_clone(
    tmp_path: Path, name: str, overrides: list[str], hours: int
) -> None:
    """``sim run`` of the copied config: every request of the excerpt's replayed span is metered
    (the world cup day shortened to its first 90 minutes: the whole day is 75 M requests)."""
    config = fresh_copy(tmp_path, name)
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(config), "--out", str(out), "--no-plots", "-q",
         *overrides],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    trace = load_trace(str(EXCERPTS / DAYS[name][0]))
    seconds = summary["period"]["duration_s"]
    assert summary["period"]["hours_metered"] == hours
    assert summary["traffic"]["requests"] == int(trace.counts[: seconds // trace.step_s].sum())
    assert summary["options"] and summary["ranking"]
