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
