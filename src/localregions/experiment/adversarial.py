"""Adversarial examples by projected gradient descent, kept only where they really flip the prediction.

PGD (Madry et al. 2018) comes from the Adversarial Robustness Toolbox (ART,
``adversarial-robustness-toolbox==1.20.1``, the optional extra ``attacks``): a maintained
library with L2 and L-infinity PGD for any PyTorch classifier. It was chosen over torchattacks
3.5.1 because torchattacks pins ``requests~=2.25`` and would downgrade the ``requests`` the
pipeline's other packages need; ART installs beside torch 2.14.1 without changing anything the
project pins.

ART computes in float32 (its numpy dtype) and may overshoot a budget by rounding; each example
is therefore projected again, in float64, onto its budget and the input box, and checked on the
network in float64. Only examples whose prediction then differs from the clean point's are
**kept**; the others are **failures**, counted. The attack rate is kept / attacked. Points the
network already misclassifies are not attacked (their count is reported).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..validation import check_norm, check_points, check_positive_int, check_radius, check_seed
from .models import network_copy

__all__ = ["AdversarialExamples", "pgd_examples", "predict", "PGD_ITERATIONS", "PGD_STEP_FRACTION"]

#: Iterations of PGD, and its step as a multiple of eps / iterations (Madry et al.'s 2.5).
PGD_ITERATIONS = 40
PGD_STEP_FRACTION = 2.5


@dataclass(frozen=True)
class AdversarialExamples:
    """Result of :func:`pgd_examples` for one norm and budget.

    Attributes
    ----------
    source : (K,) int64
        Index (into the ``x`` given) of the clean point each kept example came from.
    examples : (K, d) float64
        The kept examples: within the budget and the box, with a prediction that differs from
        the clean point's.
    clean_prediction, adversarial_prediction : (K,) int64
    attacked : int
        Points attacked (the correctly classified ones when labels were given).
    skipped : int
        Points not attacked because the network already misclassifies them.
    failed : int
        Attacked points whose example does not flip the prediction (``attacked - K``).
    norm : str
    eps : float
    """

    source: torch.Tensor
    examples: torch.Tensor
    clean_prediction: torch.Tensor
    adversarial_prediction: torch.Tensor
    attacked: int
    skipped: int
    failed: int
    norm: str
    eps: float

    @property
    def kept(self) -> int:
        return int(self.source.numel())

    @property
    def attack_rate(self) -> float:
        """Kept / attacked (NaN when nothing was attacked)."""
        return self.kept / self.attacked if self.attacked else float("nan")


class _TwoLogits(nn.Module):
    """A one-logit network as two logits ``(0, z)``: softmax over them is sigmoid(z), so cross-entropy is its BCE."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)
        return torch.cat([torch.zeros_like(z), z], dim=1)


