"""Gather the per-run tightness tables of every input scale into one CSV (rule tightness_table)."""

from localregions.cli import run_step
from localregions.pipeline import step_tightness_table

if __name__ == "__main__":
    run_step(step_tightness_table)
