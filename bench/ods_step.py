"""Time one distillation step with ODS / ConfODS / Gaussian against plain KD on the same
BatchEnsemble student (issue target: ODS ≤ 1.3× plain KD).

Usage::

    python bench/ods_step.py [--arch mlp|cnn] [--members 4] [--batch 128] [--threads 1]

Plain KD is timed twice: with teacher outputs cached once per split (this pipeline's fast
path when nothing changes the input) and with the teachers asked every batch (as any
augmented pipeline must, e.g. giung2's). Each perturbed step adds one teacher's forward and
input-gradient (ODS) and the teachers' forward on x̃; with α < 1 the CE term needs a second,
clean student pass (giung2's loss). Prints the median of repeated steps and the ratios.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow"))

from ensemble_distill.distill import batch_preparer, phase_loss  # noqa: E402
from ensemble_distill.methods import METHODS  # noqa: E402
from ensemble_distill.models import Members, build_model  # noqa: E402
from ensemble_distill.models.mlp import network_spec  # noqa: E402
from ensemble_distill.perturb import perturbation  # noqa: E402
from ensemble_distill.train import make_optimizer  # noqa: E402


def step_time(model, teachers, cfg, x, y, cached, repeats):
    method = METHODS[cfg["method"]]
    perturb = perturbation(cfg["perturbation"], teachers, cfg["temperature"], (0.0, 1.0))
    prepare = batch_preparer(method, teachers, perturb)
    loss_fn = phase_loss(method, method.phases[0], "classification", cfg,
                         {"t": cfg["temperature"]})  # fmt: skip
    opt = make_optimizer(model, optimizer="adam", lr=1e-3, weight_decay=0.0)
    z = teachers(x).detach() if cached else None
    generator = torch.Generator().manual_seed(0)
    times = []
    for _ in range(repeats + 3):  # 3 warm-up steps
        tic = time.perf_counter()
        batch = prepare((x, y, z) if cached else (x, y), generator)
        loss = loss_fn(model, *batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - tic)
    return statistics.median(times[3:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--alpha", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    hidden, channels = ([200, 200], ()) if args.arch == "mlp" else ([120, 84], [6, 16])
    spec = network_spec(args.arch, (1, 28, 28), hidden, 10, channels=channels)
    teachers = Members([build_model(spec)[0] for _ in range(args.members)]).requires_grad_(False)
    init = {"type": "normal", "scale": 0.5}
    student_spec = {**spec, "batchensemble": {"members": args.members, "init": init}}
    x, y = torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,))
    cfg = {"method": "batchensemble", "temperature": 4.0, "alpha": args.alpha}
    rows = []
    for label, kind, cached in (("KD, cached teacher outputs", "none", True),
                                ("KD, teachers every batch", "none", False),
                                ("KD + Gaussian", "gaussian", False),
                                ("KD + ODS", "ods", False),
                                ("KD + ConfODS", "confods", False)):  # fmt: skip
        torch.manual_seed(0)
        model = build_model(student_spec)
        run = {**cfg, "perturbation": {"kind": kind, "step": 1 / 255}}
        rows.append((label, step_time(model, teachers, run, x, y, cached, args.repeats)))
    base, per_batch = rows[0][1], rows[1][1]
    print(f"BatchEnsemble-{args.members} {args.arch} student, batch {args.batch}, "
          f"alpha {args.alpha}, {args.threads} thread(s), torch {torch.__version__}")  # fmt: skip
    print(f"{'step':32s} {'ms':>8s} {'x cached KD':>12s} {'x per-batch KD':>15s}")
    for label, seconds in rows:
        ratios = f"{seconds / base:12.2f} {seconds / per_batch:15.2f}"
        print(f"{label:32s} {1000 * seconds:8.2f} {ratios}")


if __name__ == "__main__":
    main()
