"""The report's Markdown: each section's numbers against hand computations, the assembly, determinism."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from localregions.experiment.storage import write_csv, write_text
from localregions.reporting.markdown import (
    _methods_section,
    model_sizes,
    _phases_section,
    _radius_sweep_section,
    _runs_section,
    _tightness_section,
    _variants_section,
    build_report,
    markdown_table,
    number,
    settings_text,
    write_report,
)
from localregions.vocabulary import DATASET_NAMES

SHORT_EPOCHS = (0, 2, 4, 6)
LONG_EPOCHS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2000)
BALL = dict(depth=2, lr=0.02, seed=0, epoch=6, dataset="train", norm="l2")


# ---------------------------------------------------------------------------------------------- tables


def runs_frame():
    """mlp2 at lr 0.02: seeds 0-2 trained, 3 diverged at epoch 4, 4 collapsed; mlp3 at lr 0.001: two trained."""
    rows = [("mlp2", 2, 0.02, 0, "ok", 0.90, 0.80), ("mlp2", 2, 0.02, 1, "ok", 0.95, 0.85),
            ("mlp2", 2, 0.02, 2, "ok", 1.00, 0.93), ("mlp2", 2, 0.02, 3, "diverged", np.nan, np.nan),
            ("mlp2", 2, 0.02, 4, "collapsed", 0.50, 0.50), ("mlp3", 3, 0.001, 0, "ok", 0.97, 0.96),
            ("mlp3", 3, 0.001, 1, "ok", 0.99, 0.98)]
    frame = pd.DataFrame(rows, columns=["model", "depth", "lr", "seed", "status", "final_train_accuracy",
                                        "final_test_accuracy"])
    return frame.assign(last_epoch=6, diverged_at_epoch=np.where(frame["status"] == "diverged", 4, np.nan),
                        final_train_loss=0.1)


def summary_frame(epochs=SHORT_EPOCHS, runs=None, with_failed=False, rng=0):
    """Per-seed rows of the runs that trained (and, ``with_failed``, junk rows of those that did not)."""
    runs = runs_frame() if runs is None else runs
    generator = np.random.default_rng(rng)
    records = []
    for run in runs.itertuples(index=False):
        if run.status != "ok" and not with_failed:
            continue
        for dataset in DATASET_NAMES:
            for epoch in epochs:
                value = {"ok": None, "diverged": np.nan, "collapsed": 50.0}[run.status]
                if value is None:
                    value = 1.0 + generator.normal(0, 0.1)
                records.append({"depth": run.depth, "lr": run.lr, "seed": run.seed, "epoch": epoch, "dataset": dataset,
                                "radius": 0.4, "norm": "l2", "n_points": 100, "mean_bound": 2**value,
                                "log2_mean_bound": value, "mean_log2_bound": value, "median_log2_bound": 0.0,
                                "single_region_points": 10 * value, "mean_boundary_distance": value})
    return pd.DataFrame(records)


def tightness_frame(sampled_first=1):
    """raw r = 0.4: C 0..3, exact 1, 2, 3, 8, all complete; unit r = 0.05: C 4, 5, 6, exact 10, (past the
    budget of 50), 16."""
    rows = []
    for point, (c, exact, sampled) in enumerate([(0, 1, sampled_first), (1, 2, 2), (2, 3, 3), (3, 8, 7)]):
        rows.append(dict(BALL, scale="raw", point=point, radius=0.4, unstable=c, log2_bound=c, exact_count=exact,
                         exact_complete=True, max_regions=50, sampled_count=sampled))
    for point, (c, exact, sampled) in enumerate([(4, 10, 9), (5, None, 60), (6, 16, 16)]):
        rows.append(dict(BALL, scale="unit", point=point, radius=0.05, unstable=c, log2_bound=c,
                         exact_count=np.nan if exact is None else exact, exact_complete=exact is not None,
                         max_regions=50, sampled_count=sampled))
    return pd.DataFrame(rows[4:] + rows[:4])  # unit first: the section orders raw first


# C of each method on three raw r = 0.4 balls; LP only on the first.
METHOD_C = {"local_complexity": [1, 1, 0], "lp": [3], "crown": [3, 1, 0], "ibp": [6, 3, 0], "alg1": [4, 2, 0]}


def methods_frame():
    rows = [dict(BALL, scale="raw", point=point, radius=0.4, method=method, unstable=c)
            for method, counts in METHOD_C.items() for point, c in enumerate(counts)]
    return pd.DataFrame(rows)


def methods_timing():
    # Two batches of Algorithm 1 at different speeds: 6 ms over 3 balls, 2 s per 1,000 pooled.
    return pd.DataFrame([dict(scale="raw", radius=0.4, method="alg1", balls=2, seconds=0.002),
                         dict(scale="raw", radius=0.4, method="alg1", balls=1, seconds=0.004)])


def methods_tightness():
    """Exact counts on the methods' balls: 8 and 2 regions; the third past the budget."""
    rows = [dict(BALL, scale="raw", point=point, radius=0.4, unstable=METHOD_C["alg1"][point], log2_bound=0,
                 exact_count=count, exact_complete=not np.isnan(count), max_regions=50, sampled_count=1)
            for point, count in enumerate([8, 2, np.nan])]
    return pd.DataFrame(rows)


