"""Operator Lab core (nnspec_core.lab): one call per slider state, snap to an EP, walk through an EP.

Independent truth: operators assembled here from their textbook formulas, np.linalg.eig + unit
columns + cond for kappa(V), np.linalg.matrix_power + 2-norm for ||J^k||, plain loops of the
optimizer recursions for trajectories, np.linalg.svd for sigma_min, the closed-form EP locations
written out here, and nnspec_core.pseudospectra.kreiss_constant (Nelder-Mead) for the Kreiss estimate.
"""

from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np
import pytest

from nnspec_core.blocks import departure2x2
from nnspec_core.exceptional import adam_frozen_blocks
from nnspec_core.lab import (
    AT_EP_RTOL,
    LabSettings,
    lab_map,
    lab_state,
    lab_walk,
    settings_from_preset,
    snap_target,
)
from nnspec_core.pseudospectra import kreiss_constant
from nnspec_core.quadratic import PRESETS, rotation_matrix

# ---------------------------------------------------------------------------- references (built here)


def hessian(lam, angle=0.0):
    Q = rotation_matrix(len(lam), angle)
    return (Q * np.asarray(lam, float)) @ Q.T


def dense_operator(s: LabSettings, M=None):
    H = hessian(s.eigenvalues, s.angle)
    n = H.shape[0]
    I, Z = np.eye(n), np.zeros((n, n))
    eta, b = s.lr, s.momentum
    if s.optimizer == "gd":
        return I - eta * H
    if s.optimizer == "heavy_ball":
        if s.coords == "history":
            return np.block([[(1 + b) * I - eta * H, -b * I], [I, Z]])
        return np.block([[I - eta * H, -eta * b * I], [H, b * I]])
    if s.optimizer == "nesterov":
        G = I - eta * H
        if s.coords == "history":
            return np.block([[(1 + b) * G, -b * G], [I, Z]])
        return np.block([[I - eta * (1 + b) * H, -eta * b * b * I], [H, b * I]])
    # Adam frozen, torch (theta, m): m' = b m + (1-b) H theta; theta' = theta - eta c1 M m'
    c1 = 1 / (1 - b**s.step)
    Md = np.diag(M)
    raw = np.block([[I - eta * c1 * (1 - b) * Md @ H, -eta * c1 * b * Md], [(1 - b) * H, b * I]])
    if s.coords == "raw":
        return raw
    T = np.block([[I, Z], [Z, eta * c1 * Md]])  # u = eta c1 M m
    return T @ raw @ np.linalg.inv(T)


def kappa_dense(J):
    _, V = np.linalg.eig(J)
    V = V / np.linalg.norm(V, axis=0)
    return np.linalg.cond(V)


def analytic_ep_lrs(optimizer, lam, beta, step=1):
    lam = np.asarray(lam, float)
    lam = lam[lam > 0]
    if optimizer == "heavy_ball":
        prods = [(1 - math.sqrt(beta)) ** 2, (1 + math.sqrt(beta)) ** 2]
    elif optimizer == "nesterov":
        prods = [((1 - beta) / (1 + beta)) ** 2, 1.0]
    else:  # adam, lam = eigenvalues a of M H: eta c1 (1 - beta1) a = (1 -/+ sqrt(beta1))^2
        g = (1 - beta**step) / (1 - beta)
        prods = [(1 - math.sqrt(beta)) ** 2 * g, (1 + math.sqrt(beta)) ** 2 * g]
    return np.array([p / l for l in lam for p in prods])


def small(s: LabSettings, **kw) -> LabSettings:
    return dataclasses.replace(s, n_map=12, n_grid=24, **kw)


# ------------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("key", list(PRESETS))
def test_every_preset_matches_dense_references(key):
    s = small(settings_from_preset(key), k_max=60)
    r = lab_state(s)
    J_ref = dense_operator(r.settings, r.preconditioner)
    np.testing.assert_allclose(r.J, J_ref, rtol=1e-12, atol=1e-12)
    mu = np.linalg.eigvals(J_ref)
    assert r.rho == pytest.approx(np.abs(mu).max(), rel=1e-9)
    np.testing.assert_allclose(np.sort(np.abs(r.eigenvalues)), np.sort(np.abs(mu)), atol=1e-7)
    if not r.at_ep:
        assert r.kappa_V == pytest.approx(kappa_dense(J_ref), rel=1e-6)
    P = [np.linalg.norm(np.linalg.matrix_power(J_ref, k), 2) for k in range(s.k_max + 1)]
    np.testing.assert_allclose(r.power_norms, P, rtol=1e-9, atol=1e-12)
    assert r.peak == pytest.approx(max(P), rel=1e-9) and r.peak_k == int(np.argmax(P))
    back = pickle.loads(pickle.dumps(r))
    np.testing.assert_array_equal(back.J, r.J)
    assert back.settings == r.settings


