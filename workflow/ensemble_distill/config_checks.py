"""Config checks a JSON schema cannot express about numbers and training settings: NaN and
infinity anywhere, and settings that would do nothing or nonsense (schedule milestones
past the last epoch, momentum with Adam, a perturbation step without a perturbation, an
augmentation of non-images, ...).

Each check returns problems as ``config key '<path>': <what is wrong>`` lines; ``raw`` is
the config as the user wrote it (before defaults), so that only keys the user set are
blamed for doing nothing."""

import math

from . import catalog


def _walk(node, path=()):
    """(path, value) of every leaf of a nested config."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*path, i))
    else:
        yield path, node


def key(path):
    return ".".join(str(p) for p in path)


def non_finite(config):
    """NaN or ±infinity anywhere: never a meaningful setting."""
    return [
        f"config key '{key(path)}': {value} is not a finite number"
        for path, value in _walk(config)
        if isinstance(value, float) and not math.isfinite(value)
    ]


def training(where, train, raw, dataset):
    """A ``train`` block: the schedule, optimiser and augmentation settings agree."""
    problems, epochs = [], train["epochs"]
    schedule, milestones, steps = train["schedule"], train.get("milestones"), train.get("lr_steps")
    if milestones is not None and schedule != "warmup_linear_decay":
        problems.append(f"'{where}.milestones': only warmup_linear_decay uses them, the "
                        f"schedule is '{schedule}'")  # fmt: skip
    if milestones is not None and (sorted(milestones) != milestones or milestones[-1] > epochs):
        problems.append(f"'{where}.milestones': expected [w, a, b] with w <= a <= b <= epochs "
                        f"({epochs}), found {milestones}")  # fmt: skip
    if schedule == "multistep" and not steps:
        problems.append(f"'{where}.lr_steps': schedule 'multistep' needs [epoch, factor] pairs")
    if steps and schedule != "multistep":
        problems.append(f"'{where}.lr_steps': only the multistep schedule uses them, the "
                        f"schedule is '{schedule}'")  # fmt: skip
    starts = [s for s, _ in steps or []]
    if starts and (
        sorted(starts) != starts or len(set(starts)) < len(starts) or starts[-1] >= epochs
    ):
        problems.append(f"'{where}.lr_steps': expected increasing epochs below epochs "
                        f"({epochs}), found {starts}")  # fmt: skip
    if "momentum" in raw and train["optimizer"] != "sgd":
        problems.append(f"'{where}.momentum': only SGD uses it, the optimizer is "
                        f"'{train['optimizer']}'")  # fmt: skip
    if "augment" in train:
        problems += augmentation(where, train["augment"], dataset)
    return [f"config key {p}" for p in problems]


def augmentation(where, augment, dataset):
    shape = catalog.facts(dataset).image_shape
    if shape is None:
        return [f"'{where}.augment': crops and flips need images, the dataset "
                f"'{dataset}' has none"]  # fmt: skip
    if augment["crop"] >= min(shape[1:]):
        return [f"'{where}.augment.crop': at most {min(shape[1:]) - 1} pixels for "
                f"{shape[1]}x{shape[2]} images, found {augment['crop']}"]  # fmt: skip
    return []


def student(where, spec, raw):
    """A student's perturbation and BatchEnsemble init keys agree with their kind/type."""
    problems = []
    perturbation = raw.get("perturbation", {})
    if perturbation.get("kind", "none") == "none" and "step" in perturbation:
        problems.append(
            f"config key '{where}.perturbation.step': kind is 'none', so no step is taken; "
            "set a kind (gaussian, ods, confods) or drop the step"
        )
    kind = perturbation.get("kind", "none")
    if "numerics" in perturbation and kind not in ("ods", "confods"):
        problems.append(
            f"config key '{where}.perturbation.numerics': only ods and confods compute a "
            f"direction, the kind is '{kind}'"
        )
    init = raw.get("init", {})
    used = {"normal": {"type", "scale"}, "random_sign": {"type", "p"}}.get(init.get("type"))
    for name in sorted(set(init) - used) if used else []:
        problems.append(f"config key '{where}.init.{name}': init type '{init['type']}' does "
                        f"not use it (it uses {sorted(used - {'type'})})")  # fmt: skip
    return problems


def experiment(name, spec, raw):
    """Every check of one experiment's training blocks and students."""
    where, dataset = f"experiments.{name}", spec["dataset"]["name"]
    raw_teacher = raw.get("teacher", {}).get("train", {})
    problems = training(f"{where}.teacher.train", spec["teacher"]["train"], raw_teacher, dataset)
    raw_students = raw.get("students", {})
    for student_name, student_spec in spec["students"].items():
        at, raw_student = f"{where}.students.{student_name}", raw_students.get(student_name, {})
        if "train" in student_spec:
            problems += training(f"{at}.train", student_spec["train"],
                                 raw_student.get("train", {}), dataset)  # fmt: skip
        problems += student(at, student_spec, raw_student)
        if student_spec["method"] == "latent_be":
            problems += latent_source(at, student_spec["from"], spec["students"])
    return problems


AVERAGEABLE = ("batchensemble", "be_scratch")  # BatchEnsemble students (latent.py)


def latent_source(where, source, students):
    """A LatentBE student averages a BatchEnsemble student of the same experiment."""
    found = students.get(source, {}).get("method")
    if found in AVERAGEABLE:
        return []
    what = f"a '{found}' student" if found else "no student of this experiment"
    return [f"config key '{where}.from': '{source}' is {what}; LatentBE averages a "
            f"BatchEnsemble student ({', '.join(AVERAGEABLE)})"]  # fmt: skip


def student_names(experiments):
    """A student name that is LatentBE in one experiment and trained in another: the rules
    tell their jobs apart by the name."""
    latent, trained = set(), set()
    for spec in experiments.values():
        for name, cfg in spec["students"].items():
            (latent if cfg["method"] == "latent_be" else trained).add(name)
    return [
        f"config key 'experiments.*.students.{n}': LatentBE in one experiment and "
        "trained in another; give them different names"
        for n in sorted(latent & trained)
    ]
