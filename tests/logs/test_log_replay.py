"""Exact replay of logged requests (traffic.model = "access_log"): every hourly meter against an
independent reference computed here request by request, connection by connection."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.config import scenario_from_dict
from sim.errors import ConfigError
from sim.logs.requests import connection_spans, load_requests, normalize

HOUR = 3600.0
T0 = 1_764_547_200.0  # 2025-12-01T00:00:00Z
IDLE = 60.0


def raw_log(rng: np.random.Generator, n: int, hours: float, clients: int) -> pa.Table:
    """A reader's table (the readers' schema): ``n`` requests over ``hours`` from ``clients``
    client connections, with gaps longer than the idle timeout on some of them, some durations
    and request sizes unknown."""
    t = T0 + np.sort(rng.random(n) * hours * HOUR)
    keys = np.array([f"198.51.100.{i % 250}:{30000 + i}" for i in range(clients)])
    client = keys[rng.integers(0, clients, n)]
    duration = rng.random(n) * 300.0
    unknown = rng.random(n) < 0.05
    return pa.table(
        {
            "time_s": t,
            "request_bytes": pa.array(rng.integers(200, 5000, n), pa.int64()),
            "response_bytes": pa.array(rng.integers(100, 90_000, n), pa.int64()),
            "client": client,
            "route": np.array(["/a", "/b/c", "/"])[rng.integers(0, 3, n)],
            "method": ["GET"] * n,
            "duration_ms": pa.array(np.where(unknown, np.nan, duration), from_pandas=True),
            "status": pa.array(np.full(n, 200), pa.int32()),
            "event_type": pa.nulls(n, pa.string()),
        }
    )


def write_table(tmp_path: Path, raw: pa.Table) -> Path:
    path = tmp_path / "requests.parquet"
    pq.write_table(normalize(raw, salt=b"test"), path)
    return path


def scenario(path: Path, start: str, hours: float, warmup_s: int = 0, **traffic: Any) -> Any:
    if "begin" in traffic:
        traffic["begin"] = datetime.fromisoformat(traffic["begin"])
    data = {
        "scenario": {
            "name": "logs",
            "start": datetime.fromisoformat(start),
            "duration_days": hours / 24,
            "region": "us-east-1",
        },
        "traffic": {"model": "access_log", "path": str(path), **traffic},
        "backend": {"duration": {"model": "fixed", "ms": 40.0}},
        "connections": {"model": "per_connection", "requests_per_connection": 1, "lifetime_s": 5,
                        "lifetime_distribution": "fixed"},
        "engine": {"fidelity": "request", "warmup_s": warmup_s},
    }  # fmt: skip
    return scenario_from_dict(data, "<test>")


def reference_connections(
    t: np.ndarray[Any, Any], client: list[str | None], done: np.ndarray[Any, Any]
) -> list[tuple[float, float]]:
    """(start, end) of every logged connection, one client key at a time (a plain loop)."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(client):
        if k is not None:
            by_key[k].append(i)
    out = []
    for rows in by_key.values():
        rows.sort(key=lambda i: t[i])
        start, latest = t[rows[0]], done[rows[0]]
        for i in rows[1:]:
            if t[i] > latest + IDLE:
                out.append((start, latest + IDLE))
                start, latest = t[i], done[i]
            else:
                latest = max(latest, done[i])
        out.append((start, latest + IDLE))
    return out


