"""The batched bound engine against the literal reference, plus its contract (validation, shapes, dtypes)."""

from __future__ import annotations

import dataclasses
import math
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from localregions.bounds import (
    Algorithm1Trace,
    EngineWork,
    LocalBound,
    algorithm1_trace,
    algorithm1_work,
    local_region_bound,
)
from localregions.reference import reference_local_region_bound, reference_trace

# A decision whose reference margin (|A| - u) is within this fraction of the magnitudes that
# produced it may legitimately come out the other way under a different summation order.
TIE_RTOL = 1e-9
U_RTOL = 1e-9
# ... plus an absolute floor of ~1000 ulps of the magnitudes that entered U (cancellation in u + A).
U_ATOL_SCALE = 1e-13

RADII = st.one_of(
    st.sampled_from([1e-3, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 100.0]),
    st.floats(min_value=-3.0, max_value=2.0).map(lambda e: 10.0**e),
)


@st.composite
def random_nets(draw, max_depth=4, max_width=16, max_inputs=10, min_width=1, min_inputs=1):
    """Hidden layers as (weight, bias) pairs with varied structure, and the input width."""
    depth = draw(st.integers(1, max_depth))
    d = draw(st.integers(min_inputs, max_inputs))
    widths = [draw(st.integers(min_width, max_width)) for _ in range(depth)]
    kind = draw(st.sampled_from(["gauss", "integer", "sparse", "wide-scale"]))
    zero_bias = draw(st.booleans())
    zero_rows = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    layers = []
    fan_in = d
    for w in widths:
        if kind == "integer":
            W = torch.randint(-2, 3, (w, fan_in), generator=gen).double()
            b = torch.randint(-2, 3, (w,), generator=gen).double()
        elif kind == "sparse":
            W = torch.randn(w, fan_in, generator=gen, dtype=torch.float64)
            W = W * (torch.rand(w, fan_in, generator=gen, dtype=torch.float64) < 0.3)
            b = 0.3 * torch.randn(w, generator=gen, dtype=torch.float64)
        elif kind == "wide-scale":
            scale = 10.0 ** torch.empty(w, 1, dtype=torch.float64).uniform_(-3, 3, generator=gen)
            W = scale * torch.randn(w, fan_in, generator=gen, dtype=torch.float64)
            b = scale.flatten() * torch.randn(w, generator=gen, dtype=torch.float64)
        else:
            W = torch.randn(w, fan_in, generator=gen, dtype=torch.float64) / math.sqrt(fan_in)
            b = 0.5 * torch.randn(w, generator=gen, dtype=torch.float64)
        if zero_bias:
            b = torch.zeros_like(b)
        if zero_rows:
            rows = torch.rand(w, generator=gen) < 0.3
            rows[torch.randint(0, w, (1,), generator=gen)] = True
            W[rows] = 0.0
        layers.append((W, b))
        fan_in = w
    return layers, d


@st.composite
def nets_and_centres(draw, max_centres=5):
    layers, d = draw(random_nets())
    n = draw(st.integers(1, max_centres))
    kind = draw(st.sampled_from(["gauss", "integer", "zero", "mixed"]))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    if kind == "gauss":
        x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    elif kind == "integer":
        x = torch.randint(-2, 3, (n, d), generator=gen).double()
    elif kind == "zero":
        x = torch.zeros(n, d, dtype=torch.float64)
    else:
        x = torch.randn(n, d, generator=gen, dtype=torch.float64)
        x[0] = 0.0
    return layers, x, draw(RADII)


def compare_to_reference(layers, x, radius, norm, stats, path="auto", **kwargs):
    """Engine == reference on every P, S (exactly) and U (rtol 1e-9), excusing only near-ties.

    U is compared with rtol 1e-9 and an absolute floor of 1e-13 times the magnitudes that entered
    it (the reference's ``scale``), which only matters when u + A cancels, plus the difference of
    the two ``usum``: what the U of the layer before, already checked there, carry in.

    A centre whose flags first differ at layer k is excused only if the reference saw a near tie
    (|margin| <= TIE_RTOL * scale) at that centre in some layer <= k; later layers of that centre
    depend on the differing flag and are not compared.  Excuses are counted in ``stats``.

    One more case is told apart (``usum_ties``): S and U agree but P = 1 where the reference has
    P = 0 only because the reference's ``usum`` is exactly 0 and the engine's is not -- the
    U feeding it, already checked within rounding at the layer before, are exactly 0 in the
    reference (an exact tie A = u = 0 upstream) and a few ulps in the engine (the Gram path's
    rounding bound keeps U an upper bound there).  That is the ``usum == 0`` test of the
    pseudocode decided within rounding of its tie, on the conservative side.

    And one more (``rounding_ties``): the engine calls a neuron unstable where the reference
    calls it stable, at a reference margin within twice the engine's proven error bound
    (``A_error + rounding``: the engine is stable only where ``|A| > u + A_error``, and ``u``
    exceeds the computed ``r ||L|| + usum`` by ``rounding``) -- typically an exact 0 that the
    reference computes as a few ulps and calls stable.  The engine's ``U`` is compared with the
    same allowance: it exceeds the exact one by at most ``A_error + rounding`` and ulps.
    """
    if path == "auto":
        engine = local_region_bound(layers, x, radius, norm, **kwargs)
    else:
        engine, work = algorithm1_work(layers, x, radius, norm, path=path, **kwargs)
        assert work.path == path
    traced, etrace = algorithm1_trace(layers, x, radius, norm, path=path, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(traced.S + traced.P, engine.S + engine.P))
    hidden = [(w.tolist(), b.tolist()) for w, b in layers]
    for n, centre in enumerate(x.tolist()):
        trace = reference_trace(hidden, centre, float(radius), norm)
        tie_seen = False
        for k, layer in enumerate(trace):
            stats["neurons"] += len(layer["P"])
            margins = torch.tensor(layer["margin"], dtype=torch.float64)
            scales = torch.tensor(layer["scale"], dtype=torch.float64)
            near = margins.abs() <= TIE_RTOL * scales
            tie_seen |= bool(near.any())
            stats["near_ties"] += int(near.sum())
            P_ref = torch.tensor(layer["P"], dtype=torch.bool)
            S_ref = torch.tensor(layer["S"], dtype=torch.bool)
            U_ref = torch.tensor(layer["U"], dtype=torch.float64)
            flags_equal = torch.equal(engine.P[k][n], P_ref) and torch.equal(engine.S[k][n], S_ref)
            usum_ref = torch.tensor(layer["usum"], dtype=torch.float64)
            carried = (etrace.usum[k][n] - usum_ref).abs()
            proven = 2 * (etrace.A_error[k][n] + etrace.rounding[k][n])
            U_near = (engine.U[k][n] - U_ref).abs() <= U_RTOL * U_ref.abs() + U_ATOL_SCALE * scales + carried + proven
            U_close = bool(U_near.all())
            if flags_equal and U_close:
                continue
            P_differs = engine.P[k][n] != P_ref
            S_differs = engine.S[k][n] != S_ref
            P_only = P_differs & ~S_differs
            if (
                bool(S_differs.any())
                and bool(engine.S[k][n][S_differs].all())
                and bool((margins.abs() <= proven)[S_differs].all())
                and bool(U_near[~S_differs].all())
                and bool((usum_ref[P_only] == 0).all())
                and bool((etrace.usum[k][n][P_only] > 0).all())
                and bool(engine.P[k][n][P_only].all())
            ):
                stats["rounding_ties"] = stats.get("rounding_ties", 0) + 1
                break
            if (
                torch.equal(engine.S[k][n], S_ref)
                and U_close
                and bool((usum_ref[P_differs] == 0).all())
                and bool((etrace.usum[k][n][P_differs] > 0).all())
                and bool(engine.P[k][n][P_differs].all())
            ):
                stats["usum_ties"] = stats.get("usum_ties", 0) + 1
                break
            if tie_seen:
                stats["excused_centres"] += 1
                break
            raise AssertionError(
                f"centre {n} layer {k}: engine P={engine.P[k][n].tolist()} S={engine.S[k][n].tolist()} "
                f"U={engine.U[k][n].tolist()} vs reference P={layer['P']} S={layer['S']} U={layer['U']} "
                f"(margins {layer['margin']}, no near tie)"
            )
    # Totals follow the flags.
    assert torch.equal(engine.unstable, sum(s.sum(1) for s in engine.S))
    return engine


