"""Search for the balls that hold the most linear regions: simulated annealing and two baselines.

Zhu, Lin & Tang (2020) end with a search they did not run (Section 6): "a Markov Chain Monte
Carlo (MCMC) algorithm, starting from a random data point, to find the spheres with a maximum
number of linear regions in the entire input space".  :func:`search_regions` runs it for any of
the package's local measures (:func:`region_measure`) inside a :class:`SearchDomain` (the data
box, or a ball around a start), beside two baselines at the same budget:

``"annealing"``
    Metropolis-Hastings on the density ``exp(value / T)`` with a Gaussian random walk, ``T``
    falling geometrically from ``temperature[0]`` to ``temperature[1]`` over the steps (simulated
    annealing); equal temperatures give plain Metropolis-Hastings at that temperature.
``"hill_climb"``
    the same proposals, a move taken only when it does not lower the value (ties are taken, so a
    climber crosses the plateaus an integer measure has): a gradient-free local search.
``"random"``
    uniform samples of the domain, independent of each other (random restarts without a climb).

Every method runs ``chains`` walkers (or draws ``chains`` samples) per step and evaluates them
in one batched call of the measure, and counts every evaluation against ``budget``; the result
carries the best value after each evaluation, so methods compare at equal cost.

Why the proposals keep Metropolis-Hastings exact: a Gaussian step is symmetric; in a box it is
reflected at the faces (the reflected kernel is still symmetric), and in an L2 ball a proposal
outside is rejected without being evaluated (the target is zero there), so at a fixed
temperature the chain's stationary law is the density ``exp(value / T)`` on the domain.
Written here rather than taken from a sampling library because the measures are integer-valued
(no gradient, no likelihood) and batched over chains, which the samplers we know do not fit
without wrapping every step.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from .bounds import local_region_bound
from .complexity import local_complexity
from .counting import exact_region_count
from .layers import hidden_affine_layers
from .validation import check_norm, check_points, check_positive_int, check_radius, check_seed

__all__ = ["MEASURES", "SEARCH_METHODS", "SearchDomain", "RegionSearch", "region_measure", "search_regions"]

#: Measures :func:`region_measure` evaluates, each in bits (log2 of a number of regions, or a count of neurons).
MEASURES = ("alg1", "ibp", "crown", "local_complexity", "exact")
#: Search methods of :func:`search_regions`.
SEARCH_METHODS = ("annealing", "hill_climb", "random")
# Steps without an evaluation (every proposal outside an L2 ball domain) after which a search gives up.
_IDLE_STEPS = 1000
# The acceptance rate the step adaptation aims at, and how far (in log) it may move a step.
_TARGET_ACCEPTANCE = 0.234
_MAX_LOG_SCALE = math.log(1e3)


def _vector(value, name: str, d: int | None = None) -> torch.Tensor:
    tensor = check_points(torch.as_tensor(value).reshape(1, -1) if not isinstance(value, torch.Tensor)
                          else value.detach().reshape(1, -1), name, d)
    return tensor[0].cpu()


@dataclass(frozen=True)
class SearchDomain:
    """Where :func:`search_regions` may put a ball centre: a box, or an L2 ball.

    Build one with :meth:`box` or :meth:`ball`; an L-infinity ball is the box ``center +/- radius``.

    Attributes
    ----------
    lower, upper : (d,) float64
        The box (for an L2 ball, the box around it).
    center : (d,) float64 or None
        The L2 ball's centre; ``None`` for a box.
    radius : float or None
        The L2 ball's radius; ``None`` for a box.

    Examples
    --------
    >>> box = SearchDomain.box(torch.zeros(3), torch.ones(3))
    >>> box.sample(2, torch.Generator().manual_seed(0)).shape
    torch.Size([2, 3])
    >>> SearchDomain.ball(torch.zeros(2), 1.0, norm="linf").upper.tolist()
    [1.0, 1.0]
    """

    lower: torch.Tensor
    upper: torch.Tensor
    center: torch.Tensor | None = None
    radius: float | None = None

    @classmethod
    def box(cls, lower, upper) -> "SearchDomain":
        """The box ``lower <= x <= upper`` (per coordinate; a coordinate with ``lower == upper`` is fixed)."""
        low = _vector(lower, "lower")
        high = _vector(upper, "upper", low.numel())
        if (high < low).any():
            first = int(torch.nonzero(high < low)[0])
            raise ValueError(f"upper must be >= lower in every coordinate, got upper[{first}] < lower[{first}]")
        return cls(lower=low, upper=high)

    @classmethod
    def ball(cls, center, radius, norm: str = "l2") -> "SearchDomain":
        """The ball ``||x - center|| <= radius`` (``"linf"``: the box ``center +/- radius``)."""
        centre = _vector(center, "center")
        r = check_radius(radius)
        if check_norm(norm) == "linf":
            return cls(lower=centre - r, upper=centre + r)
        return cls(lower=centre - r, upper=centre + r, center=centre, radius=r)

    @property
    def dim(self) -> int:
        return self.lower.numel()

    @property
    def extent(self) -> torch.Tensor:
        """Per coordinate, the scale of a default step: the box's width; ``2 radius / sqrt(d)`` in an L2 ball."""
        if self.center is None:
            return self.upper - self.lower
        return torch.full((self.dim,), 2.0 * self.radius / math.sqrt(self.dim), dtype=torch.float64)

    def contains(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) bool: which rows of ``x`` lie in the domain (boundary included)."""
        inside = ((x >= self.lower) & (x <= self.upper)).all(dim=1)
        if self.center is not None:
            inside &= torch.linalg.vector_norm(x - self.center, dim=1) <= self.radius
        return inside

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` points drawn uniformly from the domain, float64 (n, d)."""
        n = check_positive_int(n, "n")
        if self.center is None:
            unit = torch.rand((n, self.dim), generator=generator, dtype=torch.float64)
            return self.lower + (self.upper - self.lower) * unit
        direction = torch.randn((n, self.dim), generator=generator, dtype=torch.float64)
        direction /= torch.linalg.vector_norm(direction, dim=1, keepdim=True)
        length = torch.rand((n, 1), generator=generator, dtype=torch.float64) ** (1.0 / self.dim)
        return self.center + self.radius * length * direction

    def fold(self, x: torch.Tensor) -> torch.Tensor:
        """Reflect ``x`` into the box at its faces (a coordinate of zero width is set to its bound)."""
        width = self.upper - self.lower
        period = torch.where(width > 0, 2.0 * width, 1.0)
        t = torch.remainder(x - self.lower, period)
        t = torch.where(t > width, period - t, t)
        return torch.where(width > 0, self.lower + t, self.lower).clamp(self.lower, self.upper)


