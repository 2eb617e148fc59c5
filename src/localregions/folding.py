"""Fold a feed-forward piecewise-linear torch network into the chain of affine maps and ReLUs the analyses walk.

The network is read with :mod:`torch.fx` (traced for an ``nn.Module``, used as it is for an
``fx.GraphModule`` such as onnx2torch's).  Every ReLU ends a hidden layer; between two ReLUs (and
between the last one and the output) the operations must form an affine map of the previous
ReLU layer's outputs, which is folded into one dense ``(W, b)``: ``b`` is the run evaluated at
zero, the columns of ``W`` are its linear part evaluated on the unit vectors, a chunk of them at
a time (``memory_budget_bytes``), in float64.  A convolution therefore becomes its dense matrix:
``(C_out H_out W_out) x (C_in H_in W_in)`` float64 entries: 29 MB for LeNet's first layer on 28 x 28
MNIST (4704 x 784), 50 MB for 8 channels of stride 2 on 3 x 32 x 32 inputs (2048 x 3072); measured
in ``docs/performance_networks.md``.

Where the linear part of a module is known it is evaluated exactly (``Linear``, ``Conv`` with
zero padding, ``BatchNorm`` in eval mode, ``Normalize``): a ``Linear`` after a ReLU gives its own
weight and bias, bit for bit.  The folded map equals the composition of the modules up to
float64 rounding (about 1e-16 of the magnitudes); every guarantee of the analyses is for the
folded float64 network.  As a check against a module that is not what its type says, the folded
chain is evaluated at two random inputs and compared with the network itself (``ValueError`` if
any pre-activation differs by more than 1e-8 of its layer's magnitude).

Refused, with a ``ValueError`` naming the node: operations that are not affine between ReLUs
(see :mod:`.folding_ops`), MaxPool and the other piecewise-linear operations that are not ReLU
layers, additions or concatenations of tensors from different ReLU layers (residual
connections), BatchNorm and Dropout in training mode, and networks with several inputs or
outputs.  Why not MaxPool: every engine here (Algorithm 1's recursion, IBP, CROWN, the LP, the
sign-tree count) walks a chain of ReLU layers; a max can be rewritten with ReLUs
(``max(a, b) = a + relu(b - a)``) only by carrying ``a`` through a ReLU as well, and such a
pass-through neuron whose input is exactly 0 on the ball counts as unstable under the paper's
strict inequalities, so ``C`` would grow by every inactive neuron before the pooling.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import fx, nn
from torch.fx.node import map_aggregate

from .folding_ops import binary_is_affine, check_eval_mode, classify, describe, is_leaf, linear_part

__all__ = ["FoldedNetwork", "fold_network", "FOLD_MEMORY_BUDGET_BYTES"]

#: Default bound on the work memory of evaluating one affine run on a chunk of unit vectors.
FOLD_MEMORY_BUDGET_BYTES = 256 * 2**20
_METHODS = "alg1, ibp, crown, lp, the exact and sampled counts, local complexity and boundary distance"
_CHECK_TOLERANCE = 1e-8


class FoldedNetwork:
    """The result of :func:`fold_network`: hidden layers, output layer and shapes (see :class:`~localregions.layers.NetworkLayers`)."""

    def __init__(self, hidden, output, input_shape, hidden_shapes, names):
        self.hidden = hidden
        self.output = output
        self.input_shape = input_shape
        self.hidden_shapes = hidden_shapes
        self.names = names


class _Tracer(fx.Tracer):
    def is_leaf_module(self, module, qualified_name):
        return is_leaf(module) or super().is_leaf_module(module, qualified_name)


def _graph_of(model: nn.Module) -> fx.GraphModule:
    if isinstance(model, fx.GraphModule):
        return model
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:  # a trace error names no argument; say what failed
        raise ValueError(f"layers: torch.fx could not trace the network ({type(exc).__name__}: {exc}); only "
                         "feed-forward networks without data-dependent control flow are supported") from exc
    return fx.GraphModule(model, graph)


def _width_fixed_by(graph_module, user):
    """The input shape a first operation fixes (``Linear``, ``Unflatten``, ``BatchNorm1d``, ``F.linear``), else None."""
    if user.op == "call_function" and user.target is nn.functional.linear:
        weight = user.args[1] if len(user.args) > 1 else user.kwargs.get("weight")
        if isinstance(weight, fx.Node) and weight.op == "get_attr":
            return (graph_module.get_parameter(weight.target).shape[1],)
    if user.op != "call_module":
        return None
    module = graph_module.get_submodule(user.target)
    if isinstance(module, nn.Linear):
        return (module.in_features,)
    if isinstance(module, nn.Unflatten) and module.dim in (1, -1):
        return (math.prod(module.unflattened_size),)
    if isinstance(module, nn.BatchNorm1d):
        return (module.num_features,)
    return None


def _infer_input_shape(graph_module, placeholder) -> tuple:
    """The input shape read from the first operations on the input (through Identity and Dropout)."""
    node = placeholder
    while True:
        users = list(node.users)
        for user in users:
            shape = _width_fixed_by(graph_module, user)
            if shape is not None:
                return shape
        modules = [graph_module.get_submodule(u.target) for u in users if u.op == "call_module"]
        if len(users) == 1 and len(modules) == 1 and isinstance(modules[0], (nn.Identity, nn.Dropout)):
            node = users[0]
            continue
        if modules:
            first = f"{type(modules[0]).__name__} ({[u for u in users if u.op == 'call_module'][0].target!r})"
            raise ValueError(f"layers: the network starts with {first}, whose input shape it does not fix; pass "
                             "input_shape=(C, H, W) to localregions.layers.network_layers, or start the network "
                             "with nn.Unflatten(1, (C, H, W)) so that it takes flat (N, d) inputs")
        raise ValueError("layers: cannot tell the input shape of the network; pass input_shape to "
                         "localregions.layers.network_layers")


class _Graph:
    """The traced network with the kind of every node: ``const``, ``shape`` or ``data`` of a source."""

    def __init__(self, model: nn.Module, input_shape):
        graph_module = _graph_of(model)
        # Evaluate in float64 on a copy; the caller's module is left as it is.
        self.root = copy.deepcopy(graph_module).to(torch.float64)
        for module in self.root.modules():  # in place, a module would overwrite values the fold still reads
            if isinstance(getattr(module, "inplace", None), bool):
                module.inplace = False
        self.nodes = list(self.root.graph.nodes)
        placeholders = [n for n in self.nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise ValueError(f"layers: the network must take exactly one input, it takes {len(placeholders)}")
        self.input = placeholders[0]
        outputs = [n for n in self.nodes if n.op == "output"]
        result = outputs[0].args[0]
        if isinstance(result, (tuple, list)):
            if len(result) != 1:
                raise ValueError(f"layers: the network must return one tensor, it returns {len(result)}")
            result = result[0]
        if not isinstance(result, fx.Node):
            raise ValueError("layers: the network's output does not depend on its input")
        self.result = result
        if input_shape is None:
            input_shape = _infer_input_shape(graph_module, self.input)
        self.input_shape = tuple(int(s) for s in input_shape)
        parameter = next(iter(self.root.parameters()), None)
        self.device = parameter.device if parameter is not None else torch.device("cpu")
        self.kind = {}  # node -> ("const",) | ("shape",) | ("data", source: the input or a ReLU node)
        self.relu_input = {}  # ReLU node -> the node it is applied to
        self.shape = {}  # node -> recorded shape of a data node (batch of 1)
        self.const = {}
        self.rules = {}
        self._classify()

    def module(self, node):
        return self.root.get_submodule(node.target) if node.op == "call_module" else None

    def _classify(self):
        env = {}
        for node in self.nodes:
            if node.op == "output":
                continue
            if node is self.input:
                env[node] = torch.zeros((1, *self.input_shape), dtype=torch.float64, device=self.device)
                self.kind[node] = ("data", node)
                self.shape[node] = tuple(env[node].shape)
                continue
            if node.op == "get_attr":
                value = self.root
                for part in node.target.split("."):
                    value = getattr(value, part)
                env[node] = self.const[node] = value
                self.kind[node] = ("const",)
                continue
            kinds = [self.kind[a] for a in node.all_input_nodes]
            sources = {k[1] for k in kinds if k[0] == "data"}
            module = self.module(node)
            kind, detail = classify(node, module)
            self.rules[node] = (kind, detail)
            if not sources:
                if kind == "relu" or all(k[0] == "const" for k in kinds):
                    env[node] = self.const[node] = self._call(node, module, env)
                    self.kind[node] = ("const",)
                else:
                    env[node] = self._call(node, module, env)
                    self.kind[node] = ("shape",)
                continue
            if kind == "shape":
                env[node] = self._call(node, module, env)
                self.kind[node] = ("shape",)
                continue
            if len(sources) > 1:
                names = sorted(s.name for s in sources)
                raise ValueError(f"layers: {describe(node, module)} combines tensors from different ReLU layers "
                                 f"({', '.join(names)}): a residual (skip) connection across a ReLU, which no method "
                                 f"of localregions supports ({_METHODS} all walk a chain of affine maps and ReLUs)")
            (source,) = sources
            self._check(node, module, kind, detail)
            try:
                value = self._call(node, module, env)
            except Exception as exc:  # e.g. a Linear whose in_features do not match the tensor it gets
                raise ValueError(f"layers: {describe(node, module)} fails on an input of shape "
                                 f"{(-1, *self.input_shape)}: {type(exc).__name__}: {exc}") from exc
            env[node] = value
            self.shape[node] = tuple(value.shape)
            self.kind[node] = ("data", source)
            if kind == "relu":
                self.kind[node] = ("data", node)  # a ReLU's output is the source of the next affine run
                self.relu_input[node] = node.args[0]

    def _check(self, node, module, kind, detail):
        if kind == "refused_pl":
            raise ValueError(f"layers: {describe(node, module)} is piecewise linear but not a ReLU layer: no method "
                             f"of localregions supports it ({_METHODS} all walk a chain of affine maps and ReLUs); "
                             "use AvgPool2d or a strided Conv2d instead of max pooling")
        if kind == "unknown":
            raise ValueError(f"layers: {describe(node, module)} is not supported: it is not a ReLU and not an "
                             "affine map the folding knows; supported are the modules in "
                             "localregions.layers.SUPPORTED_MODULES")
        check_eval_mode(node, module, node.kwargs)
        if kind == "relu" and node.op != "call_module" and node.args and not isinstance(node.args[0], fx.Node):
            raise ValueError(f"layers: {describe(node, module)} has no tensor input")
        positions = self.data_positions(node)
        if kind in ("linear", "affine", "relu", "cast") and positions != {0}:
            raise ValueError(f"layers: {describe(node, module)} takes the data in an argument other than its first")
        if kind == "cat" and not self._all_data(node):
            raise ValueError(f"layers: {describe(node, module)} concatenates the data with a constant, which the "
                             "folding does not support")
        if kind == "binary" and detail is None:
            raise ValueError(f"layers: {describe(node, module)} is an arithmetic operation the folding does not know")
        if kind == "binary" and not binary_is_affine(detail, positions):
            raise ValueError(f"layers: {describe(node, module)} multiplies or divides by the data (a product of "
                             "inputs is not piecewise linear); supported are sums of data and constants, and data "
                             "times or divided by constants")

    def _all_data(self, node) -> bool:
        tensors = [a for a in node.all_input_nodes if self.kind.get(a, ("const",))[0] != "shape"]
        return all(self.kind[a][0] == "data" for a in tensors)

    def data_positions(self, node) -> set:
        positions = set()
        for index, arg in enumerate(node.args):
            if isinstance(arg, fx.Node) and self.kind.get(arg, ("const",))[0] == "data":
                positions.add(index)
            elif isinstance(arg, (list, tuple)) and any(
                    isinstance(a, fx.Node) and self.kind.get(a, ("const",))[0] == "data" for a in arg):
                positions.add(index)
        return positions

    def _call(self, node, module, env, args=None, kwargs=None):
        if args is None:
            args = map_aggregate(node.args, lambda a: env[a] if isinstance(a, fx.Node) else a)
            kwargs = map_aggregate(node.kwargs, lambda a: env[a] if isinstance(a, fx.Node) else a)
        kind = self.rules.get(node, (None,))[0]
        if kind == "relu":
            return torch.relu(args[0])
        if kind == "cast":
            return args[0]
        if node.op == "call_module":
            return module(*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        return getattr(args[0], node.target)(*args[1:], **kwargs)

    # ------------------------------------------------------------------ chain and evaluation

    def chain(self):
        """The ReLU nodes from the input to the output, in order, and the output's source."""
        kind = self.kind[self.result]
        if kind[0] != "data":
            raise ValueError("layers: the network's output does not depend on its input")
        relus = []
        source = kind[1]
        while source is not self.input:
            relus.append(source)
            source = self.kind[self.relu_input[source]][1]
        return relus[::-1], kind[1]

    def run_segment(self, source, target, source_value, linear: bool):
        """Evaluate ``target`` from ``source_value`` at ``source``: the full ops, or their linear parts."""
        batch = source_value.shape[0]
        needed = self._ancestors(target, source)
        env = {source: source_value}
        for node in self.nodes:
            if node not in needed or node is source:
                continue
            kind = self.kind[node]
            if kind[0] == "const":
                env[node] = self.const[node]
                continue
            module = self.module(node)
            if kind[0] == "shape":
                env[node] = self._call_shape(node, module, env, batch)
                continue
            args = map_aggregate(node.args, lambda a: env[a] if isinstance(a, fx.Node) else a)
            kwargs = map_aggregate(node.kwargs, lambda a: env[a] if isinstance(a, fx.Node) else a)
            rule, detail = self.rules[node]
            try:
                if linear and rule in ("affine", "binary", "sum"):
                    value = linear_part(node, module, rule, detail, args, kwargs, self.data_positions(node))
                else:
                    value = self._call(node, module, env, args, kwargs)
            except Exception as exc:
                if batch > 1:
                    raise _BatchMismatch() from exc  # e.g. an ONNX Reshape to a fixed batch of 1: retry one by one
                raise ValueError(f"layers: {describe(node, module)} fails while folding: {type(exc).__name__}: "
                                 f"{exc}") from exc
            if value.shape[0] != batch or tuple(value.shape[1:]) != self.shape[node][1:]:
                raise _BatchMismatch()
            env[node] = value
        return env[target]

    def _call_shape(self, node, module, env, batch):
        """A shape-only node: its data inputs (maybe of another run) stood in by zeros of their shape."""
        def value(a):
            if not isinstance(a, fx.Node):
                return a
            if a in env:
                return env[a]
            if self.kind[a][0] == "data":
                return torch.zeros((batch, *self.shape[a][1:]), dtype=torch.float64, device=self.device)
            if self.kind[a][0] == "const":
                return self.const[a]
            env[a] = self._call_shape(a, self.module(a), env, batch)
            return env[a]

        args = map_aggregate(node.args, value)
        kwargs = map_aggregate(node.kwargs, value)
        return self._call(node, module, env, args, kwargs)

    def _ancestors(self, target, source):
        seen, stack = set(), [target]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node is source or self.kind.get(node, ("const",))[0] == "shape":
                continue
            stack.extend(node.all_input_nodes)
        return seen


