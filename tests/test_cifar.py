"""CIFAR family: official file formats and checksums, ResNets against published parameter
counts and their BatchEnsemble / MIMO / Hydra versions, augmentation, corruptions, and every
CIFAR paper config end to end on stand-in files."""

import pickle
import re

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO, snakemake
from ensemble_distill import cifar, corruptions
from ensemble_distill.augment import random_crop_flip
from ensemble_distill.catalog import input_stats
from ensemble_distill.datasets import DataError, load_dataset
from ensemble_distill.evalsets import build_eval_set
from ensemble_distill.metrics import evaluate_predictions
from ensemble_distill.models import build_model, count_parameters, hydra_spec, teacher_spec
from ensemble_distill.standin import mark_unverified, shrunk_config, write_standin_data
from ensemble_distill.train import lr_factor
from scipy import ndimage

STATS = input_stats("cifar10")


def resnet(arch="resnet", depth=20, classes=10, **extra):
    return teacher_spec({"arch": arch, "depth": depth, **extra}, (3, 32, 32), classes, STATS)


def keras_count(model):
    """Parameters as Keras counts them (the Hydra paper's Table 5): plus BatchNorm's moving
    mean and variance, and a bias on every convolution."""
    n = count_parameters(model)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n += 2 * m.num_features
        if isinstance(m, torch.nn.Conv2d) and m.bias is None:
            n += m.out_channels
    return n


# ----------------------------------------------------------------------------- files
def test_checksums_are_torchvisions():
    import torchvision.datasets as tv

    for name, cls in (("cifar10", tv.CIFAR10), ("cifar100", tv.CIFAR100)):
        assert cifar.CIFAR_FILES[name]["md5"] == dict(cls.train_list + cls.test_list)
    assert list(cifar.SVHN_TEST[1:]) == tv.SVHN.split_list["test"][1:]


def test_official_formats_are_read(tmp_path):
    written = write_standin_data(tmp_path)
    data = load_dataset({"name": "cifar10", "verify": False}, tmp_path)
    labels = np.concatenate([written[("cifar10", f"data_batch_{k}")] for k in range(1, 6)])
    # 300 stand-in training images: the last tenth validates (5k of 50k on the real files).
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (270, 30, 40)
    assert data.x_train.dtype == np.uint8 and data.x_train.shape[1:] == (3, 32, 32)
    np.testing.assert_array_equal(np.concatenate([data.y_train, data.y_val]), labels)
    np.testing.assert_array_equal(data.y_test, written[("cifar10", "test_batch")])
    # Rows are channel-major (R, then G, then B planes), as the official batches store them.
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="bytes")[b"data"]
    np.testing.assert_array_equal(data.x_train[0, 1].ravel(), raw[0, 1024:2048])
    c100 = load_dataset({"name": "cifar100", "verify": False, "subset": {"train": 50}}, tmp_path)
    assert c100.num_classes == 100 and len(c100.x_train) == 50
    np.testing.assert_array_equal(c100.y_test, written[("cifar100", "test")])
    svhn = cifar.load_svhn_test(tmp_path, verify=False)
    assert svhn.shape == (30, 3, 32, 32) and svhn.dtype == np.uint8


def test_checksums_are_checked_and_files_named(tmp_path):
    write_standin_data(tmp_path)
    with pytest.raises(DataError, match="checksum mismatch for .*data_batch_1: expected md5 c99c"):
        load_dataset({"name": "cifar10"}, tmp_path)
    (tmp_path / "cifar-100-python" / "test").unlink()
    with pytest.raises(DataError, match="file not found: .*cifar-100-python/test"):
        load_dataset({"name": "cifar100", "verify": False}, tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="malformed CIFAR batch .*test_batch"):
        load_dataset({"name": "cifar10", "verify": False}, tmp_path)


# ----------------------------------------------------------------------------- networks
def test_resnet20_parameters_by_hand():
    """He et al.'s ResNet-20 with option-A shortcuts: 3x3 convolutions without bias, two
    BatchNorm parameters per channel, a 64 -> 10 classifier."""
    conv = lambda c_in, c_out: 9 * c_in * c_out  # noqa: E731
    bn = lambda c: 2 * c  # noqa: E731
    block = lambda c_in, c: conv(c_in, c) + bn(c) + conv(c, c) + bn(c)  # noqa: E731
    expected = conv(3, 16) + bn(16) + 64 * 10 + 10
    for c_in, c in ((16, 16), (16, 32), (32, 64)):
        expected += block(c_in, c) + 2 * block(c, c)
    assert expected == 269_722  # "0.27 M" in He et al. (2016)
    assert count_parameters(build_model(resnet())) == expected


