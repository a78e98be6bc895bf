"""The deep-ensemble curve behind the Deep Ensemble Equivalent (DEE): calibrated metrics of
deep ensembles of k = 1..K teachers, each the mean over random k-subsets.

Usage::

    python -m ensemble_distill.ensemble_curve --predictions ensemble.npz \\
        --validation-set val --test-set test --out ensemble_curve.parquet

Each subset's temperature is fitted on the validation set (calibration.py); the table's
``cnll`` column is the curve that ``calibration.dee`` reads a model's DEE from.
"""

import argparse
import itertools
import math

import numpy as np
import pandas as pd

from . import provenance
from .calibration import fit_temperature, log_mean_exp, nll_at, scaled
from .io import load_npz
from .metrics import CALIBRATED, labelled_metrics, pairwise_kl

MAX_SUBSETS = 20  # random k-subsets per ensemble size (all of them when there are fewer)


def subsets(k, n_members, rng, limit=MAX_SUBSETS):
    """Up to ``limit`` distinct k-subsets of range(n_members): all if there are few."""
    if math.comb(n_members, k) <= limit:
        return [list(c) for c in itertools.combinations(range(n_members), k)]
    seen = set()
    while len(seen) < limit:
        seen.add(tuple(sorted(rng.choice(n_members, size=k, replace=False).tolist())))
    return [list(c) for c in sorted(seen)]


TINY = 1e-300  # below this a mean of probabilities has lost precision to subnormals


def subset_means(log_probs):
    """A function giving log p̄ (N, C) of any subset of the K members' log-probabilities
    (K, N, C): p = exp(log p) is computed once, so a subset's mean costs a sum and a log
    instead of k exps (a DEE curve takes ~1000 subsets). Entries where every chosen
    member's p is below ``TINY`` (log p < −690) are recomputed from the log-probabilities."""
    probs = np.exp(log_probs)

    def log_mean(subset):
        mean = probs[subset].mean(0)
        with np.errstate(divide="ignore"):
            out = np.log(mean)
        tiny = mean < TINY
        if tiny.any():
            out[tiny] = log_mean_exp(log_probs[subset][:, tiny], axis=0)
        return out

    return log_mean


def nll_scores(log_probs, log_mean, labels, t):
    return {"nll": nll_at(log_mean, labels, 1.0), "cnll": nll_at(log_mean, labels, t)}


def ensemble_curve(val_log_probs, val_labels, test_log_probs, test_labels, score=nll_scores,
                   seed=0):  # fmt: skip
    """Rows (size k, subsets, metrics...) for deep ensembles of k of the K members: the mean
    over k-subsets of ``score(test log-probs of the subset, their log p̄, labels, t*)``, t*
    fitted on the validation set."""
    rng = np.random.default_rng(seed)
    val_mean, test_mean = subset_means(val_log_probs), subset_means(test_log_probs)
    rows = []
    for k in range(1, len(test_log_probs) + 1):
        scores = []
        for subset in subsets(k, len(test_log_probs), rng):
            t = fit_temperature(val_mean(subset), val_labels)
            scores.append(score(test_log_probs[subset], test_mean(subset), test_labels, t))
        means = {m: float(np.mean([s[m] for s in scores])) for m in scores[0]}
        rows.append({"size": k, "subsets": len(scores), **means})
    return rows


def main(argv=None):
    """CLI: the calibrated DE-k curve of an ensemble's prediction files, as Parquet."""
    parser = argparse.ArgumentParser(description="Deep-ensemble curve for the DEE.")
    parser.add_argument("--predictions", required=True, help="the ensemble's predictions (.npz)")
    parser.add_argument("--validation-set", required=True, help="eval set fitting temperatures")
    parser.add_argument("--test-set", required=True)
    parser.add_argument("--seed", type=int, default=0, help="for drawing k-subsets")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    record = provenance.start(
        config={"validation_set": args.validation_set, "test_set": args.test_set},
        seeds={"subsets": args.seed},
        inputs=[args.predictions],
    )

    def score(log_probs, log_mean, labels, t):
        plain = labelled_metrics(log_mean, labels)
        calibrated = labelled_metrics(scaled(log_mean, t), labels)
        diversity = pairwise_kl(log_probs).mean() if len(log_probs) > 1 else np.nan
        return {**plain, **{f"c{m}": calibrated[m] for m in CALIBRATED},
                "diversity_kl": float(diversity), "temperature": t}  # fmt: skip

    val = load_npz(args.predictions, group=args.validation_set)
    test = load_npz(args.predictions, group=args.test_set)
    rows = ensemble_curve(
        val["log_probs"][0].astype(np.float64),
        val["labels"],
        test["log_probs"][0].astype(np.float64),
        test["labels"],
        score=score,
        seed=args.seed,
    )
    provenance.write_parquet(pd.DataFrame(rows), args.out, record)
    print(pd.DataFrame(rows).to_string())


if __name__ == "__main__":
    main()
