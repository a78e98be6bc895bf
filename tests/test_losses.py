import math

import pytest
import torch
from ensemble_distill.losses import (
    annealed_temperature,
    end2_loss,
    hydra_loss,
    kd_loss,
    nll_loss,
    soft_kl,
)


def kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True) if pi > 0)


def softmax(z, t=1.0):
    e = [math.exp(v / t) for v in z]
    return [v / sum(e) for v in e]


def test_soft_kl_matches_hand_computation():
    target = torch.tensor([[[0.7, 0.2, 0.1]]])
    logits = torch.tensor([[[1.0, 0.0, -1.0]]])
    expected = 4.0 * kl([0.7, 0.2, 0.1], softmax([1.0, 0.0, -1.0], t=2.0))
    assert soft_kl(target, logits, temperature=2.0).item() == pytest.approx(expected, rel=1e-6)


def test_soft_kl_is_zero_for_matching_distributions_and_handles_zeros():
    logits = torch.tensor([[[2.0, -1.0, 0.5]]])
    assert soft_kl(torch.softmax(logits, -1), logits, 1.0).item() == pytest.approx(0, abs=1e-7)
    one_hot = torch.tensor([[[1.0, 0.0, 0.0]]])
    assert torch.isfinite(soft_kl(one_hot, logits, 1.0))


def test_kd_loss_matches_the_ensemble_mean():
    t, z1, z2, s = 2.0, [2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]
    teachers = torch.tensor([[z1, z2]])
    mean = [(a + b) / 2 for a, b in zip(softmax(z1, t), softmax(z2, t), strict=True)]
    expected = t**2 * kl(mean, softmax(s, t))
    loss = kd_loss(torch.tensor([[s]]), teachers, torch.tensor([0]), temperature=t)
    assert loss.item() == pytest.approx(expected, rel=1e-5)  # float32


def test_kd_loss_mixes_in_label_cross_entropy_with_alpha():
    teachers, student, labels = torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[0.0, 1.0]]]), [0]
    alpha, t = 0.25, 3.0
    expected = alpha * t**2 * kl(softmax([1.0, 0.0], t), softmax([0.0, 1.0], t))
    expected += (1 - alpha) * -math.log(softmax([0.0, 1.0])[0])
    loss = kd_loss(student, teachers, torch.tensor(labels), temperature=t, alpha=alpha)
    assert loss.item() == pytest.approx(expected, rel=1e-5)  # float32


def test_hydra_loss_pairs_head_m_with_teacher_m():
    teachers = torch.tensor([[[2.0, 0.0], [0.0, 2.0]]])
    heads = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    expected = 0.5 * (
        kl(softmax([2.0, 0.0]), softmax([1.0, 0.0])) + kl(softmax([0.0, 2.0]), softmax([0.0, 1.0]))
    )
    assert hydra_loss(heads, teachers, torch.tensor([0])).item() == pytest.approx(
        expected, rel=1e-5
    )
    # Swapping the heads breaks the pairing and must cost more.
    assert hydra_loss(heads.flip(1), teachers, torch.tensor([0])).item() > expected


def test_hydra_loss_rejects_head_teacher_mismatch():
    with pytest.raises(ValueError, match="one head per teacher"):
        hydra_loss(torch.zeros(1, 2, 3), torch.zeros(1, 3, 3), torch.tensor([0]))


def test_nll_loss_averages_over_heads():
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0]]])
    expected = (math.log(2.0) + -math.log(0.75)) / 2
    assert nll_loss(logits, torch.tensor([0])).item() == pytest.approx(expected, rel=1e-6)


def test_end2_loss_is_the_negative_dirichlet_log_likelihood():
    t, eps = 2.0, 0.1
    teachers = [[1.0, 0.0], [0.0, 2.0]]
    student = [1.0, 2.0]
    alpha = [math.exp(z / t) for z in student]
    pis = [[(1 - eps) * p + eps / 2 for p in softmax(z, t)] for z in teachers]
    mean_log = [(math.log(pis[0][c]) + math.log(pis[1][c])) / 2 for c in range(2)]
    nll = sum(math.lgamma(a) for a in alpha) - math.lgamma(sum(alpha))
    nll -= sum((a - 1) * m for a, m in zip(alpha, mean_log, strict=True))
    loss = end2_loss(
        torch.tensor([[student]]), torch.tensor([teachers]), temperature=t, smoothing=eps
    )
    assert loss.item() == pytest.approx(t**2 * nll, rel=1e-5)


