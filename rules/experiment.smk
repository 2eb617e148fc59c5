# processed -> checkpoints -> per-point bounds -> summaries.


rule train:
    input:
        train="data/processed/{name}/train.pt",
        test="data/processed/{name}/test.pt",
    output:
        metrics=f"results/{{name}}/runs/{RUN}/metrics.csv",
        checkpoints=directory(f"results/{{name}}/runs/{RUN}/checkpoints"),
    params:
        scale=input_scale,
        # Only the settings that change the trained network: a bound setting never retrains.
        settings=lambda w: EXPERIMENTS[w.name].section_json("data", "optim", "train", model=w.model),
    log:
        f"logs/{{name}}/train/{RUN}.log",
    benchmark:
        f"benchmarks/{{name}}/train/{RUN}.tsv"
    threads: SETTINGS.runtime.threads
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "{PYTHON} {SCRIPTS}/train.py {HYDRA_ARGS} name={wildcards.name} data.scale={params.scale}"
        " model={wildcards.model} optim.lr={wildcards.lr} seed={wildcards.seed} > {log} 2>&1"


rule bounds:
    input:
        metrics=rules.train.output.metrics,
        checkpoints=rules.train.output.checkpoints,
        sets=lambda w: EXPERIMENTS[w.name].processed_sets(),
    output:
        f"results/{{name}}/runs/{RUN}/bounds.csv.gz",
    params:
        scale=input_scale,
        settings=lambda w: EXPERIMENTS[w.name].section_json("bounds"),
    log:
        f"logs/{{name}}/bounds/{RUN}.log",
    benchmark:
        f"benchmarks/{{name}}/bounds/{RUN}.tsv"
    threads: SETTINGS.runtime.threads
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{PYTHON} {SCRIPTS}/compute_bounds.py {HYDRA_ARGS} name={wildcards.name} data.scale={params.scale}"
        " model={wildcards.model} optim.lr={wildcards.lr} seed={wildcards.seed} > {log} 2>&1"


rule aggregate:
    input:
        bounds=lambda w: EXPERIMENTS[w.name].run_files("bounds.csv.gz"),
        metrics=lambda w: EXPERIMENTS[w.name].run_files("metrics.csv"),
    output:
        summary="results/{name}/summary.csv",
        by_setting="results/{name}/summary_by_setting.csv",
        runs="results/{name}/runs.csv",
    params:
        scale=input_scale,
    log:
        "logs/{name}/aggregate.log",
    benchmark:
        "benchmarks/{name}/aggregate.tsv"
    resources:
        mem_mb=4000,
        runtime=10,
    shell:
        "{PYTHON} {SCRIPTS}/aggregate.py {HYDRA_ARGS} name={wildcards.name} data.scale={params.scale} > {log} 2>&1"
