"""Application Load Balancer access logs, as ELB writes them to S3 (one gzip file per node and 5
minutes; plain text accepted too).

A line is space-separated fields; some are enclosed in double quotes and may hold spaces. ALB writes
a quote inside a quoted field as ``\\x22``; a backslash-escaped quote (``\\"``) is accepted as well
and kept as ``\\x22``. The fields, in order (AWS may add more at the end; lines from before a field
existed end earlier)::

    type time elb client:port target:port request_processing_time target_processing_time
    response_processing_time elb_status_code target_status_code received_bytes sent_bytes
    "request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name"
    "chosen_cert_arn" matched_rule_priority request_creation_time "actions_executed"
    "redirect_url" "error_reason" "target:port_list" "target_status_code_list" "classification"
    "classification_reason" conn_trace_id "transformed_host" "transformed_uri"
    "request_transform_status"

A line needs the fields up to ``request_creation_time`` (22); later ones are optional and fields past
the known ones are ignored. Mapping: ``time_s`` ← ``request_creation_time`` (ISO 8601, µs, UTC);
``request_bytes`` ← ``received_bytes``; ``response_bytes`` ← ``sent_bytes``; ``client`` ←
``conn_trace_id`` (when present and not ``-``), else ``client:port``; ``method`` and ``route`` (the
URL's path, without the query) ← ``request``; ``duration_ms`` ← ``target_processing_time`` × 1000
(``-1``: null); ``status`` ← ``elb_status_code`` (``-``: null).

Source: Elastic Load Balancing user guide, "Access logs for your Application Load Balancer",
access log entries.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
from numpy.typing import NDArray

from sim.errors import TraceError
from sim.logs._common import (
    FLOAT_PATTERN,
    INT32_PATTERN,
    INT_PATTERN,
    REQUEST_SCHEMA,
    FileChunks,
    FileResult,
    Malformed,
    Problems,
    Rejects,
    assemble,
    checked_cast,
    clip,
    head_lines,
    kept_line_numbers,
    null_if_equal,
    open_stream,
    parse_iso_seconds,
    read_text,
    text_bytes,
)

FIELDS = (
    "type",
    "time",
    "elb",
    "client:port",
    "target:port",
    "request_processing_time",
    "target_processing_time",
    "response_processing_time",
    "elb_status_code",
    "target_status_code",
    "received_bytes",
    "sent_bytes",
    "request",
    "user_agent",
    "ssl_cipher",
    "ssl_protocol",
    "target_group_arn",
    "trace_id",
    "domain_name",
    "chosen_cert_arn",
    "matched_rule_priority",
    "request_creation_time",
    "actions_executed",
    "redirect_url",
    "error_reason",
    "target:port_list",
    "target_status_code_list",
    "classification",
    "classification_reason",
    "conn_trace_id",
    "transformed_host",
    "transformed_uri",
    "request_transform_status",
)
#: The fields a line must have: up to ``request_creation_time``.
MIN_FIELDS = FIELDS.index("request_creation_time") + 1
#: First fields of an ALB line (the request or connection type).
TYPES = ("http", "https", "h2", "grpcs", "ws", "wss")
_USED = (
    "type",
    "client:port",
    "target_processing_time",
    "elb_status_code",
    "received_bytes",
    "sent_bytes",
    "request",
    "request_creation_time",
    "conn_trace_id",
)
_LINE_COLUMN = "__line"
#: The request field is read dictionary-encoded: requests repeat (a route's), so it is split once
#: per distinct request (:func:`split_request`), not once per line.
_REQUEST = pa.dictionary(pa.int32(), pa.string())


def _names(n_fields: int) -> list[str]:
    return [FIELDS[i] if i < len(FIELDS) else f"extra_{i}" for i in range(n_fields)]


def _parse_options(rejects: Rejects) -> Any:
    return pv.ParseOptions(
        delimiter=" ",
        quote_char='"',
        escape_char=False,
        double_quote=False,
        ignore_empty_lines=False,
        invalid_row_handler=rejects,
    )


def _options(n_fields: int, threads: bool, routes: bool = True) -> tuple[Any, Any]:
    names = _names(n_fields)
    include = [c for c in _USED if c in names and (routes or c != "request")]
    read = pv.ReadOptions(column_names=names, use_threads=threads, block_size=1 << 22)
    convert = pv.ConvertOptions(
        include_columns=include,
        column_types={c: _REQUEST if c == "request" else pa.string() for c in include},
        null_values=["-"],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    return read, convert


def _count_fields(lines: list[bytes]) -> list[int]:
    """How many fields each (non-blank) line has, parsed with ALB's quoting. The lines are parsed
    as having as many fields as the first; pyarrow's handler of rows with another count sees the
    others (few Python calls, not one per line)."""
    if not lines:
        return []
    # bytes that are not UTF-8 would fail pyarrow's row handler: count fields on a safe copy
    safe = [_fix_escapes(ln.decode("utf-8", "replace").encode("utf-8")) for ln in lines]
    other: dict[int, int] = {}

    def handler(row: Any) -> str:
        other[row.number] = row.actual_columns
        return "skip"

    def parse(data: bytes, n: int) -> None:
        options = pv.ParseOptions(
            delimiter=" ", quote_char='"', escape_char=False, double_quote=False,
            invalid_row_handler=handler,
        )  # fmt: skip
        read = pv.ReadOptions(column_names=[f"c{i}" for i in range(n)], use_threads=False)
        pv.read_csv(io.BytesIO(data), read_options=read, parse_options=options)

    parse(safe[0] + b"\n", 1)  # the first line's count, through the handler
    n = other.get(1, 1)
    other.clear()
    parse(b"\n".join(safe) + b"\n", n)
    return [other.get(i, n) for i in range(1, len(safe) + 1)]


def _fix_escapes(data: bytes) -> bytes:
    """Turn backslash escapes of a quote or a backslash into ALB's own ``\\xHH`` form."""
    if b"\\" not in data:
        return data
    return data.replace(b"\\\\", b"\\x5c").replace(b'\\"', b"\\x22")