def test_bounds_bracket_the_transient_and_kreiss_matches_the_reference():
    s = small(settings_from_preset("transient"), k_max=1500)
    r = lab_state(s)
    finite = np.isfinite(r.upper_bound)
    assert np.all(r.power_norms[finite] <= r.upper_bound[finite] * (1 + 1e-9))
    assert r.upper_bound[0] == pytest.approx(r.kappa_V)
    # Kreiss matrix theorem: K <= sup_k ||J^k|| <= e d K (the peak lies inside k_max here)
    d = r.J.shape[0]
    assert r.kreiss <= r.peak * (1 + 1e-9) and r.peak <= math.e * d * r.kreiss
    assert r.peak > 50 and r.rho < 1  # the preset's story: rho < 1 but a large transient
    assert r.kreiss == pytest.approx(kreiss_constant(r.J).value, rel=1e-4)


@pytest.mark.parametrize("key", ["adam_rotated", "edge_of_stability"])
def test_kreiss_estimate_matches_reference(key):
    r = lab_state(small(settings_from_preset(key), k_max=20))
    assert r.kreiss == pytest.approx(kreiss_constant(r.J).value, rel=1e-4)


def test_diverging_setting_is_finite_and_flagged():
    s = small(settings_from_preset("edge_of_stability"), lr=6.0, k_max=4000)
    r = lab_state(s)
    assert r.diverges and r.rho > 1 and math.isinf(r.kreiss)
    assert np.isinf(r.power_norms[-1]) and np.isfinite(r.peak)
    assert np.all(np.isfinite(r.thetas[0])) and np.isnan(r.thetas[-1]).all() and np.isinf(r.theta_ratio[-1])


def test_trajectory_follows_the_optimizer_recursion():
    s = small(LabSettings(optimizer="heavy_ball", coords="buffer", eigenvalues=(1.0, 0.3), angle=0.4, lr=0.3,
                          momentum=0.7, k_max=40, theta0=(1.0, -2.0)))  # fmt: skip
    r = lab_state(s)
    H = hessian(s.eigenvalues, s.angle)
    theta, buf = np.array([1.0, -2.0]), np.zeros(2)
    ref = [theta.copy()]
    for _ in range(s.k_max):  # torch SGD momentum: b <- beta b + g, theta <- theta - lr b
        buf = 0.7 * buf + H @ theta
        theta = theta - 0.3 * buf
        ref.append(theta.copy())
    np.testing.assert_allclose(r.thetas, ref, rtol=1e-10, atol=1e-12)
    assert r.theta_ratio[7] == pytest.approx(np.linalg.norm(ref[7]) / math.sqrt(5.0), rel=1e-10)


