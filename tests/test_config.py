import copy
from pathlib import Path

import pytest
import yaml
from ensemble_distill.config import ConfigError, validate_config
from ensemble_distill.plan import Experiment, Plan

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
    assert Plan(cfg)["spiral"].member_seeds == list(range(10))
    assert cfg["experiments"]["spiral"]["analysis"] == {
        "step": 1 / 255,
        "temperature": 1.0,
        "draws": 5,
    }


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
            "'end2', 'batchensemble', 'mimo', 'be_scratch', 'latent_be']",
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
            "teacher.train.schedule': 'cosine' is not one of ['constant', 'warmup_linear_decay', "
            "'multistep']",
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
    teacher = Plan(config).resources("train_teacher")
    assert teacher["gres"] == "gpu:2" and "gpu" not in teacher
    assert [teacher["runtime"](None, attempt) for attempt in (1, 2, 3)] == [45, 90, 135]
    # the job default (4000 MB) fills what the config leaves out; it grows with the attempt
    assert [teacher["mem_mb"](None, attempt) for attempt in (1, 2)] == [4000, 8000]
    assert "gpu" not in Plan(config).resources("predict")  # 0 GPUs: no request at all
    config["resources"]["gpu_request"] = "gpu"
    assert Plan(config).resources("train_teacher")["gpu"] == 2


def E(c):
    return c["experiments"]


MNIST_EXPERIMENT = {
    "dataset": {"name": "mnist"},
    "teacher": {"arch": "mlp", "hidden": [8]},
    "ensemble": {"size": 2},
    "distill_seeds": [0],
    "students": {},
    "eval_sets": {"test": {"kind": "test"}},
}

