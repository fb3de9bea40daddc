"""Tests for nnspec_core.spectra against closed forms and independent dense computations.

Update operators are built here by hand from their formulas (torch semantics, dampening 0):
heavy ball, buffer coords z = [theta; b]:    J = [[I - eta H, -eta beta I], [H, beta I]]
heavy ball, history coords z = [theta_k; theta_{k-1}]: J = [[(1 + beta) I - eta H, -beta I], [I, 0]]
Nesterov, buffer coords:                     J = [[I - eta (1 + beta) H, -eta beta^2 I], [H, beta I]]
Nesterov, history coords:                    J = [[(1 + beta)(I - eta H), -beta (I - eta H)], [I, 0]]
"""

import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.linalg as sla
from scipy.optimize import linear_sum_assignment

from nnspec_core.blocks import momentum_blocks
from nnspec_core.spectra import (
    OperatorDiagnostics,
    SpectrumResult,
    classify_eigenvalues,
    commutator_norm,
    eigenvalue_condition_numbers,
    eigenvalues,
    henrici_departure,
    kappa_V,
    operator_diagnostics,
    preconditioned_sharpness,
    rho_plus,
    spectral_radius,
    spectrum,
    stability_threshold,
)

# ----------------------------------------------------------------------------------------------
# helpers


def _orthogonal(rng, n, complex_=False):
    A = rng.standard_normal((n, n))
    if complex_:
        A = A + 1j * rng.standard_normal((n, n))
    Q, R = np.linalg.qr(A)
    return Q * (np.diag(R) / np.abs(np.diag(R)))


def _sym_from_eigs(rng, lam):
    Q = _orthogonal(rng, len(lam))
    H = (Q * np.asarray(lam, float)) @ Q.T
    return 0.5 * (H + H.T)


def _dense_operator(optimizer, H, eta, beta, coords):
    n = H.shape[0]
    I, Z = np.eye(n), np.zeros((n, n))
    if optimizer == "gd":
        optimizer, beta = "heavy_ball", 0.0
    if coords == "buffer":
        if optimizer == "heavy_ball":
            return np.block([[I - eta * H, -eta * beta * I], [H, beta * I]])
        return np.block([[I - eta * (1 + beta) * H, -eta * beta**2 * I], [H, beta * I]])
    if optimizer == "heavy_ball":
        return np.block([[(1 + beta) * I - eta * H, -beta * I], [I, Z]])
    return np.block([[(1 + beta) * (I - eta * H), -beta * (I - eta * H)], [I, Z]])


def _match(a, b):
    """Permutation p with b[p] closest to a (optimal assignment)."""
    rows, cols = linear_sum_assignment(np.abs(np.asarray(a)[:, None] - np.asarray(b)[None, :]))
    return cols[np.argsort(rows)]


def _indep_kappa(A):
    w, V = np.linalg.eig(A)
    return w, np.linalg.cond(V / np.linalg.norm(V, axis=0))


# ----------------------------------------------------------------------------------------------
# heavy ball: eigenvalues per mode, exceptional points


@pytest.mark.parametrize("coords", ["buffer", "history"])
def test_heavy_ball_eigenvalues_solve_mode_quadratic(rng, coords):
    eta, beta = 0.1, 0.9
    lam = np.array([0.01, 0.3, 2.0, 7.0, 25.0, 39.5])  # real and complex mode pairs, one beyond 2+2beta
    H = _sym_from_eigs(rng, lam)
    res = spectrum(_dense_operator("heavy_ball", H, eta, beta, coords))
    a = 1 + beta - eta * lam
    disc = np.sqrt((a * a - 4 * beta).astype(complex))
    expected = np.concatenate([(a + disc) / 2, (a - disc) / 2])  # roots of mu^2 - a mu + beta
    p = _match(expected, res.eigenvalues)
    np.testing.assert_allclose(res.eigenvalues[p], expected, atol=1e-12)
    mode = np.concatenate([np.arange(6), np.arange(6)])
    mu = res.eigenvalues[p]
    np.testing.assert_allclose(mu**2 - (1 + beta - eta * lam[mode]) * mu + beta, 0, atol=1e-12)
    assert np.all(np.abs(res.eigenvalues[:-1]) >= np.abs(res.eigenvalues[1:]))  # sorted by modulus
    assert res.spectral_radius == pytest.approx(np.abs(expected).max(), rel=1e-13)
    assert res.method == "eig" and res.kappa_status == "ok"


@pytest.mark.parametrize("x_ep", [0.01, 3.61])  # (1 -/+ sqrt(0.81))^2
@pytest.mark.parametrize("side", [-1.0, 1.0])
def test_kappa_diverges_like_inverse_sqrt_distance_to_exceptional_point(rng, x_ep, side):
    eta, beta = 0.1, 0.81
    others = np.array([0.5, 1.5, 2.5]) / eta  # modes in the complex region with kappa ~ 2.5
    Q = _orthogonal(rng, 4)
    deltas = np.array([1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8])
    kappas = []
    for delta in deltas:
        lam = np.concatenate([[(x_ep + side * delta) / eta], others])
        H = (Q * lam) @ Q.T
        res = spectrum(_dense_operator("heavy_ball", 0.5 * (H + H.T), eta, beta, "history"))
        assert res.kappa_status == "ok" and res.kappa_V_cluster == res.kappa_V
        kappas.append(res.kappa_V)
    kappas = np.array(kappas)
    assert np.all(np.diff(kappas) > 0)  # grows without bound as the EP is approached
    slope = np.polyfit(np.log(deltas[1:]), np.log(kappas[1:]), 1)[0]
    assert slope == pytest.approx(-0.5, abs=0.01)
    # 2x2 Schur analysis at the EP: |t| = 1 + beta, |delta mu| ~ 2 beta^(1/4) sqrt|Delta|
    limit = (1 + beta) / beta**0.25
    np.testing.assert_allclose(kappas[-3:] * np.sqrt(deltas[-3:]), limit, rtol=1e-3)


