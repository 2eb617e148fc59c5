"""The steps of the Snakemake pipeline, one function per rule, each taking the validated settings.

The scripts in ``scripts/`` are thin Hydra apps that call these; the Snakefile only wires files
to scripts. Each step reads what the step before it wrote and writes its outputs atomically.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pandas as pd
import torch

from .config import Config, run_id, settings_yaml
from .storage import atomic_directory, write_csv, write_text

log = logging.getLogger(__name__)

__all__ = [
    "resolve_device",
    "configure_runtime",
    "step_download",
    "step_prepare",
    "step_train",
    "step_bounds",
    "step_aggregate",
    "step_tightness",
    "step_tightness_table",
    "step_radius_sweep",
    "step_figures",
    "step_report",
]


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when a GPU is visible, the CPU otherwise; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("runtime.device is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(name)


def configure_runtime(settings: Config) -> torch.device:
    torch.set_num_threads(settings.runtime.threads)
    device = resolve_device(settings.runtime.device)
    log.info("device %s, %d torch thread(s)", device, settings.runtime.threads)
    return device


def step_download(settings: Config) -> str:
    from .data import fetch_mnist

    source = fetch_mnist(settings.data.raw_dir, mnist_dir=settings.data.mnist_dir, sources=settings.data.sources)
    log.info("MNIST served by source: %s", source)
    # Remember where the files came from, for the manifest of every prepared set.
    if source != "cache" or not settings.mnist_source_file.is_file():
        write_text(source + "\n", settings.mnist_source_file)
    return source


def step_prepare(settings: Config) -> dict:
    from .data import prepare_datasets

    data = settings.data
    manifest = prepare_datasets(
        data.raw_dir,
        settings.processed_path,
        digits=tuple(data.digits),
        per_class=data.per_class,
        seed=data.seed,
        pool=data.pool,
        scale=data.scale,
        random_points=data.random_points,
        source=settings.mnist_source_file.read_text().strip() if settings.mnist_source_file.is_file() else None,
    )
    log.info("prepared %s in %s", ", ".join(sorted(k for k in manifest.get("datasets", {}))), settings.processed_path)
    return manifest


def step_train(settings: Config) -> str:
    from .data import load_dataset
    from .training import train_network

    device = configure_runtime(settings)
    train_x, train_y = load_dataset(settings.processed_path, "train")
    test_x, test_y = load_dataset(settings.processed_path, "test")
    run = run_id(settings.model.name, settings.optim.lr, settings.seed)
    log.info("run %s: depth %d, width %d, lr %g, seed %d", run, settings.model.depth, settings.model.width,
             settings.optim.lr, settings.seed)
    with atomic_directory(settings.checkpoints_dir()) as checkpoint_dir:
        result = train_network(
            train_x,
            train_y,
            test_x,
            test_y,
            depth=settings.model.depth,
            width=settings.model.width,
            init_std=settings.model.init_std,
            lr=settings.optim.lr,
            momentum=settings.optim.momentum,
            epochs=settings.train.epochs,
            batch_size=settings.train.batch_size,
            checkpoint_epochs=settings.train.checkpoint_epochs(),
            seed=settings.seed,
            checkpoint_dir=checkpoint_dir,
            device=device,
            meta={"model": settings.model.name, "lr": settings.optim.lr, "seed": settings.seed},
        )
    write_csv(result.metrics, settings.metrics_file())
    log.info("run %s finished: %s, checkpoints at epochs %s", run, result.status, result.checkpoint_epochs)
    return result.status


def step_bounds(settings: Config) -> pd.DataFrame:
    from .data import load_dataset
    from .models import load_checkpoint
    from .results import point_table

    device = configure_runtime(settings)
    limit = settings.bounds.points_per_set
    datasets = {}
    for name in settings.bounds.datasets:
        points, _ = load_dataset(settings.processed_path, name)
        datasets[name] = points[:limit].to(device) if limit is not None else points.to(device)
    checkpoints = sorted(settings.checkpoints_dir().glob("epoch_*.pt"))
    if not checkpoints:
        raise FileNotFoundError(f"no checkpoints in {settings.checkpoints_dir()} (the train rule writes them)")
    frames = []
    started = time.perf_counter()
    for index, path in enumerate(checkpoints, start=1):
        model, meta = load_checkpoint(path)
        table = point_table(
            model.to(device),
            datasets,
            settings.bounds.radii(),
            norm=settings.bounds.norm,
            chunk_size=settings.bounds.chunk_size,
            memory_budget_bytes=settings.bounds.memory_budget_bytes,
        )
        table.insert(0, "epoch", int(meta["epoch"]))
        frames.append(table)
        log.info("checkpoint %d/%d (epoch %d) bounded, %.1f s so far", index, len(checkpoints), meta["epoch"],
                 time.perf_counter() - started)
    points = pd.concat(frames, ignore_index=True)
    points.insert(0, "seed", settings.seed)
    points.insert(0, "lr", settings.optim.lr)
    points.insert(0, "depth", settings.model.depth)
    write_csv(points, settings.bounds_file())
    return points


def step_aggregate(settings: Config) -> None:
    from .results import summarise_over_seeds, summarise_points, summarise_runs

    metrics = {}
    summaries = []
    for model, lr, seed in settings.grid_runs():
        points = pd.read_csv(settings.bounds_file(model, lr, seed))
        depth = int(points["depth"].iloc[0])
        metrics[(model, depth, lr, seed)] = pd.read_csv(settings.metrics_file(model, lr, seed))
        summaries.append(summarise_points(points))
    summary = pd.concat(summaries, ignore_index=True).sort_values(
        ["depth", "lr", "seed", "radius", "dataset", "epoch"], ascending=[True, False, True, True, True, True]
    )
    runs = summarise_runs(metrics)
    write_csv(summary, settings.summary_file)
    write_csv(summarise_over_seeds(summary), settings.summary_by_setting_file)
    write_csv(runs, settings.runs_file)
    diverged = runs[runs["status"] == "diverged"]
    for _, row in diverged.iterrows():
        log.warning("run %s diverged at epoch %s", run_id(row["model"], row["lr"], row["seed"]), row["diverged_at_epoch"])
    log.info("aggregated %d runs (%d diverged) into %s", len(runs), len(diverged), settings.summary_file)


def _first_and_last_checkpoints(checkpoint_dir: Path) -> list[Path]:
    """The first and last checkpoints of a run (a diverged run stops early, so its last is earlier)."""
    checkpoints = sorted(checkpoint_dir.glob("epoch_*.pt"))
    if not checkpoints:
        raise FileNotFoundError(f"no checkpoints in {checkpoint_dir} (the train rule writes them)")
    return [checkpoints[0]] if len(checkpoints) == 1 else [checkpoints[0], checkpoints[-1]]


def step_tightness(settings: Config) -> pd.DataFrame:
    """Bound, exact count and sampled count for the first points of each set, first and last epochs."""
    from .bounds import local_region_bound
    from .counting import exact_region_count, sampled_region_count
    from .data import load_dataset
    from .models import load_checkpoint

    configure_runtime(settings)
    tightness, bounds = settings.tightness, settings.bounds
    rows = []
    for checkpoint in _first_and_last_checkpoints(settings.checkpoints_dir()):
        model, meta = load_checkpoint(checkpoint)
        epoch = int(meta["epoch"])
        for dataset in bounds.datasets:
            points = load_dataset(settings.processed_path, dataset)[0][: tightness.points]
            bound = local_region_bound(model, points, bounds.radius, norm=bounds.norm)
            sampled = sampled_region_count(model, points, bounds.radius, tightness.samples, seed=settings.seed,
                                           norm=bounds.norm)
            started = time.perf_counter()
            for index in range(points.shape[0]):
                count = exact_region_count(model, points[index], bounds.radius, norm=bounds.norm,
                                           max_regions=tightness.max_regions)
                rows.append(
                    {
                        "depth": settings.model.depth,
                        "lr": settings.optim.lr,
                        "seed": settings.seed,
                        "epoch": epoch,
                        "dataset": dataset,
                        "point": index,
                        "radius": bounds.radius,
                        "norm": bounds.norm,
                        "scale": settings.data.scale,
                        "unstable": int(bound.unstable[index]),
                        "log2_bound": float(bound.log2_bound[index]),
                        "exact_count": count.count if count.complete else None,
                        "exact_complete": bool(count.complete),
                        "max_regions": tightness.max_regions,
                        "sampled_count": int(sampled[index]),
                    }
                )
            log.info("epoch %d, %s: %d exact counts in %.1f s", epoch, dataset, points.shape[0],
                     time.perf_counter() - started)
    table = pd.DataFrame(rows)
    table["exact_count"] = table["exact_count"].astype("Int64")
    write_csv(table, settings.tightness_part_file(settings.model.name, settings.optim.lr, settings.seed))
    return table


def step_tightness_table(settings: Config) -> None:
    table = pd.concat([pd.read_csv(part) for part in settings.tightness_part_files()], ignore_index=True)
    table["exact_count"] = table["exact_count"].astype("Int64")
    write_csv(table, settings.tightness_file)


def step_radius_sweep(settings: Config) -> pd.DataFrame:
    """Algorithm 1 over ``sweep.radii`` for every run of the grid, at its first and last bound epochs."""
    from .bounds import local_region_bound
    from .data import load_dataset
    from .models import load_checkpoint

    device = configure_runtime(settings)
    limit = settings.bounds.points_per_set
    datasets = {
        name: load_dataset(settings.processed_path, name)[0][:limit].to(device) for name in settings.bounds.datasets
    }
    rows = []
    for model_name, lr, seed in settings.grid_runs():
        for checkpoint in _first_and_last_checkpoints(settings.checkpoints_dir(model_name, lr, seed)):
            model, meta = load_checkpoint(checkpoint)
            epoch = int(meta["epoch"])
            depth = sum(1 for m in model if isinstance(m, torch.nn.ReLU))
            for dataset, points in datasets.items():
                for radius in settings.sweep.radii:
                    unstable = local_region_bound(
                        model.to(device), points, radius, norm=settings.bounds.norm,
                        chunk_size=settings.bounds.chunk_size, memory_budget_bytes=settings.bounds.memory_budget_bytes,
                    ).unstable
                    rows.append(
                        {
                            "depth": depth,
                            "lr": lr,
                            "seed": seed,
                            "epoch": epoch,
                            "dataset": dataset,
                            "radius": radius,
                            "norm": settings.bounds.norm,
                            "n_points": int(unstable.numel()),
                            "mean_log2_bound": float(unstable.double().mean()),
                            "single_region_share": float((unstable == 0).double().mean()),
                        }
                    )
        log.info("radius sweep: run %s done", run_id(model_name, lr, seed))
    table = pd.DataFrame(rows)
    write_csv(table, settings.radius_sweep_file)
    return table


def _figure_stems(settings: Config, depths: list[int]) -> dict[str, Path]:
    stems = {f"figure3_depth{depth}": settings.figure_stem(f"figure3_depth{depth}") for depth in depths}
    stems["boundary_distance"] = settings.figure_stem("boundary_distance")
    if settings.sweep.enabled:
        stems["radius_sweep"] = settings.figure_stem("radius_sweep")
    if settings.tightness.enabled and settings.tightness.scales:
        stems["tightness"] = settings.figure_stem("tightness")
    return stems


def step_figures(settings: Config) -> None:
    from .figures import boundary_distance_figure, figure3, radius_sweep_figure, save_figure, tightness_figure

    by_setting = pd.read_csv(settings.summary_by_setting_file)
    depths = sorted(int(d) for d in by_setting["depth"].unique())
    lrs = tuple(settings.grid.lrs)
    radius = settings.bounds.radius
    stems = _figure_stems(settings, depths)
    for depth in depths:
        save_figure(figure3(by_setting, depth, radius, lrs=lrs), stems[f"figure3_depth{depth}"])
    save_figure(boundary_distance_figure(by_setting, depths, radius, lrs=lrs), stems["boundary_distance"])
    if "radius_sweep" in stems:
        save_figure(radius_sweep_figure(pd.read_csv(settings.radius_sweep_file)), stems["radius_sweep"])
    if "tightness" in stems:
        save_figure(tightness_figure(pd.read_csv(settings.tightness_file)), stems["tightness"])
    log.info("wrote %d figures (png and pdf) into %s", len(stems), settings.figures_path)


def step_report(settings: Config) -> None:
    from .report import build_report

    summary = pd.read_csv(settings.summary_file)
    by_setting = pd.read_csv(settings.summary_by_setting_file)
    tightness = pd.read_csv(settings.tightness_file) if settings.tightness_file.is_file() else None
    sweep = pd.read_csv(settings.radius_sweep_file) if settings.radius_sweep_file.is_file() else None
    depths = sorted(int(d) for d in by_setting["depth"].unique())
    figure_paths = {
        key: os.path.relpath(f"{stem}.png", settings.results_path) for key, stem in _figure_stems(settings, depths).items()
    }
    text = build_report(
        settings_yaml=settings_yaml(settings),
        name=settings.name,
        summary=summary,
        by_setting=by_setting,
        runs=pd.read_csv(settings.runs_file),
        tightness=tightness,
        radius_sweep=sweep,
        primary_radius=settings.bounds.radius,
        figure_paths=figure_paths,
    )
    write_text(text, settings.report_file)
    log.info("wrote %s", settings.report_file)
