"""Distill a teacher ensemble into one student, by any method of the registry (methods.py).

Usage::

    python -m ensemble_distill.distill --data dataset.npz --student '{"method": "hydra", ...}' \\
        --teachers t0.pt t1.pt ... --seeds 0 1 --resume results/.resume/... --out students/

The method says how the student is built and what each training phase matches: the
ensemble mean (KD; for regression one Gaussian on the teachers' mixture), teacher m with
member/head m (Hydra phase 2, BatchEnsemble, MIMO), the teachers' probability vectors
(EnD²'s Dirichlet) or the labels (a from-scratch baseline). With a perturbation
(perturb.py) the teachers are asked per batch, on the perturbed input the student sees;
otherwise their outputs are computed once per split (the fast path). Regression
benchmarks distill every split in this one process.
"""

import argparse
import copy
import json
import shutil
from functools import partial
from pathlib import Path

import torch

from . import jobguard, manifest, plan, provenance
from .catalog import input_bounds
from .datasets import Dataset
from .io import file_sha256, load_checkpoint, save_checkpoint
from .jobs import add_job_arguments, configure_torch, fingerprint, log, pick_device
from .losses import (
    annealed_temperature,
    end2_loss,
    hydra_gaussian_loss,
    hydra_loss,
    kd_gaussian_loss,
    kd_loss,
    nll_loss,
)
from .methods import is_perturbed, method_of, perturbation_of
from .models import Members, build_model, load_members
from .perturb import perturbation
from .train import fit, kept_state
from .transfer import to_device

# What a phase's loss matches, by task: the ensemble mean / mixture, or teacher m per member.
MATCH = {
    "classification": {"mean": kd_loss, "members": hydra_loss},
    "regression": {"mean": kd_gaussian_loss, "members": hydra_gaussian_loss},
}


def load_teachers(paths, split=0, checkpoints=None):
    """Teacher checkpoints as one frozen, batched ``Members`` module whose output is (B, M, C),
    with their spec and seeds; ``checkpoints``: the files at ``paths`` already read (a
    regression teacher's file holds all its splits, read once per job, not once per split)."""
    checkpoints = checkpoints or [load_checkpoint(p) for p in paths]
    try:
        members = load_members(checkpoints, split)
    except ValueError as error:
        raise ValueError(f"teachers {list(map(str, paths))}: {error}") from None
    return members, checkpoints[0]["spec"], [c["seed"] for c in checkpoints]


