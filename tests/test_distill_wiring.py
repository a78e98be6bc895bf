"""Distillation wiring: one-to-one students pair member m with teacher m, in every method
that claims to (two opposing hand-made teachers), and the registry drives the rules."""

import re
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import torch
from ensemble_distill.codegraph import PACKAGE, closure, module_files
from ensemble_distill.distill import distill_split
from ensemble_distill.methods import METHODS
from ensemble_distill.models import Members
from ensemble_distill.train import fit
from torch import nn

REPO = Path(__file__).resolve().parent.parent
TRAIN = {"epochs": 25, "batch_size": 16, "lr": 0.02, "weight_decay": 0.0}
STUDENTS = {
    "batchensemble": {"method": "batchensemble", "init": {"type": "normal", "scale": 0.5}},
    "mimo": {"method": "mimo"},
    "hydra": {"method": "hydra", "head": {"type": "copy", "layers": 1}, "hinton_epochs": 3},
}


def opposing_teachers():
    """Teacher 0 always says class 0, teacher 1 always class 1 (of 3)."""
    members = []
    for favourite in (0, 1):
        layer = nn.Linear(4, 3)
        with torch.no_grad():
            layer.weight.zero_()
            layer.bias.copy_(
                torch.tensor([0.0, 0.0, 0.0]).index_fill(0, torch.tensor(favourite), 4.0)
            )
        members.append(nn.Sequential(nn.Flatten(), layer))
    return Members(members).requires_grad_(False).eval()


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_member_m_follows_teacher_m(name, tmp_path):
    teachers = opposing_teachers()
    torch.manual_seed(0)
    x, y = torch.randn(128, 4), torch.randint(0, 3, (128,))
    train = (x, y, teachers(x))
    cfg = {**STUDENTS[name], "temperature": 2.0, "alpha": 1.0, "train": TRAIN}
    run = partial(fit, seed=0, fingerprint="test", log=lambda message: None)
    spec = {"arch": "mlp", "sizes": [4, 16, 3]}
    model, spec, output, history = distill_split(
        cfg, "classification", teachers, spec, train, None, 0, run, tmp_path, None
    )
    with torch.no_grad():
        probs = model.eval()(torch.randn(64, 4)).softmax(-1)  # (B, 2, 3)
    assert probs.shape == (64, 2, 3)
    assert (probs[:, 0, 0] > 0.7).all() and (probs[:, 1, 1] > 0.7).all()
    if name == "hydra":
        assert spec["heads"] == 2 and len(history) == 3 + TRAIN["epochs"]


def test_registry_flags_match_the_methods_behaviour():
    assert {m for m, spec in METHODS.items() if spec.one_to_one} == {"hydra", "batchensemble",
                                                                     "mimo"}  # fmt: skip
    assert {m for m, spec in METHODS.items() if spec.regression} == {"kd", "hydra"}
    assert METHODS["end2"].has_model_uncertainty and not METHODS["end2"].members
    assert not METHODS["kd"].has_model_uncertainty


def test_schema_and_registry_agree_on_each_methods_keys():
    import yaml
    from ensemble_distill.config import SCHEMA_PATH

    student = yaml.safe_load(SCHEMA_PATH.read_text())["$defs"]["student"]
    assert student["properties"]["method"]["enum"] == list(METHODS)
    for block in student["allOf"]:
        method = block["if"]["properties"]["method"]["const"]
        assert set(block["then"]["properties"]) == METHODS[method].keys, method


def rule_modules():
    """(rule, module of its code input, module its shell command runs) for every rule."""
    out = []
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule )", smk.read_text())[1:]:
            name = re.match(r"rule (\w+):", block).group(1)
            declared = re.search(r'code=code\("(\w+)"\)', block)
            runs = re.search(r"python -m ensemble_distill\.(\w+)", block)
            out.append((name, declared and declared.group(1), runs and runs.group(1)))
    return out


def test_every_rule_declares_the_code_of_the_module_it_runs():
    rules = rule_modules()
    assert len(rules) >= 20
    for name, declared, runs in rules:
        if runs:
            assert declared == runs, f"rule {name} runs {runs} but declares code({declared!r})"


STAGES = ["distill", "predict", "metrics", "tables", "calibration", "analysis", "figures", "cost",
          "teacher", "evalsets"]  # fmt: skip


@pytest.mark.parametrize("module", STAGES)
def test_code_inputs_cover_every_package_module_python_loads(module):
    """The static import graph includes every package module that importing the stage
    really loads (a missed import would let an edit rerun nothing)."""
    listing = f"print(*(m for m in sys.modules if m.startswith('{PACKAGE}')))"
    script = f"import sys, {PACKAGE}.{module}; {listing}"
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO / "workflow", check=True).stdout.split()  # fmt: skip
    loaded = {m.removeprefix(PACKAGE).removeprefix(".") for m in loaded}
    assert loaded <= closure(module), loaded - closure(module)
    files = module_files(module)
    assert f"workflow/{PACKAGE}/{module}.py" in files
    assert all((REPO / f).is_file() for f in files)


def test_schema_offers_exactly_the_registered_perturbations():
    import yaml
    from ensemble_distill.config import SCHEMA_PATH
    from ensemble_distill.perturb import PERTURBATIONS

    schema = yaml.safe_load(SCHEMA_PATH.read_text())["$defs"]["perturbation"]
    assert schema["properties"]["kind"]["enum"] == list(PERTURBATIONS)
