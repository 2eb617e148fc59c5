"""Hydra's side of the settings: the schema registered in the ConfigStore, composition, and its errors.

:mod:`.settings` holds the schema as plain dataclasses; this module registers it with Hydra as
``config_schema`` (which ``configs/config.yaml`` starts from), composes ``config.yaml`` with a
user's overrides outside of ``@hydra.main`` (the Snakefile, tests, notebooks) and turns Hydra's
and OmegaConf's errors into :class:`SettingsError`: one line that names the key and what would
be valid.
"""

from __future__ import annotations

import difflib
from dataclasses import fields, is_dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from .settings import CONFIG_DIR, Config

__all__ = ["SettingsError", "compose_config", "to_settings", "compose_settings", "settings_yaml"]

ConfigStore.instance().store(name="config_schema", node=Config)


class SettingsError(ValueError):
    """A setting is wrong; the message names the key and what would be right, with no traceback needed."""


def to_settings(cfg: DictConfig) -> Config:
    """Turn a composed Hydra config into a validated :class:`Config` (runs every ``__post_init__`` check)."""
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))
    # Drop Hydra's own node when present; it is not part of the experiment's settings.
    if "hydra" in cfg:
        del cfg["hydra"]
    merged = OmegaConf.merge(OmegaConf.structured(Config), cfg)
    return OmegaConf.to_object(merged)


def compose_config(overrides: list[str] | tuple[str, ...] = (), config_dir: str | Path | None = None) -> DictConfig:
    """Compose ``config.yaml`` with Hydra overrides, outside of ``@hydra.main`` (Snakefile, tests, notebooks).

    Works from any directory: the configs are the package's own unless ``config_dir`` names others.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    directory = str(Path(config_dir).resolve()) if config_dir is not None else str(CONFIG_DIR)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=directory, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def _section_keys(section: str) -> list[str] | None:
    """The keys of a settings section (``"bounds"``, ``"data"``, ...), or None if it is not one."""
    node = Config()
    for part in section.split("."):
        node = getattr(node, part, None)
    return [f.name for f in fields(node)] if is_dataclass(node) else None


def _explain(exc: Exception) -> SettingsError:
    """Turn Hydra's composition errors into one line that names the bad key and the valid ones."""
    cause = exc.__cause__
    full_key = getattr(cause, "full_key", None)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if full_key and "not in" in str(cause):
        section, _, key = str(full_key).rpartition(".")
        valid = _section_keys(section) if section else [f.name for f in fields(Config)]
        if valid is not None:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {section + '.' if section else ''}{close[0]}?)" if close else ""
            where = f"{section} has" if section else "the top level has"
            return SettingsError(f"{full_key} is not a setting{hint}; {where} the keys: {', '.join(valid)}")
    if "Could not find" in text or "Could not load" in text:
        options = [line.strip() for line in str(exc).splitlines() if line.startswith("\t")]
        return SettingsError(f"{text}; the choices are: {', '.join(options)}" if options else text)
    if cause is not None:
        reason = str(cause).splitlines()[0]
        return SettingsError(f"{text}: {reason}")
    return SettingsError(text)


def compose_settings(overrides: list[str]) -> Config:
    """Compose and validate one experiment's settings; :class:`SettingsError` names what is wrong."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return to_settings(compose_config(list(overrides)))
    except (HydraException, OmegaConfBaseException) as exc:
        raise _explain(exc) from exc
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc


def settings_yaml(settings) -> str:
    """Settings (a dataclass or a mapping of them) as YAML, for logs and reports."""
    return OmegaConf.to_yaml(OmegaConf.structured(settings) if not isinstance(settings, dict) else OmegaConf.create(
        {key: OmegaConf.structured(value) if hasattr(value, "__dataclass_fields__") else value for key, value in settings.items()}
    ))
