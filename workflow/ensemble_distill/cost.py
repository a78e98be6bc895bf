"""Model cost (Hydra paper Table 5): parameters, FLOPs per image, inference time per 10k images.

Usage::

    python -m ensemble_distill.cost --teachers t0.pt t1.pt ... \
        --students kd=kd/seed0/model.pt hydra=hydra/seed0/model.pt \
        --eval-set results/mnist/evalsets/test.npz --out cost.parquet

FLOPs are counted by ``torch.utils.flop_counter`` (a multiply-add counts 2) on one image;
time is the median over repeats of predicting 10k images of the eval set in batches of
1000 (fewer, scaled to 10k, for slow models), all models timed in this one process on the
threads it is given.
"""

import argparse
import statistics
import time

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from . import provenance
from .distill import load_teachers
from .io import load_checkpoint, load_npz
from .jobs import configure_torch, log
from .models import count_parameters, load_model

TIMED_IMAGES = 10_000


def flops_per_image(model, x):
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x[:1])
    return counter.get_total_flops()


@torch.no_grad()
def seconds_per_10k(model, x, repeats=5, batch_size=1000, seconds_per_pass=10.0):
    """Median time of ``repeats`` passes over the first 10k images, scaled to 10k. Slow
    models (50 CIFAR ResNets on one thread: ~80 s per 1000 images) are timed on as many
    images as a pass of about ``seconds_per_pass`` allows, at least one batch, so that the
    job's length stays bounded; a warm-up batch is dropped first."""
    tic = time.perf_counter()
    model(x[:batch_size])
    warm_up = time.perf_counter() - tic
    n = min(len(x), TIMED_IMAGES, max(batch_size, int(batch_size * seconds_per_pass / warm_up)))
    x = x[:n]
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        for start in range(0, len(x), batch_size):
            model(x[start : start + batch_size])
        times.append(time.perf_counter() - tic)
    return statistics.median(times) * TIMED_IMAGES / len(x)


def measure(models, x):
    rows = []
    for name, method, model in models:
        rows.append(
            dict(
                model=name,
                method=method,
                params=count_parameters(model),
                flops=flops_per_image(model, x),
                seconds_per_10k=seconds_per_10k(model, x),
            )
        )
        log(f"{name}: {rows[-1]}")
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teachers", nargs="+", required=True)
    parser.add_argument("--students", nargs="*", default=[], help="name=checkpoint")
    parser.add_argument("--eval-set", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    configure_torch(args.threads)
    students = dict(item.split("=", 1) for item in args.students)
    record = provenance.start(
        config={"threads": args.threads, "students": list(students)},
        inputs=[*args.teachers, *students.values(), args.eval_set],
    )
    models = [("ensemble", "ensemble", load_teachers(args.teachers)[0])]
    for name, path in students.items():
        checkpoint = load_checkpoint(path)
        models.append((name, checkpoint["method"], load_model(checkpoint)))
    x = torch.as_tensor(load_npz(args.eval_set)["x"][0])
    provenance.write_parquet(measure(models, x), args.out, record)


if __name__ == "__main__":
    main()
