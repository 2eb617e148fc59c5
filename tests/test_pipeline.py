"""End to end: the real Snakefile on the `smoke` experiment, in a temporary working directory."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from localregions.config import MNIST_RAW_FILES

REPO = Path(__file__).resolve().parents[1]
MODELS, LRS, SEED = ["mlp2", "mlp3"], ["0.02", "0.001"], 0
DATASETS = {"train", "test", "random1", "random2"}


def snakemake(workdir: Path, overrides: list[str], *arguments: str, timeout: int = 900) -> str:
    config = "overrides=[" + ",".join(f'"{o}"' for o in overrides) + "]"
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--cores", "2", *arguments, "--config", config]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def planned_rules(workdir: Path, overrides: list[str]) -> dict[str, int]:
    """The jobs a dry run would execute, by rule."""
    text = snakemake(workdir, overrides, "-n", "--quiet", "rules")
    counts = {}
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, mnist_raw_dir):
    workdir = tmp_path_factory.mktemp("pipeline")
    # A copy of the verified MNIST files: the download rule then finds them in its cache.
    raw = workdir / "data" / "raw" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_RAW_FILES:
        shutil.copy(Path(mnist_raw_dir) / "MNIST" / "raw" / name, raw / name)
    overrides = ["experiment=smoke"]
    snakemake(workdir, overrides)
    return workdir, overrides


def test_every_output_exists_with_its_columns(smoke):
    workdir, _ = smoke
    results = workdir / "results" / "smoke"
    for model in MODELS:
        for lr in LRS:
            run = results / "runs" / f"{model}_lr{lr}_seed{SEED}"
            metrics = pd.read_csv(run / "metrics.csv")
            assert list(metrics.columns) == ["epoch", "train_loss", "train_accuracy", "test_accuracy", "status"]
            assert list(metrics["epoch"]) == [0, 1, 2]
            # Snakemake marks directory outputs with a hidden timestamp file; only the checkpoints count.
            assert sorted(p.name for p in (run / "checkpoints").glob("epoch_*.pt")) == [
                "epoch_000.pt", "epoch_001.pt", "epoch_002.pt"]
            points = pd.read_csv(run / "bounds.csv.gz")
            depth = 2 if model == "mlp2" else 3
            assert list(points.columns) == (
                ["depth", "lr", "seed", "epoch", "dataset", "point", "radius", "norm", "unstable"]
                + [f"unstable_l{k}" for k in range(1, depth + 1)]
                + ["log2_bound", "boundary_distance"]
            )
            assert len(points) == 3 * 4 * 50
            assert set(points["dataset"]) == DATASETS
            assert (points["unstable"] == points[[f"unstable_l{k}" for k in range(1, depth + 1)]].sum(axis=1)).all()
            assert (points["boundary_distance"] > 0).all()
    summary = pd.read_csv(results / "summary.csv")
    assert list(summary.columns) == [
        "depth", "lr", "seed", "epoch", "dataset", "radius", "norm", "n_points", "mean_bound", "log2_mean_bound",
        "mean_log2_bound", "median_log2_bound", "single_region_points", "mean_boundary_distance"]
    assert len(summary) == 2 * 2 * 3 * 4
    assert (summary["n_points"] == 50).all()
    assert (summary["mean_bound"] >= 1).all()
    by_setting = pd.read_csv(results / "summary_by_setting.csv")
    assert {"n_seeds", "mean_bound_mean", "mean_bound_std", "mean_bound_ci_low", "mean_bound_ci_high",
            "single_region_points_mean"} <= set(by_setting.columns)
    runs = pd.read_csv(results / "runs.csv")
    assert len(runs) == 4 and set(runs["status"]) == {"ok"}
    tightness = pd.read_csv(results / "tightness.csv")
    assert set(tightness["scale"]) == {"raw", "unit"}
    complete = tightness[tightness["exact_complete"]]
    assert (complete["sampled_count"] <= complete["exact_count"]).all()
    assert (complete["exact_count"] <= 2.0 ** complete["unstable"]).all()
    sweep = pd.read_csv(results / "radius_sweep.csv")
    assert sorted(sweep["radius"].unique()) == [0.05 * 2**k for k in range(8)]
    report = (results / "report.md").read_text()
    assert "holds" in report or "does not hold" in report or "partly" in report
    figures = workdir / "figures" / "smoke"
    for stem in ["figure3_depth2", "figure3_depth3", "boundary_distance", "tightness", "radius_sweep"]:
        for ext in ("png", "pdf"):
            assert (figures / f"{stem}.{ext}").stat().st_size > 1000
    for log in ["prepare_data.log", "aggregate.log", "report.log"]:
        assert (workdir / "logs" / "smoke" / log).is_file()
    assert (workdir / "benchmarks" / "smoke" / "train" / "mlp2_lr0.02_seed0.tsv").is_file()


def test_a_bound_setting_reruns_bounds_but_no_training(smoke):
    workdir, overrides = smoke
    plan = planned_rules(workdir, overrides + ["bounds.radius=0.2"])
    assert "train" not in plan and "prepare_data" not in plan
    assert plan["bounds"] == 4 and plan["aggregate"] == 1 and plan["figures"] == 1 and plan["report"] == 1


def test_a_training_setting_retrains(smoke):
    workdir, overrides = smoke
    plan = planned_rules(workdir, overrides + ["optim.momentum=0.5"])
    assert plan["train"] == 8  # the four runs and the four unit-scale companions
    assert plan["bounds"] == 4 and plan["aggregate"] == 1


def test_nothing_to_do_when_nothing_changed(smoke):
    workdir, overrides = smoke
    assert planned_rules(workdir, overrides) == {}


def test_same_config_same_bytes(smoke):
    workdir, overrides = smoke
    results = workdir / "results" / "smoke"
    files = [results / "summary.csv", results / "summary_by_setting.csv", results / "runs.csv",
             results / "runs" / "mlp3_lr0.02_seed0" / "metrics.csv", results / "runs" / "mlp3_lr0.02_seed0" / "bounds.csv.gz"]
    before = {f: f.read_bytes() for f in files}
    # Targets are relative to the working directory (-d), as Snakemake matches them against its rules.
    snakemake(workdir, overrides, "results/smoke/summary.csv", "--forcerun", "train", "prepare_data")
    for path, content in before.items():
        assert path.read_bytes() == content, f"{path} changed on a rerun with the same config"
    assert gzip.decompress(before[files[-1]]).startswith(b"depth,lr,seed,epoch,dataset")


def test_a_variant_name_never_overwrites_the_default(smoke):
    workdir, overrides = smoke
    plan = planned_rules(workdir, overrides + ["name=variant"])
    assert plan["train"] == 8 and plan["prepare_data"] == 2