def test_parameter_counts_match_the_papers():
    # Hydra Table 5 counts like Keras: the Keras ResNet-20 v1 (projection shortcuts) is the
    # KD student's 274,442, and Hydra with 50 one-block heads is 3,950,324.
    teacher = resnet(shortcut="projection")
    assert keras_count(build_model(teacher)) == 274_442
    hydra = build_model(hydra_spec(teacher, {"type": "copy", "layers": 1}, 1))
    hydra.grow(50)
    assert keras_count(hydra) == 3_950_324
    assert count_parameters(build_model(resnet(depth=32))) == 464_154  # "0.46 M"
    wrn = count_parameters(build_model(resnet("wrn", 28, classes=100, width=10)))
    assert round(wrn / 1e6, 1) == 36.5  # Zagoruyko & Komodakis: 36.5 M


@pytest.mark.parametrize("arch, depth", [("resnet", 8), ("wrn", 10)])
def test_batchensemble_resnet_with_unit_factors_is_the_plain_net(arch, depth):
    torch.manual_seed(0)
    spec = resnet(arch, depth, width=4 if arch == "resnet" else 1)
    plain = build_model(spec)[0].eval()
    be = build_model({**spec, "batchensemble": {"members": 3, "init": {"type": "normal"}}}).eval()
    state = be.state_dict()
    for key in state:
        inner = key.removeprefix("net.")
        if key.endswith(("alpha_be", "gamma_be")):
            state[key] = torch.ones_like(state[key])
        elif inner in plain.state_dict():
            source = plain.state_dict()[inner]
            state[key] = source.expand_as(state[key]).clone() if state[key].dim() else source
    be.load_state_dict(state)
    x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    out = be(x)  # (B, M, C)
    assert out.shape == (5, 3, 10)
    for m in range(3):
        torch.testing.assert_close(out[:, m], plain(x), rtol=1e-4, atol=1e-5)


def test_hydra_resnet_slices_the_teacher_and_keeps_the_contract():
    torch.manual_seed(0)
    teacher = resnet(depth=8, width=4)
    for k in (1, 2):
        hydra = build_model(hydra_spec(teacher, {"type": "copy", "layers": k}, 1)).eval()
        assert len(hydra.heads[0]) == k + 1  # k residual blocks and the classifier
        full = build_model(teacher)[0].eval()
        full.load_state_dict(
            {**{f"{i}.{n}": v for i, m in enumerate(hydra.body) for n, v in m.state_dict().items()},
             **{f"{len(hydra.body) + i}.{n}": v
                for i, m in enumerate(hydra.heads[0]) for n, v in m.state_dict().items()}}
        )  # fmt: skip
        x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
        torch.testing.assert_close(hydra(x)[:, 0], full(x))
        hydra.grow(3)
        assert hydra(x).shape == (4, 3, 10)
    with pytest.raises(ValueError, match="copies 1 to 2 of the teacher's 3 residual blocks"):
        hydra_spec(teacher, {"type": "copy", "layers": 3}, 1)


def test_mimo_resnet_takes_m_images_on_the_channels():
    torch.manual_seed(0)
    mimo = build_model({**resnet(depth=8, width=4), "mimo": 3}).eval()
    assert mimo.net[1][0].in_channels == 9 and mimo.net[-1].fc.out_features == 30
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    assert mimo(x).shape == (4, 3, 10)
    slots = torch.randint(0, 256, (4, 3, 3, 32, 32), dtype=torch.uint8)
    assert mimo.forward_slots(slots).shape == (4, 3, 10)


def test_uint8_and_unit_float_inputs_agree():
    torch.manual_seed(0)
    net = build_model(resnet(depth=8, width=4)).eval()
    x = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    torch.testing.assert_close(net(x), net(x.float() / 255))


