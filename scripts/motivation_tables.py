"""Rules search_tables, adversarial_tables, backdoor_tables: a study's result tables from its per-job parts, and its
hypothesis decided over seeds (issue 24)."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.motivation_results import motivation_tables

    motivation_tables(parts={name: list(files) for name, files in snakemake.input.items()},
                      outputs=dict(snakemake.output.items()), study=setting(snakemake, "study"))
