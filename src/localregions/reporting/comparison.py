"""Hold a fresh run against the committed reference of the same experiment: identical, agrees or differs.

The reference (``reference/<name>/``) holds what ``make reproduce`` produced when it was last
refreshed on purpose (``make reference``): the result tables, the report and the PNG figures.
:func:`compare_with_reference` writes ``comparison.md`` with one of three outcomes:

``identical``
    every table byte for byte the reference's;
``agrees``
    every row and every text cell (verdicts, findings, statuses) equal, and every number equal
    up to **rounding** (``|fresh - reference| <= atol + rtol |reference|``: float64 summed in
    another order) or within a small fraction (``seed_se``) of the **seed-to-seed standard
    error** of that number: the smallest unit in which the reproduction's conclusions are
    stated, since every verdict is decided over seeds;
``differs``
    anything else: a changed verdict or text, a missing row or table, a number beyond both.
    ``make reproduce`` fails only here.

How the standard error of a number is found depends on the table (its ``spread``, registered in
:mod:`.products`): per-seed tables (``seeds``) use the spread of the reference's values over
the seeds of the same row keys, ``sd / sqrt(n)``; per-setting summaries (``summaries``) carry
``<x>_std`` and ``n_seeds``; claim tables (``intervals``) carry each part's t interval, whose
half-width over the t quantile is its standard error, and tables of one part per row (``parts``)
its ``sd`` and ``n`` over seeds; their p-values are compared as the t statistics they come from
(already in units of the standard error). A number whose seeds do not
vary (standard error 0) must agree up to rounding. Figures are compared by bytes for information
only (fonts and the PNG encoder of another machine change pixels, not results). An experiment
without a reference says so and passes.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Tolerance", "Outcome", "TableComparison", "SPREADS", "compare_tables", "compare_with_reference",
           "headline_of", "matches", "outcome_of", "refresh_reference"]

_VERDICT_PREFIX = "Verdict:"
#: How a table's seed-to-seed standard error is found (see the module's docstring); None: rounding only.
SPREADS = ("seeds", "summaries", "intervals", "parts", None)
_WORST_SHOWN = 15


@dataclass(frozen=True)
class Tolerance:
    """When a number agrees with its reference: up to rounding, or within ``seed_se`` standard errors of the seeds."""

    rtol: float = 1e-9
    atol: float = 1e-12
    seed_se: float = 0.1


@dataclass(frozen=True)
class Outcome:
    """The comparison's outcome (``identical``, ``agrees``, ``differs`` or ``no reference``) and its one line."""

    result: str
    headline: str

    @property
    def matches(self) -> bool:
        """Whether the run reproduces its reference: anything but ``differs``."""
        return self.result != "differs"


@dataclass
class TableComparison:
    """One table held against its reference copy: its result and every number or text cell that is not equal."""

    name: str
    result: str  # "identical", "agrees", "differs", "missing", "no reference copy"
    note: str = ""
    cells: list[dict] = field(default_factory=list)  # one per unequal cell: column, row, fresh, reference, ...

    @property
    def fails(self) -> bool:
        return self.result in ("differs", "missing", "no reference copy")


# ---------------------------------------------------------------------------------------------- standard errors


def _seed_standard_errors(reference, keys: list[str], columns: list[str]):
    """Per row and numeric column: the spread of the reference over the seeds of the row's other keys, sd / sqrt(n)."""
    import pandas as pd

    group_keys = [k for k in keys if k != "seed"]
    numbers = reference[columns].apply(pd.to_numeric, errors="coerce")
    # Rows equal in every key but the seed are one group (no other keys: the whole table is one).
    by = reference[group_keys].astype(str).agg("\x1f".join, axis=1) if group_keys else pd.Series(0, index=reference.index)
    sd = numbers.groupby(by).transform("std")
    n = numbers.groupby(by).transform("count")
    return sd / np.sqrt(n.where(n > 1))


