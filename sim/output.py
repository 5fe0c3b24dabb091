"""Results on disk: atomic writes, provenance, and output targets that never destroy a user's files.

Two kinds of target:

* a **result directory** (``sim run``, ``sim sweep``, ``sim traffic`` into a directory, a study's
  ``analysis/``): :func:`write_result`. The directory lists what this package wrote in it in
  ``manifest.json`` (name, SHA-256, size and the command that wrote each file). A directory that does
  not exist is created; a directory with a manifest gets the files of this command replaced (each
  atomically, by a rename) and the files this command wrote before but does not write now removed;
  every other file is left alone. A non-empty directory without a manifest, a file this package did
  not write where it wants to write one (or one changed since it wrote it) and a file where a
  directory is expected are refused.
* a **file** (``sim traffic --out pic.png``): :func:`write_file`. A file that does not exist is
  created; an existing file is replaced only when it carries this package's provenance.

Either way a location is refused when it is a filesystem root or mount point, the home directory, or
the current directory or an ancestor of it (:func:`check_location`); a location that cannot be written
is an :class:`OutputError` (one line, exit status 2). Files are first written into a staging
directory inside the target (``.sim-staging-<token>``, recorded in the manifest before it is made), so
a run that fails writes nothing into place, and a killed run's staging directory is removed by the
next write there. Every Parquet file carries the provenance in its key/value metadata, every PNG in
a text chunk.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sim.errors import SimError

PROVENANCE_KEY = b"sim.provenance"
PNG_PROVENANCE_KEY = "sim.provenance"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "sim.manifest/1"
STAGING_PREFIX = ".sim-staging-"

_VERSIONED = ("sim", "numpy", "scipy", "simpy", "pyarrow", "pydantic")
_TOKEN = re.compile(r"[0-9a-f]{16}")

#: Writes one file at the path it is given (a staging path; it is renamed into place afterwards).
FileWriter = Callable[[Path], None]


class OutputError(SimError):
    """An output location that is refused, or that cannot be written."""


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


# =========================================================================== single atomic files
def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through ``write`` into a temporary sibling, fsync, rename over ``path``."""
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
    _atomic(Path(path), parquet_writer(table, provenance))


def parquet_writer(table: pa.Table, provenance: Mapping[str, Any]) -> FileWriter:
    """A :data:`FileWriter` for ``table`` with ``provenance`` in its metadata (zstd)."""
    meta = dict(table.schema.metadata or {})
    meta[PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True).encode()
    stamped = table.replace_schema_metadata(meta)
    return lambda tmp: pq.write_table(stamped, tmp, compression="zstd")


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance stored in a Parquet file written by :func:`write_parquet`."""
    meta = pq.read_schema(path).metadata or {}
    result: dict[str, Any] = json.loads(meta[PROVENANCE_KEY])
    return result


def json_text(data: Any) -> str:
    """JSON as this package writes it (indented, no NaN or infinity)."""
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def write_json(data: Any, path: str | Path) -> None:
    """Write JSON atomically (sorted keys are not forced: summaries keep a reading order)."""
    _atomic(Path(path), json_writer(data))


def json_writer(data: Any) -> FileWriter:
    """A :data:`FileWriter` for JSON (the text is made now, so bad data fails before any write)."""
    return text_writer(json_text(data))


def text_writer(text: str) -> FileWriter:
    """A :data:`FileWriter` for text (UTF-8)."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return write


def figure_writer(
    fig: Any, provenance: Mapping[str, Any] | None = None, dpi: int = 110
) -> FileWriter:
    """A :data:`FileWriter` saving a matplotlib figure as PNG (provenance in a text chunk) and
    closing it."""

    def write(tmp: Path) -> None:
        import matplotlib.pyplot as plt

        meta = {"Software": f"sim {versions()['sim']}"}
        if provenance is not None:
            meta[PNG_PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True)
        try:
            fig.savefig(tmp, dpi=dpi, format="png", metadata=meta)
        finally:
            plt.close(fig)

    return write


