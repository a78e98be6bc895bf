"""CIFAR ResNets: ResNet-v1 (post-activation, He et al. 2016; ResNet-20/32) and the
pre-activation WideResNet-28-k (Zagoruyko & Komodakis 2016).

Built from a layer factory (``layers.PlainLayers`` or ``layers.BELayers``), so each is also
a BatchEnsemble network; MIMO widens the input channels and the classifier. The network
is one ``nn.Sequential``: input standardisation, stem, the residual blocks in order, and
the classifier (pooling + linear), so that a Hydra split is a slice: the body ends k blocks
before the end and each head is those k blocks plus the classifier.

Spec (models/__init__.py)::

    {"arch": "resnet" | "wrn", "depth": 20, "width": 16, "shortcut": "identity",
     "input_shape": [3, 32, 32], "num_classes": 10, "mean": [...], "std": [...]}

``width``: base channels of ResNet-v1 (16: 16-32-64), the widening factor k of a WRN
(16k-32k-64k). ``shortcut`` (ResNet-v1 only) where the shape changes: ``identity``
(He et al.'s option A: subsample and pad channels with zeros; giung2's R32, no parameters)
or ``projection`` (a 1x1 convolution with bias, the Keras ResNet-20 v1 of Ovadia et al.
and the Hydra paper). WRNs always project (1x1 convolution on the pre-activated input).
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..archs import RESNET_ARCHS, residual_blocks
from .layers import PlainLayers

__all__ = ["RESNET_ARCHS", "resnet", "resnet_spec"]


class ImageInput(nn.Module):
    """Images as uint8 (0..255) or float in [0, 1], standardised per channel. Data stay
    uint8 until here (a quarter of float32's memory); perturbations act in [0, 1]."""

    def __init__(self, mean, std, channels):
        super().__init__()
        repeat = channels // len(mean)  # MIMO: M images stacked on the channels
        shape = (1, channels, 1, 1)
        self.register_buffer("mean", torch.tensor(mean * repeat).view(shape), persistent=False)
        self.register_buffer("std", torch.tensor(std * repeat).view(shape), persistent=False)

    def forward(self, x):
        return (as_unit_float(x) - self.mean) / self.std


def as_unit_float(x):
    """uint8 images as float32 in [0, 1]; float inputs unchanged."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x


class PadShortcut(nn.Module):
    """He et al.'s option A: subsample by the stride, zero channels appended."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.extra, self.stride = c_out - c_in, stride

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class BasicBlock(nn.Module):
    """Post-activation block: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))."""

    def __init__(self, layers, c_in, c_out, stride, shortcut):
        super().__init__()
        self.conv1 = layers.conv(c_in, c_out, 3, 1, stride=stride, bias=False)
        self.bn1 = layers.norm(c_out)
        self.conv2 = layers.conv(c_out, c_out, 3, 1, bias=False)
        self.bn2 = layers.norm(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            if shortcut == "projection":
                self.shortcut = layers.conv(c_in, c_out, 1, 0, stride=stride)
            else:
                self.shortcut = PadShortcut(c_in, c_out, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class PreActBlock(nn.Module):
    """Pre-activation WRN block: conv(relu(bn(conv(relu(bn(x)))))) + shortcut; the
    projection shortcut sees the pre-activated input."""

    def __init__(self, layers, c_in, c_out, stride, shortcut=None):
        super().__init__()
        self.bn1 = layers.norm(c_in)
        self.conv1 = layers.conv(c_in, c_out, 3, 1, stride=stride, bias=False)
        self.bn2 = layers.norm(c_out)
        self.conv2 = layers.conv(c_out, c_out, 3, 1, bias=False)
        self.project = None
        if stride != 1 or c_in != c_out:
            self.project = layers.conv(c_in, c_out, 1, 0, stride=stride, bias=False)

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return out + (x if self.project is None else self.project(pre))


class Classifier(nn.Module):
    """(BN + ReLU for pre-activation nets,) global average pooling, linear layer."""

    def __init__(self, layers, channels, num_classes, preact):
        super().__init__()
        self.norm = layers.norm(channels) if preact else None
        self.fc = layers.linear(channels, num_classes)

    def forward(self, x):
        if self.norm is not None:
            x = F.relu(self.norm(x))
        return self.fc(x.mean(dim=(2, 3)))


def resnet(spec, layers=PlainLayers):
    """The ``nn.Sequential`` of a ``resnet`` / ``wrn`` spec (see module docstring)."""
    arch, preact = spec["arch"], spec["arch"] == "wrn"
    n = residual_blocks(arch, spec["depth"])
    widths = [16 * spec["width"] * 2**i for i in range(3)] if preact else [
        spec["width"] * 2**i for i in range(3)
    ]  # fmt: skip
    c_in = spec["input_shape"][0]
    stem = [layers.conv(c_in, 16, 3, 1, bias=False)]
    if not preact:
        stem += [layers.norm(16), nn.ReLU()]
    net = [ImageInput(spec["mean"], spec["std"], c_in), nn.Sequential(*stem)]
    block = PreActBlock if preact else BasicBlock
    c = 16
    for stage, width in enumerate(widths):
        for i in range(n):
            stride = 2 if stage > 0 and i == 0 else 1
            net.append(block(layers, c, width, stride, spec.get("shortcut", "identity")))
            c = width
    net.append(Classifier(layers, c, spec["num_classes"], preact))
    model = nn.Sequential(*net)
    init_weights(model)
    return model


def init_weights(model):
    """Kaiming-normal convolutions (fan_out, ReLU) and BatchNorm at (1, 0), as giung2 and
    torchvision initialise ResNets; BatchEnsemble factors keep their own init."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d) or (
            hasattr(module, "alpha_be") and module.weight.dim() == 4
        ):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def resnet_spec(cfg, input_shape, num_classes, mean, std):
    """Spec of a ResNet teacher from the config's ``teacher`` block."""
    default_width = 16 if cfg["arch"] == "resnet" else 10
    spec = {
        "arch": cfg["arch"],
        "depth": cfg["depth"],
        "width": cfg.get("width") or default_width,
        "input_shape": list(input_shape),
        "num_classes": num_classes,
        "mean": list(mean),
        "std": list(std),
    }
    if cfg["arch"] == "resnet":
        spec["shortcut"] = cfg.get("shortcut", "identity")
    residual_blocks(spec["arch"], spec["depth"])  # fail early on a bad depth
    return spec
