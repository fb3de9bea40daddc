"""Accuracy tests for nnspec_core.pseudospectra against brute-force dense SVDs and closed forms."""

import math
import pickle

import numpy as np
import pytest
import scipy.linalg as sla

from nnspec_core.blocks import block_basis, blocks_to_dense, departure2x2, eig2x2, momentum_blocks
from nnspec_core.pseudospectra import (
    PseudospectrumResult,
    auto_axes,
    eps_levels,
    field_of_values,
    kreiss_constant,
    pseudospectral_abscissa,
    pseudospectral_radius,
    pseudospectrum,
    schur_form,
    sigma_min_grid,
    sigma_min_points,
)


# ---------------------------------------------------------------------------------------------- matrices
def grcar(n: int, k: int = 3) -> np.ndarray:
    return np.diag(-np.ones(n - 1), -1) + sum(np.diag(np.ones(n - j), j) for j in range(k + 1))


def jordan(m: int, lam: complex = 0.0) -> np.ndarray:
    return lam * np.eye(m) + np.diag(np.ones(m - 1), 1)


def companion(n: int) -> np.ndarray:
    c = np.ones(n) / n  # p(x) = x^n - (1/n) sum x^k: roots inside the unit disk, very non-normal
    C = np.diag(np.ones(n - 1), -1)
    C[0, :] = c
    return C


def random_nonnormal(rng, n, complex_=False):
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    if complex_:
        A = A + 1j * rng.standard_normal((n, n)) / np.sqrt(n)
    return np.triu(A, 1) * 3 + A  # strong upper part: non-normal


def brute(A, re, im):
    n = A.shape[0]
    return np.array([[sla.svdvals(complex(x, y) * np.eye(n) - A)[-1] for x in re] for y in im])


def random_orthogonal(rng, n):
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.sign(np.diag(R))


MATRICES = {
    "random_real": lambda rng: random_nonnormal(rng, 24),
    "random_complex": lambda rng: random_nonnormal(rng, 20, complex_=True),
    "grcar": lambda rng: grcar(32),
    "jordan": lambda rng: jordan(10, 0.3),
    "companion": lambda rng: companion(12),
}


# ---------------------------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize("name", sorted(MATRICES))
@pytest.mark.parametrize("method", ["auto", "schur-lanczos", "svd"])
def test_sigma_min_grid_matches_dense_svd(rng, name, method):
    A = MATRICES[name](rng)
    norm = np.linalg.norm(A, 2)
    ev = np.linalg.eigvals(A)
    pad = 0.5 + 0.1 * norm
    re = np.linspace(ev.real.min() - pad, ev.real.max() + pad, 13)
    im = np.linspace(ev.imag.min() - pad, ev.imag.max() + pad * 1.3, 11)  # asymmetric: tests mirroring
    got = sigma_min_grid(A, re, im, method=method)
    ref = brute(A, re, im)
    assert got.shape == (im.size, re.size)
    mask = ref > 1e-12 * norm
    assert mask.sum() > 10
    rel = np.abs(got - ref)[mask] / ref[mask]
    assert rel.max() <= 1e-6, (name, method, rel.max())
    # below the noise floor the value is still tiny (no garbage)
    assert np.all(got[~mask] <= 1e-10 * norm)


def test_grcar_64_accuracy_every_point(rng):
    A = grcar(64)
    re, im = np.linspace(-1, 3, 17), np.linspace(-3.5, 3.5, 16)
    got = sigma_min_grid(A, re, im)
    ref = brute(A, re, im)
    mask = ref > 1e-12 * np.linalg.norm(A, 2)
    np.testing.assert_allclose(got[mask], ref[mask], rtol=1e-6)


def test_real_axis_shifts_with_clustered_singular_values():
    # Grcar is persymmetric: on the real axis the smallest singular values come in near-pairs,
    # the hardest case for Lanczos (falls back to a dense SVD if needed)
    A = grcar(48)
    re = np.linspace(-1.2, -0.2, 6)
    got = sigma_min_grid(A, re, np.array([0.0]), method="schur-lanczos")
    np.testing.assert_allclose(got, brute(A, re, [0.0]), rtol=1e-6)