@torch.no_grad()
def teacher_logits(teachers, x, batch_size=2048):
    return torch.cat([teachers(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def batch_preparer(method, teachers, perturb):
    """The per-batch hook: (x, y[, z]) -> (x, y, x̃, z̃) for the loss.

    x̃ is the perturbed input (x itself without a perturbation); z̃ the teachers' outputs on
    x̃ (the cached z when x̃ is x). MIMO slots: slot m gets the batch in its own random order
    (slot 0 keeps it), with teacher m's outputs on those examples as its targets.
    """

    def prepare(batch, generator):
        x, y, *cached = batch
        x_kd = perturb(x, generator) if perturb is not None else x
        z = cached[0] if cached and x_kd is x else None
        if z is None and method.uses_teachers:
            with torch.no_grad():
                z = teachers(x_kd)
        if method.slots:
            b, m = len(x), len(teachers)
            orders = [torch.arange(b)] + [
                torch.randperm(b, generator=generator) for _ in range(1, m)
            ]
            idx = to_device(torch.stack(orders, dim=1), x.device)  # (B, M)
            same = x_kd is x
            x, y = x[idx], y[idx]
            x_kd = x if same else x_kd[idx]
            z = z[idx, torch.arange(m, device=x.device)]  # (B, M, C): teacher m on slot m
        return x, y, x_kd, z

    return prepare


def phase_loss(method, phase, task, cfg, schedule, slots=False):
    """loss(model, x, y, x̃, z̃) of one phase: the matching term on x̃ (weight α), plus
    (1 − α)·CE on the clean x (giung2's KD loss; one student pass when x̃ is x)."""
    alpha = cfg.get("alpha", 1.0)

    def loss(model, x, y, x_kd, z):
        forward = model.forward_slots if slots else model
        if phase.target == "labels":
            return nll_loss(forward(x), y)
        student = forward(x_kd)
        if phase.target == "dirichlet":
            return end2_loss(
                student, z, temperature=schedule["t"], smoothing=cfg["teacher_smoothing"]
            )
        match = MATCH[task][phase.target](student, z, y, temperature=schedule["t"], alpha=1.0)
        if alpha == 1 or task == "regression":
            return match
        clean = student if x_kd is x else forward(x)
        return alpha * match + (1 - alpha) * nll_loss(clean, y)

    return loss


def on_clean_batch(loss):
    """``loss`` on an unperturbed batch (x, y[, z]): the validation loss."""
    return lambda model, x, y, *z: loss(model, x, y, x, z[0] if z else None)


def distill_split(cfg, task, teachers, teacher_spec, train, val, seed, run, resume_dir, bounds,
                  splits=1):  # fmt: skip
    """Train one student (or, with ``splits`` > 1, one per data split as replicas of one
    batched Members: train/val tensors then have a leading split axis and cached teacher
    targets, and ``teachers`` only gives the count); returns (model, spec, output kind,
    per-split histories)."""
    method = method_of(cfg)
    spec = method.student_spec(cfg, teacher_spec, len(teachers))
    models = []
    for _ in range(splits):  # every split's student starts from the same seed
        torch.manual_seed(seed)
        models.append(build_model(spec).to(train[0].device))
    model = models[0] if splits == 1 else Members(models)
    temperature = cfg.get("temperature", 1.0)
    perturb = perturbation(perturbation_of(cfg), teachers, temperature, bounds)
    prepare = batch_preparer(method, teachers, perturb)
    run = partial(run, train=train, val=val, seed=seed if splits == 1 else [seed] * splits)
    history = [[] for _ in models]  # per split: the records of every phase
    for phase in method.phases:
        if phase.grow:
            for student in models:
                student.grow(len(teachers))
            spec["heads"] = len(teachers)
            log(f"phase {phase.name}: {len(teachers)} heads, one per teacher")
        epochs = cfg[phase.epochs_key] if phase.epochs_key else cfg["train"]["epochs"]
        if epochs == 0:  # an optional phase left out
            continue
        schedule = {"t": temperature}

        def set_temperature(epoch, phase=phase, schedule=schedule):
            if phase.anneal:
                schedule["t"] = annealed_temperature(epoch, temperature, cfg["anneal_epochs"])
                log(f"EnD2 temperature {schedule['t']:.3f}")

        # The best epoch is chosen on the clean validation loss (EnD²: at T = 1, since
        # values at other temperatures differ in scale).
        val_schedule = {"t": 1.0 if phase.anneal else temperature}
        log(f"phase {phase.name}: {phase.target} target, {epochs} epochs")
        loss = phase_loss(method, phase, task, cfg, schedule, slots=method.slots)
        val_loss = on_clean_batch(phase_loss(method, phase, task, cfg, val_schedule))
        phase_history = run(
            model,
            loss if splits == 1 else per_split(loss),
            resume=resume_dir / f"{phase.name}.pt",
            prepare_batch=prepare,
            val_loss_fn=val_loss if splits == 1 else per_split(val_loss),
            on_epoch=set_temperature,
            factor_lr=cfg.get("factor_lr", 1.0),
            **{**cfg["train"], "epochs": epochs},
        )
        for split, records in enumerate(phase_history if splits > 1 else [phase_history]):
            history[split] += records
    return model, spec, method.output_kind(task), history


def split_log(line, split=None):
    log(line if split is None else f"split {split + 1}: {line}")


def per_split(loss):
    """A one-student loss as the (S,) losses of S replica students, each on its split."""
    return lambda replicas, *batch: replicas.map(loss, *batch)


def distill(data_path, student_cfg, teacher_paths, seed, *, out, resume_dir, device="auto",
            keep_resume=False, teacher_checkpoints=None):  # fmt: skip
    """Distill one student per data split (all splits of a regression benchmark together,
    as replicas of one batched Members); ``keep_resume`` keeps the final resume state;
    ``teacher_checkpoints`` are the files at ``teacher_paths``, if already read."""
    device = pick_device(device)
    teacher_checkpoints = teacher_checkpoints or [load_checkpoint(p) for p in teacher_paths]
    data = Dataset.load(data_path)
    method = method_of(student_cfg)
    # Teacher outputs are cached once per split when nothing changes the training input.
    cache = (
        method.uses_teachers
        and not is_perturbed(student_cfg)
        and not student_cfg["train"].get("augment")  # teachers must see the augmented batch
    )
    if data.n_splits > 1 and not cache:  # the config check allows neither for regression
        raise ValueError("distilling several data splits at once needs cached teacher outputs")
    train, val = [], []
    for s in range(data.n_splits):
        teachers, teacher_spec, teacher_seeds = load_teachers(
            teacher_paths, split=s, checkpoints=teacher_checkpoints
        )
        teachers.to(device)

        def tensors(x, y, with_targets, teachers=teachers):
            x, y = torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)
            return (x, y, teacher_logits(teachers, x)) if with_targets else (x, y)

        x_tr, y_tr, x_va, y_va = data.split(s)
        train.append(tensors(x_tr, y_tr, cache))
        val.append(tensors(x_va, y_va, method.uses_teachers) if len(x_va) else None)
    if data.n_splits > 1:  # replicas: tensors with a leading split axis
        log(f"{data.n_splits} splits: one student each, trained as batched replicas")
        train = [tuple(torch.stack(parts) for parts in zip(*train, strict=True))]
        val = [None if val[0] is None else tuple(map(torch.stack, zip(*val, strict=True)))]
    key = fingerprint(file_sha256(data_path), student_cfg, teacher_seeds, seed, data.n_splits)
    model, spec, output, history = distill_split(
        student_cfg,
        data.task,
        teachers,
        teacher_spec,
        train[0],
        val[0],
        seed,
        partial(fit, fingerprint=key, log=split_log),
        Path(resume_dir),
        input_bounds(data.name),
        splits=data.n_splits,
    )
    students = list(model) if data.n_splits > 1 else [model]
    save_checkpoint(
        out,
        spec=spec,
        state_dicts=[{k: v.cpu() for k, v in m.state_dict().items()} for m in students],
        output=output,
        seed=seed,
        method=student_cfg["method"],
        teacher_seeds=teacher_seeds,
        history=history,
        kept=kept_state(val[0] is not None, student_cfg["train"].get("keep", "best")),
    )
    if not keep_resume:
        shutil.rmtree(resume_dir, ignore_errors=True)


def distill_seed_group(data_path, student_cfg, teacher_paths, seeds, *, out, resume_dir,
                       device="auto"):  # fmt: skip
    """Distill one student per seed of ``seeds``, one after another in this process (one
    start-up for the group), each to ``<out>/seed<s>/model.pt``; returns those paths.

    Each seed resumes from its own state under ``resume_dir``. A finished seed's final
    state stays there until the whole group is written: Snakemake deletes a half-written
    group folder before a rerun, and the rerun then replays that seed from its last epoch
    instead of training it again. (Batching the seeds as one pack of networks, as teachers
    do, measured slower here: vmapping a Hydra costs more than it saves.)
    """
    paths, checkpoints = [], [load_checkpoint(p) for p in teacher_paths]  # read once
    for seed in seeds:
        log(f"seed {seed}: distilling ({len(paths) + 1} of {len(seeds)} in this job)")
        path = Path(plan.checkpoint(out, seed))
        run = Path(plan.member_dir(resume_dir, seed))
        distill(data_path, student_cfg, teacher_paths, seed, out=path, resume_dir=run,
                device=device, keep_resume=True, teacher_checkpoints=checkpoints)  # fmt: skip
        paths.append(path)
    shutil.rmtree(resume_dir, ignore_errors=True)  # every seed is written: state superseded
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--student", type=json.loads, required=True)
    parser.add_argument("--teachers", nargs="+", required=True)
    add_job_arguments(parser, resume_help="resume-state folder (not a rule output)", seeds=True)
    args = parser.parse_args(argv)
    configure_torch(args.threads)
    record = provenance.start(
        config={"student": args.student, "device": args.device, "threads": args.threads},
        inputs=[args.data, *args.teachers],
    )
    with jobguard.owning(args.resume, args.log):
        paths = distill_seed_group(
            args.data,
            args.student,
            args.teachers,
            args.seeds,
            out=args.out,
            resume_dir=args.resume,
            device=args.device,
        )
    for seed, path in zip(args.seeds, paths, strict=True):
        student = copy.deepcopy(record)
        student["seeds"] = {"distill": seed, "seed_group": args.seeds}
        provenance.write_sidecar(student, [path])
    manifest.write(args.out)  # last: the group's folder is complete


if __name__ == "__main__":
    main()
