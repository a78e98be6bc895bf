"""Host-to-device copies that do not make the host wait for the device.

A plain ``.to("cuda")`` of a tensor in pageable CPU memory waits until the copy is done,
and so until every kernel queued before it has run: one host synchronisation per call. The
training step's random draws (batch order, augmentation, perturbations) come from CPU
generators, so that a run draws the same numbers on any device and a resumed run the same
as an uninterrupted one (docs/cifar.md#gpu-path says what that costs); they reach the
device through :func:`to_device`, which copies from pinned memory asynchronously.
"""

import torch


def to_device(t, device):
    """CPU tensor ``t`` on ``device``; on CUDA copied from pinned memory without waiting
    (PyTorch's pinned-memory cache keeps the source alive until the copy has run)."""
    device = torch.device(device)
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)
