"""Pure torch steps against the real torch.optim, state extraction, and the autodiff Jacobian itself."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from _nets import make_data, make_net, random_state
from scipy.optimize import linear_sum_assignment

from nnspec_core.functional import (
    STATE_KEYS,
    adam_step,
    autodiff_jacobian,
    flat_optimizer_state,
    optimizer_step,
    rmsprop_step,
    sgd_step,
    step_map,
    torch_optimizer,
)
from nnspec_core.hessian import flat_loss_fn
from nnspec_core.operators import OPTIMIZERS, v_scale

N_STEPS = 25
HYPER = {
    "gd": {"lr": 0.1},
    "heavy_ball": {"lr": 0.05, "momentum": 0.9},
    "nesterov": {"lr": 0.05, "momentum": 0.8},
    "rmsprop": {"lr": 0.01, "alpha": 0.9, "eps": 1e-8},
    "adam": {"lr": 0.01, "betas": (0.9, 0.99), "eps": 1e-8},
    "adamw": {"lr": 0.01, "betas": (0.8, 0.999), "eps": 1e-6},
}


@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_functional_step_equals_torch_optim(opt, wd):
    """25 steps on fresh mini-batches: parameters and state agree with torch.optim to 1e-12 (float64)."""
    net = make_net(21)
    model = copy.deepcopy(net.model)
    hyper = dict(HYPER[opt], weight_decay=wd)
    optim = torch_optimizer(opt, model.parameters(), **hyper)
    theta, state = net.theta.clone(), {}
    for k in range(N_STEPS):
        x, y = make_data(100 + k, n_samples=6)
        optim.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optim.step()
        grad = torch.func.grad(flat_loss_fn(net.model, torch.nn.functional.mse_loss, x, y))(theta)
        theta, state = optimizer_step(opt, theta, grad, state, step=k + 1, **hyper)
        ref = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
        assert torch.max(torch.abs(theta - ref)) <= 1e-12 * max(1.0, float(torch.max(torch.abs(ref)))), k
    moved = torch.max(torch.abs(theta - net.theta))
    assert moved > 1e-3  # the comparison is not vacuous
    flat = flat_optimizer_state(optim, model.parameters())
    assert set(state) == set(STATE_KEYS[opt]) and set(STATE_KEYS[opt]) <= set(flat)
    for key, value in state.items():
        np.testing.assert_allclose(value.numpy(), flat[key], rtol=1e-12, atol=1e-18)


def test_steps_are_pure_and_first_sgd_step_is_zero_buffer():
    rng = np.random.default_rng(0)
    theta, grad, m, v = (torch.as_tensor(rng.standard_normal(5)) for _ in range(4))
    v = v.abs()
    copies = [t.clone() for t in (theta, grad, m, v)]
    sgd_step(theta, grad, m, lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True)
    rmsprop_step(theta, grad, v, lr=0.1, weight_decay=0.1)
    adam_step(theta, grad, m, v, step=3, lr=0.1, weight_decay=0.1, decoupled=True)
    for a, b in zip((theta, grad, m, v), copies, strict=True):
        assert torch.equal(a, b)
    for nesterov in (False, True):
        first = sgd_step(theta, grad, None, lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=nesterov)
        zero = sgd_step(theta, grad, torch.zeros(5, dtype=torch.float64), lr=0.1, momentum=0.9, weight_decay=0.1,
                        nesterov=nesterov)  # fmt: skip
        torch.testing.assert_close(first, zero, rtol=0, atol=0)
    th1, buf = sgd_step(theta, grad, lr=0.1)
    assert buf is None and torch.allclose(th1, theta - 0.1 * grad, rtol=0, atol=1e-15)


def test_flat_optimizer_state_layout_and_timing():
    net = make_net(8)
    model = copy.deepcopy(net.model)
    optim = torch_optimizer("adam", model.parameters(), lr=0.01)
    before = flat_optimizer_state(optim)
    assert before["step"] == 0 and set(before) == {"theta", "step"}
    np.testing.assert_array_equal(before["theta"], net.theta.numpy())
    torch.nn.functional.mse_loss(model(net.x), net.y).backward()
    with_grad = flat_optimizer_state(optim, model.parameters())
    np.testing.assert_allclose(with_grad["grad"], net.grad(), rtol=1e-13, atol=1e-16)
    optim.step()
    after = flat_optimizer_state(optim)
    assert after["step"] == 1 and set(after) == {"theta", "step", "grad", "exp_avg", "exp_avg_sq"}
    np.testing.assert_allclose(after["exp_avg"], 0.1 * with_grad["grad"], rtol=1e-14, atol=1e-18)
    np.testing.assert_allclose(after["exp_avg_sq"], 0.001 * with_grad["grad"] ** 2, rtol=1e-14, atol=1e-30)
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float64 and v.shape == (17,)
               for k, v in after.items() if k != "step")  # fmt: skip
    sgd = torch_optimizer("heavy_ball", model.parameters(), lr=0.1, momentum=0.9)
    np.testing.assert_array_equal(flat_optimizer_state(sgd)["momentum_buffer"], np.zeros(17))
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer; got dict"):
        flat_optimizer_state({})


def test_torch_optimizer_classes():
    p = [torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))]
    kinds = {o: type(torch_optimizer(o, p, lr=0.1, momentum=0.5)).__name__ for o in OPTIMIZERS}
    assert kinds == {"gd": "SGD", "heavy_ball": "SGD", "nesterov": "SGD", "rmsprop": "RMSprop", "adam": "Adam",
                     "adamw": "AdamW"}  # fmt: skip
    assert torch_optimizer("nesterov", p, lr=0.1, momentum=0.5).defaults["nesterov"] is True
    assert torch_optimizer("adamw", p, lr=0.1).defaults["weight_decay"] == 0.0  # no hidden torch default
    with pytest.raises(ValueError, match="optimizer must be one of"):
        torch_optimizer("lion", p, lr=0.1)


def _match(a: np.ndarray, b: np.ndarray) -> float:
    cost = np.abs(a[:, None] - b[None, :])
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].max())


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_nesterov_history_linearisation_has_torch_buffer_eigenvalues(wd):
    """Standard Nesterov (theta_k, theta_{k-1}) map and torch's buffer form: same spectrum (at y = theta_k)."""
    net = make_net(6)
    kw = {"lr": 0.2, "momentum": 0.85, "weight_decay": wd}
    J_hist = autodiff_jacobian("nesterov", net.loss, net.theta, coords="history", **kw)
    J_buf = autodiff_jacobian("nesterov", net.loss, net.theta, coords="buffer", **kw)
    assert _match(np.linalg.eigvals(J_hist), np.linalg.eigvals(J_buf)) < 1e-7  # defective-free modes, loose for EPs
    assert not np.allclose(J_hist, J_buf)  # different coordinates, different matrices


