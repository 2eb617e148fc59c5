"""Batched geometry of convex polygons in the plane, for the exact 2-D slices of :mod:`localregions.slices`.

A batch of ``m`` convex polygons is a *padded* array ``vertices`` of shape ``(m, V, 2)`` (float64)
with ``counts`` ``(m,)``: row ``i`` holds its ``counts[i]`` vertices in counter-clockwise order,
followed by copies of its first vertex.  Padding with the first vertex, rather than with NaN,
keeps every edge-wise formula valid on the whole array: the padded edges have length zero and
add nothing to an area, a distance or a clipping constraint.

Only numpy; every function works on the whole batch at once (the slices of a 784 x 256 x 256
network split tens of thousands of polygons, so a Python loop per polygon would dominate).
No library fits: shapely clips one polygon at a time, in Python objects.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "rectangle",
    "split_by_lines",
    "polygon_areas",
    "vertex_means",
    "distances_to_origin",
    "clip_lines",
    "pad",
    "unpad",
]


def rectangle(s_min: float, s_max: float, t_min: float, t_max: float) -> tuple[np.ndarray, np.ndarray]:
    """One counter-clockwise rectangle as a batch: ``vertices`` ``(1, 4, 2)`` and ``counts`` ``(1,)``.

    >>> vertices, counts = rectangle(0.0, 2.0, 0.0, 1.0)
    >>> polygon_areas(vertices).tolist()
    [2.0]
    """
    corners = np.array([[s_min, t_min], [s_max, t_min], [s_max, t_max], [s_min, t_max]], dtype=np.float64)
    return corners[None], np.array([4], dtype=np.int64)


def _next(array: np.ndarray) -> np.ndarray:
    """Each vertex's successor along its row (the last padded slot wraps to the first vertex)."""
    return np.roll(array, -1, axis=1)


