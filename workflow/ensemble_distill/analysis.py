"""Diversity Matters' analyses (Nam et al. 2021, Sec. 5.3 and Fig. 1), from checkpoints.

Usage::

    python -m ensemble_distill.analysis teachers --data dataset.npz --teachers t*.pt \\
        --step 0.0039 --out teacher_diversity.parquet
    python -m ensemble_distill.analysis jacobians --data dataset.npz --teachers t*.pt \\
        --students be_kd=be_kd/seed0/model.pt ... --scratch be_scratch/seed0/model.pt ... \\
        --step 0.0039 --out-jacobians jacobians.parquet --out-snr grad_snr.parquet

* teachers: per example, the teachers' confidence (max p̄) and mean pairwise KL on training
  inputs, clean and perturbed by Gaussian noise and by ODS (the diversity plots).
* jacobians: for test inputs, the cosine similarity between the vectorised input-Jacobian
  of log softmax of teacher m and of member m of each one-to-one student, and of a
  student trained from scratch (the ROC's negatives).
* snr: signal-to-noise ratio ‖E g‖ / sqrt(Σ Var g) of g = ∇_θ[L(x̃) − L(x)], the part of
  the one-to-one KD loss's gradient that the perturbation adds (its Jacobian-matching
  term to first order), over draws of x̃ (Gaussian vs ODS), for each distilled student.
"""

import argparse

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from . import provenance
from .catalog import input_bounds
from .datasets import Dataset
from .distill import load_teachers
from .io import load_checkpoint
from .jobs import configure_torch, log
from .losses import hydra_loss
from .metrics import pairwise_kl
from .models import Members, load_model
from .models.resnet import as_unit_float
from .perturb import PERTURBATIONS

EXAMPLES = 1000  # training inputs for the diversity plots
JACOBIAN_EXAMPLES = 200
SNR_DRAWS, SNR_BATCH = 32, 64


def perturbed(kind, x, teachers, step, bounds, seed, temperature=1.0):
    fn = PERTURBATIONS[kind]
    if fn is None:
        return x
    generator = torch.Generator().manual_seed(seed)
    return fn(x, teachers, step=step, generator=generator, bounds=bounds,
              temperature=temperature)  # fmt: skip


@torch.no_grad()
def diversity_frame(teachers, x, label):
    log_probs = F.log_softmax(teachers(x), dim=-1).double().transpose(0, 1).numpy()  # (M, N, C)
    mean = np.exp(log_probs).mean(0)
    return pd.DataFrame(
        {"inputs": label, "confidence": mean.max(-1), "diversity_kl": pairwise_kl(log_probs)}
    )


def teacher_diversity(teachers, x, step, bounds, seed=0, temperature=1.0):
    """Per example, on clean and perturbed training inputs (ODS drawn at the students'
    ``temperature``, as in training); input_diversity.py averages over draws and steps."""
    frames = [
        diversity_frame(
            teachers, perturbed(kind, x, teachers, step, bounds, seed, temperature), label
        )  # fmt: skip
        for kind, label in (
            ("none", "train"),
            ("gaussian", "train + Gaussian"),
            ("ods", "train + ODS"),
        )  # fmt: skip
    ]
    return pd.concat(frames, ignore_index=True)


