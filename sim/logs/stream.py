"""Access logs streamed in arrival order, in bounded memory.

Lines are not ordered by arrival in a log file, nor files in a directory. The files are read in the
order of the time they cover: from their names where AWS puts it there (an ALB file's
``..._YYYYMMDDTHHMMZ_...`` is the end of its 5-minute interval; a CloudFront file's
``.YYYY-MM-DD-HH.`` its hour), else from the earliest time among their first lines (a sample of
256 KiB). Rows wait in a **reorder window** of ``reorder_window_s`` seconds: once the stream has
read up to time ``T`` (the earlier of the latest time read and the next file's start), every row
before ``T − reorder_window_s`` (to the whole second) is sorted and handed on. A line that comes
later than that (more than the window out of order) is *late*: left out, counted and reported with
its file and line, like a malformed line; more than ``max_malformed_share`` of them is an error
that says to widen the window. Nothing is reordered wrongly: what is handed on is in time order.

Memory holds the rows of the window, the files read ahead (one per core) and one block of text per
file, whatever the number of lines. Files are parsed side by side on threads (pyarrow and numpy
release the GIL); the order they are consumed in, and so the result, does not depend on it.
"""

from __future__ import annotations

import math
import os
import re
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from sim.errors import TraceError
from sim.logs._common import LINE, REQUEST_SCHEMA, FileChunks, MalformedLine, usable_cores
from sim.logs.readers import (
    check_malformed,
    check_options,
    detect_format,
    file_chunks,
    find_files,
)

#: Default reorder window, s: a line may come this much later than lines after it in time (ALB
#: files hold 5 minutes each; a request is logged when it ends, so one longer than the window
#: would be late).
REORDER_WINDOW_S = 300.0

#: A file whose text is at most this large is parsed whole on a worker thread, ahead of its turn;
#: a larger one is read block by block when its turn comes (memory: one block).
READ_AHEAD_BYTES = 256 << 20

#: Column of a streamed row: the index of its file in :attr:`StreamReport.files`.
FILE = "__file"

_ALB_STAMP = re.compile(r"_(\d{8}T\d{4}Z)_")
_CF_STAMP = re.compile(r"\.(\d{4}-\d{2}-\d{2}-\d{2})\.")


@dataclass(frozen=True)
class LateLine:
    """The first late line: ``file``, 1-based ``line``, its logged ``time_s`` and the
    ``watermark_s`` it came after (everything before that had been handed on)."""

    file: str
    line: int
    time_s: float
    watermark_s: float


@dataclass
class StreamReport:
    """What a stream read: ``files`` (in reading order), data ``lines``, ``rows`` handed on,
    ``malformed`` and ``late`` lines left out (each with its first), the ``format``, the
    ``reorder_window_s`` and how the files were ordered (``order``)."""

    files: tuple[str, ...] = ()
    lines: int = 0
    rows: int = 0
    malformed: int = 0
    first_malformed: MalformedLine | None = None
    late: int = 0
    first_late: LateLine | None = None
    format: str = ""
    reorder_window_s: float = REORDER_WINDOW_S
    order: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        from dataclasses import asdict

        data = asdict(self)
        data["files"] = list(self.files)
        return data


