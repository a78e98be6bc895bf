"""The GPU code path (bf16 autocast, channels_last, torch.compile) run on CPU: a ResNet
teacher epoch, a BatchEnsemble-ResNet distillation epoch with ODS and their predictions are
finite and close to the float32 eager run, and the ODS direction computed under autocast
keeps its √D norm. CI has no GPU; this is the part of the GPU path it can run.

Tolerances: bf16 keeps 8 bits of mantissa (relative rounding 2⁻⁹ ≈ 0.002 per operation),
mostly averaged out in the loss of an epoch. Measured on this tiny ResNet: the epoch's mean
training loss differs by 1e-4 relative and the float32 predictions of the two trained
networks by 0.003 in log-probability; the tests allow 0.5 % and 0.03, about ten times
that."""

import math
from functools import partial

import pytest
import torch
from ensemble_distill.catalog import input_stats
from ensemble_distill.distill import distill_split
from ensemble_distill.models import Members, build_model, teacher_spec
from ensemble_distill.perturb import ods_direction
from ensemble_distill.predict import predict_outputs
from ensemble_distill.train import fit

pytestmark = pytest.mark.slow
SPEC = teacher_spec({"arch": "resnet", "depth": 8, "width": 4}, (3, 8, 8), 10,
                    input_stats("cifar10"))  # fmt: skip
TRAIN = {"epochs": 1, "batch_size": 16, "lr": 0.01, "weight_decay": 0.0, "optimizer": "sgd",
         "augment": {"crop": 1, "flip": True}}  # fmt: skip
GPU_PATH = {"amp": "bf16", "channels_last": True, "compile": True}
EAGER = {"amp": "none", "channels_last": False, "compile": False}


def data(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8)
    return x, torch.randint(0, 10, (n,), generator=g)


def train_teacher(tmp_path, settings):
    torch.manual_seed(0)
    model = build_model(SPEC)
    lines = []
    history = fit(model, lambda m, xb, yb: torch.nn.functional.cross_entropy(m(xb)[:, 0], yb),
                  data(), None, seed=0, resume=tmp_path / f"{settings['amp']}.pt",
                  fingerprint="t", log=lines.append, **TRAIN, **settings)  # fmt: skip
    return model, history


def test_teacher_epoch_and_prediction(tmp_path):
    eager, eager_history = train_teacher(tmp_path, EAGER)
    gpu, gpu_history = train_teacher(tmp_path, GPU_PATH)
    loss, reference = gpu_history[-1]["train_loss"], eager_history[-1]["train_loss"]
    assert math.isfinite(loss) and abs(loss - reference) < 0.005 * reference
    x, _ = data()
    out = predict_outputs(gpu.eval(), x, "categorical", torch.device("cpu"))
    ref = predict_outputs(eager.eval(), x, "categorical", torch.device("cpu"))
    assert torch.isfinite(torch.as_tensor(out)).all()
    assert (torch.as_tensor(out) - torch.as_tensor(ref)).abs().max() < 0.03


def distill_epoch(tmp_path, settings, teachers):
    student = {"method": "batchensemble", "temperature": 4.0, "alpha": 0.9,
               "perturbation": {"kind": "ods", "step": 4 / 255},
               "train": {**TRAIN, **settings}}  # fmt: skip
    run = partial(fit, fingerprint="d", log=lambda line: None)
    return distill_split(student, "classification", teachers, SPEC, data(), None, 0, run,
                         tmp_path / settings["amp"], (0.0, 1.0))  # fmt: skip


def test_batchensemble_resnet_distillation_with_ods(tmp_path):
    torch.manual_seed(1)
    teachers = Members([build_model(SPEC)[0] for _ in range(2)]).eval().requires_grad_(False)
    eager, _, _, eager_history = distill_epoch(tmp_path, EAGER, teachers)
    gpu, _, _, gpu_history = distill_epoch(tmp_path, GPU_PATH, teachers)  # one split
    loss, reference = gpu_history[0][-1]["train_loss"], eager_history[0][-1]["train_loss"]
    assert math.isfinite(loss) and abs(loss - reference) < 0.005 * reference
    x, _ = data()
    out = predict_outputs(gpu.eval(), x, "categorical", torch.device("cpu"))
    assert torch.isfinite(torch.as_tensor(out)).all()


def test_ods_direction_under_autocast_keeps_its_norm():
    torch.manual_seed(2)
    teacher = build_model(SPEC).eval().requires_grad_(False)
    x = data(32)[0].float() / 255
    with torch.autocast("cpu", dtype=torch.bfloat16):
        direction, _ = ods_direction(x, lambda z: teacher(z)[:, 0], 4.0,
                                     torch.Generator().manual_seed(0))  # fmt: skip
    norms = direction.float().flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.full_like(norms, math.sqrt(3 * 8 * 8)), rtol=1e-2,
                               atol=0)  # fmt: skip
