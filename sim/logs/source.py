"""Logged requests as a stream in time order, from access logs or a request table, and the index of
what they hold (one streaming pass, kept per process).

A replay reads its source twice, each time in bounded memory: once for the :class:`LogIndex` (the
period the logs cover, requests per second, lines, malformed and late lines: what the scenario's
period, the resource checks and the summary need before and after the run) and once, batch by batch,
to play the requests (:func:`request_batches`). What is held is proportional to the logs' span in
seconds (the per-second counts, 4 bytes a second: 10 MB for a month), never to their lines.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from sim.errors import TraceError
from sim.logs.requests import SOURCE_KEY, TableCheck, _version, is_table
from sim.logs.stream import REORDER_WINDOW_S, LogStream

#: The longest span of logs a replay indexes (its per-second counts take 4 bytes a second).
MAX_SPAN_S = 400 * 86_400

#: Rows of a request table read at a time.
TABLE_BATCH_ROWS = 1 << 18


@dataclass
class RequestBatch:
    """Logged requests in time order: arrival ``time_s``, sizes (-1: not logged), ``duration_ms``
    (NaN: not logged), the client connection ``key`` (null: not logged; a string from logs, an
    opaque id from a table) and, when asked for, the table's other ``columns``."""

    time_s: NDArray[np.float64]
    request_bytes: NDArray[np.int64]
    response_bytes: NDArray[np.int64]
    duration_ms: NDArray[np.float64]
    key: pa.Array
    columns: dict[str, pa.Array] = field(default_factory=dict)
    #: with connection logs: per row, a connection attempt (not a request), its TLS handshake
    #: time and whether it failed (the load balancer closed it at once)
    attempt: NDArray[np.bool_] | None = None
    handshake_s: NDArray[np.float64] | None = None
    failed: NDArray[np.bool_] | None = None

    @property
    def n(self) -> int:
        return int(self.time_s.size)

    def slice(self, a: int, b: int) -> RequestBatch:
        def cut(x: NDArray[Any] | None) -> Any:
            return None if x is None else x[a:b]

        return RequestBatch(
            self.time_s[a:b], self.request_bytes[a:b], self.response_bytes[a:b],
            self.duration_ms[a:b], self.key.slice(a, b - a),
            {k: v.slice(a, b - a) for k, v in self.columns.items()},
            cut(self.attempt), cut(self.handshake_s), cut(self.failed),
        )  # fmt: skip

    def take(self, mask: NDArray[np.bool_]) -> RequestBatch:
        """The rows where ``mask`` holds."""

        def pick(x: NDArray[Any] | None) -> Any:
            return None if x is None else x[mask]

        arrow = pa.array(mask)
        return RequestBatch(
            self.time_s[mask], self.request_bytes[mask], self.response_bytes[mask],
            self.duration_ms[mask], self.key.filter(arrow),
            {k: v.filter(arrow) for k, v in self.columns.items()},
            pick(self.attempt), pick(self.handshake_s), pick(self.failed),
        )  # fmt: skip

    def take_order(self, order: NDArray[np.intp]) -> RequestBatch:
        """The rows in ``order``."""

        def pick(x: NDArray[Any] | None) -> Any:
            return None if x is None else x[order]

        idx = pa.array(order)
        return RequestBatch(
            self.time_s[order], self.request_bytes[order], self.response_bytes[order],
            self.duration_ms[order], self.key.take(idx),
            {k: v.take(idx) for k, v in self.columns.items()},
            pick(self.attempt), pick(self.handshake_s), pick(self.failed),
        )  # fmt: skip

    def requests(self) -> NDArray[np.bool_]:
        """Per row: a logged request (not a connection attempt)."""
        return np.ones(self.n, np.bool_) if self.attempt is None else ~self.attempt

    def done_s(self, idle_timeout_s: float = 0.0) -> NDArray[np.float64]:
        """When each response ends: arrival + logged processing time (the arrival if none). A
        connection attempt (logged when the connection is established, after its handshake)
        counts as a response at that instant; a failed one ``idle_timeout_s`` before it, so that
        a connection that closes at its latest response + the idle timeout closes at once."""
        d = np.where(np.isnan(self.duration_ms), 0.0, np.maximum(self.duration_ms, 0.0))
        done = self.time_s + d / 1000.0
        if self.attempt is not None and self.failed is not None:
            att = self.time_s - np.where(self.failed, idle_timeout_s, 0.0)
            done = np.where(self.attempt, att, done)
        return done


