"""Exact 2-D slices of the linear regions of a ReLU network, through a data point.

The plane ``x(s, t) = center + s * u + t * v`` is spanned by two orthonormal directions ``u, v``
(:class:`SlicePlane`), so plane coordinates are input units: the ball of radius ``r`` around
``center`` meets the plane in the disc of radius ``r`` around ``(0, 0)``.  Restricted to the
plane, the network is a ReLU network with two inputs (first layer ``W1 [u v]``, bias
``b1 + W1 center``); on a region of its first ``k`` layers every pre-activation of layer ``k + 1``
is affine in ``(s, t)``, so its zero set is a line.  :func:`slice_partition` starts from a
rectangular window and, layer by layer, cuts every polygon by the line of each neuron of the
next layer that crosses it (:func:`localregions.polygons.split_by_lines`); the final polygons are
exactly the cells of the partition in the window, each with its activation pattern (as in
:func:`localregions.regions.activation_patterns`: pre-activation ``> 0``), in float64.  No grid
is sampled.

On each polygon the output layer is affine too, so the decision boundary in it is a segment:
where the logit is 0 (one output) or where the two largest logits tie (two or more outputs).

Directions: :func:`slice_plane` (any two, e.g. a gradient and an adversarial direction),
:func:`random_plane` (seeded), :func:`gradient_plane` (the output's gradient at the point and a
second direction), :func:`plane_through_points` (the directions to two other data points).

Networks: anything :func:`localregions.layers.network_layers` accepts (MLPs, conv, pooled,
normalised and ONNX networks, a :class:`~localregions.layers.NetworkLayers`, or a list of hidden
``(weight, bias)`` pairs), since the slice only walks the folded affine maps; the output layer
(for the decision boundary) is the folded network's, or ``output=(weight, bias)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .counting import RegionBudgetExceeded
from .layers import hidden_affine_layers, network_layers
from .polygons import (
    clip_lines,
    distances_to_origin,
    pad,
    polygon_areas,
    rectangle,
    split_by_lines,
    unpad,
    vertex_means,
)
from .validation import as_tensor, check_positive_int, check_radius, check_seed

__all__ = [
    "SlicePlane",
    "SlicePartition",
    "slice_plane",
    "random_plane",
    "gradient_plane",
    "plane_through_points",
    "output_gradient",
    "decision_margin",
    "network_on_plane",
    "slice_partition",
    "disc_regions",
]

# A second direction whose part orthogonal to the first is below this fraction of its length spans no plane.
PARALLEL_TOLERANCE = 1e-9
# Vertices within this fraction of the window's diagonal of a line lie on it (see split_by_lines).
RELATIVE_TOLERANCE = 1e-10
# Elements of the (polygons, vertices, neurons) array of line values held at once.
_BATCH_ELEMENTS = 1 << 22


def _vector(value, name: str, width: int | None = None) -> np.ndarray:
    array = as_tensor(value, name).to(torch.float64).cpu().numpy()
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(array.shape)}")
    if width is not None and array.shape[0] != width:
        raise ValueError(f"{name} has {array.shape[0]} entries but must have {width}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf")
    return array


@dataclass(frozen=True)
class SlicePlane:
    """The plane ``center + s * basis[:, 0] + t * basis[:, 1]``, with orthonormal ``basis`` columns.

    Attributes
    ----------
    center : ``(d,)`` float64
        The data point at plane coordinates ``(0, 0)``.
    basis : ``(d, 2)`` float64
        Orthonormal (Gram-Schmidt of the two directions given), so a plane distance is an input
        distance and the ball of radius ``r`` is the disc of radius ``r``.
    directions : ``(2, 2)`` float64
        Column ``i``: the plane coordinates of the ``i``-th direction given, with its length
        (``center + directions given[i]`` is the point ``directions[:, i]`` of the plane).
    """

    center: np.ndarray
    basis: np.ndarray
    directions: np.ndarray

    def to_input(self, coordinates) -> np.ndarray:
        """Input points ``(N, d)`` of plane coordinates ``(N, 2)``."""
        coordinates = np.asarray(coordinates, dtype=np.float64)
        return self.center + coordinates @ self.basis.T

    def coordinates(self, points) -> np.ndarray:
        """Plane coordinates ``(N, 2)`` of the orthogonal projections of input points ``(N, d)``."""
        return (np.asarray(points, dtype=np.float64) - self.center) @ self.basis

    def distances(self, points) -> np.ndarray:
        """Distance ``(N,)`` from each input point to the plane."""
        offsets = np.asarray(points, dtype=np.float64) - self.center
        return np.linalg.norm(offsets - (offsets @ self.basis) @ self.basis.T, axis=1)


def slice_plane(center, first, second) -> SlicePlane:
    """The plane through ``center`` spanned by two directions (orthonormalised, in that order).

    >>> plane = slice_plane([1.0, 1.0, 1.0], [2.0, 0.0, 0.0], [1.0, 3.0, 0.0])
    >>> plane.directions.round(6).tolist()
    [[2.0, 1.0], [0.0, 3.0]]

    Raises
    ------
    ValueError
        If a direction is zero, the two are parallel, or shapes differ.
    """
    center = _vector(center, "center")
    first = _vector(first, "first", center.shape[0])
    second = _vector(second, "second", center.shape[0])
    if center.shape[0] < 2:
        raise ValueError(f"center must have at least 2 entries to hold a plane, got {center.shape[0]}")
    length = np.linalg.norm(first)
    if length == 0:
        raise ValueError("first direction is zero: it spans no plane")
    if np.linalg.norm(second) == 0:
        raise ValueError("second direction is zero: it spans no plane")
    u = first / length
    along = second @ u
    rest = second - along * u
    height = np.linalg.norm(rest)
    if height <= PARALLEL_TOLERANCE * np.linalg.norm(second):
        raise ValueError("second direction is parallel to first: the two span no plane")
    v = rest / height
    return SlicePlane(center=center, basis=np.stack([u, v], axis=1),
                      directions=np.array([[length, along], [0.0, height]]))


def random_plane(center, seed: int) -> SlicePlane:
    """The plane through ``center`` spanned by two standard normal directions drawn with ``seed``."""
    center = _vector(center, "center")
    directions = np.random.default_rng(check_seed(seed)).standard_normal((2, center.shape[0]))
    return slice_plane(center, directions[0], directions[1])


def plane_through_points(center, first_point, second_point) -> SlicePlane:
    """The plane through ``center`` and two other points (which lie at ``plane.directions[:, 0]`` and ``[:, 1]``)."""
    center = _vector(center, "center")
    return slice_plane(center, _vector(first_point, "first_point", center.shape[0]) - center,
                       _vector(second_point, "second_point", center.shape[0]) - center)


def _network(network, output):
    """Hidden ``(weight, bias)`` pairs and the output layer (or None), all float64 numpy.

    A torch network is folded once (:func:`localregions.layers.network_layers`, so conv, pooled
    and ONNX networks give their output layer too); a list of pairs has none unless ``output`` is given.
    """
    folded = network_layers(network)
    hidden = [(w.cpu().numpy(), b.cpu().numpy()) for w, b in folded.hidden]
    if output is None:
        output = None if folded.output is None else tuple(a.cpu().numpy() for a in folded.output)
    else:
        if not isinstance(output, (tuple, list)) or len(output) != 2:
            raise ValueError("output must be a (weight, bias) pair")
        output = tuple(as_tensor(a, f"output {name}").to(torch.float64).cpu().numpy()
                       for a, name in zip(output, ("weight", "bias")))
    if output is not None:
        weight, bias = output
        width = hidden[-1][0].shape[0] if hidden else None
        if weight.ndim != 2 or bias.shape != (weight.shape[0],) or (width is not None and weight.shape[1] != width):
            raise ValueError(f"output weight {weight.shape} and bias {bias.shape} do not fit the last hidden layer")
        if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
            raise ValueError("output contains NaN or inf")
    return hidden, output


def decision_margin(network, center, *, output=None) -> tuple[float, np.ndarray]:
    """The logit (one output) or the top logit minus the runner-up at ``center``, and its gradient ``(d,)``.

    The network is affine on the region of ``center``; the gradient is that map's, exactly, and
    ``|margin| / ||gradient||`` is the distance to the decision boundary were the network affine.
    """
    hidden, output = _network(network, output)
    if output is None:
        raise ValueError("network has no output layer: pass output=(weight, bias)")
    x = _vector(center, "center", hidden[0][0].shape[1] if hidden else output[0].shape[1])
    jacobian = np.eye(x.shape[0])
    for weight, bias in hidden:
        active = weight @ x + bias > 0
        x = np.where(active, weight @ x + bias, 0.0)
        jacobian = active[:, None] * (weight @ jacobian)
    logits = output[0] @ x + output[1]
    rows = output[0] @ jacobian
    if len(logits) == 1:
        return float(logits[0]), rows[0]
    top, runner_up = np.argsort(-logits, kind="stable")[:2]
    return float(logits[top] - logits[runner_up]), rows[top] - rows[runner_up]


def output_gradient(network, center, *, output=None) -> np.ndarray:
    """Gradient ``(d,)`` at ``center`` of the logit (one output) or of the top logit minus the runner-up.

    The network is affine on the region of ``center``; this is that map's gradient, exactly.
    """
    return decision_margin(network, center, output=output)[1]


def gradient_plane(network, center, second=None, *, seed: int = 0, output=None) -> SlicePlane:
    """The plane through ``center`` spanned by the output's gradient there and ``second``.

    ``second`` is any direction (e.g. an adversarial one); if None, a standard normal direction
    drawn with ``seed``.  Raises ``ValueError`` where the gradient is zero (a flat region).
    """
    gradient = output_gradient(network, center, output=output)
    if not np.any(gradient):
        raise ValueError("the output's gradient at center is zero: it gives no direction")
    if second is None:
        second = np.random.default_rng(check_seed(seed)).standard_normal(gradient.shape[0])
    return slice_plane(center, gradient, second)


def network_on_plane(network, plane: SlicePlane) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The hidden layers of the network restricted to ``plane``: a ReLU network with two inputs.

    Its first layer is ``(W1 @ basis, b1 + W1 @ center)``, the others as they are, so that
    :func:`localregions.exact_region_count` on it with center ``(0, 0)`` counts the regions of
    the slice's disc.
    """
    hidden = hidden_affine_layers(network)
    if not hidden:
        raise ValueError("network has no hidden layer: it has one region")
    weight, bias = hidden[0]
    basis = torch.from_numpy(plane.basis).to(weight)
    center = torch.from_numpy(plane.center).to(weight)
    if weight.shape[1] != basis.shape[0]:
        raise ValueError(f"plane lies in {basis.shape[0]} dimensions but the network takes {weight.shape[1]} inputs")
    return [(weight @ basis, bias + weight @ center), *hidden[1:]]


