"""Diversity Matters' Figure 1 as numbers: how diverse the teachers (and each student's
members) are on clean training inputs, on training inputs perturbed by Gaussian noise and
by ODS over a range of step sizes, and on test inputs.

    python -m ensemble_distill.input_diversity --data dataset.npz --teachers t*.pt \\
        --students be_kd=be_kd/seed0/model.pt ... --steps 0.0039 0.031 --draws 5 \\
        --temperature 4 --out input_diversity.parquet

The argument of the paper: teachers that fit their training set agree on its points, so a
KD student sees no diversity there; perturbed inputs should bring the teachers' diversity
on training points up to what it is on test points, and the student's members follow. One
row per network (``teachers`` or a student at a seed), inputs (``train``, ``test``,
``train + Gaussian``, ``train + ODS``), step η and draw: the mean pairwise KL between
members (KL(p_j ‖ p_i) over ordered pairs, at T = 1), the rate at which two members
disagree on the class, and the mean L2 norm of the perturbation after clipping to the
data's range, beside its nominal size η·√D (Gaussian noise and the ODS direction both have
that norm before clipping, so equal η means equal L2 norm). Perturbed inputs are drawn
from the teachers (ODS at the students' temperature, a random teacher per draw, as in
training), with ``draws`` seeds, and shown to every network.
"""

import argparse
import math

import pandas as pd
import torch
import torch.nn.functional as F

from . import provenance
from .analysis import load_students, perturbed
from .catalog import input_bounds
from .datasets import Dataset
from .distill import load_teachers
from .jobs import configure_torch, log
from .metrics import disagreement, pairwise_kl
from .models.resnet import as_unit_float
from .tables.diversity import input_diversity_summary

EXAMPLES = 1000  # training and test inputs


@torch.no_grad()
def member_diversity(model, x):
    """(mean pairwise KL, mean disagreement rate) of a multi-member model's (B, M, C)
    outputs over the examples of ``x``."""
    log_probs = F.log_softmax(model(x), dim=-1).double().transpose(0, 1).numpy()  # (M, N, C)
    return float(pairwise_kl(log_probs).mean()), float(disagreement(log_probs).mean())


def input_sets(teachers, x_train, x_test, steps, draws, bounds, temperature):
    """(inputs label, η, draw, inputs, mean L2 norm of the change) for every set."""
    yield "train", 0.0, 0, x_train, 0.0
    yield "test", 0.0, 0, x_test, 0.0
    for kind, label in (("gaussian", "train + Gaussian"), ("ods", "train + ODS")):
        for step in steps:
            for draw in range(draws):
                x = perturbed(kind, x_train, teachers, step, bounds, draw, temperature)
                norm = float((x - x_train).flatten(1).norm(dim=1).mean())
                yield label, step, draw, x, norm


def input_diversity(teachers, students, x_train, x_test, steps, draws, bounds, temperature):
    """The table described in the module docstring."""
    rows = []
    root_d = math.sqrt(x_train[0].numel())
    networks = [("teachers", None, teachers), *students]
    for label, step, draw, x, norm in input_sets(teachers, x_train, x_test, steps, draws,
                                                 bounds, temperature):  # fmt: skip
        for name, seed, model in networks:
            kl, rate = member_diversity(model, x)
            rows.append(dict(network=name, seed=seed, inputs=label, step=step, draw=draw,
                             nominal_norm=step * root_d, l2_norm=norm, mean_kl=kl,
                             disagreement=rate))  # fmt: skip
        log(f"{label} η={step:.4f} draw {draw}: teachers' KL {rows[-len(networks)]['mean_kl']:.4f}")
    return pd.DataFrame(rows).astype({"seed": "Int64"})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--teachers", nargs="+", required=True)
    parser.add_argument("--students", nargs="*", default=[], help="name=checkpoint")
    parser.add_argument("--steps", type=float, nargs="+", required=True)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    configure_torch(args.threads)
    record = provenance.start(
        config={"steps": args.steps, "draws": args.draws, "temperature": args.temperature},
        inputs=[args.data, *args.teachers, *(s.split("=", 1)[1] for s in args.students)],
    )
    data = Dataset.load(args.data)
    teachers = load_teachers(args.teachers)[0]
    x_train = as_unit_float(torch.as_tensor(data.x_train[:EXAMPLES]))
    x_test = as_unit_float(torch.as_tensor(data.x_test[:EXAMPLES]))
    torch.manual_seed(0)
    students, bounds = load_students(args.students), input_bounds(data.name)
    frame = input_diversity(teachers, students, x_train, x_test, args.steps, args.draws,
                            bounds, args.temperature)  # fmt: skip
    provenance.write_parquet(frame, args.out, record)
    print(input_diversity_summary(frame).to_string())


if __name__ == "__main__":
    main()
