"""Logs streamed in time order in bounded memory: the reorder window and its late lines, files
ordered by the time their names give, connections worked out batch by batch, the request table
written a row group at a time, the streamed summary. Each is checked against the whole-table
computation (``read_access_logs`` + ``normalize`` + ``connection_spans``), which the older tests
check against references computed line by line."""

from __future__ import annotations

import gzip
import itertools
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from logs_helpers import alb_line
from test_log_replay import T0, assert_meters, hourly_reference, replayed, scenario

from sim.errors import TraceError
from sim.logs.alb import split_request
from sim.logs.conntrack import ConnectionTracker
from sim.logs.readers import read_access_logs
from sim.logs.requests import RequestLog, connection_spans, normalize, write_request_table
from sim.logs.source import SourceOptions, log_index
from sim.logs.stream import LogStream, name_time_s, stable_argsort

IDLE = 60.0


def alb_name(end_s: float, node: str = "10.0.0.7", tag: str = "a1b2") -> str:
    """An ALB log file name as ELB writes it: the end of its 5-minute interval in it."""
    end = datetime.fromtimestamp(end_s, UTC).strftime("%Y%m%dT%H%MZ")
    return f"123456789012_elasticloadbalancing_us-east-1_app.my-alb.50dc6c495c0c9188_{end}_{node}_{tag}.log.gz"


def write_gz(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(x + "\n" for x in lines).encode()))
    return path


def logged_requests(rng: np.random.Generator, n: int, hours: float, clients: int) -> dict[str, Any]:
    """Requests over ``hours`` from keep-alive clients (some gaps longer than the idle timeout),
    as logged: times to the µs, processing times to the ms."""
    t = np.sort(T0 + rng.random(n) * hours * 3600)
    t = np.round(t * 1e6) / 1e6
    client = [f"198.51.100.{i % 250}:{30000 + i}" for i in rng.integers(0, clients, n)]
    return {
        "t": t,
        "client": client,
        "ms": rng.integers(0, 900, n).astype(np.float64),
        "req": rng.integers(200, 5000, n),
        "resp": rng.integers(100, 90_000, n),
    }


def alb_lines(r: dict[str, Any], rows: np.ndarray[Any, Any]) -> list[str]:
    return [
        alb_line(
            t_s=float(r["t"][i]), client=r["client"][i], conn="-",
            target_time=f"{r['ms'][i] / 1000:.3f}", received=str(r["req"][i]),
            sent=str(r["resp"][i]), request=f"GET https://api.example.com:443/r{i % 3}?q=1 HTTP/1.1",
        )
        for i in rows
    ]  # fmt: skip


def write_alb_files(root: Path, r: dict[str, Any], rng: np.random.Generator) -> None:
    """One file per 5 minutes and node (two nodes), lines shuffled, named as ELB names them but
    written under directories whose order is the reverse of time."""
    t = r["t"]
    bucket = np.floor((t - T0) / 300).astype(int)
    node = rng.integers(0, 2, t.size)
    top = int(bucket.max())
    for b in np.unique(bucket):
        for k in (0, 1):
            rows = np.flatnonzero((bucket == b) & (node == k))
            rng.shuffle(rows)
            name = alb_name(T0 + 300 * (b + 1), node=f"10.0.{k}.7", tag=f"{b:04x}{k}")
            write_gz(root / f"d{top - b:03d}" / name, alb_lines(r, rows))


def raw_of(r: dict[str, Any]) -> pa.Table:
    return pa.table(
        {
            "time_s": r["t"],
            "request_bytes": pa.array(r["req"], pa.int64()),
            "response_bytes": pa.array(r["resp"], pa.int64()),
            "client": r["client"],
            "route": ["/"] * r["t"].size,
            "method": ["GET"] * r["t"].size,
            "duration_ms": r["ms"],
            "status": pa.array(np.full(r["t"].size, 200), pa.int32()),
            "event_type": pa.nulls(r["t"].size, pa.string()),
        }
    )


