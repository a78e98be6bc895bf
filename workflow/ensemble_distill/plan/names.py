"""Names and paths: the one place each label grammar and every ``results/`` path is
spelled, with the inverses (a label's seeds, a path's rule). Torch-free."""

import re
from pathlib import Path

# --- label grammars: the one place each is spelled ------------------------------------
SEED_RANGE = "seeds{first}-{last}"  # a teacher pack's or student seed group's folder
MEMBER = "seed{seed}"  # one member's / distillation seed's folder inside it
MODEL = "{student}/seed{seed}"  # an evaluated student model ("ensemble" for the ensemble)
CHECKPOINT = "model.pt"  # inside a member folder
MANIFEST = ".manifest.json"  # beside a directory output: what its job wrote (manifest.py)
GROUP_ALL = "all"  # eval_group: experiment
GROUP_ENSEMBLE = "ensemble"

NAME = r"[A-Za-z][A-Za-z0-9_]*"
SEED_RANGE_RE = r"seeds\d+-\d+"
WILDCARDS = {  # Snakemake's wildcard constraints
    "exp": NAME,
    "student": NAME,
    "evalset": NAME,
    "table": NAME,
    "seed": r"\d+",
    "pack": SEED_RANGE_RE,
    "seed_group": SEED_RANGE_RE,
    "group": rf"{GROUP_ALL}|{GROUP_ENSEMBLE}|{NAME}-{SEED_RANGE_RE}",
}

# --- output paths, by rule --------------------------------------------------------------
EXP = "results/{exp}"
TABLES = (
    "summary", "cost", "mu_gap", "ood", "diversity", "corruption", "selective",
    "input_diversity",
)  # fmt: skip
FIGURES = (
    "shift_curves",
    "corruption_boxes",
    "uncertainty_maps",
    "regression_fit",
    "ood_histograms",
    "diversity",
    "jacobians",
    "reliability",
    "risk_coverage",
    "training_curves",
    "input_diversity",
)


def _table(stem):
    return {"markdown": f"{stem}.md", "csv": f"{stem}.csv", "provenance": f"{stem}.provenance.json"}


def _figure(stem):
    return {"png": f"{stem}.png", "pdf": f"{stem}.pdf", "provenance": f"{stem}.provenance.json"}


def manifest(folder):
    """The manifest of a directory output: what a job that reads the folder depends on."""
    return f"{folder}{MANIFEST}"


def _folder(name, template):
    """A directory output and its manifest."""
    return {name: template, f"{name}_manifest": manifest(template)}


OUTPUTS = {
    "prepare_dataset": {
        "data": f"{EXP}/dataset.npz",
        "provenance": f"{EXP}/dataset.provenance.json",
    },
    "make_eval_set": {
        "evalset": f"{EXP}/evalsets/{{evalset}}.npz",
        "provenance": f"{EXP}/evalsets/{{evalset}}.provenance.json",
    },
    # Directory outputs come with a manifest (manifest.py): edits inside rerun the job.
    "train_teacher": _folder("pack", f"{EXP}/teachers/{{pack}}"),
    "distill_student": _folder("seed_group", f"{EXP}/students/{{student}}/{{seed_group}}"),
    "predict": _folder("predictions", f"{EXP}/predictions/{{group}}"),
    "compute_metrics": {
        **_folder("metrics", f"{EXP}/metrics/{{group}}"),
        **_folder("per_example", f"{EXP}/per_example/{{group}}"),
    },
    "measure_cost": {"cost": f"{EXP}/cost.parquet"},
    "ensemble_curve": {"curve": f"{EXP}/ensemble_curve.parquet"},
    "collect_metrics": {"metrics": f"{EXP}/metrics.parquet"},
    "analyse_teachers": {"table": f"{EXP}/analysis/teacher_diversity.parquet"},
    "collect_histories": {"histories": f"{EXP}/histories.parquet"},
    "analyse_input_diversity": {"table": f"{EXP}/analysis/input_diversity.parquet"},
    "analyse_jacobians": {
        "jacobians": f"{EXP}/analysis/jacobians.parquet",
        "snr": f"{EXP}/analysis/grad_snr.parquet",
    },
    **{f"{t}_table": _table(f"{EXP}/tables/{t}") for t in TABLES},
    "uci_table": _table("results/uci_table4"),
    **{f"plot_{f}": _figure(f"{EXP}/figures/{f}") for f in FIGURES},
    "provenance_summary": {
        "csv": "results/provenance_summary.csv",
        "provenance": "results/provenance_summary.provenance.json",
    },
}
# Resume state lives outside the outputs: Snakemake deletes outputs before a rerun.
RESUME = {
    "train_teacher": "results/.resume/{exp}/teachers-{pack}.pt",
    "distill_student": "results/.resume/{exp}/{student}-{seed_group}",
}


def output(rule, name, **wildcards):
    """Output ``name`` of ``rule``, with ``wildcards`` filled in (a template without)."""
    template = OUTPUTS[rule][name]
    return template.format(**wildcards) if wildcards else template


def rule_of(path):
    """(rule, output name, wildcards) of the rule output that ``path`` is or lies in."""
    path = str(path)
    for rule, outputs in OUTPUTS.items():
        for name, template in outputs.items():
            pattern = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m[1]}>{WILDCARDS[m[1]]})",
                             re.escape(template))  # fmt: skip
            if match := re.fullmatch(f"{pattern}(/.*)?", path):
                return rule, name, {k: v for k, v in match.groupdict().items()}
    return None


# --- labels and their inverses ----------------------------------------------------------
def seed_range(seeds):
    """A teacher pack's or student seed group's label: its first and last seed."""
    return SEED_RANGE.format(first=seeds[0], last=seeds[-1])


def member_dir(folder, seed):
    """One member's (or distillation seed's) folder inside a pack's folder."""
    return f"{folder}/{MEMBER.format(seed=seed)}"


def checkpoint(folder, seed):
    return f"{member_dir(folder, seed)}/{CHECKPOINT}"


def model_id(student, seed):
    return MODEL.format(student=student, seed=seed)


def parse_model_id(model):
    """(name, distillation seed or None) of a :func:`model_id` or ``ensemble``."""
    name, _, seed = model.partition("/seed")
    return name, int(seed) if seed else None


def chunks(seeds, size):
    return [seeds[i : i + size] for i in range(0, len(seeds), size)]


# --- teachers trained elsewhere (ensemble.checkpoints; external.py) ---------------------
TEACHER_SUFFIXES = (".pt", ".pth", ".safetensors")


def external_teacher_files(entry, base="."):
    """The files of ``ensemble.checkpoints``: a list of paths, or a folder's files with a
    checkpoint suffix in sorted order."""
    if isinstance(entry, str):
        folder = Path(base) / entry
        if not folder.is_dir():
            raise ValueError(f"{folder} is not a folder of teacher files")
        return sorted(p for p in folder.iterdir() if p.suffix in TEACHER_SUFFIXES)
    return [Path(base) / p for p in entry]
