import json

from ensemble_distill import config as cfg
from ensemble_distill.codegraph import module_files
from ensemble_distill.config import (
    cluster_resources,
    experiments_to_run,
    pack_label,
    student_packs,
    teacher_packs,
)
from ensemble_distill.datasets import raw_files
from ensemble_distill.evalsets import eval_set_files
from ensemble_distill.methods import method_of, students_where
from ensemble_distill.paper import paper_row
from ensemble_distill.provenance import sidecar_path


EXPERIMENTS = config["experiments"]
DATA_ROOT = config["data_root"]
DEVICE = config["device"]


wildcard_constraints:
    exp=r"[A-Za-z][A-Za-z0-9_]*",
    student=r"[A-Za-z][A-Za-z0-9_]*",
    evalset=r"[A-Za-z][A-Za-z0-9_]*",
    seed=r"\d+",
    pack=r"seeds\d+-\d+",
    group=r"all|ensemble|[A-Za-z][A-Za-z0-9_]*-seeds\d+-\d+",


def code(module):
    """Source files of ``python -m ensemble_distill.<module>`` and all it imports (from the
    import graph), declared as inputs so that an edit reruns exactly what it affects."""
    return module_files(module)


def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def job_threads(rule):
    return config["resources"][rule]["threads"]


def job_resources(rule):
    return cluster_resources(config, rule)


def experiment(wildcards):
    return EXPERIMENTS[wildcards.exp]


def dataset_files(wildcards):
    """The raw files a dataset is read from (MNIST idx, UCI tables): editing or replacing
    one reruns the dataset and what depends on it. Files a download would fetch are left
    out until they exist."""
    spec = experiment(wildcards)["dataset"]
    files = raw_files(spec, DATA_ROOT)
    return [str(p) for p in files if p.is_file() or not spec.get("download")]


def ood_files(wildcards):
    """The raw files of an OOD eval set read from another dataset (none for generated ones)."""
    spec = experiment(wildcards)["eval_sets"][wildcards.evalset]
    return [str(p) for p in eval_set_files(spec, DATA_ROOT, experiment(wildcards)["dataset"]["name"])]


def pack_of(packs, label):
    """The seeds of the pack named ``label`` (a ``{pack}`` wildcard)."""
    return next(p for p in packs if pack_label(p) == label)


def pack_seeds(wildcards):
    """The member seeds of the teacher pack ``wildcards.pack``."""
    return pack_of(teacher_packs(experiment(wildcards)), wildcards.pack)


def pack_files(root, packs, seeds, file="seed{}/model.pt"):
    """(pack folders, files) of ``seeds`` in the packs under ``root``: the folders are
    what rules depend on (a job's output), the files ``<folder>/<file with the seed>``
    what the commands read."""
    packs = [p for p in packs if set(p) & set(seeds)]
    folder = {seed: f"{root}/{pack_label(p)}" for p in packs for seed in p}
    return [folder[p[0]] for p in packs], [f"{folder[s]}/{file.format(s)}" for s in seeds]


def teacher_files(exp, seeds):
    """(pack folders, checkpoint files) of teacher members ``seeds``."""
    return pack_files(f"results/{exp}/teachers", teacher_packs(EXPERIMENTS[exp]), seeds)


def student_files(exp, student, seeds):
    """(pack folders, checkpoint files) of ``student``'s distillation ``seeds``."""
    root = f"results/{exp}/students/{student}"
    return pack_files(root, student_packs(EXPERIMENTS[exp]), seeds)


def student_pack_seeds(wildcards):
    """The distillation seeds of the student pack ``wildcards.pack``."""
    return pack_of(student_packs(experiment(wildcards)), wildcards.pack)


def all_teacher_packs(wildcards):
    return teacher_files(wildcards.exp, cfg.member_seeds(experiment(wildcards)))[0]


def all_teacher_files(wildcards):
    return teacher_files(wildcards.exp, cfg.member_seeds(experiment(wildcards)))[1]


def student_teacher_seeds(wildcards):
    """The members a student learns from (the ensemble's first ``teachers``)."""
    return cfg.student_teacher_seeds(experiment(wildcards), wildcards.student)


def student_teacher_packs(wildcards):
    return teacher_files(wildcards.exp, student_teacher_seeds(wildcards))[0]


def student_teacher_files(wildcards):
    return teacher_files(wildcards.exp, student_teacher_seeds(wildcards))[1]


