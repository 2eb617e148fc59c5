"""Train one network of the grid and checkpoint it at every bound epoch (rule train).
Alone: python scripts/train.py model=mlp3 optim.lr=0.001 seed=4"""

from localregions.cli import run_step
from localregions.pipeline import step_train

if __name__ == "__main__":
    run_step(step_train)
