rule prepare_dataset:
    input:
        code=code("datasets"),
        raw=dataset_files,
    output:
        data="results/{exp}/dataset.npz",
        provenance="results/{exp}/dataset.provenance.json",
    log:
        "logs/prepare_dataset/{exp}.log",
    benchmark:
        "benchmarks/prepare_dataset/{exp}.tsv"
    params:
        dataset=lambda wc: as_json(experiment(wc)["dataset"]),
        data_root=DATA_ROOT,
    threads: job_threads("prepare_dataset")
    priority: 2
    resources:
        **job_resources("prepare_dataset"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.datasets --dataset {params.dataset:q} "
        "--data-root {params.data_root:q} --out {output.data} > {log} 2>&1"


rule make_eval_set:
    input:
        code=code("evalsets"),
        data="results/{exp}/dataset.npz",
        raw=ood_files,
    output:
        evalset="results/{exp}/evalsets/{evalset}.npz",
        provenance="results/{exp}/evalsets/{evalset}.provenance.json",
    log:
        "logs/make_eval_set/{exp}/{evalset}.log",
    benchmark:
        "benchmarks/make_eval_set/{exp}/{evalset}.tsv"
    params:
        evalset=lambda wc: as_json(experiment(wc)["eval_sets"][wc.evalset]),
        data_root=DATA_ROOT,
    threads: job_threads("make_eval_set")
    resources:
        **job_resources("make_eval_set"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.evalsets --data {input.data} "
        "--eval-set {params.evalset:q} --data-root {params.data_root:q} "
        "--out {output.evalset} > {log} 2>&1"
