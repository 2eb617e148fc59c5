"""checkpoints -> per-point and per-ball tables: the bound, and the studies beside it.

Every step here walks the checkpoints of training jobs through
:meth:`~localregions.experiment.run_files.TrainingJob.networks` (which checks each file against
the job's manifest) and measures balls around the points of the sets.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ...vocabulary import run_id
from ..settings import BoundsConfig, GridJob, RuntimeConfig

__all__ = ["bounds", "tightness", "methods", "radius_sweep", "point_sets_of"]

log = logging.getLogger(__name__)


def point_sets_of(manifest: str, datasets, limit: int | None = None, device=None) -> dict:
    """The sets ``datasets`` of a prepared folder (given by its manifest), the first ``limit`` points of each."""
    from ...experiment.point_sets import load_point_set

    sets = {}
    for name in datasets:
        points, _ = load_point_set(Path(manifest).parent, name)
        points = points[:limit] if limit is not None else points
        sets[name] = points.to(device) if device is not None else points
    return sets


def bounds(*, runs: str, point_sets: str, output: str, job: GridJob, bounds: BoundsConfig,
           runtime: RuntimeConfig) -> None:
    """Algorithm 1 at ``bounds.radii()`` around every point, for every checkpoint of the training job ``runs``."""
    import pandas as pd

    from ...experiment.run_files import TrainingJob
    from ...experiment.storage import write_csv
    from ...experiment.tables import point_table
    from ..runtime import torch_device

    device = torch_device(runtime)
    sets = point_sets_of(point_sets, bounds.datasets, bounds.points_per_set, device)
    frames = []
    for seed, epoch, model in TrainingJob.read(runs).networks(job.seeds, device=device):
        table = point_table(model, sets, bounds.radii(), norm=bounds.norm, chunk_size=bounds.chunk_size,
                            memory_budget_bytes=bounds.memory_budget_bytes)
        table.insert(0, "epoch", epoch)
        table.insert(0, "seed", seed)
        frames.append(table)
        log.debug("bounded run %s at epoch %d", run_id(job.model, job.lr, seed), epoch)
    points = pd.concat(frames, ignore_index=True)
    points.insert(0, "lr", job.lr)
    points.insert(0, "depth", job.depth)
    write_csv(points, output)


def tightness(*, runs: str, point_sets: str, output: str, job: GridJob, scale: str, norm: str, datasets: list[str],
              points: int, samples: int, max_regions: int, radii: list[float], runtime: RuntimeConfig) -> None:
    """Exact and sampled region counts beside the bound at ``radii`` (those of the networks' input ``scale``), on the
    first ``points`` points of each set, the first seed's first and last checkpoints."""
    import pandas as pd

    from ...bounds import local_region_bound
    from ...counting import exact_region_count, sampled_region_count
    from ...experiment.run_files import TrainingJob
    from ...experiment.storage import write_csv
    from ...experiment.tables import tightness_rows
    from ..runtime import torch_device

    torch_device(runtime)
    sets = point_sets_of(point_sets, datasets, points)
    seed = job.seeds[0]
    rows = []
    for _, epoch, model in TrainingJob.read(runs).networks([seed], ends=True):
        for radius in radii:
            for dataset, balls in sets.items():
                started = time.perf_counter()
                bound = local_region_bound(model, balls, radius, norm=norm)
                sampled = sampled_region_count(model, balls, radius, samples, seed=seed, norm=norm)
                counts = [exact_region_count(model, balls[i], radius, norm=norm, max_regions=max_regions)
                          for i in range(balls.shape[0])]
                key = {"scale": scale, "depth": job.depth, "lr": job.lr, "seed": seed, "epoch": epoch, "dataset": dataset}
                rows += tightness_rows(bound=bound, counts=counts, sampled=sampled, key=key, radius=radius, norm=norm,
                                       max_regions=max_regions)
                log.info("%s epoch %d, r = %g, %s: %d exact counts (%d complete) in %.1f s",
                         run_id(job.model, job.lr, seed), epoch, radius, dataset, len(counts),
                         sum(c.complete for c in counts), time.perf_counter() - started)
    table = pd.DataFrame(rows)
    table["exact_count"] = table["exact_count"].astype("Int64")
    write_csv(table, output)


def methods(*, runs: str, point_sets: str, output: str, timing: str, job: GridJob, scale: str, norm: str,
            datasets: list[str], methods: list[str], points: int, lp_points: int, radii: list[float],
            complexity_directions: int | None, runtime: RuntimeConfig) -> None:
    """Algorithm 1 beside IBP, CROWN, LP and the local complexity (``methods``) on the same balls (the first seed's
    first and last checkpoints, at the ``radii`` of the input ``scale``); the seconds each took go to ``timing``,
    apart from the table, which must be the same run to run."""
    import pandas as pd

    from ...experiment.methods import compare_methods
    from ...experiment.run_files import TrainingJob
    from ...experiment.storage import write_csv
    from ..runtime import torch_device

    torch_device(runtime)
    sets = point_sets_of(point_sets, datasets, points)
    seed = job.seeds[0]
    rows, timings = [], []
    for _, epoch, model in TrainingJob.read(runs).networks([seed], ends=True):
        key = {"scale": scale, "depth": job.depth, "lr": job.lr, "seed": seed, "epoch": epoch}
        for radius in radii:
            table, seconds = compare_methods(model, sets, radius, norm=norm, methods=methods, lp_points=lp_points,
                                             seed=seed, complexity_directions=complexity_directions)
            rows.append(table.assign(**key))
            timings.append(seconds.assign(**key))
        log.info("%s epoch %d: methods %s compared", run_id(job.model, job.lr, seed), epoch, ", ".join(methods))
    order = list(key)
    for frames, path in ((rows, output), (timings, timing)):
        table = pd.concat(frames, ignore_index=True)
        write_csv(table[order + [c for c in table.columns if c not in order]], path)


def radius_sweep(*, runs: list[str], point_sets: str, output: str, jobs: list[GridJob], norm: str, datasets: list[str],
                 points_per_set: int | None, chunk_size: int | None, memory_budget_bytes: int, radii: list[float],
                 runtime: RuntimeConfig) -> None:
    """Algorithm 1 over ``radii`` for every run of the grid (``runs``: one manifest per job of ``jobs``), at its
    first and last bound epochs; the other arguments are those of ``bounds`` but its radii."""
    import pandas as pd

    from ...bounds import local_region_bound
    from ...experiment.run_files import TrainingJob
    from ...experiment.storage import write_csv
    from ...experiment.tables import sweep_rows
    from ..runtime import torch_device

    device = torch_device(runtime)
    sets = point_sets_of(point_sets, datasets, points_per_set, device)
    rows = []
    for job, manifest in zip(jobs, runs, strict=True):
        for seed, epoch, model in TrainingJob.read(manifest).networks(job.seeds, ends=True, device=device):
            key = {"depth": job.depth, "lr": job.lr, "seed": seed, "epoch": epoch}
            for dataset, points in sets.items():
                for radius in radii:
                    unstable = local_region_bound(model, points, radius, norm=norm, chunk_size=chunk_size,
                                                  memory_budget_bytes=memory_budget_bytes).unstable
                    rows.append(sweep_rows(key={**key, "dataset": dataset}, unstable=unstable, radius=radius, norm=norm))
        log.info("radius sweep: %s_lr%s done", job.model, job.lr)
    write_csv(pd.DataFrame(rows), output)
