"""The distillation methods: one registry that the config check, the rules, the tables and
the figures ask. A new method is one more ``Method`` entry (plus its config schema block).

Each method says how its student is built from the teachers' spec, its training phases
and what each phase's loss matches, its output kind, whether it has several members (and
so a model uncertainty and a diversity), whether member m learns from teacher m, whether
it supports regression, and which config keys it uses.

Pure Python (no torch), so that the Snakefile and numpy-only jobs can import it cheaply.
"""

from dataclasses import dataclass, field

from .archs import hydra_spec as split_hydra


@dataclass(frozen=True)
class Phase:
    name: str  # resume-state file stem
    target: str  # "mean" (ensemble mean / mixture), "members" (teacher m), "labels", "dirichlet"
    epochs_key: str | None = None  # config key of its epochs; None: train.epochs
    grow: bool = False  # Hydra: copy the Hinton head into one head per teacher first
    anneal: bool = False  # EnD²: temperature annealed from T0 to 1 (endd-reproduce)


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    phases: tuple
    members: bool  # several members/heads: model uncertainty and diversity from them
    one_to_one: bool = False  # member m is distilled from teacher m
    output: str | None = None  # None: the task's (categorical / gaussian)
    model_uncertainty: bool | None = None  # default: ``members``
    regression: bool = False
    uses_teachers: bool = True
    slots: bool = False  # MIMO: each member gets its own training examples
    keys: frozenset = field(default_factory=frozenset)  # config keys (classification)
    regression_keys: frozenset = field(default_factory=frozenset)

    @property
    def has_model_uncertainty(self):
        return self.members if self.model_uncertainty is None else self.model_uncertainty

    def student_spec(self, cfg, teacher_spec, n_teachers):
        """The student's model spec (models/__init__.py) for ``n_teachers`` teachers; a
        ``network`` block changes a ResNet's depth or width (a smaller student)."""
        spec = {**teacher_spec, **cfg.get("network", {})}
        return STUDENT_SPECS[self.name](cfg, spec, n_teachers)

    def output_kind(self, task):
        return self.output or {"classification": "categorical", "regression": "gaussian"}[task]

    def accepted_keys(self, task):
        return self.regression_keys if task == "regression" else self.keys


COMMON = frozenset({"method", "teachers", "train"})
DISTILL = COMMON | {"temperature", "alpha", "perturbation"}
BE_KEYS = frozenset({"init", "factor_lr", "network"})

METHODS = {
    m.name: m
    for m in (
        Method(
            "kd",
            "Hinton KD of the ensemble mean (regression: one Gaussian on the mixture)",
            phases=(Phase("kd", "mean"),),
            members=False,
            regression=True,
            keys=DISTILL | {"network"},
            regression_keys=COMMON,
        ),
        Method(
            "hydra",
            "shared body, Hinton head on the mean, then one head per teacher",
            phases=(
                Phase("phase1", "mean", epochs_key="hinton_epochs"),
                Phase("phase2", "members", grow=True),
            ),
            members=True,
            one_to_one=True,
            regression=True,
            keys=DISTILL | {"head", "hinton_epochs"},
            regression_keys=COMMON | {"head", "hinton_epochs"},
        ),
        Method(
            "end2",
            "Prior Network (EnD²): a Dirichlet on the teachers' probability vectors",
            # Optional KD start (kd_epochs > 0): softmax(z) is the Dirichlet's mean, so the
            # Dirichlet phase then mostly learns the precision (the logits' common offset).
            phases=(
                Phase("kd_init", "mean", epochs_key="kd_epochs"),
                Phase("end2", "dirichlet", anneal=True),
            ),
            members=False,
            output="dirichlet",
            model_uncertainty=True,
            keys=COMMON
            | {"temperature", "anneal_epochs", "teacher_smoothing", "kd_epochs", "perturbation"},
        ),
        Method(
            "batchensemble",
            "BatchEnsemble student, member m distilled from teacher m",
            phases=(Phase("batchensemble", "members"),),
            members=True,
            one_to_one=True,
            keys=DISTILL | BE_KEYS,
        ),
        Method(
            "mimo",
            "MIMO student, head m distilled from teacher m on its own inputs",
            phases=(Phase("mimo", "members"),),
            members=True,
            one_to_one=True,
            slots=True,
            keys=DISTILL | {"network"},
        ),
        Method(
            "be_scratch",
            "BatchEnsemble trained from scratch on the labels (baseline, no teachers)",
            phases=(Phase("scratch", "labels"),),
            members=True,
            uses_teachers=False,
            keys=COMMON | BE_KEYS,
        ),
        Method(
            "latent_be",
            "LatentBE: a distilled BatchEnsemble student's members averaged into one network",
            phases=(),  # no training: latent.py averages the student named by ``from``
            members=False,
            uses_teachers=False,
            keys=frozenset({"method", "from"}),
        ),
    )
}

BE_INIT = {"type": "normal", "scale": 0.5}  # giung2's DM configs: N(1, 0.5²)

STUDENT_SPECS = {
    "kd": lambda cfg, teacher, m: teacher,
    "end2": lambda cfg, teacher, m: teacher,
    "hydra": lambda cfg, teacher, m: hydra_spec(teacher, cfg["head"]),
    "batchensemble": lambda cfg, teacher, m: be_spec(cfg, teacher, m),
    "be_scratch": lambda cfg, teacher, m: be_spec(cfg, teacher, m),
    "mimo": lambda cfg, teacher, m: {**teacher, "mimo": m},
    "latent_be": lambda cfg, teacher, m: teacher,  # the source's base network (latent.py)
}


def be_spec(cfg, teacher, members):
    return {**teacher, "batchensemble": {"members": members, "init": cfg.get("init", BE_INIT)}}


def hydra_spec(teacher, head):
    return split_hydra(teacher, head, n_heads=1)


NO_PERTURBATION = {"kind": "none"}


def perturbation_of(student_cfg):
    """A student's ``perturbation`` block: the schema fills ``{kind: none}`` for methods
    that take one; from-scratch baselines have none."""
    return student_cfg.get("perturbation", NO_PERTURBATION)


def is_perturbed(student_cfg):
    return perturbation_of(student_cfg)["kind"] != "none"


def method_of(student_cfg):
    return METHODS[student_cfg["method"]]


def students_where(students, predicate):
    """Names of the students (config ``students`` block) whose method satisfies ``predicate``."""
    return [name for name, cfg in students.items() if predicate(method_of(cfg))]


def unused_keys(student_cfg, task):
    """Keys set in a (raw, undefaulted) student config that its method does not use."""
    return sorted(set(student_cfg) - method_of(student_cfg).accepted_keys(task))