def _filled(col: Any, fill: Any, dtype: Any) -> NDArray[Any]:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks else pa.array([], col.type)
    if col.null_count:
        col = pc.fill_null(col, fill)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=dtype)


def _array(col: Any) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks else pa.array([], col.type)
    return col


def _batch(table: pa.Table, key: str, columns: tuple[str, ...]) -> RequestBatch:
    return RequestBatch(
        _filled(table["time_s"], 0.0, np.float64),
        _filled(table["request_bytes"], -1, np.int64),
        _filled(table["response_bytes"], -1, np.int64),
        _filled(table["duration_ms"], math.nan, np.float64),
        _array(table[key]),
        {c: _array(table[c]) for c in columns},
    )


@dataclass(frozen=True)
class SourceOptions:
    """How a source is read (the access-log settings of a scenario or a command)."""

    path: str
    fmt: str = "auto"
    max_malformed_share: float = 0.001
    apigw_fields: tuple[tuple[str, str], ...] = ()
    reorder_window_s: float = REORDER_WINDOW_S
    #: ALB connection logs read beside the access logs (a file, directory or glob), or ""
    connection_logs: str = ""

    @property
    def table(self) -> bool:
        return is_table(self.path, self.fmt)

    def connection_stream(self) -> LogStream:
        return LogStream(
            self.connection_logs, "alb_connection", max_malformed_share=self.max_malformed_share,
            reorder_window_s=self.reorder_window_s,
        )  # fmt: skip

    def stream(self, routes: bool = False) -> LogStream:
        return LogStream(
            self.path, self.fmt, max_malformed_share=self.max_malformed_share,
            apigw_fields=dict(self.apigw_fields) or None,
            reorder_window_s=self.reorder_window_s, routes=routes,
        )  # fmt: skip


def request_batches(
    opts: SourceOptions,
    columns: tuple[str, ...] = (),
    stream: LogStream | None = None,
    reports: list[Any] | None = None,
) -> Iterator[RequestBatch]:
    """The source's requests in time order, batch by batch (``columns``: also these of
    ``route``, ``method``, ``status``, ``event_type``)."""
    if opts.table:
        yield from _table_batches(opts.path, columns)
        return
    if stream is None and not columns:
        version = _version(opts.path)
        if opts.connection_logs:
            version += _version(opts.connection_logs)
        spill = _spills.get((opts, version))
        if spill is not None:
            yield from spill.batches()
            return
    s = stream or opts.stream(routes=bool({"route", "method"} & set(columns)))
    requests = (_batch(table, "client", columns) for table in s.tables())
    if not opts.connection_logs:
        yield from requests
        return
    yield from merge_by_time(requests, attempt_batches(opts, columns, reports), s)


def attempt_batches(
    opts: SourceOptions, columns: tuple[str, ...] = (), reports: list[Any] | None = None
) -> Iterator[RequestBatch]:
    """The connection attempts of the ALB connection logs ``opts`` names, in time order (the
    stream's report appended to ``reports`` once they are read)."""
    stream = opts.connection_stream()
    for t in stream.tables():
        n = t.num_rows
        yield RequestBatch(
            _filled(t["time_s"], 0.0, np.float64), np.full(n, -1, np.int64),
            np.full(n, -1, np.int64), np.full(n, np.nan), _array(t["client"]),
            {c: pa.nulls(n, pa.int32() if c == "status" else pa.string()) for c in columns},
            np.ones(n, np.bool_), _filled(t["handshake_s"], 0.0, np.float64),
            _filled(t["failed"], False, np.bool_),
        )  # fmt: skip
    if reports is not None:
        reports.append(stream.report)


