"""Config validation against ``workflow/schemas/config.schema.yaml``, with defaults filled in.

Errors name the key path (``experiments.digits.teacher.train.epochs``) and what was expected,
and all problems are reported at once rather than the first only.
"""

import copy
import re
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators

from . import catalog, cifar, config_checks, external, plan, tinyimagenet
from .archs import RESNET_ARCHS, teacher_layers
from .datasets import download_urls, raw_files
from .evalsets import FILE_OOD, GENERATED_OOD, eval_set_files
from .io import DataError, unreachable
from .methods import METHODS, method_of, unused_keys

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"

REGRESSION_EVAL_SETS = sorted(
    set().union(*(f.eval_kinds for f in catalog.DATASETS.values() if f.task == "regression"))
)
ONE_PER_EXPERIMENT = ("test", "validation")  # eval-set kinds an experiment has at most once
MAX_GRID_2D = 1000  # 10⁶ points; 10⁵ per axis would need ~37 GiB


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem with its key path."""


def _inline_refs(node, defs):
    """Replace local ``$ref``s by their targets so that defaults behind a ref are visible."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].removeprefix("#/$defs/")]
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return _inline_refs({**target, **rest}, defs)
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def _with_defaults(validator_class):
    """The jsonschema recipe: a validator that fills in ``default`` values as it validates."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


def load_schema(path=SCHEMA_PATH):
    schema = yaml.safe_load(Path(path).read_text())
    return _inline_refs(schema, schema.get("$defs", {}))


def load_yaml(path):
    """A YAML config file; a syntax error names the file, line and column."""
    try:
        return yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{path}{where}: YAML syntax error: {problem}") from None


def _merge(base, update):
    """Snakemake's merge of config files: nested dicts merge, other values replace."""
    out = dict(base)
    for key, value in update.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both else value
    return out


def merged_config_files(paths):
    """The merge of config files as Snakemake merges ``--configfile`` (not validated)."""
    config = {}
    for path in paths:
        config = _merge(config, load_yaml(path))
    return config


