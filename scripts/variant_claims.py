"""Rule variant_claims: the claims of a study's own experiment and of each of its variants, in one table."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.tables import variant_claims

    variant_claims(claims=list(snakemake.input.claims), runs=list(snakemake.input.runs),
                   output=snakemake.output.variant_claims, variants=setting(snakemake, "variants"))
