"""The request table: every logged request as one row, sorted by arrival, ready to replay.

``sim logs convert`` writes it as Parquet; a replay reads it (or the logs themselves) through
:func:`load_requests`. Columns (:data:`TABLE_SCHEMA`):

* ``time_s`` (float64): arrival, seconds since the Unix epoch, UTC;
* ``request_bytes``, ``response_bytes`` (int64, null where the log does not say);
* ``connection`` (uint64, null where the log names no client connection): an opaque id, random
  for each distinct client key, from a salt drawn at conversion and not stored, so the table never
  holds a client's IP address or port (two conversions give different ids);
* ``route``, ``method``, ``event_type`` (dictionary strings), ``duration_ms`` (float64, the target's
  processing time as logged) and ``status`` (int32, the status code the client got).

The client keys are grouped with pyarrow's compute kernels (no Python loop per line or per key).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from sim.errors import TraceError

#: Schema of a request table (a converted log).
TABLE_SCHEMA = pa.schema(
    [
        pa.field("time_s", pa.float64(), nullable=False),
        pa.field("request_bytes", pa.int64()),
        pa.field("response_bytes", pa.int64()),
        pa.field("connection", pa.uint64()),
        pa.field("route", pa.dictionary(pa.int32(), pa.string())),
        pa.field("method", pa.dictionary(pa.int32(), pa.string())),
        pa.field("duration_ms", pa.float64()),
        pa.field("status", pa.int32()),
        pa.field("event_type", pa.dictionary(pa.int32(), pa.string())),
    ]
)

#: Largest value a request table's sizes (bytes) and processing times (ms) may hold: 1 TB and a
#: day (an ALB keeps a connection idle 4,000 s at most; Lambda runs 900 s at most).
LIMITS = {"request_bytes": 1e12, "response_bytes": 1e12, "duration_ms": 86_400_000.0}

#: Schema metadata key of a request table: where it came from and what reading it found.
SOURCE_KEY = b"sim.requests"

#: Largest request table held whole in memory, rows (about 60 bytes a row): only ``sim fit``
#: and :func:`load_requests` hold one; a replay, ``sim logs convert`` and ``sim logs summary``
#: stream (:mod:`sim.logs.source`).
MAX_ROWS = 400_000_000


@dataclass(frozen=True, eq=False)
class RequestLog:
    """A request table with its numpy columns, sorted by arrival (hashed by identity: a log is
    read once per process)."""

    path: str
    table: pa.Table
    source: Mapping[str, Any]  # format, files, lines, malformed, ... (see ReadReport)
    _filled: dict[tuple[str, str], NDArray[Any]] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.table.num_rows)

    @property
    def first_s(self) -> float:
        return float(self.time_s[0]) if self.n else float("nan")

    @property
    def last_s(self) -> float:
        return float(self.time_s[-1]) if self.n else float("nan")

    @cached_property
    def time_s(self) -> NDArray[np.float64]:
        return _numpy(self.table, "time_s", np.float64)

    def column(self, name: str, dtype: Any, fill: Any) -> NDArray[Any]:
        """A column as numpy, nulls replaced by ``fill`` (converted once; do not modify it)."""
        key = (name, f"{np.dtype(dtype).str}:{fill!r}")
        if key not in self._filled:
            col = self.table.column(name)
            if col.null_count:
                col = pc.fill_null(col, fill)
            self._filled[key] = np.asarray(col.to_numpy(), dtype=dtype)
        return self._filled[key]

    def known(self, name: str) -> NDArray[np.bool_]:
        """Per row: does the log give ``name``?"""
        col = self.table.column(name)
        if not col.null_count:
            return np.ones(self.n, dtype=np.bool_)
        return np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=np.bool_)

    def per_second(self) -> tuple[int, NDArray[np.int64]]:
        """``(first second, requests in each second from it)`` (epoch seconds)."""
        if not self.n:
            return 0, np.zeros(0, dtype=np.int64)
        sec = np.floor(self.time_s).astype(np.int64)
        first = int(sec[0])
        return first, np.bincount(sec - first).astype(np.int64)


def _numpy(table: pa.Table, name: str, dtype: Any) -> NDArray[Any]:
    return np.asarray(table.column(name).to_numpy(), dtype=dtype)


def connection_ids(client: pa.ChunkedArray | pa.Array, salt: bytes) -> pa.Array:
    """Opaque connection ids: each distinct client key gets a random 64-bit id drawn from a
    generator seeded by ``salt`` (nulls stay null). The ids say nothing of the keys: unlike a
    hash of them, no guessed address can be checked against an id."""
    if isinstance(client, pa.ChunkedArray):
        client = client.combine_chunks()
    encoded = pc.dictionary_encode(client)
    n = len(encoded.dictionary)
    rng = np.random.default_rng(int.from_bytes(hashlib.blake2b(salt, digest_size=16).digest()))
    ids = rng.integers(0, 2**63, n, dtype=np.int64, endpoint=False).astype(np.uint64)
    while np.unique(ids).size < n:  # a collision (about n²/2⁶⁴): draw again
        ids = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
    return pc.take(pa.array(ids, type=pa.uint64()), encoded.indices)


def normalize(raw: pa.Table, *, salt: bytes | None = None, whole_seconds: bool = False) -> pa.Table:
    """A reader's table (:data:`sim.logs.readers.REQUEST_SCHEMA`) as a request table: sorted by
    arrival (stable: lines of the same instant keep their order), client keys hashed.

    Requests whose log gives the second only (the reader's ``whole_second``, or all of them with
    ``whole_seconds``: CloudFront, API Gateway's ``requestTime``) are spread evenly over their
    second: the ``n`` of a second, the ``k``-th in log order at ``second + (k + ½)/n``, rather
    than all at its first instant (where API Gateway's token bucket would see them at once)."""
    salt = secrets.token_bytes(16) if salt is None else salt
    order = pc.sort_indices(raw, sort_keys=[("time_s", "ascending")])
    t = raw.take(order)
    whole = np.zeros(t.num_rows, dtype=np.bool_)
    if whole_seconds:
        whole[:] = True
    elif "whole_second" in t.column_names:
        whole = np.asarray(
            pc.fill_null(t.column("whole_second"), False).to_numpy(zero_copy_only=False),
            dtype=np.bool_,
        )
    if whole.any():
        sec = np.array(t.column("time_s").to_numpy(), dtype=np.float64)
        idx = np.flatnonzero(whole)
        s = sec[idx]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        sizes = np.diff(np.r_[starts, s.size])
        rank = np.arange(s.size) - np.repeat(starts, sizes)
        sec[idx] = np.floor(s) + (rank + 0.5) / np.repeat(sizes, sizes)
        t = t.set_column(0, "time_s", pa.array(sec))
        t = t.take(pc.sort_indices(t, sort_keys=[("time_s", "ascending")]))

    def dictionary(name: str) -> pa.Array:
        return pc.dictionary_encode(t.column(name).combine_chunks().cast(pa.string()))

    columns = {
        "time_s": t.column("time_s").cast(pa.float64()),
        "request_bytes": t.column("request_bytes").cast(pa.int64()),
        "response_bytes": t.column("response_bytes").cast(pa.int64()),
        "connection": connection_ids(t.column("client").cast(pa.string()), salt),
        "route": dictionary("route"),
        "method": dictionary("method"),
        "duration_ms": t.column("duration_ms").cast(pa.float64()),
        "status": t.column("status").cast(pa.int32()),
        "event_type": dictionary("event_type"),
    }
    table = pa.table({f.name: columns[f.name] for f in TABLE_SCHEMA}, schema=TABLE_SCHEMA)
    return table


def check_table(table: pa.Table, path: str) -> pa.Table:
    """A stored request table, checked whole (:class:`TableCheck`): its columns and types, times
    finite and sorted, sizes and durations within :data:`LIMITS`; not empty."""
    check = TableCheck(path)
    check.schema(table.schema)
    if table.num_rows == 0:
        raise TraceError(f"{path}: holds no requests")
    return check.batch(table)


def _filled_float(col: Any) -> NDArray[np.float64]:
    """A column as float64, nulls as 0."""
    return np.asarray(pc.fill_null(col, 0).to_numpy(zero_copy_only=False), dtype=np.float64)


class TableCheck:
    """The checks of a request table, batch by batch: its columns and types, times finite and
    sorted (across batches too), sizes and durations within :data:`LIMITS`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.rows = 0
        self.last_s = -math.inf

    def schema(self, schema: pa.Schema) -> None:
        names = schema.names
        missing = [f.name for f in TABLE_SCHEMA if f.name not in names]
        if missing:
            raise TraceError(
                f"{self.path}: not a request table: no column {missing[0]!r} (a request table "
                f"is what 'sim logs convert' writes; columns: "
                f"{', '.join(f.name for f in TABLE_SCHEMA)})"
            )

    def batch(self, table: pa.Table) -> pa.Table:
        path, base = self.path, self.rows
        columns = []
        for f in TABLE_SCHEMA:
            try:
                columns.append(table.column(f.name).cast(f.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise TraceError(
                    f"{path}: column {f.name} is {table.schema.field(f.name).type}, expected "
                    f"{f.type} ({exc})"
                ) from None
        table = pa.Table.from_arrays(columns, schema=TABLE_SCHEMA)
        t = np.asarray(table.column("time_s").to_numpy(), dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(t))
        if bad.size:
            raise TraceError(f"{path}, row {base + bad[0] + 1}: time_s is not a finite number")
        back = np.flatnonzero(np.diff(np.r_[self.last_s, t]) < 0)
        if back.size:
            raise TraceError(
                f"{path}, row {base + back[0] + 1}: time_s goes back in time (a request table "
                "is sorted by arrival)"
            )
        for name, most in LIMITS.items():
            values = _filled_float(table.column(name))
            bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values > most))
            if bad.size:
                raise TraceError(
                    f"{path}, row {base + bad[0] + 1}: {name} is {values[bad[0]]!r}, expected a "
                    f"finite number from 0 to {most:,.0f} (or null: unknown)"
                )
        self.rows += table.num_rows
        if t.size:
            self.last_s = float(t[-1])
        return table


def load_requests(
    path: str,
    fmt: str = "auto",
    *,
    max_malformed_share: float = 0.001,
    apigw_fields: Mapping[str, str] | None = None,
) -> RequestLog:
    """The requests of an access log (a file, a directory or a glob, in any of the formats of
    :func:`sim.logs.readers.read_access_logs`) or of a request table (``fmt = "requests"``, or a
    ``.parquet`` file with ``auto``); read once per process and version of the files."""
    fields = tuple(sorted((apigw_fields or {}).items()))
    return _load(path, fmt, max_malformed_share, fields, _version(path))


def _version(path: str) -> tuple[tuple[str, int, int], ...]:
    """What identifies the files' versions (for the cache): names, sizes, modification times of
    the file, of every file under the directory, or of the glob's matches."""
    import glob

    p = Path(path)
    if p.is_dir():
        names = [str(f) for f in p.rglob("*") if f.is_file()]
    elif p.exists():
        names = [path]
    else:
        names = glob.glob(path, recursive=True)
    out = []
    for name in sorted(names):
        try:
            st = os.stat(name)
        except OSError:
            continue
        out.append((name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def is_table(path: str, fmt: str) -> bool:
    """Whether ``path`` names a request table rather than logs."""
    return fmt == "requests" or (fmt == "auto" and path.lower().endswith((".parquet", ".pq")))


@lru_cache(maxsize=4)
def _load(
    path: str,
    fmt: str,
    max_malformed_share: float,
    fields: tuple[tuple[str, str], ...],
    version: tuple[tuple[str, int, int], ...],
) -> RequestLog:
    del version  # part of the cache key only
    if is_table(path, fmt):
        import pyarrow.parquet as pq

        if not Path(path).is_file():
            raise TraceError(f"{path}: request table not found")
        try:
            stored = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise TraceError(f"{path}: not a readable Parquet file ({exc})") from None
        from sim.logs.source import table_source

        return RequestLog(path, check_table(stored, path), table_source(path))
    from sim.logs.readers import read_access_logs

    check_fits(path)
    raw, report = read_access_logs(
        path, fmt, max_malformed_share=max_malformed_share, apigw_fields=dict(fields) or None
    )
    if raw.num_rows == 0:
        raise TraceError(f"{path}: the logs hold no requests")
    for name, most in LIMITS.items():
        top = pc.max(raw.column(name)).as_py()
        if top is not None and top > most:
            raise TraceError(
                f"{path}: a logged {name} is {top:,}, more than {most:,.0f}: not a request's "
                "size or processing time"
            )
    if raw.num_rows > MAX_ROWS:
        raise TraceError(
            f"{path}: {raw.num_rows:,} requests is more than a replay holds ({MAX_ROWS:,})"
        )
    return RequestLog(path, normalize(raw), report_dict(report))


#: Shortest log line assumed when sizing a read (an ALB line is 400 to 700 bytes, CloudFront's
#: about 300, API Gateway's JSON 200 or more): more lines, more memory.
MIN_LINE_BYTES = 150
#: Memory a logged request takes while it is read and sorted (text, parsed columns, the table).
BYTES_PER_LINE_READ = 400


def log_bytes(path: str) -> int:
    """The logs' size as text: plain files' sizes and gzip files' uncompressed sizes (from each
    gzip trailer, modulo 4 GiB as gzip stores it; at least the compressed size)."""
    total = 0
    for name, size, _ in _version(path):
        try:
            with open(name, "rb") as fh:
                magic = fh.read(2)
                if magic == b"\x1f\x8b" and size >= 18:
                    fh.seek(-4, os.SEEK_END)
                    total += max(size, int.from_bytes(fh.read(4), "little"))
                else:
                    total += size
        except OSError:
            continue
    return total


def check_fits(path: str) -> None:
    """Refuse, before reading them whole (:func:`load_requests`, for ``sim fit``), logs whose
    requests could not be held in the memory available."""
    from sim.resources import MEMORY_SHARE, available_memory_bytes, format_bytes

    size = log_bytes(path)
    lines = size / MIN_LINE_BYTES
    need = lines * BYTES_PER_LINE_READ
    have = available_memory_bytes() * MEMORY_SHARE
    if need > have:
        raise TraceError(
            f"{path}: {format_bytes(size)} of logs (up to {lines:,.0f} lines) may need "
            f"{format_bytes(need)} of memory to replay, more than the {format_bytes(have)} this "
            "machine can give; refused before reading. Replay a shorter period (a glob of fewer "
            "files), or convert the logs on a larger machine ('sim logs convert')"
        )


def report_dict(report: Any) -> dict[str, Any]:
    """A reader's report as plain data (stored in a request table's metadata)."""
    from dataclasses import asdict, is_dataclass

    data = asdict(report) if is_dataclass(report) and not isinstance(report, type) else {}
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in data.items()}


def table_with_source(log: RequestLog) -> pa.Table:
    """The request table with where it came from in its schema metadata."""

    meta = dict(log.table.schema.metadata or {})
    meta[SOURCE_KEY] = json.dumps(log.source, sort_keys=True, default=str).encode()
    return log.table.replace_schema_metadata(meta)


def requests_cache_clear() -> None:
    _load.cache_clear()


@dataclass(frozen=True)
class ConnectionSpans:
    """The connections of a request table (see :func:`connection_spans`)."""

    opens: NDArray[np.bool_]  # per request: it opens its connection
    end_s: NDArray[np.float64]  # per request that opens one: when the connection closes
    known: NDArray[np.bool_]  # per request: the log names its connection


def connection_spans(log: RequestLog, idle_timeout_s: float) -> ConnectionSpans:
    """Which requests open a connection and when each closes, from the logged client connections.

    A connection opens with the first request the log shows on it, and with the first after a gap
    longer than the idle timeout (the load balancer has closed it by then; the client's next request
    on that key is a new connection). It closes ``idle_timeout_s`` after its last request's response
    (arrival + logged processing time, or the arrival where none is logged): the latest
    the load balancer would close it. A client that closes its connection sooner makes the true
    connection-seconds smaller; only connection logs could say (stated in the README)."""
    n = log.n
    known = log.known("connection")
    t = log.time_s
    conn = log.column("connection", np.uint64, 0)
    dur = log.column("duration_ms", np.float64, 0.0) / 1000.0
    done = t + np.maximum(dur, 0.0)
    opens = np.zeros(n, dtype=np.bool_)
    end = np.zeros(n, dtype=np.float64)
    idx = np.flatnonzero(known)
    if idx.size:
        # by connection, then arrival: the table is sorted by arrival, so a stable sort by
        # connection (a radix sort on the 64-bit ids) keeps each connection's requests in order
        order = idx[np.argsort(conn[idx], kind="stable")]
        c, a, d = conn[order], t[order], done[order]
        # the latest response end so far on the same key (a later request can finish earlier)
        first = np.ones(order.size, dtype=np.bool_)
        first[1:] = c[1:] != c[:-1]
        seg = np.cumsum(first) - 1
        run_max = segmented_running_max(d, seg)
        new = first.copy()
        new[1:] |= a[1:] > run_max[:-1] + idle_timeout_s
        last_done = np.maximum.reduceat(d, np.flatnonzero(new))  # each connection's latest end
        opens[order[new]] = True
        end[order[new]] = last_done + idle_timeout_s
    return ConnectionSpans(opens, end[opens], known)


def segmented_running_max(x: NDArray[np.float64], seg: NDArray[np.int64]) -> NDArray[np.float64]:
    """Running maximum of ``x`` restarting at each new value of the non-decreasing ``seg``: a
    doubling scan, exact, ``⌈log₂ L⌉`` vectorised passes for segments of at most ``L`` entries."""
    m = np.array(x, dtype=np.float64, copy=True)
    if m.size < 2:
        return m
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    longest = int(np.max(np.diff(np.r_[starts, m.size])))
    k = 1
    while k < longest:
        same = seg[k:] == seg[:-k]
        m[k:] = np.where(same, np.maximum(m[k:], m[:-k]), m[k:])
        k *= 2
    return m


#: How long a client key keeps its connection id after its latest response, s: the longest idle
#: timeout an ALB takes (4,000 s), so that a replay at any idle timeout splits the same way.
ID_RETENTION_S = 4000.0

#: Rows of a request table written at a time (one Parquet row group; memory while converting).
ROW_GROUP_ROWS = 1 << 18

#: How a request table's columns are written (zstd-compressed): arrival times, all distinct, with
#: byte-stream split (their bytes grouped by place: they compress well) and the connection ids,
#: random-looking, plain; each without the Parquet dictionary the writer would otherwise build
#: and give up on. The other columns repeat their values and keep the dictionary. Half the
#: writer's time of dictionary-encoding every column and a quarter smaller file; read back the
#: same table, faster.
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "use_dictionary": [f.name for f in TABLE_SCHEMA if f.name not in ("time_s", "connection")],
    "column_encoding": {"time_s": "BYTE_STREAM_SPLIT", "connection": "PLAIN"},
}


class ConnectionIds:
    """Opaque connection ids for client keys, in a stream of requests in time order.

    A key keeps its id while it is seen within :data:`ID_RETENTION_S` of its latest response; a
    key seen again later gets a new id (every replay would open a new connection for it anyway).
    Ids are ``(k × m) mod 2⁶³ xor s`` for the ``k``-th key seen, with ``m`` odd and ``s`` drawn at
    random from the salt and then forgotten: distinct keys get distinct ids, and nothing kept maps
    an id back to a client address. Only the keys seen within the retention are held.
    """

    def __init__(self, salt: bytes) -> None:
        rng = np.random.default_rng(int.from_bytes(hashlib.blake2b(salt, digest_size=16).digest()))
        self._mul = int(rng.integers(0, 2**62)) * 2 + 1
        self._xor = int(rng.integers(0, 2**63))
        self._next = 0
        self.keys: pa.Array | None = None
        self.ids = np.zeros(0, dtype=np.uint64)
        self.last_done_s = np.zeros(0, dtype=np.float64)

    def assign(
        self, key: pa.Array, time_s: NDArray[np.float64], done_s: NDArray[np.float64]
    ) -> pa.Array:
        """The ids of one batch's keys (null stays null), with the requests' arrivals (in time
        order, after the previous batch's) and response ends."""
        n = len(key)
        known = np.asarray(key.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
        out = np.zeros(n, dtype=np.uint64)
        if known.any():
            encoded = pc.dictionary_encode(key.filter(pa.array(known)))
            values = encoded.dictionary
            if self.keys is None or len(self.keys) == 0:
                pos = np.full(len(values), -1, dtype=np.int64)
                self.keys = values.slice(0, 0)
            else:
                found = pc.index_in(values, value_set=self.keys)
                pos = np.asarray(
                    pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64
                )
            missing = np.flatnonzero(pos < 0)
            if missing.size:
                k = np.arange(self._next, self._next + missing.size, dtype=np.uint64)
                self._next += missing.size
                with np.errstate(over="ignore"):  # uint64 arithmetic wraps: mod 2⁶⁴
                    new_ids = (k * np.uint64(self._mul)) & np.uint64(2**63 - 1)
                new_ids ^= np.uint64(self._xor)
                pos[missing] = len(self.keys) + np.arange(missing.size)
                self.keys = pa.concat_arrays([self.keys, values.take(pa.array(missing))])
                self.ids = np.concatenate([self.ids, new_ids])
                self.last_done_s = np.concatenate(
                    [self.last_done_s, np.full(missing.size, -np.inf)]
                )
            codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
            slot = pos[codes]
            out[known] = self.ids[slot]
            np.maximum.at(self.last_done_s, slot, done_s[known])
            keep = self.last_done_s + ID_RETENTION_S >= float(time_s[-1])
            if not keep.all():
                self.keys = self.keys.filter(pa.array(keep))
                self.ids, self.last_done_s = self.ids[keep], self.last_done_s[keep]
        mask = None if known.all() else pa.array(~known)
        return pa.array(out, type=pa.uint64(), mask=mask)


def write_request_table(
    opts: Any, target: Path, provenance: Mapping[str, Any], salt: bytes | None = None
) -> dict[str, Any]:
    """Stream the logs that ``opts`` (:class:`sim.logs.source.SourceOptions`) names into a request
    table at ``target``, a row group at a time (memory does not grow with the lines); returns what
    reading found (also stored in the table's metadata under :data:`SOURCE_KEY`)."""
    import pyarrow.parquet as pq

    from sim.output import PROVENANCE_KEY

    stream = opts.stream(routes=True)
    ids = ConnectionIds(secrets.token_bytes(16) if salt is None else salt)
    meta = {PROVENANCE_KEY: json.dumps(dict(provenance), sort_keys=True).encode()}
    schema = TABLE_SCHEMA.with_metadata(meta)
    held: list[pa.Table] = []
    rows = 0
    with pq.ParquetWriter(str(target), schema, **PARQUET_OPTIONS) as writer:

        def flush() -> None:
            nonlocal held, rows
            if held:
                table = pa.concat_tables(held, promote_options="default")
                t = np.asarray(table["time_s"].to_numpy(), dtype=np.float64)
                dur = pc.fill_null(table["duration_ms"], 0.0).to_numpy(zero_copy_only=False)
                done = t + np.maximum(np.nan_to_num(dur), 0.0) / 1000.0
                client = table["client"].combine_chunks()
                table = table.append_column("connection", ids.assign(client, t, done))
                writer.write_table(_as_request_table(table))
            held, rows = [], 0

        for table in stream.tables():
            held.append(table)
            rows += table.num_rows
            if rows >= ROW_GROUP_ROWS:
                flush()
        flush()
        source: dict[str, Any] = stream.report.as_dict()
        writer.add_key_value_metadata({SOURCE_KEY: json.dumps(source, default=str)})
    return source


def _as_request_table(t: pa.Table) -> pa.Table:
    def dictionary(name: str) -> pa.Array:
        return pc.dictionary_encode(t.column(name).combine_chunks().cast(pa.string()))

    columns = {
        "time_s": t.column("time_s").cast(pa.float64()),
        "request_bytes": t.column("request_bytes").cast(pa.int64()),
        "response_bytes": t.column("response_bytes").cast(pa.int64()),
        "connection": t.column("connection"),
        "route": dictionary("route"),
        "method": dictionary("method"),
        "duration_ms": t.column("duration_ms").cast(pa.float64()),
        "status": t.column("status").cast(pa.int32()),
        "event_type": dictionary("event_type"),
    }
    return pa.table({f.name: columns[f.name] for f in TABLE_SCHEMA}, schema=TABLE_SCHEMA)
