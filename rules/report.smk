# summaries -> figures, the comparison with the committed reference, the report.


rule figures:
    input:
        unpack(step_inputs("figures")),
    output:
        figures=[
            report(path, caption=f"report/{Path(path).stem.rstrip('0123456789')}.rst", category="Figures")
            if path.endswith(".png") else path
            for path in MAIN.figure_files()
        ],
    params:
        python=PYTHON,
        settings=job_settings("figures"),
        job=job_spec("figures"),
    log:
        str(MAIN.layout.log("figures")),
    benchmark:
        str(MAIN.layout.benchmark("figures"))
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        STEP_COMMAND


rule compare:
    input:
        unpack(step_inputs("compare")),
    output:
        comparison=str(MAIN.layout.comparison),
    params:
        python=PYTHON,
        settings=job_settings("compare"),
        job=job_spec("compare"),
    log:
        str(MAIN.layout.log("compare")),
    benchmark:
        str(MAIN.layout.benchmark("compare"))
    shell:
        STEP_COMMAND


rule report:
    input:
        unpack(step_inputs("report")),
    output:
        report=report(str(MAIN.layout.report), caption="report/report.rst", category="Report"),
    params:
        python=PYTHON,
        settings=job_settings("report"),
        job=job_spec("report"),
    log:
        str(MAIN.layout.log("report")),
    benchmark:
        str(MAIN.layout.benchmark("report"))
    shell:
        STEP_COMMAND
