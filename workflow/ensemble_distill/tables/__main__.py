"""Tables from Parquet, one sub-command each; Markdown (with a caption) and CSV.

Usage::

    python -m ensemble_distill.tables collect --inputs a.parquet b.parquet --out metrics.parquet
    python -m ensemble_distill.tables summary --metrics metrics.parquet \\
        --models ensemble single kd --out-md summary.md --out-csv summary.csv [--paper hydra-mnist]
    python -m ensemble_distill.tables mu-gap --per-example ... --out-md ... --out-csv ...
    python -m ensemble_distill.tables ood --per-example ... --out-md ... --out-csv ...
    python -m ensemble_distill.tables cost --cost cost.parquet --out-md ... --out-csv ...
    python -m ensemble_distill.tables uci --metrics uci_*/metrics.parquet --out-md ... --out-csv ...
    python -m ensemble_distill.tables diversity --metrics ... --curve ... --cost ... --test-set test
    python -m ensemble_distill.tables corruption --metrics ... --out-md ... --out-csv ...
    python -m ensemble_distill.tables selective --per-example ... --out-md ... --out-csv ...
    python -m ensemble_distill.tables input-diversity --diversity ... --out-md ... --out-csv ...
"""

import argparse

import pandas as pd

from .. import provenance
from ..io import atomic_path
from ..paper import PAPERS
from ..selective import aurc_rows
from .diversity import corruption_tables, diversity_tables, input_diversity_tables
from .format import collect, metric_columns_table
from .hydra import cost_tables, mu_gap_tables, ood_tables, summary_tables, uci_tables

CAPTIONS = {
    "summary": "In-domain test metrics, mean ± std over distillation seeds (members for "
    "`single`); MU is n/a for single-output models.",
    "mu-gap": "Mean absolute difference between each student's and the ensemble's model "
    "uncertainty, per example, pooled over all intensities of a set; mean ± std over seeds.",
    "ood": "AUROC, AUPR and FPR at 95 % TPR (lower is better) of telling OOD inputs (the "
    "positives) from in-domain test inputs by total (TU) or model (MU) uncertainty; mean ± std "
    "over seeds.",
    "regression": "Test metrics in original units (regression), mean ± standard error over "
    "data splits, each split first averaged over distillation seeds (members for `single`); "
    "the epistemic part is n/a for a single Gaussian.",
    "uci": "UCI regression (Hydra paper Table 4): test NLL and RMSE in original units, mean "
    "± standard error over the standard splits (each split first averaged over distillation "
    "seeds), beside the paper's NLL.",
    "diversity": "Diversity Matters layout (test set): DE-k rows are deep ensembles of k "
    "teachers (mean over random k-subsets, n = subsets); students mean ± std over "
    "distillation seeds. c-metrics after temperature scaling fitted on the validation set; "
    "DEE = the ensemble size whose (interpolated) cNLL the model matches, capped at the "
    "largest ensemble; mean-KLD = mean pairwise KL between members.",
    "corruption": "Corrupted test sets (Hendrycks & Dietterich): mean over all corruption "
    "types and severities per distillation seed, then mean ± std over seeds; c-metrics with "
    "the temperature fitted on the validation set.",
    "selective": "Selective prediction on the test set: the area under the risk–coverage "
    "curve (AURC, lower is better; the error rate among the inputs a model is most confident "
    "about, averaged over coverages 1/N..1), ranking inputs by confidence (largest mean "
    "probability) or by low model uncertainty (MU); tied scores count at their expected "
    "error rate. Mean ± std over seeds.",
    "input-diversity": "Diversity Matters Fig. 1 as numbers: mean pairwise KL between members "
    "(T = 1) and their disagreement rate on clean training inputs, on test inputs, and on "
    "training inputs perturbed by Gaussian noise and by ODS at step η (drawn from the "
    "teachers); L2 norm of the perturbation after clipping beside its nominal η·√D; mean "
    "± std over draws (and student seeds).",
    "cost": "Parameters and FLOPs per image (counted by torch.utils.flop_counter, 1 FLOP = "
    "1 multiply or add), and the median over repeats of the time to predict 10k test images "
    "(batch 1000, one thread) in one process.",
}


