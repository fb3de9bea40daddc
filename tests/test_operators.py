"""Analytic update operators against autodiff of the torch step, closed forms and error wording."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import torch
from _nets import make_net, random_state
from scipy.optimize import linear_sum_assignment

from nnspec_core.blocks import block_basis, blocks_to_dense
from nnspec_core.functional import autodiff_jacobian, flat_optimizer_state, torch_optimizer
from nnspec_core.operators import COORDS, DEFAULT_COORDS, OPTIMIZERS, update_operator, v_scale

RTOL = 1e-10  # analytic vs autodiff, per state block, Frobenius norm, float64

CASES = [
    (opt, coords, scaling, wd, step)
    for opt in OPTIMIZERS
    for coords in COORDS[opt]
    for scaling in ("raw", "scaled")
    for wd in (0.0, 0.05)
    for step in ((1, 5, 50) if opt in ("adam", "adamw") else (1,))
]


def assert_blockwise_close(J: np.ndarray, J_ref: np.ndarray, layout, rtol: float = RTOL) -> None:
    """Every state block (i, j) satisfies ||J_ij - J_ref_ij||_F <= rtol ||J_ref_ij||_F (zero blocks exactly)."""
    assert J.shape == J_ref.shape
    for a, i0, i1 in layout:
        for b, j0, j1 in layout:
            ref = J_ref[i0:i1, j0:j1]
            err = np.linalg.norm(J[i0:i1, j0:j1] - ref)
            assert err <= rtol * np.linalg.norm(ref), (
                f"block ({a}, {b}): error {err:.3e}, norm {np.linalg.norm(ref):.3e}"
            )


def hyper_for(rng: np.random.Generator, wd: float, step: int) -> dict:
    return {
        "lr": float(rng.uniform(0.01, 0.3)),
        "momentum": float(rng.uniform(0.5, 0.95)),
        "betas": (float(rng.uniform(0.8, 0.95)), float(rng.uniform(0.99, 0.9995))),
        "eps": 1e-8,
        "alpha": float(rng.uniform(0.9, 0.99)),
        "weight_decay": wd,
        "step": step,
    }


@pytest.mark.parametrize("opt,coords,scaling,wd,step", CASES)
def test_analytic_equals_autodiff(opt, coords, scaling, wd, step):
    seed = 7 * step + int(wd > 0) + 3 * OPTIMIZERS.index(opt)
    net = make_net(seed)
    rng = np.random.default_rng(seed)
    state = random_state(net, rng)
    hyper = hyper_for(rng, wd, step)
    theta_eval = net.theta
    if opt == "nesterov" and coords == "history":  # H at the look-ahead point y
        beta = hyper["momentum"]
        theta_eval = net.theta + beta * (net.theta - torch.as_tensor(state["theta_prev"]))
    H = net.hessian(theta_eval)
    op = update_operator(opt, H, state=state, coords=coords, scaling=scaling, **hyper)
    J_ad = autodiff_jacobian(opt, net.loss, net.theta, state, coords=coords, scaling=scaling, **hyper)
    assert op.J.shape == (op.d, op.d) == J_ad.shape
    assert op.d == len(op.layout) * net.n and op.n_params == net.n
    assert_blockwise_close(op.J, J_ad, op.layout)


@pytest.mark.parametrize("opt", ["rmsprop", "adam", "adamw"])
@pytest.mark.parametrize("coords", ["frozen", "full"])
def test_torch_initial_state(opt, coords):
    """Step 1 from torch's initial state m = v = 0 (the preconditioner of the real first step)."""
    net = make_net(3)
    zeros = np.zeros(net.n)
    state = {"grad": net.grad(), "theta": net.theta.numpy(), "exp_avg": zeros, "exp_avg_sq": zeros, "square_avg": zeros}
    kw = {"lr": 0.01, "betas": (0.9, 0.999), "alpha": 0.99, "weight_decay": 0.01, "step": 1, "coords": coords}
    op = update_operator(opt, net.hessian(), state=state, **kw)
    assert_blockwise_close(op.J, autodiff_jacobian(opt, net.loss, net.theta, state, **kw), op.layout)
    assert np.all(np.isfinite(op.J))


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_operator_from_real_torch_trajectory(opt):
    """State read back from a real torch optimizer after 6 steps; grad recomputed at theta_t."""
    net = make_net(11)
    hyper = {"lr": 0.05, "momentum": 0.9, "betas": (0.9, 0.99), "eps": 1e-8, "alpha": 0.95, "weight_decay": 0.01}
    optim = torch_optimizer(opt, net.model.parameters(), **hyper)
    for _ in range(6):
        optim.zero_grad()
        torch.nn.functional.mse_loss(net.model(net.x), net.y).backward()
        optim.step()
    optim.zero_grad()
    torch.nn.functional.mse_loss(net.model(net.x), net.y).backward()  # grad at theta_t
    state = flat_optimizer_state(optim, net.model.parameters())
    assert state["step"] == (6 if opt in ("rmsprop", "adam", "adamw") else 0)
    theta = torch.as_tensor(state["theta"])
    H = net.hessian(theta)
    np.testing.assert_allclose(state["grad"], net.grad(theta), rtol=1e-12, atol=1e-15)
    for coords in COORDS[opt]:
        kw = dict(hyper, step=7, coords=coords)
        op = update_operator(opt, H, state=state, **kw)
        J_ad = autodiff_jacobian(opt, net.loss, theta, state, **kw)
        assert_blockwise_close(op.J, J_ad, op.layout)  # history: theta_prev = theta, so y = theta_t