@dataclass(frozen=True)
class RegionSearch:
    """Result of :func:`search_regions`.

    Attributes
    ----------
    best_center : (d,) float64
        The centre of the best ball evaluated.
    best_value : float
        Its measure (see :func:`region_measure` for the units).
    trace : (evaluations,) float64
        The best value after each evaluation (non-decreasing), in the order evaluated: step by
        step, chain by chain within a step, the starts first.
    values : (evaluations,) float64
        The value of each evaluation, same order.
    accepted : (A, d) float64
        The centres taken, in order: the starts and every accepted move (annealing, hill
        climbing), or each sample that raised the best (random sampling).
    accepted_at : (A,) int64
        The evaluation (index into ``trace``) at which each was taken.
    evaluations : int
        Evaluations made: ``budget``, unless an L2 ball domain rejected every proposal for a
        thousand steps in a row.
    incomplete : int
        Exact counts that stopped at ``max_regions`` (their value is the lower bound found); 0
        for the other measures.
    method, measure : str
    """

    best_center: torch.Tensor
    best_value: float
    trace: torch.Tensor
    values: torch.Tensor
    accepted: torch.Tensor
    accepted_at: torch.Tensor
    evaluations: int
    incomplete: int
    method: str
    measure: str

    @property
    def acceptance_rate(self) -> float:
        """Share of the evaluations that were taken (the starts included)."""
        return self.accepted.shape[0] / max(1, self.evaluations)


def _check_measure(measure) -> str:
    if not isinstance(measure, str) or measure not in MEASURES:
        raise ValueError(f"measure must be one of {list(MEASURES)}, got {measure!r}")
    return measure


