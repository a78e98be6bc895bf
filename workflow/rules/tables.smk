localrules:
    collect_metrics,
    summary_table,


rule collect_metrics:
    input:
        code=code("metrics", "tables"),
        metrics=lambda wc: expand(
            "results/{exp}/metrics/{model}/{evalset}.parquet",
            exp=wc.exp,
            model=evaluated_models(wc.exp),
            evalset=EXPERIMENTS[wc.exp]["eval_sets"],
        ),
    output:
        metrics="results/{exp}/metrics.parquet",
    log:
        "logs/collect_metrics/{exp}.log",
    benchmark:
        "benchmarks/collect_metrics/{exp}.tsv"
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.tables collect --inputs {input.metrics} "
        "--out {output.metrics} > {log} 2>&1"


rule summary_table:
    input:
        code=code("metrics", "tables"),
        metrics="results/{exp}/metrics.parquet",
    output:
        markdown="results/{exp}/tables/summary.md",
        csv="results/{exp}/tables/summary.csv",
    log:
        "logs/summary_table/{exp}.log",
    benchmark:
        "benchmarks/summary_table/{exp}.tsv"
    params:
        models=lambda wc: model_order(wc.exp),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.tables summary --metrics {input.metrics} "
        "--models {params.models} --title '{wildcards.exp}: ' --out-md {output.markdown} "
        "--out-csv {output.csv} > {log} 2>&1"
