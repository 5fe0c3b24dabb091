"""Read AWS access logs as AWS writes them into one table of requests.

Formats: Application Load Balancer access logs (``"alb"``), CloudFront standard logs
(``"cloudfront"``) and API Gateway JSON access logs (``"apigw"``); see :mod:`sim.logs.alb`,
:mod:`sim.logs.cloudfront` and :mod:`sim.logs.apigw` for the fields used. Files are plain or gzip
(told by the magic bytes) and are read one at a time by pyarrow's parsers and compute kernels, with
no Python loop over lines.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from sim.errors import TraceError
from sim.logs._common import (
    HEAD_BYTES,
    LINE,
    REQUEST_SCHEMA,
    FileChunks,
    MalformedLine,
    empty_table,
    head_lines,
    usable_cores,
    whole_file,
)
from sim.logs.alb import BLOCK_BYTES, TYPES, alb_chunks
from sim.logs.apigw import _EXPORT_PREFIX, field_map, read_apigw
from sim.logs.cloudfront import read_cloudfront

__all__ = ["FORMATS", "REQUEST_SCHEMA", "MalformedLine", "ReadReport", "read_access_logs"]

#: The formats ``read_access_logs`` reads (and ``"auto"``).
FORMATS = ("alb", "apigw", "cloudfront")
#: ALB connection logs (read beside an ALB's access logs, never detected).
CONNECTION_FORMAT = "alb_connection"


@dataclass(frozen=True)
class ReadReport:
    """What a read did: the ``files`` read (in reading order), the data ``lines`` seen (blank and
    comment lines not counted), the ``rows`` returned, the ``malformed`` lines left out, the first
    of them (``first_malformed``, None when there was none) and the ``format`` read."""

    files: tuple[str, ...]
    lines: int
    rows: int
    malformed: int
    first_malformed: MalformedLine | None
    format: str


def read_access_logs(
    path: str,
    format: str = "auto",
    *,
    max_malformed_share: float = 0.001,
    apigw_fields: Mapping[str, str] | None = None,
) -> tuple[pa.Table, ReadReport]:
    """Read access logs into a table of requests (``REQUEST_SCHEMA``), rows in file order.

    Parameters
    ----------
    path
        A file, a directory (every regular file in it, recursively, sorted by path; hidden ones
        and sim's own outputs, :data:`NOT_LOGS`, skipped) or a glob pattern (``*``, ``?``,
        ``**``); files plain or gzip.
    format
        ``"alb"``, ``"apigw"``, ``"cloudfront"`` or ``"auto"``: told by the first non-empty line of
        the first file.
    max_malformed_share
        The largest share of malformed lines (all files together) tolerated; malformed lines are
        left out and counted in the report. Beyond it, a :class:`TraceError`.
    apigw_fields
        For API Gateway: our column name → JSON key, overriding the defaults (``""``: none).

    Returns
    -------
    The table and a :class:`ReadReport`.

    Raises
    ------
    TraceError
        No such file, an unknown or undetectable format, an unreadable file, no log lines, or too
        many malformed lines (the message names the file, line, text, reason and share).
    """
    check_options(path, format, max_malformed_share, apigw_fields)
    files = find_files(path)
    fmt = detect_format(files[0]) if format == "auto" else format
    tables: list[pa.Table] = []
    lines = malformed = 0
    first: MalformedLine | None = None

    def read(file: str) -> tuple[FileChunks, list[pa.Table]]:
        reading = file_chunks(fmt, file, apigw_fields=apigw_fields)
        return reading, list(reading.chunks())

    # files read side by side (pyarrow's decompression and parsing release the GIL), in order
    workers = min(len(files), usable_cores())
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(read, files) if workers > 1 else map(read, files)
        for reading, chunks in results:
            if chunks:
                table = pa.concat_tables(chunks)
                if len(chunks) > 1:  # lines parsed apart come after their block
                    table = table.take(pc.sort_indices(table[LINE]))
                tables.append(table.select(REQUEST_SCHEMA.names))
            lines += reading.lines
            malformed += reading.malformed.count
            if first is None and reading.malformed.count:
                first = reading.first_malformed()
    check_malformed(path, fmt, files, lines, malformed, first, max_malformed_share)
    table = pa.concat_tables(tables) if tables else empty_table()
    report = ReadReport(tuple(files), lines, table.num_rows, malformed, first, fmt)
    return table, report


def check_options(path: str, format: str, max_malformed_share: float,
                  apigw_fields: Mapping[str, str] | None) -> None:  # fmt: skip
    """Refuse an unknown format, a share outside 0 to 1 or a wrong API Gateway mapping."""
    if format not in (*FORMATS, "auto", CONNECTION_FORMAT):
        raise TraceError(f"{path}: unknown access log format {format!r}; expected one of "
                         f"{', '.join(FORMATS)} or auto")  # fmt: skip
    if not 0 <= max_malformed_share <= 1:
        raise TraceError(
            f"{path}: max_malformed_share must be within 0 to 1, not {max_malformed_share}"
        )
    if format == "apigw" or apigw_fields is not None:
        field_map(apigw_fields)  # check the mapping before reading


def check_malformed(
    path: str,
    fmt: str,
    files: list[str] | tuple[str, ...],
    lines: int,
    malformed: int,
    first: MalformedLine | None,
    max_malformed_share: float,
) -> None:
    """Refuse logs without lines, or with more malformed lines than ``max_malformed_share``."""
    if lines == 0:
        raise TraceError(f"{path}: no {fmt} access log lines in {_files_phrase(list(files))}")
    share = malformed / lines
    if share > max_malformed_share and first is not None:
        raise TraceError(
            f"{first.file}:{first.line}: malformed {fmt} access log line ({first.reason}): "
            f"{first.text!r}; {malformed:,} of {lines:,} lines ({share:.3%}) are malformed, "
            f"more than max_malformed_share {max_malformed_share:g}"
        )


def file_chunks(
    fmt: str,
    file: str,
    *,
    routes: bool = True,
    apigw_fields: Mapping[str, str] | None = None,
    head: bool = False,
) -> FileChunks:
    """A reader of one log file of format ``fmt``, chunk by chunk (see :class:`FileChunks`);
    ``routes=False``: ``route`` and ``method`` may be left null (faster for ALB); ``head``: the
    file's first lines only (a sample)."""
    if fmt == "alb":
        return alb_chunks(file, routes=routes, block_bytes=HEAD_BYTES if head else BLOCK_BYTES,
                          head=head)  # fmt: skip
    if fmt == CONNECTION_FORMAT:
        from sim.logs.connlogs import connection_chunks

        return connection_chunks(file, head)
    if fmt == "cloudfront":
        return FileChunks(file, whole_file(lambda: read_cloudfront(file, head)))
    return FileChunks(file, whole_file(lambda: read_apigw(file, apigw_fields, head)))


