rule prepare_dataset:
    input:
        code=code("datasets"),
        raw=get_dataset_files,
    output:
        **plan.OUTPUTS["prepare_dataset"],
    log:
        "logs/prepare_dataset/{exp}.log",
    benchmark:
        "benchmarks/prepare_dataset/{exp}.tsv"
    params:
        dataset=spec_json("dataset"),
        data_root=DATA_ROOT,
    threads: PLAN.threads("prepare_dataset")
    priority: 2
    resources:
        **PLAN.resources("prepare_dataset"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.datasets --dataset {params.dataset:q} "
        "--data-root {params.data_root:q} --out {output.data} > {log} 2>&1"


rule make_eval_set:
    input:
        code=code("evalsets"),
        data=out("prepare_dataset", "data"),
        raw=get_ood_files,
    output:
        **plan.OUTPUTS["make_eval_set"],
    log:
        "logs/make_eval_set/{exp}/{evalset}.log",
    benchmark:
        "benchmarks/make_eval_set/{exp}/{evalset}.tsv"
    params:
        evalset=spec_json("eval_sets", "evalset"),
        data_root=DATA_ROOT,
    threads: PLAN.threads("make_eval_set")
    group:
        "eval_sets"
    resources:
        **PLAN.resources("make_eval_set"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.evalsets --data {input.data} "
        "--eval-set {params.evalset:q} --data-root {params.data_root:q} "
        "--out {output.evalset} > {log} 2>&1"
