# One job per student seed group (config distill_pack), its seeds trained one after another;
# each seed writes its own checkpoint and provenance record into the group's folder.
rule distill_student:
    input:
        code=code("distill"),
        data=out("prepare_dataset", "data"),
        teachers=get_student_teacher_dirs,
    output:
        pack=directory(out("distill_student", "pack")),
    log:
        "logs/distill_student/{exp}/{student}/{pack}.log",
    benchmark:
        "benchmarks/distill_student/{exp}/{student}/{pack}.tsv"
    params:
        student=spec_json("students", "student"),
        seeds=get_student_seed_group,
        resume=plan.RESUME["distill_student"],
        teachers=get_student_teachers,
        device=DEVICE,
    threads: PLAN.threads("distill_student")
    priority: 1
    resources:
        **PLAN.resources("distill_student"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.distill --data {input.data} "
        "--student {params.student:q} --teachers {params.teachers} --seeds {params.seeds} "
        "--device {params.device} --threads {threads} "
        "--resume {params.resume} --out {output.pack} > {log} 2>&1"