def test_normal_matrix_distance_to_spectrum(rng):
    lam = np.array([1.0, -0.5 + 0.5j, 0.2 - 0.7j, 0.9j, -1.1, 0.3 + 0.1j] * 3)
    lam = lam + 0.05 * np.arange(lam.size)
    Q, _ = np.linalg.qr(rng.standard_normal((lam.size, lam.size)) + 1j * rng.standard_normal((lam.size, lam.size)))
    A = Q @ np.diag(lam) @ Q.conj().T
    re, im = np.linspace(-2, 2, 15), np.linspace(-1.5, 1.6, 12)
    z = re[None, :] + 1j * im[:, None]
    dist = np.abs(z[..., None] - lam).min(axis=-1)
    np.testing.assert_allclose(sigma_min_grid(A, re, im, method="schur-lanczos"), dist, rtol=1e-7, atol=1e-13)
    np.testing.assert_allclose(sigma_min_grid(A, re, im, method="svd"), dist, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("m", [2, 3, 5])
def test_jordan_block_pseudospectral_radius_scales_like_eps_to_1_over_m(m):
    J = jordan(m)
    for eps in (1e-6, 1e-9):
        r = pseudospectral_radius(J, eps)
        # sigma_min(zI - J) = eps exactly on the boundary point found
        assert sigma_min_points(J, [r])[0] == pytest.approx(eps, rel=1e-6)
        assert 0.8 < r / eps ** (1 / m) < 1.2
    # the disc of radius ~eps^(1/m) is the eps-pseudospectrum: check on the grid path too
    eps = 1e-8
    r = eps ** (1 / m)
    s = sigma_min_grid(J, np.array([0.5 * r, 2.0 * r]), np.array([0.0]))
    assert s[0, 0] < eps < s[0, 1]


def test_schur_cache_gives_identical_grid(rng):
    A = random_nonnormal(rng, 30)
    S = schur_form(A)
    re, im = np.linspace(-2, 2, 9), np.linspace(-2, 2, 9)
    np.testing.assert_array_equal(sigma_min_grid(A, re, im), sigma_min_grid(None, re, im, schur=S))
    r = pseudospectrum(None, re=re, im=im, schur=S)
    assert r.method == "schur-lanczos" and r.norm == pytest.approx(np.linalg.norm(A, 2))
    ev = np.linalg.eigvals(A)
    assert np.abs(r.eigenvalues[:, None] - ev[None, :]).min(axis=1).max() < 1e-10
    assert np.all(np.diff(np.abs(r.eigenvalues)) <= 1e-12)  # sorted by decreasing modulus


def test_real_matrix_grid_is_mirror_symmetric(rng):
    A = random_nonnormal(rng, 16)
    re, im = np.linspace(-2, 2, 7), np.linspace(-1.5, 1.5, 9)
    s = sigma_min_grid(A, re, im)
    np.testing.assert_allclose(s, s[::-1], rtol=1e-12)


# ---------------------------------------------------------------------------------------------- structured
def momentum_operator(rng, optimizer, coords, n=12):
    lam = rng.uniform(0.05, 3.0, n)
    Q = random_orthogonal(rng, n)
    B = momentum_blocks(optimizer, lam, lr=0.45, momentum=0.85, coords=coords)
    U = block_basis(Q)
    return U @ blocks_to_dense(B) @ U.T, B


@pytest.mark.parametrize("optimizer", ["heavy_ball", "nesterov"])
@pytest.mark.parametrize("coords", ["buffer", "history"])
def test_structured_path_equals_dense_path(rng, optimizer, coords):
    J, B = momentum_operator(rng, optimizer, coords)
    re, im = np.linspace(-1.5, 1.5, 12), np.linspace(-1.2, 1.2, 11)
    s_blocks = sigma_min_grid(None, re, im, blocks=B)
    s_dense = sigma_min_grid(J, re, im)
    np.testing.assert_allclose(s_blocks, s_dense, rtol=1e-7, atol=1e-13)
    np.testing.assert_allclose(s_blocks, brute(J, re, im), rtol=1e-10, atol=1e-13)
    for eps in (1e-3, 0.1):
        assert pseudospectral_radius(None, eps, blocks=B) == pytest.approx(pseudospectral_radius(J, eps), rel=1e-7)
        assert pseudospectral_abscissa(None, eps, blocks=B) == pytest.approx(pseudospectral_abscissa(J, eps), rel=1e-7)
    f_b, f_d = field_of_values(None, blocks=B, n_angles=64), field_of_values(J, n_angles=64)
    # supporting points may differ on flat pieces of the boundary; the support function may not
    rot = np.exp(-1j * np.linspace(0, 2 * np.pi, 64, endpoint=False))
    np.testing.assert_allclose((rot * f_b.boundary).real, (rot * f_d.boundary).real, atol=1e-10)
    assert f_b.numerical_radius == pytest.approx(f_d.numerical_radius, rel=1e-10)
    assert f_b.numerical_abscissa == pytest.approx(f_d.numerical_abscissa, rel=1e-10)
    k_b, k_d = kreiss_constant(None, blocks=B), kreiss_constant(J)
    assert k_b.value == pytest.approx(k_d.value, rel=1e-6)


@pytest.mark.parametrize("complex_", [False, True])
def test_blocks_closed_form_matches_batched_2x2_svd(rng, complex_):
    # many blocks and more points than one work chunk: exercises chunking and the min-reduction
    B = rng.standard_normal((300, 2, 2)) + (1j * rng.standard_normal((300, 2, 2)) if complex_ else 0)
    z = rng.uniform(-3, 3, 700) + 1j * rng.uniform(-3, 3, 700)
    z = np.concatenate([z, np.linalg.eigvals(B[:40]).ravel() + 1e-4 * (1 + 1j)])  # close to eigenvalues
    got = sigma_min_points(None, z, blocks=B)
    M = z[:, None, None, None] * np.eye(2) - B[None]  # (m, nb, 2, 2)
    ref = np.linalg.svd(M, compute_uv=False)[..., -1].min(axis=1)
    np.testing.assert_allclose(got, ref, rtol=1e-9)


def test_blocks_accurate_next_to_an_eigenvalue():
    # sigma_min(zI - B) = |det(zI - B)| / sigma_max; det by the shifted product stays accurate near eigenvalues
    B = np.array([[[0.9, -0.9], [0.001, 0.9]]])  # heavy-ball-like block, eigenvalues 0.9 +- 0.03i
    mu = np.linalg.eigvals(B[0])
    for h in (1e-6, 1e-9):
        z = np.array([mu[0] + h])
        M = z[0] * np.eye(2) - B[0]
        s_max = np.linalg.svd(M, compute_uv=False)[0]
        det = (z[0] - mu[0]) * (z[0] - mu[1])  # exact factorisation (eigenvalues well conditioned here)
        np.testing.assert_allclose(sigma_min_points(None, z, blocks=B), abs(det) / s_max, rtol=1e-7)


def test_blocks_shape_must_match_J(rng):
    J, B = momentum_operator(rng, "heavy_ball", "buffer", n=4)
    with pytest.raises(ValueError, match=r"blocks must have shape \(4, 2, 2\)"):
        sigma_min_grid(J, [0.0], [0.0], blocks=B[:3])


# ---------------------------------------------------------------------------------------------- krylov
def test_krylov_path_is_labelled_and_exact_with_full_subspace(rng):
    A = random_nonnormal(rng, 40)
    re, im = np.linspace(-2, 2, 8), np.linspace(-2, 2, 8)
    r = pseudospectrum(A, re=re, im=im, max_dense=10)  # n > max_dense -> Krylov (full: 40 steps)
    assert r.method == "krylov" and r.approximate
    np.testing.assert_allclose(r.sigma_min, brute(A, re, im), rtol=1e-8)


def test_krylov_projection_overestimates_sigma_min(rng):
    # Lambda_eps(H_rect) is contained in Lambda_eps(A): sigma_min of the projection >= the true one
    A = random_nonnormal(rng, 150)
    re, im = np.linspace(-3, 3, 6), np.linspace(-3, 3, 5)
    approx = sigma_min_grid(A, re, im, method="krylov")
    exact = sigma_min_grid(A, re, im, method="schur-lanczos")
    assert np.all(approx >= exact * (1 - 1e-8))


# ---------------------------------------------------------------------------------------------- rho_eps, alpha_eps
def test_radius_and_abscissa_of_normal_matrix(rng):
    lam = np.array([0.9, -0.4 + 0.6j, 0.1 - 0.2j, -0.95j])
    Q = random_orthogonal(rng, 4)
    A = Q @ np.diag(lam) @ Q.T if np.isrealobj(lam) else None
    U, _ = np.linalg.qr(rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4)))
    A = U @ np.diag(lam) @ U.conj().T
    for eps in (1e-4, 0.05, 0.3):
        assert pseudospectral_radius(A, eps) == pytest.approx(np.abs(lam).max() + eps, rel=1e-8)
        assert pseudospectral_abscissa(A, eps) == pytest.approx(lam.real.max() + eps, rel=1e-8)