def main(argv=None):
    """Check config files before a run: ``python -m ensemble_distill.config configs/x.yaml``
    validates config.yaml merged with the given files, as Snakemake merges --configfile."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", help="config files merged over config.yaml")
    parser.add_argument("--base", default="config.yaml")
    args = parser.parse_args(argv)
    try:
        validate_config(merged_config_files([args.base, *args.files]))
    except ConfigError as error:
        sys.exit(str(error))
    print(f"valid: {' + '.join([args.base, *args.files])}")


def _key_path(parts):
    return ".".join(str(p) for p in parts) or "<top level>"


def validate_config(config, schema_path=SCHEMA_PATH):
    """Validate ``config`` in place (filling defaults) and return it; raise ConfigError."""
    raw = copy.deepcopy(config)  # before defaults: which keys did the user set?
    if problems := config_checks.non_finite(config):
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    validator = _with_defaults(STRICT_INTEGERS)(load_schema(schema_path))
    while _coerce_command_line_strings(config, validator.iter_errors(config)):
        pass
    problems = []
    for error in validator.iter_errors(config):
        if error.validator in ("if", "allOf"):
            continue  # their sub-errors are reported with a precise path
        message = error.message
        if error.validator is False or "False schema" in message:
            message = f"key '{error.path[-1]}' is not allowed here"
        if "does not match any of the regexes: '^x-'" in message:  # top level: say it plainly
            key = message.split("'")[1]
            message = (
                f"Additional properties are not allowed ('{key}' was unexpected; only keys "
                "starting with 'x-' may hold shared YAML anchors)"
            )
        problems.append(f"config key '{_key_path(error.absolute_path)}': {message}")
    if not problems:
        problems = _semantic_problems(config, raw)
    if problems:
        listed = "\n  - ".join(sorted(set(problems)))
        raise ConfigError(f"invalid configuration:\n  - {listed}")
    return config


NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"
# JSON Schema counts 2.0 as an integer; here it is a float the check turns into 2 (a 2.5
# stays an error naming its key), so that no float reaches a range() or a tensor shape.
STRICT_INTEGERS = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)


def _coerce_command_line_strings(config, errors):
    """Snakemake passes values nested in ``--config key={a: {b: 3}}`` as strings ('3'):
    turn a string the schema wants as a number or boolean into one, and a whole-number
    float (2.0) the schema wants as an integer into an int. Returns whether any
    value changed (validate again then: a changed value can select other sub-schemas)."""
    changed = False
    for error in errors:
        value, wanted = error.instance, error.validator_value
        if error.validator != "type" or not error.path:
            continue
        wanted = {wanted} if isinstance(wanted, str) else set(wanted)
        if isinstance(value, float) and value.is_integer() and "integer" in wanted:
            new = int(value)  # 2.0 where an integer is wanted
        elif isinstance(value, float) or not isinstance(value, str):
            continue
        elif wanted & {"integer", "number"} and re.fullmatch(NUMBER, value):
            number = float(value)
            new = int(number) if number.is_integer() and "integer" in wanted else number
        elif "boolean" in wanted and value.lower() in ("true", "false"):
            new = value.lower() == "true"
        else:
            continue
        parent = config
        for key in list(error.absolute_path)[:-1]:
            parent = parent[key]
        parent[error.absolute_path[-1]] = new
        changed = True
    return changed


def _semantic_problems(config, raw):
    """Checks a JSON schema cannot express: cross-key consistency, and keys that a method
    does not use for the experiment's task (methods.py says which it uses)."""
    problems = []
    for name in config.get("run", []):
        if name not in config["experiments"]:
            problems.append(
                f"config key 'run': no experiment named '{name}', found "
                f"{sorted(config['experiments'])}"
            )
    for name, exp in config["experiments"].items():
        where = f"experiments.{name}"
        size, seeds = exp["ensemble"]["size"], exp["ensemble"].get("seeds")
        if seeds is not None and len(seeds) != size:
            problems.append(
                f"config key '{where}.ensemble.seeds': expected {size} seeds (ensemble.size), "
                f"found {len(seeds)}"
            )
        dataset = exp["dataset"]["name"]
        facts = catalog.facts(dataset)
        for set_name, spec in exp["eval_sets"].items():
            kind = spec["kind"]
            if kind in ("rotate", "translate") and kind not in facts.eval_kinds:
                problems.append(
                    f"config key '{where}.eval_sets.{set_name}.kind': '{kind}' needs an image "
                    f"dataset ({catalog.datasets_with(kind)}), found '{dataset}'"
                )
            if kind == "grid" and kind not in facts.eval_kinds:
                problems.append(
                    f"config key '{where}.eval_sets.{set_name}.kind': 'grid' needs 1-D or 2-D "
                    f"inputs ({catalog.datasets_with(kind)}), found '{dataset}'"
                )
            if facts.task == "regression" and kind not in REGRESSION_EVAL_SETS:
                problems.append(
                    f"config key '{where}.eval_sets.{set_name}.kind': regression supports "
                    f"{REGRESSION_EVAL_SETS}, found '{kind}'"
                )
            if kind == "ood" and spec["source"] in FILE_OOD:
                shape = FILE_OOD[spec["source"]][1]
                if facts.image_shape != shape:
                    problems.append(
                        f"config key '{where}.eval_sets.{set_name}.source': '{spec['source']}' "
                        f"images are {'x'.join(map(str, shape))}, the dataset '{dataset}' has "
                        f"other inputs; use a source of its shape or a generated one "
                        f"({sorted(GENERATED_OOD)})"
                    )
            if kind == "corrupt" and kind not in facts.eval_kinds:
                problems.append(
                    f"config key '{where}.eval_sets.{set_name}.kind': 'corrupt' needs a CIFAR "
                    f"dataset ({catalog.datasets_with(kind)}), found '{dataset}'"
                )
            if kind == "grid" and dataset == "spiral" and spec["resolution"] > MAX_GRID_2D:
                problems.append(
                    f"config key '{where}.eval_sets.{set_name}.resolution': a 2-D grid has "
                    f"resolution² points; at most {MAX_GRID_2D}, found {spec['resolution']}"
                )
        for kind in ONE_PER_EXPERIMENT:
            named = plan.Experiment(name, exp).eval_sets_of_kind(kind)
            if len(named) > 1:
                problems.append(
                    f"config key '{where}.eval_sets': at most one eval set of kind '{kind}', "
                    f"found {named}"
                )
        if not plan.Experiment(name, exp).test_set:
            problems.append(
                f"config key '{where}.eval_sets': needs an eval set of kind 'test' (the "
                f"tables and the cost are measured on it), found {sorted(exp['eval_sets'])}"
            )
        try:
            n_layers = teacher_layers(exp["teacher"])
        except ValueError as error:  # a ResNet depth that is not 6n + 2 (6n + 4 for a WRN)
            problems.append(f"config key '{where}.teacher.depth': {error}")
            continue
        layer_word = "residual blocks" if exp["teacher"]["arch"] in RESNET_ARCHS else "layers"
        if exp["teacher"]["arch"] in RESNET_ARCHS and not facts.rgb:
            problems.append(
                f"config key '{where}.teacher.arch': '{exp['teacher']['arch']}' needs RGB "
                f"images ({sorted(n for n, f in catalog.DATASETS.items() if f.rgb)}), "
                f"found dataset '{dataset}'"
            )
        task = facts.task
        raw_students = raw.get("experiments", {}).get(name, {}).get("students", {})
        for student, spec in exp["students"].items():
            method = method_of(spec)
            if task == "regression" and not method.regression:
                supported = sorted(m for m, spec in METHODS.items() if spec.regression)
                problems.append(
                    f"config key '{where}.students.{student}.method': regression supports "
                    f"{supported}, found '{spec['method']}'"
                )
            else:
                for key in unused_keys(raw_students.get(student, {}), task):
                    problems.append(
                        f"config key '{where}.students.{student}.{key}': method "
                        f"'{spec['method']}' does not use it for {task}"
                    )
            n_teachers = spec.get("teachers")
            if n_teachers is not None and n_teachers > exp["ensemble"]["size"]:
                problems.append(
                    f"config key '{where}.students.{student}.teachers': at most the ensemble "
                    f"size {exp['ensemble']['size']}, found {n_teachers}"
                )
            if "network" in spec and exp["teacher"]["arch"] not in RESNET_ARCHS:
                problems.append(
                    f"config key '{where}.students.{student}.network': changes a ResNet's "
                    f"depth or width; the teachers are '{exp['teacher']['arch']}'"
                )
            head = spec.get("head", {})
            if head.get("type") == "copy" and head["layers"] >= n_layers:
                problems.append(
                    f"config key '{where}.students.{student}.head.layers': the teacher has "
                    f"{n_layers} {layer_word}, so at most {n_layers - 1} can be copied into "
                    f"heads, found {head['layers']}"
                )
            if head.get("type") == "mlp" and exp["teacher"]["arch"] in RESNET_ARCHS:
                problems.append(
                    f"config key '{where}.students.{student}.head.type': a ResNet Hydra's "
                    "heads copy the teacher's last residual blocks (type: copy), found 'mlp'"
                )
        problems += config_checks.experiment(name, exp, raw.get("experiments", {}).get(name, {}))
    problems += config_checks.student_names(config["experiments"])
    if problems or config.get("bundle"):  # a bundle's tables need no data (bundle.py)
        return problems
    return _missing_data_files(config)


