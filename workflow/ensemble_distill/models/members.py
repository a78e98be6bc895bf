"""``Members``: K networks of the same shape run as one batched computation (a teacher pack,
a pack of regression students, an ensemble at prediction, Hydra's heads)."""

from functools import partial

import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn.modules import module as torch_module

PLAIN_MLP_LAYERS = (nn.Linear, nn.ReLU, nn.Flatten)
# On CPU one batched matrix product per layer beats a loop over the members only while each
# member is small; BLAS runs K separate products of MNIST's size faster than one batched
# product. Measured (one thread, training step / inference, batched vs loop): 10 spiral MLPs
# (10.5k multiply-adds per example) 2.3 / 2.9 ms; 100 UCI MLPs (0.7k) 16 / 26 ms; 4 digits
# MLPs (17k) 1.2 / 1.3 ms; 50 MNIST Hydra heads (31k) 35 / 27 ms; 10 MNIST MLPs (199k)
# 23 / 18 ms. On a GPU batching always wins (one kernel launch instead of K).
CPU_BATCH_MAX_MACS = 15_000


# Members cache their layout (below) until a module, parameter or buffer is registered
# anywhere (a Hydra growing its heads inside a pack of Hydras): torch's global
# registration hooks count those events.
_registrations = [0]


def _count_registration(*_):
    _registrations[0] += 1


for _register in (
    torch_module.register_module_module_registration_hook,
    torch_module.register_module_parameter_registration_hook,
    torch_module.register_module_buffer_registration_hook,
):
    _register(_count_registration)