def png_text(path: str | Path) -> dict[str, str]:
    """The tEXt chunks of a PNG file (empty if it is not a PNG)."""
    out: dict[str, str] = {}
    with open(path, "rb") as fh:
        if fh.read(8) != b"\x89PNG\r\n\x1a\n":
            return out
        while True:
            head = fh.read(8)
            if len(head) < 8:
                return out
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IDAT" or kind == b"IEND" or length > 64 * 2**20:
                return out
            data = fh.read(length)
            fh.read(4)  # CRC
            if kind == b"tEXt" and b"\x00" in data:
                key, _, value = data.partition(b"\x00")
                out[key.decode("latin-1")] = value.decode("latin-1")


def carries_provenance(path: str | Path) -> bool:
    """Whether a file was written by this package (its format's provenance mark is present)."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
        if head[:4] == b"PAR1":
            return PROVENANCE_KEY in (pq.read_schema(p).metadata or {})
        if head == b"\x89PNG\r\n\x1a\n":
            return PNG_PROVENANCE_KEY in png_text(p)
        with open(p, "rb") as fh:
            start = fh.read(4096).decode("utf-8", errors="replace")
    except (OSError, pa.ArrowException):
        return False
    return PROVENANCE_MARK in start


#: The first line of every text file this package writes as a file target (TOML, HTML, Markdown).
PROVENANCE_MARK = "written by sim (sim.provenance)"


# =========================================================================== locations
def check_location(path: str | Path, *, cwd: Path | None = None, home: Path | None = None) -> Path:
    """The resolved target, or an :class:`OutputError` if writing there could harm a user.

    Refused: a filesystem root or mount point, the home directory, and the current directory or any
    of its ancestors (``.``, ``..``).
    """
    shown = str(path)
    target = Path(path).expanduser()
    if target.is_symlink() and not target.exists():
        raise OutputError(
            f"{shown}: refused: it is a symbolic link to nothing ({os.readlink(target)})"
        )
    try:
        resolved = target.resolve()
    except (RuntimeError, OSError) as exc:  # a symbolic-link loop, an unreadable path
        raise OutputError(f"{shown}: cannot be used: {exc}") from None
    _check_name_lengths(resolved, shown)
    cwd = (cwd or Path.cwd()).resolve()
    home = (home if home is not None else Path.home()).resolve()
    if resolved.parent == resolved or os.path.ismount(resolved):
        raise OutputError(f"{shown}: refused: it is a filesystem root; choose a directory below it")
    if resolved == home:
        raise OutputError(
            f"{shown}: refused: it is the home directory; choose a new directory, e.g. results/NAME"
        )
    if resolved == cwd or resolved in cwd.parents:
        what = (
            "the current directory" if resolved == cwd else "an ancestor of the current directory"
        )
        raise OutputError(
            f"{shown}: refused: it is {what}; choose a new directory, e.g. results/NAME"
        )
    return resolved


def _check_name_lengths(path: Path, shown: str) -> None:
    """Refuse a path the filesystem cannot hold (a name or the whole path too long)."""
    base = _nearest_existing(path)
    try:
        name_max = os.pathconf(base, "PC_NAME_MAX")
        path_max = os.pathconf(base, "PC_PATH_MAX")
    except (OSError, ValueError):  # pragma: no cover - no pathconf
        name_max, path_max = 255, 4096
    long = [p for p in path.parts if len(os.fsencode(p)) > name_max]
    if long:
        raise OutputError(
            f"{shown}: cannot be created: a name is longer than the filesystem allows "
            f"({len(os.fsencode(long[0]))} bytes, at most {name_max})"
        )
    if len(os.fsencode(str(path))) + 64 > path_max:
        raise OutputError(
            f"{shown}: cannot be created: the path is too long (at most {path_max} bytes)"
        )


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def _check_writable(path: Path, shown: str) -> None:
    """Refuse early (before any work) a location that cannot be created or written."""
    base = _nearest_existing(path)
    if base != path and not base.is_dir():
        raise OutputError(f"{shown}: cannot be created: {base} is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{shown}: cannot be written: no permission to write in {base}")
    try:
        fs = os.statvfs(base)
    except OSError:  # pragma: no cover - a path that vanished meanwhile
        return
    if fs.f_flag & os.ST_RDONLY:
        raise OutputError(f"{shown}: cannot be written: {base} is on a read-only filesystem")
    if fs.f_blocks == 0:
        raise OutputError(
            f"{shown}: cannot be written: {base} is on a filesystem that holds no files "
            "(such as /proc); choose a directory on a disk"
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _os_error(shown: str, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "the disk is full"
    return OutputError(f"{shown}: cannot be written: {reason}")


# =========================================================================== result directories
@dataclass
class WritePlan:
    """What a write will do (``--dry-run`` prints it)."""

    target: Path
    shown: str
    kind: str  # "directory" or "file"
    create: bool = False
    new: list[str] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    kept: int = 0  # other entries left alone
    cleanup: list[str] = field(default_factory=list)  # left-over staging of a killed run

    def describe(self) -> list[str]:
        """Lines for the terminal."""
        if self.kind == "file":
            verb = "create" if self.create else "replace"
            return [f"would {verb} {self.shown}"]
        lines = [
            f"would {'create' if self.create else 'write into'} {self.shown}/"
            + (
                f" (leaving {self.kept} other entr{'y' if self.kept == 1 else 'ies'} alone)"
                if self.kept
                else ""
            )
        ]
        if self.new:
            lines.append("  new: " + ", ".join(self.new))
        if self.replace:
            lines.append("  replaced (written by sim before): " + ", ".join(self.replace))
        if self.remove:
            lines.append(
                "  removed (written by sim before, not written now): " + ", ".join(self.remove)
            )
        if self.cleanup:
            lines.append(
                "  left-over staging of an interrupted run, removed: " + ", ".join(self.cleanup)
            )
        return lines


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of a result directory, or ``None`` if it has none of this package's."""
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return None
    if not isinstance(data.get("files"), dict):
        return None
    data.setdefault("staging", [])
    data.setdefault("pending", {})
    if not isinstance(data["staging"], list) or not isinstance(data["pending"], dict):
        return None
    # a manifest names files in its own directory only: any other name is not this package's
    # (and would let an edited manifest reach outside the directory)
    for table in ("files", "pending"):
        data[table] = {k: v for k, v in data[table].items() if _plain_name(k)}
    return data


