"""Trace files: request counts per second or minute (any regular step), or one timestamp per request.

Formats: CSV (``.csv``, optionally gzipped ``.csv.gz``) and Parquet (``.parquet``, ``.pq``), with a
header naming the columns (by default ``timestamp`` and ``requests``, as in ``../shared/traces``);
or a series (``format = "series"``, optionally gzipped): bare whole-number counts, one per line or
separated by whitespace, no header and no timestamps, with their step and first instant given by
the scenario (``step_s``, ``begin``).
Timestamps are ISO 8601 (UTC unless they carry an offset), a Parquet/Arrow timestamp type, or numbers
(seconds since the epoch). A counts file has a step: the smallest gap between its timestamps (every
timestamp must lie on that grid; missing steps count 0). A timestamps file (no count column) is
binned into per-second counts.

Every problem is a :class:`sim.errors.TraceError` naming the file and, where it applies, the line
(CSV; line 1 is the header) or row (Parquet, from 1). A trace is read once per process and file
version (cached on path, size and modification time).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from sim.errors import TraceError
from sim.units import iso_utc

if TYPE_CHECKING:
    from sim.traffic.models import ReplayTraffic

#: Largest number of steps a counts trace may span (dense storage).
MAX_STEPS = 200_000_000
#: Longest step of a counts trace: the engine spreads a step's requests over its seconds.
MAX_STEP_S = 86_400
#: Longest span of a timestamps trace (it is binned per second): a leap year.
MAX_TIMESTAMP_SPAN_S = 366 * 86_400
#: Timestamps beyond these (seconds since the epoch) are not dates (years 1 to 9999).
MIN_EPOCH_S, MAX_EPOCH_S = -62_135_596_800, 253_402_300_799
#: Largest count of one step (the meters count requests in int64 with room for bytes).
MAX_COUNT = 2**52


@dataclass(frozen=True)
class Trace:
    """A trace as dense counts on a regular grid: ``counts[k]`` requests in
    ``[start_epoch_s + k·step_s, start_epoch_s + (k+1)·step_s)``."""

    path: str
    kind: str  # "counts" or "timestamps"
    start_epoch_s: int
    step_s: int
    counts: NDArray[np.int64]

    @property
    def span_s(self) -> int:
        """Seconds the trace covers."""
        return int(self.counts.size * self.step_s)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    @property
    def mean_per_s(self) -> float:
        return self.total / self.span_s

    @property
    def peak_per_s(self) -> float:
        """Largest rate of one step, requests/s."""
        return float(self.counts.max()) / self.step_s


def load_trace(
    path: str,
    fmt: str = "auto",
    timestamp_column: str = "timestamp",
    count_column: str = "requests",
    *,
    step_s: int | None = None,
    begin: datetime | None = None,
) -> Trace:
    """Read and check a trace file (cached per file version).

    ``fmt="series"`` reads bare counts (no header, no timestamps: one per line, or separated by
    whitespace), ``step_s`` seconds each, the first at ``begin`` (both required for it, ignored
    otherwise).

    Raises
    ------
    TraceError
        The file is missing, unreadable, empty or malformed, or has negative counts, missing
        values or unsorted timestamps; the message names the file and the line or row.
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        raise TraceError(f"{path}: trace file not found") from None
    if not p.is_file():
        raise TraceError(f"{path}: is not a file")
    if fmt == "series":
        if step_s is None or begin is None:
            raise TraceError(
                f"{path}: format 'series' needs step_s (seconds per count) and begin (the "
                "date-time of the first count)"
            )
        begin_utc = begin.replace(tzinfo=UTC) if begin.tzinfo is None else begin
        first = round(begin_utc.timestamp())
        return _load_series(str(p), st.st_size, st.st_mtime_ns, int(step_s), first)
    return _load(str(p), st.st_size, st.st_mtime_ns, fmt, timestamp_column, count_column)


#: Bytes a series file may hold besides digits: ASCII whitespace.
_SERIES_SPACE = b" \t\n\r\x0b\x0c"
_SERIES_FORMAT = "format 'series': whole-number counts separated by spaces or newlines, no header"


