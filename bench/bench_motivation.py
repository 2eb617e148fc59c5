"""A first measurement of issue 24's three hypotheses (docs/motivation_hypotheses.md) on the figure3 networks.

Trains the figure3 grid (36 pooled inputs, width 32, depth 2 and 3, lr 0.02 and 0.001, the seeds
given, 20 epochs) on the paper's point sets built from real MNIST, then, per study, prints one
effect per seed, the mean with its 95% t interval over seeds, the one-sided p, the smallest
effect the seeds detect with 80% power, and the wall and CPU time of the study. Writes its tables
as CSV under ``--out``. The pipeline's ``experiment=adversarial|backdoor|search`` are the studies
themselves (with their references); this script times their blocks outside Snakemake.

    mkdir -p data && cp -r /work/main/data/raw data/
    python bench/bench_motivation.py --out /tmp/motivation            # all three studies, ten seeds
    python bench/bench_motivation.py --studies search --seeds 0 1      # one study, two seeds

Times are of one process with one torch thread; the machine's load average is printed beside them.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from localregions.experiment.adversarial import pgd_examples
from localregions.experiment.backdoor import detection_aucs, train_backdoored, trigger_table
from localregions.experiment.local_measures import local_measures
from localregions.experiment.models import load_checkpoint
from localregions.experiment.point_sets import load_point_set, prepare_point_sets
from localregions.experiment.region_search import compare_searches, data_box, random_starts
from localregions.experiment.training import train_network
from localregions.reporting.claims import t_test

SETTINGS = [(2, 0.02), (2, 0.001), (3, 0.02), (3, 0.001)]
TRAINING = dict(width=32, init_std=0.1, momentum=0.0, epochs=20, batch_size=32, checkpoint_epochs=[20])
RADIUS = 0.4
ATTACKS = [("l2", 50.0), ("l2", 100.0), ("l2", 200.0), ("linf", 10.0), ("linf", 20.0), ("linf", 40.0)]
MEASURES = ["alg1", "crown", "local_complexity", "boundary_distance"]
LEVEL = 0.025


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


class Clock:
    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        print(f"[time] {self.name}: {self.wall:.1f} s wall, {self.cpu:.1f} s CPU ({load()})", flush=True)


def decide(values, m: int) -> dict:
    """One part: the t test over seeds at level 0.025 / m each way, and the smallest detectable effect."""
    values = [v for v in values if np.isfinite(v)]
    if len(values) < 5:
        return {"n": len(values), "finding": "undecided"}
    result = t_test(values)
    level = LEVEL / m
    n = result["n"]
    detectable = (stats.t.ppf(1 - level, n - 1) + stats.t.ppf(0.8, n - 1)) * result["sd"] / np.sqrt(n)
    finding = ("supported" if result["p"] <= level else "contradicted" if 1 - result["p"] <= level
               else "inconclusive")
    return {**result, "level": level, "detectable": float(detectable), "finding": finding}


def verdict(findings: list[str]) -> str:
    if any(f == "undecided" for f in findings):
        return "undecided"
    if all(f == "supported" for f in findings):
        return "holds"
    if any(f == "supported" for f in findings):
        return "partly"
    return "contradicted" if any(f == "contradicted" for f in findings) else "inconclusive"


def print_parts(title: str, rows: list[dict]) -> None:
    print(f"\n## {title}")
    for row in rows:
        if row["finding"] == "undecided":
            print(f"  {row['label']}: undecided (n={row['n']})")
            continue
        print(f"  {row['label']}: {row['finding']}: effect {row['effect']:+.4g} [{row['ci_low']:+.4g}, "
              f"{row['ci_high']:+.4g}], p={row['p']:.3g}, {row['positive_seeds']}/{row['n']} seeds > 0, "
              f"detectable {row['detectable']:.3g}")


def train_grid(sets, seeds, directory: Path) -> dict:
    (train_x, train_y), (test_x, test_y) = sets["train"], sets["test"]
    models = {}
    with Clock(f"training {len(SETTINGS) * len(seeds)} clean networks"):
        for depth, lr in SETTINGS:
            for seed in seeds:
                where = directory / f"clean_d{depth}_lr{lr}_s{seed}"
                result = train_network(train_x, train_y.to(torch.float64), test_x, test_y.to(torch.float64), depth=depth,
                                       lr=lr, seed=seed, checkpoint_dir=where, **TRAINING)
                if result.status == "ok":
                    models[depth, lr, seed] = load_checkpoint(where / "epoch_020.pt")[0]
                else:
                    print(f"  clean d{depth} lr{lr} seed {seed}: {result.status}, left out")
    return models


def adversarial_study(models, sets, out: Path, search_centres: dict) -> None:
    (test_x, test_y) = sets["test"]
    rows, attacks = [], []
    with Clock("adversarial study (PGD x 6 and the measures)"):
        for (depth, lr, seed), model in models.items():
            clean_table = local_measures(model, test_x, RADIUS, seed=seed)
            randoms = {name: local_measures(model, sets[name][0], RADIUS, seed=seed)[MEASURES].mean()
                       for name in ("random1", "random2")}
            for norm, eps in ATTACKS:
                found = pgd_examples(model, test_x, test_y, norm=norm, eps=eps, clip=(0.0, 255.0), seed=seed)
                attacks.append({"depth": depth, "lr": lr, "seed": seed, "norm": norm, "eps": eps,
                                "attacked": found.attacked, "kept": found.kept, "failed": found.failed,
                                "skipped": found.skipped, "attack_rate": found.attack_rate})
                if found.kept == 0:
                    continue
                adv = local_measures(model, found.examples, RADIUS, seed=seed)
                clean = clean_table.iloc[found.source.numpy()].reset_index(drop=True)
                row = {"depth": depth, "lr": lr, "seed": seed, "norm": norm, "eps": eps, "kept": found.kept}
                for measure in MEASURES:
                    row[f"{measure}_adv"] = adv[measure].mean()
                    row[f"{measure}_clean"] = clean[measure].mean()
                    row[f"{measure}_effect"] = (adv[measure] - clean[measure]).mean()
                    for name, means in randoms.items():
                        row[f"{measure}_{name}"] = means[measure]
                centre = search_centres.get((depth, lr, seed))
                if centre is not None:
                    row["alg1_search_best"] = float(local_measures(model, centre[None], RADIUS, seed=seed)["alg1"][0])
                rows.append(row)
    table, attack_table = pd.DataFrame(rows), pd.DataFrame(attacks)
    table.to_csv(out / "adversarial_effects.csv", index=False)
    attack_table.to_csv(out / "adversarial_attacks.csv", index=False)
    print("\nattack rate (mean over seeds) and kept examples per setting:")
    print(attack_table.groupby(["depth", "lr", "norm", "eps"])[["attack_rate", "kept", "failed", "skipped"]].mean()
          .round(3).to_string())
    for depth, lr in SETTINGS:
        parts = []
        for norm, eps in ATTACKS:
            cell = table[(table.depth == depth) & (table.lr == lr) & (table.norm == norm) & (table.eps == eps)
                         & (table.kept >= 10)]
            parts.append({"label": f"{norm} eps {eps:g} (alg1 C)", **decide(cell["alg1_effect"], m=len(ATTACKS))})
        print_parts(f"H1 depth {depth}, lr {lr}: {verdict([p['finding'] for p in parts])}", parts)
        side = table[(table.depth == depth) & (table.lr == lr)]
        print("  beside (means over seeds and attacks):",
              {c: round(side[c].mean(), 4) for c in side.columns if c.endswith(("_adv", "_clean", "_random1",
                                                                               "_random2", "_search_best"))})
        print("  crown / local complexity / boundary-distance effects (mean over seeds) per attack:")
        print(side.groupby(["norm", "eps"])[["crown_effect", "local_complexity_effect", "boundary_distance_effect"]]
              .mean().round(4).to_string())


def backdoor_study(models, sets, seeds, out: Path, directory: Path) -> None:
    (train_x, train_y), (test_x, test_y) = sets["train"], sets["test"]
    rows, aucs, runs = [], [], []
    with Clock(f"backdoor study ({len(SETTINGS) * len(seeds)} poisoned networks, measures, AUCs)"):
        for depth, lr in SETTINGS:
            for seed in seeds:
                run = train_backdoored(train_x, train_y, test_x, test_y, share=0.1, target=1, threshold=0.9, seed=seed,
                                       checkpoint_dir=directory / f"poisoned_d{depth}_lr{lr}_s{seed}", depth=depth,
                                       lr=lr, **TRAINING)
                runs.append({"depth": depth, "lr": lr, "seed": seed, "status": run.status,
                             "attack_success_rate": run.attack_success_rate, "clean_accuracy": run.clean_test_accuracy})
                clean_model = models.get((depth, lr, seed))
                if run.status != "ok" or clean_model is None:
                    continue
                poisoned = trigger_table(run.model, test_x, RADIUS, reference=train_x, seed=seed)
                control = trigger_table(clean_model, test_x, RADIUS, reference=train_x, seed=seed)
                row = {"depth": depth, "lr": lr, "seed": seed}
                for measure in MEASURES:
                    for name, table in (("poisoned", poisoned), ("clean_net", control)):
                        triggered = table[table.kind == "triggered"][measure].to_numpy()
                        clean = table[table.kind == "clean"][measure].to_numpy()
                        row[f"{measure}_{name}_triggered"] = triggered.mean()
                        row[f"{measure}_{name}_clean"] = clean.mean()
                        row[f"{measure}_{name}_effect"] = (triggered - clean).mean()
                    row[f"{measure}_backdoor_effect"] = row[f"{measure}_poisoned_effect"] - row[f"{measure}_clean_net_effect"]
                rows.append(row)
                auc = detection_aucs(poisoned)
                auc[["depth", "lr", "seed"]] = depth, lr, seed
                aucs.append(auc)
    table, auc_table, run_table = pd.DataFrame(rows), pd.concat(aucs, ignore_index=True), pd.DataFrame(runs)
    table.to_csv(out / "backdoor_effects.csv", index=False)
    auc_table.to_csv(out / "backdoor_aucs.csv", index=False)
    run_table.to_csv(out / "backdoor_runs.csv", index=False)
    print("\npoisoned runs:")
    print(run_table.groupby(["depth", "lr"]).agg(ok=("status", lambda s: int((s == "ok").sum())),
                                                 asr_min=("attack_success_rate", "min"),
                                                 asr_mean=("attack_success_rate", "mean"),
                                                 clean_acc=("clean_accuracy", "mean")).round(3).to_string())
    for depth, lr in SETTINGS:
        cell = table[(table.depth == depth) & (table.lr == lr)]
        parts = [{"label": "triggered - clean on the poisoned net (alg1 C)", **decide(cell["alg1_poisoned_effect"], 2)},
                 {"label": "minus the same on the clean net (alg1 C)", **decide(cell["alg1_backdoor_effect"], 2)}]
        print_parts(f"H2 depth {depth}, lr {lr}: {verdict([p['finding'] for p in parts])}", parts)
        for measure in MEASURES[1:]:
            print(f"  beside, {measure}: poisoned effect {cell[f'{measure}_poisoned_effect'].mean():+.4g}, "
                  f"clean-net effect {cell[f'{measure}_clean_net_effect'].mean():+.4g}")
        a = auc_table[(auc_table.depth == depth) & (auc_table.lr == lr)]
        summary = []
        for score, group in a.groupby("score", sort=False):
            r = t_test(group["auc"]) if len(group) >= 2 else {"effect": group["auc"].mean(), "ci_low": np.nan,
                                                                 "ci_high": np.nan}
            summary.append(f"{score} {r['effect']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]")
        print("  ROC AUC (mean [95% CI] over seeds):", "; ".join(summary))


def search_study(models, sets, out: Path, budget: int, chains: int) -> dict:
    train_x, test_x = sets["train"][0], sets["test"][0]
    data = torch.cat([train_x, test_x])
    rows, curves, centres = [], [], {}
    with Clock(f"search study (3 methods x budget {budget} per network)"):
        for (depth, lr, seed), model in models.items():
            domain = data_box(train_x)
            starts = random_starts(train_x, chains, seed)
            # Fixed steps, as pre-registered (the pipeline's search.adapt_step=false).
            summary, curve, best = compare_searches(model, domain, RADIUS, starts=starts, budget=budget, seed=seed,
                                                    adapt_step=False)
            data_max = local_measures(model, data, RADIUS, seed=seed)["alg1"].max()
            found = local_measures(model, torch.stack([best[m] for m in summary["method"]]), RADIUS, seed=seed,
                                   reference=data)
            for (_, s), (_, f) in zip(summary.iterrows(), found.iterrows(), strict=True):
                rows.append({"depth": depth, "lr": lr, "seed": seed, **s.to_dict(), "data_max": data_max,
                             "effect": s["best_value"] - data_max, "nearest_data": f["nearest_reference"],
                             "boundary_distance": f["boundary_distance"], "decision_distance": f["decision_distance"],
                             "crown_at_best": f["crown"], "local_complexity_at_best": f["local_complexity"]})
            curve[["depth", "lr", "seed"]] = depth, lr, seed
            curves.append(curve[curve["evaluation"].isin([1, 20, 100, 200, 500, 1000, 2000, budget])])
            centres[depth, lr, seed] = best["annealing"]
    table, curve_table = pd.DataFrame(rows), pd.concat(curves, ignore_index=True)
    table.to_csv(out / "search_results.csv", index=False)
    curve_table.to_csv(out / "search_curves.csv", index=False)
    for depth, lr in SETTINGS:
        cell = table[(table.depth == depth) & (table.lr == lr)]
        annealing = cell[cell.method == "annealing"]
        parts = [{"label": "annealing best - max over the 2000 data points (alg1 C)", **decide(annealing["effect"], 1)}]
        print_parts(f"H3 depth {depth}, lr {lr}: {verdict([p['finding'] for p in parts])}", parts)
        print("  per method (means over seeds):")
        print(cell.groupby("method")[["best_value", "data_max", "effect", "nearest_data", "boundary_distance",
                                      "decision_distance", "crown_at_best", "acceptance_rate", "seconds"]]
              .mean().round(3).to_string())
        c = curve_table[(curve_table.depth == depth) & (curve_table.lr == lr)]
        print("  best so far against the budget (mean over seeds):")
        print(c.pivot_table(index="evaluation", columns="method", values="best").round(2).to_string())
    return centres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/motivation"))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--studies", nargs="+", default=["search", "adversarial", "backdoor"],
                        choices=["search", "adversarial", "backdoor"])
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--chains", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, 1 thread, {load()}")
    processed = args.out / "processed"
    with Clock("point sets"):
        prepare_point_sets("data/raw", processed)
    sets = {name: load_point_set(processed, name) for name in ("train", "test", "random1", "random2")}
    models = train_grid(sets, args.seeds, args.out / "checkpoints")
    centres = {}
    if "search" in args.studies:
        centres = search_study(models, sets, args.out, args.budget, args.chains)
    if "adversarial" in args.studies:
        adversarial_study(models, sets, args.out, centres)
    if "backdoor" in args.studies:
        backdoor_study(models, sets, args.seeds, args.out, args.out / "checkpoints")
    print(f"\ndone ({load()})")


if __name__ == "__main__":
    main()
