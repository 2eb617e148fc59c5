"""Rule backdoor: H2, the regions around triggered and clean inputs on poisoned and clean networks (issue 24)."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.motivation import backdoor

    backdoor(poisoned=snakemake.input.poisoned, poisoned_runs=snakemake.input.poisoned_runs,
             clean=snakemake.input.clean, point_sets=snakemake.input.manifest, points=snakemake.output.points,
             runs=snakemake.output.runs, kinds=snakemake.output.kinds, effects=snakemake.output.effects,
             aucs=snakemake.output.aucs, roc=snakemake.output.roc, job=setting(snakemake, "job"),
             distance=setting(snakemake, "distance"), test_points=setting(snakemake, "test_points"),
             roc_points=setting(snakemake, "roc_points"),
             complexity_directions=setting(snakemake, "complexity_directions"), radius=setting(snakemake, "radius"),
             norm=setting(snakemake, "norm"), scale=setting(snakemake, "scale"), runtime=setting(snakemake, "runtime"))