def test_history_start_has_zero_velocity_and_n_gt_2_start_vector():
    s = small(LabSettings(optimizer="nesterov", coords="history", eigenvalues=(1.0, 0.5, 0.1), lr=0.5,
                          momentum=0.5, k_max=5, theta0=(2.0, 3.0)))  # fmt: skip
    r = lab_state(s)
    np.testing.assert_array_equal(r.thetas[0], [2.0, 3.0, 3.0])
    H = hessian(s.eigenvalues)
    prev, cur = r.thetas[0].copy(), r.thetas[0].copy()
    for k in range(1, 6):  # Nesterov: y = theta + beta (theta - theta_prev); theta' = y - lr H y
        y = cur + 0.5 * (cur - prev)
        prev, cur = cur, y - 0.5 * H @ y
        np.testing.assert_allclose(r.thetas[k], cur, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("beta", [0.5, 0.81, 0.9])
def test_snap_hits_the_analytic_heavy_ball_ep(beta):
    s = LabSettings(optimizer="heavy_ball", eigenvalues=(1.0, 0.2), lr=0.05, momentum=beta)
    snap = snap_target(s)
    eps = analytic_ep_lrs("heavy_ball", (1.0, 0.2), beta)
    nearest = eps[np.argmin(np.abs(np.log(0.05 / eps)))]
    assert snap.found and snap.lr == pytest.approx(nearest, rel=1e-12)
    assert snap.lr_numeric == pytest.approx(nearest, rel=1e-6)  # the independent numerical search agrees
    assert snap.momentum == beta and snap.relative_change == pytest.approx(nearest / 0.05 - 1)
    r = lab_state(small(dataclasses.replace(s, lr=snap.lr), k_max=10))
    assert r.at_ep and math.isinf(r.kappa_V) and r.ep_distance == 0.0 and abs(r.ep_rel) <= AT_EP_RTOL


@pytest.mark.parametrize(("lr", "branch"), [(0.9, "nilpotent"), (0.004, "critical")])
def test_snap_hits_nesterov_eps(lr, branch):
    s = LabSettings(optimizer="nesterov", eigenvalues=(1.0,), lr=lr, momentum=0.9)
    snap = snap_target(s)
    expected = 1.0 if branch == "nilpotent" else ((1 - 0.9) / (1 + 0.9)) ** 2
    assert snap.found and snap.branch == branch and snap.lr == pytest.approx(expected, rel=1e-12)
    assert snap.lr_numeric == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("coords", ["scaled", "raw"])
def test_snap_hits_adam_frozen_ep_and_kappa_scales_like_inverse_sqrt(coords):
    s = small(settings_from_preset("adam_rotated", coords=coords), k_max=10)
    snap = snap_target(s)
    r0 = lab_state(s)
    a = np.linalg.eigvals(np.diag(r0.preconditioner) @ r0.H).real
    eps = analytic_ep_lrs("adam", a, s.momentum, s.step)
    nearest = eps[np.argmin(np.abs(np.log(s.lr / eps)))]
    assert snap.found and snap.lr == pytest.approx(nearest, rel=1e-10)
    assert snap.lr_numeric == pytest.approx(nearest, rel=1e-6)
    assert math.isinf(lab_state(dataclasses.replace(s, lr=snap.lr)).kappa_V)
    k1 = lab_state(dataclasses.replace(s, lr=snap.lr * 1.01)).kappa_V
    k2 = lab_state(dataclasses.replace(s, lr=snap.lr * 1.0025)).kappa_V
    k3 = lab_state(dataclasses.replace(s, lr=snap.lr * 0.99)).kappa_V
    assert 10 < k1 < 1e6 and 10 < k3 < 1e6
    assert k2 / k1 == pytest.approx(2.0, rel=0.1)  # |Δ|^(-1/2): a 4x smaller step doubles kappa(V)


def test_kappa_near_heavy_ball_ep_matches_dense_and_scales():
    s = small(settings_from_preset("critical_damping"), k_max=5)
    r = lab_state(s)
    assert r.at_ep and math.isinf(r.kappa_V)
    kap = {}
    for f in (1.01, 1.0025, 0.99):
        rf = lab_state(dataclasses.replace(s, lr=s.lr * f))
        assert not rf.at_ep and rf.ep_rel == pytest.approx(f - 1, rel=1e-9)
        assert rf.kappa_V == pytest.approx(kappa_dense(rf.J), rel=1e-6)
        kap[f] = rf.kappa_V
    assert kap[1.0025] / kap[1.01] == pytest.approx(2.0, rel=0.1)
    assert 0 < lab_state(dataclasses.replace(s, lr=s.lr * 1.01)).ep_distance < 0.05


def test_gd_has_no_ep_and_normal_operator():
    s = small(LabSettings(optimizer="gd", coords="theta", eigenvalues=(1.0, 0.1), lr=0.5), k_max=5)
    r = lab_state(s)
    assert r.kappa_V == 1.0 and not r.at_ep and math.isnan(r.ep_lr) and r.ep_curves == ()
    assert not snap_target(s).found
    with pytest.raises(ValueError, match="no exceptional point"):
        lab_walk(s)
    assert np.all(r.map.log10_kappa == 0)


def test_adam_commuting_vs_rotated_hessian():
    base = small(settings_from_preset("adam_rotated"), k_max=5)
    r0 = lab_state(dataclasses.replace(base, angle=0.0))
    assert r0.commutator == 0.0
    # angle 0, scaled coordinates: J is orthogonally a direct sum of the 2x2 blocks, so its departure
    # equals the blocks' departure (a permutation of coordinates makes it block diagonal)
    n = len(base.eigenvalues)
    P = np.zeros((2 * n, 2 * n))
    for i in range(n):
        P[2 * i, i] = P[2 * i + 1, n + i] = 1
    D = P @ r0.J @ P.T
    off = D.copy()
    for i in range(n):
        off[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = 0
    assert np.abs(off).max() <= 1e-12
    # rotating adds a coupling departure beyond the blocks': dep(J)^2 - sum_i dep(B_i)^2 grows from 0
    coupling, comms = [], []
    for angle in (0.0, 0.2, 0.5):
        r = lab_state(dataclasses.replace(base, angle=angle))
        dep2 = np.linalg.norm(r.J) ** 2 - np.sum(np.abs(np.linalg.eigvals(r.J)) ** 2)  # independent departure²
        assert r.departure**2 == pytest.approx(dep2, rel=1e-6, abs=1e-9)
        a = np.linalg.eigvals(np.diag(r.preconditioner) @ r.H).real
        B = adam_frozen_blocks(a, lr=base.lr, beta1=base.momentum, step=base.step)
        coupling.append(dep2 - np.sum(departure2x2(B) ** 2))
        comms.append(r.commutator)
    assert abs(coupling[0]) <= 1e-12 and 1e-9 < coupling[1] < coupling[2]  # rounding of dep² is ~1e-15
    assert comms[0] == 0 < comms[1] < comms[2]


def test_pseudospectrum_matches_svd_and_contains_the_unit_circle():
    s = dataclasses.replace(settings_from_preset("adam_rotated"), n_map=8, n_grid=20, k_max=5)
    r = lab_state(s)
    ps = r.pseudo
    assert ps.re.size == ps.im.size == 20
    assert ps.re.min() <= -1 and ps.re.max() >= 1 and ps.im.min() <= -1 and ps.im.max() >= 1
    rng = np.random.default_rng(0)
    d = r.J.shape[0]
    for i, j in rng.integers(0, 20, size=(6, 2)):
        z = ps.re[j] + 1j * ps.im[i]
        ref = np.linalg.svd(z * np.eye(d) - r.J, compute_uv=False)[-1]
        assert ps.sigma_min[i, j] == pytest.approx(ref, rel=1e-8, abs=1e-13)
    assert r.eps_levels.size >= 1 and np.all(np.diff(r.eps_levels) > 0)


def test_map_and_curves_shapes_and_map_split():
    s = dataclasses.replace(settings_from_preset("critical_damping"), n_map=16, n_grid=10, k_max=5)
    r = lab_state(s)
    m = lab_map(s)
    assert r.map.log10_kappa.shape == (16, 16)
    np.testing.assert_array_equal(m.log10_kappa, r.map.log10_kappa)
    assert lab_state(s, include_map=False).map is None
    assert len(r.ep_curves) == 2 * 2  # two modes, two branches
    # the marker sits on the lower EP curve of the lam = 1 mode: eta = (1 - sqrt(beta))^2
    c = next(c for c in r.ep_curves if c.branch == "lower" and c.lam == 1.0)
    ok = np.isfinite(c.x)
    np.testing.assert_allclose(c.x[ok], (1 - np.sqrt(c.y[ok])) ** 2, rtol=1e-12)


def test_moving_a_slider_changes_the_cards():
    s = small(settings_from_preset("critical_damping"), k_max=30)
    a, b = lab_state(s), lab_state(dataclasses.replace(s, momentum=0.82))
    assert a.rho != b.rho and a.kappa_V != b.kappa_V and a.peak != b.peak


@pytest.mark.parametrize("key", ["critical_damping", "nesterov_nilpotent", "adam_rotated"])
def test_walk_through_an_ep(key):
    s = small(settings_from_preset(key))
    w = lab_walk(s, n_frames=21)
    e = w.ep_index
    assert w.lr.size == 21 and e == 10 and w.lr[e] == w.lr_ep and np.all(np.diff(w.lr) > 0)
    gap = np.abs(w.mode_eigenvalues[:, 0] - w.mode_eigenvalues[:, 1])
    assert gap[e] <= 1e-6 * max(1.0, np.abs(w.mode_eigenvalues[e]).max())
    assert np.all(gap[:e] > gap[e]) and np.all(gap[e + 1 :] > gap[e])
    real = np.abs(w.mode_eigenvalues.imag).max(axis=1) == 0
    # one side of the EP is a real pair, the other a complex-conjugate pair (collision on the real axis)
    assert (real[:e].all() and not real[e + 1 :].any()) or (real[e + 1 :].all() and not real[:e].any())
    assert abs(w.mode_eigenvalues[e].imag).max() <= 1e-6
    assert math.isinf(w.kappa_V[e]) and np.all(np.isfinite(np.delete(w.kappa_V, e)))
    assert w.kappa_V[e - 1] > w.kappa_V[e - 3] and w.kappa_V[e + 1] > w.kappa_V[e + 3]  # spikes towards the EP
    # each frame's eigenvalues are J's
    s_mid = dataclasses.replace(s, lr=float(w.lr[3]))
    np.testing.assert_allclose(np.sort_complex(w.eigenvalues[3]), np.sort_complex(lab_state(s_mid).eigenvalues),
                               atol=1e-10)  # fmt: skip
    r = lab_state(s)
    assert r.ep_lr == w.lr_ep and r.ep_branch == w.branch and r.ep_lam == w.lam


def test_validation_messages():
    s = LabSettings()
    with pytest.raises(ValueError, match="optimizer must be one of"):
        lab_state(dataclasses.replace(s, optimizer="sgd"))
    with pytest.raises(ValueError, match="coords must be one of"):
        lab_state(dataclasses.replace(s, coords="scaled"))
    with pytest.raises(ValueError, match="lr must be > 0"):
        lab_state(dataclasses.replace(s, lr=0.0))
    with pytest.raises(ValueError, match="momentum must be < 1"):
        lab_state(dataclasses.replace(s, momentum=1.0))
    with pytest.raises(ValueError, match="eigenvalues must be a tuple of 1 to 16"):
        lab_state(dataclasses.replace(s, eigenvalues=()))
    with pytest.raises(ValueError, match="k_max must be <="):
        lab_state(dataclasses.replace(s, k_max=10**6))
    with pytest.raises(ValueError, match="lr_range must satisfy"):
        lab_state(dataclasses.replace(s, lr_range=(1.0, 0.1)))
    with pytest.raises(ValueError, match="momentum_range must satisfy"):
        lab_state(dataclasses.replace(s, momentum_range=(0.0, 1.0)))
    with pytest.raises(TypeError, match="must be a real number"):
        lab_state(dataclasses.replace(s, lr="0.1"))
    with pytest.raises(TypeError, match="settings must be a LabSettings"):
        lab_state({"lr": 0.1})
    with pytest.raises(ValueError, match="preset must be one of"):
        settings_from_preset("nope")
    with pytest.raises(ValueError, match="lr_bounds must satisfy"):
        snap_target(s, lr_bounds=(0.0, 1.0))


# ---------------------------------------------------------------------------- figures (nnspec_core.lab_figures)


def test_number_formatting_for_cards_and_captions():
    from nnspec_core.lab_figures import fmt, fmt_pct, pretty

    assert fmt(32000.0) == "3.2e4" and fmt(math.inf) == "∞" and fmt(-math.inf) == "−∞" and fmt(math.nan) == "—"
    assert fmt(0.98895, 5) == "0.98895" and fmt(1.5e-5) == "1.5e-5" and fmt(0.0) == "0"
    assert fmt_pct(0.0121) == "+1.21 %" and fmt_pct(-0.5) == "-50 %" and fmt_pct(0.0).startswith("0 %")
    assert fmt_pct(math.nan) == "—"
    assert pretty("eta*lam = (1 - sqrt(beta))^2") == "η·λ = (1 - √(β))²"
    assert pretty("rho(J) < 1, kappa(V) large, beta1") == "ρ(J) < 1, κ(V) large, β₁"


def test_merged_curves_one_entry_per_branch_with_gaps():
    from nnspec_core.lab_figures import merged_curves

    s = dataclasses.replace(settings_from_preset("critical_damping"), n_map=4, n_grid=4, k_max=5)
    curves = lab_state(s).ep_curves
    merged = merged_curves(curves)
    assert [m[0] for m in merged] == ["EP (lower branch)", "EP (upper branch)"]
    for name, x, y in merged:
        mine = [c for c in curves if name == f"EP ({c.branch} branch)"]
        assert x.size == y.size == sum(c.x.size + 1 for c in mine)
        assert np.isnan(x).sum() >= len(mine)  # one gap after each mode's curve (plus any NaN in the curves)
        np.testing.assert_array_equal(x[: mine[0].x.size], mine[0].x)


@pytest.mark.parametrize("key", ["critical_damping", "nesterov_nilpotent", "adam_rotated"])
def test_map_ep_curves_are_drawn_in_the_theme_palette(key):
    """The first EP curve used to be black (plot_param_map's first curve colour), invisible on the dark map."""
    from nnspec_core.exceptional import EP_BRANCHES
    from nnspec_core.lab_figures import EP_COLOR_INDEX, map_figure
    from nnspec_core.theme import DEFAULT_THEME, TALK_THEME, Theme

    s = dataclasses.replace(settings_from_preset(key), n_map=6, n_grid=4, k_max=5)
    r = lab_state(s)
    custom = Theme(palette=("#010101", "#020202", "#030303", "#040404", "#050505", "#0000AA", "#AA0000", "#000000"))
    for theme in (DEFAULT_THEME, TALK_THEME, custom):
        fig = map_figure(r, r.map, theme)
        ep = {t.name: t.line.color for t in fig.data if t.name and t.name.startswith("EP (")}
        assert len(ep) == len(EP_BRANCHES[s.optimizer]) == 2
        for k, branch in enumerate(EP_BRANCHES[s.optimizer]):
            assert ep[f"EP ({branch} branch)"] == theme.palette[EP_COLOR_INDEX[k]]
        assert "#000000" not in ep.values()
    assert set(ep.values()) == {"#0000AA", "#AA0000"}  # taken from the theme, not hard-coded


def test_every_lab_figure_uses_plain_axis_numbers_not_si_suffixes():
    """Plotly's default labels 1e-4 as "100μ" (μ reads as an eigenvalue) and 1e4 as "10k"."""
    from nnspec_core.lab_figures import lab_figures

    s = dataclasses.replace(settings_from_preset("transient"), n_map=6, n_grid=6, k_max=60)
    r = lab_state(s)
    figs = lab_figures(r, walk=lab_walk(s))
    assert list(figs) == ["kappa_map", "spectrum", "transient", "trajectory", "ep_walk"]
    for name, fig in figs.items():
        layout = fig.to_plotly_json()["layout"]
        axes = [k for k in layout if k.startswith(("xaxis", "yaxis"))]
        assert len(axes) >= 2, name
        for ax in axes:
            assert layout[ax].get("exponentformat") == "e", (name, ax)
    assert figs["kappa_map"].layout.xaxis.type == "log" and figs["transient"].layout.yaxis.type == "log"


def test_ep_walk_figure_frames_and_infinite_kappa_label():
    from nnspec_core.lab_figures import plot_ep_walk

    s = dataclasses.replace(settings_from_preset("critical_damping"), eigenvalues=(1.0,), n_map=4, n_grid=4)
    w = lab_walk(s, n_frames=11, span=1.5)
    fig = plot_ep_walk(w)
    assert len(fig.frames) == 11 and fig.layout.sliders[0].active == 0
    frame = fig.frames[w.ep_index]
    star = frame.data[2]
    assert star.x[0] == w.lr[w.ep_index] and star.text == ("∞",)  # κ = ∞ at the EP frame, drawn at the top
    assert star.y[0] > np.nanmax(w.kappa_V[np.isfinite(w.kappa_V)])
    np.testing.assert_array_equal(frame.data[0].x, w.eigenvalues[w.ep_index].real)
    still = plot_ep_walk(w, animate=False)
    assert len(still.frames) == 0 and still.data[5].x[0] == w.lr[w.ep_index]
    with pytest.raises(TypeError, match="walk must be a LabWalk"):
        plot_ep_walk(s)
    with pytest.raises(TypeError, match="theme must be a Theme"):
        plot_ep_walk(w, theme="talk")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("theta", "θ"),
        ("beta", "β"),
        ("eta", "η"),
        ("beta1", "β₁"),
        ("Adam's frozen (theta, m) operator", "Adam's frozen (θ, m) operator"),  # was "(thη, m)"
        ("eta*beta = theta", "η·β = θ"),
        ("thetas, betas, metadata, zeta, Theta, eta_", "thetas, betas, metadata, zeta, Theta, eta_"),  # no whole word
        ("lam_max and lam", "λ_max and λ"),
        ("sqrt(beta1) != rho(J)", "√(β₁) ≠ ρ(J)"),
    ],
)
def test_pretty_replaces_whole_words_only(text, expected):
    from nnspec_core.lab_figures import pretty

    assert pretty(text) == expected