@pytest.fixture(params=["auto", "compact", "dense", "dense-keep"])
def compaction(request, monkeypatch):
    """Run the engine with its automatic choice, or force the row-compacted / the dense product.

    ``dense`` gathers the centres that still carry an L; ``dense-keep`` multiplies every centre
    of the chunk, those whose L is already zero included.
    """
    import localregions._algorithm1 as engine

    if request.param == "compact":
        monkeypatch.setattr(engine, "_COMPACT_FRACTION", 1.0)
        monkeypatch.setattr(engine, "_COMPACT_MIN_MACS", 0)
    elif request.param == "dense":
        monkeypatch.setattr(engine, "_COMPACT_FRACTION", -1.0)
        monkeypatch.setattr(engine, "_KEEP_FRACTION", 2.0)
    elif request.param == "dense-keep":
        monkeypatch.setattr(engine, "_COMPACT_FRACTION", -1.0)
        monkeypatch.setattr(engine, "_KEEP_FRACTION", 0.0)
    return request.param


@pytest.mark.parametrize("norm,path", [("l2", "auto"), ("l2", "gram"), ("l2", "direct"), ("linf", "auto")])
def test_engine_matches_reference(norm, path, compaction):
    stats = {"examples": 0, "neurons": 0, "near_ties": 0, "excused_centres": 0, "zero_preacts": 0}

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=nets_and_centres(), chunk=st.sampled_from([None, 1, 2]))
    def check(case, chunk):
        layers, x, radius = case
        stats["examples"] += 1
        engine = compare_to_reference(layers, x, radius, norm, stats, path=path, chunk_size=chunk)
        del engine
        A = x @ layers[0][0].t() + layers[0][1]
        stats["zero_preacts"] += int((A == 0).sum())

    check()
    report = (
        f"[{norm}, {path}, {compaction}] {stats['examples']} examples, {stats['neurons']} neuron decisions, "
        f"{stats['zero_preacts']} first-layer pre-activations exactly 0, "
        f"{stats['near_ties']} reference near-ties (|margin| <= {TIE_RTOL:g} * scale), "
        f"{stats['excused_centres']} centres excused for a flag difference at a near tie, "
        f"{stats.get('usum_ties', 0)} for P = 1 at a usum within rounding of 0, "
        f"{stats.get('rounding_ties', 0)} for S = 1 within the engine's proven rounding bound of a tie"
    )
    print(report)
    if stats["excused_centres"]:
        warnings.warn(report, stacklevel=1)
    assert stats["zero_preacts"] > 0, "the strategy never produced an exactly-zero pre-activation"
    assert stats["excused_centres"] <= max(1, stats["examples"] // 100), report


def test_exact_ties_follow_the_strict_inequalities():
    # ||(3, 4)||_2 = 5 and ||(3, 4)||_1 = 7: pre-activations exactly at the threshold are unstable.
    W = torch.tensor([[3.0, 4.0]] * 6, dtype=torch.float64)
    b = torch.tensor([5.0, -5.0, 5.5, -5.5, 0.0, 4.0], dtype=torch.float64)
    x = torch.zeros(1, 2)
    res = local_region_bound([(W, b)], x, 1.0)
    assert res.S[0][0].tolist() == [True, True, False, False, True, True]
    assert res.P[0][0].tolist() == [True, True, False, False, True, True]
    # U bounds the exact deviation (5, or 0 where stably inactive or A = -u), raised by at most a
    # few ulps: the proven bound on the rounding of u and A.  Stably inactive is exactly 0.
    exact = torch.tensor([5.0, 0.0, 5.0, 0.0, 5.0, 5.0], dtype=torch.float64)
    assert (res.U[0][0] >= exact).all() and (res.U[0][0] - exact <= 1e-13).all()
    assert res.U[0][0][3] == 0.0
    b7 = torch.tensor([7.0, -7.0, 7.5, -7.5, 0.0, 6.0], dtype=torch.float64)
    res = local_region_bound([(W, b7)], x, 1.0, "linf")
    assert res.S[0][0].tolist() == [True, True, False, False, True, True]
    ref = reference_local_region_bound([(W, b7)], x, 1.0, "linf")
    assert all(torch.equal(p, q) for p, q in zip(res.S, ref.S))


def test_usum_zero_branch_and_second_layer():
    # Layer 1: neuron 0 stably active, neuron 1 unstable.  Layer 2: neuron 0 reads only neuron 0
    # (Usum = 0 -> P = 0), neuron 1 reads neuron 1 (Usum > 0 -> P = 1 although stable).
    W1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    b1 = torch.tensor([10.0, 0.0], dtype=torch.float64)
    W2 = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    b2 = torch.tensor([0.0, 10.0], dtype=torch.float64)
    x = torch.zeros(1, 2)
    res, trace = algorithm1_trace([(W1, b1), (W2, b2)], x, 1.0)
    assert isinstance(trace, Algorithm1Trace)
    assert res.P[0][0].tolist() == [False, True] and res.S[0][0].tolist() == [False, True]
    # U = u = 1 for both (exact), raised by the proven rounding bound: a few ulps.
    ones = torch.ones(2, dtype=torch.float64)
    assert (res.U[0][0] >= ones).all() and (res.U[0][0] - ones <= 1e-14).all()
    assert res.P[1][0].tolist() == [False, True] and res.S[1][0].tolist() == [False, False]
    exact = torch.tensor([2.0, 1.0], dtype=torch.float64)
    assert (res.U[1][0] >= exact).all() and (res.U[1][0] - exact <= 1e-14).all()
    assert trace.Lpre[1][0].tolist() == [[2.0, 0.0], [0.0, 0.0]]
    assert trace.usum[1][0][0] == 0.0 and 1.0 <= trace.usum[1][0][1] <= 1.0 + 1e-14
    assert res.unstable.tolist() == [1]
    assert res.unstable_per_layer.tolist() == [[1, 0]]


@settings(max_examples=60, deadline=None)
@given(case=random_nets(max_depth=1), radius=RADII, seed=st.integers(0, 2**31 - 1))
def test_first_layer_is_exact(case, radius, seed):
    """Layer 1: S = 0 exactly when |A_j| > r ||W_j||_2 (L2) or r ||W_j||_1 (Linf), up to proven rounding.

    The engine calls a neuron stable only when ``|A_j|`` clears ``r ||W_j||`` by more than its
    proven bound on the rounding of both (``A_error + rounding``); so it is never stable where the
    float comparison says unstable, and the two differ only within that bound of a tie.
    """
    layers, d = case
    W, b = layers[0]
    x = torch.randn(6, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x[0] = 0.0
    A = x @ W.t() + b
    for norm, order in (("l2", 2), ("linf", 1)):
        res, trace = algorithm1_trace(layers, x, radius, norm)
        threshold = radius * torch.linalg.vector_norm(W, ord=order, dim=1)
        expected_stable = A.abs() > threshold
        differ = ~res.S[0] != expected_stable
        assert not (~res.S[0] & ~expected_stable).any(), "stable where |A| <= r ||W||"
        within = ((A.abs() - threshold).abs() <= 2 * (trace.A_error[0] + trace.rounding[0]))
        assert within[differ].all(), "a first-layer decision differs away from a tie"
        assert torch.equal(res.unstable, res.S[0].sum(1))
    # The bound that decides is a few ulps of the magnitudes, not a loosening.
    assert (trace.rounding[0] <= 1e-13 * (threshold + 1e-300)).all()
    assert (trace.A_error[0] <= 1e-13 * (x.abs() @ W.abs().t() + b.abs()) + 1e-300).all()


def _sequential_and_pairs(widths, d, seed=0):
    torch.manual_seed(seed)
    modules = []
    fan_in = d
    for w in widths:
        modules += [nn.Linear(fan_in, w), nn.ReLU()]
        fan_in = w
    modules.append(nn.Linear(fan_in, 3))
    net = nn.Sequential(*modules)
    pairs = [(m.weight.detach(), m.bias.detach()) for m in net if isinstance(m, nn.Linear)][:-1]
    return net, pairs


def _assert_same(a: LocalBound, b: LocalBound):
    assert torch.equal(a.unstable, b.unstable)
    assert torch.equal(a.unstable_per_layer, b.unstable_per_layer)
    for k in range(len(a.P)):
        assert torch.equal(a.P[k], b.P[k]) and torch.equal(a.S[k], b.S[k])
        torch.testing.assert_close(a.U[k], b.U[k], rtol=1e-12, atol=0)


def test_sequential_equals_pairs_and_widths_may_differ():
    net, pairs = _sequential_and_pairs([7, 3, 5], 4)
    x = torch.randn(20, 4)
    a = local_region_bound(net, x, 0.3)
    b = local_region_bound(pairs, x, 0.3)
    _assert_same(a, b)
    assert [p.shape for p in a.P] == [(20, 7), (20, 3), (20, 5)]


def test_float32_inputs_are_computed_in_float64():
    net, pairs = _sequential_and_pairs([6, 6], 3)
    x32 = torch.randn(10, 3)
    res32 = local_region_bound(net, x32, 0.2)
    res64 = local_region_bound([(w.double(), b.double()) for w, b in pairs], x32.double(), 0.2)
    _assert_same(res32, res64)
    assert all(u.dtype == torch.float64 for u in res32.U)
    assert res32.log2_bound.dtype == torch.float64


def test_result_contract():
    net, _ = _sequential_and_pairs([5, 4, 6], 3)
    x = torch.randn(9, 3)
    res = local_region_bound(net, x, 0.5)
    assert isinstance(res, LocalBound) and res.num_layers == 3
    assert res.unstable.dtype == torch.int64 and res.unstable.shape == (9,)
    assert res.unstable_per_layer.dtype == torch.int64 and res.unstable_per_layer.shape == (9, 3)
    assert torch.equal(res.unstable_per_layer.sum(1), res.unstable)
    assert torch.equal(res.log2_bound, res.unstable.to(torch.float64))
    assert all(p.dtype == torch.bool for p in res.P + res.S)
    assert all(torch.all(u >= 0) for u in res.U)
    # S = 1 implies P = 1 (an unstable neuron is never linear).
    assert all(torch.all(~s | p) for p, s in zip(res.P, res.S))
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.unstable = res.unstable + 1


def test_empty_batch():
    net, _ = _sequential_and_pairs([5, 4], 3)
    res = local_region_bound(net, torch.empty(0, 3), 0.5)
    assert res.unstable.shape == (0,) and res.unstable.dtype == torch.int64
    assert res.unstable_per_layer.shape == (0, 2)
    assert res.log2_bound.shape == (0,) and res.log2_bound.dtype == torch.float64
    assert [p.shape for p in res.P] == [(0, 5), (0, 4)]
    assert [u.shape for u in res.U] == [(0, 5), (0, 4)]
    assert res.U[0].dtype == torch.float64
    ref = reference_local_region_bound(net, torch.empty(0, 3), 0.5)
    assert ref.unstable.shape == (0,) and [p.shape for p in ref.P] == [(0, 5), (0, 4)]


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_chunking_does_not_change_the_result(chunk):
    net, _ = _sequential_and_pairs([12, 10, 8], 5, seed=3)
    x = torch.randn(40, 5)
    for radius in (1e-3, 0.05, 0.5):
        chunked = local_region_bound(net, x, radius, chunk_size=chunk)
        whole = local_region_bound(net, x, radius)
        tiny_budget = local_region_bound(net, x, radius, memory_budget_bytes=1)  # one centre per chunk
        for other in (whole, tiny_budget):
            assert torch.equal(other.unstable, chunked.unstable)
            for k in range(3):
                assert torch.equal(other.P[k], chunked.P[k]) and torch.equal(other.S[k], chunked.S[k])
                torch.testing.assert_close(other.U[k], chunked.U[k], rtol=1e-12, atol=1e-15)


def test_compacted_and_dense_products_agree_on_a_larger_net(monkeypatch):
    """At realistic widths the automatic choice compacts rows; it must equal the plain masked product."""
    import localregions._algorithm1 as engine

    torch.manual_seed(5)
    net = nn.Sequential(nn.Linear(120, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 96), nn.ReLU())
    x = torch.rand(64, 120)
    for radius in (1e-4, 1e-3, 1e-2):
        for norm, path in (("l2", "direct"), ("l2", "gram"), ("linf", "direct")):
            auto, work = algorithm1_work(net, x, radius, norm, chunk_size=16, path=path)
            assert work.flops < work.dense_flops, "the compacted path was not taken"
            with monkeypatch.context() as m:
                m.setattr(engine, "_COMPACT_FRACTION", -1.0)
                dense, _ = algorithm1_work(net, x, radius, norm, chunk_size=16, path=path)
            assert torch.equal(auto.unstable, dense.unstable)
            for k in range(3):
                assert torch.equal(auto.P[k], dense.P[k]) and torch.equal(auto.S[k], dense.S[k])
                torch.testing.assert_close(auto.U[k], dense.U[k], rtol=1e-12, atol=1e-15)
    # The first radius keeps many centres free of unstable neurons, so layer 3 is really propagated.
    assert (local_region_bound(net, x, 1e-4).unstable == 0).any()


def test_automatic_chunk_size_follows_the_budget():
    net, _ = _sequential_and_pairs([32, 32], 20)
    x = torch.randn(100, 20)
    _, small = algorithm1_work(net, x, 0.1, memory_budget_bytes=100_000)
    _, large = algorithm1_work(net, x, 0.1)
    assert isinstance(small, EngineWork)
    assert 1 <= small.chunk_size < 100
    assert large.chunk_size == 100


def test_output_layer_is_ignored_and_no_hidden_layer_gives_zero():
    net = nn.Sequential(nn.Linear(3, 4))
    res = local_region_bound(net, torch.randn(5, 3), 1.0)
    assert res.unstable.tolist() == [0] * 5 and res.unstable_per_layer.shape == (5, 0) and res.P == []


# ----------------------------------------------------------------------------- the Gram path

_U = 2.0**-53


def _gamma(n):
    return n * _U / (1 - n * _U)


def _allowance(layers, centre, radius, ref_layers, rounding, n, A_error=None):
    """A proven bound, per layer and neuron, on |computed margin - exact margin| for one centre.

    Computed here, independently of the engine, from the reference's flags (a standard
    gamma_n analysis: Higham, "Accuracy and Stability", 3.1 and 3.5).  With the magnitudes

        Amag_k = |W_k| Amag_{k-1} + |b_k|      (Amag_0 = |x|)            -- what entered A
        N_k    = |W_k| (mask_{k-1} * N_{k-1}),  N_1 = ||rows of W_1||    -- what entered L
        S_k    = Amag_k + r N_k + |W_k| (P_{k-1} * S_{k-1})              -- what entered u and U

    each of two float64 runs (the reference and the engine) has A, r ||L|| and usum within
    k gamma_M S_k of exact (M = the longest inner product + 2), and the engine adds its own
    ``rounding`` (at most twice: u is inflated by it, and its norm error is within it) and its
    ``A_error`` (at most twice: the decision compares |A| with u + A_error, and U of a neuron
    with A < 0 includes it).  A
    differing U feeds the next layer through usum.  So::

        allowed_k = 2 (rounding_k + A_error_k) + 4 k gamma_M S_k + |W_k| (P_{k-1} * allowed_{k-1})

    (a factor 2 to spare).  Two runs can decide a neuron differently only if its margin
    |A| - u is within ``allowed``, and their U differ by at most ``allowed``.
    """
    widths = [W.shape[0] for W, _ in layers]
    d = layers[0][0].shape[1]
    g = _gamma(max(widths + [d]) + 2)
    Amag = centre.abs()
    allowed_prev = S_prev = N_prev = P_prev = mask_prev = None
    out = []
    for k, (W, b) in enumerate(layers):
        absW = W.abs()
        Amag = absW @ Amag + b.abs()
        own = 2 * (rounding[k][n] + (0.0 if A_error is None else A_error[k][n]))
        if k == 0:
            N = torch.linalg.vector_norm(W, dim=1)
            S = Amag + radius * N
            allowed = own + 4 * g * S
        else:
            N = absW @ (mask_prev * N_prev)
            S = Amag + radius * N + absW @ (P_prev * S_prev)
            allowed = own + 4 * (k + 1) * g * S + absW @ (P_prev * allowed_prev)
        out.append((allowed, S))
        P_ref = torch.tensor(ref_layers[k]["P"], dtype=torch.float64)
        A_ref = torch.tensor(ref_layers[k]["A"], dtype=torch.float64)
        mask_prev = (1 - P_ref) * (A_ref > 0)
        P_prev, S_prev, N_prev, allowed_prev = P_ref, S, N, allowed
    return out


@st.composite
def larger_nets_and_centres(draw):
    big = draw(st.booleans())  # half the examples at realistic sizes, not only what hypothesis shrinks to
    layers, d = draw(random_nets(max_depth=4, max_width=64, max_inputs=100, min_width=24 if big else 1,
                                 min_inputs=40 if big else 1))
    n = draw(st.integers(1, 2))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    if draw(st.booleans()):
        x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    else:
        x = torch.randint(-2, 3, (n, d), generator=gen).double()
    return layers, x, draw(RADII)


def test_gram_and_direct_paths_against_the_reference():
    """(a) flags, (b) U: both paths equal the reference except at decisions within proven rounding of a tie.

    Counts the decisions that differ and checks the margin of every one against the bound of
    :func:`_allowance`; U must agree within the same bound (far below rtol 1e-9 of the
    magnitudes) wherever the flags above agree.
    """
    stats = {"examples": 0, "gram_examples": 0, "decisions": 0, "gram_differ": 0, "direct_differ": 0,
             "max_ratio": 0.0, "rounding_max_rel": 0.0}

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=larger_nets_and_centres())
    def check(case):
        layers, x, radius = case
        stats["examples"] += 1
        runs = {path: algorithm1_trace(layers, x, radius, path=path) for path in ("gram", "direct")}
        hidden = [(w.tolist(), b.tolist()) for w, b in layers]
        for n, centre in enumerate(x.tolist()):
            ref = reference_trace(hidden, centre, float(radius), "l2")
            for path, (res, trace) in runs.items():
                bounds = _allowance(layers, x[n], radius, ref, trace.rounding, n, trace.A_error)
                for k, layer in enumerate(ref):
                    allowed, S = bounds[k]
                    margin = torch.tensor(layer["margin"], dtype=torch.float64)
                    S_differs = res.S[k][n] != torch.tensor(layer["S"], dtype=torch.bool)
                    # P alone differs: the test "usum == 0" went the other way
                    P_only = (res.P[k][n] != torch.tensor(layer["P"], dtype=torch.bool)) & ~S_differs
                    differ = S_differs | P_only
                    if path == "gram":
                        stats["decisions"] += differ.numel()
                        positive = S > 0
                        if positive.any():
                            rel = (trace.rounding[k][n][positive] / S[positive]).max()
                            stats["rounding_max_rel"] = max(stats["rounding_max_rel"], float(rel))
                    if differ.any():
                        stats[f"{path}_differ"] += int(differ.sum())
                        # the distance of each differing decision from its tie: |A| - u for S,
                        # the non-zero usum for P (usum == 0 in one run, not in the other)
                        usum_ref = torch.tensor(layer["usum"], dtype=torch.float64)
                        distance = torch.where(S_differs, margin.abs(), torch.maximum(usum_ref, trace.usum[k][n]))
                        ratio = (distance[differ] / allowed[differ]).max()
                        stats["max_ratio"] = max(stats["max_ratio"], float(ratio))
                        assert (distance <= allowed)[differ].all(), (
                            f"{path} path, centre {n} layer {k}: a decision differs from the reference at distances "
                            f"{distance[differ].tolist()} from its tie, beyond the proven rounding bound "
                            f"{allowed[differ].tolist()}"
                        )
                        break  # later layers depend on the differing flag
                    U_ref = torch.tensor(layer["U"], dtype=torch.float64)
                    gap = (res.U[k][n] - U_ref).abs()
                    assert (gap <= allowed).all(), f"{path} path, centre {n} layer {k}: U off by {gap.max():.3g}"
                    assert (gap <= 1e-9 * S).all()
        stats["gram_examples"] += 1

    check()
    report = (
        f"{stats['examples']} examples, {stats['decisions']} decisions per path; differing from the reference: "
        f"gram {stats['gram_differ']}, direct {stats['direct_differ']} (largest |margin| / bound among them "
        f"{stats['max_ratio']:.3g}); Gram rounding bound at most {stats['rounding_max_rel']:.3g} of the magnitudes"
    )
    print(report)
    # The inflation is a few ulps of the magnitudes, not a loosening of the bound.
    assert stats["rounding_max_rel"] < 1e-9, report


def _exact_row_norms(layers, P, A, n):
    """Row norms of L (from the run's own flags) in 64-bit-mantissa arithmetic, as numpy longdouble."""
    import numpy as np

    L = None
    norms = []
    mask = None
    for k, (W, _) in enumerate(layers):
        Wl = W.numpy().astype(np.longdouble)
        L = Wl if k == 0 else (Wl * mask[None, :]) @ L
        norms.append(np.sqrt((L * L).sum(axis=1)))
        mask = ((~P[k][n]) & (A[k][n] > 0)).numpy().astype(np.longdouble)
    return norms


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=larger_nets_and_centres())
def test_gram_rounding_bounds_the_norm_error(case):
    """The Gram path's ``rounding`` covers the error of its r ||L|| against (nearly) exact arithmetic."""
    import numpy as np

    layers, x, radius = case
    res, trace = algorithm1_trace(layers, x, radius, path="gram")
    for n in range(x.shape[0]):
        exact = _exact_row_norms(layers, res.P, trace.A, n)
        for k in range(1, len(layers)):
            u, usum, rounding = trace.u[k][n], trace.usum[k][n], trace.rounding[k][n]
            computed = (u - rounding - usum).numpy().astype(np.longdouble)  # r * ||L|| as the engine had it
            err = np.abs(computed - np.longdouble(radius) * exact[k])
            # recovering r ||L|| from u costs a few ulps of u + usum; longdouble is ~2000x finer than float64
            slack = 4 * _U * (u.abs() + usum).numpy() + 1e-17 * radius * exact[k]
            assert (err <= rounding.numpy() + slack).all(), (k, float(np.max(err - rounding.numpy())))


