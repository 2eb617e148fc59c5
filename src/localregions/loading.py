"""Load a network from a file: ONNX (through onnx2torch) or a saved torch module.

The library core takes tensors and modules, never file paths; this module sits above it (and
below the command line) and turns a file into an ``nn.Module`` that every analysis accepts.

Formats
-------
``.onnx``
    Converted by onnx2torch (``pip install localregions[onnx]``), put in eval mode, and given an
    ``nn.Unflatten`` in front so that it takes flat ``(N, d)`` inputs like every analysis here
    (the input shape is read from the ONNX graph; a symbolic non-batch dimension needs
    ``input_shape``).  The constant Sub/Div/Mul/Add of an exported input normalisation and its
    BatchNormalization nodes are folded like any affine layer.  onnx2torch 1.5 converts opsets up
    to 17 (torch's exporter writes 18 or more unless told ``opset_version=17``).
``.pt``, ``.pth`` (anything else)
    A whole module saved with ``torch.save(model, path)``.  Loading it unpickles arbitrary code
    (``torch.load(..., weights_only=False)``), so it is refused unless ``allow_pickle=True``:
    pass that only for files you trust.  A bare ``state_dict`` holds no architecture and is
    refused with a message saying so; TorchScript archives (``torch.jit.save``) are refused too,
    because torch.fx cannot trace a ``ScriptModule`` (export to ONNX, or save the module).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch
from torch import nn

__all__ = ["load_network", "onnx_available"]


def onnx_available() -> bool:
    """Whether the optional ``onnx`` extra (onnx and onnx2torch) is installed."""
    try:
        import onnx  # noqa: F401
        import onnx2torch  # noqa: F401
    except ImportError:
        return False
    return True


def load_network(path, *, input_shape=None, allow_pickle: bool = False) -> nn.Module:
    """Load the network in ``path`` (ONNX or a saved torch module) as an eval-mode ``nn.Module``.

    Parameters
    ----------
    path : str or Path
        ``.onnx``, or a file written by ``torch.save(model, path)``.
    input_shape : tuple of int, optional
        The shape of one input (e.g. ``(1, 28, 28)``).  For ONNX it overrides the graph's; for a
        torch module it puts an ``nn.Unflatten(1, input_shape)`` in front (needed when the module
        starts with a convolution and should take flat inputs).
    allow_pickle : bool, default False
        Load a pickled torch module, which runs the code the pickle names.  Only for trusted files.

    Returns
    -------
    nn.Module
        In eval mode; an ONNX network takes flat ``(N, d)`` inputs.

    Raises
    ------
    ValueError
        Naming ``path``: a missing file, an unreadable or unsupported format, a pickle without
        ``allow_pickle``, a state dict, a TorchScript archive.
    ImportError
        For ``.onnx`` without the ``onnx`` extra.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} does not exist")
    if input_shape is not None:
        input_shape = tuple(int(s) for s in input_shape)
        if not input_shape or min(input_shape) < 1:
            raise ValueError(f"input_shape must be positive sizes, got {input_shape!r}")
    if path.suffix.lower() == ".onnx":
        return _load_onnx(path, input_shape)
    return _load_torch(path, input_shape, allow_pickle)


def _load_onnx(path: Path, input_shape):
    try:
        import onnx
        from onnx2torch import convert
    except ImportError as exc:
        raise ImportError("loading .onnx needs the optional extra: pip install 'localregions[onnx]' "
                          "(onnx and onnx2torch)") from exc
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ValueError(f"path {str(path)!r} is not a valid ONNX model: {exc}") from exc
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ValueError(f"path {str(path)!r}: the ONNX graph takes {len(inputs)} inputs; one is supported")
    if input_shape is None:
        dims = inputs[0].type.tensor_type.shape.dim[1:]
        if not dims or any(not d.HasField("dim_value") for d in dims):
            raise ValueError(f"path {str(path)!r}: the ONNX input's shape beyond the batch dimension is not fixed "
                             f"({[d.dim_param or d.dim_value for d in dims]}); pass input_shape")
        input_shape = tuple(int(d.dim_value) for d in dims)
    try:
        converted = convert(model)
    except NotImplementedError as exc:
        raise ValueError(f"path {str(path)!r}: onnx2torch cannot convert the graph ({exc}); onnx2torch 1.5 "
                         "converts opsets up to 17 (torch.onnx.export(..., opset_version=17))") from exc
    network = nn.Sequential(nn.Unflatten(1, input_shape), converted)
    return network.eval()


def _load_torch(path: Path, input_shape, allow_pickle: bool):
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith("constants.pkl") for name in archive.namelist()):
                raise ValueError(f"path {str(path)!r} is a TorchScript archive, which torch.fx cannot trace; save "
                                 "the nn.Module itself (torch.save(model, path)) or export it to ONNX")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if not allow_pickle:
            raise ValueError(f"path {str(path)!r} is not a plain tensor file; if it is a module saved with "
                             "torch.save(model, path), loading it runs the code its pickle names: pass "
                             "allow_pickle=True (--allow-pickle) only for a file you trust") from exc
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as inner:
            raise ValueError(f"path {str(path)!r} cannot be read by torch.load: {inner}") from inner
    if isinstance(loaded, dict):
        raise ValueError(f"path {str(path)!r} holds a dict (a state_dict or a checkpoint), not a network: it has "
                         "no architecture; build the module, load_state_dict, and pass the module to the library")
    if not isinstance(loaded, nn.Module):
        raise ValueError(f"path {str(path)!r} holds a {type(loaded).__name__}, not an nn.Module")
    if input_shape is not None:
        loaded = nn.Sequential(nn.Unflatten(1, input_shape), loaded)
    return loaded.eval()