@lru_cache(maxsize=8)
def _load_series(path: str, size: int, mtime_ns: int, step_s: int, start_epoch_s: int) -> Trace:
    """A series file: bare counts, ``step_s`` seconds each, the first at ``start_epoch_s``."""
    del mtime_ns  # part of the cache key only
    if size == 0:
        raise TraceError(f"{path}: is empty")
    if not 1 <= step_s <= MAX_STEP_S:
        raise TraceError(f"{path}: step_s {step_s} must be 1 to {MAX_STEP_S:,} s")
    try:
        if path.lower().endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = Path(path).read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise TraceError(f"{path}: cannot be read ({exc})") from None
    if raw.translate(None, b"0123456789" + _SERIES_SPACE):  # a byte that is no digit nor space
        _series_problem(path, raw)
    tokens = np.array(raw.split())
    if tokens.size == 0:
        raise TraceError(f"{path}: holds no counts ({_SERIES_FORMAT})")
    if tokens.size > MAX_STEPS:
        raise TraceError(f"{path}: holds {tokens.size:,} counts: too many (> {MAX_STEPS:,})")
    if tokens.dtype.itemsize > 15:  # 16 digits may exceed 2^52
        big = np.flatnonzero(np.char.str_len(tokens) > 15)
        for k in big:
            if int(tokens[k]) > MAX_COUNT:
                raise TraceError(
                    f"{path}, line {_line_of_token(raw, int(k))}: count {int(tokens[k]):.3g} is "
                    "too large (at most 2^52 a step)"
                )
    counts = tokens.astype(np.int64)
    if counts.sum() == 0:
        raise TraceError(f"{path}: holds no requests (every count is 0)")
    return Trace(path, "series", start_epoch_s, step_s, counts)


def _series_problem(path: str, raw: bytes) -> None:
    """Raise for the first token of a series file that is not a whole number ≥ 0, with its line."""
    for number, line in enumerate(raw.split(b"\n"), start=1):
        for token in line.split():
            if token.isdigit():
                continue
            text = token.decode("utf-8", errors="replace")
            shown = text if len(text) <= 40 else text[:37] + "..."
            if token.startswith(b"-") and token[1:].isdigit():
                raise TraceError(
                    f"{path}, line {number}: negative count {shown} (counts must be ≥ 0)"
                )
            hint = ""
            if number == 1 and not any(c.isdigit() for c in text):
                hint = "; a header? series files have none"
            raise TraceError(
                f"{path}, line {number}: {shown!r} is not a whole number ({_SERIES_FORMAT}){hint}"
            )
    raise TraceError(f"{path}: holds bytes that are neither digits nor spaces ({_SERIES_FORMAT})")


def _line_of_token(raw: bytes, k: int) -> int:
    """The line (from 1) of the ``k``-th whitespace-separated token of ``raw``."""
    seen = 0
    for number, line in enumerate(raw.split(b"\n"), start=1):
        seen += len(line.split())
        if seen > k:
            return number
    return number


def _bare_counts(path: str) -> bool:
    """Whether the file starts like a series file (bare whole numbers, no header)."""
    try:
        with _open_binary(path) as fh:
            head = fh.read(4096)
    except (OSError, EOFError, gzip.BadGzipFile):
        return False
    tokens = head.split()[:-1] or head.split()  # the last may be cut
    return bool(tokens) and all(t.isdigit() for t in tokens) and b"," not in head


def _open_binary(path: str) -> Any:
    return gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")


_SERIES_HINT = (
    "; it looks like bare counts: give format = 'series' with step_s (seconds per count) and "
    "begin (the date-time of the first count)"
)


@lru_cache(maxsize=8)
def _load(path: str, size: int, mtime_ns: int, fmt: str, ts_col: str, count_col: str) -> Trace:
    del mtime_ns  # part of the cache key only
    if size == 0:
        raise TraceError(f"{path}: is empty")
    parquet = path.lower().endswith((".parquet", ".pq"))
    table = _read_parquet(path) if parquet else _read_csv(path)
    where = _row_namer(path, parquet)
    names = table.column_names
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise TraceError(f"{path}: the column {dupes[0]!r} appears more than once")
    if ts_col not in names:
        hint = _SERIES_HINT if not parquet and _bare_counts(path) else ""
        shown = ", ".join(names)
        shown = shown if len(shown) <= 200 else shown[:197] + "..."
        raise TraceError(f"{path}: no column {ts_col!r} (columns: {shown}){hint}")
    kind = fmt if fmt != "auto" else ("counts" if count_col in names else "timestamps")
    if kind == "counts" and count_col not in names:
        raise TraceError(f"{path}: no column {count_col!r} (columns: {', '.join(names)})")
    if table.num_rows == 0:
        raise TraceError(f"{path}: has no data rows")
    seconds = _epoch_seconds(table.column(ts_col), where, ts_col)
    if kind == "counts":
        counts = _counts(table.column(count_col), where, count_col)
        return _counts_trace(path, seconds, counts, where)
    return _timestamps_trace(path, seconds, where)


