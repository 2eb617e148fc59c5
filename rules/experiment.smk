# processed -> checkpoints -> per-point bounds -> summaries and claims.
# One training job and one bound job per (model, learning rate): all seeds of the grid.


rule train:
    input:
        point_sets=lambda wildcards: list(data_layout(wildcards).point_sets.values()),
        manifest=point_sets,
    output:
        checkpoints=directory(PATTERN.checkpoints("{model}", "{lr}")),
        metrics=ensure(PATTERN.metrics("{model}", "{lr}"), non_empty=True),
        manifest=ensure(PATTERN.runs_manifest("{model}", "{lr}"), non_empty=True),
    params:
        job=grid_job,
        model=lambda wildcards: asdict(experiment(wildcards).models[wildcards.model]),
        momentum=key("optim.momentum"),
        train=section("train"),
        runtime=section("runtime"),
    log:
        PATTERN.log("train", SETTING),
    benchmark:
        PATTERN.benchmark("train", SETTING)
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/train.py"


rule bounds:
    input:
        runs=rules.train.output.manifest,
        manifest=point_sets,
    output:
        bounds=ensure(PATTERN.bounds("{model}", "{lr}"), non_empty=True),
    params:
        job=grid_job,
        bounds=section("bounds"),
        runtime=section("runtime"),
    log:
        PATTERN.log("bounds", SETTING),
    benchmark:
        PATTERN.benchmark("bounds", SETTING)
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=3000,
        runtime=60,
    script:
        "../scripts/bounds.py"


rule aggregate:
    input:
        runs=grid_files("runs_manifest"),
        bounds=grid_files("bounds"),
    output:
        summary=report(PATTERN.table("summary"), caption=result_table("summary").caption, category="Tables"),
        summary_by_setting=report(PATTERN.table("summary_by_setting"),
                                  caption=result_table("summary_by_setting").caption, category="Tables"),
        runs=report(PATTERN.table("runs"), caption=result_table("runs").caption, category="Tables"),
    params:
        jobs=grid_jobs,
    log:
        PATTERN.log("aggregate"),
    benchmark:
        PATTERN.benchmark("aggregate")
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/aggregate.py"


rule claims:
    input:
        summary=rules.aggregate.output.summary,
        runs=rules.aggregate.output.runs,
    output:
        claims=report(PATTERN.table("claims"), caption=result_table("claims").caption, category="Tables"),
    params:
        radius=key("bounds.radius"),
        norm=key("bounds.norm"),
    log:
        PATTERN.log("claims"),
    benchmark:
        PATTERN.benchmark("claims")
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/claims.py"
