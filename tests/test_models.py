"""Tests for nnspec_core.models: parameter counts, seeding, targets, losses."""

import numpy as np
import pytest
import torch

from nnspec_core.models import (
    ACTIVATIONS,
    accuracy,
    count_params,
    encode_targets,
    loss_function,
    make_mlp,
    output_dim,
    predict,
)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("width", [2, 16, 64])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_parameter_count_and_structure(depth, width, activation):
    model = make_mlp(3, 2, depth=depth, width=width, activation=activation, seed=0)
    n = sum(p.numel() for p in model.parameters())
    brute = 3 * width + width + (depth - 1) * (width * width + width) + width * 2 + 2
    assert n == count_params(3, 2, depth=depth, width=width) == brute
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert len(linears) == depth + 1
    assert all(p.dtype == torch.float64 for p in model.parameters())
    acts = [type(m).__name__ for m in model if not isinstance(m, torch.nn.Linear)]
    expected = {"tanh": "Tanh", "relu": "ReLU", "gelu": "GELU", "linear": "Identity"}[activation]
    assert acts == [expected] * depth


def test_default_is_two_layer_net_with_65_parameters():
    model = make_mlp(2, 1)
    assert count_params(2, 1) == 65 == sum(p.numel() for p in model.parameters())


def test_activation_is_applied():
    x = torch.linspace(-2, 2, 5, dtype=torch.float64).reshape(-1, 1)
    for act, f in [("tanh", torch.tanh), ("relu", torch.relu), ("linear", lambda z: z)]:
        m = make_mlp(1, 1, width=2, activation=act, seed=3)
        h = m[0](x)
        ref = m[2](f(h))
        torch.testing.assert_close(m(x), ref, rtol=0, atol=0)


def test_seeded_init_is_deterministic_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a, b, c = make_mlp(2, 1, seed=5), make_mlp(2, 1, seed=5), make_mlp(2, 1, seed=6)
    assert torch.equal(state, torch.get_rng_state())
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(), strict=True))


def test_init_scale_bounds():
    m = make_mlp(4, 1, width=8, init_scale=2.0, seed=0)
    w = m[0].weight
    assert w.abs().max() <= 2.0 / np.sqrt(4) and w.abs().max() > 0.5 / np.sqrt(4)


def test_targets_outputs_and_losses():
    y = np.array([0, 1, 1, 0])
    t = encode_targets(y, task="classification", n_classes=2, loss="mse")
    assert t.shape == (4, 1) and t.flatten().tolist() == [-1.0, 1.0, 1.0, -1.0]
    t3 = encode_targets(np.array([0, 2, 1]), task="classification", n_classes=3, loss="mse")
    assert t3.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    tc = encode_targets(y, task="classification", n_classes=2, loss="cross_entropy")
    assert tc.dtype == torch.int64 and tc.tolist() == [0, 1, 1, 0]
    assert output_dim("classification", 2, "mse") == 1 and output_dim("classification", 2, "cross_entropy") == 2
    assert output_dim("regression", 0, "mse") == 1
    with pytest.raises(ValueError, match="loss must be 'mse' for a regression"):
        output_dim("regression", 0, "cross_entropy")
    out = torch.tensor([[0.5], [1.5]], dtype=torch.float64)
    tgt = torch.tensor([[1.0], [1.0]], dtype=torch.float64)
    assert float(loss_function("mse")(out, tgt)) == pytest.approx((0.25 + 0.25) / 2, rel=1e-15)
    logits = torch.tensor([[0.0, np.log(3.0)]], dtype=torch.float64)
    assert float(loss_function("cross_entropy")(logits, torch.tensor([1]))) == pytest.approx(-np.log(0.75), rel=1e-14)


def test_accuracy_and_predict():
    assert accuracy(torch.tensor([[0.3], [-2.0], [1.0]]), np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert accuracy(torch.tensor([[0.1, 0.9, 0.0], [2.0, 0.0, 0.0]]), np.array([1, 2])) == 0.5
    m = make_mlp(2, 1, width=4, seed=1)
    X = np.random.default_rng(0).standard_normal((7, 2))
    theta = torch.nn.utils.parameters_to_vector(m.parameters()).detach().numpy()
    np.testing.assert_allclose(predict(m, X, theta=theta), predict(m, X), rtol=0, atol=0)
    out0 = predict(m, X, theta=np.zeros_like(theta))
    np.testing.assert_array_equal(out0, np.zeros((7, 1)))
    with pytest.raises(ValueError, match="theta must have 17 entries"):
        predict(m, X, theta=np.zeros(3))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(depth=5), "depth must be <= 4"),
        (dict(depth=0), "depth must be >= 1"),
        (dict(width=1), "width must be >= 2"),
        (dict(width=65), "width must be <= 64"),
        (dict(activation="sigmoid"), "activation must be one of"),
        (dict(init_scale=0.0), "init_scale must be > 0"),
    ],
)
def test_bad_model_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_mlp(2, 1, **kwargs)
