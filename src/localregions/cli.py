"""The one wrapper every script in ``scripts/`` uses: compose the Hydra config, validate it, run a step."""

from __future__ import annotations

import logging
from collections.abc import Callable

import hydra
from omegaconf import DictConfig

from .config import CONFIG_DIR, Config, settings_yaml, to_settings

log = logging.getLogger(__name__)


def run_step(step: Callable[[Config], object]) -> None:
    """Run ``step`` as a Hydra app: command-line overrides compose ``configs/config.yaml``."""

    @hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
    def main(cfg: DictConfig) -> None:
        settings = to_settings(cfg)
        log.info("composed settings:\n%s", settings_yaml(settings))
        step(settings)

    main()