def sweep_frame():
    rows = []
    for seed in range(2):
        for epoch in (0, 2, 4):
            for dataset in DATASET_NAMES:
                for radius in (0.1, 0.4):
                    rows.append(dict(depth=2, lr=0.02, seed=seed, epoch=epoch, dataset=dataset, radius=radius,
                                     norm="l2", n_points=10, mean_log2_bound=radius * 10 + seed + epoch / 4,
                                     single_region_share=0.2 * seed + epoch / 20))
    return pd.DataFrame(rows)


#: The parts' findings behind each verdict of the fixtures.
FINDINGS = {"holds": ("supported", "supported"), "partly": ("inconclusive", "supported"),
            "contradicted": ("contradicted", "inconclusive"), "inconclusive": ("inconclusive", "inconclusive"),
            "undecided": ("inconclusive", "inconclusive")}


def claims_rows(verdicts, trajectory="paper", **extra):
    """claims.csv rows: ``verdicts`` maps (depth, lr, claim) to a verdict."""
    rows = []
    for (depth, lr, claim), verdict in verdicts.items():
        first, second = FINDINGS[verdict]
        rows.append(dict(trajectory=trajectory, depth=depth, lr=lr, claim=claim, verdict=verdict, part1="falls",
                         part1_finding=first, part1_subject="training", part1_effect=0.5, part1_ci_low=0.1,
                         part1_ci_high=0.9, part1_detectable=0.3, part2="rises", part2_finding=second,
                         part2_subject="testing", part2_effect=0.25, part2_ci_low=0.05, part2_ci_high=0.45,
                         part2_detectable=0.2, part3="", unit="bits")
                    | extra)
    return rows


BASELINE = {(2, 0.02, 1): "contradicted", (2, 0.02, 2): "holds"}


def baseline_claims():
    # The "with epoch 0" rows (last, so that they would win) say something else: only the paper's trajectory
    # is the baseline.
    return pd.DataFrame(claims_rows(BASELINE) + claims_rows({k: "partly" for k in BASELINE}, trajectory="with epoch 0"))


def variant_claims():
    counts = {"width16": dict(runs_ok=10, runs_diverged=0, runs_collapsed=0),
              "kaiming": dict(runs_ok=8, runs_diverged=1, runs_collapsed=1)}
    frames = []
    for variant, overrides, paper in (
            ("width16", "model.width=16", {(2, 0.02, 1): "holds", (2, 0.02, 2): "holds"}),
            ("kaiming", "model.init=kaiming", {(2, 0.02, 1): "contradicted", (2, 0.02, 2): "partly"})):
        extra = dict(variant=variant, overrides=overrides) | counts[variant]
        frames += claims_rows({k: "partly" for k in paper}, trajectory="with epoch 0", **extra)
        frames += claims_rows(paper, **extra)
    return pd.DataFrame(frames)


