"""A matrix of small configurations run end to end (as the snakemake-workflows `.test` configs are)."""

from __future__ import annotations

import pandas as pd
import pytest

from snakemake_runs import TINY, copy_run, planned_rules, snakemake, workdir_with_mnist


@pytest.fixture(scope="module")
def with_tightness(tmp_path_factory, mnist_raw_dir):
    """A tiny run with the tightness study on (raw scale only, few balls)."""
    workdir = workdir_with_mnist(tmp_path_factory.mktemp("tightness"), mnist_raw_dir)
    overrides = TINY + ["tightness.enabled=true", "tightness.scales=[raw]", "tightness.points=2"]
    snakemake(workdir, overrides)
    return workdir, overrides


def test_moved_roots_move_every_file(tmp_path, mnist_raw_dir):
    workdir = workdir_with_mnist(tmp_path, mnist_raw_dir)
    overrides = TINY + ["paths.results=out/results", "paths.figures=out/figures", "paths.processed=out/processed",
                        "paths.logs=out/logs", "paths.benchmarks=out/benchmarks"]
    snakemake(workdir, overrides)
    assert (workdir / "out" / "results" / "tiny" / "report.md").is_file()
    assert (workdir / "out" / "figures" / "tiny" / "figure3_depth2.png").is_file()
    assert (workdir / "out" / "processed" / "tiny" / "manifest.json").is_file()
    assert not (workdir / "results").exists() and not (workdir / "figures").exists()
    assert not (workdir / "data" / "processed").exists()
    assert (workdir / "out" / "logs" / "tiny" / "report.log").is_file() and not (workdir / "logs").exists()
    assert planned_rules(workdir, overrides) == {}


def test_linf_balls_and_extra_radii(tmp_path, mnist_raw_dir):
    workdir = workdir_with_mnist(tmp_path, mnist_raw_dir)
    snakemake(workdir, TINY + ["bounds=linf", "bounds.extra_radii=[0.8]"])
    summary = pd.read_csv(workdir / "results" / "tiny" / "summary.csv")
    assert set(summary["norm"]) == {"linf"} and set(summary["radius"]) == {0.4, 0.8}
    claims = pd.read_csv(workdir / "results" / "tiny" / "claims.csv")
    assert set(claims["claim"]) == set(range(1, 7))


def test_disabling_a_study_after_it_ran_drops_it_from_the_report(with_tightness, tmp_path):
    workdir, overrides = with_tightness
    report = (workdir / "results" / "tiny" / "report.md").read_text()
    assert "## How tight is the bound" in report and "was not run" not in report.split("## How tight")[1].split("##")[0]
    run = copy_run(workdir, tmp_path / "run")
    disabled = [o for o in overrides if not o.startswith("tightness.")] + ["tightness.enabled=false"]
    plan = planned_rules(run, disabled)
    assert "tightness" not in plan and plan["report"] == 1 and plan["figures"] == 1
    snakemake(run, disabled)
    # The table of the earlier run is still on disk, but the report and the figures no longer read it.
    assert (run / "results" / "tiny" / "tightness.csv").is_file()
    report = (run / "results" / "tiny" / "report.md").read_text()
    assert "The tightness study was not run (`tightness.enabled=false`)." in report
    assert not (run / "figures" / "tiny" / "tightness.png").exists() or "tightness.png" not in report


def test_a_lenet_beside_an_mlp_end_to_end(tmp_path, mnist_raw_dir):
    """model=lenet through every rule: trained with its channels, bounded per layer, reported beside the MLP."""
    from localregions.experiment.models import load_checkpoint

    workdir = workdir_with_mnist(tmp_path, mnist_raw_dir)
    overrides = [o for o in TINY if not o.startswith(("grid.models", "methods.", "bounds.points"))] + [
        "grid.models=[lenet,mlp2]", "data.pool=28", "data.scale=unit", "model.channels=[1,2]",
        "model.init=he_normal",  # so that so small a LeNet trains in three epochs (a depth whose runs all collapse has
        #                          no Figure 3)
        "bounds.points_per_set=4", "bounds.radius=0.02", "methods.scales=[unit]", "methods.radii={unit:[0.1]}",
        "methods.points=2", "methods.lp_points=0", "methods.methods=[alg1,crown]", "methods.complexity_directions=4"]
    snakemake(workdir, overrides)
    results = workdir / "results" / "tiny"
    runs = pd.read_csv(results / "runs.csv")
    assert sorted(zip(runs["model"], runs["depth"])) == [("lenet", 4)] * 2 + [("mlp2", 2)] * 2
    lenet, _ = load_checkpoint(next((results / "runs" / "lenet_lr0.02").rglob("epoch_003.pt")))
    assert (lenet[1].out_channels, lenet[4].out_channels) == (1, 2)
    points = pd.read_csv(results / "bounds" / "lenet_lr0.02.csv.gz")
    layers = [f"unstable_l{k}" for k in range(1, 5)]
    assert (points[layers].sum(axis=1) == points["unstable"]).all() and points["unstable"].max() > 0
    assert set(pd.read_csv(results / "summary.csv")["depth"]) == {2, 4}
    report = (results / "report.md").read_text()
    assert "| lenet (depth 4) | 1188 | unit | 0.1 | alg1 | 16 |" in report  # 784 + 2 x 100 + 120 + 84 neurons
    assert "| mlp2 (depth 2) | 64 | unit | 0.1 | alg1 | 16 |" in report
    assert (workdir / "figures" / "tiny" / "figure3_depth4.png").is_file()
