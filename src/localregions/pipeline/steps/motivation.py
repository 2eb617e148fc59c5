"""checkpoints -> per-point and per-seed tables of the studies of the paper's motivation (issue 24).

One step per rule of ``rules/motivation.smk``: ``search``, ``adversarial`` and ``backdoor``
measure the last checkpoint of every seed of one training job (the networks of
``motivation.networks``, read through their job's manifest); ``train_backdoor`` trains the
poisoned networks of one (model, lr). A seed whose run did not end ``ok`` is not measured: its
rows in the effects table say why, so that the claims count it as left out.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ...vocabulary import run_id
from ..motivation_settings import AdversarialConfig, SearchConfig
from ..settings import GridJob, ModelConfig, RuntimeConfig

__all__ = ["search", "adversarial", "train_backdoor", "backdoor", "INPUT_BOX"]

log = logging.getLogger(__name__)

#: The box of the inputs at each scale: PGD's examples stay in it, and a trigger's pixels take its top.
INPUT_BOX = {"raw": (0.0, 255.0), "unit": (0.0, 1.0)}


def _sets(point_sets: str, names=("train", "test", "random1", "random2")) -> dict:
    from ...experiment.point_sets import load_point_set

    return {name: load_point_set(Path(point_sets).parent, name) for name in names}


def _last_networks(runs: str, seeds):
    """(seed, status, network at its last checkpoint or None) for every seed of the job ``runs`` (a manifest)."""
    from ...experiment.models import load_checkpoint
    from ...experiment.run_files import TrainingJob

    for run in TrainingJob.read(runs).seed_runs(seeds):
        paths = run.checkpoint_paths()
        model = load_checkpoint(paths[-1])[0] if run.status == "ok" and paths else None
        yield run.seed, run.status, model


def _left_out(parts: list[str], measures, note: str, deciding: int | None = None):
    """The effects rows of a seed left out: as a measured seed's (the first measure decides, in the first
    ``deciding`` parts, all by default), without numbers, with ``note`` saying why."""
    from ...experiment.motivation_tables import effect_row

    deciding = len(parts) if deciding is None else deciding
    return [effect_row(part, measure, k == 0 and j < deciding, [], [], network_ok=False, note=note)
            for j, part in enumerate(parts) for k, measure in enumerate(measures)]


def _write(tables: dict, outputs: dict, job: GridJob) -> None:
    """Concatenate each table's per-seed frames, with depth, lr (and seed) first, and write it to its output."""
    import pandas as pd

    from ...experiment.storage import write_csv

    for name, path in outputs.items():
        frames = tables.get(name, [])
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        table.insert(0, "lr", job.lr)
        table.insert(0, "depth", job.depth)
        write_csv(table, path)


def _enabled(section, study: str) -> None:
    """A study's step runs only in an experiment that enables it (the planner targets nothing else)."""
    if not section.enabled:
        raise ValueError(f"{study}.enabled is false: this experiment does not run the {study} study")


def _with_seed(frame, seed: int):
    frame = frame.copy()
    frame.insert(0, "seed", seed)
    return frame


def search(*, runs: str, point_sets: str, points: str, maxima: str, curves: str, kinds: str, effects: str, job: GridJob,
           search: SearchConfig, complexity_directions: int | None, radius: float, norm: str,
           runtime: RuntimeConfig) -> None:
    """H3 on every seed of one training job: the search methods against the largest value over the data."""
    import pandas as pd

    from ...experiment.motivation_tables import search_seed
    from ..runtime import torch_device

    _enabled(search, "search")
    torch_device(runtime)
    sets = {name: x for name, (x, _) in _sets(point_sets).items()}
    tables: dict[str, list] = {}
    for seed, status, model in _last_networks(runs, job.seeds):
        if model is None:
            parts = [f"{method} best - data max" for method in search.methods]
            # Only the first method decides, as for a measured seed (experiment/motivation_tables.search_seed).
            rows = _left_out(parts, [search.measure], f"run {status}", deciding=1)
            tables.setdefault("effects", []).append(_with_seed(pd.DataFrame(rows), seed))
            log.warning("run %s %s: left out", run_id(job.model, job.lr, seed), status)
            continue
        found = search_seed(model, sets, radius=radius, norm=norm, measure=search.measure, methods=search.methods,
                            chains=search.chains, budget=search.budget, step=search.step,
                            temperature=search.temperature, seed=seed, adapt_step=search.adapt_step,
                            complexity_directions=complexity_directions)
        for name in ("points", "maxima", "curves", "kinds", "effects"):
            tables.setdefault(name, []).append(_with_seed(found[name], seed))
        log.info("run %s: best %s, data max %s (%s)", run_id(job.model, job.lr, seed),
                 dict(zip(found["maxima"]["method"], found["maxima"]["best_value"])), found["maxima"]["data_max"].iloc[0],
                 ", ".join(f"{m} {s:.1f} s" for m, s in zip(found["seconds"]["method"], found["seconds"]["seconds"])))
    _write(tables, {"points": points, "maxima": maxima, "curves": curves, "kinds": kinds, "effects": effects}, job)


