"""What one seed's curve says about a claim: fixed weighted sums of its values, chosen before looking.

Every function takes curves as an array whose last axis is the epochs, in increasing order, and
whose other axes are anything (seeds; resamples of the points and seeds), and returns one number
per curve. Each is fixed before looking at the data, never "where the curve turns", because the
turn looked up on a noisy curve makes a flat curve seem to fall *and* rise: the lowest of ten
noisy points lies below the truth (in a simulation of flat curves, 10 seeds and 10 epochs, the
leave-one-out turn still passed a one-sided 2.5% t test 6.3% of the time). A fixed weighted sum of
a flat curve has mean exactly zero over seeds whatever the noise of an epoch and its correlation
with the next, so the t test over seeds keeps its level.

Two shape tests, both pre-specified, ask whether a curve falls and then rises:

* :func:`ends_minus_middle` (the primary one): the first value and the last value, each against
  the average of the epochs strictly between them. It misses a U whose arms are very unequal
  (its middle holds much of the longer arm): even without noise it passes a V over epochs 2-20
  turning at epoch 8 only when 0.19 < rise/fall < 2.79, turning at 12 only when rise/fall > 0.31.
* :func:`parabola_ends_minus_middle` (the second one): the same two differences read off the
  seed's least-squares parabola over the trajectory (epochs at their plotted, evenly spaced
  positions), against the parabola's value at the window's centre. Its half sum is the quadratic
  contrast scaled to the claim's unit. It passes those Vs for any rise/fall below 3.5 (turn at 8)
  and above 0.15 (turn at 12), but misses more of the turns near either end of the window (a V
  turning at 18 needs rise/fall > 0.68, against 0.44 for ends vs middle).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = ["MIN_EPOCHS", "ends_minus_middle", "parabola_ends_minus_middle", "roughness", "line_rise", "backtrack"]

#: A claim about a trend needs a first epoch, a last one and at least one between them.
MIN_EPOCHS = 3


def _curves(curves) -> np.ndarray:
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim < 2 or curves.shape[-1] < MIN_EPOCHS:
        raise ValueError(f"curves must be (..., n_seeds, n_epochs) with n_epochs >= {MIN_EPOCHS}, got {curves.shape}")
    return curves


def ends_minus_middle(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per curve: the first value minus the middle, and the last value minus the middle.

    The *middle* is the average over the epochs strictly between the first and the last.

    Parameters
    ----------
    curves : numpy.ndarray of shape (..., n_seeds, n_epochs)
        ``n_epochs >= 3``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``first - middle`` and ``last - middle``, one number per curve.

    Examples
    --------
    >>> fall, rise = ends_minus_middle(np.array([[3.0, 1.0, 1.0, 2.0]]))
    >>> float(fall[0]), float(rise[0])
    (2.0, 1.0)
    """
    curves = _curves(curves)
    middle = curves[..., 1:-1].mean(axis=-1)
    return curves[..., 0] - middle, curves[..., -1] - middle


@lru_cache(maxsize=64)
def _parabola(n_epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """Design (n, 3) over positions scaled to [-1, 1], and its least-squares solver (3, n); read-only (cached)."""
    u = np.linspace(-1.0, 1.0, n_epochs)
    design = np.stack([np.ones_like(u), u, u**2], axis=1)
    solver = np.linalg.pinv(design)
    design.flags.writeable = False
    solver.flags.writeable = False
    return design, solver


def parabola_ends_minus_middle(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per curve: its least-squares parabola at the first and at the last epoch, minus the parabola at the centre.

    The parabola is fitted over the epochs' positions in the trajectory (0, 1, ..., n - 1: the
    points as Figure 3 plots them, evenly spaced; for long training's nearly geometric checkpoints
    this is close to a log epoch axis). With ``q(u) = a + b u + c u**2`` on positions scaled to
    ``u`` in [-1, 1]: ``fall = q(-1) - q(0) = c - b`` and ``rise = q(1) - q(0) = c + b``; both are
    above zero exactly when the parabola opens upwards with its lowest point in the middle half
    of the window.

    Examples
    --------
    >>> fall, rise = parabola_ends_minus_middle(np.array([[4.0, 1.0, 0.0, 1.0, 4.0]]))
    >>> round(float(fall[0]), 12), round(float(rise[0]), 12)
    (4.0, 4.0)
    """
    curves = _curves(curves)
    _, solver = _parabola(curves.shape[-1])
    coefficients = curves @ solver.T
    b, c = coefficients[..., 1], coefficients[..., 2]
    return c - b, c + b


def roughness(curves: np.ndarray) -> np.ndarray:
    """Per curve: the standard deviation of its values around its own least-squares parabola (how unsteady it is).

    What the trend (up to a turn) does not explain: zero for a curve that is a parabola, larger
    the more it jumps about. Residual degrees of freedom ``n_epochs - 3``; zero when there are
    only three epochs (a parabola passes through any three points).

    Examples
    --------
    >>> round(float(roughness(np.array([[0.0, 1.0, 4.0, 9.0]]))[0]), 12)
    0.0
    >>> round(float(roughness(np.array([[0.0, 1.0, 0.0, 1.0, 0.0]]))[0]), 4)
    0.6761
    """
    curves = _curves(curves)
    n_epochs = curves.shape[-1]
    if n_epochs == MIN_EPOCHS:
        return np.zeros(curves.shape[:-1])
    design, solver = _parabola(n_epochs)
    residuals = curves - (curves @ solver.T) @ design.T
    return np.sqrt((residuals**2).sum(axis=-1) / (n_epochs - 3))


def line_rise(curves: np.ndarray, epochs: Sequence[float]) -> np.ndarray:
    """Per curve: how much its least-squares straight line rises from the first epoch to the last.

    Examples
    --------
    >>> float(line_rise(np.array([[0.0, 1.0, 2.0]]), [2, 4, 6])[0])
    2.0
    """
    curves = np.asarray(curves, dtype=np.float64)
    x = np.asarray(epochs, dtype=np.float64)
    centred = x - x.mean()
    slope = (curves - curves.mean(axis=-1, keepdims=True)) @ centred / float(centred @ centred)
    return slope * float(x[-1] - x[0])


def backtrack(curves: np.ndarray) -> np.ndarray:
    """Per curve: the sum of all drops between consecutive epochs (how far a curve goes back on a rise).

    Zero for a curve that never falls; the steadier a rising curve, the smaller.

    Examples
    --------
    >>> float(backtrack(np.array([[1.0, 3.0, 2.0, 5.0, 4.5]]))[0])
    1.5
    """
    steps = np.diff(np.asarray(curves, dtype=np.float64), axis=-1)
    return -np.where(steps < 0, steps, 0.0).sum(axis=-1)
