# The plan of this invocation and the helpers every rule uses.

import re
import shlex
import sys
from pathlib import Path

from snakemake.logging import logger

from localregions.pipeline.integrity import invalidate_broken_outputs, remove_stale_products
from localregions.pipeline.layout import SETTING_PATTERN, Layout, Roots
from localregions.pipeline.plan import SettingsError, plan_experiments
from localregions.pipeline.settings import MNIST_RAW_FILES
from localregions.vocabulary import DATASET_NAMES

try:
    PLAN = plan_experiments(config.get("overrides", []))
except SettingsError as error:
    # One line naming the bad key, not a traceback through Snakemake.
    sys.exit(f"localregions: bad setting: {error}")

MAIN = PLAN.main
# Patterns of every rule's files: the same Layout as the experiments', with wildcards for names.
PATTERN = Layout(MAIN.layout.roots, "{name}")
SETTING = SETTING_PATTERN
PYTHON = shlex.quote(sys.executable)
# The job spec names its step; the shell only hands it over.
STEP_COMMAND = "{params.python} -m localregions.pipeline run --job {params.job:q} > {log} 2>&1"


wildcard_constraints:
    name="|".join(re.escape(e) for e in PLAN.experiments),
    model="[A-Za-z0-9_.-]+?",
    lr="[0-9.e+-]+",


def job_settings(step):
    """A rule's rerun trigger: the settings the step reads and the run it covers (Snakemake records
    and compares params that depend on the wildcards only, not those computed from input and output)."""

    def settings(wildcards):
        experiment = PLAN[wildcards.name] if hasattr(wildcards, "name") else MAIN
        return experiment.job_settings(step, model=getattr(wildcards, "model", None), lr=getattr(wildcards, "lr", None))

    return settings


def job_spec(step):
    """A rule's params: the job spec the step reads (settings, run, input and output paths)."""

    def spec(wildcards, input, output):
        experiment = PLAN[wildcards.name] if hasattr(wildcards, "name") else MAIN
        return experiment.job(step, dict(input.items()), dict(output.items()),
                              model=getattr(wildcards, "model", None), lr=getattr(wildcards, "lr", None))

    return spec


def step_inputs(step):
    def inputs(wildcards):
        experiment = PLAN[wildcards.name] if hasattr(wildcards, "name") else MAIN
        return experiment.inputs(step, getattr(wildcards, "model", None), getattr(wildcards, "lr", None))

    return inputs


# A run's folder whose files no longer match its manifest (a truncated or deleted checkpoint)
# looks finished to Snakemake: mark it out of date so that it is recomputed.
invalidate_broken_outputs(PLAN, logger.warning)


onsuccess:
    # The comparison with the committed reference is the last word of a run.
    from localregions.reporting.comparison import headline_of

    if MAIN.layout.comparison.is_file():
        print(headline_of(MAIN.layout.comparison))


onerror:
    remove_stale_products(PLAN, logger.warning)
