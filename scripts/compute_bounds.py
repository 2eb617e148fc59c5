"""Algorithm 1 around every point of the four sets, for every checkpoint of one run (rule bounds).
Alone: python scripts/compute_bounds.py model=mlp3 optim.lr=0.001 seed=4 bounds.radius=0.2"""

from localregions.cli import run_step
from localregions.pipeline import step_bounds

if __name__ == "__main__":
    run_step(step_bounds)
