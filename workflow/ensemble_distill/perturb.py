"""Input perturbations for distillation (Nam et al. 2021, "Diversity Matters"; giung2
``train_student.py``): ``none | gaussian | ods | confods``, one per student, for any method.

Each returns x̃ for a batch x (B, ...); teachers and student members all see the same x̃.
``step`` is η in input units (1/255 for images in [0, 1]); ``bounds`` is the data's valid
range (None: no clipping). Randomness comes from the caller's ``generator`` (CPU), so a
resumed run perturbs exactly as an uninterrupted one.

* gaussian: x̃ = clip(x + η·ξ), ξ ~ N(0, I).
* ods: one teacher t drawn for the whole batch, w ~ U(−1, 1)^C per example,
  d = ∇_x Σ_c w_c·softmax(f_t(x)/T)_c, normalised per example to L2 norm √D (D inputs per
  example, so the per-input RMS is 1), x̃ = clip(x + η·d). One step, no sign.
* confods: the ODS step scaled per example by the teacher's max probability at T.

``numerics`` (ods, confods): ``paper`` differentiates Σ_c w_c·softmax(z/T)_c in float32,
as the official script does; for a confident example the softmax saturates, every
∂p_c/∂z underflows, and the direction is short or zero before its normalisation.
``stable`` computes the same gradient with respect to the logits in closed form,
∂/∂z_c = p_c (w_c − Σ_k p_k w_k)/T, from the log-softmax in float64 and scaled by the
largest non-top probability (every component is of that order), then backpropagates it:
the same direction where the paper's arithmetic is exact, norm √D everywhere.

The teachers are frozen and only the input gets a gradient; no double-backward graph.
"""

import math

import torch
import torch.nn.functional as F

from .models.resnet import as_unit_float
from .transfer import to_device


def _randn(shape, generator, like):
    return to_device(torch.randn(shape, generator=generator), like.device).to(like.dtype)


def gaussian(x, teachers, *, step, generator, bounds=None, temperature=1.0, numerics=None):
    return clip(x + step * _randn(x.shape, generator, x), bounds)


def logit_gradient(logits, weights, temperature):
    """∂/∂z of Σ_c w_c softmax(z/T)_c up to a positive factor per example, computed so that
    it does not underflow: p_c (w_c − w̄), divided by the largest probability but the top
    one (all components are of its order), from the log-softmax in float64."""
    log_p = F.log_softmax(logits.double() / temperature, dim=-1)
    top = log_p.argmax(-1, keepdim=True)
    others = log_p.scatter(-1, top, -math.inf)
    scale = others.max(-1, keepdim=True).values  # log of the largest non-top probability
    r = torch.exp(others - scale)  # p_c / p_scale for the non-top classes, top: 0
    w = weights.double()
    w_top = w.gather(-1, top)
    # w_c − w̄ = (w_c − w_top) − Σ_{k≠top} p_k (w_k − w_top), the sum taken as e^scale·Σ r_k ...
    spread = (r * (w - w_top)).sum(-1, keepdim=True)
    centred = (w - w_top) - torch.exp(scale) * spread
    p_top = torch.exp(log_p.gather(-1, top))
    grad = r * centred  # non-top classes: p_c (w_c − w̄) / p_scale
    return grad.scatter(-1, top, -p_top * spread)  # top: p_top (w_top − w̄) / p_scale


def ods_direction(x, teacher, temperature, generator, numerics="paper"):
    """(√D-normalised direction (B, ...), teacher probabilities (B, C) at T)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = teacher(x)
        probs = F.softmax(logits / temperature, dim=-1)
        weights = to_device(torch.rand(probs.shape, generator=generator), probs.device)
        weights = weights.to(probs.dtype) * 2 - 1
        if numerics == "stable":
            upstream = logit_gradient(logits.detach(), weights, temperature).to(logits.dtype)
            (grad,) = torch.autograd.grad(logits, x, grad_outputs=upstream)
        else:
            (grad,) = torch.autograd.grad((weights * probs).sum(), x)
    flat = grad.flatten(1)
    norm = flat.norm(dim=1, keepdim=True).clamp_min(1e-12)
    direction = (flat / norm * math.sqrt(flat.shape[1])).view_as(grad)
    return direction, probs.detach()


def ods(x, teachers, *, step, generator, bounds=None, temperature=1.0, confidence=False,
        numerics="paper"):  # fmt: skip
    t = int(torch.randint(len(teachers), (1,), generator=generator))
    direction, probs = ods_direction(x, teachers[t], temperature, generator, numerics)
    if confidence:
        direction = direction * probs.max(-1).values.view(-1, *[1] * (x.dim() - 1))
    return clip(x + step * direction, bounds)


def confods(x, teachers, **kwargs):
    return ods(x, teachers, confidence=True, **kwargs)


def clip(x, bounds):
    return x if bounds is None else x.clamp(*bounds)


# kind -> function (x, teachers, *, step, generator, bounds, temperature) -> x̃. A new
# perturbation is one more entry (and one more value of the schema's perturbation.kind).
PERTURBATIONS = {"none": None, "gaussian": gaussian, "ods": ods, "confods": confods}


def perturbation(cfg, teachers, temperature, bounds):
    """A function (x, generator) -> x̃ for a student's ``perturbation`` config, or None."""
    fn = PERTURBATIONS[cfg["kind"]]
    if fn is None:
        return None
    return lambda x, generator: fn(
        as_unit_float(x),  # uint8 images are perturbed in [0, 1], where η = 1/255 is a level
        teachers,
        step=cfg["step"],
        generator=generator,
        bounds=bounds,
        temperature=temperature,
        numerics=cfg.get("numerics", "paper"),
    )