# ----------------------------------------------------------------------------- training
def test_random_crop_flip_is_a_crop_of_the_padded_image():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.int64).view(2, 3, 6, 6).to(torch.uint8)
    g = torch.Generator().manual_seed(3)
    out = random_crop_flip(x, g, crop=2, flip=True)
    g = torch.Generator().manual_seed(3)  # the same draws, by hand
    shifts = torch.randint(0, 5, (2, 2), generator=g)
    flips = torch.rand(2, generator=g) < 0.5
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(2):
        dy, dx = int(shifts[0, b]), int(shifts[1, b])
        expected = padded[b, :, dy : dy + 6, dx : dx + 6]
        if flips[b]:
            expected = expected.flip(-1)
        assert torch.equal(out[b], expected)
    assert out.dtype == torch.uint8


def test_multistep_schedule_by_hand():
    steps = [[80, 0.1], [120, 0.01], [160, 0.001], [180, 0.0005]]
    factors = [lr_factor(e, 200, "multistep", lr_steps=steps) for e in (0, 79, 80, 119, 120, 199)]
    assert factors == [1.0, 1.0, 0.1, 0.1, 0.01, 0.0005]


# ----------------------------------------------------------------------------- corruptions
@pytest.fixture
def grey():
    return np.full((4, 3, 32, 32), 128, dtype=np.uint8)


def test_corruptions_are_deterministic_and_keep_dtype_and_range(grey):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 3, 32, 32), dtype=np.uint8)
    for name in corruptions.CORRUPTIONS:
        a = corruptions.corrupt(images, name, 3)
        assert a.dtype == np.uint8 and a.shape == images.shape, name
        assert np.array_equal(a, corruptions.corrupt(images, name, 3)), name
    assert not np.array_equal(
        corruptions.corrupt(images, "gaussian_noise", 3),
        corruptions.corrupt(images, "gaussian_noise", 3, seed=1),
    )
    assert len(corruptions.CORRUPTIONS) == 19
    with pytest.raises(ValueError, match="cannot generate corruption 'smog': known are"):
        corruptions.corrupt(images, "smog", 1)


def test_corruption_formulas_by_hand(grey):
    # Contrast pulls each channel towards its mean: a two-level image by hand.
    image = grey.copy()
    image[:, :, :16] = 64  # half 64, half 128: mean 96
    out = corruptions.corrupt(image, "contrast", 5)  # c = 0.15
    assert set(np.unique(out)) == {int((64 - 96) * 0.15 + 96), int((128 - 96) * 0.15 + 96)}
    # Brightness adds c to HSV's value: grey 128/255 + 0.3 at severity 5.
    assert np.all(corruptions.corrupt(grey, "brightness", 5) == int((128 / 255 + 0.3) * 255))
    # Gaussian noise at severity 1 has σ = 0.04 (in [0, 1]) on mid-grey (no clipping).
    noise = corruptions.corrupt(np.repeat(grey, 50, axis=0), "gaussian_noise", 1) / 255.0
    assert abs((noise - 128 / 255).std() - 0.04) < 0.002
    # Every blur leaves a constant image constant.
    for name in ("gaussian_blur", "defocus_blur", "zoom_blur", "glass_blur"):
        assert np.all(np.abs(corruptions.corrupt(grey, name, 5).astype(int) - 128) <= 1), name
    kernel = corruptions.disk_kernel(1.5, 0.1)
    assert kernel.shape == (17, 17) and abs(kernel.sum() - 1) < 1e-12


def test_zoom_is_scipys():
    x = np.random.default_rng(0).random((3, 32, 32, 3))
    for factor in (1.0, 1.07, 1.25):
        crop = int(np.ceil(32 / factor))
        top = (32 - crop) // 2
        ref = ndimage.zoom(
            x[:, top : top + crop, top : top + crop], (1, factor, factor, 1), order=1
        )
        trim = (ref.shape[1] - 32) // 2
        np.testing.assert_allclose(
            corruptions.clipped_zoom(x, factor), ref[:, trim : trim + 32, trim : trim + 32],
            atol=1e-12,
        )  # fmt: skip


