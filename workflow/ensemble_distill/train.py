"""Mini-batch training with checkpoints, exact resume and best-on-validation.

``fit`` is shared by teachers and students:

- **Resume.** It saves a resume file (model, optimiser, best state, history) after every
  epoch, or, with ``checkpoint_interval`` > 0, after the first epoch that ends that many
  seconds after the last write (and after the last epoch): for tiny epochs the write would
  otherwise dominate. Rerun after a kill, it continues from the last saved epoch. The file
  lies outside the rule's outputs and is used only if it was written for the same
  ``fingerprint`` (a hash of the job's settings, ``jobs.fingerprint``).
- **Random streams.** Shuffling, the per-batch hook (perturbations) and augmentation draw
  from generators seeded by (seed, epoch), so a resumed run follows exactly the same
  batches as an uninterrupted one.
- **Packs.** ``seed`` is a list of R seeds and ``model`` a ``Members`` of R independent
  networks trained together (teacher.py). ``train``/``val`` tensors are then (R, N, ...),
  replica r's batches follow the order that seed r draws alone (:func:`pack_batches`),
  ``loss_fn`` returns the R per-replica losses and their sum is minimised: the optimisers
  update each parameter elementwise, so every replica takes the steps it would take alone.
  The best epoch is chosen per replica and ``log(line, r)`` gets each replica's lines.
"""

import copy
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
from .transfer import to_device


def batches(tensors, batch_size, generator=None):
    """Yield tuples of mini-batches; shuffled when a generator is given (the order is drawn
    on the CPU and copied to the data's device once)."""
    n, device = len(tensors[0]), tensors[0].device
    if generator is None:
        order = torch.arange(n, device=device)
    else:
        order = to_device(torch.randperm(n, generator=generator), device)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield tuple(t[idx] for t in tensors)


def pack_batches(tensors, batch_size, generators=None):
    """Mini-batches of a pack: tensors are (R, N, ...), batches (R, B, ...), and replica r's
    batches follow its own order, the one :func:`batches` draws from ``generators[r]``."""
    (r, n), device = tensors[0].shape[:2], tensors[0].device
    if generators is None:
        orders = torch.arange(n, device=device).expand(r, n)
    else:
        orders = torch.stack([torch.randperm(n, generator=g) for g in generators])
        orders = to_device(orders, device)
    rows = torch.arange(r, device=device)[:, None]
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


class Diverged(Exception):
    """A training loss that was not finite in an epoch (raised at the epoch's end, before
    its state could be recorded or saved)."""

    def explained(self, epoch, saved, resume, lr):
        return FloatingPointError(
            f"training diverged: loss is {self.args[0]} in epoch {epoch + 1}; the resume "
            f"state of epoch {saved} is kept in {resume}. Lower the learning rate (config "
            f"key train.lr, now {lr})."
        )


class Progress:
    """Per replica of a pack (one for a single network): the history of epoch records, the
    best validation loss and the state it was reached with; and the epochs done."""

    def __init__(self, replicas):
        self.epoch, self.histories = 0, [[] for _ in range(replicas)]
        self.best_loss, self.best_state = [math.inf] * replicas, [None] * replicas

    def restore(self, state):
        self.epoch, self.histories = state["epoch"], state["history"]
        self.best_loss, self.best_state = state["best_loss"], state["best_model"]

    def record(self, epoch, replicas, train_loss, val_loss, keep_best):
        """Append epoch ``epoch``'s losses; with ``keep_best``, remember improved states."""
        for r, replica in enumerate(replicas):
            if keep_best and val_loss[r] < self.best_loss[r]:
                self.best_loss[r], self.best_state[r] = (
                    val_loss[r],
                    copy.deepcopy(replica.state_dict()),
                )
            record = {"epoch": epoch + 1, "train_loss": train_loss[r], "val_loss": val_loss[r]}
            self.histories[r].append(record)
        self.epoch = epoch + 1

    def log(self, log, pack, epochs, seconds, examples):
        """Each replica's line of the last epoch (``log(line, r)`` in a pack)."""
        for r, history in enumerate(self.histories):
            h = history[-1]
            line = (
                f"epoch {h['epoch']:>4}/{epochs}  train_loss {h['train_loss']:.4f}  "
                f"val_loss {h['val_loss']:.4f}  best {min(self.best_loss[r], h['val_loss']):.4f}  "
                f"{seconds:.2f}s  {examples / seconds:.0f} examples/s"
            )
            log(line, r) if pack else log(line)

    def state(self):
        return {"epoch": self.epoch, "best_loss": self.best_loss, "best_model": self.best_state,
                "history": self.histories}  # fmt: skip

    def load_best(self, replicas):
        for replica, best in zip(replicas, self.best_state, strict=True):
            if best is not None:
                replica.load_state_dict(best)