def _plain_name(name: object) -> bool:
    """A file name inside the directory: no separator, no ``.``/``..``, not absolute."""
    return (
        isinstance(name, str)
        and bool(name)
        and name not in (".", "..")
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
    )


def _empty_manifest() -> dict[str, Any]:
    return {"format": MANIFEST_FORMAT, "files": {}, "staging": [], "pending": {}}


def _owned_hashes(manifest: Mapping[str, Any], name: str) -> set[str]:
    hashes = set()
    entry = manifest["files"].get(name)
    if isinstance(entry, dict) and isinstance(entry.get("sha256"), str):
        hashes.add(entry["sha256"])
    pending = manifest["pending"].get(name)
    if isinstance(pending, str):
        hashes.add(pending)
    return hashes


def _is_ours(directory: Path, manifest: Mapping[str, Any], name: str) -> bool:
    """Whether ``directory/name`` is a file this package wrote and nobody changed since."""
    entry = manifest["files"].get(name)
    path = directory / name
    if (isinstance(entry, dict) and entry.get("type") == "directory") or (
        entry is None and path.is_dir() and read_manifest(path) is not None
    ):  # recorded as ours, or a result directory of ours (its own manifest) not recorded yet
        return path.is_dir() and not path.is_symlink()
    if not path.is_file() or path.is_symlink():
        return False
    hashes = _owned_hashes(manifest, name)
    return bool(hashes) and _sha256(path) in hashes


def _producer(manifest: Mapping[str, Any], name: str) -> str | None:
    entry = manifest["files"].get(name)
    return entry.get("producer") if isinstance(entry, dict) else None


def _check_name(name: str) -> None:
    if not name or "/" in name or name in (".", "..", MANIFEST) or name.startswith(STAGING_PREFIX):
        raise ValueError(f"not a result file name: {name!r}")


