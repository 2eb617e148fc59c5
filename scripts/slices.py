"""Rule slices: exact 2-D slices of the regions through one point of each set, before and after training."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.slices import slices

    slices(runs=list(snakemake.input.runs), point_sets=snakemake.input.manifest, table=snakemake.output.table,
           figures=list(snakemake.output.figures), jobs=setting(snakemake, "jobs"), radius=setting(snakemake, "radius"),
           scale=setting(snakemake, "scale"), seed=setting(snakemake, "seed"), datasets=setting(snakemake, "datasets"),
           point=setting(snakemake, "point"), plane=setting(snakemake, "plane"),
           plane_seed=setting(snakemake, "plane_seed"), window=setting(snakemake, "window"),
           max_regions=setting(snakemake, "max_regions"), runtime=setting(snakemake, "runtime"))
