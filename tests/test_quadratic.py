"""Quadratic-loss model and Operator Lab presets (nnspec_core.quadratic)."""

from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np
import pytest

from nnspec_core.quadratic import (
    PRESETS,
    V_MODES,
    LabPreset,
    QuadraticProblem,
    log_spectrum,
    preset_problem,
    quadratic_problem,
    rotation_matrix,
)


def test_log_spectrum_endpoints_and_geometric_spacing():
    lam = log_spectrum(5, kappa=1e4, lam_max=2.0)
    assert lam.shape == (5,)
    np.testing.assert_allclose([lam[0], lam[-1]], [2.0, 2e-4], rtol=1e-14)
    np.testing.assert_allclose(lam[:-1] / lam[1:], 10.0, rtol=1e-13)
    np.testing.assert_array_equal(log_spectrum(1, kappa=10.0, lam_max=3.0), [3.0])
    np.testing.assert_array_equal(log_spectrum(3, kappa=1.0), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("n", (1, 2, 3, 4, 7))
def test_rotation_matrix_is_orthogonal_and_pairs_extremes(n):
    R0 = rotation_matrix(n, 0.0)
    np.testing.assert_array_equal(R0, np.eye(n))
    phi = 0.3
    R = rotation_matrix(n, phi)
    np.testing.assert_allclose(R.T @ R, np.eye(n), atol=1e-15)
    if n >= 2:
        assert np.linalg.det(R) == pytest.approx(1.0)
        assert R[0, 0] == pytest.approx(math.cos(phi)) and R[n - 1, 0] == pytest.approx(math.sin(phi))
    if n % 2:
        mid = n // 2
        np.testing.assert_array_equal(R[:, mid], np.eye(n)[:, mid])


@pytest.mark.parametrize("angle", (0.0, 0.4, math.pi / 4))
def test_quadratic_problem_has_the_requested_spectrum_and_eigenbasis(angle):
    lam = np.array([10.0, 2.0, 0.5, 0.05])
    P = quadratic_problem(lam, angle=angle)
    np.testing.assert_allclose(P.H, P.H.T, atol=0)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(P.H)), np.sort(lam), rtol=1e-13)
    np.testing.assert_allclose(P.H @ P.Q, P.Q * lam, atol=1e-13)
    np.testing.assert_allclose(P.v_hat, lam**2)  # "aligned": fixed under rotation
    np.testing.assert_allclose(P.preconditioner, 1 / (lam + 1e-8), rtol=1e-15)
    comm = np.linalg.norm(P.H @ np.diag(P.preconditioner) - np.diag(P.preconditioner) @ P.H, 2)
    assert (comm == 0.0) if angle == 0.0 else (comm > 0.1)
    assert P.n == 4
    pickle.loads(pickle.dumps(P))


def test_v_modes():
    lam = [4.0, 1.0]
    P = quadratic_problem(lam, angle=0.3, v_mode="diag", eps=0.0)
    np.testing.assert_allclose(P.v_hat, np.diag(P.H @ P.H), rtol=1e-14)
    np.testing.assert_allclose(P.preconditioner, 1 / np.linalg.norm(P.H, axis=1), rtol=1e-14)
    # with v_hat = diag(H^2) a 2x2 H at 45 degrees has equal row norms: M is a multiple of I again
    P45 = quadratic_problem(lam, angle=math.pi / 4, v_mode="diag")
    assert P45.preconditioner[0] == pytest.approx(P45.preconditioner[1], rel=1e-12)
    Pones = quadratic_problem(lam, angle=0.3, v_mode="ones", eps=0.5)
    np.testing.assert_allclose(Pones.preconditioner, 1 / 1.5)
    assert set(V_MODES) == {"aligned", "diag", "ones"}


def test_adam_state_reproduces_the_preconditioner_in_operators():
    from nnspec_core.operators import update_operator

    P = quadratic_problem([3.0, 0.2, 0.01], angle=0.6, eps=1e-6)
    for step in (1, 10, 200):
        state = P.adam_state(betas=(0.9, 0.99), step=step)
        op = update_operator(
            "adam", P.H, lr=0.01, betas=(0.9, 0.99), eps=P.eps, state=state, step=step, coords="frozen"
        )
        np.testing.assert_allclose(op.preconditioner, P.preconditioner, rtol=1e-12)