@pytest.mark.parametrize("opt", ["rmsprop", "adam"])
@pytest.mark.parametrize("scaling", ["raw", "scaled"])
def test_autodiff_full_matches_finite_differences(opt, scaling):
    """The autodiff ground truth itself against central differences of the step map (scaled v units)."""
    net = make_net(9)
    state = random_state(net, np.random.default_rng(9))
    hyper = {"lr": 0.05, "betas": (0.9, 0.99), "alpha": 0.9, "eps": 1e-8, "weight_decay": 0.02, "step": 4}
    J = autodiff_jacobian(opt, net.loss, net.theta, state, coords="full", scaling=scaling, **hyper)
    n = net.n
    keys = ("square_avg",) if opt == "rmsprop" else ("exp_avg", "exp_avg_sq")
    theta0 = net.theta
    parts0 = [torch.as_tensor(state[k]) for k in keys]
    v_key = keys[-1]
    b = hyper["alpha"] if opt == "rmsprop" else hyper["betas"][1]
    g_t = net.grad() + hyper["weight_decay"] * theta0.numpy()
    s = v_scale(b * state[v_key] + (1 - b) * g_t**2, hyper["eps"]) if scaling == "scaled" else np.ones(n)
    S = np.concatenate([np.ones(n * len(keys)), s])  # (d,)

    def step_map(z: np.ndarray) -> np.ndarray:  # raw state -> raw next state
        th = torch.as_tensor(z[:n])
        st = {k: torch.as_tensor(z[(i + 1) * n : (i + 2) * n]) for i, k in enumerate(keys)}
        th1, st1 = optimizer_step(opt, th, torch.func.grad(net.loss)(th), st, **hyper)
        return torch.cat([th1] + [st1[k] for k in keys]).numpy()

    z0 = torch.cat([theta0] + parts0).numpy()
    h = 1e-6
    J_fd = np.empty_like(J)
    for j in range(J.shape[0]):
        dz = np.zeros_like(z0)
        dz[j] = h * S[j] * (1.0 if scaling == "scaled" or j < n * len(keys) else max(abs(z0[j]), 1e-12))
        J_fd[:, j] = (step_map(z0 + dz) - step_map(z0 - dz)) / (2 * dz[j])
    J_fd = J_fd / S[:, None] * S[None, :]  # S^-1 J S (identity for raw)
    assert np.linalg.norm(J - J_fd) <= 1e-6 * np.linalg.norm(J)


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_step_map_value_is_the_real_next_state(opt):
    """fn(z0) is the next state of optimizer_step (raw / history / scaled conventions undone)."""
    net = make_net(12)
    state = random_state(net, np.random.default_rng(12))
    hyper = {"lr": 0.05, "momentum": 0.7, "betas": (0.9, 0.99), "alpha": 0.9, "eps": 1e-8, "weight_decay": 0.01,
             "step": 3}  # fmt: skip
    keys = STATE_KEYS[opt]
    st = {k: torch.as_tensor(state[k]) for k in keys}
    th1, st1 = optimizer_step(opt, net.theta, torch.func.grad(net.loss)(net.theta), st, **hyper)
    if opt in ("heavy_ball", "nesterov"):
        fn, z0 = step_map(opt, net.loss, net.theta, state, coords="buffer", **hyper)
        torch.testing.assert_close(fn(z0), torch.cat([th1, st1["momentum_buffer"]]), rtol=1e-14, atol=1e-15)
        # history: theta_prev = theta + lr * b reproduces torch's buffer step
        prev = net.theta + hyper["lr"] * st["momentum_buffer"]
        if opt == "heavy_ball":
            fn, z0 = step_map(opt, net.loss, net.theta, {"theta_prev": prev}, coords="history", **hyper)
            torch.testing.assert_close(fn(z0), torch.cat([th1, net.theta]), rtol=1e-13, atol=1e-14)
    elif opt in ("rmsprop", "adam", "adamw"):
        fn, z0 = step_map(opt, net.loss, net.theta, state, coords="full", scaling="raw", **hyper)
        torch.testing.assert_close(fn(z0), torch.cat([th1] + [st1[k] for k in keys]), rtol=1e-14, atol=1e-20)
        fn_s, z0_s = step_map(opt, net.loss, net.theta, state, coords="full", scaling="scaled", **hyper)
        n = net.n
        s_v = z0[-n:] / z0_s[-n:]
        torch.testing.assert_close(fn_s(z0_s)[-n:] * s_v, st1[keys[-1]], rtol=1e-14, atol=1e-20)
    else:
        fn, z0 = step_map(opt, net.loss, net.theta, **hyper)
        torch.testing.assert_close(fn(z0), th1, rtol=0, atol=0)


