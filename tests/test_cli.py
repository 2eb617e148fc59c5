"""The ``localregions`` command line: its rows equal the library's, and its errors are one line with exit code 2."""

from __future__ import annotations

import csv
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import localregions
from localregions.cli import COMMANDS, main

REPO = Path(__file__).resolve().parents[1]


def _cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Unflatten(1, (1, 6, 6)), nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(27, 8), nn.ReLU(), nn.Linear(8, 2)).eval()


@pytest.fixture()
def files(tmp_path):
    net = _cnn()
    torch.save(net, tmp_path / "net.pt")
    points = np.random.default_rng(0).random((12, 36))
    np.save(tmp_path / "points.npy", points)
    torch.save(torch.from_numpy(points).view(12, 1, 6, 6), tmp_path / "points.pt")
    np.savetxt(tmp_path / "points.csv", points, delimiter=",", header=",".join(f"p{i}" for i in range(36)), comments="")
    return net, torch.from_numpy(points), tmp_path


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("method, points_file", [(m, f) for m in ("alg1", "ibp", "crown")
                                                  for f in ("points.npy", "points.pt", "points.csv")]
                         + [("lp", "points.npy")])
def test_bound_writes_the_library_s_numbers(files, method, points_file):
    net, points, folder = files
    out = folder / "out.csv"
    code = main(["bound", str(folder / "net.pt"), str(folder / points_file), "--radius", "0.05", "--norm", "linf",
                 "--method", method, "-o", str(out), "--allow-pickle", "--batch-size", "5", "--no-progress"])
    assert code == 0
    rows = _rows(out)
    expected = localregions.local_region_bound(net, points, 0.05, "linf", method=method)
    distance = localregions.boundary_distance(net, points, "linf")
    assert list(rows[0]) == ["point", "C_1", "C_2", "C", "log2_bound", "boundary_distance", "seconds"]
    assert [int(r["point"]) for r in rows] == list(range(12))
    assert [[int(r["C_1"]), int(r["C_2"])] for r in rows] == expected.unstable_per_layer.tolist()
    assert [int(r["C"]) for r in rows] == expected.unstable.tolist()
    assert [float(r["log2_bound"]) for r in rows] == expected.log2_bound.tolist()
    # Batches of 5 against one call of 12: the same sums blocked differently, equal to a few ulps.
    np.testing.assert_allclose([float(r["boundary_distance"]) for r in rows], distance.numpy(), rtol=1e-12)
    assert all(float(r["seconds"]) >= 0 for r in rows)


def test_count_exact_and_sampled_write_the_library_s_numbers(files):
    net, points, folder = files
    out = folder / "exact.csv"
    assert main(["count", str(folder / "net.pt"), str(folder / "points.npy"), "--radius", "0.05", "-o", str(out),
                 "--allow-pickle", "--no-progress"]) == 0
    rows = _rows(out)
    for n in (0, 5):
        exact = localregions.exact_region_count(net, points[n], 0.05)
        assert int(rows[n]["regions"]) == exact.count and rows[n]["complete"] == str(exact.complete)
    out = folder / "sampled.csv"
    assert main(["count", str(folder / "net.pt"), str(folder / "points.npy"), "--radius", "0.05", "-o", str(out),
                 "--allow-pickle", "--no-progress", "--method", "sampled", "--samples", "300", "--seed", "3"]) == 0
    expected = localregions.sampled_region_count(net, points, 0.05, 300, seed=3)
    assert [int(r["regions_at_least"]) for r in _rows(out)] == expected.tolist()


class Squash(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x)


def _error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"localregions {argv[0]}: error: "), err
    return err


def test_errors_are_one_line_with_exit_code_2(files, capsys):
    _, points, folder = files
    net, pts = str(folder / "net.pt"), str(folder / "points.npy")
    common = ["--radius", "0.1", "-o", str(folder / "o.csv"), "--no-progress"]
    assert "MODEL" in _error(capsys, ["bound", str(folder / "missing.onnx"), pts, *common])
    assert "POINTS" in _error(capsys, ["bound", net, str(folder / "missing.npy"), *common, "--allow-pickle"])
    np.save(folder / "wide.npy", np.zeros((4, 35)))
    assert "shape (4, 35)" in _error(capsys, ["bound", net, str(folder / "wide.npy"), *common, "--allow-pickle"])
    bad = points.numpy().copy()
    bad[7, 3] = np.nan
    np.save(folder / "nan.npy", bad)
    assert "point 7 contains NaN" in _error(capsys, ["bound", net, str(folder / "nan.npy"), *common, "--allow-pickle"])
    torch.save(nn.Sequential(nn.Linear(36, 4), Squash(), nn.Linear(4, 1)), folder / "sigmoid.pt")
    assert "sigmoid" in _error(capsys, ["bound", str(folder / "sigmoid.pt"), pts, *common, "--allow-pickle"])
    torch.save(nn.Sequential(nn.Unflatten(1, (1, 6, 6)), nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(8, 1)), folder / "maxpool.pt")
    assert "MaxPool2d" in _error(capsys, ["count", str(folder / "maxpool.pt"), pts, *common, "--allow-pickle"])
    assert "allow_pickle" in _error(capsys, ["bound", net, pts, *common])
    assert "--radius" in _error(capsys, ["bound", net, pts, "--radius", "-1", "-o", "x.csv", "--allow-pickle"])
    with pytest.raises(SystemExit) as usage:  # argparse's own errors exit with 2 too
        main(["bound", net, pts, "--norm", "L2", *common])
    assert usage.value.code == 2


def test_the_console_script_and_python_m_run_the_same_main():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"localregions": "localregions.cli:main"}
    done = subprocess.run([sys.executable, "-m", "localregions.cli", "--help"], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and all(name in done.stdout for name in COMMANDS)


def test_bound_on_an_onnx_network(tmp_path):
    pytest.importorskip("onnx2torch", reason="the optional onnx extra is not installed")
    import warnings

    net = _cnn()[1:]  # the ONNX graph takes (N, 1, 6, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(1, 1, 6, 6),), str(tmp_path / "net.onnx"), dynamo=False,
                          opset_version=17, input_names=["input"], dynamic_axes={"input": {0: "N"}})
    points = torch.rand(6, 1, 6, 6, dtype=torch.float64)
    np.save(tmp_path / "points.npy", points.numpy())
    assert main(["bound", str(tmp_path / "net.onnx"), str(tmp_path / "points.npy"), "--radius", "0.05",
                 "--method", "crown", "-o", str(tmp_path / "out.csv"), "--no-progress"]) == 0
    expected = localregions.local_region_bound(_cnn(), points.view(6, 36), 0.05, method="crown")
    assert [int(r["C"]) for r in _rows(tmp_path / "out.csv")] == expected.unstable.tolist()


def test_the_readme_example_runs(tmp_path, monkeypatch):
    """The README's command-line example (after its ``cli-example`` marker), as written, on a fresh folder."""
    import re
    import shlex

    text = (REPO / "README.md").read_text()
    after = text[text.index("<!-- cli-example"):]
    python = re.search(r"```python\n(.*?)```", after, re.S).group(1)
    shell = re.search(r"```bash\n(.*?)```", after, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(python, "README.md", "exec"), {})
    commands = [shlex.split(line) for line in shell.strip().splitlines()]
    assert commands and all(c[0] == "localregions" for c in commands)
    for command in commands:
        assert main(command[1:]) == 0, command
        output = command[command.index("-o") + 1]
        assert len(_rows(tmp_path / output)) == 20
