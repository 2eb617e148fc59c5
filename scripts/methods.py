"""Rule methods: Algorithm 1 beside IBP, CROWN, LP and the local complexity, on the networks of one training job."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.measures import methods

    methods(runs=snakemake.input.runs, point_sets=snakemake.input.manifest, output=snakemake.output.part,
            timing=snakemake.output.timing, job=setting(snakemake, "job"), scale=setting(snakemake, "scale"),
            norm=setting(snakemake, "norm"), datasets=setting(snakemake, "datasets"),
            methods=setting(snakemake, "compared"), points=setting(snakemake, "points"),
            lp_points=setting(snakemake, "lp_points"), radii=setting(snakemake, "radii"),
            complexity_directions=setting(snakemake, "complexity_directions"), runtime=setting(snakemake, "runtime"))
