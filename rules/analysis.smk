# checkpoints -> per-ball studies beside the bound: exact counts, tighter bounds, other radii.


rule tightness:
    input:
        unpack(step_inputs("tightness")),
    output:
        part=str(PATTERN.tightness_part("{model}", "{lr}")),
    params:
        python=PYTHON,
        settings=job_settings("tightness"),
        job=job_spec("tightness"),
    log:
        str(PATTERN.log("tightness", SETTING)),
    benchmark:
        str(PATTERN.benchmark("tightness", SETTING))
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=4000,
        runtime=90,
    shell:
        STEP_COMMAND


rule tightness_table:
    input:
        unpack(step_inputs("tightness_table")),
    output:
        table=report(str(MAIN.layout.tightness), caption="report/table_tightness.rst", category="Tables"),
    params:
        python=PYTHON,
        settings=job_settings("tightness_table"),
        job=job_spec("tightness_table"),
    log:
        str(MAIN.layout.log("tightness_table")),
    benchmark:
        str(MAIN.layout.benchmark("tightness_table"))
    shell:
        STEP_COMMAND


rule methods:
    input:
        unpack(step_inputs("methods")),
    output:
        part=str(PATTERN.methods_part("{model}", "{lr}")),
        timing=str(PATTERN.methods_timing_part("{model}", "{lr}")),
    params:
        python=PYTHON,
        settings=job_settings("methods"),
        job=job_spec("methods"),
    log:
        str(PATTERN.log("methods", SETTING)),
    benchmark:
        str(PATTERN.benchmark("methods", SETTING))
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=4000,
        runtime=90,
    shell:
        STEP_COMMAND


rule methods_table:
    input:
        unpack(step_inputs("methods_table")),
    output:
        table=report(str(MAIN.layout.methods), caption="report/table_methods.rst", category="Tables"),
        timing=str(MAIN.layout.methods_timing),
    params:
        python=PYTHON,
        settings=job_settings("methods_table"),
        job=job_spec("methods_table"),
    log:
        str(MAIN.layout.log("methods_table")),
    benchmark:
        str(MAIN.layout.benchmark("methods_table"))
    shell:
        STEP_COMMAND


rule radius_sweep:
    input:
        unpack(step_inputs("radius_sweep")),
    output:
        table=report(str(MAIN.layout.radius_sweep), caption="report/table_radius_sweep.rst", category="Tables"),
    params:
        python=PYTHON,
        settings=job_settings("radius_sweep"),
        job=job_spec("radius_sweep"),
    log:
        str(MAIN.layout.log("radius_sweep")),
    benchmark:
        str(MAIN.layout.benchmark("radius_sweep"))
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        STEP_COMMAND


rule variant_claims:
    input:
        unpack(step_inputs("variant_claims")),
    output:
        variant_claims=report(str(MAIN.layout.variant_claims), caption="report/table_variant_claims.rst", category="Tables"),
    params:
        python=PYTHON,
        settings=job_settings("variant_claims"),
        job=job_spec("variant_claims"),
    log:
        str(MAIN.layout.log("variant_claims")),
    benchmark:
        str(MAIN.layout.benchmark("variant_claims"))
    shell:
        STEP_COMMAND
