"""Pieces shared by the access-log readers: the output schema, file opening (plain or gzip, told by
the magic bytes), the collector of rows pyarrow's CSV parser rejects, checked casts of string columns
and line numbering. Nothing here loops over lines in Python."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from sim.errors import TraceError

#: The table every reader returns, one row per request, in file order. Units: seconds since the Unix
#: epoch (UTC), bytes, milliseconds. A column the format lacks is null.
REQUEST_SCHEMA = pa.schema(
    [
        pa.field("time_s", pa.float64()),
        pa.field("request_bytes", pa.int64()),
        pa.field("response_bytes", pa.int64()),
        pa.field("client", pa.string()),
        pa.field("route", pa.string()),
        pa.field("method", pa.string()),
        pa.field("duration_ms", pa.float64()),
        pa.field("status", pa.int32()),
        pa.field("event_type", pa.string()),
        # the log gives the second only (CloudFront; API Gateway's requestTime): the replay
        # spreads such requests over their second
        pa.field("whole_second", pa.bool_()),
    ]
)

#: How much of a malformed line the report and the error keep.
TEXT_LIMIT = 200

GZIP_MAGIC = b"\x1f\x8b"

# Conservative patterns: whatever they accept, ``pc.cast`` accepts too.
INT_PATTERN = r"^[+-]?\d{1,18}$"
INT32_PATTERN = r"^[+-]?\d{1,9}$"
FLOAT_PATTERN = r"^[+-]?\d{1,15}(\.\d{0,17})?([eE][+-]?\d{1,3})?$|^[+-]?\.\d{1,17}$"


@dataclass(frozen=True)
class MalformedLine:
    """The first malformed line of a read: ``file``, 1-based ``line`` number, the line's ``text``
    (cut to 200 characters) and the ``reason``."""

    file: str
    line: int
    text: str
    reason: str


@dataclass
class FileResult:
    """What one file gave: the rows (``REQUEST_SCHEMA``), the data lines seen, the malformed ones."""

    table: pa.Table
    lines: int
    malformed: int
    first_malformed: MalformedLine | None


#: The column of a reader's chunks that holds each row's line number in its file (1-based).
LINE = "__line"


@dataclass
class FileChunks:
    """One file read chunk by chunk: :meth:`chunks` yields tables of ``REQUEST_SCHEMA`` plus
    :data:`LINE` (rows of a chunk in file order; a later chunk may hold lines parsed apart, which
    come earlier in the file); once they are all read, ``lines`` counts the data lines seen and
    ``malformed`` the lines left out, the first of them reported by :meth:`first_malformed`."""

    path: str
    read: Callable[[FileChunks], Iterator[pa.Table]]
    lines: int = 0
    malformed: Malformed = field(default_factory=lambda: Malformed())

    def chunks(self) -> Iterator[pa.Table]:
        for chunk in self.read(self):
            self.lines += chunk.num_rows
            yield chunk
        self.lines += self.malformed.count

    def first_malformed(self) -> MalformedLine | None:
        return self.malformed.report(self.path)


def whole_file(result: Callable[[], FileResult]) -> Callable[[FileChunks], Iterator[pa.Table]]:
    """A :class:`FileChunks` reader of one chunk from a reader of whole files whose table carries
    :data:`LINE`."""

    def read(into: FileChunks) -> Iterator[pa.Table]:
        got = result()
        into.malformed.add(got.malformed, *_first(got.first_malformed))
        if got.table.num_rows:
            yield got.table

    return read


def _first(first: MalformedLine | None) -> tuple[int, str | None, str]:
    if first is None:
        return 0, None, ""
    return first.line, first.text, first.reason


def is_gzip(path: str) -> bool:
    """Whether the file starts with the gzip magic bytes (the name does not matter)."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_stream(path: str, head: bool = False) -> Any:
    """A stream over the file's bytes, decompressed when the file is gzip: with Intel's ISA-L
    (python-isal), about three times zlib's speed (any gzip file, several members included,
    reads as with zlib). ``head``: only the whole lines of the first 256 KiB (a sample)."""
    if head:
        data = read_head(path)
        if len(data) == HEAD_BYTES and b"\n" in data:
            data = data[: data.rfind(b"\n") + 1]
        return pa.BufferReader(data)
    if not is_gzip(path):
        return pa.input_stream(path, compression=None)
    import isal.igzip

    return isal.igzip.open(path, "rb")  # type: ignore[no-untyped-call]


