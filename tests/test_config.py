import copy
from pathlib import Path

import pytest
import yaml
from ensemble_distill.config import ConfigError, cluster_resources, member_seeds, validate_config

REPO = Path(__file__).resolve().parent.parent
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())


def config_with(edit):
    cfg = copy.deepcopy(DEFAULT)
    edit(cfg)
    return cfg


def test_default_config_is_valid_and_gets_defaults():
    cfg = validate_config(copy.deepcopy(DEFAULT))
    assert cfg["experiments"]["digits"]["teacher"]["train"]["weight_decay"] == 0.0
    assert cfg["experiments"]["spiral"]["students"]["kd"]["alpha"] == 1.0
    assert member_seeds(cfg["experiments"]["spiral"]) == list(range(10))


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda c: c["experiments"]["digits"]["teacher"]["train"].update(epohcs=3),
            "experiments.digits.teacher.train': Additional properties are not allowed ('epohcs'",
        ),
        (
            lambda c: c["experiments"]["digits"]["teacher"]["train"].update(epochs="ten"),
            "experiments.digits.teacher.train.epochs': 'ten' is not of type 'integer'",
        ),
        (
            lambda c: c["experiments"]["spiral"]["students"]["kd"].update(method="bayes"),
            "experiments.spiral.students.kd.method': 'bayes' is not one of ['kd', 'hydra', "
            "'end2', 'batchensemble', 'mimo', 'be_scratch']",
        ),
        (
            lambda c: c["experiments"]["spiral"]["students"]["kd"].update(hinton_epochs=3),
            "students.kd': Additional properties are not allowed ('hinton_epochs'",
        ),
        (
            lambda c: c["experiments"]["digits"].pop("teacher"),
            "experiments.digits': 'teacher' is a required property",
        ),
        (
            lambda c: c["experiments"]["digits"]["eval_sets"]["rotate"].pop("intensities"),
            "experiments.digits.eval_sets.rotate': 'intensities' is a required property",
        ),
        (
            lambda c: c["experiments"]["digits"]["ensemble"].update(seeds=[1, 2]),
            "experiments.digits.ensemble.seeds': expected 8 seeds (ensemble.size), found 2",
        ),
        (
            lambda c: c["experiments"]["spiral"]["eval_sets"].update(
                rot={"kind": "rotate", "intensities": [1]}
            ),
            "experiments.spiral.eval_sets.rot.kind': 'rotate' needs an image dataset",
        ),
        (
            lambda c: c["experiments"]["spiral"]["students"]["hydra"]["head"].update(layers=3),
            "the teacher has 3 layers, so at most 2 can be copied into heads, found 3",
        ),
        (
            lambda c: c["experiments"].update({"bad-name": c["experiments"]["spiral"]}),
            "'bad-name' does not match",
        ),
        (
            lambda c: c.update(devcie="cpu"),
            "config key '<top level>': Additional properties are not allowed ('devcie'",
        ),
        # Keys a method does not use (methods.py), also where the schema allows them.
        (
            lambda c: c["experiments"]["toy_regression"]["students"]["kd"].update(temperature=2),
            "experiments.toy_regression.students.kd.temperature': method 'kd' does not use it "
            "for regression",
        ),
        (
            lambda c: c["experiments"]["toy_regression"]["students"]["hydra"].update(
                perturbation={"kind": "gaussian"}
            ),
            "students.hydra.perturbation': method 'hydra' does not use it for regression",
        ),
        (
            lambda c: c["experiments"]["toy_regression"]["students"].update(
                be={"method": "batchensemble"}
            ),
            "students.be.method': regression supports ['hydra', 'kd'], found 'batchensemble'",
        ),
        (
            lambda c: c["experiments"]["digits"]["students"].update(
                scratch={"method": "be_scratch", "perturbation": {"kind": "ods"}}
            ),
            "students.scratch': Additional properties are not allowed ('perturbation'",
        ),
        (
            lambda c: c["experiments"]["digits"]["students"]["be_kd"].update(teachers=9),
            "students.be_kd.teachers': at most the ensemble size 8, found 9",
        ),
        (
            lambda c: c["experiments"]["digits"]["students"]["be_ods"]["perturbation"].update(
                kind="fgsm"
            ),
            "be_ods.perturbation.kind': 'fgsm' is not one of ['none', 'gaussian', 'ods', "
            "'confods']",
        ),
        (
            lambda c: c["experiments"]["digits"]["eval_sets"].update(val2={"kind": "validation"}),
            "experiments.digits.eval_sets': at most one eval set of kind 'validation', found "
            "['val', 'val2']",
        ),
        (
            lambda c: c["experiments"]["digits"]["teacher"]["train"].update(schedule="cosine"),
            "teacher.train.schedule': 'cosine' is not one of ['constant', 'warmup_linear_decay']",
        ),
    ],
)
def test_bad_configs_are_rejected_with_the_key_path(edit, message):
    with pytest.raises(ConfigError) as error:
        validate_config(config_with(edit))
    assert message in str(error.value)


def test_all_problems_are_reported_at_once():
    def two_typos(c):
        c["experiments"]["digits"]["teacher"]["train"]["epochs"] = -1
        c["experiments"]["spiral"]["ensemble"]["size"] = "ten"

    with pytest.raises(ConfigError) as error:
        validate_config(config_with(two_typos))
    assert "digits.teacher.train.epochs" in str(error.value)
    assert "spiral.ensemble.size" in str(error.value)


def test_cluster_resources_from_config():
    config = validate_config(
        {
            **copy.deepcopy(DEFAULT),
            "resources": {"train_teacher": {"gpu": 2, "runtime": 45}, "gpu_request": "gres"},
        }
    )
    teacher = cluster_resources(config, "train_teacher")
    assert teacher["gres"] == "gpu:2" and "gpu" not in teacher
    assert [teacher["runtime"](None, attempt) for attempt in (1, 2, 3)] == [45, 90, 135]
    assert teacher["mem_mb"] == 4000  # the job default fills what the config leaves out
    assert "gpu" not in cluster_resources(config, "predict")  # 0 GPUs: no request at all
    config["resources"]["gpu_request"] = "gpu"
    assert cluster_resources(config, "train_teacher")["gpu"] == 2