def region_measure(layers, centers, radius, measure: str = "alg1", norm: str = "l2", *, n_directions: int | None = None,
                   seed: int = 0, max_regions: int = 10_000) -> tuple[torch.Tensor, int]:
    """One local measure of the regions in the ball around each centre, in bits; batched where the measure is.

    Parameters
    ----------
    layers : nn.Sequential or list of (weight, bias)
        As for :func:`localregions.local_region_bound`.
    centers : (N, d) tensor
    radius : float > 0
    measure : {"alg1", "ibp", "crown", "local_complexity", "exact"}
        ``"alg1"``, ``"ibp"``, ``"crown"``: ``C`` of :func:`localregions.local_region_bound` with
        that method (the ball meets at most ``2**C`` regions); ``"local_complexity"``: the
        sampled lower estimate of :func:`localregions.local_complexity` (frame ``n`` seeded by
        ``(seed, n)``); ``"exact"``: ``log2`` of :func:`localregions.exact_region_count`, one
        ball at a time (a count stopped at ``max_regions`` gives the log2 of its lower bound).
    norm : {"l2", "linf"}
    n_directions, seed : for ``"local_complexity"``
    max_regions : for ``"exact"``

    Returns
    -------
    values : (N,) float64
    incomplete : int
        Exact counts that stopped at ``max_regions`` (0 for the other measures).

    Examples
    --------
    >>> layers = [(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.zeros(2))]
    >>> values, _ = region_measure(layers, torch.tensor([[0.0, 0.0], [5.0, 5.0]]), 0.5)
    >>> values.tolist()
    [2.0, 0.0]
    >>> region_measure(layers, torch.zeros(1, 2), 0.5, "exact")[0].tolist()
    [2.0]
    """
    measure = _check_measure(measure)
    if measure == "local_complexity":
        result = local_complexity(layers, centers, radius, n_directions=n_directions, seed=seed, norm=norm)
        return result.lower_estimate.to(torch.float64), 0
    if measure != "exact":
        return local_region_bound(layers, centers, radius, norm=norm, method=measure).unstable.to(torch.float64), 0
    hidden = hidden_affine_layers(layers)
    x = check_points(centers, "centers", hidden[0][0].shape[1] if hidden else None)
    values, incomplete = torch.empty(x.shape[0], dtype=torch.float64), 0
    for row in range(x.shape[0]):
        count = exact_region_count(hidden, x[row], radius, norm=norm, max_regions=max_regions)
        incomplete += not count.complete
        values[row] = math.log2(count.count)
    return values, incomplete


def _check_temperature(temperature) -> tuple[float, float]:
    try:
        start, end = temperature
    except (TypeError, ValueError):
        raise ValueError(f"temperature must be a pair (start, end) of numbers > 0, got {temperature!r}") from None
    values = []
    for value in (start, end):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not (math.isfinite(value) and value > 0):
            raise ValueError(f"temperature must be a pair (start, end) of finite numbers > 0, got {temperature!r}")
        values.append(float(value))
    return values[0], values[1]


def _check_step(step, domain: SearchDomain) -> torch.Tensor:
    if step is None:
        return 0.05 * domain.extent
    if isinstance(step, numbers.Real) and not isinstance(step, bool):
        if not (math.isfinite(step) and step > 0):
            raise ValueError(f"step must be a finite number > 0 or a (d,) tensor of numbers >= 0, got {step!r}")
        return torch.full((domain.dim,), float(step), dtype=torch.float64)
    tensor = torch.as_tensor(step.detach() if isinstance(step, torch.Tensor) else step, dtype=torch.float64).cpu()
    if tensor.shape != (domain.dim,) or not torch.isfinite(tensor).all() or (tensor < 0).any() or not (tensor > 0).any():
        raise ValueError(f"step must be a finite number > 0 or a ({domain.dim},) tensor of numbers >= 0, not all 0")
    return tensor


def _check_starts(starts, chains: int, domain: SearchDomain, generator: torch.Generator) -> torch.Tensor:
    if starts is None:
        return domain.sample(chains, generator)
    x = check_points(starts, "starts", domain.dim).cpu()
    if x.shape[0] != chains:
        raise ValueError(f"starts must have one row per chain ({chains}), got {x.shape[0]}")
    outside = ~domain.contains(x)
    if outside.any():
        raise ValueError(f"starts must lie in the domain; row {int(torch.nonzero(outside)[0])} does not")
    return x.clone()  # the walkers move in place; the caller's tensor (or a view of one row) stays as it was


class _Best:
    """The best centre evaluated so far (the first to reach the best value)."""

    def __init__(self, d: int):
        self.value = -math.inf
        self.center = torch.full((d,), math.nan, dtype=torch.float64)

    def update(self, x: torch.Tensor, values: torch.Tensor) -> None:
        top = int(torch.argmax(values))
        if float(values[top]) > self.value:
            self.value, self.center = float(values[top]), x[top].clone()


