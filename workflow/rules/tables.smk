localrules:
    collect_metrics,
    summary_table,
    mu_gap_table,
    ood_table,
    cost_table,
    uci_table,
    diversity_table,
    corruption_table,


rule collect_metrics:
    input:
        code=code("tables"),
        metrics=lambda wc: eval_files(wc.exp, "metrics", evaluated_models(wc.exp))[0],
    output:
        metrics="results/{exp}/metrics.parquet",
    log:
        "logs/collect_metrics/{exp}.log",
    benchmark:
        "benchmarks/collect_metrics/{exp}.tsv"
    params:
        metrics=lambda wc: eval_files(wc.exp, "metrics", evaluated_models(wc.exp))[1],
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.tables collect --inputs {params.metrics} "
        "--out {output.metrics} > {log} 2>&1"


rule summary_table:
    input:
        code=code("tables"),
        metrics="results/{exp}/metrics.parquet",
    output:
        markdown="results/{exp}/tables/summary.md",
        csv=report(
            "results/{exp}/tables/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
            subcategory="{exp}",
            labels={"experiment": "{exp}", "table": "summary"},
        ),
        provenance="results/{exp}/tables/summary.provenance.json",
    log:
        "logs/summary_table/{exp}.log",
    benchmark:
        "benchmarks/summary_table/{exp}.tsv"
    params:
        models=lambda wc: model_order(wc.exp),
        paper=paper_flag,
        paper_rows=paper_rows,
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.tables summary --metrics {input.metrics} "
        "--models {params.models} {params.paper} {params.paper_rows} --title '{wildcards.exp}: ' "
        "--out-md {output.markdown} --out-csv {output.csv} > {log} 2>&1"


# Hydra paper Table 1: how closely each student's model uncertainty follows the ensemble's.
rule mu_gap_table:
    input:
        code=code("tables"),
        per_example=lambda wc: mu_gap_per_example(wc)[0],
    output:
        markdown="results/{exp}/tables/mu_gap.md",
        csv=report(
            "results/{exp}/tables/mu_gap.csv",
            caption="../report/mu_gap.rst",
            category="Tables",
            subcategory="{exp}",
            labels={"experiment": "{exp}", "table": "mu_gap"},
        ),
        provenance="results/{exp}/tables/mu_gap.provenance.json",
    log:
        "logs/mu_gap_table/{exp}.log",
    benchmark:
        "benchmarks/mu_gap_table/{exp}.tsv"
    params:
        per_example=lambda wc: mu_gap_per_example(wc)[1],
        models=lambda wc: model_order(wc.exp),
        paper=paper_flag,
        paper_rows=paper_rows,
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.tables mu-gap --per-example {params.per_example} "
        "--models {params.models} {params.paper} {params.paper_rows} --title '{wildcards.exp}: ' "
        "--out-md {output.markdown} --out-csv {output.csv} > {log} 2>&1"


rule ood_table:
    input:
        code=code("tables"),
        per_example=lambda wc: per_example_files(wc.exp, evaluated_models(wc.exp))[0],
    output:
        markdown="results/{exp}/tables/ood.md",
        csv=report(
            "results/{exp}/tables/ood.csv",
            caption="../report/ood.rst",
            category="Tables",
            subcategory="{exp}",
            labels={"experiment": "{exp}", "table": "ood"},
        ),
        provenance="results/{exp}/tables/ood.provenance.json",
    log:
        "logs/ood_table/{exp}.log",
    benchmark:
        "benchmarks/ood_table/{exp}.tsv"
    params:
        per_example=lambda wc: per_example_files(wc.exp, evaluated_models(wc.exp))[1],
        models=lambda wc: model_order(wc.exp),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.tables ood --per-example {params.per_example} "
        "--models {params.models} --title '{wildcards.exp}: ' "
        "--out-md {output.markdown} --out-csv {output.csv} > {log} 2>&1"


