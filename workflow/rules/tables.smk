localrules:
    collect_metrics,
    summary_table,
    mu_gap_table,
    ood_table,
    cost_table,
    uci_table,
    diversity_table,
    corruption_table,
    selective_table,
    input_diversity_table,


rule collect_metrics:
    input:
        code=code("tables"),
        metrics=get_eval_manifests("metrics", "models"),
    output:
        **plan.OUTPUTS["collect_metrics"],
    log:
        "logs/collect_metrics/{exp}.log",
    benchmark:
        "benchmarks/collect_metrics/{exp}.tsv"
    params:
        metrics=lambda wc: P(wc).eval_files("metrics", P(wc).models),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.tables collect --inputs {params.metrics} "
        "--out {output.metrics} > {log} 2>&1"


# Every table of an experiment has this shape: one `tables` sub-command reading its inputs
# (params.inputs), with the row order and the paper's published rows (params.options).
rule summary_table:
    input:
        code=code("tables"),
        metrics=out("collect_metrics", "metrics"),
    output:
        **table_outputs("summary_table", "summary.rst"),
    log:
        "logs/summary_table/{exp}.log",
    benchmark:
        "benchmarks/summary_table/{exp}.tsv"
    params:
        command="summary",
        inputs=lambda wc, input: f"--metrics {input.metrics}",
        options=lambda wc: f"{get_rows(wc)} {get_paper_flags(wc)}",
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.tables {params.command} {params.inputs} {params.options} "
        "--title '{wildcards.exp}: ' --out-md {output.markdown} --out-csv {output.csv} > {log} 2>&1"


# Hydra paper Table 1: how closely each student's model uncertainty follows the ensemble's.
use rule summary_table as mu_gap_table with:
    input:
        code=code("tables"),
        per_example=get_eval_manifests("per_example", "mu_gap_models"),
    output:
        **table_outputs("mu_gap_table", "mu_gap.rst"),
    log:
        "logs/mu_gap_table/{exp}.log",
    benchmark:
        "benchmarks/mu_gap_table/{exp}.tsv"
    params:
        command="mu-gap",
        inputs=get_eval_files("per-example", "per_example", "mu_gap_models"),
        options=lambda wc: f"{get_rows(wc)} {get_paper_flags(wc)}",


# OOD detection by total and model uncertainty (Hydra paper Table 1's OOD columns).
use rule summary_table as ood_table with:
    input:
        code=code("tables"),
        per_example=get_eval_manifests("per_example", "models"),
    output:
        **table_outputs("ood_table", "ood.rst"),
    log:
        "logs/ood_table/{exp}.log",
    benchmark:
        "benchmarks/ood_table/{exp}.tsv"
    params:
        command="ood",
        inputs=get_eval_files("per-example", "per_example", "models"),
        options=get_rows,


# Selective prediction: AURC by confidence and by model uncertainty (selective.py).
use rule ood_table as selective_table with:
    output:
        **table_outputs("selective_table", "selective.rst"),
    log:
        "logs/selective_table/{exp}.log",
    benchmark:
        "benchmarks/selective_table/{exp}.tsv"
    params:
        command="selective",
        inputs=get_eval_files("per-example", "per_example", "models"),
        options=get_rows,


# Diversity Matters Fig. 1 as a table: diversity on clean, perturbed and test inputs.
use rule summary_table as input_diversity_table with:
    input:
        code=code("tables"),
        diversity=out("analyse_input_diversity", "table"),
    output:
        **table_outputs("input_diversity_table", "input_diversity.rst"),
    log:
        "logs/input_diversity_table/{exp}.log",
    benchmark:
        "benchmarks/input_diversity_table/{exp}.tsv"
    params:
        command="input-diversity",
        inputs=lambda wc, input: f"--diversity {input.diversity}",
        options=get_rows,


# Hydra paper Table 5: parameters, FLOPs and prediction time.
use rule summary_table as cost_table with:
    input:
        code=code("tables"),
        cost=out("measure_cost", "cost"),
    output:
        **table_outputs("cost_table", "cost.rst"),
    log:
        "logs/cost_table/{exp}.log",
    benchmark:
        "benchmarks/cost_table/{exp}.tsv"
    params:
        command="cost",
        inputs=lambda wc, input: f"--cost {input.cost}",
        options=get_paper_flags,


# Diversity Matters Table 1 layout: DE-k, students, calibrated metrics, DEE, mean-KLD, and
# each perturbed student against its unperturbed twin on the same seeds.
use rule summary_table as diversity_table with:
    input:
        code=code("tables"),
        metrics=out("collect_metrics", "metrics"),
        curve=out("ensemble_curve", "curve"),
        cost=out("measure_cost", "cost"),
    output:
        **table_outputs("diversity_table", "diversity.rst"),
    log:
        "logs/diversity_table/{exp}.log",
    benchmark:
        "benchmarks/diversity_table/{exp}.tsv"
    params:
        command="diversity",
        inputs=lambda wc, input: (
            f"--metrics {input.metrics} --curve {input.curve} --cost {input.cost} "
            f"--test-set {P(wc).test_set} --pairs {get_pairs(wc)}"
        ),
        options=lambda wc: f"{get_rows(wc)} {get_paper_flags(wc)}",


# Diversity Matters Table 3: metrics over all corruption types and severities.
use rule summary_table as corruption_table with:
    output:
        **table_outputs("corruption_table", "corruption.rst"),
    log:
        "logs/corruption_table/{exp}.log",
    benchmark:
        "benchmarks/corruption_table/{exp}.tsv"
    params:
        command="corruption",
        inputs=lambda wc, input: f"--metrics {input.metrics}",
        options=get_rows,


# Hydra paper Table 4, across all UCI experiments that are run.
rule uci_table:
    input:
        code=code("tables"),
        metrics=lambda wc: [PLAN[e].path("collect_metrics", "metrics") for e in PLAN.uci_experiments],
    output:
        **table_outputs("uci_table", "uci_table4.rst", subcategory="UCI", experiment="uci"),
    log:
        "logs/uci_table/uci_table4.log",
    benchmark:
        "benchmarks/uci_table/uci_table4.tsv"
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.tables uci --metrics {input.metrics} "
        "--out-md {output.markdown} --out-csv {output.csv} > {log} 2>&1"
