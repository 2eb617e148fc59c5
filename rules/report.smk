# summaries -> figures, the comparison with the committed reference, the report.


rule figures:
    input:
        tables=FIGURE_TABLES,
    output:
        figures=[report(path, caption=caption_file(Path(path).stem), category="Figures") if path.endswith(".png")
                 else path for path in figure_files(MAIN, rule="figures")],
    params:
        radius=MAIN.settings.bounds.radius,
        norm=MAIN.settings.bounds.norm,
    log:
        MAIN.layout.log("figures"),
    benchmark:
        MAIN.layout.benchmark("figures")
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule compare:
    input:
        tables=COMPARED_TABLES,
        references=existing(MAIN.layout.reference_table(name) for name in MAIN.result_tables()),
        figures=figure_files(MAIN, "png"),
        reference_figures=existing(MAIN.layout.reference_figure(stem) for _, stem in MAIN.figures()),
    output:
        comparison=MAIN.layout.comparison,
    params:
        experiment=MAIN.id,
        # Named in the verdict's text only (no file is read through it).
        reference_dir=lambda wildcards: MAIN.layout.reference_dir,
        # When a number agrees with its reference (rounding, a fraction of a seed standard error).
        reference=asdict(MAIN.settings.reference),
    log:
        MAIN.layout.log("compare"),
    benchmark:
        MAIN.layout.benchmark("compare")
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/compare.py"


rule report:
    input:
        tables=REPORTED_TABLES,
        methods_timing=[MAIN.layout.methods_timing] if "methods" in MAIN.studies() else [],
        comparison=rules.compare.output.comparison,
        figures=figure_files(MAIN, "png"),
    output:
        report=report(MAIN.layout.report, caption="report/report.rst", category="Report"),
    params:
        experiment=MAIN.id,
        settings=MAIN.settings_values(),
        # A study of the paper's motivation has its own report (reporting/motivation_report.py).
        studies=MAIN.motivation_studies(),
        radius=MAIN.settings.bounds.radius,
        norm=MAIN.settings.bounds.norm,
    log:
        MAIN.layout.log("report"),
    benchmark:
        MAIN.layout.benchmark("report")
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/report.py"
