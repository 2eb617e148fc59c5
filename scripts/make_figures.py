"""Figure 3 per depth, the boundary-distance, radius-sweep and tightness figures, as PNG and PDF (rule figures)."""

from localregions.cli import run_step
from localregions.pipeline import step_figures

if __name__ == "__main__":
    run_step(step_figures)
