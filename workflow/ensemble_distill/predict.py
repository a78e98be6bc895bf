"""Store every member's / head's predictions of models on all eval sets of their experiment.

Usage::

    python -m ensemble_distill.predict --model ensemble t0.pt t1.pt ... \
        --model kd/seed0 kd0.pt --eval-sets test=test.npz rotate=rotate.npz --out predictions/

Several checkpoints form an ensemble (their members are concatenated); one student
checkpoint contributes its K heads. Each ``--model NAME`` is written to
``<out>/<NAME>.npz`` with its provenance record; for each eval set the file holds, under
``<eval set>/``, ``log_probs`` (or ``log_alpha`` for a Dirichlet student) with shape
(I, K, N, C) for I shift intensities, plus the set's labels, intensities, eval_kind and
coords, so that every metric can be recomputed later without the model
(``io.load_npz(path, group=<eval set>)``). One job covers all eval sets of one eval
group's models (config ``eval_group``: a student seed group, or a whole experiment), so that it
pays torch's start-up once; the eval sets are read once.
"""

import argparse
import copy
from pathlib import Path

import numpy as np
import torch

from . import jobguard, manifest, provenance
from .io import file_sha256, load_checkpoint, load_npz, save_npz
from .jobs import configure_torch, log, pick_device
from .losses import MIN_LOG_VAR
from .models import load_members, load_model

# What a model's logits are stored as, by its checkpoint's ``output``.
OUTPUT_ARRAYS = {
    "categorical": "log_probs",  # log-softmax of each member / head
    "dirichlet": "log_alpha",  # log concentrations of a Prior Network (EnD²)
    "gaussian": "mean",  # and "var": each member's / head's Gaussian, in original units
}


ROWS_PER_BATCH = 32768  # examples x members per forward pass: bounds activation memory


@torch.no_grad()
def predict_outputs(model, x, output, device, batch_size=None):
    """Per-member outputs (K, N, C) of ``model`` on inputs ``x`` (N, ...), in batches of at
    most 4096 and ``ROWS_PER_BATCH / K`` examples unless ``batch_size`` is given (50 ResNet
    members on 4096 CIFAR images would need ~13 GB for one activation tensor)."""
    if batch_size is None:
        members = model(torch.as_tensor(x[:1], device=device)).shape[1]
        batch_size = min(4096, max(64, ROWS_PER_BATCH // members))
    out = []
    for start in range(0, len(x), batch_size):
        xb = torch.as_tensor(x[start : start + batch_size], device=device)
        logits = model(xb).double()  # (B, K, C)
        out.append(torch.log_softmax(logits, dim=-1) if output == "categorical" else logits)
    # Regression outputs stay (K, N, 2): mean and log variance in standardised units.
    return torch.cat(out).transpose(0, 1).float().cpu().numpy()


def predict(models, eval_set_paths, out_dir, device="auto"):
    """Predictions of each model of ``models`` ({name: checkpoint paths}) on every eval set
    of ``eval_set_paths`` ({name: path}), saved to ``<out_dir>/<name>.npz`` with one group
    per set; returns those paths."""
    device = pick_device(device)
    eval_sets = {name: load_npz(path) for name, path in eval_set_paths.items()}
    paths = []
    for name, checkpoint_paths in models.items():
        checkpoints = [load_checkpoint(p) for p in checkpoint_paths]
        paths.append(Path(out_dir) / f"{name}.npz")
        save_predictions(checkpoints, eval_sets, paths[-1], device, checkpoint_paths)
    return paths


def save_predictions(checkpoints, eval_sets, out, device, checkpoint_paths):
    """Predictions of the model made of loaded ``checkpoints`` (read from
    ``checkpoint_paths``, for error messages) on ``eval_sets`` ({name: arrays})."""
    outputs = {c["output"] for c in checkpoints}
    if len(outputs) != 1 or not outputs <= set(OUTPUT_ARRAYS):
        raise ValueError(
            f"cannot predict with mixed or unknown outputs {outputs}: "
            f"{list(map(str, checkpoint_paths))}"
        )
    output = outputs.pop()
    arrays = {"seeds": [c["seed"] for c in checkpoints]}
    for name, evalset in eval_sets.items():
        group = predict_eval_set(checkpoints, output, dict(evalset), device)
        arrays.update({f"{name}/{k}": v for k, v in group.items()})
        log(f"{name}: {output} outputs {group[OUTPUT_ARRAYS[output]].shape}")
    save_npz(out, kind=output, **arrays)
    log(f"wrote {out}")


def load_predictor(checkpoints, split=0):
    """One student, or the members of several teacher checkpoints as one batched model."""
    if len(checkpoints) == 1:
        return load_model(checkpoints[0], split)
    return load_members(checkpoints, split)


def predict_eval_set(checkpoints, output, evalset, device):
    """Arrays of one eval set: the model's outputs beside the set's labels and metadata."""
    x = evalset.pop("x")
    arrays = dict(evalset)
    if output == "gaussian":  # the first axis of x is the data split: its own models
        means, variances = [], []
        for s, x_split in enumerate(x):
            model = load_predictor(checkpoints, s).to(device)
            raw = predict_outputs(model, x_split, output, device).astype(np.float64)
            scale, shift = evalset["y_scale"][s], evalset["y_shift"][s]
            means.append(raw[..., 0] * scale + shift)
            variances.append(np.exp(np.maximum(raw[..., 1], MIN_LOG_VAR)) * scale**2)
        arrays.update(mean=np.stack(means), var=np.stack(variances))
    else:  # the first axis of x is the shift intensity
        model = load_predictor(checkpoints).to(device)
        arrays[OUTPUT_ARRAYS[output]] = np.stack(
            [predict_outputs(model, xi, output, device) for xi in x]
        )
    return arrays


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", nargs="+", action="append", required=True,
                        metavar=("NAME", "CHECKPOINT"),
                        help="a model's name and its checkpoint(s); repeat per model")  # fmt: skip
    parser.add_argument("--eval-sets", nargs="+", required=True, help="name=eval-set.npz")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True, help="folder of the <name>.npz files")
    jobguard.add_log_argument(parser)
    args = parser.parse_args(argv)
    if short := [m[0] for m in args.model if len(m) < 2]:
        parser.error(f"--model {short[0]}: give the model's checkpoint(s) after its name")
    with jobguard.owning(args.out, args.log):  # one job per output folder at a time
        write_predictions(args)


def write_predictions(args):
    """Each model's prediction file with its provenance record, then the folder's manifest."""
    models = {name: checkpoints for name, *checkpoints in args.model}
    configure_torch(args.threads)
    eval_sets = dict(item.split("=", 1) for item in args.eval_sets)
    config = {"device": args.device, "threads": args.threads, "eval_sets": list(eval_sets)}
    shared = provenance.start(config=config, inputs=eval_sets.values())  # hashed once
    paths = predict(models, eval_sets, args.out, device=args.device)
    for checkpoints, path in zip(models.values(), paths, strict=True):
        record = copy.deepcopy(shared)  # each model's file lists its own checkpoints only
        record["inputs"].update({c: file_sha256(c) for c in checkpoints})
        provenance.write_sidecar(record, [path])
    manifest.write(args.out)  # last: the folder is complete


if __name__ == "__main__":
    main()
