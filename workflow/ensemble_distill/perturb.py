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

The teachers are frozen and only the input gets a gradient; no double-backward graph.
"""

import math

import torch
import torch.nn.functional as F

from .models.resnet import as_unit_float


def _randn(shape, generator, like):
    return torch.randn(shape, generator=generator).to(like.device, like.dtype)


def gaussian(x, teachers, *, step, generator, bounds=None, temperature=1.0):
    return clip(x + step * _randn(x.shape, generator, x), bounds)


def ods_direction(x, teacher, temperature, generator):
    """(√D-normalised direction (B, ...), teacher probabilities (B, C) at T)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        probs = F.softmax(teacher(x) / temperature, dim=-1)
        weights = torch.rand(probs.shape, generator=generator).to(probs) * 2 - 1
        (grad,) = torch.autograd.grad((weights * probs).sum(), x)
    flat = grad.flatten(1)
    norm = flat.norm(dim=1, keepdim=True).clamp_min(1e-12)
    direction = (flat / norm * math.sqrt(flat.shape[1])).view_as(grad)
    return direction, probs.detach()


def ods(x, teachers, *, step, generator, bounds=None, temperature=1.0, confidence=False):
    t = int(torch.randint(len(teachers), (1,), generator=generator))
    direction, probs = ods_direction(x, teachers[t], temperature, generator)
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
    )
