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
    Tolerance,
    compare_tables,
    compare_with_reference,
    headline_of,
    matches,
    outcome_of,
    refresh_reference,
)


SEEDS = [0, 1, 2, 3, 4]


def summary():
    """A per-seed table in the layout of summary.csv: two settings x five seeds, a count and a float column."""
    rows = []
    for depth in (2, 3):
        for seed in SEEDS:
            rows.append({"depth": depth, "lr": 0.02, "seed": seed, "epoch": 20, "dataset": "train", "radius": 0.4,
                         "norm": "l2", "single_region_points": 800 + 10 * seed + depth,
                         "mean_log2_bound": 0.25 + 0.01 * seed * depth, "note": "ok"})
    return pd.DataFrame(rows)


def runs():
    return pd.DataFrame({"model": ["mlp2"] * 5, "depth": [2] * 5, "lr": [0.02] * 5, "seed": SEEDS,
                         "status": ["ok", "ok", "ok", "ok", "diverged"], "final_test_accuracy": [0.9, 0.91, 0.92, 0.95, np.nan]})


def claims(effect=0.3, low=0.1, high=0.5, p=0.004, verdict="holds", n_seeds=10):
    return pd.DataFrame({"trajectory": ["paper"], "depth": [2], "lr": [0.02], "claim": [1], "verdict": [verdict],
                         "part1_effect": [effect], "part1_ci_low": [low], "part1_ci_high": [high], "part1_p": [p],
                         "confidence": [0.95], "n_seeds": [n_seeds]})


def compare(tmp_path, fresh, reference, figures=None, tolerance=Tolerance()):
    """Write the tables (name -> DataFrame, or None for no file), compare, return (outcome, comparison.md)."""
    pairs = {}
    for name in sorted(set(fresh) | set(reference)):
        pairs[name] = (tmp_path / "results" / f"{name}.csv", tmp_path / "reference" / f"{name}.csv")
        for frame, path in zip((fresh.get(name), reference.get(name)), pairs[name]):
            if frame is not None:
                write_csv(frame, path)
    output = tmp_path / "results" / "comparison.md"
    outcome = compare_with_reference(pairs, figures or {}, experiment="smoke", reference_dir=tmp_path / "reference",
                                     tolerance=tolerance, output=output)
    return outcome, output.read_text()


def _result_of(text, table):
    """The table's result in the first table of comparison.md (one row per table)."""
    overview = text.split("\n## ")[0]
    (row,) = [line for line in overview.splitlines() if line.startswith(f"| `{table}` |")]
    return row.split(" | ")[1]


def _seed_se(frame, column, depth):
    values = frame.loc[frame["depth"] == depth, column]
    return values.std(ddof=1) / np.sqrt(len(values))


# ---------------------------------------------------------------------------------------------- the three outcomes


def test_identical_bytes_are_identical(tmp_path):
    outcome, text = compare(tmp_path, {"summary": summary(), "runs": runs()}, {"summary": summary(), "runs": runs()})
    assert outcome.result == "identical" and outcome.matches
    assert outcome.headline.startswith("Verdict: identical to the reference")
    assert _result_of(text, "summary") == _result_of(text, "runs") == "identical"
    path = tmp_path / "results" / "comparison.md"
    assert headline_of(path) == outcome.headline and outcome_of(path) == "identical" and matches(path)


def test_a_one_ulp_change_in_a_float64_table_agrees(tmp_path):
    # In memory: one unit in the last place of a float64.
    fresh = summary()
    fresh.loc[3, "mean_log2_bound"] = np.nextafter(fresh.loc[3, "mean_log2_bound"], 1.0)
    result, cells, _ = compare_tables(fresh, summary(), keys=["depth", "seed"], spread="seeds")
    assert result == "agrees" and [c["how"] for c in cells] == ["rounding"]
    # On disk: the tables print 12 significant digits, so rounding shows as one unit in the 12th.
    outcome, _ = compare(tmp_path, {"summary": summary()}, {"summary": summary()})
    fresh_csv = tmp_path / "results" / "summary.csv"
    lines = fresh_csv.read_text().splitlines()
    assert lines[8].split(",")[8] == "0.31"
    lines[8] = lines[8].replace(",0.31,", ",0.310000000001,")
    fresh_csv.write_text("\n".join(lines) + "\n")
    outcome = compare_with_reference({"summary": (fresh_csv, tmp_path / "reference" / "summary.csv")}, {},
                                     experiment="smoke", reference_dir=tmp_path / "reference", tolerance=Tolerance(),
                                     output=tmp_path / "comparison.md")
    assert outcome.result == "agrees" and matches(tmp_path / "comparison.md")
    assert "every difference is rounding" in outcome.headline
    assert "| rounding |" in (tmp_path / "comparison.md").read_text()