# Each bad config and the one line it must print (all before any job: the Snakefile
# validates at parse time). The cases a demanding user tried (issue: reliability) first.
BAD_CONFIGS = {
    "unknown eval group": (
        lambda c: E(c)["digits"].update(eval_group="model"),
        "experiments.digits.eval_group': 'model' is not one of ['seed_group', 'experiment']",
    ),
    "no test set": (
        lambda c: E(c)["digits"]["eval_sets"].pop("test"),
        "'experiments.digits.eval_sets': needs an eval set of kind 'test'",
    ),
    "empty validation and test splits": (
        lambda c: E(c)["spiral"]["dataset"].update(train_per_arm=2),
        "'experiments.spiral.dataset.train_per_arm': 2 is less than the minimum of 4",
    ),
    "2-D grid of 10^10 points": (
        lambda c: E(c)["spiral"]["eval_sets"]["grid"].update(resolution=100000),
        "'experiments.spiral.eval_sets.grid.resolution': a 2-D grid has resolution² points; at "
        "most 1000, found 100000",
    ),
    "1-D grid too fine": (
        lambda c: E(c)["toy_regression"]["eval_sets"]["grid"].update(resolution=200000),
        "grid.resolution': 200000 is greater than the maximum of 100000",
    ),
    "OOD images of another shape": (
        lambda c: E(c)["digits"]["eval_sets"].update(fm={"kind": "ood", "source": "fashion_mnist"}),
        "'experiments.digits.eval_sets.fm.source': 'fashion_mnist' images are 1x28x28, the "
        "dataset 'digits' has other inputs",
    ),
    "MNIST without its files": (
        lambda c: E(c).update(m=copy.deepcopy(MNIST_EXPERIMENT)),
        "config key 'data_root': experiment 'm' reads data/mnist/train-images-idx3-ubyte.gz (and "
        "3 more), not found under data_root 'data'",
    ),
    "UCI without its files": (
        lambda c: E(c)["toy_regression"].update(
            dataset={"name": "uci", "set": "yacht"}, eval_sets={"test": {"kind": "test"}}
        ),
        "config key 'data_root': experiment 'toy_regression' reads data/uci/yacht/data/data.txt",
    ),
    "run nothing": (lambda c: c.update(run=[]), "config key 'run': [] should be non-empty"),
    "run an unknown experiment": (
        lambda c: c.update(run=["nope"]),
        "config key 'run': no experiment named 'nope', found ['digits', 'spiral', "
        "'toy_regression']",
    ),
    "a word for a number": (
        lambda c: E(c)["spiral"]["ensemble"].update(size="three"),
        "'experiments.spiral.ensemble.size': 'three' is not of type 'integer'",
    ),
    "rotation beyond 360°": (
        lambda c: E(c)["digits"]["eval_sets"]["rotate"].update(intensities=[0, 400]),
        "'experiments.digits.eval_sets.rotate.intensities.1': 400 is greater than the maximum "
        "of 360",
    ),
    "negative rotation": (
        lambda c: E(c)["digits"]["eval_sets"]["rotate"].update(intensities=[-10]),
        "rotate.intensities.0': -10 is less than the minimum of 0",
    ),
    "fractional translation": (
        lambda c: E(c)["digits"]["eval_sets"].update(
            tr={"kind": "translate", "intensities": [0.5]}
        ),
        "'experiments.digits.eval_sets.tr.intensities.0': 0.5 is not of type 'integer'",
    ),
    "no translations": (
        lambda c: E(c)["digits"]["eval_sets"].update(tr={"kind": "translate", "intensities": []}),
        "tr.intensities': [] should be non-empty",
    ),
    "eval set without kind": (
        lambda c: E(c)["digits"]["eval_sets"].update(x={"intensities": [1]}),
        "'experiments.digits.eval_sets.x': 'kind' is a required property",
    ),
    "student without method": (
        lambda c: E(c)["digits"]["students"].update(s={"temperature": 2.0}),
        "'experiments.digits.students.s': 'method' is a required property",
    ),
    "dataset without name": (
        lambda c: E(c)["digits"]["dataset"].pop("name"),
        "'experiments.digits.dataset': 'name' is a required property",
    ),
    "UCI without set": (
        lambda c: E(c)["toy_regression"].update(dataset={"name": "uci"}),
        "'experiments.toy_regression.dataset': 'set' is a required property",
    ),
    "unknown dataset": (
        lambda c: E(c)["digits"]["dataset"].update(name="imagenet"),
        "'experiments.digits.dataset.name': 'imagenet' is not one of ['spiral', 'digits',",
    ),
    "empty MNIST subset": (
        lambda c: E(c)["digits"].update(dataset={"name": "mnist", "subset": {"train": 0}}),
        "'experiments.digits.dataset.subset.train': 0 is less than the minimum of 1",
    ),
    "no experiments": (
        lambda c: c.update(experiments={}),
        "config key 'experiments': {} should be non-empty",
    ),
    "empty ensemble": (
        lambda c: E(c)["spiral"]["ensemble"].update(size=0),
        "'experiments.spiral.ensemble.size': 0 is less than the minimum of 1",
    ),
    "repeated member seeds": (
        lambda c: E(c)["spiral"]["ensemble"].update(seeds=[0] * 10),
        "'experiments.spiral.ensemble.seeds': [0, 0, 0, 0, 0, 0, 0, 0, 0, 0] has non-unique",
    ),
    "no distillation seeds": (
        lambda c: E(c)["spiral"].update(distill_seeds=[]),
        "'experiments.spiral.distill_seeds': [] should be non-empty",
    ),
    "zero-width layer": (
        lambda c: E(c)["spiral"]["teacher"].update(hidden=[0]),
        "'experiments.spiral.teacher.hidden.0': 0 is less than the minimum of 1",
    ),
    "negative learning rate": (
        lambda c: E(c)["spiral"]["teacher"]["train"].update(lr=-0.1),
        "'experiments.spiral.teacher.train.lr': -0.1 is less than or equal to the minimum of 0",
    ),
    "empty batches": (
        lambda c: E(c)["spiral"]["teacher"]["train"].update(batch_size=0),
        "teacher.train.batch_size': 0 is less than the minimum of 1",
    ),
    "negative weight decay": (
        lambda c: E(c)["spiral"]["teacher"]["train"].update(weight_decay=-1),
        "teacher.train.weight_decay': -1 is less than the minimum of 0",
    ),
    "momentum above 1": (
        lambda c: E(c)["spiral"]["teacher"]["train"].update(momentum=2),
        "teacher.train.momentum': 2 is greater than the maximum of 1",
    ),
    "fractional milestones": (
        lambda c: E(c)["spiral"]["teacher"]["train"].update(milestones=[1, 2, 2.5]),
        "teacher.train.milestones.2': 2.5 is not of type 'integer'",
    ),
    "zero temperature": (
        lambda c: E(c)["spiral"]["students"]["kd"].update(temperature=0),
        "'experiments.spiral.students.kd.temperature': 0 is less than or equal to the minimum",
    ),
    "EnD² temperature below 1": (
        lambda c: E(c)["digits"]["students"].update(e={"method": "end2", "temperature": 0.5}),
        "'experiments.digits.students.e.temperature': 0.5 is less than the minimum of 1",
    ),
    "alpha above 1": (
        lambda c: E(c)["spiral"]["students"]["kd"].update(alpha=1.5),
        "'experiments.spiral.students.kd.alpha': 1.5 is greater than the maximum of 1",
    ),
    "negative perturbation step": (
        lambda c: E(c)["digits"]["students"]["be_ods"]["perturbation"].update(step=-1),
        "be_ods.perturbation.step': -1 is less than the minimum of 0",
    ),
    "LatentBE of a KD student": (
        lambda c: E(c)["digits"]["students"].update(lat={"method": "latent_be", "from": "kd"}),
        "digits.students.lat.from': 'kd' is a 'kd' student; LatentBE averages a BatchEnsemble "
        "student (batchensemble, be_scratch)",
    ),
    "LatentBE of no student": (
        lambda c: E(c)["digits"]["students"].update(lat={"method": "latent_be", "from": "nope"}),
        "digits.students.lat.from': 'nope' is no student of this experiment",
    ),
    "LatentBE name trained elsewhere": (
        lambda c: E(c)["digits"]["students"].update(kd={"method": "latent_be", "from": "be_kd"}),
        "config key 'experiments.*.students.kd': LatentBE in one experiment and trained in another",
    ),
    "ODS numerics for a Gaussian perturbation": (
        lambda c: E(c)["digits"]["students"]["be_ods"]["perturbation"].update(
            kind="gaussian", numerics="stable"
        ),
        "be_ods.perturbation.numerics': only ods and confods compute a direction, the kind "
        "is 'gaussian'",
    ),
    "no OOD images": (
        lambda c: E(c)["digits"]["eval_sets"]["photo_patches"].update(size=0),
        "photo_patches.size': 0 is less than the minimum of 1",
    ),
    "unknown OOD source": (
        lambda c: E(c)["digits"]["eval_sets"]["photo_patches"].update(source="lsun"),
        "photo_patches.source': 'lsun' is not one of ['sample_image_patches', 'uniform_noise',",
    ),
    "option on a test set": (
        lambda c: E(c)["digits"]["eval_sets"]["test"].update(size=3),
        "'experiments.digits.eval_sets.test': Additional properties are not allowed ('size'",
    ),
    "two test sets": (
        lambda c: E(c)["digits"]["eval_sets"].update(test2={"kind": "test"}),
        "'experiments.digits.eval_sets': at most one eval set of kind 'test', found ['test', "
        "'test2']",
    ),
    "zero grid extent": (
        lambda c: E(c)["spiral"]["eval_sets"]["grid"].update(extent=0),
        "grid.extent': 0 is less than or equal to the minimum of 0",
    ),
    "unknown device": (
        lambda c: c.update(device="gpu"),
        "config key 'device': 'gpu' is not one of ['auto', 'cpu', 'cuda']",
    ),
    "negative GPU count": (
        lambda c: c.update(resources={"train_teacher": {"gpu": -1}}),
        "config key 'resources.train_teacher.gpu': -1 is less than the minimum of 0",
    ),
    "data_root not a path": (
        lambda c: c.update(data_root=5),
        "config key 'data_root': 5 is not of type 'string'",
    ),
    # Reliability round 2: numbers that are not numbers, and settings that do nothing.
    "NaN step": (
        lambda c: E(c)["digits"]["students"]["be_ods"]["perturbation"].update(step=float("nan")),
        "config key 'experiments.digits.students.be_ods.perturbation.step': nan is not a "
        "finite number",
    ),
    "infinite temperature": (
        lambda c: E(c)["digits"]["students"]["kd"].update(temperature=float("inf")),
        "config key 'experiments.digits.students.kd.temperature': inf is not a finite number",
    ),
    "fractional epochs": (
        lambda c: E(c)["digits"]["teacher"]["train"].update(epochs=2.5),
        "config key 'experiments.digits.teacher.train.epochs': 2.5 is not of type 'integer'",
    ),
    "warm-up past the last epoch": (
        lambda c: E(c)["digits"]["teacher"]["train"].update(
            schedule="warmup_linear_decay", milestones=[50, 60, 70]
        ),
        "'experiments.digits.teacher.train.milestones': expected [w, a, b] with w <= a <= b "
        "<= epochs (40), found [50, 60, 70]",
    ),
    "decreasing milestones": (
        lambda c: E(c)["digits"]["teacher"]["train"].update(
            schedule="warmup_linear_decay", milestones=[10, 5, 20]
        ),
        "expected [w, a, b] with w <= a <= b <= epochs (40), found [10, 5, 20]",
    ),
    "milestones without their schedule": (
        lambda c: E(c)["digits"]["teacher"]["train"].update(milestones=[1, 2, 3]),
        "'experiments.digits.teacher.train.milestones': only warmup_linear_decay uses them, "
        "the schedule is 'constant'",
    ),
    "multistep without lr_steps": (
        lambda c: E(c)["digits"]["teacher"]["train"].update(schedule="multistep"),
        "'experiments.digits.teacher.train.lr_steps': schedule 'multistep' needs [epoch, "
        "factor] pairs",
    ),
    "lr_steps past the last epoch": (
        lambda c: E(c)["digits"]["teacher"]["train"].update(
            schedule="multistep", lr_steps=[[10, 0.1], [40, 0.01]]
        ),
        "'experiments.digits.teacher.train.lr_steps': expected increasing epochs below "
        "epochs (40), found [10, 40]",
    ),
    "momentum with Adam": (
        lambda c: E(c)["digits"]["students"]["kd"]["train"].update(momentum=0.5),
        "'experiments.digits.students.kd.train.momentum': only SGD uses it, the optimizer "
        "is 'adam'",
    ),
    "init key its type ignores": (
        lambda c: E(c)["digits"]["students"]["be_kd"].update(init={"type": "normal", "p": 0.5}),
        "'experiments.digits.students.be_kd.init.p': init type 'normal' does not use it "
        "(it uses ['scale'])",
    ),
    "step without a perturbation": (
        lambda c: E(c)["digits"]["students"]["kd"].update(
            perturbation={"kind": "none", "step": 0.1}
        ),
        "'experiments.digits.students.kd.perturbation.step': kind is 'none', so no step is taken",
    ),
    "ODS step of 1000": (
        lambda c: E(c)["digits"]["students"]["be_ods"]["perturbation"].update(step=1000),
        "perturbation.step': 1000 is greater than the maximum of 1",
    ),
    "factor init scale of 1e6": (
        lambda c: E(c)["digits"]["students"]["be_kd"].update(init={"type": "normal", "scale": 1e6}),
        "init.scale': 1000000.0 is greater than the maximum of 10",
    ),
    "crop larger than the image": (
        lambda c: E(c)["digits"]["teacher"]["train"].update(augment={"crop": 8}),
        "'experiments.digits.teacher.train.augment.crop': at most 7 pixels for 8x8 images, found 8",
    ),
    "augmenting non-images": (
        lambda c: E(c)["spiral"]["teacher"]["train"].update(augment={"flip": True}),
        "'experiments.spiral.teacher.train.augment': crops and flips need images, the "
        "dataset 'spiral' has none",
    ),
}


