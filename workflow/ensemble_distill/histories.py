"""Every trained network's losses per epoch, from the histories in the checkpoints' headers
(no tensor is loaded), as one Parquet table: what the training-curves figure plots and a
results bundle carries instead of the checkpoints.

    python -m ensemble_distill.histories --checkpoints teachers=t.pt kd=s.pt ... --out h.parquet

Columns: model (``teachers`` or the student), network (its seed: member seed or
distillation seed), replica (UCI splits trained as one batched network), phase (0, 1: Hydra
trains its heads in a second phase), step (epoch count over all phases), epoch, train_loss,
val_loss, kept (the epoch whose weights the checkpoint holds: the lowest finite validation
loss of the last phase, or its last epoch where there is no validation set or the config
says ``train.keep: last``).
"""

import argparse

import numpy as np
import pandas as pd

from . import provenance
from .io import checkpoint_values


def phases(history):
    """Split a history at each restart of the epoch count (Hydra: Hinton, then heads)."""
    out = []
    for record in history:
        if not out or record["epoch"] <= out[-1][-1]["epoch"]:
            out.append([])
        out[-1].append(record)
    return out


def best_epoch(history, kept="best"):
    """Index (in the whole history) of the kept epoch (see the module docstring); ``kept``
    is the checkpoint's record of which it kept (``train.keep``)."""
    if kept == "last":
        return len(history) - 1
    last = phases(history)[-1]
    start = len(history) - len(last)
    val = np.array([np.nan if r["val_loss"] is None else r["val_loss"] for r in last], float)
    if np.isfinite(val).any():
        return start + int(np.nanargmin(val))
    return len(history) - 1


def history_rows(model, values):
    rows = []
    for replica, history in enumerate(values["history"]):
        if not history:
            continue  # trained elsewhere (external.py): no history
        kept = best_epoch(history, values.get("kept", "best"))
        step = 0
        for phase, records in enumerate(phases(history)):
            for r in records:
                rows.append(dict(model=model, network=int(values["seed"]), replica=replica,
                                 phase=phase, step=step + 1, epoch=r["epoch"],
                                 train_loss=r["train_loss"], val_loss=r["val_loss"],
                                 kept=step == kept))  # fmt: skip
                step += 1
    return rows


def histories_frame(checkpoints):
    """``checkpoints``: {model: [paths]} -> the table described above."""
    rows = [row for model, paths in checkpoints.items() for path in paths
            for row in history_rows(model, checkpoint_values(path))]  # fmt: skip
    columns = ["model", "network", "replica", "phase", "step", "epoch", "train_loss",
               "val_loss", "kept"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"val_loss": float, "train_loss": float, "kept": bool})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoints", nargs="+", required=True, help="model=checkpoint ...")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    checkpoints = {}
    for pair in args.checkpoints:
        model, path = pair.split("=", 1)
        checkpoints.setdefault(model, []).append(path)
    paths = [p for ps in checkpoints.values() for p in ps]
    record = provenance.start(config={"models": list(checkpoints)}, inputs=paths)
    # The inputs' hashes identify the checkpoints; their records (with wall-clock times)
    # stay beside them, so that a resumed run writes the same bytes as an uninterrupted one.
    provenance.write_parquet(histories_frame(checkpoints), args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
