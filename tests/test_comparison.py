"""A fresh run held against the committed reference: tolerances, shapes, verdicts, and refreshing the reference."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localregions.experiment.storage import write_csv
from localregions.pipeline.layout import Layout
from localregions.pipeline.settings import PathsConfig
from localregions.reporting.comparison import (
    compare_tables,
    compare_with_reference,
    headline_of,
    matches,
    refresh_reference,
)


def summary():
    return pd.DataFrame({"depth": [2, 2, 3, 3], "dataset": ["train", "test", "train", "test"],
                         "value": [1.0, 2.5, -3.0, 1e-12], "complete": [True, False, True, True],
                         "distance": [0.5, np.nan, np.inf, 2.0]})


def runs():
    return pd.DataFrame({"seed": [0, 1], "status": ["ok", "diverged"], "accuracy": [0.9, np.nan]})


def compare(tmp_path, fresh, reference, figures=None, rtol=1e-6, atol=1e-9):
    """Write the tables (name -> DataFrame, or None for no file), compare, return (outcome, comparison.md)."""
    pairs = {}
    for name in sorted(set(fresh) | set(reference)):
        pairs[name] = (tmp_path / "results" / f"{name}.csv", tmp_path / "reference" / f"{name}.csv")
        for frame, path in zip((fresh.get(name), reference.get(name)), pairs[name]):
            if frame is not None:
                write_csv(frame, path)
    output = tmp_path / "results" / "comparison.md"
    outcome = compare_with_reference(pairs, figures or {}, experiment="smoke", reference_dir=tmp_path / "reference",
                                     rtol=rtol, atol=atol, output=output)
    return outcome, output.read_text()


def _result_of(text, table):
    (row,) = [line for line in text.splitlines() if line.startswith(f"| `{table}` |")]
    return row.split(" | ")[1]


def _column_rows(text, table):
    """The per-column rows of one table: column -> (largest absolute, largest relative, cells out)."""
    if f"## `{table}`: per column" not in text:
        return {}
    block = text.split(f"## `{table}`: per column", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("| ").split(" | ") for line in block.splitlines() if line.startswith("| ")][1:]
    return {row[0]: tuple(row[1:]) for row in rows}


# ---------------------------------------------------------------------------------------------- compare_with_reference


def test_identical_bytes_match(tmp_path):
    outcome, text = compare(tmp_path, {"summary": summary(), "runs": runs()}, {"summary": summary(), "runs": runs()})
    assert outcome.matches
    assert outcome.headline.startswith("Verdict: matches the reference")
    assert "2 tables compared, 2 identical in bytes" in outcome.headline
    assert _result_of(text, "summary") == _result_of(text, "runs") == "identical"
    assert headline_of(tmp_path / "results" / "comparison.md") == outcome.headline
    assert matches(tmp_path / "results" / "comparison.md")


def test_a_number_within_the_tolerance_still_matches(tmp_path):
    fresh = summary()
    fresh.loc[1, "value"] = 2.5 * (1 + 4e-7)
    outcome, text = compare(tmp_path, {"summary": fresh}, {"summary": summary()})
    assert outcome.matches and matches(tmp_path / "results" / "comparison.md")
    assert _result_of(text, "summary") == "within tolerance"
    assert "1 tables compared, 0 identical in bytes, the rest within rtol 1e-06" in outcome.headline
    largest_abs, largest_rel, out = _column_rows(text, "summary")["value"]
    assert (float(largest_abs), float(largest_rel), out) == (pytest.approx(1e-6, rel=1e-2), pytest.approx(4e-7, rel=1e-2), "0")


def test_a_number_beyond_the_tolerance_does_not_match_and_is_named(tmp_path):
    fresh = summary()
    fresh.loc[[0, 2], "value"] += 1e-3
    outcome, text = compare(tmp_path, {"summary": fresh, "runs": runs()}, {"summary": summary(), "runs": runs()})
    assert not outcome.matches and not matches(tmp_path / "results" / "comparison.md")
    assert "DOES NOT MATCH" in outcome.headline
    assert "summary differ beyond rtol 1e-06, atol 1e-09" in outcome.headline and "runs" not in outcome.headline
    assert _result_of(text, "summary") == "differs" and _result_of(text, "runs") == "identical"
    columns = _column_rows(text, "summary")
    assert columns["value"][2] == "2"  # two cells out of tolerance
    assert float(columns["value"][0]) == pytest.approx(1e-3)
    # Columns that agree exactly are not listed.
    assert set(columns) == {"value"}


def test_a_changed_text_cell_does_not_match(tmp_path):
    fresh = summary()
    fresh.loc[3, "dataset"] = "random1"
    outcome, text = compare(tmp_path, {"summary": fresh}, {"summary": summary()})
    assert not outcome.matches
    assert _column_rows(text, "summary") == {"dataset": ("-", "-", "1")}


def test_a_changed_flag_does_not_match(tmp_path):
    fresh = summary()
    fresh.loc[0, "complete"] = False
    outcome, text = compare(tmp_path, {"summary": fresh}, {"summary": summary()})
    assert not outcome.matches
    assert _column_rows(text, "summary") == {"complete": ("-", "-", "1")}


@pytest.mark.parametrize(
    "change, note",
    [
        (lambda f: f.iloc[:3], "3 rows, the reference has 4"),
        (lambda f: f.rename(columns={"value": "values"}), "columns differ (new: ['values'], missing: ['value'])"),
        (lambda f: f[["dataset", "depth", "value", "complete", "distance"]], "column order differs"),
    ],
)
def test_a_table_of_another_shape_does_not_match_and_says_why(tmp_path, change, note):
    outcome, text = compare(tmp_path, {"summary": change(summary())}, {"summary": summary()})
    assert not outcome.matches
    assert f"| `summary` | differs | {note} |" in text


def test_a_missing_fresh_table_fails(tmp_path):
    outcome, text = compare(tmp_path, {"summary": summary(), "runs": None}, {"summary": summary(), "runs": runs()})
    assert not outcome.matches
    assert "DOES NOT MATCH" in outcome.headline and "runs differ" in outcome.headline
    assert _result_of(text, "runs") == "missing"
    assert "runs.csv was not produced" in text


def test_a_table_new_since_the_reference_passes_and_says_so(tmp_path):
    outcome, text = compare(tmp_path, {"summary": summary(), "runs": runs()}, {"summary": summary()})
    assert outcome.matches
    assert _result_of(text, "runs") == "no reference copy"
    assert "1 tables compared" in outcome.headline


def test_no_reference_at_all_passes_and_says_so(tmp_path):
    outcome, text = compare(tmp_path, {"summary": summary()}, {})
    assert outcome.matches and matches(tmp_path / "results" / "comparison.md")
    assert outcome.headline == (f"Verdict: no reference for smoke (nothing under {tmp_path / 'reference'}): "
                                "nothing to compare, passes.")
    assert outcome.headline in text


def test_figures_are_compared_for_information_only(tmp_path):
    figures = {}
    for name, fresh, reference in (("same.png", b"\x89PNG-a", b"\x89PNG-a"), ("moved.png", b"\x89PNG-a", b"\x89PNG-b"),
                                   ("new.png", b"\x89PNG-a", None)):
        pair = (tmp_path / "figures" / name, tmp_path / "reference" / "figures" / name)
        for data, path in zip((fresh, reference), pair):
            if data is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        figures[name] = pair
    outcome, text = compare(tmp_path, {"summary": summary()}, {"summary": summary()}, figures=figures)
    assert outcome.matches
    assert "| `same.png` | identical bytes |" in text
    assert "| `moved.png` | pixels differ |" in text
    assert "| `new.png` | no reference copy |" in text


def test_headline_of_a_file_without_a_verdict_names_the_file(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("# Comparison\n\nnothing decided here\n")
    with pytest.raises(ValueError, match="notes.md"):
        headline_of(path)
    with pytest.raises(ValueError, match="notes.md"):
        matches(path)


# ---------------------------------------------------------------------------------------------- compare_tables


def _column(fresh, reference, rtol=1e-6, atol=1e-9):
    ok, columns, note = compare_tables(pd.DataFrame({"x": fresh}), pd.DataFrame({"x": reference}), rtol=rtol, atol=atol)
    return ok, columns[0]


def test_nan_and_infinities_agree_with_themselves_only():
    ok, column = _column([np.nan, np.inf, -np.inf, 1.0], [np.nan, np.inf, -np.inf, 1.0])
    assert ok and column["mismatches"] == 0 and column["max_abs"] == 0.0
    for fresh, reference in (([np.nan], [1.0]), ([1.0], [np.nan]), ([np.inf], [-np.inf]), ([np.inf], [1e308]),
                             ([np.inf], [np.nan])):
        ok, column = _column(fresh, reference)
        assert not ok and column["mismatches"] == 1, (fresh, reference)
        # The largest difference says how far: infinitely, not NaN (which would read as no difference).
        assert column["max_abs"] == column["max_rel"] == np.inf, (fresh, reference)
    ok, column = _column([np.nan, 1.001], [1.0, 1.0])
    assert column["mismatches"] == 2 and column["max_abs"] == np.inf


def test_the_tolerance_is_relative_to_the_reference():
    # |1.5 - 1| = 0.5: within 0.4 |fresh| = 0.6 but not within 0.4 |reference| = 0.4.
    assert not _column([1.5], [1.0], rtol=0.4, atol=0.0)[0]
    assert _column([1.0], [1.5], rtol=0.4, atol=0.0)[0]
    # atol alone covers numbers near zero.
    assert _column([1e-10], [0.0], rtol=0.0, atol=1e-9)[0]
    assert not _column([1e-8], [0.0], rtol=0.0, atol=1e-9)[0]


@settings(max_examples=80, deadline=None)
@given(reference=st.floats(-1e6, 1e6).filter(lambda v: abs(v) > 1e-3), share=st.floats(0.0, 0.9),
       sign=st.sampled_from([-1.0, 1.0]))
def test_a_number_agrees_exactly_when_inside_atol_plus_rtol_times_the_reference(reference, share, sign):
    rtol, atol = 1e-4, 1e-9
    allowed = atol + rtol * abs(reference)
    assert _column([reference + sign * share * allowed], [reference], rtol=rtol, atol=atol)[0]
    assert not _column([reference + sign * (1.2 + share) * allowed], [reference], rtol=rtol, atol=atol)[0]


# ---------------------------------------------------------------------------------------------- refresh_reference


def finished_run(root: Path, name: str = "smoke") -> dict:
    """The files of a finished run (two tables, a report, two figures as PNG and PDF), as refresh_reference takes them."""
    layout = Layout(PathsConfig(results=str(root / "results"), figures=str(root / "figures"),
                                reference=str(root / "reference")), name)
    tables = {table: (layout.table(table), layout.reference_table(table)) for table in ("summary", "runs")}
    write_csv(summary(), layout.table("summary"))
    write_csv(runs(), layout.table("runs"))
    old = os.stat(layout.table("summary")).st_mtime - 10
    for fresh, _ in tables.values():
        os.utime(fresh, (old, old))
    links = layout.figures_from_report
    Path(layout.report).write_text(f"# Report\n\n- [Figure 3]({links}/figure3_depth2.png)\n- [Tightness]({links}/tightness.png)"
                                   f"\n\nDetails: [the comparison](comparison.md).\n")
    figures = {}
    for stem in ("figure3_depth2", "tightness"):
        for ext in ("png", "pdf"):
            Path(layout.figure(stem, ext)).parent.mkdir(parents=True, exist_ok=True)
            Path(layout.figure(stem, ext)).write_bytes(b"figure " + f"{stem}.{ext}".encode())
        figures[stem] = (layout.figure(stem), layout.reference_figure(stem))
    return {"tables": tables, "report": (layout.report, layout.reference_report), "figures": figures,
            "figures_link": links, "experiment": name, "layout": layout}


def refresh(run: dict):
    return refresh_reference(run["tables"], run["report"], run["figures"], figures_link=run["figures_link"],
                             experiment=run["experiment"])


@pytest.mark.parametrize("name", ["smoke", "figure3/unit"])
def test_refresh_reference_copies_tables_report_and_pngs_and_relinks_the_figures(tmp_path, name):
    run = finished_run(tmp_path, name)
    copied = refresh(run)
    reference = tmp_path / "reference" / name
    assert sorted(copied) == sorted([reference / "summary.csv", reference / "runs.csv", reference / "report.md",
                                     reference / "figures" / "figure3_depth2.png", reference / "figures" / "tightness.png"])
    assert (reference / "summary.csv").read_bytes() == Path(run["layout"].table("summary")).read_bytes()
    assert (reference / "figures" / "tightness.png").read_bytes() == b"figure tightness.png"
    assert not list(reference.rglob("*.pdf"))
    report = (reference / "report.md").read_text()
    assert "- [Figure 3](figures/figure3_depth2.png)\n- [Tightness](figures/tightness.png)" in report
    assert "[the comparison](comparison.md)" in report
    # Every link of the copied report resolves inside the reference.
    assert (reference / "figures" / "figure3_depth2.png").is_file()


def test_refresh_reference_refuses_when_a_product_is_missing(tmp_path):
    run = finished_run(tmp_path)
    Path(run["layout"].figure("tightness")).unlink()
    with pytest.raises(FileNotFoundError, match="tightness.png is missing"):
        refresh(run)
    assert not (tmp_path / "reference").exists()


def test_refresh_reference_refuses_when_a_product_is_older_than_the_tables(tmp_path):
    for stale in ("report", "figure"):
        run = finished_run(tmp_path / stale)
        product = run["layout"].report if stale == "report" else run["layout"].figure("figure3_depth2")
        newest = os.stat(run["layout"].table("summary")).st_mtime
        os.utime(product, (newest - 5, newest - 5))
        with pytest.raises(RuntimeError, match=f"{Path(product).name} is older than the tables"):
            refresh(run)
        assert not (tmp_path / stale / "reference").exists()


def test_refresh_reference_refuses_when_a_table_is_missing(tmp_path):
    run = finished_run(tmp_path)
    Path(run["layout"].table("runs")).unlink()
    with pytest.raises(FileNotFoundError, match="runs.csv is missing"):
        refresh(run)
