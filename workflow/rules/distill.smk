rule distill_student:
    input:
        code=code("distill"),
        data="results/{exp}/dataset.npz",
        teachers=student_teacher_packs,
    output:
        model="results/{exp}/students/{student}/seed{seed}/model.pt",
        provenance="results/{exp}/students/{student}/seed{seed}/model.provenance.json",
    log:
        "logs/distill_student/{exp}/{student}/seed{seed}.log",
    benchmark:
        "benchmarks/distill_student/{exp}/{student}/seed{seed}.tsv"
    params:
        student=lambda wc: as_json(experiment(wc)["students"][wc.student]),
        resume="results/.resume/{exp}/{student}-seed{seed}",
        teachers=student_teacher_files,
        device=DEVICE,
    threads: job_threads("distill_student")
    resources:
        **job_resources("distill_student"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.distill --data {input.data} "
        "--student {params.student:q} --teachers {params.teachers} --seed {wildcards.seed} "
        "--device {params.device} --threads {threads} "
        "--resume {params.resume} --out {output.model} > {log} 2>&1"