def test_every_preset_caption_is_pretty_and_keeps_no_half_word():
    from nnspec_core.lab_figures import pretty

    for key, p in PRESETS.items():
        text = pretty(p.description)
        for bad in ("thη", "bη", "zη", "eta", "theta", "beta", "lam", "sqrt", "kappa", "rho"):
            assert bad not in text, (key, bad, text)


# -- the walk-through-an-EP chart (Home and the Operator Lab): layout at 1024 px and in the talk theme


def _walks():
    home = lab_walk(settings_from_preset("critical_damping", eigenvalues=(1.0,)), n_frames=41, span=1.6)
    lab = lab_walk(dataclasses.replace(settings_from_preset("adam_rotated"), n_map=4, n_grid=4), n_frames=21)
    return {"home": home, "adam": lab}


def _plot_width(fig, width: float) -> float:
    m = fig.layout.margin
    return width - m.l - m.r


@pytest.mark.parametrize("theme_name", ["default", "talk"])
def test_ep_walk_titles_sit_on_their_own_subplot_and_fit_it(theme_name):
    """The two titles overlapped (paper x 0.21 / 0.79 with 'auto' anchors: the left one started at 0.21) at 1024 px and
    in the talk theme at 1400 px, and the play/pause buttons covered their top."""
    from nnspec_core.lab_figures import EP_WALK_TITLES, plot_ep_walk, text_width
    from nnspec_core.theme import DEFAULT_THEME, TALK_THEME

    theme = TALK_THEME if theme_name == "talk" else DEFAULT_THEME
    fig = plot_ep_walk(_walks()["home"], theme=theme)
    titles = [a for a in fig.layout.annotations if a.text in EP_WALK_TITLES]
    assert [a.text for a in titles] == list(EP_WALK_TITLES)
    # chart widths: a 1024 px figure, and what Streamlit gives the chart (default theme on a 1024 px window; the talk
    # theme's 1600 px figure is scaled to the column of a 1400 px window)
    widths = (1024, 560) if theme_name == "default" else (1024, 940, 1600)
    for a, xaxis in zip(titles, ("xaxis", "xaxis2"), strict=True):
        assert a.xref == xaxis.replace("axis", "") + " domain" and a.x == 0.5 and a.xanchor == "center"
        assert a.yref.endswith(" domain") and a.y == 1.0 and a.yanchor == "bottom"
        d0, d1 = fig.layout[xaxis].domain
        size = a.font.size or theme.font_size
        assert size == theme.font_size
        for w in widths:
            assert text_width(a.text, size) < (d1 - d0) * _plot_width(fig, w), (a.text, w)
    # the domains do not overlap, so neither do titles centred on them and narrower than them
    assert fig.layout.xaxis.domain[1] < fig.layout.xaxis2.domain[0]
    # the top margin holds one title line
    assert fig.layout.margin.t >= 1.4 * theme.font_size
    # "EP" inside the κ(V) plot (above it, it ran into the right title)
    ep = next(a for a in fig.layout.annotations if a.text == "EP")
    assert ep.yref == "y2 domain" and ep.y == 0.0 and ep.yanchor == "bottom"
    # the buttons and the slider below the plots, under the tick labels and axis titles, above the legend
    menu, slider = fig.layout.updatemenus[0], fig.layout.sliders[0]
    for c in (menu, slider):
        assert c.y == 0.0 and c.yanchor == "top" and c.pad.t >= 3 * theme.font_size
    labels = "".join(b.label for b in menu.buttons)
    assert labels == "▶❚❚" and slider.pad.l >= text_width(labels, theme.font_size) + 48  # right of the buttons
    assert fig.layout.margin.b >= slider.pad.t + 3 * 1.4 * theme.font_size  # controls plus a three-row legend


