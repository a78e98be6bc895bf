rule train_teacher:
    input:
        code=code("teacher"),
        data="results/{exp}/dataset.npz",
    output:
        model="results/{exp}/teachers/seed{seed}/model.pt",
        provenance="results/{exp}/teachers/seed{seed}/model.provenance.json",
    log:
        "logs/train_teacher/{exp}/seed{seed}.log",
    benchmark:
        "benchmarks/train_teacher/{exp}/seed{seed}.tsv"
    params:
        teacher=lambda wc: as_json(experiment(wc)["teacher"]),
        # Resume state lives outside the outputs: Snakemake deletes outputs before a rerun.
        resume="results/.resume/{exp}/teacher-seed{seed}.pt",
        device=DEVICE,
    threads: job_threads("train_teacher")
    resources:
        **job_resources("train_teacher"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.teacher --data {input.data} "
        "--teacher {params.teacher:q} --seed {wildcards.seed} "
        "--device {params.device} --threads {threads} --resume {params.resume} "
        "--out {output.model} > {log} 2>&1"