class Members(nn.ModuleList):
    """Independent networks of the same shape; outputs stacked to (B, K, C).

    The K members run as one batched computation: their parameters are stacked along a
    new first axis, and plain MLPs multiply by the stacked weights once per layer
    (``torch.baddbmm``), other networks (a pack of Hydra students) are vmapped over them
    (``torch.func``). On CPU, convolutional members and members too large to gain from
    that run one after the other (``CPU_BATCH_MAX_MACS``).
    Each member keeps its own module, so state dicts (and checkpoints) are those of K
    separate networks, and an optimiser updates each member's parameters exactly as if it
    were trained alone. While a pack trains batched, :meth:`stack_parameters` makes one
    stacked (K, ...) leaf per parameter the tensors that a training step uses and the
    optimiser updates; :meth:`sync_members` copies them back into the members.
    """

    def forward(self, x):  # (B, ...) -> (B, K, C): every member sees x
        return self._batched(x, None).transpose(0, 1)

    def forward_each(self, xs):  # (K, B, ...) -> (K, B, C): member k sees xs[k]
        return self._batched(xs, 0)

    def map(self, fn, *inputs):
        """``fn(network, *inputs_k)`` for every member k as one batched call; ``network`` is
        member k as a callable and each input has a leading member axis. A pack of students
        computes each one's loss on its own data this way."""
        if not self._batch(inputs[0]):
            return torch.stack([fn(m, *(x[k] for x in inputs)) for k, m in enumerate(self)])
        call = partial(functional_call, self[0])
        one = lambda state, *xs: fn(lambda *a: call(state, a), *xs)  # noqa: E731
        return vmap(one)(self._stacked_state(), *inputs)

    def _batched(self, x, in_dim):
        if not self._batch(x):
            xs = [x] * len(self) if in_dim is None else x
            return torch.stack([member(xk) for member, xk in zip(self, xs, strict=True)])
        if self._plain_mlp():
            return self._mlp(x, shared=in_dim is None)
        call = partial(functional_call, self[0])
        return vmap(lambda s, xi: call(s, (xi,)), in_dims=(0, in_dim))(self._stacked_state(), x)

    def _batch(self, x):
        """Whether batching the members pays (see CPU_BATCH_MAX_MACS)."""
        if len(self) == 1:
            return False
        if getattr(self[0], "_compiled_call_impl", None) is not None:
            return False  # torch.compile'd members (train.py) run one after the other
        layout = self._layout()
        if self.training and layout["batchnorm"]:
            return False  # vmapped BatchNorm would update stacked copies of running stats
        if x.is_cuda:
            return True
        if layout["conv"]:
            return False  # convolutions: compute-bound on CPU
        return layout["macs"] < CPU_BATCH_MAX_MACS

    def stack_parameters(self, x):
        """Stacked leaf copies of the members' parameters, {name: (K, ...) parameter}, for
        ``fit`` to optimise while the members run batched on inputs like ``x`` (else None).
        Training steps then use them instead of stacking the members' parameters anew: a
        20-split UCI pack of Hydras has 22 such tensors instead of 440, so backward does
        not unbind 440 gradients and the optimiser does not loop over 440 tensors. The
        arithmetic is the same elementwise (up to rounding: fused kernels vectorise other
        shapes differently), so each member takes the steps it would take alone.
        The members' own parameters are stale until :meth:`sync_members`, and their
        parameters may change (a Hydra growing heads) only after :meth:`unstack`."""
        if not self._batch(x):
            return None
        self._leaves = {}
        with torch.no_grad():
            for column in zip(*self._layout()["params"], strict=True):  # a name, every member
                params = [module._parameters[attr] for module, attr, _ in column]
                stacked = nn.Parameter(torch.stack(params), requires_grad=params[0].requires_grad)
                self._leaves[column[0][2]] = stacked
        return self._leaves

    def sync_members(self):
        """Copy the stacked leaves into the members' parameters (before reading their state)."""
        with torch.no_grad():
            for k, member in enumerate(self._layout()["params"]):
                for module, attr, name in member:
                    module._parameters[attr].copy_(self._leaves[name][k])

    def unstack(self):
        """Sync the members and train their own parameters again."""
        self.sync_members()
        self._leaves = None

    def _plain_mlp(self):
        return self._layout()["plain_mlp"]

    def _layout(self):
        """The batching facts and, per member, where each parameter and buffer lives, as
        (module, attribute, name) in ``named_parameters`` order. They depend only on the
        architecture, so they are found again only after a module, parameter or buffer was
        registered somewhere (``Hydra.grow``), not by walking the modules at every step (a
        UCI pack of 20 Hydras spent a fifth of its step doing that). Reading
        ``module._parameters[attribute]`` at call time sees the tensors that
        ``torch.func.functional_call`` swaps in."""
        if getattr(self, "_layout_of", None) == _registrations[0]:
            return self._layout_cache
        layers = list(self[0].modules())

        def places(member, kind):
            return [(module, attr, f"{prefix}.{attr}" if prefix else attr)
                    for prefix, module in member.named_modules()
                    for attr, t in getattr(module, kind).items() if t is not None]  # fmt: skip

        self._layout_cache = {
            "batchnorm": any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in layers),
            "conv": any(isinstance(m, nn.Conv2d) for m in layers),
            "macs": sum(m.in_features * m.out_features for m in layers if isinstance(m, nn.Linear)),
            "plain_mlp": isinstance(self[0], nn.Sequential)
            and all(isinstance(layer, PLAIN_MLP_LAYERS) for layer in self[0]),
            "params": [places(m, "_parameters") for m in self],
            "buffers": [places(m, "_buffers") for m in self],
        }
        self._layout_of = _registrations[0]
        return self._layout_cache

    def _mlp(self, x, shared):
        """Plain MLP members by one batched matrix product per layer: (K, B, out) from
        weights (K, out, in); every member's x is the same (B, in) or its own (K, B, in)."""
        state = self._stacked_state()
        h = x
        for name, layer in self[0].named_children():
            if isinstance(layer, nn.Linear):
                weight = state[f"{name}.weight"].transpose(1, 2)
                bias = state[f"{name}.bias"][:, None]
                if shared:  # (B, in) @ (K, in, out) broadcasts to (K, B, out)
                    h, shared = torch.matmul(h, weight) + bias, False
                else:
                    h = torch.baddbmm(bias, h, weight)
            elif isinstance(layer, nn.Flatten):
                h = h.flatten(1 if shared else 2)
            else:
                h = layer(h)
        return h

    def _stacked_state(self):
        """Stacked parameters and buffers: stacked anew while they are trained (the stack
        passes gradients back to each member), cached while frozen (teachers, inference)."""
        layout = self._layout()
        buffers = [{name: module._buffers[attr] for module, attr, name in member}
                   for member in layout["buffers"]]  # fmt: skip
        leaves = getattr(self, "_leaves", None)
        if leaves is not None and self.training and torch.is_grad_enabled():  # in fit
            if len(leaves) != len(layout["params"][0]):  # e.g. heads grown: stack anew first
                raise RuntimeError("the members' parameters changed while training stacked")
            return {**leaves, **{n: torch.stack([b[n] for b in buffers]) for n in buffers[0]}}
        params = [{name: module._parameters[attr] for module, attr, name in member}
                  for member in layout["params"]]  # fmt: skip
        tensors = [{**p, **b} for p, b in zip(params, buffers, strict=True)]
        # Inside another member's functional call (a pack of Hydras) the parameters are
        # transformed tensors, not this module's own: never cache those.
        own = all(isinstance(t, nn.Parameter) for t in params[0].values())
        trained = torch.is_grad_enabled() and any(t.requires_grad for t in params[0].values())
        if not own or trained:
            return {name: torch.stack([t[name] for t in tensors]) for name in tensors[0]}
        key = tuple((id(t), t._version) for member in tensors for t in member.values())
        if getattr(self, "_cache_key", None) != key:
            with torch.no_grad():
                self._cache = {n: torch.stack([t[n] for t in tensors]) for n in tensors[0]}
            self._cache_key = key
        return self._cache
