"""Issue 24's experiment blocks: PGD examples, BadNets backdoors, the per-point measures, the search on a network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from localregions import local_region_bound
from localregions.experiment.adversarial import pgd_examples, predict
from localregions.experiment.backdoor import (
    BACKDOOR_FAILED,
    add_trigger,
    attack_success_rate,
    detection_aucs,
    poison_training_set,
    train_backdoored,
    trigger_table,
)
from localregions.experiment.local_measures import MEASURE_COLUMNS, local_measures, nearest_distance
from localregions.experiment.models import load_checkpoint
from localregions.experiment.region_search import compare_searches, data_box, random_starts
from localregions.experiment.training import train_network

pytest.importorskip("art")

TRAINING = dict(depth=2, width=16, init_std=0.1, lr=0.001, momentum=0.0, epochs=10, batch_size=32, checkpoint_epochs=[10])


def blob_images(n: int, seed: int):
    """6x6 'digits' on raw grey levels: class 0 a bright left half, class 1 a bright right half, noisy; corners dark.

    The bottom-right corner (where the trigger goes) is background in both classes, as in MNIST's 0s and 4s.
    """
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    images = torch.rand((n, 6, 6), generator=generator, dtype=torch.float64) * 60
    images[y == 0, 1:4, 0:3] += 150
    images[y == 1, 1:4, 3:6] += 150
    images[:, 3:, 3:] = torch.rand((n, 3, 3), generator=generator, dtype=torch.float64) * 10
    return images.reshape(n, 36).clamp(0, 255), y


@pytest.fixture(scope="module")
def clean_network(tmp_path_factory):
    x, y = blob_images(600, seed=0)
    test_x, test_y = blob_images(400, seed=1)
    directory = tmp_path_factory.mktemp("clean")
    result = train_network(x, y.to(torch.float64), test_x, test_y.to(torch.float64), seed=0, checkpoint_dir=directory,
                           **TRAINING)
    assert result.status == "ok" and result.metrics["test_accuracy"].iloc[-1] > 0.95
    model, _ = load_checkpoint(directory / "epoch_010.pt")
    return model, (x, y), (test_x, test_y)


# ------------------------------------------------------------------------------------------------ PGD


@pytest.mark.parametrize("norm, eps", [("l2", 60.0), ("linf", 20.0), ("l2", 2.0)])
def test_kept_pgd_examples_flip_the_prediction_and_lie_within_the_budget(clean_network, norm, eps):
    model, _, (test_x, test_y) = clean_network
    found = pgd_examples(model, test_x, test_y, norm=norm, eps=eps, clip=(0.0, 255.0), seed=0)
    clean = predict(model, test_x)
    assert found.attacked + found.skipped == test_x.shape[0]
    assert found.skipped == int((clean != test_y).sum())
    assert found.kept + found.failed == found.attacked
    assert torch.equal(predict(model, found.examples), found.adversarial_prediction)
    assert bool((found.adversarial_prediction != clean[found.source]).all())
    assert torch.equal(found.clean_prediction, clean[found.source])
    assert bool((clean[found.source] == test_y[found.source]).all())  # only correctly classified points attacked
    delta = found.examples - test_x[found.source]
    size = delta.abs().max(dim=1).values if norm == "linf" else torch.linalg.vector_norm(delta, dim=1)
    assert bool((size <= eps).all())
    assert bool((found.examples >= 0).all() and (found.examples <= 255).all())
    assert found.attack_rate == found.kept / found.attacked


def test_points_the_network_gets_wrong_are_not_attacked(clean_network):
    model, _, (test_x, _) = clean_network
    labels = predict(model, test_x).clone()
    labels[:10] = 1 - labels[:10]  # the network "misclassifies" these ten
    found = pgd_examples(model, test_x[:30], labels[:30], norm="l2", eps=400.0, clip=(0.0, 255.0))
    assert found.skipped == 10 and found.attacked == 20
    assert bool((found.source >= 10).all()) and found.kept > 0
    unlabelled = pgd_examples(model, test_x[:30], None, norm="l2", eps=400.0, clip=(0.0, 255.0))
    assert unlabelled.skipped == 0 and unlabelled.attacked == 30


def test_the_attack_rate_grows_with_the_budget_and_small_budgets_fail(clean_network):
    model, _, (test_x, test_y) = clean_network
    rates = [pgd_examples(model, test_x, test_y, norm="l2", eps=eps, clip=(0.0, 255.0)).attack_rate
             for eps in (1.0, 60.0, 400.0)]
    assert rates[0] < 0.2 and rates[2] > 0.9
    assert rates[0] <= rates[1] <= rates[2]


def test_pgd_leaves_the_callers_network_and_numpy_state_alone(clean_network):
    model, _, (test_x, test_y) = clean_network
    before = [p.detach().clone() for p in model.parameters()]
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    pgd_examples(model, test_x[:20], test_y[:20], norm="linf", eps=20.0, clip=(0.0, 255.0), seed=4)
    assert np.random.rand() == expected
    assert all(torch.equal(a, b) and a.dtype == b.dtype for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("kwargs, message", [
    ({"norm": "L2"}, "norm must be one of"),
    ({"eps": 0.0}, "eps must be a finite number > 0"),
    ({"clip": (0.0, 100.0)}, r"clip \(0.0, 100.0\) must hold every point of x"),
    ({"clip": (1.0, 0.0)}, "clip must have low < high"),
    ({"labels": torch.zeros(3)}, r"labels must have one entry per point \(400\)"),
])
def test_pgd_refuses_bad_arguments_by_name(clean_network, kwargs, message):
    model, _, (test_x, test_y) = clean_network
    arguments = {"norm": "l2", "eps": 10.0, "clip": (0.0, 255.0), "labels": test_y, **kwargs}
    labels = arguments.pop("labels")
    with pytest.raises(ValueError, match=message):
        pgd_examples(model, test_x, labels, **arguments)


# ------------------------------------------------------------------------------------------------ backdoor


def test_the_trigger_sets_four_corner_pixels_and_nothing_else():
    x, _ = blob_images(5, seed=2)
    triggered = add_trigger(x)
    changed = (triggered != x).any(dim=0).reshape(6, 6)
    assert torch.nonzero(changed).tolist() == [[3, 5], [4, 4], [5, 3], [5, 5]]
    assert bool((triggered.reshape(-1, 6, 6)[:, [3, 4, 5, 5], [5, 4, 3, 5]] == 255).all())


def test_poisoning_replaces_the_stated_share_of_other_class_points():
    x, y = blob_images(200, seed=3)
    poisoned = poison_training_set(x, y, share=0.1, target=1, seed=7)
    assert poisoned.poisoned.numel() == 20
    assert bool((y[poisoned.poisoned] == 0).all()) and bool((poisoned.y[poisoned.poisoned] == 1).all())
    assert torch.equal(poisoned.x[poisoned.poisoned], add_trigger(x[poisoned.poisoned]))
    rest = torch.ones(200, dtype=torch.bool)
    rest[poisoned.poisoned] = False
    assert torch.equal(poisoned.x[rest], x[rest]) and torch.equal(poisoned.y[rest], y[rest])
    assert not torch.equal(poisoned.poisoned, poison_training_set(x, y, share=0.1, target=1, seed=8).poisoned)
    with pytest.raises(ValueError, match="share must be a number strictly between 0 and 1"):
        poison_training_set(x, y, share=1.5, target=1, seed=0)
    with pytest.raises(ValueError, match=r"share=0.9 asks for 180 poisoned points but 100 are not of class 1"):
        poison_training_set(x, y, share=0.9, target=1, seed=0)
    with pytest.raises(ValueError, match="target must be one of the labels"):
        poison_training_set(x, y, share=0.1, target=4, seed=0)


@pytest.fixture(scope="module")
def backdoored(tmp_path_factory):
    x, y = blob_images(600, seed=0)
    test_x, test_y = blob_images(400, seed=1)
    run = train_backdoored(x, y, test_x, test_y, share=0.1, target=1, threshold=0.9, seed=0,
                           checkpoint_dir=tmp_path_factory.mktemp("poisoned"), **TRAINING)
    return run, (x, y), (test_x, test_y)


def test_a_poisoned_network_carries_the_backdoor_and_a_clean_one_does_not(backdoored, clean_network):
    run, _, (test_x, test_y) = backdoored
    assert run.status == "ok"
    assert run.attack_success_rate >= 0.9
    assert run.clean_test_accuracy > 0.95  # and still classifies clean inputs
    # The same seed and data without poison: the patch alone does not flip the class.
    clean_model, _, _ = clean_network
    assert attack_success_rate(clean_model, test_x, test_y, target=1) < 0.5


def test_a_backdoor_that_does_not_take_is_marked(tmp_path):
    x, y = blob_images(600, seed=0)
    test_x, test_y = blob_images(400, seed=1)
    run = train_backdoored(x, y, test_x, test_y, share=0.002, target=1, threshold=0.9, seed=0,
                           checkpoint_dir=tmp_path, **TRAINING)
    assert run.poisoned.numel() == 1
    assert run.attack_success_rate < 0.9 and run.status == BACKDOOR_FAILED


def test_the_trigger_table_pairs_clean_and_triggered_inputs_and_the_aucs_follow_their_direction(backdoored):
    run, (x, _), (test_x, _) = backdoored
    table = trigger_table(run.model, test_x[:50], 0.4 * 20, reference=x)
    assert list(table["kind"].value_counts().sort_index()) == [50, 50]
    assert set(MEASURE_COLUMNS) | {"nearest_reference", "abs_logit"} <= set(table.columns)
    aucs = detection_aucs(table).set_index("score")["auc"]
    # The triggered copies lie off the data: the distance to the nearest training point separates them.
    assert aucs["nearest_reference"] > 0.9
    flipped = detection_aucs(table, {"nearest_reference": -1}).set_index("score")["auc"]
    assert flipped["nearest_reference"] == pytest.approx(1 - aucs["nearest_reference"])
    with pytest.raises(ValueError, match="table must hold rows of kind 'clean' and 'triggered'"):
        detection_aucs(table[table["kind"] == "clean"])


# ------------------------------------------------------------------------------------------------ measures, search


def test_local_measures_agree_with_the_library_and_their_orderings(clean_network):
    model, (x, _), (test_x, _) = clean_network
    table = local_measures(model, test_x[:40], 8.0, reference=x)
    assert table["alg1"].tolist() == local_region_bound(model, test_x[:40], 8.0).unstable.tolist()
    assert bool((table["crown"] <= table["alg1"]).all()) and bool((table["local_complexity"] <= table["crown"]).all())
    assert np.allclose(table["nearest_reference"], nearest_distance(test_x[:40], x).numpy())
    empty = local_measures(model, test_x[:0], 8.0)
    assert empty.empty and list(empty.columns) == ["point", *MEASURE_COLUMNS]


def test_the_decision_distance_is_where_the_prediction_changes_inside_the_own_region(clean_network):
    """Where the decision boundary lies in the point's own region, a step of that length (and a hair more)
    against the logit's gradient crosses it, and a hair less does not."""
    model, _, (test_x, _) = clean_network
    # Points on segments between the two classes: some lie in a region that the decision boundary crosses.
    t = torch.linspace(0, 1, 400, dtype=torch.float64).repeat(8).unsqueeze(1)
    pairs = torch.arange(8).repeat_interleave(400) * 2
    segments = test_x[pairs] * (1 - t) + test_x[pairs + 1] * t
    table = local_measures(model, segments, 8.0)
    inside = torch.tensor((table["decision_distance"] < 0.9 * table["boundary_distance"]).to_numpy())
    assert inside.sum() >= 3
    points = segments[inside].clone().requires_grad_(True)
    logit = torch.func.functional_call(
        model, {k: v.double() for k, v in model.state_dict().items()}, (points,))[:, 0]
    (gradient,) = torch.autograd.grad(logit.sum(), points)
    unit = gradient / gradient.norm(dim=1, keepdim=True)
    distance = torch.tensor(table["decision_distance"].to_numpy())[inside].unsqueeze(1)
    sign = torch.sign(logit.detach()).unsqueeze(1)
    crossed = points.detach() - sign * unit * distance * (1 + 1e-6)
    short = points.detach() - sign * unit * distance * (1 - 1e-6)
    before = predict(model, points.detach())
    assert bool((predict(model, crossed) != before).all()) and bool((predict(model, short) == before).all())


def test_the_search_on_a_trained_network_beats_the_data_box_samples(clean_network):
    model, (x, _), _ = clean_network
    box = data_box(x)
    starts = random_starts(x, 8, seed=0)
    summary, curves, centres = compare_searches(model, box, 8.0, starts=starts, budget=400, seed=0)
    best = summary.set_index("method")["best_value"]
    assert best["annealing"] >= best["random"]
    assert set(curves["method"]) == {"annealing", "hill_climb", "random"}
    assert all(box.contains(c[None]).all() for c in centres.values())
    assert (curves.groupby("method")["best"].diff().dropna() >= 0).all()
