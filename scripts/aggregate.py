"""Rule aggregate: per-run summaries of the per-point bounds, their statistics over seeds, the runs' outcomes."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.tables import aggregate

    aggregate(runs=list(snakemake.input.runs), bounds=list(snakemake.input.bounds), summary=snakemake.output.summary,
              summary_by_setting=snakemake.output.summary_by_setting, runs_table=snakemake.output.runs,
              jobs=setting(snakemake, "jobs"))
