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

import math

import numpy as np


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
