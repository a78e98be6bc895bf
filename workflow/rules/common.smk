# Input functions: each asks the experiment plan (workflow/ensemble_distill/plan.py), which
# alone knows seeds, labels and paths. `P(wc)` is the plan of the wildcards' experiment.
import json
import sys

from ensemble_distill import manifest, plan
from ensemble_distill.codegraph import module_files
from ensemble_distill.datasets import raw_files
from ensemble_distill.evalsets import eval_set_files
from ensemble_distill.provenance import sidecar_path

PLAN = plan.Plan(config)
# A file edited, truncated or deleted inside a directory output reruns its job (manifest.py).
for line in manifest.invalidate_stale("results"):
    print(line, file=sys.stderr)
DATA_ROOT = config["data_root"]
DEVICE = config["device"]
out = plan.output
code = module_files  # a stage's package files (import graph): editing one reruns its jobs


wildcard_constraints:
    **plan.WILDCARDS,


def P(wildcards):
    return PLAN[wildcards.exp]


def as_json(obj):  # compact: one shell argument
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def spec_json(*keys):
    """A params function: the experiment's config block at ``keys`` (wildcard names are
    looked up in the wildcards), as JSON."""

    def get(wc):
        node = P(wc).spec
        for key in keys:
            node = node[getattr(wc, key, key)]
        return as_json(node)

    return get


def get_dataset_files(wc):
    """The raw files of a dataset; those a download would fetch only once they exist."""
    spec = P(wc).spec["dataset"]
    return [str(p) for p in raw_files(spec, DATA_ROOT) if p.is_file() or not spec.get("download")]


def get_ood_files(wc):
    """The raw files of an OOD eval set read from another dataset (none for generated)."""
    spec = P(wc).spec
    return [str(p) for p in eval_set_files(spec["eval_sets"][wc.evalset], DATA_ROOT, spec["dataset"]["name"])]


def manifests(folders):
    """What a job that reads directory outputs depends on: their manifests (manifest.py)."""
    return [plan.manifest(folder) for folder in folders]


def get_group_checkpoints(wc):
    return manifests(dict.fromkeys(d for m in P(wc).eval_groups[wc.group] for d in P(wc).model_dirs(m)))


def get_group_models(wc):
    """'--model <model> <checkpoint files>' for each model of eval group ``wc.group``."""
    models = P(wc).eval_groups[wc.group]
    return " ".join(f"--model {m} {' '.join(P(wc).model_checkpoints(m))}" for m in models)


def get_group_identities(wc):  # the metric tables' identifying columns of each model
    return as_json([P(wc).identity(m) for m in P(wc).eval_groups[wc.group]])


def get_named_eval_sets(wc, input):
    return [f"{name}={path}" for name, path in zip(P(wc).spec["eval_sets"], input.evalsets)]


def get_first_seed_students(wc):
    """'student=checkpoint' at the first distillation seed (Hydra Table 5's timings)."""
    paths = P(wc).student_checkpoints(P(wc).students, P(wc).distill_seeds[:1])
    return [f"{name}={path}" for name, path in zip(P(wc).students, paths)]


def get_eval_manifests(stage, models):
    """An input function: the eval-group folders (their manifests) of ``stage`` holding the
    plan's ``models`` (an attribute: models, mu_gap_models, ...)."""
    return lambda wc: manifests(P(wc).eval_dirs(stage, getattr(P(wc), models)))


def get_eval_files(option, stage, models):
    """A params function: '--<option> <files>' of the plan's ``models`` in ``stage``."""
    return lambda wc: f"--{option} {' '.join(P(wc).eval_files(stage, getattr(P(wc), models)))}"


def get_rows(wc):
    """Row order of an experiment's tables and figures."""
    return f"--models {' '.join(P(wc).model_order)}"


def get_paper_flags(wc):
    """'--paper P --paper-rows student=row ...' where the experiment names a paper."""
    e = P(wc)
    flags = [f"--paper {e.paper}"] if e.paper else []
    if e.paper_rows:
        flags += ["--paper-rows", *(f"{name}={row}" for name, row in e.paper_rows.items())]
    return " ".join(flags)


def get_pairs(wc):
    """'student=baseline' of the tables' paired differences (Experiment.paired_baselines)."""
    return " ".join(f"{s}={b}" for s, b in P(wc).paired_baselines.items())


def get_map_args(wc):
    """The grid maps' per-example files (the ensemble and every student's first seed),
    their labels, and the ensemble's per-example file of the test set (the data points)."""
    e = P(wc)
    labels = " ".join(plan.parse_model_id(m)[0] for m in e.map_models)
    data = " ".join(e.eval_files("per_example", ["ensemble"]))
    return f"{get_eval_files('grid', 'per_example', 'map_models')(wc)} --labels {labels} --data {data}"


def get_named_checkpoints(which):
    """'student=path' for every checkpoint of the Jacobian analysis's students (0: the
    one-to-one distilled, 1: the from-scratch baselines)."""
    return lambda wc: [
        f"{s}={p}" for s in P(wc).jacobian_students[which] for p in P(wc).student_checkpoints([s])
    ]


def table_outputs(rule, caption, subcategory="{exp}", experiment="{exp}"):
    """A table rule's outputs: Markdown, the CSV shown in the report, the provenance."""
    paths, labels = plan.OUTPUTS[rule], {"experiment": experiment, "table": rule.removesuffix("_table")}
    csv = report(paths["csv"], caption=f"../report/{caption}", category="Tables", subcategory=subcategory, labels=labels)
    return {**paths, "csv": csv}


def figure_outputs(rule, caption):
    """A figure rule's outputs: the PNG shown in the report, a PDF, the provenance."""
    paths, labels = plan.OUTPUTS[rule], {"experiment": "{exp}", "figure": rule.removeprefix("plot_")}
    png = report(paths["png"], caption=f"../report/{caption}", category="Figures", subcategory="{exp}", labels=labels)
    return {**paths, "png": png}


def get_result_records(wc):  # the provenance summary's inputs
    return [str(sidecar_path(path)) for path in PLAN.results]