@pytest.mark.parametrize("theme_name", ["default", "talk"])
def test_ep_walk_eta_ticks_are_few_and_do_not_collide(theme_name):
    """Talk theme: 0.012, 0.014, 0.016 ran into each other (Plotly's own six ticks on a short log range)."""
    from nnspec_core.lab_figures import fmt, plot_ep_walk, text_width
    from nnspec_core.theme import DEFAULT_THEME, TALK_THEME

    theme = TALK_THEME if theme_name == "talk" else DEFAULT_THEME
    for name, walk in _walks().items():
        fig = plot_ep_walk(walk, theme=theme)
        ax = fig.layout.xaxis2
        ticks = np.asarray(ax.tickvals, float)
        assert 2 <= ticks.size <= 3, (name, ticks)
        assert list(ax.ticktext) == [fmt(v) for v in ticks]
        lo, hi = ax.range
        assert np.all((np.log10(ticks) >= lo) & (np.log10(ticks) <= hi))
        width = 940 if theme_name == "talk" else 560  # the chart on a 1400 px (talk) / 1024 px window
        d0, d1 = ax.domain
        px = (np.log10(ticks) - lo) / (hi - lo) * (d1 - d0) * _plot_width(fig, width)
        half = [0.5 * text_width(t, theme.font_size) for t in ax.ticktext]
        for k in range(ticks.size - 1):  # centred labels: a gap of at least half a character between neighbours
            assert px[k + 1] - px[k] >= half[k] + half[k + 1] + 0.3 * theme.font_size, (name, ax.ticktext)