def test_at_exceptional_point_no_exception_and_flagged(rng):
    eta, beta = 0.1, 0.81
    H = _sym_from_eigs(rng, [0.01 / eta, 1.0, 2.0])
    res = spectrum(_dense_operator("heavy_ball", H, eta, beta, "history"))
    assert res.kappa_status in ("defective", "clustered")
    assert res.kappa_V > 1e6
    assert any(np.allclose(res.eigenvalues[list(c)], 0.9, atol=1e-6) for c in res.clusters)
    assert np.isfinite(res.kappa_V_cluster) and res.kappa_V_cluster < 10


# ----------------------------------------------------------------------------------------------
# normal and symmetric matrices: kappa(V) = 1


@pytest.mark.parametrize("kind", ["complex_diag", "repeated", "orthogonal"])
def test_normal_matrices_have_kappa_one(rng, kind):
    n = 9
    if kind == "orthogonal":
        A = _orthogonal(rng, n)  # real orthogonal: normal, complex eigenvalues on the unit circle
        w = np.linalg.eigvals(A)
    else:
        U = _orthogonal(rng, n, complex_=True)
        w = rng.standard_normal(n) + 1j * rng.standard_normal(n)
        if kind == "repeated":
            w[:4] = w[0]  # a degenerate cluster: eig's V inside it is arbitrary
        A = (U * w) @ U.conj().T
    res = spectrum(A)
    assert abs(res.kappa_V - 1.0) <= 1e-12 and res.kappa_V_cluster == 1.0
    assert res.kappa_status == "normal"
    np.testing.assert_array_equal(res.eigval_condition, 1.0)
    assert res.normality_residual < 1e-14
    p = _match(w, res.eigenvalues)
    np.testing.assert_allclose(res.eigenvalues[p], w, atol=1e-12)
    if kind == "repeated":
        assert [len(c) for c in res.clusters] == [4]


def test_symmetric_with_clustered_eigenvalues_gives_exactly_one(rng):
    eta = 0.1
    lam = np.array([1.0, 1 + 1e-12, 1 + 2e-12, 2.0, 2.0 + 1e-13, 5.0, 9.0])
    H = _sym_from_eigs(rng, lam)
    J = np.eye(7) - eta * H  # GD operator, exactly symmetric
    J_almost = J + 1e-17 * rng.standard_normal(J.shape)  # numerically (not exactly) symmetric
    for A in (J, J_almost):
        res = spectrum(A)
        assert res.kappa_V == 1.0 and res.kappa_V_cluster == 1.0
        assert res.method == "eigh" and res.kappa_status == "normal"
        np.testing.assert_allclose(np.sort(res.eigenvalues.real), np.sort(1 - eta * lam), atol=1e-14)
        assert np.all(res.eigenvalues.imag == 0)
        sizes = sorted(len(c) for c in res.clusters)
        assert sizes == [2, 3]
        assert kappa_V(A) == 1.0


def test_complex_hermitian_uses_eigh(rng):
    A = rng.standard_normal((6, 6)) + 1j * rng.standard_normal((6, 6))
    Hm = A + A.conj().T
    res = spectrum(Hm)
    assert res.method == "eigh" and res.kappa_V == 1.0 and np.all(res.eigenvalues.imag == 0)
    np.testing.assert_allclose(np.sort(res.eigenvalues.real), np.linalg.eigvalsh(Hm), atol=1e-13)
    assert res.departure == 0.0 and res.normality_residual < 1e-15


# ----------------------------------------------------------------------------------------------
# defective and clustered non-normal matrices


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("lam", [0.5, 0.0, -1.0 + 0.5j])
def test_jordan_block_gives_inf_without_exception(k, lam):
    J = lam * np.eye(k) + np.diag(np.ones(k - 1), 1)
    res = spectrum(J)
    assert res.kappa_V == np.inf and res.kappa_status == "defective"
    assert np.all(np.isinf(res.eigval_condition))
    assert res.clusters == (tuple(range(k)),)
    assert res.kappa_V_cluster == pytest.approx(1.0, abs=1e-12)  # one cluster: an orthonormal basis of C^k
    assert res.departure == pytest.approx(np.sqrt(k - 1), rel=1e-12)
    assert kappa_V(J) == np.inf


def _cluster_kappa_reference(S, n_cluster):
    """cond_2 of [orthonormal basis of span S[:, :n_cluster], unit columns S[:, n_cluster:]]."""
    Qc, _ = np.linalg.qr(S[:, :n_cluster])
    rest = S[:, n_cluster:] / np.linalg.norm(S[:, n_cluster:], axis=0)
    return np.linalg.cond(np.hstack([Qc, rest]))


@pytest.mark.parametrize("defective", [True, False])
def test_cluster_aware_kappa_against_independent_subspaces(rng, defective):
    S = rng.standard_normal((6, 6))
    core = np.diag([0.5, 0.5, 2.0, -1.0, 3.0, 0.1])
    if defective:
        core[0, 1] = 1.0  # Jordan block J_2(0.5) hidden by a non-orthogonal similarity
    A = S @ core @ np.linalg.inv(S)
    res = spectrum(A)
    assert res.kappa_status in (("defective", "clustered") if defective else ("clustered",))
    assert len(res.clusters) == 1 and len(res.clusters[0]) == 2
    np.testing.assert_allclose(res.eigenvalues[list(res.clusters[0])], 0.5, atol=1e-6)
    if defective:
        assert res.kappa_V > 1e6
    assert res.kappa_V_cluster == pytest.approx(_cluster_kappa_reference(S, 2), rel=1e-8)