# ----------------------------------------------------------------------------- request field
def _reference_split(request: str | None) -> tuple[str | None, str | None]:
    """The documented rule, as plain Python string operations."""
    if request is None:
        return None, None
    parts = request.split(" ", 2)
    if len(parts) < 2:
        return None, None
    method = None if parts[0] == "-" else parts[0]
    pieces = parts[1].split("/", 3)
    route = "/" + pieces[3].split("?", 1)[0] if len(pieces) >= 4 else None
    return method, route


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(' /?-aG:.x\\"é\u00ff', max_size=30)), max_size=40))
def test_the_request_field_splits_as_the_documented_rule(values: list[str | None]) -> None:
    want = [_reference_split(v) for v in values]
    plain = pa.array(values, pa.string())
    half = len(values) // 2  # as the reader gives it: dictionary-encoded, in chunks
    chunked = pa.chunked_array(
        [pc.dictionary_encode(plain.slice(0, half)), pc.dictionary_encode(plain.slice(half))]
    )
    for request in (plain, pc.dictionary_encode(plain), chunked):
        method, route = split_request(request)
        assert method.to_pylist() == [m for m, _ in want]
        assert route.to_pylist() == [r for _, r in want]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0, 1.5, 2.0, -np.inf, np.inf, np.nan]), max_size=60),
       st.integers(0, 2**32 - 1))  # fmt: skip
def test_the_window_sorts_as_a_stable_sort(values: list[float], seed: int) -> None:
    """Many ties (and infinities, NaN) among the values: the order of numpy's stable sort."""
    rng = np.random.default_rng(seed)
    t = np.asarray(values + list(rng.random(rng.integers(0, 50))), dtype=np.float64)
    rng.shuffle(t)
    np.testing.assert_array_equal(stable_argsort(t), np.argsort(t, kind="stable"))


# ----------------------------------------------------------------------------- file order
def test_alb_file_names_give_their_interval() -> None:
    assert name_time_s(alb_name(T0 + 300), "alb") == T0
    assert name_time_s("E2ABCDEF.2025-12-01-07.a1b2c3d4.gz", "cloudfront") == T0 + 7 * 3600
    assert name_time_s("access.log.gz", "alb") is None


def test_files_are_read_in_the_time_their_names_give(tmp_path: Path) -> None:
    """Directories sort in the reverse of time, lines are shuffled within each 5-minute file of
    two nodes: with a reorder window of 1 s nothing is late, and the stream
    gives the same requests, in time order, as the whole-table read."""
    rng = np.random.default_rng(1)
    r = logged_requests(rng, 4000, 1.0, 100)
    write_alb_files(tmp_path, r, rng)
    stream = LogStream(str(tmp_path), reorder_window_s=1.0)
    tables = list(stream.tables())
    got = pa.concat_tables(tables, promote_options="default")
    t = got["time_s"].to_numpy()
    assert np.all(np.diff(t) >= 0)
    assert stream.report.late == 0 and stream.report.order == "file names"
    assert len(tables) > 5  # handed on as it went, not at the end
    whole, _ = read_access_logs(str(tmp_path))
    want = normalize(whole, salt=b"x")
    np.testing.assert_array_equal(t, want["time_s"].to_numpy())
    assert got["response_bytes"].to_pylist() == want["response_bytes"].to_pylist()


