"""Store every member's / head's predictions of one model on one eval set.

Usage::

    python -m ensemble_distill.predict --checkpoints t0.pt t1.pt ... --eval-set rotate.npz \
        --out predictions.npz

Several checkpoints form an ensemble (their members are concatenated); one student
checkpoint contributes its K heads. The output holds ``log_probs`` with shape
(I, K, N, C) for I shift intensities, plus the eval set's labels, intensities, shift and
coords, so that every metric can be recomputed later without the model.
"""

import argparse

import numpy as np
import torch

from .io import load_checkpoint, load_npz, save_npz
from .models import load_model
from .train import configure_torch, log, pick_device


@torch.no_grad()
def predict_log_probs(models, x, device, batch_size=4096):
    """Log-probabilities (K, N, C) of all members of ``models`` on inputs ``x`` (N, ...)."""
    out = []
    for start in range(0, len(x), batch_size):
        xb = torch.as_tensor(x[start : start + batch_size], device=device)
        logits = torch.cat([model(xb) for model in models], dim=1)  # (B, K, C)
        out.append(torch.log_softmax(logits.double(), dim=-1).float().cpu())
    return torch.cat(out).transpose(0, 1).numpy()


def predict(checkpoint_paths, eval_set_path, out, device="auto"):
    device = pick_device(device)
    checkpoints = [load_checkpoint(p) for p in checkpoint_paths]
    outputs = {c["output"] for c in checkpoints}
    if outputs != {"categorical"}:
        raise ValueError(f"unsupported model outputs {outputs} in {checkpoint_paths}")
    models = [load_model(c).to(device) for c in checkpoints]
    evalset = load_npz(eval_set_path)
    log_probs = [predict_log_probs(models, x, device) for x in evalset.pop("x")]
    arrays = dict(evalset, log_probs=np.stack(log_probs), seeds=[c["seed"] for c in checkpoints])
    save_npz(out, kind="categorical", **arrays)
    log(f"wrote {out}: log_probs {arrays['log_probs'].shape}")

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
    predict(args.checkpoints, args.eval_set, args.out, device=args.device)


if __name__ == "__main__":
    main()
