"""Rule train_backdoor: every seed of one (model, lr) trained on its poisoned training set (issue 24, H2)."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.motivation import train_backdoor

    train_backdoor(point_sets=snakemake.input.manifest, checkpoints=snakemake.output.checkpoints,
                   metrics=snakemake.output.metrics, manifest=snakemake.output.manifest, runs=snakemake.output.runs,
                   job=setting(snakemake, "job"), model=setting(snakemake, "model"),
                   momentum=setting(snakemake, "momentum"), epochs=setting(snakemake, "epochs"),
                   batch_size=setting(snakemake, "batch_size"), loss=setting(snakemake, "loss"),
                   share=setting(snakemake, "share"), target=setting(snakemake, "target"),
                   threshold=setting(snakemake, "threshold"), distance=setting(snakemake, "distance"),
                   scale=setting(snakemake, "scale"),
                   runtime=setting(snakemake, "runtime"))