def hourly_reference(
    raw: pa.Table, period_start: float, hours: int, shift: float, model_ms: float
) -> dict[str, np.ndarray[Any, Any]]:
    t = raw.column("time_s").to_numpy() + shift
    logged_ms = raw.column("duration_ms").to_numpy(zero_copy_only=False)
    dur = np.where(np.isnan(logged_ms), model_ms, logged_ms)
    done = t + np.where(np.isnan(logged_ms), 0.0, logged_ms) / 1000.0
    end_of_period = period_start + hours * HOUR
    inside = (t >= period_start) & (t < end_of_period)
    h = np.floor((t[inside] - period_start) / HOUR).astype(int)
    out = {
        "requests": np.bincount(h, minlength=hours),
        "request_bytes": np.bincount(
            h, raw.column("request_bytes").to_numpy()[inside], minlength=hours
        ),
        "response_bytes": np.bincount(
            h, raw.column("response_bytes").to_numpy()[inside], minlength=hours
        ),
        "direct_billed_ms": np.bincount(h, np.ceil(dur[inside]), minlength=hours),
    }
    new = np.zeros(hours)
    active = np.zeros(hours)
    for start, end in reference_connections(t, raw.column("client").to_pylist(), done):
        if start >= end_of_period or end <= period_start:
            continue
        if start >= period_start:
            new[int((start - period_start) // HOUR)] += 1
        a, b = max(start, period_start), min(end, end_of_period)
        for k in range(hours):
            lo, hi = period_start + k * HOUR, period_start + (k + 1) * HOUR
            active[k] += max(0.0, min(b, hi) - max(a, lo))
    out["new_connections"] = new
    out["active_connections"] = active / HOUR
    return out


def replayed(s: Any) -> dict[str, np.ndarray[Any, Any]]:
    from sim.engine import simulate

    table = simulate(s, seed=7)
    return {k: np.asarray(table.column(k).to_numpy(), dtype=np.float64) for k in table.column_names}


def assert_meters(got: dict[str, Any], want: dict[str, Any]) -> None:
    for name, values in want.items():
        if name == "active_connections":
            np.testing.assert_allclose(got[name], values, rtol=1e-9, atol=1e-9, err_msg=name)
        else:
            np.testing.assert_array_equal(got[name], values, err_msg=name)


def test_every_hourly_meter_is_the_logs(tmp_path: Path) -> None:
    """A 3-hour log replayed over its own hours: requests, bytes, billed ms, new and active
    connections equal the reference exactly (connection-seconds to float rounding)."""
    raw = raw_log(np.random.default_rng(1), 30_000, 3.0, 700)
    path = write_table(tmp_path, raw)
    s = scenario(path, "2025-12-01T00:00:00Z", 3)
    assert_meters(replayed(s), hourly_reference(raw, T0, 3, 0.0, 40.0))


def test_a_period_inside_the_log_shifted_to_another_date(tmp_path: Path) -> None:
    """Only the logged hour 1 to 2, played on 2026-11-01: the connections open at its start are
    open (not new), and nothing outside it plays."""
    raw = raw_log(np.random.default_rng(2), 20_000, 3.0, 300)
    path = write_table(tmp_path, raw)
    start = 1_761_955_200.0  # 2026-11-01T00:00:00Z
    s = scenario(path, "2026-11-01T00:00:00Z", 1, begin="2025-12-01T01:00:00Z")
    want = hourly_reference(raw, start, 1, start - (T0 + HOUR), 40.0)
    got = replayed(s)
    assert_meters(got, want)
    assert got["requests"][0] < 20_000 / 2  # the hours around it did not play


def test_a_warm_up_plays_the_logs_before_the_period(tmp_path: Path) -> None:
    """Logged hours 1 and 2 after a warm-up over hour 0: the meters are the logs' for those hours
    (the connections open at 01:00 are open, not new); without the warm-up, the same (the logs
    say which were open). A replay plays its logs from ``begin``, the warm-up from before it."""
    raw = raw_log(np.random.default_rng(4), 30_000, 3.0, 500)
    path = write_table(tmp_path, raw)
    want = hourly_reference(raw, T0 + HOUR, 2, 0.0, 40.0)
    begin = "2025-12-01T01:00:00Z"
    warm = replayed(scenario(path, "2025-12-01T01:00:00Z", 2, warmup_s=3600, begin=begin))
    assert_meters(warm, want)
    cold = replayed(scenario(path, "2025-12-01T01:00:00Z", 2, begin=begin))
    assert_meters(cold, want)
    assert warm["requests"].sum() < 30_000 * 0.7  # hour 0 played but was not billed


def test_requests_without_a_logged_connection_take_the_model(tmp_path: Path) -> None:
    """API Gateway logs name no client connection: with one request per connection and a fixed
    5 s lifetime, each request opens one connection of exactly 5 s."""
    raw = raw_log(np.random.default_rng(3), 5_000, 1.0, 10)
    raw = raw.set_column(3, "client", pa.nulls(raw.num_rows, pa.string()))
    path = write_table(tmp_path, raw)
    got = replayed(scenario(path, "2025-12-01T00:00:00Z", 1))
    t = raw.column("time_s").to_numpy()
    assert got["new_connections"][0] == 5_000
    want_s = np.minimum(t + 5.0, T0 + HOUR) - t
    assert got["active_connections"][0] == pytest.approx(want_s.sum() / HOUR, rel=1e-12)


def test_unknown_sizes_are_drawn_from_the_payload_model(tmp_path: Path) -> None:
    raw = raw_log(np.random.default_rng(4), 2_000, 1.0, 50)
    req = raw.column("request_bytes").to_numpy().copy()
    known = np.arange(req.size) % 2 == 0
    raw = raw.set_column(1, "request_bytes", pa.array(np.where(known, req, 0), mask=~known))
    path = write_table(tmp_path, raw)
    s = scenario(path, "2025-12-01T00:00:00Z", 1)
    s = s.model_copy(update={"payload": s.payload.model_copy(update={"request": _fixed(777)})})
    got = replayed(s)
    assert got["request_bytes"][0] == req[known].sum() + 777 * (~known).sum()


def _fixed(size: int) -> Any:
    from sim.config import FixedSize

    return FixedSize(model="fixed", bytes=size)


def test_durations_from_the_model_when_asked(tmp_path: Path) -> None:
    raw = raw_log(np.random.default_rng(5), 3_000, 1.0, 50)
    path = write_table(tmp_path, raw)
    got = replayed(scenario(path, "2025-12-01T00:00:00Z", 1, durations="model"))
    assert got["direct_billed_ms"][0] == 40 * 3_000


def test_connection_spans_split_on_idle_gaps() -> None:
    """One client key: requests at 0, 10 (200 ms), 100, 155 and 216 s; idle 60 s. The gaps
    10.2 -> 100 and 155 -> 216 are longer than 60 s: connections 0-70.2, 100-215, 216-276 s."""
    raw = pa.table(
        {
            "time_s": T0 + np.array([0.0, 10.0, 100.0, 155.0, 216.0]),
            "request_bytes": pa.array([1] * 5, pa.int64()),
            "response_bytes": pa.array([1] * 5, pa.int64()),
            "client": ["k"] * 5,
            "route": ["/"] * 5,
            "method": ["GET"] * 5,
            "duration_ms": [0.0, 200.0, 0.0, 0.0, 0.0],
            "status": pa.array([200] * 5, pa.int32()),
            "event_type": pa.nulls(5, pa.string()),
        }
    )
    from sim.logs.requests import RequestLog

    spans = connection_spans(RequestLog("<t>", normalize(raw), {}), IDLE)
    assert spans.opens.tolist() == [True, False, True, False, True]
    np.testing.assert_allclose(spans.end_s - T0, [10.2 + IDLE, 155.0 + IDLE, 216.0 + IDLE])


def test_what_cannot_replay_is_refused(tmp_path: Path) -> None:
    raw = raw_log(np.random.default_rng(6), 100, 1.0, 5)
    path = write_table(tmp_path, raw)
    with pytest.raises(ConfigError, match="'request' fidelity"):
        s = scenario(path, "2025-12-01T00:00:00Z", 1)
        from sim.engine import simulate

        simulate(s, fidelity="aggregate")
    with pytest.raises(ConfigError, match="no logged request falls in the period"):
        scenario(path, "2026-01-01T00:00:00Z", 1, begin="2026-01-01T00:00:00Z")
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"time_s": [T0]}), bad)
    with pytest.raises(ConfigError, match="not a request table"):
        scenario(bad, "2025-12-01T00:00:00Z", 1)


