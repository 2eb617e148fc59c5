"""Rule tightness: exact and sampled region counts beside the bound, on the networks of one training job."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.measures import tightness

    tightness(runs=snakemake.input.runs, point_sets=snakemake.input.manifest, output=snakemake.output.part,
              job=setting(snakemake, "job"), scale=setting(snakemake, "scale"), norm=setting(snakemake, "norm"),
              datasets=setting(snakemake, "datasets"), points=setting(snakemake, "points"),
              samples=setting(snakemake, "samples"), max_regions=setting(snakemake, "max_regions"),
              radii=setting(snakemake, "radii"), runtime=setting(snakemake, "runtime"))
