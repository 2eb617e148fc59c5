"""Rule download_mnist: the four MNIST files, verified, from the first source that serves them."""

from localregions.pipeline.rule_script import rule_step, setting

with rule_step(snakemake):
    from localregions.pipeline.steps.data import download_mnist

    download_mnist(mnist=list(snakemake.output.mnist), source=snakemake.output.source,
                   mnist_dir=setting(snakemake, "mnist_dir"), sources=setting(snakemake, "sources"))
