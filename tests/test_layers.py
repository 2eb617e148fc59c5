"""The package in layers: library <- experiment <- reporting <- pipeline, and nothing imports upwards."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "localregions"
# loading (localregions/loading.py) turns files into modules, so the library core takes no paths;
# cli (localregions/cli/) is the command line, above reporting so that a subcommand may draw.
LAYERS = ["library", "loading", "experiment", "reporting", "cli", "pipeline"]
# What each layer may not import, besides the layers after it.
FORBIDDEN = {
    "library": {"pandas", "hydra", "omegaconf", "snakemake", "matplotlib", "yaml", "onnx", "onnx2torch", "tqdm"},
    "loading": {"pandas", "hydra", "omegaconf", "snakemake", "matplotlib", "yaml"},
    "experiment": {"hydra", "omegaconf", "snakemake", "matplotlib"},
    "reporting": {"hydra", "omegaconf", "snakemake"},
    "cli": {"hydra", "omegaconf", "snakemake"},
    "pipeline": set(),
}


def _layer(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    if relative.parts == ("loading.py",):
        return "loading"
    return relative.parts[0] if relative.parts[0] in LAYERS[2:] else "library"


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    package = ["localregions", *path.relative_to(PACKAGE).parts[:-1]]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return names


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_layer_above_it_or_a_forbidden_library(path):
    layer = _layer(path)
    above = {f"localregions.{name}" for name in LAYERS[LAYERS.index(layer) + 1:]}
    for name in _imports(path):
        assert not any(name == a or name.startswith(a + ".") for a in above), f"{path.name} ({layer}) imports {name}"
        assert name.split(".")[0] not in FORBIDDEN[layer], f"{path.name} ({layer}) imports {name}"


def test_no_private_name_is_imported_across_modules():
    """A ``_name`` is its module's own; a private helper module is shared only inside its package.

    Inside means the package's own modules and those of its subpackages (``relaxations/`` reuses
    ``localregions._rounding``'s error bounds); a sibling or a parent never reaches into a
    subpackage's private module, and no private name is imported from a module.
    """
    for path in MODULES:
        package = ".".join(["localregions", *path.relative_to(PACKAGE).parts[:-1]])
        for name in _imports(path):
            if not name.startswith("localregions."):
                continue
            parts = name.split(".")
            for index, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    owner = ".".join(parts[:index])
                    inside = owner == package or package.startswith(owner + ".")
                    assert inside and index >= len(parts) - 2, f"{path.relative_to(PACKAGE)} imports {name}"


def test_the_library_loads_without_pandas_or_hydra():
    code = ("import sys, localregions; from localregions import bounds, regions, counting, complexity, reference, relaxations, search; "
            "localregions.exact_region_count; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'hydra', 'omegaconf', 'snakemake', "
            "'matplotlib')); print(bad)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_layering_sees_the_new_layers():
    assert _layer(PACKAGE / "loading.py") == "loading" and _layer(PACKAGE / "cli" / "bound.py") == "cli"
    assert _layer(PACKAGE / "folding.py") == "library"
    # The library core imports the loader nowhere but lazily from the package top (PEP 562).
    for path in MODULES:
        if _layer(path) == "library" and path.name != "__init__.py":
            assert "localregions.loading" not in _imports(path), path


def test_the_public_library_is_importable_from_the_top():
    import localregions

    for name in ["local_region_bound", "LocalBound", "boundary_distance", "activation_patterns", "exact_region_count",
                 "sampled_region_count", "RegionCount", "RegionBudgetExceeded", "local_complexity", "preactivation_bounds",
                 "network_layers", "NetworkLayers", "load_network",
                 "SearchDomain", "RegionSearch", "region_measure", "search_regions", "SlicePlane", "slice_partition"]:
        assert callable(getattr(localregions, name)) or isinstance(getattr(localregions, name), type)
    assert set(localregions.__all__) <= set(dir(localregions))
