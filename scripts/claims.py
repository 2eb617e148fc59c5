"""Rule claims: the paper's six observations, decided over the seeds of each (depth, lr)."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.tables import claims

    claims(summary=snakemake.input.summary, runs=snakemake.input.runs, output=snakemake.output.claims,
           radius=setting(snakemake, "radius"), norm=setting(snakemake, "norm"))
