"""Distill a teacher ensemble into one student: Hinton KD, Hydra or EnD² (Prior Network).

Usage::

    python -m ensemble_distill.distill --data dataset.npz --student '{"method": "hydra", ...}' \\
        --teachers t0.pt t1.pt ... --seed 0 --resume-dir results/.resume/... --out model.pt

KD trains a copy of the teacher architecture on the ensemble mean (for regression: one
Gaussian on the teachers' mixture). Hydra trains a shared body with a single "Hinton head"
on the mean (phase 1), copies it into M heads, and trains head m on teacher m (phase 2;
Gaussian heads with a closed-form KL for regression). EnD² trains a Dirichlet output on
the teachers' probability vectors with an annealed temperature. Teacher outputs are
computed once per split. Regression benchmarks distill every split in this one process.
"""

import argparse
import json
import shutil
from functools import partial
from pathlib import Path

import torch

from . import provenance
from .datasets import Dataset
from .io import file_sha256, load_checkpoint, save_checkpoint
from .losses import (
    annealed_temperature,
    end2_loss,
    hydra_gaussian_loss,
    hydra_loss,
    kd_gaussian_loss,
    kd_loss,
)
from .models import TASK_OUTPUT, Members, build_model, hydra_spec, load_model
from .train import add_job_arguments, configure_torch, fingerprint, fit, log, pick_device

# Losses by task: (match the ensemble mean / mixture, match member m with head m).
LOSSES = {
    "classification": (kd_loss, hydra_loss),
    "regression": (kd_gaussian_loss, hydra_gaussian_loss),
}


def load_teachers(paths, split=0):
    """Teacher checkpoints as one ``Members`` module whose output is (B, M, C)."""
    checkpoints = [load_checkpoint(p) for p in paths]
    specs = {json.dumps(c["spec"], sort_keys=True) for c in checkpoints}
    if len(specs) != 1:
        raise ValueError(f"teachers {list(map(str, paths))} have different architectures: {specs}")
    # Each teacher checkpoint is a one-member ``Members``; unwrap so outputs stack to M.
    members = Members([load_model(c, split)[0] for c in checkpoints])
    return members.eval(), checkpoints[0]["spec"], [c["seed"] for c in checkpoints]


@torch.no_grad()
def teacher_logits(teachers, x, batch_size=2048):
    return torch.cat([teachers(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def distill_split(cfg, task, teachers, teacher_spec, train, val, seed, run, resume_dir):
    """Train one student on one split; returns (model, spec, output kind, history)."""
    method, temperature = cfg["method"], cfg["temperature"]
    match_mean, match_members = LOSSES[task]
    torch.manual_seed(seed)

    def objective(loss):
        alpha = cfg.get("alpha", 1.0)
        return lambda model, x, y, z: loss(model(x), z, y, temperature=temperature, alpha=alpha)

    run = partial(run, train=train, val=val)
    output = TASK_OUTPUT[task]
    if method == "kd":
        spec = dict(teacher_spec)
        model = build_model(spec).to(train[0].device)
        history = run(model, objective(match_mean), resume=resume_dir / "kd.pt", **cfg["train"])
    elif method == "hydra":
        spec = hydra_spec(teacher_spec["sizes"], cfg["head"], n_heads=1)
        model = build_model(spec).to(train[0].device)
        log(f"phase 1: Hinton head on the ensemble mean, {cfg['hinton_epochs']} epochs")
        phase1 = {**cfg["train"], "epochs": cfg["hinton_epochs"]}
        history = run(model, objective(match_mean), resume=resume_dir / "phase1.pt", **phase1)
        model.grow(len(teachers))
        spec["heads"] = len(teachers)
        log(f"phase 2: {len(teachers)} heads, one per teacher")
        history += run(
            model, objective(match_members), resume=resume_dir / "phase2.pt", **cfg["train"]
        )
    elif method == "end2" and task == "classification":
        spec, output = dict(teacher_spec), "dirichlet"
        model = build_model(spec).to(train[0].device)
        schedule = {"t": temperature}

        def set_temperature(epoch):
            schedule["t"] = annealed_temperature(epoch, temperature, cfg["anneal_epochs"])
            log(f"EnD2 temperature {schedule['t']:.3f}")

        def loss(model, x, y, z, t=None):
            return end2_loss(
                model(x), z, temperature=t or schedule["t"], smoothing=cfg["teacher_smoothing"]
            )

        # The best epoch is chosen on the T = 1 loss: values at other temperatures differ in scale.
        history = run(
            model,
            loss,
            resume=resume_dir / "end2.pt",
            on_epoch=set_temperature,
            val_loss_fn=partial(loss, t=1.0),
            **cfg["train"],
        )
    else:
        raise ValueError(f"distillation method '{method}' is not available for {task}")
    return model, spec, output, history


def distill(data_path, student_cfg, teacher_paths, seed, *, out, resume_dir, device="auto"):
    device = pick_device(device)
    data = Dataset.load(data_path)
    states, history = [], []
    for s in range(data.n_splits):
        teachers, teacher_spec, teacher_seeds = load_teachers(teacher_paths, split=s)
        teachers.to(device)

        def with_targets(x, y, teachers=teachers):
            x, y = torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)
            return x, y, teacher_logits(teachers, x)

        x_tr, y_tr, x_va, y_va = data.split(s)
        train = with_targets(x_tr, y_tr)
        val = with_targets(x_va, y_va) if len(x_va) else None
        key = fingerprint(file_sha256(data_path), student_cfg, teacher_seeds, seed, s)
        run = partial(fit, seed=seed, fingerprint=key, log=log)
        split_dir = Path(resume_dir) / (f"split{s}" if data.n_splits > 1 else "")
        if data.n_splits > 1:
            log(f"split {s + 1}/{data.n_splits}")
        model, spec, output, split_history = distill_split(
            student_cfg, data.task, teachers, teacher_spec, train, val, seed, run, split_dir
        )
        states.append({k: v.cpu() for k, v in model.state_dict().items()})
        history.append(split_history)
    save_checkpoint(
        out,
        spec=spec,
        state_dicts=states,
        output=output,
        seed=seed,
        method=student_cfg["method"],
        teacher_seeds=teacher_seeds,
        history=history,
    )
    shutil.rmtree(resume_dir, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--student", type=json.loads, required=True)
    parser.add_argument("--teachers", nargs="+", required=True)
    add_job_arguments(parser, resume_help="resume-state folder (not a rule output)")
    args = parser.parse_args(argv)
    configure_torch(args.threads)
    record = provenance.start(
        config={"student": args.student, "device": args.device, "threads": args.threads},
        seeds={"distill": args.seed},
        inputs=[args.data, *args.teachers],
    )
    distill(
        args.data,
        args.student,
        args.teachers,
        args.seed,
        out=args.out,
        resume_dir=args.resume,
        device=args.device,
    )
    provenance.write_sidecar(record, [args.out])


if __name__ == "__main__":
    main()
