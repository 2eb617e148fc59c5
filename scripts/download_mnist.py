"""Fetch the four MNIST IDX files from the first source that serves them with the pinned checksums (rule download_mnist)."""

from localregions.cli import run_step
from localregions.pipeline import step_download

if __name__ == "__main__":
    run_step(step_download)