def test_jordan_block_under_orthogonal_similarity(rng):
    Q = _orthogonal(rng, 5)
    core = np.diag([0.5, 0.5, 2.0, -1.0, 3.0])
    core[0, 1] = 1.0
    res = spectrum(Q @ core @ Q.T)
    assert res.kappa_status in ("defective", "clustered") and res.kappa_V > 1e6
    # the spectral subspaces (span Q[:, :2] and Q[:, 2], Q[:, 3], Q[:, 4]) are mutually orthogonal: measure 1
    assert res.kappa_V_cluster == pytest.approx(1.0, abs=1e-10)


# ----------------------------------------------------------------------------------------------
# 2x2 block fast path


@pytest.mark.parametrize("optimizer", ["gd", "heavy_ball", "nesterov"])
@pytest.mark.parametrize("coords", ["buffer", "history"])
def test_block_fast_path_equals_dense_path(rng, optimizer, coords):
    n, eta, beta = 7, 0.1, 0.9
    lam = np.sort(rng.uniform(0.05, 30.0, n))
    Q = _orthogonal(rng, n)
    H = (Q * lam) @ Q.T
    H = 0.5 * (H + H.T)
    J = _dense_operator(optimizer, H, eta, beta, coords)
    B = momentum_blocks(optimizer, lam, lr=eta, momentum=beta, coords=coords)
    dense, fast = spectrum(J), spectrum(J, blocks=B)
    assert fast.method == "blocks" and dense.method == "eig"
    p = _match(dense.eigenvalues, fast.eigenvalues)
    np.testing.assert_allclose(fast.eigenvalues[p], dense.eigenvalues, atol=1e-12)
    assert fast.spectral_radius == pytest.approx(dense.spectral_radius, rel=1e-12)
    assert fast.kappa_V_cluster == pytest.approx(dense.kappa_V_cluster, rel=1e-8)
    assert fast.kappa_status == dense.kappa_status
    assert sorted(len(c) for c in fast.clusters) == sorted(len(c) for c in dense.clusters)
    if optimizer == "gd":  # inert second component: eigenvalue 0 repeated n times
        assert dense.kappa_status == "clustered" and [len(c) for c in dense.clusters] == [n]
    else:  # no clusters: V and the condition numbers are determined
        assert dense.kappa_status == "ok"
        assert fast.kappa_V == pytest.approx(dense.kappa_V, rel=1e-8)
        np.testing.assert_allclose(fast.eigval_condition[p], dense.eigval_condition, rtol=1e-8)
    assert fast.departure == pytest.approx(dense.departure, rel=1e-8)
    assert fast.departure_rel == pytest.approx(dense.departure_rel, rel=1e-8)
    assert fast.normality_residual == pytest.approx(dense.normality_residual, rel=1e-10)


def test_block_fast_path_with_repeated_hessian_eigenvalues_matches_dense_cluster_measure(rng):
    eta, beta = 0.1, 0.9
    lam = np.array([0.4, 2.0, 2.0, 2.0, 11.0])  # repeated eigenvalue: identical blocks, clustered modes
    Q = _orthogonal(rng, 5)
    H = 0.5 * ((Q * lam) @ Q.T + ((Q * lam) @ Q.T).T)
    J = _dense_operator("heavy_ball", H, eta, beta, "buffer")
    B = momentum_blocks("heavy_ball", lam, lr=eta, momentum=beta, coords="buffer")
    dense, fast = spectrum(J), spectrum(J, blocks=B)
    assert dense.kappa_status == fast.kappa_status == "clustered"
    assert sorted(len(c) for c in fast.clusters) == sorted(len(c) for c in dense.clusters) == [3, 3]
    # the block-diagonalising similarity depends only on the spectral subspaces: both paths agree
    assert fast.kappa_V_cluster == pytest.approx(dense.kappa_V_cluster, rel=1e-8)
    assert fast.kappa_V_cluster == pytest.approx(fast.kappa_V, rel=1e-12)  # clusters span several blocks


def test_block_fast_path_at_exceptional_point_is_defective():
    B = momentum_blocks("heavy_ball", np.array([1.0, 3.0]), lr=0.25, momentum=0.25, coords="history")
    # eta*lam = 0.25 = (1 - sqrt(0.25))^2: block 0 sits exactly on the EP (disc = 1 - 1 = 0)
    J = np.zeros((4, 4))
    J[np.ix_([0, 2], [0, 2])] = B[0]
    J[np.ix_([1, 3], [1, 3])] = B[1]
    res = spectrum(J, blocks=B)
    assert res.kappa_V == np.inf and res.kappa_status == "defective"
    assert np.isinf(res.eigval_condition).sum() == 2
    assert np.isfinite(res.kappa_V_cluster)


# ----------------------------------------------------------------------------------------------
# kappa(V), eigenvalue condition numbers, departure against independent computations


@pytest.mark.parametrize("seed", range(6))
def test_kappa_against_numpy_on_random_nonnormal(seed):
    rng = np.random.default_rng(seed)
    n = 5 + seed
    A = rng.standard_normal((n, n)) + (1j * rng.standard_normal((n, n)) if seed % 2 else 0)
    w, ref = _indep_kappa(A)
    gaps = np.abs(w[:, None] - w[None, :]) + np.eye(n) * 1e9
    assert gaps.min() > 1e-2  # well-separated eigenvalues: kappa(V) is determined
    res = spectrum(A)
    assert res.kappa_status == "ok" and res.clusters == ()
    assert res.kappa_V == pytest.approx(ref, rel=1e-8)
    assert res.kappa_V_cluster == res.kappa_V
    assert kappa_V(A) == pytest.approx(ref, rel=1e-8)


