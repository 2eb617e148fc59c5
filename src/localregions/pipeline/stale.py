"""After a failed run: remove the products that no longer match what they were made from.

Snakemake removes the outputs of a job that failed. What was made from their earlier version
(the claims, figures, comparison and report of an experiment) is still there and would pass for a
result of the inputs now present; the Snakefile's ``onerror`` hands each such product with the
inputs its rule declares to :func:`remove_stale_products`, which removes every product whose
inputs are missing or newer than it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["stale_products", "remove_stale_products"]

Products = Sequence[tuple[Sequence[str], Sequence[str]]]


def stale_products(products: Products) -> list[tuple[Path, str]]:
    """(file, why) for each existing output of ``products`` (pairs of outputs and their inputs) whose inputs are
    missing or newer than it."""
    stale = []
    for outputs, inputs in products:
        inputs = [Path(p) for p in inputs]
        for output in map(Path, outputs):
            if not output.is_file():
                continue
            missing = [p for p in inputs if not p.exists()]
            newer = [p for p in inputs if p.exists() and p.stat().st_mtime > output.stat().st_mtime]
            if missing or newer:
                why = f"its input {missing[0]} is missing" if missing else f"its input {newer[0]} is newer"
                stale.append((output, why))
    return stale


def remove_stale_products(products: Products, warn: Callable[[str], None]) -> list[tuple[Path, str]]:
    """Remove stale products until none is left (a removed figure makes the report stale in turn)."""
    removed = []
    while stale := stale_products(products):
        for path, why in stale:
            path.unlink(missing_ok=True)
            warn(f"removed {path}: {why}, so it does not pass for a result of the inputs now present")
        removed += stale
    return removed
