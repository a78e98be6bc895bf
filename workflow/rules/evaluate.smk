# One job per (model, eval set) stores every member's / head's log-probabilities once.
rule predict:
    input:
        code=code("models", "train", "predict"),
        checkpoints=model_checkpoints,
        evalset="results/{exp}/evalsets/{evalset}.npz",
    output:
        predictions="results/{exp}/predictions/{model}/{evalset}.npz",
    log:
        "logs/predict/{exp}/{model}/{evalset}.log",
    benchmark:
        "benchmarks/predict/{exp}/{model}/{evalset}.tsv"
    params:
        device=DEVICE,
    threads: 1
    resources:
        mem_mb=4000,
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
    resources:
        mem_mb=4000,
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.metrics --predictions {input.predictions} "
        "--experiment {wildcards.exp} --model {params.model} --method {params.method} "
        "{params.seed} --eval-set {wildcards.evalset} --out {output.metrics} "
        "--per-example {output.per_example} > {log} 2>&1"
