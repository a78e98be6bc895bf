"""OOD detection scores from per-example uncertainties: AUROC, AUPR and the FPR at 95 % TPR
of telling OOD inputs (the positives) from the in-domain test inputs by a higher score."""

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


def fpr_at_95_tpr(in_scores, out_scores, tpr=0.95):
    """The fraction of in-domain inputs flagged at the highest threshold that flags at least
    95 % of the OOD inputs (``score >= threshold``; tied scores are flagged together, as
    scikit-learn's ROC curve groups them)."""
    from sklearn.metrics import roc_curve

    labels = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    fprs, tprs, _ = roc_curve(labels, np.r_[in_scores, out_scores], drop_intermediate=False)
    return float(fprs[np.argmax(tprs >= tpr)])


def ood_aurocs(per_example):
    """AUROC, AUPR and FPR at 95 % TPR (OOD positive) of total and model uncertainty, the
    test set against every OOD set."""
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
                                    ("AUPR", aupr(in_scores, out_scores)),
                                    ("FPR95", fpr_at_95_tpr(in_scores, out_scores))):  # fmt: skip
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