def read_text(path: str) -> bytes:
    """The file's whole text: a gzip file inflated (every member) by ISA-L's one-shot inflate,
    faster than its stream (a ``TraceError`` if it is cut short or corrupt)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] != GZIP_MAGIC:
        return raw
    import isal.isal_zlib

    parts = []
    try:
        while raw[:2] == GZIP_MAGIC:
            d = isal.isal_zlib.decompressobj(wbits=31)
            parts.append(d.decompress(raw))
            if not d.eof:
                raise TraceError(f"{path}: cannot read: the gzip data is cut short")
            raw = d.unused_data
    except (OSError, ValueError, EOFError, _isal_error()) as exc:
        raise TraceError(f"{path}: cannot read: {exc}") from None
    if raw.strip(b"\0"):
        raise TraceError(f"{path}: cannot read: data after the gzip members that is not gzip")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _isal_error() -> type[Exception]:
    import isal.isal_zlib

    error: type[Exception] = isal.isal_zlib.error  # type: ignore[assignment]
    return error


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under ``taskset``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def text_bytes(path: str) -> int:
    """The file's size as text: a plain file's size, a gzip file's uncompressed size from its
    trailer (modulo 4 GiB, as gzip stores it; at least the compressed size)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            if fh.read(2) == GZIP_MAGIC and size >= 18:
                fh.seek(-4, os.SEEK_END)
                return max(size, int.from_bytes(fh.read(4), "little"))
    except OSError:
        return 0
    return size


#: How much of a file a sample reads (``head``), bytes of text.
HEAD_BYTES = 1 << 18


def read_head(path: str, n_bytes: int = HEAD_BYTES) -> bytes:
    """Up to ``n_bytes`` of the file's (decompressed) bytes, for sniffing its format."""
    try:
        with open_stream(path) as s:
            data: bytes = s.read(n_bytes)
            return data
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise TraceError(f"{path}: cannot read: {exc}") from None


def head_lines(path: str, n: int, n_bytes: int = HEAD_BYTES) -> list[bytes]:
    """The first ``n`` non-empty lines of the file (whole lines only, within its first
    ``n_bytes``), without line ends."""
    data = read_head(path, n_bytes)
    if len(data) == n_bytes and b"\n" in data:
        data = data[: data.rfind(b"\n")]
    return [ln.rstrip(b"\r") for ln in data.split(b"\n") if ln.strip()][:n]


def line_text(path: str, line: int) -> str:
    """The text of line ``line`` (1-based) of the file, cut to ``TEXT_LIMIT`` characters; read in
    blocks (newlines counted in C), only to report a malformed line."""
    seen = 0  # newlines before ``buffer``
    buffer = b""
    with open_stream(path) as s:
        while True:
            block = s.read(1 << 20)
            buffer += block
            count = buffer.count(b"\n")
            if seen + count >= line or not block:
                parts = buffer.split(b"\n", line - seen)
                text = parts[line - 1 - seen] if len(parts) > line - 1 - seen else b""
                return clip(text.rstrip(b"\r").decode("utf-8", "replace"))
            seen += count
            buffer = buffer[buffer.rfind(b"\n") + 1 :]


def clip(text: str) -> str:
    return text[:TEXT_LIMIT]


@dataclass
class Malformed:
    """Count of a file's malformed lines and the first of them: ``(line, text or None, reason)``
    (text None: to be read back from the file)."""

    count: int = 0
    first: tuple[int, str | None, str] | None = None

    def add(self, count: int, line: int, text: str | None, reason: str) -> None:
        self.count += count
        if count and (self.first is None or line < self.first[0]):
            self.first = (line, text, reason)

    def report(self, path: str) -> MalformedLine | None:
        if self.first is None:
            return None
        line, text, reason = self.first
        return MalformedLine(
            path, line, text if text is not None else line_text(path, line), reason
        )


@dataclass
class RejectedRow:
    number: int | None
    text: str
    columns: int


@dataclass
class Rejects:
    """The ``invalid_row_handler`` for pyarrow's CSV parser: keeps every rejected row (a wrong
    number of fields) with its physical line number (known only when parsing on one thread).
    ``skip(text)`` tells which rejected rows are not data (comments, blank lines)."""

    skip: Callable[[str], bool] = field(default=lambda text: not text.strip())
    rows: list[RejectedRow] = field(default_factory=list)
    skipped_numbers: list[int | None] = field(default_factory=list)

    def __call__(self, row: Any) -> str:
        text = row.text
        if self.skip(text):
            self.skipped_numbers.append(row.number)
        else:
            self.rows.append(RejectedRow(row.number, text.rstrip("\r"), row.actual_columns))
        return "skip"

    @property
    def any(self) -> bool:
        return bool(self.rows or self.skipped_numbers)

    @property
    def numbers_known(self) -> bool:
        return all(r.number is not None for r in self.rows) and all(
            n is not None for n in self.skipped_numbers
        )

    def numbers(self) -> NDArray[np.int64]:
        """Sorted line numbers of all rejected rows (data or not)."""
        nums = [r.number for r in self.rows] + list(self.skipped_numbers)
        return np.sort(np.asarray([n for n in nums if n is not None], dtype=np.int64))


