"""CROWN (backward linear relaxation) of every pre-activation over an L2 or L-infinity ball.

For the neurons of hidden layer ``k`` (``z_k = W_k a_{k-1} + b_k``, ``a_i = relu(z_i)``,
``a_{-1} = x``) every earlier ReLU is replaced by two lines valid on its interval
``[l, u]`` (the bounds already computed for that layer):

* stable neurons are exact: ``a = z`` if ``l >= 0``, ``a = 0`` if ``u <= 0``;
* an unstable neuron (``l < 0 < u``) gets the upper line ``a <= u/(u-l) (z - l)`` (the chord,
  the triangle's upper face) and the adaptive lower line ``a >= alpha z`` with ``alpha = 1`` if
  ``u > -l`` else ``0`` (CROWN-Ada, Zhang et al. 2018; DeepPoly's choice, Singh et al. 2019).

Substituting backwards from ``z_k`` to the input, choosing per coefficient sign the line that
bounds in the wanted direction, gives ``z_kj <= Lambda_j . z_0 + c_j`` with ``z_0`` the first
hidden layer's pre-activation (an affine function of ``x``).  Its maximum over the ball is
exact::

    upper_j = c_j + Lambda_j . A_0 + r ||Lambda_j W_0||_dual

(``A_0`` = first-layer pre-activations at the centre, ``||.||_dual`` = L2 for an L2 ball, L1
for an L-infinity ball).  The lower bound is the mirror pass with the other lines.  Each
layer's bounds feed the relaxation of the next; the first layer is exact (``A -/+ r||W||``).

Batched design
--------------
A chunk of centres is processed at once; per centre the coefficients are a
``(width_k, width_i)`` matrix and each backward step is one float64 GEMM, batched over the
chunk.  Two things keep the work down:

* *compaction*: a stably inactive neuron (``u <= 0``) contributes nothing, so per centre only
  the other neurons of each earlier layer are kept, sorted with the unstable ones first; the
  weights are gathered per centre into ``(kept_i, kept_{i-1})`` blocks (zero-padded to the
  chunk's largest count), once per chunk, and shared by every target layer and both passes.
  The relaxation's elementwise work then touches only the leading block of possibly unstable
  columns (a stably active neuron's relaxation is the identity);
* *the Gram form*: for an L2 ball with fewer first-layer neurons than inputs the last product
  is avoided, ``||Lambda W_0||_2^2 = Lambda G Lambda^T`` with ``G = W_0 W_0^T`` (``width_0``
  instead of ``d`` columns; 3x fewer flops on MNIST at width 256).  Its rounding, which a sum of
  squares would not have, is bounded and added before the square root (see
  :func:`_last_step`), so this path rounds no worse than the direct one;
* *folded vectors*: each middle layer's bias and the centre's first-layer pre-activations are
  appended as one more column of the gathered weights, so the GEMMs also yield ``lambda . b``
  and ``lambda . A_0``.

The automatic chunk is small (about 32 MiB of work memory, 8 centres on MNIST at width 256),
which keeps the blocks in cache.

Rounding
--------
Every interval is widened by a proven bound on its rounding (:mod:`._outward`), so it holds for
the exact pre-activations of the float64 net, centres and radius, and exact ties come out
unstable.  Two things make that work:

* *the lines are valid as floats*: the computed slope ``alpha_U = fl(u / fl(u - l))`` may differ
  from the chord's by an ulp, so the intercept is not ``-alpha_U l`` but
  ``max(-alpha_U l, u - alpha_U u)`` rounded up (:func:`_relaxation`): then ``alpha_U z + beta_U``
  is at least ``relu(z)`` at both ends of ``[l, u]``, hence on all of it, exactly.  The lower
  slopes are 0 or 1, exact; the bounds ``[l, u]`` are the earlier layers' widened intervals.  So
  the exact value of the backward formula with these floats is a valid bound.
* *the magnitudes of the computation*: the computed bound differs from that exact value by the
  rounding of a chain of products with the weights and the slopes, of sums with the intercepts
  and biases, and of the last step.  Every step is Lipschitz in its input (the relaxation ``lam
  -> alpha_U lam+ + alpha_L lam-`` with constant ``D = max(alpha_L, alpha_U) <= 1``, whichever
  line a rounded coefficient's sign picks; the last step with weights ``|A_0| + r ||W_0p||``), so
  each step's rounding reaches the end weighted by the magnitude of what follows it, and
  altogether the error is at most ``gamma_{N_k} V_k`` with the magnitudes ``V_1 = |x| |W_1|^T +
  |b_1| + r ||W_1j||``, ``T_i = D_i V_i + beta_i``, ``V_k = |W_k| T_{k-1} + |b_k|`` (the absolute
  version of the same computation, run forwards: one more stacked row in one product with
  ``|W|`` per layer, shared by every later target and both passes) and ``N_k = 2d + 16 +
  sum_{i<k} 2 (w_i + 8)``, the longest chain of roundings (products of length ``w_i``, a few
  elementwise steps and sums per layer, the first layer's ``A`` and norms).  Products that
  underflow add at most ``eta (w + 8) sum_{i<k} (||V_i||_1 + ||T_i||_1 + 2)`` (``eta =
  2**-1074``, ``w`` the widest layer) and the last step's terms (``r d w_1 eta`` for L1, ``r
  sqrt(d) (w_1 eta + 2**-537)`` for L2, inside the norm on the Gram path).

The Gram form's norm is one-sided: its proven margin under the square root (:class:`CrownPlan`)
and a rounding up after it make it at least the exact ``||lam W_0||_2`` of the computed ``lam``
(up to the underflow term added to it), so only the other roundings enter ``E``.  At 784 x 3 x
256, ``gamma_{N_k}`` is 2.3e-13 (layer 2) and 2.9e-13 (layer 3), the widening 8e-12 and 4e-11
(medians, r = 0.1, L2; the real errors are nearer 1e-16 of ``V``); decisions closer than that to
a tie come out unstable.

"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import math

from .._rounding import UNIT_ROUNDOFF, output_error
from ._outward import ETA, MARGIN, IntervalPlan, first_layer, norm_underflow, round_up_by, widen

__all__ = ["CrownPlan", "crown_intervals", "crown_per_centre_bytes"]


class CrownPlan:
    """Per-call preparation shared by every chunk: transposes, the Gram matrix and its margin, the rounding constants."""

    def __init__(self, hidden, order: float, d: int):
        self.rounding = IntervalPlan.build(hidden, d, order)
        self.W = [W for W, _ in hidden]
        self.b = [b for _, b in hidden]
        self.Wt = [W.t().contiguous() for W in self.W]
        self.order = order
        self.d = d
        self.m0 = self.W[0].shape[0] if self.W else 0
        self.gram = bool(self.W) and order == 2.0 and self.m0 < d
        if self.gram:
            W0 = self.W[0]
            self.G = W0 @ W0.t()
            self.w0sq = (W0 * W0).sum(dim=1)
            # |fl(l^T G l) - l^T W W^T l| <= (gamma_d + 2 gamma_m0 + O(u^2)) (sum_p |l_p| ||W_p||)^2
            # <= (...) ||l||^2 sum_p ||W_p||^2 (Cauchy-Schwarz); twice that covers the rounding of
            # the margin itself.
            self.kappa = 2.0 * (d + 2 * self.m0 + 4) * UNIT_ROUNDOFF
        # Underflow (see "Rounding"): per unit of sum (||V_i||_1 + ||T_i||_1 + 2), and the last step's.
        self.chain_abs = ETA * (max((W.shape[0] for W in self.W), default=0) + 8) * MARGIN

    def last_abs(self, r: float) -> float:
        """The last step's underflow terms: ``lam . A_0``, and ``r ||lam W_0||`` on the direct path (the Gram path adds its own)."""
        centre = ETA * (self.m0 + 8) * MARGIN
        if self.order == 1.0:
            return centre + r * self.d * self.m0 * ETA * MARGIN
        if self.gram:
            return centre
        return centre + r * (math.sqrt(self.d) * self.m0 * ETA + norm_underflow(self.d, self.order)) * MARGIN


