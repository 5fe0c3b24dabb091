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
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from sim.errors import TraceError
from sim.logs._common import (
    FLOAT_PATTERN,
    INT32_PATTERN,
    INT_PATTERN,
    REQUEST_SCHEMA,
    FileResult,
    Malformed,
    Problems,
    Rejects,
    as_bool,
    assemble,
    checked_cast,
    clip,
    head_lines,
    kept_line_numbers,
    null_if_equal,
    open_stream,
    parse_iso_seconds,
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


def _options(n_fields: int, threads: bool) -> tuple[Any, Any]:
    names = _names(n_fields)
    include = [c for c in _USED if c in names]
    read = pv.ReadOptions(column_names=names, use_threads=threads, block_size=1 << 22)
    convert = pv.ConvertOptions(
        include_columns=include,
        column_types={c: pa.string() for c in include},
        null_values=["-"],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    return read, convert


def _count_fields(lines: list[bytes]) -> list[int]:
    """How many fields each line has (parsed with ALB's quoting)."""
    counts: list[int] = []

    def handler(row: Any) -> str:
        counts.append(row.actual_columns)
        return "skip"

    # bytes that are not UTF-8 would fail pyarrow's row handler: count fields on a safe copy
    safe = [ln.decode("utf-8", "replace").encode("utf-8") for ln in lines]
    data = b"\n".join(_fix_escapes(ln) for ln in safe) + b"\n"
    parse = pv.ParseOptions(
        delimiter=" ", quote_char='"', escape_char=False, double_quote=False,
        invalid_row_handler=handler,
    )  # fmt: skip
    read = pv.ReadOptions(column_names=["a"], use_threads=False)
    t = pv.read_csv(io.BytesIO(data), read_options=read, parse_options=parse)
    return counts + [1] * t.num_rows


def _fix_escapes(data: bytes) -> bytes:
    """Turn backslash escapes of a quote or a backslash into ALB's own ``\\xHH`` form."""
    if b"\\" not in data:
        return data
    return data.replace(b"\\\\", b"\\x5c").replace(b'\\"', b"\\x22")


def field_count(path: str) -> int:
    """The number of fields most of the file's first lines have (at least ``MIN_FIELDS``), so that
    pyarrow can parse the file in one pass; lines with other counts are parsed apart."""
    sample = head_lines(path, 200)
    counts = Counter(c for c in _count_fields(sample) if c >= MIN_FIELDS) if sample else Counter()
    return counts.most_common(1)[0][0] if counts else len(FIELDS)


def read_alb(path: str) -> FileResult:
    """Read one ALB access log file (plain or gzip)."""
    n_fields = field_count(path)
    table, rejects = _read(path, n_fields, threads=True)
    if rejects.any and not rejects.numbers_known:  # line numbers need the one-thread parser
        table, rejects = _read(path, n_fields, threads=False)
    lines = kept_line_numbers(table.num_rows, rejects.numbers(), 1)
    keep = pc.not_equal(pc.fill_null(table["type"], "-"), "")  # blank lines come as empty rows
    if not pc.all(keep).as_py():
        table = table.filter(keep)
        lines = lines[as_bool(keep)]
    parts = [table.append_column(_LINE_COLUMN, pa.array(lines))]
    malformed = Malformed()
    if rejects.rows:
        parts.extend(_reparse(rejects, malformed))
    tables = [_convert(p, malformed) for p in parts if p.num_rows]
    if len(tables) > 1:
        out = pa.concat_tables(tables)
        out = out.take(pc.sort_indices(out[_LINE_COLUMN]))
    else:
        out = tables[0] if tables else assemble({}, 0)
    rows = out.num_rows
    return FileResult(
        out.select(REQUEST_SCHEMA.names), rows + malformed.count, malformed.count,
        malformed.report(path),
    )  # fmt: skip


def _read(path: str, n_fields: int, threads: bool) -> tuple[pa.Table, Rejects]:
    rejects = Rejects()
    read, convert = _options(n_fields, threads)
    try:
        with open_stream(path) as stream:
            table = pv.read_csv(
                stream, read_options=read, parse_options=_parse_options(rejects),
                convert_options=convert,
            )  # fmt: skip
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise TraceError(f"{path}: cannot read as an ALB access log: {exc}") from None
    return table, rejects


def _reparse(rejects: Rejects, malformed: Malformed) -> list[pa.Table]:
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
        read, convert = _options(count, threads=False)
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


def _at_least(parts: Any, n: int, filler: list[str]) -> tuple[Any, Any]:
    """The lists with fewer than ``n`` items replaced by ``filler``, and a mask of the full ones."""
    full = pc.greater_equal(pc.fill_null(pc.list_value_length(parts), 0), n)
    if not pc.all(full).as_py():
        parts = pc.if_else(full, parts, pa.scalar(filler, pa.list_(pa.string())))
    return parts, full


def split_request(request: Any) -> tuple[Any, Any]:
    """Method and path (without the query) of ALB's request field,
    ``GET https://host:443/path?query HTTP/1.1``; null where the field has none (``-``). String
    splits only: regular expressions would take several times as long."""
    null = pa.scalar(None, pa.string())
    parts, full = _at_least(pc.split_pattern(request, " ", max_splits=2), 2, ["-", "-"])
    method = null_if_equal(pc.list_element(parts, 0), "-")
    url = pc.list_element(parts, 1)  # "scheme://host:port/path?query"
    pieces, absolute = _at_least(pc.split_pattern(url, "/", max_splits=3), 4, ["", "", "", ""])
    path = pc.list_element(pc.split_pattern(pc.list_element(pieces, 3), "?", max_splits=1), 0)
    route = pc.if_else(pc.and_(full, absolute), pc.binary_join_element_wise("/", path, ""), null)
    return method, route


def _convert(table: pa.Table, malformed: Malformed) -> pa.Table:
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

    method, route = split_request(col("request"))
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
