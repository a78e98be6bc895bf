"""Feed-forward networks: an MLP, and a LeNet-5-style CNN (conv trunk + MLP classifier).

Both are built from a layer factory (``layers.PlainLayers`` or ``layers.BELayers``), so
the same code gives the plain and the BatchEnsemble version.
"""

import math
from functools import partial
from itertools import chain

import torch
from torch import nn
from torch.func import functional_call, vmap

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


class Members(nn.ModuleList):
    """Independent networks of the same shape; outputs stacked to (B, K, C).

    The K members run as one batched computation (torch.func): their parameters are
    stacked along a new first axis and the first member's network is vmapped over them,
    instead of a Python loop over K networks. Each member keeps its own module, so state
    dicts (and checkpoints) are those of K separate networks, and an optimiser updates each
    member's parameters exactly as if it were trained alone.
    """

    def forward(self, x):  # (B, ...) -> (B, K, C): every member sees x
        return self._batched(x, None).transpose(0, 1)

    def forward_each(self, xs):  # (K, B, ...) -> (K, B, C): member k sees xs[k]
        return self._batched(xs, 0)

    def map(self, fn, *inputs):
        """``fn(network, *inputs_k)`` for every member k as one batched call; ``network`` is
        member k as a callable and each input has a leading member axis. A pack of students
        computes each one's loss on its own data this way."""
        if len(self) == 1:
            return fn(self[0], *(x[0] for x in inputs)).unsqueeze(0)
        call = partial(functional_call, self[0])
        one = lambda state, *xs: fn(lambda *a: call(state, a), *xs)  # noqa: E731
        return vmap(one)(self._stacked_state(), *inputs)

    def _batched(self, x, in_dim):
        if len(self) == 1:  # nothing to batch
            return self[0](x if in_dim is None else x[0]).unsqueeze(0)
        call = partial(functional_call, self[0])
        return vmap(lambda s, xi: call(s, (xi,)), in_dims=(0, in_dim))(self._stacked_state(), x)

    def _stacked_state(self):
        """Stacked parameters and buffers: stacked anew while they are trained (the stack
        passes gradients back to each member), cached while frozen (teachers, inference)."""
        tensors = [dict(chain(m.named_parameters(), m.named_buffers())) for m in self]
        params = [t for m in self for t in m.parameters()]
        # Inside another member's functional call (a pack of Hydras) the parameters are
        # transformed tensors, not this module's own: never cache those.
        stacked_anew = not all(isinstance(p, nn.Parameter) for p in params)
        if stacked_anew or (torch.is_grad_enabled() and any(p.requires_grad for p in params)):
            return {name: torch.stack([t[name] for t in tensors]) for name in tensors[0]}
        key = tuple((id(t), t._version) for member in tensors for t in member.values())
        if getattr(self, "_cache_key", None) != key:
            with torch.no_grad():
                self._cache = {n: torch.stack([t[n] for t in tensors]) for n in tensors[0]}
            self._cache_key = key
        return self._cache
