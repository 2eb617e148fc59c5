"""per-job parts -> the result tables of a study of the paper's motivation, and its hypothesis decided (issue 24)."""

from __future__ import annotations

__all__ = ["motivation_tables"]


def motivation_tables(*, parts: dict[str, list[str]], outputs: dict[str, str], study: str) -> None:
    """Each result table of ``study`` from its per-job parts (``parts[name]``, one file per job, -> ``outputs[name]``),
    and ``outputs["claims"]``: the study's hypothesis decided over seeds from the effects table."""
    import pandas as pd

    from ...experiment.storage import read_csv, write_csv
    from ...reporting.motivation_claims import decide_hypothesis

    if set(parts) | {"claims"} != set(outputs) or "effects" not in parts:
        raise ValueError(f"outputs must name the tables of parts (effects among them) and claims, got {sorted(parts)} "
                         f"and {sorted(outputs)}")
    tables = {name: pd.concat([read_csv(part) for part in files], ignore_index=True) for name, files in parts.items()}
    for name, table in tables.items():
        write_csv(table, outputs[name])
    write_csv(decide_hypothesis(tables["effects"], study), outputs["claims"])
