# raw -> processed: MNIST with verified checksums, then the paper's four point sets.


rule download_mnist:
    output:
        expand(f"{RAW}/{{file}}", file=MNIST_RAW_FILES),
    log:
        f"{LOGS}/download_mnist.log",
    benchmark:
        f"{BENCHMARKS}/download_mnist.tsv"
    resources:
        mem_mb=2000,
        runtime=20,
    shell:
        "{PYTHON} scripts/download_mnist.py {HYDRA_ARGS} > {log} 2>&1"


rule prepare_data:
    input:
        rules.download_mnist.output,
    output:
        expand(f"{PROCESSED}/{{dataset}}.pt", dataset=["train", "test", "random1", "random2"]),
        manifest=f"{PROCESSED}/manifest.json",
    params:
        settings=settings_json("data"),
    log:
        f"{LOGS}/prepare_data.log",
    benchmark:
        f"{BENCHMARKS}/prepare_data.tsv"
    resources:
        mem_mb=4000,
        runtime=10,
    shell:
        "{PYTHON} scripts/prepare_data.py {HYDRA_ARGS} > {log} 2>&1"
