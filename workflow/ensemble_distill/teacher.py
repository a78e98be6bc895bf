"""Train a pack of ensemble members (teachers): cross-entropy, or Gaussian NLL for regression.

Usage::

    python -m ensemble_distill.teacher --data results/digits/dataset.npz \\
        --teacher '{"arch": "mlp", "hidden": [100, 100], "train": {...}}' --seeds 0 1 2 \\
        --resume results/.resume/digits/teachers-seeds0-2.pt --out results/digits/teachers/seeds0-2

One job trains the members of its pack (config ``ensemble.pack``) as one batched network
(``models.Members``), and for regression benchmarks with several train/test splits (UCI)
every split of every member too: start-up is paid once per job, and K small networks make
one large computation instead of K small ones. Each member still has its own
initialisation (from its seed and split), its own batch order (from its seed) and its own
optimiser state, so it ends where it would end trained alone, up to floating-point
reduction order. Each writes its own ``<out>/seed<k>/model.pt``, provenance record and
``train.log``.
"""

import argparse
import copy
import json
from pathlib import Path

import torch

from . import jobguard, manifest, plan, provenance
from .catalog import input_stats
from .datasets import Dataset
from .io import atomic_path, file_sha256, save_checkpoint
from .jobs import add_job_arguments, configure_torch, fingerprint, log, pick_device
from .losses import member_gaussian_nll, member_nll
from .models import TASK_OUTPUT, Members, build_model, teacher_spec
from .train import fit, kept_state

# Per-member objective by task: outputs (R, B, C), targets (R, B) -> (R,) losses.
OBJECTIVES = {"classification": member_nll, "regression": member_gaussian_nll}


def one_member_state(net):
    """The state dict of ``net`` as a one-member ``Members``: the checkpoint format."""
    return {f"0.{k}": v.cpu() for k, v in net.state_dict().items()}


def train_teachers(data_path, teacher_cfg, seeds, *, out, resume, device="auto"):
    """Train members ``seeds`` on every data split as one pack; write one checkpoint per
    seed under ``out``. Returns the checkpoint paths."""
    device = pick_device(device)
    data = Dataset.load(data_path)
    objective = OBJECTIVES[data.task]
    spec = teacher_spec(teacher_cfg, data.input_shape, data.num_classes, input_stats(data.name))
    # Replica r of the pack: member seed, data split. Its initialisation depends on both.
    replicas = [(seed, s) for seed in seeds for s in range(data.n_splits)]
    nets = []
    for seed, s in replicas:
        torch.manual_seed(seed + 100_003 * s)
        nets.append(build_model(spec)[0])  # the network inside a one-member ``Members``
    pack = Members(nets).to(device)
    split_of = torch.tensor([s for _, s in replicas])

    def per_replica(a):  # (N, ...) shared by all, or (S, N, ...) per split -> (R, N, ...)
        a = torch.as_tensor(a, device=device)
        return a[split_of] if data.task == "regression" else a.expand(len(replicas), *a.shape)

    train = (per_replica(data.x_train), per_replica(data.y_train))
    val = (per_replica(data.x_val), per_replica(data.y_val)) if data.x_val.size else None
    logs = [Path(plan.member_dir(out, seed)) / "train.log" for seed in seeds]
    lines = [[] for _ in seeds]

    def log_replica(line, r):
        seed, s = replicas[r]
        split = f" split {s + 1}/{data.n_splits}" if data.n_splits > 1 else ""
        log(f"seed {seed}{split}: {line}")
        lines[r // data.n_splits].append(f"{split.strip()}: {line}" if split else line)

    log(f"{len(seeds)} member(s) x {data.n_splits} split(s) in one pack of {len(replicas)}")
    histories = fit(
        pack,
        lambda model, x, y: objective(model.forward_each(x), y),
        train,
        val,
        seed=[seed for seed, _ in replicas],
        fingerprint=fingerprint(file_sha256(data_path), teacher_cfg, seeds),
        log=lambda line, r=None: log(line) if r is None else log_replica(line, r),
        resume=resume,
        **teacher_cfg["train"],
    )
    paths = []
    for i, seed in enumerate(seeds):
        rows = range(i * data.n_splits, (i + 1) * data.n_splits)
        final = [histories[r][-1]["val_loss"] for r in rows]
        kept = kept_state(val is not None, teacher_cfg["train"].get("keep", "best"))
        if kept == "best":  # the kept epoch's loss
            final = [min(h["val_loss"] for h in histories[r]) for r in rows]
        path = Path(plan.checkpoint(out, seed))
        save_checkpoint(
            path,
            spec=spec,
            state_dicts=[one_member_state(pack[r]) for r in rows],
            output=TASK_OUTPUT[data.task],
            seed=seed,
            history=[histories[r] for r in rows],
            val_loss=final,
            kept=kept,
        )
        with atomic_path(logs[i]) as tmp:
            tmp.write_text("\n".join(lines[i]) + "\n")
        log(
            f"seed {seed}: final {'validation' if val is not None else 'training'} loss "
            f"{sum(final) / len(final):.4f} (mean over {data.n_splits} split(s))"
        )
        paths.append(path)
    Path(resume).unlink(missing_ok=True)  # the finished members supersede the resume state
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", type=json.loads, required=True)
    add_job_arguments(parser, resume_help="resume-state file (not a rule output)", seeds=True)
    args = parser.parse_args(argv)
    configure_torch(args.threads)
    record = provenance.start(
        config={"teacher": args.teacher, "device": args.device, "threads": args.threads},
        inputs=[args.data],
    )
    with jobguard.owning(args.resume, args.log):
        paths = train_teachers(
            args.data, args.teacher, args.seeds, out=args.out, resume=args.resume,
            device=args.device,
        )  # fmt: skip
    for seed, path in zip(args.seeds, paths, strict=True):
        member = copy.deepcopy(record)
        member["seeds"] = {"member": seed, "pack": args.seeds}
        provenance.write_sidecar(member, [path])
    manifest.write(args.out)  # last: the pack's folder is complete


if __name__ == "__main__":
    main()
