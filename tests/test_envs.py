"""envs/*.yaml (conda, per rule group) must pin the same versions as pyproject.toml."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def requirement_map(requirements):
    return {re.split(r"[<>=!~ ]", r, maxsplit=1)[0].lower(): r for r in requirements}


def test_conda_envs_pin_what_pyproject_pins():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pinned = requirement_map(pyproject["project"]["dependencies"])
    for env_file in sorted((REPO / "envs").glob("*.yaml")):
        env = yaml.safe_load(env_file.read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        for requirement in pip:
            name = requirement_map([requirement]).popitem()[0]
            assert pinned.get(name) == requirement, f"{env_file.name}: {requirement}"


def test_every_rule_uses_an_existing_env():
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for env in re.findall(r'"\.\./\.\./(envs/[\w.]+)"', smk.read_text()):
            assert (REPO / env).is_file(), f"{smk.name} names missing {env}"


# Import name -> distribution name where they differ.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow",
                 "cv2": "opencv-python-headless"}  # fmt: skip


def third_party_imports(files):
    """Third-party distributions imported at module level (what importing the files needs;
    imports inside functions, like io.py's torch for checkpoints, are left out)."""
    import ast
    import sys

    names = set()
    for path in files:
        for node in ast.parse((REPO / path).read_text()).body:
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {DISTRIBUTIONS.get(n, n) for n in names} - set(sys.stdlib_module_names)


def test_every_rules_env_provides_what_its_code_imports():
    """With --sdm conda a rule runs in its env alone: every third-party package that its
    module (and all it imports, from the import graph) needs must be in that env."""
    from ensemble_distill.codegraph import PACKAGE, module_files

    checked = 0
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule )", smk.read_text())[1:]:
            module = re.search(r"python -m ensemble_distill\.(\w+)", block)
            env = re.search(r'conda:\s*"\.\./\.\./(envs/[\w.]+)"', block)
            if not (module and env):
                continue
            spec = yaml.safe_load((REPO / env.group(1)).read_text())
            pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
            provided = set(requirement_map(pip))
            needed = third_party_imports(module_files(module.group(1))) - {PACKAGE, "snakemake"}
            missing = needed - provided
            assert not missing, f"{env.group(1)} lacks {missing} for {module.group(1)}"
            checked += 1
    assert checked >= 12  # `use rule` derivatives share their base rule's module and env
