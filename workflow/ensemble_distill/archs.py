"""Architecture facts without torch: ResNet depths, what a Hydra head copies, and how a
teacher spec splits into a Hydra body and head (the config check and the method registry
ask them)."""

RESNET_ARCHS = ("resnet", "wrn")  # models/resnet.py: ResNet-v1 (6n + 2), WideResNet (6n + 4)


def residual_blocks(arch, depth):
    """Residual blocks per stage (three stages): ResNet-v1 has depth 6n + 2, a WRN 6n + 4."""
    extra = 2 if arch == "resnet" else 4
    if depth < 6 + extra or (depth - extra) % 6:
        raise ValueError(f"{arch} depth must be 6n + {extra} with n >= 1, found {depth}")
    return (depth - extra) // 6


def teacher_layers(teacher):
    """What a Hydra head copies the last k of: linear layers (MLP, CNN) or residual blocks."""
    if teacher["arch"] in RESNET_ARCHS:
        return 3 * residual_blocks(teacher["arch"], teacher["depth"])
    return len(teacher["hidden"]) + 1


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
