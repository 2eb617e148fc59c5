"""The report of an experiment of the paper's motivation (issue 24): ``results/<name>/report.md``.

Generated from the study's result tables only, like the paper's report
(:mod:`localregions.reporting.markdown`): the hypothesis, its pre-registered rule, the verdict
per setting with every part's effect, interval, p and smallest detectable effect, the measures
beside it, and what each study adds (attack rates, the search's methods, the backdoor's runs and
detectors). A part that is not supported is written as *not shown* with the effect these seeds
could have detected, never as absent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..vocabulary import format_lr
from .claims import INCONCLUSIVE, MIN_RUNS, UNDECIDED, VERDICTS
from .claims_markdown import verdict_text
from .markdown import markdown_table, number, settings_text, share
from .motivation_claims import effect_statistics, hypothesis
from .motivation_figures import kind_label
from .statistics import LEVEL

__all__ = ["build_motivation_report", "write_motivation_report", "verdict_summary", "beside_table", "still_rising"]


def _interval(row) -> str:
    if not np.isfinite(row["ci_low"]):
        return f"{number(row['effect'], 3)} (n = {int(row['n'])})"
    return f"{number(row['effect'], 3)} [{number(row['ci_low'], 3)}, {number(row['ci_high'], 3)}]"


def _settings(table: pd.DataFrame) -> list[tuple[int, float]]:
    pairs = {(int(d), float(lr)) for d, lr in zip(table["depth"], table["lr"])}
    return sorted(pairs, key=lambda pair: (pair[0], -pair[1]))


def _of(table: pd.DataFrame, depth: int, lr: float) -> pd.DataFrame:
    return table[(table["depth"] == depth) & np.isclose(table["lr"].astype(float), lr, rtol=1e-12, atol=0)]


def verdict_summary(claims: pd.DataFrame) -> str:
    """One sentence: in how many settings each verdict stands, and what an inconclusive part could have shown.

    >>> rows = pd.DataFrame({"depth": [2, 3], "lr": [0.02, 0.02], "verdict": ["holds", "inconclusive"],
    ...                      "supported_parts": ["a", ""], "contradicted_parts": ["", ""], "part": ["a", "a"],
    ...                      "finding": ["supported", "inconclusive"], "effect": [1.0, 0.1], "ci_low": [0.5, -0.2],
    ...                      "ci_high": [1.5, 0.4], "detectable": [0.4, 0.6], "unit": ["C (bits)"] * 2})
    >>> verdict_summary(rows)
    'Over 2 settings: holds in 1, inconclusive in 1. Not shown where inconclusive: depth 3, lr 0.02, a: 0.1 [-0.2, 0.4] C (bits), where these seeds detect 0.6 with 80% power.'
    """
    per_setting = claims.drop_duplicates(["depth", "lr"])
    counts = per_setting["verdict"].value_counts()
    words = ", ".join(f"{verdict} in {int(counts[verdict])}" for verdict in VERDICTS if verdict in counts)
    text = f"Over {len(per_setting)} setting{'s' if len(per_setting) != 1 else ''}: {words}."
    unclear = claims[(claims["finding"] == INCONCLUSIVE) & (claims["verdict"] != UNDECIDED)]
    if len(unclear):
        items = [f"depth {r.depth}, lr {format_lr(r.lr)}, {r.part}: {number(r.effect, 3)} [{number(r.ci_low, 3)}, "
                 f"{number(r.ci_high, 3)}] {r.unit}, where these seeds detect {number(r.detectable, 2)} with 80% power"
                 for r in unclear.itertuples(index=False)]
        text += " Not shown where inconclusive: " + "; ".join(items) + "."
    return text


def _verdict_section(claims: pd.DataFrame) -> list[str]:
    record = hypothesis(claims["hypothesis"].iloc[0])
    m = int(claims["m"].max())
    lines = [f"**{record.code}.** {record.statement}", "", f"> \"{record.quote}\" ({record.source})", "",
             f"**Rule (fixed before the run, `docs/motivation_hypotheses.md`).** {record.rule} Each part: a one-sided "
             f"one-sample t test over the usable seeds that the mean effect is above zero (*supported*) or below zero "
             f"(*contradicted*), each at level {number(LEVEL, 3)} / m = {number(LEVEL / m, 3)} (m = {m} part{'s' if m != 1 else ''}; "
             f"Bonferroni, since a *partly* verdict claims parts alone); neither: *inconclusive*. *holds*: every part "
             f"supported; *partly*: some; *contradicted*: none supported, some contradicted; *undecided*: fewer than "
             f"{MIN_RUNS} usable networks in the setting. Intervals: 95% t over seeds; *detectable*: the smallest mean "
             f"effect a one-sided t test at the part's level finds with 80% power, given the seeds' spread.", ""]
    rows = []
    for depth, lr in _settings(claims):
        mine = _of(claims, depth, lr)
        for k, row in enumerate(mine.to_dict("records")):
            rows.append([str(depth) if k == 0 else "", format_lr(lr) if k == 0 else "",
                         verdict_text(row) if k == 0 else "", str(row["n_seeds"]) if k == 0 else "", row["part"],
                         row["finding"], _interval(row), f"{row['positive_seeds']} of {row['n']}",
                         number(row["p"], 3), number(row["p_below"], 3), number(row["detectable"], 3),
                         row["note"] if isinstance(row["note"], str) else ""])
    lines.append(markdown_table(["depth", "lr", "verdict", "networks", "part", "finding",
                                 f"effect, {claims['unit'].iloc[0]} [95% CI]", "seeds > 0", "p (above 0)",
                                 "p (below 0)", "detectable", "left out"], rows))
    lines += ["", verdict_summary(claims)]
    return lines


def beside_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Every part and measure that does not decide, per setting: mean effect, 95% t interval over the usable seeds.
    The measures beside the decision: read them as descriptions, not as further tests."""
    rows = []
    beside = effects[~effects["decides"].astype(bool)]
    for depth, lr in _settings(beside) if len(beside) else []:
        mine = _of(beside, depth, lr)
        for (part, measure), group in mine.groupby(["part", "measure"], sort=False):
            used = group[group["usable"].astype(bool)]["effect"].to_numpy(dtype=np.float64)
            numbers = effect_statistics(used[np.isfinite(used)], LEVEL)
            rows.append({"depth": depth, "lr": lr, "part": part, "measure": measure, **numbers})
    return pd.DataFrame(rows)


