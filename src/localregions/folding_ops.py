"""What each operation of a traced network is to the folding of affine runs (:mod:`localregions.folding`).

Every analysis of this package walks a chain of affine maps and ReLUs.  A traced network is a
graph of operations; each one with a data input is put in one of these classes:

``relu``
    a ReLU (``nn.ReLU``, ``F.relu``, ``torch.relu``, ``Tensor.relu``): a hidden layer ends here;
``linear``
    linear in its one data input, ``op(0) = 0`` (reshapes, flattening, average pooling, dropout
    and identity in eval mode, slicing, zero padding, negation): the same call maps the columns;
``affine``
    affine in its one data input: its linear part is evaluated on the columns (exactly for
    ``Linear``, ``Conv1d/2d/3d`` with zero padding, ``BatchNorm`` in eval mode and torchvision's
    ``Normalize``; as ``op(x) - op(0)`` for the others, e.g. ``ConvTranspose``, ONNX ``Gemm``);
``binary``
    ``+ - * / @`` and the n-ary ONNX ``Sum``/``Mean``: affine when the data enter linearly (a sum
    of data from one ReLU layer, data times or divided by a constant);
``cat``
    concatenation of data from the same ReLU layer;
``shape``
    reads only the shape of its input (``Tensor.size``, ONNX ``Shape``);
``cast``
    a floating-point cast (``Tensor.float()``, ``.to(dtype)``): ignored, the fold stays in float64.

Anything else with a data input is refused with a :class:`ValueError` that names it: the
piecewise-linear operations that are not ReLU layers (max pooling, LeakyReLU, clamp, ...) in
one message, everything else (sigmoid, layer normalisation, products of data, ...) in another.
"""

from __future__ import annotations

import operator

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SUPPORTED_MODULES", "REFUSED_PIECEWISE_LINEAR", "classify", "linear_part", "check_eval_mode", "describe"]

#: The module types every analysis accepts (the README's table lists the same).
SUPPORTED_MODULES = (
    "Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Flatten", "Unflatten", "Identity", "Dropout",
    "ZeroPad1d", "ZeroPad2d", "ReLU", "torchvision Normalize",
    "onnx2torch: Add/Sub/Mul/Div by a constant, MatMul, Gemm, Reshape, Flatten, Transpose, Squeeze, "
    "Unsqueeze, Gather, Slice, Concat, Sum, Mean, GlobalAveragePool, Pad, Shape",
)

_LINEAR_MODULES = (nn.Flatten, nn.Unflatten, nn.Identity, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
                   nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.ZeroPad1d, nn.ZeroPad2d,
                   nn.ZeroPad3d, nn.PixelShuffle, nn.PixelUnshuffle)
_DROPOUT_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_BATCHNORM_MODULES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_CONV_MODULES = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}
_DIFFERENCE_MODULES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.ConstantPad1d,
                       nn.ConstantPad2d, nn.ConstantPad3d)
#: Piecewise linear but not a ReLU layer: refused with their own message.
REFUSED_PIECEWISE_LINEAR = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
                            nn.AdaptiveMaxPool3d, nn.LeakyReLU, nn.PReLU, nn.ReLU6, nn.Hardtanh, nn.RReLU,
                            nn.Threshold)

_ONNX_LINEAR = {"OnnxReshape", "OnnxFlatten", "OnnxSqueezeStaticAxes", "OnnxSqueezeDynamicAxes",
                "OnnxUnsqueezeStaticAxes", "OnnxUnsqueezeDynamicAxes", "OnnxTranspose", "OnnxNeg",
                "OnnxGlobalAveragePool", "OnnxGlobalAveragePoolWithKnownInputShape", "OnnxCopyIdentity",
                "OnnxSlice", "OnnxSliceV9", "OnnxGather", "OnnxExpand", "OnnxTile", "OnnxDepthToSpace"}
_ONNX_AFFINE = {"OnnxGemm", "OnnxBatchNorm", "OnnxPadStatic", "OnnxPadDynamic"}
_ONNX_REFUSED_PL = {"OnnxMinMax", "OnnxClip", "OnnxPReLU"}
# onnx2torch's Add/Sub/Mul/Div call these (by name: its Div is a wrapper of torch.div).
_ONNX_BINARY_OPS = {"add": "add", "sub": "sub", "mul": "mul", "div": "div", "_onnx_div": "div"}

_LINEAR_FUNCTIONS = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze, torch.transpose, torch.permute,
                     torch.neg, torch.t, operator.neg, operator.pos, operator.getitem, F.avg_pool1d, F.avg_pool2d,
                     F.avg_pool3d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d,
                     torch.nn.functional.pixel_shuffle}
