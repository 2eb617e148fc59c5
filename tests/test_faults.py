"""No silent wrong result: the faults found by trying to break the pipeline, each reproduced on a small run.

Every test works on its own copy of one finished run of a tiny experiment (one model, one
learning rate, two seeds), so that a fault in one cannot leak into another.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from snakemake_runs import REPO, TINY, copy_run, planned_rules, snakemake, workdir_with_mnist

RESULTS = "results/tiny"


@pytest.fixture(scope="module")
def finished(tmp_path_factory, mnist_raw_dir):
    workdir = workdir_with_mnist(tmp_path_factory.mktemp("finished"), mnist_raw_dir)
    snakemake(workdir, TINY)
    return workdir


@pytest.fixture
def run(finished, tmp_path):
    return copy_run(finished, tmp_path / "run")


def _stale_free(workdir) -> None:
    """Nothing downstream looks current: the report and figures are gone, or newer than every table they show."""
    results = workdir / RESULTS
    report = results / "report.md"
    if report.exists():
        newest_table = max(p.stat().st_mtime for p in results.glob("*.csv"))
        assert report.stat().st_mtime >= newest_table


def test_a_truncated_checkpoint_stops_the_step_that_reads_it_naming_it_and_how_to_retrain(run):
    runs = run / RESULTS / "runs" / "mlp2_lr0.02"
    checkpoint = runs / "checkpoints" / "seed1" / "epoch_002.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    # The results made from it are still those of the intact checkpoint: nothing is out of date ...
    assert planned_rules(run, TINY) == {}
    # ... until a step reads it again: it stops, naming the file, instead of loading a wrong network.
    done = snakemake(run, TINY + ["bounds.radius=0.2"], check=False)
    assert done.returncode != 0
    log = (run / "logs" / "tiny" / "bounds" / "mlp2_lr0.02.log").read_text()
    assert f"{checkpoint.relative_to(run)} has 100 bytes, its manifest recorded" in log
    assert "retrain the job: rerun snakemake with --forcerun results/tiny/runs/mlp2_lr0.02/MANIFEST.json" in log
    _stale_free(run)
    # What the message says to do retrains the job, and the run finishes.
    snakemake(run, TINY + ["bounds.radius=0.2"], "--forcerun", "results/tiny/runs/mlp2_lr0.02/MANIFEST.json")
    assert checkpoint.stat().st_size > 100
    assert planned_rules(run, TINY + ["bounds.radius=0.2"]) == {}


def test_a_deleted_checkpoint_folder_is_found_by_the_step_that_needs_it(run):
    import shutil

    shutil.rmtree(run / RESULTS / "runs" / "mlp2_lr0.02" / "checkpoints" / "seed0")
    done = snakemake(run, TINY + ["bounds.radius=0.2"], check=False)
    assert done.returncode != 0
    log = (run / "logs" / "tiny" / "bounds" / "mlp2_lr0.02.log").read_text()
    assert "checkpoints/seed0/epoch_000.pt is missing (its manifest lists it)" in log


def test_a_flipped_byte_in_a_point_set_is_refused_naming_the_file(run):
    path = run / "data" / "processed" / "tiny" / "test.pt"
    data = bytearray(path.read_bytes())
    data[-200] ^= 0x01  # inside the tensor data: the file still loads, as a wrong number
    path.write_bytes(bytes(data))
    done = snakemake(run, TINY, "--forcerun", "bounds", check=False)
    assert done.returncode != 0
    # The first job to read it (train, whose input changed, or bounds) stops, naming the file.
    logs = " ".join(p.read_text() for p in (run / "logs" / "tiny").rglob("*.log"))
    assert "data/processed/tiny/test.pt differs from the SHA-256 in data/processed/tiny/manifest.json" in logs
    _stale_free(run)


def test_a_truncated_bounds_table_fails_naming_it_and_leaves_nothing_stale(run):
    bounds = run / RESULTS / "bounds" / "mlp2_lr0.02.csv.gz"
    bounds.write_bytes(bounds.read_bytes()[: bounds.stat().st_size // 2])
    report, figure = run / RESULTS / "report.md", run / "figures" / "tiny" / "figure3_depth2.png"
    assert report.is_file() and figure.is_file()
    done = snakemake(run, TINY, "--forcerun", "aggregate", check=False)
    assert done.returncode != 0
    log = (run / "logs" / "tiny" / "aggregate.log").read_text()
    assert "results/tiny/bounds/mlp2_lr0.02.csv.gz is truncated or corrupt" in log
    # The summaries were removed by Snakemake; what was made from them must not stay looking current.
    assert not report.exists() and not figure.exists() and not (run / RESULTS / "comparison.md").exists()
    assert "removed results/tiny/report.md" in done.stderr


def test_a_misspelt_key_says_which_and_what_is_valid_without_a_traceback(run):
    done = snakemake(run, TINY + ["bounds.raduis=0.2"], "-n", check=False)
    assert done.returncode != 0
    message = (done.stdout + done.stderr).strip().splitlines()
    assert message[-1].startswith("localregions: bad setting: bounds.raduis is not a setting (did you mean bounds.radius?)")
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(("override", "expected"), [
    ("optim.lr=5.0", "optim.lr is set per run by grid.lrs"),
    ("grid.seeds=[-1]", "config key grid.seeds entries must be integers >= 0, got -1"),
    ("grid.lrs=[0.02,2e-2]", "grid.lrs must not repeat an entry"),
])
def test_a_bad_override_stops_the_plan_with_one_line(run, override, expected):
    done = snakemake(run, TINY + [override], "-n", check=False)
    assert done.returncode != 0 and expected in done.stderr and "Traceback" not in done.stderr


def test_a_collapsed_network_is_reported_and_left_out_of_the_claims(tmp_path, mnist_raw_dir):
    workdir = workdir_with_mnist(tmp_path / "collapse", mnist_raw_dir)
    # lr 5 on raw grey levels: the depth-2 net ends with a constant output (seen at 50% accuracy).
    overrides = TINY + ["grid.lrs=[5.0,0.02]", "name=tiny"]
    snakemake(workdir, overrides)
    runs = pd.read_csv(workdir / RESULTS / "runs.csv")
    statuses = dict(zip(runs["lr"], runs["status"]))
    assert statuses[5.0] in ("collapsed", "diverged") and statuses[0.02] == "ok"
    # A setting without enough trained runs is decided nothing: its rows say `undecided` (issue 21), not a verdict.
    claims = pd.read_csv(workdir / RESULTS / "claims.csv")
    assert set(claims.loc[claims["lr"] == 5.0, "verdict"]) == {"undecided"}
    assert len(claims[claims["lr"] == 5.0]) == len(claims[claims["lr"] == 0.02]) > 0
    # ... and its failed runs are not counted among its seeds, while the trained setting's are.
    trained = runs.groupby("lr")["status"].apply(lambda s: int((s == "ok").sum()))
    assert set(claims.loc[claims["lr"] == 5.0, "n_seeds"]) == {trained[5.0]} and trained[5.0] < 2
    assert set(claims.loc[claims["lr"] == 0.02, "n_seeds"]) == {2}
    by_setting = pd.read_csv(workdir / RESULTS / "summary_by_setting.csv")
    assert set(by_setting["lr"]) == {0.02}
    report = (workdir / RESULTS / "report.md").read_text()
    assert "`mlp2_lr5_seed0` (collapsed)" in report or "`mlp2_lr5_seed0` (diverged)" in report


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_an_interrupted_run_resumes_with_a_plain_rerun(tmp_path, mnist_raw_dir):
    """Ctrl-C during training, then the same command again: it finishes, no flag needed (profiles/default)."""
    workdir = workdir_with_mnist(tmp_path / "interrupted", mnist_raw_dir)
    # Long enough (two seeds of 2,000 epochs, about 20 s) that the interrupt lands during training; four bound
    # epochs after 0, as the claims need at least three.
    overrides = TINY + ["train.epochs=2000", "train.checkpoint_every=500"]
    config = "overrides=[" + ",".join(f'"{o}"' for o in overrides) + "]"
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
               "--config", config]
    # A session of its own, so that the interrupt goes to Snakemake and its jobs, as Ctrl-C in a terminal does
    # (a SIGINT to Snakemake alone lets the running job finish); SIGINT back to its default in the child, since
    # a test run in the background (nohup, `make ... &`) inherits it ignored and Snakemake would never see it.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True, preexec_fn=_default_sigint)
    log = workdir / "logs" / "tiny" / "train" / "mlp2_lr0.02.log"
    deadline = time.monotonic() + 300
    while not (log.is_file() and "train for tiny" in log.read_text()):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=300)
    assert not (workdir / RESULTS / "runs" / "mlp2_lr0.02" / "MANIFEST.json").exists()
    snakemake(workdir, overrides)
    assert json.loads((workdir / RESULTS / "runs" / "mlp2_lr0.02" / "MANIFEST.json").read_text())["seeds"]
    assert not list((workdir / RESULTS / "runs").rglob(".*.tmp"))


def test_leftovers_of_a_killed_job_are_cleaned_by_its_rerun(run):
    leftover = run / RESULTS / "runs" / "mlp2_lr0.02" / ".checkpoints.k1lled00.tmp"
    leftover.mkdir()
    (leftover / "half.pt").write_bytes(b"x")
    snakemake(run, TINY, "--forcerun", "train")
    assert not leftover.exists()
    assert gzip.decompress((run / RESULTS / "bounds" / "mlp2_lr0.02.csv.gz").read_bytes()).startswith(b"depth")
