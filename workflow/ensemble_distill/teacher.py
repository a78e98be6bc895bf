"""Train one ensemble member (teacher): cross-entropy, or Gaussian NLL for regression.

Usage::

    python -m ensemble_distill.teacher --data results/digits/dataset.npz \\
        --teacher '{"arch": "mlp", "hidden": [100, 100], "train": {...}}' --seed 3 \\
        --resume results/.resume/digits/teacher-seed3.pt --out model.pt

For regression benchmarks with several train/test splits (UCI) the member is trained
once per split in this one process, so that start-up is paid once per job, not per split.
"""

import argparse
import json

import torch

from . import jobguard, provenance
from .datasets import Dataset
from .io import file_sha256, save_checkpoint
from .losses import gaussian_nll, nll_loss
from .models import TASK_OUTPUT, build_model, network_spec
from .train import (
    add_job_arguments,
    configure_torch,
    fingerprint,
    fit,
    log,
    mean_loss,
    pick_device,
    split_resume,
)


def cross_entropy(model, x, y):
    return nll_loss(model(x), y)


def gaussian(model, x, y):
    return gaussian_nll(model(x), y)


def train_teacher(data_path, teacher_cfg, seed, *, out, resume, device="auto"):
    device = pick_device(device)
    data = Dataset.load(data_path)
    objective = cross_entropy if data.task == "classification" else gaussian
    spec = network_spec(
        teacher_cfg["arch"],
        data.input_shape,
        teacher_cfg["hidden"],
        data.num_classes,
        channels=teacher_cfg.get("channels", ()),
    )
    key = fingerprint(file_sha256(data_path), teacher_cfg, seed)
    states, histories, val_losses = [], [], []
    for s in range(data.n_splits):
        x_tr, y_tr, x_va, y_va = (torch.as_tensor(a, device=device) for a in data.split(s))
        val = (x_va, y_va) if len(x_va) else None
        torch.manual_seed(seed + 100_003 * s)  # initialisation: member seed and split only
        model = build_model(spec).to(device)
        if data.n_splits > 1:
            log(f"split {s + 1}/{data.n_splits}")
        history = fit(
            model,
            objective,
            (x_tr, y_tr),
            val,
            seed=seed,
            fingerprint=key,
            log=log,
            resume=split_resume(resume, s, data.n_splits),
            **teacher_cfg["train"],
        )
        states.append({k: v.cpu() for k, v in model.state_dict().items()})
        histories.append(history)
        val_losses.append(mean_loss(model, objective, val) if val else history[-1]["val_loss"])
    log(
        f"final {'validation' if data.x_val.size else 'training'} loss "
        f"{sum(val_losses) / len(val_losses):.4f} (mean over {data.n_splits} split(s))"
    )
    save_checkpoint(
        out,
        spec=spec,
        state_dicts=states,
        output=TASK_OUTPUT[data.task],
        seed=seed,
        history=histories,
        val_loss=val_losses,
    )
    for s in range(data.n_splits):  # the finished model supersedes the resume state
        split_resume(resume, s, data.n_splits).unlink(missing_ok=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", type=json.loads, required=True)
    add_job_arguments(parser, resume_help="resume-state file (not a rule output)")
    args = parser.parse_args(argv)
    configure_torch(args.threads)
    record = provenance.start(
        config={"teacher": args.teacher, "device": args.device, "threads": args.threads},
        seeds={"member": args.seed},
        inputs=[args.data],
    )
    with jobguard.owning(args.resume):
        train_teacher(
            args.data, args.teacher, args.seed, out=args.out, resume=args.resume, device=args.device
        )
    provenance.write_sidecar(record, [args.out])


if __name__ == "__main__":
    main()