def test_a_change_within_a_tenth_of_a_seed_standard_error_agrees_and_says_how_far(tmp_path):
    fresh = summary()
    se = _seed_se(summary(), "mean_log2_bound", 3)
    fresh.loc[7, "mean_log2_bound"] += 0.08 * se
    outcome, text = compare(tmp_path, {"summary": fresh}, {"summary": summary()})
    assert outcome.result == "agrees"
    assert "largest difference 0.08 seed standard errors" in outcome.headline
    assert "summary.mean_log2_bound at depth=3, lr=0.02, seed=2, epoch=20, dataset=train" in outcome.headline
    assert "| seed noise |" in text


def test_one_seed_moved_by_half_a_standard_error_differs_and_is_named(tmp_path):
    fresh = summary().astype({"single_region_points": float})
    se = _seed_se(summary(), "single_region_points", 2)
    fresh.loc[1, "single_region_points"] += 0.5 * se
    outcome, text = compare(tmp_path, {"summary": fresh, "runs": runs()}, {"summary": summary(), "runs": runs()})
    assert outcome.result == "differs" and not outcome.matches
    assert not matches(tmp_path / "results" / "comparison.md")
    assert outcome.headline.startswith("Verdict: differs from the reference")
    assert ("summary.single_region_points at depth=2, lr=0.02, seed=1, epoch=20, dataset=train, radius=0.4, norm=l2"
            in outcome.headline)
    assert "(0.5 seed standard errors)" in outcome.headline
    assert _result_of(text, "summary") == "differs" and _result_of(text, "runs") == "identical"


def test_a_flipped_verdict_differs(tmp_path):
    outcome, text = compare(tmp_path, {"claims": claims(verdict="partly")}, {"claims": claims()})
    assert outcome.result == "differs"
    assert "claims.verdict at trajectory=paper, depth=2, lr=0.02, claim=1: 'partly' instead of 'holds'" in outcome.headline
    assert "| text differs | text |" in text


def test_a_changed_text_cell_differs(tmp_path):
    fresh = summary()
    fresh.loc[2, "note"] = "collapsed"
    outcome, _ = compare(tmp_path, {"summary": fresh}, {"summary": summary()})
    assert outcome.result == "differs" and "summary.note" in outcome.headline


def test_a_number_whose_seeds_do_not_vary_must_agree_to_rounding():
    reference = summary().assign(constant=7.0)
    fresh = reference.assign(constant=[7.0] * 9 + [7.0 + 1e-6])
    result, cells, _ = compare_tables(fresh, reference, keys=["depth", "seed"], spread="seeds")
    assert result == "differs" and cells[0]["how"] == "beyond" and cells[0]["in_se"] == np.inf


def test_summaries_are_measured_in_their_own_standard_error():
    reference = pd.DataFrame({"depth": [2], "n_seeds": [10], "x_mean": [1.0], "x_std": [0.5], "x_ci_low": [0.64],
                              "x_ci_high": [1.36]})
    se = 0.5 / np.sqrt(10)
    for shift, expected in ((0.09 * se, "agrees"), (0.2 * se, "differs")):
        for column in ("x_mean", "x_std", "x_ci_low", "x_ci_high"):
            fresh = reference.copy()
            fresh[column] += shift
            result, cells, _ = compare_tables(fresh, reference, keys=["depth"], spread="summaries")
            assert result == expected, (column, shift)
            assert cells[0]["in_se"] == pytest.approx(shift / se)


