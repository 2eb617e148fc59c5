"""End to end: the real Snakefile on the `smoke` experiment, from an empty output tree in a temporary directory."""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import stat

import pandas as pd
import pytest

from localregions.pipeline.rule_script import RECORD_READS
from localregions.reporting.comparison import headline_of, matches, outcome_of
from snakemake_runs import REFERENCE, REPO, planned_rules, snakemake, workdir_with_mnist

MODELS, LRS, SEEDS = ["mlp2", "mlp3"], ["0.02", "0.001"], [0, 1]
DATASETS = {"train", "test", "random1", "random2"}
SMOKE = ["experiment=smoke", REFERENCE]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, mnist_raw_dir):
    workdir = workdir_with_mnist(tmp_path_factory.mktemp("pipeline"), mnist_raw_dir)
    # Every job notes the settings it was handed and read (test_every_step_reads_the_settings_its_rule_declares).
    done = snakemake(workdir, SMOKE, env={RECORD_READS: str(workdir / "reads")})
    return workdir, done.stdout + done.stderr


def test_every_run_trained_from_its_own_checkpoints(smoke):
    """Numbers that depend on the trained weights: a broken checkpoint round trip would show here."""
    workdir, _ = smoke
    results = workdir / "results" / "smoke"
    for model in MODELS:
        for lr in LRS:
            runs = results / "runs" / f"{model}_lr{lr}"
            manifest = json.loads((runs / "MANIFEST.json").read_text())
            assert set(manifest["seeds"]) == {"0", "1"}
            # Every file of the job is listed, with its size and SHA-256: later steps check them.
            assert set(manifest["files"]) == {"metrics.csv"} | {f"checkpoints/seed{s}/epoch_00{e}.pt" for s in SEEDS
                                                                 for e in range(4)}
            metrics = pd.read_csv(runs / "metrics.csv")
            for seed in SEEDS:
                rows = metrics[metrics["seed"] == seed]
                assert list(rows["epoch"]) == [0, 1, 2, 3] and set(rows["status"]) == {"ok"}
                # The untrained net is near chance on 0 vs 4; three epochs of SGD make it a classifier.
                assert rows["test_accuracy"].iloc[-1] > 0.9
                assert rows["test_accuracy"].iloc[-1] > rows["test_accuracy"].iloc[0] + 0.1
            points = pd.read_csv(results / "bounds" / f"{model}_lr{lr}.csv.gz")
            depth = 2 if model == "mlp2" else 3
            assert list(points.columns) == (["depth", "lr", "seed", "epoch", "dataset", "point", "radius", "norm",
                                             "unstable"] + [f"unstable_l{k}" for k in range(1, depth + 1)]
                                            + ["log2_bound", "boundary_distance"])
            assert len(points) == 2 * 4 * 4 * 50 and set(points["dataset"]) == DATASETS
            # The bounds are of the checkpoints: the trained nets' balls differ from the initial ones'.
            per_epoch = points.groupby(["seed", "epoch"])["boundary_distance"].mean().unstack()
            assert (per_epoch[3] != per_epoch[0]).all()


def test_summaries_are_the_per_point_tables_aggregated(smoke):
    workdir, _ = smoke
    results = workdir / "results" / "smoke"
    summary = pd.read_csv(results / "summary.csv")
    points = pd.read_csv(results / "bounds" / "mlp3_lr0.001.csv.gz")
    one = points[(points["seed"] == 1) & (points["epoch"] == 2) & (points["dataset"] == "test")]
    row = summary[(summary["depth"] == 3) & (summary["lr"] == 0.001) & (summary["seed"] == 1) & (summary["epoch"] == 2)
                  & (summary["dataset"] == "test")].iloc[0]
    assert row["single_region_points"] == int((one["unstable"] == 0).sum())
    assert row["mean_log2_bound"] == pytest.approx(one["unstable"].mean(), rel=1e-12)
    assert len(summary) == 2 * 2 * 2 * 4 * 4
    by_setting = pd.read_csv(results / "summary_by_setting.csv")
    assert set(by_setting["n_seeds"]) == {2}
    runs = pd.read_csv(results / "runs.csv")
    assert len(runs) == 8 and set(runs["status"]) == {"ok"}
    claims = pd.read_csv(results / "claims.csv")
    assert set(claims["trajectory"]) == {"paper", "with epoch 0"}
    assert set(claims["claim"]) == set(range(1, 7)) and set(claims["verdict"]) <= {"holds", "partly", "contradicted",
                                                                             "inconclusive", "undecided"}


