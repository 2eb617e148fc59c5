# localregions: the whole pipeline of Zhu, Lin & Tang (2020), Figure 3, and what goes beyond it.
#
#   snakemake --cores 2                                   # the default experiment (figure3)
#   snakemake --cores 2 --config 'overrides=["experiment=smoke"]'
#   snakemake --cores 2 --config 'overrides=["bounds.radius=0.2","name=r02"]'
#
# Every setting is a Hydra key composed from configs/ with the overrides. Each rule (rules/*.smk)
# declares its files and, in params, the settings its step reads; scripts/<rule>.py hands both
# to the step (localregions.pipeline.steps). Paths come from localregions.pipeline.layout.

from snakemake.utils import min_version, validate

min_version("9.0")

# One CPU code path for every job (MKL, torch, numpy, OpenBLAS): results are the same bytes on any
# x86-64 CPU. Set before any job starts; each job checks it (localregions.pipeline.numerics).
from localregions.pipeline.numerics import pin_environment

pin_environment()


validate(config, "rules/schemas/config.schema.yaml")


include: "rules/common.smk"


# Compute nodes of a cluster often have no internet: fetch MNIST where snakemake itself runs.
localrules:
    download_mnist,


include: "rules/data.smk"
include: "rules/experiment.smk"
include: "rules/analysis.smk"
include: "rules/slices.smk"
include: "rules/motivation.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        targets(),
