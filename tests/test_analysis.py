"""Diversity Matters analyses: input Jacobians, their similarity, teacher diversity."""

import torch
import torch.nn.functional as F
from ensemble_distill.analysis import input_jacobians, jacobian_similarity, teacher_diversity
from ensemble_distill.models import Members
from torch import nn


def nets(n, seed):
    torch.manual_seed(seed)
    return Members([nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)) for _ in range(n)])


def test_input_jacobians_match_autograd_per_example():
    model = nets(2, 0)
    x = torch.randn(4, 5)
    jac = input_jacobians(model, x)  # (N, K, C·D)
    assert jac.shape == (4, 2, 3 * 5)
    for i in range(4):
        full = torch.autograd.functional.jacobian(
            lambda v: F.log_softmax(model(v[None]), dim=-1)[0], x[i]
        )  # (K, C, D)
        torch.testing.assert_close(jac[i], full.reshape(2, -1))


def test_jacobian_similarity_pairs_member_m_with_teacher_m():
    teachers = nets(3, 0)
    swapped = Members([teachers[1], teachers[0]])  # members in the other order
    x = torch.randn(6, 5)
    rows = jacobian_similarity(teachers, [("same", 0, teachers), ("swapped", 0, swapped)], x)
    same = rows[rows["student"] == "same"]
    assert (same["cosine"] > 1 - 1e-6).all() and set(same["member"]) == {0, 1, 2}
    assert (rows[rows["student"] == "swapped"]["cosine"] < 0.99).all()


def test_teachers_diversity_on_clean_and_perturbed_inputs():
    teachers = nets(3, 1)
    frame = teacher_diversity(teachers, torch.rand(50, 5), step=0.5, bounds=(0.0, 1.0))
    assert list(frame["inputs"].unique()) == ["train", "train + Gaussian", "train + ODS"]
    assert len(frame) == 150 and (frame["diversity_kl"] >= 0).all()
    clean = frame[frame["inputs"] == "train"]["diversity_kl"].to_numpy()
    ods = frame[frame["inputs"] == "train + ODS"]["diversity_kl"].to_numpy()
    assert not (clean == ods).all()  # the perturbation changed what the teachers see
