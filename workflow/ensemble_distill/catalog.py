"""Dataset facts, torch-free: task, image shape, input range, standardisation, and which
eval-set kinds apply. The config check, the plan and the jobs ask this module; adding a
dataset is its loader (``datasets.LOADERS``) plus one entry in ``DATASETS``."""

from dataclasses import dataclass

LABELLED = frozenset({"test", "validation", "ood"})  # every classification dataset
IMAGE = LABELLED | {"rotate", "translate"}


@dataclass(frozen=True)
class DatasetFacts:
    task: str = "classification"  # or "regression" (Gaussian outputs)
    image_shape: tuple | None = None  # (C, H, W) of an image dataset
    bounds: tuple | None = None  # valid input range; perturbed inputs are clipped to it
    stats: tuple | None = None  # per-channel (mean, std) a network standardises inputs with
    eval_kinds: frozenset = LABELLED  # eval-set kinds that apply
    classes: int | None = None  # number of classes, where fixed by the dataset

    @property
    def rgb(self):
        return self.image_shape is not None and self.image_shape[0] == 3


def image(shape, classes, stats=None, extra=frozenset()):
    """An image dataset: inputs compared in [0, 1] (uint8 ones too, as they are perturbed)."""
    return DatasetFacts(image_shape=shape, bounds=(0.0, 1.0), stats=stats,
                        eval_kinds=IMAGE | extra, classes=classes)  # fmt: skip


# Channel statistics of the CIFAR training splits (the values giung2 and torchvision use).
CIFAR10_STATS = ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616])
CIFAR100_STATS = ([0.5071, 0.4865, 0.4409], [0.2673, 0.2564, 0.2762])

# Tiny ImageNet's training-set channel statistics as its baselines use them (not recomputed
# here: the data cannot be downloaded on these machines).
TINYIMAGENET_STATS = ([0.4802, 0.4481, 0.3975], [0.2302, 0.2265, 0.2262])

DATASETS = {
    "spiral": DatasetFacts(eval_kinds=LABELLED | {"grid"}),  # 2-D inputs
    "toy_regression": DatasetFacts(task="regression", eval_kinds=frozenset({"test", "grid"})),
    "uci": DatasetFacts(task="regression", eval_kinds=frozenset({"test"})),
    "digits": image((1, 8, 8), 10),
    "mnist": image((1, 28, 28), 10),
    "fashion_mnist": image((1, 28, 28), 10),
    "cifar10": image((3, 32, 32), 10, CIFAR10_STATS, frozenset({"corrupt"})),
    "cifar100": image((3, 32, 32), 100, CIFAR100_STATS, frozenset({"corrupt"})),
    "tinyimagenet": image((3, 64, 64), 200, TINYIMAGENET_STATS),
}


def facts(name):
    return DATASETS[name]


def datasets_with(kind):
    """Names of the datasets an eval-set kind applies to (for error messages)."""
    return sorted(name for name, f in DATASETS.items() if kind in f.eval_kinds)


def input_and_classes(spec):
    """(input shape, number of classes) of a config ``dataset`` block where they are known
    without reading the data; None for what is not (UCI's feature count, regression)."""
    if spec["name"] == "spiral":
        return (2,), spec.get("arms", 3)
    found = DATASETS[spec["name"]]
    return found.image_shape, found.classes


def is_regression(name):
    return DATASETS[name].task == "regression"


def input_bounds(name):
    return DATASETS[name].bounds if name in DATASETS else None


def input_stats(name):
    """(mean, std) per channel that networks standardise this dataset's images with, or
    None (MLPs and LeNets see raw inputs)."""
    return DATASETS[name].stats if name in DATASETS else None