def read_resume(resume, settings, log):
    """The resume state at ``resume`` if it was written for these ``settings`` (fingerprint,
    seeds, stacked), else None: a stale file from other settings is never continued."""
    state = load_checkpoint(resume) if resume.is_file() else None
    if state is not None and (state["fingerprint"], state.get("seeds"),
                              state.get("stacked", False)) != settings:  # fmt: skip
        log(f"ignoring {resume}: written for other settings")
        return None
    return state


def epoch_generators(seeds, epoch):
    """Random streams of an epoch, seeded by (seed, epoch) so that a resumed run draws the
    same numbers: each replica's batch order, the per-batch hook's (perturbations), and each
    replica's augmentation."""
    orders = [torch.Generator().manual_seed(s * 1_000_003 + epoch) for s in seeds]
    hook = torch.Generator().manual_seed(seeds[0] * 1_000_003 + epoch + 500_000_000)
    augment = [torch.Generator().manual_seed(s * 1_000_003 + epoch + 700_000_000) for s in seeds]
    return orders, hook, augment


def augmented(batch, augment, generators, pack):
    """The batch with its inputs augmented; in a pack (R, B, ...) each replica with its own
    generator."""
    x = batch[0]
    if pack:
        x = torch.stack([augment(xr, g) for xr, g in zip(x, generators, strict=True)])
    else:
        x = augment(x, generators[0])
    return (x, *batch[1:])


def train_epoch(model, loss_fn, opt, train, epoch, *, seeds, pack, batch_size, augment,
                prepare_batch, autocast):  # fmt: skip
    """One pass over ``train``: (mean training loss per replica, examples per replica)."""
    orders, hook_generator, augment_generators = epoch_generators(seeds, epoch)
    model.train()
    if pack:
        train_batches = pack_batches(train, batch_size, orders)
    else:
        train_batches = batches(train, batch_size, orders[0])
    total, n, finite = 0.0, 0, True
    for batch in train_batches:
        if augment is not None:
            batch = augmented(batch, augment, augment_generators, pack)
        if prepare_batch is not None:
            batch = prepare_batch(batch, hook_generator)
        with autocast():
            losses = loss_fn(model, *batch).float()
        loss = losses.sum()
        # On the device, read once per epoch: a per-step check would wait for the GPU.
        finite = torch.isfinite(loss) & finite
        opt.zero_grad()
        loss.backward()
        opt.step()
        b = batch[0].shape[1] if pack else len(batch[0])
        total = total + losses.detach().double() * b
        n += b
    mean = total / n
    if not bool(finite):  # the epoch's state is dropped: the last saved one is kept
        raise Diverged("nan" if mean.isnan().any() else "inf")
    return (mean.tolist() if pack else [mean.item()]), n


def kept_state(has_validation, keep="best"):
    """Which epoch's state training keeps: ``best`` (lowest validation loss) when there is a
    validation set and ``keep`` (config ``train.keep``) asks for it, else ``last``."""
    return "best" if has_validation and keep == "best" else "last"


