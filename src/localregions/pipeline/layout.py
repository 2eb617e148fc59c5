"""Every file of the pipeline, named once.

The Snakefile builds its rules' input and output patterns from a :class:`Layout` whose
experiment name is the wildcard ``{name}`` (and whose model and learning rate are ``{model}`` and
``{lr}``); the planner builds concrete paths from the same class for each experiment. The steps
never build a path: they write where their rule tells them. So a path exists in one place only,
and every key that moves files (``results_dir``, ``figures_dir``, ``data.processed_dir``,
``data.raw_dir``, ``reference.dir``) moves it everywhere at once.

Data flows one way through these folders::

    <raw>/MNIST/raw/                            the four MNIST files, verified
    <processed>/<name>/{train,test,random1,random2}.pt, manifest.json
    <results>/<name>/runs/<model>_lr<lr>/       one training job: seed<s>/metrics.csv,
                                                seed<s>/checkpoints/epoch_XXX.pt, MANIFEST.json
    <results>/<name>/bounds/<model>_lr<lr>.csv.gz          per point, epoch and radius
    <results>/<name>/{tightness,methods}/<model>_lr<lr>.csv  per ball, on a few points
    <results>/<name>/*.csv                      summaries; claims.csv; comparison.md; report.md
    <figures>/<name>/*.png, *.pdf

An experiment's name may hold one ``/``: ``figure3/unit`` is the 0-1-scale companion of
``figure3`` and ``sensitivity/width16`` a variant of ``sensitivity``; their files live inside
their parent's folders, so no user-chosen name can collide with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..vocabulary import DATASET_NAMES, format_lr

__all__ = ["Roots", "Layout", "SETTING_PATTERN"]

# One training or bound job covers every seed of one (model, learning rate): its folder's name.
SETTING_PATTERN = "{model}_lr{lr}"


@dataclass(frozen=True)
class Roots:
    """The top folders, from the settings keys that move files."""

    results: str = "results"
    figures: str = "figures"
    processed: str = "data/processed"
    raw: str = "data/raw"
    reference: str = "reference"
    logs: str = "logs"
    benchmarks: str = "benchmarks"

    @classmethod
    def of(cls, settings) -> "Roots":
        return cls(
            results=settings.results_dir,
            figures=settings.figures_dir,
            processed=settings.data.processed_dir,
            raw=settings.data.raw_dir,
            reference=settings.reference.dir,
        )


@dataclass(frozen=True)
class Layout:
    """The paths of one experiment (``name`` may be the wildcard ``"{name}"``)."""

    roots: Roots
    name: str

    # ------------------------------------------------------------------ raw -> processed
    @property
    def mnist_dir(self) -> Path:
        """Shared by every experiment (torchvision's layout: ``<raw>/MNIST/raw``)."""
        return Path(self.roots.raw) / "MNIST" / "raw"

    def mnist_file(self, file: str) -> Path:
        return self.mnist_dir / file

    @property
    def mnist_source(self) -> Path:
        """Which source served the MNIST files (written by the download step)."""
        return Path(self.roots.raw) / "MNIST" / "source.txt"

    @property
    def processed(self) -> Path:
        return Path(self.roots.processed) / self.name

    def point_set(self, dataset: str) -> Path:
        if dataset not in DATASET_NAMES and not dataset.startswith("{"):
            raise ValueError(f"dataset must be one of {list(DATASET_NAMES)}, got {dataset!r}")
        return self.processed / f"{dataset}.pt"

    @property
    def manifest(self) -> Path:
        return self.processed / "manifest.json"

    # ------------------------------------------------------------------ checkpoints
    @property
    def results(self) -> Path:
        return Path(self.roots.results) / self.name

    @staticmethod
    def setting(model: str, lr) -> str:
        """``mlp2_lr0.02``: the name of one (model, learning rate), i.e. of one training job."""
        return SETTING_PATTERN.format(model=model, lr=lr if isinstance(lr, str) else format_lr(lr))

    def runs_dir(self, model: str, lr) -> Path:
        """The training job's output folder: every seed of one (model, lr)."""
        return self.results / "runs" / self.setting(model, lr)

    def run_dir(self, model: str, lr, seed: int) -> Path:
        return self.runs_dir(model, lr) / f"seed{int(seed)}"

    def metrics(self, model: str, lr, seed: int) -> Path:
        return self.run_dir(model, lr, seed) / "metrics.csv"

    def checkpoint(self, model: str, lr, seed: int, epoch: int) -> Path:
        return self.run_dir(model, lr, seed) / "checkpoints" / f"epoch_{int(epoch):03d}.pt"

    def runs_manifest(self, model: str, lr) -> Path:
        """Written last by a training job: every file of the job with its size and SHA-256."""
        return self.runs_dir(model, lr) / "MANIFEST.json"

    # ------------------------------------------------------------------ per-point and per-ball tables
    def bounds(self, model: str, lr) -> Path:
        return self.results / "bounds" / f"{self.setting(model, lr)}.csv.gz"

    def tightness_part(self, model: str, lr) -> Path:
        return self.results / "tightness" / f"{self.setting(model, lr)}.csv"

    def methods_part(self, model: str, lr) -> Path:
        return self.results / "methods" / f"{self.setting(model, lr)}.csv"

    def methods_timing_part(self, model: str, lr) -> Path:
        """Seconds per method: kept out of the methods table, which must be identical run to run."""
        return self.results / "methods" / f"{self.setting(model, lr)}.timing.csv"

    # ------------------------------------------------------------------ summaries and what reads them
    @property
    def summary(self) -> Path:
        return self.results / "summary.csv"

    @property
    def summary_by_setting(self) -> Path:
        return self.results / "summary_by_setting.csv"

    @property
    def runs(self) -> Path:
        return self.results / "runs.csv"

    @property
    def claims(self) -> Path:
        return self.results / "claims.csv"

    @property
    def tightness(self) -> Path:
        return self.results / "tightness.csv"

    @property
    def radius_sweep(self) -> Path:
        return self.results / "radius_sweep.csv"

    @property
    def methods(self) -> Path:
        return self.results / "methods.csv"

    @property
    def methods_timing(self) -> Path:
        """The one table that differs from run to run: how long each bound method took."""
        return self.results / "methods_timing.csv"

    @property
    def variant_claims(self) -> Path:
        """The claims of every variant of a study (e.g. ``sensitivity``), one table."""
        return self.results / "variant_claims.csv"

    @property
    def comparison(self) -> Path:
        return self.results / "comparison.md"

    @property
    def report(self) -> Path:
        return self.results / "report.md"

    @property
    def figures(self) -> Path:
        return Path(self.roots.figures) / self.name

    def figure(self, stem: str, ext: str = "png") -> Path:
        return self.figures / f"{stem}.{ext}"

    # ------------------------------------------------------------------ the committed reference
    @property
    def reference(self) -> Path:
        return Path(self.roots.reference) / self.name

    def reference_table(self, table: Path) -> Path:
        """Where the reference keeps the counterpart of one of this experiment's result tables."""
        return self.reference / Path(table).relative_to(self.results)

    def reference_figure(self, figure: Path) -> Path:
        return self.reference / "figures" / Path(figure).relative_to(self.figures)

    # ------------------------------------------------------------------ logs and timings
    def log(self, step: str, part: str | None = None) -> Path:
        base = Path(self.roots.logs) / self.name
        return base / step / f"{part}.log" if part else base / f"{step}.log"

    def shared_log(self, step: str) -> Path:
        """The log of a step that serves every experiment (the MNIST download)."""
        return Path(self.roots.logs) / f"{step}.log"

    def shared_benchmark(self, step: str) -> Path:
        return Path(self.roots.benchmarks) / f"{step}.tsv"

    def benchmark(self, step: str, part: str | None = None) -> Path:
        base = Path(self.roots.benchmarks) / self.name
        return base / step / f"{part}.tsv" if part else base / f"{step}.tsv"
