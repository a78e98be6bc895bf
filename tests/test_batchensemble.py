"""BatchEnsemble and MIMO students: layers against hand-built equivalents, the (B, K, C)
contract, and the optimiser's factor group."""

import pytest
import torch
import torch.nn.functional as F
from ensemble_distill.models import build_model, count_parameters
from ensemble_distill.models.layers import BEConv2d, BELinear
from ensemble_distill.models.mlp import network_spec
from ensemble_distill.train import lr_factor, make_optimizer

INIT = {"type": "normal", "scale": 0.5}


def test_be_linear_equals_m_separate_linears_with_effective_weights():
    torch.manual_seed(0)
    layer = BELinear(5, 3, members=4, init=INIT)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(4 * 6, 5)  # member-major: rows 6m..6m+5 belong to member m
    out = layer(x).view(4, 6, 3)
    for m in range(4):
        weight = layer.gamma_be[m, :, None] * layer.weight * layer.alpha_be[m, None, :]
        expected = F.linear(x.view(4, 6, 5)[m], weight, layer.bias[m])
        torch.testing.assert_close(out[m], expected)


def test_be_conv2d_equals_m_separate_convs_with_effective_weights():
    torch.manual_seed(1)
    layer = BEConv2d(2, 3, 3, members=2, init=INIT, padding=1)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(2 * 4, 2, 5, 5)
    out = layer(x).view(2, 4, 3, 5, 5)
    for m in range(2):
        weight = (
            layer.gamma_be[m, :, None, None, None]
            * layer.weight
            * layer.alpha_be[m, None, :, None, None]
        )
        expected = F.conv2d(x.view(2, 4, 2, 5, 5)[m], weight, layer.bias[m], padding=1)
        torch.testing.assert_close(out[m], expected)


def test_factor_inits():
    torch.manual_seed(0)
    normal = BELinear(400, 400, members=8, init={"type": "normal", "scale": 0.5})
    assert abs(normal.alpha_be.mean().item() - 1) < 0.02
    assert abs(normal.alpha_be.std().item() - 0.5) < 0.02
    signs = BELinear(400, 400, members=8, init={"type": "random_sign", "p": 0.75})
    assert set(signs.gamma_be.unique().tolist()) == {-1.0, 1.0}
    assert abs((signs.gamma_be > 0).float().mean().item() - 0.75) < 0.02


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_be_member_m_is_the_network_with_member_m_weights(arch):
    """A whole BE network: member m's output equals a plain network of the same shape
    whose layers carry member m's effective weights (conv and linear)."""
    torch.manual_seed(2)
    spec = network_spec(arch, (1, 8, 8), [7], 3, channels=[2])
    be = build_model({**spec, "batchensemble": {"members": 3, "init": INIT}})
    x = torch.rand(5, 1, 8, 8)
    out = be(x)
    assert out.shape == (5, 3, 3)
    plain = build_model(spec)[0]
    for m in range(3):
        with torch.no_grad():
            for layer, target in zip(
                [mod for mod in be.net if hasattr(mod, "alpha_be")],
                [mod for mod in plain if isinstance(mod, torch.nn.Linear | torch.nn.Conv2d)],
                strict=True,
            ):
                shape = (-1,) + (1,) * (layer.weight.dim() - 2)
                scale_in = layer.alpha_be[m].view(1, *shape)
                target.weight.copy_(layer.gamma_be[m].view(*shape, 1) * layer.weight * scale_in)
                target.bias.copy_(layer.bias[m])
        torch.testing.assert_close(out[:, m], plain(x))


def test_mimo_slots_see_their_own_inputs():
    torch.manual_seed(3)
    spec = network_spec("mlp", (4,), [8], 3)
    mimo = build_model({**spec, "mimo": 2})
    assert count_parameters(mimo) == (2 * 4 * 8 + 8) + (8 * 2 * 3 + 2 * 3)
    x = torch.randn(6, 4)
    torch.testing.assert_close(mimo(x), mimo.forward_slots(torch.stack([x, x], dim=1)))
    other = torch.randn(6, 4)
    changed = mimo.forward_slots(torch.stack([x, other], dim=1))
    assert not torch.allclose(changed[:, 0], mimo(x)[:, 0])  # head 0 sees both inputs


def test_factors_get_their_own_learning_rate_and_no_weight_decay():
    spec = network_spec("mlp", (4,), [8], 3)
    model = build_model({**spec, "batchensemble": {"members": 2, "init": INIT}})
    opt = make_optimizer(
        model.named_parameters(), optimizer="sgd", lr=0.1, weight_decay=5e-4, factor_lr=0.5
    )
    shared, factors = opt.param_groups
    assert (shared["lr"], shared["weight_decay"]) == (0.1, 5e-4)
    assert (factors["lr"], factors["weight_decay"]) == (0.05, 0.0)
    assert len(factors["params"]) == 4  # alpha and gamma of two layers
    assert opt.momentum == 0.9


def test_warmup_linear_decay_schedule_by_hand():
    # DM's [5, 100, 180] of 200 epochs: 1 % at the start, linear to 1 by epoch 5, flat,
    # linear down to 1 % at epoch 180, then 1 %.
    factors = [lr_factor(e, 200, "warmup_linear_decay", [5, 100, 180]) for e in range(200)]
    assert factors[0] == pytest.approx(0.01)
    assert factors[1] == pytest.approx(0.01 + 0.99 / 5)
    assert factors[5] == factors[99] == 1.0
    assert factors[140] == pytest.approx(1 - 0.99 * 40 / 80)
    assert factors[180] == factors[199] == 0.01
    assert lr_factor(10, 200) == 1.0
    # Default milestones scale DM's proportions to the epochs given.
    assert lr_factor(100, 200, "warmup_linear_decay") == lr_factor(100, 200,
        "warmup_linear_decay", [5, 100, 180])  # fmt: skip
