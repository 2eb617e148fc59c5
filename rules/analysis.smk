# summaries -> tightness, radius sweep, figures and the report.


rule tightness:
    input:
        checkpoints=rules.train.output.checkpoints,
        sets=lambda w: EXPERIMENTS[w.name].processed_sets(),
    output:
        "results/{name}/tightness/{model}_lr{lr}_seed{seed}.csv",
    params:
        scale=input_scale,
        settings=lambda w: EXPERIMENTS[w.name].section_json("bounds", "tightness"),
    log:
        f"logs/{{name}}/tightness/{RUN}.log",
    benchmark:
        f"benchmarks/{{name}}/tightness/{RUN}.tsv"
    threads: SETTINGS.runtime.threads
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "{PYTHON} {SCRIPTS}/tightness.py {HYDRA_ARGS} name={wildcards.name} data.scale={params.scale}"
        " model={wildcards.model} optim.lr={wildcards.lr} seed={wildcards.seed} > {log} 2>&1"


# The rules below serve the requested experiment only (companions just train networks).


rule tightness_table:
    input:
        MAIN.tightness_parts(),
    output:
        str(SETTINGS.tightness_file),
    log:
        f"logs/{NAME}/tightness_table.log",
    benchmark:
        f"benchmarks/{NAME}/tightness_table.tsv"
    shell:
        "{PYTHON} {SCRIPTS}/tightness_table.py {HYDRA_ARGS} > {log} 2>&1"


rule radius_sweep:
    input:
        checkpoints=MAIN.run_files("checkpoints"),
        sets=MAIN.processed_sets(),
    output:
        str(SETTINGS.radius_sweep_file),
    params:
        settings=MAIN.section_json("bounds", "sweep"),
    log:
        f"logs/{NAME}/radius_sweep.log",
    benchmark:
        f"benchmarks/{NAME}/radius_sweep.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{PYTHON} {SCRIPTS}/radius_sweep.py {HYDRA_ARGS} > {log} 2>&1"


rule figures:
    input:
        by_setting=str(SETTINGS.summary_by_setting_file),
        extras=MAIN.analysis_tables(),
    output:
        MAIN.figure_files(),
    log:
        f"logs/{NAME}/figures.log",
    benchmark:
        f"benchmarks/{NAME}/figures.tsv"
    shell:
        "{PYTHON} {SCRIPTS}/make_figures.py {HYDRA_ARGS} > {log} 2>&1"


rule report:
    input:
        summary=str(SETTINGS.summary_file),
        by_setting=str(SETTINGS.summary_by_setting_file),
        runs=str(SETTINGS.runs_file),
        extras=MAIN.analysis_tables(),
        figures=MAIN.figure_files(),
    output:
        str(SETTINGS.report_file),
    log:
        f"logs/{NAME}/report.log",
    benchmark:
        f"benchmarks/{NAME}/report.tsv"
    shell:
        "{PYTHON} {SCRIPTS}/make_report.py {HYDRA_ARGS} > {log} 2>&1"