@pytest.mark.parametrize("name", ["random_real", "grcar", "companion"])
def test_radius_and_abscissa_against_fine_grid(rng, name):
    A = MATRICES[name](rng)
    eps = 1e-2
    r = pseudospectral_radius(A, eps)
    a = pseudospectral_abscissa(A, eps)
    # brute force: sigma_min on a fine polar / cartesian sampling near the extremes
    th = np.linspace(0, 2 * np.pi, 721)
    rr = np.linspace(0.8 * r, 1.05 * r, 60)
    z = (rr[:, None] * np.exp(1j * th[None, :])).ravel()
    s = sigma_min_points(A, z)
    inside = z[s <= eps]
    assert np.abs(inside).max() <= r * (1 + 1e-8)
    assert np.abs(inside).max() >= r * (1 - 5e-3)  # grid resolution
    ev = np.linalg.eigvals(A)
    assert r >= np.abs(ev).max() + eps * (1 - 1e-9)
    assert a >= ev.real.max() + eps * (1 - 1e-9)
    ys = np.linspace(-1.2 * r, 1.2 * r, 401)
    xs = np.linspace(a - 0.1 * (abs(a) + 1), a * (1 + 1e-9) + 1e-12, 30)
    z = (xs[:, None] + 1j * ys[None, :]).ravel()
    s = sigma_min_points(A, z)
    assert z[s <= eps].real.max() <= a * (1 + 1e-8) + 1e-12
    assert z[s <= eps].real.max() >= a - 0.01 * (abs(a) + 1)