def test_the_studies_beside_the_bound_ran_on_both_scales(smoke):
    workdir, _ = smoke
    results = workdir / "results" / "smoke"
    tightness = pd.read_csv(results / "tightness.csv")
    assert {(s, r) for s, r in zip(tightness["scale"], tightness["radius"])} == {("raw", 0.4), ("unit", 0.05), ("unit", 0.4)}
    complete = tightness[tightness["exact_complete"]]
    assert len(complete) and (complete["sampled_count"] <= complete["exact_count"]).all()
    methods = pd.read_csv(results / "methods.csv")
    assert set(methods["method"]) == {"alg1", "ibp", "crown", "lp", "local_complexity"}
    assert sorted(pd.read_csv(results / "radius_sweep.csv")["radius"].unique()) == [0.05 * 2**k for k in range(8)]


def test_figures_and_report_are_drawn_from_these_tables(smoke):
    workdir, _ = smoke
    figures = workdir / "figures" / "smoke"
    for stem in ["figure3_depth2", "figure3_depth3", "boundary_distance", "tightness", "methods", "radius_sweep",
                 "slices_depth2", "slices_depth3"]:
        assert (figures / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (figures / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
    report = (workdir / "results" / "smoke" / "report.md").read_text()
    claims = pd.read_csv(workdir / "results" / "smoke" / "claims.csv")
    # The report's verdict table says what claims.csv says, cell for cell.
    for row in claims[claims["trajectory"] == "paper"].itertuples(index=False):
        assert f"({row.claim})" in report
    assert "identical to the reference" in report
    assert "The tightness study was not run" not in report


def test_the_slices_are_of_the_first_and_last_checkpoints_and_count_what_the_library_counts(smoke):
    """The slices rule's table: one row per (setting, epoch, point); its disc counts are the library's on that plane."""

    from localregions.experiment.models import load_checkpoint
    from localregions.experiment.point_sets import load_point_set
    from localregions.reporting.slice_figures import SlicePoint, nearest_others, panel_counts, slice_panels

    workdir, _ = smoke
    slices = pd.read_csv(workdir / "results" / "smoke" / "slices.csv")
    assert len(slices) == 4 * 2 * 3 and set(slices["epoch"]) == {0, 3} and set(slices["seed"]) == {0}
    assert set(slices["dataset"]) == {"train", "test", "random1"} and (slices["disc_regions"] >= 1).all()
    assert (slices["disc_regions"] <= slices["zoom_regions"]).all() and (slices["radius"] == 0.4).all()
    # The numbers of one panel, recomputed from the checkpoints with the library.
    runs = workdir / "results" / "smoke" / "runs" / "mlp3_lr0.02" / "checkpoints" / "seed0"
    networks = [load_checkpoint(runs / f"epoch_00{epoch}.pt")[0] for epoch in (0, 3)]
    data, _ = load_point_set(workdir / "data" / "processed" / "smoke", "test")
    point = SlicePoint("test", data[0], tuple(("n", p) for p in nearest_others(data[0], data, 2)))
    panels = slice_panels(networks, [point], 0.4, plane_networks=[1, 1])
    rows = slices[(slices["depth"] == 3) & (slices["lr"] == 0.02) & (slices["dataset"] == "test")].sort_values("epoch")
    for panel_row, row in zip(panels, rows.itertuples(index=False)):
        counts = panel_counts(panel_row[0], 0.4)
        assert (row.disc_regions, row.zoom_regions, row.view_regions) == (
            counts["disc_regions"], counts["zoom_regions"], counts["view_regions"])
        assert row.view_half_width == pytest.approx(counts["view_half_width"], rel=1e-9)
    assert "## Slices through the points" in (workdir / "results" / "smoke" / "report.md").read_text()


def test_snakemakes_html_report_carries_every_figure_and_table_with_its_caption(smoke, tmp_path):
    workdir, _ = smoke
    target = tmp_path / "report.html"
    snakemake(workdir, SMOKE, "--report", str(target))
    html = target.read_text(errors="replace")
    for name in ["figure3_depth2.png", "tightness.png", "methods.png", "slices_depth2.png", "summary.csv", "claims.csv",
                 "slices.csv", "report.md"]:
        assert name in html, name
    assert "weakest test" in html  # the caption of claims.csv, from rules/report/


def test_the_run_is_identical_to_the_committed_smoke_reference(smoke):
    # The pipeline pins one CPU code path (pipeline/numerics.py): the same bytes on any x86-64 CPU.
    workdir, log = smoke
    comparison = workdir / "results" / "smoke" / "comparison.md"
    assert outcome_of(comparison) == "identical", comparison.read_text()
    # The verdict is the last word of the run, on its output.
    assert headline_of(comparison) in log


def test_a_changed_number_fails_the_comparison_naming_its_column(smoke):
    workdir, _ = smoke
    summary = workdir / "results" / "smoke" / "summary.csv"
    original = summary.read_bytes()
    table = pd.read_csv(summary)
    table.loc[5, "mean_boundary_distance"] *= 1.5  # far beyond a tenth of the seeds' standard error
    table.to_csv(summary, index=False)
    try:
        snakemake(workdir, SMOKE, "results/smoke/comparison.md")
        comparison = workdir / "results" / "smoke" / "comparison.md"
        text = comparison.read_text()
        assert not matches(comparison) and outcome_of(comparison) == "differs"
        # The headline names every table that differs; the first cell it quotes may be a claim drawn again from the
        # changed summary (a text cell outranks a number), so the column is found in the per-column table.
        assert "summary" in headline_of(comparison).split(". First:")[0].split(": ")[-1].split(", ")
        per_column = text.split("## Per column")[1]
        row = next(line for line in per_column.splitlines() if line.startswith("| `summary` | mean_boundary_distance |"))
        assert row.endswith("| 1 |")  # one cell beyond tolerance
    finally:
        summary.write_bytes(original)
        snakemake(workdir, SMOKE)


def test_outputs_take_the_users_umask(smoke):
    workdir, _ = smoke
    mask = os.umask(0)
    os.umask(mask)
    for path in [workdir / "results" / "smoke" / "summary.csv", workdir / "figures" / "smoke" / "tightness.png"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((workdir / "results" / "smoke" / "runs" / "mlp2_lr0.02").stat().st_mode) == 0o777 & ~mask


def test_a_bound_setting_reruns_bounds_but_no_training(smoke):
    workdir, _ = smoke
    plan = planned_rules(workdir, SMOKE + ["bounds.radius=0.2"])
    assert "train" not in plan and "prepare_data" not in plan
    assert plan["bounds"] == 4 and plan["aggregate"] == 1 and plan["claims"] == 1 and plan["report"] == 1
    # The per-ball studies and the sweep read bounds.norm and bounds.datasets, not the radius of Figure 3.
    assert not {"tightness", "methods", "radius_sweep"} & set(plan)
    plan = planned_rules(workdir, SMOKE + ["bounds.norm=linf"])
    assert plan["tightness"] == 8 and plan["methods"] == 8 and plan["radius_sweep"] == 1 and "train" not in plan


def test_a_training_setting_retrains_main_and_companion(smoke):
    workdir, _ = smoke
    plan = planned_rules(workdir, SMOKE + ["optim.momentum=0.5"])
    assert plan["train"] == 8 and plan["bounds"] == 4 and plan["aggregate"] == 1
    assert "prepare_data" not in plan


def test_a_report_only_setting_reruns_only_the_report(smoke):
    workdir, _ = smoke
    assert planned_rules(workdir, SMOKE + ["paths.figures=figures"]) == {}
    plan = planned_rules(workdir, SMOKE + ["reference.rtol=1e-3"])
    assert set(plan) == {"compare", "report", "all"}


def test_nothing_to_do_when_nothing_changed(smoke):
    workdir, _ = smoke
    assert planned_rules(workdir, SMOKE) == {}


def test_same_config_same_bytes(smoke):
    workdir, _ = smoke
    results = workdir / "results" / "smoke"
    files = [results / "summary.csv", results / "summary_by_setting.csv", results / "runs.csv", results / "claims.csv",
             results / "runs" / "mlp3_lr0.02" / "metrics.csv", results / "bounds" / "mlp3_lr0.02.csv.gz"]
    before = {f: f.read_bytes() for f in files}
    snakemake(workdir, SMOKE, "results/smoke/claims.csv", "--forcerun", "train", "prepare_data")
    for path, content in before.items():
        assert path.read_bytes() == content, f"{path} changed on a rerun with the same config"
    assert gzip.decompress(before[files[-1]]).startswith(b"depth,lr,seed,epoch,dataset")


def test_a_run_is_the_same_whichever_seeds_share_its_job(smoke):
    """One job trains and bounds all seeds of a (model, lr); a seed run alone must give the same bytes."""
    workdir, _ = smoke
    alone = SMOKE + ["name=alone", "grid.models=[mlp3]", "grid.lrs=[0.02]", "grid.seeds=[1]"]
    snakemake(workdir, alone, "results/alone/runs/mlp3_lr0.02/MANIFEST.json", "results/alone/bounds/mlp3_lr0.02.csv.gz")
    shared = workdir / "results" / "smoke"
    single = workdir / "results" / "alone"
    run = pathlib.Path("runs") / "mlp3_lr0.02" / "checkpoints" / "seed1"
    files = sorted(p.relative_to(shared / run) for p in (shared / run).rglob("*") if p.is_file())
    assert files and all(f.suffix == ".pt" for f in files)
    for name in files:
        assert (single / run / name).read_bytes() == (shared / run / name).read_bytes(), f"{run / name} differs"
    metrics = pd.read_csv(shared / "runs" / "mlp3_lr0.02" / "metrics.csv", dtype=str)
    pd.testing.assert_frame_equal(metrics[metrics["seed"] == "1"].reset_index(drop=True),
                                  pd.read_csv(single / "runs" / "mlp3_lr0.02" / "metrics.csv", dtype=str))
    together = pd.read_csv(shared / "bounds" / "mlp3_lr0.02.csv.gz", dtype=str)
    by_itself = pd.read_csv(single / "bounds" / "mlp3_lr0.02.csv.gz", dtype=str)
    pd.testing.assert_frame_equal(together[together["seed"] == "1"].reset_index(drop=True), by_itself)


def test_a_new_name_never_touches_the_default(smoke):
    workdir, _ = smoke
    plan = planned_rules(workdir, SMOKE + ["name=variant"])
    assert plan["train"] == 8 and plan["prepare_data"] == 2


def test_names_cannot_collide_with_a_companion(smoke):
    """`name=smoke-unit` is an experiment of its own; the companion of smoke is smoke/unit, inside its folders."""
    workdir, _ = smoke
    plan = planned_rules(workdir, SMOKE + ["name=smoke-unit"])
    assert plan["train"] == 8 and plan["prepare_data"] == 2
    assert (workdir / "results" / "smoke" / "unit" / "runs").is_dir() and not (workdir / "results" / "smoke-unit").exists()


def test_the_reference_of_smoke_is_committed():
    """The reference this test compares with lives where the pipeline never writes."""
    for table in ["summary.csv", "summary_by_setting.csv", "runs.csv", "claims.csv", "tightness.csv", "methods.csv",
                  "radius_sweep.csv", "report.md"]:
        assert (REPO / "reference" / "smoke" / table).is_file(), table


# ---------------------------------------------------------------------------------------------- what each step reads


def test_every_step_reads_the_settings_its_rule_declares(smoke):
    """A rule's params are its rerun trigger: a setting it declares and its step never reads is a needless rerun.

    (A step cannot read a setting its rule does not declare: its script hands it only the rule's params.)
    """
    workdir, _ = smoke
    records = [json.loads(p.read_text()) for p in sorted((workdir / "reads").glob("*.json"))]
    ran = {record["rule"] for record in records}
    # download_mnist did not run (MNIST was copied in) and variant_claims runs in tests/test_sensitivity.py.
    assert ran == {"prepare_data", "train", "bounds", "aggregate", "claims", "tightness", "tightness_table", "methods",
                   "methods_table", "radius_sweep", "slices", "figures", "compare", "report"}
    unread = {f"{r['rule']} {r['experiment']} {r['wildcards']}": sorted(set(r["declared"]) - set(r["read"]))
              for r in records if set(r["declared"]) - set(r["read"])}
    assert unread == {}, f"rules declare settings their steps never read (needless reruns): {unread}"
    bounds = next(r for r in records if r["rule"] == "bounds")
    assert "bounds.radius" in bounds["read"] and "runtime.threads" in bounds["read"] and "job.seeds" in bounds["read"]


def test_a_dry_run_writes_nothing_but_snakemakes_own_cache(smoke):
    workdir, _ = smoke
    def state():
        return {p: p.stat().st_mtime_ns for p in workdir.rglob("*") if p.is_file()
                and not {"iocache", "locks", "log"} & set(p.relative_to(workdir).parts)}

    before = state()
    snakemake(workdir, SMOKE, "-n")
    snakemake(workdir, SMOKE + ["bounds.radius=0.2"], "-n")
    assert state() == before
    assert not (workdir / ".snakemake" / "incomplete").exists() or not any((workdir / ".snakemake" / "incomplete").iterdir())


def test_a_dry_run_in_an_empty_folder_writes_nothing_but_snakemakes_own_cache(tmp_path):
    """Planning alone creates no output, log or record: only Snakemake's own (empty) folders and its file cache."""
    snakemake(tmp_path, SMOKE, "-n")
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if not p.is_dir())
    assert written == [".snakemake/iocache/latest.pkl"], written
    assert {p.name for p in tmp_path.iterdir()} == {".snakemake"}


def test_snakemakes_linter_finds_nothing_but_the_missing_conda_environments(smoke):
    """The environment is the lock file (README, The pipeline), so Snakemake's advice to give each rule one stays."""
    workdir, _ = smoke
    done = snakemake(workdir, SMOKE, "--lint", "text", check=False)
    said = done.stdout + done.stderr
    lints = [line.strip() for line in said.splitlines() if line.startswith("    * ")]
    assert lints and set(lints) == {"* Specify a conda environment or container for each rule.:"}, said[-3000:]
