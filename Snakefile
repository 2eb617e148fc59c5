# localregions: the whole pipeline of Zhu, Lin & Tang (2020), Figure 3, and what goes beyond it.
#
#   snakemake --cores 2                                   # the default experiment (figure3)
#   snakemake --cores 2 --config 'overrides=["experiment=smoke"]'
#   snakemake --cores 2 --config 'overrides=["bounds.radius=0.2","name=r02"]'
#
# Every setting is a Hydra key composed from configs/ with the overrides; outputs of a name go
# under results/<name>/, figures/<name>/, logs/<name>/ and benchmarks/<name>/. This file only
# wires files to the scripts; the logic lives in src/localregions/.

import re
import shlex
import sys

from snakemake.utils import min_version, validate

min_version("9.0")

validate(config, "rules/schemas/config.schema.yaml")

from localregions.config import MNIST_RAW_FILES
from localregions.workflow import plan_experiments

# The experiment asked for, plus the companions it needs (networks trained at another input
# scale for the tightness study); each is a full Hydra composition with its own name.
EXPERIMENTS = plan_experiments(config.get("overrides", []))
MAIN = next(iter(EXPERIMENTS.values()))
SETTINGS = MAIN.settings
NAME = SETTINGS.name
PYTHON = shlex.quote(sys.executable)
RUN = "{model}_lr{lr}_seed{seed}"
SCRIPTS = f"{workflow.basedir}/scripts"
HYDRA_ARGS = " ".join(shlex.quote(o) for o in config.get("overrides", []))


def input_scale(wildcards):
    """The experiment's input scale; with `name=`, it turns the requested overrides into a companion's."""
    return EXPERIMENTS[wildcards.name].settings.data.scale


wildcard_constraints:
    name="|".join(re.escape(n) for n in EXPERIMENTS),
    model="[A-Za-z0-9]+",
    lr="[0-9.e+-]+",
    seed="[0-9]+",
    scale="raw|unit",


# Compute nodes of a cluster often have no internet: fetch MNIST where snakemake itself runs.
localrules:
    download_mnist,


include: "rules/data.smk"
include: "rules/experiment.smk"
include: "rules/analysis.smk"


rule all:
    default_target: True
    input:
        MAIN.targets(),
