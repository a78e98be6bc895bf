"""Training objectives. Logits are (B, K, C) for students and (B, M, C) for teachers."""

import torch
import torch.nn.functional as F


def nll_loss(logits, labels):
    """Cross-entropy of every member/head against the labels, averaged over B and K."""
    b, k, c = logits.shape
    return F.cross_entropy(logits.reshape(b * k, c), labels.repeat_interleave(k))


def soft_kl(target_probs, student_logits, temperature):
    """T² · KL(target ‖ softmax(student/T)), summed over classes, averaged over B and K."""
    log_q = F.log_softmax(student_logits / temperature, dim=-1)
    kl = torch.xlogy(target_probs, target_probs) - target_probs * log_q
    return temperature**2 * kl.sum(-1).mean()


def kd_loss(student_logits, teacher_logits, labels, temperature=1.0, alpha=1.0):
    """Hinton KD of the ensemble mean (every student head matches the mean at temperature T).

    loss = α · T² · KL(p̄_T ‖ q_T) + (1 − α) · CE(q, y), with p̄_T = mean_m softmax(z_m / T).
    """
    mean = F.softmax(teacher_logits / temperature, dim=-1).mean(dim=1, keepdim=True)
    loss = alpha * soft_kl(mean.expand_as(student_logits), student_logits, temperature)
    if alpha < 1:
        loss = loss + (1 - alpha) * nll_loss(student_logits, labels)
    return loss


def hydra_loss(student_logits, teacher_logits, labels, temperature=1.0, alpha=1.0):
    """Hydra: head m matches teacher m (paper eq. 3-4), (1/M) Σ_m T² · KL(p_m,T ‖ q_m,T)."""
    if student_logits.shape[1] != teacher_logits.shape[1]:
        raise ValueError(
            f"Hydra needs one head per teacher: {student_logits.shape[1]} heads, "
            f"{teacher_logits.shape[1]} teachers"
        )
    targets = F.softmax(teacher_logits / temperature, dim=-1)
    loss = alpha * soft_kl(targets, student_logits, temperature)
    if alpha < 1:
        loss = loss + (1 - alpha) * nll_loss(student_logits, labels)
    return loss


def end2_loss(student_logits, teacher_logits, labels=None, temperature=1.0, smoothing=1e-4):
    """Ensemble Distribution Distillation (Malinin et al. 2019): a Dirichlet student.

    Concentrations α = exp(z / T); the loss is T² times the negative Dirichlet
    log-likelihood of the teachers' probability vectors, smoothed towards uniform:
    Σ_c lnΓ(α_c) − lnΓ(α₀) − Σ_c (α_c − 1) · mean_m ln π_mc, averaged over the batch.
    ``labels`` is unused (kept for a uniform signature).
    """
    n_classes = teacher_logits.shape[-1]
    probs = F.softmax(teacher_logits / temperature, dim=-1)
    probs = (1 - smoothing) * probs + smoothing / n_classes
    mean_log_probs = probs.log().mean(dim=1)  # (B, C)
    alpha = torch.exp(student_logits[:, 0] / temperature)
    nll = (
        torch.lgamma(alpha).sum(-1)
        - torch.lgamma(alpha.sum(-1))
        - ((alpha - 1) * mean_log_probs).sum(-1)
    )
    return temperature**2 * nll.mean()


def annealed_temperature(epoch, initial, anneal_epochs):
    """endd-reproduce's schedule: T0 for the first half of the cycle, linear to 1, then 1."""
    half = anneal_epochs / 2
    if epoch < half:
        return initial
    if epoch < anneal_epochs:
        return initial + (1.0 - initial) * (epoch - half) / half
    return 1.0