# ---------------------------------------------------------------------------------------------- Kreiss
def test_kreiss_of_normal_matrix_with_rho_le_1_is_at_most_1(rng):
    U, _ = np.linalg.qr(rng.standard_normal((6, 6)) + 1j * rng.standard_normal((6, 6)))
    lam = np.array([1.0, 0.99j, -0.5, 0.3 + 0.3j, -0.7j, 0.1])
    A = U @ np.diag(lam) @ U.conj().T
    K = kreiss_constant(A)
    assert 1.0 - 1e-9 <= K.value <= 1.0 + 1e-9
    Kc = kreiss_constant(U @ np.diag(lam - 1.0) @ U.conj().T, continuous=True)
    assert 1.0 - 1e-9 <= Kc.value <= 1.0 + 1e-9


def test_kreiss_bounds_bracket_sup_of_powers(rng):
    A = jordan(4, 0.8)  # sup ||A^k|| is attained at moderate k
    K = kreiss_constant(A)
    norms = [np.linalg.norm(np.linalg.matrix_power(A, k), 2) for k in range(200)]
    assert K.value <= max(norms) <= math.e * 4 * K.value
    assert abs(K.z) > 1 and not K.lower_bound_only
    # the reported point really attains the value
    assert (abs(K.z) - 1) / sigma_min_points(A, [K.z])[0] == pytest.approx(K.value, rel=1e-9)


def test_kreiss_unstable_is_inf():
    K = kreiss_constant(np.diag([1.2, 0.3]))
    assert K.value == math.inf and K.z == pytest.approx(1.2)


# ---------------------------------------------------------------------------------------------- field of values
def test_field_of_values_hermitian_and_normal(rng):
    H = rng.standard_normal((6, 6))
    H = H + H.T
    w = np.linalg.eigvalsh(H)
    f = field_of_values(H, n_angles=64)
    assert np.all(np.abs(f.boundary.imag) < 1e-10)
    assert f.boundary.real.min() == pytest.approx(w[0]) and f.boundary.real.max() == pytest.approx(w[-1])
    assert f.numerical_radius == pytest.approx(np.abs(w).max(), rel=1e-10)
    assert f.numerical_abscissa == pytest.approx(w[-1], rel=1e-12)


