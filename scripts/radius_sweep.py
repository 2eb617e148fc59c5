"""Algorithm 1 over a range of radii on every network of the grid (rule radius_sweep)."""

import hydra
from omegaconf import DictConfig

from localregions.config import to_settings
from localregions.pipeline import step_radius_sweep, log_settings


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def main(cfg: DictConfig) -> None:
    settings = to_settings(cfg)
    log_settings(settings)
    step_radius_sweep(settings)


if __name__ == "__main__":
    main()
