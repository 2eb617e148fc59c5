"""Rule tightness_table: the tightness study's table, from its per-job parts."""

from localregions.pipeline.rule_script import rule_step

with rule_step(snakemake):
    from localregions.pipeline.steps.tables import concatenate

    # Exact counts that ran into their budget are missing: they stay integers with gaps, not floats.
    concatenate(parts=list(snakemake.input.parts), output=snakemake.output.table, nullable_integers=("exact_count",))
