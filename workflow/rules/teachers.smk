# One job per teacher pack (config ensemble.pack): its members train as one batched network,
# and each writes its own checkpoint, provenance record and log into the pack's folder.
# Folder-writing jobs open their log themselves (--log), once they hold the job's lock.
rule train_teacher:
    wildcard_constraints:
        exp=PLAN.experiments_where(lambda e: not e.imports_teachers),
    input:
        code=code("teacher"),
        data=out("prepare_dataset", "data"),
    output:
        pack=directory(out("train_teacher", "pack")),
        manifest=out("train_teacher", "pack_manifest"),
    log:
        "logs/train_teacher/{exp}/{pack}.log",
    benchmark:
        "benchmarks/train_teacher/{exp}/{pack}.tsv"
    params:
        teacher=spec_json("teacher"),
        seeds=lambda wc: P(wc).teacher_pack(wc.pack),
        resume=plan.RESUME["train_teacher"],
        device=DEVICE,
    threads: PLAN.threads("train_teacher")
    priority: 2
    resources:
        **PLAN.resources("train_teacher"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.teacher --data {input.data} "
        "--teacher {params.teacher:q} --seeds {params.seeds} "
        "--device {params.device} --threads {threads} --resume {params.resume} "
        "--out {output.pack} --log {log}"


# Teachers trained elsewhere (ensemble.checkpoints): the same outputs, from their files.
rule import_teacher:
    wildcard_constraints:
        exp=PLAN.experiments_where(lambda e: e.imports_teachers),
    input:
        code=code("external"),
        data=out("prepare_dataset", "data"),
        files=lambda wc: P(wc).teacher_files(wc.pack),
    output:
        pack=directory(out("train_teacher", "pack")),
        manifest=out("train_teacher", "pack_manifest"),
    log:
        "logs/import_teacher/{exp}/{pack}.log",
    benchmark:
        "benchmarks/import_teacher/{exp}/{pack}.tsv"
    params:
        teacher=spec_json("teacher"),
        seeds=lambda wc: P(wc).teacher_pack(wc.pack),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.external --data {input.data} --teacher {params.teacher:q} "
        "--seeds {params.seeds} --files {input.files} --out {output.pack} --log {log}"
