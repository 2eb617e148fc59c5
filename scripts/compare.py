"""Rule compare: the fresh result tables (and, for information, the figures) against the committed reference."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.products import compare

    compare(tables=list(snakemake.input.tables), references=list(snakemake.input.references),
            figures=list(snakemake.input.figures), reference_figures=list(snakemake.input.reference_figures),
            reference_dir=setting(snakemake, "reference_dir"), output=snakemake.output.comparison,
            experiment=setting(snakemake, "experiment"), reference=setting(snakemake, "reference"))
