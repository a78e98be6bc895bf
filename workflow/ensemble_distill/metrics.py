"""Metrics of stored predictions: metric rows and per-example frames of one prediction file
(the job that writes them is ``compute_metrics.py``).

Numpy only (no torch). Definitions (K members or heads, p̄ the
mean of their probabilities): accuracy; NLL = −mean log p̄_y; Brier = Σ_c (p̄_c − y_c)²
and the Hydra paper's Σ_c p̄_c² − 2 p̄_y (= Brier − 1); ECE with 15 equal-width bins
(l, u] on the top-1 confidence; total uncertainty H[p̄], expected data uncertainty
mean_k H[p_k], model uncertainty (mutual information) = their difference, missing (NaN)
for single-output models; diversity = mean pairwise KL(p_j ‖ p_i) over member pairs and
the pairwise disagreement rate (NaN for one output). With the model's validation
predictions, cACC/cNLL/cBrier/cECE after temperature scaling (calibration.py).
For a Dirichlet (Prior Network) output the predictive is α/α₀, the expected data
uncertainty −Σ_c (α_c/α₀)(ψ(α_c+1) − ψ(α₀+1)) and MU the difference.
Regression (K Gaussians per split, original units): NLL of the uniform mixture (by
logsumexp), RMSE of the mixture mean, aleatoric = mean_k σ_k², epistemic = var_k μ_k
(NaN for a single Gaussian); one row per data split in the ``split`` column.
"""

import numpy as np
import pandas as pd

from .calibration import ensemble_log_mean, fit_temperature, log_mean_exp, log_softmax, scaled
from .evalsets import GENERATED

ECE_BINS = 15
KEYS = [
    "experiment",
    "model",
    "method",
    "distill_seed",
    "eval_set",
    "eval_kind",
    "intensity",
    "split",
]


# ----------------------------------------------------------------------------- per example
def entropy(log_p):
    return -(np.exp(log_p) * log_p).sum(-1)


def pairwise_kl(log_probs):
    """Mean over ordered member pairs i ≠ j of KL(p_j ‖ p_i) per example (giung2
    ``compute_kld``), for (K, N, C) log-probabilities with K ≥ 2. Uses
    Σ_{i≠j} KL(p_j ‖ p_i) = K·Σ_j ⟨p_j, log p_j⟩ − ⟨Σ_j p_j, Σ_i log p_i⟩, O(K·C)."""
    k = len(log_probs)
    probs = np.exp(log_probs)
    self_terms = (probs * log_probs).sum(-1).sum(0)  # Σ_j ⟨p_j, log p_j⟩
    cross = (probs.sum(0) * log_probs.sum(0)).sum(-1)
    return (k * self_terms - cross) / (k * (k - 1))


def disagreement(log_probs):
    """Fraction of ordered member pairs whose top-1 classes differ, per example."""
    k, n, c = log_probs.shape
    counts = np.zeros((n, c))
    np.add.at(counts, (np.tile(np.arange(n), k), log_probs.argmax(-1).ravel()), 1)
    return 1 - (counts * (counts - 1)).sum(-1) / (k * (k - 1))


def uncertainties(log_probs):
    """Per-example total, expected data and model uncertainty (nats) and the members'
    diversity (pairwise KL, disagreement; NaN for one member) for (K, N, C) inputs."""
    total = entropy(ensemble_log_mean(log_probs))
    data = entropy(log_probs).mean(0)
    several = log_probs.shape[0] > 1
    missing = np.full_like(total, np.nan)
    return {
        "total_uncertainty": total,
        "data_uncertainty": data,
        "model_uncertainty": total - data if several else missing,
        "diversity_kl": pairwise_kl(log_probs) if several else missing,
        "disagreement": disagreement(log_probs) if several else missing,
    }


