"""What to run: the experiments composed from the user's overrides.

The Snakefile asks :func:`plan_experiments` once, at parse time, and gets a :class:`Plan`: the
experiment asked for, the companions it needs (networks trained at another input scale for the
tightness and methods studies) and its variants (a study such as ``sensitivity`` lists them),
each a full Hydra composition. An :class:`Experiment` says what it is (its typed settings, its
grid of training jobs, which studies it runs, which products it makes); which files a rule reads
and writes is said by the rule itself (``rules/*.smk``), with paths from :mod:`.layout`.

Like ``settings.py`` this module imports no torch, so planning the workflow stays fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..reporting.products import FIGURES, MOTIVATION_STUDIES, RESULT_TABLES, FigureSpec
from ..vocabulary import format_lr
from .compose import SettingsError, compose_settings
from .layout import Layout
from .settings import Config, GridJob, ModelConfig

__all__ = ["SettingsError", "Experiment", "Plan", "plan_experiments", "GRID_KEYS"]

# Keys that name one run's model, learning rate or seed: an experiment sets them per run from its grid.
GRID_KEYS = {
    "optim.lr": "grid.lrs",
    "seed": "grid.seeds",
    "model": "grid.models",
}
# Keys a variant or companion may not change: they place files or define what the study is.
_SHARED_KEYS = ("name", "paths", "variants")


def _override_key(override: str) -> str:
    key = override.split("=", 1)[0].strip()
    return key.lstrip("+~")


def _check_overrides(overrides: list[str]) -> None:
    for override in overrides:
        if "=" not in override and not override.startswith("~"):
            raise SettingsError(f"override {override!r} must have the form key=value (e.g. bounds.radius=0.2)")
        key = _override_key(override)
        if key in GRID_KEYS:
            grid = GRID_KEYS[key]
            value = override.split("=", 1)[1]
            raise SettingsError(
                f"{key} is set per run by {grid}: every run of an experiment takes its {key.split('.')[-1]} from "
                f"the grid. Use {grid}=[{value}] instead of {override}."
            )


@dataclass
class Experiment:
    """One composed experiment: its id, overrides, settings, per-model settings and role."""

    id: str
    overrides: list[str]
    settings: Config
    models: dict[str, ModelConfig]
    role: str = "main"  # "main", "companion" or "variant"
    companions: dict[str, "Experiment"] = field(default_factory=dict)
    variants: list["Experiment"] = field(default_factory=list)
    # The experiment whose point sets it reads: itself, or its parent when a variant leaves the data settings alone.
    data_id: str = ""
    # The experiment whose trained networks the motivation's studies measure (motivation.networks); None: its own.
    networks: "Experiment | None" = None

    def __post_init__(self) -> None:
        self.data_id = self.data_id or self.id

    @property
    def layout(self) -> Layout:
        return Layout(self.settings.paths, self.id)

    @property
    def scale(self) -> str:
        return self.settings.data.scale

    @property
    def measured(self) -> "Experiment":
        """The experiment whose grid of trained networks this one's motivation studies measure."""
        return self.networks or self

    @property
    def variant_name(self) -> str:
        """A variant's own name (``width16`` of ``sensitivity/width16``)."""
        return self.id.split("/", 1)[1]

    # ------------------------------------------------------------------ the grid
    def grid_jobs(self) -> list[GridJob]:
        """One training job (and one bound job) per (model, lr), each covering every seed of the grid."""
        grid = self.settings.grid
        return [GridJob(model, self.models[model].depth, float(lr), tuple(grid.seeds))
                for model in grid.models for lr in grid.lrs]

    def grid_job(self, model: str, lr: str) -> GridJob:
        """The job of one (model, lr) named by the wildcards of a rule (``lr`` as in the folder name)."""
        for job in self.grid_jobs():
            if job.model == model and format_lr(job.lr) == lr:
                return job
        raise KeyError(f"{model} at learning rate {lr} is not in the grid of experiment {self.id}")

    def depths(self) -> list[int]:
        return sorted({m.depth for m in self.models.values()})

    # ------------------------------------------------------------------ which studies run where
    def study_scales(self, study: str) -> list[str]:
        section = getattr(self.settings, study)
        return list(section.scales) if section.enabled else []

    def at_scale(self, scale: str) -> "Experiment":
        return self if scale == self.scale else self.companions[scale]

    def study_experiments(self, study: str) -> list["Experiment"]:
        """The experiments (self or companions) whose networks a per-ball study (tightness, methods) measures."""
        return [self.at_scale(scale) for scale in self.study_scales(study)]

    def motivation_studies(self) -> list[str]:
        """The studies of the paper's motivation it runs (``search``, ``adversarial``, ``backdoor``), in that order."""
        return [study for study in MOTIVATION_STUDIES if getattr(self.settings, study).enabled]

    @property
    def measures_paper(self) -> bool:
        """Whether it bounds the paper's grid and decides the paper's claims: not when it runs a motivation study."""
        return not self.motivation_studies()

    def studies(self) -> set[str]:
        """The optional studies it runs: ``radius_sweep``, ``tightness``, ``methods``, ``variants``, ``slices``, and
        those of :meth:`motivation_studies`."""
        studies = set(self.motivation_studies())
        if self.settings.sweep.enabled:
            studies.add("radius_sweep")
        for study in ("tightness", "methods"):
            if self.study_scales(study):
                studies.add(study)
        if self.variants:
            studies.add("variants")
        if self.settings.slices.enabled:
            studies.add("slices")
        return studies

    # ------------------------------------------------------------------ what it makes
    def result_tables(self) -> list[str]:
        """The names of the tables its analysis writes (and the comparison holds against the reference)."""
        studies = self.studies()
        return [table.name for table in RESULT_TABLES
                if (table.study is None and self.measures_paper) or table.study in studies]

    def figures(self) -> list[tuple[FigureSpec, str]]:
        """(figure, stem) for every figure it draws (``figure3_depth{depth}`` once per depth)."""
        studies = self.studies()
        drawn = []
        for figure in FIGURES:
            if (figure.study is None and not self.measures_paper) or (figure.study is not None
                                                                       and figure.study not in studies):
                continue
            stems = [figure.stem.format(depth=d) for d in self.depths()] if "{depth}" in figure.stem else [figure.stem]
            drawn += [(figure, stem) for stem in stems]
        return drawn

    def settings_values(self) -> dict:
        """Every setting as plain values, per-model ones under ``models``: what the report prints."""
        values = {f.name: _plain(getattr(self.settings, f.name)) for f in fields(Config) if f.name != "model"}
        values["models"] = {name: asdict(config) for name, config in self.models.items()}
        return values


