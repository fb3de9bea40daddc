"""Gallery matrices against their definitions and closed-form spectra."""

import pickle

import numpy as np
import pytest

from nnspec_core.gallery import (
    GALLERY,
    GalleryMatrix,
    companion,
    gallery_matrix,
    grcar,
    jordan_block,
    kms,
    optimizer_operator,
    random_nonnormal,
    toeplitz_tridiagonal,
)
from nnspec_core.spectra import henrici_departure, spectrum


def _sorted(e):
    e = np.asarray(e, complex)
    return e[np.lexsort((e.imag, e.real))]


def test_grcar_entries_match_definition():
    n, k = 9, 3
    A = grcar(n, k=k)
    for i in range(n):
        for j in range(n):
            want = -1.0 if i - j == 1 else (1.0 if 0 <= j - i <= k else 0.0)
            assert A[i, j] == want


def test_jordan_block_is_defective():
    A = jordan_block(6, lam=0.3)
    np.testing.assert_allclose(np.diag(A), 0.3)
    np.testing.assert_allclose(np.diag(A, 1), 1.0)
    assert np.count_nonzero(A) == 6 + 5
    res = spectrum(A)
    assert res.kappa_V == np.inf
    np.testing.assert_allclose(res.eigenvalues, 0.3, atol=1e-2)  # a Jordan block splits by about eps^(1/6)


def test_toeplitz_eigenvalues_closed_form():
    n, lo, d, up = 15, 1.0, 0.2, 0.25
    A = toeplitz_tridiagonal(n, lower=lo, diag=d, upper=up)
    j = np.arange(1, n + 1)
    want = d + 2 * np.sqrt(lo * up) * np.cos(j * np.pi / (n + 1))
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(A).real), np.sort(want), atol=1e-8)
    assert not np.allclose(A, A.T)


def test_kms_is_symmetric_toeplitz_and_normal():
    n, rho = 8, -0.6
    A = kms(n, rho=rho)
    for i in range(n):
        for j in range(n):
            assert A[i, j] == pytest.approx(rho ** abs(i - j), rel=1e-15)
    assert spectrum(A).kappa_status == "normal"
    assert np.linalg.eigvalsh(A).min() > 0  # positive definite for |rho| < 1


def test_companion_roots():
    c = [-0.5, 0.3, 0.2, -0.1]
    A = companion(c)
    np.testing.assert_allclose(_sorted(np.linalg.eigvals(A)), _sorted(np.roots([1.0, *c])), atol=1e-10)
    # default gallery polynomial 1 + z + ... + z^n: the (n+1)-th roots of unity except 1
    n = 7
    G = gallery_matrix("companion", n=n)
    want = np.exp(2j * np.pi * np.arange(1, n + 1) / (n + 1))
    np.testing.assert_allclose(_sorted(np.linalg.eigvals(G.A)), _sorted(want), atol=1e-10)


def test_random_nonnormal_eigenvalues_and_departure_dial():
    n = 12
    A1 = random_nonnormal(n, seed=3, s=1.0, radius=0.8)
    A2 = random_nonnormal(n, seed=3, s=2.0, radius=0.8)
    A0 = random_nonnormal(n, seed=3, s=0.0, radius=0.8)
    np.testing.assert_allclose(A0, A0.T, atol=1e-12)  # s = 0: orthogonally similar to a diagonal
    e0 = np.sort(np.linalg.eigvalsh(0.5 * (A0 + A0.T)))
    for A in (A1, A2):  # the dial s does not move the eigenvalues
        e = np.linalg.eigvals(A)
        assert np.max(np.abs(e.imag)) < 1e-6
        np.testing.assert_allclose(np.sort(e.real), e0, atol=1e-6)
    assert np.all(np.abs(e0) < 0.8)
    d1, d2 = henrici_departure(A1)[0], henrici_departure(A2)[0]
    assert d1 > 0.5
    np.testing.assert_allclose(d2, 2 * d1, rtol=1e-6)
    np.testing.assert_array_equal(A1, random_nonnormal(n, seed=3, s=1.0, radius=0.8))  # deterministic
    assert not np.allclose(A1, random_nonnormal(n, seed=4, s=1.0, radius=0.8))