def test_claim_effects_are_measured_in_their_interval_s_standard_error_and_p_values_as_t():
    from scipy import stats

    reference = claims()
    se = (0.5 - 0.1) / (2 * stats.t.ppf(0.975, 9))
    result, cells, _ = compare_tables(claims(effect=0.3 + 0.05 * se), reference,
                                      keys=["trajectory", "depth", "lr", "claim"], spread="intervals")
    assert result == "agrees" and cells[0]["in_se"] == pytest.approx(0.05)
    # p = 0.004 is t = 3.45 on 9 degrees of freedom; the same p from t + 0.3 is 0.3 standard errors away.
    t = stats.t.isf(0.004, 9)
    result, cells, _ = compare_tables(claims(p=stats.t.sf(t + 0.3, 9)), reference,
                                      keys=["trajectory", "depth", "lr", "claim"], spread="intervals")
    assert result == "differs" and cells[0]["column"] == "part1_p" and cells[0]["in_se"] == pytest.approx(0.3)


@settings(max_examples=60, deadline=None)
@given(share=st.one_of(st.just(0.0), st.floats(1e-6, 3.0)), sign=st.sampled_from([-1.0, 1.0]), row=st.integers(0, 9))
def test_a_number_agrees_exactly_when_within_the_seed_tolerance(share, sign, row):
    reference = summary()
    depth = reference.loc[row, "depth"]
    se = _seed_se(reference, "mean_log2_bound", depth)
    fresh = reference.copy()
    fresh.loc[row, "mean_log2_bound"] += sign * share * se
    result, cells, _ = compare_tables(fresh, reference, keys=["depth", "seed"], spread="seeds",
                                      tolerance=Tolerance(seed_se=0.1))
    if share == 0:
        assert result == "identical"
    elif share <= 0.0999:
        assert result == "agrees", share
    elif share >= 0.1001:
        assert result == "differs", share


@pytest.mark.parametrize(
    "change, note",
    [
        (lambda f: f.iloc[:3], "3 rows, the reference has 10"),
        (lambda f: f.rename(columns={"note": "notes"}), "columns differ (new: ['notes'], missing: ['note'])"),
        (lambda f: f[list(f.columns[::-1])], "column order differs"),
    ],
)
def test_a_table_of_another_shape_differs_and_says_why(tmp_path, change, note):
    outcome, text = compare(tmp_path, {"summary": change(summary())}, {"summary": summary()})
    assert outcome.result == "differs"
    assert f"| `summary` | differs | 0 | 0 | {note} |" in text


def test_a_missing_fresh_table_differs(tmp_path):
    outcome, text = compare(tmp_path, {"summary": summary(), "runs": None}, {"summary": summary(), "runs": runs()})
    assert outcome.result == "differs" and "runs: " in outcome.headline
    assert _result_of(text, "runs") == "missing"
    assert "runs.csv was not produced" in text


def test_a_table_the_reference_lacks_differs_and_says_to_refresh(tmp_path):
    outcome, text = compare(tmp_path, {"summary": summary(), "runs": runs()}, {"summary": summary()})
    assert outcome.result == "differs"
    assert _result_of(text, "runs") == "no reference copy" and "make reference" in text


def test_no_reference_at_all_passes_and_says_so(tmp_path):
    outcome, text = compare(tmp_path, {"summary": summary()}, {})
    assert outcome.result == "no reference" and matches(tmp_path / "results" / "comparison.md")
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
    assert outcome.result == "identical"
    assert "| `same.png` | identical bytes |" in text
    assert "| `moved.png` | pixels differ |" in text
    assert "| `new.png` | no reference copy |" in text


def test_the_worst_cells_come_first(tmp_path):
    fresh = summary()
    se = _seed_se(summary(), "mean_log2_bound", 2)
    fresh.loc[0, "mean_log2_bound"] += 0.02 * se
    fresh.loc[1, "mean_log2_bound"] += 0.09 * se
    fresh.loc[2, "mean_log2_bound"] *= 1 + 3e-12  # rounding, as it shows in a table of 12 digits
    _, text = compare(tmp_path, {"summary": fresh}, {"summary": summary()})
    rows = [line for line in text.split("worst first")[1].split("## Per column")[0].splitlines()
            if line.startswith("| `summary`")]
    assert ["seed=1" in rows[0], "seed=0" in rows[1], "| rounding |" in rows[2]] == [True, True, True]


