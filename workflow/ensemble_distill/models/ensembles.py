"""Multi-member students that share one network: BatchEnsemble and MIMO. Both map (B, ...)
to (B, M, C) like an ensemble of M networks."""

from torch import nn


class BatchEnsemble(nn.Module):
    """A network of BatchEnsemble layers with M members; the input is tiled M times,
    member-major (giung2 / uncertainty-baselines layout: every member sees the same batch)."""

    def __init__(self, net, members):
        super().__init__()
        self.net, self.members = net, members

    def forward(self, x):  # (B, ...) -> (B, M, C)
        b = x.shape[0]
        out = self.net(x.repeat(self.members, *[1] * (x.dim() - 1)))  # (M·B, C)
        return out.view(self.members, b, -1).transpose(0, 1)


class MIMO(nn.Module):
    """Multi-input multi-output (Havasi et al. 2021): M inputs concatenated along the
    channels (an MLP sees M·D features), M·C outputs split into M heads. In training each
    slot gets its own examples (``forward_slots``); at test time all slots see the same x."""

    def __init__(self, net, members):
        super().__init__()
        self.net, self.members = net, members

    def forward(self, x):  # (B, ...) -> (B, M, C)
        return self.forward_slots(x.unsqueeze(1).expand(-1, self.members, *x.shape[1:]))

    def forward_slots(self, xs):  # (B, M, ...) -> (B, M, C): slot m predicts with head m
        b = xs.shape[0]
        joined = xs.flatten(1, 2) if xs.dim() > 3 else xs.flatten(1)  # (B, M·c, H, W) / (B, M·D)
        return self.net(joined).view(b, self.members, -1)


def widen_for_mimo(spec, members):
    """The spec of the inner network of a MIMO model: M times the inputs and outputs."""
    if "num_classes" in spec:  # ResNets: M images on the channels, M·C outputs
        shape = spec["input_shape"]
        return {**spec, "input_shape": [shape[0] * members, *shape[1:]],
                "num_classes": spec["num_classes"] * members}  # fmt: skip
    inner = {**spec, "sizes": list(spec["sizes"])}
    inner["sizes"][-1] *= members
    if spec["arch"] == "cnn":
        inner["input_shape"] = [spec["input_shape"][0] * members, *spec["input_shape"][1:]]
    else:
        inner["sizes"][0] *= members
    return inner
