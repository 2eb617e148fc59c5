"""The files of one training job (every seed of one model and learning rate) and the manifest that lists them.

A job writes three outputs, which its rule declares: a folder of checkpoints (one sub-folder per
seed, one file per checkpoint epoch), ``metrics.csv`` (one row per seed and epoch) and, last,
``MANIFEST.json``: every seed's status and checkpoint epochs, the path of each of its checkpoints,
and the size and SHA-256 of every file. Later steps read the job through :class:`TrainingJob`,
which takes the paths from the manifest (they are named only where the job writes them) and
checks every file against it, so a truncated or changed checkpoint stops the step, naming the
file, instead of loading as a wrong number.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .storage import CorruptFileError, file_manifest, verify_manifest, write_json

__all__ = ["seed_folder", "write_job_manifest", "TrainingJob", "SeedRun", "MANIFEST_VERSION"]

#: Bumped when the manifest's layout changes (a reader refuses another version, naming the file).
MANIFEST_VERSION = 2


def seed_folder(checkpoints: str | Path, seed: int) -> Path:
    """Where one seed's checkpoints go inside the job's checkpoint folder."""
    return Path(checkpoints) / f"seed{int(seed)}"


def write_job_manifest(manifest: str | Path, *, model: str, depth: int, lr: float, metrics: str | Path,
                       seeds: dict[int, tuple[str, dict[int, Path]]]) -> dict:
    """Write the job's ``MANIFEST.json`` last: ``seeds`` maps seed -> (status, {epoch: checkpoint path}).

    Paths are stored relative to the manifest's folder; ``files`` lists the metrics and every
    checkpoint with size and SHA-256.
    """
    root = Path(manifest).parent
    checkpoint_files = [Path(path) for _, paths in seeds.values() for path in paths.values()]
    record = {
        "version": MANIFEST_VERSION,
        "model": model,
        "depth": int(depth),
        "lr": float(lr),
        "metrics": Path(os.path.relpath(metrics, root)).as_posix(),
        "seeds": {str(seed): {"status": status, "checkpoint_epochs": sorted(paths),
                              "checkpoints": {str(epoch): Path(os.path.relpath(path, root)).as_posix()
                                              for epoch, path in sorted(paths.items())}}
                  for seed, (status, paths) in sorted(seeds.items())},
        "files": file_manifest(root, [Path(metrics), *checkpoint_files]),
    }
    write_json(record, manifest)
    return record


@dataclass(frozen=True)
class SeedRun:
    """One seed's run in a finished job: how it ended and its checkpoints by epoch."""

    seed: int
    status: str
    checkpoints: dict[int, Path]

    def checkpoint_paths(self, *, ends: bool = False) -> list[Path]:
        """Its checkpoints in epoch order; with ``ends``, the first and the last only (a diverged run stops early)."""
        paths = [self.checkpoints[epoch] for epoch in sorted(self.checkpoints)]
        return paths if not ends or len(paths) <= 1 else [paths[0], paths[-1]]


@dataclass(frozen=True)
class TrainingJob:
    """A finished training job, read from its ``MANIFEST.json`` with every file it lists checked."""

    manifest: Path
    model: str
    depth: int
    lr: float
    metrics: Path
    runs: dict[int, SeedRun]

    @classmethod
    def read(cls, manifest: str | Path, *, hashes: bool = True) -> "TrainingJob":
        """Read and verify a job (``hashes=False`` checks sizes only).

        Raises :class:`~localregions.experiment.storage.CorruptFileError` naming the file when the
        manifest is missing or unreadable, or a file it lists is missing, truncated or changed.
        """
        manifest = Path(manifest)
        if not manifest.is_file():
            raise CorruptFileError(f"{manifest} is missing: the training job did not finish; rerun train")
        try:
            record = json.loads(manifest.read_text())
            if record.get("version") != MANIFEST_VERSION:
                raise ValueError(f"manifest version {record.get('version')!r}, this localregions reads {MANIFEST_VERSION}")
            root = manifest.parent
            runs = {int(seed): SeedRun(int(seed), entry["status"],
                                       {int(epoch): root / path for epoch, path in entry["checkpoints"].items()})
                    for seed, entry in record["seeds"].items()}
            job = cls(manifest, record["model"], int(record["depth"]), float(record["lr"]), root / record["metrics"], runs)
            files = record["files"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptFileError(f"{manifest} is corrupt or not a training job's manifest ({exc}); rerun train") from exc
        try:
            verify_manifest(manifest.parent, files, hashes=hashes)
        except CorruptFileError as exc:
            # Snakemake does not look inside a finished job, nor rebuild an intermediate file whose products
            # exist: the job is retrained only when asked for by name.
            raise CorruptFileError(f"{exc}; retrain the job: rerun snakemake with --forcerun {manifest}") from None
        return job

    def seed_runs(self, seeds) -> list[SeedRun]:
        """The runs of ``seeds``, in that order; a seed the job does not hold is an error naming the manifest."""
        missing = [seed for seed in seeds if int(seed) not in self.runs]
        if missing:
            raise CorruptFileError(f"{self.manifest} holds no seed {missing[0]} (it has {sorted(self.runs)}); rerun train")
        return [self.runs[int(seed)] for seed in seeds]

    def checkpoints(self, seeds, *, ends: bool = False) -> Iterator[tuple[int, Path]]:
        """(seed, checkpoint path) for every checkpoint of ``seeds`` (``ends``: first and last of each)."""
        for run in self.seed_runs(seeds):
            for path in run.checkpoint_paths(ends=ends):
                yield run.seed, path

    def networks(self, seeds, *, ends: bool = False, device=None):
        """(seed, epoch, network) for every checkpoint of ``seeds``, loaded on ``device``: the loop of every
        step that measures checkpoints."""
        from .models import load_checkpoint

        for seed, path in self.checkpoints(seeds, ends=ends):
            model, meta = load_checkpoint(path)
            yield seed, int(meta["epoch"]), model.to(device) if device is not None else model
