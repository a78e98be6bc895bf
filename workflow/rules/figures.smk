localrules:
    plot_shift_curves,
    plot_corruption_boxes,
    plot_uncertainty_maps,
    plot_ood_histograms,
    plot_regression_fit,
    plot_diversity,
    plot_jacobians,


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


# Hydra Fig. 3 / Diversity Matters Fig. 9: metrics per corruption severity, boxes over types.
rule plot_corruption_boxes:
    input:
        code=code("figures"),
        metrics="results/{exp}/metrics.parquet",
    output:
        png=report(
            "results/{exp}/figures/corruption_boxes.png",
            caption="../report/corruption_boxes.rst",
            category="Figures",
            subcategory="{exp}",
            labels={"experiment": "{exp}", "figure": "corruption_boxes"},
        ),
        pdf="results/{exp}/figures/corruption_boxes.pdf",
        provenance="results/{exp}/figures/corruption_boxes.provenance.json",
    log:
        "logs/plot_corruption_boxes/{exp}.log",
    benchmark:
        "benchmarks/plot_corruption_boxes/{exp}.tsv"
    params:
        models=lambda wc: model_order(wc.exp),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.figures corruption-boxes --metrics {input.metrics} "
        "--models {params.models} --out {output.png} > {log} 2>&1"


# Paper Fig. 2: model / total / data uncertainty over an input grid, models side by side.
rule plot_uncertainty_maps:
    input:
        code=code("figures"),
        grid=lambda wc: grid_per_example(wc)[0],
        data=lambda wc: test_per_example(wc)[0],
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
        grid=lambda wc: grid_per_example(wc)[1],
        data=lambda wc: test_per_example(wc)[1],
        labels=map_labels,
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.figures uncertainty-maps --grid {params.grid} "
        "--labels {params.labels} --data {params.data} --out {output.png} > {log} 2>&1"


# Regression toy: every member / head with mean ± 2σ, the mixture, and the decomposition.
rule plot_regression_fit:
    input:
        code=code("figures"),
        grid=lambda wc: grid_per_example(wc)[0],
        data=lambda wc: test_per_example(wc)[0],
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
        grid=lambda wc: grid_per_example(wc)[1],
        data=lambda wc: test_per_example(wc)[1],
        labels=map_labels,
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.figures regression-fit --grid {params.grid} "
        "--labels {params.labels} --data {params.data} --out {output.png} > {log} 2>&1"


rule plot_ood_histograms:
    input:
        code=code("figures"),
        per_example=lambda wc: per_example_files(wc.exp, evaluated_models(wc.exp))[0],
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
        per_example=lambda wc: per_example_files(wc.exp, evaluated_models(wc.exp))[1],
        models=lambda wc: ["ensemble", *EXPERIMENTS[wc.exp]["students"]],
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.figures ood-histograms --per-example {params.per_example} "
        "--models {params.models} --out {output.png} > {log} 2>&1"


# Diversity Matters' analyses: torch jobs that read checkpoints (analysis.py).
rule analyse_teachers:
    input:
        code=code("analysis"),
        data="results/{exp}/dataset.npz",
        teachers=all_teacher_packs,
    output:
        table="results/{exp}/analysis/teacher_diversity.parquet",
    log:
        "logs/analyse_teachers/{exp}.log",
    benchmark:
        "benchmarks/analyse_teachers/{exp}.tsv"
    params:
        teachers=all_teacher_files,
        step=lambda wc: analysis_step(wc.exp),
    threads: job_threads("predict")
    resources:
        **job_resources("predict"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.analysis teachers --data {input.data} "
        "--teachers {params.teachers} --step {params.step} --threads {threads} "
        "--out {output.table} > {log} 2>&1"


rule analyse_jacobians:
    input:
        code=code("analysis"),
        data="results/{exp}/dataset.npz",
        teachers=all_teacher_packs,
        distilled=lambda wc: student_checkpoints(wc.exp, jacobian_students(wc.exp)[0])[0],
        scratch=lambda wc: student_checkpoints(wc.exp, jacobian_students(wc.exp)[1])[0],
    output:
        jacobians="results/{exp}/analysis/jacobians.parquet",
        snr="results/{exp}/analysis/grad_snr.parquet",
    log:
        "logs/analyse_jacobians/{exp}.log",
    benchmark:
        "benchmarks/analyse_jacobians/{exp}.tsv"
    params:
        teachers=all_teacher_files,
        step=lambda wc: analysis_step(wc.exp),
        temperature=lambda wc: analysis_temperature(wc.exp),
        distilled=lambda wc: named_checkpoints(wc.exp, jacobian_students(wc.exp)[0]),
        scratch=lambda wc: named_checkpoints(wc.exp, jacobian_students(wc.exp)[1]),
    threads: job_threads("predict")
    resources:
        **job_resources("predict"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.analysis jacobians --data {input.data} "
        "--teachers {params.teachers} --students {params.distilled} "
        "--scratch {params.scratch} --step {params.step} --temperature {params.temperature} "
        "--threads {threads} --out-jacobians {output.jacobians} --out-snr {output.snr} "
        "> {log} 2>&1"


rule plot_diversity:
    input:
        code=code("figures"),
        teachers="results/{exp}/analysis/teacher_diversity.parquet",
        per_example=lambda wc: diversity_per_example(wc)[0],
    output:
        png=report(
            "results/{exp}/figures/diversity.png",
            caption="../report/diversity_plots.rst",
            category="Figures",
            subcategory="{exp}",
            labels={"experiment": "{exp}", "figure": "diversity"},
        ),
        pdf="results/{exp}/figures/diversity.pdf",
        provenance="results/{exp}/figures/diversity.provenance.json",
    log:
        "logs/plot_diversity/{exp}.log",
    benchmark:
        "benchmarks/plot_diversity/{exp}.tsv"
    params:
        per_example=lambda wc: diversity_per_example(wc)[1],
        models=lambda wc: ["ensemble", *multi_member(wc.exp)],
        test=lambda wc: test_set(wc.exp),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.figures diversity --teachers {input.teachers} "
        "--per-example {params.per_example} --models {params.models} "
        "--test-set {params.test} --out {output.png} > {log} 2>&1"


rule plot_jacobians:
    input:
        code=code("figures"),
        jacobians="results/{exp}/analysis/jacobians.parquet",
        snr="results/{exp}/analysis/grad_snr.parquet",
    output:
        png=report(
            "results/{exp}/figures/jacobians.png",
            caption="../report/jacobians.rst",
            category="Figures",
            subcategory="{exp}",
            labels={"experiment": "{exp}", "figure": "jacobians"},
        ),
        pdf="results/{exp}/figures/jacobians.pdf",
        provenance="results/{exp}/figures/jacobians.provenance.json",
    log:
        "logs/plot_jacobians/{exp}.log",
    benchmark:
        "benchmarks/plot_jacobians/{exp}.tsv"
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.figures jacobians --jacobians {input.jacobians} "
        "--snr {input.snr} --out {output.png} > {log} 2>&1"