def eval_files(exp, stage, models, ext="parquet"):
    """(group folders, files) of ``models``' outputs of ``stage`` (predictions, metrics,
    per_example): each model's file lies in its eval group's folder (config eval_group);
    the folders are what rules depend on (a job's output), the files what commands read."""
    group = {m: g for g, ms in cfg.eval_groups(EXPERIMENTS[exp]).items() for m in ms}
    folders = list(dict.fromkeys(f"results/{exp}/{stage}/{group[m]}" for m in models))
    return folders, [f"results/{exp}/{stage}/{group[m]}/{m}.{ext}" for m in models]


def ensemble_predictions(exp):
    return eval_files(exp, "predictions", ["ensemble"], "npz")


def group_models(wildcards):
    return cfg.eval_groups(experiment(wildcards))[wildcards.group]


def group_checkpoints(wildcards):
    """(checkpoint folders, '--model <model> <checkpoint files>' arguments) of the models
    of eval group ``wildcards.group``."""
    folders, args = [], []
    for model in group_models(wildcards):
        name, seed = cfg.parse_model_id(model)
        if model == "ensemble":
            f, files = teacher_files(wildcards.exp, cfg.member_seeds(experiment(wildcards)))
        else:
            f, files = student_files(wildcards.exp, name, [seed])
        folders += f
        args.append(f"--model {model} {' '.join(files)}")
    return list(dict.fromkeys(folders)), " ".join(args)


def group_identities(wildcards):
    """The metric tables' identifying columns of the group's models, as JSON for the
    metrics job: file (the model), model name, method and distillation seed."""
    students = experiment(wildcards)["students"]
    out = []
    for model in group_models(wildcards):
        name, seed = cfg.parse_model_id(model)
        method = "ensemble" if model == "ensemble" else students[name]["method"]
        out.append({"file": model, "model": name, "method": method, "distill_seed": seed})
    return as_json(out)


def experiment_eval_sets(wildcards):
    """The eval-set files of the experiment, in config order."""
    return expand(
        "results/{exp}/evalsets/{evalset}.npz", exp=wildcards.exp, evalset=experiment(wildcards)["eval_sets"]
    )


def named_eval_sets(wildcards, input):
    return [f"{name}={path}" for name, path in zip(experiment(wildcards)["eval_sets"], input.evalsets)]


def evaluated_models(exp):
    spec = EXPERIMENTS[exp]
    return ["ensemble"] + [
        cfg.model_id(student, seed) for student in spec["students"] for seed in spec["distill_seeds"]
    ]


def model_order(exp):
    return ["ensemble", "single", *EXPERIMENTS[exp]["students"]]


def eval_sets_of_kind(exp, *kinds):
    return cfg.eval_sets_of_kind(EXPERIMENTS[exp], *kinds)


def map_models(wildcards):
    """The ensemble and the first distillation seed of every student."""
    spec = experiment(wildcards)
    seed = spec["distill_seeds"][0]
    return ["ensemble"] + [cfg.model_id(student, seed) for student in spec["students"]]


def students_of(exp, predicate):
    """Students of an experiment whose method (methods.py) satisfies ``predicate``."""
    return students_where(EXPERIMENTS[exp]["students"], predicate)


def per_example_files(exp, models):
    """(group folders, per-example Parquet files) of ``models`` (each file holds all eval
    sets of its model)."""
    return eval_files(exp, "per_example", models)


def seeded(exp, students):
    return [cfg.model_id(s, seed) for s in students for seed in EXPERIMENTS[exp]["distill_seeds"]]


def paper_flag(wildcards):
    paper = experiment(wildcards).get("paper")
    return f"--paper {paper}" if paper else ""


def grid_per_example(wildcards):
    """(folders, per-example files) of the models in ``map_models`` (the input grid's maps)."""
    return per_example_files(wildcards.exp, map_models(wildcards))


def test_set(exp):
    return cfg.test_set(EXPERIMENTS[exp])


def validation_set(exp):
    return cfg.validation_set(EXPERIMENTS[exp])


def test_per_example(wildcards):
    return per_example_files(wildcards.exp, ["ensemble"])


def mu_gap_per_example(wildcards):
    """Per-example (folders, files) of the ensemble and of every seed of the students with
    model uncertainty (Table 1)."""
    students = students_of(wildcards.exp, lambda m: m.has_model_uncertainty)
    return per_example_files(wildcards.exp, ["ensemble", *seeded(wildcards.exp, students)])


def diversity_per_example(wildcards):
    """Per-example (folders, files) of the ensemble and every seed of multi-member students."""
    students = multi_member(wildcards.exp)
    return per_example_files(wildcards.exp, ["ensemble", *seeded(wildcards.exp, students)])