@dataclass(frozen=True)
class SlicePartition:
    """The linear regions of a network in a window of a plane, and its decision boundary there.

    Attributes
    ----------
    plane : SlicePlane
    window : (s_min, s_max, t_min, t_max)
        The rectangle of plane coordinates the polygons tile.
    vertices : ``(V, 2)`` float64
        Every polygon's vertices, counter-clockwise, one polygon after the other.
    offsets : ``(R + 1,)`` int64
        Polygon ``i`` is ``vertices[offsets[i]:offsets[i + 1]]``.
    patterns : ``(R, N)`` bool
        Each polygon's activation pattern (hidden neurons in order, pre-activation ``> 0``).
    logit_gradients, logit_offsets : ``(R, K, 2)``, ``(R, K)`` float64, or None
        The output layer's logits on polygon ``i``: ``logit_gradients[i] @ c + logit_offsets[i]``
        at plane coordinates ``c``; None without an output layer.
    boundary : ``(S, 2, 2)`` float64
        The decision boundary's segments (end points in plane coordinates); empty without an
        output layer.
    boundary_regions : ``(S,)`` int64
        The polygon each segment lies in.
    """

    plane: SlicePlane
    window: tuple[float, float, float, float]
    vertices: np.ndarray
    offsets: np.ndarray
    patterns: np.ndarray
    logit_gradients: np.ndarray | None
    logit_offsets: np.ndarray | None
    boundary: np.ndarray
    boundary_regions: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def polygon(self, index: int) -> np.ndarray:
        """Vertices ``(n, 2)`` of polygon ``index``."""
        return self.vertices[self.offsets[index]: self.offsets[index + 1]]

    def polygons(self) -> list[np.ndarray]:
        """Every polygon's vertices, as a list (what ``matplotlib.collections.PolyCollection`` takes)."""
        return np.split(self.vertices, self.offsets[1:-1])

    def areas(self) -> np.ndarray:
        """Area ``(R,)`` of each polygon, in squared input units."""
        return polygon_areas(pad(self.polygons())[0])

    def interior_points(self) -> np.ndarray:
        """A point ``(R, 2)`` inside each polygon (the mean of its vertices)."""
        return vertex_means(*pad(self.polygons()))

    def distances_to_center(self) -> np.ndarray:
        """Distance ``(R,)`` from the plane's center ``(0, 0)`` to each polygon."""
        return distances_to_origin(pad(self.polygons())[0])


