"""per-point and per-ball tables -> summaries, claims, and the tables of the studies."""

from __future__ import annotations

import logging

from ...vocabulary import run_id
from ..settings import GridJob

__all__ = ["aggregate", "claims", "variant_claims", "concatenate", "methods_table"]

log = logging.getLogger(__name__)


def aggregate(*, runs: list[str], bounds: list[str], summary: str, summary_by_setting: str, runs_table: str,
              jobs: list[GridJob]) -> None:
    """Per-run summaries of the per-point tables ``bounds``, their statistics over seeds, and the runs' outcomes.

    ``runs`` and ``bounds`` hold one training job's manifest and bound table per entry of ``jobs``.
    """
    import pandas as pd

    from ...experiment.run_files import TrainingJob
    from ...experiment.storage import read_csv, write_csv
    from ...experiment.tables import summarise_over_seeds, summarise_points, summarise_runs

    metrics, summaries = {}, []
    for job, manifest, bounds_file in zip(jobs, runs, bounds, strict=True):
        training = TrainingJob.read(manifest, hashes=False)
        training.seed_runs(job.seeds)  # every seed of the grid is in the job, or this names what is missing
        table = read_csv(training.metrics)
        for seed in job.seeds:
            rows = table[table["seed"] == seed].drop(columns="seed").reset_index(drop=True)
            metrics[(job.model, job.depth, job.lr, seed)] = rows
        summaries.append(summarise_points(read_csv(bounds_file)))
    summary_rows = pd.concat(summaries, ignore_index=True).sort_values(
        ["depth", "lr", "seed", "radius", "dataset", "epoch"], ascending=[True, False, True, True, True, True]
    )
    outcomes = summarise_runs(metrics)
    trained = outcomes.loc[outcomes["status"] == "ok", ["depth", "lr", "seed"]]
    usable = summary_rows.merge(trained, on=["depth", "lr", "seed"], how="inner")
    write_csv(summary_rows, summary)
    write_csv(summarise_over_seeds(usable), summary_by_setting)
    write_csv(outcomes, runs_table)
    for row in outcomes[outcomes["status"] != "ok"].itertuples(index=False):
        log.warning("run %s %s (left out of the seed statistics)", run_id(row.model, row.lr, row.seed), row.status)
    log.info("aggregated %d runs (%d not ok)", len(outcomes), int((outcomes["status"] != "ok").sum()))


def claims(*, summary: str, runs: str, output: str, radius: float, norm: str) -> None:
    """The paper's six observations decided over seeds, for every (depth, lr) of the summary."""
    from ...experiment.storage import read_csv, write_csv
    from ...reporting.verdicts import claims_table

    write_csv(claims_table(read_csv(summary), read_csv(runs), radius=radius, norm=norm), output)


def variant_claims(*, claims: list[str], runs: list[str], output: str, variants: list[list]) -> None:
    """The claims of a study's own experiment and of every variant, one table (``variants``: [name, overrides])."""
    from ...experiment.storage import read_csv, write_csv
    from ...reporting.verdicts import variant_claims_table

    rows = [(name, " ".join(overrides), read_csv(claims_file), read_csv(runs_file))
            for (name, overrides), claims_file, runs_file in zip(variants, claims, runs, strict=True)]
    write_csv(variant_claims_table(rows), output)


def concatenate(*, parts: list[str], output: str, nullable_integers: tuple[str, ...] = ()) -> None:
    """One table of a per-ball study from its per-job parts; ``nullable_integers`` stay integers with gaps
    (CSV reads a column of counts with missing cells as floats)."""
    import pandas as pd

    from ...experiment.storage import read_csv, write_csv

    table = pd.concat([read_csv(part) for part in parts], ignore_index=True)
    for column in nullable_integers:
        table[column] = table[column].astype("Int64")
    write_csv(table, output)


def methods_table(*, parts: list[str], timings: list[str], output: str, timing: str) -> None:
    """The methods table and its timings, each from its per-job parts."""
    concatenate(parts=parts, output=output)
    concatenate(parts=timings, output=timing)