def crown_per_centre_bytes(hidden, d: int, order: float) -> int:
    """Work memory per centre of :func:`crown_intervals`, at worst (nothing compacted away)."""
    if not hidden:
        return 8
    widths = [W.shape[0] for W, _ in hidden]
    m = max(widths)
    m0 = widths[0]
    gram = order == 2.0 and m0 < d
    gathered = sum(widths[k] * widths[k - 1] for k in range(1, len(widths)))
    final = m0 * m0 + m * m0 if gram else m0 * d + m * d
    return 8 * (3 * m * m + gathered + final + 32 * sum(widths))


def _relaxation(lower: torch.Tensor, upper: torch.Tensor):
    """``(alpha_L, alpha_U - alpha_L, beta_U)`` of each neuron's lines ``alpha_L z <= a <= alpha_U z + beta_U``.

    Valid as floats (see "Rounding"): ``beta_U`` is ``max(-alpha_U l, u - alpha_U u)`` computed
    and then raised by ``8 u (beta + alpha_U u)`` plus ``4 eta``, which covers the three roundings
    of computing it, so the line is above ``relu`` at ``z = l`` and ``z = u`` exactly.
    (``alpha_U <= 1``, so ``u - fl(alpha_U u) >= 0``; with ``alpha_L = 1``, ``alpha_U >= 1/2`` and
    ``alpha_U - 1`` is exact.)
    """
    active = lower >= 0
    unstable = (lower < 0) & (upper > 0)
    one = torch.ones((), dtype=lower.dtype, device=lower.device)
    zero = torch.zeros((), dtype=lower.dtype, device=lower.device)
    span = torch.where(unstable, upper - lower, one)
    alpha_u = torch.where(unstable, upper / span, torch.where(active, one, zero))
    at_u = alpha_u * upper
    beta = torch.maximum(-alpha_u * lower, upper - at_u)
    beta = beta.add_((beta + at_u).mul_(2.0**-50)).add_(4 * ETA)
    beta_u = torch.where(unstable, beta, zero)
    alpha_l = torch.where(unstable, torch.where(upper > -lower, one, zero), torch.where(active, one, zero))
    return alpha_l, alpha_u - alpha_l, beta_u