def test_whole_number_floats_become_integers():
    """JSON Schema counts 2.0 as an integer; every integer key gets an int, so no float
    reaches a pack label, a range() or a tensor shape (each used to crash later)."""

    def floats(c):
        E(c)["digits"]["ensemble"].update(size=4.0, pack=2.0)
        E(c)["digits"].update(distill_seeds=[0.0, 1.0], distill_seeds_per_job=2.0)
        E(c)["digits"]["teacher"].update(hidden=[16.0, 16.0])
        E(c)["digits"]["teacher"]["train"].update(epochs=3.0)

    config = validate_config(config_with(floats))
    digits = E(config)["digits"]
    values = [digits["ensemble"]["size"], digits["ensemble"]["pack"], *digits["distill_seeds"],
              digits["distill_seeds_per_job"], *digits["teacher"]["hidden"],
              digits["teacher"]["train"]["epochs"]]  # fmt: skip
    assert values == [4, 2, 0, 1, 2, 16, 16, 3]
    assert all(type(v) is int for v in values)
    assert Plan(config)["digits"].student_seed_groups == [[0, 1]]


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_table(case):
    """Every case fails with exactly one problem, which names the key path."""
    edit, message = BAD_CONFIGS[case]
    with pytest.raises(ConfigError) as error:
        validate_config(config_with(edit))
    problems = str(error.value).splitlines()[1:]
    assert len(problems) == 1, problems
    assert message in problems[0]


