"""End to end: the real Snakefile on the small versions of the motivation's studies (experiment=<study>_smoke), and
a study measuring another experiment's trained networks without retraining them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from localregions.pipeline.rule_script import RECORD_READS
from localregions.reporting.claims import VERDICTS
from localregions.reporting.comparison import headline_of
from snakemake_runs import REFERENCE, planned_rules, snakemake, workdir_with_mnist

pytest.importorskip("art")

RULES = {"search": {"search", "search_tables"}, "adversarial": {"adversarial", "adversarial_tables"},
         "backdoor": {"train_backdoor", "backdoor", "backdoor_tables"}}


@pytest.fixture(scope="module", params=sorted(RULES))
def smoke_run(request, tmp_path_factory, mnist_raw_dir):
    study = request.param
    workdir = workdir_with_mnist(tmp_path_factory.mktemp(f"{study}_smoke"), mnist_raw_dir)
    done = snakemake(workdir, [f"experiment={study}_smoke", REFERENCE], env={RECORD_READS: str(workdir / "reads")})
    return study, workdir, done.stdout + done.stderr


def test_the_small_study_runs_to_its_report_and_every_step_reads_what_its_rule_declares(smoke_run):
    study, workdir, log = smoke_run
    results = workdir / "results" / f"{study}_smoke"
    records = [json.loads(p.read_text()) for p in sorted((workdir / "reads").glob("*.json"))]
    assert {r["rule"] for r in records} == {"prepare_data", "train", "figures", "compare", "report"} | RULES[study]
    unread = {f"{r['rule']} {r['wildcards']}": sorted(set(r["declared"]) - set(r["read"])) for r in records
              if set(r["declared"]) - set(r["read"])}
    assert unread == {}, f"rules declare settings their steps never read (needless reruns): {unread}"
    claims = pd.read_csv(results / f"{study}_claims.csv")
    assert set(claims["verdict"]) <= set(VERDICTS) and (claims["n_seeds"] == 5).all()
    report = (results / "report.md").read_text()
    assert claims["verdict"].iloc[0] in report and "## Figures" in report
    figures = sorted(p.name for p in (workdir / "figures" / f"{study}_smoke").glob("*.png"))
    assert figures and all(f"figures/{study}_smoke/{name}" in report for name in figures)
    # No reference is committed for the small versions: the comparison says so and passes.
    assert "no reference" in headline_of(results / "comparison.md") and headline_of(results / "comparison.md") in log


def test_the_small_studies_decide_what_their_tables_say(smoke_run):
    study, workdir, _ = smoke_run
    results = workdir / "results" / f"{study}_smoke"
    effects = pd.read_csv(results / f"{study}_effects.csv")
    deciding = effects[effects["decides"] & effects["usable"]]
    claims = pd.read_csv(results / f"{study}_claims.csv")
    for row in claims.itertuples(index=False):
        mine = deciding[deciding["part"] == row.part]
        assert row.n == len(mine) and row.effect == pytest.approx(mine["effect"].mean())
    if study == "adversarial":
        attacks = pd.read_csv(results / "adversarial_attacks.csv")
        assert (attacks["attacked"] + attacks["skipped"] == 100).all() and (attacks["attack_rate"] > 0).all()
    if study == "backdoor":
        runs = pd.read_csv(results / "backdoor_runs.csv")
        # Three epochs of the smoke grid already carry the backdoor: the poisoned networks say so.
        assert (runs["status"] == "ok").all() and (runs["attack_success_rate"] >= 0.9).all()
    if study == "search":
        maxima = pd.read_csv(results / "search_maxima.csv")
        assert (maxima["alg1"] == maxima["best_value"]).all() and (maxima["evaluations"] == 100).all()


def test_a_study_measures_another_experiments_networks_without_retraining_them(tmp_path, mnist_raw_dir):
    workdir = workdir_with_mnist(tmp_path, mnist_raw_dir)
    smoke = ["experiment=smoke", REFERENCE]
    manifests = [f"results/smoke/runs/{m}_lr{lr}/MANIFEST.json" for m in ("mlp2", "mlp3") for lr in ("0.02", "0.001")]
    snakemake(workdir, smoke, *manifests)
    # experiment=search_smoke on smoke's networks: its grid and training must be smoke's, or the planner refuses.
    reuse = ["experiment=search_smoke", "motivation.networks=smoke", "grid.models=[mlp2,mlp3]", "grid.lrs=[0.02,0.001]",
             "grid.seeds=[0,1]", "train.checkpoint_every=1", REFERENCE]
    planned = planned_rules(workdir, reuse)
    assert planned.get("search") == 4 and "train" not in planned and "prepare_data" not in planned
    refused = snakemake(workdir, [o for o in reuse if not o.startswith("grid.seeds")], "-n", check=False)
    assert refused.returncode != 0 and "grid.seeds is [0, 1, 2, 3, 4] here but [0, 1] in experiment smoke" in (
        refused.stdout + refused.stderr)