def test_field_of_values_of_a_2x2_block_is_the_ellipse(rng):
    B = np.array([[[0.7, -0.4], [1.3, 0.2]]])
    mu = eig2x2(B)[0]
    t = departure2x2(B)[0]
    f = field_of_values(None, blocks=B, n_angles=90)
    # ellipse: foci mu1, mu2, minor axis |t| -> sum of focal distances = major axis sqrt(|mu1-mu2|^2 + |t|^2)
    major = np.sqrt(abs(mu[0] - mu[1]) ** 2 + t**2)
    d = np.abs(f.boundary - mu[0]) + np.abs(f.boundary - mu[1])
    np.testing.assert_allclose(d, major, rtol=1e-10)
    # numerical radius vs a dense sampling of the boundary of W
    dense = field_of_values(blocks_to_dense(B), n_angles=4096)
    assert f.numerical_radius == pytest.approx(np.abs(dense.boundary).max(), rel=1e-6)
    assert f.numerical_radius >= np.abs(dense.boundary).max() * (1 - 1e-12)


# ---------------------------------------------------------------------------------------------- axes & levels
def test_auto_axes_contain_the_pseudospectrum(rng):
    A = random_nonnormal(rng, 20)
    eps_max = 0.3
    (x0, x1), (y0, y1) = auto_axes(A, eps_max=eps_max)
    assert x1 - x0 == pytest.approx(y1 - y0) and y0 == pytest.approx(-y1)  # square, real -> symmetric
    t = np.linspace(0, 1, 60)
    edge = np.concatenate([x0 + (x1 - x0) * t + 1j * y0, x0 + (x1 - x0) * t + 1j * y1,
                           x0 + 1j * (y0 + (y1 - y0) * t), x1 + 1j * (y0 + (y1 - y0) * t)])  # fmt: skip
    assert sigma_min_points(A, edge).min() > eps_max
    (a0, a1), (b0, b1) = auto_axes(np.array([1 + 1j, -1 - 1j]), eps_max=0.1, square=False, margin=0.0)
    assert (a0, a1, b0, b1) == pytest.approx((-1.1, 1.1, -1.1, 1.1))


def test_pseudospectrum_auto_window_and_levels(rng):
    A = grcar(24)
    r = pseudospectrum(A, n_grid=24)
    assert isinstance(r, PseudospectrumResult) and r.sigma_min.shape == (24, 24)
    lv = eps_levels(r, n_levels=6)
    assert 1 <= lv.size <= 6 and np.all(np.diff(lv) > 0)
    assert 10 ** lv.min() > 1e-14 * r.norm and 10 ** lv.min() > r.sigma_min.min()
    edge_min = min(r.sigma_min[0].min(), r.sigma_min[-1].min(), r.sigma_min[:, 0].min(), r.sigma_min[:, -1].min())
    assert 10 ** lv.max() < edge_min  # every contour closes inside the window
    r2 = pickle.loads(pickle.dumps(r))
    np.testing.assert_array_equal(r2.sigma_min, r.sigma_min)


def test_eps_levels_on_a_zoomed_window_span_its_range():
    """Normal matrix: sigma_min is the distance to the spectrum (closed form). A window whose left edge passes
    0.01 from one eigenvalue and whose grid passes 0.005 from another has only 0.3 decades below its edge
    minimum; the levels must span the window's own range instead of a band of ticks at 10^-2."""
    eigs = np.array([0.01, 1.02 + 0.005j])
    A = np.diag(eigs)
    re, im = np.linspace(0.0, 2.0, 101), np.linspace(-1.0, 1.0, 41)  # 1.02 + 0.005i is 0.005 from (1.02, 0)
    S = sigma_min_grid(A, re, im)
    Z = re[None, :] + 1j * im[:, None]
    np.testing.assert_allclose(S, np.abs(Z[..., None] - eigs).min(axis=-1), rtol=1e-12)
    lv = eps_levels(S, norm=1.02, n_levels=6)
    assert 10 ** lv.min() > S.min() and 10 ** lv.max() < S.max()
    assert lv.max() - lv.min() >= 1.0  # at least a decade between the first and last contour
    assert lv.max() >= np.log10(np.quantile(S, 0.9)) - 0.5
    # the default window of a pseudospectrum is not zoomed: there every contour still closes
    r = pseudospectrum(A, n_grid=40)
    lv_auto = eps_levels(r)
    edge = np.concatenate([r.sigma_min[0], r.sigma_min[-1], r.sigma_min[:, 0], r.sigma_min[:, -1]])
    assert 10 ** lv_auto.max() < edge.min()


