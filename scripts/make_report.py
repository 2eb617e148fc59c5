"""The reproduction report, generated from the CSVs: settings, runs, the paper's claims checked (rule report)."""

from localregions.cli import run_step
from localregions.pipeline import step_report

if __name__ == "__main__":
    run_step(step_report)
