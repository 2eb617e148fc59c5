"""The experiment's network architectures by name, and the neurons of their hidden layers, without torch.

:mod:`.models` builds the networks with torch; the settings (checked when Snakemake parses the
workflow) and the report (which states C per neuron) need only the names and the sizes, and stay
free of torch by reading them here.
"""

from __future__ import annotations

__all__ = ["ARCHITECTURES", "LENET_INPUT_SHAPE", "LENET_CHANNELS", "LENET_HIDDEN", "LENET_DEPTH", "hidden_widths"]

#: "mlp": ``depth`` dense hidden layers of ``width`` neurons; "lenet": LeNet-5's layers (``models.build_lenet``).
ARCHITECTURES = ("mlp", "lenet")
#: The LeNet takes full 28 x 28 MNIST, as flat rows of 784 pixels.
LENET_INPUT_SHAPE = (1, 28, 28)
#: LeNet-5's channels of its two convolutions, and the neurons of its two dense hidden layers.
LENET_CHANNELS = (6, 16)
LENET_HIDDEN = (120, 84)
#: Its hidden ReLU layers: two convolutions, two dense layers.
LENET_DEPTH = 4


def hidden_widths(architecture: str, *, depth: int, width: int, channels=LENET_CHANNELS) -> list[int]:
    """The neurons of each hidden ReLU layer (``depth`` and ``width`` are the MLP's; ``channels`` the LeNet's).

    A LeNet's first convolution keeps the 28 x 28 grid (padding 2), average pooling halves it to
    14 x 14, and the second 5 x 5 convolution leaves 10 x 10 before its ReLU.

    >>> hidden_widths("mlp", depth=2, width=256)
    [256, 256]
    >>> hidden_widths("lenet", depth=4, width=0, channels=(6, 16))
    [4704, 1600, 120, 84]
    """
    if architecture == "mlp":
        return [int(width)] * int(depth)
    if architecture == "lenet":
        first, second = (int(c) for c in channels)
        side = LENET_INPUT_SHAPE[1]
        return [first * side * side, second * (side // 2 - 4) ** 2, *LENET_HIDDEN]
    raise ValueError(f"architecture must be one of {list(ARCHITECTURES)}, got {architecture!r}")
