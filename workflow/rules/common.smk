import json

from ensemble_distill.config import cluster_resources, experiments_to_run, member_seeds
from ensemble_distill.provenance import sidecar_path


EXPERIMENTS = config["experiments"]
DATA_ROOT = config["data_root"]
DEVICE = config["device"]


wildcard_constraints:
    exp=r"[A-Za-z][A-Za-z0-9_]*",
    student=r"[A-Za-z][A-Za-z0-9_]*",
    evalset=r"[A-Za-z][A-Za-z0-9_]*",
    seed=r"\d+",
    model=r"ensemble|[A-Za-z][A-Za-z0-9_]*/seed\d+",


def code(*modules):
    """Package source files a rule runs; declared as inputs so edits rerun what they affect."""
    return [f"workflow/ensemble_distill/{m}.py" for m in ("__init__", "io", *modules)]


def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def job_threads(rule):
    return config["resources"][rule]["threads"]


def job_resources(rule):
    return cluster_resources(config, rule)


def experiment(wildcards):
    return EXPERIMENTS[wildcards.exp]


def teacher_checkpoints(wildcards):
    return expand(
        "results/{exp}/teachers/seed{seed}/model.pt",
        exp=wildcards.exp,
        seed=member_seeds(experiment(wildcards)),
    )


def model_checkpoints(wildcards):
    """The checkpoints behind an evaluated model: all teachers, or one student."""
    if wildcards.model == "ensemble":
        return teacher_checkpoints(wildcards)
    return f"results/{wildcards.exp}/students/{wildcards.model}/model.pt"


def model_identity(wildcards):
    """(model name, method, seed) for the metric table's identifying columns."""
    if wildcards.model == "ensemble":
        return {"name": "ensemble", "method": "ensemble", "seed": ""}
    student, seed_dir = wildcards.model.split("/")
    seed = seed_dir.removeprefix("seed")
    method = experiment(wildcards)["students"][student]["method"]
    return {"name": student, "method": method, "seed": f"--distill-seed {seed}"}


def evaluated_models(exp):
    spec = EXPERIMENTS[exp]
    return ["ensemble"] + [
        f"{student}/seed{seed}" for student in spec["students"] for seed in spec["distill_seeds"]
    ]


def model_order(exp):
    return ["ensemble", "single", *EXPERIMENTS[exp]["students"]]


def eval_sets_of_kind(exp, *kinds):
    return [name for name, spec in EXPERIMENTS[exp]["eval_sets"].items() if spec["kind"] in kinds]


def map_models(wildcards):
    """The ensemble and the first distillation seed of every student."""
    spec = experiment(wildcards)
    seed = spec["distill_seeds"][0]
    return ["ensemble"] + [f"{student}/seed{seed}" for student in spec["students"]]


def students_with(exp, *methods):
    """Students of an experiment whose method is one of ``methods``."""
    students = EXPERIMENTS[exp]["students"]
    return [name for name, spec in students.items() if spec["method"] in methods]


def per_example_files(exp, models, evalsets):
    return expand(
        "results/{exp}/per_example/{model}/{evalset}.parquet",
        exp=exp,
        model=models,
        evalset=evalsets,
    )


def seeded(exp, students):
    return [f"{s}/seed{seed}" for s in students for seed in EXPERIMENTS[exp]["distill_seeds"]]


def paper_flag(wildcards):
    paper = experiment(wildcards).get("paper")
    return f"--paper {paper}" if paper else ""


def grid_per_example(wildcards):
    """Per-example files on the experiment's input grid, for the models in ``map_models``."""
    grid = eval_sets_of_kind(wildcards.exp, "grid")[0]
    return per_example_files(wildcards.exp, map_models(wildcards), [grid])


def test_per_example(wildcards):
    test = eval_sets_of_kind(wildcards.exp, "test")[0]
    return per_example_files(wildcards.exp, ["ensemble"], [test])


def map_labels(wildcards):
    return [m.split("/")[0] for m in map_models(wildcards)]


def is_regression(exp):
    return EXPERIMENTS[exp]["dataset"]["name"] in ("toy_regression", "uci")


def uci_experiments():
    return [e for e in experiments_to_run(config) if EXPERIMENTS[e]["dataset"]["name"] == "uci"]


def tables(exp):
    if is_regression(exp):
        return [f"results/{exp}/tables/summary.md"]
    out = [f"results/{exp}/tables/{name}.md" for name in ("summary", "cost")]
    if students_with(exp, "hydra", "end2"):
        out.append(f"results/{exp}/tables/mu_gap.md")
    if eval_sets_of_kind(exp, "ood") and eval_sets_of_kind(exp, "test"):
        out.append(f"results/{exp}/tables/ood.md")
    return out


def figures(exp):
    out = []
    if eval_sets_of_kind(exp, "rotate", "translate"):
        out.append(f"results/{exp}/figures/shift_curves.png")
    if eval_sets_of_kind(exp, "grid") and eval_sets_of_kind(exp, "test"):
        name = "regression_fit" if is_regression(exp) else "uncertainty_maps"
        out.append(f"results/{exp}/figures/{name}.png")
    if eval_sets_of_kind(exp, "ood") and eval_sets_of_kind(exp, "test"):
        out.append(f"results/{exp}/figures/ood_histograms.png")
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