def _row_namer(path: str, parquet: bool) -> Any:
    def where(i: int) -> str:
        return f"{path}, row {i + 1}" if parquet else f"{path}, line {i + 2}"

    return where


def _read_parquet(path: str) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise TraceError(f"{path}: not a readable Parquet file ({exc})") from None


def _read_csv(path: str) -> pa.Table:
    import pyarrow.csv as pcsv

    try:
        return pcsv.read_csv(path)
    except (pa.ArrowException, OSError, EOFError, gzip.BadGzipFile) as exc:
        if _bare_counts(path):
            raise TraceError(f"{path}: not a CSV file with a header{_SERIES_HINT}") from None
        _scan_csv_structure(path)  # raises with the line if it can find one
        raise TraceError(f"{path}: malformed CSV ({exc})") from None


def _open_text(path: str) -> io.TextIOBase:
    if path.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _scan_csv_structure(path: str) -> None:
    """Find the first line whose number of fields differs from the header's."""
    try:
        with _open_text(path) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise TraceError(f"{path}: is empty")
            for row in reader:
                if len(row) != len(header):
                    raise TraceError(
                        f"{path}, line {reader.line_num}: expected {len(header)} fields "
                        f"({', '.join(header)}), got {len(row)}"
                    )
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile, csv.Error) as exc:
        raise TraceError(f"{path}: cannot be read as CSV ({exc})") from None


def _first_null(col: pa.ChunkedArray) -> int | None:
    if col.null_count == 0:
        return None
    nulls = np.asarray(pc.is_null(col).to_numpy(zero_copy_only=False))
    return int(np.flatnonzero(nulls)[0])


def _epoch_seconds(col: pa.ChunkedArray, where: Any, name: str) -> NDArray[np.float64]:
    """Timestamps as float seconds since the epoch (naive timestamps are UTC)."""
    i = _first_null(col)
    if i is not None:
        raise TraceError(f"{where(i)}: missing {name}")
    t = col.type
    if pa.types.is_timestamp(t):
        unit = {"s": 1, "ms": 1e3, "us": 1e6, "ns": 1e9}[t.unit]
        raw = col.cast(pa.int64()).to_numpy()
        return np.asarray(raw, dtype=np.float64) / unit
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        values = np.asarray(col.to_numpy(), dtype=np.float64)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        values = np.empty(len(col), dtype=np.float64)
        for k, text in enumerate(col.to_pylist()):
            values[k] = _parse_time(text, where(k), name)
    else:
        raise TraceError(f"{where(0)}: {name} has type {t}, expected timestamps")
    bad = np.flatnonzero(~np.isfinite(values) | (values < MIN_EPOCH_S) | (values > MAX_EPOCH_S))
    if bad.size:
        k = int(bad[0])
        raise TraceError(
            f"{where(k)}: {name} {values[k]:g} is not a date (expected years 1 to 9999: an ISO "
            "8601 timestamp or seconds since 1970)"
        )
    return values


def _parse_time(text: str, where: str, name: str) -> float:
    s = text.strip()
    try:
        return float(s)
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(s)
    except (ValueError, OverflowError):
        raise TraceError(f"{where}: {name} {text!r} is not an ISO 8601 timestamp") from None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return value.timestamp()