def field_count(path: str) -> int:
    """The number of fields most of the file's first lines have (at least ``MIN_FIELDS``), so that
    pyarrow can parse the file in one pass; lines with other counts are parsed apart."""
    sample = head_lines(path, 200, 1 << 17)
    counts = Counter(c for c in _count_fields(sample) if c >= MIN_FIELDS) if sample else Counter()
    return counts.most_common(1)[0][0] if counts else len(FIELDS)


#: Bytes of text parsed at a time: a file is read in blocks of this size (memory per file read).
BLOCK_BYTES = 1 << 23
#: Bytes of text the whole-file typed read (:func:`_typed`) tokenises at a time: a block that
#: stays in the core's cache parses 10 to 15 % faster than 8 MiB ones (one core, 2 MiB of L2).
TYPED_BLOCK_BYTES = 1 << 20


def read_alb(path: str) -> FileResult:
    """Read one ALB access log file (plain or gzip), rows in file order."""
    reading = alb_chunks(path)
    tables = list(reading.chunks())
    out = (
        pa.concat_tables(tables)
        if tables
        else assemble({}, 0).append_column(_LINE_COLUMN, pa.array([], pa.int64()))
    )
    if len(tables) > 1:
        out = out.take(pc.sort_indices(out[_LINE_COLUMN]))
    return FileResult(
        out.select(REQUEST_SCHEMA.names), reading.lines, reading.malformed.count,
        reading.first_malformed(),
    )  # fmt: skip


def alb_chunks(
    path: str, *, routes: bool = True, block_bytes: int = BLOCK_BYTES, head: bool = False
) -> FileChunks:
    """One ALB access log file (plain or gzip) read in blocks of ``block_bytes`` of text by
    pyarrow's streaming CSV reader on one thread (each chunk's rows with their line numbers).
    ``routes=False`` leaves ``route`` and ``method`` null (a replay does not use them): the
    request field is then not converted at all. ``head``: the first lines only (a sample)."""
    return FileChunks(path, lambda into: _alb_chunks(into, routes, block_bytes, head))


#: A file of at most this much text is read whole, first with typed columns and no row handler
#: (faster); any line that does not fit that (another field count, a value that does not parse or
#: is out of range) sends it through the block-by-block path, which reports each such line.
WHOLE_BYTES = 256 << 20


def _guess_fields(data: bytes) -> int:
    """The number of fields of the text's first line, counting spaces outside double quotes (a
    guess: the typed read checks every line against it)."""
    end = data.find(b"\n", 0, 1 << 16)
    line = data[: end if end >= 0 else 1 << 16].rstrip(b"\r")
    return sum(part.count(b" ") for part in line.split(b'"')[::2]) + 1


