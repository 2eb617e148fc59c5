# raw -> processed: MNIST with verified checksums, then the paper's four point sets.


rule download_mnist:
    output:
        mnist=PATTERN.mnist_files,
        source=PATTERN.mnist_source,
    params:
        mnist_dir=key("data.mnist_dir"),
        sources=key("data.sources"),
    log:
        PATTERN.shared_log("download_mnist"),
    benchmark:
        PATTERN.shared_benchmark("download_mnist")
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "../scripts/download_mnist.py"


rule prepare_data:
    input:
        mnist=rules.download_mnist.output.mnist,
        source=rules.download_mnist.output.source,
    output:
        point_sets=list(PATTERN.point_sets.values()),
        manifest=ensure(PATTERN.point_sets_manifest, non_empty=True),
    params:
        spec=lambda wildcards: asdict(experiment(wildcards).settings.data.point_set_spec()),
    log:
        PATTERN.log("prepare_data"),
    benchmark:
        PATTERN.benchmark("prepare_data")
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/prepare_data.py"
