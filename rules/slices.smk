# checkpoints -> exact 2-D slices of the linear regions through one point of each set, before and after training.


rule slices:
    input:
        runs=grid_files("runs_manifest"),
        manifest=point_sets,
    output:
        table=report(MAIN.layout.table("slices"), caption=result_table("slices").caption, category="Tables"),
        figures=[report(path, caption=caption_file(Path(path).stem), category="Figures") if path.endswith(".png")
                 else path for path in figure_files(MAIN, rule="slices")],
    params:
        jobs=grid_jobs,
        radius=key("bounds.radius"),
        scale=key("data.scale"),
        seed=key("slices.seed"),
        datasets=key("slices.datasets"),
        point=key("slices.point"),
        plane=key("slices.plane"),
        plane_seed=key("slices.plane_seed"),
        window=key("slices.window"),
        max_regions=key("slices.max_regions"),
        runtime=section("runtime"),
    log:
        MAIN.layout.log("slices"),
    benchmark:
        MAIN.layout.benchmark("slices")
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "../scripts/slices.py"
