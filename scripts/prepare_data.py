"""Build the paper's four point sets (train, test, random1, random2) from MNIST (rule prepare_data)."""

import hydra
from omegaconf import DictConfig

from localregions.config import to_settings
from localregions.pipeline import step_prepare, log_settings


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def main(cfg: DictConfig) -> None:
    settings = to_settings(cfg)
    log_settings(settings)
    step_prepare(settings)


if __name__ == "__main__":
    main()
