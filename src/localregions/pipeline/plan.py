"""What to run: the experiments composed from the user's overrides, their jobs and their targets.

The Snakefile asks :func:`plan_experiments` once, at parse time, and gets a :class:`Plan`: the
experiment asked for, the companions it needs (networks trained at another input scale for the
tightness and methods studies) and its variants (a study such as ``sensitivity`` lists them),
each a full Hydra composition with a :class:`~localregions.pipeline.layout.Layout`. For every
rule the plan says which files a job reads and the job's *spec*: the settings sections the step
reads, the run it covers, its input and output paths. The spec is passed to the step verbatim
(``python -m localregions.pipeline run <step> --job <spec>``), so a step reads exactly what its
rule declares, and Snakemake reruns it exactly when that changes (the spec is a rule param).

Like ``settings.py`` this module imports no torch, so planning the workflow stays fast.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

from ..vocabulary import DATASET_NAMES, DEFAULT_VARIANT, format_lr
from .layout import Layout, Roots
from .settings import MNIST_RAW_FILES, Config, ModelConfig, compose_config, to_settings
from .steps import STEPS

__all__ = ["SettingsError", "Experiment", "Plan", "plan_experiments", "GRID_KEYS"]

# Keys that name one run's model, learning rate or seed: an experiment sets them per run from its grid.
GRID_KEYS = {
    "optim.lr": "grid.lrs",
    "seed": "grid.seeds",
    "model": "grid.models",
}
# Keys a variant or companion may not change: they place files or define what the study is.
_SHARED_KEYS = ("name", "results_dir", "figures_dir", "data.processed_dir", "data.raw_dir", "reference.dir", "variants")


class SettingsError(ValueError):
    """A setting is wrong; the message names the key and what would be right, with no traceback needed."""


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


def _section_keys(section: str) -> list[str] | None:
    """The keys of a settings section (``"bounds"``, ``"data"``, ...), or None if it is not one."""
    node = Config()
    for part in section.split("."):
        node = getattr(node, part, None)
    return [f.name for f in fields(node)] if is_dataclass(node) else None


def _explain(exc: Exception, overrides: list[str]) -> SettingsError:
    """Turn Hydra's composition errors into one line that names the bad key and the valid ones."""
    cause = exc.__cause__
    full_key = getattr(cause, "full_key", None)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if full_key and "not in" in str(cause):
        section, _, key = str(full_key).rpartition(".")
        valid = _section_keys(section) if section else [f.name for f in fields(Config)]
        if valid is not None:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {section + '.' if section else ''}{close[0]}?)" if close else ""
            where = f"{section} has" if section else "the top level has"
            return SettingsError(f"{full_key} is not a setting{hint}; {where} the keys: {', '.join(valid)}")
    if "Could not find" in text or "Could not load" in text:
        options = [line.strip() for line in str(exc).splitlines() if line.startswith("\t")]
        return SettingsError(f"{text}; the choices are: {', '.join(options)}" if options else text)
    if cause is not None:
        reason = str(cause).splitlines()[0]
        return SettingsError(f"{text}: {reason}")
    return SettingsError(text)