def test_a_table_is_read_once_per_version(tmp_path: Path) -> None:
    raw = raw_log(np.random.default_rng(8), 100, 1.0, 5)
    path = write_table(tmp_path, raw)
    first = load_requests(str(path))
    assert load_requests(str(path)) is first
    pq.write_table(normalize(raw.slice(0, 50), salt=b"x"), path)
    again = load_requests(str(path))
    assert again.n == 50
    assert not math.isnan(again.first_s)


def test_alb_log_files_replay_exactly(tmp_path: Path) -> None:
    """ALB access logs as AWS writes them (gzip, one file per 5 minutes, lines out of order within
    a file, a malformed line), read from their directory: the same meters as the reference."""
    import gzip

    from logs_helpers import alb_line

    rng = np.random.default_rng(21)
    raw = raw_log(rng, 6_000, 1.0, 150)
    t = np.round(raw.column("time_s").to_numpy() * 1e6) / 1e6  # as logged: microseconds
    ms = rng.integers(0, 400, t.size).astype(np.float64)  # whole ms: "0.123" is exact
    clients = raw.column("client").to_pylist()
    req = raw.column("request_bytes").to_numpy()
    resp = raw.column("response_bytes").to_numpy()
    # a third of the connections logged with a conn_trace_id, the rest by client:port only
    conn = [f"TID_{c.replace('.', '').replace(':', '_')}" if int(c[-1]) % 3 == 0 else "-"
            for c in clients]  # fmt: skip
    keyed = [k if k != "-" else c for k, c in zip(conn, clients, strict=True)]
    lines = [
        alb_line(t_s=float(t[i]), client=clients[i], target_time=f"{ms[i] / 1000:.3f}",
                 received=str(req[i]), sent=str(resp[i]), conn=conn[i],
                 request=f"GET https://api.example.com:443/r{i % 5}?q=1 HTTP/1.1")
        for i in range(t.size)
    ]  # fmt: skip
    logs = tmp_path / "AWSLogs"
    bucket = np.floor((t - T0) / 300).astype(int)
    for b in np.unique(bucket):
        rows = np.flatnonzero(bucket == b)
        rng.shuffle(rows)
        text = [lines[i] for i in rows]
        if b == 3:
            text.insert(5, "https 2025-12-01T00:15:00Z this line is cut short")
        (logs / f"{b:02d}").mkdir(parents=True)
        (logs / f"{b:02d}" / f"elb_{b:03d}.log.gz").write_bytes(
            gzip.compress("".join(x + "\n" for x in text).encode())
        )
    s = scenario(logs, "2025-12-01T00:00:00Z", 1)
    logged = raw.set_column(6, "duration_ms", pa.array(ms))
    logged = logged.set_column(0, "time_s", pa.array(t))
    logged = logged.set_column(3, "client", pa.array(keyed))
    assert_meters(replayed(s), hourly_reference(logged, T0, 1, 0.0, 40.0))
    summary = load_requests(str(logs)).source
    assert summary["malformed"] == 1 and summary["lines"] == t.size + 1


