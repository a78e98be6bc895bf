"""Training objectives. Logits are (B, K, C) for students and (B, M, C) for teachers."""

import torch
import torch.nn.functional as F


def nll_loss(logits, labels):
    """Cross-entropy of every member/head against the labels, averaged over B and K.

    ``labels`` is (B,) (all members see the same example) or (B, K) (MIMO slots).
    """
    b, k, c = logits.shape
    labels = labels.reshape(b * k) if labels.dim() == 2 else labels.repeat_interleave(k)
    return F.cross_entropy(logits.reshape(b * k, c), labels)


def member_nll(logits, labels):
    """Cross-entropy of each of R independently trained networks: (R, B, C), (R, B) -> (R,)."""
    r, b, c = logits.shape  # flattened: the same reduction order as a network trained alone
    losses = F.cross_entropy(logits.reshape(r * b, c), labels.reshape(r * b), reduction="none")
    return losses.view(r, b).mean(1)


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
    """One-to-one distillation: head/member m matches teacher m (Hydra eq. 3-4; Diversity
    Matters' BatchEnsemble students), α·(1/M) Σ_m T²·KL(p_m,T ‖ q_m,T) + (1 − α)·CE."""
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


# ----------------------------------------------------------------------------- regression
# Gaussian outputs are (B, K, 2): mean and log variance of each member / head.
MIN_LOG_VAR = -13.8  # variance floor of 1e-6 (in standardised units) keeps the NLL finite


def mean_var(outputs):
    return outputs[..., 0], outputs[..., 1].clamp(min=MIN_LOG_VAR).exp()


def gaussian_nll(outputs, targets):
    """Gaussian NLL of every member / head, averaged over B and K (constant ½ log 2π kept)."""
    mean, var = mean_var(outputs)
    return F.gaussian_nll_loss(mean, targets[:, None].expand_as(mean), var, full=True)


def member_gaussian_nll(outputs, targets):
    """Gaussian NLL of each of R independently trained networks: (R, B, 2), (R, B) -> (R,)."""
    mean, var = mean_var(outputs)
    return F.gaussian_nll_loss(mean, targets, var, full=True, reduction="none").mean(1)


def gaussian_kl(mean_p, var_p, mean_q, var_q):
    """KL(N(μ_p, σ_p²) ‖ N(μ_q, σ_q²)), elementwise."""
    return 0.5 * (torch.log(var_q / var_p) + (var_p + (mean_p - mean_q) ** 2) / var_q - 1)


def kd_gaussian_loss(student, teachers, targets=None, **_):
    """One Gaussian matched to the teachers' uniform mixture (Hydra paper eq. 5).

    KL(mixture ‖ q) = −H[mixture] + E_mixture[−log q]. H[mixture] does not depend on the
    student, and E_mixture[−log q] has a closed form: ½ log 2πσ_q² +
    mean_m(σ_m² + (μ_m − μ_q)²) / (2σ_q²). We minimise that cross-entropy (so the loss is
    the KL up to a constant); its minimiser is the moment-matched Gaussian
    μ_q = mean_m μ_m, σ_q² = mean_m σ_m² + var_m μ_m. Every student head is matched.
    """
    mean_t, var_t = mean_var(teachers)  # (B, M)
    mean_s, var_s = mean_var(student)  # (B, K)
    second_moment = (var_t[:, None] + (mean_t[:, None] - mean_s[..., None]) ** 2).mean(-1)
    return (0.5 * torch.log(2 * torch.pi * var_s) + second_moment / (2 * var_s)).mean()


def hydra_gaussian_loss(student, teachers, targets=None, **_):
    """Hydra for regression: (1/M) Σ_m KL(N(μ_m, σ_m²) ‖ N(μ̂_m, σ̂_m²)), closed form."""
    if student.shape[1] != teachers.shape[1]:
        raise ValueError(
            f"Hydra needs one head per teacher: {student.shape[1]} heads, "
            f"{teachers.shape[1]} teachers"
        )
    return gaussian_kl(*mean_var(teachers), *mean_var(student)).mean()