class _BatchMismatch(Exception):
    """A run of the network mixed or dropped the batch dimension (e.g. an ONNX Reshape to a fixed batch of 1)."""


def _fold_run(graph: _Graph, source, target, budget: int):
    """``(W, b)`` of the affine run from ``source``'s outputs to ``target``, both flattened."""
    src_shape = graph.shape[source][1:]
    d = math.prod(src_shape)
    out_shape = graph.shape[target][1:]
    h = math.prod(out_shape)
    zero = torch.zeros((1, *src_shape), dtype=torch.float64, device=graph.device)
    fast = _direct_linear(graph, source, target)
    if fast is not None:
        return fast
    b = graph.run_segment(source, target, zero, linear=False).reshape(h)
    needed = graph._ancestors(target, source)
    per_column = sum(math.prod(graph.shape[n][1:]) for n in needed if n in graph.shape) + d
    chunk = int(max(1, min(d, budget // (8 * 2 * per_column))))
    W = torch.empty((h, d), dtype=torch.float64, device=graph.device)
    start = 0
    while start < d:
        stop = min(d, start + chunk)
        basis = torch.zeros((stop - start, d), dtype=torch.float64, device=graph.device)
        basis[torch.arange(stop - start), torch.arange(start, stop)] = 1.0
        try:
            columns = graph.run_segment(source, target, basis.view(-1, *src_shape), linear=True)
        except _BatchMismatch:
            if chunk == 1:
                raise ValueError("layers: the network does not keep the batch dimension of its input apart (a "
                                 "reshape that mixes it with the others), so it cannot be folded") from None
            chunk = 1
            continue
        W[:, start:stop] = columns.reshape(stop - start, h).t()
        start = stop
    return W, b


def _direct_linear(graph: _Graph, source, target):
    """``(weight, bias)`` itself when the run is one ``nn.Linear`` applied to a flat source."""
    if target.op != "call_module" or graph.rules.get(target, (None,))[0] != "affine":
        return None
    module = graph.module(target)
    if not isinstance(module, nn.Linear) or target.args[0] is not source or len(graph.shape[source]) != 2:
        return None
    weight = module.weight.detach()
    bias = module.bias.detach() if module.bias is not None else torch.zeros(module.out_features, dtype=weight.dtype,
                                                                              device=weight.device)
    return weight, bias


def _check_fold(graph: _Graph, relus, hidden, output):
    """Compare the folded chain with the network at two random inputs; ``ValueError`` if they differ."""
    generator = torch.Generator().manual_seed(20240523)
    for _ in range(2):
        x = torch.randn((1, *graph.input_shape), generator=generator, dtype=torch.float64).to(graph.device)
        network_output = graph.run_segment(graph.input, graph.result, x, linear=False)
        reference = _reference_values(graph, x, relus)
        X = x.reshape(1, -1)
        for k, (W, b) in enumerate(hidden):
            A = X @ W.t() + b
            _compare(A, reference[k], f"hidden layer {k + 1} ({relus[k].name})")
            X = A.clamp_min(0)
        if output is not None:
            _compare(X @ output[0].t() + output[1], network_output.reshape(1, -1), "the output")


def _reference_values(graph: _Graph, x, relus):
    values = []
    previous, value = graph.input, x
    for relu in relus:
        pre = graph.run_segment(previous, graph.relu_input[relu], value, linear=False)
        values.append(pre.reshape(1, -1))
        previous, value = relu, torch.relu(pre)
    return values


def _compare(folded, reference, what):
    scale = 1.0 + float(reference.abs().max()) if reference.numel() else 1.0
    gap = float((folded - reference).abs().max()) if reference.numel() else 0.0
    if not gap <= _CHECK_TOLERANCE * scale:
        raise ValueError(f"layers: the folded network differs from the network at {what} by {gap:.3g} at a test "
                         "input: a module is not the affine map its type says (a custom forward?)")


@torch.no_grad()
def fold_network(model: nn.Module, input_shape=None, *, memory_budget_bytes: int = FOLD_MEMORY_BUDGET_BYTES,
                 check: bool = True) -> FoldedNetwork:
    """Fold ``model`` into hidden ``(W, b)`` layers and an output layer; see the module docstring."""
    graph = _Graph(model, input_shape)
    relus, output_source = graph.chain()
    hidden, shapes = [], []
    previous = graph.input
    for relu in relus:
        hidden.append(_fold_run(graph, previous, graph.relu_input[relu], memory_budget_bytes))
        shapes.append(graph.shape[relu][1:])
        previous = relu
    output = None
    if graph.result is not output_source:
        output = _fold_run(graph, output_source, graph.result, memory_budget_bytes)
    if check:
        _check_fold(graph, relus, hidden, output)
    return FoldedNetwork(hidden=hidden, output=output, input_shape=graph.input_shape, hidden_shapes=shapes,
                         names=[str(r.target) if r.op == "call_module" else r.name for r in relus])
