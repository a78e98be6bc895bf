import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ensemble_distill import train as train_module
from ensemble_distill.losses import nll_loss
from ensemble_distill.models import build_model


def make_data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long()


def fit(resume, epochs=6, fingerprint="job", log=lambda msg: None):
    torch.manual_seed(0)
    model = build_model({"arch": "mlp", "sizes": [4, 16, 2]})
    history = train_module.fit(
        model,
        lambda m, x, y: nll_loss(m(x), y),
        make_data(),
        make_data(32, seed=1),
        epochs=epochs,
        batch_size=16,
        lr=1e-2,
        weight_decay=0.0,
        seed=3,
        resume=resume,
        fingerprint=fingerprint,
        log=log,
    )
    return model, history


class Killed(Exception):
    pass


def test_killed_and_resumed_run_ends_with_the_same_weights(tmp_path, monkeypatch):
    reference, ref_history = fit(tmp_path / "uninterrupted.pt")

    # Kill the run right after the checkpoint of epoch 3 is written.
    save = train_module.save_checkpoint

    def save_then_die(path, **payload):
        save(path, **payload)
        if payload["epoch"] == 3:
            raise Killed

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        fit(tmp_path / "resumed.pt")
    monkeypatch.setattr(train_module, "save_checkpoint", save)

    messages = []
    resumed, history = fit(tmp_path / "resumed.pt", log=messages.append)
    assert any("resumed" in m and "after epoch 3/6" in m for m in messages)
    assert sum("epoch" in m and "train_loss" in m for m in messages) == 3  # epochs 4-6 only
    assert history == ref_history
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_resume_state_of_other_settings_is_ignored(tmp_path):
    fit(tmp_path / "state.pt", epochs=2, fingerprint="old")
    messages = []
    _, history = fit(tmp_path / "state.pt", epochs=2, fingerprint="new", log=messages.append)
    assert any("ignoring" in m for m in messages)
    assert [h["epoch"] for h in history] == [1, 2]


def test_fit_keeps_the_best_validation_state(tmp_path):
    model, history = fit(tmp_path / "state.pt")
    best = min(h["val_loss"] for h in history)
    x, y = make_data(32, seed=1)
    with torch.no_grad():
        assert nll_loss(model.eval()(x), y).item() == pytest.approx(best, rel=1e-5)


def test_divergence_stops_with_a_clear_error_and_keeps_the_resume_state(tmp_path):
    torch.manual_seed(0)
    model = build_model({"arch": "mlp", "sizes": [4, 16, 2]})
    calls = []

    def loss_fn(m, x, y):
        calls.append(1)
        loss = nll_loss(m(x), y)
        return loss * float("nan") if len(calls) > 12 else loss  # diverges in epoch 3

    with pytest.raises(FloatingPointError, match="diverged: loss is nan in epoch 3.*train.lr"):
        train_module.fit(
            model,
            loss_fn,
            make_data(),
            None,
            epochs=6,
            batch_size=16,
            lr=1e-2,
            weight_decay=0.0,
            seed=3,
            resume=tmp_path / "state.pt",
            fingerprint="job",
            log=lambda msg: None,
        )
    assert train_module.load_checkpoint(tmp_path / "state.pt")["epoch"] == 2


