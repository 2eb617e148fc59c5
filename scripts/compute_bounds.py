"""Algorithm 1 around every point of the four sets, for every checkpoint of one run (rule bounds).
Alone: python scripts/compute_bounds.py model=mlp3 optim.lr=0.001 seed=4 bounds.radius=0.2"""

import hydra
from omegaconf import DictConfig

from localregions.config import to_settings
from localregions.pipeline import step_bounds, log_settings


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def main(cfg: DictConfig) -> None:
    settings = to_settings(cfg)
    log_settings(settings)
    step_bounds(settings)


if __name__ == "__main__":
    main()