_LINEAR_METHODS = {"view", "reshape", "flatten", "permute", "transpose", "squeeze", "unsqueeze", "contiguous",
                   "neg", "t", "expand", "clone", "__neg__"}
_CAST_METHODS = {"float", "double", "to", "type"}
_RELU_FUNCTIONS = {F.relu, torch.relu, torch.relu_}
_RELU_METHODS = {"relu", "relu_"}
_REFUSED_PL_FUNCTIONS = {F.max_pool1d, F.max_pool2d, F.max_pool3d, F.adaptive_max_pool1d, F.adaptive_max_pool2d,
                         F.leaky_relu, F.hardtanh, F.relu6, torch.max, torch.min, torch.maximum, torch.minimum,
                         torch.clamp, torch.clip, torch.abs, operator.abs}
_REFUSED_PL_METHODS = {"max", "min", "clamp", "clip", "clamp_min", "clamp_max", "abs", "maximum", "minimum"}
_BINARY_FUNCTIONS = {operator.add: "add", operator.iadd: "add", torch.add: "add", operator.sub: "sub",
                     operator.isub: "sub", torch.sub: "sub", operator.mul: "mul", operator.imul: "mul",
                     torch.mul: "mul", operator.truediv: "div", operator.itruediv: "div", torch.div: "div",
                     operator.matmul: "matmul", torch.matmul: "matmul"}
_BINARY_METHODS = {"add": "add", "__add__": "add", "__radd__": "radd", "sub": "sub", "__sub__": "sub",
                   "__rsub__": "rsub", "mul": "mul", "__mul__": "mul", "__rmul__": "mul", "div": "div",
                   "__truediv__": "div", "matmul": "matmul", "__matmul__": "matmul"}
_CAT_FUNCTIONS = {torch.cat, torch.concat, torch.concatenate}
_SHAPE_METHODS = {"size", "dim"}


def _onnx_name(module) -> str | None:
    kind = type(module)
    return kind.__name__ if kind.__module__.startswith("onnx2torch.") else None


def _is_normalize(module) -> bool:
    kind = type(module)
    return kind.__name__ == "Normalize" and kind.__module__.startswith("torchvision.")


def is_leaf(module) -> bool:
    """Whether the tracer should keep ``module`` as one call (torchvision ``Normalize``, onnx2torch's modules)."""
    return _is_normalize(module) or _onnx_name(module) is not None


def describe(node, module=None) -> str:
    """How an error message names a graph node: ``module 'features.2' (MaxPool2d)`` or ``function 'max_pool2d'``."""
    if node.op == "call_module":
        return f"module {node.target!r} ({type(module).__name__})"
    if node.op == "call_method":
        return f"method '.{node.target}()' at node {node.name!r}"
    name = getattr(node.target, "__name__", str(node.target))
    return f"function {name!r} at node {node.name!r}"


def classify(node, module=None) -> tuple[str, object]:
    """``(kind, detail)`` of a ``call_module``/``call_function``/``call_method`` node (see the module docstring).

    ``detail`` is the binary operation's name for ``binary``, else ``None``.  The kinds for
    refused operations are ``refused_pl`` (piecewise linear, not a ReLU layer) and ``unknown``.
    """
    if node.op == "call_module":
        onnx = _onnx_name(module)
        if isinstance(module, nn.ReLU):
            return "relu", None
        if isinstance(module, _LINEAR_MODULES) or isinstance(module, _DROPOUT_MODULES) or onnx in _ONNX_LINEAR:
            return "linear", None
        if isinstance(module, (nn.Linear, *_CONV_MODULES, *_BATCHNORM_MODULES, *_DIFFERENCE_MODULES)):
            return "affine", None
        if _is_normalize(module) or onnx in _ONNX_AFFINE:
            return "affine", None
        if onnx == "OnnxBinaryMathOperation":
            if getattr(module, "broadcast", None) == 1 and getattr(module, "axis", None) is not None:
                return "unknown", None  # the pre-opset-7 broadcast: not worth supporting
            return "binary", _ONNX_BINARY_OPS.get(getattr(module.math_op_function, "__name__", ""))
        if onnx == "OnnxMatMul":
            return "binary", "matmul"
        if onnx in ("OnnxSum", "OnnxMean"):
            return "sum", None
        if onnx == "OnnxConcat":
            return "cat", None
        if onnx == "OnnxShape":
            return "shape", None
        if isinstance(module, REFUSED_PIECEWISE_LINEAR) or onnx in _ONNX_REFUSED_PL:
            return "refused_pl", None
        return "unknown", None
    if node.op == "call_function":
        target = node.target
        if target in _RELU_FUNCTIONS:
            return "relu", None
        if target in _LINEAR_FUNCTIONS:
            return "linear", None
        if target is F.dropout:
            return "linear", None
        if target in (F.linear, *(_CONV_MODULES.values()), F.batch_norm):
            return "affine", None
        if target in _BINARY_FUNCTIONS:
            return "binary", _BINARY_FUNCTIONS[target]
        if target in _CAT_FUNCTIONS:
            return "cat", None
        if target is getattr and len(node.args) > 1 and node.args[1] in ("shape", "ndim"):
            return "shape", None
        if target in _REFUSED_PL_FUNCTIONS:
            return "refused_pl", None
        return "unknown", None
    target = node.target  # call_method
    if target in _RELU_METHODS:
        return "relu", None
    if target in _LINEAR_METHODS:
        return "linear", None
    if target in _CAST_METHODS:
        return "cast", None
    if target in _BINARY_METHODS:
        return "binary", _BINARY_METHODS[target]
    if target in _SHAPE_METHODS:
        return "shape", None
    if target in _REFUSED_PL_METHODS:
        return "refused_pl", None
    return "unknown", None