def _summary_standard_errors(reference, columns: list[str]):
    """``<x>_mean|_std|_ci_low|_ci_high``: the standard error of the seed mean of x, ``<x>_std / sqrt(n_seeds)``."""
    import pandas as pd

    n = pd.to_numeric(reference.get("n_seeds"), errors="coerce") if "n_seeds" in reference else None
    errors = {}
    for column in columns:
        base = next((column[: -len(s)] for s in ("_mean", "_std", "_ci_low", "_ci_high") if column.endswith(s)), None)
        if n is None or base is None or f"{base}_std" not in reference:
            errors[column] = np.full(len(reference), np.nan)
        else:
            std = pd.to_numeric(reference[f"{base}_std"], errors="coerce")
            errors[column] = (std / np.sqrt(n.where(n > 1))).to_numpy(dtype=np.float64)
    return pd.DataFrame(errors, index=reference.index)


def _interval_standard_errors(reference, columns: list[str]):
    """Claim parts ``<p>_effect|_ci_low|_ci_high|_detectable``: the half-width of ``<p>``'s t interval over its quantile."""
    import pandas as pd
    from scipy import special

    n = pd.to_numeric(reference.get("n_seeds"), errors="coerce") if "n_seeds" in reference else None
    confidence = pd.to_numeric(reference.get("confidence"), errors="coerce") if "confidence" in reference else None
    errors = {}
    for column in columns:
        base = next((column[: -len(s)] for s in ("_effect", "_ci_low", "_ci_high", "_detectable")
                     if column.endswith(s)), None)
        if n is None or confidence is None or base is None or f"{base}_ci_low" not in reference:
            errors[column] = np.full(len(reference), np.nan)
            continue
        low = pd.to_numeric(reference[f"{base}_ci_low"], errors="coerce").to_numpy(dtype=np.float64)
        high = pd.to_numeric(reference[f"{base}_ci_high"], errors="coerce").to_numpy(dtype=np.float64)
        df = n.to_numpy(dtype=np.float64) - 1
        with np.errstate(invalid="ignore", divide="ignore"):
            quantile = special.stdtrit(np.where(df >= 1, df, np.nan), 0.5 + confidence.to_numpy(dtype=np.float64) / 2)
            errors[column] = (high - low) / (2 * quantile)
    return pd.DataFrame(errors, index=reference.index)


def _part_standard_errors(reference, columns: list[str]):
    """One part per row (``effect``, ``sd``, ``n`` over seeds): ``sd / sqrt(n)`` for the part's numbers."""
    import pandas as pd

    sd = pd.to_numeric(reference["sd"], errors="coerce") if "sd" in reference else None
    n = pd.to_numeric(reference["n"], errors="coerce") if "n" in reference else None
    per_part = ("effect", "sd", "ci_low", "ci_high", "detectable")
    errors = {c: (sd / np.sqrt(n.where(n > 1))).to_numpy(dtype=np.float64) if sd is not None and n is not None
              and c in per_part else np.full(len(reference), np.nan) for c in columns}
    return pd.DataFrame(errors, index=reference.index)


def _p_value_columns(columns: list[str]) -> list[str]:
    return [c for c in columns if c in ("p", "p_below") or c.endswith("_p") or c.endswith("_p_opposite")]