def test_log_ticks_are_round_inside_and_spread():
    from nnspec_core.lab_figures import log_ticks

    assert log_ticks(0.0058, 0.0165, 3) == [0.006, 0.01, 0.015]
    assert log_ticks(1e-3, 1e-1, 3) == [1e-3, 1e-2, 1e-1]
    assert log_ticks(1e-5, 10.0, 3) == [1e-5, 1e-2, 10.0]
    assert log_ticks(3.1, 3.3, 3) == [3.1, 3.2, 3.3]  # no round value inside: enough digits to differ
    for lo, hi in [(0.0058, 0.0165), (2e-4, 3e-2), (0.9, 1.1), (0.05, 0.2), (1.0001, 1.0002)]:
        t = log_ticks(lo, hi, 3)
        assert 2 <= len(t) <= 3 and all(lo <= v <= hi for v in t) and t == sorted(set(t)), (lo, hi, t)


def test_ep_walk_axis_ranges_hold_every_frame():
    """Home, last frame: the star and its label were cut at the right edge (the range ended at the last η)."""
    from nnspec_core.lab_figures import plot_ep_walk

    for name, walk in _walks().items():
        fig = plot_ep_walk(walk)
        x2, y2 = fig.layout.xaxis2.range, fig.layout.yaxis2.range
        xr, yr = fig.layout.xaxis.range, fig.layout.yaxis.range
        pad_x = 0.03 * (x2[1] - x2[0])  # every star at least 3 % of the axis inside (half a marker and more)
        for frame in fig.frames:
            pair, star = frame.data[1], frame.data[2]
            lx, ly = math.log10(star.x[0]), math.log10(star.y[0])
            assert x2[0] + pad_x <= lx <= x2[1] - pad_x, (name, frame.name)
            assert y2[0] < ly and ly + 0.1 * (y2[1] - y2[0]) <= y2[1], (name, frame.name)  # room for the label
            assert np.all((np.asarray(pair.x) > xr[0]) & (np.asarray(pair.x) < xr[1])), (name, frame.name)
            assert np.all((np.asarray(pair.y) > yr[0]) & (np.asarray(pair.y) < yr[1])), (name, frame.name)
            assert star.cliponaxis is False  # a label wider than the padding is still drawn whole


def test_figure_builders_reject_wrong_inputs():
    from nnspec_core.lab_figures import lab_figures, map_figure, spectrum_figure

    s = dataclasses.replace(settings_from_preset("critical_damping"), n_map=4, n_grid=4, k_max=5)
    r = lab_state(s, include_map=False)
    with pytest.raises(TypeError, match="r must be a LabResult"):
        spectrum_figure(s)
    with pytest.raises(TypeError, match="pmap must be a MapResult"):
        map_figure(r, None)
    with pytest.raises(ValueError, match="pmap is required"):
        lab_figures(r)
