# The plan of this invocation, the path patterns, and the input and params functions the rules share.
#
# Every rule declares its own files (input, output, log, benchmark), in params the settings its
# step reads (plain values, so that Snakemake reruns the job when one changes), and its resources
# (mem_mb, runtime in minutes: measured, docs/cluster.md; no profile restates them). Paths come
# from localregions.pipeline.layout, the experiments from localregions.pipeline.plan, and the
# work from scripts/<rule>.py, which hands the files and settings to the step.

import re
import sys
from dataclasses import asdict
from pathlib import Path
from snakemake.logging import logger

from localregions.pipeline.layout import Layout
from localregions.pipeline.plan import SettingsError, plan_experiments
from localregions.pipeline.stale import remove_stale_products
from localregions.reporting.products import caption_file, result_table
from localregions.vocabulary import DEFAULT_VARIANT

try:
    PLAN = plan_experiments(config.get("overrides", []))
except SettingsError as error:
    # One line naming the bad key, not a traceback through Snakemake.
    sys.exit(f"localregions: bad setting: {error}")

MAIN = PLAN.main
# Path patterns of every rule: the main experiment's folders, with wildcards for names.
PATTERN = Layout(MAIN.settings.paths, "{name}")
SETTING = "{model}_lr{lr}"


wildcard_constraints:
    name="|".join(re.escape(e) for e in PLAN.experiments),
    model="[A-Za-z0-9_.-]+?",
    lr="[0-9.e+-]+",


# ---------------------------------------------------------------------------------------------- settings


def experiment(wildcards):
    """The experiment a job belongs to: its {name} wildcard, or the main experiment."""
    return PLAN[wildcards.name] if hasattr(wildcards, "name") else MAIN


def section(name):
    """A whole settings section of the job's experiment, as plain values (a param)."""
    return lambda wildcards: asdict(getattr(experiment(wildcards).settings, name))


def key(path):
    """One setting of the job's experiment (``"bounds.norm"``), as a plain value (a param)."""
    section_name, field = path.split(".")
    return lambda wildcards: getattr(getattr(experiment(wildcards).settings, section_name), field)


def grid_job(wildcards):
    """The (model, lr) job of the wildcards, with its depth and the grid's seeds (a param)."""
    return experiment(wildcards).grid_job(wildcards.model, wildcards.lr).as_dict()


def grid_jobs(wildcards):
    """Every (model, lr) job of the experiment's grid (a param, aligned with grid_files)."""
    return [job.as_dict() for job in experiment(wildcards).grid_jobs()]


# ---------------------------------------------------------------------------------------------- files


def layout_of(wildcards):
    return experiment(wildcards).layout


def data_layout(wildcards):
    """Where the experiment's point sets live: its own folder, or its study's when a variant shares them."""
    return PLAN[experiment(wildcards).data_id].layout


def point_sets(wildcards):
    return data_layout(wildcards).point_sets_manifest


def grid_files(kind):
    """One file of ``kind`` (a Layout method: runs_manifest, bounds) per (model, lr) job of the experiment's grid."""
    def files(wildcards):
        layout = layout_of(wildcards)
        return [getattr(layout, kind)(job.model, job.lr) for job in experiment(wildcards).grid_jobs()]

    return files


def study_parts(study, kind="study_part"):
    """The per-job parts of a per-ball study, over the experiments (own and companions) whose networks it measures."""
    def parts(wildcards):
        files = []
        for measured in MAIN.study_experiments(study):
            for job in measured.grid_jobs():
                files.append(measured.layout.study_part(study, job.model, job.lr) if kind == "study_part"
                             else getattr(measured.layout, kind)(job.model, job.lr))
        return files

    return parts


def tables_of(experiment_, names=None):
    """The result tables of an experiment (or those of ``names`` that it makes)."""
    return [experiment_.layout.table(name) for name in experiment_.result_tables() if names is None or name in names]


def figure_files(experiment_, ext=None, rule=None):
    """The figures of an experiment: PNG and PDF (or ``ext`` only) of every registered figure it draws (or of those
    the rule ``rule`` draws)."""
    return [experiment_.layout.figure(stem, e) for figure, stem in experiment_.figures() if rule in (None, figure.rule)
            for e in ((ext,) if ext else ("png", "pdf"))]


def existing(paths):
    return [path for path in paths if Path(path).is_file()]


# The studies of the paper's motivation (rules/motivation.smk) measure the networks of motivation.networks.
def measured(wildcards):
    """The experiment whose trained networks the job measures: motivation.networks, or the job's own."""
    return experiment(wildcards).measured


def measured_runs(wildcards):
    """The manifest of the measured networks' training job for the wildcards' (model, lr)."""
    return measured(wildcards).layout.runs_manifest(wildcards.model, wildcards.lr)


def measured_point_sets(wildcards):
    """The point sets those networks were trained on (their manifest)."""
    return PLAN[measured(wildcards).data_id].layout.point_sets_manifest


def motivation_parts(study, table):
    """One part of the table ``<study>_<table>`` per (model, lr) job of the main experiment's grid."""
    return [MAIN.layout.motivation_part(study, table, job.model, job.lr) for job in MAIN.grid_jobs()]


def motivation_table(study, table):
    """The result table ``<study>_<table>`` of the main experiment, with its caption for the HTML report."""
    name = f"{study}_{table}"
    return report(MAIN.layout.table(name), caption=result_table(name).caption, category="Tables")


# What the main experiment's last rules read (reporting/products.py registers the tables and figures).
FIGURE_TABLES = tables_of(MAIN, {name for figure, _ in MAIN.figures() for name in figure.tables})
COMPARED_TABLES = tables_of(MAIN)
REPORTED_TABLES = tables_of(MAIN)


def targets():
    """What a run makes: every result table, figure, the comparison and the report of the main experiment."""
    return tables_of(MAIN) + figure_files(MAIN) + [MAIN.layout.comparison, MAIN.layout.report]


onsuccess:
    # The comparison with the committed reference is the last word of a run.
    from localregions.reporting.comparison import headline_of

    if Path(MAIN.layout.comparison).is_file():
        print(headline_of(MAIN.layout.comparison))


onerror:
    # A failed job's outputs are removed by Snakemake; the products made from their earlier version must not stay
    # looking current. Each product is held against the inputs its own rule declares.
    from snakemake.io import expand

    remove_stale_products(
        [(expand(list(rules.claims.output), name=MAIN.id), expand(list(rules.claims.input), name=MAIN.id))]
        + [(list(rule.output), list(rule.input)) for rule in (rules.figures, rules.compare, rules.report)],
        logger.warning,
    )
