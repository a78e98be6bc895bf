"""Adam and SGD with momentum over parameter groups, on torch.optim's functional updates.

``torch.optim.Optimizer`` imports ``torch._dynamo`` the first time it is built or stepped
(its constructor, ``step`` and ``zero_grad`` are wrapped for ``torch.compile``): 1.3 s per
training process here, longer than many of our jobs train. The functional updates
``torch.optim.adam.adam`` and ``torch.optim.sgd.sgd`` are the same arithmetic (same
defaults, same kernels) without that import; this class only keeps their per-parameter
state, so the steps equal those of ``torch.optim.Adam(fused=True)`` and
``torch.optim.SGD(fused=True)`` bit for bit (tests/test_train.py). Fused kernels (one pass
over each tensor, on CPU and GPU) take a quarter of the ``foreach`` kernels' time on small
networks here (0.22 vs 0.98 ms per Adam step for a digits Hydra); their results differ from
torch's default updates by float rounding only (the same formulas, reordered).
"""

import torch
from torch.autograd.graph import increment_version
from torch.optim.adam import adam
from torch.optim.sgd import sgd

BETAS, EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults


class Optimizer:
    """``kind`` "adam" or "sgd" (with ``momentum``) over ``groups``: dicts with ``params``,
    ``lr`` and ``weight_decay``, changed in place like torch's ``param_groups``."""

    def __init__(self, groups, kind, momentum=0.9):
        if kind not in ("adam", "sgd"):
            raise ValueError(f"unknown optimizer '{kind}'")
        self.kind, self.momentum, self.param_groups = kind, momentum, groups
        # One state dict per parameter, in group order (the resume state stores this list).
        self.state = [{} for group in groups for _ in group["params"]]

    def scale_lr(self, factor):
        """Set every group's learning rate to ``factor`` times its ``base_lr`` (schedules)."""
        for group in self.param_groups:
            group["lr"] = group["base_lr"] * factor

    def zero_grad(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self):
        index = 0
        for group in self.param_groups:
            states = self.state[index : index + len(group["params"])]
            index += len(group["params"])
            active = [(p, s) for p, s in zip(group["params"], states, strict=True)
                      if p.grad is not None]  # fmt: skip
            if not active:
                continue
            params = [p for p, _ in active]
            grads = [p.grad for p in params]
            if self.kind == "adam":
                self._adam(params, grads, [s for _, s in active], group)
            else:
                self._sgd(params, grads, [s for _, s in active], group)
            # Fused kernels update in place without bumping the tensors' version counters,
            # which autograd's checks and Members' cached weight stacks rely on.
            increment_version(params)

    @staticmethod
    def _adam(params, grads, states, group):
        for p, s in zip(params, states, strict=True):
            if not s:  # fused kernels keep the step count on the parameter's device
                s.update(step=torch.tensor(0.0, device=p.device), exp_avg=torch.zeros_like(p),
                         exp_avg_sq=torch.zeros_like(p))  # fmt: skip
        adam(params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
             [], [s["step"] for s in states], fused=True, amsgrad=False, beta1=BETAS[0],
             beta2=BETAS[1], lr=group["lr"], weight_decay=group["weight_decay"], eps=EPS,
             maximize=False)  # fmt: skip

    def _sgd(self, params, grads, states, group):
        buffers = [s.get("momentum_buffer") for s in states]
        sgd(params, grads, buffers, fused=True, weight_decay=group["weight_decay"],
            momentum=self.momentum,
            lr=group["lr"], dampening=0.0, nesterov=False, maximize=False)  # fmt: skip
        for s, buffer in zip(states, buffers, strict=True):  # sgd fills in new buffers
            s["momentum_buffer"] = buffer

    def state_dict(self):
        return {"kind": self.kind, "state": self.state}

    def load_state_dict(self, saved):
        if saved["kind"] != self.kind or len(saved["state"]) != len(self.state):
            raise ValueError(f"optimizer state for {saved['kind']} with {len(saved['state'])} "
                             f"parameters, not {self.kind} with {len(self.state)}")  # fmt: skip
        params = [p for group in self.param_groups for p in group["params"]]
        self.state = [{k: v.to(p.device) for k, v in s.items()}
                      for s, p in zip(saved["state"], params, strict=True)]  # fmt: skip
