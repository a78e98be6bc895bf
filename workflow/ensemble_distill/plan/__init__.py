"""The experiment plan: everything derived from a validated config, torch-free.

Rules (``workflow/rules/*.smk``) and jobs both ask this module; nothing else formats or
parses a label or a ``results/`` path. It answers:

- seeds: an ensemble's member seeds, its **teacher packs** (members trained as one batched
  network in one job, config ``ensemble.pack``) and its **student seed groups**
  (distillation seeds one job trains one after another, config ``distill_seeds_per_job``);
- names: pack and seed-group labels (``seeds<a>-<b>``), model ids (``<student>/seed<s>``,
  ``ensemble``), **eval groups** (the models one prediction job and one metrics job
  cover, config ``eval_group``) and their inverses;
- which eval set is the test set and which the validation set, whether and how a student
  is perturbed, which students pair up for paired comparisons, the analyses' settings,
  which tables and figures apply, and what a job asks of a cluster;
- every output path, by rule (``OUTPUTS``): the rules declare these templates, the
  jobs and ``trace`` find files by them.

(Regression splits trained together inside one job are *replicas* of a pack, not packs.)
"""

import json
import re
from functools import partial

from ..catalog import is_regression
from ..methods import is_perturbed, students_where
from ..paper import paper_row
from .names import (
    CHECKPOINT,
    GROUP_ALL,
    GROUP_ENSEMBLE,
    MEMBER,
    MODEL,
    OUTPUTS,
    RESUME,
    SEED_RANGE,
    WILDCARDS,
    checkpoint,
    chunks,
    external_teacher_files,
    manifest,
    member_dir,
    model_id,
    output,
    parse_model_id,
    rule_of,
    seed_range,
)

__all__ = [
    "CHECKPOINT", "GROUP_ALL", "GROUP_ENSEMBLE", "MEMBER", "MODEL", "OUTPUTS", "RESUME",
    "SEED_RANGE", "WILDCARDS", "Experiment", "Plan", "checkpoint", "external_teacher_files",
    "manifest", "member_dir",
    "model_id", "output", "parse_model_id", "rule_of", "seed_range",
]  # fmt: skip


