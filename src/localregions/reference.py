"""A literal, loop-by-loop implementation of Algorithm 1: the oracle the batched engine is tested against.

It reads like the paper's pseudocode (Section 4, "Algorithm 1: Induction of one layer"): one
centre at a time, plain Python loops over the neurons ``j`` of the next layer and the neurons
``i`` of the current one, ``L`` vectors as Python lists, float64 arithmetic (Python floats).
The input layer has ``P = 0`` and ``L`` = the identity.  Nothing is vectorised, so it shares
no arithmetic with :mod:`localregions.bounds`, only the argument validation and the result
container.  It is slow (tens of milliseconds per centre at the paper's size); use it on small
nets and batches.
"""

from __future__ import annotations

import math

import torch

from .ball_inputs import prepare_inputs
from .bound_result import LocalBound

__all__ = ["reference_local_region_bound", "reference_trace"]


def reference_trace(hidden, x, r, norm):
    """Algorithm 1 for one centre, with every intermediate quantity.

    Parameters
    ----------
    hidden : list of (weight, bias) given as nested Python lists (weight[j][i], bias[j]).
    x : list of float, the centre.
    r : float, the radius.
    norm : "l2" or "linf".

    Returns a list with one dict per hidden layer holding, per neuron ``j``, lists of: ``P``,
    ``S`` (0/1), ``U``, ``A`` (pre-activation at the centre), ``usum`` (the propagated U-sum),
    ``u`` (= r * ||L|| + usum, before the branch), ``L`` (the propagated L, before the branch),
    ``margin`` (``|A| - u``: the decision is stable exactly when it is > 0) and ``scale`` (the
    sum of the magnitudes that entered ``A`` and ``u``; rounding errors are a small multiple of
    ``1e-16 * scale``).
    """
    d = len(x)
    # The input layer: P = 0, L = identity, X = the centre.
    X = list(x)
    P = [0] * d
    U = [0.0] * d
    Ls = [[1.0 if i == j else 0.0 for i in range(d)] for j in range(d)]
    L_norms = [1.0] * d  # ||e_i|| in both norms
    trace = []
    for weight, bias in hidden:
        m = len(weight)
        # A^{k+1}_j = sum_i M_ij X_i + C_j
        A = []
        A_scale = []
        for j in range(m):
            a = 0.0
            s = 0.0
            for i in range(len(X)):
                a = a + weight[j][i] * X[i]
                s = s + abs(weight[j][i] * X[i])
            a = a + bias[j]
            A.append(a)
            A_scale.append(s + abs(bias[j]))
        layer = {key: [] for key in ("P", "S", "U", "A", "usum", "u", "L", "margin", "scale")}
        new_Ls = []
        for j in range(m):
            Usum = 0.0
            L = [0.0] * d
            L_scale = 0.0
            for i in range(len(X)):
                if P[i] == 0:
                    L = [l + weight[j][i] * li for l, li in zip(L, Ls[i])]
                    L_scale = L_scale + abs(weight[j][i]) * L_norms[i]
                else:
                    Usum = Usum + abs(weight[j][i]) * U[i]
            if norm == "l2":
                L_norm = math.sqrt(sum(l * l for l in L))
            else:
                L_norm = sum(abs(l) for l in L)
            u = r * L_norm + Usum
            if A[j] < 0:
                if u + A[j] < 0:
                    Uj, Pj, Sj = 0.0, 0, 0
                else:
                    Uj, Pj, Sj = u + A[j], 1, 1
            else:
                if u < A[j]:
                    if Usum == 0:
                        Pj, Sj = 0, 0
                    else:
                        Pj, Sj = 1, 0
                    Uj = u
                else:
                    Uj, Pj, Sj = u, 1, 1
            # The L this neuron passes on: zero when stably inactive, the propagated L when
            # stably active with Usum = 0 (P = 1 neurons pass none; their U is used instead).
            if Pj == 0 and A[j] >= 0:
                new_Ls.append(L)
            else:
                new_Ls.append([0.0] * d)
            layer["P"].append(Pj)
            layer["S"].append(Sj)
            layer["U"].append(Uj)
            layer["A"].append(A[j])
            layer["usum"].append(Usum)
            layer["u"].append(u)
            layer["L"].append(L)
            layer["margin"].append(abs(A[j]) - u)
            layer["scale"].append(A_scale[j] + r * L_scale + Usum)
        trace.append(layer)
        P = layer["P"]
        U = layer["U"]
        Ls = new_Ls
        if norm == "l2":
            L_norms = [math.sqrt(sum(l * l for l in L)) for L in Ls]
        else:
            L_norms = [sum(abs(l) for l in L) for L in Ls]
        X = [a if a > 0 else 0.0 for a in A]
    return trace


def reference_local_region_bound(layers, center, radius, norm: str = "l2") -> LocalBound:
    """Algorithm 1, literally, for one centre ``(d,)`` or a batch ``(N, d)`` looped over centres.

    Same arguments, validation and result as :func:`localregions.bounds.local_region_bound`.
    """
    if isinstance(center, torch.Tensor) and center.ndim == 1:
        center = center.unsqueeze(0)
    hidden, centers, r, norm = prepare_inputs(layers, center, radius, norm)
    device = centers.device
    hidden_lists = [(w.cpu().tolist(), b.cpu().tolist()) for w, b in hidden]
    traces = [reference_trace(hidden_lists, x, r, norm) for x in centers.cpu().tolist()]
    n = centers.shape[0]
    widths = [w.shape[0] for w, _ in hidden]

    def stack(key, k, dtype):
        if n == 0:
            return torch.empty((0, widths[k]), dtype=dtype, device=device)
        return torch.tensor([t[k][key] for t in traces], dtype=dtype, device=device).reshape(n, widths[k])

    Ps = [stack("P", k, torch.bool) for k in range(len(hidden))]
    Ss = [stack("S", k, torch.bool) for k in range(len(hidden))]
    Us = [stack("U", k, torch.float64) for k in range(len(hidden))]
    return LocalBound.from_flags(Ps, Ss, Us, n, device)
