"""Hold a fresh run against the committed reference of the same experiment.

The reference (``reference/<name>/``) holds what ``make reproduce`` produced when it was last
refreshed on purpose (``make reference``): the result tables, the report and the PNG figures.
:func:`compare_with_reference` writes ``comparison.md``: per table, identical bytes, or else the
largest absolute and relative difference per column and whether every number agrees within
``|fresh - reference| <= atol + rtol * |reference|`` (text columns must be equal). Tables decide
the verdict; figures are compared by bytes for information only (fonts and the PNG encoder of
another machine change pixels, not results). An experiment without a reference says so and
passes.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Outcome", "compare_tables", "compare_with_reference", "headline_of", "matches", "refresh_reference"]

_VERDICT_PREFIX = "Verdict:"


@dataclass(frozen=True)
class Outcome:
    """The comparison's verdict: ``matches`` and the one line a run ends with."""

    matches: bool
    headline: str


@dataclass(frozen=True)
class TableDifference:
    """One table held against its reference copy."""

    name: str
    status: str  # "identical", "within tolerance", "differs", "no reference copy", "missing"
    columns: list[dict]
    note: str = ""

    @property
    def fails(self) -> bool:
        return self.status in ("differs", "missing")


def compare_tables(fresh, reference, *, rtol: float, atol: float) -> tuple[bool, list[dict], str]:
    """Compare two tables (DataFrames) column by column.

    Returns ``(within_tolerance, columns, note)``: one dict per column with ``column``,
    ``max_abs`` and ``max_rel`` (numbers; None for text), ``mismatches`` (cells out of
    tolerance) and ``ok``; ``note`` explains a difference of shape.
    """
    import pandas as pd

    if list(fresh.columns) != list(reference.columns):
        added = [c for c in fresh.columns if c not in reference.columns]
        dropped = [c for c in reference.columns if c not in fresh.columns]
        return False, [], f"columns differ (new: {added}, missing: {dropped})" if added or dropped else "column order differs"
    if len(fresh) != len(reference):
        return False, [], f"{len(fresh)} rows, the reference has {len(reference)}"
    columns, ok = [], True
    for column in fresh.columns:
        a, b = fresh[column], reference[column]
        numeric = pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b) and not (
            pd.api.types.is_bool_dtype(a) or pd.api.types.is_bool_dtype(b))
        if numeric:
            x, y = a.to_numpy(dtype=np.float64, na_value=np.nan), b.to_numpy(dtype=np.float64, na_value=np.nan)
            both_nan = np.isnan(x) & np.isnan(y)
            same_inf = np.isinf(x) & np.isinf(y) & (np.sign(x) == np.sign(y))
            one_nan = np.isnan(x) != np.isnan(y)  # a number against NaN: as far apart as can be, not NaN apart
            with np.errstate(invalid="ignore"):
                diff = np.where(both_nan | same_inf, 0.0, np.where(one_nan, np.inf, np.abs(x - y)))
                rel = np.where(diff == 0, 0.0, np.where(np.isfinite(diff),
                                                        diff / np.maximum(np.abs(y), np.finfo(float).tiny), np.inf))
            bad = ~(diff <= atol + rtol * np.abs(np.where(np.isfinite(y), y, 0.0)))
            bad &= ~(both_nan | same_inf)
            entry = {"column": column, "max_abs": float(np.nanmax(diff)) if len(diff) else 0.0,
                     "max_rel": float(np.nanmax(rel)) if len(rel) else 0.0, "mismatches": int(bad.sum())}
        else:
            bad = ~((a.astype(str) == b.astype(str)) | (a.isna() & b.isna()))
            entry = {"column": column, "max_abs": None, "max_rel": None, "mismatches": int(bad.sum())}
        entry["ok"] = entry["mismatches"] == 0
        ok &= entry["ok"]
        columns.append(entry)
    return ok, columns, ""


def _table_difference(name: str, fresh: Path, reference: Path | None, rtol: float, atol: float) -> TableDifference:
    from ..experiment.storage import read_csv

    if not fresh.is_file():
        return TableDifference(name, "missing", [], f"{fresh} was not produced")
    if reference is None or not reference.is_file():
        return TableDifference(name, "no reference copy", [], "the reference has no such table")
    if fresh.read_bytes() == reference.read_bytes():
        return TableDifference(name, "identical", [])
    ok, columns, note = compare_tables(read_csv(fresh), read_csv(reference), rtol=rtol, atol=atol)
    return TableDifference(name, "within tolerance" if ok else "differs", columns, note)


