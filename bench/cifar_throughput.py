"""CIFAR throughput of the pipeline's own code paths: teacher training, distillation (plain
KD and with ODS) and evaluation, in images per second, on random uint8 CIFAR-shaped data.

Usage::

    python bench/cifar_throughput.py                       # CPU: ResNet-20, few steps
    python bench/cifar_throughput.py --device cuda --amp bf16 --channels-last [--compile]
    python bench/cifar_throughput.py --arch resnet --depth 32 --members 4 --batch 128

Teacher training runs ``train.fit`` (augmentation on the device, the configured autocast
and memory layout) for two epochs of ``--images`` images and reports the second (the first
pays start-up and compilation). Distillation runs ``distill.distill_split`` with a
BatchEnsemble student learning one-to-one from ``--members`` teachers, the teachers asked
on every (augmented, perturbed) batch; images/s counts new training images (each seen by
all members). Evaluation times ``predict.predict_outputs`` of one teacher. Prints the
hardware beside the figures.
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
from ensemble_distill.train import fit  # noqa: E402


def hardware(device):
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def epoch_rate(lines):
    """examples/s of the last epoch line that fit logged."""
    rates = [float(m.group(1)) for line in lines if (m := re.search(r"(\d+) examples/s", line))]
    return rates[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--arch", default="resnet", choices=["resnet", "wrn"])
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--images", type=int, default=2048, help="training images per epoch")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--members", type=int, default=4)
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
    cfg = {"arch": args.arch, "depth": args.depth, "width": args.width}
    spec = teacher_spec(cfg, (3, 32, 32), 10, input_stats("cifar10"))
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.images, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (args.images,), generator=g)
    x, y = x.to(device), y.to(device)
    train = {
        "epochs": 2,
        "batch_size": args.batch,
        "lr": 0.1,
        "weight_decay": 5e-4,
        "optimizer": "sgd",
        "augment": {"crop": 4, "flip": True},
        "amp": args.amp,
        "channels_last": args.channels_last,
        "compile": args.compile,
    }
    name = f"{args.arch}-{args.depth}" + (f"-{args.width}" if args.width else "")
    print(f"{name} on {hardware(device)}; batch {args.batch}, amp {args.amp}, "
          f"channels_last {args.channels_last}, compile {args.compile}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        if "teacher" not in args.skip:
            torch.manual_seed(0)
            model = build_model(spec).to(device)
            lines = []
            fit(model, lambda m, xb, yb: torch.nn.functional.cross_entropy(m(xb)[:, 0], yb),
                (x, y), None, seed=0, resume=f"{tmp}/teacher.pt", fingerprint="bench",
                log=lines.append, **train)  # fmt: skip
            print(f"teacher training: {epoch_rate(lines):,.0f} images/s")
        teachers = Members([build_model(spec)[0] for _ in range(args.members)]).to(device).eval()
        teachers.requires_grad_(False)
        if "distill" not in args.skip:
            for kind in ("none", "ods"):
                student = {
                    "method": "batchensemble",
                    "temperature": 4.0,
                    "alpha": 0.9,
                    "perturbation": {"kind": kind, "step": 1 / 255},
                    "train": train,
                }
                lines = []
                run = partial(fit, fingerprint=kind, log=lines.append)

                distill_split(student, "classification", teachers, spec, (x, y), None, 0, run,
                              Path(tmp) / kind, (0.0, 1.0))  # fmt: skip
                print(f"BE-{args.members} distillation, perturbation {kind}: "
                      f"{epoch_rate(lines):,.0f} images/s")  # fmt: skip
        if "eval" not in args.skip:
            one = teachers[0]
            net = Members([one]).eval()
            predict_outputs(net, x[:1024], "categorical", device)  # warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            tic = time.perf_counter()
            predict_outputs(net, x, "categorical", device, batch_size=1024)
            if device.type == "cuda":
                torch.cuda.synchronize()
            print(
                f"evaluation (one network, float32): {len(x) / (time.perf_counter() - tic):,.0f} "
                "images/s"
            )


if __name__ == "__main__":
    main()