def _as_t_statistics(p, n):
    """One-sided p-values as the t statistics (n - 1 degrees of freedom) they come from: in units of standard error."""
    from scipy import special

    df = np.where(n >= 2, n - 1, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return special.stdtrit(df, 1.0 - np.clip(p, 0.0, 1.0))


# ---------------------------------------------------------------------------------------------- tables


def _is_numeric(series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _row_label(reference, index, keys: list[str]) -> str:
    if not keys:
        return f"row {index + 2}"  # the CSV's line number (1-based, after the header)
    return ", ".join(f"{k}={reference.at[index, k]}" for k in keys)


def compare_tables(fresh, reference, *, keys=(), spread: str | None = None,
                   tolerance: Tolerance = Tolerance()) -> tuple[str, list[dict], str]:
    """Compare two tables (DataFrames) cell by cell.

    Parameters
    ----------
    fresh, reference : DataFrame
        The two tables; rows are matched by position, and ``keys`` must then be equal.
    keys : sequence of str
        The columns that say what a row is (compared as text); per-seed tables name ``seed`` among them.
    spread : {"seeds", "summaries", "intervals", "parts"} or None
        How the seed-to-seed standard error of a number is found (module docstring); None: rounding only.
    tolerance : Tolerance
        Rounding (``rtol``, ``atol``) and the fraction ``seed_se`` of a standard error that still agrees.

    Returns
    -------
    (result, cells, note)
        ``result`` is ``identical`` (every cell equal), ``agrees`` or ``differs``; ``cells`` one dict per
        unequal cell (``column``, ``row``, ``fresh``, ``reference``, ``abs``, ``rel``, ``se`` (its unit,
        or NaN), ``in_se`` (the difference in standard errors), ``ok``, ``how``: ``text``, ``rounding``,
        ``seed noise`` or ``beyond``); ``note`` explains a difference of shape.

    Examples
    --------
    >>> import pandas as pd
    >>> reference = pd.DataFrame({"seed": [0, 1, 2, 3], "value": [1.0, 2.0, 3.0, 4.0]})
    >>> fresh = reference.assign(value=[1.0, 2.0, 3.0, 4.05])
    >>> result, cells, _ = compare_tables(fresh, reference, keys=["seed"], spread="seeds")
    >>> result, cells[0]["how"], round(cells[0]["in_se"], 3)   # the seeds' standard error is 0.645
    ('agrees', 'seed noise', 0.077)
    """
    import pandas as pd

    if spread not in SPREADS:
        raise ValueError(f"spread must be one of {list(SPREADS)}, got {spread!r}")
    keys = list(keys)
    if list(fresh.columns) != list(reference.columns):
        added = [c for c in fresh.columns if c not in reference.columns]
        dropped = [c for c in reference.columns if c not in fresh.columns]
        return "differs", [], (f"columns differ (new: {added}, missing: {dropped})" if added or dropped
                               else "column order differs")
    if len(fresh) != len(reference):
        return "differs", [], f"{len(fresh)} rows, the reference has {len(reference)}"
    fresh, reference = fresh.reset_index(drop=True), reference.reset_index(drop=True)
    missing_keys = [k for k in keys if k not in reference.columns]
    if missing_keys:
        raise ValueError(f"keys {missing_keys} are not columns of the table (its columns: {list(reference.columns)})")
    numeric = [c for c in reference.columns if c not in keys and _is_numeric(fresh[c]) and _is_numeric(reference[c])]
    if spread == "seeds":
        standard_errors = _seed_standard_errors(reference, keys, numeric)
    elif spread == "summaries":
        standard_errors = _summary_standard_errors(reference, numeric)
    elif spread == "intervals":
        standard_errors = _interval_standard_errors(reference, numeric)
    elif spread == "parts":
        standard_errors = _part_standard_errors(reference, numeric)
    else:
        standard_errors = pd.DataFrame(np.nan, index=reference.index, columns=numeric)
    p_columns = set(_p_value_columns(numeric)) if spread in ("intervals", "parts") else set()
    seeds_column = "n" if spread == "parts" else "n_seeds"
    seeds = pd.to_numeric(reference[seeds_column], errors="coerce").to_numpy(dtype=np.float64) \
        if seeds_column in reference else np.full(len(reference), np.nan)

    cells: list[dict] = []
    for column in reference.columns:
        a, b = fresh[column], reference[column]
        if column not in numeric:
            unequal = ~((a.astype(str) == b.astype(str)) | (a.isna() & b.isna()))
            for index in np.flatnonzero(unequal.to_numpy()):
                cells.append({"column": column, "row": _row_label(reference, index, keys), "fresh": a.iat[index],
                              "reference": b.iat[index], "abs": np.nan, "rel": np.nan, "se": np.nan,
                              "in_se": np.inf, "ok": False, "how": "text"})
            continue
        x, y = a.to_numpy(dtype=np.float64, na_value=np.nan), b.to_numpy(dtype=np.float64, na_value=np.nan)
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        if same.all():
            continue
        se = standard_errors[column].to_numpy(dtype=np.float64)
        if column in p_columns:  # a p-value moves as its t statistic does: compare those, in standard errors
            tx, ty = _as_t_statistics(x, seeds), _as_t_statistics(y, seeds)
            with np.errstate(invalid="ignore"):
                in_se = np.where(np.isfinite(tx) & np.isfinite(ty), np.abs(tx - ty), np.inf)
            se = np.ones_like(x)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                in_se = np.where(se > 0, np.abs(x - y) / se, np.inf)
        for index in np.flatnonzero(~same):
            difference = abs(x[index] - y[index])
            if math.isnan(difference):  # a number against NaN, or infinities of both signs: as far apart as can be
                difference = math.inf
            rounding = math.isfinite(difference) and difference <= tolerance.atol + tolerance.rtol * abs(y[index])
            noise = bool(np.isfinite(in_se[index]) and in_se[index] <= tolerance.seed_se)
            cells.append({"column": column, "row": _row_label(reference, index, keys), "fresh": x[index],
                          "reference": y[index], "abs": difference,
                          "rel": difference / abs(y[index]) if math.isfinite(y[index]) and y[index] else math.inf,
                          "se": float(se[index]) if np.isfinite(se[index]) else math.nan,
                          "in_se": float(in_se[index]), "ok": rounding or noise,
                          "how": "rounding" if rounding else "seed noise" if noise else "beyond"})
    if not cells:
        return "identical", [], ""
    return ("agrees" if all(cell["ok"] for cell in cells) else "differs"), cells, ""


def _table_comparison(name: str, fresh: Path, reference: Path | None, tolerance: Tolerance) -> TableComparison:
    from ..experiment.storage import read_csv
    from .products import result_table

    if not fresh.is_file():
        return TableComparison(name, "missing", f"{fresh} was not produced")
    if reference is None or not reference.is_file():
        return TableComparison(name, "no reference copy", "the reference has no such table: refresh it "
                                                          "(`make reference`) if the table is new")
    if fresh.read_bytes() == reference.read_bytes():
        return TableComparison(name, "identical")
    try:
        registered = result_table(name)
        keys, spread = registered.keys, registered.spread
    except KeyError:
        keys, spread = (), None
    result, cells, note = compare_tables(read_csv(fresh), read_csv(reference), keys=keys, spread=spread,
                                         tolerance=tolerance)
    if result == "identical":  # the same numbers, written in other bytes (line ends, a float's last printed digit)
        result = "agrees"
    return TableComparison(name, result, note, cells)


# ---------------------------------------------------------------------------------------------- the report


def _number(value) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4g}"


def _in_se(cell: dict) -> str:
    if cell["how"] == "text":
        return "text differs"
    return "no seed spread" if math.isinf(cell["in_se"]) and not math.isfinite(cell["se"]) else f"{cell['in_se']:.3g}"


def _worst_first(cells: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """Failing cells first, then by size in standard errors, then by relative size."""
    return sorted(cells, key=lambda item: (item[1]["ok"], -(item[1]["in_se"] if item[1]["how"] != "rounding" else 0),
                                           -(item[1]["rel"] if math.isfinite(item[1]["rel"]) else math.inf)))


def _describe(table: str, cell: dict) -> str:
    if cell["how"] == "text":
        return f"{table}.{cell['column']} at {cell['row']}: {cell['fresh']!r} instead of {cell['reference']!r}"
    size = (f"{cell['in_se']:.2g} seed standard errors" if math.isfinite(cell["in_se"])
            else "with no seed spread to measure it by")
    return (f"{table}.{cell['column']} at {cell['row']}: {_number(cell['fresh'])} instead of "
            f"{_number(cell['reference'])} ({size})")


def compare_with_reference(tables: dict, figures: dict, *, experiment: str, reference_dir: str | Path,
                           tolerance: Tolerance, output: str | Path) -> Outcome:
    """Compare the fresh tables (and figures) with their reference copies; write ``output`` (Markdown).

    Parameters
    ----------
    tables, figures : dict of str to (fresh path, reference path or None)
        What to compare, by name (None: the reference has no copy). A table's keys and spread come
        from its registration in :mod:`.products` (unregistered: compared by position, rounding only).
    experiment : str
        The experiment's name, for the text.
    reference_dir : path
        The experiment's reference folder, for the text.
    tolerance : Tolerance
        ``reference.rtol``, ``reference.atol`` and ``reference.seed_se``.
    output : path
        Where ``comparison.md`` goes.
    """
    from ..experiment.storage import write_text

    pairs = {name: (Path(fresh), Path(reference) if reference else None) for name, (fresh, reference) in tables.items()}
    lines = [f"# Comparison with the reference: {experiment}", ""]
    if not any(reference is not None and reference.is_file() for _, reference in pairs.values()):
        headline = (f"{_VERDICT_PREFIX} no reference for {experiment} (nothing under {reference_dir}): nothing to "
                    "compare, passes.")
        write_text("\n".join(lines + [headline, ""]), output)
        return Outcome("no reference", headline)
    results = [_table_comparison(name, fresh, reference, tolerance) for name, (fresh, reference) in pairs.items()]
    cells = [(r.name, cell) for r in results for cell in r.cells]
    worst = _worst_first(cells)
    numbers = [cell for _, cell in cells if cell["how"] in ("seed noise",)]
    largest = max(numbers, key=lambda cell: cell["in_se"]) if numbers else None
    failed = [r for r in results if r.fails]
    if failed:
        result = "differs"
        first = next(((table, cell) for table, cell in worst if not cell["ok"]), None)
        reasons = [f"{r.name}: {r.note.split(' (')[0] or r.result}" for r in failed if not r.cells]
        if first:
            reasons.append(_describe(*first))
        headline = (f"{_VERDICT_PREFIX} differs from the reference {reference_dir}: "
                    f"{', '.join(r.name for r in failed)}. First: {'; '.join(reasons)}.")
    elif all(r.result == "identical" for r in results):
        result = "identical"
        headline = (f"{_VERDICT_PREFIX} identical to the reference {reference_dir}: {len(results)} tables, every "
                    "one the same bytes.")
    else:
        result = "agrees"
        size = (f"; largest difference {largest['in_se']:.2g} seed standard errors ({_describe(*next(i for i in worst if i[1] is largest))})"
                if largest else "; every difference is rounding")
        headline = (f"{_VERDICT_PREFIX} agrees with the reference {reference_dir}: "
                    f"{sum(r.result == 'identical' for r in results)} of {len(results)} tables identical, every "
                    f"verdict and text cell equal, every number within rounding or {tolerance.seed_se:g} seed "
                    f"standard errors{size}.")
    lines += [headline, "",
              "**identical**: every table the same bytes. **agrees**: every row, verdict and text cell equal, and "
              f"every number equal up to rounding (|fresh - reference| <= {tolerance.atol:g} + {tolerance.rtol:g} "
              f"|reference|) or within {tolerance.seed_se:g} of its seed-to-seed standard error (the unit the "
              "verdicts are decided in; a p-value is held as its t statistic). **differs**: anything else; "
              "`make reproduce` fails only then. Settings: `reference.rtol`, `reference.atol`, `reference.seed_se`.",
              "", "| table | result | cells not equal | of them beyond tolerance | note |", "|---|---|---|---|---|"]
    lines += [f"| `{r.name}` | {r.result} | {len(r.cells)} | {sum(not c['ok'] for c in r.cells)} | {r.note} |"
              for r in results]
    if worst:
        lines += ["", f"## Cells not equal, worst first ({min(len(worst), _WORST_SHOWN)} of {len(worst)})", "",
                  "| table | column | row | fresh | reference | difference | in seed standard errors | judged |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| `{table}` | {c['column']} | {c['row']} | {_number(c['fresh'])} | {_number(c['reference'])} | "
                  f"{_number(c['abs'])} | {_in_se(c)} | {c['how']} |" for table, c in worst[:_WORST_SHOWN]]
        lines += ["", "## Per column", "",
                  "| table | column | cells not equal | largest absolute | largest relative | largest in seed "
                  "standard errors | beyond tolerance |", "|---|---|---|---|---|---|---|"]
        by_column: dict[tuple[str, str], list[dict]] = {}
        for table, cell in cells:
            by_column.setdefault((table, cell["column"]), []).append(cell)
        for (table, column), group in by_column.items():
            finite = [c["in_se"] for c in group if c["how"] != "text" and math.isfinite(c["in_se"])]
            lines.append(f"| `{table}` | {column} | {len(group)} | {_number(max(c['abs'] for c in group))} | "
                         f"{_number(max(c['rel'] for c in group))} | {_number(max(finite)) if finite else '-'} | "
                         f"{sum(not c['ok'] for c in group)} |")
    if figures:
        lines += ["", "## Figures (for information: pixels depend on fonts and the PNG encoder)", "",
                  "| figure | result |", "|---|---|"]
        for name, (fresh, reference) in sorted(figures.items()):
            fresh, reference = Path(fresh), Path(reference)
            state = ("no reference copy" if not reference.is_file() else "missing" if not fresh.is_file()
                     else "identical bytes" if fresh.read_bytes() == reference.read_bytes() else "pixels differ")
            lines.append(f"| `{name}` | {state} |")
    write_text("\n".join(lines) + "\n", output)
    return Outcome(result, headline)


def headline_of(path: str | Path) -> str:
    """The verdict line of a ``comparison.md``."""
    for line in Path(path).read_text().splitlines():
        if line.startswith(_VERDICT_PREFIX):
            return line
    raise ValueError(f"{path} holds no line starting with {_VERDICT_PREFIX!r}: not a comparison written by localregions")


def outcome_of(path: str | Path) -> str:
    """The outcome a ``comparison.md`` states: ``identical``, ``agrees``, ``differs`` or ``no reference``."""
    words = headline_of(path).removeprefix(_VERDICT_PREFIX).split()
    if words[:2] == ["no", "reference"]:
        return "no reference"
    if words and words[0] in ("identical", "agrees", "differs"):
        return words[0]
    raise ValueError(f"{path}: the verdict line states no outcome (identical, agrees, differs): {words}")


def matches(path: str | Path) -> bool:
    """Whether a ``comparison.md`` says the run reproduces its reference (identical, agrees, or no reference)."""
    return outcome_of(path) != "differs"


def refresh_reference(tables: dict, report: tuple, figures: dict, *, figures_link: str, experiment: str,
                      made_from: dict | None = None) -> list[Path]:
    """Copy an experiment's finished results into its reference folder; on purpose only (``make reference``).

    ``tables`` and ``figures`` map names to (fresh path, reference path); ``report`` is one such
    pair, and ``figures_link`` how the fresh report links its figures (``../../figures/<name>``),
    rewritten to the reference's ``figures/``. ``made_from`` names, per figure, the tables it is
    drawn from (or written beside, for a rule that draws its own); a figure it leaves out, and the
    report, are made from every table. Refuses when any file is missing or a product is older than
    the newest table it is made from, so that a half-finished run never becomes the reference.
    """
    made_from = made_from or {}
    sources = {name: Path(fresh) for name, (fresh, _) in tables.items()}
    products = [(Path(report[0]), tuple(sources))] + [(Path(fresh), tuple(made_from.get(name, sources)))
                                                      for name, (fresh, _) in figures.items()]
    missing = [p for p in [*sources.values(), *(product for product, _ in products)] if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"cannot refresh the reference of {experiment}: {missing[0]} is missing; "
                                "run the pipeline to the end first")
    unknown = sorted({name for _, names in products for name in names} - set(sources))
    if unknown:
        raise ValueError(f"made_from names tables this experiment does not make: {unknown}")
    stale = [product for product, names in products
             if product.stat().st_mtime < max(sources[name].stat().st_mtime for name in names)]
    if stale:
        raise RuntimeError(f"cannot refresh the reference of {experiment}: {stale[0]} is older than the tables "
                           "it is made from; rerun the pipeline to the end first")
    copied = []
    for fresh, target in [*tables.values(), *figures.values()]:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fresh, target)
        copied.append(Path(target))
    fresh, target = map(Path, report)
    target.write_text(fresh.read_text().replace(f"]({figures_link}/", "](figures/"))
    copied.append(target)
    return copied
