"""Rule report: the Markdown report of the experiment, from its tables, figures and comparison."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.products import report

    report(tables=list(snakemake.input.tables), methods_timing=list(snakemake.input.methods_timing),
           comparison=snakemake.input.comparison, figures=list(snakemake.input.figures),
           output=snakemake.output.report, experiment=setting(snakemake, "experiment"),
           settings=setting(snakemake, "settings"), studies=setting(snakemake, "studies"),
           radius=setting(snakemake, "radius"), norm=setting(snakemake, "norm"))
