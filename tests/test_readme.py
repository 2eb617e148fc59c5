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
