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
