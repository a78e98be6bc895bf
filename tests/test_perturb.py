"""Perturbations (Gaussian / ODS / ConfODS) and the per-batch distillation hook."""

import math

import pytest
import torch
import torch.nn.functional as F
from ensemble_distill.distill import batch_preparer
from ensemble_distill.methods import METHODS
from ensemble_distill.models import Members
from ensemble_distill.perturb import confods, gaussian, ods, ods_direction
from torch import nn

D, C, T = 6, 4, 2.0


def teachers(n=3, seed=0):
    torch.manual_seed(seed)
    return Members([nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, C)) for _ in range(n)])


def test_ods_direction_matches_finite_differences_and_has_norm_sqrt_d():
    model = teachers(1)[0].double()
    x = torch.rand(3, D, dtype=torch.float64)
    direction, _ = ods_direction(x, model, T, torch.Generator().manual_seed(5))
    weights = torch.rand((3, C), generator=torch.Generator().manual_seed(5)).double() * 2 - 1

    def objective(inputs):  # Σ_c w_c softmax(f(x)/T)_c per example
        return (weights * F.softmax(model(inputs) / T, dim=-1)).sum(-1)

    h, grad = 1e-6, torch.zeros_like(x)
    for i in range(D):
        step = torch.zeros_like(x)
        step[:, i] = h
        grad[:, i] = (objective(x + step) - objective(x - step)) / (2 * h)
    expected = grad / grad.norm(dim=1, keepdim=True) * math.sqrt(D)
    torch.testing.assert_close(direction, expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(direction.norm(dim=1), torch.full((3,), math.sqrt(D)).double())


def test_ods_moves_by_eta_times_the_direction_of_one_drawn_teacher():
    members = teachers(3)
    x = torch.rand(5, D) * 0.5 + 0.25
    step = 0.01
    moved = ods(x, members, step=step, generator=torch.Generator().manual_seed(1),
                temperature=T)  # fmt: skip
    g = torch.Generator().manual_seed(1)
    t = int(torch.randint(3, (1,), generator=g))
    direction, _ = ods_direction(x, members[t], T, g)
    torch.testing.assert_close(moved, x + step * direction)
    torch.testing.assert_close((moved - x).norm(dim=1), torch.full((5,), step * math.sqrt(D)))


def test_confods_scales_the_ods_step_by_the_teachers_confidence():
    members = teachers(2)
    x = torch.rand(5, D)
    plain = ods(x, members, step=0.01, generator=torch.Generator().manual_seed(3), temperature=T)
    scaled = confods(x, members, step=0.01, generator=torch.Generator().manual_seed(3),
                     temperature=T)  # fmt: skip
    g = torch.Generator().manual_seed(3)
    t = int(torch.randint(2, (1,), generator=g))
    confidence = F.softmax(members[t](x) / T, dim=-1).max(-1).values
    torch.testing.assert_close(scaled - x, (plain - x) * confidence[:, None])
    assert (confidence < 1).all()  # so the test would catch a missing scale


@pytest.mark.parametrize("fn", [gaussian, ods, confods])
def test_perturbed_inputs_stay_in_the_data_range(fn):
    x = torch.rand(64, D)
    out = fn(x, teachers(2), step=0.5, generator=torch.Generator().manual_seed(0),
             bounds=(0.0, 1.0))  # fmt: skip
    assert out.min() >= 0 and out.max() <= 1
    assert (out != x).any()
    assert ((out == 0) | (out == 1)).any()  # the step was large enough to need clipping


def test_gaussian_noise_has_the_step_as_std():
    x = torch.zeros(2000, D)
    out = gaussian(x, None, step=0.1, generator=torch.Generator().manual_seed(0))
    assert out.std().item() == pytest.approx(0.1, rel=0.03)


def test_teachers_see_the_perturbed_input_and_mimo_slots_their_own_examples():
    members = teachers(2)
    x, y = torch.rand(8, D), torch.arange(8) % C
    shift = lambda x, generator: x + 1.0  # noqa: E731
    prepare = batch_preparer(METHODS["batchensemble"], members, shift)
    x_out, y_out, x_kd, z = prepare((x, y, torch.zeros(8, 2, C)), torch.Generator())
    torch.testing.assert_close(x_kd, x + 1)
    torch.testing.assert_close(z, members(x + 1))  # not the cached (clean) targets
    assert x_out is x

    cached = members(x)
    prepare = batch_preparer(METHODS["mimo"], members, None)
    xs, ys, xs_kd, zs = prepare((x, y, cached), torch.Generator().manual_seed(0))
    assert xs.shape == (8, 2, D) and ys.shape == (8, 2) and zs.shape == (8, 2, C)
    torch.testing.assert_close(xs[:, 0], x)  # slot 0 keeps the batch order
    assert not torch.equal(xs[:, 1], x)  # slot 1 gets another order
    for m in range(2):
        order = [int((x == row).all(1).nonzero()) for row in xs[:, m]]
        torch.testing.assert_close(zs[:, m], cached[order, m])  # teacher m on slot m's inputs
        torch.testing.assert_close(ys[:, m], y[order])
    assert xs_kd is xs


def confident_teacher(scale):
    """A linear teacher on 3x4x4 inputs whose logits grow with ``scale``: at 600 its softmax
    saturates in float32 for most examples (logit gaps of hundreds)."""
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 10))
    with torch.no_grad():
        layer[1].weight.mul_(scale)
    return layer