def _alb_chunks(into: FileChunks, routes: bool, block_bytes: int, head: bool) -> Iterator[pa.Table]:
    path = into.path
    data: bytes | None = None
    if not head and text_bytes(path) <= WHOLE_BYTES:
        try:
            data = read_text(path)
        except OSError as exc:
            raise TraceError(f"{path}: cannot read as an ALB access log: {exc}") from None
        guess = _guess_fields(data)
        fast = _typed(data, guess, routes) if guess >= MIN_FIELDS else None
        if fast is not None:
            if fast.num_rows:
                yield fast
            return
    n_fields = field_count(path)
    rejects = Rejects()
    read, convert = _options(n_fields, threads=False, routes=routes)
    read.block_size = block_bytes
    pending = np.zeros(0, dtype=np.int64)  # line numbers rejected, not yet passed
    next_line = 1
    drained = (0, 0)
    try:
        with open_stream(path, head) if data is None else pa.BufferReader(data) as stream:
            try:
                reader = pv.open_csv(
                    stream, read_options=read, parse_options=_parse_options(rejects),
                    convert_options=convert,
                )  # fmt: skip
            except pa.ArrowInvalid as exc:
                if "Empty CSV" in str(exc):
                    return
                raise
            for batch in reader:
                table = pa.Table.from_batches([batch])
                rows, skipped = rejects.rows[drained[0] :], rejects.skipped_numbers[drained[1] :]
                drained = (len(rejects.rows), len(rejects.skipped_numbers))
                new = [r.number for r in rows] + list(skipped)
                if new:
                    pending = np.union1d(pending, np.asarray(new, dtype=np.int64))
                lines = kept_line_numbers(table.num_rows, pending, next_line)
                if lines.size:
                    next_line = int(lines[-1]) + 1
                    pending = pending[pending >= next_line]
                yield from _chunk(table, lines, into.malformed, routes)
                if rows:
                    gone = Rejects(rows=list(rows))
                    for part in _reparse(gone, into.malformed, routes):
                        yield from _chunk(part, None, into.malformed, routes)
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise TraceError(f"{path}: cannot read as an ALB access log: {exc}") from None


_TYPED = {
    "target_processing_time": pa.float64(),
    "elb_status_code": pa.int32(),
    "received_bytes": pa.int64(),
    "sent_bytes": pa.int64(),
    "request_creation_time": pa.timestamp("us", "UTC"),
}


def _typed(data: bytes, n_fields: int, routes: bool) -> pa.Table | None:
    """Our columns of a whole file whose every line has ``n_fields`` fields and values that parse
    and are in range (None otherwise): the numbers and times parsed by pyarrow's CSV reader
    itself, with the same parsers as :func:`checked_cast` and :func:`parse_iso_seconds`."""
    read, convert = _options(n_fields, threads=False, routes=routes)
    read.block_size = TYPED_BLOCK_BYTES
    # no "type": a blank line has one field, which fails the read (and the other path tells it)
    convert.include_columns = [c for c in convert.include_columns if c != "type"]
    convert.column_types = {c: _TYPED.get(c, t) for c, t in convert.column_types.items()
                            if c in convert.include_columns}  # fmt: skip
    parse = pv.ParseOptions(
        delimiter=" ", quote_char='"', escape_char=False, double_quote=False,
        ignore_empty_lines=False,
    )  # fmt: skip
    try:
        t = pv.read_csv(pa.BufferReader(data), read_options=read, parse_options=parse,
                        convert_options=convert)  # fmt: skip
    except pa.ArrowInvalid:
        return None
    n = t.num_rows
    if n == 0:
        return None  # let the other path tell an empty file from blank lines
    target = t["target_processing_time"]
    checks = [
        pc.is_null(t["request_creation_time"]),
        pc.less(t["received_bytes"], 0),
        pc.less(t["sent_bytes"], 0),
        pc.less(t["elb_status_code"], 0),
        pc.and_(pc.less(target, 0), pc.not_equal(target, -1.0)),
        pc.invert(pc.is_finite(target)),
    ]
    for bad in checks:
        if pc.any(pc.fill_null(bad, False)).as_py():
            return None
    micros = pc.cast(pc.cast(t["request_creation_time"], pa.int64()), pa.float64())
    if routes:
        method, route = split_request(t["request"])
    else:
        method = route = None
    client = t["client:port"]
    if "conn_trace_id" in t.column_names:
        client = pc.coalesce(t["conn_trace_id"], client)
    return assemble(
        {
            "time_s": pc.divide(micros, 1e6),
            "request_bytes": t["received_bytes"],
            "response_bytes": t["sent_bytes"],
            "client": client,
            "route": route,
            "method": method,
            "duration_ms": pc.multiply(null_if_equal(target, -1.0), 1000.0),
            "status": t["elb_status_code"],
            "whole_second": pa.array(np.zeros(n, dtype=np.bool_)),
        },
        n,
    ).append_column(_LINE_COLUMN, pa.array(np.arange(1, n + 1, dtype=np.int64)))


