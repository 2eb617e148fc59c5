"""The studies of the paper's motivation as pipeline experiments: planning, settings, steps, figures, report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from localregions import search as search_library
from localregions.pipeline.motivation_settings import AdversarialConfig, SEARCH_MEASURES, SEARCH_METHODS, SearchConfig
from localregions.pipeline.plan import SettingsError, plan_experiments
from localregions.pipeline.settings import GridJob, ModelConfig, RuntimeConfig, TrainConfig
from localregions.reporting.claims import VERDICTS
from localregions.reporting.products import FIGURES, MOTIVATION_STUDIES, RESULT_TABLES
from snakemake_runs import REPO

pytest.importorskip("art")

SEEDS = (0, 1, 2, 3, 4)


# ------------------------------------------------------------------------------------------------ planning


@pytest.mark.parametrize("study", MOTIVATION_STUDIES)
def test_each_study_measures_figure3s_networks_and_makes_only_its_own_products(study):
    plan = plan_experiments([f"experiment={study}"])
    main = plan.main
    assert set(plan.experiments) == {study, "figure3"} and main.measured.id == "figure3"
    assert main.measured.role == "networks" and main.measured.settings.grid == main.settings.grid
    assert main.result_tables() == [t.name for t in RESULT_TABLES if t.study == study]
    assert {stem for _, stem in main.figures()} == {f.stem for f in FIGURES if f.study == study}
    # The paper's experiment makes none of them.
    figure3 = plan_experiments([]).main
    assert not set(figure3.result_tables()) & {t.name for t in RESULT_TABLES if t.study in MOTIVATION_STUDIES}
    assert figure3.measures_paper and not main.measures_paper


def test_the_smoke_versions_train_their_own_small_grid():
    for study in MOTIVATION_STUDIES:
        main = plan_experiments([f"experiment={study}_smoke"]).main
        assert main.measured is main and main.motivation_studies() == [study]
        assert len(main.settings.grid.seeds) == 5


@pytest.mark.parametrize("overrides, message", [
    (["experiment=search", "grid.seeds=[0,1]"], r"grid.seeds is \[0, 1\] here but \[0, 1, 2, .*\] in experiment figure3"),
    (["experiment=adversarial", "train.epochs=5"], "train.epochs is 5 here but 20 in experiment figure3"),
    (["experiment=backdoor", "model.width=16"], "model mlp2 differs from experiment figure3's"),
    (["experiment=search", "motivation.networks=search"], "names this experiment itself"),
    (["experiment=search", "motivation.networks=adversarial"], "must name an experiment that trains a grid"),
    (["experiment=figure3", "search.enabled=true"], "set tightness.enabled=false, methods.enabled=false, sweep.enabled"),
    (["experiment=search", "search.budget=5"], r"search.budget must be >= search.chains \(20\)"),
    (["experiment=backdoor", "backdoor.share=1.5"], "backdoor.share must lie strictly between 0 and 1"),
    (["experiment=adversarial", "adversarial.l2_budgets=[-1.0]"], "adversarial.l2_budgets must be a finite number > 0"),
])
def test_the_planner_refuses_what_would_retrain_or_mismeasure_figure3s_networks(overrides, message):
    with pytest.raises((SettingsError, ValueError), match=message):
        plan_experiments(overrides)


def test_paths_and_the_mnist_source_reach_the_networks_experiment():
    plan = plan_experiments(["experiment=search", "paths.results=elsewhere", "data.sources=[npm]"])
    assert plan["figure3"].settings.paths.results == "elsewhere" and plan["figure3"].settings.data.sources == ["npm"]


def test_the_settings_name_the_librarys_measures_and_methods():
    assert SEARCH_MEASURES == search_library.MEASURES and SEARCH_METHODS == search_library.SEARCH_METHODS
    assert AdversarialConfig().attacks() == [("l2", 50.0), ("l2", 100.0), ("l2", 200.0), ("linf", 10.0),
                                             ("linf", 20.0), ("linf", 40.0)]


def test_a_dry_run_of_a_study_plans_figure3s_training_not_its_own(tmp_path):
    from snakemake_runs import snakemake

    done = snakemake(tmp_path, ["experiment=search"], "-n")
    text = done.stdout + done.stderr
    assert "results/figure3/runs/mlp3_lr0.001/MANIFEST.json" in text and "data/processed/figure3/manifest.json" in text
    assert "results/search/runs" not in text and "data/processed/search" not in text
    assert "results/search/search/mlp2_lr0.02.points.csv.gz" in text


# ------------------------------------------------------------------------------------------------ the steps


def blob_arrays(n_train: int = 1000, n_test: int = 1000) -> dict[str, np.ndarray]:
    """MNIST-shaped arrays whose 0s are bright on the left and 4s on the right (the others noise): learnable."""
    from conftest import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS

    def images(n, seed):
        generator = np.random.default_rng(seed)
        labels = (np.arange(n) % 10).astype(np.uint8)
        pixels = generator.integers(0, 60, size=(n, 28, 28))
        pixels[labels == 0, 4:24, 2:14] += 180
        pixels[labels == 4, 4:24, 14:26] += 180
        pixels[:, 20:, 20:] = 0  # the corner the trigger sets stays background
        return pixels.clip(0, 255).astype(np.uint8), labels

    train, train_labels = images(n_train, 0)
    test, test_labels = images(n_test, 1)
    return {TRAIN_IMAGES: train, TRAIN_LABELS: train_labels, TEST_IMAGES: test, TEST_LABELS: test_labels}


@pytest.fixture(scope="module")
def trained_job(tmp_path_factory):
    """Point sets from learnable synthetic MNIST and one training job (mlp2, lr 0.001, five seeds), seed 4 collapsed."""
    from conftest import write_idx_files
    from localregions.experiment.mnist import fetch_mnist
    from localregions.experiment.point_sets import prepare_point_sets
    from localregions.experiment.specs import PointSetSpec
    from localregions.pipeline.steps.training import train

    root = tmp_path_factory.mktemp("motivation_steps")
    hashes = write_idx_files(root / "source", blob_arrays())
    fetch_mnist(root / "raw", mnist_dir=root / "source", sources=("local",), expected_sha256=hashes)
    prepare_point_sets(root / "raw", root / "processed", PointSetSpec(per_class=100, random_points=60),
                       expected_sha256=hashes)
    job = GridJob("mlp2", 2, 0.001, SEEDS)
    runs = root / "runs"
    train(point_sets=str(root / "processed" / "manifest.json"), checkpoints=str(runs / "checkpoints"),
          metrics=str(runs / "metrics.csv"), manifest=str(runs / "MANIFEST.json"), job=job, model=ModelConfig(),
          momentum=0.0, train=TrainConfig(epochs=10, checkpoint_every=5), runtime=RuntimeConfig(device="cpu"))
    manifest = json.loads((runs / "MANIFEST.json").read_text())
    assert all(manifest["seeds"][str(s)]["status"] == "ok" for s in SEEDS)
    manifest["seeds"]["4"]["status"] = "collapsed"  # as training marks a run that learnt nothing
    (runs / "MANIFEST.json").write_text(json.dumps(manifest))
    return root, job


def _outputs(root, study, names):
    return {name: str(root / study / (f"{name}.csv.gz" if name == "points" else f"{name}.csv")) for name in names}


def test_the_search_step_measures_every_usable_seed_and_leaves_the_collapsed_one_out(trained_job):
    from localregions.pipeline.steps.motivation import search
    from localregions.pipeline.steps.motivation_results import motivation_tables

    root, job = trained_job
    out = _outputs(root, "search", ("points", "maxima", "curves", "kinds", "effects"))
    search(runs=str(root / "runs" / "MANIFEST.json"), point_sets=str(root / "processed" / "manifest.json"), **out,
           job=job, search=SearchConfig(enabled=True, chains=3, budget=30), complexity_directions=None, radius=40.0,
           norm="l2", runtime=RuntimeConfig(device="cpu"))
    maxima = pd.read_csv(out["maxima"])
    assert sorted(set(maxima["seed"])) == [0, 1, 2, 3] and list(maxima["method"][:3]) == list(SEARCH_METHODS)
    assert (maxima["alg1"] == maxima["best_value"]).all()  # the best ball, measured again, is the search's value
    assert (maxima["effect"] == maxima["best_value"] - maxima["data_max"]).all()
    assert {f"x_{i}" for i in range(36)} <= set(maxima.columns) and (maxima["evaluations"] == 30).all()
    points = pd.read_csv(out["points"])
    assert set(points["kind"]) == {"train", "test", "random1", "random2", "maximum_annealing", "maximum_hill_climb",
                                   "maximum_random"}
    effects = pd.read_csv(out["effects"])
    left_out = effects[effects["seed"] == 4]
    assert len(left_out) == 3 and not left_out["network_ok"].any() and set(left_out["note"]) == {"run collapsed"}
    assert list(effects.loc[effects["decides"], "part"].unique()) == ["annealing best - data max"]
    with pytest.raises(ValueError, match="search.enabled is false"):
        search(runs="-", point_sets="-", **out, job=job, search=SearchConfig(), complexity_directions=None, radius=1.0,
               norm="l2", runtime=RuntimeConfig(device="cpu"))
    tables = {name: str(root / f"search_{name}.csv") for name in ("maxima", "curves", "kinds", "effects", "claims")}
    motivation_tables(parts={n: [out[n]] for n in ("maxima", "curves", "kinds", "effects")}, outputs=tables,
                      study="search")
    claims = pd.read_csv(tables["claims"])
    assert len(claims) == 1 and claims["n_seeds"].iloc[0] == 4 and claims["verdict"].iloc[0] == "undecided"
    assert "1 of 5 seeds left out (run collapsed)" in claims["note"].iloc[0]
    curves = pd.read_csv(tables["curves"])
    assert (curves.groupby(["seed", "method"])["best"].diff().dropna() >= 0).all()


def test_the_adversarial_step_pairs_every_kept_example_with_its_clean_point(trained_job):
    from localregions.experiment.models import load_checkpoint
    from localregions.experiment.point_sets import load_point_set
    from localregions.pipeline.steps.motivation import adversarial

    root, job = trained_job
    out = _outputs(root, "adversarial", ("points", "attacks", "kinds", "effects"))
    settings = AdversarialConfig(enabled=True, l2_budgets=[400.0], linf_budgets=[1.0], iterations=10, min_examples=5)
    adversarial(runs=str(root / "runs" / "MANIFEST.json"), point_sets=str(root / "processed" / "manifest.json"), **out,
                job=job, adversarial=settings, maxima_search={"chains": 3, "budget": 30}, complexity_directions=None,
                radius=40.0, norm="l2", scale="raw", runtime=RuntimeConfig(device="cpu"))
    attacks = pd.read_csv(out["attacks"]).set_index(["seed", "attack"])
    assert (attacks["kept"] + attacks["failed"] == attacks["attacked"]).all()
    assert (attacks.xs("l2 eps 400", level="attack")["attack_rate"] > 0.5).all()
    assert (attacks.xs("linf eps 1", level="attack")["kept"] < 5).all()  # one grey level flips nothing here
    points = pd.read_csv(out["points"])
    effects = pd.read_csv(out["effects"]).set_index(["seed", "part", "measure"])
    test, _ = load_point_set(root / "processed", "test")
    model, _ = load_checkpoint(root / "runs" / "checkpoints" / "seed0" / "epoch_010.pt")
    from localregions import local_region_bound

    mine = points[(points["seed"] == 0)]
    examples = mine[mine["attack"] == "l2 eps 400"]
    clean = mine[mine["kind"] == "clean"].set_index("point")
    expected = (examples["alg1"].to_numpy() - clean.loc[examples["point"], "alg1"].to_numpy()).mean()
    assert effects.loc[(0, "l2 eps 400", "alg1"), "effect"] == pytest.approx(expected)
    assert effects.loc[(0, "l2 eps 400", "alg1"), "usable"]
    assert not effects.loc[(0, "linf eps 1", "alg1"), "usable"]
    assert "fewer than 5" in effects.loc[(0, "linf eps 1", "alg1"), "note"]
    assert clean["alg1"].tolist() == local_region_bound(model, test, 40.0).unstable.tolist()
    assert set(mine["kind"]) >= {"clean", "random1", "random2", "search maximum", "adversarial l2 eps 400"}


def test_the_backdoor_steps_train_poisoned_networks_and_contrast_them_with_the_clean_ones(trained_job):
    from localregions.pipeline.steps.motivation import backdoor, train_backdoor
    from localregions.pipeline.steps.motivation_results import motivation_tables

    root, job = trained_job
    poisoned = root / "poisoned"
    # Threshold 0: every poisoned run is measured, whatever its attack success rate.
    train_backdoor(point_sets=str(root / "processed" / "manifest.json"), checkpoints=str(poisoned / "checkpoints"),
                   metrics=str(poisoned / "metrics.csv"), manifest=str(poisoned / "MANIFEST.json"),
                   runs=str(poisoned / "backdoor.csv"), job=job, model=ModelConfig(), momentum=0.0,
                   epochs=10, batch_size=32, loss="bce", share=0.1, target=1, threshold=0.0, distance=1,
                   scale="raw", runtime=RuntimeConfig(device="cpu"))
    trained = pd.read_csv(poisoned / "backdoor.csv")
    assert list(trained["seed"]) == list(SEEDS) and (trained["poisoned"] == 20).all()  # 10% of 200
    assert set(json.loads((poisoned / "MANIFEST.json").read_text())["seeds"]["0"]["checkpoints"]) == {"10"}
    out = _outputs(root, "backdoor", ("points", "runs", "kinds", "effects", "aucs", "roc"))
    backdoor(poisoned=str(poisoned / "MANIFEST.json"), poisoned_runs=str(poisoned / "backdoor.csv"),
             clean=str(root / "runs" / "MANIFEST.json"), point_sets=str(root / "processed" / "manifest.json"), **out,
             job=job, distance=1, test_points=None, roc_points=5, complexity_directions=None, radius=40.0, norm="l2",
             scale="raw", runtime=RuntimeConfig(device="cpu"))
    runs = pd.read_csv(out["runs"]).set_index("seed")
    assert runs.loc[4, "clean_status"] == "collapsed" and runs.loc[0, "clean_status"] == "ok"
    effects = pd.read_csv(out["effects"])
    part2 = effects[(effects["part"] == "poisoned - clean network") & (effects["measure"] == "alg1")].set_index("seed")
    assert not part2.loc[4, "usable"] and part2.loc[0, "usable"]  # the collapsed clean network leaves part 2 only
    part1 = effects[(effects["part"] == "triggered - clean, poisoned network") & (effects["measure"] == "alg1")]
    assert part1["usable"].all() and (part1["n"] == 200).all()
    points = pd.read_csv(out["points"])
    one = points[(points["seed"] == 0) & (points["network"] == "poisoned")]
    triggered, clean = one[one["kind"] == "triggered"], one[one["kind"] == "clean"]
    assert part1.set_index("seed").loc[0, "effect"] == pytest.approx(triggered["alg1"].mean() - clean["alg1"].mean())
    aucs = pd.read_csv(out["aucs"])
    assert set(aucs["score"]) == {"alg1", "crown", "local_complexity", "boundary_distance", "abs_logit",
                                  "nearest_reference"}
    roc = pd.read_csv(out["roc"])
    assert len(roc) == len(SEEDS) * 6 * 5 and (roc.groupby(["seed", "score"])["tpr"].diff().dropna() >= 0).all()
    tables = {name: str(root / f"backdoor_{name}.csv") for name in ("runs", "kinds", "effects", "aucs", "roc", "claims")}
    motivation_tables(parts={n: [out[n]] for n in ("runs", "kinds", "effects", "aucs", "roc")}, outputs=tables,
                      study="backdoor")
    claims = pd.read_csv(tables["claims"])
    assert list(claims["part"]) == ["triggered - clean, poisoned network", "poisoned - clean network"]
    assert set(claims["verdict"]) <= set(VERDICTS) and list(claims["n"]) == [5, 4] and (claims["m"] == 2).all()
    with pytest.raises(ValueError, match="outputs must name the tables of parts"):
        motivation_tables(parts={"runs": [out["runs"]]}, outputs={"runs": tables["runs"]}, study="backdoor")


# ------------------------------------------------------------------------------------------------ figures, report


def test_every_motivation_figure_and_the_report_come_from_the_committed_reference_tables(tmp_path):
    from localregions.reporting.motivation_figures import draw_figures
    from localregions.reporting.motivation_claims import hypothesis
    from localregions.reporting.motivation_report import build_motivation_report
    from localregions.reporting.products import figure_spec

    for study in MOTIVATION_STUDIES:
        tables = {t.name: REPO / "reference" / study / f"{t.name}.csv" for t in RESULT_TABLES if t.study == study}
        stems = [f.stem for f in FIGURES if f.study == study]
        written = draw_figures(tables, [tmp_path / f"{stem}.png" for stem in stems], radius=0.4, norm="l2")
        assert sorted(p.name for p in written) == sorted(f"{s}.{e}" for s in stems for e in ("png", "pdf"))
        assert all(p.stat().st_size > 10_000 for p in written)
        frames = {name: pd.read_csv(path) for name, path in tables.items()}
        text = build_motivation_report(name=study, settings_yaml="{}", studies=[study], tables=frames,
                                       figure_paths={figure_spec(s)[0].title: f"{s}.png" for s in stems}, radius=0.4,
                                       norm="l2")
        assert f"## {hypothesis(study).code}: " in text and f"**{hypothesis(study).code}.**" in text
        claims = frames[f"{study}_claims"]
        for verdict in set(claims["verdict"]):
            assert verdict in text
        assert "no effect" not in text.lower()
    with pytest.raises(ValueError, match="drawn by reporting.figures"):
        draw_figures({}, [tmp_path / "figure3_depth2.png"], radius=0.4, norm="l2")
    with pytest.raises(ValueError, match=r"needs the tables \['search_curves', 'search_maxima'\]"):
        draw_figures({}, [tmp_path / "search_curve.png"], radius=0.4, norm="l2")


def test_the_committed_references_hold_what_the_hypotheses_file_fixed():
    """The provisional references ran the pre-registered numbers: ten seeds, six attacks, the 2,000-evaluation search."""
    attacks = pd.read_csv(REPO / "reference" / "adversarial" / "adversarial_attacks.csv")
    assert sorted(set(attacks["attack"])) == sorted(["l2 eps 50", "l2 eps 100", "l2 eps 200", "linf eps 10",
                                                     "linf eps 20", "linf eps 40"])
    assert (attacks["kept"] + attacks["failed"] == attacks["attacked"]).all() and set(attacks["seed"]) == set(range(10))
    maxima = pd.read_csv(REPO / "reference" / "search" / "search_maxima.csv")
    assert (maxima["evaluations"] == 2000).all() and (maxima["budget"] == 2000).all()
    runs = pd.read_csv(REPO / "reference" / "backdoor" / "backdoor_runs.csv")
    assert (runs["poisoned"] == 100).all() and len(runs) == 40
    for study in MOTIVATION_STUDIES:
        claims = pd.read_csv(REPO / "reference" / study / f"{study}_claims.csv")
        assert np.allclose(claims["level"], 0.025 / claims["m"], rtol=1e-9) and set(claims["verdict"]) <= set(VERDICTS)