def _zero_sum_rows(gen, rows, cols, low=-3, high=4):
    """Random integer rows (not all zero) whose entries sum to zero."""
    W = torch.randint(low, high, (rows, cols), generator=gen).double()
    W[:, -1] -= W.sum(dim=1)
    W[(W == 0).all(dim=1), :2] = torch.tensor([1.0, -1.0], dtype=torch.float64)
    return W


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    d=st.integers(4, 14),
    depth=st.sampled_from([2, 3]),
    radius=st.sampled_from([0.5, 1.0, 2.0]),
)
def test_paths_are_sound_at_exact_near_ties(seed, d, depth, radius):
    """Integer nets with thresholds placed within a few ulps of r ||L_j||: S = 0 only where exact arithmetic agrees.

    The pre-activations are exact (integer weights, rows summing to zero against a constant
    input), the squared norms ||L_j||^2 are integers, so stability is decided exactly with
    rationals: |A_j| > r ||L_j|| iff A_j^2 > r^2 ||L_j||^2 (ties are unstable).  The direct path
    computes these norms exactly up to one correctly rounded sqrt; the Gram path through a
    rotated, irrational factor, so without its rounding bound it would call some ties stable.
    """
    from fractions import Fraction

    gen = torch.Generator().manual_seed(seed)
    h1 = int(torch.randint(2, d, (1,), generator=gen))  # narrower than the input: auto picks the Gram path
    W1 = torch.randint(-3, 4, (h1, d), generator=gen).double()
    W1[(W1 == 0).all(dim=1), 0] = 1.0
    b1 = torch.full((h1,), 1000.0, dtype=torch.float64)  # every first-layer neuron stably active at x = 0
    layers = [(W1, b1)]
    L = W1
    ties = []
    for k in range(1, depth):
        width = int(torch.randint(4, 13, (1,), generator=gen))
        # neurons [0, half) pass their L on (big bias); [half, width) sit at near ties
        half = width // 2 if k < depth - 1 else 0
        prev_width = L.shape[0]
        W = _zero_sum_rows(gen, width, prev_width)  # constant input -> W X = 0 exactly
        prev_pass = layers[-1][1] >= 1000.0
        W[:, ~prev_pass] = 0.0  # no weight from an unstable neuron: usum = 0, L stays exact
        W[:, prev_pass] = _zero_sum_rows(gen, width, int(prev_pass.sum()))
        Lk = W @ L
        sq = (Lk * Lk).sum(dim=1)
        b = torch.empty(width, dtype=torch.float64)
        b[:half] = 1000.0
        for j in range(half, width):
            threshold = radius * math.sqrt(float(sq[j]))
            offset = int(torch.randint(-2, 3, (1,), generator=gen))
            value = threshold
            for _ in range(abs(offset)):
                value = math.nextafter(value, math.inf if offset > 0 else -math.inf)
            b[j] = value if torch.rand((), generator=gen) < 0.5 else -value
            ties.append((k, j, Fraction(float(b[j])) ** 2 > Fraction(radius) ** 2 * int(sq[j])))
        layers.append((W, b))
        # the next layer reads only the passing neurons, all of which have L = Lk
        L = Lk
    x = torch.zeros(1, d, dtype=torch.float64)
    for path in ("gram", "direct"):
        res, work = algorithm1_work(layers, x, radius, path=path)
        assert work.path == path
        for k, j, exactly_stable in ties:
            if not bool(res.S[k][0, j]):
                assert exactly_stable, f"{path} path: layer {k} neuron {j} declared stable at an exact tie or beyond"
    assert local_region_bound(layers, x, radius).S[0].sum() == 0
    _, auto = algorithm1_work(layers, x, radius)
    assert auto.path == "gram"


