"""Build the paper's four point sets (train, test, random1, random2) from MNIST (rule prepare_data)."""

from localregions.cli import run_step
from localregions.pipeline import step_prepare

if __name__ == "__main__":
    run_step(step_prepare)
