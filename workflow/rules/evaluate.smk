# One job per (model, eval set) stores every member's / head's log-probabilities once.
rule predict:
    input:
        code=code("predict"),
        checkpoints=model_checkpoints,
        evalset="results/{exp}/evalsets/{evalset}.npz",
    output:
        predictions="results/{exp}/predictions/{model}/{evalset}.npz",
        provenance="results/{exp}/predictions/{model}/{evalset}.provenance.json",
    log:
        "logs/predict/{exp}/{model}/{evalset}.log",
    benchmark:
        "benchmarks/predict/{exp}/{model}/{evalset}.tsv"
    params:
        device=DEVICE,
    threads: job_threads("predict")
    resources:
        **job_resources("predict"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.predict --checkpoints {input.checkpoints} "
        "--eval-set {input.evalset} --device {params.device} --threads {threads} "
        "--out {output.predictions} > {log} 2>&1"


rule compute_metrics:
    input:
        code=code("metrics"),
        predictions="results/{exp}/predictions/{model}/{evalset}.npz",
        validation=validation_predictions,
    output:
        metrics="results/{exp}/metrics/{model}/{evalset}.parquet",
        per_example="results/{exp}/per_example/{model}/{evalset}.parquet",
    log:
        "logs/compute_metrics/{exp}/{model}/{evalset}.log",
    benchmark:
        "benchmarks/compute_metrics/{exp}/{model}/{evalset}.tsv"
    params:
        model=lambda wc: model_identity(wc)["name"],
        method=lambda wc: model_identity(wc)["method"],
        seed=lambda wc: model_identity(wc)["seed"],
        validation=lambda wc, input: f"--validation {input.validation}" if input.validation else "",
    threads: job_threads("compute_metrics")
    resources:
        **job_resources("compute_metrics"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.metrics --predictions {input.predictions} "
        "--experiment {wildcards.exp} --model {params.model} --method {params.method} "
        "{params.seed} --eval-set {wildcards.evalset} --out {output.metrics} "
        "--per-example {output.per_example} {params.validation} > {log} 2>&1"


# Hydra paper Table 5. The models are timed on one thread; config.yaml reserves 2 cores
# for the job (resources.measure_cost.threads) so that other jobs disturb the timings less.
rule measure_cost:
    input:
        code=code("cost"),
        teachers=teacher_checkpoints,
        students=lambda wc: expand(
            "results/{exp}/students/{student}/seed{seed}/model.pt",
            exp=wc.exp,
            student=EXPERIMENTS[wc.exp]["students"],
            seed=EXPERIMENTS[wc.exp]["distill_seeds"][0],
        ),
        evalset=lambda wc: f"results/{wc.exp}/evalsets/{test_set(wc.exp)}.npz",
    output:
        cost="results/{exp}/cost.parquet",
    log:
        "logs/measure_cost/{exp}.log",
    benchmark:
        "benchmarks/measure_cost/{exp}.tsv"
    params:
        students=lambda wc, input: [
            f"{name}={path}" for name, path in zip(EXPERIMENTS[wc.exp]["students"], input.students)
        ],
    threads: job_threads("measure_cost")
    resources:
        **job_resources("measure_cost"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.cost --teachers {input.teachers} "
        "--students {params.students} --eval-set {input.evalset} --threads 1 "
        "--out {output.cost} > {log} 2>&1"


# Deep ensembles of k = 1..M teachers (mean over random k-subsets), calibrated on the
# validation set: the curve behind the Deep Ensemble Equivalent (DEE).
rule ensemble_curve:
    input:
        code=code("calibration"),
        validation=lambda wc: f"results/{wc.exp}/predictions/ensemble/{validation_set(wc.exp)}.npz",
        test=lambda wc: f"results/{wc.exp}/predictions/ensemble/{test_set(wc.exp)}.npz",
    output:
        curve="results/{exp}/ensemble_curve.parquet",
    log:
        "logs/ensemble_curve/{exp}.log",
    benchmark:
        "benchmarks/ensemble_curve/{exp}.tsv"
    threads: job_threads("compute_metrics")
    resources:
        **job_resources("compute_metrics"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.calibration --validation {input.validation} "
        "--test {input.test} --out {output.curve} > {log} 2>&1"
