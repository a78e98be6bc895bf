"""LatentBE (latent.py): the averaged network equals the mean-weight network built by hand
(linear and convolution layers), one member averages to itself, and BatchNorm statistics
are those of the averaged network on the training inputs."""

import numpy as np
import torch
from ensemble_distill.latent import average_members, refresh_batchnorm
from ensemble_distill.models import build_model, teacher_spec
from torch import nn


def randomised(spec, seed=0):
    """A BatchEnsemble model of ``spec`` with random (not ≈ 1) factors and biases."""
    torch.manual_seed(seed)
    model = build_model(spec)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("alpha_be", "gamma_be")):
                p.uniform_(-2, 2)
            elif name.endswith("bias"):
                p.normal_()
    return model


def be(spec, members=3):
    return {**spec, "batchensemble": {"members": members, "init": {"type": "normal"}}}


def test_averaged_mlp_is_the_mean_weight_network_by_hand():
    spec = be(teacher_spec({"arch": "mlp", "hidden": [5]}, (1, 2, 2), 3))
    model = randomised(spec)
    _, plain = average_members(model, spec)
    layers = [m for m in model.net if hasattr(m, "alpha_be")]
    by_hand = []
    for layer in layers:
        w, a, g, b = (t.detach().numpy() for t in (layer.weight, layer.alpha_be,
                                                    layer.gamma_be, layer.bias))  # fmt: skip
        mean_w = np.zeros_like(w)
        for m in range(3):
            for o in range(w.shape[0]):
                for i in range(w.shape[1]):
                    mean_w[o, i] += g[m, o] * w[o, i] * a[m, i] / 3
        linear = nn.Linear(w.shape[1], w.shape[0])
        linear.weight.data, linear.bias.data = torch.tensor(mean_w), torch.tensor(b.mean(0))
        by_hand.append(linear)
    reference = nn.Sequential(nn.Flatten(), by_hand[0], nn.ReLU(), by_hand[1])
    x = torch.randn(7, 1, 2, 2)
    torch.testing.assert_close(plain(x)[:, 0], reference(x), rtol=1e-5, atol=1e-6)


def test_averaged_convolution_by_hand_and_one_member_is_itself():
    spec = be(teacher_spec({"arch": "cnn", "channels": [2], "hidden": [4]}, (1, 4, 4), 3))
    model = randomised(spec, seed=1)
    _, plain = average_members(model, spec)
    conv = model.net[0]
    w, a, g = conv.weight.detach(), conv.alpha_be.detach(), conv.gamma_be.detach()
    expected = sum(g[m][:, None, None, None] * w * a[m][None, :, None, None] for m in range(3)) / 3
    torch.testing.assert_close(plain[0][0].weight, expected)
    torch.testing.assert_close(plain[0][0].bias, conv.bias.detach().mean(0))
    single = be(teacher_spec({"arch": "cnn", "channels": [2], "hidden": [4]}, (1, 4, 4), 3), 1)
    one = randomised(single, seed=2)
    _, itself = average_members(one, single)
    x = torch.randn(5, 1, 4, 4)
    torch.testing.assert_close(itself(x), one(x), rtol=1e-5, atol=1e-6)


def test_batchnorm_statistics_are_the_averaged_networks():
    spec = be(teacher_spec({"arch": "resnet", "depth": 8, "width": 2}, (3, 8, 8), 4))
    model = randomised(spec, seed=3)
    _, plain = average_members(model, spec)
    x = torch.rand(40, 3, 8, 8)
    refresh_batchnorm(plain, x, batch_size=40)
    image_input, stem = plain[0][0], plain[0][1]  # standardisation; conv, BatchNorm, ReLU
    with torch.no_grad():
        pre = stem[0](image_input(x))  # the averaged network's activations before the BN
    torch.testing.assert_close(stem[1].running_mean, pre.mean(dim=(0, 2, 3)), rtol=1e-4,
                               atol=1e-5)  # fmt: skip
    var = pre.var(dim=(0, 2, 3), unbiased=True)  # BatchNorm keeps the unbiased variance
    torch.testing.assert_close(stem[1].running_var, var, rtol=1e-4, atol=1e-5)