# --- the plan of one experiment ---------------------------------------------------------
class Experiment:
    """What one validated experiment block implies: seeds, names, paths, tables."""

    def __init__(self, name, spec):
        self.name, self.spec = name, spec
        self.students = spec["students"]
        self.distill_seeds = spec["distill_seeds"]

    # seeds and packs
    @property
    def member_seeds(self):
        ens = self.spec["ensemble"]
        return list(ens.get("seeds") or range(ens["size"]))

    @property
    def teacher_packs(self):
        """Member seeds each teacher job trains as one batched network, in ensemble order."""
        return chunks(self.member_seeds, self.spec["ensemble"]["pack"])

    @property
    def student_seed_groups(self):
        """Distillation seeds each student job trains one after another."""
        return chunks(self.distill_seeds, self.spec["distill_seeds_per_job"])

    def teacher_pack(self, label):
        return {seed_range(p): p for p in self.teacher_packs}[label]

    @property
    def imports_teachers(self):
        """Teachers trained elsewhere (``ensemble.checkpoints``) replace the training jobs."""
        return bool(self.spec["ensemble"].get("checkpoints"))

    def teacher_files(self, label):
        """The external files of the members of teacher pack ``label`` (member seed k of
        ``member_seeds`` is file k)."""
        files = external_teacher_files(self.spec["ensemble"]["checkpoints"])
        files = dict(zip(self.member_seeds, files, strict=True))
        return [str(files[seed]) for seed in self.teacher_pack(label)]

    def student_seed_group(self, label):
        return {seed_range(g): g for g in self.student_seed_groups}[label]

    def student_teacher_seeds(self, student):
        """Member seeds a student learns from: the first ``teachers`` of the ensemble."""
        seeds = self.member_seeds
        return seeds[: self.students[student].get("teachers") or len(seeds)]

    # paths
    def path(self, rule, name, **wildcards):
        return output(rule, name, exp=self.name, **wildcards)

    @property
    def dataset(self):
        return self.path("prepare_dataset", "data")

    def evalset(self, name):
        return self.path("make_eval_set", "evalset", evalset=name)

    @property
    def evalsets(self):
        return [self.evalset(name) for name in self.spec["eval_sets"]]

    def _folders(self, packs, seeds, folder):
        """{seed: its pack's folder} for ``seeds``; ``folder(label)`` makes the path."""
        return {s: folder(seed_range(p)) for p in packs for s in p if s in seeds}

    def teacher_dirs(self, seeds=None):
        """Folders (rule outputs) of the teacher packs holding members ``seeds``."""
        folders = self._folders(self.teacher_packs, seeds or self.member_seeds, self.teacher_dir)
        return list(dict.fromkeys(folders.values()))

    def teacher_checkpoints(self, seeds=None):
        seeds = seeds or self.member_seeds
        folders = self._folders(self.teacher_packs, seeds, self.teacher_dir)
        return [checkpoint(folders[s], s) for s in seeds]

    def teacher_dir(self, label):
        return self.path("train_teacher", "pack", pack=label)

    def student_dir(self, student, label):
        return self.path("distill_student", "seed_group", student=student, seed_group=label)

    def student_dirs(self, students, seeds=None):
        seeds = seeds or self.distill_seeds
        folders = [
            self.student_dir(s, seed_range(g))
            for s in students
            for g in self.student_seed_groups
            if set(g) & set(seeds)
        ]
        return list(dict.fromkeys(folders))

    def student_checkpoints(self, students, seeds=None):
        """Checkpoint files of ``students`` at ``seeds`` (default: all), student by student."""
        seeds = seeds or self.distill_seeds
        out = []
        for student in students:
            folder = partial(self.student_dir, student)
            folders = self._folders(self.student_seed_groups, seeds, folder)
            out += [checkpoint(folders[s], s) for s in seeds]
        return out

    @property
    def training_checkpoints(self):
        """'model=checkpoint' of every trained network (teachers first), whose histories the
        training-curves figure plots."""
        pairs = [f"teachers={c}" for c in self.teacher_checkpoints()]
        return pairs + [f"{s}={c}" for s in self.students for c in self.student_checkpoints([s])]

    def resume(self, rule, **wildcards):
        return RESUME[rule].format(exp=self.name, **wildcards)

    # evaluated models and eval groups
    @property
    def models(self):
        """Every evaluated model: the ensemble, then each student at each seed."""
        return [GROUP_ENSEMBLE] + self.seeded(self.students)

    def seeded(self, students):
        return [model_id(s, seed) for s in students for seed in self.distill_seeds]

    @property
    def eval_groups(self):
        """{group label: its models}: ``eval_group: seed_group``, the ensemble alone and each
        student seed group alone (``<student>-seeds<a>-<b>``: a new or changed student
        reruns only its own jobs); ``experiment``, one group ``all`` of every model."""
        groups = {
            f"{student}-{seed_range(g)}": [model_id(student, seed) for seed in g]
            for student in self.students
            for g in self.student_seed_groups
        }
        if self.spec["eval_group"] == "experiment":
            return {GROUP_ALL: [GROUP_ENSEMBLE, *(m for ms in groups.values() for m in ms)]}
        return {GROUP_ENSEMBLE: [GROUP_ENSEMBLE], **groups}

    def group_of(self, model):
        return next(g for g, models in self.eval_groups.items() if model in models)

    def eval_dirs(self, stage, models):
        """Group folders (rule outputs) of ``stage`` (predict or compute_metrics outputs:
        predictions, metrics, per_example) holding ``models``."""
        return list(dict.fromkeys(self.eval_dir(stage, self.group_of(m)) for m in models))

    def eval_files(self, stage, models):
        ext = "npz" if stage == "predictions" else "parquet"
        return [f"{self.eval_dir(stage, self.group_of(m))}/{m}.{ext}" for m in models]

    def eval_dir(self, stage, group):
        rule = "predict" if stage == "predictions" else "compute_metrics"
        return self.path(rule, stage, group=group)

    def identity(self, model):
        """The metric tables' identifying columns of a model."""
        name, seed = parse_model_id(model)
        method = "ensemble" if model == GROUP_ENSEMBLE else self.students[name]["method"]
        return {"file": model, "model": name, "method": method, "distill_seed": seed}

    def model_checkpoints(self, model):
        if model == GROUP_ENSEMBLE:
            return self.teacher_checkpoints()
        name, seed = parse_model_id(model)
        return self.student_checkpoints([name], [seed])

    def model_dirs(self, model):
        if model == GROUP_ENSEMBLE:
            return self.teacher_dirs()
        name, seed = parse_model_id(model)
        return self.student_dirs([name], [seed])

    @property
    def mu_gap_models(self):
        """The ensemble and every seed of the students with model uncertainty (Table 1)."""
        students = self.students_where(lambda m: m.has_model_uncertainty)
        return [GROUP_ENSEMBLE, *self.seeded(students)]

    @property
    def diversity_models(self):
        """The ensemble and every seed of the students with several members or heads."""
        return [GROUP_ENSEMBLE, *self.seeded(self.multi_member)]

    @property
    def model_order(self):
        """Row order of the tables: the ensemble, one teacher, the students."""
        return [GROUP_ENSEMBLE, "single", *self.students]

    @property
    def map_models(self):
        """The ensemble and the first distillation seed of every student (grid maps)."""
        return [GROUP_ENSEMBLE] + [model_id(s, self.distill_seeds[0]) for s in self.students]

    # eval sets
    def eval_sets_of_kind(self, *kinds):
        return [n for n, spec in self.spec["eval_sets"].items() if spec["kind"] in kinds]

    @property
    def test_set(self):
        """The eval set of kind ``test``: the tables' in-domain numbers."""
        return next(iter(self.eval_sets_of_kind("test")), None)

    @property
    def validation_set(self):
        """The eval set of kind ``validation``: temperature scaling and DEE are fitted on it."""
        return next(iter(self.eval_sets_of_kind("validation")), None)

    @property
    def is_regression(self):
        return is_regression(self.spec["dataset"]["name"])

    # students
    def students_where(self, predicate):
        return students_where(self.students, predicate)

    @property
    def multi_member(self):
        """Students with several members or heads: diversity and model uncertainty."""
        return self.students_where(lambda m: m.members)

    @property
    def perturbation_pairs(self):
        """{perturbed student: its baseline}: the student whose config is the same but for
        ``perturbation`` (kind none), for paired comparisons on the same seeds."""

        def rest(spec):
            rest = {k: v for k, v in spec.items() if k != "perturbation"}
            return json.dumps(rest, sort_keys=True)

        plain = {rest(s): n for n, s in self.students.items() if not is_perturbed(s)}
        perturbed = {n: rest(s) for n, s in self.students.items() if is_perturbed(s)}
        return {n: plain[key] for n, key in perturbed.items() if key in plain}

    @property
    def latent_sources(self):
        """{LatentBE student: the BatchEnsemble student whose members it averages}."""
        latent = self.students_where(lambda m: m.name == "latent_be")
        return {n: self.students[n]["from"] for n in latent}

    def latent_source_dirs(self, student, label):
        """Folders of the source student's checkpoints of seed group ``label``."""
        return self.student_dirs([self.students[student]["from"]], self.student_seed_group(label))

    def latent_source_checkpoints(self, student, label):
        """The source student's checkpoint of each seed of seed group ``label``."""
        seeds = self.student_seed_group(label)
        return self.student_checkpoints([self.students[student]["from"]], seeds)

    @property
    def paired_baselines(self):
        """{student: its baseline} for the tables' paired differences on the same seeds:
        each perturbed student and its unperturbed twin, each LatentBE and its source."""
        return {**self.perturbation_pairs, **self.latent_sources}

    @property
    def jacobian_students(self):
        """(one-to-one distilled students, from-scratch baselines): the Jacobian analysis."""
        return (
            self.students_where(lambda m: m.one_to_one),
            self.students_where(lambda m: not m.uses_teachers and m.phases),  # trained
        )

    @property
    def analysis(self):
        """Perturbation step and temperature of the diversity and Jacobian analyses."""
        return self.spec["analysis"]

    @property
    def input_diversity_steps(self):
        """Step sizes of the input-diversity analysis (none: it does not run)."""
        return self.analysis.get("steps") if self.has_calibration else None

    @property
    def paper(self):
        return self.spec.get("paper")

    @property
    def paper_rows(self):
        """{student: the published row it reproduces in the experiment's paper}."""
        rows = {n: paper_row(self.paper, s) for n, s in self.students.items()}
        return {n: row for n, row in rows.items() if row}

    # which tables and figures apply
    @property
    def has_calibration(self):
        return bool(self.validation_set and self.test_set)

    @property
    def tables(self):
        if self.is_regression:
            return ["summary"]
        out = ["summary", "cost"]
        if self.students_where(lambda m: m.has_model_uncertainty):
            out.append("mu_gap")
        if self.eval_sets_of_kind("ood") and self.test_set:
            out.append("ood")
        if self.has_calibration:  # calibrated metrics and DEE
            out.append("diversity")
        if self.eval_sets_of_kind("corrupt"):
            out.append("corruption")
        if self.test_set:
            out.append("selective")
        if self.input_diversity_steps:
            out.append("input_diversity")
        return out

    @property
    def figures(self):
        out = []
        if self.eval_sets_of_kind("rotate", "translate"):
            out.append("shift_curves")
        if self.eval_sets_of_kind("corrupt"):
            out.append("corruption_boxes")
        if self.eval_sets_of_kind("grid") and self.test_set:
            out.append("regression_fit" if self.is_regression else "uncertainty_maps")
        if self.eval_sets_of_kind("ood") and self.test_set:
            out.append("ood_histograms")
        if self.has_calibration:
            out.append("diversity")
            if all(self.jacobian_students):
                out.append("jacobians")
        if self.test_set and not self.is_regression:
            out += ["reliability", "risk_coverage"]
        out.append("training_curves")
        if self.input_diversity_steps:
            out.append("input_diversity")
        return out

    @property
    def manifests(self):
        """The manifests of every directory output (``manifest.py``): ``rule all`` asks for
        them, so that a folder whose manifest was invalidated is rebuilt."""
        folders = [*self.teacher_dirs(), *self.student_dirs(self.students)]
        for stage in ("predictions", "metrics", "per_example"):
            folders += [self.eval_dir(stage, group) for group in self.eval_groups]
        return [manifest(folder) for folder in folders]

    @property
    def results(self):
        """The tables' Markdown files and the figures' PNGs."""
        return [self.path(f"{t}_table", "markdown") for t in self.tables] + [
            self.path(f"plot_{f}", "png") for f in self.figures
        ]


