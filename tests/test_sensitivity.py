"""A two-variant miniature of the sensitivity study, end to end through the real Snakefile."""

from __future__ import annotations

import pandas as pd
import pytest

from snakemake_runs import REFERENCE, planned_rules, snakemake, workdir_with_mnist

VARIANTS = "+variants={width16:['model.width=16'],random_images:['data.random_draw=image']}"
MINIATURE = ["experiment=sensitivity", "~variants", VARIANTS, "grid.models=[mlp2]", "grid.lrs=[0.02]",
             "grid.seeds=[0,1]", "train.epochs=3", "train.checkpoint_every=1", "bounds.points_per_set=20", REFERENCE]


@pytest.fixture(scope="module")
def study(tmp_path_factory, mnist_raw_dir):
    workdir = workdir_with_mnist(tmp_path_factory.mktemp("sensitivity"), mnist_raw_dir)
    snakemake(workdir, MINIATURE)
    return workdir


def test_each_variant_is_an_experiment_inside_the_study(study):
    results = study / "results" / "sensitivity"
    width = pd.read_csv(results / "width16" / "runs.csv")
    assert list(width["status"]) == ["ok", "ok"]
    # A variant that leaves the data settings alone shares its study's point sets; one that changes them has its own.
    assert not (study / "data" / "processed" / "sensitivity" / "width16").exists()
    assert (study / "data" / "processed" / "sensitivity" / "random_images" / "manifest.json").is_file()
    images = pd.read_csv(results / "random_images" / "summary.csv").set_index(["seed", "epoch", "dataset"])
    base = pd.read_csv(results / "summary.csv").set_index(["seed", "epoch", "dataset"])
    # Only the random sets are drawn otherwise: the same networks, the same training and test balls ...
    for dataset in ("train", "test"):
        pd.testing.assert_frame_equal(images.xs(dataset, level="dataset"), base.xs(dataset, level="dataset"))
    # ... and other random balls (pooled 28x28 noise concentrates near grey level 127.5).
    assert not images.xs("random2", level="dataset")["mean_boundary_distance"].equals(
        base.xs("random2", level="dataset")["mean_boundary_distance"])


def test_the_variant_claims_table_holds_every_variant_and_its_runs(study):
    table = pd.read_csv(study / "results" / "sensitivity" / "variant_claims.csv")
    assert list(dict.fromkeys(table["variant"])) == ["default", "width16", "random_images"]
    assert set(table["overrides"].fillna("")) == {"", "model.width=16", "data.random_draw=image"}
    assert set(table["claim"]) == set(range(1, 7)) and set(table["trajectory"]) == {"paper", "with epoch 0"}
    assert (table["runs_ok"] == 2).all() and (table["runs_diverged"] == 0).all()
    own = pd.read_csv(study / "results" / "sensitivity" / "width16" / "claims.csv")
    mine = table[table["variant"] == "width16"].reset_index(drop=True)
    assert list(mine["verdict"]) == list(own["verdict"])
    # Each part's finding and the smallest effect the seeds detect travel with the verdict; two runs per setting
    # give numbers but decide nothing (fewer than 5 trained).
    assert {f"part{k}_{column}" for k in (1, 2, 3) for column in ("finding", "detectable")} <= set(table.columns)
    assert set(table["part1_finding"]) <= {"supported", "contradicted", "inconclusive"}
    assert table["part1_detectable"].notna().all()
    assert set(table["verdict"]) == {"undecided"}


def test_the_study_draws_and_reports_its_variants(study):
    assert (study / "figures" / "sensitivity" / "variant_claims.png").read_bytes()[:4] == b"\x89PNG"
    report = (study / "results" / "sensitivity" / "report.md").read_text()
    assert "## Which of the paper's silences decide its claims" in report
    assert "| width16 | `model.width=16` | 2 | 0 |" in report


def test_a_new_variant_trains_only_itself(study):
    more = [o if not o.startswith("+variants") else
            VARIANTS[:-1] + ",batch128:['train.batch_size=128']}" for o in MINIATURE]
    plan = planned_rules(study, more)
    assert plan["train"] == 1 and plan["bounds"] == 1 and plan["variant_claims"] == 1
    assert "prepare_data" not in plan
