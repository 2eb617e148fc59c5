"""Rule prepare_data: the paper's four point sets of one experiment, and their manifest."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.data import prepare_data

    prepare_data(mnist=list(snakemake.input.mnist), source=snakemake.input.source,
                 point_sets=list(snakemake.output.point_sets), manifest=snakemake.output.manifest,
                 spec=setting(snakemake, "spec"))
