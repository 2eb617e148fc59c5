"""Train one network of the grid and checkpoint it at every bound epoch (rule train).
Alone: python scripts/train.py model=mlp3 optim.lr=0.001 seed=4"""

import hydra
from omegaconf import DictConfig

from localregions.config import to_settings
from localregions.pipeline import step_train, log_settings


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def main(cfg: DictConfig) -> None:
    settings = to_settings(cfg)
    log_settings(settings)
    step_train(settings)


if __name__ == "__main__":
    main()
