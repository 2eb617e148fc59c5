"""Device handling: `auto` picks CUDA when present; the bound engine gives the same answer on a GPU."""

from __future__ import annotations

import pytest
import torch

from localregions.bounds import local_region_bound
from localregions.experiment.models import build_mlp
from localregions.pipeline.runtime import resolve_device
from localregions.regions import boundary_distance

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def test_auto_picks_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_asking_for_cuda_without_one_names_the_key():
    with pytest.raises(ValueError, match="runtime.device"):
        resolve_device("cuda")


@pytest.mark.cuda
@requires_cuda
def test_bounds_on_cuda_equal_cpu():
    model = build_mlp(36, 3, 32, 0.1, seed=0)
    centers = torch.rand(500, 36, dtype=torch.float64) * 255
    on_cpu = local_region_bound(model, centers, 0.4)
    on_gpu = local_region_bound(model.cuda(), centers.cuda(), 0.4)
    assert on_gpu.unstable.device.type == "cuda"
    assert torch.equal(on_gpu.unstable.cpu(), on_cpu.unstable)
    for k in range(3):
        assert torch.equal(on_gpu.S[k].cpu(), on_cpu.S[k])
        torch.testing.assert_close(on_gpu.U[k].cpu(), on_cpu.U[k], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(boundary_distance(model.cuda(), centers.cuda()).cpu(), boundary_distance(model, centers))
