"""API Gateway access logs in JSON: one object per line, as exported from CloudWatch Logs (a line may
also be CloudWatch's export form ``<ISO timestamp> <json>``).

The keys are whatever the API's access log format names its ``$context`` variables; by default
(override any of them with ``fields``: our column name → JSON key, ``""`` for none):

============== =====================================================================
time_s         ``requestTimeEpoch`` (ms since the epoch), else ``requestTime``
               (``dd/MMM/yyyy:HH:mm:ss +0000``)
request_bytes  none (map e.g. ``requestLength``)
response_bytes ``responseLength``
client         ``connectionId`` (WebSocket APIs)
route          ``resourcePath``, else ``routeKey``, else ``path``
method         ``httpMethod``
duration_ms    ``integrationLatency`` (ms)
status         ``status``
event_type     ``eventType`` (WebSocket: CONNECT, MESSAGE, DISCONNECT)
============== =====================================================================

Values may be JSON numbers or strings; ``"-"`` (what API Gateway writes for a variable without a
value) and ``null`` are null. A mapped time is read as milliseconds when it is a number, else in the
``requestTime`` form. A line is malformed when it is not one JSON object, when a mapped key holds an
object or array, or when its time is missing or a number does not parse.

Source: Amazon API Gateway developer guide, "Variables for access logging for API Gateway" and
"Customize HTTP API access logs".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.json as pj
from numpy.typing import NDArray

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
    clip,
    kept_line_numbers,
    open_stream,
)

#: Our column → the JSON keys tried in turn (the first present wins).
DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "time_s": ("requestTimeEpoch", "requestTime"),
    "request_bytes": (),
    "response_bytes": ("responseLength",),
    "client": ("connectionId",),
    "route": ("resourcePath", "routeKey", "path"),
    "method": ("httpMethod",),
    "duration_ms": ("integrationLatency",),
    "status": ("status",),
    "event_type": ("eventType",),
}
#: CloudWatch Logs' export form puts the event's timestamp before the JSON.
_EXPORT_PREFIX = r"^\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:?\d\d)?\s+"
_CHUNK = 4096
_SEPARATOR = "\x1e"  # never in valid JSON text (a control character outside strings)


def field_map(fields: Mapping[str, str] | None) -> dict[str, tuple[str, ...]]:
    """The default mapping with the user's overrides (``""``: no key)."""
    out = dict(DEFAULT_FIELDS)
    for ours, key in (fields or {}).items():
        if ours not in out:
            raise TraceError(
                f"apigw_fields: unknown column {ours!r}; the columns are {', '.join(out)}"
            )
        if not isinstance(key, str):
            raise TraceError(f"apigw_fields: {ours} must name a JSON key (a string), not {key!r}")
        out[ours] = (key,) if key else ()
    return out


def read_apigw(
    path: str, fields: Mapping[str, str] | None = None, head: bool = False
) -> FileResult:
    """Read one file of API Gateway JSON access log lines (plain or gzip; ``head``: its first
    lines only)."""
    mapping = field_map(fields)
    keys = sorted({k for ks in mapping.values() for k in ks})
    rejects = Rejects()
    try:
        with open_stream(path, head) as stream:
            table = pv.read_csv(
                stream,
                read_options=pv.ReadOptions(column_names=["line"], use_threads=False),
                parse_options=pv.ParseOptions(
                    delimiter=_SEPARATOR, quote_char=False, escape_char=False,
                    ignore_empty_lines=False, invalid_row_handler=rejects,
                ),
                convert_options=pv.ConvertOptions(
                    column_types={"line": pa.string()}, strings_can_be_null=False
                ),
            )  # fmt: skip
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise TraceError(f"{path}: cannot read as API Gateway JSON lines: {exc}") from None
    raw = table["line"].combine_chunks() if table.num_rows else pa.array([], pa.string())
    lines = kept_line_numbers(len(raw), rejects.numbers(), 1)
    malformed = Malformed()
    if rejects.rows:
        first = rejects.rows[0]
        malformed.add(len(rejects.rows), first.number or 0, clip(first.text), "not one JSON object")
    text = pc.utf8_trim_whitespace(raw)
    nonblank = as_bool(pc.not_equal(text, ""))
    raw, text, lines = raw.filter(nonblank), text.filter(nonblank), lines[nonblank]
    text = pc.replace_substring_regex(text, pattern=_EXPORT_PREFIX, replacement="")
    is_object = as_bool(pc.and_(pc.starts_with(text, "{"), pc.ends_with(text, "}")))
    if not is_object.all():
        i = int(np.argmax(~is_object))
        malformed.add(
            int((~is_object).sum()), int(lines[i]), clip(raw[i].as_py()), "not a JSON object"
        )
        raw, text, lines = raw.filter(is_object), text.filter(is_object), lines[is_object]
    for key in keys:  # a number or boolean of a key we read becomes a string (any depth: harmless)
        text = pc.replace_substring_regex(
            text,
            pattern='("' + _re2_escape(key) + r'"\s*:\s*)(-?[0-9][0-9.eE+-]*|true|false)',
            replacement=r'\1"\2"',
        )
    schema = pa.schema([pa.field(k, pa.string()) for k in keys])
    values, ok = _parse_json(text, schema, lines, raw, malformed)
    if not ok.all():
        lines, raw = lines[ok], raw.filter(ok)
    out = _convert(values, mapping, lines, raw, malformed)
    return FileResult(out, out.num_rows + malformed.count, malformed.count, malformed.report(path))