def _checksum_mismatches(name, exp, root):
    """Official files (CIFAR, SVHN) that are present but not the published ones, where the
    config asks to verify them: found before any job, not by prepare_dataset."""
    sources = []
    if exp["dataset"]["name"] in cifar.CIFAR_FILES and exp["dataset"].get("verify", True):
        sources.append(("dataset", exp["dataset"]["name"]))
    for set_name, spec in exp["eval_sets"].items():
        if spec.get("source") == "svhn" and spec.get("verify", True):
            sources.append((f"eval_sets.{set_name}", "svhn"))
    problems = []
    for key, source in sources:
        for path, expected, found in cifar.checksum_mismatches(source, root)[:1]:
            problems.append(
                f"config key 'experiments.{name}.{key}.verify': {path} has md5 {found}, the "
                f"official file {expected}; use the official files, or verify: false for "
                "stand-in files"
            )
    return problems


def _unreadable_archives(name, exp, root):
    """Tiny ImageNet: the archive's MD5 under verify, or an extracted folder without it."""
    dataset = exp["dataset"]
    if dataset["name"] != "tinyimagenet" or not all(p.exists() for p in raw_files(dataset, root)):
        return []  # absent files are reported once, by _missing_data_files
    try:
        tinyimagenet.open_source(root, dataset.get("verify", True))
    except DataError as error:
        return [f"config key 'experiments.{name}.dataset.verify': {error}"]
    return []


def _downloads_that_cannot_work(name, exp, root):
    """Datasets set to ``download: true`` whose files are missing while their download host
    cannot be reached from here: named before any job, not by urllib inside one."""
    wanted = []
    if exp["dataset"].get("download"):
        wanted.append(("dataset", exp["dataset"]["name"], raw_files(exp["dataset"], root)))
    for set_name, spec in exp["eval_sets"].items():
        if spec["kind"] == "ood" and spec.get("download"):
            files = raw_files({"name": spec["source"]}, root)
            wanted.append((f"eval_sets.{set_name}", spec["source"], files))
    problems = []
    for key, dataset, files in wanted:
        if all(p.is_file() for p in files) or not (why := unreachable(download_urls(dataset))):
            continue
        problems.append(
            f"config key 'experiments.{name}.{key}.download': {dataset}'s files are not under "
            f"data_root '{root}' and cannot be downloaded from here ({why}); put the "
            "official files there and set download: false"
        )
    return problems


def _missing_data_files(config):
    """Dataset and OOD files of the experiments to run that are not under ``data_root``
    (checked before any job; datasets with ``download: true`` fetch theirs)."""
    problems = []
    for experiment in plan.Plan(config).to_run:
        name, exp = experiment.name, experiment.spec
        root = config["data_root"]
        files = [] if exp["dataset"].get("download") else raw_files(exp["dataset"], root)
        files += [
            p
            for spec in exp["eval_sets"].values()
            for p in eval_set_files(spec, root, exp["dataset"]["name"])
        ]
        problems += _checksum_mismatches(name, exp, root)
        problems += _downloads_that_cannot_work(name, exp, root)
        problems += _unreadable_archives(name, exp, root)
        if exp["ensemble"].get("checkpoints"):  # teachers trained elsewhere (external.py)
            problems += external.config_problems(name, exp)
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            problems.append(
                f"config key 'data_root': experiment '{name}' reads {missing[0]}{more}, not "
                f"found under data_root '{config['data_root']}'; point data_root at the "
                "folder holding the data (e.g. --config data_root=../shared/data)"
            )
    return problems


if __name__ == "__main__":
    main()
