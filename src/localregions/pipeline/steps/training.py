"""processed -> checkpoints: one training job trains every seed of one (model, learning rate)."""

from __future__ import annotations

import logging
from pathlib import Path

from ...vocabulary import run_id
from ..settings import GridJob, ModelConfig, RuntimeConfig, TrainConfig

__all__ = ["train"]

log = logging.getLogger(__name__)


def train(*, point_sets: str, checkpoints: str, metrics: str, manifest: str, job: GridJob, model: ModelConfig,
          momentum: float, train: TrainConfig, runtime: RuntimeConfig) -> None:
    """Train ``job``'s seeds on the ``train`` set of ``point_sets`` (a manifest); write the job's three files.

    ``checkpoints`` (a folder: one sub-folder per seed), ``metrics`` (one row per seed and
    epoch) and, last, ``manifest`` (:func:`~localregions.experiment.run_files.write_job_manifest`).
    """
    import pandas as pd

    from ...experiment.point_sets import load_point_set
    from ...experiment.run_files import seed_folder, write_job_manifest
    from ...experiment.storage import atomic_directory, write_csv
    from ...experiment.training import CHECKPOINT_FILE, train_network
    from ..runtime import torch_device

    device = torch_device(runtime)
    folder = Path(point_sets).parent
    train_x, train_y = load_point_set(folder, "train")
    test_x, test_y = load_point_set(folder, "test")
    frames, seeds = [], {}
    with atomic_directory(checkpoints) as staging:
        for seed in job.seeds:
            result = train_network(
                train_x, train_y, test_x, test_y,
                architecture=model.architecture, depth=model.depth, width=model.width, channels=tuple(model.channels),
                init=model.init, init_std=model.init_std,
                lr=job.lr, momentum=momentum, loss=train.loss,
                epochs=train.epochs, batch_size=train.batch_size,
                checkpoint_epochs=train.checkpoint_epochs(), seed=seed,
                checkpoint_dir=seed_folder(staging, seed), device=device,
                meta={"model": model.name, "lr": job.lr, "seed": seed},
            )
            frames.append(result.metrics.assign(seed=seed))
            saved = {epoch: seed_folder(checkpoints, seed) / CHECKPOINT_FILE.format(epoch=epoch)
                     for epoch in result.checkpoint_epochs}
            seeds[seed] = (result.status, saved)
            log.info("run %s: %s, test accuracy %.3f, checkpoints at epochs %s", run_id(job.model, job.lr, seed),
                     result.status, result.metrics.iloc[-1]["test_accuracy"], result.checkpoint_epochs)
    table = pd.concat(frames, ignore_index=True)
    write_csv(table[["seed"] + [c for c in table.columns if c != "seed"]], metrics)
    # Written last: later steps read the job through it, and check every file it lists.
    write_job_manifest(manifest, model=job.model, depth=job.depth, lr=job.lr, metrics=metrics, seeds=seeds)
