"""K networks of one shape as one batched computation (models.Members), and teacher packs:
members trained together end where each would end trained alone, write their own files,
and a killed pack resumes to the same weights."""

import json

import numpy as np
import pytest
import torch
from conftest import two_split_regression
from ensemble_distill import teacher as teacher_module
from ensemble_distill import train as train_module
from ensemble_distill.datasets import load_dataset, regression_dataset
from ensemble_distill.io import load_checkpoint
from ensemble_distill.models import Members, build_model, load_model
from ensemble_distill.optim import Optimizer
from ensemble_distill.teacher import train_teachers
from torch import nn

TEACHER = {"arch": "mlp", "hidden": [16],
           "train": {"epochs": 4, "batch_size": 32, "lr": 0.01, "weight_decay": 0.0}}  # fmt: skip
SPIRAL = {"name": "spiral", "arms": 3, "train_per_arm": 40, "noise": 0.08, "seed": 0}


class Killed(Exception):
    pass


def networks(k, arch="mlp"):
    torch.manual_seed(0)
    if arch == "cnn":
        spec = {"arch": "cnn", "input_shape": [1, 8, 8], "channels": [3], "sizes": [48, 5, 4]}
    else:
        spec = {"arch": "mlp", "sizes": [6, 7, 4]}
    return [build_model(spec)[0] for _ in range(k)]