def compose_settings(overrides: list[str]) -> Config:
    """Compose and validate one experiment's settings; :class:`SettingsError` names what is wrong."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return to_settings(compose_config(list(overrides)))
    except (HydraException, OmegaConfBaseException) as exc:
        raise _explain(exc, overrides) from exc
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc


def _json(value):
    if is_dataclass(value):
        return asdict(value)
    return value


@dataclass
class Experiment:
    """One composed experiment: its id, overrides, settings, per-model settings and file layout."""

    id: str
    overrides: list[str]
    settings: Config
    models: dict[str, ModelConfig]
    layout: Layout
    role: str = "main"  # "main", "companion" or "variant"
    companions: dict[str, "Experiment"] = field(default_factory=dict)
    # Where its point sets live: its own folder, or its parent's when a variant leaves the data settings as they are.
    data_layout: Layout | None = None

    def __post_init__(self) -> None:
        if self.data_layout is None:
            self.data_layout = self.layout

    @property
    def scale(self) -> str:
        return self.settings.data.scale

    def runs(self) -> list[tuple[str, float, int]]:
        return self.settings.grid.runs()

    def grid_settings(self) -> list[tuple[str, float]]:
        """(model, lr): one training job and one bound job each."""
        return [(m, lr) for m in self.settings.grid.models for lr in self.settings.grid.lrs]

    def depth(self, model: str) -> int:
        return self.models[model].depth

    def depths(self) -> list[int]:
        return sorted({m.depth for m in self.models.values()})

    def lr_of(self, text: str) -> float:
        """The grid's learning rate whose folder name is ``text`` (a wildcard value)."""
        for lr in self.settings.grid.lrs:
            if format_lr(lr) == text:
                return lr
        raise KeyError(f"learning rate {text!r} is not in grid.lrs of experiment {self.id}")

    # ------------------------------------------------------------------ which studies run where
    def study_scales(self, study: str) -> list[str]:
        section = getattr(self.settings, study)
        return list(section.scales) if section.enabled else []

    def experiment_at_scale(self, scale: str) -> "Experiment":
        return self if scale == self.scale else self.companions[scale]

    def study_experiments(self, study: str) -> list["Experiment"]:
        """The experiments (self or companions) whose networks a per-ball study measures."""
        return [self.experiment_at_scale(scale) for scale in self.study_scales(study.removesuffix("_timing"))]

    # ------------------------------------------------------------------ files
    def point_sets(self, datasets=None) -> list[str]:
        return [str(self.data_layout.point_set(d)) for d in (datasets or DATASET_NAMES)]

    def runs_dirs(self) -> list[str]:
        return [str(self.layout.runs_dir(m, lr)) for m, lr in self.grid_settings()]

    def bounds_files(self) -> list[str]:
        return [str(self.layout.bounds(m, lr)) for m, lr in self.grid_settings()]

    def parts(self, study: str) -> list[str]:
        builder = {"tightness": "tightness_part", "methods": "methods_part", "methods_timing": "methods_timing_part"}[study]
        return [
            str(getattr(experiment.layout, builder)(m, lr))
            for experiment in self.study_experiments(study)
            for m, lr in experiment.grid_settings()
        ]

    def analysis_tables(self) -> dict[str, str]:
        """The optional tables beside the summaries, by name, for the studies that are enabled."""
        tables = {}
        if self.settings.sweep.enabled:
            tables["radius_sweep"] = str(self.layout.radius_sweep)
        if self.study_scales("tightness"):
            tables["tightness"] = str(self.layout.tightness)
        if self.study_scales("methods"):
            tables["methods"] = str(self.layout.methods)
        return tables

    def figure_stems(self) -> list[str]:
        stems = [f"figure3_depth{depth}" for depth in self.depths()] + ["boundary_distance"]
        tables = self.analysis_tables()
        stems += [stem for stem in ("radius_sweep", "tightness", "methods") if stem in tables]
        if self.variants_of():
            stems.append("variant_claims")
        return stems

    def figure_files(self) -> list[str]:
        return [str(self.layout.figure(stem, ext)) for stem in self.figure_stems() for ext in ("png", "pdf")]

    def compared_tables(self) -> dict[str, str]:
        """The tables held against the reference: every CSV the experiment's analysis writes."""
        tables = {"summary": str(self.layout.summary), "summary_by_setting": str(self.layout.summary_by_setting),
                  "runs": str(self.layout.runs), "claims": str(self.layout.claims)}
        tables.update(self.analysis_tables())
        if self.variants_of():
            tables["variant_claims"] = str(self.layout.variant_claims)
        return tables

    def variants_of(self) -> list["Experiment"]:
        return getattr(self, "_variants", [])

    def targets(self) -> list[str]:
        files = list(self.compared_tables().values())
        return files + self.figure_files() + [str(self.layout.comparison), str(self.layout.report)]

    # ------------------------------------------------------------------ what each step reads
    def grid_runs_info(self) -> list[dict]:
        """One entry per training job: model, depth, lr and seeds (aligned with runs_dirs and bounds_files)."""
        return [{"model": m, "depth": self.depth(m), "lr": lr, "seeds": list(self.settings.grid.seeds)}
                for m, lr in self.grid_settings()]

    def inputs(self, step: str, model: str | None = None, lr: str | None = None) -> dict:
        """The files one job of ``step`` reads, by name (the rule's ``input``)."""
        layout, data = self.layout, self.data_layout
        sets = {"sets": self.point_sets(), "manifest": str(data.manifest)}
        if step == "prepare_data":
            return {"mnist": [str(layout.mnist_file(f)) for f in MNIST_RAW_FILES], "source": str(layout.mnist_source)}
        if step == "train":
            return {"train": str(data.point_set("train")), "test": str(data.point_set("test")), "manifest": str(data.manifest)}
        if step in ("bounds", "tightness", "methods"):
            return {"runs": str(layout.runs_dir(model, lr)), **sets}
        if step == "aggregate":
            return {"runs": self.runs_dirs(), "bounds": self.bounds_files()}
        if step == "claims":
            return {"summary": str(layout.summary), "runs": str(layout.runs)}
        if step == "variant_claims":
            # The study's own experiment first, as variant "default": the one every other is held against.
            studied = [self, *self.variants_of()]
            return {"claims": [str(v.layout.claims) for v in studied], "runs": [str(v.layout.runs) for v in studied]}
        if step == "radius_sweep":
            return {"runs": self.runs_dirs(), **sets}
        if step in ("tightness_table", "methods_table"):
            study = step.removesuffix("_table")
            parts = {"parts": self.parts(study)}
            if study == "methods":
                parts["timings"] = self.parts("methods_timing")
            return parts
        if step == "figures":
            tables = {"by_setting": str(layout.summary_by_setting), **self.analysis_tables()}
            if self.variants_of():
                tables["variant_claims"] = str(layout.variant_claims)
            return tables
        if step == "compare":
            files = dict(self.compared_tables())
            reference = {f"reference_{name}": str(layout.reference_table(Path(path)))
                         for name, path in files.items() if layout.reference_table(Path(path)).is_file()}
            return {**files, **reference}
        if step == "report":
            tables = dict(self.compared_tables())
            if "methods" in tables:
                tables["methods_timing"] = str(layout.methods_timing)
            if self.variants_of():
                tables["baseline_claims"] = tables["claims"]
            return {**tables, "comparison": str(layout.comparison), "figures": self.figure_files()}
        raise KeyError(f"no step {step!r}")

    def run_info(self, step: str) -> dict:
        """What a job of ``step`` needs to know beyond its settings and files."""
        if step in ("aggregate", "radius_sweep"):
            return {"grid": self.grid_runs_info()}
        if step == "variant_claims":
            names = [v.id.split("/", 1)[1] for v in self.variants_of()]
            return {"variants": [DEFAULT_VARIANT, *names],
                    "overrides": {DEFAULT_VARIANT: [], **{name: list(self.settings.variants[name]) for name in names}}}
        if step == "compare":
            layout = self.layout
            tables = {name: [path, str(layout.reference_table(Path(path)))] for name, path in self.compared_tables().items()}
            figures = {Path(f).name: [f, str(layout.reference_figure(Path(f)))] for f in self.figure_files() if f.endswith(".png")}
            return {"tables": tables, "figures": figures}
        if step == "report":
            return {"settings_of": self.id, "figures": self.figure_stems(), "depths": self.depths(),
                    "analysis": sorted(self.analysis_tables()), "variants": [v.id for v in self.variants_of()],
                    "models": {name: _json(config) for name, config in self.models.items()}}
        return {}

    # ------------------------------------------------------------------ job specs
    def section_values(self, step: str, model: str | None = None) -> dict:
        """The settings ``step`` declared: whole sections, or single fields (``"bounds.norm"``)."""
        values: dict = {}
        for entry in STEPS[step].reads:
            section, _, key = entry.partition(".")
            if section == "model":
                values["model"] = _json(self.models[model]) if model is not None else {
                    name: _json(config) for name, config in self.models.items()}
            elif key:
                values.setdefault(section, {})[key] = _json(getattr(getattr(self.settings, section), key))
            else:
                values[section] = _json(getattr(self.settings, section))
        return values

    def _run(self, step: str, model: str | None, lr: str | None) -> dict:
        run = self.run_info(step)
        if model is not None:
            run.update({"model": model, "depth": self.depth(model), "lr": self.lr_of(lr),
                        "seeds": list(self.settings.grid.seeds)})
        return run

    def job_settings(self, step: str, *, model: str | None = None, lr: str | None = None) -> str:
        """What one job of ``step`` reads besides files (its settings and its run), as JSON: the rule's rerun trigger."""
        return json.dumps({"settings": self.section_values(step, model), "run": self._run(step, model, lr),
                           "scale": self.scale}, sort_keys=True)

    def job(self, step: str, input: dict, output: dict, *, model: str | None = None, lr: str | None = None) -> str:
        """The spec of one job, as JSON text: what the step reads and where it reads and writes."""
        spec = {
            "step": step,
            "experiment": self.id,
            "scale": self.scale,
            "settings": self.section_values(step, model),
            "run": self._run(step, model, lr),
            "input": {key: _paths(value) for key, value in input.items()},
            "output": {key: _paths(value) for key, value in output.items()},
        }
        return json.dumps(spec, sort_keys=True)


