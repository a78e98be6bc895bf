"""Bring your own ensemble (external.py): teachers trained by a plain PyTorch loop outside
the package replace the teacher jobs; bad files stop the config check with the file and
the first tensor that differs; the files' hashes enter the provenance."""

import copy
import json

import pytest
import torch
import yaml
from conftest import snakemake
from ensemble_distill.config import ConfigError, validate_config
from safetensors.torch import save_file
from sklearn.datasets import load_digits
from torch import nn

MLP = {"arch": "mlp", "hidden": [32]}
CNN = {"arch": "cnn", "channels": [4], "hidden": [16]}


def plain_mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def plain_cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 10))  # fmt: skip


def train_plainly(make, seed, steps=60):
    """A few Adam steps on scikit-learn's digits, without the package's training code."""
    torch.manual_seed(seed)
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32)[:, None]
    y = torch.tensor(digits.target)
    model = make()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        index = torch.randint(len(y), (128,))
        loss = nn.functional.cross_entropy(model(x[index]), y[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    """Three MLP teachers (two torch.save state dicts, one safetensors) and two CNNs."""
    root = tmp_path_factory.mktemp("own")
    (root / "mlp").mkdir()
    (root / "cnn").mkdir()
    for seed in range(3):
        state = train_plainly(plain_mlp, seed).state_dict()
        if seed == 2:
            save_file(state, root / "mlp" / f"member{seed}.safetensors")
        else:
            torch.save(state, root / "mlp" / f"member{seed}.pt")
    for seed in range(2):
        torch.save(train_plainly(plain_cnn, seed).state_dict(), root / "cnn" / f"m{seed}.pt")
    return root


def experiment(teacher, checkpoints, size):
    return {
        "dataset": {"name": "digits"},
        "teacher": copy.deepcopy(teacher),  # validation fills defaults in place
        "ensemble": {"size": size, "checkpoints": checkpoints, "pack": size},
        "distill_seeds": [0],
        "students": {
            "kd": {"method": "kd", "train": {"epochs": 2}},
            "be": {"method": "batchensemble", "train": {"epochs": 2}},
        },
        "eval_sets": {"test": {"kind": "test"}, "val": {"kind": "validation"}},
    }


def config_of(**experiments):
    return {"run": list(experiments), "device": "cpu", "experiments": experiments}


def test_good_files_pass_the_config_check(teachers):
    validate_config(config_of(own=experiment(MLP, str(teachers / "mlp"), 3)))
    files = [str(teachers / "cnn" / f"m{k}.pt") for k in range(2)]
    validate_config(config_of(own=experiment(CNN, files, 2)))


@pytest.mark.parametrize(
    "case, message",
    [
        ("wrong shape", r"wide.pt: tensor '1.weight' has shape \(40, 64\), expected \(32, 64\)"),
        ("pickled", r"model.pt: cannot be read without executing pickled code"),
        ("missing", r"gone.pt: no such teacher file"),
        ("count", r"3 teacher file\(s\), but ensemble.size is 2"),
        ("architecture", r"member0.pt: lacks tensor '0.weight' \(4, 1, 5, 5\)"),
    ],
)
def test_bad_files_stop_the_config_check_naming_file_and_tensor(teachers, tmp_path, case,
                                                                 message):  # fmt: skip
    files = [teachers / "mlp" / "member0.pt", teachers / "mlp" / "member1.pt"]
    teacher, size = MLP, 2
    if case == "wrong shape":
        wide = nn.Sequential(nn.Flatten(), nn.Linear(64, 40), nn.ReLU(), nn.Linear(40, 10))
        torch.save(wide.state_dict(), tmp_path / "wide.pt")
        files[1] = tmp_path / "wide.pt"
    elif case == "pickled":
        torch.save(plain_mlp(), tmp_path / "model.pt")  # the module itself: needs pickle
        files[1] = tmp_path / "model.pt"
    elif case == "missing":
        files[1] = tmp_path / "gone.pt"
    elif case == "count":
        files.append(teachers / "mlp" / "member2.safetensors")
    elif case == "architecture":
        teacher = CNN  # MLP files for a CNN teacher block
    with pytest.raises(ConfigError, match=r"config key 'experiments.own.ensemble.checkpoints': "
                                          r".*" + message):  # fmt: skip
        validate_config(config_of(own=experiment(teacher, [str(f) for f in files], size)))


@pytest.mark.slow
def test_students_tables_and_figures_from_own_teachers(teachers, workflow_copy):
    own = experiment(MLP, str(teachers / "mlp"), 3)
    cnn = experiment(CNN, str(teachers / "cnn"), 2)
    config = config_of(own_mlp=own, own_cnn=cnn)
    (workflow_copy / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("--cores", "2", cwd=workflow_copy)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert not (workflow_copy / "logs/train_teacher").exists()  # no teacher was trained
    for name, folder, size in (("own_mlp", "mlp", 3), ("own_cnn", "cnn", 2)):
        out = workflow_copy / "results" / name
        for table in ("summary", "diversity", "selective"):
            assert (out / "tables" / f"{table}.md").is_file(), (name, table)
        record = json.loads(next(out.glob("teachers/*/seed0/model.provenance.json")).read_text())
        external = [p for p in record["inputs"] if f"/{folder}/" in p]
        assert len(external) == 1 and record["inputs"][external[0]] == _sha(external[0])
        summary = (out / "tables/summary.md").read_text()
        assert f"| single | {size} |" in summary  # every imported member scored
    # the imported weights are the files' weights
    imported = workflow_copy / "results/own_mlp/teachers/seeds0-2/seed2/model.pt"
    from ensemble_distill.io import load_checkpoint
    from safetensors.torch import load_file

    expected = load_file(teachers / "mlp" / "member2.safetensors")
    found = load_checkpoint(imported)["state_dicts"][0]
    assert all(torch.equal(found[f"0.{k}"], v) for k, v in expected.items())


def _sha(path):
    from ensemble_distill.io import file_sha256

    return file_sha256(path)