@pytest.fixture(params=["batched", "loop"])
def policy(request, monkeypatch):
    """Run members batched (stacked weights; vmap for CNNs) or one by one, whatever the
    size rule (CPU_BATCH_MAX_MACS) would choose: both ways must give the same numbers."""
    monkeypatch.setattr(Members, "_batch", lambda self, x: request.param == "batched")
    return request.param


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_batched_members_equal_the_networks_one_by_one(arch, policy):
    nets = networks(3, arch)
    members = Members(nets)
    x = torch.randn(5, 1, 8, 8) if arch == "cnn" else torch.randn(5, 6)
    loop = torch.stack([net(x) for net in nets], dim=1)  # (B, K, C), member k in column k
    torch.testing.assert_close(members(x), loop, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(loop[:, 0], loop[:, 1])  # distinct members: an order bug shows
    xs = torch.randn(3, *x.shape)  # member k sees xs[k]
    each = torch.stack([net(xk) for net, xk in zip(nets, xs, strict=True)])
    torch.testing.assert_close(members.forward_each(xs), each, rtol=1e-6, atol=1e-6)


def test_batched_members_pass_each_its_own_gradient(policy):
    nets = networks(3)
    x = torch.randn(5, 6)
    weights = torch.arange(1.0, 4.0)  # a loss that weighs member k by k + 1
    (Members(nets)(x).sum(dim=(0, 2)) * weights).sum().backward()
    batched = [net[1].weight.grad.clone() for net in nets]
    for net in nets:
        net.zero_grad()
    sum(w * net(x).sum() for w, net in zip(weights, nets, strict=True)).backward()
    for got, net in zip(batched, nets, strict=True):
        torch.testing.assert_close(got, net[1].weight.grad, rtol=1e-6, atol=1e-6)


def test_frozen_members_see_new_weights(policy):
    """The stacked weights of frozen members are cached; an in-place change refreshes them."""
    members = Members(networks(2)).requires_grad_(False)
    x = torch.randn(4, 6)
    before = members(x)
    with torch.no_grad():
        members[1][1].weight.mul_(2.0)
    after = members(x)
    torch.testing.assert_close(after[:, 0], before[:, 0])
    assert not torch.allclose(after[:, 1], before[:, 1])


def test_a_pack_of_hydras_sees_the_heads_grown_after_its_first_call(policy):
    """Members remember where their members' parameters live; heads grown inside packed
    Hydras (phase 2 of a UCI pack) must join the batched call, not be left out of it."""
    from ensemble_distill.models.hydra import Hydra

    torch.manual_seed(0)
    hydras = [Hydra(nn.Sequential(nn.Linear(6, 5), nn.ReLU()), nn.Sequential(nn.Linear(5, 4)))
              for _ in range(2)]  # fmt: skip
    pack = Members(hydras)
    x = torch.randn(3, 6)
    assert pack(x).shape == (3, 2, 1, 4)
    for k, hydra in enumerate(hydras):
        hydra.grow(3)
        with torch.no_grad():
            for i, head in enumerate(hydra.heads):
                head[0].bias.add_(10.0 * (1 + i + 3 * k))  # every head of every Hydra differs
    loop = torch.stack([hydra(x) for hydra in hydras], dim=1)  # (B, 2, 3, 4)
    torch.testing.assert_close(pack(x), loop, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_members_see_the_optimizers_steps(policy, kind):
    """Validation inside fit runs under no_grad, where the stacked weights are cached by the
    tensors' version counters; the optimiser's fused in-place updates must refresh them
    (they did not bump the counters: every epoch was validated on the first weights)."""
    members = Members(networks(2))
    opt = Optimizer([{"params": list(members.parameters()), "lr": 0.1, "weight_decay": 0.0}],
                    kind)  # fmt: skip
    x = torch.randn(4, 6)
    with torch.no_grad():
        before = members(x)
    members(x).square().sum().backward()
    opt.step()
    with torch.no_grad():
        after = members(x)
        fresh = torch.stack([net(x) for net in members], dim=1)  # no stack, no cache
    torch.testing.assert_close(after, fresh, rtol=1e-6, atol=1e-6)
    assert (after - before).abs().max() > 1e-3


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("data")
    load_dataset(SPIRAL).save(tmp / "classification.npz")
    two_split_regression(70, 50).save(tmp / "regression.npz")
    return tmp


def outputs(path, x, split=0):
    with torch.no_grad():
        return load_model(load_checkpoint(path), split)(x)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_packed_members_equal_members_trained_alone(task, datasets, tmp_path, policy):
    """Each member of a pack has the initialisation, batch order and optimiser steps it has
    alone; only the batched matrix products may sum in another order. Float32 rounding of
    ~1e-7 grows over 4 epochs of Adam to well below 1e-4 in the outputs, while members
    that shared an initialisation or a batch order would differ by ~1e-1."""
    data = datasets / f"{task}.npz"
    pack = train_teachers(data, TEACHER, [3, 5, 8], out=tmp_path / "pack", resume=tmp_path / "r")
    x = torch.linspace(-3, 3, 50)[:, None] if task == "regression" else torch.randn(50, 2)
    splits = range(2 if task == "regression" else 1)
    for seed, packed in zip([3, 5, 8], pack, strict=True):
        (alone,) = train_teachers(data, TEACHER, [seed], out=tmp_path / f"alone{seed}",
                                  resume=tmp_path / f"r{seed}")  # fmt: skip
        assert load_checkpoint(packed)["seed"] == seed
        for s in splits:
            torch.testing.assert_close(outputs(packed, x, s), outputs(alone, x, s),
                                       rtol=0, atol=1e-4)  # fmt: skip
    for s in splits:  # members (and splits) differ from each other
        assert (outputs(pack[0], x, s) - outputs(pack[1], x, s)).abs().max() > 1e-2
    if task == "regression":
        assert (outputs(pack[0], x, 0) - outputs(pack[0], x, 1)).abs().max() > 1e-2


def test_killed_pack_resumes_to_identical_weights(datasets, tmp_path, monkeypatch, policy):
    data = datasets / "regression.npz"  # two splits: the pack holds 2 members x 2 splits
    reference = train_teachers(data, TEACHER, [0, 1], out=tmp_path / "ref", resume=tmp_path / "a")
    save = train_module.save_checkpoint

    def save_then_die(path, **payload):
        save(path, **payload)
        if payload["epoch"] == 2:
            raise Killed

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        train_teachers(data, TEACHER, [0, 1], out=tmp_path / "run", resume=tmp_path / "b")
    assert not (tmp_path / "run").exists() and (tmp_path / "b").exists()
    monkeypatch.setattr(train_module, "save_checkpoint", save)
    resumed = train_teachers(data, TEACHER, [0, 1], out=tmp_path / "run", resume=tmp_path / "b")
    assert not (tmp_path / "b").exists()
    for ref, res in zip(reference, resumed, strict=True):
        a, b = load_checkpoint(ref), load_checkpoint(res)
        assert a["history"] == b["history"] and len(b["history"][1]) == 4
        for split_a, split_b in zip(a["state_dicts"], b["state_dicts"], strict=True):
            for name, value in split_a.items():
                torch.testing.assert_close(split_b[name], value, rtol=0, atol=0)


def test_a_batched_pack_optimises_one_stacked_tensor_per_parameter(
    datasets, tmp_path, monkeypatch, policy
):
    """2 members x 2 splits of a [1, 16, 2] MLP: 4 networks of 4 parameter tensors. Batched,
    the optimiser holds 4 stacked (4, ...) tensors, not 16 (backward and each step then
    handle 4); run one by one, the 16 members' own."""
    saved = {}
    monkeypatch.setattr(train_module, "save_checkpoint", lambda path, **p: saved.update(p))
    train_teachers(datasets / "regression.npz", TEACHER, [0, 1], out=tmp_path / "t",
                   resume=tmp_path / "r")  # fmt: skip
    steps = saved["optimizer"]["state"]
    if policy == "batched":
        assert saved["stacked"] and [s["exp_avg"].shape[0] for s in steps] == [4] * 4
    else:
        assert not saved["stacked"] and len(steps) == 16


def test_pack_job_writes_each_member_its_own_files(datasets, tmp_path):
    out = tmp_path / "seeds4-6"
    teacher_module.main(["--data", str(datasets / "classification.npz"), "--teacher",
                         json.dumps(TEACHER), "--seeds", "4", "6", "--resume",
                         str(tmp_path / "r.pt"), "--out", str(out)])  # fmt: skip
    for folder, seed in ((out / "seed4", 4), (out / "seed6", 6)):
        record = json.loads((folder / "model.provenance.json").read_text())
        assert record["seeds"] == {"member": seed, "pack": [4, 6]}
        assert list(record["outputs"]) == [str(folder / "model.pt")]
        lines = (folder / "train.log").read_text().splitlines()
        assert len(lines) == 4 and lines[0].startswith("epoch    1/4")
        history = load_checkpoint(folder / "model.pt")["history"][0]
        assert [f"{h['train_loss']:.4f}" for h in history] == [line.split()[3] for line in lines]
    assert (out / "seed4/train.log").read_text() != (out / "seed6/train.log").read_text()


def test_members_of_different_shapes_are_refused():
    from ensemble_distill.models import load_members

    def checkpoint(sizes):
        net = build_model({"arch": "mlp", "sizes": sizes})
        return {"spec": {"arch": "mlp", "sizes": sizes}, "state_dicts": [net.state_dict()]}

    with pytest.raises(ValueError, match="different architectures"):
        load_members([checkpoint([2, 4, 3]), checkpoint([2, 5, 3])])
    assert isinstance(load_members([checkpoint([2, 4, 3])] * 2), Members)


def test_members_are_batched_on_cpu_only_while_small():
    small, large = Members(networks(2)), Members(networks(2, "cnn"))
    assert small._batch(torch.zeros(1)) and not large._batch(torch.zeros(1))  # CNN: loop
    big = Members([build_model({"arch": "mlp", "sizes": [784, 200, 10]})[0] for _ in range(2)])
    assert not big._batch(torch.zeros(1)) and not Members(networks(1))._batch(torch.zeros(1))


def test_students_of_all_splits_trained_as_a_pack_equal_students_trained_per_split(
    tmp_path, policy
):
    """A regression job distills every split's student at once (one pack); each must end
    where it ends when its split is distilled alone (tolerance as for teacher packs)."""
    from ensemble_distill.distill import distill
    from ensemble_distill.io import save_checkpoint

    rng = np.random.default_rng(1)
    splits = []
    for _ in range(2):
        x = rng.uniform(-3, 3, size=(60, 1))
        splits.append((x[:40], (x * np.sin(x))[:40, 0], x[40:], (x * np.sin(x))[40:, 0]))
    regression_dataset("toy_regression", splits).save(tmp_path / "both.npz")
    teachers = train_teachers(tmp_path / "both.npz", TEACHER, [0, 1], out=tmp_path / "t",
                              resume=tmp_path / "r")  # fmt: skip
    student = {"method": "hydra", "head": {"type": "mlp", "hidden": [8]}, "hinton_epochs": 2,
               "train": {**TEACHER["train"], "epochs": 3}}  # fmt: skip
    distill(tmp_path / "both.npz", student, teachers, 0, out=tmp_path / "pack.pt",
            resume_dir=tmp_path / "pr")  # fmt: skip
    packed = load_checkpoint(tmp_path / "pack.pt")
    x = torch.linspace(-3, 3, 40)[:, None]
    for s in range(2):  # split s on its own: its data and its teachers' split-s weights
        regression_dataset("toy_regression", [splits[s]]).save(tmp_path / f"only{s}.npz")
        alone = []
        for i, path in enumerate(teachers):
            checkpoint = load_checkpoint(path)
            checkpoint["state_dicts"] = [checkpoint["state_dicts"][s]]
            save_checkpoint(tmp_path / f"only{s}-t{i}.pt", **checkpoint)
            alone.append(tmp_path / f"only{s}-t{i}.pt")
        distill(tmp_path / f"only{s}.npz", student, alone, 0, out=tmp_path / f"alone{s}.pt",
                resume_dir=tmp_path / f"ar{s}")  # fmt: skip
        single = load_checkpoint(tmp_path / f"alone{s}.pt")
        losses = [
            [h["train_loss"] for h in run["history"][i]] for run, i in ((packed, s), (single, 0))
        ]
        assert losses[0] == pytest.approx(losses[1], rel=1e-4) and len(losses[0]) == 5
        with torch.no_grad():
            torch.testing.assert_close(load_model(packed, s)(x), load_model(single)(x),
                                       rtol=0, atol=1e-4)  # fmt: skip
    with torch.no_grad():
        assert (load_model(packed, 0)(x) - load_model(packed, 1)(x)).abs().max() > 1e-2
