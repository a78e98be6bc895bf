"""OOD detection scores from per-example uncertainties: AUROC and AUPR of telling OOD
inputs (the positives) from the in-domain test inputs by a higher score."""

import numpy as np
import pandas as pd


def auroc(in_scores, out_scores):
    """P(score_out > score_in) + ½ P(equal): the AUROC of telling OOD from in-domain."""
    from scipy.stats import mannwhitneyu

    u = mannwhitneyu(out_scores, in_scores).statistic
    return float(u / (len(in_scores) * len(out_scores)))


def aupr(in_scores, out_scores):
    """Average precision of finding the OOD inputs (the positives) by a higher score."""
    from sklearn.metrics import average_precision_score

    labels = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    return float(average_precision_score(labels, np.r_[in_scores, out_scores]))


def ood_aurocs(per_example):
    """AUROC and AUPR (OOD positive) of total and model uncertainty, unshifted test set vs
    every OOD set."""
    rows = []
    groups = per_example.groupby(["model", "method", "distill_seed"], sort=False, dropna=False)
    for (model, method, seed), part in groups:
        test = part[part["eval_kind"] == "test"]
        for ood_set, ood in part[part["eval_kind"] == "ood"].groupby("eval_set"):
            for score in ("total_uncertainty", "model_uncertainty"):
                if test[score].isna().all():
                    continue
                in_scores, out_scores = test[score].to_numpy(), ood[score].to_numpy()
                for name, value in (("AUROC", auroc(in_scores, out_scores)),
                                    ("AUPR", aupr(in_scores, out_scores))):  # fmt: skip
                    rows.append(
                        dict(
                            model=model,
                            method=method,
                            distill_seed=seed,
                            metric=f"{ood_set}: {name} {score.split('_')[0]}",
                            value=value,
                        )
                    )
    return pd.DataFrame(rows)