def test_gram_path_trace_matches_the_direct_one():
    """Same flags, U within rounding, and Lpre mapped back to input coordinates equal to the direct L."""
    net, pairs = _sequential_and_pairs([12, 10, 8], 30, seed=4)
    x = torch.rand(25, 30)
    for radius in (1e-3, 1e-2, 0.1):
        gram, tg = algorithm1_trace(net, x, radius, path="gram")
        direct, td = algorithm1_trace(net, x, radius, path="direct")
        for k in range(3):
            assert torch.equal(gram.S[k], direct.S[k]) and torch.equal(gram.P[k], direct.P[k])
            scale = td.u[k].abs() + tg.A[k].abs() + 1.0
            assert ((gram.U[k] - direct.U[k]).abs() <= 1e-12 * scale).all()
            assert torch.equal(tg.A[k], td.A[k]) and torch.equal(tg.usum[k] == 0, td.usum[k] == 0)
            torch.testing.assert_close(tg.Lpre[k], td.Lpre[k], rtol=0, atol=1e-12)
            # Both paths raise u by a proven rounding bound; the direct path's is a few ulps of u,
            # the Gram path's also covers the factor (a few 1e-11 of r N).
            assert (td.rounding[k] > 0).any() and (tg.rounding[k] > 0).any()
            assert (td.rounding[k] <= 1e-12 * td.u[k]).all()
            assert (tg.rounding[k] >= td.rounding[k]).any()