@dataclass
class _Kept:
    """The neurons of one relaxed layer kept for a chunk (not stably inactive), unstable first."""

    idx: torch.Tensor  # (n, a) int64: kept neuron indices, padded
    valid: torch.Tensor  # (n, a) float64: 1 for a kept neuron, 0 for padding
    alpha_l: torch.Tensor  # (n, a) gathered relaxation (0 at padding)
    d_alpha: torch.Tensor
    beta_u: torch.Tensor
    unstable: int  # the leading columns that may hold an unstable neuron (max count in the chunk)


def _keep(lower: torch.Tensor, upper: torch.Tensor, relaxation) -> _Kept:
    """The kept neurons of one layer and their lines (``relaxation``: :func:`_relaxation` of the layer)."""
    # 0: unstable, 1: stably active (the identity), 2: stably inactive (dropped).
    key = torch.where(lower >= 0, 1, torch.where(upper <= 0, 2, 0)).to(torch.int8)
    kept = max(1, int((key < 2).sum(dim=1).max()))
    unstable = int((key == 0).sum(dim=1).max())
    idx = torch.argsort(key, dim=1, stable=True)[:, :kept]
    valid = (torch.gather(key, 1, idx) < 2).to(lower.dtype)
    params = [torch.gather(p, 1, idx).mul_(valid) for p in relaxation]
    return _Kept(idx, valid, *params, unstable)


def _take2(M: torch.Tensor, rows, cols: torch.Tensor) -> torch.Tensor:
    """Per-centre block ``M[rows[c]][:, cols[c]]`` (``rows=None``: every row), as (n, rows, cols)."""
    C = M.shape[1]
    if rows is None:
        rows = torch.arange(M.shape[0], device=M.device).unsqueeze(0)
    return torch.take(M, rows.unsqueeze(2) * C + cols.unsqueeze(1))


@dataclass
class _Final:
    """What the last step needs, gathered to the kept first-layer neurons.

    ``M`` is the last product's right factor with the centre's first-layer pre-activations
    appended as one more column, so that ``lam @ M`` also yields ``lam . A_0``:
    ``[G_kept | A_0]`` (n, a0, a0 + 1) in the Gram form, ``[W_0 kept rows | A_0]`` (n, a0, d + 1)
    in the direct form.
    """

    M: torch.Tensor
    wsq: torch.Tensor | None  # (n,) sum of the kept rows' squared norms (Gram form)