def test_stable_ods_keeps_its_norm_where_the_softmax_saturates():
    """T = 1 on confident inputs: the paper's float32 arithmetic loses the direction of
    most examples (norm well below √D, often 0); the stable one keeps √D for every one."""
    from ensemble_distill.perturb import ods_direction

    x = torch.rand(64, 3, 4, 4)
    teacher = confident_teacher(600.0)
    gaps = teacher(x).topk(2).values
    assert ((gaps[:, 0] - gaps[:, 1]) > 104).float().mean() > 0.5  # e^-104 underflows float32
    root_d = math.sqrt(48)
    paper, _ = ods_direction(x, teacher, 1.0, torch.Generator().manual_seed(1), "paper")
    stable, _ = ods_direction(x, teacher, 1.0, torch.Generator().manual_seed(1), "stable")
    paper_norms, stable_norms = paper.flatten(1).norm(dim=1), stable.flatten(1).norm(dim=1)
    assert (paper_norms < 0.99 * root_d).float().mean() > 0.5
    torch.testing.assert_close(stable_norms, torch.full((64,), root_d), rtol=1e-5, atol=0)


def test_stable_ods_equals_the_paper_direction_where_that_is_exact():
    """Moderate logits (T = 4): both give the same unit direction, and it is the float64
    input gradient of Σ_c w_c softmax(z/T)_c computed by autograd."""
    from ensemble_distill.perturb import ods_direction

    x = torch.rand(32, 3, 4, 4)
    teacher = confident_teacher(1.0)
    paper, _ = ods_direction(x, teacher, 4.0, torch.Generator().manual_seed(2), "paper")
    stable, _ = ods_direction(x, teacher, 4.0, torch.Generator().manual_seed(2), "stable")
    torch.testing.assert_close(stable, paper, rtol=1e-4, atol=1e-5)
    weights = torch.rand(32, 10, generator=torch.Generator().manual_seed(2)) * 2 - 1
    x64 = x.double().requires_grad_(True)
    probs = torch.softmax(teacher.double()(x64) / 4.0, dim=-1)
    (grad,) = torch.autograd.grad((weights.double() * probs).sum(), x64)
    flat = grad.flatten(1)
    expected = (flat / flat.norm(dim=1, keepdim=True) * math.sqrt(48)).view_as(x)
    torch.testing.assert_close(stable.double(), expected, rtol=1e-4, atol=1e-5)