def test_trace_and_work_give_local_regionbound_result():
    """``path="auto"`` everywhere: the public entry points return the very same LocalBound."""
    net, _ = _sequential_and_pairs([16, 12, 9], 40, seed=6)
    x = torch.rand(30, 40)
    for norm in ("l2", "linf"):
        plain = local_region_bound(net, x, 0.02, norm)
        traced, trace = algorithm1_trace(net, x, 0.02, norm)
        worked, work = algorithm1_work(net, x, 0.02, norm)
        assert work.path == ("gram" if norm == "l2" else "direct")
        assert work.row_length == (16 if norm == "l2" else 40)
        for other in (traced, worked):
            assert torch.equal(other.unstable, plain.unstable)
            for k in range(3):
                assert torch.equal(other.S[k], plain.S[k]) and torch.equal(other.P[k], plain.P[k])
                assert torch.equal(other.U[k], plain.U[k])
        assert [t.shape for t in trace.Lpre] == [(30, 16, 40), (30, 12, 40), (30, 9, 40)]
        assert all(len(getattr(trace, f.name)) == 3 for f in dataclasses.fields(trace))
    with pytest.raises(dataclasses.FrozenInstanceError):
        trace.A = []
    with pytest.raises(dataclasses.FrozenInstanceError):
        work.flops = 0


