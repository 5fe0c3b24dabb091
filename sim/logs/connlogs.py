"""Application Load Balancer connection logs, as ELB writes them to S3 (one gzip file per node and 5
minutes, ``conn_log_..._YYYYMMDDTHHMMZ_...log.gz``; plain text accepted too).

One line per connection attempt, space-separated, one field quoted. The fields, in order (AWS may
add more at the end; lines written before ``conn_trace_id`` existed end before it)::

    time client_ip client_port listener_port tls_protocol tls_cipher tls_handshake_latency
    "leaf_client_cert_subject" leaf_client_cert_validity leaf_client_cert_serial_number
    tls_verify_status conn_trace_id

Mapping: ``time_s`` ← ``time`` (ISO 8601, µs, UTC: when the connection was established, after its
TLS handshake, or failed);
``client`` ← ``conn_trace_id`` (when present and not ``-``, else ``client_ip:client_port``: the
key the access log's requests on that connection carry); ``handshake_s`` ←
``tls_handshake_latency`` (``-``: 0); ``failed`` ← ``tls_verify_status`` starts with ``Failed``
(the mutual-TLS verification failed: the load balancer closed the connection).

In a replay each attempt opens a connection at ``time``; it closes ``idle_timeout_s`` after its
latest response (requests joined by ``conn_trace_id``), or after ``time`` when it carried none; a
failed one closes at ``time``. The handshake itself (before ``time``) is not counted as open time.

Source: Elastic Load Balancing user guide, "Connection logs for your Application Load Balancer",
connection log entries; Amazon Athena user guide, "Create the table for ALB connection logs".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from sim.errors import TraceError
from sim.logs._common import (
    FLOAT_PATTERN,
    LINE,
    FileChunks,
    Malformed,
    Problems,
    Rejects,
    checked_cast,
    kept_line_numbers,
    open_stream,
    parse_iso_seconds,
)

FIELDS = (
    "time",
    "client_ip",
    "client_port",
    "listener_port",
    "tls_protocol",
    "tls_cipher",
    "tls_handshake_latency",
    "leaf_client_cert_subject",
    "leaf_client_cert_validity",
    "leaf_client_cert_serial_number",
    "tls_verify_status",
    "conn_trace_id",
)
#: The fields a line must have: up to ``tls_verify_status``.
MIN_FIELDS = FIELDS.index("tls_verify_status") + 1
_USED = ("time", "client_ip", "client_port", "tls_handshake_latency", "tls_verify_status",
         "conn_trace_id")  # fmt: skip

#: The columns a connection log's chunks have.
SCHEMA = pa.schema(
    [
        pa.field("time_s", pa.float64()),
        pa.field("client", pa.string()),
        pa.field("handshake_s", pa.float64()),
        pa.field("failed", pa.bool_()),
        pa.field(LINE, pa.int64()),
    ]
)


def connection_chunks(path: str, head: bool = False) -> FileChunks:
    """One ALB connection log file (plain or gzip), read in one pass by pyarrow's CSV reader;
    lines of another field count than the longest of at least :data:`MIN_FIELDS` are parsed
    apart, and shorter ones are malformed (counted, the first reported)."""
    return FileChunks(path, lambda into: _chunks(into, head))


def _chunks(into: FileChunks, head: bool) -> Iterator[pa.Table]:
    path = into.path
    by_count: dict[int, list[tuple[int, str]]] = {}
    rejects = Rejects()
    n = len(FIELDS)
    read = pv.ReadOptions(column_names=list(FIELDS), use_threads=False, block_size=1 << 23)
    parse = pv.ParseOptions(
        delimiter=" ", quote_char='"', escape_char=False, double_quote=False,
        ignore_empty_lines=False, invalid_row_handler=rejects,
    )  # fmt: skip
    convert = _convert_options(n)
    try:
        with open_stream(path, head) as stream:
            table = pv.read_csv(stream, read_options=read, parse_options=parse,
                                convert_options=convert)  # fmt: skip
    except (pa.ArrowException, OSError, EOFError) as exc:
        if "Empty CSV" in str(exc):
            return
        raise TraceError(f"{path}: cannot read as an ALB connection log: {exc}") from None
    lines = kept_line_numbers(table.num_rows, rejects.numbers(), 1)
    parts = [table.append_column(LINE, pa.array(lines, pa.int64()))]
    for r in rejects.rows:
        if r.columns >= MIN_FIELDS:
            by_count.setdefault(r.columns, []).append((r.number or 0, r.text))
        else:
            reason = f"{r.columns} fields, an ALB connection log line has at least {MIN_FIELDS}"
            into.malformed.add(1, r.number or 0, r.text[:200], reason)
    for count, rows in sorted(by_count.items()):
        data = ("\n".join(t for _, t in rows) + "\n").encode()
        cols = [*FIELDS, *(f"extra_{i}" for i in range(count - len(FIELDS)))][:count]
        opts = pv.ReadOptions(column_names=cols, use_threads=False)
        t = pv.read_csv(pa.BufferReader(data), read_options=opts,
                        parse_options=pv.ParseOptions(delimiter=" ", quote_char='"',
                                                      escape_char=False, double_quote=False),
                        convert_options=_convert_options(count))  # fmt: skip
        parts.append(t.append_column(LINE, pa.array([k for k, _ in rows], pa.int64())))
    for part in parts:
        part = part.filter(pc.not_equal(pc.fill_null(part["time"], "-"), ""))
        if part.num_rows:
            out = _convert(part, into.malformed)
            if out.num_rows:
                yield out


def _convert_options(n_fields: int) -> Any:
    present = [c for c in _USED if FIELDS.index(c) < n_fields]
    return pv.ConvertOptions(
        include_columns=present,
        column_types={c: pa.string() for c in present},
        null_values=["-"],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )


def _convert(table: pa.Table, malformed: Malformed) -> pa.Table:
    n = table.num_rows
    problems = Problems(n)
    col = table.column
    time_s, bad = parse_iso_seconds(col("time"), utc_suffix=True)
    if bad is not None:
        problems.add(bad, lambda i: f"time is not an ISO 8601 UTC time: {col('time')[i].as_py()!r}")
    problems.add(pc.is_null(time_s), lambda i: "time is missing")
    handshake, bad = checked_cast(col("tls_handshake_latency"), pa.float64(), FLOAT_PATTERN)
    if bad is not None:
        problems.add(bad, lambda i: "tls_handshake_latency is not a number ≥ 0: "
                     f"{col('tls_handshake_latency')[i].as_py()!r}")  # fmt: skip
    client = pc.binary_join_element_wise(col("client_ip"), col("client_port"), ":")
    if "conn_trace_id" in table.column_names:
        client = pc.coalesce(col("conn_trace_id"), client)
    status = pc.fill_null(col("tls_verify_status"), "-")
    out = pa.table(
        {
            "time_s": time_s,
            "client": client,
            "handshake_s": pc.fill_null(handshake, 0.0),
            "failed": pc.starts_with(status, "Failed"),
            LINE: col(LINE),
        },
        schema=SCHEMA,
    )
    if problems.bad.any():
        first = problems.first_bad()
        if first is not None:
            i, reason = first
            malformed.add(int(problems.bad.sum()), int(col(LINE)[i].as_py()), None, reason)
        out = out.filter(pa.array(~problems.bad))
    return out


def attempts_per_hour(time_s: np.ndarray[Any, Any], first_hour_s: float, hours: int) -> Any:
    """Connection attempts in each clock hour from ``first_hour_s``."""
    h = np.floor((time_s - first_hour_s) / 3600.0).astype(np.int64)
    inside = (h >= 0) & (h < hours)
    return np.bincount(h[inside], minlength=hours)