def _chunk(
    table: pa.Table, lines: NDArray[np.int64] | None, malformed: Malformed, routes: bool
) -> Iterator[pa.Table]:
    """Our columns of a parsed block (``lines``: its rows' line numbers, else in the table)."""
    if lines is not None:
        table = table.append_column(_LINE_COLUMN, pa.array(lines, pa.int64()))
    keep = pc.not_equal(pc.fill_null(table["type"], "-"), "")  # blank lines come as empty rows
    if not pc.all(keep).as_py():
        table = table.filter(keep)
    if table.num_rows:
        out = _convert(table, malformed, routes)
        if out.num_rows:
            yield out


def _reparse(rejects: Rejects, malformed: Malformed, routes: bool = True) -> list[pa.Table]:
    """Parse the lines whose field count differed from the file's, grouped by their own count."""
    groups: dict[int, list[tuple[int, bytes]]] = {}
    texts = [(r.number or 0, _fix_escapes(r.text.encode("utf-8"))) for r in rejects.rows]
    counts = _count_fields([t for _, t in texts])
    for (number, text), count in zip(texts, counts, strict=True):
        if count < MIN_FIELDS:
            reason = f"{count} fields, an ALB access log line has at least {MIN_FIELDS}"
            malformed.add(1, number, clip(text.decode("utf-8", "replace")), reason)
        else:
            groups.setdefault(count, []).append((number, text))
    tables = []
    for count, rows in sorted(groups.items()):
        data = b"\n".join(t for _, t in rows) + b"\n"
        inner = Rejects()
        read, convert = _options(count, threads=False, routes=routes)
        table = pv.read_csv(
            io.BytesIO(data), read_options=read, parse_options=_parse_options(inner),
            convert_options=convert,
        )  # fmt: skip
        numbers = original = np.asarray([n for n, _ in rows], dtype=np.int64)
        if inner.any:  # not expected: each group was counted with the same parser
            numbers = original[kept_line_numbers(table.num_rows, inner.numbers(), 1) - 1]
            for r in inner.rows:
                line = int(original[(r.number or 1) - 1])
                malformed.add(1, line, clip(r.text), f"{r.columns} fields")
        tables.append(table.append_column(_LINE_COLUMN, pa.array(numbers)))
    return tables


def split_request(request: Any) -> tuple[pa.Array, pa.Array]:
    """Method and path (without the query) of ALB's request field,
    ``GET https://host:443/path?query HTTP/1.1``: the method is the text before the first space
    (null when it is ``-`` or the field has no space); the URL runs from there to the next space;
    the route from the URL's third ``/`` to its first ``?`` (null when the URL has fewer than
    three). Found with numpy on the column's bytes (positions of spaces, slashes and question
    marks), not per line in Python nor with regular expressions; a dictionary-encoded column is
    split once per distinct value."""
    if isinstance(request, pa.ChunkedArray):
        if pa.types.is_dictionary(request.type) and request.num_chunks > 1:
            # the chunks' dictionaries split together, each chunk's indices moved to its own
            chunks = request.chunks
            starts = np.cumsum([0] + [len(c.dictionary) for c in chunks[:-1]])
            indices = pa.concat_arrays(
                [pc.add(c.indices, pa.scalar(int(k), c.indices.type)) for c, k in zip(
                    chunks, starts, strict=True)]
            )  # fmt: skip
            values = pa.concat_arrays([c.dictionary for c in chunks])
            request = pa.DictionaryArray.from_arrays(indices, values)
        else:
            request = request.combine_chunks() if request.num_chunks else pa.array([], pa.string())
    if isinstance(request, pa.DictionaryArray):
        method, route = split_request(request.dictionary)
        return method.take(request.indices), route.take(request.indices)
    arr = request.cast(pa.string())
    n = len(arr)
    if n == 0:
        empty = pa.array([], pa.string())
        return empty, empty
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    data_buf = arr.buffers()[2]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    starts, ends = offsets[:-1].astype(np.int64), offsets[1:].astype(np.int64)
    base = int(offsets[0])
    text = data[base : int(offsets[-1])]
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)

    def after(
        positions: NDArray[np.int64], at: NDArray[np.int64], skip: int = 0
    ) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """The ``skip``-th position at or after each ``at``, and whether there is one."""
        i = np.searchsorted(positions, at) + skip
        ok = i < positions.size
        pos = positions[np.minimum(i, max(positions.size - 1, 0))] if positions.size else at
        return np.where(ok, pos, ends), ok

    spaces = np.flatnonzero(text == 32) + base
    sp1, has1 = after(spaces, starts)
    has1 &= sp1 < ends
    sp2, has2 = after(spaces, sp1 + 1)
    url_end = np.where(has2 & (sp2 < ends), sp2, ends)
    full = valid & has1
    slashes = np.flatnonzero(text == 47) + base
    s3, has3 = after(slashes, sp1 + 1, 2)
    absolute = full & has3 & (s3 < url_end)
    marks = np.flatnonzero(text == 63) + base
    q, hasq = after(marks, s3)
    route_end = np.where(hasq & (q < url_end), q, url_end)
    first_char = data[np.minimum(starts, data.size - 1)] if data.size else np.zeros(n, np.uint8)
    dash = (sp1 - starts == 1) & (first_char == 45)
    method = _substrings(data, starts, sp1, full & ~dash)
    route = _substrings(data, s3, route_end, absolute)
    return method, route


