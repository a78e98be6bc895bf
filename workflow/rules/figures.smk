localrules:
    plot_shift_curves,
    plot_corruption_boxes,
    plot_uncertainty_maps,
    plot_ood_histograms,
    plot_regression_fit,
    plot_diversity,
    plot_jacobians,
    plot_reliability,
    plot_risk_coverage,
    plot_training_curves,
    plot_input_diversity,


# Every figure has this shape: one `figures` sub-command reading its inputs (params.args).
# Hydra paper Fig. 3: metrics against rotation angle and shift, mean ± std over seeds.
rule plot_shift_curves:
    input:
        code=code("figures"),
        metrics=out("collect_metrics", "metrics"),
    output:
        **figure_outputs("plot_shift_curves", "shift_curves.rst"),
    log:
        "logs/plot_shift_curves/{exp}.log",
    benchmark:
        "benchmarks/plot_shift_curves/{exp}.tsv"
    params:
        command="shift-curves",
        args=lambda wc, input: f"--metrics {input.metrics} {get_rows(wc)}",
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.figures {params.command} {params.args} --out {output.png} > {log} 2>&1"


# Hydra Fig. 3 / Diversity Matters Fig. 9: metrics per corruption severity, boxes over types.
use rule plot_shift_curves as plot_corruption_boxes with:
    output:
        **figure_outputs("plot_corruption_boxes", "corruption_boxes.rst"),
    log:
        "logs/plot_corruption_boxes/{exp}.log",
    benchmark:
        "benchmarks/plot_corruption_boxes/{exp}.tsv"
    params:
        command="corruption-boxes",
        args=lambda wc, input: f"--metrics {input.metrics} {get_rows(wc)}",


# Hydra paper Fig. 2: model / total / data uncertainty over an input grid, models side by side.
use rule plot_shift_curves as plot_uncertainty_maps with:
    input:
        code=code("figures"),
        per_example=get_eval_manifests("per_example", "map_models"),
    output:
        **figure_outputs("plot_uncertainty_maps", "uncertainty_maps.rst"),
    log:
        "logs/plot_uncertainty_maps/{exp}.log",
    benchmark:
        "benchmarks/plot_uncertainty_maps/{exp}.tsv"
    params:
        command="uncertainty-maps",
        args=get_map_args,


# Regression toy: every member / head with mean ± 2σ, the mixture, and the decomposition.
use rule plot_uncertainty_maps as plot_regression_fit with:
    output:
        **figure_outputs("plot_regression_fit", "regression_fit.rst"),
    log:
        "logs/plot_regression_fit/{exp}.log",
    benchmark:
        "benchmarks/plot_regression_fit/{exp}.tsv"
    params:
        command="regression-fit",
        args=get_map_args,


use rule plot_shift_curves as plot_ood_histograms with:
    input:
        code=code("figures"),
        per_example=get_eval_manifests("per_example", "models"),
    output:
        **figure_outputs("plot_ood_histograms", "ood_histograms.rst"),
    log:
        "logs/plot_ood_histograms/{exp}.log",
    benchmark:
        "benchmarks/plot_ood_histograms/{exp}.tsv"
    params:
        command="ood-histograms",
        args=lambda wc: (
            f"{get_eval_files('per-example', 'per_example', 'models')(wc)} "
            f"--models ensemble {' '.join(P(wc).students)}"
        ),


# Diversity Matters Fig. 1 style: teacher and student diversity (analysis.smk's tables).
use rule plot_shift_curves as plot_diversity with:
    input:
        code=code("figures"),
        teachers=out("analyse_teachers", "table"),
        per_example=get_eval_manifests("per_example", "diversity_models"),
    output:
        **figure_outputs("plot_diversity", "diversity_plots.rst"),
    log:
        "logs/plot_diversity/{exp}.log",
    benchmark:
        "benchmarks/plot_diversity/{exp}.tsv"
    params:
        command="diversity",
        args=lambda wc, input: (
            f"--teachers {input.teachers} "
            f"{get_eval_files('per-example', 'per_example', 'diversity_models')(wc)} "
            f"--models ensemble {' '.join(P(wc).multi_member)} --test-set {P(wc).test_set}"
        ),


use rule plot_shift_curves as plot_jacobians with:
    input:
        code=code("figures"),
        jacobians=out("analyse_jacobians", "jacobians"),
        snr=out("analyse_jacobians", "snr"),
    output:
        **figure_outputs("plot_jacobians", "jacobians.rst"),
    log:
        "logs/plot_jacobians/{exp}.log",
    benchmark:
        "benchmarks/plot_jacobians/{exp}.tsv"
    params:
        command="jacobians",
        args=lambda wc, input: f"--jacobians {input.jacobians} --snr {input.snr}",


# Reliability diagrams: accuracy per confidence bin before and after temperature scaling.
use rule plot_ood_histograms as plot_reliability with:
    output:
        **figure_outputs("plot_reliability", "reliability.rst"),
    log:
        "logs/plot_reliability/{exp}.log",
    benchmark:
        "benchmarks/plot_reliability/{exp}.tsv"
    params:
        command="reliability",
        args=lambda wc: (
            f"{get_eval_files('per-example', 'per_example', 'models')(wc)} "
            f"--models ensemble {' '.join(P(wc).students)}"
        ),


use rule plot_reliability as plot_risk_coverage with:
    output:
        **figure_outputs("plot_risk_coverage", "risk_coverage.rst"),
    log:
        "logs/plot_risk_coverage/{exp}.log",
    benchmark:
        "benchmarks/plot_risk_coverage/{exp}.tsv"
    params:
        command="risk-coverage",
        args=lambda wc: (
            f"{get_eval_files('per-example', 'per_example', 'models')(wc)} "
            f"--models ensemble {' '.join(P(wc).students)}"
        ),


# Every network's train and validation loss per epoch (histories.py's table).
use rule plot_shift_curves as plot_training_curves with:
    input:
        code=code("figures"),
        histories=out("collect_histories", "histories"),
    output:
        **figure_outputs("plot_training_curves", "training_curves.rst"),
    log:
        "logs/plot_training_curves/{exp}.log",
    benchmark:
        "benchmarks/plot_training_curves/{exp}.tsv"
    params:
        command="training-curves",
        args=lambda wc, input: f"--histories {input.histories}",


# Diversity Matters Fig. 1: diversity against the perturbation's L2 norm.
use rule plot_shift_curves as plot_input_diversity with:
    input:
        code=code("figures"),
        diversity=out("analyse_input_diversity", "table"),
    output:
        **figure_outputs("plot_input_diversity", "input_diversity.rst"),
    log:
        "logs/plot_input_diversity/{exp}.log",
    benchmark:
        "benchmarks/plot_input_diversity/{exp}.tsv"
    params:
        command="input-diversity",
        args=lambda wc, input: f"--diversity {input.diversity}",
