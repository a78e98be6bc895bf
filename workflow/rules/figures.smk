localrules:
    plot_shift_curves,
    plot_uncertainty_maps,
    plot_ood_histograms,


rule plot_shift_curves:
    input:
        code=code("figures"),
        metrics="results/{exp}/metrics.parquet",
    output:
        png="results/{exp}/figures/shift_curves.png",
        pdf="results/{exp}/figures/shift_curves.pdf",
    log:
        "logs/plot_shift_curves/{exp}.log",
    benchmark:
        "benchmarks/plot_shift_curves/{exp}.tsv"
    params:
        models=lambda wc: model_order(wc.exp),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.figures shift-curves --metrics {input.metrics} "
        "--models {params.models} --out {output.png} > {log} 2>&1"


# Paper Fig. 2: model / total / data uncertainty over an input grid, models side by side.
rule plot_uncertainty_maps:
    input:
        code=code("figures"),
        grid=lambda wc: expand(
            "results/{exp}/per_example/{model}/{evalset}.parquet",
            exp=wc.exp,
            model=map_models(wc),
            evalset=eval_sets_of_kind(wc.exp, "grid")[0],
        ),
        data=lambda wc: "results/{exp}/per_example/ensemble/{evalset}.parquet".format(
            exp=wc.exp, evalset=eval_sets_of_kind(wc.exp, "test")[0]
        ),
    output:
        png="results/{exp}/figures/uncertainty_maps.png",
        pdf="results/{exp}/figures/uncertainty_maps.pdf",
    log:
        "logs/plot_uncertainty_maps/{exp}.log",
    benchmark:
        "benchmarks/plot_uncertainty_maps/{exp}.tsv"
    params:
        labels=lambda wc: [m.split("/")[0] for m in map_models(wc)],
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.figures uncertainty-maps --grid {input.grid} "
        "--labels {params.labels} --data {input.data} --out {output.png} > {log} 2>&1"


rule plot_ood_histograms:
    input:
        code=code("figures"),
        per_example=lambda wc: per_example_files(
            wc.exp,
            evaluated_models(wc.exp),
            eval_sets_of_kind(wc.exp, "test", "ood"),
        ),
    output:
        png="results/{exp}/figures/ood_histograms.png",
        pdf="results/{exp}/figures/ood_histograms.pdf",
    log:
        "logs/plot_ood_histograms/{exp}.log",
    benchmark:
        "benchmarks/plot_ood_histograms/{exp}.tsv"
    params:
        models=lambda wc: ["ensemble", *EXPERIMENTS[wc.exp]["students"]],
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.figures ood-histograms --per-example {input.per_example} "
        "--models {params.models} --out {output.png} > {log} 2>&1"