rule cost_table:
    input:
        code=code("tables"),
        cost="results/{exp}/cost.parquet",
    output:
        markdown="results/{exp}/tables/cost.md",
        csv=report(
            "results/{exp}/tables/cost.csv",
            caption="../report/cost.rst",
            category="Tables",
            subcategory="{exp}",
            labels={"experiment": "{exp}", "table": "cost"},
        ),
        provenance="results/{exp}/tables/cost.provenance.json",
    log:
        "logs/cost_table/{exp}.log",
    benchmark:
        "benchmarks/cost_table/{exp}.tsv"
    params:
        paper=paper_flag,
        paper_rows=paper_rows,
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.tables cost --cost {input.cost} {params.paper} {params.paper_rows} "
        "--title '{wildcards.exp}: ' --out-md {output.markdown} --out-csv {output.csv} "
        "> {log} 2>&1"


# Hydra paper Table 4, across all UCI experiments that are run.
rule uci_table:
    input:
        code=code("tables"),
        metrics=lambda wc: expand("results/{exp}/metrics.parquet", exp=uci_experiments()),
    output:
        markdown="results/uci_table4.md",
        csv=report(
            "results/uci_table4.csv",
            caption="../report/uci_table4.rst",
            category="Tables",
            subcategory="UCI",
            labels={"experiment": "uci", "table": "uci_table4"},
        ),
        provenance="results/uci_table4.provenance.json",
    log:
        "logs/uci_table/uci_table4.log",
    benchmark:
        "benchmarks/uci_table/uci_table4.tsv"
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.tables uci --metrics {input.metrics} "
        "--out-md {output.markdown} --out-csv {output.csv} > {log} 2>&1"


# Diversity Matters Table 1 layout: DE-k, students, calibrated metrics, DEE, mean-KLD, and
# each perturbed student against its unperturbed twin on the same seeds.
rule diversity_table:
    input:
        code=code("tables"),
        metrics="results/{exp}/metrics.parquet",
        curve="results/{exp}/ensemble_curve.parquet",
        cost="results/{exp}/cost.parquet",
    output:
        markdown="results/{exp}/tables/diversity.md",
        csv=report(
            "results/{exp}/tables/diversity.csv",
            caption="../report/diversity.rst",
            category="Tables",
            subcategory="{exp}",
            labels={"experiment": "{exp}", "table": "diversity"},
        ),
        provenance="results/{exp}/tables/diversity.provenance.json",
    log:
        "logs/diversity_table/{exp}.log",
    benchmark:
        "benchmarks/diversity_table/{exp}.tsv"
    params:
        models=lambda wc: model_order(wc.exp),
        test=lambda wc: test_set(wc.exp),
        pairs=lambda wc: paired_students(wc.exp),
        paper=paper_flag,
        paper_rows=paper_rows,
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.tables diversity --metrics {input.metrics} "
        "--curve {input.curve} --cost {input.cost} --test-set {params.test} "
        "--pairs {params.pairs} --models {params.models} --title '{wildcards.exp}: ' "
        "{params.paper} {params.paper_rows} "
        "--out-md {output.markdown} --out-csv {output.csv} > {log} 2>&1"


# Diversity Matters Table 3: metrics over all corruption types and severities.
rule corruption_table:
    input:
        code=code("tables"),
        metrics="results/{exp}/metrics.parquet",
    output:
        markdown="results/{exp}/tables/corruption.md",
        csv=report(
            "results/{exp}/tables/corruption.csv",
            caption="../report/corruption.rst",
            category="Tables",
            subcategory="{exp}",
            labels={"experiment": "{exp}", "table": "corruption"},
        ),
        provenance="results/{exp}/tables/corruption.provenance.json",
    log:
        "logs/corruption_table/{exp}.log",
    benchmark:
        "benchmarks/corruption_table/{exp}.tsv"
    params:
        models=lambda wc: model_order(wc.exp),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.tables corruption --metrics {input.metrics} "
        "--models {params.models} --title '{wildcards.exp}: ' "
        "--out-md {output.markdown} --out-csv {output.csv} > {log} 2>&1"
