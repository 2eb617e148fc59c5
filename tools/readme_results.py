"""The README's Results, generated from the committed reference tables (never typed by hand).

    .venv/bin/python tools/readme_results.py            # print the block
    .venv/bin/python tools/readme_results.py --write    # put it between the README's markers (make reference does)
    .venv/bin/python tools/readme_results.py --check    # exit 1 if the README's block is not what the tables say

The block sits between ``<!-- results:begin ... -->`` and ``<!-- results:end -->`` in README.md.
Each part is drawn from ``reference/<experiment>/`` only when that reference exists.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from localregions.experiment.ball_summaries import BALL_KEYS, methods_summary, tightness_summary
from localregions.reporting.markdown import markdown_table, methods_by_model, model_sizes, number, share
from localregions.reporting.claims import VERDICTS
from localregions.reporting.claims_markdown import verdict_text
from localregions.reporting.motivation_claims import hypothesis
from localregions.reporting.motivation_report import still_rising
from localregions.reporting.phases import phase_changes
from localregions.reporting.verdicts import (TRAJECTORIES, trained_summary, variant_flips, variant_runs,
                                             variant_verdicts_beside_baseline)
from localregions.vocabulary import format_lr

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "reference"
README = REPO / "README.md"
BEGIN = re.compile(r"<!-- results:begin[^>]*-->")
END = "<!-- results:end -->"
SHORT = {1: "fewer regions, then more", 2: "distance up, then down", 3: "(1) clearer on data than random, less stable there",
         4: "single-region points grow, testing steadier", 5: "training above random", 6: "boundaries move away"}


def _read(experiment: str, table: str) -> pd.DataFrame | None:
    path = REFERENCE / experiment / table
    return pd.read_csv(path) if path.is_file() else None


def _verdict_cell(row) -> str:
    return verdict_text(row)


def verdict_table(claims: pd.DataFrame, trajectory: str) -> str:
    rows = claims[claims["trajectory"] == trajectory]
    settings = list(dict.fromkeys(zip(rows["depth"], rows["lr"])))
    body = []
    for claim in sorted(rows["claim"].unique()):
        mine = rows[rows["claim"] == claim]
        cells = []
        for depth, lr in settings:
            cell = mine[(mine["depth"] == depth) & (mine["lr"] == lr)]
            cells.append(_verdict_cell(cell.iloc[0]) if len(cell) else "-")
        body.append([f"({claim}) {SHORT.get(int(claim), '')}"] + cells)
    return markdown_table(["observation of the paper"] + [f"depth {d}, lr {format_lr(lr)}" for d, lr in settings], body)


def answer_line(paper: pd.DataFrame) -> str:
    """The verdict table in one sentence: per observation, in how many settings each verdict stands."""
    settings = paper.drop_duplicates(["depth", "lr"]).shape[0]
    parts = []
    for claim, part in paper.groupby("claim"):
        counts = part["verdict"].value_counts()
        words = [f"{verdict} in {'all ' if int(counts[verdict]) == settings else ''}{int(counts[verdict])}"
                 for verdict in VERDICTS if verdict in counts]
        parts.append(f"({claim}) {', '.join(words)}")
    return (f"In short, over the {settings} settings: " + "; ".join(parts) + ". Each cell is its own question: no "
            "correction is made across settings, and the settings of one depth start from the same initial networks.")


def figure3_section() -> list[str]:
    claims, runs = _read("figure3", "claims.csv"), _read("figure3", "runs.csv")
    if claims is None or runs is None:
        return []
    counts = runs["status"].value_counts()
    ok = runs[runs["status"] == "ok"]
    lines = [
        "### The paper's experiment (Figure 3)",
        "",
        f"From [`reference/figure3/`](reference/figure3/) ([the report](reference/figure3/report.md), "
        f"[claims.csv](reference/figure3/claims.csv)): {len(runs)} runs, {int(counts.get('ok', 0))} trained "
        f"(test accuracy {100 * ok['final_test_accuracy'].min():.1f}-{100 * ok['final_test_accuracy'].max():.1f}%), "
        f"{int(counts.get('diverged', 0))} diverged, {int(counts.get('collapsed', 0))} collapsed.",
        "",
        "![Figure 3, two hidden layers](reference/figure3/figures/figure3_depth2.png)",
        "![Figure 3, three hidden layers](reference/figure3/figures/figure3_depth3.png)",
        "",
        "**The verdict words.** Each observation is split into parts a reader could claim alone (*falls*, *rises*); "
        "each part is measured once per seed and tested over the seeds (one-sided t, 2.5% split over the parts). "
        "A part is *supported* (significant in the paper's direction), *contradicted* (significant in the "
        "opposite direction) or *inconclusive* (neither: not shown either way, which is not the same as absent; "
        "the report gives beside each part the smallest effect these seeds detect with 80% power). A verdict "
        "*holds* (every part supported), is *partly* true (some supported: named), *contradicted* (none "
        "supported, some contradicted: named), *inconclusive* (none either way) or *undecided* (fewer than 5 "
        "trained runs). Decided on the paper's trajectory, epochs 2-20:",
        "",
        verdict_table(claims, TRAJECTORIES[0]),
        "",
    ]
    paper = claims[claims["trajectory"] == TRAJECTORIES[0]].set_index(["depth", "lr", "claim"])["verdict"]
    with_zero = claims[claims["trajectory"] == TRAJECTORIES[1]].set_index(["depth", "lr", "claim"])["verdict"]
    changed = [f"({c}) at depth {d}, lr {format_lr(lr)}: {paper[(d, lr, c)]} -> {with_zero[(d, lr, c)]}"
               for (d, lr, c) in paper.index if (d, lr, c) in with_zero.index and paper[(d, lr, c)] != with_zero[(d, lr, c)]]
    lines += [answer_line(claims[claims["trajectory"] == TRAJECTORIES[0]]), ""]
    lines += [f"With the untrained network (epoch 0) included, {len(changed)} of {len(paper)} verdicts change"
              + (": " + "; ".join(changed) + "." if changed else "."), ""]
    return lines


def tightness_section() -> list[str]:
    tightness = _read("figure3", "tightness.csv")
    if tightness is None:
        return []
    table = tightness_summary(tightness)
    rows = [[r.scale, number(r.radius), f"{r.complete} of {r.balls}", share(r.exact_share), number(r.median_exact), number(r.median_unstable, 3),
             number(r.worst_ratio)] for r in table.itertuples(index=False)]
    return ["### How loose is 2^C, and how much of it is Algorithm 1's slack", "",
            "Exact counts against the bound ([figure](reference/figure3/figures/tightness.png)):", "",
            markdown_table(["scale", "radius", "complete counts", "2^C = exact", "median exact", "median C",
                            "worst 2^C / exact"], rows), ""]


def methods_section() -> list[str]:
    lines = []
    for experiment in ("figure3", "full_mnist"):
        methods = _read(experiment, "methods.csv")
        if methods is None:
            continue
        rows = [[r.scale, number(r.radius), r.method, str(r.balls), number(r.mean_unstable, 3),
                 number(r.alg1_mean_unstable, 3), share(r.single_region_share),
                 "-" if np.isnan(r.removed_share) else share(r.removed_share)]
                for r in methods_summary(methods).itertuples(index=False)]
        lines += [f"C by method on the same balls (`{experiment}`; [figure](reference/{experiment}/figures/methods.png)); "
                  "LP runs on fewer balls, so each method is set beside Algorithm 1 on its own balls; "
                  "*local_complexity* is a sampled lower estimate, not a bound:", "",
                  markdown_table(["scale", "radius", "method", "balls", "mean C", "Algorithm 1's mean C, same balls",
                                  "certified single region (C = 0)", "of Algorithm 1's C removed"], rows), ""]
        bounds = methods[methods["method"] != "local_complexity"]
        certified = bounds[bounds["unstable"] == 0]
        lines += [f"Balls certified as a single region by some sound method: {certified[BALL_KEYS].drop_duplicates().shape[0]} "
                  f"of {bounds[BALL_KEYS].drop_duplicates().shape[0]}"
                  + (f"; {', '.join(sorted(set(bounds['method']) - set(certified['method'])))} certify none." if
                     set(bounds["method"]) - set(certified["method"]) else "."), ""]
    return lines


def _reference_settings(experiment: str) -> dict | None:
    """The settings a reference ran with: the YAML block of its report."""
    path = REFERENCE / experiment / "report.md"
    if not path.is_file() or "```yaml\n" not in path.read_text():
        return None
    return yaml.safe_load(path.read_text().split("```yaml\n", 1)[1].split("```", 1)[0])


def cnn_section() -> list[str]:
    claims, runs, methods, summary = (_read("cnn_mnist", t) for t in ("claims.csv", "runs.csv", "methods.csv",
                                                                         "summary.csv"))
    settings = _reference_settings("cnn_mnist")
    if claims is None or runs is None or methods is None or summary is None or settings is None:
        return []
    sizes = model_sizes(settings["models"])
    paper = claims[claims["trajectory"] == TRAJECTORIES[0]]
    described = {depth: f"{name} ({neurons:,} neurons, depth {depth})" for depth, (name, neurons) in sizes.items()}
    trained = []
    for depth, part in runs.groupby("depth", sort=False):
        ok = part[part["status"] == "ok"]
        accuracy = (f", test accuracy {100 * ok['final_test_accuracy'].min():.1f}-"
                    f"{100 * ok['final_test_accuracy'].max():.1f}%" if len(ok) else "")
        trained.append(f"{described.get(depth, f'depth {depth}')}: {len(ok)} of {len(part)} runs trained{accuracy}")
    rows = [[described.get(r.depth, str(r.depth)), number(r.radius), r.method, str(r.balls), number(r.mean_unstable, 4),
             number(r.unstable_per_neuron, 3), share(r.single_region_share),
             "-" if np.isnan(r.removed_share) else share(r.removed_share)]
            for r in methods_by_model(methods, sizes).itertuples(index=False)]
    return ["### A CNN beside the MLP (`cnn_mnist`)", "",
            "`experiment=cnn_mnist` ([report](reference/cnn_mnist/report.md), [claims.csv](reference/cnn_mnist/claims.csv),"
            " [Figure 3 for the LeNet](reference/cnn_mnist/figures/figure3_depth4.png), "
            "[for the MLP](reference/cnn_mnist/figures/figure3_depth2.png)): a small LeNet-style CNN and the MLP of "
            "`full_mnist` trained on the same data, bounded on the same balls. " + "; ".join(trained) + ".", "",
            "C by method on the same balls, per model; *C per neuron* is mean C over the model's hidden neurons, the "
            "share that may change sign; *local_complexity* is a sampled lower estimate, not a bound:", "",
            markdown_table(["model", "radius", "method", "balls", "mean C", "C per neuron",
                            "certified single region (C = 0)", "of Algorithm 1's C removed"], rows), "",
            f"The paper's observations on each model, decided over the {len(settings['grid']['seeds'])} seeds on epochs "
            f"{int(paper['first_epoch'].min())}-{int(paper['last_epoch'].max())} at r = "
            f"{number(settings['bounds']['radius'])} (depth 4 is the LeNet, depth 2 the MLP):", "",
            verdict_table(claims, TRAJECTORIES[0]), "", single_region_line(summary, described), ""]


def single_region_line(summary: pd.DataFrame, described: dict) -> str:
    """How many balls of the bounds over training meet a single region: (4) is about them."""
    parts = [f"{described.get(depth, f'depth {depth}')}: {int(part['single_region_points'].sum())} of "
             f"{int(part['n_points'].sum())}" for depth, part in summary.groupby("depth", sort=False)]
    radii = " and ".join(number(r) for r in sorted(summary["radius"].unique()))
    return (f"Balls certified a single region (C = 0) by Algorithm 1 over training, every seed, epoch and set, at r = "
            f"{radii}: " + "; ".join(parts) + ". Observation (4) is about these balls: where there are none, its "
            "verdict can only be inconclusive.")


def flips_by_claim_line(flips: pd.DataFrame, variants: list[str], claims: list[int]) -> str:
    """How many variants flip each observation in at least one setting, and which variants flip none."""
    counts = ", ".join(f"({c}) {flips.loc[flips['claim'] == c, 'variant'].nunique()}" for c in claims)
    none = [v for v in variants if v not in set(flips["variant"])]
    return (f"Variants (of {len(variants)}) that flip each observation in at least one setting: {counts}. "
            + (f"No flip at all: {', '.join(none)}." if none else "Every variant flips something."))


def new_contradictions(variants: pd.DataFrame, baseline: pd.DataFrame) -> pd.Series:
    """Per variant, its verdicts that are contradicted where the defaults' verdict in the same setting is inconclusive.

    Not flips by the rule (a flip never starts from inconclusive), but a reader should see them: a choice the
    paper left open can turn "not shown" into "shown the other way".
    """
    paired = variant_verdicts_beside_baseline(variants, baseline)
    hits = paired[(paired["verdict"] == "contradicted") & (paired["before"] == "inconclusive")]
    return hits.groupby("variant", sort=False).size()


def sensitivity_section() -> list[str]:
    variants, baseline = _read("sensitivity", "variant_claims.csv"), _read("sensitivity", "claims.csv")
    if variants is None or baseline is None:
        return []
    flips, runs = variant_flips(variants, baseline), variant_runs(variants)
    contradicted = new_contradictions(variants, baseline)
    rows = []
    for r in runs.itertuples(index=False):
        mine = flips[flips["variant"] == r.variant]
        which = [f"({f.claim}) d{f.depth} lr {format_lr(f.lr)}: {f.before} -> {f.verdict}" for f in mine.itertuples(index=False)]
        rows.append([r.variant, str(len(which)), "; ".join(which) if which else "-",
                     str(int(contradicted.get(r.variant, 0))), str(r.runs_failed)])
    default_contradicted = int(((baseline["trajectory"] == TRAJECTORIES[0]) & (baseline["verdict"] == "contradicted")).sum())
    claims = sorted(int(c) for c in set(variants["claim"]))
    per_variant = int((baseline["trajectory"] == TRAJECTORIES[0]).sum())
    return ["### Which of the paper's silences decide its claims", "",
            f"`experiment=sensitivity` reruns the grid with one unspecified choice changed at a time "
            f"([variant_claims.csv](reference/sensitivity/variant_claims.csv), "
            f"[figure](reference/sensitivity/figures/variant_claims.png), [report](reference/sensitivity/report.md)). "
            f"Flips against the defaults' verdicts ({per_variant} per variant; a flip is a change between holds, partly "
            f"and contradicted, never to or from inconclusive or undecided):", "",
            markdown_table(["variant", "flips", "which", "contradicted where the defaults' verdict is inconclusive",
                            "runs diverged or collapsed"], rows), "",
            flips_by_claim_line(flips, list(runs["variant"]), claims) + f" The defaults have {default_contradicted} "
            f"contradicted verdicts of {per_variant}; the column before last counts the variant's contradicted verdicts "
            "where the defaults' is inconclusive (not a flip by the rule, but a choice the paper left open turning "
            "\"not shown\" into \"shown the other way\"; which ones: the figure).", ""]


def later_phases_line(phases: pd.DataFrame) -> str:
    """Whether "then increases" comes after the paper's 20 epochs, and whether a second decrease follows it."""
    parts = []
    for column, words in (("log2_mean_bound", "log2 of the mean bound"), ("mean_log2_bound", "mean C")):
        train = phases[(phases["dataset"] == "train") & (phases["column"] == column)]
        settings = train.drop_duplicates(["depth", "lr"]).shape[0]
        late = train[train["start"] >= 20]
        rises = late[late["direction"] == "rises"].drop_duplicates(["depth", "lr"])
        second = 0
        for _, part in train.sort_values("start").groupby(["depth", "lr"]):
            directions = list(part["direction"])
            second += any(a == "rises" and "falls" in directions[i + 1:] for i, a in enumerate(directions))
        where = ", ".join(f"depth {r.depth}, lr {format_lr(r.lr)}" for r in rises.itertuples(index=False))
        # The same phases without the correction: what a reader of the intervals in the table sees.
        loose = late[late["ci_low"] > 0].drop_duplicates(["depth", "lr"])
        parts.append(f"{words} of the training points rises significantly over a phase after epoch 20 in "
                     f"{len(rises)} of {settings} settings" + (f" ({where})" if where else "")
                     + (f" (its uncorrected 95% interval clears zero in {len(loose)} of {settings}: a rise that ten "
                        f"seeds do not establish after Holm's correction)" if len(loose) > len(rises) else "")
                     + f", and falls again after a rise in {second}")
    return "Read plainly: " + "; ".join(parts) + "."


