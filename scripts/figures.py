"""Rule figures: every figure of the experiment (PNG and PDF), drawn from its result tables."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.products import figures

    figures(tables=list(snakemake.input.tables), outputs=list(snakemake.output.figures),
            radius=setting(snakemake, "radius"), norm=setting(snakemake, "norm"))