def _plain(value):
    return asdict(value) if hasattr(value, "__dataclass_fields__") else value


@dataclass
class Plan:
    """Every experiment of one Snakemake invocation, the requested one first."""

    main: Experiment
    experiments: dict[str, Experiment]

    def __getitem__(self, experiment_id: str) -> Experiment:
        return self.experiments[experiment_id]

    def with_role(self, *roles: str) -> list[Experiment]:
        return [e for e in self.experiments.values() if e.role in roles]


def _compose(experiment_id: str | None, overrides: list[str], role: str) -> Experiment:
    """One experiment; its id is its name unless given (companions and variants live under their parent's)."""
    settings = compose_settings(overrides)
    models = {m: compose_settings(overrides + [f"model={m}"]).model for m in settings.grid.models}
    _depths_tell_models_apart(models)
    return Experiment(experiment_id or settings.name, list(overrides), settings, models, role)


def _depths_tell_models_apart(models: dict[str, ModelConfig]) -> None:
    """Every table keys a run by (depth, lr, seed): two models of one depth would be pooled as one."""
    seen: dict[int, str] = {}
    for name, model in models.items():
        if model.depth in seen:
            raise SettingsError(f"grid.models {seen[model.depth]} and {name} both have depth {model.depth}: the tables "
                                "tell the models of a grid apart by their depth, so each needs its own")
        seen[model.depth] = name


def _shared_keys_untouched(variant: str, overrides: list[str]) -> None:
    for override in overrides:
        key = _override_key(override)
        if key.split(".")[0] in _SHARED_KEYS:
            raise SettingsError(f"variants.{variant} may not set {key}: a variant shares its study's folders and name")
        if key in GRID_KEYS:
            raise SettingsError(f"variants.{variant} sets {key}; set {GRID_KEYS[key]} instead")


