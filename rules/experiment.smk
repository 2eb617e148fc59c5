# processed -> checkpoints -> per-point bounds -> summaries.


rule train:
    input:
        train=f"{PROCESSED}/train.pt",
        test=f"{PROCESSED}/test.pt",
    output:
        metrics=f"{RESULTS}/runs/{RUN}/metrics.csv",
        checkpoints=directory(f"{RESULTS}/runs/{RUN}/checkpoints"),
    params:
        settings=lambda w: settings_json("data", "optim", "train", model=w.model),
    log:
        f"{LOGS}/train/{RUN}.log",
    benchmark:
        f"{BENCHMARKS}/train/{RUN}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "{PYTHON} scripts/train.py {HYDRA_ARGS} model={wildcards.model} optim.lr={wildcards.lr}"
        " seed={wildcards.seed} > {log} 2>&1"


rule bounds:
    input:
        metrics=rules.train.output.metrics,
        checkpoints=rules.train.output.checkpoints,
        sets=expand(f"{PROCESSED}/{{dataset}}.pt", dataset=SETTINGS.bounds.datasets),
    output:
        f"{RESULTS}/runs/{RUN}/bounds.csv.gz",
    params:
        settings=settings_json("bounds"),
    log:
        f"{LOGS}/bounds/{RUN}.log",
    benchmark:
        f"{BENCHMARKS}/bounds/{RUN}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{PYTHON} scripts/compute_bounds.py {HYDRA_ARGS} model={wildcards.model} optim.lr={wildcards.lr}"
        " seed={wildcards.seed} > {log} 2>&1"


rule aggregate:
    input:
        bounds=expand(f"{RESULTS}/runs/{{run}}/bounds.csv.gz", run=RUNS),
        metrics=expand(f"{RESULTS}/runs/{{run}}/metrics.csv", run=RUNS),
    output:
        summary=f"{RESULTS}/summary.csv",
        by_setting=f"{RESULTS}/summary_by_setting.csv",
        runs=f"{RESULTS}/runs.csv",
    log:
        f"{LOGS}/aggregate.log",
    benchmark:
        f"{BENCHMARKS}/aggregate.tsv"
    resources:
        mem_mb=4000,
        runtime=10,
    shell:
        "{PYTHON} scripts/aggregate.py {HYDRA_ARGS} > {log} 2>&1"
