"""CIFAR throughput of the pipeline's own code paths: teacher training, distillation (plain
KD and with ODS) and evaluation, in images per second, on random uint8 CIFAR-shaped data.

Usage::

    python bench/cifar_throughput.py                       # CPU: ResNet-20, few steps
    python bench/cifar_throughput.py --device cuda --amp bf16 --channels-last [--compile]
    python bench/cifar_throughput.py --arch resnet --depth 32 --members 4 --batch 128

Teacher training runs ``train.fit`` on a pack of ``--pack`` networks as the teacher job
does (augmentation on the device, the configured autocast and memory layout) for two
epochs of ``--images`` images and reports the second (the first pays start-up and
compilation); a pack's images/s count every member's. Distillation runs
``distill.distill_split`` with a BatchEnsemble student learning one-to-one from
``--members`` teachers, the teachers asked on every (augmented, perturbed) batch; images/s
counts new training images (each seen by all members). Evaluation times
``predict.predict_outputs`` of ``--members`` teachers, in images per second per network.
bench/gpu_acceptance.py builds on these functions. Prints the hardware beside the figures.
"""

import argparse
import platform
import re
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow"))

from ensemble_distill.catalog import input_stats  # noqa: E402
from ensemble_distill.distill import distill_split  # noqa: E402
from ensemble_distill.models import Members, build_model, teacher_spec  # noqa: E402
from ensemble_distill.predict import predict_outputs  # noqa: E402
from ensemble_distill.teacher import OBJECTIVES  # noqa: E402
from ensemble_distill.train import fit  # noqa: E402


def hardware(device):
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def epoch_rate(lines):
    """examples/s of the last epoch line that fit logged."""
    rates = [float(m.group(1)) for line in lines if (m := re.search(r"(\d+) examples/s", line))]
    return rates[-1]


def cifar_spec(arch="resnet", depth=20, width=None, classes=10):
    cfg = {"arch": arch, "depth": depth, "width": width}
    return teacher_spec(cfg, (3, 32, 32), classes, input_stats("cifar10"))


def random_images(n, device, classes=10, seed=0):
    """(uint8 images (n, 3, 32, 32), labels (n,)) on ``device``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    return x.to(device), torch.randint(0, classes, (n,), generator=g).to(device)


def train_settings(batch, amp="none", channels_last=False, compile=False, epochs=2):
    """A CIFAR training block (the configs' SGD, crop and flip) with the GPU settings."""
    return {"epochs": epochs, "batch_size": batch, "lr": 0.1, "weight_decay": 5e-4,
            "optimizer": "sgd", "augment": {"crop": 4, "flip": True}, "amp": amp,
            "channels_last": channels_last, "compile": compile}  # fmt: skip


def teacher_rate(spec, data, train, folder, pack=1):
    """Images/s (summed over the pack's members) of the last epoch of a teacher pack
    trained as ``teacher.train_teachers`` trains it."""
    x, y = data
    torch.manual_seed(0)
    nets = Members([build_model(spec)[0] for _ in range(pack)]).to(x.device)
    lines = []
    fit(nets, lambda m, xb, yb: OBJECTIVES["classification"](m.forward_each(xb), yb),
        (x.expand(pack, *x.shape), y.expand(pack, *y.shape)), None, seed=list(range(pack)),
        resume=Path(tempfile.mkdtemp(dir=folder)) / "teachers.pt", fingerprint="bench",
        log=lambda line, r=None: lines.append(line), **train)  # fmt: skip
    return epoch_rate(lines)


def frozen_teachers(spec, count, device):
    teachers = Members([build_model(spec)[0] for _ in range(count)]).to(device).eval()
    return teachers.requires_grad_(False)


def distill_rate(spec, teachers, data, train, folder, kind="none"):
    """Images/s of the last epoch of a BatchEnsemble student distilled one-to-one from
    ``teachers`` with perturbation ``kind`` (none, gaussian, ods, confods)."""
    student = {"method": "batchensemble", "temperature": 4.0, "alpha": 0.9,
               "perturbation": {"kind": kind, "step": 1 / 255}, "train": train}  # fmt: skip
    lines = []
    run = partial(fit, fingerprint=kind, log=lines.append)
    distill_split(student, "classification", teachers, spec, data, None, 0, run,
                  Path(tempfile.mkdtemp(dir=folder)), (0.0, 1.0))  # fmt: skip
    return epoch_rate(lines)


def eval_rate(teachers, x, device, batch_size=1024):
    """Images/s per network of ``predict.predict_outputs`` over ``x`` (float32)."""
    predict_outputs(teachers, x[:batch_size], "categorical", device)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    tic = time.perf_counter()
    predict_outputs(teachers, x, "categorical", device, batch_size=batch_size)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(x) * len(teachers) / (time.perf_counter() - tic)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--arch", default="resnet", choices=["resnet", "wrn"])
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--images", type=int, default=2048, help="training images per epoch")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--members", type=int, default=4, help="teachers of the student")
    parser.add_argument("--pack", type=int, default=1, help="teachers trained in one job")
    parser.add_argument("--amp", default="none", choices=["none", "bf16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=["teacher", "distill", "eval"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    spec = cifar_spec(args.arch, args.depth, args.width)
    data = random_images(args.images, device)
    train = train_settings(args.batch, args.amp, args.channels_last, args.compile)
    name = f"{args.arch}-{args.depth}" + (f"-{args.width}" if args.width else "")
    print(f"{name} on {hardware(device)}; batch {args.batch}, amp {args.amp}, "
          f"channels_last {args.channels_last}, compile {args.compile}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        if "teacher" not in args.skip:
            rate = teacher_rate(spec, data, train, tmp, args.pack)
            print(f"teacher training, pack of {args.pack}: {rate:,.0f} images/s")
        teachers = frozen_teachers(spec, args.members, device)
        if "distill" not in args.skip:
            for kind in ("none", "ods"):
                rate = distill_rate(spec, teachers, data, train, tmp, kind)
                print(f"BE-{args.members} distillation, perturbation {kind}: {rate:,.0f} images/s")
        if "eval" not in args.skip:
            rate = eval_rate(teachers, data[0], device)
            print(f"evaluation (float32): {rate:,.0f} images/s per network")


if __name__ == "__main__":
    main()
