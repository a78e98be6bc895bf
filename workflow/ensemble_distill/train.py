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
from functools import partial
from pathlib import Path

import torch

from . import jobguard
from .augment import augmenter
from .io import load_checkpoint, save_checkpoint
from .models import Hydra, Members, is_factor
from .optim import Optimizer


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


def pack_batches(tensors, batch_size, generators=None):
    """Mini-batches of a pack: tensors are (R, N, ...), batches (R, B, ...), and replica r's
    batches follow its own order, the one :func:`batches` draws from ``generators[r]``."""
    r, n = tensors[0].shape[:2]
    if generators is None:
        orders = torch.arange(n).expand(r, n)
    else:
        orders = torch.stack([torch.randperm(n, generator=g) for g in generators])
    rows = torch.arange(r)[:, None]
    for start in range(0, n, batch_size):
        idx = orders[:, start : start + batch_size]
        yield tuple(t[rows, idx] for t in tensors)


@torch.no_grad()
def mean_loss(model, loss_fn, tensors, batch_size=1024, pack=False):
    """Example-weighted mean of ``loss_fn`` over a dataset, in eval mode (per replica, as a
    list, for a pack)."""
    model.eval()
    total, n = 0.0, 0
    for batch in (pack_batches if pack else batches)(tensors, batch_size):
        b = batch[0].shape[1] if pack else len(batch[0])
        total = total + loss_fn(model, *batch).double() * b  # in float64, like .item()
        n += b
    return (total / n).tolist() if pack else (total / n).item()


def lr_factor(epoch, epochs, schedule="constant", milestones=None, floor=0.01, lr_steps=None):
    """Learning-rate multiplier of a 0-based epoch.

    ``multistep``: the factor of the last ``[epoch, factor]`` of ``lr_steps`` whose epoch
    has passed (Ovadia et al.'s ResNet-20: ×0.1, 0.01, 0.001, 0.0005 after epochs 80, 120,
    160, 180), else 1.

    ``warmup_linear_decay`` is Diversity Matters' schedule (giung2 ``WarmupLinearDecayLR``,
    milestones [w, a, b] in epochs, stepped per epoch): linear from ``floor`` to 1 over the
    first w epochs, 1 until epoch a, linear down to ``floor`` at epoch b, then ``floor``.
    Without milestones: the proportions of DM's ResNet-32 teacher, [5, 100, 180] of 200.
    """
    if schedule == "constant":
        return 1.0
    if schedule == "multistep":
        passed = [factor for start, factor in sorted(lr_steps or []) if epoch >= start]
        return passed[-1] if passed else 1.0
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