def report(**changes):
    runs = runs_frame()
    arguments = dict(name="smoke", settings_yaml="name: smoke\nbounds:\n  radius: 0.4\n",
                     summary=summary_frame(runs=runs), runs=runs, radius=0.4, norm="l2",
                     figure_paths={"Figure 3, 2 hidden layers": "../../figures/smoke/figure3_depth2.png"},
                     comparison_headline="Verdict: identical to the reference reference/smoke: 4 tables, every one the same bytes.")
    tables = dict(tightness=tightness_frame(), radius_sweep=sweep_frame(), methods=methods_frame(),
                  methods_timing=methods_timing(), variant_claims=variant_claims(), claims=baseline_claims(),
                  slices=None)
    # A table given as None here is one whose study did not run: absent from the report's tables.
    for name in set(tables) & set(changes):
        tables[name] = changes.pop(name)
    tables = {name: table for name, table in tables.items() if table is not None}
    return build_report(**(arguments | changes), tables=tables)


def _table_rows(section):
    return [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| ---")]


# ---------------------------------------------------------------------------------------------- helpers


def test_number_and_markdown_table():
    assert [number(v) for v in (3.0, 0.0, -2, 0.123456, 1234.5678, 1e13, np.nan, None, np.inf, -np.inf, pd.NA)] == [
        "3", "0", "-2", "0.1235", "1235", "1e+13", "n/a", "n/a", "inf", "-inf", "n/a"]
    assert number(2 / 3, 3) == "0.667"
    assert markdown_table(["a", "b"], [[1, "x"], [2, "y"]]) == "| a | b |\n|---|---|\n| 1 | x |\n| 2 | y |"


@given(st.integers(-10**11, 10**11))
def test_number_prints_integers_in_full(value):
    assert number(float(value)) == str(value)


# ---------------------------------------------------------------------------------------------- runs


def test_runs_section_counts_the_outcomes_and_names_the_runs_left_out():
    section = _runs_section(runs_frame().sample(frac=1.0, random_state=3))
    assert "7 runs: 5 trained, 1 diverged (non-finite loss or weights), 1 collapsed" in section
    assert "Left out: mlp2 lr 0.02 seed 3: diverged at epoch 4; mlp2 lr 0.02 seed 4: collapsed." in section
    # Accuracies over the runs that trained only (the collapsed run's 50% is not in them); lr decreasing.
    assert _table_rows(section)[1:] == ["| 2 | 0.02 | 3 of 5 | 95.0% | 86.0% | 80.0% | 93.0% |",
                                        "| 3 | 0.001 | 2 of 2 | 98.0% | 97.0% | 96.0% | 98.0% |"]


def test_runs_section_without_failures_names_none():
    section = _runs_section(runs_frame().query("status == 'ok'"))
    assert "5 runs: 5 trained, 0 diverged" in section and "0 collapsed" in section
    assert "Left out" not in section


# ---------------------------------------------------------------------------------------------- tightness


def test_tightness_section_numbers_against_a_hand_computation():
    section = _tightness_section(tightness_frame())
    rows = _table_rows(section)
    assert rows[0].startswith("| scale | radius | balls | complete | 2^C = exact |")
    # raw: 2^C = 1, 2, 4, 8 against exact 1, 2, 3, 8: three equal; ratios 1, 1, 4/3, 1; sampled equal on three.
    # unit: 2^C = 16, 64 against the complete counts 10, 16: none equal; ratios 1.6 and 4; sampled equal on one.
    assert rows[1:] == ["| raw | 0.4 | 4 | 4 of 4 | 75% | 1 | 1.333 | 2.5 | 1.5 | 75% | - |",
                        "| unit | 0.05 | 3 | 2 of 3 | 0% | 2.8 | 4 | 13 | 5 | 50% | > 50 |"]
    assert "Every ball was counted completely at: raw r = 0.4." in section
    assert "Balls past the budget: unit r = 0.05 (1 of 3)." in section


def test_tightness_section_checks_the_sampled_count_against_the_exact_count():
    # The ball past the budget has a sampled count (60) above the budget: no exact count to contradict.
    assert "On every complete ball the sampled count is at most the exact count" in _tightness_section(tightness_frame())
    wrong = _tightness_section(tightness_frame(sampled_first=2))
    assert "**Some sampled counts exceed the exact count" in wrong
    assert "at most the exact count, as it must be" not in wrong


def test_tightness_section_reads_the_flags_as_csv_strings():
    assert _tightness_section(tightness_frame().assign(exact_complete=lambda f: f["exact_complete"].map(str))) == \
        _tightness_section(tightness_frame())


def test_tightness_section_without_budget_hits_or_without_complete_counts():
    complete = _tightness_section(tightness_frame().query("scale == 'raw'"))
    assert "Balls past the budget" not in complete and "counted completely at: raw r = 0.4." in complete
    none = _tightness_section(tightness_frame().query("scale == 'unit' and not exact_complete"))
    assert "Every ball was counted completely" not in none
    assert "| unit | 0.05 | 1 | 0 of 1 | n/a | n/a | n/a | n/a | 5 | n/a | > 50 |" in none


# ---------------------------------------------------------------------------------------------- methods


def test_methods_section_removed_share_against_a_hand_computation():
    section = _methods_section(methods_frame(), methods_timing(), None)
    # Columns: scale, radius, method, balls, mean C, Algorithm 1's mean C on the same balls, C = 0, removed,
    # mean C / log2 exact, s per 1,000 balls. Algorithm 1's C sums to 6 on the three balls; LP only on the
    # first, where Algorithm 1 has 4. Algorithm 1's time: 6 ms over 3 balls, 2 s per 1,000.
    assert _table_rows(section)[1:] == [
        "| raw | 0.4 | alg1 | 3 | 2 | 2 | 33% | - | - | 2 |",
        "| raw | 0.4 | ibp | 3 | 3 | 2 | 33% | -50% | - | n/a |",  # 9 against 6: looser, a negative share
        "| raw | 0.4 | crown | 3 | 1.33 | 2 | 33% | 33% | - | n/a |",  # 4 against 6
        "| raw | 0.4 | lp | 1 | 3 | 4 | 0% | 25% | - | n/a |",  # 3 against 4 on the same ball
        # A lower estimate, not a bound: no share of Algorithm 1's C is "removed" by it.
        "| raw | 0.4 | local_complexity | 3 | 0.667 | 2 | 33% | - | - | n/a |",
    ]


def test_methods_section_sets_c_beside_the_exact_count_where_one_finished():
    section = _methods_section(methods_frame(), None, methods_tightness())
    # Balls 0 and 1 were counted: 8 and 2 regions, log2 3 and 1, mean 2; the third ran past its budget.
    rows = {row.split(" | ")[2]: row for row in _table_rows(section)[1:]}
    assert rows["alg1"].split(" | ")[8] == "3 / 2 (2)"  # C 4 and 2
    assert rows["ibp"].split(" | ")[8] == "4.5 / 2 (2)"  # C 6 and 3
    assert rows["crown"].split(" | ")[8] == "2 / 2 (2)"  # C 3 and 1
    assert rows["lp"].split(" | ")[8] == "3 / 3 (1)"  # only ball 0
    assert rows["local_complexity"].split(" | ")[8] == "1 / 2 (2)"  # a lower estimate may sit below log2 exact
    assert all(row.endswith("| n/a |") for row in rows.values())  # no timing table


def test_models_of_a_grid_get_a_row_each_with_c_per_neuron():
    """A CNN beside an MLP: mean C pooled over both would mean nothing, so each model gets its rows."""
    mlp = methods_frame()
    # The "CNN" at depth 4: every method's C ten times the MLP's, on 125 times its neurons.
    cnn = mlp.assign(depth=4, unstable=10 * mlp["unstable"])
    timing = pd.concat([methods_timing().assign(depth=2), methods_timing().assign(depth=4, seconds=[0.02, 0.04])])
    sizes = model_sizes({"mlp2": {"depth": 2, "width": 16}, "lenet": {"depth": 4, "width": 16, "architecture": "lenet",
                                                                       "channels": [2, 1]}})
    assert sizes == {2: ("mlp2", 32), 4: ("lenet", 2 * 784 + 100 + 120 + 84)}
    sizes = {2: ("mlp2", 32), 4: ("lenet", 4000)}
    rows = _table_rows(_methods_section(pd.concat([cnn, mlp]), timing, None, sizes))
    assert rows[0].startswith("| model | neurons | scale | radius | method | balls | mean C | C per neuron |")
    assert rows[1:3] == ["| mlp2 (depth 2) | 32 | raw | 0.4 | alg1 | 3 | 2 | 0.0625 | 2 | 33% | - | - | 2 |",
                         "| mlp2 (depth 2) | 32 | raw | 0.4 | ibp | 3 | 3 | 0.0938 | 2 | 33% | -50% | - | n/a |"]
    assert rows[6:8] == ["| lenet (depth 4) | 4000 | raw | 0.4 | alg1 | 3 | 20 | 0.005 | 20 | 33% | - | - | 20 |",
                         "| lenet (depth 4) | 4000 | raw | 0.4 | ibp | 3 | 30 | 0.0075 | 20 | 33% | -50% | - | n/a |"]
    assert len(rows) == 11
    # One model: the table is the one above, without the model columns.
    assert _table_rows(_methods_section(mlp, None, None, sizes))[0].startswith("| scale | radius | method |")


# ---------------------------------------------------------------------------------------------- sweep


def test_radius_sweep_section_shows_seed_means_at_the_first_and_last_epoch():
    section = _radius_sweep_section(sweep_frame(), 0.4)
    rows = _table_rows(section)
    assert rows[0] == "| depth | lr | set | epoch | r = 0.1 | r = 0.4 |"
    # Seed means of 10 r + seed + epoch / 4 and 0.2 seed + epoch / 20.
    assert "| 2 | 0.02 | training | 0 | 1.5 / 10% | 4.5 / 10% |" in rows
    assert "| 2 | 0.02 | training | 4 | 2.5 / 30% | 5.5 / 30% |" in rows
    assert {row.split(" | ")[3] for row in rows[1:]} == {"0", "4"}  # epoch 2 is neither end
    assert len(rows) == 1 + 4 * 2
    assert [row.split(" | ")[2] for row in rows[1::2]] == ["training", "testing", "random 1", "random 2"]
    assert "Figure 3 uses r = 0.4." in section
    missing = _radius_sweep_section(sweep_frame().query("not (radius == 0.4 and dataset == 'test')"), 0.4)
    assert "| 2 | 0.02 | testing | 0 | 1.5 / 10% | n/a |" in missing


# ---------------------------------------------------------------------------------------------- variants


def test_variants_section_names_the_flips_against_the_baseline_with_numbers():
    section = _variants_section(variant_claims(), baseline_claims())
    assert _table_rows(section)[1:] == ["| width16 | `model.width=16` | 10 | 0 | 1 | 2 |",
                                        "| kaiming | `model.init=kaiming` | 8 | 2 | 1 | 2 |"]
    flips = [line for line in section.splitlines() if line.startswith("- ")]
    assert flips == [
        "- **width16**: (1) at depth 2, lr 0.02 goes from *contradicted* to *holds* (falls supported: training 0.5 "
        "[0.1, 0.9] bits, detectable 0.3; rises supported: testing 0.25 [0.05, 0.45] bits, detectable 0.2).",
        "- **kaiming**: (2) at depth 2, lr 0.02 goes from *holds* to *partly* (falls inconclusive: training 0.5 "
        "[0.1, 0.9] bits, detectable 0.3; rises supported: testing 0.25 [0.05, 0.45] bits, detectable 0.2).",
    ]
    assert "left undecided" not in section
    assert _table_rows(section)[0].endswith("| verdicts that flip | verdicts decided |")


def test_variants_section_without_flips_and_with_undecided_settings():
    same = variant_claims().assign(verdict=lambda f: f.apply(
        lambda r: BASELINE[(r.depth, r.lr, r.claim)] if r.trajectory == "paper" else "partly", axis=1))
    section = _variants_section(same, baseline_claims())
    assert "No variant changes any verdict." in section
    assert "| 0 | 2 |" in _table_rows(section)[1]
    # kaiming's setting without enough trained runs: undecided, never a flip, not counted as decided.
    undecided = variant_claims().assign(verdict=lambda f: f["verdict"].where(f["variant"] != "kaiming", "undecided"))
    short = _variants_section(undecided, baseline_claims())
    assert "| kaiming | `model.init=kaiming` | 8 | 2 | 0 | 0 |" in _table_rows(short)
    assert "kaiming**" not in short
    assert "left undecided (fewer than 5 runs trained there; *undecided* in the table and dark grey in the figure): " \
           "kaiming (depth 2, lr 0.02)." in short
    # Inconclusive is no flip either, and not a verdict decided.
    unclear = variant_claims().assign(verdict=lambda f: f["verdict"].where(f["variant"] != "kaiming", "inconclusive"))
    assert "| kaiming | `model.init=kaiming` | 8 | 2 | 0 | 0 |" in _table_rows(_variants_section(unclear, baseline_claims()))


# ---------------------------------------------------------------------------------------------- phases


def test_phases_section_appears_only_for_long_training():
    runs = runs_frame()
    long_summary = summary_frame(epochs=LONG_EPOCHS, runs=runs)
    from localregions.reporting.verdicts import trained_summary

    section = _phases_section(trained_summary(long_summary, runs), 0.4, "l2")
    assert section.startswith("## Long training in phases")
    assert "cut at epochs 1, 24, 192, 2000" in section
    assert "| depth | lr | set | epochs 1-24 | epochs 24-192 | epochs 192-2000 |" in section
    for column in ("log2_mean_bound", "mean_boundary_distance", "single_region_points"):
        assert f"### `{column}`" in section
    assert _phases_section(trained_summary(summary_frame(runs=runs), runs), 0.4, "l2") == ""
    # 1 to 50 is a span of 50: still short; 1 to 51 is long.
    assert _phases_section(trained_summary(summary_frame(epochs=(0, 1, 25, 50), runs=runs), runs), 0.4, "l2") == ""
    assert _phases_section(trained_summary(summary_frame(epochs=(0, 1, 25, 51), runs=runs), runs), 0.4, "l2")
    assert "## Long training in phases" in report(summary=long_summary)
    assert "## Long training in phases" not in report()


def test_phases_section_lists_settings_and_sets_in_the_reports_order():
    from localregions.reporting.verdicts import trained_summary

    runs = runs_frame()
    usable = trained_summary(summary_frame(epochs=LONG_EPOCHS, runs=runs), runs)
    section = _phases_section(usable.sort_values(["lr", "dataset"]), 0.4, "l2")
    block = section.split("### `log2_mean_bound`", 1)[1].split("###", 1)[0]
    keys = [tuple(row.split(" | ")[:3]) for row in _table_rows(block)[1:]]
    assert keys == [("| 2", "0.02", s) for s in ("training", "testing", "random 1", "random 2")] + \
        [("| 3", "0.001", s) for s in ("training", "testing", "random 1", "random 2")]
    assert _phases_section(usable.sample(frac=1.0, random_state=0), 0.4, "l2") == section


# ---------------------------------------------------------------------------------------------- the whole report


def test_build_report_is_deterministic_and_independent_of_row_order():
    text = report()
    assert report() == text
    shuffle = dict(random_state=7, frac=1.0)
    assert report(runs=runs_frame().sample(**shuffle), summary=summary_frame().sample(**shuffle),
                  tightness=tightness_frame().sample(**shuffle), methods=methods_frame().sample(**shuffle),
                  radius_sweep=sweep_frame().sample(**shuffle)) == text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_build_report_leaves_the_failed_runs_out_of_the_statistics():
    # The summary rows of the diverged (NaN) and collapsed (50 bits) runs change nothing.
    assert report(summary=summary_frame(with_failed=True)) == report()


def test_build_report_assembles_its_sections_in_order():
    text = report()
    assert text.startswith("# Reproduction report: smoke\n")
    assert "**Against the committed reference.** identical to the reference reference/smoke: 4 tables, every one the same bytes. " \
           "(details: `comparison.md`)" in text
    assert "```yaml\nname: smoke\nbounds:\n  radius: 0.4\n```" in text
    assert "- [Figure 3, 2 hidden layers](../../figures/smoke/figure3_depth2.png)" in text
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Settings", "## Training runs", "## Figures", "## The paper's observations, checked",
                        "## How tight is the bound", "## Tighter bounds: how much of C is Algorithm 1's slack",
                        "## The bound against the radius", "## Which of the paper's silences decide its claims",
                        "## Appendix: the tests behind the verdicts"]
    with pytest.raises(ValueError, match="name"):
        report(name="")