def plan_directory(
    path: str | Path, producer: str, names: Sequence[str], *, remove_stale: bool = True
) -> WritePlan:
    """Check that ``names`` may be written into the result directory ``path`` by ``producer``.

    Raises
    ------
    OutputError
        The location is refused (see the module docstring), with what is there and what to do.
    """
    shown = str(path)
    target = check_location(path)
    for name in names:
        _check_name(name)
    plan = WritePlan(target, shown, "directory")
    if not target.exists():
        _check_writable(target, shown)
        plan.create = True
        plan.new = list(names)
        return plan
    if not target.is_dir():
        raise OutputError(
            f"{shown}: refused: it is a file, not a directory; give a directory for the results "
            "(nothing was changed)"
        )
    manifest = read_manifest(target)
    entries = sorted(p.name for p in target.iterdir())
    if manifest is None:
        if entries:
            listed = ", ".join(entries[:5]) + (
                f" and {len(entries) - 5} more" if len(entries) > 5 else ""
            )
            raise OutputError(
                f"{shown}: refused: the directory holds files sim did not write ({listed}) and no "
                f"{MANIFEST} of sim's; choose a new or empty directory, e.g. results/NAME "
                "(nothing was changed)"
            )
        manifest = _empty_manifest()
    if not os.access(target, os.W_OK | os.X_OK):
        raise OutputError(f"{shown}: cannot be written: no permission")
    for name in names:
        p = target / name
        if not (p.exists() or p.is_symlink()):
            plan.new.append(name)
        elif _is_ours(target, manifest, name):
            plan.replace.append(name)
        elif name in manifest["files"] or name in manifest["pending"]:
            raise OutputError(
                f"{shown}/{name}: refused: it was changed since sim wrote it (it no longer matches "
                f"{MANIFEST}); move it away or choose another directory (nothing was changed)"
            )
        else:
            raise OutputError(
                f"{shown}/{name}: refused: sim did not write this file; move it away or choose "
                "another directory (nothing was changed)"
            )
    if remove_stale:
        for name, entry in manifest["files"].items():
            if (
                name not in names
                and isinstance(entry, dict)
                and entry.get("producer") == producer
                and entry.get("type") != "directory"
                and _is_ours(target, manifest, name)
            ):
                plan.remove.append(name)
    plan.cleanup = [
        STAGING_PREFIX + t
        for t in manifest["staging"]
        if isinstance(t, str) and _TOKEN.fullmatch(t) and (target / (STAGING_PREFIX + t)).exists()
    ]
    touched = {*plan.replace, *plan.remove, *plan.cleanup, MANIFEST}
    plan.kept = sum(1 for e in entries if e not in touched)
    return plan


@contextlib.contextmanager
def _locked(directory: Path, shown: str) -> Iterator[None]:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(
                f"{shown}: another sim command is writing there now; wait for it or choose "
                "another directory"
            ) from None
        yield
    finally:
        os.close(fd)


def _write_manifest(directory: Path, manifest: Mapping[str, Any]) -> None:
    write_json(manifest, directory / MANIFEST)


def _make_dirs(target: Path) -> list[Path]:
    """``mkdir -p``; returns the directories created, deepest last (on failure, removes them
    again and raises)."""
    created: list[Path] = []
    missing = []
    p = target
    while not p.exists():
        missing.append(p)
        p = p.parent
    try:
        for d in reversed(missing):
            d.mkdir()
            created.append(d)
    except BaseException:
        for d in reversed(created):
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
    return created