@pytest.mark.parametrize(
    "opt,kwargs,state,match",
    [
        ("adam", {"coords": "buffer"}, {}, "coords must be one of 'frozen', 'simple', 'full'; got 'buffer'"),
        ("adam", {}, {"exp_avg": np.zeros(17)}, "state is missing key 'exp_avg_sq'"),
        ("rmsprop", {}, {}, "state is missing key 'square_avg'"),
        ("heavy_ball", {"coords": "history", "lr": 0.0}, {}, "lr must be > 0 for heavy-ball history"),
        ("gd", {"lr": -1.0}, {}, "lr must be >= 0.0"),
        ("adam", {}, {"exp_avg_sq": np.ones(4)}, r"state\['exp_avg_sq'\] must have shape \(17,\)"),
        ("nesterov", {"momentum": 1.2}, {}, "momentum must be < 1.0"),
        ("adamw", {"scaling": "log"}, {"exp_avg_sq": np.ones(17)}, "scaling must be one of"),
    ],
)
def test_autodiff_errors(opt, kwargs, state, match):
    net = make_net(0)
    with pytest.raises(ValueError, match=match):
        autodiff_jacobian(opt, net.loss, net.theta, state, **{"lr": 0.1, **kwargs})


def test_autodiff_rejects_non_callable_loss():
    with pytest.raises(TypeError, match="loss_fn_flat must be callable"):
        autodiff_jacobian("gd", 3.0, np.zeros(3), lr=0.1)


