"""Every path of the pipeline, named once.

The rules build their input and output patterns from a :class:`Layout` whose experiment name is
the wildcard ``{name}`` (and whose model and learning rate are ``{model}`` and ``{lr}``); the
input functions of ``rules/common.smk`` and the commands of :mod:`.cli` build concrete paths
from the same class. The steps never build a path: they read and write what their rule hands
them (a training job's own files are listed in its ``MANIFEST.json``, which later steps read).
Every key of ``paths`` (``paths.results``, ``paths.figures``, ...) moves its files everywhere at once.

Data flows one way through these folders::

    <raw>/MNIST/raw/                            the four MNIST files, verified
    <processed>/<name>/{train,test,random1,random2}.pt, manifest.json
    <results>/<name>/runs/<model>_lr<lr>/       one training job: metrics.csv, checkpoints/, MANIFEST.json
    <results>/<name>/bounds/<model>_lr<lr>.csv.gz          per point, epoch and radius
    <results>/<name>/{tightness,methods}/<model>_lr<lr>.csv  per ball, on a few points
    <results>/<name>/poisoned/<model>_lr<lr>/   one backdoor training job: as runs/, and backdoor.csv
    <results>/<name>/{search,adversarial,backdoor}/<model>_lr<lr>.points.csv.gz, .<table>.csv  per point, per seed
    <results>/<name>/<table>.csv                the result tables (reporting/products.py); comparison.md; report.md
    <figures>/<name>/<stem>.png, .pdf

An experiment's name may hold one ``/``: ``figure3/unit`` is the 0-1-scale companion of
``figure3`` and ``sensitivity/width16`` a variant of ``sensitivity``; their files live inside
their parent's folders, so no user-chosen name can collide with them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..experiment.specs import MANIFEST_NAME, set_file_name
from ..vocabulary import DATASET_NAMES, MNIST_RAW_FILES, MNIST_RAW_FOLDER, format_lr

__all__ = ["Layout", "SETTING_PATTERN"]

# One training or bound job covers every seed of one (model, learning rate): its files' name.
SETTING_PATTERN = "{model}_lr{lr}"


@dataclass(frozen=True)
class Layout:
    """The paths of one experiment (``name`` may be the wildcard ``"{name}"``), as strings.

    ``paths`` is the ``paths`` settings section (:class:`~localregions.pipeline.settings.PathsConfig`).
    """

    paths: object
    name: str

    def _results(self, *parts: str) -> str:
        return os.path.join(self.paths.results, self.name, *parts)

    @staticmethod
    def setting(model: str, lr) -> str:
        """``mlp2_lr0.02``: the name of one (model, learning rate), i.e. of one training job."""
        return SETTING_PATTERN.format(model=model, lr=lr if isinstance(lr, str) else format_lr(lr))

    # ------------------------------------------------------------------ raw -> processed
    @property
    def mnist_files(self) -> list[str]:
        """The four MNIST files, shared by every experiment (torchvision's layout: ``<raw>/MNIST/raw``)."""
        return [os.path.join(self.paths.raw, MNIST_RAW_FOLDER, file) for file in MNIST_RAW_FILES]

    @property
    def mnist_source(self) -> str:
        """Which source served the MNIST files (written by the download step)."""
        return os.path.join(self.paths.raw, "MNIST", "source.txt")

    def point_set(self, dataset: str) -> str:
        if dataset not in DATASET_NAMES and not dataset.startswith("{"):
            raise ValueError(f"dataset must be one of {list(DATASET_NAMES)}, got {dataset!r}")
        return os.path.join(self.paths.processed, self.name, set_file_name(dataset))

    @property
    def point_sets(self) -> dict[str, str]:
        return {dataset: self.point_set(dataset) for dataset in DATASET_NAMES}

    @property
    def point_sets_manifest(self) -> str:
        return os.path.join(self.paths.processed, self.name, MANIFEST_NAME)

    # ------------------------------------------------------------------ checkpoints: one training job's files
    def runs_dir(self, model: str, lr) -> str:
        return self._results("runs", self.setting(model, lr))

    def checkpoints(self, model: str, lr) -> str:
        """The folder of every checkpoint of the job (the job's ``MANIFEST.json`` lists them)."""
        return os.path.join(self.runs_dir(model, lr), "checkpoints")

    def metrics(self, model: str, lr) -> str:
        """Per seed and epoch: training loss, accuracies and status."""
        return os.path.join(self.runs_dir(model, lr), "metrics.csv")

    def runs_manifest(self, model: str, lr) -> str:
        """Written last by a training job: every file of the job with its size and SHA-256, and each seed's status."""
        return os.path.join(self.runs_dir(model, lr), "MANIFEST.json")

    # ------------------------------------------------------------------ per-point and per-ball tables
    def bounds(self, model: str, lr) -> str:
        return self._results("bounds", f"{self.setting(model, lr)}.csv.gz")

    def study_part(self, study: str, model: str, lr) -> str:
        """One job's rows of a per-ball study (``tightness``, ``methods``) on the networks of one (model, lr)."""
        return self._results(study, f"{self.setting(model, lr)}.csv")

    def methods_timing_part(self, model: str, lr) -> str:
        """Seconds per method: kept out of the methods table, which must be identical run to run."""
        return self._results("methods", f"{self.setting(model, lr)}.timing.csv")

    # ------------------------------------------------------------------ the paper's motivation (issue 24)
    def poisoned_dir(self, model: str, lr) -> str:
        """One backdoor training job: every seed of one (model, lr) trained on its poisoned training set."""
        return self._results("poisoned", self.setting(model, lr))

    def poisoned_checkpoints(self, model: str, lr) -> str:
        return os.path.join(self.poisoned_dir(model, lr), "checkpoints")

    def poisoned_metrics(self, model: str, lr) -> str:
        return os.path.join(self.poisoned_dir(model, lr), "metrics.csv")

    def poisoned_runs(self, model: str, lr) -> str:
        """Per seed: the backdoor's status, the points poisoned, the attack success rate, the clean test accuracy."""
        return os.path.join(self.poisoned_dir(model, lr), "backdoor.csv")

    def poisoned_manifest(self, model: str, lr) -> str:
        """Written last, as a training job's: every file with its SHA-256, and each seed's status."""
        return os.path.join(self.poisoned_dir(model, lr), "MANIFEST.json")

    def motivation_points(self, study: str, model: str, lr) -> str:
        """Per point, of one study (``search``, ``adversarial``, ``backdoor``) on the networks of one (model, lr)."""
        return self._results(study, f"{self.setting(model, lr)}.points.csv.gz")

    def motivation_part(self, study: str, table: str, model: str, lr) -> str:
        """One job's rows of the result table ``<study>_<table>`` (its per-seed rows, for one (model, lr))."""
        return self._results(study, f"{self.setting(model, lr)}.{table}.csv")

    # ------------------------------------------------------------------ results and what reads them
    def table(self, name: str) -> str:
        """A result table (``summary``, ``claims``, ...: reporting/products.py lists them)."""
        return self._results(f"{name}.csv")

    @property
    def methods_timing(self) -> str:
        """The one table that differs from run to run: how long each bound method took."""
        return self._results("methods_timing.csv")

    @property
    def comparison(self) -> str:
        return self._results("comparison.md")

    @property
    def report(self) -> str:
        return self._results("report.md")

    def figure(self, stem: str, ext: str = "png") -> str:
        return os.path.join(self.paths.figures, self.name, f"{stem}.{ext}")

    # ------------------------------------------------------------------ the committed reference
    @property
    def reference_dir(self) -> str:
        return os.path.join(self.paths.reference, self.name)

    def reference_table(self, name: str) -> str:
        return os.path.join(self.paths.reference, self.name, f"{name}.csv")

    @property
    def reference_report(self) -> str:
        return os.path.join(self.paths.reference, self.name, "report.md")

    def reference_figure(self, stem: str) -> str:
        return os.path.join(self.paths.reference, self.name, "figures", f"{stem}.png")

    @property
    def figures_from_report(self) -> str:
        """How the report (in ``<results>/<name>/``) reaches the figures (in ``<figures>/<name>/``)."""
        return os.path.relpath(Path(self.paths.figures) / self.name, Path(self.paths.results) / self.name)

    # ------------------------------------------------------------------ logs and timings
    def log(self, step: str, part: str | None = None) -> str:
        return os.path.join(self.paths.logs, self.name, step, f"{part}.log") if part else \
            os.path.join(self.paths.logs, self.name, f"{step}.log")

    def benchmark(self, step: str, part: str | None = None) -> str:
        return os.path.join(self.paths.benchmarks, self.name, step, f"{part}.tsv") if part else \
            os.path.join(self.paths.benchmarks, self.name, f"{step}.tsv")

    def shared_log(self, step: str) -> str:
        """The log of a step that serves every experiment (the MNIST download)."""
        return os.path.join(self.paths.logs, f"{step}.log")

    def shared_benchmark(self, step: str) -> str:
        return os.path.join(self.paths.benchmarks, f"{step}.tsv")