def merge_by_time(
    requests: Iterator[RequestBatch], attempts: Iterator[RequestBatch], stream: Any = None
) -> Iterator[RequestBatch]:
    """Two time-ordered streams as one (an attempt before a request of the same instant: the
    connection opens before it carries the request)."""
    its = (attempts, requests)
    held: list[list[RequestBatch]] = [[], []]
    done = [False, False]

    def pull(k: int) -> None:
        try:
            b = next(its[k])
        except StopIteration:
            done[k] = True
            return
        if b.n:
            if k == 1 and b.attempt is None:
                b.attempt = np.zeros(b.n, np.bool_)
                b.handshake_s = np.zeros(b.n)
                b.failed = np.zeros(b.n, np.bool_)
            held[k].append(b)

    while True:
        for k in (0, 1):
            while not done[k] and not held[k]:
                pull(k)
        if not held[0] and not held[1]:
            return
        active = [float(held[k][-1].time_s[-1]) for k in (0, 1) if held[k] and not done[k]]
        bound = min(active) if active else np.inf
        parts: list[RequestBatch] = []
        for k in (0, 1):
            rest = []
            for b in held[k]:
                j = int(np.searchsorted(b.time_s, bound, side="left"))
                if j:
                    parts.append(b.slice(0, j) if j < b.n else b)
                if j < b.n:
                    rest.append(b.slice(j, b.n) if j else b)
            held[k] = rest
        if parts:
            from sim.traffic.logreplay import _concat

            merged = _concat(parts)
            order = np.lexsort((~merged.requests(), merged.time_s)) if len(parts) > 1 else None
            yield merged.take_order(order) if order is not None else merged
        else:  # the stream that sets the bound must move on
            k = min((k for k in (0, 1) if held[k] and not done[k]),
                    key=lambda k: float(held[k][-1].time_s[-1]))  # fmt: skip
            pull(k)


def _table_batches(
    path: str, columns: tuple[str, ...], checked: TableCheck | None = None
) -> Iterator[RequestBatch]:
    import pyarrow.parquet as pq

    if not Path(path).is_file():
        raise TraceError(f"{path}: request table not found")
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise TraceError(f"{path}: not a readable Parquet file ({exc})") from None
    check = checked or TableCheck(path)
    check.schema(pf.schema_arrow)
    try:
        for rb in pf.iter_batches(batch_size=TABLE_BATCH_ROWS):
            table = check.batch(pa.Table.from_batches([rb]))
            yield _batch(table, "connection", columns)
    except (pa.ArrowException, OSError) as exc:
        raise TraceError(f"{path}: cannot read the request table ({exc})") from None
    if check.rows == 0:
        raise TraceError(f"{path}: holds no requests")


