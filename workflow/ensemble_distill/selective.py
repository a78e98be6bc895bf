"""Selective prediction: risk–coverage curves and the area under them (AURC; Geifman &
El-Yaniv 2017, Geifman et al. 2019), from the per-example frames of the test set.

A model answers only its k most confident test inputs; at coverage k/N the risk is the
error rate among those k. Inputs with equal scores are accepted in an arbitrary order, so
each point of the curve is the expectation over those orders: inside a group of tied
scores the expected number of errors grows linearly, by the group's error rate per input.
The curve is therefore the same however a sort breaks ties. AURC = (1/N) Σ_{k=1..N} risk(k),
the mean of the curve over its N points (lower is better).

Scores: ``confidence`` (the largest mean probability) for every model, and low model
uncertainty (``-model_uncertainty``) where the model has one.
"""

import numpy as np
import pandas as pd

SCORES = {"confidence": "confidence", "MU": "model_uncertainty"}  # name -> column


def risk_coverage(score, wrong):
    """(coverage, risk) at k = 1..N inputs accepted, most confident (highest score) first;
    ties count at the expected error rate of their group."""
    score, wrong = np.asarray(score, float), np.asarray(wrong, float)
    order = np.argsort(-score, kind="stable")
    score, wrong = score[order], wrong[order]
    n = len(score)
    ends = np.flatnonzero(np.r_[score[1:] != score[:-1], True])  # last index of each group
    starts = np.r_[0, ends[:-1] + 1]
    errors = np.cumsum(wrong)
    before = np.r_[0.0, errors[ends[:-1]]]  # errors accepted before each group
    rate = (errors[ends] - before) / (ends - starts + 1)
    group = np.repeat(np.arange(len(ends)), ends - starts + 1)
    k = np.arange(1, n + 1)
    expected = before[group] + (k - starts[group]) * rate[group]
    return k / n, expected / k


def aurc(score, wrong):
    return float(risk_coverage(score, wrong)[1].mean())


def scored_inputs(part, score):
    """(score: higher = more confident, wrong) of one model's test inputs, or None where the
    model has no such score."""
    values = part[SCORES[score]].to_numpy(float)
    if np.isnan(values).all():
        return None
    wrong = (part["prediction"] != part["label"]).to_numpy()
    return (values if score == "confidence" else -values), wrong


def test_inputs(per_example):
    """The test set's rows (the one eval set of kind ``test``), clean intensity."""
    return per_example[(per_example["eval_kind"] == "test") & (per_example["intensity"] == 0)]


def aurc_rows(per_example):
    """One row per model, seed and score: metric ``AURC <score>``, its value."""
    rows = []
    groups = test_inputs(per_example).groupby(
        ["model", "method", "distill_seed"], sort=False, dropna=False
    )
    for (model, method, seed), part in groups:
        for score in SCORES:
            if (scored := scored_inputs(part, score)) is not None:
                rows.append(dict(model=model, method=method, distill_seed=seed,
                                 metric=f"AURC {score}", value=aurc(*scored)))  # fmt: skip
    return pd.DataFrame(rows)


def mean_curves(per_example, score):
    """Per model, the risk–coverage curve averaged over seeds (same test set, same N)."""
    curves = {}
    for model, part in test_inputs(per_example).groupby("model", sort=False):
        risks = [
            risk_coverage(*scored)
            for _, seed_part in part.groupby("distill_seed", dropna=False)
            if (scored := scored_inputs(seed_part, score)) is not None
        ]
        if risks:
            curves[model] = (risks[0][0], np.mean([r for _, r in risks], axis=0), len(risks))
    return curves