def check_eval_mode(node, module, kwargs) -> None:
    """Refuse what is a function of one input only in eval mode (BatchNorm, Dropout), naming it."""
    if node.op == "call_module":
        if isinstance(module, (*_DROPOUT_MODULES, *_BATCHNORM_MODULES)) and module.training:
            raise ValueError(f"layers: {describe(node, module)} is in training mode, where it is not a fixed function "
                             "of one input (batch statistics, random dropout); call model.eval() first")
        if isinstance(module, _BATCHNORM_MODULES) and module.running_mean is None:
            raise ValueError(f"layers: {describe(node, module)} has track_running_stats=False: it normalises by the "
                             "statistics of each batch even in eval mode, so it is not an affine map of one input")
    elif node.op == "call_function" and node.target in (F.dropout, F.batch_norm):
        training = kwargs.get("training", node.target is F.dropout)
        if training:
            raise ValueError(f"layers: {describe(node)} runs with training=True, where it is not a fixed function "
                             "of one input; trace the network in eval mode")


def linear_part(node, module, kind, detail, args, kwargs, data_positions):
    """The linear part of an ``affine``/``binary``/``sum`` operation applied to the columns in ``args``.

    ``args`` holds the columns (a batch) at the positions ``data_positions`` and the constants
    elsewhere; returns the op's linear part applied to them.
    """
    if kind == "affine":
        x = args[0]
        if node.op == "call_module":
            if isinstance(module, nn.Linear):
                return F.linear(x, module.weight)
            conv = _CONV_MODULES.get(type(module))
            if conv is not None and module.padding_mode == "zeros":
                return conv(x, module.weight, None, module.stride, module.padding, module.dilation, module.groups)
            if isinstance(module, _BATCHNORM_MODULES):
                scale = torch.rsqrt(module.running_var + module.eps)
                if module.weight is not None:
                    scale = scale * module.weight
                return x * scale.view(1, -1, *([1] * (x.ndim - 2)))
            if _is_normalize(module):
                std = torch.as_tensor(module.std, dtype=x.dtype, device=x.device)
                return x / std.view(-1, 1, 1)
            return module(*args, **kwargs) - module(torch.zeros_like(x[:1]), *args[1:], **kwargs)
        if node.target is F.linear:
            return F.linear(x, args[1] if len(args) > 1 else kwargs["weight"])
        call = node.target
        rest_kwargs = dict(kwargs)
        return call(*args, **rest_kwargs) - call(torch.zeros_like(x[:1]), *args[1:], **rest_kwargs)
    call = _caller(node, module)
    if kind == "sum":
        # ONNX Sum/Mean: constants drop out of the linear part.
        return call(*[a if i in data_positions else torch.zeros_like(a) for i, a in enumerate(args)], **kwargs)
    # binary
    if detail in ("add", "sub", "radd", "rsub"):
        zeroed = [a if i in data_positions else _zero_like(a) for i, a in enumerate(args)]
        return call(*zeroed, **kwargs)
    return call(*args, **kwargs)  # mul, div or matmul by a constant: linear in the data already


def _zero_like(value):
    return torch.zeros_like(value) if isinstance(value, torch.Tensor) else 0.0


def _caller(node, module):
    if node.op == "call_module":
        return module
    if node.op == "call_function":
        return node.target
    return lambda self, *rest, **kw: getattr(self, node.target)(*rest, **kw)


def binary_is_affine(detail, data_positions) -> bool:
    """Whether a binary operation with data at ``data_positions`` is affine in them.

    Sums and differences of data (from one ReLU layer) and constants are; a product or quotient
    only with the data on one side, and never divided by data.
    """
    if detail in ("add", "sub", "radd", "rsub"):
        return True
    if detail in ("mul", "matmul"):
        return len(data_positions) == 1
    if detail == "div":
        return data_positions == {0}
    return False