def test_path_choice_and_bad_paths():
    wide_first, _ = _sequential_and_pairs([50, 8], 20)  # first layer wider than the input: no saving
    narrow_first, _ = _sequential_and_pairs([8, 50], 20)
    one_layer, _ = _sequential_and_pairs([8], 20)
    x = torch.rand(4, 20)
    assert algorithm1_work(wide_first, x, 0.1)[1].path == "direct"
    assert algorithm1_work(narrow_first, x, 0.1)[1].path == "gram"
    assert algorithm1_work(narrow_first, x, 0.1, "linf")[1].path == "direct"
    assert algorithm1_work(one_layer, x, 0.1)[1].path == "direct"
    # Forcing the Gram path where it saves nothing still gives the direct result.
    forced, work = algorithm1_work(wide_first, x, 0.1, path="gram")
    assert work.path == "gram" and work.row_length == 20
    _assert_same(forced, local_region_bound(wide_first, x, 0.1))
    with pytest.raises(ValueError, match="path"):
        algorithm1_work(narrow_first, x, 0.1, "linf", path="gram")
    for bad in ("Gram", "", None, 1):
        with pytest.raises(ValueError, match="path"):
            algorithm1_trace(narrow_first, x, 0.1, path=bad)


@pytest.mark.parametrize("path", ["gram", "direct"])
def test_work_buffers_stay_within_the_budget(path, monkeypatch):
    """The automatic chunk size accounts for the buffers of the path taken."""
    import localregions._algorithm1 as engine

    allocated = []
    original = engine._Workspace.__init__

    def recording(self, *args, **kwargs):
        original(self, *args, **kwargs)
        allocated.append(sum(t.numel() * t.element_size() for t in (self.ping, self.pong, self.gather, self.weights)))

    monkeypatch.setattr(engine._Workspace, "__init__", recording)
    net, _ = _sequential_and_pairs([24, 32, 16], 60, seed=2)
    x = torch.rand(200, 60)
    budget = 1_000_000
    _, work = algorithm1_work(net, x, 0.01, path=path, memory_budget_bytes=budget)
    assert work.path == path and work.row_length == (24 if path == "gram" else 60)
    assert 1 < work.chunk_size < 200
    assert len(allocated) == 1 and allocated[0] <= budget
    # at least half the budget is used: the estimate is not wildly conservative
    assert allocated[0] >= budget // 2


# ----------------------------------------------------------------------------- soundness in float64, exactly


