"""Algorithm 1 over a range of radii on every network of the grid (rule radius_sweep)."""

from localregions.cli import run_step
from localregions.pipeline import step_radius_sweep

if __name__ == "__main__":
    run_step(step_radius_sweep)
