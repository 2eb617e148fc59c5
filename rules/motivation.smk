# checkpoints -> the studies of the paper's motivation (issue 24; docs/motivation_hypotheses.md):
#   search       H3: the balls with the most regions, by simulated annealing against two baselines
#   adversarial  H1: the regions around PGD examples against their clean points
#   backdoor     H2: poisoned networks trained here (train_backdoor); the regions around triggered inputs
# Each measures the last checkpoint of every seed of one (model, lr) training job of motivation.networks (figure3's
# jobs, trained by figure3's own train rule in results/figure3/runs/: an input here, never retrained), or of the
# experiment's own grid where motivation.networks is null; then, per study, its result tables and its
# hypothesis decided over seeds (<study>_claims.csv).


rule search:
    input:
        runs=measured_runs,
        manifest=measured_point_sets,
    output:
        points=PATTERN.motivation_points("search", "{model}", "{lr}"),
        maxima=PATTERN.motivation_part("search", "maxima", "{model}", "{lr}"),
        curves=PATTERN.motivation_part("search", "curves", "{model}", "{lr}"),
        kinds=PATTERN.motivation_part("search", "kinds", "{model}", "{lr}"),
        effects=PATTERN.motivation_part("search", "effects", "{model}", "{lr}"),
    params:
        job=grid_job,
        search=section("search"),
        complexity_directions=key("motivation.complexity_directions"),
        radius=key("bounds.radius"),
        norm=key("bounds.norm"),
        runtime=section("runtime"),
    log:
        PATTERN.log("search", SETTING),
    benchmark:
        PATTERN.benchmark("search", SETTING)
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=2000,
        runtime=60,
    script:
        "../scripts/search.py"


rule search_tables:
    input:
        maxima=motivation_parts("search", "maxima"),
        curves=motivation_parts("search", "curves"),
        kinds=motivation_parts("search", "kinds"),
        effects=motivation_parts("search", "effects"),
    output:
        maxima=motivation_table("search", "maxima"),
        curves=motivation_table("search", "curves"),
        kinds=motivation_table("search", "kinds"),
        effects=motivation_table("search", "effects"),
        claims=motivation_table("search", "claims"),
    params:
        study="search",
    log:
        MAIN.layout.log("search_tables"),
    benchmark:
        MAIN.layout.benchmark("search_tables")
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/motivation_tables.py"


rule adversarial:
    input:
        runs=measured_runs,
        manifest=measured_point_sets,
    output:
        points=PATTERN.motivation_points("adversarial", "{model}", "{lr}"),
        attacks=PATTERN.motivation_part("adversarial", "attacks", "{model}", "{lr}"),
        kinds=PATTERN.motivation_part("adversarial", "kinds", "{model}", "{lr}"),
        effects=PATTERN.motivation_part("adversarial", "effects", "{model}", "{lr}"),
    params:
        job=grid_job,
        adversarial=section("adversarial"),
        # The search maxima measured beside the examples are found as experiment=search finds them: the search
        # section's settings but whether the study runs (a plain dict, not the section: the step reads all of it).
        maxima_search=lambda wildcards: {k: v for k, v in section("search")(wildcards).items() if k != "enabled"},
        complexity_directions=key("motivation.complexity_directions"),
        radius=key("bounds.radius"),
        norm=key("bounds.norm"),
        scale=key("data.scale"),
        runtime=section("runtime"),
    log:
        PATTERN.log("adversarial", SETTING),
    benchmark:
        PATTERN.benchmark("adversarial", SETTING)
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=2000,
        runtime=60,
    script:
        "../scripts/adversarial.py"


rule adversarial_tables:
    input:
        attacks=motivation_parts("adversarial", "attacks"),
        kinds=motivation_parts("adversarial", "kinds"),
        effects=motivation_parts("adversarial", "effects"),
    output:
        attacks=motivation_table("adversarial", "attacks"),
        kinds=motivation_table("adversarial", "kinds"),
        effects=motivation_table("adversarial", "effects"),
        claims=motivation_table("adversarial", "claims"),
    params:
        study="adversarial",
    log:
        MAIN.layout.log("adversarial_tables"),
    benchmark:
        MAIN.layout.benchmark("adversarial_tables")
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/motivation_tables.py"


