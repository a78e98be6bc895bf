import torch
from ensemble_distill.models import build_model, count_parameters, hydra_spec, teacher_sizes

MNIST_TEACHER = teacher_sizes((1, 28, 28), [200, 200], 10)


def test_parameter_counts_match_the_hydra_paper_table_5():
    # Table 5: MNIST member 199,210 params; Hydra with 50 heads of [100, 100, 10]: 1,757,700.
    assert count_parameters(build_model({"arch": "mlp", "sizes": MNIST_TEACHER})) == 199_210
    spec = hydra_spec(MNIST_TEACHER, {"type": "mlp", "hidden": [100, 100]}, n_heads=50)
    assert count_parameters(build_model(spec)) == 1_757_700


def test_copy_head_takes_the_teachers_last_layers():
    spec = hydra_spec([2, 100, 100, 3], {"type": "copy", "layers": 2}, n_heads=1)
    assert spec["body"]["sizes"] == [2, 100] and spec["head"] == [100, 100, 3]


def test_grown_heads_start_equal_to_the_hinton_head():
    torch.manual_seed(0)
    model = build_model(hydra_spec([4, 8, 8, 3], {"type": "mlp", "hidden": [5]}, n_heads=1))
    with torch.no_grad():
        for p in model.heads[0].parameters():
            p.add_(1.0)  # a trained Hinton head differs from a fresh one
    model.grow(4)
    assert len(model.heads) == 4
    x = torch.randn(6, 4)
    out = model(x)
    assert out.shape == (6, 4, 3)
    for k in range(1, 4):
        torch.testing.assert_close(out[:, k], out[:, 0])
    # ...but they are independent copies, not shared parameters.
    assert model.heads[1][0].weight.data_ptr() != model.heads[0][0].weight.data_ptr()