@pytest.mark.parametrize("seed", range(4))
def test_eigenvalue_condition_numbers_against_scipy_left_right(seed):
    rng = np.random.default_rng(100 + seed)
    n = 6
    A = rng.standard_normal((n, n)) @ np.diag(rng.uniform(0.1, 5, n)) + 0.5 * np.triu(rng.standard_normal((n, n)))
    w, vl, vr = sla.eig(A, left=True, right=True)
    vl, vr = vl / np.linalg.norm(vl, axis=0), vr / np.linalg.norm(vr, axis=0)
    ref = 1.0 / np.abs(np.sum(vl.conj() * vr, axis=0))
    res = spectrum(A)
    p = _match(w, res.eigenvalues)
    np.testing.assert_allclose(res.eigval_condition[p], ref, rtol=1e-8)
    np.testing.assert_allclose(eigenvalue_condition_numbers(A)[p], ref, rtol=1e-8)


@pytest.mark.parametrize("a, b, t", [(1.0, 0.5, 3.0), (0.2, -0.7, 0.01), (1j, 0.5 + 0.5j, 2 - 1j), (2.0, 1.0, 1e4)])
def test_triangular_2x2_closed_forms(a, b, t):
    T = np.array([[a, t], [0, b]])
    r = abs(t) / abs(a - b)
    res = spectrum(T)
    np.testing.assert_allclose(res.eigval_condition, np.sqrt(1 + r * r), rtol=1e-12)
    assert res.kappa_V == pytest.approx(r + np.sqrt(1 + r * r), rel=1e-10)  # (|t| + sqrt(|t|^2 + |d|^2)) / |d|
    assert res.departure == pytest.approx(abs(t), rel=1e-10)


@pytest.mark.parametrize("complex_", [False, True])
def test_henrici_departure_of_triangular_is_strict_upper_norm(rng, complex_):
    n = 7
    T = np.triu(rng.standard_normal((n, n)) + (1j * rng.standard_normal((n, n)) if complex_ else 0))
    strict = np.linalg.norm(np.triu(T, 1))
    res = spectrum(T)
    assert res.departure == pytest.approx(strict, rel=1e-10)
    assert res.departure_rel == pytest.approx(strict / np.linalg.norm(T), rel=1e-10)
    dep, rel = henrici_departure(T)
    assert dep == pytest.approx(strict, rel=1e-10) and rel == pytest.approx(strict / np.linalg.norm(T), rel=1e-10)
    R = T @ T.conj().T - T.conj().T @ T
    assert res.normality_residual == pytest.approx(np.linalg.norm(R) / np.linalg.norm(T) ** 2, rel=1e-12)


def test_departure_of_hermitian_and_normal(rng):
    S = rng.standard_normal((6, 6))
    assert henrici_departure(S + S.T) == (0.0, 0.0)
    U = _orthogonal(rng, 6, complex_=True)
    N = (U * (rng.standard_normal(6) + 1j * rng.standard_normal(6))) @ U.conj().T
    dep, rel = henrici_departure(N)
    assert rel < 1e-6  # formula noise floor ~ sqrt(eps)


# ----------------------------------------------------------------------------------------------
# commutator, preconditioned sharpness


def test_commutator_zero_for_commuting_pairs(rng):
    n = 6
    Q = _orthogonal(rng, n)
    H = (Q * rng.uniform(-1, 4, n)) @ Q.T
    M = (Q * rng.uniform(0.1, 2, n)) @ Q.T  # same eigenvectors
    c, rel = commutator_norm(H, M)
    assert c <= 1e-13 and rel <= 1e-14
    assert commutator_norm(H, H @ H - 3 * H)[1] <= 1e-14
    D = np.diag(rng.uniform(-1, 1, n))
    assert commutator_norm(D, rng.uniform(0.1, 2, n)) == (0.0, 0.0)  # diagonal H with a diagonal M


def test_commutator_matches_brute_force(rng):
    n = 5
    H = rng.standard_normal((n, n))
    m = rng.uniform(0.1, 3, n)
    ref = np.linalg.norm(H @ np.diag(m) - np.diag(m) @ H)
    c, rel = commutator_norm(H, m)
    assert c == pytest.approx(ref, rel=1e-13) and c > 0.1
    assert rel == pytest.approx(ref / (np.linalg.norm(H) * np.linalg.norm(m)), rel=1e-13)
    M = rng.standard_normal((n, n))
    assert commutator_norm(H, M)[0] == pytest.approx(np.linalg.norm(H @ M - M @ H), rel=1e-13)


def test_preconditioned_sharpness_against_dense(rng):
    n = 6
    H = _sym_from_eigs(rng, rng.uniform(-2, 10, n))
    m = rng.uniform(0.01, 5, n)
    ref = np.max(np.linalg.eigvals(np.diag(m) @ H).real)  # lambda_max(P^{-1} H), P^{-1} = diag(m)
    assert preconditioned_sharpness(H, m) == pytest.approx(ref, rel=1e-10)
    assert preconditioned_sharpness(H, np.diag(m)) == pytest.approx(ref, rel=1e-10)
    assert preconditioned_sharpness(H, np.ones(n)) == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-12)


# ----------------------------------------------------------------------------------------------
# classes, rho_plus, thresholds


def test_classify_hand_built_eigenvalues():
    mu = np.array([0.5, -1.2, 1.3, 0.9 + 0.9j, 0.9 - 0.9j, 0.3j, -1.0, 1.0, 0.99 + 0.1j, 1.5 + 1e-12j, -0.999, 1.1j])
    expected = ["stable", "eos_flip", "escape", "spiral", "spiral", "stable", "eos_flip", "escape", "stable", "escape"]
    expected += ["stable", "spiral"]
    np.testing.assert_array_equal(classify_eigenvalues(mu), expected)
    assert rho_plus(mu) == pytest.approx(abs(0.9 + 0.9j), rel=1e-15)
    assert rho_plus(mu, classify_eigenvalues(mu)) == rho_plus(mu)
    assert rho_plus(np.array([1.5, 2.0, 1.0])) == 0.0  # all escape modes
    assert rho_plus(np.array([0.3, 2.0])) == 0.3
    assert classify_eigenvalues(np.array([1 - 1e-12]), tol=1e-9)[0] == "escape"  # marginal: flat direction
    assert classify_eigenvalues(np.array([1 - 1e-12]), tol=0.0)[0] == "stable"