def _outputs(model: nn.Sequential) -> int:
    linears = [m for m in model if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("model must be an nn.Sequential with Linear layers")
    return linears[-1].out_features


def predict(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Class predictions in float64: ``logit > 0`` for one output, else the argmax (ties to the lower class).

    >>> net = nn.Sequential(nn.Linear(2, 1))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0, 0.0]])); _ = net[0].bias.zero_()
    >>> predict(net, torch.tensor([[1.0, 5.0], [-1.0, 5.0]])).tolist()
    [1, 0]
    """
    exact = network_copy(model, torch.float64)
    with torch.no_grad():
        logits = exact(x.to(torch.float64))
    return (logits[:, 0] > 0).to(torch.int64) if logits.shape[1] == 1 else logits.argmax(dim=1)


def _project(delta: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    length = torch.linalg.vector_norm(delta, dim=1, keepdim=True)
    return delta * torch.where(length > eps, eps / length.clamp_min(1e-300), 1.0)


def pgd_examples(model: nn.Sequential, x, labels=None, *, norm: str, eps, clip: tuple[float, float], seed: int = 0,
                 iterations: int = PGD_ITERATIONS, step_fraction: float = PGD_STEP_FRACTION,
                 random_start: bool = True, batch_size: int = 1024) -> AdversarialExamples:
    """Untargeted PGD against the network's own prediction, from every (correctly classified) point.

    Parameters
    ----------
    model : nn.Sequential
        A network of this package (one logit, class ``logit > 0``; or two logits).
    x : (N, d) tensor
        The clean points.
    labels : (N,) tensor, optional
        True classes; points the network misclassifies are then skipped. Without labels every
        point is attacked.
    norm : {"l2", "linf"}
    eps : float > 0
        The budget, in input units.
    clip : (low, high)
        The input box (0, 255 for raw grey levels); examples stay inside it.
    seed : int >= 0
        Seeds the random start (ART draws it from numpy's global generator, whose state is
        restored afterwards).
    iterations, step_fraction, random_start, batch_size
        PGD's iterations, its step ``step_fraction * eps / iterations``, one random start in the
        ball (or none), and ART's batch size.

    Returns
    -------
    AdversarialExamples

    Raises
    ------
    ValueError
        Naming the argument: an unknown ``norm``; ``eps`` <= 0; ``x`` not (N, d) or with NaN;
        ``labels`` of another length; ``clip`` not ``low < high`` or not holding every point.
    """
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    norm = check_norm(norm)
    eps = check_radius(eps, "eps")
    seed = check_seed(seed)
    iterations = check_positive_int(iterations, "iterations")
    batch_size = check_positive_int(batch_size, "batch_size")
    step_fraction = check_radius(step_fraction, "step_fraction")
    linears = [m for m in model if isinstance(m, nn.Linear)]
    points = check_points(x, "x", linears[0].in_features if linears else None).cpu()
    low, high = _check_clip(clip, points)
    clean = predict(model, points)
    if labels is None:
        attack = torch.arange(points.shape[0])
    else:
        labels = torch.as_tensor(labels).to(torch.int64).cpu()
        if labels.shape != (points.shape[0],):
            raise ValueError(f"labels must have one entry per point ({points.shape[0]}), got shape {tuple(labels.shape)}")
        attack = torch.nonzero(clean == labels).flatten()
    skipped = points.shape[0] - attack.numel()
    if attack.numel() == 0:
        none = torch.empty(0, dtype=torch.int64)
        return AdversarialExamples(none, torch.empty((0, points.shape[1]), dtype=torch.float64), none, none, 0, skipped,
                                   0, norm, eps)
    network = network_copy(model, torch.float32)
    outputs = _outputs(model)
    classifier = PyTorchClassifier(_TwoLogits(network) if outputs == 1 else network, loss=nn.CrossEntropyLoss(),
                                   input_shape=(points.shape[1],), nb_classes=max(2, outputs), clip_values=(low, high),
                                   device_type="cpu")
    pgd = ProjectedGradientDescent(classifier, norm=2 if norm == "l2" else np.inf, eps=eps,
                                   eps_step=step_fraction * eps / iterations, max_iter=iterations,
                                   num_random_init=int(random_start), batch_size=batch_size, verbose=False)
    sources = points[attack]
    targets = np.eye(classifier.nb_classes, dtype=np.float32)[clean[attack].numpy()]
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        found = pgd.generate(sources.numpy().astype(np.float32), y=targets)
    finally:
        np.random.set_state(state)
    found = torch.from_numpy(found).to(torch.float64)
    examples, inside = _within_budget(sources, found - sources, norm, eps, low, high)
    flipped_to = predict(model, examples)
    flips = (flipped_to != clean[attack]) & inside
    return AdversarialExamples(source=attack[flips], examples=examples[flips], clean_prediction=clean[attack][flips],
                               adversarial_prediction=flipped_to[flips], attacked=int(attack.numel()), skipped=skipped,
                               failed=int((~flips).sum()), norm=norm, eps=eps)


def _size(delta: torch.Tensor, norm: str) -> torch.Tensor:
    return delta.abs().amax(dim=1) if norm == "linf" else torch.linalg.vector_norm(delta, dim=1)


def _within_budget(sources, delta, norm, eps, low, high):
    """``sources + delta`` projected onto the budget and the box so that the *computed* difference is within ``eps``.

    Rounding ``sources + delta`` can put the difference an ulp past ``eps``; such rows are pulled in
    by a relative 1e-12 (far above an ulp, far below any effect) until none is. Returns the examples
    and which rows made it (all, in practice).
    """
    delta = _project(delta, norm, eps)
    for _ in range(8):
        examples = (sources + delta).clamp(low, high)
        over = _size(examples - sources, norm) > eps
        if not over.any():
            break
        delta[over] *= 1.0 - 1e-12
    return examples, _size(examples - sources, norm) <= eps


def _check_clip(clip, points: torch.Tensor) -> tuple[float, float]:
    try:
        low, high = (float(value) for value in clip)
    except (TypeError, ValueError):
        raise ValueError(f"clip must be a pair (low, high) of numbers, got {clip!r}") from None
    if not low < high:
        raise ValueError(f"clip must have low < high, got {clip!r}")
    if points.numel() and (points.min() < low or points.max() > high):
        raise ValueError(f"clip {clip!r} must hold every point of x (x spans {points.min():.6g} to {points.max():.6g})")
    return low, high
