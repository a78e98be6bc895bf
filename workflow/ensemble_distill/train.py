"""Mini-batch training with per-epoch checkpoints, exact resume and best-on-validation.

``fit`` is shared by teachers and students: it saves a resume file after every epoch
(model, optimiser, best state, history) and, when rerun after a kill, continues from the
last finished epoch. Shuffling draws from a generator seeded by (seed, epoch), so a
resumed run follows exactly the same batches as an uninterrupted one.
"""

import copy
import hashlib
import json
import math
import time
from pathlib import Path

import torch

from . import jobguard
from .io import load_checkpoint, save_checkpoint
from .models import is_factor


def pick_device(name="auto"):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def batches(tensors, batch_size, generator=None):
    """Yield tuples of mini-batches; shuffled when a generator is given."""
    n = len(tensors[0])
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield tuple(t[idx] for t in tensors)


@torch.no_grad()
def mean_loss(model, loss_fn, tensors, batch_size=1024):
    """Example-weighted mean of ``loss_fn`` over a dataset, in eval mode."""
    model.eval()
    total, n = 0.0, 0
    for batch in batches(tensors, batch_size):
        total += loss_fn(model, *batch).item() * len(batch[0])
        n += len(batch[0])
    return total / n


def lr_factor(epoch, epochs, schedule="constant", milestones=None, floor=0.01):
    """Learning-rate multiplier of a 0-based epoch.

    ``warmup_linear_decay`` is Diversity Matters' schedule (giung2 ``WarmupLinearDecayLR``,
    milestones [w, a, b] in epochs, stepped per epoch): linear from ``floor`` to 1 over the
    first w epochs, 1 until epoch a, linear down to ``floor`` at epoch b, then ``floor``.
    Without milestones: the proportions of DM's ResNet-32 teacher, [5, 100, 180] of 200.
    """
    if schedule == "constant":
        return 1.0
    if schedule != "warmup_linear_decay":
        raise ValueError(f"unknown schedule '{schedule}'")
    w, a, b = milestones or [round(epochs * f) for f in (0.025, 0.5, 0.9)]
    if epoch < w:
        return floor + (1 - floor) * epoch / w
    if epoch < a:
        return 1.0
    if epoch < b:
        return 1 - (1 - floor) * (epoch - a) / (b - a)
    return floor


def make_optimizer(model, *, optimizer, lr, weight_decay, momentum=0.9, factor_lr=1.0):
    """Adam or SGD with momentum. BatchEnsemble's rank-one factors get their own group:
    ``factor_lr`` times the learning rate and no weight decay (giung2 BASE_LR_BE, WD_BE 0)."""
    factors = [p for n, p in model.named_parameters() if is_factor(n)]
    shared = [p for n, p in model.named_parameters() if not is_factor(n)]
    groups = [{"params": shared, "lr": lr, "weight_decay": weight_decay}]
    if factors:
        groups.append({"params": factors, "lr": lr * factor_lr, "weight_decay": 0.0})
    for group in groups:
        group["base_lr"] = group["lr"]
    if optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr)
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    raise ValueError(f"unknown optimizer '{optimizer}'")