def test_quadratic_problem_validation():
    with pytest.raises(ValueError, match="eigenvalues must be a non-empty 1-D real array"):
        quadratic_problem([[1.0, 2.0]])
    with pytest.raises(ValueError, match="eigenvalues must be finite"):
        quadratic_problem([1.0, np.inf])
    with pytest.raises(ValueError, match="v_mode must be one of"):
        quadratic_problem([1.0], v_mode="adam")
    with pytest.raises(ValueError, match="kappa must be >= 1.0"):
        log_spectrum(3, kappa=0.5)
    with pytest.raises(ValueError, match="n must be an integer"):
        log_spectrum(2.5, kappa=10.0)
    with pytest.raises(TypeError, match="angle must be a real number"):
        rotation_matrix(2, "0.3")
    with pytest.raises(ValueError, match="v_hat \\+ eps must be positive"):
        quadratic_problem([0.0, 1.0], eps=0.0)


# ------------------------------------------------------------------ presets (plain data, claims verified)


def _dense(preset: LabPreset, P: QuadraticProblem) -> np.ndarray:
    """Dense J of a preset, assembled from the textbook formulas."""
    H, n = P.H, P.n
    I, Z = np.eye(n), np.zeros((n, n))
    eta, beta = preset.lr, preset.momentum
    if preset.optimizer == "heavy_ball" and preset.coords == "history":
        return np.block([[(1 + beta) * I - eta * H, -beta * I], [I, Z]])
    if preset.optimizer == "nesterov" and preset.coords == "history":
        G = I - eta * H
        return np.block([[(1 + beta) * G, -beta * G], [I, Z]])
    if preset.optimizer == "adam":
        b1, t, m = preset.beta1, preset.step, P.preconditioner
        c1 = 1 / (1 - b1**t)
        raw = np.block(
            [[I - eta * c1 * (1 - b1) * np.diag(m) @ H, -eta * c1 * b1 * np.diag(m)], [(1 - b1) * H, b1 * I]]
        )
        T = np.diag(np.r_[np.ones(n), eta * c1 * m])
        return T @ raw @ np.linalg.inv(T)
    raise AssertionError(f"no reference for {preset.optimizer}/{preset.coords}")


def test_presets_are_complete_picklable_plain_data():
    titles = {p.title for p in PRESETS.values()}
    assert titles == {
        "critical damping (heavy-ball EP)",
        "Nesterov nilpotent point",
        "Adam commuting vs rotated Hessian",
        "ρ < 1 but huge transient",
        "edge of stability",
    }
    for key, p in PRESETS.items():
        assert p.key == key and p.description
        assert pickle.loads(pickle.dumps(p)) == p
        with pytest.raises(dataclasses.FrozenInstanceError):
            p.lr = 1.0  # type: ignore[misc]
        lo, hi = p.lr_range
        assert 0 < lo < p.lr < hi
        assert p.momentum_range[0] <= (p.beta1 if p.optimizer == "adam" else p.momentum) <= p.momentum_range[1]
        P = preset_problem(p)
        assert P.n == p.hessian_eigenvalues().size


def test_preset_critical_damping_sits_on_the_heavy_ball_ep():
    p = PRESETS["critical_damping"]
    lam_max = p.hessian_eigenvalues().max()
    assert p.lr * lam_max == pytest.approx((1 - math.sqrt(p.momentum)) ** 2, rel=1e-12)
    J = _dense(p, preset_problem(p))
    mu, V = np.linalg.eig(J)
    assert np.abs(mu).max() < 1
    assert np.linalg.cond(V / np.linalg.norm(V, axis=0)) > 1e6


def test_preset_nesterov_has_an_exactly_nilpotent_block():
    p = PRESETS["nesterov_nilpotent"]
    assert p.lr * p.hessian_eigenvalues()[0] == 1.0
    b = p.momentum
    s = 1 - p.lr * p.hessian_eigenvalues()[0]
    B = np.array([[(1 + b) * s, -b * s], [1.0, 0.0]])
    assert np.all(B @ B == 0) and np.any(B != 0)


def test_preset_adam_rotated_does_not_commute():
    p = PRESETS["adam_rotated"]
    P = preset_problem(p)
    M = np.diag(P.preconditioner)
    assert 0 < p.angle <= math.pi / 4
    assert np.linalg.norm(P.H @ M - M @ P.H, 2) > 0.1
    P0 = quadratic_problem(p.hessian_eigenvalues(), angle=0.0, v_mode=p.v_mode, eps=p.eps)
    assert np.linalg.norm(P0.H @ np.diag(P0.preconditioner) - np.diag(P0.preconditioner) @ P0.H) == 0.0
    J = _dense(p, P)
    assert np.abs(np.linalg.eigvals(J)).max() < 1