def test_headline_of_a_file_without_a_verdict_names_the_file(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("# Comparison\n\nnothing decided here\n")
    with pytest.raises(ValueError, match="notes.md"):
        headline_of(path)
    with pytest.raises(ValueError, match="notes.md"):
        matches(path)


def test_nan_and_infinities_agree_with_themselves_only():
    for fresh, reference in (([np.nan], [1.0]), ([1.0], [np.nan]), ([np.inf], [-np.inf]), ([np.inf], [1e308])):
        result, cells, _ = compare_tables(pd.DataFrame({"x": fresh}), pd.DataFrame({"x": reference}))
        assert result == "differs" and cells[0]["abs"] == np.inf, (fresh, reference)
    result, _, _ = compare_tables(pd.DataFrame({"x": [np.nan, np.inf]}), pd.DataFrame({"x": [np.nan, np.inf]}))
    assert result == "identical"


def test_an_unknown_spread_or_key_is_refused_by_name():
    with pytest.raises(ValueError, match="spread must be one of"):
        compare_tables(summary(), summary(), spread="seed")
    with pytest.raises(ValueError, match=r"keys \['replica'\] are not columns"):
        compare_tables(summary(), summary(), keys=["replica"])


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
        with pytest.raises(RuntimeError, match=f"{Path(product).name} is older than the tables it is made from"):
            refresh(run)
        assert not (tmp_path / stale / "reference").exists()


def test_refresh_reference_judges_a_figure_by_the_tables_it_is_made_from(tmp_path):
    # The slices rule writes its figures beside its own table, before the summaries exist: older than
    # the newest table, yet fresh. A figure older than its own table is still refused.
    run = finished_run(tmp_path)
    summary_time = os.stat(run["layout"].table("summary")).st_mtime
    figure = run["layout"].figure("tightness")
    os.utime(run["layout"].table("runs"), (summary_time + 20, summary_time + 20))
    os.utime(figure, (summary_time + 5, summary_time + 5))
    os.utime(run["layout"].report, (summary_time + 30, summary_time + 30))
    os.utime(run["layout"].figure("figure3_depth2"), (summary_time + 30, summary_time + 30))
    with pytest.raises(RuntimeError, match="tightness.png is older than the tables it is made from"):
        refresh(run)
    copied = refresh_reference(run["tables"], run["report"], run["figures"], figures_link=run["figures_link"],
                               experiment=run["experiment"], made_from={"tightness": ("summary",)})
    assert tmp_path / "reference" / "smoke" / "figures" / "tightness.png" in copied
    os.utime(figure, (summary_time - 5, summary_time - 5))
    with pytest.raises(RuntimeError, match="tightness.png is older"):
        refresh_reference(run["tables"], run["report"], run["figures"], figures_link=run["figures_link"],
                          experiment=run["experiment"], made_from={"tightness": ("summary",)})
    with pytest.raises(ValueError, match="made_from names tables this experiment does not make: \\['slices'\\]"):
        refresh_reference(run["tables"], run["report"], run["figures"], figures_link=run["figures_link"],
                          experiment=run["experiment"], made_from={"tightness": ("slices",)})


def test_refresh_reference_refuses_when_a_table_is_missing(tmp_path):
    run = finished_run(tmp_path)
    Path(run["layout"].table("runs")).unlink()
    with pytest.raises(FileNotFoundError, match="runs.csv is missing"):
        refresh(run)


def test_hypothesis_parts_are_measured_by_their_sd_over_seeds_and_p_values_as_t():
    from scipy import stats

    keys = ["hypothesis", "depth", "lr", "part"]
    reference = pd.DataFrame({"hypothesis": ["H1"], "depth": [2], "lr": [0.02], "part": ["l2 eps 50"],
                              "verdict": ["holds"], "n": [10], "effect": [0.74], "sd": [0.2], "ci_low": [0.6],
                              "ci_high": [0.88], "p": [1e-6], "detectable": [0.25]})
    se = 0.2 / np.sqrt(10)
    for column in ("effect", "ci_low", "detectable"):
        for shift, expected in ((0.05 * se, "agrees"), (0.3 * se, "differs")):
            fresh = reference.copy()
            fresh[column] += shift
            result, cells, _ = compare_tables(fresh, reference, keys=keys, spread="parts")
            assert result == expected and cells[0]["in_se"] == pytest.approx(shift / se), (column, shift)
    t = stats.t.isf(1e-6, 9)
    result, cells, _ = compare_tables(reference.assign(p=stats.t.sf(t - 0.05, 9)), reference, keys=keys, spread="parts")
    assert result == "agrees" and cells[0]["in_se"] == pytest.approx(0.05)
    result, _, _ = compare_tables(reference.assign(verdict="partly"), reference, keys=keys, spread="parts")
    assert result == "differs"
