"""The settings: Hydra's compose API on the package's own configs, and every check that names a key."""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict
import sys
from pathlib import Path

import pytest

from localregions.pipeline.compose import SettingsError, compose_settings
from localregions.pipeline.plan import plan_experiments
from localregions.pipeline.settings import CONFIG_DIR, Config

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))


def test_default_is_the_papers_experiment():
    s = compose_settings([])
    assert s.name == "figure3"
    assert s.grid.runs()[:2] == [("mlp2", 0.02, 0), ("mlp2", 0.02, 1)] and len(s.grid.runs()) == 40
    assert s.train.epochs == 20 and s.train.checkpoint_epochs() == list(range(0, 21, 2))
    assert (s.bounds.radius, s.bounds.norm) == (0.4, "l2")
    assert s.bounds.datasets == ["train", "test", "random1", "random2"]
    assert (s.data.pool, s.data.scale, s.data.per_class, s.data.random_draw) == (6, "raw", 500, "pooled")
    assert (s.model.width, s.model.init, s.model.init_std) == (32, "normal", 0.1)
    assert (s.train.batch_size, s.train.loss, s.optim.momentum) == (32, "bce", 0.0)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment):
    assert compose_settings([f"experiment={experiment}"]).name == experiment


def test_the_configs_shown_at_the_top_level_are_the_packages():
    assert (REPO / "configs").resolve() == CONFIG_DIR.resolve()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("bounds.raduis=0.2", r"bounds\.raduis is not a setting \(did you mean bounds\.radius\?\); bounds has the keys: radius"),
        ("trian.epochs=3", r"trian is not a setting \(did you mean train\?\); the top level has the keys"),
        ("bounds.radius=big", r"bounds\.radius=big.*could not be converted"),
        ("bounds=l3", r"bounds/l3.*the choices are: l2, linf"),
        ("bounds.radius=0", r"config key bounds\.radius must be a finite number > 0, got 0"),
        ("bounds.norm=L2", r"config key bounds\.norm must be one of \['l2', 'linf'\], got 'L2'"),
        ("grid.seeds=[-1]", r"config key grid\.seeds entries must be integers >= 0, got -1"),
        ("grid.seeds=[0,0]", r"grid\.seeds must not repeat an entry"),
        ("grid.lrs=[0.02,2e-2]", r"grid\.lrs must not repeat an entry \(0\.02 and 0\.02 are the same\)"),
        ("grid.models=[mlp4]", r"grid\.models entries must name a file"),
        ("data.per_class=0", r"config key data\.per_class must be an integer >= 1 or None, got 0"),
        ("train.checkpoints=[0,4,2]", r"train\.checkpoints must be increasing"),
        ("train.loss=mse", r"train\.loss must be one of \['bce', 'softmax'\]"),
        ("tightness.radii={unit:[0.1]}", None),
        ("name=a/b", r"config key name must be a non-empty name"),
        ("model.architecture=cnn", r"config key model\.architecture must be one of \['mlp', 'lenet'\], got 'cnn'"),
        ("model.channels=[6]", r"config key model\.channels must be two channel counts >= 1"),
        ("grid.models=[lenet]", r"config key data\.pool must be 28 for model\.architecture=lenet.*got 6"),
        ("grid.models=[mlp2,mlp3]", None),
        ("paths.results=", r"config key paths\.results must be a non-empty path"),
        ("slices.plane=pca", r"config key slices\.plane must be one of \['gradient', 'points', 'random'\], got 'pca'"),
        ("slices.datasets=[train,valid]", r"config key slices\.datasets entries must be among"),
        ("slices.seed=10", r"config key slices\.seed must be one of grid\.seeds=\[0, 1, .*, 9\] or null, got 10"),
        ("slices.window=0.1", r"config key slices\.window must be at least bounds\.radius=0\.4"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_key(override, message):
    if message is None:  # a valid override, for contrast
        plan_experiments([override])
        if override.startswith("tightness"):  # the raw scale keeps its default radii
            assert compose_settings([override]).tightness.radii == {"raw": [0.4], "unit": [0.1]}
        return
    with pytest.raises(SettingsError, match=message):
        plan_experiments([override])


@pytest.mark.parametrize(("override", "grid"), [("optim.lr=5.0", "grid.lrs=[5.0]"), ("seed=3", "grid.seeds=[3]"),
                                                ("model=mlp3", "grid.models=[mlp3]")])
def test_a_runs_own_key_is_refused_with_the_grid_key_to_use(override, grid):
    """An override the grid would silently replace (one run's lr, seed or model) is refused, never dropped."""
    with pytest.raises(SettingsError, match=rf"set per run by {grid.split('=')[0]}.*Use {re.escape(grid)} instead"):
        plan_experiments(["experiment=smoke", override])


def test_grid_overrides_set_the_runs():
    plan = plan_experiments(["experiment=smoke", "grid.lrs=[5.0]", "grid.models=[mlp3]"])
    assert [(job.model, job.depth, job.lr, job.seeds) for job in plan.main.grid_jobs()] == [("mlp3", 3, 5.0, (0, 1))]


def test_model_settings_apply_to_every_model_of_the_grid():
    plan = plan_experiments(["model.width=64"])
    assert {name: (m.depth, m.width) for name, m in plan.main.models.items()} == {"mlp2": (2, 64), "mlp3": (3, 64)}


def test_settings_dataclasses_are_the_schema():
    # Every key of the primary config is a field of the schema: a YAML-only key would be unchecked.
    assert {"data", "model", "optim", "train", "bounds", "grid", "tightness", "sweep", "methods", "slices", "reference",
            "runtime", "variants", "name", "paths", "motivation", "search", "adversarial", "backdoor"} \
        == set(Config.__dataclass_fields__)


@pytest.mark.slow
def test_an_installed_package_composes_its_configs_from_anywhere(tmp_path):
    """pip install of the package (not the source tree) carries the configs as package data."""
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w",
                    str(wheel_dir), str(REPO)], check=True, capture_output=True)
    wheel = next(wheel_dir.glob("localregions-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = ("import localregions, sys; from localregions.pipeline.compose import compose_settings; "
            "s = compose_settings(['experiment=smoke']); print(localregions.__file__); print(s.name, s.grid.seeds)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    where, composed = done.stdout.splitlines()
    assert where.startswith(str(target)) and composed == "smoke [0, 1]"


def test_two_models_of_one_depth_are_refused_since_the_tables_key_runs_by_depth():
    with pytest.raises(SettingsError, match=r"grid\.models mlp2 and mlp3 both have depth 2: the tables tell"):
        plan_experiments(["model.depth=2"])
    with pytest.raises(SettingsError, match=r"config key model\.depth must be 4 for model\.architecture=lenet"):
        plan_experiments(["experiment=cnn_mnist", "model.depth=3"])


def test_cnn_mnist_sets_a_lenet_beside_full_mnist_s_mlp_on_full_mnist_s_balls():
    """The comparison the experiment promises: the same points, radii and methods as full_mnist, and its MLP."""
    cnn, full = plan_experiments(["experiment=cnn_mnist"]).main, plan_experiments(["experiment=full_mnist"]).main
    lenet, mlp = cnn.models["lenet"], cnn.models["mlp2"]
    assert (lenet.architecture, lenet.depth, lenet.channels, lenet.hidden_widths()) == ("lenet", 4, [4, 8],
                                                                                        [3136, 800, 120, 84])
    assert asdict(mlp) | {"channels": None} == asdict(full.models["mlp2"]) | {"channels": None}  # an MLP has none
    assert asdict(cnn.settings.data) == asdict(full.settings.data)
    same = ["methods", "points", "lp_points", "scales", "radii", "complexity_directions"]
    assert {k: getattr(cnn.settings.methods, k) for k in same} == {k: getattr(full.settings.methods, k) for k in same}
    assert set(cnn.settings.bounds.radii()) == set(cnn.settings.methods.radii["unit"])  # bounds over training at both
    assert cnn.settings.grid.seeds == list(range(10)) and [job.depth for job in cnn.grid_jobs()] == [4, 2]
