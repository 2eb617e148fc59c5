# localregions: the whole pipeline of Zhu, Lin & Tang (2020), Figure 3, and what goes beyond it.
#
#   snakemake --cores 2                                   # the default experiment (figure3)
#   snakemake --cores 2 --config 'overrides=["experiment=smoke"]'
#   snakemake --cores 2 --config 'overrides=["bounds.radius=0.2","name=r02"]'
#
# Every setting is a Hydra key composed from configs/ with the overrides; outputs of a name go
# under results/<name>/, figures/<name>/, logs/<name>/ and benchmarks/<name>/. This file only
# wires files to the scripts; the logic lives in src/localregions/.

import json
import shlex
import sys
from dataclasses import asdict

from snakemake.utils import min_version, validate

min_version("9.0")

validate(config, "rules/schemas/config.schema.yaml")

from localregions.config import MNIST_RAW_FILES, compose_config, run_id, to_settings

OVERRIDES = list(config.get("overrides", []))
SETTINGS = to_settings(compose_config(OVERRIDES))
PYTHON = shlex.quote(sys.executable)
HYDRA_ARGS = " ".join(shlex.quote(o) for o in OVERRIDES)

# Each run's model settings come from its own model config (grid.models), with the user's overrides on top.
MODEL_SETTINGS = {m: to_settings(compose_config(OVERRIDES + [f"model={m}"])).model for m in SETTINGS.grid.models}
DEPTHS = sorted({m.depth for m in MODEL_SETTINGS.values()})

NAME = SETTINGS.name
RESULTS = str(SETTINGS.results_path)
FIGURES = str(SETTINGS.figures_path)
PROCESSED = str(SETTINGS.processed_path)
RAW = str(SETTINGS.raw_mnist_path)
LOGS = f"logs/{NAME}"
BENCHMARKS = f"benchmarks/{NAME}"
RUN = "{model}_lr{lr}_seed{seed}"
RUNS = [run_id(m, lr, s) for m, lr, s in SETTINGS.grid_runs()]


def settings_json(*sections, model=None):
    """The config sections a rule depends on, as text: Snakemake reruns the rule when they change."""
    values = {name: asdict(getattr(SETTINGS, name)) for name in sections}
    if model is not None:
        values["model"] = asdict(MODEL_SETTINGS[model])
    return json.dumps(values, sort_keys=True)


wildcard_constraints:
    model="[A-Za-z0-9]+",
    lr="[0-9.e+-]+",
    seed="[0-9]+",


include: "rules/data.smk"
include: "rules/experiment.smk"


rule all:
    default_target: True
    input:
        rules.aggregate.output,