def _paths(value):
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return str(value)


@dataclass
class Plan:
    """Every experiment of one Snakemake invocation, the requested one first."""

    main: Experiment
    experiments: dict[str, Experiment]

    def __getitem__(self, experiment_id: str) -> Experiment:
        return self.experiments[experiment_id]

    @property
    def variants(self) -> list[Experiment]:
        return self.main.variants_of()

    def with_role(self, *roles: str) -> list[Experiment]:
        return [e for e in self.experiments.values() if e.role in roles]

    def targets(self) -> list[str]:
        return self.main.targets()

    def settings_report(self) -> dict:
        """The settings a reader needs to repeat the main experiment, per-model ones included."""
        values = {f.name: _json(getattr(self.main.settings, f.name)) for f in fields(Config) if f.name != "model"}
        values["models"] = {name: _json(config) for name, config in self.main.models.items()}
        return values


def _compose(experiment_id: str | None, overrides: list[str], role: str) -> Experiment:
    """One experiment; its id is its name unless given (companions and variants live under their parent's)."""
    settings = compose_settings(overrides)
    models = {m: compose_settings(overrides + [f"model={m}"]).model for m in settings.grid.models}
    experiment_id = experiment_id or settings.name
    return Experiment(experiment_id, list(overrides), settings, models, Layout(Roots.of(settings), experiment_id), role)


