"""The README's Results are generated from reference/, and everything it links to is committed."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_results_block_is_what_the_reference_tables_say():
    # Fails when a reference was refreshed without `tools/readme_results.py --write` (or the block edited by hand).
    result = subprocess.run([sys.executable, str(REPO / "tools" / "readme_results.py"), "--check"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_every_local_link_of_the_readme_exists():
    text = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
    assert local, "the README links to no file at all"
    missing = [t for t in local if not (REPO / t).exists()]
    assert not missing, f"README links to files that are not in the repository: {missing}"


def test_the_cnn_section_sets_each_model_s_c_per_neuron_from_the_reference():
    """cnn_mnist's README section: one row per model and method, C per neuron = mean C / the model's neurons."""
    import pandas as pd

    sys.path.insert(0, str(REPO / "tools"))
    try:
        import readme_results
    finally:
        sys.path.pop(0)
    lines = "\n".join(readme_results.cnn_section()).splitlines()
    methods = pd.read_csv(REPO / "reference" / "cnn_mnist" / "methods.csv")
    rows = [line.split(" | ") for line in lines if line.startswith("| lenet") or line.startswith("| mlp2")]
    assert len(rows) == methods.groupby(["depth", "radius", "method"]).ngroups
    for row in rows:
        depth, neurons = (4, 3136 + 800 + 120 + 84) if row[0].startswith("| lenet") else (2, 512)
        mine = methods[(methods["depth"] == depth) & (methods["radius"] == float(row[1])) & (methods["method"] == row[2])]
        assert f"{neurons:,} neurons" in row[0] and int(row[3]) == len(mine)
        assert float(row[5]) == float(f"{mine['unstable'].mean() / neurons:.3g}")
    summary = pd.read_csv(REPO / "reference" / "cnn_mnist" / "summary.csv")
    assert f"depth 4): {int(summary[summary['depth'] == 4]['single_region_points'].sum())} of" in lines[-1]


def test_new_contradictions_count_only_inconclusive_defaults_turned_contradicted():
    import pandas as pd

    sys.path.insert(0, str(REPO / "tools"))
    try:
        import readme_results
    finally:
        sys.path.pop(0)
    settings = [(2, 0.02, 1), (2, 0.02, 2), (3, 0.001, 1), (3, 0.001, 2)]
    baseline = pd.DataFrame([{"trajectory": "paper", "depth": d, "lr": lr, "claim": c, "verdict": v}
                             for (d, lr, c), v in zip(settings, ["inconclusive", "holds", "inconclusive", "contradicted"])])
    verdicts = {"a": ["contradicted", "contradicted", "holds", "contradicted"],  # 1: only the first was inconclusive
                "b": ["inconclusive", "partly", "contradicted", "inconclusive"],  # 1
                "default": ["contradicted"] * 4}  # the study's own rows never count
    variants = pd.DataFrame([{"trajectory": trajectory, "variant": name, "depth": d, "lr": lr, "claim": c, "verdict": v}
                             for trajectory in ("paper", "with epoch 0") for name, vs in verdicts.items()
                             for (d, lr, c), v in zip(settings, vs)])
    assert readme_results.new_contradictions(variants, baseline).to_dict() == {"a": 1, "b": 1}