class _Ledger:
    """The evaluations of a search so far: their values and the centres taken."""

    def __init__(self, budget: int):
        self.values = torch.empty(budget, dtype=torch.float64)
        self.count = 0
        self.accepted: list[torch.Tensor] = []
        self.accepted_at: list[torch.Tensor] = []

    def record(self, values: torch.Tensor) -> torch.Tensor:
        """Append the values; return the evaluation index of each."""
        index = torch.arange(self.count, self.count + values.numel())
        self.values[index] = values
        self.count += values.numel()
        return index

    def take(self, centers: torch.Tensor, index: torch.Tensor) -> None:
        if centers.shape[0]:
            self.accepted.append(centers.clone())
            self.accepted_at.append(index.clone())


def search_regions(
    layers,
    domain: SearchDomain,
    radius,
    *,
    measure: str = "alg1",
    norm: str = "l2",
    method: str = "annealing",
    budget: int = 1000,
    chains: int = 16,
    starts=None,
    step=None,
    temperature=(1.0, 0.05),
    adapt_step: bool = True,
    seed: int = 0,
    n_directions: int | None = None,
    max_regions: int = 10_000,
) -> RegionSearch:
    """Search ``domain`` for the ball centre that maximises a local measure of the regions.

    Parameters
    ----------
    layers : nn.Sequential or list of (weight, bias)
        As for :func:`localregions.local_region_bound`.
    domain : SearchDomain
        Where centres may lie (:meth:`SearchDomain.box`, :meth:`SearchDomain.ball`).
    radius : float > 0
        The radius of the balls measured.
    measure : str, default "alg1"
        See :func:`region_measure` (``"alg1"``, ``"ibp"``, ``"crown"``, ``"local_complexity"``, ``"exact"``).
    norm : {"l2", "linf"}
        The norm of the balls measured.
    method : {"annealing", "hill_climb", "random"}
        See the module docstring.
    budget : int >= 1
        Evaluations of the measure in all (the starts included).
    chains : int >= 1
        Walkers advanced together (their proposals are evaluated in one call), or samples per
        call for ``"random"``.
    starts : (chains, d) tensor, optional
        Where the walkers start (each inside the domain); by default uniform samples of it.
        Ignored by ``"random"``.
    step : float or (d,) tensor, optional
        Standard deviation of the Gaussian step, per coordinate, in input units; by default 0.05
        of :attr:`SearchDomain.extent`.
    temperature : (start, end), default (1.0, 0.05)
        Annealing temperatures in the measure's units (bits), geometric in between.
    adapt_step : bool, default True
        Tune each walker's step scale toward an acceptance rate of 0.234 (Roberts, Gelman &
        Gilks 1997) by a Robbins-Monro update of its logarithm with gains ``1 / sqrt(t)``: a
        diminishing adaptation (Andrieu & Thoms 2008), so a fixed-temperature chain still has the
        target law in the limit. A plateau of an integer measure takes every move, which widens
        the step until it leaves the plateau; a thin ridge narrows it. ``False`` keeps ``step``.
    seed : int >= 0
        Seeds the proposals, the acceptances, the default starts and the random samples (and the
        frames of ``"local_complexity"``): the same arguments give the same result.
    n_directions, max_regions
        Passed to :func:`region_measure`.

    Returns
    -------
    RegionSearch

    Raises
    ------
    ValueError
        Naming the argument: an unknown ``measure`` or ``method``, a ``domain`` that is not a
        :class:`SearchDomain` or does not match the network's inputs, a non-positive ``budget``,
        ``chains`` or ``step``, ``starts`` of the wrong shape or outside the domain, a
        temperature that is not two positive numbers, and whatever :func:`region_measure` refuses.

    Examples
    --------
    One neuron ``x_1 = 0.8`` in the box ``[0, 1]^2``: balls of radius 0.05 meet 2 regions only
    within 0.05 of the line, which the climbers find.

    >>> layers = [(torch.tensor([[1.0, 0.0]]), torch.tensor([-0.8]))]
    >>> box = SearchDomain.box(torch.zeros(2), torch.ones(2))
    >>> found = search_regions(layers, box, 0.05, method="hill_climb", budget=400, step=0.1, seed=0)
    >>> found.best_value, abs(found.best_center[0].item() - 0.8) < 0.05
    (1.0, True)
    >>> bool((found.trace.diff() >= 0).all())
    True
    """
    hidden = hidden_affine_layers(layers, device="cpu")
    measure = _check_measure(measure)
    if not isinstance(method, str) or method not in SEARCH_METHODS:
        raise ValueError(f"method must be one of {list(SEARCH_METHODS)}, got {method!r}")
    if not isinstance(adapt_step, bool):
        raise ValueError(f"adapt_step must be True or False, got {adapt_step!r}")
    if not isinstance(domain, SearchDomain):
        raise ValueError(f"domain must be a SearchDomain (SearchDomain.box or SearchDomain.ball), got {type(domain).__name__}")
    if hidden and domain.dim != hidden[0][0].shape[1]:
        raise ValueError(f"domain has {domain.dim} coordinates but the network takes {hidden[0][0].shape[1]} inputs")
    radius, norm = check_radius(radius), check_norm(norm)
    budget, chains = check_positive_int(budget, "budget"), check_positive_int(chains, "chains")
    seed = check_seed(seed)
    start_t, end_t = _check_temperature(temperature)
    steps = _check_step(step, domain)
    generator = torch.Generator().manual_seed(seed)

    def evaluate(x: torch.Tensor) -> tuple[torch.Tensor, int]:
        return region_measure(hidden, x, radius, measure, norm, n_directions=n_directions, seed=seed,
                              max_regions=max_regions)

    ledger, incomplete = _Ledger(budget), 0
    best = _Best(domain.dim)
    if method == "random":
        while ledger.count < budget:
            x = domain.sample(min(chains, budget - ledger.count), generator)
            values, missed = evaluate(x)
            incomplete += missed
            index = ledger.record(values)
            record = torch.cummax(torch.cat([torch.tensor([best.value], dtype=torch.float64), values]), 0).values
            raised = values > record[:-1]
            ledger.take(x[raised], index[raised])
            best.update(x, values)
    else:
        current = _check_starts(starts, chains, domain, generator)[: min(chains, budget)]
        current_values, incomplete = evaluate(current)
        ledger.take(current, ledger.record(current_values))
        best.update(current, current_values)
        remaining = max(1, math.ceil((budget - ledger.count) / current.shape[0]))
        step_number, idle = 0, 0
        log_scale = torch.zeros(current.shape[0], dtype=torch.float64)
        while ledger.count < budget and idle < _IDLE_STEPS:
            fraction = min(1.0, step_number / max(1, remaining - 1))
            temperature_now = start_t * (end_t / start_t) ** fraction
            step_number += 1
            scale = torch.exp(log_scale).unsqueeze(1)
            proposal = current + scale * steps * torch.randn(current.shape, generator=generator, dtype=torch.float64)
            proposal = domain.fold(proposal)
            uniforms = torch.rand(current.shape[0], generator=generator, dtype=torch.float64)
            inside = torch.nonzero(domain.contains(proposal)).flatten()[: budget - ledger.count]
            idle = 0 if inside.numel() else idle + 1
            if not inside.numel():
                continue
            values, missed = evaluate(proposal[inside])
            incomplete += missed
            index = ledger.record(values)
            best.update(proposal[inside], values)
            gain = values - current_values[inside]
            if method == "hill_climb":
                take = gain >= 0
            else:
                take = uniforms[inside] < torch.exp(torch.clamp(gain / temperature_now, max=0.0))
            if adapt_step:
                log_scale[inside] += (take.to(torch.float64) - _TARGET_ACCEPTANCE) / math.sqrt(step_number)
                log_scale.clamp_(-_MAX_LOG_SCALE, _MAX_LOG_SCALE)
            moved = inside[take]
            current[moved] = proposal[moved]
            current_values[moved] = values[take]
            ledger.take(proposal[moved], index[take])
    values = ledger.values[: ledger.count]
    accepted = torch.cat(ledger.accepted) if ledger.accepted else torch.empty((0, domain.dim), dtype=torch.float64)
    accepted_at = torch.cat(ledger.accepted_at) if ledger.accepted_at else torch.empty(0, dtype=torch.int64)
    order = torch.argsort(accepted_at, stable=True)
    return RegionSearch(best_center=best.center, best_value=best.value,
                        trace=torch.cummax(values, 0).values, values=values.clone(), accepted=accepted[order],
                        accepted_at=accepted_at[order], evaluations=ledger.count, incomplete=incomplete,
                        method=method, measure=measure)