@pytest.mark.parametrize("opt", ["adam", "adamw", "rmsprop"])
def test_preconditioner_is_the_one_torch_uses(opt):
    """theta_{t+1} - theta_t from the real torch step equals -lr c1 M m_{t+1} (Adam) or -lr M g (RMSProp)."""
    net = make_net(5)
    hyper = {"lr": 0.02, "betas": (0.9, 0.99), "eps": 1e-8, "alpha": 0.9}
    optim = torch_optimizer(opt, net.model.parameters(), **hyper)
    for t in range(1, 5):
        state = flat_optimizer_state(optim, net.model.parameters())
        optim.zero_grad()
        torch.nn.functional.mse_loss(net.model(net.x), net.y).backward()
        state = {**state, "grad": flat_optimizer_state(optim, net.model.parameters())["grad"]}
        if opt == "rmsprop":
            state.setdefault("square_avg", np.zeros(net.n))
        else:
            state.setdefault("exp_avg", np.zeros(net.n))
            state.setdefault("exp_avg_sq", np.zeros(net.n))
        op = update_operator(opt, np.eye(net.n), state=state, step=t, **hyper)
        optim.step()
        after = flat_optimizer_state(optim, net.model.parameters())
        if opt == "rmsprop":
            expected = -hyper["lr"] * op.preconditioner * state["grad"]
        else:
            c1 = 1 / (1 - hyper["betas"][0] ** t)
            expected = -hyper["lr"] * c1 * op.preconditioner * after["exp_avg"]
        np.testing.assert_allclose(after["theta"] - state["theta"], expected, rtol=1e-12, atol=1e-16)


def _random_sym(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    Q, _ = np.linalg.qr(rng.standard_normal((lam.size, lam.size)))
    return Q @ np.diag(lam) @ Q.T


def _match(a: np.ndarray, b: np.ndarray) -> float:
    """Largest distance under the best one-to-one matching of two eigenvalue multisets."""
    cost = np.abs(a[:, None] - b[None, :])
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].max())


def test_heavy_ball_eigenvalues_solve_mode_quadratic(rng):
    lam = np.array([-0.5, 0.02, 0.3, 1.0, 2.5, 7.0, 15.0, 30.0])
    H = _random_sym(rng, lam)
    eta, beta, wd = 0.1, 0.81, 0.03
    for coords in ("buffer", "history"):
        op = update_operator("heavy_ball", H, lr=eta, momentum=beta, weight_decay=wd, coords=coords)
        mu = np.linalg.eigvals(op.J)
        # each eigenvalue solves mu^2 - (1 + beta - eta lam) mu + beta = 0 for one mode (lam + wd)
        roots = np.concatenate([np.roots([1.0, -(1 + beta - eta * (lk + wd)), beta]) for lk in lam])
        assert _match(mu, roots.astype(complex)) < 1e-9
        residual = np.min(
            np.abs(mu[:, None] ** 2 - (1 + beta - eta * (lam + wd))[None, :] * mu[:, None] + beta), axis=1
        )
        assert residual.max() < 1e-12


@pytest.mark.parametrize("opt", ["heavy_ball", "nesterov"])
@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_buffer_and_history_share_eigenvalues(opt, wd, rng):
    H = _random_sym(rng, np.array([-1.0, 0.1, 0.5, 2.0, 4.0, 9.0]))
    kw = {"lr": 0.07, "momentum": 0.6, "weight_decay": wd}
    mu_b = np.linalg.eigvals(update_operator(opt, H, coords="buffer", **kw).J)
    mu_h = np.linalg.eigvals(update_operator(opt, H, coords="history", **kw).J)
    assert _match(mu_b, mu_h) < 1e-10