def table_source(path: str) -> dict[str, Any]:
    """What a request table's metadata says of its source (``{"format": "requests"}`` if none)."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise TraceError(f"{path}: not a readable Parquet file ({exc})") from None
    meta = dict(pf.metadata.metadata or {})
    meta.update(pf.schema_arrow.metadata or {})
    raw = meta.get(SOURCE_KEY)
    return dict(json.loads(raw)) if raw else {"format": "requests"}


@dataclass(frozen=True, eq=False)
class LogIndex:
    """What a source holds, from one streaming pass: its ``first_s`` and ``last_s`` request,
    requests per second from ``first_second`` (``per_second``), how many name their connection
    (``with_connection``), and what reading found (``source``: files, lines, malformed and late
    lines, format, reorder window)."""

    opts: SourceOptions
    first_s: float
    last_s: float
    first_second: int
    per_second: NDArray[np.int32]
    rows: int
    with_connection: int
    source: Mapping[str, Any]

    @property
    def path(self) -> str:
        return self.opts.path

    @property
    def n(self) -> int:
        return self.rows

    def count_before(self, t_s: float) -> int:
        """Requests before the instant ``t_s``: from the per-second counts at a whole second, by
        reading the source again within one."""
        if t_s <= self.first_s:
            return 0
        if t_s > self.last_s:
            return self.rows
        if t_s != math.floor(t_s):
            return sum(int(np.searchsorted(b.time_s, t_s)) for b in request_batches(self.opts))
        k = int(t_s) - self.first_second
        return int(self.per_second[: max(k, 0)].sum(dtype=np.int64))


class Spill:
    """What a replay plays of the logs, kept in a temporary file (Arrow IPC, LZ4) by the pass
    that indexes them, so that the replay does not parse the logs again: arrival, sizes,
    processing time and an opaque connection id (:class:`sim.logs.requests.ConnectionIds`; no
    client address). The file is removed when the process no longer needs it."""

    SCHEMA = pa.schema(
        [
            pa.field("time_s", pa.float64()),
            pa.field("request_bytes", pa.int64()),
            pa.field("response_bytes", pa.int64()),
            pa.field("duration_ms", pa.float64()),
            pa.field("key", pa.uint64()),
            pa.field("attempt", pa.bool_()),
            pa.field("handshake_s", pa.float64()),
            pa.field("failed", pa.bool_()),
        ]
    )

    def __init__(self) -> None:
        import secrets
        import tempfile

        from sim.logs.requests import ConnectionIds

        self._dir = tempfile.TemporaryDirectory(prefix="sim-logs-")
        self.path = os.path.join(self._dir.name, "requests.arrow")
        self._sink = pa.OSFile(self.path, "wb")
        options = pa.ipc.IpcWriteOptions(compression="lz4")
        self._writer: Any = pa.ipc.new_file(self._sink, self.SCHEMA, options=options)
        self._ids = ConnectionIds(secrets.token_bytes(16))
        self._held: list[RequestBatch] = []
        self._rows = 0

    #: Requests given connection ids at a time (each time costs a pass over the keys held).
    ROWS = 1 << 18

    def add(self, b: RequestBatch) -> None:
        self._held.append(b)
        self._rows += b.n
        if self._rows >= self.ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._held:
            return
        from sim.traffic.logreplay import _concat

        b = self._held[0] if len(self._held) == 1 else _concat(self._held)
        self._held, self._rows = [], 0
        key = self._ids.assign(b.key, b.time_s, b.done_s())
        zero = np.zeros(b.n, np.bool_)
        self._writer.write_batch(
            pa.record_batch(
                [pa.array(b.time_s), pa.array(b.request_bytes), pa.array(b.response_bytes),
                 pa.array(b.duration_ms), key,
                 pa.array(b.attempt if b.attempt is not None else zero),
                 pa.array(b.handshake_s if b.handshake_s is not None else np.zeros(b.n)),
                 pa.array(b.failed if b.failed is not None else zero)],
                schema=self.SCHEMA,
            )
        )  # fmt: skip

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._sink.close()

    def batches(self) -> Iterator[RequestBatch]:
        with pa.memory_map(self.path) as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                rb = reader.get_batch(i)
                b = RequestBatch(
                    rb.column(0).to_numpy(), rb.column(1).to_numpy(), rb.column(2).to_numpy(),
                    rb.column(3).to_numpy(), rb.column(4),
                )  # fmt: skip
                attempt = rb.column(5).to_numpy(zero_copy_only=False)
                if attempt.any():
                    b.attempt, b.failed = attempt, rb.column(7).to_numpy(zero_copy_only=False)
                    b.handshake_s = rb.column(6).to_numpy()
                yield b


#: Spills of the logs indexed in this process (see :class:`Spill`), by source and version.
_spills: dict[tuple[SourceOptions, tuple[tuple[str, int, int], ...]], Spill] = {}

#: Bytes a spilled request takes at most on disk (five 8-byte columns, before compression).
SPILL_BYTES_PER_REQUEST = 40


def _spill_fits(opts: SourceOptions) -> bool:
    """Whether the temporary directory has room for the spill of these logs, twice over (their
    text at 150 bytes a line at least)."""
    import shutil
    import tempfile

    from sim.logs.requests import MIN_LINE_BYTES, log_bytes

    need = log_bytes(opts.path) / MIN_LINE_BYTES * SPILL_BYTES_PER_REQUEST
    try:
        free = shutil.disk_usage(tempfile.gettempdir()).free
    except OSError:
        return False
    return free > 2 * need


@lru_cache(maxsize=8)
def _index(opts: SourceOptions, version: tuple[tuple[str, int, int], ...]) -> LogIndex:
    counts = _SecondCounts(opts.path)
    rows = with_connection = 0
    first = last = math.nan
    stream = None if opts.table else opts.stream()
    spill = Spill() if stream is not None and _spill_fits(opts) else None
    reports: list[Any] = []
    attempts = failed = 0
    for b in request_batches(opts, stream=stream, reports=reports):
        if b.n == 0:
            continue
        if spill is not None:
            spill.add(b)
        if b.attempt is not None and b.attempt.any():
            attempts += int(b.attempt.sum())
            failed += int(b.failed.sum()) if b.failed is not None else 0
            b = b.take(~b.attempt)
            if b.n == 0:
                continue
        if rows == 0:
            first = float(b.time_s[0])
        last = float(b.time_s[-1])
        counts.add(b.time_s)
        rows += b.n
        with_connection += len(b.key) - b.key.null_count
    if spill is not None:
        spill.close()
        _spills[(opts, version)] = spill
    if rows == 0:
        raise TraceError(f"{opts.path}: the logs hold no requests")
    if stream is not None:
        source = stream.report.as_dict()
        if source["first_malformed"] is not None:
            source["first_malformed"] = dict(source["first_malformed"])
    else:
        source = table_source(opts.path)
    if opts.connection_logs:
        conn = reports[0].as_dict() if reports else {}
        if conn.get("first_malformed") is not None:
            conn["first_malformed"] = dict(conn["first_malformed"])
        source["connection_logs"] = {
            "path": opts.connection_logs, "attempts": attempts, "failed": failed, **conn,
        }  # fmt: skip
    sec0, per_second = counts.result()
    return LogIndex(opts, first, last, sec0, per_second, rows, with_connection, source)


def log_index(opts: SourceOptions) -> LogIndex:
    """The index of a source (one streaming pass, kept per process and version of its files)."""
    version = _version(opts.path)
    if opts.connection_logs:
        version += _version(opts.connection_logs)
    return _index(opts, version)


def index_cache_clear() -> None:
    _index.cache_clear()
    _spills.clear()


class _SecondCounts:
    """Requests per second of a time-ordered stream (refused beyond :data:`MAX_SPAN_S`)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.first: int | None = None
        self.parts: list[NDArray[np.int32]] = []
        self.size = 0

    def add(self, t: NDArray[np.float64]) -> None:
        sec = np.floor(t).astype(np.int64)
        if self.first is None:
            self.first = int(sec[0])
        rel = sec - self.first
        top = int(rel[-1]) + 1
        if top > MAX_SPAN_S:
            from sim.units import iso_utc

            raise TraceError(
                f"{self.path}: the logs span {iso_utc(self.first)} to {iso_utc(float(sec[-1]))}, "
                f"more than {MAX_SPAN_S // 86_400} days: replay a shorter period (a glob of "
                "fewer files), or check the logs for a wrong time"
            )
        lo = int(rel[0])
        counts = np.bincount(rel - lo).astype(np.int32)
        if lo < self.size:  # the batch starts in the last second counted
            overlap = self.size - lo
            self.parts[-1][-overlap:] += counts[:overlap]
            counts = counts[overlap:]
        elif lo > self.size:
            self.parts.append(np.zeros(lo - self.size, np.int32))
        if counts.size:
            self.parts.append(counts)
        self.size = max(self.size, top)

    def result(self) -> tuple[int, NDArray[np.int32]]:
        if self.first is None:
            return 0, np.zeros(0, np.int32)
        return self.first, np.concatenate(self.parts) if self.parts else np.zeros(0, np.int32)