def name_time_s(path: str, fmt: str) -> float | None:
    """The start of the time a log file covers, from its name as AWS writes it (None: not
    there): an ALB file's interval end (``_YYYYMMDDTHHMMZ_``) less 5 minutes, a CloudFront
    file's hour (``.YYYY-MM-DD-HH.``)."""
    name = os.path.basename(path)
    if fmt in ("alb", "alb_connection"):
        m = _ALB_STAMP.search(name)
        if m:
            try:
                end = datetime.strptime(m.group(1), "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
            except ValueError:
                return None
            return end.timestamp() - 300.0
    elif fmt == "cloudfront":
        m = _CF_STAMP.search(name)
        if m:
            try:
                hour = datetime.strptime(m.group(1), "%Y-%m-%d-%H").replace(tzinfo=UTC)
            except ValueError:
                return None
            return hour.timestamp()
    return None


def sample_time_s(path: str, fmt: str, apigw_fields: Mapping[str, str] | None = None) -> float:
    """The earliest time among the file's first lines (−inf when none parses); kept per process
    and version of the file."""
    try:
        st = os.stat(path)
        version = (st.st_size, st.st_mtime_ns)
    except OSError:
        version = (-1, -1)
    fields = tuple(sorted((apigw_fields or {}).items()))
    return _sample_time_s(path, fmt, fields, version)


@lru_cache(maxsize=1 << 16)
def _sample_time_s(
    path: str, fmt: str, fields: tuple[tuple[str, str], ...], version: tuple[int, int]
) -> float:
    del version  # part of the cache key only
    apigw_fields = dict(fields) or None
    reading = file_chunks(fmt, path, routes=False, apigw_fields=apigw_fields, head=True)
    first = math.inf
    for chunk in reading.chunks():
        if chunk.num_rows:
            first = min(first, float(pc.min(chunk["time_s"]).as_py()))
        break
    return first if math.isfinite(first) else -math.inf


def ordered_files(
    files: list[str], fmt: str, apigw_fields: Mapping[str, str] | None = None
) -> tuple[list[str], list[float], str]:
    """The files in the order of the time they cover, each with that time (see the module's
    docstring), and how it was known."""
    keys: list[float] = []
    named = sampled = 0
    for f in files:
        k = name_time_s(f, fmt)
        if k is None:
            k = sample_time_s(f, fmt, apigw_fields)
            sampled += 1
        else:
            named += 1
        keys.append(k)
    order = sorted(range(len(files)), key=lambda i: (keys[i], files[i]))
    how = "file names" if not sampled else "first lines" if not named else "file names, first lines"
    return [files[i] for i in order], [keys[i] for i in order], how


def _text_bytes(path: str) -> int:
    """The file's size as text (a gzip file's from its trailer)."""
    from sim.logs.requests import log_bytes

    return log_bytes(path)


@dataclass
class _Pending:
    """Rows read, not yet handed on (tables in reading order, each with its times)."""

    tables: list[pa.Table] = field(default_factory=list)
    times: list[NDArray[np.float64]] = field(default_factory=list)
    rows: int = 0

    def add(self, table: pa.Table) -> None:
        self.tables.append(table)
        self.times.append(np.asarray(table["time_s"].to_numpy(), dtype=np.float64))
        self.rows += table.num_rows

    def take_before(self, watermark_s: float) -> pa.Table | None:
        """The rows before ``watermark_s``, sorted by time (stable: reading order breaks ties);
        those at or after it stay (the tables after the last with a row before it stay as they
        are, not copied)."""
        outs = [t < watermark_s for t in self.times]
        j = len(outs)
        while j and not outs[j - 1].any():
            j -= 1
        if j == 0:
            return None
        head = (
            pa.concat_tables(self.tables[:j], promote_options="default")
            if j > 1
            else self.tables[0]
        )
        t = np.concatenate(self.times[:j]) if j > 1 else self.times[0]
        out_mask = np.concatenate(outs[:j]) if j > 1 else outs[0]
        tables, times = self.tables[j:], self.times[j:]
        if out_mask.all():
            rows = np.arange(t.size)
        else:
            rows = np.flatnonzero(out_mask)
            tables.insert(0, head.filter(pa.array(~out_mask)))
            times.insert(0, t[~out_mask])
            t = t[rows]
        self.tables, self.times = tables, times
        self.rows = sum(x.num_rows for x in tables)
        out = head.take(pa.array(rows[stable_argsort(t)]))
        return spread_whole_seconds(out)


def stable_argsort(t: NDArray[np.float64]) -> NDArray[np.intp]:
    """``np.argsort(t, kind="stable")``, from numpy's faster unstable sort with the (rare) runs of
    equal values put back in their order."""
    if np.isnan(t).any():
        return np.argsort(t, kind="stable")
    order = np.argsort(t)
    s = t[order]
    tie = s[1:] == s[:-1]
    if tie.any():
        in_run = np.zeros(s.size, dtype=np.bool_)
        in_run[1:] = tie
        in_run[:-1] |= tie
        runs = order[in_run]
        order[in_run] = runs[np.lexsort((runs, s[in_run]))]
    return order


def spread_whole_seconds(table: pa.Table) -> pa.Table:
    """Requests whose log gives the second only (``whole_second``: CloudFront, API Gateway's
    ``requestTime``) spread evenly over their second: the ``n`` of a second, the ``k``-th in log
    order at ``second + (k + ½)/n``; the table (sorted by time) sorted again."""
    if "whole_second" not in table.column_names:
        return table
    ws = table["whole_second"]
    if ws.null_count == len(ws) or not pc.any(pc.fill_null(ws, False)).as_py():
        return table
    whole = np.asarray(pc.fill_null(ws, False).to_numpy(zero_copy_only=False), dtype=np.bool_)
    sec = np.array(table["time_s"].to_numpy(), dtype=np.float64)
    idx = np.flatnonzero(whole)
    s = sec[idx]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    sizes = np.diff(np.r_[starts, s.size])
    rank = np.arange(s.size) - np.repeat(starts, sizes)
    sec[idx] = np.floor(s) + (rank + 0.5) / np.repeat(sizes, sizes)
    table = table.set_column(table.column_names.index("time_s"), "time_s", pa.array(sec))
    return table.take(pa.array(np.argsort(sec, kind="stable")))


class LogStream:
    """Access logs as a stream of tables in time order (:meth:`tables`); once it is consumed,
    :attr:`report` says what was read, and the malformed and late shares have been checked.

    Each table has the reader's columns (``REQUEST_SCHEMA``, times spread over their second where
    the log gives the second only) and :data:`LINE` and :data:`FILE`; ``time_s`` never decreases
    from one row to the next, across tables too.
    """

    def __init__(
        self,
        path: str,
        fmt: str = "auto",
        *,
        max_malformed_share: float = 0.001,
        apigw_fields: Mapping[str, str] | None = None,
        reorder_window_s: float = REORDER_WINDOW_S,
        routes: bool = True,
        workers: int | None = None,
    ) -> None:
        check_options(path, fmt, max_malformed_share, apigw_fields)
        if not (reorder_window_s >= 0 and math.isfinite(reorder_window_s)):
            raise TraceError(f"{path}: reorder_window_s must be ≥ 0, not {reorder_window_s}")
        self.path = path
        files = find_files(path)
        self.format = detect_format(files[0]) if fmt == "auto" else fmt
        self.max_malformed_share = max_malformed_share
        self.apigw_fields = apigw_fields
        self.window_s = float(reorder_window_s)
        self.routes = routes
        self.workers = max(1, workers if workers is not None else usable_cores())
        self.files, self.keys, how = ordered_files(files, self.format, apigw_fields)
        self.report = StreamReport(
            files=tuple(self.files), format=self.format, reorder_window_s=self.window_s, order=how
        )

    def _open(self, i: int) -> tuple[FileChunks, list[pa.Table] | None]:
        reading = file_chunks(
            self.format, self.files[i], routes=self.routes, apigw_fields=self.apigw_fields
        )
        if _text_bytes(self.files[i]) <= READ_AHEAD_BYTES:
            return reading, [self._project(c) for c in reading.chunks()]
        return reading, None

    #: The columns a stream without routes hands on (a replay needs no more).
    PLAYED = ("time_s", "request_bytes", "response_bytes", "duration_ms", "client", LINE)

    def _project(self, chunk: pa.Table) -> pa.Table:
        """The chunk with the columns wanted only (``whole_second`` where it is ever true)."""
        if self.routes or "request_bytes" not in chunk.column_names:  # connection logs
            return chunk
        names = list(self.PLAYED)
        ws = chunk["whole_second"]
        if ws.null_count < len(ws) and pc.any(pc.fill_null(ws, False)).as_py():
            names.append("whole_second")
        return chunk.select(names)

    def tables(self) -> Iterator[pa.Table]:
        """The rows in time order, a table at a time (see the class docstring)."""
        report = self.report
        pending = _Pending()
        watermark = -math.inf
        latest = -math.inf
        n = len(self.files)
        first_bad: MalformedLine | None = None
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            ahead: deque[Future[tuple[FileChunks, list[pa.Table] | None]]] = deque()
            submitted = 0
            for i in range(n):
                while submitted < n and len(ahead) < self.workers + 1:
                    ahead.append(pool.submit(self._open, submitted))
                    submitted += 1
                reading, chunks = ahead.popleft().result()
                following = self.keys[i + 1] if i + 1 < n else math.inf
                parts = chunks if chunks is not None else map(self._project, reading.chunks())
                for chunk in parts:
                    chunk = self._late(chunk, i, watermark)
                    if chunk.num_rows == 0:
                        continue
                    latest = max(latest, float(pc.max(chunk["time_s"]).as_py()))
                    pending.add(
                        chunk.append_column(FILE, pa.array(np.full(chunk.num_rows, i, np.int32)))
                    )
                    mark = math.floor(min(latest, following) - self.window_s)
                    if mark > watermark:
                        watermark = float(mark)
                        out = pending.take_before(watermark)
                        if out is not None:
                            report.rows += out.num_rows
                            yield out
                report.lines += reading.lines
                report.malformed += reading.malformed.count
                if first_bad is None and reading.malformed.count:
                    first_bad = reading.first_malformed()
            out = pending.take_before(math.inf)
            if out is not None:
                report.rows += out.num_rows
                yield out
        report.first_malformed = first_bad
        self._check()

    def _late(self, chunk: pa.Table, i: int, watermark: float) -> pa.Table:
        """The chunk without its rows before ``watermark`` (counted, the first reported)."""
        if not math.isfinite(watermark):
            return chunk
        t = np.asarray(chunk["time_s"].to_numpy(), dtype=np.float64)
        late = t < watermark
        if not late.any():
            return chunk
        report = self.report
        if report.first_late is None:
            j = int(np.argmax(late))
            line = int(chunk[LINE][j].as_py())
            report.first_late = LateLine(self.files[i], line, float(t[j]), watermark)
        report.late += int(late.sum())
        return chunk.filter(pa.array(~late))

    def _check(self) -> None:
        r = self.report
        check_malformed(
            self.path, r.format, r.files, r.lines, r.malformed, r.first_malformed,
            self.max_malformed_share,
        )  # fmt: skip
        if r.lines and r.late / r.lines > self.max_malformed_share and r.first_late is not None:
            first = r.first_late
            raise TraceError(late_message(first, r.late, r.lines, self.window_s,
                                          self.max_malformed_share))  # fmt: skip


def late_message(first: LateLine, late: int, lines: int, window_s: float, share: float) -> str:
    """The error for too many late lines."""
    from sim.units import iso_utc

    return (
        f"{first.file}:{first.line}: a line logged at {iso_utc(first.time_s)} comes "
        f"{first.watermark_s + window_s - first.time_s:,.0f} s after later lines, more than the "
        f"reorder window ({window_s:g} s); {late:,} of {lines:,} lines ({late / lines:.3%}) are "
        f"that late, more than max_malformed_share {share:g}: widen traffic.reorder_window_s "
        "(sim logs: --reorder-window)"
    )


def times_of(table: pa.Table) -> NDArray[np.float64]:
    """A streamed table's arrival times as numpy (seconds since the epoch)."""
    return np.asarray(table["time_s"].to_numpy(), dtype=np.float64)


__all__ = [
    "FILE",
    "LINE",
    "REORDER_WINDOW_S",
    "REQUEST_SCHEMA",
    "LateLine",
    "LogStream",
    "StreamReport",
    "name_time_s",
    "ordered_files",
]
