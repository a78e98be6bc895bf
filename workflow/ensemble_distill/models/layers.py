"""Plain and BatchEnsemble layers behind one factory interface, so every architecture is
written once and gets its BatchEnsemble version for free.

BatchEnsemble (Wen et al. 2020; giung2 ``Linear_BatchEnsemble`` / ``Conv2d_BatchEnsemble``):
member m computes y_m = γ_m ⊙ W(α_m ⊙ x) + b_m with one shared weight W, rank-one factors
α_m (inputs) and γ_m (outputs) and a per-member bias b_m. The batch is member-major: rows
[m·B, (m+1)·B) belong to member m (the input is tiled M times by ``BatchEnsemble``).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

# Parameter-name suffixes of the rank-one factors: the optimiser gives them their own
# learning-rate multiplier and no weight decay (giung2 SUFFIX_BE, uncertainty-baselines).
FACTOR_SUFFIXES = ("alpha_be", "gamma_be")


def init_factors(tensor, init):
    """``{"type": "normal", "scale": s}``: N(1, s²); ``{"type": "random_sign", "p": p}``:
    +1 with probability p, else −1 (giung2 ``initialize_tensor``, edward2 ``RandomSign``)."""
    with torch.no_grad():
        if init["type"] == "normal":
            tensor.normal_(1.0, init.get("scale", 0.5))
        elif init["type"] == "random_sign":
            tensor.bernoulli_(init.get("p", 0.5)).mul_(2).sub_(1)
        else:
            raise ValueError(f"unknown BatchEnsemble init '{init['type']}'")


class RankOneEnsemble(nn.Module):
    """Shared weight (the plain layer's shape and default init), rank-one factors α (inputs)
    and γ (outputs) and a bias per member."""

    def __init__(self, weight_shape, members, init, bias=True):
        super().__init__()
        self.members = members
        self.weight = nn.Parameter(torch.empty(weight_shape))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear / nn.Conv2d default
        out_features, in_features = weight_shape[:2]
        self.alpha_be = nn.Parameter(torch.empty(members, in_features))
        self.gamma_be = nn.Parameter(torch.empty(members, out_features))
        # No bias where a BatchNorm follows (ResNets), as in the plain layer.
        self.register_parameter(
            "bias", nn.Parameter(torch.zeros(members, out_features)) if bias else None
        )
        init_factors(self.alpha_be, init)
        init_factors(self.gamma_be, init)


class BELinear(RankOneEnsemble):
    def __init__(self, in_features, out_features, members, init):
        super().__init__((out_features, in_features), members, init)

    def forward(self, x):  # (M·B, in) -> (M·B, out)
        x = x.view(self.members, -1, x.shape[-1]) * self.alpha_be[:, None]
        y = F.linear(x, self.weight) * self.gamma_be[:, None] + self.bias[:, None]
        return y.reshape(-1, y.shape[-1])


class BEConv2d(RankOneEnsemble):
    def __init__(self, in_channels, out_channels, kernel_size, members, init, padding=0,
                 stride=1, bias=True):  # fmt: skip
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        super().__init__(shape, members, init, bias=bias)
        self.padding, self.stride = padding, stride

    def forward(self, x):  # (M·B, C_in, H, W) -> (M·B, C_out, H', W')
        m, (c, h, w) = self.members, x.shape[1:]
        x = (x.view(m, -1, c, h, w) * self.alpha_be[:, None, :, None, None]).flatten(0, 1)
        y = F.conv2d(x, self.weight, stride=self.stride, padding=self.padding)
        y = y.view(m, -1, *y.shape[1:]) * self.gamma_be[:, None, :, None, None]
        if self.bias is not None:
            y = y + self.bias[:, None, :, None, None]
        return y.flatten(0, 1)


class PlainLayers:
    """The factory of ordinary layers."""

    @staticmethod
    def linear(fan_in, fan_out):
        return nn.Linear(fan_in, fan_out)

    @staticmethod
    def conv(c_in, c_out, kernel_size, padding, stride=1, bias=True):
        return nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=bias)

    @staticmethod
    def norm(channels):
        return nn.BatchNorm2d(channels)


class BELayers:
    """The factory of BatchEnsemble layers with ``members`` members."""

    def __init__(self, members, init):
        self.members, self.init = members, init

    def linear(self, fan_in, fan_out):
        return BELinear(fan_in, fan_out, self.members, self.init)

    def conv(self, c_in, c_out, kernel_size, padding, stride=1, bias=True):
        return BEConv2d(c_in, c_out, kernel_size, self.members, self.init, padding=padding,
                        stride=stride, bias=bias)  # fmt: skip

    @staticmethod
    def norm(channels):
        # Shared across members, over the whole tiled batch (giung2's plain BatchNorm2d).
        return nn.BatchNorm2d(channels)


def is_factor(name):
    return name.endswith(FACTOR_SUFFIXES)
