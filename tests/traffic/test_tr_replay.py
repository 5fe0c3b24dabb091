"""Replay of traces: exact counts, Poisson spreading within a step, scale, shift, loop, formats, path
resolution, and bad trace files (file and line named, exit status 2)."""

from __future__ import annotations

import gzip
import math
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import CONFIGS, SEED, TRACES, scenario_with
from scipy import stats

from sim._model import tuples
from sim.config import load_scenario
from sim.errors import ConfigError, TraceError
from sim.traffic.arrivals import arrivals_for, build_arrivals
from sim.traffic.models import ReplayTraffic
from sim.traffic.traces import load_trace

NASA = TRACES / "nasa-http-1995-per-second.parquet"
WORLDCUP = TRACES / "worldcup98-per-minute.csv.gz"
needs_traces = pytest.mark.skipif(
    not (NASA.exists() and WORLDCUP.exists()),
    reason=f"the real traces are not at {TRACES} (../shared/traces beside the repository)",
)
START = datetime(2026, 11, 1, tzinfo=UTC).timestamp()


def write_csv(path: Path, rows: list[tuple[str, Any]], header: str = "timestamp,requests") -> Path:
    text = header + "\n" + "".join(f"{t},{c}\n" for t, c in rows)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def replay(path: Path, **kw: Any) -> ReplayTraffic:
    return ReplayTraffic.model_validate(tuples({"model": "replay", "path": str(path), **kw}))


def play(cfg: ReplayTraffic, seconds: int, window: int, seed: int = 0) -> np.ndarray:
    process = build_arrivals(cfg, start_epoch_s=START)
    rng = np.random.default_rng(seed)
    out = [
        process.counts(rng, START + np.arange(a, min(a + window, seconds)) + 0.5)
        for a in range(0, seconds, window)
    ]
    return np.concatenate(out)


def minute_trace(tmp_path: Path, counts: list[int], t0: float = 1_000_000_020.0) -> Path:
    # 1_000_000_020 is a whole minute since the epoch
    rows = [(iso(t0 + 60 * i), c) for i, c in enumerate(counts)]
    return write_csv(tmp_path / "m.csv.gz", rows)


@pytest.mark.parametrize("window", [3600, 45, 86_400])
def test_per_minute_counts_are_kept_exactly_and_spread_uniformly(
    tmp_path: Path, window: int
) -> None:
    """Every minute's total is the trace's, whatever the windows (a minute cut by a window keeps
    its draw); begin 30 s into a minute misaligns minutes and windows on purpose. Within minutes,
    the second a request lands in is uniform: a χ² test over the 60 positions."""
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 400, size=300).tolist()
    path = minute_trace(tmp_path, counts)
    cfg = replay(path, begin=datetime.fromtimestamp(1_000_000_020 + 30, UTC))
    got = play(cfg, 299 * 60, window)
    # simulated second s plays trace second s + 30
    per_minute = np.add.reduceat(got, np.arange(30, got.size, 60))
    assert per_minute[:-1].tolist() == counts[1:-1]
    positions = got[30 : 30 + 298 * 60].reshape(298, 60).sum(axis=0)
    assert stats.chisquare(positions).pvalue > 1e-4


def test_per_second_counts_replay_exactly_and_loop(tmp_path: Path) -> None:
    t0 = 1_500_000_000
    counts = [3, 0, 1, 4, 1, 5, 9, 2, 6, 5]
    rows = [(t0 + i, c) for i, c in enumerate(counts) if c]  # zero rows may be missing
    path = write_csv(tmp_path / "s.csv", rows)
    got = play(replay(path), 35, 7)
    assert got.tolist() == (counts * 4)[:35]
    # without loop the traffic stops with the trace
    got = play(replay(path, loop=False), 25, 4)
    assert got.tolist() == counts + [0] * 15


def test_scale_and_requests_per_day(tmp_path: Path) -> None:
    """Scale 2.5: each request becomes 2 plus Binomial(1, 0.5): mean 2.5 C, variance C/4."""
    counts = [1000] * 600
    path = minute_trace(tmp_path, counts)
    got = play(replay(path, scale=2.5), 600 * 60, 3600).sum()
    c = sum(counts)
    assert abs(got - 2.5 * c) < 5 * math.sqrt(c / 4)
    # requests_per_day sets the scale from the trace's mean: 1000/60 req/s = 1.44 M/day -> 720 k/day
    p = build_arrivals(replay(path, requests_per_day=720_000), start_epoch_s=START)
    assert p.profile.mean_per_s == pytest.approx(720_000 / 86_400)


def test_timestamps_file_is_binned_per_second(tmp_path: Path) -> None:
    t0 = 1_600_000_000.0
    times = [t0 + 0.1, t0 + 0.9, t0 + 2.5, t0 + 2.5, t0 + 2.7, t0 + 5.0]
    path = tmp_path / "requests.parquet"
    pq.write_table(pa.table({"timestamp": pa.array(times)}), path)
    trace = load_trace(str(path))
    assert trace.kind == "timestamps" and trace.counts.tolist() == [2, 0, 3, 0, 0, 1]
    assert play(replay(path), 6, 6).tolist() == [2, 0, 3, 0, 0, 1]


