"""The report section on the paper's observations: rules once, verdicts on two epoch ranges, links to the numbers."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from localregions.reporting.claim_records import CLAIMS
from localregions.reporting.claims import TEST_KEYS, check_claims, claim_tests
from localregions.reporting.claims_markdown import claims_section, shapes_differ, verdict_text
from localregions.vocabulary import DATASET_NAMES

EPOCHS = tuple(range(0, 21, 2))


def synthetic(step: bool = True, rng: int = 0, epochs=EPOCHS) -> pd.DataFrame:
    """Two settings, 10 seeds. With ``step``: the boundary distance of every set jumps between epoch 0 and 2,
    the bound falls steadily on every set (claim 1: falls, does not rise) and training sits above random."""
    generator = np.random.default_rng(rng)
    x = np.asarray(epochs, dtype=float)
    records = []
    for depth, lr in ((2, 0.02), (3, 0.001)):
        for dataset in DATASET_NAMES:
            offsets = generator.normal(0.0, 0.15, size=(10, 3))
            for seed in range(10):
                noise = generator.normal(0.0, 0.05, size=(3, len(x)))
                log2 = 0.4 + (0.4 if dataset == "train" else 0.0) + offsets[seed, 0] + noise[0]
                log2 = log2 + (0.4 * (20 - x) / 20 if step else 0.0)
                distance = 1.3 + offsets[seed, 1] + noise[1] + (np.where(x < 2, 0.0, 0.4) if step else 0.0)
                singles = 700 + 30 * offsets[seed, 2] + 12 * noise[2]
                for e, epoch in enumerate(epochs):
                    records.append(
                        {"depth": depth, "lr": lr, "seed": seed, "epoch": int(epoch), "dataset": dataset,
                         "radius": 0.4, "norm": "l2", "n_points": 1000, "mean_bound": 2 ** log2[e],
                         "log2_mean_bound": log2[e], "mean_log2_bound": log2[e], "median_log2_bound": 0,
                         "single_region_points": singles[e], "mean_boundary_distance": distance[e]}
                    )
    return pd.DataFrame.from_records(records)


@pytest.fixture(scope="module")
def table():
    return synthetic()


@pytest.fixture(scope="module")
def section(table):
    return claims_section(table, radius=0.4, runs_left_out=[("mlp2_lr0.02_seed10", "collapsed")])


def test_a_level_2_section_without_trailing_newline(section):
    assert section.startswith("## The paper's observations, checked\n")
    assert not section.endswith("\n")


def test_same_input_same_bytes(table, section):
    assert claims_section(table, radius=0.4, runs_left_out=[("mlp2_lr0.02_seed10", "collapsed")]) == section
    shuffled = table.sample(frac=1.0, random_state=1).reset_index(drop=True)
    assert claims_section(shuffled, radius=0.4, runs_left_out=[("mlp2_lr0.02_seed10", "collapsed")]) == section


def test_every_rule_and_quote_is_printed_once(section):
    for record in CLAIMS:
        assert section.count(record.quote) == 1, record.number
        assert section.count(record.rule) == 1, record.number


def test_every_link_has_its_anchor_and_every_anchor_a_link(section):
    links = set(re.findall(r"\]\(#([^)]+)\)", section))
    anchors = re.findall(r'<a id="([^"]+)"></a>', section)
    assert len(anchors) == len(set(anchors)) == 2 * len(CLAIMS)
    assert links == set(anchors)


def _verdict_table(section):
    block = section.split("### Verdicts", 1)[1].split("### The tests", 1)[0]
    return [line for line in block.splitlines() if line.startswith("|")]


def test_the_verdict_table_shows_both_ranges_beside_each_other(table, section):
    lines = _verdict_table(section)
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    expected = ["depth", "lr"] + [f"({c.number}) {span}" for c in CLAIMS for span in ("2–20", "0–20")]
    assert header == expected
    body = lines[2:]
    assert len(body) == 2
    trajectory = check_claims(table, radius=0.4)
    with_zero = check_claims(table, radius=0.4, epochs=list(EPOCHS))
    first = [cell.strip() for cell in body[0].strip("|").split("|")]
    for k, record in enumerate(CLAIMS):
        for j, (frame, key) in enumerate(((trajectory, "trajectory"), (with_zero, "with-epoch-0"))):
            row = frame[(frame["depth"] == 2) & (frame["claim"] == record.number)].iloc[0]
            text = verdict_text(row)
            if shapes_differ(row):
                text += f" (parabola: {verdict_text(row, 'shape2_')})"
            assert first[2 + 2 * k + j] == f"[{text}](#claim-{record.number}-{key})"


def test_partly_names_its_parts_and_what_is_contradicted(section):
    # A steady fall: its last epoch lies below the middle, so the rise is contradicted.
    assert "[partly: falls; contradicted: rises](#claim-1-trajectory)" in section


def test_the_verdict_words_and_the_correction_are_stated_once(section):
    head = section.split("### The observations and their rules", 1)[0]
    assert section.count("**The correction, once.**") == 1
    for words in ("**supported**", "**contradicted**", "**inconclusive**", "`holds`", "`partly`", "`contradicted`",
                  "`inconclusive`", "`undecided`",
                  "**The correction, once.**", "Bonferroni", "intersection-union"):
        assert head.count(words) == 1, words
    assert "fewer than 5 runs trained" in section
    assert "over the seeds only" in section  # no point spread given


def test_where_the_shape_tests_differ_is_said():
    """A U with unequal arms: ends vs middle misses the short rise, the parabola sees it."""
    generator = np.random.default_rng(7)
    x = np.asarray(EPOCHS, dtype=float)
    u = np.where(x <= 12, 0.21 * (12 - x) / 10, 0.07 * (x - 12) / 8)
    records = [{"depth": 3, "lr": 0.001, "seed": seed, "epoch": int(epoch), "dataset": dataset, "radius": 0.4,
                "norm": "l2", "log2_mean_bound": value, "single_region_points": 700.0, "mean_boundary_distance": 1.0}
               for dataset in DATASET_NAMES for seed in range(10)
               for epoch, value in zip(EPOCHS, u + generator.normal(0, 0.15) + generator.normal(0, 0.02, len(x)))]
    text = claims_section(pd.DataFrame(records), radius=0.4)
    row = check_claims(pd.DataFrame(records), radius=0.4).query("claim == 1").iloc[0]
    assert (row["verdict"], row["shape2_verdict"]) != ("holds", "holds") and row["shape2_verdict"] == "holds"
    sentence = next(line for line in text.splitlines() if line.startswith("The two shape tests disagree"))
    assert (f"(1) at depth 3, lr 0.001, the paper's trajectory: ends vs middle *{verdict_text(row)}*, parabola "
            "*holds*") in sentence
    assert f"[{verdict_text(row)} (parabola: holds)](#claim-1-trajectory)" in text


def test_a_point_spread_is_said_and_used(table):
    tests = claim_tests(table, radius=0.4)
    spread = pd.concat([tests[TEST_KEYS].assign(trajectory=t, point_sd=0.0) for t in ("paper", "with epoch 0")])
    text = claims_section(table, radius=0.4, point_spread=spread)
    assert "over the seeds and over the choice of points" in text


def test_where_the_ranges_differ_is_said(table, section):
    trajectory = check_claims(table, radius=0.4).set_index(["depth", "lr", "claim"])
    with_zero = check_claims(table, radius=0.4, epochs=list(EPOCHS)).set_index(["depth", "lr", "claim"])
    differ = (trajectory["finding"] != with_zero["finding"]) | (trajectory["verdict"] != with_zero["verdict"])
    assert differ.any()
    sentence = next(line for line in section.splitlines() if line.startswith("Including epoch 0 changes"))
    assert sentence.startswith(f"Including epoch 0 changes {int(differ.sum())} of 12 verdicts: ")
    for depth, lr, number in differ[differ].index:
        assert f"({number}) at depth {depth}, lr {lr:g}:" in sentence
    assert "(6) at depth 2, lr 0.02: inconclusive (moves away: inconclusive) → holds (moves away: supported)" in sentence


def test_no_difference_is_said_too():
    flat = synthetic(step=False, rng=3)
    trajectory = check_claims(flat, radius=0.4)
    with_zero = check_claims(flat, radius=0.4, epochs=list(EPOCHS))
    text = claims_section(flat, radius=0.4)
    if (trajectory["finding"].to_numpy() == with_zero["finding"].to_numpy()).all():
        assert "Including epoch 0 changes none of the 12 verdicts." in text
    else:
        assert "Including epoch 0 changes" in text


def test_without_epoch_0_only_the_trajectory(table):
    text = claims_section(table[table["epoch"] > 0], radius=0.4)
    assert "the table has no epoch 0" in text
    assert "with-epoch-0" not in text
    assert "Including epoch 0" not in text


def test_the_detail_tables_carry_the_numbers(table, section):
    tests = claim_tests(table, radius=0.4)
    row = tests[(tests["claim"] == 5) & (tests["depth"] == 3)].iloc[0]
    detail = section.split('<a id="claim-5-trajectory"></a>', 1)[1].split("<a id=", 1)[0]
    # Two parts: each test one-sided at 1.25%, its interval two-sided at 97.5%.
    assert "effect (bits)" in detail and "97.5% interval" in detail and "detectable" in detail
    assert "opposite p (Holm)" in detail and "each test at 1.25%" in detail
    line = next(line for line in detail.splitlines() if line.startswith("| 3 | 0.001 | above random 1 |"))
    assert f"{row['detectable']:.3g}" in line
    assert f"{row['effect']:.3g}".replace("-", "−") in line
    assert f"[{row['ci_low']:.3g}, {row['ci_high']:.3g}]".replace("-", "−") in line
    assert f"{row['positive_seeds']} of 10" in line
    n_rows = sum(1 for line in detail.splitlines() if line.startswith("| 2 |") or line.startswith("| 3 |"))
    assert n_rows == 2 * 2  # two settings, two tests


def test_runs_left_out_note(table):
    text = claims_section(table, radius=0.4, runs_left_out={"mlp2_lr0.02_seed10": "diverged at epoch 6"})
    assert "**Runs left out:** 1 run is not in these numbers: `mlp2_lr0.02_seed10` (diverged at epoch 6)." in text
    text = claims_section(table, radius=0.4, runs_left_out=["b", ("a", "collapsed")])
    assert "2 runs are not in these numbers: `b`; `a` (collapsed)." in text  # in the order given
    assert "No run was left out." in claims_section(table, radius=0.4, runs_left_out=[])
    assert "left out" not in claims_section(table, radius=0.4)
    with pytest.raises(TypeError, match="runs_left_out"):
        claims_section(table, radius=0.4, runs_left_out="mlp2_lr0.02_seed10")
    with pytest.raises(TypeError, match="runs_left_out"):
        claims_section(table, radius=0.4, runs_left_out=[("a", "b", "c")])


def test_arguments_are_checked(table):
    with pytest.raises(ValueError, match="radius 0.3 is not in summary"):
        claims_section(table, radius=0.3)
    with pytest.raises(ValueError, match="missing columns"):
        claims_section(table.drop(columns=["mean_boundary_distance"]), radius=0.4)


def test_a_change_of_the_holding_part_counts_as_a_difference():
    # Claim 5: on the trajectory training is above random 1 only; epoch 0 puts it far below random 1 and
    # far above random 2, so with epoch 0 it is above random 2 only. Both "partly", with different parts.
    base = synthetic(step=False, rng=5)
    base = base[base["depth"] == 2]
    keys = ["seed", "epoch"]
    train = base[base["dataset"] == "train"].set_index(keys)["log2_mean_bound"]
    for dataset, at_zero in (("random1", 10.0), ("random2", -10.0)):
        rows = base["dataset"] == dataset
        index = pd.MultiIndex.from_frame(base.loc[rows, keys])
        values = train.reindex(index).to_numpy()
        if dataset == "random1":
            values = np.where(base.loc[rows, "epoch"].to_numpy() == 0, values + at_zero, base.loc[rows, "log2_mean_bound"])
        else:
            values = np.where(base.loc[rows, "epoch"].to_numpy() == 0, values + at_zero, values)
        base.loc[rows, "log2_mean_bound"] = values
    trajectory = check_claims(base, radius=0.4).set_index("claim").loc[5]
    with_zero = check_claims(base, radius=0.4, epochs=list(EPOCHS)).set_index("claim").loc[5]
    assert (trajectory["verdict"], trajectory["supported_parts"]) == ("partly", "above random 1")
    assert (with_zero["verdict"], with_zero["supported_parts"]) == ("partly", "above random 2")
    text = claims_section(base, radius=0.4)
    assert ("(5) at depth 2, lr 0.02: partly: above random 1 (above random 1: supported; above random 2: inconclusive) "
            "→ partly: above random 2; contradicted: above random 1 (above random 1: contradicted; above random 2: "
            "supported)") in text
