"""Fetch the four MNIST IDX files from the first source that serves them with the pinned checksums (rule download_mnist)."""

import hydra
from omegaconf import DictConfig

from localregions.config import to_settings
from localregions.pipeline import step_download, log_settings


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def main(cfg: DictConfig) -> None:
    settings = to_settings(cfg)
    log_settings(settings)
    step_download(settings)


if __name__ == "__main__":
    main()