def test_relative_path_resolves_against_the_scenario_file(tmp_path: Path) -> None:
    (tmp_path / "traces").mkdir()
    minute_trace(tmp_path / "traces", [60] * 10)
    scenario = tmp_path / "my.toml"
    scenario.write_text(
        SEED.read_text()
        .replace('model = "daily_cycle"', 'model = "replay"\npath = "traces/m.csv.gz"\n#')
        .replace("requests_per_day", "# requests_per_day")
        .replace("peak_requests_per_s", "# peak")
        .replace("peak_hour_utc", "# peak_hour")
    )
    s = load_scenario(scenario, ["scenario.duration_days=0.01"])
    assert Path(s.traffic.path) == (tmp_path / "traces" / "m.csv.gz").resolve()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            [("2020-01-01T00:00:00Z", 5), ("2020-01-01T00:00:01Z", -2)],
            "line 3: negative requests -2",
        ),
        ([("2020-01-01T00:01:00Z", 5), ("2020-01-01T00:00:00Z", 1)], "line 3: timestamp"),
        ([("2020-01-01T00:00:00Z", 5), ("2020-01-01T00:00:00Z", 1)], "sorted and unique"),
        ([("2020-01-01T00:00:00Z", 5), ("yesterday", 1)], "line 3: timestamp 'yesterday'"),
        (
            [("2020-01-01T00:00:00Z", 5), ("2020-01-01T00:00:01Z", "many")],
            "line 3: requests 'many'",
        ),
        ([("2020-01-01T00:00:00Z", 5), ("2020-01-01T00:00:01Z", 1.5)], "line 3: requests 1.5"),
        (
            [("2020-01-01T00:00:00Z", 5), ("2020-01-01T00:01:00Z", 1), ("2020-01-01T00:02:30Z", 1)],
            "line 4: timestamp 2020-01-01T00:02:30Z is off the trace's 60-second grid",
        ),
        ([("2020-01-01T00:00:00Z", 0)], "holds no requests"),
        ([("2020-01-01T00:00:00Z", "")], "line 2: missing requests"),
    ],
)
def test_bad_trace_files_name_the_file_and_line(
    tmp_path: Path, rows: list[tuple[str, Any]], expected: str
) -> None:
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(TraceError) as exc:
        load_trace(str(path))
    assert str(path) in str(exc.value) and expected in str(exc.value)


def test_empty_and_malformed_files(tmp_path: Path) -> None:
    cases = {
        "empty.csv": (b"", "is empty"),
        "header.csv": (b"timestamp,requests\n", "no data rows"),
        "fields.csv": (
            b"timestamp,requests\n2020-01-01T00:00:00Z,1\n2020-01-01T00:00:01Z,1,7\n",
            "line 3: expected 2 fields",
        ),
        "columns.csv": (b"time,count\n2020-01-01T00:00:00Z,1\n", "no column 'timestamp'"),
        "garbage.parquet": (b"not parquet at all", "not a readable Parquet file"),
        "garbage.csv.gz": (b"not gzip", "cannot be read as CSV"),
    }
    for name, (data, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(TraceError) as exc:
            load_trace(str(path))
        assert str(path) in str(exc.value) and expected in str(exc.value), (name, exc.value)
    with pytest.raises(TraceError, match="not found"):
        load_trace(str(tmp_path / "missing.csv"))


def test_bad_trace_in_a_scenario_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "neg.csv", [("2020-01-01T00:00:00Z", 1), ("2020-01-01T00:00:01Z", -4)]
    )
    with pytest.raises(ConfigError) as exc:
        scenario_with(f"traffic={{model='replay', path='{path}'}}")
    assert dict(exc.value.problems)["traffic.path"].startswith(f"{path}, line 3: negative")
    good = write_csv(tmp_path / "good.csv", [("2020-01-01T00:00:00Z", 1)])
    with pytest.raises(ConfigError, match="is outside the trace"):
        scenario_with(f"traffic={{model='replay', path='{good}', begin=2021-01-01T00:00:00Z}}")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sim",
            "run",
            str(SEED),
            "--set",
            f"traffic={{model='replay', path='{path}'}}",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    err = " ".join(r.stderr.split())  # the terminal may wrap long lines
    assert r.returncode == 2 and r.stdout == "" and "neg.csv, line 3: negative requests" in err
    assert not (tmp_path / "out").exists()


@needs_traces
def test_shipped_replay_configs_point_at_the_traces() -> None:
    for name, trace in (("nasa-replay", NASA), ("worldcup98-replay", WORLDCUP)):
        s = load_scenario(CONFIGS / f"{name}.toml")
        assert Path(s.traffic.path) == trace.resolve()  # type: ignore[union-attr]


@needs_traces
def test_worldcup_replay_reproduces_the_trace_minute_by_minute() -> None:
    s = load_scenario(CONFIGS / "worldcup98-replay.toml", ["scenario.duration_days=0.5"])
    process = arrivals_for(s)
    rng = np.random.default_rng(0)
    got = np.concatenate(
        [process.counts(rng, START + np.arange(a, a + 3600) + 0.5) for a in range(0, 43_200, 3600)]
    )
    trace = load_trace(str(WORLDCUP))
    first = (int(datetime(1998, 6, 10, tzinfo=UTC).timestamp()) - trace.start_epoch_s) // 60
    assert got.reshape(-1, 60).sum(axis=1).tolist() == trace.counts[first : first + 720].tolist()


@needs_traces
def test_nasa_replay_runs_and_keeps_every_request() -> None:
    from sim.engine import simulate

    s = load_scenario(CONFIGS / "nasa-replay.toml", ["scenario.duration_days=2"])
    m = simulate(s)
    trace = load_trace(str(NASA))
    first = int(datetime(1995, 7, 2, tzinfo=UTC).timestamp()) - trace.start_epoch_s
    expected = trace.counts[first : first + 2 * 86_400].reshape(48, 3600).sum(axis=1)
    assert m.column("requests").to_numpy().tolist() == expected.tolist()