def _rho2(B):
    return np.abs(np.linalg.eigvals(B)).max()


@pytest.mark.parametrize("eta", [0.01, 0.3])
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_thresholds_put_an_eigenvalue_at_minus_one(eta, beta):
    for optimizer in ("gd", "heavy_ball", "nesterov"):
        thr = stability_threshold(optimizer, lr=eta, momentum=beta)
        for coords in ("buffer", "history"):
            B = momentum_blocks(
                optimizer, np.array([thr, 0.999 * thr, 1.001 * thr]), lr=eta, momentum=beta, coords=coords
            )
            assert abs(np.linalg.det(B[0] + np.eye(2))) <= 1e-12  # mu = -1 at the threshold
            assert _rho2(B[1]) < 1 < _rho2(B[2])
    b1 = beta
    thr = stability_threshold("adam", lr=eta, betas=(b1, 0.999))
    for lam_p, check in [
        (thr, lambda r: abs(r - 1) < 1e-12),
        (0.999 * thr, lambda r: r < 1),
        (1.001 * thr, lambda r: r > 1),
    ]:
        # frozen-preconditioner Adam mode on (theta, m): m' = b1 m + (1 - b1) lam_p theta, theta' = theta - eta m'
        B = np.array([[1 - eta * (1 - b1) * lam_p, -eta * b1], [(1 - b1) * lam_p, b1]])
        assert check(_rho2(B))


def test_threshold_known_values():
    eta = 0.02
    assert stability_threshold("gd", lr=eta) == pytest.approx(2 / eta, rel=1e-15)
    assert stability_threshold("heavy_ball", lr=eta, momentum=0.9) == pytest.approx(3.8 / eta, rel=1e-15)
    assert stability_threshold("nesterov", lr=eta, momentum=0.9) == pytest.approx(3.8 / (2.8 * eta), rel=1e-15)
    assert stability_threshold("adam", lr=eta, betas=(0.9, 0.999)) == pytest.approx(38 / eta, rel=1e-14)
    assert stability_threshold("adamw", lr=eta) == pytest.approx(38 / eta, rel=1e-14)
    assert stability_threshold("rmsprop", lr=eta) == pytest.approx(2 / eta, rel=1e-15)


# ----------------------------------------------------------------------------------------------
# operator diagnostics (duck-typed operators built by hand)


@pytest.mark.parametrize("with_blocks", [True, False])
def test_operator_diagnostics_negative_curvature_escape(rng, with_blocks):
    eta, beta = 0.1, 0.9
    lam = np.array([-0.5, 1.0, 3.0])
    Q = _orthogonal(rng, 3)
    H = 0.5 * ((Q * lam) @ Q.T + ((Q * lam) @ Q.T).T)
    B = momentum_blocks("heavy_ball", lam, lr=eta, momentum=beta, coords="buffer")
    op = SimpleNamespace(
        J=_dense_operator("heavy_ball", H, eta, beta, "buffer"), optimizer="heavy_ball", H=H,
        preconditioner=None, blocks=B if with_blocks else None, hyper={"lr": eta, "momentum": beta},
    )  # fmt: skip
    diag = operator_diagnostics(op)
    assert diag.spectrum.method == ("blocks" if with_blocks else "eig")
    assert diag.rho > 1 and diag.rho_mode == "escape"
    assert diag.n_unstable == {"eos_flip": 0, "escape": 1, "spiral": 0}
    assert diag.rho_plus < 1
    assert diag.rho_plus == pytest.approx(np.sort(np.abs(diag.spectrum.eigenvalues))[-2], rel=1e-12)
    assert diag.lambda_min_H == pytest.approx(-0.5, rel=1e-12) and diag.lambda_max_H == pytest.approx(3.0, rel=1e-12)
    assert diag.sharpness == pytest.approx(3.0, rel=1e-12) and diag.threshold == pytest.approx(38.0, rel=1e-12)
    assert diag.sharpness_ratio == pytest.approx(3.0 / 38.0, rel=1e-12)
    assert diag.commutator is None and diag.commutator_rel is None
    assert pickle.loads(pickle.dumps(diag)).rho_mode == "escape"


def test_operator_diagnostics_adam_at_preconditioned_threshold_has_flip_mode(rng):
    n, b1, b2, step, wd = 5, 0.9, 0.999, 7, 0.05
    H = _sym_from_eigs(rng, rng.uniform(0.5, 4.0, n))
    m = rng.uniform(0.2, 3.0, n)  # M = diag(1/(sqrt(v_hat) + eps)), not commuting with H
    c1 = 1 / (1 - b1**step)
    Ht = H + wd * np.eye(n)
    sharp = c1 * np.max(np.linalg.eigvals(np.diag(m) @ Ht).real)
    eta = (2 + 2 * b1) / ((1 - b1) * sharp)  # exactly at the threshold
    I = np.eye(n)
    J = np.block([[I - eta * c1 * (1 - b1) * m[:, None] * Ht, np.diag(-eta * c1 * b1 * m)], [(1 - b1) * Ht, b1 * I]])
    op = SimpleNamespace(
        J=J, optimizer="adam", H=H, preconditioner=m, blocks=None,
        hyper={"lr": eta, "betas": (b1, b2), "eps": 1e-8, "weight_decay": wd, "step": step},
    )  # fmt: skip
    diag = operator_diagnostics(op)
    assert diag.sharpness == pytest.approx(sharp, rel=1e-10)
    assert diag.sharpness_ratio == pytest.approx(1.0, rel=1e-10)
    assert np.min(np.abs(diag.spectrum.eigenvalues + 1)) <= 1e-9  # mu = -1 at ratio 1
    assert diag.rho == pytest.approx(1.0, abs=1e-9) and diag.rho_mode == "eos_flip"
    c, rel = commutator_norm(H, m)
    assert diag.commutator == pytest.approx(c, rel=1e-14) and diag.commutator_rel == pytest.approx(rel, rel=1e-14)
    assert diag.commutator > 1e-3


