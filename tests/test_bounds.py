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

from localregions.bounds import LocalBound, _local_region_bound_impl, local_region_bound
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
def random_nets(draw, max_depth=4, max_width=16, max_inputs=10):
    """Hidden layers as (weight, bias) pairs with varied structure, and the input width."""
    depth = draw(st.integers(1, max_depth))
    d = draw(st.integers(1, max_inputs))
    widths = [draw(st.integers(1, max_width)) for _ in range(depth)]
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


def compare_to_reference(layers, x, radius, norm, stats, **kwargs):
    """Engine == reference on every P, S (exactly) and U (rtol 1e-9), excusing only near-ties.

    U is compared with rtol 1e-9 and an absolute floor of 1e-13 times the magnitudes that entered
    it (the reference's ``scale``), which only matters when u + A cancels.

    A centre whose flags first differ at layer k is excused only if the reference saw a near tie
    (|margin| <= TIE_RTOL * scale) at that centre in some layer <= k; later layers of that centre
    depend on the differing flag and are not compared.  Excuses are counted in ``stats``.
    """
    engine = local_region_bound(layers, x, radius, norm, **kwargs)
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
            U_close = bool(
                ((engine.U[k][n] - U_ref).abs() <= U_RTOL * U_ref.abs() + U_ATOL_SCALE * scales).all()
            )
            if flags_equal and U_close:
                continue
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


@pytest.fixture(params=["auto", "compact", "dense"])
def compaction(request, monkeypatch):
    """Run the engine with its automatic choice, or force the row-compacted / the dense product."""
    import localregions.bounds as bounds

    if request.param == "compact":
        monkeypatch.setattr(bounds, "_COMPACT_FRACTION", 1.0)
        monkeypatch.setattr(bounds, "_COMPACT_MIN_MACS", 0)
    elif request.param == "dense":
        monkeypatch.setattr(bounds, "_COMPACT_FRACTION", -1.0)
    return request.param


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_engine_matches_reference(norm, compaction):
    stats = {"examples": 0, "neurons": 0, "near_ties": 0, "excused_centres": 0, "zero_preacts": 0}

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=nets_and_centres(), chunk=st.sampled_from([None, 1, 2]))
    def check(case, chunk):
        layers, x, radius = case
        stats["examples"] += 1
        engine = compare_to_reference(layers, x, radius, norm, stats, chunk_size=chunk)
        del engine
        A = x @ layers[0][0].t() + layers[0][1]
        stats["zero_preacts"] += int((A == 0).sum())

    check()
    report = (
        f"[{norm}, {compaction}] {stats['examples']} examples, {stats['neurons']} neuron decisions, "
        f"{stats['zero_preacts']} first-layer pre-activations exactly 0, "
        f"{stats['near_ties']} reference near-ties (|margin| <= {TIE_RTOL:g} * scale), "
        f"{stats['excused_centres']} centres excused for a flag difference at a near tie"
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
    assert res.U[0][0].tolist() == [5.0, 0.0, 5.0, 0.0, 5.0, 5.0]
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
    res, extra = _local_region_bound_impl([(W1, b1), (W2, b2)], x, 1.0, detailed=True)
    assert res.P[0][0].tolist() == [False, True] and res.S[0][0].tolist() == [False, True]
    assert res.U[0][0].tolist() == [1.0, 1.0]
    assert res.P[1][0].tolist() == [False, True] and res.S[1][0].tolist() == [False, False]
    assert res.U[1][0].tolist() == [2.0, 1.0]
    assert extra["Lpre"][1][0].tolist() == [[2.0, 0.0], [0.0, 0.0]]
    assert extra["usum"][1][0].tolist() == [0.0, 1.0]
    assert res.unstable.tolist() == [1]
    assert res.unstable_per_layer.tolist() == [[1, 0]]


@settings(max_examples=60, deadline=None)
@given(case=random_nets(max_depth=1), radius=RADII, seed=st.integers(0, 2**31 - 1))
def test_first_layer_is_exact(case, radius, seed):
    """Layer 1: S = 0 exactly when |A_j| > r ||W_j||_2 (L2) or r ||W_j||_1 (Linf)."""
    layers, d = case
    W, b = layers[0]
    x = torch.randn(6, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x[0] = 0.0
    A = x @ W.t() + b
    for norm, order in (("l2", 2), ("linf", 1)):
        res = local_region_bound(layers, x, radius, norm)
        threshold = radius * torch.linalg.vector_norm(W, ord=order, dim=1)
        expected_stable = A.abs() > threshold
        assert torch.equal(~res.S[0], expected_stable)
        assert torch.equal(res.unstable, (~expected_stable).sum(1))


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
    import localregions.bounds as bounds

    torch.manual_seed(5)
    net = nn.Sequential(nn.Linear(120, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 96), nn.ReLU())
    x = torch.rand(64, 120)
    for radius in (1e-4, 1e-3, 1e-2):
        for norm in ("l2", "linf"):
            stats: dict = {}
            auto = _local_region_bound_impl(net, x, radius, norm, chunk_size=16, stats=stats)
            assert stats["flops"] < stats["dense_flops"], "the compacted path was not taken"
            with monkeypatch.context() as m:
                m.setattr(bounds, "_COMPACT_FRACTION", -1.0)
                dense = local_region_bound(net, x, radius, norm, chunk_size=16)
            assert torch.equal(auto.unstable, dense.unstable)
            for k in range(3):
                assert torch.equal(auto.P[k], dense.P[k]) and torch.equal(auto.S[k], dense.S[k])
                torch.testing.assert_close(auto.U[k], dense.U[k], rtol=1e-12, atol=1e-15)
    # The first radius keeps many centres free of unstable neurons, so layer 3 is really propagated.
    assert (local_region_bound(net, x, 1e-4).unstable == 0).any()


def test_automatic_chunk_size_follows_the_budget():
    net, _ = _sequential_and_pairs([32, 32], 20)
    x = torch.randn(100, 20)
    small, large = {}, {}
    _local_region_bound_impl(net, x, 0.1, memory_budget_bytes=100_000, stats=small)
    _local_region_bound_impl(net, x, 0.1, stats=large)
    assert 1 <= small["chunk_size"] < 100
    assert large["chunk_size"] == 100


def test_output_layer_is_ignored_and_no_hidden_layer_gives_zero():
    net = nn.Sequential(nn.Linear(3, 4))
    res = local_region_bound(net, torch.randn(5, 3), 1.0)
    assert res.unstable.tolist() == [0] * 5 and res.unstable_per_layer.shape == (5, 0) and res.P == []


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
        nn.Linear(3, 4),
    ],
)
def test_bad_modules(net):
    with pytest.raises(ValueError, match="layers"):
        local_region_bound(net, torch.randn(2, 3), 0.1)


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
