"""CloudFront standard logs (legacy), as delivered to S3: W3C extended format, tab-separated, ``-``
for an empty field, headed by ``#Version: 1.0`` and ``#Fields: date time x-edge-location ...``.

Columns are found by the names in the file's ``#Fields:`` line, so any order or subset works;
``date``, ``time`` and ``sc-bytes`` are required. Mapping: ``time_s`` ← ``date`` + ``time`` (UTC,
whole seconds; the time the edge server finished responding); ``request_bytes`` ← ``cs-bytes``;
``response_bytes`` ← ``sc-bytes``; ``client`` ← ``c-ip:c-port`` (null where the log has no
``c-port``); ``route`` ← ``cs-uri-stem``; ``method`` ← ``cs-method``; ``duration_ms`` ←
``time-taken`` × 1000; ``status`` ← ``sc-status``. Other ``#`` lines (a second header where files
were joined) are skipped and not counted.

Source: Amazon CloudFront developer guide, "Standard logging reference", log file fields.
"""

from __future__ import annotations

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
    LINE,
    REQUEST_SCHEMA,
    FileResult,
    Malformed,
    Problems,
    Rejects,
    as_bool,
    assemble,
    checked_cast,
    head_lines,
    kept_line_numbers,
    open_stream,
    parse_iso_seconds,
)

REQUIRED = ("date", "time", "sc-bytes")
_USED = (
    "date",
    "time",
    "sc-bytes",
    "c-ip",
    "c-port",
    "cs-method",
    "cs-uri-stem",
    "sc-status",
    "cs-bytes",
    "time-taken",
)


def header(path: str) -> list[str]:
    """The field names of the file's ``#Fields:`` line."""
    data_lines = head_lines(path, 50)
    for ln in data_lines:
        if not ln.startswith(b"#"):
            break
        if ln.startswith(b"#Fields:"):
            names = ln[len(b"#Fields:") :].decode("utf-8", "replace").split()
            return names
    raise TraceError(f"{path}: not a CloudFront standard log: no '#Fields:' line before the data")


def _skip_rows(path: str) -> int:
    """How many physical lines (comments and blanks) come before the first data line."""
    with open_stream(path) as s:
        head: bytes = s.read(1 << 18)
    n = 0
    for ln in head.split(b"\n"):
        if ln.strip() and not ln.startswith(b"#"):
            return n
        n += 1
    return n


def read_cloudfront(path: str, head: bool = False) -> FileResult:
    """Read one CloudFront standard log file (plain or gzip; ``head``: its first lines only)."""
    names = header(path)
    missing = [f for f in REQUIRED if f not in names]
    if missing:
        raise TraceError(
            f"{path}: CloudFront log lacks the field(s) {', '.join(missing)} in its '#Fields:' line"
        )
    if len(set(names)) != len(names):
        raise TraceError(f"{path}: CloudFront '#Fields:' line names a field twice")
    skip = _skip_rows(path)
    table, rejects = _read(path, names, skip, threads=True, head=head)
    if rejects.any and not rejects.numbers_known:
        table, rejects = _read(path, names, skip, threads=False, head=head)
    lines = kept_line_numbers(table.num_rows, rejects.numbers(), skip + 1)
    keep = pc.not_equal(pc.fill_null(table["date"], "-"), "")  # blank lines come as empty rows
    if not pc.all(keep).as_py():
        table = table.filter(keep)
        lines = lines[as_bool(keep)]
    malformed = Malformed()
    if rejects.rows:
        first = rejects.rows[0]
        reason = f"{first.columns} fields, the '#Fields:' line names {len(names)}"
        malformed.add(len(rejects.rows), first.number or 0, first.text[:200], reason)
    out = _convert(table, lines, malformed)
    return FileResult(out, out.num_rows + malformed.count, malformed.count, malformed.report(path))


def _read(
    path: str, names: list[str], skip: int, threads: bool, head: bool = False
) -> tuple[pa.Table, Rejects]:
    rejects = Rejects(skip=lambda text: not text.strip() or text.startswith("#"))
    include = [c for c in _USED if c in names]
    read = pv.ReadOptions(
        column_names=names, skip_rows=skip, use_threads=threads, block_size=1 << 22
    )
    parse = pv.ParseOptions(
        delimiter="\t", quote_char=False, escape_char=False, ignore_empty_lines=False,
        invalid_row_handler=rejects,
    )  # fmt: skip
    convert = pv.ConvertOptions(
        include_columns=include,
        column_types={c: pa.string() for c in include},
        null_values=["-"],
        strings_can_be_null=True,
    )
    try:
        with open_stream(path, head) as stream:
            table = pv.read_csv(
                stream, read_options=read, parse_options=parse, convert_options=convert
            )
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise TraceError(f"{path}: cannot read as a CloudFront standard log: {exc}") from None
    return table, rejects


def _convert(table: pa.Table, lines: Any, malformed: Malformed) -> pa.Table:
    n = table.num_rows
    problems = Problems(n)
    names = table.column_names

    def col(name: str) -> Any:
        return table[name] if name in names else pa.nulls(n, pa.string())

    def reason_for(name: str, what: str) -> Any:
        return lambda i: f"{name} is not {what}: {col(name)[i].as_py()!r}"

    stamp = pc.binary_join_element_wise(col("date"), col("time"), "T")
    time_s, bad = parse_iso_seconds(stamp, utc_suffix=False)
    if bad is not None:
        problems.add(bad, lambda i: f"date and time are not a UTC time: {stamp[i].as_py()!r}")
    problems.add(pc.is_null(time_s), lambda i: "date or time is missing")
    converted = {}
    for ours, theirs, typ, pattern, what in (
        ("response_bytes", "sc-bytes", pa.int64(), INT_PATTERN, "a whole number ≥ 0"),
        ("request_bytes", "cs-bytes", pa.int64(), INT_PATTERN, "a whole number ≥ 0"),
        ("status", "sc-status", pa.int32(), INT32_PATTERN, "a status code"),
        ("duration_ms", "time-taken", pa.float64(), FLOAT_PATTERN, "a number ≥ 0"),
    ):
        value, bad = checked_cast(col(theirs), typ, pattern)
        if bad is not None:
            problems.add(bad, reason_for(theirs, what))
        converted[ours] = value
    converted["duration_ms"] = pc.multiply(converted["duration_ms"], 1000.0)
    client = pc.binary_join_element_wise(col("c-ip"), col("c-port"), ":")
    out = assemble(
        {
            "time_s": time_s,
            "client": client,
            "route": col("cs-uri-stem"),
            "method": col("cs-method"),
            "whole_second": pa.array(np.ones(n, dtype=np.bool_)),
            **converted,
        },
        n,
    )
    out = out.append_column(LINE, pa.array(np.asarray(lines, dtype=np.int64)))
    if problems.bad.any():
        first = problems.first_bad()
        if first is not None:
            i, reason = first
            malformed.add(int(problems.bad.sum()), int(lines[i]), None, reason)
        out = out.filter(pa.array(~problems.bad))
    return out.select([*REQUEST_SCHEMA.names, LINE])
