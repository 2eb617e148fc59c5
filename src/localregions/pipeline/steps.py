"""The steps of the pipeline, one function per Snakemake rule, each fed only by its job spec.

A step gets a :class:`Job`: the settings it declared (``@step(...)``: whole sections such as
``"train"`` or single keys such as ``"bounds.norm"``), the run it
covers and the input and output paths of its rule. It reads nothing else and writes exactly its
outputs, atomically. What a step declares is what the planner puts into the rule's params, so
Snakemake reruns a step exactly when something it reads changes (a test records what every step
touches and holds it against the declaration).

Heavy imports (torch, pandas, matplotlib, the solvers) happen inside the steps, so that a job
pays only for what it uses.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from types import SimpleNamespace

from ..vocabulary import run_id

__all__ = ["Job", "Step", "STEPS", "step", "run_job", "resolve_device", "ALL_SECTIONS"]

log = logging.getLogger(__name__)

#: The report prints every setting, so it declares them all.
ALL_SECTIONS = ("name", "results_dir", "figures_dir", "variants", "data", "model", "optim", "train", "bounds", "grid",
                "tightness", "sweep", "methods", "reference", "runtime")


@dataclass(frozen=True)
class Step:
    name: str
    reads: tuple[str, ...]
    function: Callable[["Job"], None]


STEPS: dict[str, Step] = {}


def step(*reads: str):
    """Register a step and the settings sections it reads."""

    def register(function):
        STEPS[function.__name__] = Step(function.__name__, tuple(reads), function)
        return function

    return register


def _section_types() -> dict[str, type]:
    from .settings import Config

    defaults = Config()
    return {f.name: type(getattr(defaults, f.name)) for f in fields(Config)}


@dataclass(frozen=True)
class Job:
    """What one job of a step may read and where it writes."""

    step: str
    experiment: str
    scale: str
    settings: SimpleNamespace
    run: dict
    input: dict
    output: dict

    @classmethod
    def from_spec(cls, spec: dict, section=None) -> "Job":
        """The job a spec describes. ``section(name, kind, values)`` builds each section (tests record reads)."""
        types = _section_types()
        build = section or _section
        sections = {}
        for name, value in spec["settings"].items():
            kind = types.get(name)
            if name == "model" and "model" not in spec["run"]:
                sections[name] = {model: build(name, kind, config) for model, config in value.items()}
            else:
                sections[name] = build(name, kind, value)
        return cls(spec["step"], spec["experiment"], spec["scale"], SimpleNamespace(**sections), dict(spec["run"]),
                   dict(spec["input"]), dict(spec["output"]))


class PartialSection:
    """The fields of a settings section that a step declared, and no others (reading another is an error)."""

    def __init__(self, name: str, values: dict):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, field: str):
        values = object.__getattribute__(self, "_values")
        if field in values:
            return values[field]
        name = object.__getattribute__(self, "_name")
        raise AttributeError(f"{name}.{field} is not among the settings this step declared ({name}.{', '.join(values)}); "
                             "declare it in @step(...) so that changing it reruns the step")

    def __setattr__(self, field, value):
        raise AttributeError("settings are read-only")


def _section(name: str, kind, values):
    """A whole section as its dataclass (validated again), a part of one as a :class:`PartialSection`."""
    if kind is None or not hasattr(kind, "__dataclass_fields__"):
        return values
    if set(values) == set(kind.__dataclass_fields__):
        return kind(**values)
    return PartialSection(name, values)


def run_job(spec: dict) -> None:
    """Run the step a spec names (the entry point of every rule)."""
    job = Job.from_spec(spec)
    started = time.perf_counter()
    log.info("%s for %s: %s", job.step, job.experiment, json.dumps(job.run, sort_keys=True) if job.run else "-")
    STEPS[job.step].function(job)
    log.info("%s done in %.1f s", job.step, time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------- helpers


def resolve_device(name: str):
    """``auto`` picks CUDA when a GPU is visible, the CPU otherwise; ``cuda`` without a GPU is an error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("runtime.device is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(name)


def _device(runtime):
    """The job's device, with torch limited to ``runtime.threads`` threads (fixed sums, byte-identical CSVs)."""
    import torch

    torch.set_num_threads(runtime.threads)
    return resolve_device(runtime.device)


def _point_sets(job: Job, limit: int | None, device=None) -> dict:
    """The declared point sets (the first ``limit`` points of each), in ``bounds.datasets`` order."""
    from ..experiment.point_sets import load_point_set

    processed = Path(job.input["manifest"]).parent
    sets = {}
    for name in job.settings.bounds.datasets:
        points, _ = load_point_set(processed, name)
        points = points[:limit] if limit is not None else points
        sets[name] = points.to(device) if device is not None else points
    return sets


def _runs_manifest(runs_dir: str | Path, *, hashes: bool = True) -> dict:
    """The manifest a training job wrote last, with every file it lists checked (sizes and hashes)."""
    from ..experiment.storage import CorruptFileError, verify_manifest

    path = Path(runs_dir) / "MANIFEST.json"
    if not path.is_file():
        raise CorruptFileError(f"{path} is missing: {runs_dir} is not a finished training job; rerun train")
    manifest = json.loads(path.read_text())
    verify_manifest(runs_dir, manifest["files"], hashes=hashes)
    return manifest


def _checkpoints(runs_dir: str | Path, manifest: dict, seed: int) -> list[Path]:
    epochs = manifest["seeds"][str(seed)]["checkpoint_epochs"]
    return [Path(runs_dir) / f"seed{seed}" / "checkpoints" / f"epoch_{epoch:03d}.pt" for epoch in epochs]


def _ends(paths: list[Path]) -> list[Path]:
    """The first and last checkpoints of a run (a diverged run stops early, so its last is earlier)."""
    return paths if len(paths) <= 1 else [paths[0], paths[-1]]


# ---------------------------------------------------------------------------------------------- raw -> processed


@step("data.mnist_dir", "data.sources")
def download_mnist(job: Job) -> None:
    from ..experiment.mnist import fetch_mnist
    from ..experiment.storage import write_text

    data = job.settings.data
    raw_root = Path(job.output["source"]).parent.parent
    source = fetch_mnist(raw_root, mnist_dir=data.mnist_dir, sources=data.sources)
    log.info("MNIST served by source: %s", source)
    # Remember where the files came from, for the manifest of every prepared set.
    if source != "cache" or not Path(job.output["source"]).is_file():
        write_text(source + "\n", job.output["source"])


@step("data.digits", "data.per_class", "data.seed", "data.pool", "data.scale", "data.random_points",
      "data.random_draw")
def prepare_data(job: Job) -> None:
    from ..experiment.point_sets import prepare_point_sets
    from ..experiment.specs import PointSetSpec

    source = Path(job.input["source"]).read_text().strip()
    raw_root = Path(job.input["source"]).parent.parent
    data = job.settings.data
    spec = PointSetSpec(digits=list(data.digits), per_class=data.per_class, seed=data.seed, pool=data.pool,
                        scale=data.scale, random_points=data.random_points, random_draw=data.random_draw)
    manifest = prepare_point_sets(raw_root, Path(job.output["manifest"]).parent, spec, source=source)
    log.info("prepared %s", ", ".join(sorted(manifest["datasets"])))


# ---------------------------------------------------------------------------------------------- processed -> checkpoints


@step("model", "optim.momentum", "train", "runtime")
def train(job: Job) -> None:
    from ..experiment.point_sets import load_point_set
    from ..experiment.storage import atomic_directory, file_manifest, write_csv, write_json
    from ..experiment.training import train_network

    model, optim, settings = job.settings.model, job.settings.optim, job.settings.train
    device = _device(job.settings.runtime)
    processed = Path(job.input["manifest"]).parent
    train_x, train_y = load_point_set(processed, "train")
    test_x, test_y = load_point_set(processed, "test")
    seeds = {}
    with atomic_directory(job.output["runs"]) as directory:
        for seed in job.run["seeds"]:
            run = run_id(job.run["model"], job.run["lr"], seed)
            result = train_network(
                train_x, train_y, test_x, test_y,
                depth=model.depth, width=model.width, init=model.init, init_std=model.init_std,
                lr=job.run["lr"], momentum=optim.momentum, loss=settings.loss,
                epochs=settings.epochs, batch_size=settings.batch_size,
                checkpoint_epochs=settings.checkpoint_epochs(), seed=seed,
                checkpoint_dir=directory / f"seed{seed}" / "checkpoints", device=device,
                meta={"model": model.name, "lr": job.run["lr"], "seed": seed},
            )
            write_csv(result.metrics, directory / f"seed{seed}" / "metrics.csv")
            seeds[str(seed)] = {"status": result.status, "checkpoint_epochs": result.checkpoint_epochs}
            last = result.metrics.iloc[-1]
            log.info("run %s: %s, test accuracy %.3f, checkpoints at epochs %s", run, result.status,
                     last["test_accuracy"], result.checkpoint_epochs)
        files = sorted(p for p in directory.rglob("*") if p.is_file())
        # Written last: a folder without it is not a finished job, and every later step checks it.
        write_json({"model": job.run["model"], "depth": model.depth, "lr": job.run["lr"], "seeds": seeds,
                    "files": file_manifest(directory, files)}, directory / "MANIFEST.json")


# ---------------------------------------------------------------------------------------------- checkpoints -> per point


@step("bounds", "runtime")
def bounds(job: Job) -> None:
    import pandas as pd

    from ..experiment.models import load_checkpoint
    from ..experiment.storage import write_csv
    from ..experiment.tables import point_table

    settings = job.settings.bounds
    device = _device(job.settings.runtime)
    sets = _point_sets(job, settings.points_per_set, device)
    manifest = _runs_manifest(job.input["runs"])
    frames = []
    for seed in job.run["seeds"]:
        for path in _checkpoints(job.input["runs"], manifest, seed):
            model, meta = load_checkpoint(path)
            table = point_table(model.to(device), sets, settings.radii(), norm=settings.norm,
                                chunk_size=settings.chunk_size, memory_budget_bytes=settings.memory_budget_bytes)
            table.insert(0, "epoch", int(meta["epoch"]))
            table.insert(0, "seed", seed)
            frames.append(table)
        log.info("bounded run %s", run_id(job.run["model"], job.run["lr"], seed))
    points = pd.concat(frames, ignore_index=True)
    points.insert(0, "lr", job.run["lr"])
    points.insert(0, "depth", job.run["depth"])
    write_csv(points, job.output["bounds"])


# ---------------------------------------------------------------------------------------------- per point -> summaries


@step()
def aggregate(job: Job) -> None:
    import pandas as pd

    from ..experiment.storage import read_csv, write_csv
    from ..experiment.tables import summarise_over_seeds, summarise_points, summarise_runs

    metrics, summaries = {}, []
    for setting, runs_dir, bounds_file in zip(job.run["grid"], job.input["runs"], job.input["bounds"], strict=True):
        manifest = _runs_manifest(runs_dir, hashes=False)
        for seed in setting["seeds"]:
            metrics[(setting["model"], setting["depth"], setting["lr"], seed)] = read_csv(
                Path(runs_dir) / f"seed{seed}" / "metrics.csv")
            if str(seed) not in manifest["seeds"]:
                raise ValueError(f"{runs_dir} holds no seed {seed}; rerun train")
        summaries.append(summarise_points(read_csv(bounds_file)))
    summary = pd.concat(summaries, ignore_index=True).sort_values(
        ["depth", "lr", "seed", "radius", "dataset", "epoch"], ascending=[True, False, True, True, True, True]
    )
    runs = summarise_runs(metrics)
    trained = runs.loc[runs["status"] == "ok", ["depth", "lr", "seed"]]
    usable = summary.merge(trained, on=["depth", "lr", "seed"], how="inner")
    write_csv(summary, job.output["summary"])
    write_csv(summarise_over_seeds(usable), job.output["summary_by_setting"])
    write_csv(runs, job.output["runs"])
    for row in runs[runs["status"] != "ok"].itertuples(index=False):
        log.warning("run %s %s (left out of the seed statistics)", run_id(row.model, row.lr, row.seed), row.status)
    log.info("aggregated %d runs (%d not ok)", len(runs), int((runs["status"] != "ok").sum()))


@step("bounds.radius", "bounds.norm")
def claims(job: Job) -> None:
    from ..experiment.storage import read_csv, write_csv
    from ..reporting.verdicts import claims_table

    summary, runs = read_csv(job.input["summary"]), read_csv(job.input["runs"])
    write_csv(claims_table(summary, runs, radius=job.settings.bounds.radius, norm=job.settings.bounds.norm),
              job.output["claims"])


@step()
def variant_claims(job: Job) -> None:
    from ..experiment.storage import read_csv, write_csv
    from ..reporting.verdicts import variant_claims_table

    variants = [(variant, " ".join(job.run["overrides"][variant]), read_csv(claims_file), read_csv(runs_file))
                for variant, claims_file, runs_file in zip(job.run["variants"], job.input["claims"], job.input["runs"],
                                                           strict=True)]
    write_csv(variant_claims_table(variants), job.output["variant_claims"])


# ---------------------------------------------------------------------------------------------- per ball: tightness, methods, sweep


@step("bounds.norm", "bounds.datasets", "tightness.points", "tightness.samples", "tightness.max_regions",
      "tightness.radii", "runtime")
def tightness(job: Job) -> None:
    import pandas as pd

    from ..bounds import local_region_bound
    from ..counting import exact_region_count, sampled_region_count
    from ..experiment.models import load_checkpoint
    from ..experiment.storage import write_csv
    from ..experiment.tables import tightness_rows

    settings, bounds_settings = job.settings.tightness, job.settings.bounds
    _device(job.settings.runtime)
    sets = _point_sets(job, settings.points)
    seed = job.run["seeds"][0]
    manifest = _runs_manifest(job.input["runs"])
    rows = []
    for path in _ends(_checkpoints(job.input["runs"], manifest, seed)):
        model, meta = load_checkpoint(path)
        for radius in settings.radii[job.scale]:
            for dataset, points in sets.items():
                started = time.perf_counter()
                bound = local_region_bound(model, points, radius, norm=bounds_settings.norm)
                sampled = sampled_region_count(model, points, radius, settings.samples, seed=seed, norm=bounds_settings.norm)
                counts = [exact_region_count(model, points[i], radius, norm=bounds_settings.norm,
                                             max_regions=settings.max_regions) for i in range(points.shape[0])]
                key = {"scale": job.scale, "depth": job.run["depth"], "lr": job.run["lr"], "seed": seed,
                       "epoch": int(meta["epoch"]), "dataset": dataset}
                rows += tightness_rows(bound=bound, counts=counts, sampled=sampled, key=key, radius=radius,
                                       norm=bounds_settings.norm, max_regions=settings.max_regions)
                log.info("epoch %d, r = %g, %s: %d exact counts (%d complete) in %.1f s", meta["epoch"], radius, dataset,
                         len(counts), sum(c.complete for c in counts), time.perf_counter() - started)
    table = pd.DataFrame(rows)
    table["exact_count"] = table["exact_count"].astype("Int64")
    write_csv(table, job.output["part"])


@step()
def tightness_table(job: Job) -> None:
    import pandas as pd

    from ..experiment.storage import read_csv, write_csv

    table = pd.concat([read_csv(part) for part in job.input["parts"]], ignore_index=True)
    table["exact_count"] = table["exact_count"].astype("Int64")
    write_csv(table, job.output["table"])


@step("bounds.norm", "bounds.datasets", "methods.methods", "methods.points", "methods.lp_points", "methods.radii",
      "methods.complexity_directions", "runtime")
def methods(job: Job) -> None:
    import pandas as pd

    from ..experiment.methods import compare_methods
    from ..experiment.models import load_checkpoint
    from ..experiment.storage import write_csv

    settings = job.settings.methods
    _device(job.settings.runtime)
    sets = _point_sets(job, settings.points)
    seed = job.run["seeds"][0]
    manifest = _runs_manifest(job.input["runs"])
    rows, timings = [], []
    for path in _ends(_checkpoints(job.input["runs"], manifest, seed)):
        model, meta = load_checkpoint(path)
        key = {"scale": job.scale, "depth": job.run["depth"], "lr": job.run["lr"], "seed": seed, "epoch": int(meta["epoch"])}
        for radius in settings.radii[job.scale]:
            table, timing = compare_methods(model, sets, radius, norm=job.settings.bounds.norm, methods=settings.methods,
                                            lp_points=settings.lp_points, seed=seed,
                                            complexity_directions=settings.complexity_directions)
            rows.append(table.assign(**key))
            timings.append(timing.assign(**key))
        log.info("epoch %d: methods %s compared", meta["epoch"], ", ".join(settings.methods))
    order = ["scale", "depth", "lr", "seed", "epoch"]
    table = pd.concat(rows, ignore_index=True)
    timing = pd.concat(timings, ignore_index=True)
    write_csv(table[order + [c for c in table.columns if c not in order]], job.output["part"])
    write_csv(timing[order + [c for c in timing.columns if c not in order]], job.output["timing"])


@step()
def methods_table(job: Job) -> None:
    import pandas as pd

    from ..experiment.storage import read_csv, write_csv

    write_csv(pd.concat([read_csv(part) for part in job.input["parts"]], ignore_index=True), job.output["table"])
    write_csv(pd.concat([read_csv(part) for part in job.input["timings"]], ignore_index=True), job.output["timing"])


@step("bounds.norm", "bounds.datasets", "bounds.points_per_set", "bounds.chunk_size", "bounds.memory_budget_mb",
      "sweep.radii", "runtime")
def radius_sweep(job: Job) -> None:
    """Algorithm 1 over ``sweep.radii`` for every run of the grid, at its first and last bound epochs."""
    import pandas as pd

    from ..bounds import local_region_bound
    from ..experiment.models import load_checkpoint
    from ..experiment.storage import write_csv
    from ..experiment.tables import sweep_rows

    settings = job.settings.bounds
    device = _device(job.settings.runtime)
    sets = _point_sets(job, settings.points_per_set, device)
    rows = []
    for setting, runs_dir in zip(job.run["grid"], job.input["runs"], strict=True):
        manifest = _runs_manifest(runs_dir)
        for seed in setting["seeds"]:
            for path in _ends(_checkpoints(runs_dir, manifest, seed)):
                model, meta = load_checkpoint(path)
                model = model.to(device)
                key = {"depth": setting["depth"], "lr": setting["lr"], "seed": seed, "epoch": int(meta["epoch"])}
                for dataset, points in sets.items():
                    for radius in job.settings.sweep.radii:
                        unstable = local_region_bound(model, points, radius, norm=settings.norm, chunk_size=settings.chunk_size,
                                                      memory_budget_bytes=settings.memory_budget_mb * 2**20).unstable
                        rows.append(sweep_rows(key={**key, "dataset": dataset}, unstable=unstable, radius=radius,
                                               norm=settings.norm))
        log.info("radius sweep: %s_lr%s done", setting["model"], setting["lr"])
    write_csv(pd.DataFrame(rows), job.output["table"])


# ---------------------------------------------------------------------------------------------- summaries -> figures, comparison, report


@step("bounds.radius", "bounds.norm")
def figures(job: Job) -> None:
    from ..reporting.figures import draw_figures

    draw_figures(job.input, job.output, radius=job.settings.bounds.radius, norm=job.settings.bounds.norm)


@step("reference.rtol", "reference.atol")
def compare(job: Job) -> None:
    from ..reporting.comparison import compare_with_reference

    outcome = compare_with_reference(job.run["tables"], job.run["figures"], experiment=job.experiment,
                                     rtol=job.settings.reference.rtol, atol=job.settings.reference.atol,
                                     output=job.output["comparison"])
    # The line the end of a run shows (the Snakefile's onsuccess prints it too).
    log.info("%s", outcome.headline)


@step(*ALL_SECTIONS)
def report(job: Job) -> None:
    from ..reporting.markdown import write_report

    write_report(job)