def test_official_corruption_files_are_preferred(tmp_path):
    write_standin_data(tmp_path)
    data = load_dataset({"name": "cifar10", "verify": False}, tmp_path)
    spec = {"kind": "corrupt", "corruption": "fog", "severities": [2, 5]}
    generated = build_eval_set(data, spec, tmp_path)
    assert bool(generated["generated"]) and generated["x"].shape == (2, 40, 3, 32, 32)
    official = np.zeros((5 * 40, 32, 32, 3), dtype=np.uint8)
    for s in range(5):
        official[s * 40 : (s + 1) * 40] = 10 * (s + 1)  # severity s + 1 is 10·(s + 1)
    (tmp_path / "CIFAR-10-C").mkdir()
    np.save(tmp_path / "CIFAR-10-C" / "fog.npy", official)
    read = build_eval_set(data, spec, tmp_path)
    assert not bool(read["generated"])
    assert np.all(read["x"][0] == 20) and np.all(read["x"][1] == 50)
    with pytest.raises(DataError, match="source: official.*not found.*CIFAR-10-C/snow.npy"):
        build_eval_set(data, {**spec, "corruption": "snow", "source": "official"}, tmp_path)


def test_generated_sets_are_marked_in_metric_rows():
    log_probs = np.log(np.full((1, 2, 3, 4), 0.25))  # (I, K, N, C)
    pred = {"kind": np.array("categorical"), "log_probs": log_probs, "labels": np.zeros(3, int),
            "intensities": np.ones(1), "eval_kind": np.array("corrupt"),
            "generated": np.array(True), "seeds": np.arange(2)}  # fmt: skip
    rows, _ = evaluate_predictions(pred, "e", "kd", "kd", 0, "c_fog")
    assert set(rows["eval_set"]) == {"c_fog (generated)"}


# ----------------------------------------------------------------------------- configs
PAPER_CONFIGS = {  # config: (experiment, jobs of the whole dry-run, teachers, students)
    "hydra-cifar10.yaml": ("hydra_cifar10", 133, 50, 4),
    "dm-cifar10.yaml": ("dm_cifar10", 154, 8, 9),
    "dm-cifar100.yaml": ("dm_cifar100", 195, 4, 14),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PAPER_CONFIGS))
def test_paper_config_dry_run(name, standin_root, workflow_copy):
    exp, total, teachers, students = PAPER_CONFIGS[name]
    # Stand-in files are not the official ones: the config check compares MD5s where
    # `verify` is on, so the dry run turns it off, as a user of stand-ins would.
    paper = yaml.safe_load((REPO / "configs" / name).read_text())
    (workflow_copy / "standin.yaml").write_text(yaml.safe_dump(mark_unverified(paper)))
    result = snakemake("-n", "--configfile", "standin.yaml", "--config",
                       f"data_root={standin_root}", cwd=workflow_copy)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    counts = dict(
        line.split() for line in (result.stdout + result.stderr).splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    )  # fmt: skip
    assert int(counts["train_teacher"]) == teachers
    assert int(counts["distill_student"]) == students * 3  # three distillation seeds
    assert int(counts["total"]) == total


# Every CIFAR config shrunk, end to end on stand-in files: tests/test_gpu_acceptance.py runs
# them through bench/gpu_acceptance.py --tiny.


def test_cifar_configs_name_every_generated_corruption():
    """Every CIFAR config lists all 19 corruption types."""
    for name in PAPER_CONFIGS:
        config = yaml.safe_load((REPO / "configs" / name).read_text())
        for exp in config["experiments"].values():
            kinds = {s["corruption"] for s in exp["eval_sets"].values() if s["kind"] == "corrupt"}
            assert kinds == set(corruptions.CORRUPTIONS), name


# ----------------------------------------------------------------------------- training jobs
TRAIN = {"epochs": 2, "batch_size": 16, "lr": 0.05, "optimizer": "sgd", "weight_decay": 0.0}
TINY_RESNET = {"arch": "resnet", "depth": 8, "width": 4,
               "train": {**TRAIN, "augment": {"crop": 4, "flip": True}}}  # fmt: skip


@pytest.fixture(scope="module")
def cifar_npz(tmp_path_factory):
    root = tmp_path_factory.mktemp("standin")
    write_standin_data(root)
    path = root / "cifar10.npz"
    load_dataset({"name": "cifar10", "verify": False, "subset": {"train": 64}}, root).save(path)
    return path