def long_training_section() -> list[str]:
    claims, summary, runs = (_read("long_training", t) for t in ("claims.csv", "summary.csv", "runs.csv"))
    if claims is None or summary is None or runs is None:
        return []
    phases = phase_changes(trained_summary(summary, runs), radius=0.4)
    rows = []
    for (depth, lr, column), part in phases[phases["dataset"] == "train"].groupby(["depth", "lr", "column"], sort=False):
        if column not in ("log2_mean_bound", "mean_log2_bound", "mean_boundary_distance"):
            continue
        cells = [(f"not established (detectable: {number(r.detectable, 2)})" if r.direction == "not established"
                  else f"flat (within ±{number(r.margin, 2)})" if r.direction == "flat" else r.direction)
                 + f" {number(r.effect, 2)} [{number(r.ci_low, 2)}, {number(r.ci_high, 2)}]"
                 for r in part.itertuples(index=False)]
        rows.append([f"{depth}", format_lr(lr), f"`{column}`"] + cells)
    header = ["depth", "lr", "curve (training points)"] + [f"epochs {p}" for p in dict.fromkeys(phases["phase"])]
    return ["### Long training (2,000 epochs)", "",
            "`experiment=long_training` ([report](reference/long_training/report.md), "
            "[Figure 3 on a log epoch axis, depth 2](reference/long_training/figures/figure3_depth2.png), "
            "[depth 3](reference/long_training/figures/figure3_depth3.png)); verdicts on every bound epoch after 0:", "",
            verdict_table(claims, TRAJECTORIES[0]), "",
            "Training points, phase by phase (change over the phase, mean over seeds and 95% interval; *rises* or "
            "*falls* only where the change is significant after Holm's correction over the sets and phases of the "
            "curve, *flat* only where two one-sided tests show it within a stated margin, else *not established* "
            "with the smallest change the seeds detect; the other sets are in the report):", "",
            markdown_table(header, rows), "", later_phases_line(phases), ""]



