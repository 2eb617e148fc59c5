"""Rule search: H3, the balls with the most regions, on the networks of one training job (issue 24)."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.motivation import search

    search(runs=snakemake.input.runs, point_sets=snakemake.input.manifest, points=snakemake.output.points,
           maxima=snakemake.output.maxima, curves=snakemake.output.curves, kinds=snakemake.output.kinds,
           effects=snakemake.output.effects, job=setting(snakemake, "job"), search=setting(snakemake, "search"),
           complexity_directions=setting(snakemake, "complexity_directions"), radius=setting(snakemake, "radius"),
           norm=setting(snakemake, "norm"), runtime=setting(snakemake, "runtime"))
