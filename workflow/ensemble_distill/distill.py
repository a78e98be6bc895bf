"""Distill a teacher ensemble into one student: Hinton KD, Hydra or EnD² (Prior Network).

Usage::

    python -m ensemble_distill.distill --data dataset.npz --student '{"method": "hydra", ...}' \
        --teachers t0.pt t1.pt ... --seed 0 --resume-dir results/.resume/... --out model.pt

KD trains a copy of the teacher architecture on the ensemble mean. Hydra trains a shared
body with a single "Hinton head" on the mean (phase 1), copies it into M heads, and
trains head m on teacher m (phase 2). EnD² trains a Dirichlet output on the teachers'
probability vectors with an annealed temperature. Targets are the teachers' logits,
computed once.
"""

import argparse
import json
import shutil
from functools import partial
from pathlib import Path

import torch

from .datasets import Dataset
from .io import file_sha256, load_checkpoint, save_checkpoint
from .losses import annealed_temperature, end2_loss, hydra_loss, kd_loss
from .models import Members, build_model, hydra_spec, load_model
from .train import configure_torch, fingerprint, fit, log, pick_device


def load_teachers(paths):
    """Load teacher checkpoints into one ``Members`` module whose output is (B, M, C)."""
    checkpoints = [load_checkpoint(p) for p in paths]
    specs = {json.dumps(c["spec"], sort_keys=True) for c in checkpoints}
    if len(specs) != 1:
        raise ValueError(f"teachers {list(map(str, paths))} have different architectures: {specs}")
    # Each teacher checkpoint is a one-member ``Members``; unwrap so outputs stack to M.
    members = Members([load_model(c)[0] for c in checkpoints])
    return members.eval(), checkpoints[0]["spec"], [c["seed"] for c in checkpoints]


@torch.no_grad()
def teacher_logits(teachers, x, batch_size=2048):
    return torch.cat([teachers(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def distill(data_path, student_cfg, teacher_paths, seed, *, out, resume_dir, device="auto"):
    device = pick_device(device)
    data = Dataset.load(data_path)
    teachers, teacher_spec, teacher_seeds = load_teachers(teacher_paths)
    teachers.to(device)
    n_teachers = len(teacher_seeds)

    def split(x, y):
        x, y = torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)
        return x, y, teacher_logits(teachers, x)

    train, val = split(data.x_train, data.y_train), split(data.x_val, data.y_val)
    method, temperature = student_cfg["method"], student_cfg["temperature"]
    key = fingerprint(file_sha256(data_path), student_cfg, teacher_seeds, seed)
    resume_dir = Path(resume_dir)
    run = partial(fit, train=train, val=val, seed=seed, fingerprint=key, log=log)
    torch.manual_seed(seed)

    def objective(loss):
        alpha = student_cfg["alpha"]
        return lambda model, x, y, z: loss(model(x), z, y, temperature=temperature, alpha=alpha)

    output = "categorical"
    if method == "kd":
        spec = dict(teacher_spec)
        model = build_model(spec).to(device)
        history = run(
            model, objective(kd_loss), resume=resume_dir / "kd.pt", **student_cfg["train"]
        )
    elif method == "hydra":
        spec = hydra_spec(teacher_spec["sizes"], student_cfg["head"], n_heads=1)
        model = build_model(spec).to(device)
        log(f"phase 1: Hinton head on the ensemble mean, {student_cfg['hinton_epochs']} epochs")
        phase1 = {**student_cfg["train"], "epochs": student_cfg["hinton_epochs"]}
        history = run(model, objective(kd_loss), resume=resume_dir / "phase1.pt", **phase1)
        model.grow(n_teachers)
        spec["heads"] = n_teachers
        log(f"phase 2: {n_teachers} heads, one per teacher")
        history += run(
            model, objective(hydra_loss), resume=resume_dir / "phase2.pt", **student_cfg["train"]
        )
    elif method == "end2":
        spec, output = dict(teacher_spec), "dirichlet"
        model = build_model(spec).to(device)
        smoothing = student_cfg["teacher_smoothing"]
        schedule = {"t": temperature}

        def set_temperature(epoch):
            schedule["t"] = annealed_temperature(epoch, temperature, student_cfg["anneal_epochs"])
            log(f"EnD2 temperature {schedule['t']:.3f}")

        def loss(model, x, y, z, t=None):
            return end2_loss(model(x), z, temperature=t or schedule["t"], smoothing=smoothing)

        # The best epoch is chosen on the T = 1 loss: values at other temperatures differ in scale.
        history = run(
            model,
            loss,
            resume=resume_dir / "end2.pt",
            on_epoch=set_temperature,
            val_loss_fn=partial(loss, t=1.0),
            **student_cfg["train"],
        )
    else:
        raise ValueError(f"unknown distillation method '{method}'")
    save_checkpoint(
        out,
        spec=spec,
        state_dict={k: v.cpu() for k, v in model.state_dict().items()},
        output=output,
        seed=seed,
        method=method,
        teacher_seeds=teacher_seeds,
        history=history,
    )
    shutil.rmtree(resume_dir, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="dataset splits (.npz, see datasets.py)")
    parser.add_argument("--student", type=json.loads, required=True)
    parser.add_argument("--teachers", nargs="+", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resume-dir", required=True, help="resume-state folder (not an output)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    configure_torch(args.threads)
    distill(
        args.data,
        args.student,
        args.teachers,
        args.seed,
        out=args.out,
        resume_dir=args.resume_dir,
        device=args.device,
    )


if __name__ == "__main__":
    main()