def test_every_optional_study_that_was_not_run_says_so():
    text = report(tightness=None, methods=None, methods_timing=None, radius_sweep=None, variant_claims=None,
                  comparison_headline=None, figure_paths={})
    assert "The tightness study was not run (`tightness.enabled=false`)." in text
    assert "The methods study was not run (`methods.enabled=false`)." in text
    assert "The radius sweep was not run (`sweep.enabled=false`)." in text
    assert "No figures were drawn." in text
    assert "median 2^C/exact" not in text and "removed of Algorithm 1's C" not in text
    assert "Against the committed reference" not in text
    assert "silences" not in text
    assert "was not run" not in report()


# ---------------------------------------------------------------------------------------------- settings


def _settings() -> dict:
    """Every setting as plain values, per-model ones under ``models``, given in reverse: the order is not the input's."""
    from localregions.pipeline.settings import Config, ModelConfig

    config = Config()
    values = {f.name: dataclasses.asdict(v) if dataclasses.is_dataclass(v := getattr(config, f.name)) else v
              for f in dataclasses.fields(Config) if f.name != "model"}
    values["models"] = {"mlp2": dataclasses.asdict(ModelConfig(name="mlp2", depth=2)),
                        "mlp3": dataclasses.asdict(ModelConfig(name="mlp3", depth=3))}
    return dict(reversed(list(values.items())))


