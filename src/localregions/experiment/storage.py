"""Writing results so that an interrupted job never leaves a file that looks complete.

Every output goes to a temporary name in its final directory and is renamed into place only
once it is whole (``os.replace`` is atomic on one file system). Temporary names start with a dot
and end in ``.tmp``; a job killed mid-write leaves one behind, and the next write of the same
output removes it (Snakemake's lock keeps two jobs from writing one output at once). Files and
folders take the user's umask, as any other program's would (``mkstemp`` alone would make them
private to the owner, and a cluster group could not read the results).

CSVs are written with a fixed float format and, when gzipped, a zero timestamp, so the same
numbers give the same bytes. :func:`file_manifest` and :func:`verify_manifest` record and check
the size and SHA-256 of a folder's files, so that a consumer detects a truncated or changed
input by name.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = [
    "atomic_path",
    "atomic_directory",
    "write_bytes",
    "write_csv",
    "read_csv",
    "write_json",
    "write_text",
    "sha256_of",
    "file_manifest",
    "verify_manifest",
    "CorruptFileError",
    "FLOAT_FORMAT",
]

# Twelve significant digits: far below the noise of any quantity here, and stable across platforms.
FLOAT_FORMAT = "%.12g"


class CorruptFileError(ValueError):
    """An input file is missing, truncated or differs from what its manifest recorded; the message names it."""


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_leftovers(final: Path) -> None:
    """Temporary siblings of ``final`` from a job that was killed before it could clean up."""
    # mkstemp/mkdtemp put 8 random characters between prefix and suffix; match exactly those names.
    own = re.compile(rf"\.{re.escape(final.name)}\.([a-z0-9_]{{8}}|retired)\.tmp")
    for leftover in final.parent.glob(f".{final.name}.*.tmp"):
        if not own.fullmatch(leftover.name):
            continue
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(final)
    handle, temporary = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        os.chmod(temporary_path, 0o666 & ~_umask())
        os.replace(temporary_path, final)
    finally:
        temporary_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; swap it in for ``path`` when the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(final)
    temporary = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield temporary
        os.chmod(temporary, 0o777 & ~_umask())
        if final.exists():
            retired = final.parent / f".{final.name}.retired.tmp"
            shutil.rmtree(retired, ignore_errors=True)
            os.replace(final, retired)
            os.replace(temporary, final)
            shutil.rmtree(retired)
        else:
            os.replace(temporary, final)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)


def write_bytes(data: bytes, path: str | Path) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_csv(frame, path: str | Path) -> None:
    """Write ``frame`` (a DataFrame) without its index; gzip (zero timestamp) when the name ends in ``.gz``."""
    text = frame.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    data = text.encode("utf-8")
    if str(path).endswith(".gz"):
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as compressed:
            compressed.write(data)
        data = buffer.getvalue()
    write_bytes(data, path)


def read_csv(path: str | Path, **kwargs):
    """Read a CSV the pipeline wrote; a truncated or corrupt file raises :class:`CorruptFileError` naming it."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise CorruptFileError(f"{path} does not exist (the step that writes it did not run or was removed)")
    try:
        return pd.read_csv(path, **kwargs)
    except (EOFError, OSError, zlib.error, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise CorruptFileError(f"{path} is truncated or corrupt ({type(exc).__name__}: {exc}); delete it and rerun") from exc


def write_text(text: str, path: str | Path) -> None:
    write_bytes(text.encode("utf-8"), path)


def write_json(data, path: str | Path) -> None:
    write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", path)


def sha256_of(path: str | Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def file_manifest(root: str | Path, files: Iterable[str | Path]) -> dict[str, dict]:
    """``{path relative to root: {"bytes": size, "sha256": digest}}`` for ``files``, each a path inside ``root``."""
    root = Path(root)
    entries = {}
    for file in sorted(Path(f) for f in files):
        entries[file.relative_to(root).as_posix()] = {"bytes": file.stat().st_size, "sha256": sha256_of(file)}
    return entries


def verify_manifest(root: str | Path, entries: dict[str, dict], *, hashes: bool = True) -> None:
    """Raise :class:`CorruptFileError` naming the first file under ``root`` that differs from ``entries``.

    With ``hashes=False`` only presence and sizes are checked (cheap enough for every planning).
    """
    root = Path(root)
    for relative, expected in sorted(entries.items()):
        path = root / relative
        if not path.is_file():
            raise CorruptFileError(f"{path} is missing (its manifest lists it)")
        size = path.stat().st_size
        if size != expected["bytes"]:
            raise CorruptFileError(f"{path} has {size} bytes, its manifest recorded {expected['bytes']} (truncated or changed)")
        if hashes and sha256_of(path) != expected["sha256"]:
            raise CorruptFileError(f"{path} differs from the SHA-256 its manifest recorded (changed after it was written)")
