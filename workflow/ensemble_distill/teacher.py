"""Train one ensemble member (teacher) with cross-entropy.

Usage::

    python -m ensemble_distill.teacher --data results/digits/dataset.npz \
        --teacher '{"arch": "mlp", "hidden": [100, 100], "train": {...}}' --seed 3 \
        --resume results/.resume/digits/teacher-seed3.pt --out model.pt
"""

import argparse
import json
from pathlib import Path

import torch

from .datasets import Dataset
from .io import file_sha256, save_checkpoint
from .losses import nll_loss
from .models import build_model, teacher_sizes
from .train import configure_torch, fingerprint, fit, log, mean_loss, pick_device


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).mean(1).argmax(-1) == y).float().mean().item()


def cross_entropy(model, x, y):
    return nll_loss(model(x), y)


def train_teacher(data_path, teacher_cfg, seed, *, out, resume, device="auto"):
    device = pick_device(device)
    data = Dataset.load(data_path)
    train = (
        torch.as_tensor(data.x_train, device=device),
        torch.as_tensor(data.y_train, device=device),
    )
    val = (torch.as_tensor(data.x_val, device=device), torch.as_tensor(data.y_val, device=device))
    spec = {
        "arch": teacher_cfg["arch"],
        "sizes": teacher_sizes(data.input_shape, teacher_cfg["hidden"], data.num_classes),
    }
    torch.manual_seed(seed)  # initialisation depends on the member seed only
    model = build_model(spec).to(device)
    history = fit(
        model,
        cross_entropy,
        train,
        val,
        seed=seed,
        resume=resume,
        fingerprint=fingerprint(file_sha256(data_path), teacher_cfg, seed),
        log=log,
        **teacher_cfg["train"],
    )
    val_nll = mean_loss(model, cross_entropy, val)
    val_acc = accuracy(model.eval(), *val)
    log(f"best checkpoint: val_nll {val_nll:.4f}  val_acc {val_acc:.4f}")
    save_checkpoint(
        out,
        spec=spec,
        state_dict={k: v.cpu() for k, v in model.state_dict().items()},
        output="categorical",
        seed=seed,
        history=history,
        val={"nll": val_nll, "acc": val_acc},
    )
    Path(resume).unlink(missing_ok=True)  # the finished model supersedes the resume state


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="dataset splits (.npz, see datasets.py)")
    parser.add_argument("--teacher", type=json.loads, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resume", required=True, help="resume-state file (not a rule output)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    configure_torch(args.threads)
    train_teacher(
        args.data, args.teacher, args.seed, out=args.out, resume=args.resume, device=args.device
    )


if __name__ == "__main__":
    main()