def exact_certificate(layers, x, radius, norm, res, trace):
    """Check, in exact rational arithmetic, every claim the engine's float64 result makes.

    The net, the centres and the radius are floats, hence rationals; everything is recomputed
    exactly (``fractions.Fraction``) from the engine's own flags: the centre's pre-activations
    ``A*``, the propagated ``L*`` (through the rows the engine passes on), ``usum*`` (with the
    engine's ``U``) and ``u* = r ||L*|| + usum*`` (L2 norms compared through squares).  Then, per
    neuron: ``|A - A*| <= A_error`` and ``u >= u*`` (the trace's bounds hold); ``S = 0`` only if
    ``A* + u* < 0`` (stably inactive) or ``A* - u* > 0`` (stably active) strictly; ``P = 0`` only
    if stable and, when active, ``usum* = 0``; ``U >= min(u*, max(A* + u*, 0))``, which bounds
    ``|X' - X|``.  By
    induction over the layers (Proposition 1 of the paper) these are exactly what makes the
    flags true on the whole ball.  Returns ``(decisions, exact zeros met)``.
    """
    from fractions import Fraction

    r = Fraction(radius)
    Ws = [[[Fraction(v) for v in row] for row in W.tolist()] for W, _ in layers]
    bs = [[Fraction(v) for v in b.tolist()] for _, b in layers]
    d = x.shape[1]
    decisions = zeros = 0
    for n, centre in enumerate(x.tolist()):
        X = [Fraction(v) for v in centre]
        L_prev = mask = P_prev = U_prev = None
        for k, (W, b) in enumerate(zip(Ws, bs)):
            P, S, U = res.P[k][n].tolist(), res.S[k][n].tolist(), res.U[k][n].tolist()
            A_hat, A_err, u = trace.A[k][n].tolist(), trace.A_error[k][n].tolist(), trace.u[k][n].tolist()
            A = [sum((w * xi for w, xi in zip(row, X)), Fraction(0)) + bj for row, bj in zip(W, b)]
            if k == 0:
                L = [list(row) for row in W]
                usum = [Fraction(0)] * len(W)
            else:
                L = []
                for row in W:
                    acc = [Fraction(0)] * d
                    for i, w in enumerate(row):
                        if w and mask[i]:
                            acc = [a + w * li for a, li in zip(acc, L_prev[i])]
                    L.append(acc)
                usum = [sum((abs(w) * Fraction(U_prev[i]) for i, w in enumerate(row) if P_prev[i]), Fraction(0))
                        for row in W]
            for j in range(len(W)):
                decisions += 1
                zeros += A[j] == 0
                if norm == "l2":
                    squared = sum(li * li for li in L[j])

                    def at_least(t, strict=False):  # t >= r ||L_j|| (t > with strict)
                        return t > 0 and t * t > r * r * squared if strict else t >= 0 and t * t >= r * r * squared
                else:
                    l1 = sum(abs(li) for li in L[j])

                    def at_least(t, strict=False):
                        return t > r * l1 if strict else t >= r * l1

                where = f"centre {n} layer {k} neuron {j}"
                assert abs(Fraction(A_hat[j]) - A[j]) <= Fraction(A_err[j]), f"{where}: |A - A*| > A_error"
                assert at_least(Fraction(u[j]) - usum[j]), f"{where}: u < r ||L*|| + usum*"
                if not S[j]:
                    stable = at_least(-A[j] - usum[j], strict=True) if A_hat[j] < 0 else at_least(A[j] - usum[j], strict=True)
                    assert stable, f"{where}: S = 0 but exactly A* = {A[j]}, which u* reaches (a tie or beyond)"
                if not P[j]:  # affine on the ball: stably inactive (constant 0), or active with usum* = 0
                    assert not S[j] and (A_hat[j] < 0 or usum[j] == 0), f"{where}: P = 0 but usum* = {usum[j]}"
                Uj = Fraction(U[j])
                assert at_least(Uj - usum[j]) or at_least(Uj - A[j] - usum[j]), f"{where}: U below the exact deviation"
            mask = [not p and a > 0 for p, a in zip(P, A_hat)]
            L_prev, P_prev, U_prev = L, P, U
            X = [max(a, Fraction(0)) for a in A]
    return decisions, zeros


def _cancelling(layers, gen):
    """Make exact zeros: layer 1 gets a row ``W_a + W_b`` (exact: its weights are rounded to quarters)
    and layer 2 a neuron reading ``X_a + X_b - X_c`` -- exactly 0, with ``L* = 0``, when all three are active.
    """
    layers = [(W.clone(), b.clone()) for W, b in layers]
    W, b = layers[0]
    if len(layers) < 2 or W.shape[0] < 3:
        return layers
    W, b = torch.round(4 * W) / 4, torch.round(4 * b) / 4
    W[-1], b[-1] = W[0] + W[1], b[0] + b[1]
    if torch.rand((), generator=gen) < 0.7:  # biases large enough that the three stay active
        b = b.abs() + 20.0
        b[-1] = b[0] + b[1]
    layers[0] = (W, b)
    W2, b2 = layers[1]
    W2[0] = 0.0
    W2[0, 0], W2[0, 1], W2[0, -1], b2[0] = 1.0, 1.0, -1.0, 0.0
    return layers


@st.composite
def small_cases(draw):
    cancel = draw(st.booleans())
    layers, d = draw(random_nets(max_depth=3, max_width=7, max_inputs=5, min_width=3 if cancel else 1))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    if cancel:
        layers = _cancelling(layers, gen)
    n = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["gauss", "integer", "mixed"]))
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    if kind == "integer":
        x = torch.randint(-2, 3, (n, d), generator=gen).double()
    elif kind == "mixed":
        x[0] = 0.0
    return layers, x, draw(RADII)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=small_cases(), norm_path=st.sampled_from([("l2", "direct"), ("l2", "gram"), ("linf", "direct")]))
def test_float64_results_are_exactly_sound(case, norm_path):
    """Every flag, deviation and bound the engine returns holds in exact arithmetic: no tie is called stable.

    Includes nets built to have exact zeros (a neuron reading ``X_a + X_b - X_c`` of three active
    neurons with ``W_c = W_a + W_b``: ``A* = 0`` and ``L* = 0`` exactly, while float64 computes
    ``A`` as a few ulps of either sign), which an engine that trusts the computed ``A`` calls
    stable.
    """
    layers, x, radius = case
    norm, path = norm_path
    res, trace = algorithm1_trace(layers, x, radius, norm, path=path)
    exact_certificate(layers, x, radius, norm, res, trace)


