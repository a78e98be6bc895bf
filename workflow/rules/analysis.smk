localrules:
    collect_histories,


# Diversity Matters' analyses: torch jobs that read checkpoints (analysis.py); settings from
# the experiment's `analysis:` block. Their Parquet tables feed figures.smk.
rule analyse_teachers:
    input:
        code=code("analysis"),
        data=out("prepare_dataset", "data"),
        teachers=lambda wc: manifests(P(wc).teacher_dirs()),
    output:
        **plan.OUTPUTS["analyse_teachers"],
    log:
        "logs/analyse_teachers/{exp}.log",
    benchmark:
        "benchmarks/analyse_teachers/{exp}.tsv"
    params:
        teachers=lambda wc: P(wc).teacher_checkpoints(),
        step=lambda wc: P(wc).analysis["step"],
        temperature=lambda wc: P(wc).analysis["temperature"],
    threads: PLAN.threads("predict")
    resources:
        **PLAN.resources("predict"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.analysis teachers --data {input.data} "
        "--teachers {params.teachers} --step {params.step} --temperature {params.temperature} "
        "--threads {threads} --out {output.table} > {log} 2>&1"


rule analyse_jacobians:
    input:
        code=code("analysis"),
        data=out("prepare_dataset", "data"),
        teachers=lambda wc: manifests(P(wc).teacher_dirs()),
        distilled=lambda wc: manifests(P(wc).student_dirs(P(wc).jacobian_students[0])),
        scratch=lambda wc: manifests(P(wc).student_dirs(P(wc).jacobian_students[1])),
    output:
        **plan.OUTPUTS["analyse_jacobians"],
    log:
        "logs/analyse_jacobians/{exp}.log",
    benchmark:
        "benchmarks/analyse_jacobians/{exp}.tsv"
    params:
        teachers=lambda wc: P(wc).teacher_checkpoints(),
        step=lambda wc: P(wc).analysis["step"],
        temperature=lambda wc: P(wc).analysis["temperature"],
        distilled=get_named_checkpoints(0),
        scratch=get_named_checkpoints(1),
    threads: PLAN.threads("predict")
    resources:
        **PLAN.resources("predict"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.analysis jacobians --data {input.data} "
        "--teachers {params.teachers} --students {params.distilled} "
        "--scratch {params.scratch} --step {params.step} --temperature {params.temperature} "
        "--threads {threads} --out-jacobians {output.jacobians} --out-snr {output.snr} "
        "> {log} 2>&1"


# Every network's losses per epoch from the checkpoints' headers: the training curves'
# table, and what a results bundle carries instead of the checkpoints (histories.py).
rule collect_histories:
    input:
        code=code("histories"),
        teachers=lambda wc: manifests(P(wc).teacher_dirs()),
        students=lambda wc: manifests(P(wc).student_dirs(P(wc).students)),
    output:
        **plan.OUTPUTS["collect_histories"],
    log:
        "logs/collect_histories/{exp}.log",
    benchmark:
        "benchmarks/collect_histories/{exp}.tsv"
    params:
        checkpoints=lambda wc: " ".join(P(wc).training_checkpoints),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.histories --checkpoints {params.checkpoints} "
        "--out {output.histories} > {log} 2>&1"


# Diversity Matters Fig. 1 as numbers: diversity on clean, perturbed and test inputs.
rule analyse_input_diversity:
    input:
        code=code("input_diversity"),
        data=out("prepare_dataset", "data"),
        teachers=lambda wc: manifests(P(wc).teacher_dirs()),
        students=lambda wc: manifests(P(wc).student_dirs(P(wc).multi_member)),
    output:
        **plan.OUTPUTS["analyse_input_diversity"],
    log:
        "logs/analyse_input_diversity/{exp}.log",
    benchmark:
        "benchmarks/analyse_input_diversity/{exp}.tsv"
    params:
        teachers=lambda wc: P(wc).teacher_checkpoints(),
        students=lambda wc: " ".join(
            f"{s}={c}" for s in P(wc).multi_member for c in P(wc).student_checkpoints([s])
        ),
        steps=lambda wc: " ".join(map(str, P(wc).input_diversity_steps)),
        draws=lambda wc: P(wc).analysis["draws"],
        temperature=lambda wc: P(wc).analysis["temperature"],
    threads: PLAN.threads("predict")
    resources:
        **PLAN.resources("predict"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m ensemble_distill.input_diversity --data {input.data} "
        "--teachers {params.teachers} --students {params.students} --steps {params.steps} "
        "--draws {params.draws} --temperature {params.temperature} --threads {threads} "
        "--out {output.table} > {log} 2>&1"
