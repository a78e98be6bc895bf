"""Training-time augmentation as batched tensor ops on the training device.

``random_crop_flip``: torchvision's ``RandomCrop(H, padding=p)`` + ``RandomHorizontalFlip()``
(the CIFAR recipe of He et al. and Diversity Matters) for a whole batch at once, on uint8
or float images, with the random draws from a CPU generator so that runs (and resumed
runs) on any device augment alike.
"""

import torch
import torch.nn.functional as F

from .transfer import to_device


def random_crop_flip(x, generator, crop=4, flip=True):
    """(B, C, H, W) images: each a random H x W window of the image zero-padded by ``crop``
    pixels on every side, then mirrored left-right with probability 1/2."""
    b, c, h, w = x.shape
    if crop:
        shifts = to_device(torch.randint(0, 2 * crop + 1, (2, b), generator=generator), x.device)
        padded = F.pad(x, (crop, crop, crop, crop))
        rows = torch.arange(h, device=x.device) + shifts[0][:, None]  # (B, H)
        cols = torch.arange(w, device=x.device) + shifts[1][:, None]  # (B, W)
        batch = torch.arange(b, device=x.device)[:, None, None, None]
        channel = torch.arange(c, device=x.device)[None, :, None, None]
        x = padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
    if flip:
        mirrored = to_device(torch.rand(b, generator=generator) < 0.5, x.device)
        x = torch.where(mirrored[:, None, None, None], x.flip(-1), x)
    return x


def augmenter(cfg):
    """``fn(x, generator)`` for a training config's ``augment`` block, or None."""
    if not cfg:
        return None
    return lambda x, generator: random_crop_flip(
        x, generator, crop=cfg.get("crop", 0), flip=cfg.get("flip", False)
    )
