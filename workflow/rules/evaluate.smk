# One job per model stores every member's / head's log-probabilities on all eval sets once
# (one torch start-up per model, not per eval set): the ensemble's teachers together, and
# the seeds of a student pack (config distill_pack) each as a model of its own. Both rules
# take the `predict` resources.
rule predict_ensemble:
    input:
        code=code("predict"),
        checkpoints=all_teacher_packs,
        evalsets=experiment_eval_sets,
    output:
        predictions="results/{exp}/predictions/ensemble.npz",
        provenance="results/{exp}/predictions/ensemble.provenance.json",
    log:
        "logs/predict/{exp}/ensemble.log",
    benchmark:
        "benchmarks/predict_ensemble/{exp}.tsv"
    params:
        checkpoints=all_teacher_files,
        device=DEVICE,
        evalsets=named_eval_sets,
    threads: job_threads("predict")
    resources:
        **job_resources("predict"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.predict --checkpoints {params.checkpoints} "
        "--eval-sets {params.evalsets} --device {params.device} --threads {threads} "
        "--out {output.predictions} > {log} 2>&1"


rule predict_students:
    input:
        code=code("predict"),
        checkpoints="results/{exp}/students/{student}/{pack}",
        evalsets=experiment_eval_sets,
    output:
        predictions=directory("results/{exp}/predictions/{student}/{pack}"),
    log:
        "logs/predict/{exp}/{student}/{pack}.log",
    benchmark:
        "benchmarks/predict_students/{exp}/{student}/{pack}.tsv"
    params:
        checkpoints=lambda wc: student_files(wc.exp, wc.student, student_pack_seeds(wc))[1],
        device=DEVICE,
        evalsets=named_eval_sets,
    threads: job_threads("predict")
    resources:
        **job_resources("predict"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.predict --each --checkpoints {params.checkpoints} "
        "--eval-sets {params.evalsets} --device {params.device} --threads {threads} "
        "--out {output.predictions} > {log} 2>&1"


rule compute_metrics:
    input:
        code=code("metrics"),
        predictions=lambda wc: prediction_files(wc.exp, wc.model)[0],
    output:
        metrics="results/{exp}/metrics/{model}.parquet",
        per_example="results/{exp}/per_example/{model}.parquet",
    log:
        "logs/compute_metrics/{exp}/{model}.log",
    benchmark:
        "benchmarks/compute_metrics/{exp}/{model}.tsv"
    params:
        predictions=lambda wc: prediction_files(wc.exp, wc.model)[1],
        model=lambda wc: model_identity(wc)["name"],
        method=lambda wc: model_identity(wc)["method"],
        seed=lambda wc: model_identity(wc)["seed"],
        validation=lambda wc: (
            f"--validation-set {validation_set(wc.exp)}" if validation_set(wc.exp) else ""
        ),
    threads: job_threads("compute_metrics")
    resources:
        **job_resources("compute_metrics"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.metrics --predictions {params.predictions} "
        "--experiment {wildcards.exp} --model {params.model} --method {params.method} "
        "{params.seed} --out {output.metrics} "
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
        predictions="results/{exp}/predictions/ensemble.npz",
    output:
        curve="results/{exp}/ensemble_curve.parquet",
    log:
        "logs/ensemble_curve/{exp}.log",
    benchmark:
        "benchmarks/ensemble_curve/{exp}.tsv"
    params:
        validation=lambda wc: validation_set(wc.exp),
        test=lambda wc: test_set(wc.exp),
    threads: job_threads("compute_metrics")
    resources:
        **job_resources("compute_metrics"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.calibration --predictions {input.predictions} "
        "--validation-set {params.validation} --test-set {params.test} "
        "--out {output.curve} > {log} 2>&1"
