"""Temperature scaling and the Deep Ensemble Equivalent (DEE).

Numpy only, but for the temperature fit (scipy's Nelder–Mead), imported when called.

* Temperature (Diversity Matters; giung2 ``get_optimal_temperature``): t* minimises the
  validation NLL of softmax(log p̄ / t), p̄ the model's mean prediction, by Nelder–Mead from
  t = 1 (xtol 1e-3). It is applied to the log of the mean, not per member.
* DEE (Ashukha et al. 2020): given the calibrated NLL of deep ensembles of k = 1..K members
  (each the mean over random k-subsets of the teachers), a model's DEE is the smallest real
  l ≥ 1 at which the linearly interpolated curve reaches the model's cNLL. It is capped at
  K (the model beats every ensemble we have) and floored at 1 (worse than one member).
"""

import itertools
import math

import numpy as np

MAX_SUBSETS = 20  # random k-subsets per ensemble size (all of them when there are fewer)


def log_mean_exp(a, axis=0):
    """log of the mean of exp(a) along ``axis``, shifted by the maximum so that nothing
    overflows and the largest term is 1 (one exp per element: ~3x faster than numpy's
    pairwise ``logaddexp.reduce``, and no scipy import for jobs that fit no temperature)."""
    peak = np.max(a, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)  # all -inf: the result is -inf
    with np.errstate(divide="ignore"):
        mean = np.mean(np.exp(a - peak), axis=axis)
        return np.log(mean) + np.squeeze(peak, axis=axis)


def log_softmax(z):
    """log softmax along the last axis."""
    return z - (log_mean_exp(z, axis=-1) + math.log(z.shape[-1]))[..., None]


def scaled(log_mean, t):
    """log softmax(log p̄ / t), (N, C)."""
    return log_softmax(log_mean / t)


def nll_at(log_mean, labels, t):
    return nll_of_temperature(log_mean, labels)(t)


def nll_of_temperature(log_mean, labels):
    """t ↦ NLL of softmax(log p̄ / t), with what does not depend on t computed once: with
    m = max_c log p̄ and d = log p̄ − m, NLL(t) = mean(m / t + log Σ_c exp(d / t) − log p̄_y / t).
    A temperature fit evaluates it ~25 times."""
    peak = log_mean.max(-1)
    gaps = log_mean - peak[:, None]
    ones = np.ones(log_mean.shape[-1])  # Σ_c as a matrix-vector product (BLAS)
    offset = peak.mean() - log_mean[np.arange(len(labels)), labels].mean()

    def nll(t):
        return float(offset / t + np.log(np.exp(gaps / t) @ ones).mean())

    return nll


def fit_temperature(log_mean, labels):
    """t* = argmin_t NLL(softmax(log p̄ / t)) on validation; Nelder–Mead from t = 1."""
    from scipy.optimize import minimize

    nll = nll_of_temperature(log_mean, labels)
    result = minimize(
        lambda v: nll(abs(v[0]) + 1e-6),
        x0=[1.0],
        method="Nelder-Mead",
        options={"xatol": 1e-3, "fatol": 1e-9},
    )
    return float(abs(result.x[0]) + 1e-6)


def ensemble_log_mean(log_probs):
    """log p̄ (N, C) of members' log-probabilities (K, N, C)."""
    return log_mean_exp(log_probs, axis=0)


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


def dee(value, sizes, curve):
    """Deep Ensemble Equivalent of a lower-is-better ``value`` on an ensemble ``curve``
    (values at ``sizes`` 1..K, decreasing as a rule): the smallest real size at which the
    linearly interpolated curve is ≤ value; 1 if the model is no better than one member,
    K if it is better than all K. Non-monotone stretches count from the first crossing."""
    sizes, curve = np.asarray(sizes, dtype=float), np.asarray(curve, dtype=float)
    if value >= curve[0]:
        return float(sizes[0])
    for i in range(1, len(curve)):
        if curve[i] <= value:
            lo, hi = curve[i - 1], curve[i]
            return float(sizes[i - 1] + (lo - value) / (lo - hi) * (sizes[i] - sizes[i - 1]))
    return float(sizes[-1])


def main(argv=None):
    """CLI: the calibrated DE-k curve of an ensemble's prediction files, as Parquet."""
    import argparse

    import pandas as pd

    from . import provenance
    from .io import load_npz
    from .metrics import CALIBRATED, labelled_metrics, pairwise_kl

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