def test_end2_temperature_schedule():
    assert [annealed_temperature(e, 10.0, 10) for e in (0, 4, 5, 7.5, 10, 30)] == [
        10.0,
        10.0,
        10.0,
        5.5,
        1.0,
        1.0,
    ]


def test_hydra_loss_at_temperature_3_with_three_heads_and_two_classes():
    """T² · mean_m KL(softmax(z_m/T) ‖ softmax(s_m/T)) with M = 3 ≠ C = 2, two examples."""
    t = 3.0
    teachers = [[[2.0, -1.0], [0.0, 1.5], [1.0, 1.0]], [[-2.0, 0.5], [3.0, 0.0], [0.0, -1.0]]]
    heads = [[[1.0, 0.0], [0.5, 0.5], [0.0, 2.0]], [[0.0, 0.0], [1.0, -1.0], [2.0, 0.0]]]
    expected = t**2 * sum(
        kl(softmax(z, t), softmax(s, t))
        for zb, sb in zip(teachers, heads, strict=True)
        for z, s in zip(zb, sb, strict=True)
    ) / 6  # fmt: skip
    loss = hydra_loss(torch.tensor(heads), torch.tensor(teachers), torch.tensor([0, 1]), t)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_hydra_loss_mixes_in_every_heads_cross_entropy_with_alpha():
    teachers = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    heads = torch.tensor([[[0.0, 1.0], [2.0, 0.0]]])
    alpha, t = 0.25, 2.0
    kls = kl(softmax([1.0, 0.0], t), softmax([0.0, 1.0], t))
    kls += kl(softmax([0.0, 1.0], t), softmax([2.0, 0.0], t))
    ces = -math.log(softmax([0.0, 1.0])[0]) - math.log(softmax([2.0, 0.0])[0])
    expected = alpha * t**2 * kls / 2 + (1 - alpha) * ces / 2
    loss = hydra_loss(heads, teachers, torch.tensor([0]), temperature=t, alpha=alpha)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_loss_defaults_are_temperature_1_and_no_label_term():
    teachers, student = torch.tensor([[[2.0, 0.0], [0.0, 1.0]]]), torch.tensor([[[0.5, 0.0]]])
    mean = [(a + b) / 2 for a, b in zip(softmax([2.0, 0.0]), softmax([0.0, 1.0]), strict=True)]
    assert kd_loss(student, teachers, torch.tensor([1])).item() == pytest.approx(
        kl(mean, softmax([0.5, 0.0])), rel=1e-5
    )


def test_hydra_loss_names_both_counts_on_a_mismatch():
    with pytest.raises(ValueError, match="2 heads, 3 teachers"):
        hydra_loss(torch.zeros(1, 2, 4), torch.zeros(1, 3, 4), torch.tensor([0]))


def test_nll_loss_with_one_label_per_mimo_slot():
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0]], [[0.0, math.log(4.0)], [0.0, 0.0]]])
    labels = torch.tensor([[0, 1], [1, 1]])  # (B, K): slot k of example b has its own label
    expected = (math.log(2) - math.log(0.25) - math.log(0.8) + math.log(2)) / 4
    assert nll_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)


def test_end2_loss_with_three_teachers_two_examples_and_the_temperature_squared():
    t, eps = 3.0, 0.05
    teachers = [[[1.0, 0.0], [0.0, 2.0], [0.5, 0.5]], [[-1.0, 1.0], [2.0, 0.0], [0.0, 0.0]]]
    students = [[1.0, 2.0], [3.0, -1.0]]
    total = 0.0
    for zs, s in zip(teachers, students, strict=True):
        alpha = [math.exp(v / t) for v in s]
        pis = [[(1 - eps) * p + eps / 2 for p in softmax(z, t)] for z in zs]
        mean_log = [sum(math.log(pi[c]) for pi in pis) / 3 for c in range(2)]
        nll = sum(math.lgamma(a) for a in alpha) - math.lgamma(sum(alpha))
        total += nll - sum((a - 1) * m for a, m in zip(alpha, mean_log, strict=True))
    loss = end2_loss(torch.tensor(students)[:, None], torch.tensor(teachers), temperature=t,
                     smoothing=eps)  # fmt: skip
    assert loss.item() == pytest.approx(t**2 * total / 2, rel=1e-5)
