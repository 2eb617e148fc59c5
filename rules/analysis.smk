# checkpoints -> per-ball studies beside the bound (exact counts, tighter bounds), other radii, the variants.


rule tightness:
    input:
        runs=rules.train.output.manifest,
        manifest=point_sets,
    output:
        part=PATTERN.study_part("tightness", "{model}", "{lr}"),
    params:
        job=grid_job,
        scale=key("data.scale"),
        norm=key("bounds.norm"),
        datasets=key("bounds.datasets"),
        points=key("tightness.points"),
        samples=key("tightness.samples"),
        max_regions=key("tightness.max_regions"),
        radii=lambda wildcards: experiment(wildcards).settings.tightness.radii[experiment(wildcards).scale],
        runtime=section("runtime"),
    log:
        PATTERN.log("tightness", SETTING),
    benchmark:
        PATTERN.benchmark("tightness", SETTING)
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=2000,
        runtime=60,
    script:
        "../scripts/tightness.py"


rule tightness_table:
    input:
        parts=study_parts("tightness"),
    output:
        table=report(MAIN.layout.table("tightness"), caption=result_table("tightness").caption, category="Tables"),
    log:
        MAIN.layout.log("tightness_table"),
    benchmark:
        MAIN.layout.benchmark("tightness_table")
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/tightness_table.py"


rule methods:
    input:
        runs=rules.train.output.manifest,
        manifest=point_sets,
    output:
        part=PATTERN.study_part("methods", "{model}", "{lr}"),
        timing=PATTERN.methods_timing_part("{model}", "{lr}"),
    params:
        job=grid_job,
        scale=key("data.scale"),
        norm=key("bounds.norm"),
        datasets=key("bounds.datasets"),
        compared=key("methods.methods"),
        points=key("methods.points"),
        lp_points=key("methods.lp_points"),
        radii=lambda wildcards: experiment(wildcards).settings.methods.radii[experiment(wildcards).scale],
        complexity_directions=key("methods.complexity_directions"),
        runtime=section("runtime"),
    log:
        PATTERN.log("methods", SETTING),
    benchmark:
        PATTERN.benchmark("methods", SETTING)
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=3000,
        runtime=30,
    script:
        "../scripts/methods.py"


rule methods_table:
    input:
        parts=study_parts("methods"),
        timings=study_parts("methods", "methods_timing_part"),
    output:
        table=report(MAIN.layout.table("methods"), caption=result_table("methods").caption, category="Tables"),
        timing=MAIN.layout.methods_timing,
    log:
        MAIN.layout.log("methods_table"),
    benchmark:
        MAIN.layout.benchmark("methods_table")
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/methods_table.py"


rule radius_sweep:
    input:
        runs=grid_files("runs_manifest"),
        manifest=point_sets,
    output:
        table=report(MAIN.layout.table("radius_sweep"), caption=result_table("radius_sweep").caption,
                     category="Tables"),
    params:
        jobs=grid_jobs,
        norm=key("bounds.norm"),
        datasets=key("bounds.datasets"),
        points_per_set=key("bounds.points_per_set"),
        chunk_size=key("bounds.chunk_size"),
        memory_budget_bytes=key("bounds.memory_budget_bytes"),
        radii=key("sweep.radii"),
        runtime=section("runtime"),
    log:
        MAIN.layout.log("radius_sweep"),
    benchmark:
        MAIN.layout.benchmark("radius_sweep")
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/radius_sweep.py"


rule variant_claims:
    input:
        # The study's own experiment first, as variant "default": the one every other is held against.
        claims=[e.layout.table("claims") for e in [MAIN, *MAIN.variants]],
        runs=[e.layout.table("runs") for e in [MAIN, *MAIN.variants]],
    output:
        variant_claims=report(MAIN.layout.table("variant_claims"), caption=result_table("variant_claims").caption,
                              category="Tables"),
    params:
        variants=[[DEFAULT_VARIANT, []]] + [[v.variant_name, MAIN.settings.variants[v.variant_name]] for v in MAIN.variants],
    log:
        MAIN.layout.log("variant_claims"),
    benchmark:
        MAIN.layout.benchmark("variant_claims")
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/variant_claims.py"
