"""Results on disk: Parquet with provenance metadata, JSON summaries, atomic writes.

Every file is written to a temporary name in its final directory and renamed into place, so a crash
never leaves a half-written file that looks whole. A run's directory is first assembled next to its
destination and then swapped in, so a failed run leaves neither a partial directory nor a damaged
earlier result.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

PROVENANCE_KEY = b"sim.provenance"

_VERSIONED = ("sim", "numpy", "scipy", "simpy", "pyarrow", "pydantic")


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the numbers."""
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
            out[name] = "unknown"
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.chmod(0o666 & ~_umask())  # mkstemp creates 0600; give the file normal permissions
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet(table: pa.Table, path: str | Path, provenance: Mapping[str, Any]) -> None:
    """Write ``table`` atomically with ``provenance`` (JSON) in the file's key/value metadata."""
    meta = dict(table.schema.metadata or {})
    meta[PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True).encode()
    stamped = table.replace_schema_metadata(meta)
    _atomic(Path(path), lambda tmp: pq.write_table(stamped, tmp, compression="zstd"))


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance stored in a Parquet file written by :func:`write_parquet`."""
    meta = pq.read_schema(path).metadata or {}
    result: dict[str, Any] = json.loads(meta[PROVENANCE_KEY])
    return result


def write_json(data: Any, path: str | Path) -> None:
    """Write JSON atomically (sorted keys are not forced: summaries keep a reading order)."""
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    _atomic(Path(path), write)


@contextlib.contextmanager
def staged_directory(final: str | Path) -> Iterator[Path]:
    """Yield an empty staging directory; on success it replaces ``final`` whole.

    On error the staging directory is removed and ``final`` (if it existed) is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".staging", dir=final.parent))
    stage.chmod(0o777 & ~_umask())
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
        os.replace(final, old / final.name)
    os.replace(stage, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
