"""Replay of a series file (``format = "series"``): bare counts, one per line or whitespace-separated,
no header nor timestamps, with ``step_s`` and ``begin``; bad tokens name the file and the line."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import scenario_with

from sim._model import tuples
from sim.errors import ConfigError, TraceError
from sim.traffic.arrivals import build_arrivals
from sim.traffic.models import ReplayTraffic
from sim.traffic.traces import MAX_COUNT, load_trace, replayed_trace

BEGIN = datetime(2026, 11, 1, tzinfo=UTC)
START = BEGIN.timestamp()


def series(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def replay(path: Path, **kw: Any) -> ReplayTraffic:
    return ReplayTraffic.model_validate(tuples({"model": "replay", "path": str(path), **kw}))


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("lines.txt", "5\n3\n0\n7\n1\n2\n"),
        ("spaces.txt", "5 3 0\n7\t1   2"),
        ("crlf.txt", "5\r\n3\r\n0\r\n7\r\n1\r\n2\r\n\r\n"),
        ("one-line.csv.gz", " 5 3 0 7 1 2 \n"),
    ],
)
def test_a_series_loads_in_every_layout(tmp_path: Path, name: str, text: str) -> None:
    path = series(tmp_path / name, text)
    trace = load_trace(str(path), "series", step_s=60, begin=BEGIN)
    assert trace.counts.tolist() == [int(t) for t in text.split()]
    assert trace.step_s == 60 and trace.start_epoch_s == int(START)
    assert trace.span_s == 60 * len(text.split())


def test_a_long_line_of_counts_is_a_series_not_a_csv(tmp_path: Path) -> None:
    """The file that failed with "field larger than field limit (131072)": one line, 100,000 counts."""
    counts = np.random.default_rng(3).integers(0, 50, size=100_000)
    path = series(tmp_path / "counts.txt", " ".join(map(str, counts)) + "\n")
    trace = load_trace(str(path), "series", step_s=1, begin=BEGIN)
    assert trace.counts.tolist() == counts.tolist()
    with pytest.raises(TraceError, match="format = 'series'") as exc:
        load_trace(str(path))  # auto: the hint says what to give
    assert len(str(exc.value)) < 600


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("5\n3\n-2\n", 3, "negative count -2 (counts must be ≥ 0)"),
        ("5\n3.5\n", 2, "'3.5' is not a whole number"),
        ("1 2 3\n4 five 6\n", 2, "'five' is not a whole number"),
        ("requests\n5\n", 1, "a header? series files have none"),
        ("5\n\n\n1e3\n", 4, "'1e3' is not a whole number"),
        ("5,3\n", 1, "'5,3' is not a whole number"),
        ("5\n+3\n", 2, "'+3' is not a whole number"),
        (f"1\n{MAX_COUNT + 1}\n", 2, "too large"),
    ],
)
def test_bad_tokens_name_the_file_and_the_line(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    path = series(tmp_path / "bad.txt", text)
    with pytest.raises(TraceError) as exc:
        load_trace(str(path), "series", step_s=60, begin=BEGIN)
    assert str(exc.value).startswith(f"{path}, line {line}: "), exc.value
    assert expected in str(exc.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", "is empty"), (" \n\n", "holds no counts"), ("0 0\n0\n", "holds no requests")],
)
def test_empty_series(tmp_path: Path, text: str, expected: str) -> None:
    path = series(tmp_path / "empty.txt", text)
    with pytest.raises(TraceError, match=expected):
        load_trace(str(path), "series", step_s=60, begin=BEGIN)


def test_a_series_replays_like_the_same_counts_with_timestamps(tmp_path: Path) -> None:
    """The same per-minute counts, as a series and as a counts CSV: the same arrivals, second by
    second, under the same seed; the series loops like any trace."""
    counts = np.random.default_rng(7).integers(0, 300, size=90)
    text = "\n".join(map(str, counts)) + "\n"
    as_series = replay(series(tmp_path / "m.txt", text), format="series", step_s=60, begin=BEGIN)
    csv = tmp_path / "m.csv"
    rows = "".join(f"{int(START) + 60 * i},{c}\n" for i, c in enumerate(counts))
    csv.write_text("timestamp,requests\n" + rows)
    as_csv = replay(csv)
    assert replayed_trace(as_series).counts.tolist() == replayed_trace(as_csv).counts.tolist()
    seconds = 2 * 90 * 60  # twice through: the replay loops
    got = {}
    for name, cfg in (("series", as_series), ("csv", as_csv)):
        process = build_arrivals(cfg, start_epoch_s=START)
        rng = np.random.default_rng(11)
        got[name] = np.concatenate(
            [
                process.counts(rng, START + np.arange(a, a + 3600) + 0.5)
                for a in range(0, seconds, 3600)
            ]
        )
    assert got["series"].tolist() == got["csv"].tolist()
    per_minute = got["series"].reshape(-1, 60).sum(axis=1)
    assert per_minute.tolist() == np.tile(counts, 2).tolist()


def scenario_problems(traffic: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        scenario_with("scenario.duration_days=0.25", f"traffic={traffic}")
    return dict(exc.value.problems)


def test_series_needs_step_s_and_begin_and_only_series_takes_step_s(tmp_path: Path) -> None:
    path = series(tmp_path / "m.txt", "60\n" * 10)
    ok = scenario_with(
        "scenario.duration_days=0.25",
        f"traffic={{model='replay', path='{path}', format='series', step_s=60, "
        "begin=2026-11-01T00:00:00Z}",
    )
    assert ok.traffic.step_s == 60  # type: ignore[union-attr]
    found = scenario_problems(f"{{model='replay', path='{path}', format='series', step_s=60}}")
    assert "needs step_s" in found["traffic.begin"] and "begin" in found["traffic.begin"]
    found = scenario_problems(
        f"{{model='replay', path='{path}', format='series', begin=2026-11-01T00:00:00Z}}"
    )
    assert "needs step_s" in found["traffic.step_s"]
    found = scenario_problems(
        f"{{model='replay', path='{path}', format='series', step_s=60.0, "
        "begin=2026-11-01T00:00:00Z}"
    )
    assert "expected a whole number" in found["traffic.step_s"]  # strict: no 60.0
    found = scenario_problems(
        f"{{model='replay', path='{path}', format='series', step_s=0, begin=2026-11-01T00:00:00Z}}"
    )
    assert "greater than or equal to 1" in found["traffic.step_s"]
    csv = tmp_path / "c.csv"
    csv.write_text("timestamp,requests\n2026-11-01T00:00:00Z,5\n")
    found = scenario_problems(f"{{model='replay', path='{csv}', step_s=60}}")
    assert "only for format = 'series'" in found["traffic.step_s"]


def test_a_bad_series_in_a_scenario_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = series(tmp_path / "neg.txt", "4\n5\n-1\n")
    found = scenario_problems(
        f"{{model='replay', path='{path}', format='series', step_s=1, begin=2026-11-01T00:00:00Z}}"
    )
    assert found["traffic.path"] == f"{path}, line 3: negative count -1 (counts must be ≥ 0)"


def test_a_scenario_replays_a_series_exactly(tmp_path: Path) -> None:
    from sim.engine import simulate

    counts = np.random.default_rng(5).integers(0, 40, size=3 * 3600)
    path = series(tmp_path / "s.txt.gz", " ".join(map(str, counts)))
    s = scenario_with(
        "scenario.duration='3h'",
        f"traffic={{model='replay', path='{path}', format='series', step_s=1, "
        "begin=2026-11-01T00:00:00Z, loop=false}",
        "cloudfront.origins=[]",
    )
    m = simulate(s)
    assert m.column("requests").to_numpy().tolist() == counts.reshape(3, 3600).sum(axis=1).tolist()
