"""What the Snakefile needs to know about an experiment, composed from Hydra configs.

The Snakefile asks this module which experiments to run (the one requested and the companions
it needs), which files each produces, and which settings each rule depends on. Like
``config.py`` it imports no torch, so planning the workflow stays fast.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .config import Config, ModelConfig, compose_config, to_settings

__all__ = ["Experiment", "plan_experiments"]


@dataclass
class Experiment:
    """One composed experiment: its Hydra overrides, settings, and per-model settings."""

    overrides: list[str]
    settings: Config
    models: dict[str, ModelConfig] = field(default_factory=dict)
    # (name, experiment) of the companion trained at another input scale, per scale.
    companions: dict[str, "Experiment"] = field(default_factory=dict)

    @classmethod
    def compose(cls, overrides: list[str]) -> "Experiment":
        settings = to_settings(compose_config(overrides))
        models = {m: to_settings(compose_config(overrides + [f"model={m}"])).model for m in settings.grid.models}
        return cls(list(overrides), settings, models)

    @property
    def name(self) -> str:
        return self.settings.name

    def section_json(self, *sections: str, model: str | None = None) -> str:
        """The config sections a rule depends on, as text: Snakemake reruns the rule when it changes."""
        values = {section: asdict(getattr(self.settings, section)) for section in sections}
        if model is not None:
            values["model"] = asdict(self.models[model])
        return json.dumps(values, sort_keys=True)

    def processed_sets(self, datasets=None) -> list[str]:
        return [str(self.settings.processed_file(d)) for d in (datasets or self.settings.bounds.datasets)]

    def run_files(self, filename: str) -> list[str]:
        return [str(self.settings.run_dir(m, lr, s) / filename) for m, lr, s in self.settings.grid_runs()]

    def depths(self) -> list[int]:
        return sorted({model.depth for model in self.models.values()})

    def figure_files(self) -> list[str]:
        base = self.settings.figures_path
        stems = [f"figure3_depth{depth}" for depth in self.depths()] + ["boundary_distance"]
        if self.settings.sweep.enabled:
            stems.append("radius_sweep")
        if self.tightness_scales():
            stems.append("tightness")
        return [str(base / f"{stem}.{ext}") for stem in stems for ext in ("png", "pdf")]

    def tightness_scales(self) -> list[str]:
        tightness = self.settings.tightness
        return list(dict.fromkeys(tightness.scales)) if tightness.enabled else []

    def tightness_experiment(self, scale: str) -> "Experiment":
        return self if scale == self.settings.data.scale else self.companions[scale]

    def tightness_parts(self) -> list[str]:
        return [str(path) for path in self.settings.tightness_part_files()] if self.tightness_scales() else []

    def analysis_tables(self) -> list[str]:
        """The tables beside the summaries that the figures and the report read."""
        tables = [str(self.settings.radius_sweep_file)] if self.settings.sweep.enabled else []
        if self.tightness_scales():
            tables.append(str(self.settings.tightness_file))
        return tables

    def targets(self) -> list[str]:
        s = self.settings
        files = [str(s.summary_file), str(s.summary_by_setting_file), str(s.runs_file), str(s.report_file)]
        if s.sweep.enabled:
            files.append(str(s.radius_sweep_file))
        if self.tightness_scales():
            files.append(str(s.tightness_file))
        return files + self.figure_files()


def plan_experiments(overrides) -> dict[str, Experiment]:
    """The requested experiment first, then its companions, keyed by name."""
    main = Experiment.compose(list(overrides))
    plan = {main.name: main}
    for scale in main.tightness_scales():
        if scale == main.settings.data.scale:
            continue
        seed = main.settings.grid.seeds[0]
        companion = Experiment.compose(
            list(overrides)
            + [f"data.scale={scale}", f"name={main.settings.companion_name(scale)}", f"grid.seeds=[{seed}]"]
        )
        main.companions[scale] = companion
        plan[companion.name] = companion
    return plan