def _final(plan: CrownPlan, kept0: _Kept, A0: torch.Tensor) -> _Final:
    n, a0 = kept0.idx.shape
    cols = a0 if plan.gram else plan.d
    M = torch.empty((n, a0, cols + 1), dtype=A0.dtype, device=A0.device)
    torch.gather(A0, 1, kept0.idx, out=M[:, :, cols])
    if plan.gram:
        M[:, :, :cols] = _take2(plan.G, kept0.idx, kept0.idx)
        M[:, :, :cols].mul_(kept0.valid.unsqueeze(1))
        wsq = (plan.w0sq[kept0.idx] * kept0.valid).sum(dim=1)
    else:
        M[:, :, :cols] = plan.W[0].index_select(0, kept0.idx.reshape(-1)).view(n, a0, plan.d)
        wsq = None
    M.mul_(kept0.valid.unsqueeze(2))
    return _Final(M, wsq)


def _relax_(lam: torch.Tensor, kept: _Kept, sign: int, const: torch.Tensor) -> None:
    """Replace the ReLUs of one layer in place: coefficients on ``a`` -> coefficients on ``z``.

    The upper pass (``sign = +1``) takes the upper line where a coefficient is positive and the
    lower line where it is negative (the lower pass the reverse): ``lam alpha_L + part (alpha_U -
    alpha_L)`` with ``part`` the coefficients' positive (negative) part, and ``part . beta_U``
    goes to the constant.  Only the leading ``kept.unstable`` columns can differ from the identity.
    """
    u = kept.unstable
    if u == 0:
        return
    block = lam[:, :, :u]
    part = block.clamp_min(0) if sign > 0 else block.clamp_max(0)
    const.add_(torch.bmm(part, kept.beta_u[:, :u].unsqueeze(2)).squeeze(2))
    block.mul_(kept.alpha_l[:, None, :u])
    part.mul_(kept.d_alpha[:, None, :u])
    block.add_(part)


def _last_step(plan: CrownPlan, final: _Final, lam: torch.Tensor, stats):
    """``(lam_j . A_0, ||lam_j W_0||_dual)`` for every row of ``lam`` (n, width_k, a0)."""
    n, m_k, a0 = lam.shape
    if stats is not None:
        stats["flops"] += 2 * n * m_k * a0 * (final.M.shape[2] - 1)
    out = torch.bmm(lam, final.M)
    at_centre = out[:, :, -1]
    if plan.gram:
        q = out[:, :, :-1].mul_(lam).sum(dim=2)
        lam_norm = torch.linalg.vector_norm(lam, dim=2)
        wsq = final.wsq.unsqueeze(1)
        q.addcmul_(lam_norm.square(), wsq, value=plan.kappa)
        norm = round_up_by(q.clamp_min_(0).sqrt_())
        # Products and squares that underflow change q by at most eta (d l1^2 + a0 l1 + a0 + kappa
        # wsq a0 + 1), l1 = sum |lam| <= sqrt(a0) ||lam||, hence the norm by at most its square root:
        # 2**-537 ((sqrt(d) + 1) l1 + 2 a0 + kappa wsq + 1).
        l1 = lam_norm.mul_(MARGIN).add_(1.0).mul_(math.sqrt(a0))
        tiny = 2.0**-537 * MARGIN
        return at_centre, norm.add_(l1.mul_((math.sqrt(plan.d) + 1) * tiny)).add_(
            wsq.mul(plan.kappa * tiny).add_((2 * a0 + 1) * tiny))
    return at_centre, torch.linalg.vector_norm(out[:, :, :-1], ord=plan.order, dim=2)