def input_jacobians(model, x):
    """(N, K, C·D): per example, member and class, ∂ log softmax / ∂x, vectorised.

    Examples do not interact in our models (no batch norm), so the gradient of the
    batch sum of one output gives that output's Jacobian row for every example."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = F.log_softmax(model(x), dim=-1)  # (N, K, C)
        _, k, c = out.shape
        rows = [
            torch.autograd.grad(out[:, m, j].sum(), x, retain_graph=True)[0].flatten(1)
            for m in range(k)
            for j in range(c)
        ]
    return torch.stack(rows, dim=1).view(len(x), k, -1)


def jacobian_similarity(teachers, students, x):
    """Rows (student, seed, member, index, cosine) for each (name, seed, model): member m
    against teacher m (students learn from the first K of the ensemble's teachers)."""
    reference = input_jacobians(teachers, x)  # (N, M, C·D)
    rows = []
    for name, seed, model in students:
        own = input_jacobians(model, x)
        k = min(own.shape[1], reference.shape[1])
        cosine = F.cosine_similarity(own[:, :k], reference[:, :k], dim=-1)  # (N, K)
        for m in range(cosine.shape[1]):
            rows.append(pd.DataFrame({"student": name, "seed": seed, "member": m,
                                      "index": np.arange(len(x)), "cosine": cosine[:, m].numpy()}))  # fmt: skip  # noqa: E501
    return pd.concat(rows, ignore_index=True)


def gradient_snr(model, teachers, x, y, kind, step, bounds, temperature, draws=SNR_DRAWS):
    """‖mean g‖ / sqrt(Σ var g) over ``draws`` perturbations, g = ∇_θ[L(x̃) − L(x)]."""
    params = [p for p in model.parameters() if p.requires_grad]

    def grad_at(inputs):
        with torch.enable_grad():
            with torch.no_grad():
                targets = teachers(inputs)
            loss = hydra_loss(model(inputs), targets, y, temperature=temperature)
            return torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)])

    clean = grad_at(x)
    samples = torch.stack(
        [grad_at(perturbed(kind, x, teachers, step, bounds, seed=r)) - clean for r in range(draws)]
    )
    return float(samples.mean(0).norm() / samples.var(0).sum().sqrt())


def load_students(items):
    out = []
    for item in items:
        name, path = item.split("=", 1)
        checkpoint = load_checkpoint(path)
        out.append((name, int(checkpoint["seed"]), load_model(checkpoint).requires_grad_(True)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("teachers", "jacobians"):
        p = sub.add_parser(name)
        p.add_argument("--data", required=True)
        p.add_argument("--teachers", nargs="+", required=True)
        p.add_argument("--step", type=float, required=True, help="perturbation step η")
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--temperature", type=float, default=1.0, help="ODS's temperature")
    sub.choices["teachers"].add_argument("--out", required=True)
    jac = sub.choices["jacobians"]
    jac.add_argument("--students", nargs="+", required=True, help="name=checkpoint")
    jac.add_argument("--scratch", nargs="+", required=True, help="name=checkpoint")
    jac.add_argument("--out-jacobians", required=True)
    jac.add_argument("--out-snr", required=True)
    args = parser.parse_args(argv)
    configure_torch(args.threads)
    students = [*getattr(args, "students", []), *getattr(args, "scratch", [])]
    record = provenance.start(
        config={"command": args.command, "step": args.step, "temperature": args.temperature},
        inputs=[args.data, *args.teachers, *(s.split("=", 1)[1] for s in students)],
    )
    data = Dataset.load(args.data)
    bounds = input_bounds(data.name)
    teachers = load_teachers(args.teachers)[0]
    torch.manual_seed(0)
    if args.command == "teachers":
        x = as_unit_float(torch.as_tensor(data.x_train[:EXAMPLES]))
        provenance.write_parquet(
            teacher_diversity(teachers, x, args.step, bounds, temperature=args.temperature),
            args.out,
            record,
        )
        return
    # Inputs in [0, 1] (uint8 images converted): the space perturbations act in.
    x = as_unit_float(torch.as_tensor(data.x_test[:JACOBIAN_EXAMPLES]))
    distilled, scratch = load_students(args.students), load_students(args.scratch)
    sims = jacobian_similarity(teachers, distilled + scratch, x)
    sims["baseline"] = sims["student"].isin({name for name, _, _ in scratch})
    x_b = as_unit_float(torch.as_tensor(data.x_train[:SNR_BATCH]))
    y_b = torch.as_tensor(data.y_train[:SNR_BATCH])
    snr = []
    for name, seed, model in distilled:
        k = model(x_b[:1]).shape[1]
        if k > len(teachers):
            log(f"gradient SNR: skipping {name}: {k} members, {len(teachers)} teachers given")
            continue
        own_teachers = Members(list(teachers)[:k])  # member m learned from teacher m
        for kind in ("gaussian", "ods"):
            value = gradient_snr(model, own_teachers, x_b, y_b, kind, args.step, bounds,
                                 args.temperature)  # fmt: skip
            snr.append({"student": name, "seed": seed, "perturbation": kind, "snr": value})
            log(f"gradient SNR {name} seed {seed} {kind}: {value:.4f}")
    provenance.write_parquet(sims, args.out_jacobians, record)
    provenance.write_parquet(pd.DataFrame(snr), args.out_snr, record)


if __name__ == "__main__":
    main()
