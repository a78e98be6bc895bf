"""Hydra (Tran et al. 2020): a shared body with one head per teacher."""

import copy

from torch import nn

from .members import Members


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