def dirichlet_uncertainties(log_alpha):
    """Per-example uncertainties of Dirichlet outputs, log α with shape (N, C)."""
    from scipy.special import digamma  # only Dirichlet students need scipy

    alpha = np.exp(log_alpha)
    alpha0 = alpha.sum(-1, keepdims=True)
    total = entropy(log_alpha - np.log(alpha0))
    data = -((alpha / alpha0) * (digamma(alpha + 1) - digamma(alpha0 + 1))).sum(-1)
    missing = np.full_like(total, np.nan)  # one output: no members to compare
    return {
        "total_uncertainty": total,
        "data_uncertainty": data,
        "model_uncertainty": total - data,
        "diversity_kl": missing,
        "disagreement": missing,
    }


def predictive(pred, level):
    """(log p̄ (N, C), per-example uncertainties) of one prediction file at intensity index."""
    if pred["kind"] == "dirichlet":
        log_alpha = pred["log_alpha"][level, 0].astype(np.float64)
        log_mean = log_softmax(log_alpha)
        return log_mean, dirichlet_uncertainties(log_alpha)
    log_probs = pred["log_probs"][level].astype(np.float64)
    return ensemble_log_mean(log_probs), uncertainties(log_probs)


# ----------------------------------------------------------------------------- aggregates
def accuracy(probs, labels):
    return float((probs.argmax(-1) == labels).mean())


def nll(log_probs_mean, labels):
    return float(-log_probs_mean[np.arange(len(labels)), labels].mean())


def brier(probs, labels):
    """Standard multi-class Brier score, Σ_c (p_c − 1[c = y])², in [0, 2]."""
    onehot = np.eye(probs.shape[-1])[labels]
    return float(((probs - onehot) ** 2).sum(-1).mean())


def brier_hydra(probs, labels):
    """The convention printed in the Hydra paper (from uq_benchmark): Σ_c p_c² − 2 p_y."""
    return float(((probs**2).sum(-1) - 2 * probs[np.arange(len(labels)), labels]).mean())