def multi_member(exp):
    """Students with several members or heads: diversity and model uncertainty."""
    return students_of(exp, lambda m: m.members)


def paired_students(exp):
    """'student=baseline' for every perturbed student and the student with the same config
    but no perturbation (the paired comparison of the diversity table)."""
    return [f"{s}={b}" for s, b in cfg.perturbation_pairs(EXPERIMENTS[exp]).items()]


def paper_rows(wildcards):
    """'--paper-rows student=row ...' for the students whose published row the experiment's
    paper has (paper.py says which), or nothing."""
    paper = experiment(wildcards).get("paper")
    rows = {name: paper_row(paper, spec) for name, spec in experiment(wildcards)["students"].items()}
    rows = [f"{name}={row}" for name, row in rows.items() if row]
    return f"--paper-rows {' '.join(rows)}" if rows else ""


def student_checkpoints(exp, students, seeds=None):
    """(pack folders, checkpoint files) of ``students`` at ``seeds`` (default: all
    distillation seeds), student by student."""
    seeds = seeds or EXPERIMENTS[exp]["distill_seeds"]
    folders, files = [], []
    for student in students:
        f, c = student_files(exp, student, seeds)
        folders += f
        files += c
    return folders, files


def first_seed_checkpoints(exp):
    """Every student's checkpoint at the first distillation seed (Table 5's timings)."""
    return student_checkpoints(exp, EXPERIMENTS[exp]["students"], EXPERIMENTS[exp]["distill_seeds"][:1])


def named_checkpoints(exp, students):
    """'student=path' for every checkpoint of ``students``."""
    return [f"{s}={path}" for s in students for path in student_checkpoints(exp, [s])[1]]


def analysis_step(exp):
    """Perturbation step of the analyses: the experiment's first perturbed student's."""
    return cfg.analysis_settings(EXPERIMENTS[exp])["step"]


def analysis_temperature(exp):
    return cfg.analysis_settings(EXPERIMENTS[exp])["temperature"]


def jacobian_students(exp):
    """One-to-one students compared with a from-scratch baseline (Jacobian analysis)."""
    distilled = students_of(exp, lambda m: m.one_to_one)
    return distilled, students_of(exp, lambda m: not m.uses_teachers)


def map_labels(wildcards):
    return [cfg.parse_model_id(m)[0] for m in map_models(wildcards)]


def is_regression(exp):
    return cfg.is_regression(EXPERIMENTS[exp])


def uci_experiments():
    return [e for e in experiments_to_run(config) if EXPERIMENTS[e]["dataset"]["name"] == "uci"]


def tables(exp):
    if is_regression(exp):
        return [f"results/{exp}/tables/summary.md"]
    out = [f"results/{exp}/tables/{name}.md" for name in ("summary", "cost")]
    if students_of(exp, lambda m: m.has_model_uncertainty):
        out.append(f"results/{exp}/tables/mu_gap.md")
    if eval_sets_of_kind(exp, "ood") and test_set(exp):
        out.append(f"results/{exp}/tables/ood.md")
    if validation_set(exp) and test_set(exp):  # calibrated metrics and DEE
        out.append(f"results/{exp}/tables/diversity.md")
    if eval_sets_of_kind(exp, "corrupt"):
        out.append(f"results/{exp}/tables/corruption.md")
    return out


def figures(exp):
    out = []
    if eval_sets_of_kind(exp, "rotate", "translate"):
        out.append(f"results/{exp}/figures/shift_curves.png")
    if eval_sets_of_kind(exp, "corrupt"):
        out.append(f"results/{exp}/figures/corruption_boxes.png")
    if eval_sets_of_kind(exp, "grid") and test_set(exp):
        name = "regression_fit" if is_regression(exp) else "uncertainty_maps"
        out.append(f"results/{exp}/figures/{name}.png")
    if eval_sets_of_kind(exp, "ood") and test_set(exp):
        out.append(f"results/{exp}/figures/ood_histograms.png")
    if validation_set(exp) and test_set(exp):
        out.append(f"results/{exp}/figures/diversity.png")
        distilled, scratch = jacobian_students(exp)
        if distilled and scratch:
            out.append(f"results/{exp}/figures/jacobians.png")
    return out


def results_of_all():
    """The tables and figures of every experiment that runs."""
    out = []
    for exp in experiments_to_run(config):
        out += tables(exp) + figures(exp)
    if uci_experiments():
        out.append("results/uci_table4.md")
    return out


def result_records(wildcards):
    return [str(sidecar_path(path)) for path in results_of_all()]


def all_outputs():
    return results_of_all() + ["results/provenance_summary.csv"]