@pytest.mark.parametrize("opt", ["heavy_ball", "nesterov"])
@pytest.mark.parametrize("coords", ["buffer", "history"])
@pytest.mark.parametrize("wd", [0.0, 0.2])
def test_blocks_reconstruct_J(opt, coords, wd, rng):
    H = _random_sym(rng, rng.uniform(-2, 10, 9))
    op = update_operator(opt, H, lr=0.15, momentum=0.9, weight_decay=wd, coords=coords)
    assert op.blocks.shape == (9, 2, 2) and op.block_basis.shape == (9, 9)
    U = block_basis(op.block_basis)
    np.testing.assert_allclose(U.T @ U, np.eye(18), atol=1e-13)
    np.testing.assert_allclose(U @ blocks_to_dense(op.blocks) @ U.T, op.J, rtol=0, atol=1e-12)


def test_nonsymmetric_H_has_no_blocks(rng):
    H = rng.standard_normal((5, 5))
    op = update_operator("heavy_ball", H, lr=0.1, momentum=0.5)
    assert op.blocks is None and op.block_basis is None
    np.testing.assert_array_equal(op.J[:5, 5:], -0.1 * 0.5 * np.eye(5))


def test_gd_closed_form(rng):
    lam = np.array([-0.3, 0.0, 0.4, 1.7, 3.0])
    H = _random_sym(rng, lam)
    op = update_operator("gd", H, lr=0.2, weight_decay=0.1)
    assert op.layout == (("theta", 0, 5),) and op.blocks is None and op.preconditioner is None
    np.testing.assert_allclose(op.J, op.J.T, atol=1e-15)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(op.J)), np.sort(1 - 0.2 * (lam + 0.1)), atol=1e-13)


@pytest.mark.parametrize("opt", ["rmsprop", "adam", "adamw"])
def test_scaled_is_similarity_of_raw(opt):
    net = make_net(2)
    state = random_state(net, np.random.default_rng(2))
    state["exp_avg_sq"][0] = 0.0  # one zero history entry exercises the floor (v_{t+1} > 0 still)
    kw = {"lr": 0.1, "betas": (0.9, 0.999), "alpha": 0.9, "eps": 1e-6, "step": 3, "coords": "full"}
    raw = update_operator(opt, net.hessian(), state=state, scaling="raw", **kw)
    scaled = update_operator(opt, net.hessian(), state=state, scaling="scaled", **kw)
    b = 0.9 if opt == "rmsprop" else 0.999
    v_key = "square_avg" if opt == "rmsprop" else "exp_avg_sq"
    s = v_scale(b * state[v_key] + (1 - b) * state["grad"] ** 2, kw["eps"])
    S = np.diag(np.concatenate([np.ones(raw.d - net.n), s]))
    np.testing.assert_allclose(scaled.J, np.linalg.solve(S, raw.J @ S), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(scaled.J)), np.sort_complex(np.linalg.eigvals(raw.J)),
                               rtol=1e-6, atol=1e-9)  # fmt: skip
    for coords in ("frozen",) + (("simple",) if opt != "rmsprop" else ()):
        kw2 = dict(kw, coords=coords)
        np.testing.assert_array_equal(
            update_operator(opt, net.hessian(), state=state, scaling="raw", **kw2).J,
            update_operator(opt, net.hessian(), state=state, scaling="scaled", **kw2).J,
        )


def test_v_scale_floor():
    np.testing.assert_allclose(v_scale(np.array([0.0, 1e-20, 1.0]), 1e-8), [1e-16, 1e-16, 1.0], rtol=1e-15)
    np.testing.assert_allclose(v_scale(np.array([0.0, 4.0]), 0.0), [4e-16, 4.0], rtol=1e-15)
    np.testing.assert_array_equal(v_scale(np.zeros(2), 0.0), [1.0, 1.0])


def test_result_is_frozen_picklable_and_hyper_round_trips():
    net = make_net(4)
    state = random_state(net, np.random.default_rng(4))
    op = update_operator("adamw", net.hessian(), lr=0.01, weight_decay=0.1, state=state, step=9, coords="full")
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.coords = "raw"  # type: ignore[misc]
    clone = pickle.loads(pickle.dumps(op))
    np.testing.assert_array_equal(clone.J, op.J)
    assert clone.layout == (("theta", 0, 17), ("m", 17, 34), ("v", 34, 51)) and clone.hyper == op.hyper
    again = update_operator(op.optimizer, op.H, state=state, coords=op.coords, scaling=op.scaling, **op.hyper)
    np.testing.assert_array_equal(again.J, op.J)
    assert isinstance(op.description, str) and "\n" not in op.description and "[theta; m; v]" in op.description


def test_defaults_and_contract_tables():
    assert set(COORDS) == set(OPTIMIZERS) == set(DEFAULT_COORDS)
    assert all(DEFAULT_COORDS[o] in COORDS[o] for o in OPTIMIZERS)
    op = update_operator("heavy_ball", np.eye(3), lr=0.1, momentum=0.5)
    assert op.coords == "buffer" and op.scaling == "scaled" and op.layout[1][0] == "buffer"