def _search_maxima(model, train, search: SearchConfig, *, radius, norm, seed, complexity_directions):
    """The best centre of the first search method (as experiment=search finds it), for the adversarial study's kinds."""
    from ...experiment.region_search import compare_searches, data_box, random_starts

    _, _, centres = compare_searches(model, data_box(train), radius, starts=random_starts(train, search.chains, seed),
                                     budget=search.budget, seed=seed, measure=search.measure, norm=norm,
                                     methods=search.methods[:1], step_fraction=search.step,
                                     temperature=tuple(search.temperature), n_directions=complexity_directions,
                                     adapt_step=search.adapt_step)
    return centres[search.methods[0]][None]


def adversarial(*, runs: str, point_sets: str, points: str, attacks: str, kinds: str, effects: str, job: GridJob,
                adversarial: AdversarialConfig, maxima_search: dict, complexity_directions: int | None, radius: float,
                norm: str, scale: str, runtime: RuntimeConfig) -> None:
    """H1 on every seed of one training job: PGD examples of every attack, the measures around them and their sources;
    beside them, the best centre the search (``maxima_search``: the search section's settings) finds."""
    import pandas as pd

    from ...experiment.motivation_tables import BESIDE_MEASURES, adversarial_seed, attack_part
    from ..runtime import torch_device

    _enabled(adversarial, "adversarial")
    torch_device(runtime)
    loaded = _sets(point_sets)
    sets = {name: x for name, (x, _) in loaded.items()}
    labels = loaded["test"][1]
    if adversarial.points is not None:
        sets["test"], labels = sets["test"][: adversarial.points], labels[: adversarial.points]
    tables: dict[str, list] = {}
    for seed, status, model in _last_networks(runs, job.seeds):
        if model is None:
            parts = [attack_part(n, e) for n, e in adversarial.attacks()]
            tables.setdefault("effects", []).append(
                _with_seed(pd.DataFrame(_left_out(parts, ("alg1", *BESIDE_MEASURES), f"run {status}")), seed))
            log.warning("run %s %s: left out", run_id(job.model, job.lr, seed), status)
            continue
        maxima = (_search_maxima(model, sets["train"], SearchConfig(**maxima_search), radius=radius, norm=norm,
                                 seed=seed, complexity_directions=complexity_directions)
                  if adversarial.search_maxima else None)
        found = adversarial_seed(model, sets, labels, radius=radius, norm=norm, attacks=adversarial.attacks(),
                                 clip=INPUT_BOX[scale], iterations=adversarial.iterations,
                                 step_fraction=adversarial.step_fraction, min_examples=adversarial.min_examples,
                                 seed=seed, complexity_directions=complexity_directions, maxima=maxima)
        for name in ("points", "attacks", "kinds", "effects"):
            tables.setdefault(name, []).append(_with_seed(found[name], seed))
        log.info("run %s: attack rates %s", run_id(job.model, job.lr, seed),
                 ", ".join(f"{a} {r:.3f}" for a, r in zip(found["attacks"]["attack"], found["attacks"]["attack_rate"])))
    _write(tables, {"points": points, "attacks": attacks, "kinds": kinds, "effects": effects}, job)


