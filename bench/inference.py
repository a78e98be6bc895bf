"""Inference time of the ensemble, Hydra and KD against their FLOP ratios (Hydra paper Table 5).

Usage::

    python bench/inference.py                 # the MNIST models: 50 x 784-200-200-10
    python bench/inference.py --members 10 --threads 2

Builds the MNIST experiment's models with random weights (time does not depend on the
values): the M-member ensemble, the KD student (one member's shape) and Hydra (the
members' body with M heads [200, 100, 100, 10]). Times each on 10k images in batches of
1000 (``cost.seconds_per_10k``, the pipeline's Table 5 timer) with members and heads run
the way the pipeline runs them (``models.Members``: batched on GPUs, on CPU only while
members are small) and, for comparison, forced to one batched product per layer or to a
loop over members. A student's time ratio to the ensemble should approach its FLOP ratio;
the last column divides the one by the other (both against the pipeline's ensemble).
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow"))
from ensemble_distill.cost import flops_per_image, seconds_per_10k  # noqa: E402
from ensemble_distill.jobs import configure_torch  # noqa: E402
from ensemble_distill.models import Members, build_model, hydra_spec  # noqa: E402
from ensemble_distill.models import members as batching  # noqa: E402

# How Members runs its members: the rule the pipeline uses ("auto"), or forced either way.
POLICIES = {"auto": batching.CPU_BATCH_MAX_MACS, "batched": float("inf"), "loop": 0}


def models(members, hidden, head_hidden):
    teacher = {"arch": "mlp", "sizes": [784, *hidden, 10]}
    head = {"type": "mlp", "hidden": head_hidden}
    return {
        "ensemble": Members([build_model(teacher)[0] for _ in range(members)]),
        "kd": build_model(teacher),
        "hydra": build_model(hydra_spec(teacher, head, members)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    configure_torch(args.threads)
    torch.manual_seed(0)
    x = torch.rand(10_000, 1, 28, 28)
    rows = {}
    for name, model in models(args.members, [200, 200], [100, 100]).items():
        model.requires_grad_(False).eval()
        for policy, limit in POLICIES.items():
            if name == "kd" and policy != "auto":
                continue  # one network: nothing to batch
            batching.CPU_BATCH_MAX_MACS = limit
            label = name if policy == "auto" else f"{name} ({policy})"
            rows[label] = (flops_per_image(model, x), seconds_per_10k(model, x, args.repeats))
        batching.CPU_BATCH_MAX_MACS = POLICIES["auto"]
    base_flops, base_time = rows["ensemble"]
    print(f"{args.members} members, {args.threads} thread(s), 10k images in batches of 1000")
    print(f"{'model':<20} {'FLOPs/image':>12} {'s/10k':>8} {'FLOP ratio':>10} "
          f"{'time ratio':>10} {'time/FLOP ratio':>15}")  # fmt: skip
    for name, (flops, seconds) in rows.items():
        flop_ratio, time_ratio = flops / base_flops, seconds / base_time
        print(f"{name:<20} {flops:>12.3g} {seconds:>8.3f} {flop_ratio:>10.4f} "
              f"{time_ratio:>10.4f} {time_ratio / flop_ratio:>15.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
