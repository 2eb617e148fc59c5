# raw -> processed: MNIST with verified checksums, then the paper's four point sets.


rule download_mnist:
    output:
        files=[str(PATTERN.mnist_file(f)) for f in MNIST_RAW_FILES],
        source=str(PATTERN.mnist_source),
    params:
        python=PYTHON,
        settings=job_settings("download_mnist"),
        job=lambda wildcards, input, output: MAIN.job("download_mnist", dict(input.items()), dict(output.items())),
    log:
        str(PATTERN.shared_log("download_mnist")),
    benchmark:
        str(PATTERN.shared_benchmark("download_mnist"))
    resources:
        mem_mb=2000,
        runtime=20,
    shell:
        STEP_COMMAND


rule prepare_data:
    input:
        unpack(step_inputs("prepare_data")),
    output:
        sets=[str(PATTERN.point_set(d)) for d in DATASET_NAMES],
        manifest=str(PATTERN.manifest),
    params:
        python=PYTHON,
        settings=job_settings("prepare_data"),
        job=job_spec("prepare_data"),
    log:
        str(PATTERN.log("prepare_data")),
    benchmark:
        str(PATTERN.benchmark("prepare_data"))
    resources:
        mem_mb=4000,
        runtime=10,
    shell:
        STEP_COMMAND
