"""Architecture facts that the config check needs without importing torch."""

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
