# processed -> checkpoints -> per-point bounds -> summaries and claims.
# One training job and one bound job per (model, learning rate): all seeds of the grid.


rule train:
    input:
        unpack(step_inputs("train")),
    output:
        runs=directory(str(PATTERN.runs_dir("{model}", "{lr}"))),
    params:
        python=PYTHON,
        settings=job_settings("train"),
        job=job_spec("train"),
    log:
        str(PATTERN.log("train", SETTING)),
    benchmark:
        str(PATTERN.benchmark("train", SETTING))
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        STEP_COMMAND


rule bounds:
    input:
        unpack(step_inputs("bounds")),
    output:
        bounds=str(PATTERN.bounds("{model}", "{lr}")),
    params:
        python=PYTHON,
        settings=job_settings("bounds"),
        job=job_spec("bounds"),
    log:
        str(PATTERN.log("bounds", SETTING)),
    benchmark:
        str(PATTERN.benchmark("bounds", SETTING))
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        STEP_COMMAND


rule aggregate:
    input:
        unpack(step_inputs("aggregate")),
    output:
        summary=report(str(PATTERN.summary), caption="report/table_summary.rst", category="Tables"),
        summary_by_setting=report(str(PATTERN.summary_by_setting), caption="report/table_summary_by_setting.rst",
                                  category="Tables"),
        runs=report(str(PATTERN.runs), caption="report/table_runs.rst", category="Tables"),
    params:
        python=PYTHON,
        settings=job_settings("aggregate"),
        job=job_spec("aggregate"),
    log:
        str(PATTERN.log("aggregate")),
    benchmark:
        str(PATTERN.benchmark("aggregate"))
    resources:
        mem_mb=4000,
        runtime=10,
    shell:
        STEP_COMMAND


rule claims:
    input:
        unpack(step_inputs("claims")),
    output:
        claims=report(str(PATTERN.claims), caption="report/table_claims.rst", category="Tables"),
    params:
        python=PYTHON,
        settings=job_settings("claims"),
        job=job_spec("claims"),
    log:
        str(PATTERN.log("claims")),
    benchmark:
        str(PATTERN.benchmark("claims"))
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        STEP_COMMAND
