# One job per pack of distillation seeds (config distill_pack), trained one after another;
# each seed writes its own checkpoint and provenance record into the pack's folder.
rule distill_student:
    input:
        code=code("distill"),
        data="results/{exp}/dataset.npz",
        teachers=student_teacher_packs,
    output:
        pack=directory("results/{exp}/students/{student}/{pack}"),
    log:
        "logs/distill_student/{exp}/{student}/{pack}.log",
    benchmark:
        "benchmarks/distill_student/{exp}/{student}/{pack}.tsv"
    params:
        student=lambda wc: as_json(experiment(wc)["students"][wc.student]),
        seeds=lambda wc: student_pack_seeds(wc),
        # Resume state lives outside the outputs: Snakemake deletes outputs before a rerun.
        resume="results/.resume/{exp}/{student}-{pack}",
        teachers=student_teacher_files,
        device=DEVICE,
    threads: job_threads("distill_student")
    priority: 1
    resources:
        **job_resources("distill_student"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.distill --data {input.data} "
        "--student {params.student:q} --teachers {params.teachers} --seeds {params.seeds} "
        "--device {params.device} --threads {threads} "
        "--resume {params.resume} --out {output.pack} > {log} 2>&1"
