"""Composition and validation of the Hydra configs, through Hydra's compose API."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from localregions.config import Config, compose_config, run_id, to_settings


def settings(*overrides: str) -> Config:
    return to_settings(compose_config(list(overrides)))


def test_default_is_the_papers_experiment():
    s = settings()
    assert s.name == "figure3"
    assert s.grid.models == ["mlp2", "mlp3"]
    assert s.grid.lrs == [0.02, 0.001]
    assert s.grid.seeds == list(range(10))
    assert s.train.epochs == 20
    assert s.train.checkpoint_epochs() == list(range(0, 21, 2))
    assert s.bounds.radius == 0.4 and s.bounds.norm == "l2"
    assert s.bounds.datasets == ["train", "test", "random1", "random2"]
    assert s.data.pool == 6 and s.data.scale == "raw" and s.data.per_class == 500
    assert s.model.width == 32 and s.model.init_std == 0.1
    assert s.train.batch_size == 32 and s.optim.momentum == 0.0
    assert len(s.grid_runs()) == 40


def test_model_groups_set_depth():
    assert settings("model=mlp3").model.depth == 3
    assert settings("model=mlp2").model.depth == 2


def test_smoke_experiment_is_small():
    s = settings("experiment=smoke")
    assert s.name == "smoke"
    assert s.grid.seeds == [0]
    assert s.train.epochs == 2
    assert s.bounds.points_per_set == 50
    assert s.data.processed_dir == "data/processed/smoke"


def test_override_changes_value_and_outputs_follow_the_name():
    s = settings("bounds.radius=0.2", "name=r02")
    assert s.bounds.radius == 0.2
    assert str(s.summary_file) == "results/r02/summary.csv"
    assert str(s.bounds_file("mlp2", 0.02, 3)) == "results/r02/runs/mlp2_lr0.02_seed3/bounds.csv.gz"


def test_misspelt_key_fails_at_compose_time_naming_it():
    with pytest.raises(ConfigCompositionException, match="bounds.radiuss"):
        compose_config(["bounds.radiuss=0.2"])


def test_wrong_type_fails_at_compose_time():
    with pytest.raises((ConfigCompositionException, ValidationError), match="radius"):
        compose_config(["bounds.radius=big"])


@pytest.mark.parametrize(
    "override, key",
    [
        ("bounds.radius=0", "bounds.radius"),
        ("bounds.radius=-1", "bounds.radius"),
        ("optim.lr=0", "optim.lr"),
        ("train.epochs=0", "train.epochs"),
        ("bounds.datasets=[train,validation]", "bounds.datasets"),
        ("bounds.norm=l3", "bounds.norm"),
        ("data.scale=percent", "data.scale"),
        ("data.digits=[4,4]", "data.digits"),
        ("grid.models=[mlp9]", "grid.models"),
        ("grid.seeds=[1,1]", "grid.seeds"),
        ("runtime.device=tpu", "runtime.device"),
        ("name=../escape", "name"),
    ],
)
def test_invalid_values_name_the_key(override, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        settings(override)


def test_run_id_is_stable():
    assert run_id("mlp3", 0.001, 7) == "mlp3_lr0.001_seed7"
    assert run_id("mlp2", 0.02, 0) == "mlp2_lr0.02_seed0"


def test_checkpoint_epochs_include_the_last():
    s = settings("train.epochs=5", "train.checkpoint_every=2")
    assert s.train.checkpoint_epochs() == [0, 2, 4, 5]