def make_optimizer(named_parameters, *, optimizer, lr, weight_decay, momentum=0.9,
                   factor_lr=1.0):  # fmt: skip
    """Adam or SGD with momentum over (name, parameter) pairs. BatchEnsemble's rank-one
    factors get their own group: ``factor_lr`` times the learning rate and no weight decay
    (giung2 BASE_LR_BE, WD_BE 0)."""
    named_parameters = list(named_parameters)
    factors = [p for n, p in named_parameters if is_factor(n)]
    shared = [p for n, p in named_parameters if not is_factor(n)]
    groups = [{"params": shared, "lr": lr, "weight_decay": weight_decay}]
    if factors:
        groups.append({"params": factors, "lr": lr * factor_lr, "weight_decay": 0.0})
    for group in groups:
        group["base_lr"] = group["lr"]
    return Optimizer(groups, optimizer, momentum=momentum)


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
    lr_steps=None,
    factor_lr=1.0,
    log=print,
    val_loss_fn=None,
    on_epoch=None,
    prepare_batch=None,
    augment=None,
    amp="none",
    channels_last=False,
    compile=False,
):
    """Train ``model`` on ``loss_fn(model, *batch)``; keep the best validation state.

    The optimiser (Adam, or SGD with momentum), the per-epoch learning-rate ``schedule``
    and ``factor_lr`` (BatchEnsemble factors) are described in :func:`make_optimizer` and
    :func:`lr_factor`. ``prepare_batch(batch, generator)``, the per-batch hook, turns each
    training batch into the loss's arguments (e.g. perturbs inputs and asks the teachers);
    its generator is seeded by (seed, epoch), so resumed runs draw the same numbers.
    ``augment`` (the config's block, augment.py) crops and flips each training batch on
    its device before that hook, every replica of a pack from its own seed.

    GPU settings: ``amp: bf16`` runs the training forward and loss under bfloat16 autocast
    (validation stays float32), ``channels_last`` stores convolution weights (and so
    activations) NHWC, ``compile`` compiles the networks a step calls with torch.compile.

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

    A pack: ``seed`` is a list of R seeds and ``model`` a ``Members`` of R independent
    networks trained together (teacher.py). Then ``train``/``val`` tensors are (R, N, ...),
    replica r's batches follow the order that seed r draws alone (:func:`pack_batches`),
    ``loss_fn`` returns the R per-replica losses and their sum is minimised: the optimisers
    update each parameter elementwise, so every replica takes the steps it would take alone.
    The best epoch is chosen per replica, ``log(line, r)`` gets each replica's lines, and the
    return value is the list of the R histories.
    """
    pack = isinstance(seed, list)
    seeds = seed if pack else [seed]
    replicas = list(model) if pack else [model]
    val_loss_fn = val_loss_fn or loss_fn
    resume = Path(resume)
    augment = augmenter(augment)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if compile:
        compile_networks(model)
    device_type = next(model.parameters()).device.type
    autocast = partial(torch.autocast, device_type, dtype=torch.bfloat16, enabled=amp == "bf16")
    start, histories = 0, [[] for _ in seeds]
    best_loss, best_state = [math.inf] * len(seeds), [None] * len(seeds)
    # A pack whose members run batched trains stacked copies of their parameters (Members).
    stacked = model.train().stack_parameters(train[0]) if pack else None
    state = load_checkpoint(resume) if resume.is_file() else None
    settings = (fingerprint, seeds, stacked is not None)
    if state is not None and (state["fingerprint"], state.get("seeds"),
                              state.get("stacked", False)) != settings:  # fmt: skip
        log(f"ignoring {resume}: written for other settings")
        state = None
    if state is not None:
        model.load_state_dict(state["model"])
        if stacked:
            stacked = model.stack_parameters(train[0])  # of the loaded weights
    opt = make_optimizer(
        stacked.items() if stacked else model.named_parameters(),
        optimizer=optimizer,
        lr=lr,
        weight_decay=weight_decay,
        momentum=momentum,
        factor_lr=factor_lr,
    )
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        start, best_loss, best_state = state["epoch"], state["best_loss"], state["best_model"]
        histories = state["history"]
        log(f"resumed from {resume} after epoch {start}/{epochs}")
    last_write = time.perf_counter()
    jobguard.saved(start)
    for epoch in range(start, epochs):
        jobguard.stop_if_orphaned()
        tic = time.perf_counter()
        if on_epoch is not None:
            on_epoch(epoch)
        for group in opt.param_groups:
            factor = lr_factor(epoch, epochs, schedule, milestones, lr_steps=lr_steps)
            group["lr"] = group["base_lr"] * factor
        model.train()
        generators = [torch.Generator().manual_seed(s * 1_000_003 + epoch) for s in seeds]
        hook_generator = torch.Generator().manual_seed(seeds[0] * 1_000_003 + epoch + 500_000_000)
        augment_generators = [
            torch.Generator().manual_seed(s * 1_000_003 + epoch + 700_000_000) for s in seeds
        ]
        if pack:
            train_batches = pack_batches(train, batch_size, generators)
        else:
            train_batches = batches(train, batch_size, generators[0])
        total, n = 0.0, 0
        for batch in train_batches:
            if augment is not None:
                x = batch[0]
                if pack:  # (R, B, ...): replica r augments with its own generator
                    x = torch.stack([augment(xr, g) for xr, g in zip(x, augment_generators,
                                                                      strict=True)])  # fmt: skip
                else:
                    x = augment(x, augment_generators[0])
                batch = (x, *batch[1:])
            if prepare_batch is not None:
                batch = prepare_batch(batch, hook_generator)
            with autocast():
                losses = loss_fn(model, *batch).float()
            loss = losses.sum()
            if not torch.isfinite(loss):  # stop before the state is overwritten
                raise FloatingPointError(
                    f"training diverged: loss is {loss.item()} in epoch {epoch + 1}; the "
                    f"resume state of epoch {histories[0][-1]['epoch'] if histories[0] else start} "
                    f"is kept in {resume}. Lower the learning rate (config key train.lr, now {lr})."
                )
            opt.zero_grad()
            loss.backward()
            opt.step()
            b = batch[0].shape[1] if pack else len(batch[0])
            total = total + losses.detach().double() * b
            n += b
        train_loss = (total / n).tolist() if pack else [(total / n).item()]
        if stacked:  # validation and the saved states read the members
            model.sync_members()
        # Without a validation set (UCI protocol: fixed epochs) the last epoch is kept.
        if val is not None:
            val_loss = mean_loss(model, val_loss_fn, val, pack=pack)
            val_loss = val_loss if pack else [val_loss]
        else:
            val_loss = train_loss
        now = time.perf_counter()
        for r, replica in enumerate(replicas):
            if val is not None and val_loss[r] < best_loss[r]:
                best_loss[r], best_state[r] = val_loss[r], copy.deepcopy(replica.state_dict())
            record = {"epoch": epoch + 1, "train_loss": train_loss[r], "val_loss": val_loss[r]}
            histories[r].append(record)
            line = (
                f"epoch {epoch + 1:>4}/{epochs}  train_loss {train_loss[r]:.4f}  "
                f"val_loss {val_loss[r]:.4f}  best {min(best_loss[r], val_loss[r]):.4f}  "
                f"{now - tic:.2f}s  {n * len(seeds) / (now - tic):.0f} examples/s"
            )
            log(line, r) if pack else log(line)
        if now - last_write >= checkpoint_interval or epoch + 1 == epochs:
            save_checkpoint(
                resume,
                fingerprint=fingerprint,
                seeds=seeds,
                stacked=stacked is not None,
                epoch=epoch + 1,
                model=model.state_dict(),
                optimizer=opt.state_dict(),
                best_loss=best_loss,
                best_model=best_state,
                history=histories,
            )
            jobguard.saved(epoch + 1)
            last_write = now
    if stacked:  # the members hold the trained weights again
        model.unstack()
    for r, replica in enumerate(replicas):
        if val is not None and best_state[r] is not None:
            replica.load_state_dict(best_state[r])
    return histories if pack else histories[0]


def compile_networks(model):
    """torch.compile, in place, the networks a training step calls: each member of a pack,
    the inner network of a BatchEnsemble or MIMO, a Hydra's body and heads."""
    if isinstance(model, Members):
        targets = list(model)
    elif isinstance(model, Hydra):
        targets = [model.body, *model.heads]
    elif hasattr(model, "net"):
        targets = [model.net]
    else:
        targets = [model]
    for network in targets:
        network.compile()


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


def add_job_arguments(parser, resume_help, seeds=False):
    """Options every training CLI takes: data, seed (or seeds of a pack), device, threads,
    resume state, output."""
    parser.add_argument("--data", required=True, help="dataset splits (.npz, see datasets.py)")
    if seeds:
        parser.add_argument("--seeds", type=int, nargs="+", required=True)
    else:
        parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resume", required=True, help=resume_help)
    parser.add_argument("--out", required=True)