rule train_backdoor:
    input:
        point_sets=lambda wildcards: list(PLAN[measured(wildcards).data_id].layout.point_sets.values()),
        manifest=measured_point_sets,
    output:
        checkpoints=directory(PATTERN.poisoned_checkpoints("{model}", "{lr}")),
        metrics=ensure(PATTERN.poisoned_metrics("{model}", "{lr}"), non_empty=True),
        runs=ensure(PATTERN.poisoned_runs("{model}", "{lr}"), non_empty=True),
        manifest=ensure(PATTERN.poisoned_manifest("{model}", "{lr}"), non_empty=True),
    params:
        job=grid_job,
        model=lambda wildcards: asdict(experiment(wildcards).models[wildcards.model]),
        momentum=key("optim.momentum"),
        # The training's settings but its checkpoints: a poisoned network is kept at its last epoch only.
        epochs=key("train.epochs"),
        batch_size=key("train.batch_size"),
        loss=key("train.loss"),
        share=key("backdoor.share"),
        target=key("backdoor.target"),
        threshold=key("backdoor.threshold"),
        distance=key("backdoor.distance"),
        scale=key("data.scale"),
        runtime=section("runtime"),
    log:
        PATTERN.log("train_backdoor", SETTING),
    benchmark:
        PATTERN.benchmark("train_backdoor", SETTING)
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=2000,
        runtime=120,
    script:
        "../scripts/train_backdoor.py"


rule backdoor:
    input:
        poisoned=rules.train_backdoor.output.manifest,
        poisoned_runs=rules.train_backdoor.output.runs,
        clean=measured_runs,
        manifest=measured_point_sets,
    output:
        points=PATTERN.motivation_points("backdoor", "{model}", "{lr}"),
        runs=PATTERN.motivation_part("backdoor", "runs", "{model}", "{lr}"),
        kinds=PATTERN.motivation_part("backdoor", "kinds", "{model}", "{lr}"),
        effects=PATTERN.motivation_part("backdoor", "effects", "{model}", "{lr}"),
        aucs=PATTERN.motivation_part("backdoor", "aucs", "{model}", "{lr}"),
        roc=PATTERN.motivation_part("backdoor", "roc", "{model}", "{lr}"),
    params:
        job=grid_job,
        distance=key("backdoor.distance"),
        test_points=key("backdoor.points"),
        roc_points=key("backdoor.roc_points"),
        complexity_directions=key("motivation.complexity_directions"),
        radius=key("bounds.radius"),
        norm=key("bounds.norm"),
        scale=key("data.scale"),
        runtime=section("runtime"),
    log:
        PATTERN.log("backdoor", SETTING),
    benchmark:
        PATTERN.benchmark("backdoor", SETTING)
    threads: MAIN.settings.runtime.threads
    resources:
        mem_mb=2000,
        runtime=60,
    script:
        "../scripts/backdoor.py"


rule backdoor_tables:
    input:
        runs=motivation_parts("backdoor", "runs"),
        kinds=motivation_parts("backdoor", "kinds"),
        effects=motivation_parts("backdoor", "effects"),
        aucs=motivation_parts("backdoor", "aucs"),
        roc=motivation_parts("backdoor", "roc"),
    output:
        runs=motivation_table("backdoor", "runs"),
        kinds=motivation_table("backdoor", "kinds"),
        effects=motivation_table("backdoor", "effects"),
        claims=motivation_table("backdoor", "claims"),
        aucs=motivation_table("backdoor", "aucs"),
        roc=motivation_table("backdoor", "roc"),
    params:
        study="backdoor",
    log:
        MAIN.layout.log("backdoor_tables"),
    benchmark:
        MAIN.layout.benchmark("backdoor_tables")
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/motivation_tables.py"
