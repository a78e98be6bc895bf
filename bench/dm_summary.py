"""Print the numbers behind docs/diversity-matters.md from a finished Diversity Matters run:
the ODS step sweep on validation, the teachers' diversity on clean vs perturbed training
inputs, Jacobian-similarity AUROCs and gradient SNRs.

Usage::

    python bench/dm_summary.py results/dm_mnist [results/dm_fashion ...]
"""

import sys
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score


def main(folders):
    for folder in map(Path, folders):
        print(f"== {folder}")
        metrics = pd.read_parquet(folder / "metrics.parquet")
        val = metrics[metrics["eval_kind"] == "validation"]
        val = val[val["metric"].isin(["acc", "cnll", "diversity_kl"]) & (val["model"] != "single")]
        print("validation set, every model (the ODS step is chosen on cNLL here):")
        table = val.groupby(["model", "metric"], sort=False)["value"].agg(["mean", "std"])
        print(table.unstack("metric").round(4).to_string())
        teachers = pd.read_parquet(folder / "analysis/teacher_diversity.parquet")
        print("teachers' mean pairwise KL and confidence by input:")
        print(teachers.groupby("inputs", sort=False)[["diversity_kl", "confidence"]].mean())
        jac = pd.read_parquet(folder / "analysis/jacobians.parquet")
        negatives = jac[jac["baseline"]]["cosine"]
        rows = []
        for name, part in jac[~jac["baseline"]].groupby("student", sort=False):
            scores = pd.concat([part["cosine"], negatives])
            truth = [1] * len(part) + [0] * len(negatives)
            rows.append({"student": name, "mean cosine": part["cosine"].mean(),
                         "AUROC vs scratch": roc_auc_score(truth, scores)})  # fmt: skip
        print(f"Jacobian cosine similarity to teacher m (scratch mean {negatives.mean():.4f}):")
        print(pd.DataFrame(rows).to_string(index=False))
        snr = pd.read_parquet(folder / "analysis/grad_snr.parquet")
        print("gradient SNR of the perturbation term (mean over seeds):")
        print(snr.groupby(["student", "perturbation"], sort=False)["snr"].mean().unstack())


if __name__ == "__main__":
    main(sys.argv[1:])
