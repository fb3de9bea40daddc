"""Exceptional points: analytic locations, numerical search, maps (nnspec_core.exceptional).

Independent truth: characteristic polynomials written out here, dense operators assembled here
from their textbook formulas (not from the module), np.linalg.eig + column normalisation + cond
for kappa(V), and nnspec_core.operators for Adam's frozen operator.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from nnspec_core.blocks import departure2x2, kappa2x2
from nnspec_core.exceptional import (
    EP_BRANCHES,
    adam_frozen_blocks,
    adam_frozen_operator,
    adam_modes,
    analytic_ep_lr,
    ep_curves,
    ep_distance,
    ep_products,
    family_map,
    kappa_rho_map,
    locate_eps,
    snap_to_ep,
)
from nnspec_core.quadratic import quadratic_problem, rotation_matrix

BETAS = (0.5, 0.81, 0.9)


# ------------------------------------------------------------------ dense references (built here)


def rotated_H(lam, angle=0.37):
    Q = rotation_matrix(len(lam), angle)
    return (Q * np.asarray(lam, float)) @ Q.T


def hb_dense(H, eta, beta, coords="history"):
    n = H.shape[0]
    I, Z = np.eye(n), np.zeros((n, n))
    if coords == "history":
        return np.block([[(1 + beta) * I - eta * H, -beta * I], [I, Z]])
    return np.block([[I - eta * H, -eta * beta * I], [H, beta * I]])


def nesterov_dense(H, eta, beta):
    n = H.shape[0]
    G = np.eye(n) - eta * H
    return np.block([[(1 + beta) * G, -beta * G], [np.eye(n), np.zeros((n, n))]])


def adam_raw_dense(H, m, eta, b1, t):
    n = H.shape[0]
    c1 = 1 / (1 - b1**t)
    M = np.diag(m)
    return np.block([[np.eye(n) - eta * c1 * (1 - b1) * M @ H, -eta * c1 * b1 * M], [(1 - b1) * H, b1 * np.eye(n)]])


def kappa_dense(J):
    _, V = np.linalg.eig(J)
    V = V / np.linalg.norm(V, axis=0)
    return float(np.linalg.cond(V))


def henrici(J):
    mu = np.linalg.eigvals(J)
    return math.sqrt(max(np.linalg.norm(J, "fro") ** 2 - np.sum(np.abs(mu) ** 2), 0.0))


def adam_a(H, m):
    """Eigenvalues of M H (independent of adam_modes)."""
    return np.sort(np.linalg.eigvals(np.diag(m) @ H).real)


# ------------------------------------------------------------------ analytic EPs


@pytest.mark.parametrize("beta", BETAS)
def test_heavy_ball_ep_products_zero_the_discriminant(beta):
    lower, upper = ep_products("heavy_ball", beta)
    np.testing.assert_allclose([lower, upper], [(1 - math.sqrt(beta)) ** 2, (1 + math.sqrt(beta)) ** 2], rtol=1e-15)
    for x in (lower, upper):  # eta*lam = x: trace^2 - 4 det of [[1+beta-x, -beta], [1, 0]]
        assert abs((1 + beta - x) ** 2 - 4 * beta) < 1e-14


@pytest.mark.parametrize("beta", (0.0, 0.5, 0.9))
def test_nesterov_ep_products_zero_the_discriminant(beta):
    crit, nil = ep_products("nesterov", beta)
    assert nil == 1.0
    for x in (crit, nil):
        s = 1 - x
        assert abs(((1 + beta) * s) ** 2 - 4 * beta * s) < 1e-14
    # the nilpotent point: the block is a nonzero matrix with B @ B = 0 (a Jordan block at 0)
    B = np.array([[(1 + beta) * (1 - nil), -beta * (1 - nil)], [1.0, 0.0]])
    assert np.all(B @ B == 0) and np.any(B != 0)


@pytest.mark.parametrize("step", (1, 5, 50))
@pytest.mark.parametrize("beta1", (0.5, 0.9))
def test_adam_ep_lr_zero_the_block_discriminant(step, beta1):
    a = np.array([0.3, 1.0, 7.0])
    eta = analytic_ep_lr("adam", a, momentum=beta1, step=step)  # (3, 2)
    B = adam_frozen_blocks(a[:, None], lr=eta, beta1=beta1, step=step)
    disc = (B[..., 0, 0] + B[..., 1, 1]) ** 2 - 4 * (B[..., 0, 0] * B[..., 1, 1] - B[..., 0, 1] * B[..., 1, 0])
    np.testing.assert_allclose(disc, 0.0, atol=1e-13)
    np.testing.assert_allclose(B[..., 0, 0] * B[..., 1, 1] - B[..., 0, 1] * B[..., 1, 0], beta1, rtol=1e-13)


def test_analytic_ep_lr_shapes_and_negative_curvature():
    out = analytic_ep_lr("heavy_ball", [2.0, -1.0, 0.5], momentum=0.81)
    assert out.shape == (3, 2)
    np.testing.assert_allclose(out[0], [0.01 / 2, 3.61 / 2], rtol=1e-12)
    assert np.all(np.isnan(out[1]))
    assert analytic_ep_lr("gd", [1.0], momentum=0.0).shape == (1, 0)


def test_ep_curves_follow_the_closed_forms_and_respect_ranges():
    lam = [1.0, 0.1]
    curves = ep_curves("heavy_ball", lam, ranges=((1e-3, 5.0), (0.0, 0.99)), n_points=101)
    assert len(curves) == 2 * len(EP_BRANCHES["heavy_ball"])
    for c in curves:
        assert c.x_name == "lr" and c.y_name == "momentum"
        ok = np.isfinite(c.x)
        assert ok.any() or (c.branch == "upper" and c.lam == 0.1)
        assert np.all((c.x[ok] >= 1e-3) & (c.x[ok] <= 5.0))
        sign = -1 if c.branch == "lower" else 1
        np.testing.assert_allclose(c.x[ok] * c.lam, (1 + sign * np.sqrt(c.y[ok])) ** 2, rtol=1e-13)
    upper_small = [c for c in curves if c.branch == "upper" and c.lam == 0.1][0]
    assert np.all(np.isnan(upper_small.x))  # (1 + sqrt beta)^2 / 0.1 >= 10 > 5
    swapped = ep_curves("heavy_ball", lam, plane=("momentum", "lr"), ranges=((0.0, 0.99), (1e-3, 5.0)), n_points=101)
    np.testing.assert_array_equal(swapped[0].x, curves[0].y)
    np.testing.assert_array_equal(swapped[0].y, curves[0].x)
    nest = ep_curves("nesterov", [2.0], ranges=((1e-3, 5.0), (0.0, 0.9)))
    nil = [c for c in nest if c.branch == "nilpotent"][0]
    np.testing.assert_allclose(nil.x, 0.5)
    adam = ep_curves("adam", [1.0], plane=("lr", "beta1"), ranges=((1e-4, 10.0), (0.1, 0.9)), step=3)
    c = adam[0]
    ok = np.isfinite(c.x)
    c1 = 1 / (1 - c.y[ok] ** 3)
    np.testing.assert_allclose(c.x[ok] * c1 * (1 - c.y[ok]), (1 - np.sqrt(c.y[ok])) ** 2, rtol=1e-12)


# ------------------------------------------------------------------ numerical EP search vs analytic


@pytest.mark.parametrize("coords", ("history", "buffer"))
@pytest.mark.parametrize("beta", BETAS)
def test_locate_eps_hits_heavy_ball_eps(beta, coords):
    lam = np.array([2.0, 0.7, 0.05])
    H = rotated_H(lam)
    found = locate_eps(lambda eta: hb_dense(H, eta, beta, coords), 1e-3, 100.0, n_scan=96)
    expect = np.sort(np.concatenate([(1 - math.sqrt(beta)) ** 2 / lam, (1 + math.sqrt(beta)) ** 2 / lam]))
    expect = expect[(expect > 1e-3) & (expect < 100.0)]
    assert found.shape == expect.shape
    np.testing.assert_allclose(found, expect, rtol=1e-6)
    np.testing.assert_allclose(found, expect, rtol=1e-11)  # what bisection actually delivers


@pytest.mark.parametrize("beta", (0.5, 0.9))
def test_locate_eps_hits_nesterov_eps_including_nilpotent(beta):
    lam = np.array([1.0, 0.25])
    H = rotated_H(lam)
    found = locate_eps(lambda eta: nesterov_dense(H, eta, beta), 1e-3, 20.0, n_scan=96)
    expect = np.sort(np.concatenate([((1 - beta) / (1 + beta)) ** 2 / lam, 1.0 / lam]))
    np.testing.assert_allclose(found, expect, rtol=1e-6)


@pytest.mark.parametrize("step", (1, 10))
@pytest.mark.parametrize("beta1", (0.5, 0.9))
def test_locate_eps_hits_adam_frozen_eps(beta1, step):
    P = quadratic_problem([10.0, 1.0, 0.3], angle=0.4, eps=1e-3)
    a = adam_a(P.H, P.preconditioner)
    found = locate_eps(lambda eta: adam_raw_dense(P.H, P.preconditioner, eta, beta1, step), 1e-4, 1e3, n_scan=128)
    c1 = 1 / (1 - beta1**step)
    products = [(1 - math.sqrt(beta1)) ** 2, (1 + math.sqrt(beta1)) ** 2]
    expect = np.sort(np.outer(products, 1 / (c1 * (1 - beta1) * a)).ravel())
    np.testing.assert_allclose(found, expect, rtol=1e-6)
    np.testing.assert_allclose(
        np.sort(analytic_ep_lr("adam", a, momentum=beta1, step=step).ravel()), expect, rtol=1e-12
    )


def test_adam_frozen_operator_matches_operators_module_and_scaling():
    from nnspec_core.operators import update_operator

    P = quadratic_problem([4.0, 1.0, 0.2], angle=0.3, eps=1e-8)
    lr, b1, b2, t = 0.03, 0.9, 0.999, 7
    op = update_operator("adam", P.H, lr=lr, betas=(b1, b2), eps=P.eps, state=P.adam_state(betas=(b1, b2), step=t),
                         step=t, coords="frozen")  # fmt: skip
    np.testing.assert_allclose(op.preconditioner, P.preconditioner, rtol=1e-13)
    raw = adam_frozen_operator(P.H, P.preconditioner, lr=lr, beta1=b1, step=t, coords="raw")
    np.testing.assert_allclose(raw, op.J, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(raw, adam_raw_dense(P.H, P.preconditioner, lr, b1, t), rtol=1e-13, atol=1e-15)
    T = np.diag(np.r_[np.ones(3), lr / (1 - b1**t) * P.preconditioner])  # u = lr c1 M m
    scaled = adam_frozen_operator(P.H, P.preconditioner, lr=lr, beta1=b1, step=t, coords="scaled")
    np.testing.assert_allclose(scaled, T @ raw @ np.linalg.inv(T), rtol=1e-12, atol=1e-14)
    # scaled J~ = (S (+) S) P blockdiag(B_i) P^T (S (+) S)^-1
    modes = adam_modes(P.H, P.preconditioner)
    np.testing.assert_allclose(modes.a, adam_a(P.H, P.preconditioner), rtol=1e-12)
    B = adam_frozen_blocks(modes.a, lr=lr, beta1=b1, step=t)
    SS = np.zeros((6, 6))
    SS[:3, 0::2] = modes.S
    SS[3:, 1::2] = modes.S
    Bd = np.zeros((6, 6))
    for i in range(3):
        Bd[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = B[i]
    np.testing.assert_allclose(SS @ Bd @ np.linalg.inv(SS), scaled, atol=1e-13)


@pytest.mark.parametrize("beta", BETAS)
def test_snap_along_lr_hits_nearest_heavy_ball_ep(beta):
    H = rotated_H([1.0, 0.3])
    fam = lambda eta, b: hb_dense(H, eta, b)  # noqa: E731
    lower, upper = (1 - math.sqrt(beta)) ** 2, (1 + math.sqrt(beta)) ** 2
    for start, expect in ((lower * 0.5, lower), (lower * 1.3, lower), (upper * 0.97, upper), (upper * 1.2, upper)):
        r = snap_to_ep(fam, (start, beta), bounds=((1e-3, 30.0), (0.0, 0.99)), axis=0)
        assert r.found
        assert abs(r.params[0] / expect - 1) < 1e-6
        assert r.params[1] == pytest.approx(beta, abs=1e-15)
        assert math.isfinite(r.kappa_V_beside) and r.kappa_V_beside > 1e2


def test_snap_along_beta1_hits_adam_ep():
    P = quadratic_problem([10.0, 1.0], angle=0.5, eps=1e-3)
    a = adam_a(P.H, P.preconditioner)
    t, eta = 5, 0.02
    fam = lambda e, b1: adam_raw_dense(P.H, P.preconditioner, e, b1, t)  # noqa: E731
    r = snap_to_ep(fam, (eta, 0.5), bounds=((1e-4, 1.0), (0.0, 0.99)), axis=1)
    assert r.found and r.params[0] == pytest.approx(eta, rel=1e-15)
    b1 = r.params[1]
    prod = eta * (1 - b1) / (1 - b1**t) * a  # eta c1 (1-b1) a must equal (1 -/+ sqrt b1)^2 for some mode
    resid = np.abs(np.concatenate([prod / (1 - math.sqrt(b1)) ** 2, prod / (1 + math.sqrt(b1)) ** 2]) - 1)
    assert resid.min() < 1e-6


def test_snap_in_the_plane_lands_on_the_nearest_point_of_the_ep_curve():
    fam = lambda eta, b: np.array([[1 + b - eta, -b], [1.0, 0.0]])  # noqa: E731  (lam = 1, history)
    bounds = ((1e-3, 10.0), (0.0, 0.99))
    p0 = (0.05, 0.5)
    r = snap_to_ep(fam, p0, bounds=bounds)
    assert r.found
    eta, b = r.params
    assert min(abs(eta / (1 - math.sqrt(b)) ** 2 - 1), abs(eta / (1 + math.sqrt(b)) ** 2 - 1)) < 1e-8
    # nearest in normalised coordinates (log eta over its range, beta over its range): dense sampling
    bs = np.linspace(0.0, 0.99, 200001)
    span = math.log(10.0 / 1e-3)
    best = np.inf
    for x in ((1 - np.sqrt(bs)) ** 2, (1 + np.sqrt(bs)) ** 2):
        ok = (x >= 1e-3) & (x <= 10.0)
        d = np.hypot(np.log(x[ok] / p0[0]) / span, (bs[ok] - p0[1]) / 0.99)
        best = min(best, d.min())
    assert r.distance == pytest.approx(best, rel=1e-4)
    assert r.distance <= best * (1 + 1e-6)


def test_snap_reports_not_found_for_a_family_without_eps():
    r = snap_to_ep(lambda p, q: np.diag([p, q, 1.0]), (0.5, 0.5), bounds=((0.1, 1.0), (0.1, 1.0)), log=(False, False))
    assert not r.found and r.distance == math.inf and r.params == r.start


# ------------------------------------------------------------------ kappa(V) near an EP


def _slope(deltas, kappas):
    return np.polyfit(np.log(deltas), np.log(kappas), 1)[0]


DELTAS = np.array([1e-2, 3e-3, 1e-3, 3e-4, 1e-4])

FAMILIES = {
    "heavy_ball": (lambda eta: hb_dense(rotated_H([1.0, 0.2]), eta, 0.81), [0.01, 3.61]),
    "heavy_ball_buffer": (lambda eta: hb_dense(rotated_H([1.0, 0.2]), eta, 0.81, "buffer"), [0.01, 3.61]),
    "nesterov": (lambda eta: nesterov_dense(rotated_H([1.0, 0.2]), eta, 0.9), [(0.1 / 1.9) ** 2, 1.0]),
}


def _adam_family():
    P = quadratic_problem([10.0, 1.0], angle=0.5, eps=1e-3)
    eps = np.sort(analytic_ep_lr("adam", adam_a(P.H, P.preconditioner), momentum=0.9, step=10).ravel())
    return (lambda eta: adam_raw_dense(P.H, P.preconditioner, eta, 0.9, 10)), list(eps)


@pytest.mark.parametrize("name", [*FAMILIES, "adam"])
def test_kappa_near_an_ep_is_finite_large_and_scales_like_inverse_sqrt(name):
    fam, eps = _adam_family() if name == "adam" else FAMILIES[name]
    for ep in eps:
        for side in (-1, 1):
            k = np.array([kappa_dense(fam(ep * (1 + side * d))) for d in DELTAS])
            assert np.all(np.isfinite(k)), (ep, side, k)
            assert k[0] > 3.0  # at 1 % from the EP
            assert k[-1] > 30.0
            assert abs(_slope(DELTAS, k) + 0.5) < 0.05, (ep, side, k)


def test_ep_distance_closed_form_and_defective_limits():
    for d in (1e-2, 1e-4, 1e-6):  # [[0, 1], [d, 0]]: mu = +-sqrt d, s_i = (1 + d) / (2 sqrt d)
        r = ep_distance(np.array([[0.0, 1.0], [d, 0.0]]))
        assert r.distance == pytest.approx(2 * d / (1 + d), rel=1e-8)
        assert r.gap == pytest.approx(2 * math.sqrt(d), rel=1e-10)
        np.testing.assert_allclose(r.eigval_condition, (1 + d) / (2 * math.sqrt(d)), rtol=1e-8)
        assert r.kappa_V == pytest.approx(kappa_dense(np.array([[0.0, 1.0], [d, 0.0]])), rel=1e-8)
    r = ep_distance(np.array([[0.0, 0.0], [1.0, 0.0]]))  # nilpotent Jordan block
    assert r.distance == 0.0 and r.kappa_V == math.inf
    r = ep_distance(np.diag([3.0, 1.0, 2.0]))
    assert r.kappa_V == pytest.approx(1.0) and r.distance == pytest.approx(0.5)
    assert ep_distance(np.array([[2.0]])).distance == math.inf
    pickle.loads(pickle.dumps(r))


def test_ep_distance_is_linear_in_the_parameter_distance():
    fam, (ep, _) = FAMILIES["heavy_ball"]
    dist = np.array([ep_distance(fam(ep * (1 + d))).distance for d in DELTAS])
    assert abs(_slope(DELTAS, dist) - 1.0) < 0.05


# ------------------------------------------------------------------ commuting vs rotated Adam


def test_adam_commuting_h_and_m_give_block_normal_scaled_operator():
    P = quadratic_problem([10.0, 3.0, 1.0, 0.1], angle=0.0, eps=1e-2)
    H, m = P.H, P.preconditioner
    assert np.linalg.norm(H @ np.diag(m) - np.diag(m) @ H, 2) == 0.0
    lr, b1, t = 0.05, 0.9, 10
    c1 = 1 / (1 - b1**t)
    simple = np.eye(4) - lr * c1 * np.diag(m) @ H
    assert np.linalg.norm(simple @ simple.T - simple.T @ simple) == 0.0  # normal (here diagonal)
    J = adam_frozen_operator(H, m, lr=lr, beta1=b1, step=t)
    # coordinate axes are eigenvectors of M H: J~ is a *permutation* of blockdiag(B_i) (orthogonal similarity)
    B = adam_frozen_blocks(np.diag(m) @ np.diag(H), lr=lr, beta1=b1, step=t)
    perm = np.ravel(np.column_stack([np.arange(4), np.arange(4) + 4]))
    Jp = J[np.ix_(perm, perm)]
    for i in range(4):
        np.testing.assert_allclose(Jp[2 * i : 2 * i + 2, 2 * i : 2 * i + 2], B[i], rtol=1e-14)
        Jp[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = 0
    assert np.all(Jp == 0)
    # so its only non-normality is the momentum blocks'
    assert kappa_dense(J) == pytest.approx(kappa2x2(B).max(), rel=1e-8)
    assert henrici(J) ** 2 == pytest.approx(np.sum(departure2x2(B) ** 2), rel=1e-10)


def test_rotation_increases_the_coupling_departure_monotonically():
    lr, b1, t = 0.01, 0.9, 10
    alpha = lr * (1 - b1) / (1 - b1**t)
    angles = np.linspace(0.0, math.pi / 4, 9)
    comm, coupling, simple_dep, kappa_excess = [], [], [], []
    for phi in angles:
        P = quadratic_problem([10.0, 3.0, 1.0, 0.1], angle=phi, eps=1e-2)  # M fixed, H rotated
        H, m = P.H, P.preconditioner
        A = np.diag(m) @ H
        J = adam_frozen_operator(H, m, lr=lr, beta1=b1, step=t)
        B = adam_frozen_blocks(adam_a(H, m), lr=lr, beta1=b1, step=t)
        c2 = henrici(J) ** 2 - np.sum(departure2x2(B) ** 2)
        # exact split dep(J~)^2 = sum dep(B_i)^2 + 2 alpha^2 dep(M H)^2
        assert c2 == pytest.approx(2 * alpha**2 * henrici(A) ** 2, rel=1e-6, abs=1e-14)
        comm.append(np.linalg.norm(H @ np.diag(m) - np.diag(m) @ H, 2))
        coupling.append(math.sqrt(max(c2, 0.0)))
        simple_dep.append(henrici(np.eye(4) - lr / (1 - b1**t) * A))
        kappa_excess.append(kappa_dense(J) / kappa2x2(B).max())
    # at angle 0 the coupling is exactly 0; computed through ||J||_F^2 - sum |mu|^2 it carries a sqrt(eps) floor
    for seq, floor in ((comm, 1e-14), (coupling, 1e-6), (simple_dep, 1e-6)):
        assert seq[0] <= floor * max(seq)
        assert np.all(np.diff(seq) > 0), seq
    assert kappa_excess[0] == pytest.approx(1.0, rel=1e-6)
    assert min(kappa_excess[1:]) > 1.05


# ------------------------------------------------------------------ maps


GRID_LR = np.array([0.003, 0.02, 0.15, 0.7, 2.3, 5.5])
GRID_BETA = np.array([0.0, 0.3, 0.7, 0.93])


@pytest.mark.parametrize("coords", ("history", "buffer"))
@pytest.mark.parametrize("optimizer", ("heavy_ball", "nesterov"))
def test_block_map_equals_dense_per_point(optimizer, coords):
    lam = [2.0, 0.45, 0.1]
    H = rotated_H(lam)
    r = kappa_rho_map(optimizer, H, lr=GRID_LR, momentum=GRID_BETA, coords=coords)
    assert r.method == "blocks" and r.log10_kappa.shape == (4, 6)
    for iy, b in enumerate(GRID_BETA):
        for ix, eta in enumerate(GRID_LR):
            if optimizer == "heavy_ball":
                J = hb_dense(H, eta, b, coords)
            else:
                J = nesterov_dense(H, eta, b) if coords == "history" else None
                if J is None:  # torch buffer convention: b' = beta b + g, theta' = theta - eta (g + beta b')
                    n = 3
                    J = np.block([[np.eye(n) - eta * (1 + b) * H, -eta * b * b * np.eye(n)], [H, b * np.eye(n)]])
            mu = np.linalg.eigvals(J)
            assert r.rho[iy, ix] == pytest.approx(np.abs(mu).max(), rel=1e-10, abs=1e-14)
            if b > 0:  # b = 0: a semisimple repeated eigenvalue 0, basis (and kappa) not unique
                assert r.log10_kappa[iy, ix] == pytest.approx(math.log10(kappa_dense(J)), abs=1e-6)
    pickle.loads(pickle.dumps(r))


@pytest.mark.parametrize("coords", ("scaled", "raw"))
def test_adam_structured_map_equals_dense_per_point(coords):
    P = quadratic_problem([10.0, 1.0, 0.3], angle=0.4, eps=1e-3)
    H, m, t = P.H, P.preconditioner, 10
    lr = np.array([1e-3, 0.01, 0.05, 0.3, 2.0])
    b1 = np.array([0.0, 0.5, 0.8, 0.95])
    r = kappa_rho_map("adam", H, lr=lr, momentum=b1, preconditioner=m, step=t, coords=coords)
    assert r.method == "structured" and r.y_name == "beta1" and r.coords == coords
    c1 = 1 / (1 - b1**t)
    for iy in range(b1.size):
        for ix in range(lr.size):
            J = adam_raw_dense(H, m, lr[ix], b1[iy], t)
            if coords == "scaled":
                T = np.diag(np.r_[np.ones(3), lr[ix] * c1[iy] * m])
                J = T @ J @ np.linalg.inv(T)
            assert r.rho[iy, ix] == pytest.approx(np.abs(np.linalg.eigvals(J)).max(), rel=1e-10)
            if b1[iy] > 0:
                assert r.log10_kappa[iy, ix] == pytest.approx(math.log10(kappa_dense(J)), abs=1e-6)
    # next to an EP (kappa > 1e4: the Gram estimate is redone by SVD) the structured map still equals dense
    a = adam_a(H, m)
    eta_ep = (1 - math.sqrt(0.8)) ** 2 * (1 - 0.8**t) / ((1 - 0.8) * a[1])
    near = eta_ep * np.array([1 + 1e-9, 1 - 1e-9])
    rn = kappa_rho_map("adam", H, lr=near, momentum=[0.8], preconditioner=m, step=t, coords=coords)
    for ix, e in enumerate(near):
        J = adam_raw_dense(H, m, e, 0.8, t)
        if coords == "scaled":
            T = np.diag(np.r_[np.ones(3), e / (1 - 0.8**t) * m])
            J = T @ J @ np.linalg.inv(T)
        assert rn.log10_kappa[0, ix] > 4
        assert rn.log10_kappa[0, ix] == pytest.approx(math.log10(kappa_dense(J)), abs=1e-5)
    # beta1 = 0: kappa from the orthonormal basis of the repeated eigenvalue 0 is no larger than LAPACK's
    for ix in range(lr.size):
        J = adam_raw_dense(H, m, lr[ix], 0.0, t)
        if coords == "scaled":
            J = np.diag(np.r_[np.ones(3), lr[ix] * m]) @ J @ np.diag(np.r_[np.ones(3), 1 / (lr[ix] * m)])
        assert r.log10_kappa[0, ix] <= math.log10(kappa_dense(J)) + 1e-8


def test_family_map_equals_dense_and_marks_defective_points():
    fam = lambda eta, b: np.array([[1 + b - eta, -b], [1.0, 0.0]])  # noqa: E731
    r = family_map(fam, [0.01, 0.5, 3.61], [0.81, 0.5], x_name="lr", y_name="momentum")
    assert r.method == "dense" and r.log10_kappa.shape == (2, 3)
    assert r.log10_kappa[0, 0] > 6  # eta = 0.01 ~ (1 - 0.9)^2 up to rounding: numerically at the EP
    assert r.log10_kappa[1, 1] == pytest.approx(math.log10(kappa_dense(fam(0.5, 0.5))), abs=1e-10)
    nil = family_map(lambda p, q: np.array([[0.0, 0.0], [p, 0.0]]), [1.0], [0.0])
    assert nil.log10_kappa[0, 0] == math.inf


def test_heavy_ball_rho_one_contour_is_the_stability_boundary():
    lam = [1.7, 0.4]
    H = rotated_H(lam)
    for beta in (0.0, 0.3, 0.81, 0.95):
        eta_b = (2 + 2 * beta) / max(lam)
        r = kappa_rho_map("heavy_ball", H, lr=eta_b * np.array([1 - 1e-6, 1.0, 1 + 1e-6]), momentum=[beta])
        assert r.rho[0, 0] < 1 < r.rho[0, 2]
        assert r.rho[0, 1] == pytest.approx(1.0, abs=1e-9)
    # on an 80 x 80 map the rho = 1 crossing of every row lies in the grid cell holding eta lam_max = 2 + 2 beta
    lr = np.geomspace(0.5, 5.0, 80)
    beta = np.linspace(0.0, 0.98, 80)
    r = kappa_rho_map("heavy_ball", H, lr=lr, momentum=beta)
    for iy, b in enumerate(beta):
        ix = int(np.argmax(r.rho[iy] > 1))
        assert ix > 0 and np.all(r.rho[iy, :ix] < 1) and np.all(r.rho[iy, ix:] > 1)
        assert lr[ix - 1] < (2 + 2 * b) / max(lam) <= lr[ix]


def test_gd_map_is_symmetric_case():
    r = kappa_rho_map("gd", np.diag([1.0, 0.1]), lr=[0.5, 2.5], momentum=[0.0, 0.9])
    np.testing.assert_array_equal(r.log10_kappa, 0.0)
    np.testing.assert_allclose(r.rho, [[0.95, 1.5], [0.95, 1.5]])


def test_map_marks_the_nilpotent_nesterov_point_infinite():
    r = kappa_rho_map("nesterov", np.diag([1.0, 0.25]), lr=[1.0, 0.9], momentum=[0.9])
    assert r.log10_kappa[0, 0] == math.inf and math.isfinite(r.log10_kappa[0, 1])


# ------------------------------------------------------------------ validation


def test_validation_messages():
    H = np.diag([1.0, 0.5])
    with pytest.raises(ValueError, match="optimizer must be one of"):
        kappa_rho_map("sgd", H, lr=[0.1], momentum=[0.5])
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\)"):
        kappa_rho_map("heavy_ball", H, lr=[0.1], momentum=[1.0])
    with pytest.raises(ValueError, match="lr must be positive"):
        kappa_rho_map("heavy_ball", H, lr=[0.0], momentum=[0.5])
    with pytest.raises(ValueError, match="must be symmetric"):
        kappa_rho_map("heavy_ball", np.array([[1.0, 2.0], [0.0, 1.0]]), lr=[0.1], momentum=[0.5])
    with pytest.raises(ValueError, match="preconditioner must be given"):
        kappa_rho_map("adam", H, lr=[0.1], momentum=[0.5])
    with pytest.raises(ValueError, match=r"preconditioner must be a positive finite array of shape \(2,\)"):
        adam_modes(H, [1.0, -1.0])
    with pytest.raises(ValueError, match="coords must be one of"):
        kappa_rho_map("heavy_ball", H, lr=[0.1], momentum=[0.5], coords="scaled")
    with pytest.raises(ValueError, match="plane must be"):
        ep_curves("heavy_ball", [1.0], plane=("lr", "lr"), ranges=((0.1, 1.0), (0.0, 0.5)))
    with pytest.raises(ValueError, match="hi must be > lo"):
        locate_eps(lambda p: np.eye(2), 1.0, 0.5)
    with pytest.raises(ValueError, match=r"bounds\[0\] must satisfy"):
        snap_to_ep(lambda p, q: np.eye(2), (0.5, 0.5), bounds=((0.0, 1.0), (0.0, 1.0)))
    with pytest.raises(TypeError, match="family must return real matrices"):
        locate_eps(lambda p: np.eye(2) * 1j, 0.1, 1.0)
    with pytest.raises(ValueError, match="J must be a square 2-D array"):
        ep_distance(np.ones((2, 3)))
    with pytest.raises(ValueError, match="must contain only finite"):
        locate_eps(lambda p: np.full((2, 2), np.nan), 0.1, 1.0)


def test_nearest_analytic_ep_agrees_with_the_numerical_snap():
    from nnspec_core.exceptional import nearest_analytic_ep

    lam = np.array([1.0, 0.2])
    r = nearest_analytic_ep("heavy_ball", lam, lr=0.012, momentum=0.81)
    assert r.found and r.branch == "lower" and r.mode == 0 and r.curvature == 1.0
    assert r.lr == pytest.approx(0.01, rel=1e-12)
    assert r.relative_change == pytest.approx(0.01 / 0.012 - 1, rel=1e-12)
    assert r.log_distance == pytest.approx(math.log(1.2), rel=1e-12)
    H = rotated_H(lam)
    for lr0 in (0.012, 0.2, 1.0, 9.0):
        ana = nearest_analytic_ep("heavy_ball", lam, lr=lr0, momentum=0.81)
        num = snap_to_ep(lambda e, b: hb_dense(H, e, b), (lr0, 0.81), bounds=((1e-3, 50.0), (0.0, 0.99)), axis=0)
        assert num.params[0] == pytest.approx(ana.lr, rel=1e-9)
    assert not nearest_analytic_ep("gd", lam, lr=0.1, momentum=0.0).found
    assert not nearest_analytic_ep("heavy_ball", [-1.0], lr=0.1, momentum=0.5).found


def test_ep_walk_shows_the_collision_and_the_kappa_peak():
    from nnspec_core.exceptional import ep_walk

    beta = 0.81
    fam = lambda eta: np.array([[1 + beta - eta, -beta], [1.0, 0.0]])  # noqa: E731  (lam = 1)
    w = ep_walk(fam, 3.61, span=1.2, n_frames=21)
    assert w.p.shape == (21,) and w.eigenvalues.shape == (21, 2) and w.p[10] == 3.61
    below, above = w.eigenvalues[:10], w.eigenvalues[11:]
    assert np.all(below.imag != 0)  # complex pair of modulus sqrt(beta) before the upper EP
    np.testing.assert_allclose(np.abs(below), math.sqrt(beta), rtol=1e-12)
    assert np.all(above.imag == 0)  # two real eigenvalues after it
    np.testing.assert_allclose(w.eigenvalues[10], -0.9, atol=1e-7)
    assert np.argmax(w.log10_kappa) == 10 and w.log10_kappa[10] > 6
    np.testing.assert_allclose(w.rho, np.abs(w.eigenvalues).max(axis=1))