def fit(model, loss_fn, train, val, *, epochs, batch_size, lr, weight_decay, seed, resume,
        fingerprint, checkpoint_interval=0.0, optimizer="adam", momentum=0.9,
        schedule="constant", milestones=None, lr_steps=None, factor_lr=1.0, log=print,
        val_loss_fn=None, on_epoch=None, prepare_batch=None, augment=None, amp="none",
        channels_last=False, compile=False, keep="best"):  # fmt: skip
    """Train ``model`` on ``loss_fn(model, *batch)``, keep the best validation state (the
    final one if ``val`` is None or ``keep`` is ``last``) and return the history (R
    histories for a pack: ``seed`` a list of R seeds; see the module docstring,
    :func:`make_optimizer`, :func:`lr_factor`).
    ``val_loss_fn`` (default ``loss_fn``) selects the best epoch; ``on_epoch(epoch)`` runs
    before each epoch (a function of ``epoch`` only, so that resuming replays it);
    ``prepare_batch(batch, generator)`` makes each training batch the loss's arguments
    (perturbs inputs, asks the teachers), after ``augment`` (augment.py) crops and flips
    it. ``amp: bf16`` autocasts the training forward and loss (validation stays float32),
    ``channels_last`` stores convolutions NHWC, ``compile`` compiles each network."""
    pack = isinstance(seed, list)
    seeds, replicas = seed if pack else [seed], list(model) if pack else [model]
    resume = Path(resume)
    prepare_networks(model, channels_last, compile)
    device_type = next(model.parameters()).device.type
    autocast = partial(torch.autocast, device_type, dtype=torch.bfloat16, enabled=amp == "bf16")
    opt, stacked, progress = start_or_resume(pack, model, train, seeds, resume, fingerprint, log,
                                             optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                                             momentum=momentum, factor_lr=factor_lr)  # fmt: skip
    step = partial(train_epoch, model, loss_fn, opt, train, seeds=seeds, pack=pack,
                   batch_size=batch_size, augment=augmenter(augment),
                   prepare_batch=prepare_batch, autocast=autocast)  # fmt: skip
    start, last_write = progress.epoch, time.perf_counter()
    if start:
        log(f"resumed from {resume} after epoch {start}/{epochs}")
    jobguard.saved(start)
    for epoch in range(start, epochs):
        jobguard.stop_if_orphaned()
        tic = time.perf_counter()
        if on_epoch is not None:
            on_epoch(epoch)
        opt.scale_lr(lr_factor(epoch, epochs, schedule, milestones, lr_steps=lr_steps))
        try:
            train_loss, n = step(epoch)
        except Diverged as error:
            saved = progress.histories[0][-1]["epoch"] if progress.histories[0] else start
            raise error.explained(epoch, saved, resume, lr) from None
        if stacked:  # validation and the saved states read the members
            model.sync_members()
        # Without a validation set (UCI protocol: fixed epochs) the last epoch is kept.
        val_loss = (
            train_loss if val is None else validation_loss(model, val_loss_fn or loss_fn, val, pack)
        )
        now = time.perf_counter()
        keep_best = kept_state(val is not None, keep) == "best"
        progress.record(epoch, replicas, train_loss, val_loss, keep_best=keep_best)
        progress.log(log, pack, epochs, now - tic, n * len(seeds))
        if now - last_write >= checkpoint_interval or epoch + 1 == epochs:
            save_checkpoint(resume, fingerprint=fingerprint, seeds=seeds,
                            stacked=stacked is not None, model=model.state_dict(),
                            optimizer=opt.state_dict(), **progress.state())  # fmt: skip
            jobguard.saved(epoch + 1)
            last_write = now
    if stacked:  # the members hold the trained weights again
        model.unstack()
    progress.load_best(replicas)
    return progress.histories if pack else progress.histories[0]


def validation_loss(model, loss_fn, val, pack):
    """The mean validation loss per replica, as a list."""
    loss = mean_loss(model, loss_fn, val, pack=pack)
    return loss if pack else [loss]


def start_or_resume(pack, model, train, seeds, resume, fingerprint, log, **optimizer):
    """(optimiser, stacked parameters or None, progress), from the resume state where it
    was written for these settings. A pack whose members run batched trains stacked copies
    of their parameters (``Members.stack_parameters``)."""
    stacked = model.train().stack_parameters(train[0]) if pack else None
    state = read_resume(resume, (fingerprint, seeds, stacked is not None), log)
    if state is not None:
        model.load_state_dict(state["model"])
        if stacked:
            stacked = model.stack_parameters(train[0])  # of the loaded weights
    opt = make_optimizer(stacked.items() if stacked else model.named_parameters(), **optimizer)
    progress = Progress(len(seeds))
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        progress.restore(state)
    return opt, stacked, progress


def prepare_networks(model, channels_last, compile):
    """GPU layout and compilation, in place, before training."""
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if compile:
        compile_networks(model)


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