@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("wd", [0.0, 0.02])
def test_step_map_serves_a_trainer_state_dict(opt, wd):
    """step_map on the trainer's flat state (torch keys + theta, grad, theta_prev) equals the private maps.

    The private path is what ``training._step_map`` builds (``_hyper`` + ``_momentum_map`` /
    ``_rmsprop_map`` / ``_adam_map`` with raw scaling): same z0, same fn values, same Jacobian, in every
    convention, so training can call the public ``step_map(..., state["theta"], state, scaling="raw")``.
    """
    from nnspec_core import functional as F
    from nnspec_core.operators import COORDS

    net = make_net(5)
    state = random_state(net, np.random.default_rng(5))  # numpy float64 vectors, extra keys included
    # the layout of TrainConfig.operator_hyper()
    hyper = {"lr": 0.05, "momentum": 0.0 if opt == "gd" else 0.7, "betas": (0.9, 0.99), "eps": 1e-8}
    hyper |= {"alpha": 0.9, "weight_decay": wd}
    step = 4
    rng = np.random.default_rng(6)
    for coords in COORDS[opt]:
        h = F._hyper(opt, **hyper, step=step)
        theta = torch.as_tensor(state["theta"])
        grad_fn = torch.func.grad(net.loss)
        if opt in ("gd", "heavy_ball", "nesterov"):
            ref_fn, ref_z0 = F._momentum_map(opt, grad_fn, theta, lambda k: torch.as_tensor(state[k]), h, coords)
        elif opt == "rmsprop":
            ref_fn, ref_z0 = F._rmsprop_map(grad_fn, theta, torch.as_tensor(state["square_avg"]), h, coords, "raw")
        else:
            m, v = torch.as_tensor(state["exp_avg"]), torch.as_tensor(state["exp_avg_sq"])
            ref_fn, ref_z0 = F._adam_map(opt, grad_fn, theta, m, v, h, coords, "raw")
        fn, z0 = step_map(opt, net.loss, state["theta"], state, **hyper, step=step, coords=coords, scaling="raw")
        torch.testing.assert_close(z0, ref_z0, rtol=0, atol=0)
        z = z0 * (1 + 0.05 * torch.as_tensor(rng.uniform(-1, 1, z0.numel())))  # keeps v > 0
        torch.testing.assert_close(fn(z), ref_fn(z), rtol=0, atol=0)
        np.testing.assert_array_equal(torch.func.jacrev(fn)(z0).numpy(), torch.func.jacrev(ref_fn)(ref_z0).numpy())
