"""Rule methods_table: the methods study's table and its timings, from the per-job parts."""

from localregions.pipeline.rule_script import rule_step

with rule_step(snakemake):
    from localregions.pipeline.steps.tables import methods_table

    methods_table(parts=list(snakemake.input.parts), timings=list(snakemake.input.timings),
                  output=snakemake.output.table, timing=snakemake.output.timing)