# Each table command and the argument naming the files it reads.
SOURCES = {
    "summary": "metrics",
    "mu-gap": "per_example",
    "ood": "per_example",
    "uci": "metrics",
    "cost": "cost",
    "diversity": "metrics",
    "corruption": "metrics",
    "selective": "per_example",
    "input-diversity": "diversity",
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("collect")
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--out", required=True)
    for name, source in SOURCES.items():
        p = sub.add_parser(name)
        p.add_argument(f"--{source.replace('_', '-')}", nargs="+", required=True)
        p.add_argument("--models", nargs="+", help="row order")
        p.add_argument("--paper", choices=sorted(PAPERS), help="add published numbers")
        p.add_argument("--paper-rows", nargs="*", default=[], help="student=paper row key")
        p.add_argument("--title", default="")
        p.add_argument("--out-md", required=True)
        p.add_argument("--out-csv", required=True)
        if name == "diversity":
            p.add_argument("--curve", required=True, help="ensemble_curve.parquet")
            p.add_argument("--cost", required=True, help="cost.parquet (#params)")
            p.add_argument("--test-set", required=True)
            p.add_argument("--pairs", nargs="*", default=[], help="student=baseline")
    args = parser.parse_args(argv)
    inputs = args.inputs if args.command == "collect" else vars(args)[SOURCES[args.command]]
    if args.command == "diversity":
        inputs = [*inputs, args.curve, args.cost]
    paths = {"inputs", *SOURCES.values(), "out", "out_md", "out_csv", "curve"}
    config = {k: v for k, v in vars(args).items() if k not in paths}
    record = provenance.start(config=config, inputs=inputs)
    if args.command == "collect":
        provenance.write_parquet(
            collect(inputs), args.out, record, upstream=provenance.upstream_of(inputs)
        )
        return
    paper = PAPERS.get(args.paper)
    rows = dict(item.split("=", 1) for item in args.paper_rows)
    if args.command == "summary":
        text, csv = summary_tables(collect(args.metrics), args.models, paper, rows)
    elif args.command == "mu-gap":
        text, csv = mu_gap_tables(collect(args.per_example), args.models, paper, rows)
    elif args.command == "ood":
        text, csv = ood_tables(collect(args.per_example), args.models)
    elif args.command == "diversity":
        pairs = dict(item.split("=", 1) for item in args.pairs)
        text, csv = diversity_tables(
            collect(args.metrics),
            pd.read_parquet(args.curve),
            pd.read_parquet(args.cost),
            args.models,
            args.test_set,
            pairs,
            paper,
            rows,
        )
    elif args.command == "corruption":
        text, csv = corruption_tables(collect(args.metrics), args.models)
    elif args.command == "input-diversity":
        text, csv = input_diversity_tables(collect(args.diversity), args.models)
    elif args.command == "selective":
        text, csv = metric_columns_table(aurc_rows(collect(args.per_example)), args.models)
    elif args.command == "uci":
        text, csv = uci_tables(collect(args.metrics), PAPERS["hydra-uci"])
    else:
        text, csv = cost_tables(collect(args.cost), paper, rows)
    kind = "regression" if args.command == "summary" and "splits" in csv else args.command
    caption = f"{args.title}{CAPTIONS[kind]}\n\n"
    with atomic_path(args.out_md) as tmp:
        tmp.write_text(caption + text)
    with atomic_path(args.out_csv) as tmp:
        csv.to_csv(tmp, index=False)
    provenance.write_sidecar(
        record, [args.out_md, args.out_csv], upstream=provenance.upstream_of(inputs)
    )
    print(caption + text)


if __name__ == "__main__":
    main()
