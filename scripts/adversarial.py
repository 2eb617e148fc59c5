"""Rule adversarial: H1, the regions around PGD examples and their clean points, on one training job (issue 24)."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.motivation import adversarial

    adversarial(runs=snakemake.input.runs, point_sets=snakemake.input.manifest, points=snakemake.output.points,
                attacks=snakemake.output.attacks, kinds=snakemake.output.kinds, effects=snakemake.output.effects,
                job=setting(snakemake, "job"), adversarial=setting(snakemake, "adversarial"),
                maxima_search=setting(snakemake, "maxima_search"),
                complexity_directions=setting(snakemake, "complexity_directions"),
                radius=setting(snakemake, "radius"), norm=setting(snakemake, "norm"),
                scale=setting(snakemake, "scale"), runtime=setting(snakemake, "runtime"))