def test_the_period_comes_from_the_logs_or_the_trace(tmp_path: Path) -> None:
    """Without scenario.start and a length, a replay covers what it replays: the logs' clock hours
    (from the hour of the first request to the end of the last one's), a trace's whole span."""
    raw = raw_log(np.random.default_rng(9), 500, 2.5, 20)
    path = write_table(tmp_path, raw)
    data = {
        "scenario": {"name": "logs", "region": "us-east-1"},
        "traffic": {"model": "access_log", "path": str(path)},
    }
    s = scenario_from_dict(data, "<test>").scenario
    assert s.start == datetime.fromtimestamp(T0, UTC)
    assert s.duration_s == 3 * 3600
    trace = tmp_path / "trace.csv"
    trace.write_text(
        "timestamp,requests\n2026-11-01T00:00:30Z,5\n2026-11-01T00:00:31Z,0\n2026-11-01T00:00:32Z,7\n"
    )
    data["traffic"] = {"model": "replay", "path": str(trace), "loop": False}
    s = scenario_from_dict(data, "<test>").scenario
    assert s.start == datetime(2026, 11, 1, 0, 0, 30, tzinfo=UTC)
    assert s.duration_s == 3


def test_whole_second_times_are_spread_evenly_over_their_second() -> None:
    """CloudFront logs the second only: 4 requests in one second play at .125, .375, .625, .875,
    in log order; a lone one at .5."""
    t = T0 + np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    raw = pa.table(
        {
            "time_s": t,
            "request_bytes": pa.array([1, 2, 3, 4, 5], pa.int64()),
            "response_bytes": pa.array([1] * 5, pa.int64()),
            "client": pa.nulls(5, pa.string()),
            "route": ["/"] * 5,
            "method": ["GET"] * 5,
            "duration_ms": [0.0] * 5,
            "status": pa.array([200] * 5, pa.int32()),
            "event_type": pa.nulls(5, pa.string()),
        }
    )
    table = normalize(raw, whole_seconds=True)
    np.testing.assert_allclose(
        table.column("time_s").to_numpy() - T0, [0.125, 0.375, 0.625, 0.875, 1.5]
    )
    assert table.column("request_bytes").to_pylist() == [1, 2, 3, 4, 5]


