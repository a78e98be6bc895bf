# One job per pack of members (config ensemble.pack): they train as one batched network, and
# each member writes its own checkpoint, provenance record and log into the pack's folder.
rule train_teacher:
    input:
        code=code("teacher"),
        data="results/{exp}/dataset.npz",
    output:
        pack=directory("results/{exp}/teachers/{pack}"),
    log:
        "logs/train_teacher/{exp}/{pack}.log",
    benchmark:
        "benchmarks/train_teacher/{exp}/{pack}.tsv"
    params:
        teacher=lambda wc: as_json(experiment(wc)["teacher"]),
        seeds=pack_seeds,
        # Resume state lives outside the outputs: Snakemake deletes outputs before a rerun.
        resume="results/.resume/{exp}/teachers-{pack}.pt",
        device=DEVICE,
    threads: job_threads("train_teacher")
    priority: 2
    resources:
        **job_resources("train_teacher"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.teacher --data {input.data} "
        "--teacher {params.teacher:q} --seeds {params.seeds} "
        "--device {params.device} --threads {threads} --resume {params.resume} "
        "--out {output.pack} > {log} 2>&1"