def _re2_escape(key: str) -> str:
    return re.sub(r"([^A-Za-z0-9_])", r"\\\1", key)


def _join(text: Any) -> Any:
    """The strings as one buffer of JSON lines."""
    joined = pc.binary_join_element_wise(text, pa.scalar(""), "\n")
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)[joined.offset :]
    start, end = int(offsets[0]), int(offsets[len(joined)])
    return joined.buffers()[2][start:end]


def _try_json(text: Any, schema: Any) -> tuple[pa.Table | None, str]:
    try:
        table = pj.read_json(
            pa.BufferReader(_join(text)),
            read_options=pj.ReadOptions(block_size=1 << 24, use_threads=False),
            parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        return None, str(exc)
    if table.num_rows != len(text):
        return None, "more than one JSON value on the line"
    return table, ""


def _parse_json(
    text: Any, schema: Any, lines: NDArray[np.int64], raw: Any, malformed: Malformed
) -> tuple[pa.Table, NDArray[np.bool_]]:
    """Parse the lines as JSON objects (mapped keys as strings). Where a part fails, it is split
    until the bad lines are alone; they are counted malformed and left out."""
    n = len(text)
    ok = np.ones(n, dtype=np.bool_)
    if n == 0:
        return schema.empty_table(), ok
    table, _ = _try_json(text, schema)
    if table is not None:
        return table, ok
    parts: list[pa.Table] = []
    pending = [(s, min(s + _CHUNK, n)) for s in range(0, n, _CHUNK)]
    pending.reverse()
    while pending:
        start, end = pending.pop()
        part, why = _try_json(text.slice(start, end - start), schema)
        if part is not None:
            parts.append(part)
        elif end - start == 1:
            ok[start] = False
            why = re.sub(r" in row \d+$", "", why.removeprefix("JSON parse error: "))
            reason = "not valid JSON: " + why
            malformed.add(1, int(lines[start]), clip(raw[start].as_py()), reason)
        else:
            mid = (start + end) // 2
            pending.extend([(mid, end), (start, mid)])
    return (pa.concat_tables(parts) if parts else schema.empty_table()), ok


def _not_a(col: Any, key: str, what: str) -> Callable[[int], str]:
    return lambda i: f"{key} is not {what}: {col[i].as_py()!r}"


def _convert(
    values: pa.Table,
    mapping: dict[str, tuple[str, ...]],
    lines: NDArray[np.int64],
    raw: Any,
    malformed: Malformed,
) -> pa.Table:
    n = values.num_rows
    problems = Problems(n)

    def get(ours: str) -> tuple[Any, str]:
        """The first present of the column's keys, row by row (``"-"``: null), and their names."""
        cols = [values[k] for k in mapping[ours]]
        if not cols:
            return pa.nulls(n, pa.string()), ""
        col = pc.coalesce(*cols) if len(cols) > 1 else cols[0]
        return pc.if_else(pc.equal(col, "-"), pa.scalar(None, pa.string()), col), "/".join(
            mapping[ours]
        )

    columns: dict[str, Any] = {}
    for ours, typ, pattern, what in (
        ("request_bytes", pa.int64(), INT_PATTERN, "a whole number ≥ 0"),
        ("response_bytes", pa.int64(), INT_PATTERN, "a whole number ≥ 0"),
        ("status", pa.int32(), INT32_PATTERN, "a status code"),
        ("duration_ms", pa.float64(), FLOAT_PATTERN, "a number ≥ 0"),
    ):
        col, name = get(ours)
        value, bad = checked_cast(col, typ, pattern)
        if bad is not None:
            problems.add(bad, _not_a(col, name, what))
        columns[ours] = value
    for ours in ("client", "route", "method", "event_type"):
        columns[ours] = get(ours)[0]

    when, name = get("time_s")
    numeric = pc.match_substring_regex(when, FLOAT_PATTERN)
    epoch_ms = pc.cast(pc.if_else(numeric, when, pa.scalar(None, pa.string())), pa.float64())
    clf = pc.strptime(
        pc.if_else(numeric, pa.scalar(None, pa.string()), when),
        format="%d/%b/%Y:%H:%M:%S %z", unit="s", error_is_null=True,
    )  # fmt: skip
    clf_s = pc.cast(pc.cast(clf, pa.int64()), pa.float64())
    time_s = pc.coalesce(pc.divide(epoch_ms, 1000.0), clf_s)
    unparsable = pc.and_(pc.is_valid(when), pc.is_null(time_s))
    problems.add(
        unparsable,
        lambda i: (
            f"{name} is not a time (ms since the epoch or dd/MMM/yyyy:HH:mm:ss +0000): "
            f"{when[i].as_py()!r}"
        ),
    )
    problems.add(pc.is_null(when), lambda i: f"no request time ({name or 'time_s not mapped'})")
    columns["time_s"] = time_s
    columns["whole_second"] = pc.and_(pc.is_null(epoch_ms), pc.is_valid(clf_s))
    out = assemble(columns, n).append_column(LINE, pa.array(np.asarray(lines, dtype=np.int64)))
    if problems.bad.any():
        first = problems.first_bad()
        if first is not None:
            i, reason = first
            malformed.add(int(problems.bad.sum()), int(lines[i]), clip(raw[i].as_py()), reason)
        out = out.filter(pa.array(~problems.bad))
    return out.select([*REQUEST_SCHEMA.names, LINE])