def reliability_bins(confidence, correct, bins=ECE_BINS):
    """Equal-width confidence bins (l, u] (a confidence of 0 falls in the first): per bin the
    number of examples, their mean confidence and their accuracy (NaN where empty). The one
    binning of the ECE and the reliability diagrams."""
    which = np.clip(np.ceil(np.asarray(confidence) * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_confidence = np.bincount(which, confidence, bins) / count
        accuracy = np.bincount(which, np.asarray(correct, float), bins) / count
    return pd.DataFrame(
        {
            "lower": np.arange(bins) / bins,
            "upper": np.arange(1, bins + 1) / bins,
            "count": count,
            "confidence": mean_confidence,
            "accuracy": accuracy,
        }
    )


def ece_of_bins(table):
    """Σ_b (n_b / N) |acc_b − conf_b| over the non-empty bins."""
    used = table[table["count"] > 0]
    weights = used["count"] / used["count"].sum()
    return float((weights * (used["accuracy"] - used["confidence"]).abs()).sum())


def ece(probs, labels, bins=ECE_BINS):
    """Expected calibration error with equal-width confidence bins (l, u]."""
    correct = probs.argmax(-1) == labels
    return ece_of_bins(reliability_bins(probs.max(-1), correct, bins))


# Metrics of labelled predictions: name -> (function, what it reads: the mean prediction's
# probabilities or its log).
LABELLED = {
    "acc": (accuracy, "probs"),
    "nll": (nll, "log_mean"),
    "brier": (brier, "probs"),
    "brier_hydra": (brier_hydra, "probs"),
    "ece": (ece, "probs"),
}
CALIBRATED = ("acc", "nll", "brier", "ece")  # reported again after temperature scaling


def labelled_metrics(log_mean, labels):
    inputs = {"log_mean": log_mean, "probs": np.exp(log_mean)}
    return {name: fn(inputs[arg], labels) for name, (fn, arg) in LABELLED.items()}


def computed_by(metric, task="classification"):
    """The functions that compute a metric column of the metric tables, first to last (for
    ``trace``): from the registries above, the per-example uncertainties and regression."""
    if task == "regression":
        return [regression_metrics] + ([mixture_log_density] if metric == "nll" else [])
    if metric in LABELLED:
        return [ensemble_log_mean, LABELLED[metric][0]]
    if metric.startswith("c") and metric[1:] in CALIBRATED:
        return [fit_temperature, scaled, *computed_by(metric[1:])]
    if metric == "diversity_kl":
        return [uncertainties, pairwise_kl]
    return [uncertainties, dirichlet_uncertainties]  # per-example means (MU, TU, ...)


def classification_metrics(log_mean, per_example, labels, temperature=None):
    """All aggregate metrics for one model on one eval set at one intensity; with a
    ``temperature`` (fitted on validation) also cACC, cNLL, cBrier, cECE."""
    out = {k: float(v.mean()) for k, v in per_example.items()}
    if (labels >= 0).all():  # OOD sets and grids have no labels
        out.update(labelled_metrics(log_mean, labels))
        if temperature is not None:
            calibrated = labelled_metrics(scaled(log_mean, temperature), labels)
            out.update({f"c{m}": calibrated[m] for m in CALIBRATED})
    if temperature is not None:
        out["temperature"] = temperature
    return out


# ----------------------------------------------------------------------------- tables
# ----------------------------------------------------------------------------- regression
def mixture_log_density(mean, var, targets):
    """log of (1/K) Σ_k N(y; μ_k, σ_k²) per example; mean and var (K, N), targets (N,)."""
    log_normal = -0.5 * (np.log(2 * np.pi * var) + (targets - mean) ** 2 / var)
    return log_mean_exp(log_normal, axis=0)


def regression_uncertainties(mean, var):
    """Per-example aleatoric (mean σ²), epistemic (variance of the means) and total variance."""
    aleatoric = var.mean(0)
    epistemic = mean.var(0) if len(mean) > 1 else np.full_like(aleatoric, np.nan)
    return {
        "aleatoric": aleatoric,
        "epistemic": epistemic,
        "total_variance": aleatoric + mean.var(0),
    }


def regression_metrics(mean, var, targets):
    out = {k: float(v.mean()) for k, v in regression_uncertainties(mean, var).items()}
    if not np.isnan(targets).any():
        out["nll"] = float(-mixture_log_density(mean, var, targets).mean())
        out["rmse"] = float(np.sqrt(((mean.mean(0) - targets) ** 2).mean()))
    return out


def temperature_of(validation):
    """The temperature fitted on a model's validation predictions (None without them)."""
    if validation is None:
        return None
    return fit_temperature(predictive(validation, 0)[0], validation["labels"])


def metric_rows(pred, keys, temperature=None):
    """Long-format rows for one prediction file; ``keys`` fill the identifying columns.

    ``temperature``: fitted on the same model's validation predictions, for the calibrated
    metrics."""
    rows = []
    if pred["kind"] == "gaussian":
        for s in range(len(pred["mean"])):
            metrics = regression_metrics(pred["mean"][s], pred["var"][s], pred["labels"][s])
            rows += [
                {**keys, "intensity": 0.0, "split": s, "metric": m, "value": v}
                for m, v in metrics.items()
            ]
        return rows
    for i, level in enumerate(pred["intensities"]):
        metrics = classification_metrics(*predictive(pred, i), pred["labels"], temperature)
        for metric, value in metrics.items():
            rows.append(
                {**keys, "intensity": float(level), "split": 0, "metric": metric, "value": value}
            )
    return rows


def regression_per_example(pred, keys):
    """One row per (split, example, member): mean, var, target; member −1 is the mixture."""
    frames = []
    for s, (mean, var) in enumerate(zip(pred["mean"], pred["var"], strict=True)):
        k, n = mean.shape
        mixture = regression_uncertainties(mean, var)
        frame = pd.DataFrame(
            {
                "split": s,
                "index": np.tile(np.arange(n), k + 1),
                "member": np.repeat(np.arange(-1, k), n),
                "mean": np.concatenate([mean.mean(0), *mean]),
                "var": np.concatenate([mixture["total_variance"], *var]),
                "target": np.tile(pred["labels"][s], k + 1),
                "aleatoric": np.tile(mixture["aleatoric"], k + 1),
                "epistemic": np.tile(mixture["epistemic"], k + 1),
            }
        )
        if "coords" in pred and s == 0:
            frame["x0"] = np.tile(pred["coords"][:, 0], k + 1)
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    for column in reversed(KEYS[:-2]):
        out.insert(0, column, keys[column])
    return out


def per_example_frame(pred, keys, temperature=None):
    """One row per (intensity, example): uncertainties, confidence (the largest mean
    probability), prediction and label, coords; with a ``temperature`` also the confidence
    after temperature scaling (the prediction does not change)."""
    if pred["kind"] == "gaussian":
        return regression_per_example(pred, keys)
    frames = []
    for i, level in enumerate(pred["intensities"]):
        log_mean, per_example = predictive(pred, i)
        probs = np.exp(log_mean)
        frame = pd.DataFrame(per_example)
        frame.insert(0, "index", np.arange(len(frame)))
        frame.insert(0, "intensity", float(level))
        frame["label"] = pred["labels"]
        frame["prediction"] = probs.argmax(-1)
        frame["confidence"] = probs.max(-1)
        if temperature is not None:
            frame["calibrated_confidence"] = np.exp(scaled(log_mean, temperature).max(-1))
        for j, column in enumerate(pred.get("coords", np.empty((len(frame), 0))).T):
            frame[f"x{j}"] = column
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    for column in reversed(KEYS[:-2]):
        out.insert(0, column, keys[column])
    return out


def frame(rows):
    df = pd.DataFrame(rows, columns=KEYS + ["metric", "value"])
    return df.astype({"distill_seed": "Int64"})


def evaluate_predictions(pred, experiment, model, method, distill_seed, eval_set, validation=None):
    """Metric rows and the per-example frame for one prediction file.

    For an ensemble, every member is also scored on its own as model ``single`` with
    its member seed in ``distill_seed`` (the seed of the evaluated network), calibrated
    on its own validation predictions.
    """
    pred = {**pred, "kind": str(pred["kind"])}
    if pred.get("generated", False):  # every table and figure then says so
        eval_set = f"{eval_set}{GENERATED}"
    if validation is not None:
        validation = {**validation, "kind": str(validation["kind"])}
    keys = dict(
        experiment=experiment,
        model=model,
        method=method,
        distill_seed=distill_seed,
        eval_set=eval_set,
        eval_kind=str(pred["eval_kind"]),
    )
    temperature = temperature_of(validation)
    rows = metric_rows(pred, keys, temperature)

    def member(arrays, m):
        return {**arrays, **{k: arrays[k][:, m : m + 1] for k in ("log_probs", "mean", "var")
                             if k in arrays}}  # fmt: skip

    if model == "ensemble":
        for m, seed in enumerate(pred["seeds"]):
            single = {**keys, "model": "single", "method": "member", "distill_seed": int(seed)}
            own = member(validation, m) if validation is not None else None
            rows += metric_rows(member(pred, m), single, temperature_of(own))
    return frame(rows), per_example_frame(pred, keys, temperature)


def mu_gap(per_example):
    """Mean |MU_student − MU_ensemble| over examples (all intensities) per model, seed, set."""
    keys = ["eval_set", "intensity", "index"]
    # Table 1: the test set, shifts and OOD sets
    per_example = per_example[per_example["eval_kind"] != "validation"]
    ensemble = per_example[per_example["model"] == "ensemble"][keys + ["model_uncertainty"]]
    students = per_example[~per_example["model"].isin(["ensemble", "single"])]
    merged = students.merge(ensemble, on=keys, suffixes=("", "_ensemble"))
    merged["value"] = (merged["model_uncertainty"] - merged["model_uncertainty_ensemble"]).abs()
    return (
        merged.groupby(["model", "method", "distill_seed", "eval_set", "eval_kind"], sort=False)[
            "value"
        ]
        .mean()
        .reset_index()
    )