@contextlib.contextmanager
def result_directory(
    path: str | Path,
    producer: str,
    names: Sequence[str],
    *,
    remove_stale: bool = True,
    directories: Sequence[str] = (),
) -> Iterator[Path]:
    """Yield a staging directory to write ``names`` into; on success they replace their
    namesakes in the result directory ``path`` (see the module docstring).

    ``names`` are the files the command may write; one it does not write this time (an optional
    figure) is removed if this producer wrote it before.

    ``directories`` names subdirectories this command creates or keeps in ``path`` (a study's
    ``runs/``): they are recorded as this package's, and created if missing. On error nothing is
    moved into place, the staging directory is removed, and a directory this call created is
    removed again.

    Raises
    ------
    OutputError
        The location is refused or cannot be written.
    """
    shown = str(path)
    plan = plan_directory(path, producer, [*names, *directories], remove_stale=remove_stale)
    target = plan.target
    created: list[Path] = []
    fresh = False  # whether this call wrote the directory's first manifest
    token = secrets.token_hex(8)
    stage = target / (STAGING_PREFIX + token)
    try:
        created = _make_dirs(target) if plan.create else []
        with _locked(target, shown):
            # check again under the lock: another command may have written there meanwhile
            plan = plan_directory(path, producer, [*names, *directories], remove_stale=remove_stale)
            existing = read_manifest(target)
            fresh = existing is None
            manifest = existing or _empty_manifest()
            for leftover in plan.cleanup:
                shutil.rmtree(target / leftover, ignore_errors=True)
            manifest["staging"] = [token]
            _write_manifest(target, manifest)
            stage.mkdir()
            yield stage
            produced = {p.name for p in stage.iterdir()}
            extra = produced - set(names)
            if extra:  # pragma: no cover - a programming error of a writer
                raise RuntimeError(f"a writer made files it did not declare: {sorted(extra)}")
            written = [n for n in names if n in produced]
            # declared but not written this time (an optional figure): stale if written before
            stale = [
                n
                for n in names
                if n not in produced and n in plan.replace and _producer(manifest, n) == producer
            ]
            hashes = {name: _sha256(stage / name) for name in written}
            manifest["pending"] = hashes
            _write_manifest(target, manifest)
            now = datetime.now(UTC).isoformat(timespec="seconds")
            for name in written:
                os.replace(stage / name, target / name)
                manifest["files"][name] = {
                    "sha256": hashes[name],
                    "bytes": (target / name).stat().st_size,
                    "producer": producer,
                    "written": now,
                }
            for name in directories:
                (target / name).mkdir(exist_ok=True)
                manifest["files"][name] = {"type": "directory", "producer": producer}
            for name in [*plan.remove, *stale]:
                (target / name).unlink(missing_ok=True)
                manifest["files"].pop(name, None)
            manifest["pending"] = {}
            manifest["staging"] = []
            _write_manifest(target, manifest)
            stage.rmdir()
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        if created:
            _undo_create(target, created)
        elif target.is_dir():
            with contextlib.suppress(OSError):
                if fresh and not (read_manifest(target) or {}).get("files"):
                    _undo_create(target, [])  # the directory was empty: leave it so
                else:
                    _drop_staging(target, token)
        if isinstance(exc, OSError) and not isinstance(exc, BlockingIOError):
            raise _os_error(shown, exc) from None
        raise


def _drop_staging(target: Path, token: str) -> None:
    manifest = read_manifest(target)
    if manifest is not None and token in manifest["staging"]:
        manifest["staging"] = [t for t in manifest["staging"] if t != token]
        manifest["pending"] = {}
        _write_manifest(target, manifest)


def _undo_create(target: Path, created: list[Path]) -> None:
    """Remove a result directory this call created (it holds only what this call put there)."""
    with contextlib.suppress(OSError):
        (target / MANIFEST).unlink(missing_ok=True)
        for leftover in target.glob(f".{MANIFEST}.*.tmp"):
            leftover.unlink()
    for d in reversed(created):
        with contextlib.suppress(OSError):
            d.rmdir()


def write_result(
    path: str | Path,
    producer: str,
    files: Mapping[str, FileWriter],
    *,
    remove_stale: bool = True,
    directories: Sequence[str] = (),
) -> WritePlan:
    """Write ``files`` (name -> writer) into the result directory ``path`` as ``producer``
    (and record ``directories``, see :func:`result_directory`)."""
    names = list(files)
    plan = plan_directory(path, producer, [*names, *directories], remove_stale=remove_stale)
    with result_directory(
        path, producer, names, remove_stale=remove_stale, directories=directories
    ) as stage:
        for name, writer in files.items():
            writer(stage / name)
    return plan


