"""Hessian of small torch models: closed form, finite differences, HVP operator, dtype handling, errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from _nets import make_data, make_mlp, make_net

from nnspec_core.hessian import flat_hessian, flat_loss_fn, flat_parameters, hessian, hvp_operator

MSE = torch.nn.functional.mse_loss


def test_linear_regression_closed_form(rng):
    """Linear(d, 1) with MSE: H = (2/N) A^T A, A = [X, 1] (weight then bias, parameters_to_vector order)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1).double()
    X = rng.standard_normal((10, 3))
    y = rng.standard_normal((10, 1))
    A = np.hstack([X, np.ones((10, 1))])
    H = hessian(model, MSE, torch.as_tensor(X), torch.as_tensor(y))
    np.testing.assert_allclose(H, 2 / 10 * A.T @ A, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("widths", [(2, 4, 1), (3, 5, 4, 2)])
def test_matches_finite_differences_of_gradient(widths):
    net = make_net(1, widths=widths, n_samples=7)
    H = hessian(net.model, MSE, net.x, net.y)
    n = net.n
    assert H.shape == (n, n) and H.dtype == np.float64
    np.testing.assert_array_equal(H, H.T)
    grad = torch.func.grad(net.loss)
    h = 1e-5
    H_fd = np.empty((n, n))
    for j in range(n):
        e = torch.zeros(n, dtype=torch.float64)
        e[j] = h
        H_fd[:, j] = ((grad(net.theta + e) - grad(net.theta - e)) / (2 * h)).numpy()
    H_fd = 0.5 * (H_fd + H_fd.T)
    assert np.abs(H - H_fd).max() <= 1e-8 * np.abs(H).max()
    assert np.linalg.eigvalsh(H).min() < 0 < np.linalg.eigvalsh(H).max()  # indefinite: a real test case


def test_hvp_operator_matches_dense(rng):
    net = make_net(2, widths=(3, 6, 2))
    H = hessian(net.model, MSE, net.x, net.y)
    L = hvp_operator(net.model, MSE, net.x, net.y)
    n = H.shape[0]
    assert L.shape == (n, n)
    v = rng.standard_normal(n)
    np.testing.assert_allclose(L @ v, H @ v, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(L.rmatvec(v), H @ v, rtol=1e-12, atol=1e-13)
    V = rng.standard_normal((n, 4))
    np.testing.assert_allclose(L @ V, H @ V, rtol=1e-12, atol=1e-13)


def test_theta_argument_float32_model_and_no_side_effects():
    net = make_net(3)
    model32 = copy.deepcopy(net.model).float()
    before = [p.detach().clone() for p in model32.parameters()]
    theta_other = net.theta + 0.3
    H_other = hessian(model32, MSE, net.x.float(), net.y.float(), theta=theta_other.numpy())
    moved = copy.deepcopy(net.model)
    torch.nn.utils.vector_to_parameters(theta_other, moved.parameters())
    # the float32 model and data are cast to float64 (x, y keep their float32 rounding)
    x32, y32 = net.x.float().double(), net.y.float().double()
    np.testing.assert_allclose(H_other, hessian(moved, MSE, x32, y32, theta=theta_other),
                               rtol=1e-12, atol=1e-14)  # fmt: skip
    assert all(torch.equal(a, b) for a, b in zip(before, model32.parameters(), strict=True))
    assert all(p.dtype == torch.float32 for p in model32.parameters())
    np.testing.assert_allclose(flat_parameters(model32).numpy(), net.theta.float().double().numpy(), rtol=0, atol=0)


def test_chunk_size_does_not_change_result():
    net = make_net(4)
    H16 = flat_hessian(net.loss, net.theta)
    H1 = flat_hessian(net.loss, net.theta, chunk_size=1)
    H100 = flat_hessian(net.loss, net.theta, chunk_size=100)
    np.testing.assert_allclose(H1, H16, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(H100, H16, rtol=1e-14, atol=1e-15)


def test_flat_loss_matches_module_forward():
    model = make_mlp(5, widths=(2, 3, 1))
    x, y = make_data(5)
    f = flat_loss_fn(model, MSE, x.numpy(), y.numpy())
    assert f(flat_parameters(model)).item() == pytest.approx(MSE(model(x), y).item(), rel=1e-15)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda n: hessian("model", MSE, n.x, n.y), TypeError, "model must be a torch.nn.Module; got str"),
        (lambda n: hessian(n.model, 3, n.x, n.y), TypeError, "loss_fn must be callable"),
        (lambda n: hessian(n.model, MSE, n.x, n.y, theta=np.zeros(5)), ValueError,
         r"theta must have shape \(17,\) to match the model's parameters; got \(5,\)"),
        (lambda n: hessian(n.model, MSE, n.x, n.y, theta=np.full(17, np.nan)), ValueError, "theta must contain only"),
        (lambda n: hessian(n.model, MSE, n.x, n.y, chunk_size=0), ValueError, "chunk_size must be >= 1"),
        (lambda n: hessian(torch.nn.ReLU(), MSE, n.x, n.y), ValueError, "model must have at least one parameter"),
        (lambda n: flat_hessian(n.loss, n.theta.numpy()), ValueError, "theta must be a 1-D floating Tensor"),
    ],
)  # fmt: skip
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call(make_net(0))
