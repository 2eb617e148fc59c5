"""Write one CSV row per point."""

from __future__ import annotations

import csv
import sys
from contextlib import contextmanager

__all__ = ["rows_writer"]


@contextmanager
def rows_writer(path: str, columns: list):
    """A ``csv.DictWriter`` with ``columns`` on ``path`` (``'-'``: stdout); the header is written first."""
    if path == "-":
        writer = csv.DictWriter(sys.stdout, fieldnames=columns)
        writer.writeheader()
        yield writer
        return
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        yield writer