def _part_cell(row) -> str:
    interval = (f" [{number(row.ci_low, 2)}, {number(row.ci_high, 2)}]" if np.isfinite(row.ci_low) else "")
    return f"{row.finding}: {number(row.effect, 2)}{interval} (detectable {number(row.detectable, 2)})"


def motivation_tables(claims: dict[str, pd.DataFrame]) -> list[str]:
    """The verdict per hypothesis and setting, then every part's effect, interval and detectable effect."""
    every = pd.concat(claims.values(), ignore_index=True)
    settings = sorted({(int(d), float(lr)) for d, lr in zip(every["depth"], every["lr"])}, key=lambda p: (p[0], -p[1]))
    header = [f"depth {d}, lr {format_lr(lr)}" for d, lr in settings]
    verdicts, parts = [], []
    for study, table in claims.items():
        record = hypothesis(study)
        cells = {(int(r.depth), float(r.lr)): r for r in table.drop_duplicates(["depth", "lr"]).itertuples(index=False)}
        verdicts.append([f"{record.code} ([report](reference/{study}/report.md)): {record.statement}"]
                        + [verdict_text(cells[s]._asdict()) if s in cells else "-" for s in settings])
        for part in dict.fromkeys(table["part"]):
            rows = {(int(r.depth), float(r.lr)): r for r in table[table["part"] == part].itertuples(index=False)}
            parts.append([f"{record.code}: {part}"] + [_part_cell(rows[s]) if s in rows else "-" for s in settings])
    return [markdown_table(["hypothesis"] + header, verdicts), "",
            "Each part: its finding, the mean effect over seeds in C (bits) with its 95% t interval, and the smallest "
            "effect these seeds detect with 80% power at the part's level (one-sided 2.5% / m, so a 95% interval "
            "can clear zero without deciding the part):", "",
            markdown_table(["part"] + header, parts), ""]


