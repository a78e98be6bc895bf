localrules:
    plot_shift_curves,
    plot_uncertainty_maps,
    plot_ood_histograms,
    plot_regression_fit,


rule plot_shift_curves:
    input:
        code=code("figures"),
        metrics="results/{exp}/metrics.parquet",
    output:
        png=report(
            "results/{exp}/figures/shift_curves.png",
            caption="../report/shift_curves.rst",
            category="Figures",
            subcategory="{exp}",
            labels={"experiment": "{exp}", "figure": "shift_curves"},
        ),
        pdf="results/{exp}/figures/shift_curves.pdf",
        provenance="results/{exp}/figures/shift_curves.provenance.json",
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
        grid=grid_per_example,
        data=test_per_example,
    output:
        png=report(
            "results/{exp}/figures/uncertainty_maps.png",
            caption="../report/uncertainty_maps.rst",
            category="Figures",
            subcategory="{exp}",
            labels={"experiment": "{exp}", "figure": "uncertainty_maps"},
        ),
        pdf="results/{exp}/figures/uncertainty_maps.pdf",
        provenance="results/{exp}/figures/uncertainty_maps.provenance.json",
    log:
        "logs/plot_uncertainty_maps/{exp}.log",
    benchmark:
        "benchmarks/plot_uncertainty_maps/{exp}.tsv"
    params:
        labels=map_labels,
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.figures uncertainty-maps --grid {input.grid} "
        "--labels {params.labels} --data {input.data} --out {output.png} > {log} 2>&1"


# Regression toy: every member / head with mean ± 2σ, the mixture, and the decomposition.
rule plot_regression_fit:
    input:
        code=code("figures"),
        grid=grid_per_example,
        data=test_per_example,
    output:
        png=report(
            "results/{exp}/figures/regression_fit.png",
            caption="../report/regression_fit.rst",
            category="Figures",
            subcategory="{exp}",
            labels={"experiment": "{exp}", "figure": "regression_fit"},
        ),
        pdf="results/{exp}/figures/regression_fit.pdf",
        provenance="results/{exp}/figures/regression_fit.provenance.json",
    log:
        "logs/plot_regression_fit/{exp}.log",
    benchmark:
        "benchmarks/plot_regression_fit/{exp}.tsv"
    params:
        labels=map_labels,
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.figures regression-fit --grid {input.grid} "
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
        png=report(
            "results/{exp}/figures/ood_histograms.png",
            caption="../report/ood_histograms.rst",
            category="Figures",
            subcategory="{exp}",
            labels={"experiment": "{exp}", "figure": "ood_histograms"},
        ),
        pdf="results/{exp}/figures/ood_histograms.pdf",
        provenance="results/{exp}/figures/ood_histograms.provenance.json",
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
