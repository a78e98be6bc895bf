"""Store every member's / head's predictions of one model on one eval set.

Usage::

    python -m ensemble_distill.predict --checkpoints t0.pt t1.pt ... --eval-set rotate.npz \
        --out predictions.npz

Several checkpoints form an ensemble (their members are concatenated); one student
checkpoint contributes its K heads. The output holds ``log_probs`` (or ``log_alpha`` for a
Dirichlet student) with shape (I, K, N, C) for I shift intensities, plus the eval set's
labels, intensities, shift and coords, so that every metric can be recomputed later
without the model.
"""

import argparse

import numpy as np
import torch

from . import provenance
from .io import load_checkpoint, load_npz, save_npz
from .losses import MIN_LOG_VAR
from .models import load_model
from .train import configure_torch, log, pick_device

# What a model's logits are stored as, by its checkpoint's ``output``.
OUTPUT_ARRAYS = {
    "categorical": "log_probs",  # log-softmax of each member / head
    "dirichlet": "log_alpha",  # log concentrations of a Prior Network (EnD²)
    "gaussian": "mean",  # and "var": each member's / head's Gaussian, in original units
}


@torch.no_grad()
def predict_outputs(models, x, output, device, batch_size=4096):
    """Per-member outputs (K, N, C) of ``models`` on inputs ``x`` (N, ...)."""
    out = []
    for start in range(0, len(x), batch_size):
        xb = torch.as_tensor(x[start : start + batch_size], device=device)
        logits = torch.cat([model(xb) for model in models], dim=1).double()  # (B, K, C)
        out.append(torch.log_softmax(logits, dim=-1) if output == "categorical" else logits)
    # Regression outputs stay (K, N, 2): mean and log variance in standardised units.
    return torch.cat(out).transpose(0, 1).float().cpu().numpy()


def predict(checkpoint_paths, eval_set_path, out, device="auto"):
    device = pick_device(device)
    checkpoints = [load_checkpoint(p) for p in checkpoint_paths]
    outputs = {c["output"] for c in checkpoints}
    if len(outputs) != 1 or not outputs <= set(OUTPUT_ARRAYS):
        raise ValueError(
            f"cannot predict with mixed or unknown outputs {outputs}: "
            f"{list(map(str, checkpoint_paths))}"
        )
    output = outputs.pop()
    evalset = load_npz(eval_set_path)
    x = evalset.pop("x")
    arrays = {**evalset, "seeds": [c["seed"] for c in checkpoints]}
    if output == "gaussian":  # the first axis of x is the data split: its own models
        means, variances = [], []
        for s, x_split in enumerate(x):
            models = [load_model(c, split=s).to(device) for c in checkpoints]
            raw = predict_outputs(models, x_split, output, device).astype(np.float64)
            scale, shift = evalset["y_scale"][s], evalset["y_shift"][s]
            means.append(raw[..., 0] * scale + shift)
            variances.append(np.exp(np.maximum(raw[..., 1], MIN_LOG_VAR)) * scale**2)
        arrays.update(mean=np.stack(means), var=np.stack(variances))
    else:  # the first axis of x is the shift intensity
        models = [load_model(c).to(device) for c in checkpoints]
        arrays[OUTPUT_ARRAYS[output]] = np.stack(
            [predict_outputs(models, xi, output, device) for xi in x]
        )
    save_npz(out, kind=output, **arrays)
    log(f"wrote {out}: {output} outputs {arrays[OUTPUT_ARRAYS[output]].shape}")

    return np.stack(arrays)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoints", nargs="+", required=True)
    parser.add_argument("--eval-set", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    configure_torch(args.threads)
    record = provenance.start(
        config={"device": args.device, "threads": args.threads},
        inputs=[*args.checkpoints, args.eval_set],
    )
    predict(args.checkpoints, args.eval_set, args.out, device=args.device)
    provenance.write_sidecar(record, [args.out])


if __name__ == "__main__":
    main()
