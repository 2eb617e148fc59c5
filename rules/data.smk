# raw -> processed: MNIST with verified checksums, then the paper's four point sets.


rule download_mnist:
    output:
        expand(f"{SETTINGS.raw_mnist_path}/{{file}}", file=MNIST_RAW_FILES),
        source=str(SETTINGS.mnist_source_file),
    log:
        f"logs/{NAME}/download_mnist.log",
    benchmark:
        f"benchmarks/{NAME}/download_mnist.tsv"
    resources:
        mem_mb=2000,
        runtime=20,
    shell:
        "{PYTHON} {SCRIPTS}/download_mnist.py {HYDRA_ARGS} > {log} 2>&1"


rule prepare_data:
    input:
        rules.download_mnist.output,
    output:
        sets=expand("data/processed/{{name}}/{dataset}.pt", dataset=["train", "test", "random1", "random2"]),
        manifest="data/processed/{name}/manifest.json",
    params:
        scale=input_scale,
        settings=lambda w: EXPERIMENTS[w.name].section_json("data"),
    log:
        "logs/{name}/prepare_data.log",
    benchmark:
        "benchmarks/{name}/prepare_data.tsv"
    resources:
        mem_mb=4000,
        runtime=10,
    shell:
        "{PYTHON} {SCRIPTS}/prepare_data.py {HYDRA_ARGS} name={wildcards.name} data.scale={params.scale} > {log} 2>&1"