def name_pattern(names):
    """A regex matching exactly ``names`` (one that matches nothing where there are none)."""
    return "|".join(sorted(map(re.escape, set(names)))) or "(?!)"


# --- the whole config -------------------------------------------------------------------
class Plan:
    """The plan of a validated config: its experiments to run and cluster resources."""

    def __init__(self, config):
        self.config = config
        self.experiments = {n: Experiment(n, s) for n, s in config["experiments"].items()}

    def __getitem__(self, name):
        return self.experiments[name]

    @property
    def to_run(self):
        """The experiments named in ``run`` (all of them when ``run`` is absent)."""
        names = self.config.get("run") or list(self.experiments)
        return [self.experiments[n] for n in names]

    @property
    def manifests(self):
        return [path for e in self.to_run for path in e.manifests]

    def students_named(self, condition):
        """A wildcard pattern matching the student names (of any experiment) whose method
        satisfies ``condition``."""
        return name_pattern(
            n for e in self.experiments.values() for n in e.students_where(condition)
        )

    def experiments_where(self, condition):
        """A wildcard pattern matching the names of the experiments where ``condition``
        holds."""
        return name_pattern(e.name for e in self.experiments.values() if condition(e))

    @property
    def uci_experiments(self):
        return [e.name for e in self.to_run if e.spec["dataset"]["name"] == "uci"]

    @property
    def results(self):
        """The tables and figures of every experiment that runs."""
        out = [path for e in self.to_run for path in e.results]
        if self.uci_experiments:
            out.append(output("uci_table", "markdown"))
        return out

    def resources(self, rule):
        """A rule's Snakemake resources from ``config['resources']``: memory and runtime that
        grow with the attempt (a job resubmitted after running out of memory or time gets
        k times both on attempt k), and
        GPUs as ``gpu`` (sbatch --gpus) or ``gres`` (sbatch --gres) by
        ``resources.gpu_request``."""
        spec, style = self.config["resources"][rule], self.config["resources"]["gpu_request"]
        resources = {
            "mem_mb": lambda wildcards, attempt: spec["mem_mb"] * attempt,
            "runtime": lambda wildcards, attempt: spec["runtime"] * attempt,
        }
        if spec["gpu"] and style == "gres":
            resources["gres"] = f"gpu:{spec['gpu']}"
        elif spec["gpu"]:
            resources["gpu"] = spec["gpu"]
        return resources

    def threads(self, rule):
        return self.config["resources"][rule]["threads"]