# The overrides that reach the experiment whose networks a motivation study measures: where files live and where
# MNIST comes from, nothing that changes what is trained.
_NETWORKS_PASSED = ("paths.", "data.mnist_dir", "data.sources")
# The settings that make the networks: equal in both, or the networks measured are not those the settings describe.
_NETWORKS_SECTIONS = ("data", "optim", "train", "grid")


def _alone(main: Experiment) -> None:
    """A motivation study measures trained networks; the paper's grid studies would train and bound another grid."""
    others = [f"{study}.enabled" for study in ("tightness", "methods", "sweep") if getattr(main.settings, study).enabled]
    others += ["variants"] if main.settings.variants else []
    if others:
        raise SettingsError(f"{', '.join(f'{s}.enabled' for s in main.motivation_studies())}=true runs a study of the "
                            f"paper's motivation, which runs without the paper's studies; set "
                            f"{', '.join(o + '=false' if o != 'variants' else '~variants' for o in others)} "
                            "(experiment=search, adversarial and backdoor do)")


def _networks_experiment(main: Experiment, overrides: list[str]) -> Experiment:
    """The experiment named by ``motivation.networks``, composed from its own config; refused unless it trains
    exactly the networks this experiment's settings describe (so that its networks are never retrained here)."""
    name = main.settings.motivation.networks
    passed = [o for o in overrides if _override_key(o).startswith(_NETWORKS_PASSED)]
    source = _compose(None, [f"experiment={name}", *passed], "networks")
    if source.id == main.id:
        raise SettingsError(f"motivation.networks={name} names this experiment itself; use null to train its own grid")
    if source.motivation_studies() or source.settings.variants:
        raise SettingsError(f"motivation.networks={name} must name an experiment that trains a grid of its own "
                            "(not a motivation study, not a study of variants)")
    for section in _NETWORKS_SECTIONS:
        mine, theirs = asdict(getattr(main.settings, section)), asdict(getattr(source.settings, section))
        for key in mine:
            if key not in ("mnist_dir", "sources") and mine[key] != theirs[key]:
                raise SettingsError(
                    f"{section}.{key} is {mine[key]!r} here but {theirs[key]!r} in experiment {name}, whose trained "
                    f"networks motivation.networks measures; leave {section}.{key} alone, or set "
                    "motivation.networks=null to train this experiment's own networks")
    for model in main.settings.grid.models:
        if asdict(main.models[model]) != asdict(source.models[model]):
            raise SettingsError(f"model {model} differs from experiment {name}'s ({asdict(main.models[model])} against "
                                f"{asdict(source.models[model])}); set motivation.networks=null to train its own")
    return source


def plan_experiments(overrides) -> Plan:
    """Compose the requested experiment, its companions and its variants; keyed by experiment id."""
    overrides = list(overrides)
    _check_overrides(overrides)
    main = _compose(None, overrides, "main")
    experiments = {main.id: main}
    if main.motivation_studies():
        _alone(main)
    if main.settings.motivation.networks is not None:
        main.networks = _networks_experiment(main, overrides)
        experiments[main.networks.id] = main.networks
    for variant, extra in main.settings.variants.items():
        extra = list(extra)
        _shared_keys_untouched(variant, extra)
        child = _compose(f"{main.id}/{variant}", overrides + extra + ["~variants"], "variant")
        # A variant is only trained, bounded and judged; its parent draws and reports. It uses its
        # parent's point sets unless it changes how they are made.
        if asdict(child.settings.data) == asdict(main.settings.data):
            child.data_id = main.id
        experiments[child.id] = child
        main.variants.append(child)
    for experiment in [main, *main.variants]:
        scales = dict.fromkeys(experiment.study_scales("tightness") + experiment.study_scales("methods"))
        for scale in scales:
            if scale == experiment.scale:
                continue
            companion_id = f"{experiment.id}/{scale}"
            companion = _compose(companion_id, experiment.overrides + [f"data.scale={scale}", "~variants"], "companion")
            experiment.companions[scale] = companion
            experiments[companion_id] = companion
    return Plan(main, experiments)