def test_operator_diagnostics_rejects_non_operator():
    with pytest.raises(TypeError, match="op must be an UpdateOperator-like object"):
        operator_diagnostics(object())


# ----------------------------------------------------------------------------------------------
# edge cases, wrappers, validation, pickling


def test_edge_cases_zero_scalar_nilpotent():
    z = spectrum(np.zeros((3, 3)))
    assert z.spectral_radius == 0.0 and z.kappa_V == 1.0 and z.departure == 0.0 and z.departure_rel == 0.0
    assert z.normality_residual == 0.0
    s = spectrum(np.array([[2j]]))
    assert s.kappa_V == 1.0 and s.spectral_radius == 2.0 and s.clusters == ()
    nil = spectrum(np.array([[0.0, 1.0], [0.0, 0.0]]))
    assert nil.kappa_V == np.inf and nil.spectral_radius == 0.0 and nil.departure == pytest.approx(1.0)


def test_wrappers_agree_with_spectrum(rng):
    A = rng.standard_normal((6, 6))
    res = spectrum(A)
    np.testing.assert_allclose(eigenvalues(A), res.eigenvalues, atol=1e-12)
    assert spectral_radius(A) == pytest.approx(res.spectral_radius, rel=1e-12)
    assert eigenvalues(A).dtype == np.complex128


