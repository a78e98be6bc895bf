# One job per student seed group (config distill_seeds_per_job), its seeds trained one after another;
# each seed writes its own checkpoint and provenance record into the group's folder.
rule distill_student:
    wildcard_constraints:
        student=PLAN.students_named(lambda m: m.name != "latent_be"),
    input:
        code=code("distill"),
        data=out("prepare_dataset", "data"),
        teachers=lambda wc: manifests(P(wc).teacher_dirs(P(wc).student_teacher_seeds(wc.student))),
    output:
        seed_group=directory(out("distill_student", "seed_group")),
        manifest=out("distill_student", "seed_group_manifest"),
    log:
        "logs/distill_student/{exp}/{student}/{seed_group}.log",
    benchmark:
        "benchmarks/distill_student/{exp}/{student}/{seed_group}.tsv"
    params:
        student=spec_json("students", "student"),
        seeds=lambda wc: P(wc).student_seed_group(wc.seed_group),
        resume=plan.RESUME["distill_student"],
        teachers=lambda wc: P(wc).teacher_checkpoints(P(wc).student_teacher_seeds(wc.student)),
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
        "--resume {params.resume} --out {output.seed_group} --log {log}"


# LatentBE: no training; each seed's BatchEnsemble source student averaged (latent.py).
# Seconds of work: a local rule, never a cluster job of its own.
localrules:
    average_student,


rule average_student:
    wildcard_constraints:
        student=PLAN.students_named(lambda m: m.name == "latent_be"),
    input:
        code=code("latent"),
        data=out("prepare_dataset", "data"),
        sources=lambda wc: manifests(P(wc).latent_source_dirs(wc.student, wc.seed_group)),
    output:
        seed_group=directory(out("distill_student", "seed_group")),
        manifest=out("distill_student", "seed_group_manifest"),
    log:
        "logs/average_student/{exp}/{student}/{seed_group}.log",
    benchmark:
        "benchmarks/average_student/{exp}/{student}/{seed_group}.tsv"
    params:
        student=spec_json("students", "student"),
        seeds=lambda wc: P(wc).student_seed_group(wc.seed_group),
        sources=lambda wc: P(wc).latent_source_checkpoints(wc.student, wc.seed_group),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.latent --data {input.data} --student {params.student:q} "
        "--sources {params.sources} --seeds {params.seeds} --out {output.seed_group} --log {log}"
