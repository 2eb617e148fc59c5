"""The paper's motivation as three hypotheses, each decided over seeds: the claim records and the rule.

The hypotheses, their measure, unit, per-seed effect, test and level were fixed before the run
in ``docs/motivation_hypotheses.md``; :data:`HYPOTHESES` states each once, as the report prints
it. :func:`decide_hypothesis` applies the pre-registered rule to a per-seed effects table
(:data:`localregions.experiment.motivation_tables.EFFECT_COLUMNS`) and returns the claims table
of the study, one row per (depth, lr, part), in the verdict words of the paper's claims
(:mod:`localregions.reporting.claims`):

* **the seed is the unit**: one effect per trained network; a part is tested by a one-sided
  one-sample t test over the usable seeds that the mean effect is above zero (``supported``) or
  below zero (``contradicted``), each at level 2.5% / m, m the number of parts (Bonferroni: a
  ``partly`` verdict claims parts alone); neither: ``inconclusive``;
* beside each part: the mean effect, its 95% t interval over seeds, the seeds with a positive
  effect, and the smallest effect these seeds detect with 80% power at the part's level
  (:func:`~localregions.reporting.statistics.detectable_effect`);
* the verdict combines the parts as the paper's claims do (:func:`~localregions.reporting.claims.combine_parts`);
  a setting with fewer than :data:`~localregions.reporting.claims.MIN_RUNS` usable networks is
  ``undecided``. A part with fewer usable seeds than that (an attack that kept too few examples
  on most seeds) is ``inconclusive`` with its numbers shown (amendment of 2026-12-07 in the
  hypotheses file: the pre-registration did not say).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .claims import CONTRADICTED, INCONCLUSIVE, MIN_RUNS, SUPPORTED, UNDECIDED, combine_parts
from .statistics import CONFIDENCE, LEVEL, MIN_SEEDS, detectable_effect, t_test

__all__ = ["Hypothesis", "HYPOTHESES", "hypothesis", "decide_hypothesis", "effect_statistics", "CLAIM_COLUMNS"]


@dataclass(frozen=True)
class Hypothesis:
    """One hypothesis of the paper's motivation: its code, study, wording, the paper's words and the rule."""

    code: str
    study: str
    statement: str
    quote: str
    source: str
    unit: str
    rule: str


HYPOTHESES: tuple[Hypothesis, ...] = (
    Hypothesis(
        code="H1", study="adversarial",
        statement="Balls around adversarial examples hold more regions than balls around the clean points they came "
        "from.",
        quote="These local areas may correspond to the neighborhoods of putative adversarial examples or backdoor "
        "triggers",
        source="Section 6; Section 1: \"the attacker attempts to add a minimum perturbation δ to x ... so that the "
        "classification of the perturbed data is flipped\"",
        unit="C (bits)",
        rule="Per network and attack (PGD, untargeted, from every correctly classified test point; an example kept "
        "only where it flips the float64 prediction within its budget and the input box): the mean over kept pairs of "
        "C(example) - C(its clean point), C of Algorithm 1 in the L2 ball of the experiment's radius. A seed with "
        "fewer than `adversarial.min_examples` kept examples for an attack is left out of that attack's part. One "
        "part per attack.",
    ),
    Hypothesis(
        code="H2", study="backdoor",
        statement="Balls around triggered inputs hold more regions than balls around clean ones.",
        quote="if a trigger is successfully injected into a DNN, the trigger-containing samples are either clustered "
        "in specific areas in the input space, or clustered in the latent space of the DNN",
        source="Section 1; Section 6: \"These local areas may correspond to the neighborhoods of putative adversarial "
        "examples or backdoor triggers\"",
        unit="C (bits)",
        rule="BadNets poisoning (ART's checkerboard trigger on the pooled grid, a share of one class relabelled to the "
        "target), trained with the grid's settings and seeds; a run whose attack success rate is below the threshold "
        "is left out. Part 1, per poisoned network: the mean over the test inputs of C(triggered) - C(clean). Part 2, "
        "what the backdoor adds: part 1's contrast minus the same on the clean network of the same setting and seed, "
        "per input (the trigger itself lies off the data).",
    ),
    Hypothesis(
        code="H3", study="search",
        statement="The search finds balls with more regions than any data point's.",
        quote="we can devise a Markov Chain Monte Carlo (MCMC) algorithm, starting from a random data point, to find "
        "the spheres with a maximum number of linear regions in the entire input space",
        source="Section 6 (future work)",
        unit="C (bits)",
        rule="Per network: C of the best ball simulated annealing finds in the box of the training points (chains "
        "started at training points, a budget of evaluations) minus the largest C over the training and testing "
        "points. One part. Beside, not deciding: hill climbing and uniform sampling at the same budget.",
    ),
)

#: The columns of a study's claims table.
CLAIM_COLUMNS = ["hypothesis", "depth", "lr", "verdict", "supported_parts", "contradicted_parts", "n_seeds", "m",
                 "part", "finding", "measure", "unit", "n", "effect", "sd", "ci_low", "ci_high", "positive_seeds",
                 "level", "p", "p_below", "detectable", "note"]


def hypothesis(code_or_study: str) -> Hypothesis:
    """The hypothesis with this code (``"H1"``) or of this study (``"adversarial"``).

    >>> hypothesis("search").code
    'H3'
    """
    for record in HYPOTHESES:
        if code_or_study in (record.code, record.study):
            return record
    raise ValueError(f"no hypothesis is {code_or_study!r}; they are {[h.code for h in HYPOTHESES]} "
                     f"(studies {[h.study for h in HYPOTHESES]})")


def effect_statistics(values, level: float) -> dict:
    """The numbers of one part over seeds: n, mean effect, sd, 95% t interval, one-sided p both ways, positive
    seeds, and the smallest effect detected with 80% power at ``level`` (NaN below two seeds)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < MIN_SEEDS:
        return {"n": len(values), "effect": float(values.mean()) if len(values) else np.nan, "sd": np.nan,
                "ci_low": np.nan, "ci_high": np.nan, "positive_seeds": int((values > 0).sum()), "p": np.nan,
                "p_below": np.nan, "detectable": np.nan}
    result = t_test(values, confidence=CONFIDENCE)
    return {"n": result["n"], "effect": result["effect"], "sd": result["sd"], "ci_low": result["ci_low"],
            "ci_high": result["ci_high"], "positive_seeds": result["positive_seeds"], "p": result["p"],
            "p_below": result["p_below"], "detectable": detectable_effect(result["sd"], result["n"], level)}


