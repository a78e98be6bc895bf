"""Networks. Every evaluated model maps inputs (B, ...) to logits (B, K, C): K members or heads.

A checkpoint stores a JSON-able ``spec`` next to its state dict, so ``build_model(spec)``
rebuilds the network without the experiment config. Specs:

* ``{"arch": "mlp", "sizes": [in, h1, ..., C]}``: a plain MLP (a teacher, or a KD student).
* ``{"arch": "hydra", "body": [in, ..., d], "head": [d, ..., C], "heads": M}``: a shared MLP
  body with M MLP heads.
"""

import copy
import math

import torch
from torch import nn

# What a model's last layer predicts, by task (stored as the checkpoint's ``output``).
TASK_OUTPUT = {"classification": "categorical", "regression": "gaussian"}


def mlp_layers(sizes, final_activation=False):
    """Linear layers with ReLU between them (and after the last one if asked)."""
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(nn.Linear(fan_in, fan_out))
        if final_activation or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return layers


class MLP(nn.Sequential):
    def __init__(self, sizes):
        super().__init__(nn.Flatten(), *mlp_layers(sizes))


class Members(nn.ModuleList):
    """Independent networks on the same input; outputs stacked to (B, K, C)."""

    def forward(self, x):
        return torch.stack([member(x) for member in self], dim=1)


class Hydra(nn.Module):
    """Shared body, one head per teacher (Tran et al. 2020). Starts with one Hinton head."""

    def __init__(self, body, head):
        super().__init__()
        self.body = body
        self.heads = Members([head])

    def grow(self, n_heads):
        """Copy the (Hinton) head until there are ``n_heads`` identical heads."""
        while len(self.heads) < n_heads:
            self.heads.append(copy.deepcopy(self.heads[0]))

    def forward(self, x):
        return self.heads(self.body(x))


def teacher_sizes(input_shape, hidden, num_classes):
    return [math.prod(input_shape), *hidden, num_classes]


def hydra_spec(sizes, head_cfg, n_heads):
    """Split a teacher MLP's layer sizes into a Hydra body and head.

    ``{"type": "copy", "layers": k}``: the head is a copy of the teacher's last k layers.
    ``{"type": "mlp", "hidden": [...]}``: the body is the teacher without its classifier
    and the head is an extra MLP with these hidden widths (the paper's MNIST head).
    """
    if head_cfg["type"] == "copy":
        k = head_cfg["layers"]
        body, head = sizes[: len(sizes) - k], sizes[len(sizes) - k - 1 :]
    else:
        body, head = sizes[:-1], [sizes[-2], *head_cfg["hidden"], sizes[-1]]
    return {"arch": "hydra", "body": list(body), "head": list(head), "heads": n_heads}


def build_model(spec):
    """Instantiate the network described by ``spec`` (see module docstring)."""
    if spec["arch"] == "mlp":
        return Members([MLP(spec["sizes"])])
    if spec["arch"] == "hydra":
        body = nn.Sequential(nn.Flatten(), *mlp_layers(spec["body"], final_activation=True))
        model = Hydra(body, nn.Sequential(*mlp_layers(spec["head"])))
        model.grow(spec["heads"])
        return model
    raise ValueError(f"unknown architecture '{spec['arch']}'")


def load_model(checkpoint, split=0):
    """Rebuild the model of one data split from a checkpoint dict, in eval mode.

    A checkpoint holds ``spec`` and ``state_dicts``: one per data split (regression
    benchmarks train a network per split; classification has a single split).
    """
    model = build_model(checkpoint["spec"])
    model.load_state_dict(checkpoint["state_dicts"][split])
    return model.eval()


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())