def kept_line_numbers(
    n_kept: int, rejected: NDArray[np.int64], first_line: int
) -> NDArray[np.int64]:
    """Line numbers of the ``n_kept`` rows a parser kept, given the sorted line numbers of those it
    rejected: every line from ``first_line`` on is one or the other, in order."""
    total = n_kept + rejected.size
    lines = np.arange(first_line, first_line + total, dtype=np.int64)
    if rejected.size:
        lines = lines[~np.isin(lines, rejected, assume_unique=True)]
    return lines[:n_kept]


@dataclass
class Problems:
    """Malformed rows of one file: each ``add`` is a boolean mask over the table's rows and a
    reason; the first is reported."""

    n_rows: int
    bad: NDArray[np.bool_] = field(init=False)
    first: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bad = np.zeros(self.n_rows, dtype=np.bool_)

    def add(self, mask: Any, reason: Callable[[int], str]) -> None:
        """Mark the rows where ``mask`` (a pyarrow or numpy boolean array; null = fine) is true;
        ``reason(i)`` words the problem of row ``i``."""
        m = as_bool(mask)
        if not m.any():
            return
        i = int(np.argmax(m & ~self.bad)) if (m & ~self.bad).any() else -1
        self.bad |= m
        if i >= 0:
            self.first[i] = reason(i)

    def first_bad(self) -> tuple[int, str] | None:
        if not self.first:
            return None
        i = min(self.first)
        return i, self.first[i]


def as_bool(mask: Any) -> NDArray[np.bool_]:
    if isinstance(mask, np.ndarray):
        return mask.astype(np.bool_, copy=False)
    arr = pc.fill_null(mask, False)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    out: NDArray[np.bool_] = arr.to_numpy(zero_copy_only=False).astype(np.bool_, copy=False)
    return out


def checked_cast(
    col: Any, to: pa.DataType, pattern: str, *, allowed: tuple[float, ...] = ()
) -> tuple[Any, Any | None]:
    """Cast a string column (nulls stay null) to ``to``; where values do not parse, or are not
    finite, or are negative (sizes, times and status codes never are; ``allowed`` lists the
    values a format uses as markers, e.g. ALB's ``-1``), they become null and the second result
    is a mask of them (None when all are good)."""
    try:
        value = pc.cast(col, to)
        bad = None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        ok = pc.match_substring_regex(col, pattern)
        good = pc.if_else(ok, col, pa.scalar(None, pa.string()))
        value, bad = pc.cast(good, to), pc.invert(ok)
    wrong = pc.less(value, 0)
    if pa.types.is_floating(to):
        wrong = pc.or_(wrong, pc.invert(pc.is_finite(value)))
    for marker in allowed:
        wrong = pc.and_(wrong, pc.not_equal(value, marker))
    wrong = pc.fill_null(wrong, False)
    if not pc.any(wrong).as_py():
        return value, bad
    value = pc.if_else(wrong, pa.scalar(None, to), value)
    return value, wrong if bad is None else pc.or_(pc.fill_null(bad, False), wrong)


def parse_iso_seconds(col: Any, utc_suffix: bool) -> tuple[Any, Any | None]:
    """ISO 8601 instants (``2024-03-01T12:00:00.123456Z`` when ``utc_suffix``, else without the
    ``Z`` and taken as UTC) to float64 seconds since the epoch; unparsable values become null and
    are flagged by the mask (None when all parse)."""
    to = pa.timestamp("us", "UTC") if utc_suffix else pa.timestamp("us")
    bad = None
    try:
        ts = pc.cast(col, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        frac = r"(\.\d{1,9})?" + ("Z" if utc_suffix else "")
        shape = pc.match_substring_regex(col, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d" + frac + "$")
        head = pc.utf8_slice_codeunits(col, 0, 19)
        parsed = pc.strptime(head, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
        # strptime rolls 30 February over to 1 March: a real date prints back the same
        same = pc.equal(pc.strftime(parsed, format="%Y-%m-%dT%H:%M:%S"), head)
        ok = pc.and_kleene(shape, pc.fill_null(same, False))
        bad = pc.invert(ok)
        ts = pc.cast(pc.if_else(ok, col, pa.scalar(None, pa.string())), to)
    micros = pc.cast(pc.cast(ts, pa.int64()), pa.float64())
    return pc.divide(micros, 1e6), bad


def null_if_equal(col: Any, value: Any) -> Any:
    """``col`` with nulls where it equals ``value``."""
    return pc.if_else(pc.equal(col, value), pa.scalar(None, col.type), col)


def empty_table() -> pa.Table:
    return REQUEST_SCHEMA.empty_table()


def assemble(columns: dict[str, Any], n_rows: int) -> pa.Table:
    """A ``REQUEST_SCHEMA`` table from the given columns (missing ones are null); no copies."""
    arrays = []
    for f in REQUEST_SCHEMA:
        col = columns.get(f.name)
        if col is None:
            col = pa.nulls(n_rows, f.type)
        if not isinstance(col, pa.ChunkedArray):
            col = pa.chunked_array([col], type=col.type)
        if col.type != f.type:
            col = pc.cast(col, f.type)
        arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=REQUEST_SCHEMA)