def motivation_facts() -> list[str]:
    """What each study's own tables add: attack rates, the backdoor's runs and detectors, the search's curve."""
    lines = []
    attacks, kinds = _read("adversarial", "adversarial_attacks.csv"), _read("adversarial", "adversarial_kinds.csv")
    if attacks is not None and kinds is not None:
        rates = attacks.groupby("attack", sort=False)["attack_rate"].mean()
        examples = kinds[kinds["kind"].str.startswith("adversarial ")]["decision_distance_median"].mean()
        clean = kinds[kinds["kind"] == "clean"]["decision_distance_median"].mean()
        lines.append(f"H1: the attack rate (examples that flip the float64 prediction within the budget, over the "
                     f"points attacked; the rest are left out and counted) is {share(rates.min())} ({rates.idxmin()}) "
                     f"to {share(rates.max())} ({rates.idxmax()}), mean over networks. An example lies just across the "
                     f"decision boundary by construction (median first-order distance {number(examples, 3)} against "
                     f"{number(clean, 3)} for the clean points, averaged over networks): the study does not separate "
                     f"*near an adversarial example* from *near the decision boundary*.")
    runs, aucs = _read("backdoor", "backdoor_runs.csv"), _read("backdoor", "backdoor_aucs.csv")
    if runs is not None and aucs is not None:
        took = runs[runs["status"] == "ok"]
        mean = aucs.groupby("score", sort=False)["auc"].agg(["mean", "min", "max"])
        words = ", ".join(f"{score} {number(r['mean'], 2)} ({number(r['min'], 2)}-{number(r['max'], 2)})"
                          for score, r in mean.iterrows())
        lines.append(f"H2: the backdoor took in {len(took)} of {len(runs)} poisoned networks (attack success rate "
                     f"{share(took['attack_success_rate'].min())} at the lowest, clean test accuracy "
                     f"{share(took['clean_test_accuracy'].mean())} on average). As detectors of triggered inputs, ROC "
                     f"AUC, mean over the poisoned networks (lowest-highest network): {words}; 0.5 is chance, below 0.5 "
                     f"the score points the other way than fixed before the run ([figure](reference/backdoor/figures/"
                     f"backdoor_roc.png)).")
    curves, maxima = _read("search", "search_curves.csv"), _read("search", "search_maxima.csv")
    if curves is not None and maxima is not None:
        method = maxima["method"].iloc[0]
        rising, total = still_rising(curves, method)
        effect = maxima[maxima["method"] == method]["effect"]
        lines.append(f"H3: {method}'s best ball lies above the data's largest C in {int((effect > 0).sum())}, at it in "
                     f"{int((effect == 0).sum())} and below it in {int((effect < 0).sum())} of {len(effect)} networks, "
                     f"at a budget of {int(maxima['budget'].iloc[0])} evaluations (as many as there are data points); "
                     f"its best value still rose in the last half of the budget in {rising} of {total} searches, so a "
                     f"larger budget may find more ([figure](reference/search/figures/search_curve.png)).")
    return [line + "\n" for line in lines]


