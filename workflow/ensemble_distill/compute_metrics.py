"""The metrics job: every eval set of each model's prediction file scored into long-format
Parquet (metrics.py computes the numbers).

Usage::

    python -m ensemble_distill.compute_metrics --predictions predictions/all \\
        --experiment digits --models '[{"file": "hydra/seed0", "model": "hydra", \\
        "method": "hydra", "distill_seed": 0}, ...]' [--validation-set val] \\
        --out metrics/all --per-example per_example/all

One job per eval group (config ``eval_group``): for each model, every eval set in its
prediction file ``<predictions>/<file>.npz``, written to ``<out>/<file>.parquet`` and
``<per-example>/<file>.parquet``. Numpy only (no torch), so metric jobs start fast.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import jobguard, manifest, provenance
from .io import DataError, load_npz
from .metrics import evaluate_predictions

OUTPUT_ARRAYS = ("log_probs", "log_alpha", "mean", "var")


def checked_prediction(pred, path, eval_set):
    """One eval set of a prediction file, after checking that its outputs cover exactly its
    examples and intensities (a file cut short would otherwise broadcast or misalign)."""
    labels, intensities = np.asarray(pred["labels"]), np.asarray(pred["intensities"])
    for name in (n for n in OUTPUT_ARRAYS if n in pred):
        shape = pred[name].shape
        n_examples = shape[-1] if name in ("mean", "var") else shape[-2]
        expected = labels.shape[-1]
        if n_examples != expected or (name not in ("mean", "var") and shape[0] != len(intensities)):
            raise DataError(
                f"{path}, eval set '{eval_set}': {name} has shape {shape}, expected "
                f"{len(intensities)} intensities and {expected} examples (its labels)"
            )
    return pred


def eval_set_names(path):
    """The eval sets (groups) in a prediction file."""
    with np.load(path, allow_pickle=False) as f:
        return sorted({k.split("/", 1)[0] for k in f.files if "/" in k})


def model_metrics(predictions, identity, validation_set=None, eval_sets=None):
    """(metric rows, per-example rows) of one model's prediction file on ``eval_sets``
    (default: all in the file); ``identity`` gives the experiment, model, method and
    distillation seed columns."""

    def read(eval_set):
        return checked_prediction(load_npz(predictions, group=eval_set), predictions, eval_set)

    validation = read(validation_set) if validation_set else None
    metrics, examples = [], []
    for eval_set in eval_sets or eval_set_names(predictions):
        pred = read(eval_set)
        rows, per_example = evaluate_predictions(
            pred, eval_set=eval_set, validation=validation, **identity
        )
        metrics.append(rows)
        examples.append(per_example)
    return pd.concat(metrics, ignore_index=True), pd.concat(examples, ignore_index=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--predictions", required=True, help="folder of prediction files")
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--models", type=json.loads, required=True,
                        help="JSON list of {file, model, method, distill_seed}")  # fmt: skip
    parser.add_argument("--eval-sets", nargs="*", help="default: every set in the file")
    parser.add_argument("--validation-set", help="eval set in the same predictions file on "
                        "which temperature scaling is fitted (calibrated metrics)")  # fmt: skip
    parser.add_argument("--out", required=True, help="folder of the metric tables")
    parser.add_argument("--per-example", required=True, help="folder of the per-example tables")
    jobguard.add_log_argument(parser)
    args = parser.parse_args(argv)
    with jobguard.owning(args.out, args.log):  # one job per output folder at a time
        write_metrics(args)


def write_metrics(args):
    """Each model's metric and per-example tables, then the folders' manifests."""
    for model in args.models:
        predictions = Path(args.predictions) / f"{model['file']}.npz"
        identity = {"experiment": args.experiment, "model": model["model"],
                    "method": model["method"], "distill_seed": model["distill_seed"]}  # fmt: skip
        record = provenance.start(
            config={k: identity[k] for k in ("experiment", "model", "method")}
            | {"validation_set": args.validation_set},
            seeds={"distill": identity["distill_seed"]},
            inputs=[predictions],
        )
        metrics, examples = model_metrics(predictions, identity, args.validation_set,
                                          args.eval_sets)  # fmt: skip
        for table, folder in ((metrics, args.out), (examples, args.per_example)):
            provenance.write_parquet(table, Path(folder) / f"{model['file']}.parquet", record)
        print(f"{model['file']}: wrote {len(metrics)} metric rows, {len(examples)} per example")
    manifest.write(args.out)  # last: the folders are complete
    manifest.write(args.per_example)


if __name__ == "__main__":
    main()
