"""Stand-in CIFAR-10 / CIFAR-100 / SVHN / Tiny ImageNet files in the official formats, and
paper configs shrunk to run on them: the tests' data, and the GPU acceptance check's
(bench/gpu_acceptance.py) on machines that hold no dataset. Images are a per-class colour
plus noise, so that networks learn something; nothing here is a real image.

Shrinking keeps every student and eval-set kind, two corruption types at two severities,
one epoch and three teachers (two or three per student); ``networks="tiny"`` also makes the
networks tiny (tests on CPU), ``"real"`` keeps the paper's (device checks).
"""

import copy
import pickle
from pathlib import Path

import numpy as np
import yaml


def images(rng, labels, classes):
    """uint8 (N, 3, 32, 32): a per-class colour plus noise, so that nets learn something."""
    colours = rng.integers(40, 216, size=(classes, 3, 1, 1))
    noise = rng.normal(0, 30, size=(len(labels), 3, 32, 32))
    return np.clip(colours[labels] + noise, 0, 255).astype(np.uint8)


def write_pickle(path, labels, data, label_key):
    batch = {
        b"batch_label": b"stand-in",
        label_key.encode(): list(map(int, labels)),
        b"data": data.reshape(len(data), -1),
        b"filenames": [b"x.png"] * len(data),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def write_standin_data(root, per_batch=60, test=40, svhn=30, seed=0):
    """CIFAR-10 (5 training batches + test batch), CIFAR-100 (train/test), SVHN's test
    .mat, as the official files lay them out under ``root``. Returns the labels written."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    written = {}
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        labels = rng.integers(0, 10, size=test if name == "test_batch" else per_batch)
        write_pickle(root / "cifar-10-batches-py" / name, labels, images(rng, labels, 10), "labels")
        written[("cifar10", name)] = labels
    for name, n in (("train", 5 * per_batch), ("test", test)):
        labels = rng.integers(0, 100, size=n)
        write_pickle(root / "cifar-100-python" / name, labels, images(rng, labels, 100),
                     "fine_labels")  # fmt: skip
        written[("cifar100", name)] = labels
    digits = rng.integers(1, 11, size=svhn)  # SVHN labels 1..10 (10 is digit 0)
    x = images(rng, digits - 1, 10).transpose(2, 3, 1, 0)  # (32, 32, 3, N) as in the .mat
    (root / "svhn").mkdir(parents=True, exist_ok=True)
    savemat(root / "svhn" / "test_32x32.mat", {"X": x, "y": digits[:, None]})
    return written


def shrink(experiment, networks="tiny", train=96, val=32):
    """A paper experiment at stand-in size (module docstring): ``train`` and ``val``
    images, one epoch; ``networks="tiny"`` also shrinks the networks and turns the GPU
    settings (bf16, channels_last) off."""
    exp = copy.deepcopy(experiment)
    exp["dataset"] = {**exp["dataset"], "verify": False, "subset": {"train": train, "val": val}}
    teacher = exp["teacher"]
    small = {"epochs": 1}
    if networks == "tiny":
        teacher["depth"], teacher["width"] = (8, 4) if teacher["arch"] == "resnet" else (10, 1)
        small.update(batch_size=32, amp="none", channels_last=False)

    def shrink_train(train):
        train = {**train, **small}
        for key in ("milestones", "lr_steps", "checkpoint_interval"):
            train.pop(key, None)
        if train.get("schedule") == "multistep":  # one epoch: a step at epoch 0
            train["lr_steps"] = [[0, 1.0]]
        if train.get("schedule") == "warmup_linear_decay":  # one epoch: the first, warm-up
            train["milestones"] = [1, 1, 1]  # epoch (lr x 0.01); the full rate diverges here
        return train

    teacher["train"] = shrink_train(teacher["train"])
    exp["ensemble"] = {"size": 3, "pack": 3}
    exp["distill_seeds"] = [0]
    for student in exp["students"].values():
        if "train" not in student:
            continue  # LatentBE: no training
        student["train"] = shrink_train(student["train"])
        if "teachers" in student:
            student["teachers"] = min(student["teachers"], 2 if student["teachers"] < 8 else 3)
        for key in ("hinton_epochs", "kd_epochs"):
            if key in student:
                student[key] = 1
        if "network" in student and networks == "tiny":
            student["network"] = {"width": 2}
        if student.get("head", {}).get("layers", 1) > 1 and networks == "tiny":
            student["head"] = {"type": "copy", "layers": 2}
    corrupt = [name for name, s in exp["eval_sets"].items() if s["kind"] == "corrupt"]
    for name in corrupt[2:]:  # two corruption types, two severities
        del exp["eval_sets"][name]
    for name in corrupt[:2]:
        exp["eval_sets"][name]["severities"] = [1, 5]
    for spec in exp["eval_sets"].values():
        if spec["kind"] == "translate":
            spec["intensities"] = [0, 4]
        if spec["kind"] == "ood":
            spec["size"], spec["verify"] = 20, False
    return exp


def mark_unverified(config):
    """Turn off, in place, the checksum checks that stand-in files cannot pass: each
    experiment's dataset and its file-based OOD sets (SVHN). Returns ``config``."""
    for exp in config["experiments"].values():
        exp["dataset"]["verify"] = False
        for spec in exp["eval_sets"].values():
            if spec.get("source") == "svhn":
                spec["verify"] = False
    return config


# A representative subset of each CIFAR config's students for end-to-end runs: every
# method, every perturbation kind, 1- and 2-block Hydra heads, BE-4 and BE-3 from 3
# teachers, a narrower WRN student, MIMO (the configs' dry runs cover every student).
REPRESENTATIVE_STUDENTS = {
    "hydra-cifar10.yaml": ["kd", "end2", "hydra3"],
    "dm-cifar10.yaml": ["be4_scratch", "be4_gauss", "be8_confods"],
    "dm-cifar100.yaml": ["wrn2_ods", "mimo3_ods"],
}


def shrunk_config(config_path, data_root, students=None, device="cpu", **sizes):
    """The paper config at ``config_path`` shrunk (:func:`shrink` with ``sizes``;
    ``students``: keep only these), as a config dict for a workflow's config.yaml."""
    config = yaml.safe_load(Path(config_path).read_text())
    run = config["run"]
    experiments = {name: shrink(config["experiments"][name], **sizes) for name in run}
    if students is not None:
        for exp in experiments.values():
            exp["students"] = {k: v for k, v in exp["students"].items() if k in students}
    return {"run": run, "device": device, "data_root": str(data_root),
            "experiments": experiments}  # fmt: skip


def write_tinyimagenet_standin(root, classes=5, per_class=12, test=20, seed=0, archive=False):
    """Tiny ImageNet's layout (wnids.txt, train/<wnid>/images/<wnid>_<i>.JPEG, val/images +
    val_annotations.txt) with 64x64 JPEGs of a per-class colour; also zipped as the
    official archive with ``archive``. Returns the sorted wnids and the test labels."""
    import zipfile

    from PIL import Image

    rng = np.random.default_rng(seed)
    folder = root / "tiny-imagenet-200"
    wnids = [f"n{1000 + 7 * k:08d}" for k in range(classes)][::-1]  # not in sorted order
    colours = rng.integers(40, 216, size=(classes, 3))

    def jpeg(path, label):
        path.parent.mkdir(parents=True, exist_ok=True)
        noise = rng.normal(0, 20, size=(64, 64, 3))
        pixels = np.clip(colours[label] + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, quality=95)

    (folder).mkdir(parents=True, exist_ok=True)
    (folder / "wnids.txt").write_text("".join(f"{w}\n" for w in wnids))
    for label, wnid in enumerate(wnids):
        for i in range(per_class):
            jpeg(folder / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", label)
        (folder / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    labels = rng.integers(0, classes, size=test)
    lines = []
    for i, label in enumerate(labels):
        jpeg(folder / "val" / "images" / f"val_{i}.JPEG", label)
        lines.append(f"val_{i}.JPEG\t{wnids[label]}\t0\t0\t63\t63\n")
    (folder / "val" / "val_annotations.txt").write_text("".join(lines))
    if archive:
        with zipfile.ZipFile(root / "tiny-imagenet-200.zip", "w") as zf:
            for path in sorted(folder.rglob("*")):
                zf.write(path, path.relative_to(root))
    return sorted(wnids), [sorted(wnids).index(wnids[k]) for k in labels]