def test_numbers_nested_in_command_line_overrides_arrive_as_numbers():
    # snakemake --config 'experiments={spiral: {ensemble: {size: 3}}}' passes '3'.
    def strings(c):
        E(c)["spiral"]["ensemble"].update(size="3")
        E(c)["spiral"]["teacher"]["train"].update(lr="1e-2", epochs="5")
        E(c)["digits"]["dataset"].update(split_seed="2")

    config = validate_config(config_with(strings))
    assert E(config)["spiral"]["ensemble"]["size"] == 3
    assert E(config)["spiral"]["teacher"]["train"]["lr"] == 0.01
    assert E(config)["spiral"]["teacher"]["train"]["epochs"] == 5
    assert E(config)["digits"]["dataset"]["split_seed"] == 2
    assert Experiment("spiral", E(config)["spiral"]).member_seeds == [0, 1, 2]


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    from ensemble_distill.config import load_yaml, main

    path = tmp_path / "bad.yaml"
    path.write_text("run: [spiral\nexperiments: {}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml line 2, column 12: YAML syntax error"):
        load_yaml(path)
    with pytest.raises(SystemExit, match="bad.yaml line 2"):
        main([str(path), "--base", str(REPO / "config.yaml")])


def test_download_that_cannot_work_is_named_before_any_job(monkeypatch, tmp_path):
    """download: true with the files absent: the host is tried at validation (a refused
    local port stands in for an offline machine); a reachable one passes."""
    import socket

    import ensemble_distill.config as config_module

    def config(download_url):
        monkeypatch.setattr(config_module, "download_urls", lambda name: [download_url])
        experiment = {
            **copy.deepcopy(MNIST_EXPERIMENT),
            "dataset": {"name": "mnist", "download": True},
        }
        return config_with(lambda c: (E(c).update(m=experiment), c.update(run=["m"],
                                      data_root=str(tmp_path))))  # fmt: skip

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(ConfigError) as error:
            validate_config(config(f"http://127.0.0.1:{port}/mnist/"))
    said = str(error.value)
    expected = (
        "config key 'experiments.m.dataset.download': mnist's files are not under data_root "
        f"'{tmp_path}' and cannot be downloaded from here (127.0.0.1: "
    )
    assert expected in said, said
    assert "refused" in said and "set download: false" in said
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        validate_config(config(f"http://127.0.0.1:{server.getsockname()[1]}/mnist/"))