def holds_nothing(directory: Path) -> bool:
    """Whether a directory is empty but for a manifest of no files and its staging leftovers
    (what a command killed while creating it leaves)."""
    entries = [p.name for p in directory.iterdir()]
    if not entries:
        return True
    manifest = read_manifest(directory)
    if manifest is None or manifest["files"]:
        return False
    leftovers = {STAGING_PREFIX + t for t in manifest["staging"] if isinstance(t, str)}
    return all(
        e == MANIFEST or e in leftovers or (e.startswith(f".{MANIFEST}.") and e.endswith(".tmp"))
        for e in entries
    )


def adopt_directory(
    directory: Path,
    producer: str,
    names: Sequence[str],
    directories: Sequence[str],
    trusted: Sequence[str] = (),
) -> None:
    """Give a directory this package wrote before it kept manifests one, listing those of
    ``names`` that exist and carry this package's provenance (or are ``trusted``: checked by the
    caller, like a study's own ``study.json``), and the ``directories`` that exist. A file without
    provenance stays unlisted (so it is never replaced). Nothing happens if a manifest exists."""
    if (directory / MANIFEST).exists():
        return
    manifest = _empty_manifest()
    for name in names:
        p = directory / name
        if p.is_file() and not p.is_symlink() and (name in trusted or carries_provenance(p)):
            manifest["files"][name] = {
                "sha256": _sha256(p),
                "bytes": p.stat().st_size,
                "producer": producer,
                "written": "adopted",
            }
    for name in directories:
        if (directory / name).is_dir():
            manifest["files"][name] = {"type": "directory", "producer": producer}
    _write_manifest(directory, manifest)


# =========================================================================== file targets
_TMP_SUFFIX = re.compile(r"\.sim-[0-9a-f]{16}\.tmp")


def plan_file(path: str | Path) -> WritePlan:
    """Check that the file ``path`` may be written (created, or replaced if this package wrote it)."""
    shown = str(path)
    target = check_location(path)
    plan = WritePlan(target, shown, "file")
    if target.is_dir():
        raise OutputError(f"{shown}: refused: it is a directory, a file name was expected")
    if target.exists():
        if not carries_provenance(target):
            raise OutputError(
                f"{shown}: refused: the file exists and sim did not write it (it carries no sim "
                "provenance); choose another name (nothing was changed)"
            )
        if not os.access(target.parent, os.W_OK | os.X_OK):
            raise OutputError(f"{shown}: cannot be written: no permission")
        return plan
    _check_writable(target, shown)
    plan.create = True
    return plan


def write_file(path: str | Path, writer: FileWriter) -> WritePlan:
    """Write one file target atomically (see :func:`plan_file`); parents are created as needed.

    A temporary file a killed write left beside it (``.NAME.sim-<token>.tmp``) is removed.
    """
    shown = str(path)
    plan = plan_file(path)
    target = plan.target
    created: list[Path] = []
    tmp = target.parent / f".{target.name}.sim-{secrets.token_hex(8)}.tmp"
    try:
        created = _make_dirs(target.parent)
        for leftover in target.parent.glob(f".{glob_escape(target.name)}.sim-*.tmp"):
            if _TMP_SUFFIX.fullmatch(leftover.name[len(target.name) + 1 :]):
                leftover.unlink(missing_ok=True)
        writer(tmp)
        tmp.chmod(0o666 & ~_umask())
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if target.exists() and not carries_provenance(target):  # changed meanwhile
            raise OutputError(f"{shown}: refused: the file was replaced by another program")
        os.replace(tmp, target)
        _update_parent_manifest(target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        for d in reversed(created):
            with contextlib.suppress(OSError):
                d.rmdir()
        if isinstance(exc, OSError):
            raise _os_error(shown, exc) from None
        raise
    return plan


def glob_escape(name: str) -> str:
    """``name`` with glob metacharacters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _update_parent_manifest(target: Path) -> None:
    """Keep a result directory's manifest true when one of its files is rewritten as a file target."""
    manifest = read_manifest(target.parent)
    if manifest is None or target.name not in manifest["files"]:
        return
    entry = manifest["files"][target.name]
    if isinstance(entry, dict):
        entry["sha256"] = _sha256(target)
        entry["bytes"] = target.stat().st_size
        _write_manifest(target.parent, manifest)