def _number(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def compare_with_reference(tables: dict, figures: dict, *, experiment: str, reference_dir: str | Path, rtol: float,
                           atol: float, output: str | Path) -> Outcome:
    """Compare the fresh tables (and figures) with their reference copies; write ``output`` (Markdown).

    Parameters
    ----------
    tables, figures : dict of str to (fresh path, reference path or None)
        What to compare, by name (None: the reference has no copy).
    experiment : str
        The experiment's name, for the text.
    reference_dir : path
        The experiment's reference folder, for the text.
    rtol, atol : float
        The tolerance of numbers (``reference.rtol``, ``reference.atol``).
    output : path
        Where ``comparison.md`` goes.
    """
    from ..experiment.storage import write_text

    pairs = {name: (Path(fresh), Path(reference) if reference else None) for name, (fresh, reference) in tables.items()}
    have_reference = any(reference is not None and reference.is_file() for _, reference in pairs.values())
    lines = [f"# Comparison with the reference: {experiment}", ""]
    if not have_reference:
        headline = f"{_VERDICT_PREFIX} no reference for {experiment} (nothing under {reference_dir}): nothing to compare, passes."
        write_text("\n".join(lines + [headline, ""]), output)
        return Outcome(True, headline)
    results = [_table_difference(name, fresh, reference, rtol, atol) for name, (fresh, reference) in pairs.items()]
    failed = [r for r in results if r.fails]
    identical = sum(r.status == "identical" for r in results)
    compared = sum(r.status in ("identical", "within tolerance", "differs") for r in results)
    if failed:
        headline = (f"{_VERDICT_PREFIX} DOES NOT MATCH the reference {reference_dir}: "
                    f"{', '.join(r.name for r in failed)} differ beyond rtol {rtol:g}, atol {atol:g}.")
    else:
        headline = (f"{_VERDICT_PREFIX} matches the reference {reference_dir}: {compared} tables compared, {identical} "
                    f"identical in bytes, the rest within rtol {rtol:g}, atol {atol:g}.")
    lines += [headline, "",
              f"Numbers agree when |fresh - reference| <= {atol:g} + {rtol:g} |reference|; text must be equal. "
              "Float sums in another order (another CPU, BLAS or thread count) move numbers by rounding, and SGD "
              "can amplify that over the epochs, so a run elsewhere may differ within or, rarely, beyond this.",
              "", "| table | result | note |", "|---|---|---|"]
    lines += [f"| `{r.name}` | {r.status} | {r.note} |" for r in results]
    for result in results:
        if result.columns and result.status != "identical":
            lines += ["", f"## `{result.name}`: per column", "",
                      "| column | largest absolute difference | largest relative difference | cells out of tolerance |",
                      "|---|---|---|---|"]
            lines += [f"| {c['column']} | {_number(c['max_abs'])} | {_number(c['max_rel'])} | {c['mismatches']} |"
                      for c in result.columns if c["mismatches"] or (c["max_abs"] or 0) > 0]
    if figures:
        lines += ["", "## Figures (for information: pixels depend on fonts and the PNG encoder)", "",
                  "| figure | result |", "|---|---|"]
        for name, (fresh, reference) in sorted(figures.items()):
            fresh, reference = Path(fresh), Path(reference)
            state = ("no reference copy" if not reference.is_file() else "missing" if not fresh.is_file()
                     else "identical bytes" if fresh.read_bytes() == reference.read_bytes() else "pixels differ")
            lines.append(f"| `{name}` | {state} |")
    write_text("\n".join(lines) + "\n", output)
    return Outcome(not failed, headline)


def headline_of(path: str | Path) -> str:
    """The verdict line of a ``comparison.md``."""
    for line in Path(path).read_text().splitlines():
        if line.startswith(_VERDICT_PREFIX):
            return line
    raise ValueError(f"{path} holds no line starting with {_VERDICT_PREFIX!r}: not a comparison written by localregions")


def matches(path: str | Path) -> bool:
    """Whether a ``comparison.md`` says the run matches its reference (or that there is none)."""
    return "DOES NOT MATCH" not in headline_of(path)


def refresh_reference(tables: dict, report: tuple, figures: dict, *, figures_link: str, experiment: str) -> list[Path]:
    """Copy an experiment's finished results into its reference folder; on purpose only (``make reference``).

    ``tables`` and ``figures`` map names to (fresh path, reference path); ``report`` is one such
    pair, and ``figures_link`` how the fresh report links its figures (``../../figures/<name>``),
    rewritten to the reference's ``figures/``. Refuses when any file is missing or a product is
    older than the tables it is made from, so that a half-finished run never becomes the reference.
    """
    sources = [Path(fresh) for fresh, _ in tables.values()]
    products = [Path(report[0])] + [Path(fresh) for fresh, _ in figures.values()]
    missing = [p for p in sources + products if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"cannot refresh the reference of {experiment}: {missing[0]} is missing; "
                                "run the pipeline to the end first")
    newest_table = max(p.stat().st_mtime for p in sources)
    stale = [p for p in products if p.stat().st_mtime < newest_table]
    if stale:
        raise RuntimeError(f"cannot refresh the reference of {experiment}: {stale[0]} is older than the tables; "
                           "rerun the pipeline to the end first")
    copied = []
    for fresh, target in [*tables.values(), *figures.values()]:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fresh, target)
        copied.append(Path(target))
    fresh, target = map(Path, report)
    target.write_text(fresh.read_text().replace(f"]({figures_link}/", "](figures/"))
    copied.append(target)
    return copied