def test_preset_transient_has_rho_below_one_and_a_large_peak():
    p = PRESETS["transient"]
    J = _dense(p, preset_problem(p))
    assert np.abs(np.linalg.eigvals(J)).max() < 1
    P, peak, k_peak = np.eye(J.shape[0]), 0.0, 0
    for k in range(1, p.k_max + 1):
        P = J @ P
        nk = np.linalg.norm(P, 2)
        if nk > peak:
            peak, k_peak = nk, k
    assert peak > 50 and 0 < k_peak < p.k_max // 2
    assert np.linalg.norm(P, 2) < peak / 10  # it does decay within the horizon


def test_preset_edge_of_stability_is_just_inside_the_boundary():
    p = PRESETS["edge_of_stability"]
    P = preset_problem(p)
    assert p.hessian_eigenvalues().size == 4 and P.eigenvalues.max() == pytest.approx(1.0)
    rho = np.abs(np.linalg.eigvals(_dense(p, P))).max()
    assert 0.99 < rho < 1
    bumped = dataclasses.replace(p, lr=p.lr * 1.02)
    assert np.abs(np.linalg.eigvals(_dense(bumped, P))).max() > 1


def test_lab_operator_matches_reference_operators():
    from nnspec_core.blocks import blocks_to_dense
    from nnspec_core.exceptional import adam_frozen_operator
    from nnspec_core.quadratic import lab_operator

    P = quadratic_problem([3.0, 1.0, 0.1], angle=0.5)
    n = P.n
    op = lab_operator(P, optimizer="heavy_ball", coords="history", lr=0.2, momentum=0.7)
    ref = np.block([[1.7 * np.eye(n) - 0.2 * P.H, -0.7 * np.eye(n)], [np.eye(n), np.zeros((n, n))]])
    np.testing.assert_allclose(op.J, ref, atol=1e-14)
    assert op.blocks is not None and op.commutator == 0.0
    np.testing.assert_allclose(np.sort(op.modal_curvatures), [0.1, 1.0, 3.0], rtol=1e-13)
    # the blocks reproduce the spectrum of J
    np.testing.assert_allclose(
        np.sort_complex(np.linalg.eigvals(blocks_to_dense(op.blocks))),
        np.sort_complex(np.linalg.eigvals(op.J)),
        atol=1e-12,
    )
    gd = lab_operator(P, optimizer="gd", coords="theta", lr=0.3)
    np.testing.assert_allclose(gd.J, np.eye(n) - 0.3 * P.H, atol=1e-15)
    ad = lab_operator(P, optimizer="adam", coords="scaled", lr=0.01, beta1=0.9, step=5)
    np.testing.assert_array_equal(
        ad.J, adam_frozen_operator(P.H, P.preconditioner, lr=0.01, beta1=0.9, step=5, coords="scaled")
    )
    M = np.diag(P.preconditioner)
    assert ad.commutator == pytest.approx(np.linalg.norm(P.H @ M - M @ P.H, 2), rel=1e-12) and ad.commutator > 0
    np.testing.assert_allclose(np.sort(ad.modal_curvatures), np.sort(np.linalg.eigvals(M @ P.H).real), rtol=1e-12)
    P0 = quadratic_problem([3.0, 1.0, 0.1], angle=0.0)
    assert lab_operator(P0, optimizer="adam", coords="raw", lr=0.01).commutator == 0.0
    with pytest.raises(ValueError, match="coords must be one of 'scaled', 'raw'"):
        lab_operator(P, optimizer="adam", coords="history", lr=0.1)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        lab_operator(P, optimizer="rmsprop", coords="frozen", lr=0.1)


def test_iterate_trajectory_matches_the_recursion():
    from nnspec_core.quadratic import iterate_trajectory, lab_operator

    P = quadratic_problem([1.0, 0.1], angle=0.3)
    op = lab_operator(P, optimizer="heavy_ball", coords="history", lr=0.5, momentum=0.8)
    th = iterate_trajectory(op, [1.0, -2.0], 50)
    assert th.shape == (51, 2)
    # started at rest (theta_{-1} = theta_0): theta_{k+1} = theta_k - lr H theta_k + beta (theta_k - theta_{k-1})
    prev, cur = np.array([1.0, -2.0]), np.array([1.0, -2.0])
    for k in range(50):
        prev, cur = cur, cur - 0.5 * P.H @ cur + 0.8 * (cur - prev)
        np.testing.assert_allclose(th[k + 1], cur, rtol=1e-12, atol=1e-14)
    gd = lab_operator(P, optimizer="gd", coords="theta", lr=0.5)
    np.testing.assert_allclose(iterate_trajectory(gd, [1.0], 3)[3], np.linalg.matrix_power(gd.J, 3)[:, 0])
    with pytest.raises(ValueError, match="theta0 must hold at most 2 finite numbers"):
        iterate_trajectory(op, [1.0, 2.0, 3.0], 5)