def test_optimizer_gd_and_heavy_ball_spectra():
    n, lr, kap, beta = 6, 1.5, 50.0, 0.8
    lam = np.geomspace(1.0, 1.0 / kap, n)
    J = optimizer_operator("gd", n, lr=lr, kappa_H=kap, seed=1)
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(J).real), np.sort(1 - lr * lam), atol=1e-10)
    Jhb = optimizer_operator("heavy_ball", n, lr=lr, momentum=beta, kappa_H=kap, seed=1)
    assert Jhb.shape == (2 * n, 2 * n)
    want = np.concatenate([np.roots([1.0, -(1 + beta - lr * lam_i), beta]) for lam_i in lam])
    np.testing.assert_allclose(_sorted(np.linalg.eigvals(Jhb)), _sorted(want), atol=1e-8)


@pytest.mark.parametrize("opt", ["adam", "adamw"])
def test_optimizer_adam_simple_uses_stationary_preconditioner(opt):
    n, lr, eps = 5, 0.01, 1e-8
    H = (np.eye(n) - optimizer_operator("gd", n, lr=1.0, seed=2)) / 1.0  # gd: J = I - H
    M = 1.0 / (np.sqrt(np.einsum("ij,ij->i", H, H)) + eps)
    c1 = 1.0 / (1.0 - 0.9)  # bias correction of m at step 1
    J = optimizer_operator(opt, n, lr=lr, eps=eps, seed=2, coords="simple")
    np.testing.assert_allclose(J, np.eye(n) - lr * c1 * M[:, None] * H, atol=1e-12)


def test_optimizer_rmsprop_frozen():
    n, lr, eps = 4, 0.02, 1e-8
    H = np.eye(n) - optimizer_operator("gd", n, lr=1.0, seed=5)
    M = 1.0 / (np.sqrt(np.einsum("ij,ij->i", H, H)) + eps)
    J = optimizer_operator("rmsprop", n, lr=lr, eps=eps, seed=5)
    np.testing.assert_allclose(J, np.eye(n) - lr * M[:, None] * H, atol=1e-12)


@pytest.mark.parametrize("key", GALLERY)
def test_every_gallery_entry_builds_and_pickles(key):
    g = gallery_matrix(key, n=6)
    assert isinstance(g, GalleryMatrix)
    assert g.A.dtype == np.float64 and g.A.shape[0] == g.A.shape[1] >= 6
    assert np.all(np.isfinite(g.A)) and g.title and g.description
    g2 = pickle.loads(pickle.dumps(g))
    np.testing.assert_array_equal(g2.A, g.A)
    assert g2.params == g.params and g.params["n"] == 6


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: gallery_matrix("hilbert"), ValueError, "key must be one of"),
        (lambda: gallery_matrix("grcar", size=3), ValueError, "unknown parameter"),
        (lambda: grcar(1), ValueError, "n must be >= 2"),
        (lambda: grcar(10_000), ValueError, "n must be <= 400"),
        (lambda: grcar(5, k=7), ValueError, "k must be <= 4"),
        (lambda: kms(5, rho=2.0), ValueError, "rho must be <= 1"),
        (lambda: companion([1.0]), ValueError, "len\\(coeffs\\) must be >= 2"),
        (lambda: companion(["a", "b"]), TypeError, "coeffs must be a 1-D real"),
        (lambda: companion([1.0, np.nan]), ValueError, "finite"),
        (lambda: random_nonnormal(5, s=-1.0), ValueError, "s must be >= 0"),
        (lambda: optimizer_operator("sgd", 3), ValueError, "optimizer must be one of"),
        (lambda: optimizer_operator("gd", 1), ValueError, "1x1 operator"),
        (lambda: optimizer_operator("adam", 300), ValueError, "at most 400x400"),
        (lambda: jordan_block(4, lam="x"), TypeError, "lam must be a real number"),
    ],
)
def test_bad_parameters_are_refused(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize(
    "optimizer, absent",
    [("gd", {"momentum", "betas", "alpha", "eps"}), ("heavy_ball", {"betas", "alpha", "eps"}),
     ("rmsprop", {"momentum", "betas"}), ("adam", {"momentum", "alpha"})],
)  # fmt: skip
def test_optimizer_gallery_reports_only_the_parameters_it_uses(optimizer, absent):
    """The Explorer's 'Current matrix' line lists g.params: GD must not read 'β = 0.9'."""
    g = gallery_matrix("optimizer", n=4, optimizer=optimizer, momentum=0.5, betas=(0.8, 0.9), alpha=0.9, eps=1e-8)
    assert not absent & set(g.params)
    assert {"n", "optimizer", "lr", "kappa_H", "seed"} <= set(g.params)
    # the reported parameters rebuild the same matrix
    np.testing.assert_array_equal(gallery_matrix("optimizer", **g.params).A, g.A)
