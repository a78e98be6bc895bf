"""Hydra (Tran et al. 2020): a shared body with one head per teacher."""

import copy

from torch import nn

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