def test_eps_levels_clamped_above_noise_floor():
    S = np.logspace(-18, 0, 100).reshape(10, 10)
    lv = eps_levels(S, norm=1.0, n_levels=8)
    assert lv.min() > -14 and lv.size <= 8


# ---------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "J, err, match",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), ValueError, "must contain only finite"),
        (np.ones((2, 3)), ValueError, "must be a square"),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, "numeric"),
    ],
)
def test_bad_matrices_are_refused(J, err, match):
    with pytest.raises(err, match=match):
        sigma_min_grid(J, [0.0], [0.0])
    with pytest.raises(err, match=match):
        pseudospectral_radius(J, 0.1)


def test_bad_arguments_are_refused():
    A = np.eye(3)
    with pytest.raises(ValueError, match="method must be one of"):
        sigma_min_grid(A, [0.0], [0.0], method="magic")
    with pytest.raises(ValueError, match="re must be a non-empty"):
        sigma_min_grid(A, [], [0.0])
    with pytest.raises(ValueError, match="eps must be > 0"):
        pseudospectral_radius(A, 0.0)
    with pytest.raises(ValueError, match=r"blocks must have shape \(n, 2, 2\)"):
        sigma_min_grid(None, [0.0], [0.0], blocks=np.ones((3, 3)))
    with pytest.raises(ValueError, match="J must be given"):
        sigma_min_grid(None, [0.0], [0.0])
    with pytest.raises(TypeError, match="schur must be a SchurForm"):
        sigma_min_grid(A, [0.0], [0.0], schur=np.eye(3))


def test_defective_and_exact_eigenvalue_shift_are_fine():
    J = jordan(6, 0.5)
    s = sigma_min_grid(J, np.array([0.5, 0.6]), np.array([0.0]), method="schur-lanczos")
    assert s[0, 0] == 0.0 or s[0, 0] < 1e-15
    assert s[0, 1] == pytest.approx(sla.svdvals(0.6 * np.eye(6) - J)[-1], rel=1e-6)


# ---------------------------------------------------------------------------------------------- dense engine parts
def _dense_ritz(alpha, beta):
    """Top two singular values of the upper bidiagonal B_k (diag alpha, superdiag beta[:-1]) and |x_k|."""
    k = len(alpha)
    out = []
    for j in range(alpha[0].size):
        B = np.diag([a[j] for a in alpha]) + np.diag([b[j] for b in beta[: k - 1]], 1)
        w, X = np.linalg.eigh(B @ B.T)
        out.append((np.sqrt(w[-1]), abs(X[-1, -1]), np.sqrt(max(w[-2], 0.0)) if k > 1 else 0.0))
    return np.array(out).T


@pytest.mark.parametrize("k", [1, 2, 3, 7, 19, 40])
def test_fast_ritz_check_matches_dense_eigh(rng, k):
    from nnspec_core.pseudospectra import _ritz_top_dense, _ritz_top_fast

    m = 60
    alpha = [np.abs(rng.standard_normal(m)) * np.exp(rng.uniform(-3, 3, m)) for _ in range(k)]
    beta = [np.abs(rng.standard_normal(m)) * np.exp(rng.uniform(-6, 1, m)) for _ in range(k)]
    s_ref, x_ref, s2_ref = _dense_ritz(alpha, beta)
    for ritz in (_ritz_top_fast, _ritz_top_dense):
        s, x_last, s2 = ritz(alpha, beta)
        np.testing.assert_allclose(s, s_ref, rtol=1e-12)
        # residual beta_k |x_k| agrees wherever it is above rounding noise relative to s
        res, res_ref = beta[-1] * x_last, beta[-1] * x_ref
        floor = 1e-12 * s_ref
        np.testing.assert_allclose(np.maximum(res, floor), np.maximum(res_ref, floor), rtol=1e-3)
        # s2 never under-estimates the second Ritz value: the Kato-Temple gap s - s2 is never over-estimated
        assert np.all(s2 >= s2_ref * (1 - 1e-12))
        assert np.all(s2 <= s * (1 + 1e-12))


