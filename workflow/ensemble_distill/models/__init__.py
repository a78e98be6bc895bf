"""Networks. Every evaluated model maps inputs (B, ...) to outputs (B, K, C): K members or
heads, so prediction and metrics never learn about a new architecture.

A checkpoint stores a JSON-able ``spec`` next to its state dict, so ``build_model(spec)``
rebuilds the network without the experiment config. Specs:

* ``{"arch": "mlp", "sizes": [in, h1, ..., C]}``: an MLP (a teacher, or a KD student).
* ``{"arch": "cnn", "input_shape": [c, h, w], "channels": [6, 16], "sizes": [f, ..., C]}``:
  LeNet-5-style conv stages, then an MLP on the f flattened features.
* either of these plus ``"batchensemble": {"members": M, "init": {...}}``: the same network
  of BatchEnsemble layers with M members; or plus ``"mimo": M``: a MIMO network.
* ``{"arch": "resnet" | "wrn", "depth": ..., "width": ..., ...}``: a CIFAR ResNet-v1 or a
  WideResNet (models/resnet.py); also with ``batchensemble`` or ``mimo``.
* ``{"arch": "hydra", "body": <mlp/cnn spec>, "head": [d, ..., C], "heads": M}``: a shared
  body (its last layer followed by ReLU) with M MLP heads; with a ResNet body,
  ``"head_blocks": k``: each head is the last k residual blocks and the classifier.
"""

import json

from torch import nn

from ..archs import hydra_spec
from .ensembles import MIMO, BatchEnsemble, widen_for_mimo
from .hydra import Hydra
from .layers import BELayers, is_factor
from .members import Members
from .mlp import mlp_layers, network, network_spec
from .resnet import RESNET_ARCHS, resnet, resnet_spec

__all__ = [
    "TASK_OUTPUT",
    "BatchEnsemble",
    "Hydra",
    "MIMO",
    "Members",
    "build_model",
    "count_parameters",
    "hydra_spec",
    "is_factor",
    "load_members",
    "load_model",
    "mlp_layers",
    "network_spec",
    "teacher_sizes",
    "teacher_spec",
]

# What a model's last layer predicts, by task (stored as the checkpoint's ``output``).
TASK_OUTPUT = {"classification": "categorical", "regression": "gaussian"}


def teacher_sizes(input_shape, hidden, num_classes):
    return network_spec("mlp", input_shape, hidden, num_classes)["sizes"]


def teacher_spec(cfg, input_shape, num_classes, input_stats=None):
    """Spec of a teacher network from the config's ``teacher`` block; ``input_stats``
    (mean, std per channel) standardises images inside ResNets."""
    if cfg["arch"] in RESNET_ARCHS:
        mean, std = input_stats or ([0.0] * input_shape[0], [1.0] * input_shape[0])
        return resnet_spec(cfg, input_shape, num_classes, mean, std)
    return network_spec(
        cfg["arch"], input_shape, cfg["hidden"], num_classes, channels=cfg.get("channels", ())
    )


def build_hydra(spec):
    body = spec["body"]
    body = {"arch": "mlp", "sizes": body} if isinstance(body, list) else body
    if body["arch"] in RESNET_ARCHS:  # a slice of the whole ResNet: body | k blocks + classifier
        net, k = resnet(body), spec["head_blocks"]
        model = Hydra(net[: -(k + 1)], net[-(k + 1) :])
    else:
        body = network(body, final_activation=True)  # built before the head: the init order
        model = Hydra(body, nn.Sequential(*mlp_layers(spec["head"])))
    model.grow(spec["heads"])
    return model


# The plain network of each feed-forward architecture, from a spec and a layer factory.
NETWORKS = {"mlp": network, "cnn": network, "resnet": resnet, "wrn": resnet}


def build_network(spec):
    make = NETWORKS[spec["arch"]]
    if "batchensemble" in spec:
        be = spec["batchensemble"]
        net = make(spec, layers=BELayers(be["members"], be["init"]))
        return BatchEnsemble(net, be["members"])
    if "mimo" in spec:
        return MIMO(make(widen_for_mimo(spec, spec["mimo"])), spec["mimo"])
    return Members([make(spec)])


# One builder per architecture: a new architecture is one more entry.
ARCHS = {**dict.fromkeys(NETWORKS, build_network), "hydra": build_hydra}


def build_model(spec):
    """Instantiate the network described by ``spec`` (see module docstring)."""
    try:
        return ARCHS[spec["arch"]](spec)
    except KeyError:
        raise ValueError(f"unknown architecture '{spec['arch']}'") from None


def load_model(checkpoint, split=0):
    """Rebuild the model of one data split from a checkpoint dict, in eval mode.

    A checkpoint holds ``spec`` and ``state_dicts``: one per data split (regression
    benchmarks train a network per split; classification has a single split).
    """
    model = build_model(checkpoint["spec"])
    model.load_state_dict(checkpoint["state_dicts"][split])
    return model.eval()


def load_members(checkpoints, split=0):
    """Teacher checkpoints (each a one-member network) as one frozen, batched ``Members``
    whose output is (B, M, C). Their architectures must match."""
    specs = {json.dumps(c["spec"], sort_keys=True) for c in checkpoints}
    if len(specs) != 1:
        raise ValueError(f"the members have different architectures: {sorted(specs)}")
    members = Members([load_model(c, split)[0] for c in checkpoints])
    return members.requires_grad_(False).eval()


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())