def fit(
    model,
    loss_fn,
    train,
    val,
    *,
    epochs,
    batch_size,
    lr,
    weight_decay,
    seed,
    resume,
    fingerprint,
    checkpoint_interval=0.0,
    optimizer="adam",
    momentum=0.9,
    schedule="constant",
    milestones=None,
    factor_lr=1.0,
    log=print,
    val_loss_fn=None,
    on_epoch=None,
    prepare_batch=None,
):
    """Train ``model`` on ``loss_fn(model, *batch)``; keep the best validation state.

    The optimiser (Adam, or SGD with momentum), the per-epoch learning-rate ``schedule``
    and ``factor_lr`` (BatchEnsemble factors) are described in :func:`make_optimizer` and
    :func:`lr_factor`. ``prepare_batch(batch, generator)``, the per-batch hook, turns each
    training batch into the loss's arguments (e.g. perturbs inputs and asks the teachers);
    its generator is seeded by (seed, epoch), so resumed runs draw the same numbers.

    ``train`` and ``val`` are tuples of equally long tensors (on the model's device);
    ``val`` may be None, and then the final weights are kept. Resume state is written
    after every epoch, or, with ``checkpoint_interval`` > 0, after the first epoch that ends
    that many seconds after the last write (and after the last epoch): for tiny epochs the
    write would otherwise dominate.
    ``val_loss_fn`` (default ``loss_fn``) selects the best epoch; ``on_epoch(epoch)`` runs
    before each epoch, e.g. to set an annealed temperature (it must depend on ``epoch``
    only, so that resuming replays it). ``resume`` is a file path outside the rule's
    declared outputs; its state is used only if it was written for the same
    ``fingerprint`` (a hash of the job's settings), so a stale file from a run with other
    settings is never continued. Returns the history.
    """
    val_loss_fn = val_loss_fn or loss_fn
    resume = Path(resume)
    opt = make_optimizer(
        model,
        optimizer=optimizer,
        lr=lr,
        weight_decay=weight_decay,
        momentum=momentum,
        factor_lr=factor_lr,
    )
    start, best_loss, best_state, history = 0, math.inf, None, []
    state = load_checkpoint(resume) if resume.is_file() else None
    if state is not None and state["fingerprint"] != fingerprint:
        log(f"ignoring {resume}: written for other settings")
        state = None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, best_loss, best_state = state["epoch"], state["best_loss"], state["best_model"]
        history = state["history"]
        log(f"resumed from {resume} after epoch {start}/{epochs}")
    last_write = time.perf_counter()
    jobguard.saved(start)
    for epoch in range(start, epochs):
        jobguard.stop_if_orphaned()
        tic = time.perf_counter()
        if on_epoch is not None:
            on_epoch(epoch)
        for group in opt.param_groups:
            group["lr"] = group["base_lr"] * lr_factor(epoch, epochs, schedule, milestones)
        model.train()
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        hook_generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 500_000_000)
        total, n = 0.0, 0
        for batch in batches(train, batch_size, generator):
            if prepare_batch is not None:
                batch = prepare_batch(batch, hook_generator)
            loss = loss_fn(model, *batch)
            if not torch.isfinite(loss):  # stop before the state is overwritten
                raise FloatingPointError(
                    f"training diverged: loss is {loss.item()} in epoch {epoch + 1}; the "
                    f"resume state of epoch {start if not history else history[-1]['epoch']} "
                    f"is kept in {resume}. Lower the learning rate (config key train.lr, now {lr})."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(batch[0])
            n += len(batch[0])
        # Without a validation set (UCI protocol: fixed epochs) the last epoch is kept.
        val_loss = mean_loss(model, val_loss_fn, val) if val is not None else total / n
        if val is not None and val_loss < best_loss:
            best_loss, best_state = val_loss, copy.deepcopy(model.state_dict())
        record = {"epoch": epoch + 1, "train_loss": total / n, "val_loss": val_loss}
        history.append(record)
        now = time.perf_counter()
        if now - last_write >= checkpoint_interval or epoch + 1 == epochs:
            save_checkpoint(
                resume,
                fingerprint=fingerprint,
                epoch=epoch + 1,
                model=model.state_dict(),
                optimizer=opt.state_dict(),
                best_loss=best_loss,
                best_model=best_state if val is not None else model.state_dict(),
                history=history,
            )
            jobguard.saved(epoch + 1)
            last_write = now
        log(
            f"epoch {epoch + 1:>4}/{epochs}  train_loss {record['train_loss']:.4f}  "
            f"val_loss {val_loss:.4f}  best {min(best_loss, val_loss):.4f}  {now - tic:.2f}s"
        )
    if val is not None and best_state is not None:
        model.load_state_dict(best_state)
    return history


def fingerprint(*parts):
    """A short stable hash of JSON-able settings, to tie resume state to one job."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def configure_torch(threads):
    """Pin intra-op threads to the job's share of cores (Snakemake's ``{threads}``)."""
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def split_resume(resume, split, n_splits):
    """Resume file of one split: the file itself when there is a single split."""
    resume = Path(resume)
    return resume if n_splits == 1 else resume.with_name(f"{resume.stem}-split{split}.pt")


def add_job_arguments(parser, resume_help):
    """Options every training CLI takes: data, seed, device, threads, resume state, output."""
    parser.add_argument("--data", required=True, help="dataset splits (.npz, see datasets.py)")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resume", required=True, help=resume_help)
    parser.add_argument("--out", required=True)