#: Bytes a logged request takes while read: its text's parsed columns (a read-ahead file is held
#: as text and as columns), and while it waits in the reorder window or on a live connection.
BYTES_PER_READ_REQUEST = 200
BYTES_PER_LIVE_CONNECTION = 120


def replay_memory_bytes(
    opts: SourceOptions, peak_per_s: float, idle_timeout_s: float
) -> tuple[float, str]:
    """Memory a replay of these logs takes besides the engine's batch, and how it was reckoned:
    the files read ahead (one per core and one more, each as text and as columns), the reorder
    window at the busiest rate, the live connections, the per-second counts of the logs' span.
    None of it grows with the number of lines (the spill is on disk)."""
    from sim.logs._common import text_bytes, usable_cores
    from sim.logs.readers import find_files

    window_rows: float
    if opts.table:
        window_rows = TABLE_BATCH_ROWS * 2.0
        files_part = 0.0
        largest = 0
    else:
        files = find_files(opts.path)
        largest = max((text_bytes(f) for f in files), default=0)
        files_part = float(usable_cores() + 1) * largest * 2.0
        window_rows = peak_per_s * (opts.reorder_window_s + 300.0)
    index = log_index(opts)
    live = peak_per_s * (idle_timeout_s + opts.reorder_window_s)
    need = (
        files_part
        + window_rows * BYTES_PER_READ_REQUEST
        + live * BYTES_PER_LIVE_CONNECTION
        + index.per_second.nbytes
    )
    from sim.resources import format_bytes

    why = (
        f"access logs: {format_bytes(files_part)} of files read ahead (largest "
        f"{format_bytes(largest)} of text), {window_rows:,.0f} requests in the reorder window, "
        f"{live:,.0f} live connections, {format_bytes(index.per_second.nbytes)} of per-second "
        "counts"
    )
    return need, why