def _beside_section(effects: pd.DataFrame) -> list[str]:
    table = beside_table(effects)
    if table.empty:
        return []
    rows = [[str(r["depth"]), format_lr(r["lr"]), r["part"], r["measure"], _interval(r)] for r in table.to_dict("records")]
    return ["", "Beside the decision (descriptions, not tests; boundary and decision distances in input units, the "
            "local complexity in neurons; mean over the usable seeds, 95% t interval):", "",
            markdown_table(["depth", "lr", "part", "measure", "effect [95% CI]"], rows)]


def _kinds_section(kinds: pd.DataFrame) -> list[str]:
    label = kinds["network"] + " network: " if "network" in kinds else ""
    table = kinds.assign(label=label + kinds["kind"].map(kind_label)) if len(kinds) else kinds
    rows = []
    for depth, lr in _settings(table):
        mine = _of(table, depth, lr)
        for kind, group in mine.groupby("label", sort=False):
            rows.append([str(depth), format_lr(lr), kind, str(group["seed"].nunique()), number(group["n"].mean(), 4),
                         number(group["alg1_mean"].mean(), 3), number(group["alg1_max"].max(), 3),
                         number(group["crown_mean"].mean(), 3), number(group["local_complexity_mean"].mean(), 3),
                         number(group["boundary_distance_median"].mean(), 3),
                         number(group["decision_distance_median"].mean(), 3), number(group["nearest_train_mean"].mean(), 3)])
    return ["", "The measures per kind of point (means over a seed's points, medians for the distances to the boundaries, "
            "then means over seeds):", "",
            markdown_table(["depth", "lr", "kind", "seeds", "points per seed", "mean C", "largest C", "mean C (CROWN)",
                            "local complexity", "boundary distance", "decision distance", "nearest training point"],
                           rows)]


