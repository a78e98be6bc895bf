"""Diversity Matters Fig. 1 as numbers (input_diversity.py), against values by hand."""

import math

import numpy as np
import torch
from ensemble_distill.input_diversity import input_diversity, member_diversity
from ensemble_distill.models import Members
from ensemble_distill.tables.diversity import input_diversity_tables
from torch import nn


def linear(weight):
    layer = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        layer[1].weight.copy_(torch.tensor(weight, dtype=torch.float32))
        layer[1].bias.zero_()
    return layer


def test_member_diversity_by_hand():
    """Two members on one input: logits (0, 0) and (log 3, 0), i.e. p = (½, ½) and (¾, ¼).
    KL(p‖q) and KL(q‖p) averaged; both predict class 0 (a tie argmaxes to 0): no
    disagreement."""
    a = linear([[0, 0, 0, 0], [0, 0, 0, 0]])
    b = linear([[math.log(3), 0, 0, 0], [0, 0, 0, 0]])
    x = torch.tensor([[1.0, 0, 0, 0]])
    kl, rate = member_diversity(Members([a, b]), x)
    p, q = np.array([0.5, 0.5]), np.array([0.75, 0.25])
    expected = ((p * np.log(p / q)).sum() + (q * np.log(q / p)).sum()) / 2
    assert abs(kl - expected) < 1e-6 and rate == 0.0  # float32 logits


def test_rows_norms_and_agreeing_teachers():
    """Identical teachers: zero diversity everywhere; without clipping the Gaussian and
    ODS perturbations have L2 norm ≈ η·√D (ODS exactly)."""
    torch.manual_seed(0)
    net = linear(np.random.default_rng(0).normal(size=(2, 4)))
    teachers = Members([net, net])
    x = torch.rand(50, 1, 2, 2)
    frame = input_diversity(teachers, [], x, x[:10], steps=[0.1, 0.3], draws=3, bounds=None,
                            temperature=1.0)  # fmt: skip
    assert len(frame) == 2 + 2 * 2 * 3  # train, test, then 2 kinds x 2 steps x 3 draws
    assert (frame["mean_kl"].abs() < 1e-12).all() and (frame["disagreement"] == 0).all()
    ods = frame[frame["inputs"] == "train + ODS"]
    assert np.allclose(ods["l2_norm"], ods["step"] * 2.0, rtol=1e-5)  # √D = 2
    gauss = frame[frame["inputs"] == "train + Gaussian"]
    assert np.allclose(gauss["nominal_norm"], gauss["step"] * 2.0)
    assert (gauss["l2_norm"] / gauss["nominal_norm"]).between(0.7, 1.2).all()
    clipped = input_diversity(teachers, [], x, x[:10], steps=[0.3], draws=1, bounds=(0, 1),
                              temperature=1.0)  # fmt: skip
    shorter = clipped[clipped["inputs"] == "train + ODS"]
    assert (shorter["l2_norm"] < 0.6).all()  # clipping to [0, 1] shortens the step
    text, _ = input_diversity_tables(frame)
    zero = "0.0000 ± 0.0000"
    assert f"| teachers | train + ODS | 26/255 | 0.200 | 0.200 | {zero} | {zero} | 3 |" in text
