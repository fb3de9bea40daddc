"""Closed-form 2x2 block formulas against dense numpy references."""

import numpy as np
import pytest
import scipy.linalg as sla

from nnspec_core.blocks import (
    block_basis,
    block_power_norms,
    blocks_to_dense,
    departure2x2,
    eig2x2,
    kappa2x2,
    momentum_blocks,
    sigma_max2x2,
    sigma_min2x2,
)


def _dense_kappa(B):
    w, V = np.linalg.eig(B)
    V = V / np.linalg.norm(V, axis=0)
    return np.linalg.cond(V)


@pytest.mark.parametrize("dtype", [float, complex])
def test_eig_kappa_sigma_against_dense(rng, dtype):
    B = rng.standard_normal((200, 2, 2))
    if dtype is complex:
        B = B + 1j * rng.standard_normal((200, 2, 2))
    mu = eig2x2(B)
    kap = kappa2x2(B)
    smin = sigma_min2x2(B)
    smax = sigma_max2x2(B)
    for i in range(len(B)):
        w = np.linalg.eigvals(B[i])
        np.testing.assert_allclose(np.sort_complex(mu[i]), np.sort_complex(w), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(kap[i], _dense_kappa(B[i]), rtol=1e-7)
        s = np.linalg.svd(B[i], compute_uv=False)
        np.testing.assert_allclose([smax[i], smin[i]], s, rtol=1e-12)
        T, _ = sla.schur(B[i].astype(complex), output="complex")
        np.testing.assert_allclose(departure2x2(B[i]), abs(T[0, 1]), rtol=1e-9, atol=1e-14)


def test_kappa_normal_and_defective():
    assert kappa2x2(np.array([[2.0, 1.0], [1.0, 3.0]])) == 1.0  # symmetric
    assert kappa2x2(np.array([[0.0, -1.0], [1.0, 0.0]])) == 1.0  # rotation (normal, complex pair)
    assert kappa2x2(np.array([[1.0, 1.0], [0.0, 1.0]])) == np.inf  # Jordan block
    assert kappa2x2(3.0 * np.eye(2)) == 1.0


def test_sigma_min_tiny_no_cancellation():
    eps = 1e-9
    M = np.array([[1.0, 1e4], [0.0, eps]])
    ref = np.linalg.svd(M, compute_uv=False)[-1]
    np.testing.assert_allclose(sigma_min2x2(M), ref, rtol=1e-8)


@pytest.mark.parametrize("optimizer", ["gd", "heavy_ball", "nesterov"])
@pytest.mark.parametrize("coords", ["buffer", "history"])
def test_orthogonal_block_reconstruction(rng, optimizer, coords):
    n = 6
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = rng.uniform(-0.5, 4.0, n)
    H = Q @ np.diag(lam) @ Q.T
    eta, beta, wd = 0.3, 0.0 if optimizer == "gd" else 0.8, 0.01
    I, Z = np.eye(n), np.zeros((n, n))
    Hw = H + wd * I
    if coords == "buffer":
        if optimizer == "nesterov":
            J = np.block([[I - eta * (1 + beta) * Hw, -eta * beta**2 * I], [Hw, beta * I]])
        else:
            J = np.block([[I - eta * Hw, -eta * beta * I], [Hw, beta * I]])
    else:
        if optimizer == "nesterov":
            J = np.block([[(1 + beta) * (I - eta * Hw), -beta * (I - eta * Hw)], [I, Z]])
        else:
            J = np.block([[(1 + beta) * I - eta * Hw, -beta * I], [I, Z]])
    B = momentum_blocks(optimizer, lam, lr=eta, momentum=beta, coords=coords, weight_decay=wd)
    U = block_basis(Q)
    np.testing.assert_allclose(U.T @ U, np.eye(2 * n), atol=1e-13)
    np.testing.assert_allclose(U @ blocks_to_dense(B) @ U.T, J, atol=1e-12)
    # ||J^k||_2 from blocks equals the dense power norms
    norms = block_power_norms(B, 12)
    ref = [np.linalg.norm(np.linalg.matrix_power(J, k), 2) for k in range(13)]
    np.testing.assert_allclose(norms, ref, rtol=1e-10)


@pytest.mark.parametrize("beta", [0.5, 0.81, 0.9])
def test_heavy_ball_exceptional_points(beta):
    """kappa(V) -> inf as eta*lam -> (1 +- sqrt(beta))^2, like |Delta|^(-1/2)."""
    for ep in ((1 - np.sqrt(beta)) ** 2, (1 + np.sqrt(beta)) ** 2):
        d = np.array([1e-2, 1e-4, 1e-6])
        B = momentum_blocks("heavy_ball", ep * (1 + d), lr=1.0, momentum=beta, coords="history")
        k = kappa2x2(B)
        slope = np.polyfit(np.log(d), np.log(k), 1)[0]
        assert abs(slope + 0.5) < 0.02
        mu = eig2x2(B)
        # characteristic polynomial mu^2 - (1 + beta - eta*lam) mu + beta = 0
        res = mu**2 - (1 + beta - ep * (1 + d))[:, None] * mu + beta
        np.testing.assert_allclose(np.abs(res), 0, atol=1e-12)
