"""Cluster execution through snakemake-executor-plugin-slurm with the workflow profile profiles/slurm.

Fast (default run): the profile's keys are Snakemake options, every rule of the workflow states its memory and
run time in its own ``resources:`` and the profile states none (the rules are the one source), the sbatch call
the plugin builds from them is the expected one (GPU variant included), and a dry run with the profile plans the
smoke experiment.

Marked ``slurm`` (``make test-slurm``): tests/slurm/start_cluster.sh installs Debian's SLURM and munge and
starts a one-node cluster; the smoke experiment then runs through the profile with ``--executor slurm`` in a
temporary copy of the repository (so nothing of the user's results/, data/processed/ or .snakemake/ is
touched); tests/slurm/stop_cluster.sh stops every daemon the start script started, by its pid file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE_DIR = REPO / "profiles" / "slurm"
PROFILE = yaml.safe_load((PROFILE_DIR / "config.yaml").read_text())
SLURM_SCRIPTS = REPO / "tests" / "slurm"
SMOKE = '["experiment=smoke"]'
# Resources the plugin (2.x) turns into sbatch flags, plus Snakemake's own standard ones.
KNOWN_RESOURCES = {
    "mem_mb", "mem_mb_per_cpu", "runtime", "cpus_per_task", "cpus_per_gpu", "tasks", "nodes", "gres", "gpu",
    "gpu_model", "slurm_partition", "slurm_account", "slurm_extra", "constraint", "qos", "disk_mb", "tmpdir",
}
# Rules that run no job of their own (pure target rules): they need no cluster resources.
TARGET_RULES = {"all"}


def snakemake(*args: str, cwd: Path = REPO, timeout: float = 120, check: bool = True, env=None):
    """``python -m snakemake`` with this interpreter (the rules' shell commands use the same one)."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


@pytest.fixture(scope="module")
def workflow_rules() -> set[str]:
    """The rule names of the Snakefile, as Snakemake itself lists them."""
    proc = snakemake("--list-rules", "--config", f"overrides={SMOKE}")
    return {line.strip() for line in proc.stdout.splitlines() if re.fullmatch(r"\s*\w+\s*", line)}


# ---------------------------------------------------------------------------------------------- fast tests


def test_profile_keys_are_snakemake_options():
    from snakemake.cli import get_argument_parser

    options = get_argument_parser()._option_string_actions  # includes every installed plugin's options
    unknown = [key for key in PROFILE if f"--{key}" not in options]
    assert not unknown, f"profiles/slurm/config.yaml: not snakemake options: {unknown}"
    assert PROFILE["executor"] == "slurm"
    # Without accounting (and on the test cluster) sacct cannot report job states: see docs/cluster.md.
    assert PROFILE["slurm-status-command"] == "squeue"


def _rule_resources() -> dict[str, dict[str, int]]:
    """Each rule's ``resources:`` block in rules/*.smk, as written (integers)."""
    found = {}
    for path in sorted((REPO / "rules").glob("*.smk")):
        for name, body in re.findall(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", path.read_text(), re.M | re.S):
            block = re.search(r"^    resources:\n((?:        .*\n)+)", body, re.M)
            found[name] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", block.group(1))} if block else {}
    return found


RULE_RESOURCES = _rule_resources()


def _gpu_profile_text() -> str:
    """The profile with its documented GPU request for the bounds rule uncommented."""
    text = (PROFILE_DIR / "config.yaml").read_text()
    gpu = re.sub(r"^# (set-resources:|  bounds:|    gres:)", r"\1", text, flags=re.M)
    assert gpu != text, "profiles/slurm/config.yaml should document `gres: \"gpu:1\"` for the bounds rule"
    return gpu


def test_every_rule_states_its_resources_and_the_profile_none(workflow_rules):
    """Memory and run time are written once, in each rule; a profile that restated them could disagree."""
    assert set(RULE_RESOURCES) == workflow_rules - TARGET_RULES
    for rule, resources in RULE_RESOURCES.items():
        assert set(resources) == {"mem_mb", "runtime"}, (rule, resources)
        assert all(value >= 1 for value in resources.values()), (rule, resources)
    assert "set-resources" not in PROFILE and "default-resources" not in PROFILE
    gpu = yaml.safe_load(_gpu_profile_text())["set-resources"]
    assert set(gpu) == {"bounds"} and set(gpu["bounds"]) <= KNOWN_RESOURCES - {"mem_mb", "runtime"}


class _Resources(dict):
    __getattr__ = dict.get


class _Job:
    """Just what the plugin's command builders read from a Snakemake job."""

    def __init__(self, resources: dict, threads: int = 1):
        self.resources = _Resources(resources)
        self.threads = threads


def _sbatch_call(resources: dict) -> str:
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string
    from snakemake_executor_plugin_slurm.validation import validate_slurm_extra

    job = _Job(resources)
    validate_slurm_extra(job)
    params = dict(run_uuid="uuid", slurm_logfile="log", comment_str="rule_bounds", account="", partition="",
                  workdir=".")
    return get_submit_command(job, params) + set_gres_string(job)


def test_sbatch_flags_for_bounds_cpu_and_gpu():
    bounds = RULE_RESOURCES["bounds"]
    call = _sbatch_call(bounds)
    # One CPU per job: the rule's threads (runtime.threads, default 1).
    assert f"--mem {bounds['mem_mb']}" in call and f"-t {bounds['runtime']}" in call
    assert "--cpus-per-task=1" in call and "--gres" not in call
    # The commented-out GPU request of the profile, uncommented, gives exactly one GPU per bounds job.
    call = _sbatch_call({**bounds, **yaml.safe_load(_gpu_profile_text())["set-resources"]["bounds"]})
    assert "--gres=gpu:1" in call


def test_dry_run_with_the_slurm_profile(tmp_path):
    """Plans the smoke experiment through the profile; a dry run never calls sbatch, so no SLURM is needed.
    The GPU variant (the documented `gres` line uncommented) plans too."""
    proc = snakemake("-n", "--workflow-profile", str(PROFILE_DIR), "--executor", "slurm",
                     "--config", 'overrides=["experiment=smoke","name=slurm_dryrun"]')
    out = proc.stdout + proc.stderr
    assert "This was a dry-run" in out
    bounds = RULE_RESOURCES["bounds"]
    planned = rf"rule bounds:.*?resources:.*?runtime={bounds['runtime']}, mem_mb={bounds['mem_mb']},"
    assert re.search(planned, out, re.S)

    gpu_profile = tmp_path / "slurm-gpu"
    gpu_profile.mkdir()
    (gpu_profile / "config.yaml").write_text(_gpu_profile_text())
    proc = snakemake("-n", "--workflow-profile", str(gpu_profile),
                     "--config", 'overrides=["experiment=smoke","name=slurm_dryrun","runtime.device=cuda"]')
    assert re.search(r"rule bounds:.*?resources:.*?gres=gpu:1", proc.stdout + proc.stderr, re.S)


# ------------------------------------------------------------------------------------- the real cluster

# The smoke experiment's core chain: prepare_data, 4 x train, 4 x bounds, aggregate (10 SLURM jobs, ~3 min).
# LOCALREGIONS_SLURM_TEST_TARGETS=all runs its whole DAG (companions, tightness, figures, report) instead.
SMOKE_TARGETS = ("results/smoke/summary.csv", "results/smoke/summary_by_setting.csv", "results/smoke/runs.csv")
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", ".snakemake", "data", "results", "figures", "logs", "benchmarks", "outputs", "multirun",
    "__pycache__", ".pytest_cache", ".hypothesis", "*.egg-info", ".whl", ".gl",
)


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running one-node SLURM cluster; the daemons the start script started are stopped afterwards."""
    if os.geteuid() != 0:
        pytest.skip("the one-node SLURM cluster is set up as root")
    start = subprocess.run([str(SLURM_SCRIPTS / "start_cluster.sh")], capture_output=True, text=True, timeout=600)
    try:
        assert start.returncode == 0, f"start_cluster.sh failed:\n{start.stderr}"
        yield start.stderr
    finally:
        subprocess.run([str(SLURM_SCRIPTS / "stop_cluster.sh")], timeout=120)


@pytest.mark.slurm
def test_smoke_pipeline_on_slurm(slurm_cluster, mnist_raw_dir, tmp_path):
    work = tmp_path / "repo"
    shutil.copytree(REPO, work, ignore=COPY_IGNORE, symlinks=True)
    (work / "data").mkdir()
    (work / "data" / "raw").symlink_to(mnist_raw_dir)  # read only: its files exist, so download_mnist is skipped
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}

    limit = int(os.environ.get("LOCALREGIONS_SLURM_TEST_LIMIT", "600"))
    targets = os.environ.get("LOCALREGIONS_SLURM_TEST_TARGETS", " ".join(SMOKE_TARGETS)).split()
    started = time.monotonic()
    proc = subprocess.run(
        ["timeout", "-s", "INT", "-k", "60", str(limit), sys.executable, "-m", "snakemake",
         *targets, "--workflow-profile", "profiles/slurm", "--executor", "slurm",
         "--slurm-init-seconds-before-status-checks", "5", "--slurm-keep-successful-logs",
         "--config", f"overrides={SMOKE}"],
        cwd=work, env=env, capture_output=True, text=True, timeout=limit + 120,
    )
    wall = time.monotonic() - started
    log = proc.stdout + proc.stderr
    print(f"smoke pipeline through SLURM: {wall:.0f} s wall, exit {proc.returncode}")
    assert proc.returncode == 0, f"snakemake exited {proc.returncode} after {wall:.0f} s:\n{log[-6000:]}"

    # Every job except local ones (the target rule) ran as its own SLURM job ...
    submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log)
    planned = re.search(r"^total\s+(\d+)$", log, re.M)
    local = len(re.findall(r"^localrule \w+:", log, re.M))
    assert planned and len(submitted) == int(planned.group(1)) - local > 0, log[-3000:]
    assert len({slurm_id for _, slurm_id in submitted}) == len(submitted)
    log_dir = work / ".snakemake" / "slurm_logs"
    slurm_logs = {p.relative_to(log_dir).parts[0] for p in log_dir.rglob("*.log")}
    assert {"rule_train", "rule_bounds", "rule_aggregate"} <= slurm_logs, slurm_logs

    # ... and left the outputs: nothing is left to do.
    for target in targets:
        path = work / target
        assert target == "all" or (path.is_file() and path.stat().st_size > 0), path
    again = snakemake("-n", *targets, "--config", f"overrides={SMOKE}", cwd=work, env=env)
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]
