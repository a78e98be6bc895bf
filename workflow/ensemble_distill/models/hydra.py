"""Hydra (Tran et al. 2020): a shared body with one head per teacher."""

import copy

from torch import nn

from ..archs import RESNET_ARCHS, teacher_layers
from .mlp import Members


class Hydra(nn.Module):
    """Shared body, one head per teacher. Starts with one Hinton head."""

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


def hydra_spec(teacher, head_cfg, n_heads):
    """Split a teacher's spec (``mlp`` or ``cnn``) into a Hydra body and MLP head.

    ``{"type": "copy", "layers": k}``: the head is a copy of the teacher's last k linear
    layers. ``{"type": "mlp", "hidden": [...]}``: the body is the teacher without its
    classifier and the head is an extra MLP with these hidden widths (the paper's MNIST head).
    """
    if isinstance(teacher, list):  # older callers pass MLP layer sizes
        teacher = {"arch": "mlp", "sizes": teacher}
    if teacher["arch"] in RESNET_ARCHS:
        return resnet_hydra_spec(teacher, head_cfg, n_heads)
    sizes = teacher["sizes"]
    if head_cfg["type"] == "copy":
        k = head_cfg["layers"]
        if not 1 <= k < len(sizes):
            raise ValueError(f"cannot copy {k} of the teacher's {len(sizes) - 1} linear layers")
        body, head = sizes[: len(sizes) - k], sizes[len(sizes) - k - 1 :]
    else:
        body, head = sizes[:-1], [sizes[-2], *head_cfg["hidden"], sizes[-1]]
    return {"arch": "hydra", "body": {**teacher, "sizes": list(body)}, "head": list(head),
            "heads": n_heads}  # fmt: skip


def resnet_hydra_spec(teacher, head_cfg, n_heads):
    """A ResNet Hydra: each head is a copy of the teacher's last k residual blocks and its
    classifier (the Hydra paper's CIFAR-10 heads: k = 1, and 3 in its Fig. 3)."""
    blocks = teacher_layers(teacher)
    k = head_cfg.get("layers", 1)
    if head_cfg["type"] != "copy" or not 1 <= k < blocks:
        raise ValueError(
            f"a {teacher['arch']} Hydra head copies 1 to {blocks - 1} of the teacher's "
            f"{blocks} residual blocks (head: {{type: copy, layers: k}}), found {head_cfg}"
        )
    return {"arch": "hydra", "body": dict(teacher), "head_blocks": k, "heads": n_heads}