def test_exact_zero_preactivation_is_unstable():
    """``A* = 0`` exactly with ``u* = 0`` (a neuron reading X_a + X_b - X_c): unstable on both paths and norms.

    Float64 computes its ``A`` as 0 or a few ulps of either sign (the three outputs are rounded
    differently); with ``u = 0`` the literal pseudocode calls it stable whenever that rounding is
    not 0.  The rounding bound ``A_error`` covers it.
    """
    gen = torch.Generator().manual_seed(0)
    rounded = 0
    for _ in range(100):
        a = torch.randint(-2, 3, (6,), generator=gen).double()
        b = torch.randint(-2, 3, (6,), generator=gen).double()
        W1 = torch.stack([a, b, a + b, torch.ones(6, dtype=torch.float64)])
        b1 = torch.tensor([50.0, 30.0, 80.0, 0.5], dtype=torch.float64)
        W2 = torch.tensor([[1.0, 1.0, -1.0, 0.0], [0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
        layers = [(W1, b1), (W2, torch.zeros(2, dtype=torch.float64))]
        x = torch.randn(3, 6, generator=gen, dtype=torch.float64)
        for norm, path in (("l2", "direct"), ("l2", "gram"), ("linf", "direct")):
            res, trace = algorithm1_trace(layers, x, 0.1, norm, path=path)
            rounded += int((trace.A[1][:, 0] != 0).sum())
            assert res.S[1][:, 0].all(), f"{norm}/{path}: an exact zero called stable"
            assert res.P[1][:, 0].all()
            assert (trace.A[1][:, 0].abs() <= trace.A_error[1][:, 0]).all()
            exact_certificate(layers, x, 0.1, norm, res, trace)
    assert rounded > 100, "float64 computed these exact zeros as 0: the test shows nothing"


def _paper_net(seed, d=36, widths=(32, 32, 32)):
    torch.manual_seed(seed)
    modules, fan_in = [], d
    for w in widths:
        modules += [nn.Linear(fan_in, w), nn.ReLU()]
        fan_in = w
    return [(m.weight.detach().double(), m.bias.detach().double()) for m in modules if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_rounding_bounds_change_no_decision_on_paper_size_nets(norm):
    """Against the literal pseudocode (the reference, plain float64 comparisons): no flag differs on random nets.

    Paper size (36 inputs, 3 hidden layers of 32, PyTorch's default initialisation), centres
    uniform in [0, 1]^36, four radii, ``path="auto"`` (the Gram path for L2).  The sound
    decisions may differ from the literal ones only within the proven bound of a tie; every
    difference is checked to be there, and on these nets none is expected at all.
    """
    differing = decisions = 0
    closest = math.inf  # the smallest |margin| / bound seen: how far the decisions are from a tie
    for seed in range(3):
        layers = _paper_net(seed)
        hidden = [(w.tolist(), b.tolist()) for w, b in layers]
        x = torch.rand(40, 36, generator=torch.Generator().manual_seed(100 + seed), dtype=torch.float64)
        for radius in (0.01, 0.1, 0.4, 1.0):
            res, trace = algorithm1_trace(layers, x, radius, norm)
            for n, centre in enumerate(x.tolist()):
                for k, layer in enumerate(reference_trace(hidden, centre, radius, norm)):
                    decisions += len(layer["S"])
                    margin = torch.tensor(layer["margin"], dtype=torch.float64).abs()
                    bound = 2 * (trace.A_error[k][n] + trace.rounding[k][n])
                    closest = min(closest, float((margin / bound).min()))
                    differ = (res.S[k][n] != torch.tensor(layer["S"], dtype=torch.bool)) | (
                        res.P[k][n] != torch.tensor(layer["P"], dtype=torch.bool))
                    if differ.any():
                        differing += int(differ.sum())
                        assert (margin <= bound)[differ].all(), f"a decision differs away from a tie ({norm})"
                        break  # later layers depend on the differing flag
    print(f"{norm}: {decisions} decisions, {differing} differ from the literal pseudocode; "
          f"the closest to a tie is {closest:.3g} times the rounding bound away")
    assert differing == 0
    assert closest > 1.0


# ----------------------------------------------------------------------------- bad input


def _pairs():
    return [(torch.randn(4, 3), torch.randn(4)), (torch.randn(2, 4), torch.randn(2))]


@pytest.mark.parametrize("radius", [0, 0.0, -1.0, float("nan"), float("inf"), -float("inf"), "big", None, True])
def test_bad_radius(radius):
    with pytest.raises(ValueError, match="radius"):
        local_region_bound(_pairs(), torch.randn(2, 3), radius)
    with pytest.raises(ValueError, match="radius"):
        reference_local_region_bound(_pairs(), torch.randn(2, 3), radius)


def test_bad_centres():
    with pytest.raises(ValueError, match="centers"):
        local_region_bound(_pairs(), torch.randn(2, 4), 0.1)
    with pytest.raises(ValueError, match="centers"):
        local_region_bound(_pairs(), torch.randn(3), 0.1)
    for bad in (float("nan"), float("inf")):
        x = torch.randn(2, 3)
        x[1, 2] = bad
        with pytest.raises(ValueError, match="centers"):
            local_region_bound(_pairs(), x, 0.1)


def test_bad_weights():
    for bad in (float("nan"), float("inf")):
        pairs = _pairs()
        pairs[1][0][0, 0] = bad
        with pytest.raises(ValueError, match="layers"):
            local_region_bound(pairs, torch.randn(2, 3), 0.1)
        pairs = _pairs()
        pairs[0][1][0] = bad
        with pytest.raises(ValueError, match="layers"):
            local_region_bound(pairs, torch.randn(2, 3), 0.1)


def test_bad_norm():
    for norm in ("l1", "L3", "", None, 2):
        with pytest.raises(ValueError, match="norm"):
            local_region_bound(_pairs(), torch.randn(2, 3), 0.1, norm)


@pytest.mark.parametrize(
    "net",
    [
        nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)),
        nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Dropout(), nn.Linear(4, 2)),
        nn.Sequential(nn.Conv1d(1, 1, 1)),
    ],
)
def test_bad_modules(net):
    with pytest.raises(ValueError, match="layers"):
        local_region_bound(net, torch.randn(2, 3), 0.1)


def test_a_network_without_relu_is_affine_and_meets_one_region():
    # A bare Linear was refused before torch networks were folded; it is a network with no hidden layer.
    res = local_region_bound(nn.Linear(3, 4), torch.randn(2, 3), 0.1)
    assert res.num_layers == 0 and res.unstable.tolist() == [0, 0]


def test_bad_chunking_arguments():
    with pytest.raises(ValueError, match="chunk_size"):
        local_region_bound(_pairs(), torch.randn(2, 3), 0.1, chunk_size=0)
    with pytest.raises(ValueError, match="memory_budget_bytes"):
        local_region_bound(_pairs(), torch.randn(2, 3), 0.1, memory_budget_bytes=-5)


@pytest.mark.cuda
def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    net, _ = _sequential_and_pairs([64, 64, 64], 30)
    x = torch.rand(500, 30)
    for norm in ("l2", "linf"):
        cpu = local_region_bound(net, x, 0.05, norm)
        gpu = local_region_bound(net.cuda(), x.cuda(), 0.05, norm)
        assert gpu.U[0].device.type == "cuda" and gpu.U[0].dtype == torch.float64
        assert torch.equal(cpu.unstable, gpu.unstable.cpu())
        for k in range(3):
            assert torch.equal(cpu.S[k], gpu.S[k].cpu()) and torch.equal(cpu.P[k], gpu.P[k].cpu())
            torch.testing.assert_close(cpu.U[k], gpu.U[k].cpu(), rtol=1e-9, atol=1e-12)