def _counts(col: pa.ChunkedArray, where: Any, name: str) -> NDArray[np.int64]:
    i = _first_null(col)
    if i is not None:
        raise TraceError(f"{where(i)}: missing {name}")
    t = col.type
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        f = np.asarray(col.to_numpy(), dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(f) | (f != np.round(f)))
        if bad.size:
            raise TraceError(f"{where(int(bad[0]))}: {name} {f[bad[0]]:g} is not a whole number")
        big = np.flatnonzero(np.abs(f) > MAX_COUNT)
        if big.size:
            k = int(big[0])
            raise TraceError(f"{where(k)}: {name} {f[k]:.3g} is too large (at most 2^52 a step)")
        values = (
            np.asarray(col.to_numpy(), dtype=np.int64)
            if pa.types.is_integer(t)
            else f.astype(np.int64)
        )
    elif not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise TraceError(f"{where(0)}: {name} has type {t}, expected whole numbers")
    else:
        for k, text in enumerate(col.cast(pa.string()).to_pylist()):
            try:
                int(text)
            except (TypeError, ValueError):
                raise TraceError(f"{where(k)}: {name} {text!r} is not a whole number") from None
        raise TraceError(f"{where(0)}: {name} has type {t}, expected whole numbers")
    neg = np.flatnonzero(values < 0)
    if neg.size:
        k = int(neg[0])
        raise TraceError(f"{where(k)}: negative {name} {values[k]} (counts must be ≥ 0)")
    return values


def _counts_trace(
    path: str, seconds: NDArray[np.float64], counts: NDArray[np.int64], where: Any
) -> Trace:
    frac = np.flatnonzero(seconds != np.floor(seconds))
    if frac.size:
        raise TraceError(f"{where(int(frac[0]))}: a counts trace needs whole-second timestamps")
    ts = seconds.astype(np.int64)
    d = np.diff(ts)
    bad = np.flatnonzero(d <= 0)
    if bad.size:
        k = int(bad[0]) + 1
        raise TraceError(
            f"{where(k)}: timestamp {iso_utc(int(ts[k]))} is not after the previous one "
            f"({iso_utc(int(ts[k - 1]))}): timestamps must be sorted and unique"
        )
    step = int(d.min()) if d.size else 1
    if step > MAX_STEP_S:
        raise TraceError(
            f"{path}: its step is {step:,} s (the smallest gap between timestamps): a counts trace "
            f"needs steps of at most a day ({MAX_STEP_S:,} s)"
        )
    off = np.flatnonzero((ts - ts[0]) % step)
    if off.size:
        k = int(off[0])
        raise TraceError(
            f"{where(k)}: timestamp {iso_utc(int(ts[k]))} is off the trace's {step}-second grid "
            "(steps must be regular)"
        )
    n = (int(ts[-1]) - int(ts[0])) // step + 1
    if n > MAX_STEPS:
        raise TraceError(f"{path}: spans {n:,} steps of {step} s: too sparse (> {MAX_STEPS:,})")
    dense = np.zeros(n, dtype=np.int64)
    dense[(ts - ts[0]) // step] = counts
    if dense.sum() == 0:
        raise TraceError(f"{path}: holds no requests (every count is 0)")
    return Trace(path, "counts", int(ts[0]), step, dense)


def _timestamps_trace(path: str, seconds: NDArray[np.float64], where: Any) -> Trace:
    d = np.diff(seconds)
    bad = np.flatnonzero(d < 0)
    if bad.size:
        k = int(bad[0]) + 1
        raise TraceError(
            f"{where(k)}: timestamp {seconds[k]!r} is before the previous one ({seconds[k - 1]!r}):"
            " timestamps must be sorted"
        )
    start = math.floor(seconds[0])
    span = math.floor(seconds[-1]) - start + 1
    if span > MAX_TIMESTAMP_SPAN_S:
        raise TraceError(
            f"{path}: spans {span:,} s: a timestamps trace is binned per second and may span at "
            f"most {MAX_TIMESTAMP_SPAN_S:,} s (366 days); give per-minute counts for longer traces"
        )
    counts = np.bincount(np.floor(seconds - start).astype(np.int64), minlength=span)
    return Trace(path, "timestamps", start, 1, counts.astype(np.int64))


def replayed_trace(cfg: ReplayTraffic) -> Trace:
    """The trace a ``[traffic]`` replay plays (read once per file version)."""
    return load_trace(
        cfg.path,
        cfg.format,
        cfg.timestamp_column,
        cfg.count_column,
        step_s=cfg.step_s,
        begin=cfg.begin,
    )


def trace_cache_clear() -> None:
    """Forget cached traces (tests)."""
    _load.cache_clear()
    _load_series.cache_clear()


__all__ = ["Trace", "load_trace", "replayed_trace", "trace_cache_clear"]
