"""Exact and sampled region counts beside the bound for one run, first and last epochs (rule tightness).
Alone: python scripts/tightness.py model=mlp2 optim.lr=0.02 seed=0"""

from localregions.cli import run_step
from localregions.pipeline import step_tightness

if __name__ == "__main__":
    run_step(step_tightness)
