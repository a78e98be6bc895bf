# One job per eval group (config eval_group: each student pack and the ensemble alone, or
# every model of the experiment) stores every member's / head's log-probabilities of its
# models on all eval sets, and one job computes their metrics: one start-up per group.
rule predict:
    input:
        code=code("predict"),
        checkpoints=lambda wc: group_checkpoints(wc)[0],
        evalsets=experiment_eval_sets,
    output:
        predictions=directory("results/{exp}/predictions/{group}"),
    log:
        "logs/predict/{exp}/{group}.log",
    benchmark:
        "benchmarks/predict/{exp}/{group}.tsv"
    params:
        models=lambda wc: group_checkpoints(wc)[1],
        device=DEVICE,
        evalsets=named_eval_sets,
    threads: job_threads("predict")
    resources:
        **job_resources("predict"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.predict {params.models} "
        "--eval-sets {params.evalsets} --device {params.device} --threads {threads} "
        "--out {output.predictions} > {log} 2>&1"


rule compute_metrics:
    input:
        code=code("metrics"),
        predictions="results/{exp}/predictions/{group}",
    output:
        metrics=directory("results/{exp}/metrics/{group}"),
        per_example=directory("results/{exp}/per_example/{group}"),
    log:
        "logs/compute_metrics/{exp}/{group}.log",
    benchmark:
        "benchmarks/compute_metrics/{exp}/{group}.tsv"
    params:
        models=group_identities,
        validation=lambda wc: (
            f"--validation-set {validation_set(wc.exp)}" if validation_set(wc.exp) else ""
        ),
    threads: job_threads("compute_metrics")
    resources:
        **job_resources("compute_metrics"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.metrics --predictions {input.predictions} "
        "--experiment {wildcards.exp} --models {params.models:q} --out {output.metrics} "
        "--per-example {output.per_example} {params.validation} > {log} 2>&1"


# Hydra paper Table 5. The models are timed on one thread; config.yaml reserves 2 cores
# for the job (resources.measure_cost.threads) so that other jobs disturb the timings less.
rule measure_cost:
    input:
        code=code("cost"),
        teachers=all_teacher_packs,
        students=lambda wc: first_seed_checkpoints(wc.exp)[0],
        evalset=lambda wc: f"results/{wc.exp}/evalsets/{test_set(wc.exp)}.npz",
    output:
        cost="results/{exp}/cost.parquet",
    log:
        "logs/measure_cost/{exp}.log",
    benchmark:
        "benchmarks/measure_cost/{exp}.tsv"
    params:
        teachers=all_teacher_files,
        students=lambda wc: [
            f"{name}={path}"
            for name, path in zip(EXPERIMENTS[wc.exp]["students"], first_seed_checkpoints(wc.exp)[1])
        ],
    threads: job_threads("measure_cost")
    resources:
        **job_resources("measure_cost"),
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
        code=code("calibration"),
        predictions=lambda wc: ensemble_predictions(wc.exp)[0],
    output:
        curve="results/{exp}/ensemble_curve.parquet",
    log:
        "logs/ensemble_curve/{exp}.log",
    benchmark:
        "benchmarks/ensemble_curve/{exp}.tsv"
    params:
        predictions=lambda wc: ensemble_predictions(wc.exp)[1],
        validation=lambda wc: validation_set(wc.exp),
        test=lambda wc: test_set(wc.exp),
    threads: job_threads("compute_metrics")
    resources:
        **job_resources("compute_metrics"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.calibration --predictions {params.predictions} "
        "--validation-set {params.validation} --test-set {params.test} "
        "--out {output.curve} > {log} 2>&1"
