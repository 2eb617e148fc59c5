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


def _slice_panel(net, points, index, radius, plane="gradient", seed=0):
    """The library's panel for what ``localregions slice`` draws: the other points, nearest first, as neighbours."""
    from localregions.reporting.slice_figures import SlicePoint, slice_panels

    others = sorted((i for i in range(points.shape[0]) if i != index),
                    key=lambda i: float(torch.linalg.vector_norm(points[i] - points[index])))
    point = SlicePoint("point", points[index], tuple(("n", points[i]) for i in others[:2]))
    return slice_panels([net], [point], radius, plane=plane, seed=seed)[0][0]


@pytest.mark.parametrize("plane", ["gradient", "points", "random"])
def test_slice_writes_the_png_and_the_library_s_numbers(files, capsys, plane):
    from localregions.reporting.slice_figures import panel_counts
    from localregions.slices import disc_regions, network_on_plane

    net, points, folder = files
    png, table = folder / "slice.png", folder / "slice.csv"
    assert main(["slice", str(folder / "net.pt"), str(folder / "points.csv"), "--radius", "0.05", "--index", "4",
                 "--plane", plane, "--seed", "3", "-o", str(png), "--csv", str(table), "--allow-pickle"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    panel = _slice_panel(net, points, 4, 0.05, plane, seed=3)
    expected = panel_counts(panel, 0.05)
    (row,) = _rows(table)
    assert (row["point"], row["plane"], float(row["radius"])) == ("4", plane, 0.05)
    assert {key: row[key] for key in expected} == {key: str(value) for key, value in expected.items()}
    assert f"meets {expected['disc_regions']} regions" in capsys.readouterr().out
    # And the count is the exact counter's on that plane (network_on_plane: the network restricted to it).
    exact = localregions.exact_region_count(network_on_plane(net, panel.plane), torch.zeros(2), 0.05)
    assert exact.complete and len(disc_regions(panel.zoom, 0.05)) == exact.count == int(row["disc_regions"])


def test_slice_goes_through_the_rows_asked_for_and_writes_its_numbers_to_stdout(files, capsys):
    _, points, folder = files
    argv = ["slice", str(folder / "net.pt"), str(folder / "points.npy"), "--radius", "0.05", "--plane", "points",
            "--through", "7", "2", "-o", str(folder / "s.png"), "--csv", "-", "--allow-pickle", "--window", "2"]
    assert main(argv) == 0
    out = capsys.readouterr()
    rows = list(csv.DictReader(out.out.splitlines()))
    assert len(rows) == 1 and float(rows[0]["view_half_width"]) == 2.0 and "meets" in out.err
    from localregions.slices import plane_through_points

    plane = plane_through_points(points[0], points[7], points[2])
    assert plane.distances(points[[7, 2]].numpy()) == pytest.approx([0.0, 0.0], abs=1e-12)


def test_slice_errors_are_one_line_with_exit_code_2(files, capsys):
    net, points, folder = files
    model, pts = str(folder / "net.pt"), str(folder / "points.npy")
    common = ["--radius", "0.05", "-o", str(folder / "s.png"), "--allow-pickle"]
    assert "--index 12" in _error(capsys, ["slice", model, pts, *common, "--index", "12"])
    assert "--through 0" in _error(capsys, ["slice", model, pts, *common, "--through", "0"])
    assert "--through takes one or two" in _error(capsys, ["slice", model, pts, *common, "--through", "1", "2", "3"])
    np.save(folder / "one.npy", points[:1].numpy())
    assert "two other data points" in _error(capsys, ["slice", model, str(folder / "one.npy"), *common, "--plane",
                                                      "points"])
    assert "--radius" in _error(capsys, ["slice", model, pts, "--radius", "0", "-o", "s.png", "--allow-pickle"])
    assert "window" in _error(capsys, ["slice", model, pts, *common, "--window", "0.01"])
    assert "max_regions=3" in _error(capsys, ["slice", model, pts, *common, "--max-regions", "3"])
    np.save(folder / "wide.npy", np.zeros((4, 35)))
    assert "shape (4, 35)" in _error(capsys, ["slice", model, str(folder / "wide.npy"), *common])
    assert not (folder / "s.png").exists()


def test_the_readme_slice_examples_run(tmp_path, monkeypatch, capsys):
    """The README's ``localregions slice`` line (after its ``slice-example`` marker) on the files of the command-line
    example, and its Python block (after ``slice-python``)."""
    import re
    import shlex

    text = (REPO / "README.md").read_text()
    python = re.search(r"```python\n(.*?)```", text[text.index("<!-- cli-example"):], re.S).group(1)
    line = re.search(r"```bash\n(.*?)```", text[text.index("<!-- slice-example"):], re.S).group(1).strip()
    monkeypatch.chdir(tmp_path)
    exec(compile(python, "README.md", "exec"), {})
    command = shlex.split(line)
    assert command[:2] == ["localregions", "slice"] and main(command[1:]) == 0
    assert (tmp_path / "slice.png").read_bytes()[:4] == b"\x89PNG"
    (row,) = _rows(tmp_path / "slice.csv")
    assert f"meets {row['disc_regions']} regions" in capsys.readouterr().out
    namespace = {}
    exec(compile(re.search(r"```python\n(.*?)```", text[text.index("<!-- slice-python"):], re.S).group(1), "README.md",
                 "exec"), namespace)
    assert len(namespace["partition"]) >= 1