# ----------------------------------------------------------------------------------------- errors
H2 = np.eye(2)
ADAM_STATE = {"grad": np.ones(2), "exp_avg": np.zeros(2), "exp_avg_sq": np.ones(2)}


@pytest.mark.parametrize(
    "args,kwargs,exc,match",
    [
        (("sgd", H2), {"lr": 0.1}, ValueError, "optimizer must be one of 'gd'.*got 'sgd'"),
        (("adam", H2), {"lr": 0.1, "coords": "buffer", "state": ADAM_STATE}, ValueError, "coords must be one of"),
        (("gd", np.ones((2, 3))), {"lr": 0.1}, ValueError, r"H must be a square 2-D array; got shape \(2, 3\)"),
        (("gd", np.array([[1.0, np.nan], [0.0, 1.0]])), {"lr": 0.1}, ValueError, "H must contain only finite"),
        (("gd", np.eye(2) * 1j), {"lr": 0.1}, TypeError, "H must be a real matrix"),
        (("gd", "abc"), {"lr": 0.1}, TypeError, "H must be a numeric"),
        (("gd", H2), {"lr": -0.1}, ValueError, "lr must be >= 0.0; got -0.1"),
        (("heavy_ball", H2), {"lr": 0.1, "momentum": 1.0}, ValueError, "momentum must be < 1.0"),
        (("nesterov", H2), {"lr": 0.1, "momentum": -0.2}, ValueError, "momentum must be >= 0.0"),
        (("adam", H2), {"lr": 0.1, "betas": (1.0, 0.9), "state": ADAM_STATE}, ValueError, r"betas\[0\] must be < 1.0"),
        (("adam", H2), {"lr": 0.1, "betas": (0.9, 1.5), "state": ADAM_STATE}, ValueError, r"betas\[1\] must be < 1.0"),
        (("adam", H2), {"lr": 0.1, "betas": 0.9, "state": ADAM_STATE}, ValueError, "betas must be a pair"),
        (("adam", H2), {"lr": 0.1, "step": 0, "state": ADAM_STATE}, ValueError, "step must be >= 1"),
        (("adam", H2), {"lr": 0.1, "scaling": "log", "state": ADAM_STATE}, ValueError, "scaling must be one of"),
        (("gd", H2), {"lr": 0.1, "weight_decay": -1.0}, ValueError, "weight_decay must be >= 0.0"),
        (("adam", H2), {"lr": 0.1, "eps": -1e-8, "state": ADAM_STATE}, ValueError, "eps must be >= 0.0"),
        (("adam", H2), {"lr": 0.1}, ValueError, "state is missing key 'grad'.*got no state"),
        (("adam", H2), {"lr": 0.1, "state": {"grad": np.ones(2)}}, ValueError, "missing key 'exp_avg_sq'"),
        (("adamw", H2), {"lr": 0.1, "coords": "full", "state": {"grad": np.ones(2), "exp_avg_sq": np.ones(2)}},
         ValueError, "missing key 'exp_avg'"),
        (("rmsprop", H2), {"lr": 0.1, "state": {"grad": np.ones(2)}}, ValueError, "missing key 'square_avg'"),
        (("adam", H2), {"lr": 0.1, "weight_decay": 0.1, "state": ADAM_STATE}, ValueError, "missing key 'theta'"),
        (("adam", H2), {"lr": 0.1, "state": {**ADAM_STATE, "grad": np.ones(3)}}, ValueError,
         r"state\['grad'\] must have shape \(2,\) to match H; got shape \(3,\)"),
        (("adam", H2), {"lr": 0.1, "state": {**ADAM_STATE, "exp_avg_sq": -np.ones(2)}}, ValueError,
         r"state\['exp_avg_sq'\] must be >= 0"),
        (("adam", H2), {"lr": 0.1, "state": {**ADAM_STATE, "grad": np.array([1.0, np.inf])}}, ValueError,
         r"state\['grad'\] must contain only finite"),
        (("adam", np.eye(1400)), {"lr": 0.1, "coords": "full", "state": {}}, ValueError,
         r"gives a 4200x4200 operator for adam coords='full'; at most 4096x4096"),
    ],
)  # fmt: skip
def test_clear_errors(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        update_operator(*args, **kwargs)


def test_adamw_decoupled_needs_no_theta():
    op = update_operator("adamw", H2, lr=0.1, weight_decay=0.1, state=ADAM_STATE)
    assert op.J.shape == (4, 4)
    np.testing.assert_allclose(np.diag(op.J)[2:], 0.9)