def test_files_without_a_time_in_their_name_go_by_their_first_lines(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    r = logged_requests(rng, 900, 0.5, 30)
    bucket = np.floor((r["t"] - T0) / 300).astype(int)
    for b in np.unique(bucket):  # names in the reverse of time
        write_gz(tmp_path / f"z{9 - b}.log.gz", alb_lines(r, np.flatnonzero(bucket == b)))
    stream = LogStream(str(tmp_path), reorder_window_s=0.0)
    t = np.concatenate([x["time_s"].to_numpy() for x in stream.tables()])
    assert stream.report.order == "first lines" and stream.report.late == 0
    np.testing.assert_array_equal(t, np.sort(r["t"]))


# ----------------------------------------------------------------------------- late lines
def _with_a_late_line(tmp_path: Path) -> tuple[Path, dict[str, Any], int]:
    """Ten 5-minute files in time order; file 6 also holds, as its line 3, a request logged
    40 minutes earlier than its others (a request that took 40 minutes)."""
    rng = np.random.default_rng(3)
    r = logged_requests(rng, 3000, 50 / 60, 80)
    bucket = np.floor((r["t"] - T0) / 300).astype(int)
    late = int(np.flatnonzero(bucket == 1)[0])
    for b in np.unique(bucket):
        rows = list(np.flatnonzero(bucket == b))
        if b == 1:
            rows.remove(late)
        if b == 9:
            rows.insert(2, late)
        write_gz(tmp_path / alb_name(T0 + 300 * (b + 1)), alb_lines(r, np.array(rows)))
    return tmp_path / alb_name(T0 + 3000), r, late


def test_a_line_later_than_the_window_is_left_out_and_reported(tmp_path: Path) -> None:
    where, r, late = _with_a_late_line(tmp_path)
    stream = LogStream(str(tmp_path), max_malformed_share=0.001, reorder_window_s=300)
    t = np.concatenate([x["time_s"].to_numpy() for x in stream.tables()])
    rep = stream.report
    assert (rep.late, rep.lines, rep.rows) == (1, 3000, 2999)
    assert rep.first_late is not None
    assert (rep.first_late.file, rep.first_late.line) == (str(where), 3)
    assert rep.first_late.time_s == pytest.approx(r["t"][late], abs=1e-6)
    np.testing.assert_array_equal(t, np.delete(r["t"], late))
    # a window that holds it: nothing late, every request in order
    stream = LogStream(str(tmp_path), reorder_window_s=3600)
    t = np.concatenate([x["time_s"].to_numpy() for x in stream.tables()])
    assert stream.report.late == 0
    np.testing.assert_array_equal(t, r["t"])


def test_too_many_late_lines_are_an_error_that_says_to_widen_the_window(tmp_path: Path) -> None:
    _with_a_late_line(tmp_path)
    stream = LogStream(str(tmp_path), max_malformed_share=0.0, reorder_window_s=300)
    with pytest.raises(TraceError, match=r":3: a line logged at .*widen traffic\.reorder_window_s"):
        list(stream.tables())


def test_a_replay_of_logs_with_a_late_line_meters_the_others_exactly(tmp_path: Path) -> None:
    _, r, late = _with_a_late_line(tmp_path)
    s = scenario(tmp_path, "2025-12-01T00:00:00Z", 1)
    kept = {k: (np.delete(v, late) if isinstance(v, np.ndarray) else [x for i, x in enumerate(v) if i != late])
            for k, v in r.items()}  # fmt: skip
    assert_meters(replayed(s), hourly_reference(raw_of(kept), T0, 1, 0.0, 40.0))
    summary = log_index(SourceOptions(str(tmp_path))).source
    assert summary["late"] == 1 and summary["first_late"]["line"] == 3


# ----------------------------------------------------------------------------- connections
@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 400),
    st.integers(1, 12),
    st.lists(st.integers(1, 50), min_size=1, max_size=8),
)
def test_connections_batch_by_batch_add_up_to_the_whole_tables(
    seed: int, n: int, clients: int, cuts: list[int]
) -> None:
    """Any split into batches: the same opening requests, and each connection's open time
    reported piece by piece adds up to its [open, close) as the whole-table computation gives."""
    rng = np.random.default_rng(seed)
    t = np.sort(T0 + np.round(rng.random(n) * 900, 3))
    key = rng.integers(0, clients, n).astype(str).astype(object)
    key[rng.random(n) < 0.1] = None
    dur = np.where(rng.random(n) < 0.1, np.nan, rng.random(n) * 5e4)
    raw = pa.table(
        {
            "time_s": t, "request_bytes": pa.array(np.ones(n, np.int64)),
            "response_bytes": pa.array(np.ones(n, np.int64)), "client": pa.array(key, pa.string()),
            "route": ["/"] * n, "method": ["GET"] * n, "duration_ms": pa.array(dur, from_pandas=True),
            "status": pa.array(np.full(n, 200), pa.int32()), "event_type": pa.nulls(n, pa.string()),
        }
    )  # fmt: skip
    log = RequestLog("<t>", normalize(raw, salt=b"s"), {})
    whole = connection_spans(log, IDLE)
    conn = log.column("connection", np.uint64, 0)
    keys = pa.array(np.where(log.known("connection"), conn, 0).astype(np.uint64),
                    mask=~log.known("connection"))  # fmt: skip
    done = log.time_s + np.nan_to_num(log.column("duration_ms", np.float64, 0.0)) / 1000
    tracker = ConnectionTracker(IDLE)
    edges = sorted({0, n, *[min(n, c * n // 50) for c in cuts]})
    opens, total_open_s, closed = [], 0.0, 0
    for a, b in itertools.pairwise(edges):
        sp = tracker.add(log.time_s[a:b], keys.slice(a, b - a), done[a:b])
        opens.append(sp.opens)
        total_open_s += float((sp.open_end_s - log.time_s[a:b][sp.opens]).sum())
        total_open_s += float((sp.carried_end_s - sp.carried_start_s).sum())
        closed += sp.closed_end_s.size
    _, c = tracker.finish()
    closed += c.size
    np.testing.assert_array_equal(np.concatenate(opens), whole.opens)
    want = float((whole.end_s - log.time_s[whole.opens]).sum())
    assert total_open_s == pytest.approx(want, rel=1e-12, abs=1e-6)
    assert closed == int(whole.opens.sum())


def test_connections_across_many_windows_replay_exactly(tmp_path: Path) -> None:
    """Five-minute engine batches over a 3-hour log of long-lived keep-alive connections, the
    period starting an hour in: each connection's open time comes window by window."""
    rng = np.random.default_rng(4)
    r = logged_requests(rng, 6000, 3.0, 40)
    write_alb_files(tmp_path / "logs", r, rng)
    s = scenario(tmp_path / "logs", "2025-12-01T01:00:00Z", 2, begin="2025-12-01T01:00:00Z")
    s = s.model_copy(update={"engine": s.engine.model_copy(update={"batch_s": 300})})
    assert_meters(replayed(s), hourly_reference(raw_of(r), T0 + 3600, 2, 0.0, 40.0))


# ----------------------------------------------------------------------------- convert
def test_convert_streams_row_groups_with_opaque_unique_ids(tmp_path: Path) -> None:
    import sim.logs.requests as requests

    rng = np.random.default_rng(5)
    r = logged_requests(rng, 5000, 2.0, 60)
    write_alb_files(tmp_path / "logs", r, rng)
    out = tmp_path / "t.parquet"
    old = requests.ROW_GROUP_ROWS
    requests.ROW_GROUP_ROWS = 1000
    try:
        source = write_request_table(SourceOptions(str(tmp_path / "logs")), out, {"p": 1})
    finally:
        requests.ROW_GROUP_ROWS = old
    f = pq.ParquetFile(out)
    assert f.metadata.num_row_groups >= 5
    table = f.read()
    assert source["rows"] == 5000 and source["late"] == 0
    np.testing.assert_array_equal(table["time_s"].to_numpy(), r["t"])
    # one id per client key (within 4,000 s of its last response: here, all), none shared
    by_key: dict[str, set[int]] = defaultdict(set)
    for k, i in zip(r["client"], table["connection"].to_pylist(), strict=True):
        by_key[k].add(i)
    assert all(len(v) == 1 for v in by_key.values())
    assert len({next(iter(v)) for v in by_key.values()}) == len(by_key)
    assert b"198.51.100" not in out.read_bytes()
    meta = f.metadata.metadata or {}
    assert json.loads(meta[b"sim.requests"])["lines"] == 5000
    # the table replays as the logs do
    a = replayed(scenario(out, "2025-12-01T00:00:00Z", 2))
    b = replayed(scenario(tmp_path / "logs", "2025-12-01T00:00:00Z", 2))
    assert_meters(a, {k: v for k, v in b.items() if k in ("requests", "new_connections",
                                                          "active_connections")})  # fmt: skip


def test_convert_of_bad_logs_writes_nothing(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sim.cli import cli

    logs = write_gz(tmp_path / "a.log.gz", [alb_line(t_s=T0 + i) for i in range(10)] + ["https x"])
    out = tmp_path / "out" / "t.parquet"
    result = CliRunner().invoke(cli, ["logs", "convert", str(logs), "--out", str(out)])
    assert result.exit_code != 0 and "malformed" in str(result.exception)
    assert not (tmp_path / "out").exists()  # nor the directory made for it, nor a temporary


# ----------------------------------------------------------------------------- summary
def test_the_streamed_summary_is_the_whole_tables(tmp_path: Path) -> None:
    from sim.logs.summary import summarize

    rng = np.random.default_rng(6)
    r = logged_requests(rng, 3000, 2.0, 50)
    write_alb_files(tmp_path, r, rng)
    doc = summarize(SourceOptions(str(tmp_path)), IDLE)
    whole, _ = read_access_logs(str(tmp_path))
    log = RequestLog("<t>", normalize(whole, salt=b"x"), {})
    spans = connection_spans(log, IDLE)
    assert doc["requests"] == 3000
    assert doc["connections"]["connections"] == int(spans.opens.sum())
    life = spans.end_s - log.time_s[spans.opens]
    assert doc["connections"]["mean_lifetime_s"] == pytest.approx(float(life.mean()), rel=1e-12)
    for name in ("request_bytes", "response_bytes"):
        v = r["req"] if name == "request_bytes" else r["resp"]
        assert doc[name]["total"] == int(v.sum())
        for q in (0.5, 0.99):  # 5 significant digits of numpy's
            assert doc[name][f"p{round(q * 100)}"] == pytest.approx(np.quantile(v, q), rel=2e-5)
    assert doc["duration_ms"]["p50"] == pytest.approx(np.quantile(r["ms"], 0.5), rel=2e-5)
    assert sum(x["requests"] for x in doc["routes"]) == 3000


# ----------------------------------------------------------------------------- connection logs
def conn_line(t_s: float, tid: str, handshake: str = "0.012", status: str = "Success",
              client: str = "192.0.2.10 51286") -> str:  # fmt: skip
    """One ALB connection log line, fields in AWS's order (a mutual-TLS certificate named)."""
    from logs_helpers import iso_us

    return (
        f"{iso_us(t_s)} {client} 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 {handshake} "
        '"CN=client.example.com,O=Example Corp" '
        "NotBefore=2024-09-21T22:43:21Z;NotAfter=2026-09-21T22:43:21Z "
        f"FEF257D1AB2C3D4E5F6A {status} {tid}"
    )


def test_connection_logs_give_the_new_connections_exactly(tmp_path: Path) -> None:
    """Two hours: 300 connections attempted (some carry no request, some fail their TLS
    verification), each carrying its requests a few seconds apart under its conn_trace_id. New
    connections per hour are the attempts per hour; each connection is open from its attempt to
    its latest response + the idle timeout (an unused one: the idle timeout after its attempt; a
    failed one closes at once)."""
    rng = np.random.default_rng(7)
    n_conn = 300
    opened = np.sort(T0 + rng.random(n_conn) * 7000)
    handshake = np.round(rng.random(n_conn) * 0.05, 3)
    failed = rng.random(n_conn) < 0.1
    idle_only = ~failed & (rng.random(n_conn) < 0.15)
    times, tids, ms = [], [], []
    ends = np.where(failed, opened, opened + IDLE)
    for c in np.flatnonzero(~failed & ~idle_only):
        t = opened[c] + handshake[c] + rng.random()
        for _ in range(int(rng.integers(1, 12))):
            d = float(rng.integers(0, 900))
            times.append(t)
            tids.append(f"TID_{c:06x}")
            ms.append(d)
            ends[c] = max(ends[c], t + d / 1000 + IDLE)
            t += 1 + rng.random() * 30  # a gap shorter than the idle timeout
    order = np.argsort(times)
    t = np.round(np.asarray(times)[order] * 1e6) / 1e6
    tid = [tids[i] for i in order]
    dur = np.asarray(ms)[order]
    lines = [
        alb_line(t_s=float(t[i]), conn=tid[i], target_time=f"{dur[i] / 1000:.3f}",
                 client=f"198.51.100.{i % 200}:{40000 + i}")
        for i in range(t.size)
    ]  # fmt: skip
    write_gz(tmp_path / "access" / alb_name(T0 + 3600), lines)
    conn = [
        conn_line(float(opened[c]), f"TID_{c:06x}", f"{handshake[c]:.3f}",
                  "Failed:ClientCertNotFound" if failed[c] else "Success")
        for c in range(n_conn)
    ]  # fmt: skip
    rng.shuffle(conn)
    write_gz(tmp_path / "conn" / ("conn_log_" + alb_name(T0 + 7200)), conn)
    s = scenario(tmp_path / "access", "2025-12-01T00:00:00Z", 2,
                 connection_logs=str(tmp_path / "conn"))  # fmt: skip
    got = replayed(s)
    hour = ((opened - T0) // 3600).astype(int)
    np.testing.assert_array_equal(got["new_connections"], np.bincount(hour, minlength=2))
    active = np.zeros(2)
    for a, b in zip(opened, np.minimum(ends, T0 + 7200), strict=True):
        for k in range(2):
            active[k] += max(0.0, min(b, T0 + (k + 1) * 3600) - max(a, T0 + k * 3600))
    np.testing.assert_allclose(got["active_connections"], active / 3600, rtol=1e-9)
    assert got["requests"].sum() == t.size
    index = log_index(s.traffic.source_options())
    assert index.n == t.size
    assert index.source["connection_logs"]["attempts"] == n_conn
    assert index.source["connection_logs"]["failed"] == int(failed.sum())
    from sim.logs.summary import summarize

    doc = summarize(s.traffic.source_options(), IDLE)
    assert doc["connections"]["attempts"] == n_conn
    assert doc["connections"]["opened_by_requests"] == 0
    assert doc["connections"]["connections"] == n_conn
    # sim logs check replays the same meters with the connection logs
    from sim.logs.check import replay_meters

    meters, _ = replay_meters(
        str(tmp_path / "access"), "alb", idle_timeout_s=IDLE, rules_processed=10,
        lambda_target=True, max_malformed_share=0.001, connection_logs=str(tmp_path / "conn"),
    )  # fmt: skip
    np.testing.assert_array_equal(meters["new_connections"], got["new_connections"])
    np.testing.assert_allclose(meters["active_connections"], got["active_connections"], rtol=1e-12)