def train_backdoor(*, point_sets: str, checkpoints: str, metrics: str, manifest: str, runs: str, job: GridJob,
                   model: ModelConfig, momentum: float, epochs: int, batch_size: int, loss: str, share: float,
                   target: int, threshold: float, distance: int, scale: str, runtime: RuntimeConfig) -> None:
    """Train ``job``'s seeds on their poisoned training sets (the last epoch checkpointed); write the job's files.

    As the ``train`` step (the training's ``epochs``, ``batch_size`` and ``loss``), with ``share`` of
    the points not of class ``target`` poisoned (drawn by each seed; the trigger ``distance`` pixels
    from the corner), and ``runs``: per seed its status (the training's, or ``backdoor failed`` when
    the attack success rate on the test inputs is below ``threshold``), the number poisoned, the
    attack success rate and the clean test accuracy.
    """
    import pandas as pd

    from ...experiment.backdoor import train_backdoored
    from ...experiment.run_files import seed_folder, write_job_manifest
    from ...experiment.storage import atomic_directory, write_csv
    from ...experiment.training import CHECKPOINT_FILE
    from ..runtime import torch_device

    device = torch_device(runtime)
    sets = _sets(point_sets, ("train", "test"))
    (train_x, train_y), (test_x, test_y) = sets["train"], sets["test"]
    pool = int(round(train_x.shape[1] ** 0.5))
    frames, seeds, rows = [], {}, []
    with atomic_directory(checkpoints) as staging:
        for seed in job.seeds:
            run = train_backdoored(train_x, train_y, test_x, test_y, share=share, target=target, threshold=threshold,
                                   seed=seed, checkpoint_dir=seed_folder(staging, seed), pool=pool,
                                   value=INPUT_BOX[scale][1], distance=distance,
                                   architecture=model.architecture, depth=model.depth, width=model.width,
                                   channels=tuple(model.channels), init=model.init, init_std=model.init_std,
                                   lr=job.lr, momentum=momentum, loss=loss, epochs=epochs, batch_size=batch_size,
                                   checkpoint_epochs=[epochs], device=device,
                                   meta={"model": model.name, "lr": job.lr, "seed": seed, "poisoned": True})
            frames.append(run.training.metrics.assign(seed=seed))
            saved = {epoch: seed_folder(checkpoints, seed) / CHECKPOINT_FILE.format(epoch=epoch)
                     for epoch in run.training.checkpoint_epochs}
            seeds[seed] = (run.status, saved)
            rows.append({"seed": seed, "status": run.status, "poisoned": int(run.poisoned.numel()),
                         "attack_success_rate": run.attack_success_rate, "clean_test_accuracy": run.clean_test_accuracy})
            log.info("poisoned run %s: %s, attack success rate %.3f, clean test accuracy %.3f",
                     run_id(job.model, job.lr, seed), run.status, run.attack_success_rate, run.clean_test_accuracy)
    table = pd.concat(frames, ignore_index=True)
    write_csv(table[["seed"] + [c for c in table.columns if c != "seed"]], metrics)
    _write({"runs": [pd.DataFrame(rows)]}, {"runs": runs}, job)
    write_job_manifest(manifest, model=job.model, depth=job.depth, lr=job.lr, metrics=metrics, seeds=seeds)


def backdoor(*, poisoned: str, poisoned_runs: str, clean: str, point_sets: str, points: str, runs: str, kinds: str,
             effects: str, aucs: str, roc: str, job: GridJob, distance: int, test_points: int | None, roc_points: int,
             complexity_directions: int | None, radius: float, norm: str, scale: str, runtime: RuntimeConfig) -> None:
    """H2 on every seed of one (model, lr): triggered against clean test inputs (the first ``test_points``; all with
    None) on the poisoned network (``poisoned``, a manifest) and on the clean network of the same seed (``clean``,
    the networks' own training job); each seed's ROC curves kept at ``roc_points`` false-positive rates."""
    import pandas as pd

    from ...experiment.motivation_tables import BACKDOOR_PARTS, BESIDE_MEASURES, backdoor_seed
    from ...experiment.storage import read_csv
    from ..runtime import torch_device

    torch_device(runtime)
    sets = {name: x for name, (x, _) in _sets(point_sets, ("train", "test")).items()}
    test = sets["test"][:test_points] if test_points is not None else sets["test"]
    poisoned_runs_table = read_csv(poisoned_runs)
    cleans = {seed: (status, model) for seed, status, model in _last_networks(clean, job.seeds)}
    tables: dict[str, list] = {}
    statuses = []
    for seed, status, model in _last_networks(poisoned, job.seeds):
        clean_status, clean_model = cleans[seed]
        statuses.append({"seed": seed, "clean_status": clean_status})
        if model is None:
            tables.setdefault("effects", []).append(_with_seed(pd.DataFrame(
                _left_out(BACKDOOR_PARTS, ("alg1", *BESIDE_MEASURES), f"poisoned run {status}")), seed))
            log.warning("poisoned run %s %s: left out", run_id(job.model, job.lr, seed), status)
            continue
        found = backdoor_seed(model, clean_model, test, sets["train"], radius=radius, norm=norm,
                              value=INPUT_BOX[scale][1], distance=distance, seed=seed,
                              complexity_directions=complexity_directions, roc_points=roc_points,
                              clean_ok=clean_model is not None)
        for name in ("points", "kinds", "effects", "aucs", "roc"):
            tables.setdefault(name, []).append(_with_seed(found[name], seed))
        log.info("run %s: AUCs %s", run_id(job.model, job.lr, seed),
                 ", ".join(f"{s} {a:.3f}" for s, a in zip(found["aucs"]["score"], found["aucs"]["auc"])))
    table = poisoned_runs_table.drop(columns=["depth", "lr"]).merge(pd.DataFrame(statuses), on="seed", how="left")
    tables["runs"] = [table]
    _write(tables, {"points": points, "runs": runs, "kinds": kinds, "effects": effects, "aucs": aucs, "roc": roc}, job)