@pytest.mark.parametrize("keep", ["best", "last"])
def test_best_validation_epoch_is_kept_when_it_is_not_the_last(tmp_path, keep):
    """Scripted validation losses 3, 1, 2, 4: the weights of epoch 2 must come back, and
    neither the last nor the first epoch's; with ``keep: last`` those of epoch 4."""
    scripted = iter([3.0, 1.0, 2.0, 4.0])
    snapshots = []

    def val_loss(model, x, y):  # called once per epoch (the validation set is one batch)
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return torch.tensor(next(scripted))

    torch.manual_seed(0)
    model = build_model({"arch": "mlp", "sizes": [4, 16, 2]})
    history = train_module.fit(
        model, lambda m, x, y: nll_loss(m(x), y), make_data(), make_data(32, seed=1),
        epochs=4, batch_size=16, lr=1e-2, weight_decay=0.0, seed=3,
        resume=tmp_path / "state.pt", fingerprint="job", log=lambda msg: None,
        val_loss_fn=val_loss, keep=keep,
    )  # fmt: skip
    assert [h["val_loss"] for h in history] == [3.0, 1.0, 2.0, 4.0]
    state = model.state_dict()
    kept, other = (1, 3) if keep == "best" else (3, 1)
    for name, value in state.items():
        torch.testing.assert_close(value, snapshots[kept][name], rtol=0, atol=0)
    assert not torch.equal(state["0.1.weight"], snapshots[other]["0.1.weight"])
    if keep == "last":
        return
    saved = train_module.load_checkpoint(tmp_path / "state.pt")
    assert saved["best_loss"] == [1.0]  # one per replica: a single model is one
    torch.testing.assert_close(saved["best_model"][0]["0.1.weight"], snapshots[1]["0.1.weight"])


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_optimizer_steps_equal_torch_optim(kind, tmp_path):
    """optim.Optimizer runs torch's fused functional updates; with two groups (other lr and
    weight decay), a parameter without gradient and a resumed state it must match
    torch.optim's fused optimisers bit for bit."""
    from ensemble_distill.optim import Optimizer

    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    theirs.load_state_dict(ours.state_dict())

    def groups(model):
        return [{"params": [model.weight], "lr": 0.1, "weight_decay": 0.01},
                {"params": [model.bias], "lr": 0.03, "weight_decay": 0.0}]  # fmt: skip

    mine = Optimizer(groups(ours), kind, momentum=0.8)
    reference = (torch.optim.Adam(groups(theirs), fused=True) if kind == "adam"
                 else torch.optim.SGD(groups(theirs), momentum=0.8, fused=True))  # fmt: skip
    for step in range(6):
        if step == 3:  # resume from a saved state
            train_module.save_checkpoint(tmp_path / "opt.pt", **mine.state_dict())
            mine = Optimizer(groups(ours), kind, momentum=0.8)
            mine.load_state_dict(train_module.load_checkpoint(tmp_path / "opt.pt"))
        x = torch.randn(8, 4)
        for model, opt in ((ours, mine), (theirs, reference)):
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            if step == 1:
                model.bias.grad = None  # skipped this step, as torch skips it
            opt.step()
        torch.testing.assert_close(ours.weight, theirs.weight, rtol=0, atol=0)
        torch.testing.assert_close(ours.bias, theirs.bias, rtol=0, atol=0)
    assert not torch.equal(ours.weight, torch.nn.Linear(4, 3).weight)


def test_training_does_not_import_torch_dynamo():
    """torch.optim's optimisers import torch._dynamo (1.3 s per job); ours must not."""
    code = (
        "import sys, torch\n"
        "from ensemble_distill.train import fit\n"
        "from ensemble_distill.models import build_model\n"
        "from ensemble_distill.losses import nll_loss\n"
        "m = build_model({'arch': 'mlp', 'sizes': [2, 4, 2]})\n"
        "x, y = torch.randn(16, 2), torch.randint(0, 2, (16,))\n"
        "import tempfile; d = tempfile.mkdtemp()\n"
        "fit(m, lambda m, x, y: nll_loss(m(x), y), (x, y), (x, y), epochs=2, batch_size=8,\n"
        "    lr=0.1, weight_decay=0.0, seed=0, resume=d + '/r.pt', fingerprint='f',\n"
        "    log=lambda *a: None)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent / "workflow")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_an_epoch_reads_the_device_a_constant_number_of_times(tmp_path, monkeypatch):
    """No per-step host synchronisation: over an epoch of 16 batches the loop converts a
    tensor to a Python value (bool, item, tolist) a fixed number of times, not per batch."""
    reads = []
    for name in ("__bool__", "item", "tolist"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    torch.manual_seed(0)
    model = build_model({"arch": "mlp", "sizes": [4, 16, 2]})
    opt = train_module.make_optimizer(model.named_parameters(), optimizer="sgd", lr=1e-2,
                                      weight_decay=0.0)  # fmt: skip
    x, y = make_data(256)
    _, n = train_module.train_epoch(
        model, lambda m, a, b: nll_loss(m(a), b), opt, (x, y), 0,
        seeds=[0], pack=False, batch_size=16, augment=None, prepare_batch=None,
        autocast=contextlib.nullcontext,
    )  # fmt: skip
    assert n == 256 and len(reads) <= 3, reads