def test_packed_resnet_teachers_with_augmentation_equal_teachers_alone(cifar_npz, tmp_path):
    """Each member of a pack crops and flips with its own seed's draws: a packed ResNet
    (BatchNorm: members run one by one) ends bit for bit where it ends alone, and members
    differ."""
    from ensemble_distill.io import load_checkpoint
    from ensemble_distill.models import load_model
    from ensemble_distill.teacher import train_teachers

    pack = train_teachers(cifar_npz, TINY_RESNET, [1, 2], out=tmp_path / "p", resume=tmp_path / "r")
    (alone,) = train_teachers(
        cifar_npz, TINY_RESNET, [2], out=tmp_path / "a", resume=tmp_path / "q"
    )
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        out = [load_model(load_checkpoint(p))(x) for p in (*pack, alone)]
    assert torch.equal(out[1], out[2])
    assert (out[0] - out[1]).abs().max() > 1e-3


def test_augmentation_changes_training_and_is_seeded(cifar_npz, tmp_path):
    from ensemble_distill.io import load_checkpoint
    from ensemble_distill.teacher import train_teachers

    plain = {**TINY_RESNET, "train": {**TINY_RESNET["train"], "augment": None}}
    runs = [train_teachers(cifar_npz, cfg, [0], out=tmp_path / name, resume=tmp_path / f"{name}.r")
            for name, cfg in (("a", TINY_RESNET), ("b", TINY_RESNET), ("c", plain))]  # fmt: skip
    states = [load_checkpoint(p)["state_dicts"][0] for (p,) in runs]
    key = "0.1.0.weight"  # the stem's convolution
    assert torch.equal(states[0][key], states[1][key])
    assert not torch.equal(states[0][key], states[2][key])


def test_gpu_options_run_on_cpu(cifar_npz, tmp_path, monkeypatch):
    """bf16 autocast and channels-last train (finite losses); compile reaches every network a
    step calls (torch.compile itself is not run here: it needs a C++ toolchain)."""
    from ensemble_distill import train as train_module
    from ensemble_distill.models import Hydra, Members
    from ensemble_distill.teacher import train_teachers

    cfg = {**TINY_RESNET, "train": {**TINY_RESNET["train"], "amp": "bf16", "channels_last": True}}
    (path,) = train_teachers(cifar_npz, cfg, [0], out=tmp_path / "t", resume=tmp_path / "r")
    from ensemble_distill.io import load_checkpoint

    history = load_checkpoint(path)["history"][0]
    assert all(np.isfinite(h["train_loss"]) for h in history)
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self: compiled.append(self))
    spec = resnet(depth=8, width=4)
    pack = build_model(spec)
    pack.append(build_model(spec)[0])
    train_module.compile_networks(pack)
    assert compiled == list(pack)
    compiled.clear()
    hydra = build_model(hydra_spec(spec, {"type": "copy", "layers": 1}, 1))
    hydra.grow(2)
    train_module.compile_networks(hydra)
    assert compiled == [hydra.body, *hydra.heads]
    compiled.clear()
    be = build_model({**spec, "batchensemble": {"members": 2, "init": {"type": "normal"}}})
    train_module.compile_networks(be)
    assert compiled == [be.net]
    assert isinstance(pack, Members) and isinstance(hydra, Hydra)


def test_uint8_images_are_perturbed_in_unit_range():
    """η = 1/255 is one grey level: a Gaussian step on uint8 input is computed in [0, 1]."""
    from ensemble_distill.perturb import perturbation

    teachers = build_model(resnet(depth=8, width=4)).eval()
    perturb = perturbation({"kind": "gaussian", "step": 1 / 255}, teachers, 1.0, (0.0, 1.0))
    x = torch.full((4, 3, 32, 32), 128, dtype=torch.uint8)
    noisy = perturb(x, torch.Generator().manual_seed(0))
    assert noisy.dtype == torch.float32
    assert abs((noisy - 128 / 255).std().item() * 255 - 1.0) < 0.05
    ods = perturbation({"kind": "ods", "step": 1 / 255}, teachers, 1.0, (0.0, 1.0))
    moved = ods(x, torch.Generator().manual_seed(0)) - 128 / 255
    # ODS: L2 norm √D · η per example (no clipping at mid-grey).
    norms = moved.flatten(1).norm(dim=1) * 255
    torch.testing.assert_close(norms, torch.full((4,), 3072**0.5), rtol=1e-3, atol=1e-3)


