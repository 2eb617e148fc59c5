"""Summaries over points and over seeds, and the list of runs (rule aggregate)."""

import hydra
from omegaconf import DictConfig

from localregions.config import to_settings
from localregions.pipeline import step_aggregate, log_settings


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def main(cfg: DictConfig) -> None:
    settings = to_settings(cfg)
    log_settings(settings)
    step_aggregate(settings)


if __name__ == "__main__":
    main()
