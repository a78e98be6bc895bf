"""Feed-forward networks: an MLP, and a LeNet-5-style CNN (conv trunk + MLP classifier).

Both are built from a layer factory (``layers.PlainLayers`` or ``layers.BELayers``), so
the same code gives the plain and the BatchEnsemble version.
"""

import math

from torch import nn

from .layers import PlainLayers

CNN_KERNEL = 5  # LeNet-5's 5x5 kernels, "same" padding, then 2x2 max-pooling per stage


def mlp_layers(sizes, final_activation=False, layers=PlainLayers):
    """Linear layers with ReLU between them (and after the last one if asked)."""
    out = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        out.append(layers.linear(fan_in, fan_out))
        if final_activation or i < len(sizes) - 2:
            out.append(nn.ReLU())
    return out


def conv_trunk(input_shape, channels, layers=PlainLayers):
    """Conv(5x5, same) + ReLU + MaxPool(2) per entry of ``channels``, then Flatten."""
    out, c_in = [], input_shape[0]
    for c_out in channels:
        out += [layers.conv(c_in, c_out, CNN_KERNEL, CNN_KERNEL // 2), nn.ReLU(), nn.MaxPool2d(2)]
        c_in = c_out
    return [*out, nn.Flatten()]


def conv_features(input_shape, channels):
    """Width of the flattened conv-trunk output."""
    c, h, w = input_shape
    for _ in channels:
        h, w = h // 2, w // 2
    if not channels:
        return c * h * w
    if h == 0 or w == 0:
        raise ValueError(f"input {input_shape} is too small for {len(channels)} pooling stages")
    return channels[-1] * h * w


def network(spec, final_activation=False, layers=PlainLayers):
    """The ``nn.Sequential`` of an ``mlp`` or ``cnn`` spec (see models/__init__.py)."""
    if spec["arch"] == "mlp":
        trunk = [nn.Flatten()]
    elif spec["arch"] == "cnn":
        trunk = conv_trunk(spec["input_shape"], spec["channels"], layers)
    else:
        raise ValueError(f"'{spec['arch']}' is not a feed-forward architecture")
    return nn.Sequential(*trunk, *mlp_layers(spec["sizes"], final_activation, layers))


def network_spec(arch, input_shape, hidden, num_classes, channels=()):
    """Spec of a teacher-shaped network from the config's architecture keys."""
    if arch == "mlp":
        return {"arch": "mlp", "sizes": [math.prod(input_shape), *hidden, num_classes]}
    if arch == "cnn":
        features = conv_features(input_shape, channels)
        return {
            "arch": "cnn",
            "input_shape": list(input_shape),
            "channels": list(channels),
            "sizes": [features, *hidden, num_classes],
        }
    raise ValueError(f"unknown architecture '{arch}'")
