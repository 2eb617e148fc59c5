"""Gather the per-run tightness tables of every input scale into one CSV (rule tightness_table)."""

import hydra
from omegaconf import DictConfig

from localregions.config import to_settings
from localregions.pipeline import step_tightness_table, log_settings


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def main(cfg: DictConfig) -> None:
    settings = to_settings(cfg)
    log_settings(settings)
    step_tightness_table(settings)


if __name__ == "__main__":
    main()