def motivation_section() -> list[str]:
    claims = {study: table for study in ("adversarial", "backdoor", "search")
              if (table := _read(study, f"{study}_claims.csv")) is not None}
    if not claims:
        return []
    return ["### The paper's motivation, tested: adversarial examples, backdoor triggers, the search", "",
            "The paper motivates local region counts by adversarial examples and backdoor triggers and proposes a "
            "search for the balls with the most regions, testing none of it. Three hypotheses, fixed before the run "
            "([docs/motivation_hypotheses.md](docs/motivation_hypotheses.md)), each measured by C of Algorithm 1 in "
            "the L2 ball of radius 0.4 on figure3's trained networks (the last checkpoint of each seed) and decided "
            "over the seeds like the paper's claims (one effect per network, one-sided t tests at 2.5% / m for m "
            "parts; `experiment=adversarial`, `backdoor`, `search`):", ""] \
        + motivation_tables(claims) + motivation_facts()


def results_block() -> str:
    parts = (figure3_section() + tightness_section() + methods_section() + cnn_section() + sensitivity_section()
             + long_training_section() + motivation_section())
    return "\n".join(parts).rstrip("\n") if parts else "No reference results are committed yet."


def _replace(text: str, block: str) -> str:
    match = BEGIN.search(text)
    if not match or END not in text[match.end():]:
        raise SystemExit(f"{README} has no results markers")
    end = text.index(END, match.end())
    return text[: match.end()] + "\n" + block + "\n" + text[end:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    arguments = parser.parse_args()
    block = results_block()
    if arguments.write:
        README.write_text(_replace(README.read_text(), block))
    elif arguments.check:
        current = README.read_text()
        if _replace(current, block) != current:
            sys.exit("README.md's Results differ from what reference/ says: run tools/readme_results.py --write")
    else:
        print(block)


if __name__ == "__main__":
    main()