def _adversarial_section(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    attacks = tables["adversarial_attacks"]
    rows = []
    for depth, lr in _settings(attacks):
        for attack, group in _of(attacks, depth, lr).groupby("attack", sort=False):
            rows.append([str(depth), format_lr(lr), attack, str(len(group)), number(group["attacked"].mean(), 4),
                         share(group["attack_rate"].mean()), share(group["attack_rate"].min()),
                         share(group["attack_rate"].max()), number(group["kept"].min(), 4)])
    kinds = tables["adversarial_kinds"]
    examples = kinds[kinds["kind"].str.startswith("adversarial ")]["decision_distance_median"].mean()
    clean = kinds[kinds["kind"] == "clean"]["decision_distance_median"].mean()
    return ["## Attacks", "", "PGD from every correctly classified test point (`skipped`: the misclassified ones). An "
            "example counts only where it flips the float64 prediction within its budget and the input box; the "
            "attack rate is kept / attacked, the failures are left out and counted:", "",
            markdown_table(["depth", "lr", "attack", "seeds", "attacked per seed", "attack rate (mean)", "lowest",
                            "highest", "fewest kept"], rows), "",
            f"An example lies, by construction, just across the decision boundary: its first-order distance to it is "
            f"{number(examples, 3)} (a network's median, averaged over networks and attacks) against {number(clean, 3)} "
            "for the clean test points. This study "
            "compares balls around examples with balls around their clean points; it does not separate *near an "
            "adversarial example* from *near the decision boundary*.", ""]


def still_rising(curves: pd.DataFrame, method: str) -> tuple[int, int]:
    """In how many of the searches of ``method`` (one per network) the best value still rose in the last half of the
    budget (from the last kept evaluation at or below half of it to the end), and how many there are.

    >>> curves = pd.DataFrame({"depth": 2, "lr": 0.02, "seed": [0, 0, 0, 1, 1, 1], "method": "annealing",
    ...                        "evaluation": [1, 5, 10] * 2, "best": [0, 1, 2, 0, 1, 1]})
    >>> still_rising(curves, "annealing")
    (1, 2)
    """
    mine = curves[curves["method"] == method]
    rising = total = 0
    for _, run in mine.groupby(["depth", "lr", "seed"]):
        run = run.sort_values("evaluation")
        end = run["evaluation"].iloc[-1]
        half = run.loc[run["evaluation"] <= end / 2, "best"]
        total += 1
        rising += bool(len(half) and run["best"].iloc[-1] > half.iloc[-1])
    return rising, total


def _search_section(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    maxima = tables["search_maxima"]
    rows = []
    for depth, lr in _settings(maxima):
        for method, group in _of(maxima, depth, lr).groupby("method", sort=False):
            rows.append([str(depth), format_lr(lr), method, str(len(group)), number(group["best_value"].mean(), 3),
                         number(group["data_max"].mean(), 3), f"{int((group['effect'] > 0).sum())} / "
                         f"{int((group['effect'] == 0).sum())} / {int((group['effect'] < 0).sum())}",
                         share(group["acceptance_rate"].mean()), number(group["nearest_data"].median(), 3),
                         number(group["decision_distance"].median(), 3), number(group["boundary_distance"].median(), 3)])
    rising = [f"{method.replace('_', ' ')} {'{} of {}'.format(*still_rising(tables['search_curves'], method))}"
              for method in dict.fromkeys(maxima["method"])]
    return ["## The search's methods", "", "Per method at the same budget (means over seeds): the best value found, the "
            "largest over the data, in how many seeds the best lies above / at / below it, the share of proposals "
            "taken, and where the best centre lies (medians over seeds: distance to the nearest data point, "
            "first-order distance to the decision boundary, distance to its own region's boundary):", "",
            markdown_table(["depth", "lr", "method", "seeds", "best", "data's largest", "seeds above / at / below",
                            "taken", "nearest data point", "decision distance", "boundary distance"], rows), "",
            "Searches whose best value still rose in the last half of the budget (a larger budget may find more): "
            + ", ".join(rising) + ".", ""]


def _backdoor_section(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    runs, aucs = tables["backdoor_runs"], tables["backdoor_aucs"]
    rows = []
    for depth, lr in _settings(runs):
        mine = _of(runs, depth, lr)
        rows.append([str(depth), format_lr(lr), str(len(mine)), str(int((mine["status"] == "ok").sum())),
                     "; ".join(f"seed {int(r.seed)}: {r.status}" for r in mine.itertuples() if r.status != "ok") or "-",
                     share(mine["attack_success_rate"].mean()), share(mine["attack_success_rate"].min()),
                     share(mine["clean_test_accuracy"].mean()),
                     str(int((mine["clean_status"] == "ok").sum()))])
    auc_rows = []
    for depth, lr in _settings(aucs) if len(aucs) else []:
        for score, group in _of(aucs, depth, lr).groupby("score", sort=False):
            numbers = effect_statistics(group["auc"].to_numpy(dtype=np.float64), LEVEL)
            auc_rows.append([str(depth), format_lr(lr), score, _interval(numbers)])
    return ["## The poisoned networks", "", "Attack success rate: the share of triggered test inputs not of the target "
            "class that the poisoned network puts in the target class; a run below the threshold is `backdoor failed` "
            "and left out, as are runs that diverged or collapsed:", "",
            markdown_table(["depth", "lr", "runs", "backdoor took", "left out", "attack success (mean)", "lowest",
                            "clean test accuracy", "clean networks ok"], rows), "",
            "## Each measure as a detector of triggered inputs", "",
            "ROC AUC on the poisoned networks, triggered against clean test inputs, each score in its direction fixed "
            "before the run (larger C or local complexity, smaller boundary distance: triggered); the baselines: the "
            "output's |logit| and the distance to the nearest clean training point. Mean over seeds [95% t interval]; "
            "0.5 is chance, below 0.5 the score points the other way:", "",
            markdown_table(["depth", "lr", "score", "AUC [95% CI]"], auc_rows), ""]


_EXTRA = {"search": _search_section, "adversarial": _adversarial_section, "backdoor": _backdoor_section}
_TITLES = {"search": "H3: the search for the balls with the most regions",
           "adversarial": "H1: regions around adversarial examples", "backdoor": "H2: regions around backdoor triggers"}


def build_motivation_report(*, name: str, settings_yaml: str, studies: Sequence[str], tables: Mapping[str, pd.DataFrame],
                            figure_paths: Mapping[str, str], radius: float, norm: str,
                            comparison_headline: str | None = None) -> str:
    """The Markdown of ``results/<name>/report.md`` for the motivation's ``studies``, from their result tables."""
    parts = [f"# Report: {name}", "",
             "Tests the paper's motivation (Zhu, Lin & Tang 2020, Sections 1 and 6): whether balls around adversarial "
             "examples, backdoor triggers and the points a search finds hold more linear regions. The hypotheses, "
             "their measure, unit, per-seed effect, test and level were fixed before the run in "
             f"`docs/motivation_hypotheses.md`. Every ball here has radius {number(radius)} in the {norm} norm, in "
             "input units. Generated by `localregions.reporting` from the pipeline's tables; rerun the pipeline instead "
             "of editing this file.", ""]
    if comparison_headline:
        parts += ["**Against the committed reference.** " + comparison_headline.removeprefix("Verdict: ")
                  + " (details: `comparison.md`)", ""]
    parts += ["## Settings", "", "```yaml", settings_yaml.rstrip("\n"), "```", "", "## Figures", ""]
    parts += [f"- [{caption}]({path})" for caption, path in figure_paths.items()] or ["No figures were drawn."]
    for study in studies:
        parts += ["", f"## {_TITLES[study]}", ""]
        parts += _verdict_section(tables[f"{study}_claims"])
        parts += _beside_section(tables[f"{study}_effects"])
        parts += _kinds_section(tables[f"{study}_kinds"])
        parts += [""] + _EXTRA[study](tables)
    return "\n".join(parts).rstrip("\n") + "\n"


def write_motivation_report(output: str | Path, *, experiment: str, settings: Mapping, studies: Sequence[str],
                            tables: Mapping[str, str | Path], comparison: str | Path, figures: Sequence[str | Path],
                            radius: float, norm: str) -> None:
    """Write the report of ``experiment`` (its motivation ``studies``) from its result tables (by name) and figures."""
    from ..experiment.storage import read_csv, write_text
    from .comparison import headline_of
    from .products import figure_spec

    frames = {name: read_csv(path) for name, path in tables.items()}
    figure_paths = {figure_spec(Path(png).stem)[0].title: os.path.relpath(png, Path(output).parent) for png in figures}
    text = build_motivation_report(name=experiment, settings_yaml=settings_text(settings), studies=studies,
                                   tables=frames, figure_paths=figure_paths, radius=radius, norm=norm,
                                   comparison_headline=headline_of(comparison))
    write_text(text, output)