#: Files a log directory may hold that are not logs (sim's own outputs beside them).
NOT_LOGS = (".parquet", ".pq", ".json", ".toml", ".html", ".png")


def _files_phrase(files: list[str]) -> str:
    return files[0] if len(files) == 1 else f"{len(files)} files"


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def find_files(path: str) -> list[str]:
    """The files ``path`` names: itself, the regular files under a directory (recursively, sorted,
    hidden ones skipped) or the regular files a glob matches (sorted)."""
    p = Path(path)
    if p.is_file():
        return [path]
    if p.is_dir():
        found = sorted(
            str(f)
            for f in p.rglob("*")
            if f.is_file()
            and not _hidden(f.relative_to(p))
            and f.suffix.lower() not in NOT_LOGS  # a request table or a report written beside
        )
        if not found:
            raise TraceError(f"{path}: directory holds no log files")
        return found
    if glob.has_magic(path):
        found = sorted(f for f in glob.glob(path, recursive=True) if os.path.isfile(f))
        if not found:
            raise TraceError(f"{path}: no files match")
        return found
    raise TraceError(f"{path}: no such file or directory")


def detect_format(file: str) -> str:
    """The format of a log file, from its first non-empty line."""
    head = head_lines(file, 1)
    if not head:
        raise TraceError(f"{file}: is empty: cannot tell its access log format")
    line = head[0].decode("utf-8", "replace").lstrip("\ufeff").strip()
    if line.startswith(("#Version:", "#Fields:")):
        return "cloudfront"
    if line.startswith("{"):
        return "apigw"
    if _has_export_prefix(line):
        return "apigw"
    if line.split(" ", 1)[0] in TYPES:
        return "alb"
    raise TraceError(
        f"{file}: cannot tell the access log format from its first line {line[:200]!r}: expected "
        f"an ALB access log (first field one of {', '.join(TYPES)}), a CloudFront standard log "
        "('#Version:' or '#Fields:' header) or API Gateway JSON lines ('{...}'); or pass format"
    )


def _has_export_prefix(line: str) -> bool:
    m = re.match(_EXPORT_PREFIX, line)
    return m is not None and line[m.end() :].startswith("{")
