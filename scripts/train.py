"""Rule train: every seed of one (model, learning rate), checkpointed at the bound epochs."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.training import train

    train(point_sets=snakemake.input.manifest, checkpoints=snakemake.output.checkpoints,
          metrics=snakemake.output.metrics, manifest=snakemake.output.manifest, job=setting(snakemake, "job"),
          model=setting(snakemake, "model"), momentum=setting(snakemake, "momentum"),
          train=setting(snakemake, "train"), runtime=setting(snakemake, "runtime"))
