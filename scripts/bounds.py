"""Rule bounds: Algorithm 1 around every point of the sets, for every checkpoint of one training job."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.measures import bounds

    bounds(runs=snakemake.input.runs, point_sets=snakemake.input.manifest, output=snakemake.output.bounds,
           job=setting(snakemake, "job"), bounds=setting(snakemake, "bounds"), runtime=setting(snakemake, "runtime"))