def test_fast_ritz_gap_bound_is_useful_for_separated_values():
    from nnspec_core.pseudospectra import _ritz_top_fast

    # B = diag(3, 1, 1): s1 = 3, s2 = 1: the bound must certify a gap of at least half the true one
    alpha = [np.array([3.0]), np.array([1.0]), np.array([1.0])]
    beta = [np.array([0.0]), np.array([0.0]), np.array([0.5])]
    s, x_last, s2 = _ritz_top_fast(alpha, beta)
    assert s[0] == pytest.approx(3.0, rel=1e-14)
    assert x_last[0] < 1e-12  # top singular vector is e_1: converged, zero residual
    assert 1.0 <= s2[0] and s[0] - s2[0] >= 0.5 * (3.0 - 1.0)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 9, 33])
def test_batched_shifted_triangular_solves(rng, n):
    from nnspec_core.pseudospectra import _ShiftedTriangular

    T = np.triu(rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) / np.sqrt(n) + 3 * np.eye(n)
    z = rng.standard_normal(5) + 1j * rng.standard_normal(5)
    X = rng.standard_normal((n, 5)) + 1j * rng.standard_normal((n, 5))
    op = _ShiftedTriangular(T, z)
    Y = op.solve(X)
    W = op.solve_h(X.copy())
    for j in range(5):
        M = T - z[j] * np.eye(n)
        np.testing.assert_allclose(Y[:, j], np.linalg.solve(M, X[:, j]), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(W[:, j], np.linalg.solve(M.conj().T, X[:, j]), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("n", [2, 3, 5, 6, 9, 17, 40])
def test_batched_solves_with_real_quasi_triangular_schur_factor(rng, n):
    """Real Schur factor (2 x 2 bumps for complex pairs): real GEMMs on the float view, per-shift 2 x 2 solves."""
    from nnspec_core.pseudospectra import _ShiftedTriangular

    T = np.triu(sla.schur(rng.standard_normal((n, n)), output="real")[0], -1)
    n_bumps = int(np.count_nonzero(np.diag(T, -1)))
    if n >= 5:
        assert n_bumps >= 1  # the seed gives complex pairs: the bump code runs
    z = np.concatenate([rng.standard_normal(5) + 1j * rng.standard_normal(5), np.linalg.eigvals(T)[:2] + 1e-3])
    X = rng.standard_normal((n, z.size)) + 1j * rng.standard_normal((n, z.size))
    op = _ShiftedTriangular(T, z)
    assert len(op.bump) == n_bumps
    Y = op.solve(X)
    W = op.solve_h(X.copy())
    for j in range(z.size):
        M = T - z[j] * np.eye(n)
        np.testing.assert_allclose(M @ Y[:, j], X[:, j], rtol=1e-10, atol=1e-10 * np.abs(X[:, j]).max())
        np.testing.assert_allclose(M.conj().T @ W[:, j], X[:, j], rtol=1e-10, atol=1e-10 * np.abs(X[:, j]).max())


@pytest.mark.parametrize("complex_", [False, True])
def test_lanczos_n64_every_point_including_exact_eigenvalues(rng, complex_):
    A = rng.standard_normal((64, 64)) / 8 + np.diag(np.ones(63), 1)
    if complex_:
        A = A + 1j * rng.standard_normal((64, 64)) / 8
    ev = np.linalg.eigvals(A)
    re = np.linspace(ev.real.min() - 0.5, ev.real.max() + 0.5, 9)
    im = np.linspace(ev.imag.min() - 0.5, ev.imag.max() + 0.5, 8)
    got = sigma_min_grid(A, re, im, method="schur-lanczos")
    ref = brute(A, re, im)
    mask = ref > 1e-12 * np.linalg.norm(A, 2)
    assert mask.all()
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    # shifts exactly at (rounded) eigenvalues: sigma_min is at the rounding level, never garbage or NaN
    S = schur_form(A)
    lam = np.diag(S.T)[:4]
    pts = sigma_min_points(None, lam, schur=S)
    assert np.all(np.isfinite(pts)) and np.all(pts <= 1e-12 * np.linalg.norm(A, 2))


def test_lanczos_jordan_block_and_real_schur_of_real_matrix():
    J = jordan(40, 0.25)
    S = schur_form(J)
    assert S.T.dtype == np.complex128 and S.is_real
    assert S.T_real is not None and S.T_real.dtype == np.float64 and np.all(np.tril(S.T_real, -2) == 0)
    np.testing.assert_allclose(S.Z @ S.T @ S.Z.conj().T, J, atol=1e-13)
    np.testing.assert_allclose(S.Z.conj().T @ S.Z, np.eye(40), atol=1e-13)
    assert np.all(np.tril(S.T, -1) == 0)
    re, im = np.linspace(-0.8, 1.3, 8), np.linspace(0.0, 1.1, 5)
    got = sigma_min_grid(J, re, im, method="schur-lanczos")
    ref = brute(J, re, im)
    mask = ref > 1e-12
    np.testing.assert_allclose(got[mask], ref[mask], rtol=1e-6)


def test_single_blas_thread_engine_restores_the_caller_setting(rng):
    from threadpoolctl import threadpool_info, threadpool_limits

    A = random_nonnormal(rng, 40)
    re, im = np.linspace(-2, 2, 24), np.linspace(-2, 2, 24)  # 24 * 12 shifts * n = 40: above the threshold
    with threadpool_limits(limits=2, user_api="blas"):
        before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        got = sigma_min_grid(A, re, im, method="schur-lanczos")
        after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert before and set(before) == {2}
    assert after == before
    sub = (slice(None, None, 5), slice(None, None, 5))  # spot-check a sub-grid against the dense SVD
    np.testing.assert_allclose(got[sub], brute(A, re[::5], im[::5]), rtol=1e-6)


@pytest.mark.parametrize("complex_, n_angles", [(False, 64), (False, 9), (True, 9)])
def test_field_of_values_boundary_matches_per_angle_eigh(rng, complex_, n_angles):
    """Every boundary point is x^H J x for the top eigenvector x of (e^{-i t} J + e^{i t} J^H) / 2 at its own angle
    (full eigh per angle as the reference); for a real J half the angles are mirrored, odd and even counts."""
    n = 13
    J = rng.standard_normal((n, n)) + (1j * rng.standard_normal((n, n)) if complex_ else 0)
    f = field_of_values(J, n_angles=n_angles)
    ref = []
    for t in np.linspace(0, 2 * np.pi, n_angles, endpoint=False):
        M = np.exp(-1j * t) * J
        x = np.linalg.eigh(0.5 * (M + M.conj().T))[1][:, -1]
        ref.append(x.conj() @ J @ x)
    np.testing.assert_allclose(f.boundary, ref, rtol=0, atol=1e-12 * np.linalg.norm(J, 2))


def test_circle_search_standard_form_matches_qz_and_closed_form(rng, monkeypatch):
    """Dense n > 32, well conditioned: the circle search solves R^{-1} L with numpy's eig instead of QZ on the
    pencil. Normal matrix: rho_eps = rho + eps exactly; non-normal: the same radius as the QZ path; a singular J
    keeps QZ."""
    import nnspec_core.pseudospectra as ps

    n = 40
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n)))
    lam = rng.uniform(0.3, 1.0, n) * np.exp(2j * np.pi * rng.uniform(size=n))
    N = (Q * lam) @ Q.conj().T
    assert ps._Stack(N, None).inv_AH is not None  # the new path is the one tested
    for eps in (1e-3, 1e-1):
        assert pseudospectral_radius(N, eps) == pytest.approx(np.abs(lam).max() + eps, rel=1e-9)
    A = grcar(n)
    fast = [pseudospectral_radius(A, eps) for eps in (1e-4, 1e-2)]
    monkeypatch.setattr(ps, "_PENCIL_QZ_MAX_N", 10**9)
    assert ps._Stack(A, None).inv_AH is None
    np.testing.assert_allclose(fast, [pseudospectral_radius(A, eps) for eps in (1e-4, 1e-2)], rtol=1e-10)
    monkeypatch.undo()
    S = np.diag(np.r_[0.0, np.ones(n - 1)]) + np.diag(np.ones(n - 1), 1)  # singular: no inverse, QZ
    assert ps._Stack(S, None).inv_AH is None
