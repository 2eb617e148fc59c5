"""Rule radius_sweep: Algorithm 1 over a range of radii, for every run of the grid at its first and last bound epochs."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.measures import radius_sweep

    radius_sweep(runs=list(snakemake.input.runs), point_sets=snakemake.input.manifest, output=snakemake.output.table,
                 jobs=setting(snakemake, "jobs"), norm=setting(snakemake, "norm"),
                 datasets=setting(snakemake, "datasets"), points_per_set=setting(snakemake, "points_per_set"),
                 chunk_size=setting(snakemake, "chunk_size"),
                 memory_budget_bytes=setting(snakemake, "memory_budget_bytes"), radii=setting(snakemake, "radii"),
                 runtime=setting(snakemake, "runtime"))