def _finding(numbers: dict, level: float) -> str:
    if numbers["n"] < MIN_RUNS:
        return INCONCLUSIVE
    if numbers["p"] <= level:
        return SUPPORTED
    return CONTRADICTED if numbers["p_below"] <= level else INCONCLUSIVE


def _settings(table: pd.DataFrame) -> list[tuple[int, float]]:
    """The (depth, lr) of a table: depths increasing, learning rates decreasing (the order of every table here)."""
    pairs = {(int(d), float(lr)) for d, lr in zip(table["depth"], table["lr"])}
    return sorted(pairs, key=lambda pair: (pair[0], -pair[1]))


def decide_hypothesis(effects: pd.DataFrame, code_or_study: str) -> pd.DataFrame:
    """The claims table of one hypothesis from its per-seed effects (rows with ``decides`` true).

    Parameters
    ----------
    effects : pandas.DataFrame
        ``depth``, ``lr``, ``seed`` and :data:`~localregions.experiment.motivation_tables.EFFECT_COLUMNS`:
        one row per seed, part and measure; ``network_ok`` says whether the seed's network counts in
        the setting, ``usable`` whether its effect counts in the part.
    code_or_study : str
        ``"H1"`` / ``"adversarial"``, ...

    Returns
    -------
    pandas.DataFrame
        :data:`CLAIM_COLUMNS`, one row per (depth, lr, part), parts in the order of the table.
        ``verdict`` (of the setting: holds, partly, contradicted, inconclusive, undecided),
        ``supported_parts`` and ``contradicted_parts`` (names, "; "-separated), ``n_seeds`` (usable
        networks in the setting), ``m`` (parts), ``finding`` of the part, its ``n`` (seeds counted),
        ``effect`` (mean over seeds), ``sd``, the 95% t interval, ``positive_seeds``, ``level``
        (2.5% / m, one-sided), ``p`` (the effect is above zero), ``p_below`` (below zero),
        ``detectable`` (at 80% power and ``level``) and ``note`` (why seeds were left out).
    """
    record = hypothesis(code_or_study)
    missing = [c for c in ("depth", "lr", "seed", "part", "measure", "decides", "effect", "network_ok", "usable", "note")
               if c not in effects.columns]
    if missing:
        raise ValueError(f"effects is missing columns {missing}")
    deciding = effects[effects["decides"].astype(bool)]
    if deciding.empty:
        raise ValueError(f"effects holds no deciding rows (decides true) for {record.code}")
    rows = []
    for depth, lr in _settings(deciding):
        mine = deciding[(deciding["depth"] == depth) & np.isclose(deciding["lr"].astype(float), lr, rtol=1e-12, atol=0)]
        parts = list(dict.fromkeys(mine["part"]))
        level = LEVEL / len(parts)
        networks = int(mine.loc[mine["network_ok"].astype(bool), "seed"].nunique())
        results = []
        for part in parts:
            rows_of_part = mine[mine["part"] == part]
            used = rows_of_part[rows_of_part["usable"].astype(bool)]
            numbers = effect_statistics(used["effect"].to_numpy(dtype=np.float64), level)
            notes = sorted({str(n) for n in rows_of_part.loc[~rows_of_part["usable"].astype(bool), "note"]
                            if isinstance(n, str) and n})
            left_out = len(rows_of_part) - len(used)
            note = (f"{left_out} of {len(rows_of_part)} seeds left out ({'; '.join(notes)})" if left_out else "")
            if len(used) < MIN_RUNS and networks >= MIN_RUNS:
                note = (note + "; " if note else "") + f"fewer than {MIN_RUNS} seeds usable: inconclusive"
            results.append((part, rows_of_part["measure"].iloc[0], numbers, _finding(numbers, level), note))
        findings = [finding for _, _, _, finding, _ in results]
        verdict = combine_parts(findings) if networks >= MIN_RUNS else UNDECIDED
        supported = "; ".join(p for p, _, _, f, _ in results if f == SUPPORTED)
        contradicted = "; ".join(p for p, _, _, f, _ in results if f == CONTRADICTED)
        for part, measure, numbers, finding, note in results:
            rows.append({"hypothesis": record.code, "depth": depth, "lr": lr, "verdict": verdict,
                         "supported_parts": supported, "contradicted_parts": contradicted, "n_seeds": networks,
                         "m": len(parts), "part": part, "finding": finding, "measure": measure, "unit": record.unit,
                         **numbers, "level": level, "note": note})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)