def _substrings(
    data: NDArray[np.uint8], a: NDArray[np.int64], b: NDArray[np.int64], valid: NDArray[np.bool_]
) -> pa.Array:
    """The strings ``data[a:b]`` (null where not ``valid``), copied into a new array."""
    length = np.where(valid, b - a, 0).astype(np.int32)
    offsets = np.zeros(length.size + 1, dtype=np.int32)
    np.cumsum(length, out=offsets[1:])
    total = int(offsets[-1])
    index = np.repeat((a - offsets[:-1]).astype(np.int64), length) + np.arange(total)
    chars = data[index] if total else np.zeros(0, np.uint8)
    mask = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(
        pa.string(), length.size, [mask, pa.py_buffer(offsets), pa.py_buffer(chars)]
    )


def _convert(table: pa.Table, malformed: Malformed, routes: bool = True) -> pa.Table:
    """Our columns from ALB's (strings), marking rows whose values do not parse as malformed."""
    n = table.num_rows
    problems = Problems(n)
    col = table.column

    def reason_for(name: str, what: str) -> Any:
        return lambda i: f"{name} is not {what}: {col(name)[i].as_py()!r}"

    time_s, bad = parse_iso_seconds(col("request_creation_time"), utc_suffix=True)
    if bad is not None:
        problems.add(bad, reason_for("request_creation_time", "an ISO 8601 UTC time"))
    problems.add(pc.is_null(time_s), lambda i: "request_creation_time is missing")
    received, bad = checked_cast(col("received_bytes"), pa.int64(), INT_PATTERN)
    if bad is not None:
        problems.add(bad, reason_for("received_bytes", "a whole number ≥ 0"))
    sent, bad = checked_cast(col("sent_bytes"), pa.int64(), INT_PATTERN)
    if bad is not None:
        problems.add(bad, reason_for("sent_bytes", "a whole number ≥ 0"))
    target_s, bad = checked_cast(
        col("target_processing_time"), pa.float64(), FLOAT_PATTERN, allowed=(-1.0,)
    )
    if bad is not None:
        problems.add(bad, reason_for("target_processing_time", "a number ≥ 0 (or -1)"))
    status, bad = checked_cast(col("elb_status_code"), pa.int32(), INT32_PATTERN)
    if bad is not None:
        problems.add(bad, reason_for("elb_status_code", "a status code"))
    duration_ms = pc.multiply(null_if_equal(target_s, -1.0), 1000.0)

    if routes:
        method, route = split_request(col("request"))
    else:
        method = route = None
    client = col("client:port")
    if "conn_trace_id" in table.column_names:
        client = pc.coalesce(col("conn_trace_id"), client)

    out = assemble(
        {
            "time_s": time_s,
            "request_bytes": received,
            "response_bytes": sent,
            "client": client,
            "route": route,
            "method": method,
            "duration_ms": duration_ms,
            "status": status,
            "whole_second": pa.array(np.zeros(n, dtype=np.bool_)),
        },
        n,
    ).append_column(_LINE_COLUMN, col(_LINE_COLUMN))
    if problems.bad.any():
        first = problems.first_bad()
        if first is not None:
            i, reason = first
            count = int(problems.bad.sum())
            malformed.add(count, int(col(_LINE_COLUMN)[i].as_py()), None, reason)
        out = out.filter(pa.array(~problems.bad))
    return out