CIFAR_CASES = {  # edit of a valid tiny CIFAR experiment -> the error line it must give
    "corruptions of digits": (
        lambda e: e.update(dataset={"name": "digits"}, teacher={"arch": "mlp"}),
        "c_gaussian_noise.kind': 'corrupt' needs a CIFAR dataset",
    ),
    "ResNet on digits": (
        lambda e: (
            e.update(dataset={"name": "digits"}),
            e["eval_sets"].pop("c_gaussian_noise"),
            e["eval_sets"].pop("c_shot_noise"),
            e["eval_sets"].pop("svhn"),
        ),
        "teacher.arch': 'resnet' needs RGB images",
    ),
    "ResNet without depth": (
        lambda e: e["teacher"].pop("depth"),
        "'depth' is a required property",
    ),
    "bad ResNet depth": (
        lambda e: e["teacher"].update(depth=21),
        "resnet depth must be 6n + 2",
    ),
    "Hydra head of all blocks": (
        lambda e: e["students"]["hydra3"].update(head={"type": "copy", "layers": 3}),
        "the teacher has 3 residual blocks, so at most 2 can be copied",
    ),
    "MLP head on a ResNet": (
        lambda e: e["students"]["hydra3"].update(head={"type": "mlp", "hidden": [8]}),
        "a ResNet Hydra's heads copy the teacher's last residual blocks",
    ),
    "narrower MLP student": (
        lambda e: (
            e.update(dataset={"name": "digits"}, teacher={"arch": "mlp"}),
            [
                e["eval_sets"].pop(k)
                for k in ("c_gaussian_noise", "c_shot_noise", "svhn", "translate")
            ],
            e["students"].update(kd={"method": "kd", "network": {"width": 2}}),
        ),
        "students.kd.network': changes a ResNet's depth or width",
    ),
    "SVHN on MNIST-shaped data": (
        lambda e: e["eval_sets"]["svhn"].update(source="fashion_mnist"),
        "'fashion_mnist' images are 1x28x28",
    ),
    "official corruption file asked for, absent": (
        lambda e: e["eval_sets"]["c_shot_noise"].update(corruption="snow", source="official"),
        "CIFAR-10-C/snow.npy, not found under data_root",
    ),
    "stand-in files verified": (
        lambda e: e["dataset"].update(verify=True),
        "hydra_cifar10.dataset.verify': ",  # the file, its md5 and the official one follow
    ),
    "stand-in SVHN verified": (
        lambda e: e["eval_sets"]["svhn"].update(verify=True),
        "eval_sets.svhn.verify': ",
    ),
}


@pytest.mark.parametrize("case", sorted(CIFAR_CASES))
def test_bad_cifar_configs_name_the_key(case, standin_root):
    from ensemble_distill.config import ConfigError, validate_config

    config = shrunk_config(REPO / "configs/hydra-cifar10.yaml", standin_root, ["kd", "hydra3"])
    edit, message = CIFAR_CASES[case]
    edit(config["experiments"]["hydra_cifar10"])
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        validate_config(config)
    if "verify" in message:  # names the file, what it is and what it should be
        named = r"verify': .*(data_batch_1|test_32x32\.mat) has md5 [0-9a-f]{32}, the official"
        assert re.search(named, str(error.value)), str(error.value)
    validate_config(
        shrunk_config(REPO / "configs/hydra-cifar10.yaml", standin_root, ["kd", "hydra3"])
    )


# ------------------------------------------------- the four types added last, by hand
def test_motion_kernel_is_imagemagicks():
    """Taps i = 0..2·ceil(radius), weights exp(−i²/2σ²) normalised, offsets
    ceil(i·cos a − ½) columns and ceil(i·sin a − ½) rows."""
    weights, columns, rows = corruptions.motion_kernel(6, 1, 0)
    expected = np.exp(-(np.arange(13) ** 2) / 2)
    np.testing.assert_allclose(weights, expected / expected.sum(), rtol=1e-12)
    assert columns.tolist() == list(range(13)) and rows.tolist() == [0] * 13
    _, columns, rows = corruptions.motion_kernel(2.5, 1, 90)
    assert len(rows) == 7 and columns.tolist() == [0] * 7 and rows.tolist() == list(range(7))
    _, columns, rows = corruptions.motion_kernel(1, 1, 45)  # i·0.7071 − ½ rounded up
    assert columns.tolist() == [0, 1, 1] and rows.tolist() == [0, 1, 1]