def test_result_pickles_and_is_read_only(rng):
    res = spectrum(rng.standard_normal((5, 5)))
    back = pickle.loads(pickle.dumps(res))
    assert isinstance(back, SpectrumResult)
    np.testing.assert_array_equal(back.eigenvalues, res.eigenvalues)
    assert back.kappa_V == res.kappa_V and back.clusters == res.clusters
    with pytest.raises(ValueError):
        res.eigenvalues[0] = 0
    assert OperatorDiagnostics.__dataclass_params__.frozen


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: spectrum(np.array([[1.0, np.nan], [0.0, 1.0]])), ValueError, "J must contain only finite numbers"),
        (lambda: spectrum(np.ones((2, 3))), ValueError, "J must be a square 2-D array"),
        (lambda: spectrum(np.array([["a"]])), TypeError, "J must be a numeric"),
        (lambda: spectrum(np.eye(4), blocks=np.ones((3, 2, 2))), ValueError, r"blocks must have shape \(2, 2, 2\)"),
        (lambda: spectrum(np.eye(4), blocks=np.ones((2, 3))), ValueError, r"blocks must have shape \(n, 2, 2\)"),
        (lambda: spectrum(np.eye(4), blocks=2 * np.ones((2, 2, 2))), ValueError, "blocks do not match J"),
        (lambda: spectrum(np.eye(2), cluster_tol=-1.0), ValueError, "cluster_tol must be >= 0"),
        (lambda: stability_threshold("sgd", lr=0.1), ValueError, "optimizer must be one of"),
        (lambda: stability_threshold("gd", lr=0.0), ValueError, "lr must be > 0"),
        (lambda: stability_threshold("heavy_ball", lr=0.1, momentum=1.0), ValueError, "momentum must be < 1"),
        (lambda: stability_threshold("adam", lr=0.1, betas=(0.9,)), ValueError, "betas must be a pair"),
        (lambda: commutator_norm(np.eye(3), np.ones(4)), ValueError, r"M must have shape \(3,\)"),
        (lambda: preconditioned_sharpness(np.eye(2), np.array([1.0, -1.0])), ValueError, "M must be real and nonneg"),
        (lambda: preconditioned_sharpness(np.array([[1.0, 2.0], [0.0, 1.0]]), np.ones(2)), ValueError, "symmetric"),
        (lambda: classify_eigenvalues([0.5], tol=-1.0), ValueError, "tol must be >= 0"),
        (lambda: rho_plus([0.5, 2.0], ["stable"]), ValueError, "classes must have shape"),
    ],
)
def test_validation_messages(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("seed", range(20))
def test_hidden_jordan_pair_is_always_flagged(seed):
    rng = np.random.default_rng(1000 + seed)
    n = 4 + seed % 5
    S = rng.standard_normal((n, n))
    core = np.diag(rng.uniform(-3, 3, n))
    core[0, 0] = core[1, 1] = 0.5
    core[0, 1] = 1.0
    res = spectrum(S @ core @ np.linalg.inv(S))
    assert res.kappa_status in ("defective", "clustered")
    pair = [c for c in res.clusters if np.allclose(res.eigenvalues[list(c)], 0.5, atol=1e-4)]
    assert len(pair) == 1 and len(pair[0]) == 2


# ----------------------------------------------------------------------------------------------
# integration with nnspec_core.operators.update_operator


@pytest.mark.parametrize("optimizer", ["heavy_ball", "nesterov"])
@pytest.mark.parametrize("coords", ["buffer", "history"])
def test_operator_diagnostics_real_momentum_operator_uses_blocks(rng, optimizer, coords):
    from nnspec_core.operators import update_operator

    H = _sym_from_eigs(rng, [-0.3, 0.5, 2.0, 6.0, 20.0])
    op = update_operator(optimizer, H, lr=0.05, momentum=0.8, weight_decay=0.01, coords=coords)
    diag = operator_diagnostics(op)
    dense = spectrum(op.J)
    assert diag.spectrum.method == "blocks"
    assert diag.rho == pytest.approx(dense.spectral_radius, rel=1e-12)
    assert diag.spectrum.kappa_V == pytest.approx(dense.kappa_V, rel=1e-8)
    assert diag.sharpness == pytest.approx(20.01, rel=1e-12)  # coupled weight decay folded in
    assert diag.threshold == pytest.approx(stability_threshold(optimizer, lr=0.05, momentum=0.8), rel=1e-15)
    assert diag.rho_mode == "escape" and diag.n_unstable["escape"] == 1


@pytest.mark.parametrize(
    "optimizer, coords, wd", [("adam", "frozen", 0.02), ("adam", "simple", 0.0), ("adamw", "frozen", 0.0),
                              ("rmsprop", "frozen", 0.02)]
)  # fmt: skip
def test_operator_diagnostics_real_adaptive_operator_at_threshold_has_flip(rng, optimizer, coords, wd):
    from nnspec_core.operators import update_operator

    n = 6
    H = _sym_from_eigs(rng, rng.uniform(0.2, 5.0, n))
    key = "square_avg" if optimizer == "rmsprop" else "exp_avg_sq"
    state = {"grad": rng.standard_normal(n), key: rng.uniform(1e-4, 1e-2, n), "theta": rng.standard_normal(n)}
    kw = dict(betas=(0.9, 0.999), weight_decay=wd, state=state, step=5, coords=coords)
    probe = operator_diagnostics(update_operator(optimizer, H, lr=1.0, **kw))
    threshold_lr1 = 2.0 if (optimizer == "rmsprop" or coords == "simple") else 38.0
    lr = threshold_lr1 / probe.sharpness  # sharpness does not depend on lr: ratio 1 exactly
    op = update_operator(optimizer, H, lr=lr, **kw)
    diag = operator_diagnostics(op)
    assert diag.sharpness_ratio == pytest.approx(1.0, rel=1e-10)
    assert np.min(np.abs(diag.spectrum.eigenvalues + 1)) <= 1e-8  # mu = -1 of the frozen operator
    assert diag.rho == pytest.approx(1.0, abs=1e-8) and diag.rho_mode == "eos_flip"
    assert diag.commutator == pytest.approx(commutator_norm(H, op.preconditioner)[0], rel=1e-14)
    assert diag.commutator > 0


# ----------------------------------------------------------------------------------------------
# right-eigenvector-only condition numbers (rows of V^{-1}) against scipy's left/right eig


def _left_right_reference(A):
    """Eigenvalues, 1 / |y^H x| from scipy's left and right vectors, and cond_2 of the unit complex V."""
    w, vl, vr = sla.eig(A, left=True, right=True)
    vl, vr = vl / np.linalg.norm(vl, axis=0), vr / np.linalg.norm(vr, axis=0)
    return w, 1.0 / np.abs(np.sum(vl.conj() * vr, axis=0)), np.linalg.cond(vr)


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_condition_numbers_without_left_vectors_match_scipy_left_right(seed, complex_):
    rng = np.random.default_rng(200 + seed)
    n = (12, 25, 40, 61)[seed]
    A = rng.standard_normal((n, n)) + (1j * rng.standard_normal((n, n)) if complex_ else 0)
    A = A @ np.diag(rng.uniform(0.2, 3.0, n)) + 2.0 * np.triu(rng.standard_normal((n, n)), 1)  # non-normal
    w, ref, kappa_ref = _left_right_reference(A)
    gaps = np.abs(w[:, None] - w[None, :]) + np.eye(n) * 1e9
    assert gaps.min() > 1e-3 and ref.max() < 1e4  # well-separated, well-conditioned: numbers determined
    if not complex_:
        assert np.count_nonzero(np.abs(w.imag) > 1e-8) >= 4  # conjugate pairs exercise the real/imag columns
    res = spectrum(A)
    assert res.kappa_status == "ok" and res.normality_residual > 1e-3
    p = _match(w, res.eigenvalues)
    np.testing.assert_allclose(res.eigenvalues[p], w, atol=1e-10)
    np.testing.assert_allclose(res.eigval_condition[p], ref, rtol=1e-8)
    assert res.kappa_V == pytest.approx(kappa_ref, rel=1e-8) and res.kappa_V_cluster == res.kappa_V
    assert np.all(res.eigval_condition >= 1 - 1e-12) and np.all(res.eigval_condition <= res.kappa_V * (1 + 1e-12))


def test_conjugate_pairs_of_real_matrix_have_equal_condition_numbers(rng):
    n = 30
    A = rng.standard_normal((n, n)) + 3.0 * np.triu(rng.standard_normal((n, n)), 1)
    res = spectrum(A)
    w, c = res.eigenvalues, res.eigval_condition
    upper = np.flatnonzero(w.imag > 1e-8)
    assert upper.size >= 3
    for i in upper:
        j = int(np.argmin(np.abs(w - w[i].conj())))
        assert w[j] == w[i].conj() and c[j] == c[i]


def _mixed_cluster_reference(S, groups):
    """cond_2 of X for A = S core S^{-1}: ``groups`` lists complex column combinations (k, coeffs) per subspace.

    Each group is a list of complex vectors (combinations of S's columns) spanning one spectral subspace:
    one vector -> unit column, several -> orthonormal basis.
    """
    cols = []
    for vecs in groups:
        B = np.column_stack([sum(c * S[:, k] for k, c in v) for v in vecs])
        cols.append(np.linalg.qr(B)[0] if B.shape[1] > 1 else B / np.linalg.norm(B))
    return np.linalg.cond(np.hstack(cols))


@pytest.mark.parametrize("case", ["real_cluster", "pair_near_real_axis", "repeated_complex_pair"])
def test_cluster_measure_of_real_matrix_real_and_complex_schur_paths(rng, case):
    """Self-conjugate clusters use the real Schur form; a repeated complex pair (cluster and its mirror) the complex."""
    n = 7
    S = rng.standard_normal((n, n))
    core = np.zeros((n, n))
    rot = np.array([[0.3, 0.8], [-0.8, 0.3]])  # eigenvalues 0.3 +/- 0.8 i, eigenvectors e0 +/- i e1
    core[5:7, 5:7] = rot  # isolated pair: columns 5, 6
    core[4, 4] = -1.5  # isolated real
    iso = [[[(4, 1.0)]], [[(5, 1.0), (6, 1j)]], [[(5, 1.0), (6, -1j)]]]
    if case == "real_cluster":
        core[0, 0], core[1, 1], core[2, 2], core[3, 3] = 0.5, 0.5, 0.5, 2.0
        core[0, 1] = 1.0  # a Jordan pair inside a triple: numerically defective
        groups = [[[(0, 1.0)], [(1, 1.0)], [(2, 1.0)]], [[(3, 1.0)]]] + iso
        sizes = [3]
    elif case == "pair_near_real_axis":
        core[0:2, 0:2] = [[0.5, 1e-11], [-1e-11, 0.5]]  # 0.5 +/- 1e-11 i: one self-conjugate cluster
        core[2, 2], core[3, 3] = -0.2, 2.0
        groups = [[[(0, 1.0)], [(1, 1.0)]], [[(2, 1.0)]], [[(3, 1.0)]]] + iso
        sizes = [2]
    else:
        core[0:2, 0:2] = core[2:4, 2:4] = [[0.1, 1.2], [-1.2, 0.1]]  # 0.1 +/- 1.2 i, each twice (a cluster each)
        groups = [[[(0, 1.0), (1, 1j)], [(2, 1.0), (3, 1j)]], [[(0, 1.0), (1, -1j)], [(2, 1.0), (3, -1j)]]] + iso
        sizes = [2, 2]
    A = S @ core @ np.linalg.inv(S)
    res = spectrum(A)
    assert sorted(len(c) for c in res.clusters) == sizes and res.kappa_status in ("clustered", "defective")
    assert res.kappa_V_cluster == pytest.approx(_mixed_cluster_reference(S, groups), rel=1e-7)
    B = A + 0j  # the same matrix as complex input: complex Schur path throughout
    assert spectrum(B).kappa_V_cluster == pytest.approx(res.kappa_V_cluster, rel=1e-7)


# ----------------------------------------------------------------------------------------------
# large d: kappa(V) from Lanczos norms of R and R^{-1} instead of a full SVD (d > 200)


@pytest.mark.parametrize("complex_", [False, True])
def test_large_kappa_matches_dense_svd_reference(complex_):
    rng = np.random.default_rng(7)
    d = 240
    S = rng.standard_normal((d, d)) + (1j * rng.standard_normal((d, d)) if complex_ else 0)
    S[:, 1] = S[:, 0] + 1e-4 * S[:, 1]  # two nearly parallel eigenvectors: kappa ~ 1e5-1e6
    A = S @ np.diag(np.linspace(0.1, 2.0, d)) @ np.linalg.inv(S)
    w, ref = _indep_kappa(A)
    res = spectrum(A)
    assert res.kappa_V > 1e4
    assert res.kappa_V == pytest.approx(ref, rel=1e-6)  # both lose ~kappa * eps relative
    w_l, vl, vr = sla.eig(A, left=True, right=True)
    vl, vr = vl / np.linalg.norm(vl, axis=0), vr / np.linalg.norm(vr, axis=0)
    cond_ref = 1.0 / np.abs(np.sum(vl.conj() * vr, axis=0))
    p = _match(w_l, res.eigenvalues)
    np.testing.assert_allclose(res.eigval_condition[p], cond_ref, rtol=1e-6)


def test_large_defective_gives_inf_and_cluster_measure_matches_reference():
    rng = np.random.default_rng(8)
    d = 230
    S = rng.standard_normal((d, d))
    core = np.diag(np.linspace(-2.0, -0.1, d))
    core[0, 0] = core[1, 1] = 0.5
    core[0, 1] = 1.0  # Jordan block J_2(0.5) hidden by a non-orthogonal similarity
    A = S @ core @ np.linalg.inv(S)
    res = spectrum(A)
    assert res.kappa_V > 1e6 or np.isinf(res.kappa_V)
    assert res.kappa_status in ("defective", "clustered")
    assert res.kappa_V_cluster == pytest.approx(_cluster_kappa_reference(S, 2), rel=1e-6)


def test_large_exact_jordan_block_is_defective_without_warning():
    import warnings

    d = 260
    J = np.diag(np.ones(d - 1), 1) + 0.3 * np.eye(d)
    J[d // 2 :, d // 2 :] = np.diag(np.linspace(0.5, 1.0, d - d // 2))  # plus distinct eigenvalues
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = spectrum(J)
    assert np.isinf(res.kappa_V) and res.kappa_status == "defective"


@pytest.mark.parametrize("delta", [0.3, 0.03, 3e-3])
def test_cluster_measure_from_eigenvector_span_equals_schur_path(rng, monkeypatch, delta):
    """A cluster whose eigenvector columns have cond_2 up to _SPAN_COND uses their span (QR); the Schur/trsen
    path and the exact subspaces give the same measure."""
    import nnspec_core.spectra as sp

    S = rng.standard_normal((8, 8))
    S[:, 1] = S[:, 0] + delta * rng.standard_normal(8)  # nearly parallel eigenvectors of the cluster
    A = S @ np.diag([0.5, 0.5 + 1e-9, 2.0, -1.0, 3.0, 0.1, 0.7, -0.4]) @ np.linalg.inv(S)
    res = spectrum(A)
    assert res.kappa_status == "clustered" and [len(c) for c in res.clusters] == [2]
    w, R, first = sp._right_eig(A)
    order = sp._sort_order(w)
    cond_cluster = sp._cond_2(R[:, order[list(res.clusters[0])]])
    assert 1.0 <= cond_cluster <= sp._SPAN_COND  # the span path ran
    monkeypatch.setattr(sp, "_SPAN_COND", 0.0)  # force the Schur reordering path
    schur_path = spectrum(A).kappa_V_cluster
    assert res.kappa_V_cluster == pytest.approx(schur_path, rel=1e-10)
    assert res.kappa_V_cluster == pytest.approx(_cluster_kappa_reference(S, 2), rel=1e-9)