def _window(window) -> tuple[float, float, float, float]:
    if isinstance(window, (int, float, np.floating, np.integer)) and not isinstance(window, bool):
        half = check_radius(window, "window")
        return (-half, half, -half, half)
    try:
        s_min, s_max, t_min, t_max = (float(value) for value in window)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"window must be a half-width > 0 or (s_min, s_max, t_min, t_max), got {window!r}") from exc
    if not (np.isfinite([s_min, s_max, t_min, t_max]).all() and s_min < s_max and t_min < t_max):
        raise ValueError(f"window must have finite s_min < s_max and t_min < t_max, got {window!r}")
    return (s_min, s_max, t_min, t_max)


def _line_values(vertices: np.ndarray, normals: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Values ``(m, V, n)`` of ``n`` lines per polygon at each vertex: ``normals (m, n, 2)``, ``offsets (m, n)``."""
    return (vertices[:, :, None, 0] * normals[:, None, :, 0] + vertices[:, :, None, 1] * normals[:, None, :, 1]
            + offsets[:, None, :])


def _crossed(vertices: np.ndarray, normals: np.ndarray, offsets: np.ndarray, tolerance: float) -> np.ndarray:
    """``(m, n)``: which of each polygon's lines have vertices strictly on both sides of them."""
    crossed = np.zeros(normals.shape[:2], dtype=bool)
    chunk = max(1, _BATCH_ELEMENTS // max(1, vertices.shape[1] * normals.shape[1]))
    for start in range(0, len(vertices), chunk):
        part = slice(start, start + chunk)
        values = _line_values(vertices[part], normals[part], offsets[part])
        crossed[part] = (values.max(axis=1) > tolerance) & (values.min(axis=1) < -tolerance)
    return crossed


def _split_layer(vertices, counts, parent_normals, parent_offsets, tolerance, max_regions):
    """Cut the polygons of one layer's parents by that layer's lines; returns pieces and their parents.

    ``parent_normals (R, n, 2)`` and ``parent_offsets (R, n)`` are the layer's lines on each parent
    polygon, scaled to signed distances (a zero normal: the neuron is constant there).
    """
    crossed = _crossed(vertices, parent_normals, parent_offsets, tolerance)
    parents = np.arange(len(vertices))
    for neuron in np.flatnonzero(crossed.any(axis=0)):
        rows = np.flatnonzero(crossed[parents, neuron])
        owner = parents[rows]
        values = (vertices[rows] @ parent_normals[owner, neuron][:, :, None])[..., 0] + parent_offsets[owner, neuron][:, None]
        cut, (positive, positive_counts), (negative, negative_counts) = split_by_lines(
            vertices[rows], counts[rows], values, tolerance)
        if not cut.any():
            continue
        cut_rows = rows[cut]
        width = max(vertices.shape[1], positive.shape[1], negative.shape[1])
        if width > vertices.shape[1]:
            vertices = np.concatenate([vertices, np.repeat(vertices[:, :1], width - vertices.shape[1], axis=1)], axis=1)
        positive, negative = (np.concatenate([piece, np.repeat(piece[:, :1], width - piece.shape[1], axis=1)], axis=1)
                              for piece in (positive, negative))
        vertices[cut_rows] = positive
        counts[cut_rows] = positive_counts
        vertices = np.concatenate([vertices, negative])
        counts = np.concatenate([counts, negative_counts])
        parents = np.concatenate([parents, parents[cut_rows]])
        if len(vertices) > max_regions:
            raise RegionBudgetExceeded(
                f"the slice holds more than max_regions={max_regions} regions; shrink the window or raise max_regions")
    return vertices, counts, parents


def _decision_boundary(vertices, gradients, offsets, tolerance):
    """Segments where the logit is 0 (one output) or the two largest logits tie, per polygon."""
    if gradients.shape[1] == 1:
        return clip_lines(vertices, gradients[:, 0], offsets[:, 0], tolerance)
    segments, rows = [np.zeros((0, 2, 2))], [np.zeros(0, dtype=np.int64)]
    classes = gradients.shape[1]
    # Where one class wins at every vertex it wins on the whole polygon (the set where it wins is
    # convex), so only polygons whose vertices disagree can hold a tie.
    winners = (np.einsum("rvc,rkc->rvk", vertices, gradients) + offsets[:, None, :]).argmax(axis=2)
    mixed = np.flatnonzero((winners != winners[:, :1]).any(axis=1))
    vertices, gradients, offsets = vertices[mixed], gradients[mixed], offsets[mixed]
    for first in range(classes):
        for second in range(first + 1, classes):
            others = [k for k in range(classes) if k not in (first, second)]
            # On the tie line, `first` must beat every other logit: l_first - l_k >= 0.
            constraints = np.concatenate([gradients[:, [first]] - gradients[:, others],
                                          (offsets[:, [first]] - offsets[:, others])[..., None]], axis=2)
            found, where = clip_lines(vertices, gradients[:, first] - gradients[:, second],
                                      offsets[:, first] - offsets[:, second], tolerance, constraints)
            segments.append(found)
            rows.append(mixed[where])
    return np.concatenate(segments), np.concatenate(rows)


def slice_partition(network, plane: SlicePlane, window, *, output=None, max_regions: int = 100_000,
                    tolerance: float = RELATIVE_TOLERANCE) -> SlicePartition:
    """The exact linear regions of ``network`` in a window of ``plane``, with their patterns.

    Parameters
    ----------
    network : nn.Module, NetworkLayers or sequence of (weight, bias)
        As for :func:`localregions.layers.network_layers` (folded once here).
    plane : SlicePlane
    window : float or (s_min, s_max, t_min, t_max)
        The rectangle of plane coordinates to partition; a number ``h`` is ``[-h, h]^2``.
    output : (weight, bias), optional
        The output layer, for the decision boundary; by default the folded network's (what
        follows its last ReLU), and none for a list of hidden layers.
    max_regions : int, default 100000
        Stop with :class:`localregions.RegionBudgetExceeded` past this many polygons (each costs
        about ``16 * width`` bytes per layer while it is cut).
    tolerance : float, default 1e-10
        Vertices closer to a line than this fraction of the window's diagonal lie on it.

    Returns
    -------
    SlicePartition

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
    ...     _ = net[0].bias.zero_()
    >>> partition = slice_partition(net, slice_plane([0.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]), 1.0)
    >>> len(partition), float(partition.areas().sum())
    (4, 4.0)
    """
    if not isinstance(plane, SlicePlane):
        raise ValueError(f"plane must be a SlicePlane (see slice_plane), got {type(plane).__name__}")
    hidden, output = _network(network, output)
    window = _window(window)
    max_regions = check_positive_int(max_regions, "max_regions")
    if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1e-3):
        raise ValueError(f"tolerance must be a number in (0, 1e-3), got {tolerance!r}")
    input_width = hidden[0][0].shape[1] if hidden else (output[0].shape[1] if output is not None else None)
    if input_width is not None and input_width != plane.center.shape[0]:
        raise ValueError(f"plane lies in {plane.center.shape[0]} dimensions but the network takes {input_width} inputs")
    length = tolerance * float(np.hypot(window[1] - window[0], window[3] - window[2]))

    vertices, counts = rectangle(*window)
    # The affine map of the current layer's input on each polygon: gradient (R, n, 2), offset (R, n).
    gradients, offsets = plane.basis[None], plane.center[None]
    patterns = np.zeros((1, 0), dtype=bool)
    for weight, bias in hidden:
        line_gradients = np.tensordot(gradients, weight, axes=([1], [1])).transpose(0, 2, 1)
        line_offsets = offsets @ weight.T + bias
        scale = np.linalg.norm(line_gradients, axis=2)
        safe = np.where(scale > 0, scale, 1.0)
        vertices, counts, parents = _split_layer(vertices, counts, line_gradients / safe[..., None],
                                                 line_offsets / safe, length, max_regions)
        line_gradients, line_offsets = line_gradients[parents], line_offsets[parents]
        inside = vertex_means(vertices, counts)
        active = np.einsum("rnc,rc->rn", line_gradients, inside) + line_offsets > 0
        patterns = np.concatenate([patterns[parents], active], axis=1)
        gradients, offsets = line_gradients * active[..., None], line_offsets * active

    if output is not None:
        logit_gradients = np.tensordot(gradients, output[0], axes=([1], [1])).transpose(0, 2, 1)
        logit_offsets = offsets @ output[0].T + output[1]
        boundary, boundary_regions = _decision_boundary(vertices, logit_gradients, logit_offsets, length)
    else:
        logit_gradients = logit_offsets = None
        boundary, boundary_regions = np.zeros((0, 2, 2)), np.zeros(0, dtype=np.int64)
    flat, polygon_offsets = unpad(vertices, counts)
    return SlicePartition(plane=plane, window=window, vertices=flat, offsets=polygon_offsets, patterns=patterns,
                          logit_gradients=logit_gradients, logit_offsets=logit_offsets,
                          boundary=boundary, boundary_regions=boundary_regions.astype(np.int64))


def disc_regions(partition: SlicePartition, radius: float) -> np.ndarray:
    """Indices of the polygons meeting the open disc of ``radius`` around the plane's center.

    They are the regions of the ball of that radius around ``plane.center`` that the plane cuts
    with positive area; ``len()`` of the result is their count.  Raises ``ValueError`` when the
    window does not hold the disc (the count would miss regions).
    """
    radius = check_radius(radius)
    s_min, s_max, t_min, t_max = partition.window
    if not (s_min <= -radius and s_max >= radius and t_min <= -radius and t_max >= radius):
        raise ValueError(f"radius {radius} reaches outside the window {partition.window}")
    return np.flatnonzero(partition.distances_to_center() < radius)
