"""Writing results so that an interrupted job never leaves a file that looks complete.

Every output goes to a temporary name in its final directory and is renamed into place only
once it is whole (``os.replace`` is atomic on one file system). CSVs are written with a fixed
float format and, when gzipped, a zero timestamp, so the same numbers give the same bytes.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

__all__ = ["atomic_path", "atomic_directory", "write_csv", "read_csv", "write_json", "write_text", "FLOAT_FORMAT"]

# Twelve significant digits: far below the noise of any quantity here, and stable across platforms.
FLOAT_FORMAT = "%.12g"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        os.replace(temporary_path, final)
    finally:
        temporary_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; swap it in for ``path`` when the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield temporary
        if final.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            os.replace(final, retired / final.name)
            os.replace(temporary, final)
            shutil.rmtree(retired)
        else:
            os.replace(temporary, final)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` without its index; gzip (with a zero timestamp) when the name ends in ``.gz``."""
    text = frame.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    data = text.encode("utf-8")
    if str(path).endswith(".gz"):
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as compressed:
            compressed.write(data)
        data = buffer.getvalue()
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def read_csv(path: str | Path, **kwargs) -> pd.DataFrame:
    return pd.read_csv(path, **kwargs)


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(data, path: str | Path) -> None:
    write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", path)