def test_motion_blur_of_a_point_and_of_a_constant_image():
    x = np.zeros((1, 32, 32, 3))
    x[0, 5, 20] = 1.0
    out = corruptions.magick_motion_blur(x, 6, 2, [0.0])
    weights = np.exp(-(np.arange(13) ** 2) / 8) / np.exp(-(np.arange(13) ** 2) / 8).sum()
    # out(r, c) = Σ_i w_i x(r, c + i): the point spreads to the columns left of it
    for i in range(13):
        assert out[0, 5, 20 - i, 0] == np.rint(weights[i] * 255) / 255
    assert out[0, 5, 21:].sum() == 0 and out[0, 4].sum() == 0
    edge = np.zeros((1, 32, 32, 3))
    edge[0, :, 31] = 1.0  # the last column: repeated past the edge
    assert np.all(corruptions.magick_motion_blur(edge, 6, 2, [0.0])[0, :, 31] == 1.0)
    grey = np.full((3, 32, 32, 3), 128 / 255)
    blurred = corruptions.magick_motion_blur(grey, 9, 2.5, [-40.0, 3.0, 44.0])
    np.testing.assert_allclose(blurred, 128 / 255, atol=1e-12)


def test_snow_brightens_then_adds_flakes(grey):
    """Where no flake falls the output is mix·x + (1 − mix)·max(x, 1.5·grey(x) + 0.5):
    on mid-grey at severity 1 (mix 0.95), 0.95·128/255 + 0.05·max(128/255, 1.253)."""
    base = 0.95 * 128 / 255 + 0.05 * (1.5 * 128 / 255 + 0.5)
    out = corruptions.corrupt(np.repeat(grey, 5, axis=0), "snow", 1)
    assert out.min() == int(base * 255 + 1e-6)
    assert (out > out.min()).mean() > 0.01  # flakes


def test_frost_is_a_blend_with_a_crop_of_a_frost_texture():
    """On a black image at severity 1 (c = (1, 0.2)) every output is 0.2 × a 32x32 crop of
    one of the five textures (found by search, to 8-bit truncation)."""
    from numpy.lib.stride_tricks import sliding_window_view

    out = corruptions.corrupt(np.zeros((3, 3, 32, 32), np.uint8), "frost", 1)
    out = out.transpose(0, 2, 3, 1).astype(float)
    textures = corruptions.frost_textures()
    assert [t.shape for t in textures] == [(120, 180, 3), (63, 112, 3), (63, 112, 3),
                                           (70, 105, 3), (99, 132, 3)]  # fmt: skip
    for image in out:
        best = min(
            np.abs(np.floor(0.2 * windows * 255 + 1e-6) - image[..., None, None, :, :, :])
            .max(axis=(-3, -2, -1)).min()
            for texture in textures
            for windows in [sliding_window_view(texture, (32, 32, 3))[..., 0, :, :, :]]
        )  # fmt: skip
        assert best == 0


def test_spatter_water_and_mud_colours():
    """Water (severity 1) on black: out = m·(175, 238, 238)/255 with max m = 0.5; mud
    (severity 5) on white: out = 1 − m + m·(63, 42, 20)/255 with m = 0 or m ≥ 0.8."""
    black = np.zeros((4, 3, 32, 32), np.uint8)
    water = corruptions.corrupt(black, "spatter", 1).astype(float)
    assert (water.max(axis=(1, 2, 3)) > 0).sum() >= 2  # most liquid layers have edges
    for image in water:
        if image.max() == 0:
            continue  # no edge in this liquid layer
        assert image[0].max() == int(0.5 * 175)
        wet = image[0] > 20
        np.testing.assert_allclose(image[1][wet] / image[0][wet], 238 / 175, atol=0.06)
        np.testing.assert_array_equal(image[1], image[2])
    white = np.full((4, 3, 32, 32), 255, np.uint8)
    mud = corruptions.corrupt(white, "spatter", 5).astype(float) / 255
    changed = mud[:, 0] < 1 - 1e-9
    assert changed.any() and not changed.all()
    m = (1 - mud[:, 0][changed]) / (1 - 63 / 255)
    assert m.min() >= 0.8 - 0.01 and m.max() <= 1 + 0.01
    np.testing.assert_allclose((1 - mud[:, 1][changed]) / (1 - 42 / 255), m, atol=0.01)
