"""Summaries over points and over seeds, and the list of runs (rule aggregate)."""

from localregions.cli import run_step
from localregions.pipeline import step_aggregate

if __name__ == "__main__":
    run_step(step_aggregate)