def test_settings_text_prints_every_section_in_the_schemas_order():
    from localregions.pipeline.settings import Config

    text = settings_text(_settings())
    parsed = yaml.safe_load(text)
    schema = [("models" if f.name == "model" else f.name) for f in dataclasses.fields(Config)]
    assert list(parsed) == schema
    assert parsed["models"] == _settings()["models"]
    assert parsed["models"]["mlp3"]["depth"] == 3
    assert parsed["bounds"]["radius"] == 0.4 and parsed["grid"]["lrs"] == [0.02, 0.001]


# ---------------------------------------------------------------------------------------------- write_report


def test_write_report_links_the_figures_relative_to_the_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = runs_frame()
    write_csv(summary_frame(runs=runs), "results/smoke/summary.csv")
    write_csv(runs, "results/smoke/runs.csv")
    write_text("# Comparison\n\nVerdict: no reference for smoke: nothing to compare, passes.\n",
               "results/smoke/comparison.md")
    figures = [f"figures/smoke/{stem}.{ext}" for stem in ("figure3_depth2", "tightness") for ext in ("png", "pdf")]
    settings = _settings()
    write_report("results/smoke/report.md", experiment="smoke", settings=settings,
                 tables={"summary": "results/smoke/summary.csv", "runs": "results/smoke/runs.csv"},
                 methods_timing=None, comparison="results/smoke/comparison.md",
                 figures=[f for f in figures if f.endswith(".png")], radius=0.4, norm="l2")
    text = Path("results/smoke/report.md").read_text()
    assert "- [Figure 3 of the paper, 2 hidden layers: the mean bound 2^C and the points with a single region, over " \
           "training](../../figures/smoke/figure3_depth2.png)" in text
    assert "- [Exact region counts against the bound 2^C](../../figures/smoke/tightness.png)" in text
    assert os.path.normpath(Path("results/smoke") / "../../figures/smoke/tightness.png") == "figures/smoke/tightness.png"
    assert "**Against the committed reference.** no reference for smoke" in text
    assert "The tightness study was not run" in text
    assert settings_text(settings).rstrip("\n") in text


def test_slices_section_gives_each_disc_count_before_and_after_training():
    rows = [{"depth": 2, "lr": lr, "seed": 0, "epoch": epoch, "dataset": dataset, "point": 0, "plane": "gradient",
             "radius": 0.4, "disc_regions": count, "boundary_in_disc": crossed}
            for lr, epoch, dataset, count, crossed in [(0.02, 0, "train", 1, False), (0.02, 20, "train", 3, True),
                                                       (0.02, 0, "test", 2, False), (0.02, 20, "test", 1, False)]]
    section = report(slices=pd.DataFrame(rows)).split("## Slices through the points")[1].split("\n## ")[0]
    assert _table_rows(section) == ["| depth | lr | epochs | training | testing |",
                                    "| 2 | 0.02 | 0 -> 20 | 1 -> 3 (boundary) | 2 -> 1 |"]
    assert "r = 0.4" in section and "`gradient` plane" in section
    assert "## Slices through the points" not in report()  # no slices, no section