def test_logs_too_large_for_the_machine_are_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gzip trailer says how much text a file holds: with 1 MB available, 600 kB of logs
    (4,000 lines of at least 150 bytes, 400 bytes each to read) is refused, naming the need."""
    import gzip

    import sim.resources
    from sim.errors import TraceError
    from sim.logs.requests import log_bytes

    text = ("x" * 599 + "\n") * 1000
    path = tmp_path / "big.log.gz"
    path.write_bytes(gzip.compress(text.encode()))
    assert log_bytes(str(path)) == len(text)
    monkeypatch.setattr(sim.resources, "available_memory_bytes", lambda: 1_000_000)
    with pytest.raises(TraceError, match="refused before reading"):
        load_requests(str(path))


def test_api_gateway_request_times_to_the_second_are_spread(tmp_path: Path) -> None:
    """API Gateway's requestTime gives the second only: those requests are spread over their
    second (else the token bucket would see each second's requests at once); requestTimeEpoch's
    milliseconds are kept as logged."""
    from logs_helpers import apigw_line, write

    lines = [apigw_line(requestTime="01/Dec/2025:00:00:05 +0000", status=200) for _ in range(4)]
    lines.append(apigw_line(requestTimeEpoch=str(int(T0 * 1000) + 7250), status=200))
    path = write(tmp_path / "api.log", lines)
    t = load_requests(str(path)).time_s - T0
    np.testing.assert_allclose(t, [5.125, 5.375, 5.625, 5.875, 7.25])


def test_a_period_from_logs_ends_with_the_last_requests_clock_hour(tmp_path: Path) -> None:
    """Logs from 00:00 to about 02:30 with begin 00:20 and no length: the period runs from
    00:20 to 03:00 (the end of the last request's clock hour), not to 03:20."""
    rng = np.random.default_rng(4)
    raw = raw_log(rng, 300, 2.5, 10)
    path = write_table(tmp_path, raw)
    begin = datetime.fromtimestamp(T0 + 1200, UTC)
    data = {
        "scenario": {"name": "logs", "region": "us-east-1"},
        "traffic": {"model": "access_log", "path": str(path), "begin": begin},
    }
    s = scenario_from_dict(data, "<test>").scenario
    assert s.start == begin
    assert s.duration_s == 3 * 3600 - 1200


def test_a_request_table_with_an_impossible_value_is_refused(tmp_path: Path) -> None:
    from sim.errors import TraceError

    raw = raw_log(np.random.default_rng(2), 50, 1.0, 5)
    table = normalize(raw, salt=b"x")
    for bad in (float("nan"), float("inf"), 1e300):
        dur = table.column("duration_ms").to_numpy(zero_copy_only=False).copy()
        dur[7] = bad
        path = tmp_path / "bad.parquet"
        pq.write_table(table.set_column(6, "duration_ms", pa.array(dur)), path)
        with pytest.raises(TraceError, match="row 8: duration_ms is"):
            load_requests(str(path))


def test_a_log_directory_holding_sims_outputs_reads_only_the_logs(tmp_path: Path) -> None:
    """'sim logs convert DIR --out DIR/requests.parquet', then DIR again: the table is no log."""
    from logs_helpers import alb_line, write

    from sim.logs.readers import read_access_logs

    logs = tmp_path / "logs"
    write(logs / "a.log", [alb_line(t_s=T0 + i) for i in range(5)])
    pq.write_table(normalize(raw_log(np.random.default_rng(1), 5, 1.0, 2)), logs / "r.parquet")
    table, report = read_access_logs(str(logs))
    assert table.num_rows == 5 and len(report.files) == 1


def test_bytes_that_are_not_utf8_in_the_first_lines_are_no_crash(tmp_path: Path) -> None:
    from logs_helpers import alb_line

    from sim.logs.readers import read_access_logs

    good = [alb_line(t_s=T0 + i).encode() for i in range(300)]
    good[3] = good[3].replace(b"curl/7.46.0", b"curl/\xff\xfe")
    path = tmp_path / "a.log"
    path.write_bytes(b"\n".join(good) + b"\n")
    table, report = read_access_logs(str(path))
    assert table.num_rows == 300 and report.malformed == 0
