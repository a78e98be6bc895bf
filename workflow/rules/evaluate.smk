# One job per eval group (config eval_group: the ensemble and each student seed group alone,
# or every model of the experiment) stores every member's / head's log-probabilities of its
# models on all eval sets, and one job computes their metrics: one start-up per group.
rule predict:
    input:
        code=code("predict"),
        checkpoints=get_group_checkpoints,
        evalsets=lambda wc: P(wc).evalsets,
    output:
        predictions=directory(out("predict", "predictions")),
        manifest=out("predict", "predictions_manifest"),
    log:
        "logs/predict/{exp}/{group}.log",
    benchmark:
        "benchmarks/predict/{exp}/{group}.tsv"
    params:
        models=get_group_models,
        device=DEVICE,
        evalsets=get_named_eval_sets,
    threads: PLAN.threads("predict")
    resources:
        **PLAN.resources("predict"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.predict {params.models} "
        "--eval-sets {params.evalsets} --device {params.device} --threads {threads} "
        "--out {output.predictions} --log {log}"


rule compute_metrics:
    input:
        code=code("compute_metrics"),
        predictions=out("predict", "predictions_manifest"),
    output:
        metrics=directory(out("compute_metrics", "metrics")),
        per_example=directory(out("compute_metrics", "per_example")),
        metrics_manifest=out("compute_metrics", "metrics_manifest"),
        per_example_manifest=out("compute_metrics", "per_example_manifest"),
    log:
        "logs/compute_metrics/{exp}/{group}.log",
    benchmark:
        "benchmarks/compute_metrics/{exp}/{group}.tsv"
    params:
        models=get_group_identities,
        predictions=lambda wc: P(wc).eval_dir("predictions", wc.group),
        validation=lambda wc: f"--validation-set {P(wc).validation_set}" if P(wc).validation_set else "",
    threads: PLAN.threads("compute_metrics")
    group:
        "metrics"
    resources:
        **PLAN.resources("compute_metrics"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.compute_metrics --predictions {params.predictions} "
        "--experiment {wildcards.exp} --models {params.models:q} --out {output.metrics} "
        "--per-example {output.per_example} {params.validation} --log {log}"


# Hydra paper Table 5. The models are timed on one thread; config.yaml reserves 2 cores
# for the job (resources.measure_cost.threads) so that other jobs disturb the timings less.
rule measure_cost:
    input:
        code=code("cost"),
        teachers=lambda wc: manifests(P(wc).teacher_dirs()),
        students=lambda wc: manifests(P(wc).student_dirs(P(wc).students, P(wc).distill_seeds[:1])),
        evalset=lambda wc: P(wc).evalset(P(wc).test_set),
    output:
        **plan.OUTPUTS["measure_cost"],
    log:
        "logs/measure_cost/{exp}.log",
    benchmark:
        "benchmarks/measure_cost/{exp}.tsv"
    params:
        teachers=lambda wc: P(wc).teacher_checkpoints(),
        students=get_first_seed_students,
    threads: PLAN.threads("measure_cost")
    resources:
        **PLAN.resources("measure_cost"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.cost --teachers {params.teachers} "
        "--students {params.students} --eval-set {input.evalset} --threads 1 "
        "--out {output.cost} > {log} 2>&1"


# Deep ensembles of k = 1..M teachers (mean over random k-subsets), calibrated on the
# validation set: the curve behind the Deep Ensemble Equivalent (DEE).
rule ensemble_curve:
    input:
        code=code("ensemble_curve"),
        predictions=lambda wc: manifests(P(wc).eval_dirs("predictions", ["ensemble"])),
    output:
        **plan.OUTPUTS["ensemble_curve"],
    log:
        "logs/ensemble_curve/{exp}.log",
    benchmark:
        "benchmarks/ensemble_curve/{exp}.tsv"
    params:
        predictions=lambda wc: P(wc).eval_files("predictions", ["ensemble"]),
        validation=lambda wc: P(wc).validation_set,
        test=lambda wc: P(wc).test_set,
    threads: PLAN.threads("compute_metrics")
    group:
        "metrics"
    resources:
        **PLAN.resources("compute_metrics"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.ensemble_curve --predictions {params.predictions} "
        "--validation-set {params.validation} --test-set {params.test} "
        "--out {output.curve} > {log} 2>&1"