def _shared_keys_untouched(variant: str, overrides: list[str]) -> None:
    for override in overrides:
        key = _override_key(override)
        if key in _SHARED_KEYS or key.startswith("variants"):
            raise SettingsError(f"variants.{variant} may not set {key}: a variant shares its study's folders and name")
        if key in GRID_KEYS:
            raise SettingsError(f"variants.{variant} sets {key}; set {GRID_KEYS[key]} instead")


def plan_experiments(overrides) -> Plan:
    """Compose the requested experiment, its companions and its variants; keyed by experiment id."""
    overrides = list(overrides)
    _check_overrides(overrides)
    main = _compose(None, overrides, "main")
    experiments = {main.id: main}
    variants = []
    for variant, extra in main.settings.variants.items():
        extra = list(extra)
        _shared_keys_untouched(variant, extra)
        child = _compose(f"{main.id}/{variant}", overrides + extra + ["~variants"], "variant")
        # A variant is only trained, bounded and judged; its parent draws and reports. It uses its
        # parent's point sets unless it changes how they are made.
        if asdict(child.settings.data) == asdict(main.settings.data):
            child.data_layout = main.layout
        experiments[child.id] = child
        variants.append(child)
    main._variants = variants  # type: ignore[attr-defined]
    for experiment in [main, *variants]:
        scales = dict.fromkeys(experiment.study_scales("tightness") + experiment.study_scales("methods"))
        for scale in scales:
            if scale == experiment.scale:
                continue
            companion_id = f"{experiment.id}/{scale}"
            companion = _compose(companion_id, experiment.overrides + [f"data.scale={scale}", "~variants"], "companion")
            experiment.companions[scale] = companion
            experiments[companion_id] = companion
    return Plan(main, experiments)