def _compact(candidates: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the marked candidate vertices of every row, in order, padded with each row's first one."""
    counts = keep.sum(axis=1)
    width = int(counts.max())
    rows, columns = np.nonzero(keep)
    slots = np.cumsum(keep, axis=1)[rows, columns] - 1
    first = candidates[np.arange(len(candidates)), keep.argmax(axis=1)]
    out = np.repeat(first[:, None, :], width, axis=1)
    out[rows, slots] = candidates[rows, columns]
    return out, counts


def split_by_lines(vertices: np.ndarray, counts: np.ndarray, values: np.ndarray, tolerance: float):
    """Cut each polygon by its own line, given by the line's value at each of its vertices.

    Parameters
    ----------
    vertices, counts : padded batch ``(m, V, 2)``, ``(m,)``
    values : ``(m, V)``
        An affine function of the plane at each vertex (padded slots included); its zero set is
        the row's line.  Scaled to a signed distance, so that ``tolerance`` is a length.
    tolerance : float
        A vertex within ``tolerance`` of the line lies on it: it goes to both sides, and a polygon
        whose vertices are all on one side or on the line is not cut (so a line through a vertex
        or along an edge never makes a sliver).

    Returns
    -------
    cut : ``(m,)`` bool
        The rows with vertices strictly on both sides.
    positive, negative : tuple of (vertices, counts)
        The two pieces of every cut row, in the order of ``np.flatnonzero(cut)``: where the
        function is ``>= 0`` and ``<= 0``, each a convex polygon, counter-clockwise.
    """
    slots = np.arange(vertices.shape[1])
    valid = slots[None, :] < counts[:, None]
    above = values > tolerance
    below = values < -tolerance
    cut = (above & valid).any(axis=1) & (below & valid).any(axis=1)
    vertices, values, valid, above, below = (a[cut] for a in (vertices, values, valid, above, below))
    following_values = _next(values)
    crosses = (above & _next(below)) | (below & _next(above))
    # Only edges with strictly opposite ends are divided, so the weight lies in (0, 1).
    weight = np.where(crosses, values / np.where(crosses, values - following_values, 1.0), 0.0)
    crossing_points = vertices + weight[..., None] * (_next(vertices) - vertices)
    m, width = values.shape
    candidates = np.stack([vertices, crossing_points], axis=2).reshape(m, 2 * width, 2)
    sides = []
    for keep_vertex in (valid & ~below, valid & ~above):
        keep = np.stack([keep_vertex, crosses], axis=2).reshape(m, 2 * width)
        sides.append(_compact(candidates, keep) if m else (np.zeros((0, 3, 2)), np.zeros(0, dtype=np.int64)))
    return cut, sides[0], sides[1]


def polygon_areas(vertices: np.ndarray) -> np.ndarray:
    """Areas of a padded batch (shoelace; positive for counter-clockwise polygons)."""
    following = _next(vertices)
    return 0.5 * (vertices[..., 0] * following[..., 1] - following[..., 0] * vertices[..., 1]).sum(axis=1)


def vertex_means(vertices: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The mean of each polygon's vertices ``(m, 2)``: a point inside it (it is convex)."""
    valid = np.arange(vertices.shape[1])[None, :] < counts[:, None]
    return (vertices * valid[..., None]).sum(axis=1) / counts[:, None]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def distances_to_origin(vertices: np.ndarray) -> np.ndarray:
    """Euclidean distance from the origin to each polygon (0 when the origin lies in it)."""
    edges = _next(vertices) - vertices
    inside = (_cross(edges, -vertices) >= 0).all(axis=1)
    length2 = (edges**2).sum(axis=2)
    along = np.clip(-(vertices * edges).sum(axis=2) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
    nearest = vertices + along[..., None] * edges
    return np.where(inside, 0.0, np.sqrt((nearest**2).sum(axis=2).min(axis=1)))


def clip_lines(vertices: np.ndarray, normals: np.ndarray, offsets: np.ndarray, tolerance: float,
               constraints: np.ndarray | None = None):
    """The segment of each row's line ``normals . c + offsets = 0`` inside its polygon.

    Parameters
    ----------
    vertices : padded batch ``(m, V, 2)``, counter-clockwise
    normals, offsets : ``(m, 2)``, ``(m,)``
        The lines; a row with a zero normal has no line (and no segment).
    tolerance : float
        Segments no longer than this are dropped (a line grazing a vertex).
    constraints : ``(m, q, 3)``, optional
        Further half-planes ``a . c + b >= 0`` (``[a_s, a_t, b]``) the segment is clipped to.

    Returns
    -------
    segments : ``(k, 2, 2)``
        End points of the non-empty segments.
    rows : ``(k,)`` int64
        The row of each.
    """
    norm2 = (normals**2).sum(axis=1)
    has_line = norm2 > 0
    safe = np.where(has_line, norm2, 1.0)
    foot = -(offsets / safe)[:, None] * normals
    direction = np.stack([-normals[:, 1], normals[:, 0]], axis=1) / np.sqrt(safe)[:, None]
    # Inside edge i: cross(e_i, c - v_i) >= 0; along the line, c = foot + tau * direction.
    edges = _next(vertices) - vertices
    alpha = _cross(edges, foot[:, None, :] - vertices)
    beta = _cross(edges, np.broadcast_to(direction[:, None, :], edges.shape))
    if constraints is not None and constraints.shape[1]:
        alpha = np.concatenate([alpha, (constraints[..., :2] * foot[:, None, :]).sum(axis=2) + constraints[..., 2]], axis=1)
        beta = np.concatenate([beta, (constraints[..., :2] * direction[:, None, :]).sum(axis=2)], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -alpha / beta
    low = np.where(beta > 0, bound, -np.inf).max(axis=1)
    high = np.where(beta < 0, bound, np.inf).min(axis=1)
    parallel_outside = ((beta == 0) & (alpha < 0)).any(axis=1)
    keep = has_line & ~parallel_outside & (high - low > tolerance)
    rows = np.flatnonzero(keep)
    ends = np.stack([low[rows], high[rows]], axis=1)
    segments = foot[rows, None, :] + ends[..., None] * direction[rows, None, :]
    return segments, rows


def pad(polygons: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A list of ``(n_i, 2)`` vertex arrays as a padded batch."""
    counts = np.array([len(p) for p in polygons], dtype=np.int64)
    width = int(counts.max()) if len(counts) else 3
    out = np.zeros((len(polygons), width, 2))
    for index, polygon in enumerate(polygons):
        out[index] = polygon[0]
        out[index, : len(polygon)] = polygon
    return out, counts


def unpad(vertices: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A padded batch as flat ``(sum(counts), 2)`` vertices and ``(m + 1,)`` offsets."""
    valid = np.arange(vertices.shape[1])[None, :] < counts[:, None]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return vertices[valid], offsets