def _backward(plan, kept, mids, final, W_cols, k: int, r: float, sign: int, stats) -> torch.Tensor:
    """Upper (``sign = +1``) or lower (``-1``) CROWN bound of every neuron of layer ``k`` (n, width_k)."""
    n, m_k, _ = W_cols.shape
    lam = W_cols.clone(memory_format=torch.contiguous_format)  # coefficients on a_{k-1} (kept neurons)
    const = plan.b[k].expand(n, m_k).clone()
    _relax_(lam, kept[k - 1], sign, const)  # now on z_{k-1}
    for i in range(k - 1, 0, -1):
        W_mid = mids[i]  # (n, a_i, a_{i-1} + 1): the bias is the last column
        if stats is not None:
            stats["flops"] += 2 * n * m_k * W_mid.shape[1] * (W_mid.shape[2] - 1)
        out = torch.bmm(lam, W_mid)
        const.add_(out[:, :, -1])
        lam = out[:, :, :-1]  # on a_{i-1}
        _relax_(lam, kept[i - 1], sign, const)  # on z_{i-1}
    at_centre, norm = _last_step(plan, final, lam, stats)
    return const.add_(at_centre).add_(norm, alpha=sign * r)


def crown_intervals(plan: CrownPlan, x: torch.Tensor, r: float, stats=None):
    """CROWN for one chunk of centres ``x`` (n, d); returns per-layer lists ``(A, A_error, lower, upper)``."""
    rp = plan.rounding
    n = x.shape[0]
    centre, errors, lowers, uppers = [], [], [], []
    kept: list[_Kept] = []
    mids: dict = {}
    final = relaxation = None
    X = X_error = T = chain = None
    last_abs = plan.last_abs(r)
    for k in range(len(plan.W)):
        if k == 0:
            first = first_layer(plan.W[0], plan.b[0], x, r, rp)
            A, A_error, lo, up, V = first.A, first.A_error, first.lower, first.upper, first.magnitude
        else:
            kept.append(_keep(lowers[-1], uppers[-1], relaxation))
            if k == 1:
                final = _final(plan, kept[0], centre[0])
            else:
                i = k - 1  # layer i becomes a middle step of every later target
                n, a_i = kept[i].idx.shape
                a_prev = kept[i - 1].idx.shape[1]
                W_mid = torch.empty((n, a_i, a_prev + 1), dtype=x.dtype, device=x.device)
                W_mid[:, :, :a_prev] = _take2(plan.W[i], kept[i].idx, kept[i - 1].idx)
                W_mid[:, :, :a_prev].mul_(kept[i - 1].valid.unsqueeze(1))
                W_mid[:, :, a_prev] = plan.b[i][kept[i].idx]
                mids[i] = W_mid.mul_(kept[i].valid.unsqueeze(2))
            # Coefficients of z_k on the kept neurons of layer k-1: columns of W_k, gathered as
            # rows of its transpose (a transposed view, made contiguous by each pass's copy).
            n, a = kept[k - 1].idx.shape
            W_cols = plan.Wt[k].index_select(0, kept[k - 1].idx.reshape(-1)).view(n, a, -1)
            W_cols = W_cols.mul_(kept[k - 1].valid.unsqueeze(2)).transpose(1, 2)
            A = X @ plan.Wt[k] + plan.b[k]
            # One stacked product with |W|: the magnitude V_k of the bound and the centre's error.
            V, A_error = (torch.cat([T, rp.centre_operand(k, X, X_error)]) @ rp.abs_Wt[k]).split(n)
            V = V.add_(rp.abs_b[k])
            A_error = A_error.add_(rp.abs_b[k], alpha=rp.gA[k]).add_(rp.absA[k])
            up = _backward(plan, kept, mids, final, W_cols, k, r, +1, stats)
            lo = _backward(plan, kept, mids, final, W_cols, k, r, -1, stats)
            del W_cols
            error = V.mul(rp.g_crown[k]).add_(chain.mul(plan.chain_abs).add_(last_abs).unsqueeze(1))
            lo, up = widen(lo, up, error)
        centre.append(A)
        errors.append(A_error)
        lowers.append(lo)
        uppers.append(up)
        X = A.clamp_min(0)
        X_error = output_error(A, A_error)
        if k + 1 < len(plan.W):
            # The lines the later layers use, and the magnitude T = D V + beta of this layer's outputs.
            relaxation = _relaxation(lo, up)
            alpha_l, d_alpha, beta_u = relaxation
            T = torch.maximum(alpha_l, alpha_l + d_alpha).mul_(V).add_(beta_u)
            step = V.sum(dim=1).add_(T.sum(dim=1)).add_(2.0)
            chain = step if chain is None else chain.add_(step)
    return centre, errors, lowers, uppers
