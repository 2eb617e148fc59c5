"""Exact and sampled region counts beside the bound for one run, first and last epochs (rule tightness).
Alone: python scripts/tightness.py model=mlp2 optim.lr=0.02 seed=0"""

import hydra
from omegaconf import DictConfig

from localregions.config import to_settings
from localregions.pipeline import step_tightness, log_settings


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def main(cfg: DictConfig) -> None:
    settings = to_settings(cfg)
    log_settings(settings)
    step_tightness(settings)


if __name__ == "__main__":
    main()
