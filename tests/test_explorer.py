"""Matrix Explorer core: against brute-force dense references and closed forms."""

import io
import json
import math
import pickle

import numpy as np
import pytest
import scipy.linalg as sla

from nnspec_core.explorer import (
    MAX_EXPLORER_N,
    ExplorerResult,
    ExplorerSettings,
    explore,
    explorer_command,
    explorer_data,
    explorer_figure,
    explorer_figures,
    explorer_grid,
    matrix_key,
    matrix_summary,
    parse_levels,
    region_from_box,
    settings_from_dict,
    transient_curve,
)
from nnspec_core.gallery import grcar, jordan_block, random_nonnormal
from nnspec_core.pseudospectra import schur_form


@pytest.fixture(scope="module")
def A6():
    return random_nonnormal(6, seed=7, s=1.5)


@pytest.fixture(scope="module")
def res6(A6):
    return explore(A6, region=(-1.5, 1.5, -1.0, 1.0), n_grid=9, eps=0.05, dynamics="discrete", horizon=30)


def _smin(A, z):
    return np.linalg.svd(z * np.eye(A.shape[0]) - A, compute_uv=False)[-1]


# ---------------------------------------------------------------------------------------------- grid
@pytest.mark.parametrize("use_schur", [False, True])
def test_grid_matches_dense_svd(A6, use_schur):
    A = grcar(14)  # n > 12: the Schur-Lanczos path
    S = schur_form(A) if use_schur else None
    g = explorer_grid(A, region=(-1.0, 3.0, -0.5, 2.5), n_grid=7, schur=S)
    assert g.sigma_min.shape == (7, 7)
    np.testing.assert_allclose(g.re, np.linspace(-1.0, 3.0, 7))
    np.testing.assert_allclose(g.im, np.linspace(-0.5, 2.5, 7))
    want = np.array([[_smin(A, x + 1j * y) for x in g.re] for y in g.im])
    np.testing.assert_allclose(g.sigma_min, want, rtol=1e-6)


def test_grid_normal_matrix_is_distance_to_spectrum():
    lam = np.array([0.5, -0.3, 0.1])
    A = np.diag(lam)
    g = explorer_grid(A, region=(-1, 1, -0.5, 0.5), n_grid=5)
    Z = g.re[None, :] + 1j * g.im[:, None]
    want = np.min(np.abs(Z[..., None] - lam), axis=-1)
    np.testing.assert_allclose(g.sigma_min, want, atol=1e-12)


def test_auto_region_contains_spectrum_and_jordan_fov():
    A = jordan_block(8)
    g = explorer_grid(A, n_grid=6)
    # Lambda_eps of a Jordan block fills the field of values, a disk of radius cos(pi/9) ~ 0.94
    assert g.re[0] < -math.cos(math.pi / 9) and g.re[-1] > math.cos(math.pi / 9)
    assert g.im[0] < -0.9 and g.im[-1] > 0.9
    B = grcar(20)
    gb = explorer_grid(B, n_grid=6)
    lam = np.linalg.eigvals(B)
    assert gb.re[0] < lam.real.min() and gb.re[-1] > lam.real.max()
    assert gb.im[0] < lam.imag.min() and gb.im[-1] > lam.imag.max()


# ---------------------------------------------------------------------------------------------- summary
def test_summary_against_dense_reference(A6):
    s = matrix_summary(A6)
    lam = np.linalg.eigvals(A6)
    np.testing.assert_allclose(s.rho, np.abs(lam).max(), rtol=1e-12)
    np.testing.assert_allclose(s.alpha, lam.real.max(), rtol=1e-12)
    np.testing.assert_allclose(s.norm, np.linalg.svd(A6, compute_uv=False)[0], rtol=1e-12)
    # eigenvalue condition numbers 1/|y^H x| from scipy's left/right eigenvectors
    w, VL, VR = sla.eig(A6, left=True, right=True)
    cond = 1.0 / np.abs(np.sum(VL.conj() * VR, axis=0) / (np.linalg.norm(VL, axis=0) * np.linalg.norm(VR, axis=0)))
    for mu, c in zip(s.eigenvalues, s.eig_condition, strict=True):
        j = int(np.argmin(np.abs(w - mu)))
        np.testing.assert_allclose(c, cond[j], rtol=1e-6)
    V = VR / np.linalg.norm(VR, axis=0)
    np.testing.assert_allclose(s.kappa_V, np.linalg.cond(V), rtol=1e-6)
    dep = math.sqrt(max(np.linalg.norm(A6, "fro") ** 2 - np.sum(np.abs(lam) ** 2), 0))
    np.testing.assert_allclose(s.departure, dep, rtol=1e-6)
    # field of values: every boundary point is a Rayleigh quotient, so |w| <= ||A||, and the
    # numerical abscissa is lambda_max of the Hermitian part
    assert np.all(np.abs(s.fov) <= s.norm * (1 + 1e-12))
    np.testing.assert_allclose(s.numerical_abscissa, np.linalg.eigvalsh(0.5 * (A6 + A6.T)).max(), rtol=1e-10)
    assert s.key == matrix_key(A6)


def test_jordan_is_defective_without_exception():
    s = matrix_summary(jordan_block(5, lam=0.2))
    assert s.kappa_V == math.inf
    assert np.all(np.isinf(s.eig_condition) | (s.eig_condition > 1e3))
    # 2x2 Jordan block [[0, 1], [0, 0]]: field of values is the disk of radius 1/2
    s2 = matrix_summary(jordan_block(2))
    np.testing.assert_allclose(s2.numerical_radius, 0.5, rtol=1e-8)
    np.testing.assert_allclose(np.abs(s2.fov), 0.5, rtol=1e-6)


# ---------------------------------------------------------------------------------------------- transient
def test_discrete_transient_matches_matrix_powers(A6):
    tr = transient_curve(A6, dynamics="discrete", horizon=25)
    want = [np.linalg.norm(np.linalg.matrix_power(A6, k), 2) for k in range(26)]
    np.testing.assert_allclose(tr.time, np.arange(26))
    np.testing.assert_allclose(tr.norms, want, rtol=1e-8)
    rho = np.abs(np.linalg.eigvals(A6)).max()
    np.testing.assert_allclose(tr.lower, rho ** np.arange(26), rtol=1e-12)
    assert np.all(tr.lower <= tr.norms * (1 + 1e-9)) and np.all(tr.norms <= tr.upper * (1 + 1e-9))
    assert tr.peak == pytest.approx(max(want), rel=1e-8)


def test_continuous_transient_matches_expm():
    A = random_nonnormal(5, seed=2, s=3.0, radius=0.5) - 0.8 * np.eye(5)
    tr = transient_curve(A, dynamics="continuous", horizon=4.0)
    assert tr.time[0] == 0 and tr.time[-1] == pytest.approx(4.0)
    idx = [0, 10, 40, 120]
    want = [np.linalg.norm(sla.expm(tr.time[i] * A), 2) for i in idx]
    np.testing.assert_allclose(tr.norms[idx], want, rtol=1e-8)
    alpha = np.linalg.eigvals(A).real.max()
    np.testing.assert_allclose(tr.lower, np.exp(alpha * tr.time), rtol=1e-12)
    assert np.all(tr.lower <= tr.norms * (1 + 1e-9)) and np.all(tr.norms <= tr.upper * (1 + 1e-9))
    assert tr.peak > 1.5  # non-normal transient growth although alpha < 0
    assert alpha < 0


def test_nilpotent_jordan_transient_closed_form():
    n = 6
    tr = transient_curve(jordan_block(n), dynamics="discrete", horizon=10)
    want = np.where(np.arange(11) < n, 1.0, 0.0)  # ||N^k|| = 1 for k < n, N^n = 0
    np.testing.assert_allclose(tr.norms, want, atol=1e-12)
    assert np.all(np.isinf(tr.upper))  # defective: no eigenvector bound


# ---------------------------------------------------------------------------------------------- explore
def test_explore_normal_matrix_closed_forms():
    A = np.diag([0.5, -0.2, 0.3 + 0j]) + 0 * 1j  # complex normal matrix
    A[2, 2] = 0.1 + 0.4j
    res = explore(A, eps=0.01, n_grid=8, horizon=5)
    lam = np.diag(A)
    assert res.summary.kappa_V == pytest.approx(1.0)
    assert res.summary.departure == pytest.approx(0.0, abs=1e-7)
    np.testing.assert_allclose(res.rho_eps, np.abs(lam).max() + 0.01, rtol=1e-7)
    np.testing.assert_allclose(res.alpha_eps, lam.real.max() + 0.01, rtol=1e-7)
    np.testing.assert_allclose(res.transient.norms, np.abs(lam).max() ** np.arange(6), rtol=1e-10)


def test_kreiss_follows_dynamics():
    A = np.diag([-1.0, -2.0])  # normal: continuous-stable (K = 1), discretely unstable (rho = 2)
    rc = explore(A, dynamics="continuous", horizon=1.0, n_grid=5)
    rd = explore(A, dynamics="discrete", horizon=3, n_grid=5)
    assert rc.kreiss.value == pytest.approx(1.0, abs=1e-6)
    assert rd.kreiss.value == math.inf
    assert rd.cards["kreiss"] == math.inf
    r_off = explore(A, kreiss=False, n_grid=5)
    assert r_off.kreiss is None and math.isnan(r_off.cards["kreiss"])


def test_explore_cards_change_with_eps(A6):
    r1 = explore(A6, eps=1e-3, n_grid=5, kreiss=False)
    r2 = explore(A6, eps=1e-1, n_grid=5, kreiss=False)
    assert r2.rho_eps > r1.rho_eps > r1.summary.rho
    assert r2.alpha_eps > r1.alpha_eps > r1.summary.alpha
    # rho_eps is attained on the eps-contour: sigma_min at the maximiser direction equals eps
    for r in (r1, r2):
        th = np.linspace(0, 2 * np.pi, 721)
        z = r.rho_eps * np.exp(1j * th)
        assert min(_smin(A6, zz) for zz in z) == pytest.approx(r.eps, rel=1e-3)


def test_explore_reuses_stages_identically(A6, res6):
    S = schur_form(A6)
    again = explore(
        A6,
        region=(-1.5, 1.5, -1.0, 1.0),
        eps=0.05,
        horizon=30,
        schur=S,
        summary=res6.summary,
        grid=res6.grid,
        transient=res6.transient,
        kreiss_result=res6.kreiss,
    )
    np.testing.assert_array_equal(again.grid.sigma_min, res6.grid.sigma_min)
    assert again.rho_eps == res6.rho_eps and again.alpha_eps == res6.alpha_eps
    fresh = explore(A6, region=(-1.5, 1.5, -1.0, 1.0), n_grid=9, eps=0.05, horizon=30, schur=S)
    np.testing.assert_allclose(fresh.grid.sigma_min, res6.grid.sigma_min, rtol=1e-7)
    np.testing.assert_allclose(fresh.eps_levels, res6.eps_levels)


def test_result_is_frozen_and_picklable(res6):
    r = pickle.loads(pickle.dumps(res6))
    assert isinstance(r, ExplorerResult)
    np.testing.assert_array_equal(r.grid.sigma_min, res6.grid.sigma_min)
    with pytest.raises(AttributeError):
        res6.eps = 1.0
    assert r.region == (-1.5, 1.5, -1.0, 1.0) and not r.auto_region


def test_user_levels_are_used(A6):
    r = explore(A6, n_grid=5, eps_levels=[-1, -3, -2, -2], kreiss=False)
    np.testing.assert_array_equal(r.eps_levels, [-3.0, -2.0, -1.0])


# ---------------------------------------------------------------------------------------------- figures and data
def test_spectrum_figure(res6):
    fig = explorer_figure(res6, "spectrum")
    names = [t.name for t in fig.data]
    assert "field of values" in names
    contours = [t for t in fig.data if t.type == "contour"]
    levels = sorted(v for t in contours for v in t.meta["eps_levels"])
    np.testing.assert_allclose(levels, res6.eps_levels)
    assert fig.layout.dragmode == "select"
    eig = [t for t in fig.data if t.name == "eigenvalues"][0]
    assert "1/|yᴴx|" in eig.hovertemplate
    np.testing.assert_allclose(np.sort(eig.x), np.sort(res6.summary.eigenvalues.real))
    assert "field of values" not in [t.name for t in explorer_figure(res6, "spectrum", show_fov=False).data]


def test_transient_and_fov_figures(res6):
    fig = explorer_figure(res6, "transient")
    names = [t.name for t in fig.data]
    assert names[0] == "‖Aᵏ‖₂"
    assert any("upper bound" in n for n in names) and any(n.startswith("Kreiss lower bound") for n in names)
    assert fig.layout.yaxis.type == "log"
    np.testing.assert_allclose(fig.data[0].y, res6.transient.norms)
    fov = explorer_figure(res6, "fov")
    assert "field of values" in [t.name for t in fov.data]
    assert not any(t.type == "contour" for t in fov.data)
    assert set(explorer_figures(res6)) == {"spectrum", "transient"}


def test_explorer_data_roundtrip(A6, res6):
    d = explorer_data(res6, A6)
    M = np.load(io.BytesIO(d["matrix.npy"]), allow_pickle=False)
    np.testing.assert_array_equal(M, A6)
    np.testing.assert_array_equal(d["pseudospectrum.npz"]["sigma_min"], res6.grid.sigma_min)
    assert d["cards"]["matrix_sha256"] == matrix_key(A6)
    assert set(d["transient"]) == {"time", "norm", "upper", "lower"}
    with pytest.raises(ValueError, match="not the matrix"):
        explorer_data(res6, A6 + 1.0)


# ---------------------------------------------------------------------------------------------- settings and parsing
def test_settings_roundtrip_through_json():
    s = ExplorerSettings(region=(0, 1, -1, 1), eps=1e-3, eps_levels=(-2, -1), dynamics="continuous", horizon=5.0)
    back = settings_from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s
    assert s.explore_kwargs()["region"] == (0.0, 1.0, -1.0, 1.0)
    assert ExplorerSettings(theme="talk").figure_theme().name == "talk"


@pytest.mark.parametrize(
    "d, exc, match",
    [
        ([], TypeError, "JSON object"),
        ({"zoom": 2}, ValueError, "unknown key"),
        ({"region": [1, 0, 0, 1]}, ValueError, "re_min < re_max"),
        ({"region": "auto"}, TypeError, "list of numbers"),
        ({"eps": 0}, ValueError, "eps must be > 0"),
        ({"n_grid": 5000}, ValueError, "n_grid must be <= 300"),
        ({"dynamics": "chaotic"}, ValueError, "dynamics must be one of"),
        ({"horizon": 2.5}, ValueError, "must be an integer"),
        ({"kreiss": "yes"}, TypeError, "kreiss must be true or false"),
        ({"matrix_sha256": "abc"}, ValueError, "64 hex digits"),
        ({"eps_levels": [float("nan")]}, ValueError, "finite"),
    ],
)
def test_bad_settings(d, exc, match):
    with pytest.raises(exc, match=match):
        settings_from_dict(d)


def test_parse_levels():
    assert parse_levels("") is None and parse_levels(" auto ") is None
    assert parse_levels("-1, -3 -2;-2") == (-3.0, -2.0, -1.0)
    assert parse_levels("−1.5") == (-1.5,)
    with pytest.raises(ValueError, match="levels must be numbers"):
        parse_levels("-1, one")
    with pytest.raises(ValueError, match="1 to 20"):
        parse_levels(" ".join(str(-i) for i in range(25)))


def test_region_from_box():
    assert region_from_box({"x": [2.0, -1.0], "y": [0.5, -0.5], "xref": "x"}) == (-1.0, 2.0, -0.5, 0.5)
    with pytest.raises(ValueError, match="re_min < re_max"):
        region_from_box({"x": [1.0, 1.0], "y": [0.0, 1.0]})
    with pytest.raises(ValueError, match="'x' and 'y'"):
        region_from_box({"points": []})


def test_command_lines():
    cmd = explorer_command(kinds=("spectrum",), formats=("svg", "html"))
    assert cmd.splitlines() == [
        "python -m nnspec_core figure --matrix data/matrix.npy --settings settings.json --kind spectrum "
        f"--format {f} --out figures/spectrum.{f}"
        for f in ("svg", "html")
    ]


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "A, exc, match",
    [
        (np.ones((2, 3)), ValueError, "must be a square"),
        (np.array([[1.0]]), ValueError, "at least 2x2"),
        (np.array([[1.0, np.nan], [0, 1]]), ValueError, "finite"),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, "numeric"),
        (np.zeros((MAX_EXPLORER_N + 1,) * 2), ValueError, "too large"),
        (np.zeros((0, 0)), ValueError, "at least 1 row"),
    ],
)
def test_bad_matrices(A, exc, match):
    with pytest.raises(exc, match=match):
        explore(A)


def test_bad_arguments(A6):
    with pytest.raises(ValueError, match="eps must be > 0"):
        explore(A6, eps=-1.0)
    with pytest.raises(ValueError, match="dynamics must be one of"):
        explore(A6, dynamics="both")
    with pytest.raises(ValueError, match="re_min < re_max"):
        explore(A6, region=(1, 0, 0, 1))
    with pytest.raises(ValueError, match="MatrixSummary of this A"):
        explore(A6, summary=matrix_summary(A6 + 1.0), n_grid=4, kreiss=False)
    with pytest.raises(ValueError, match="must be the Schur form"):
        explore(A6, schur=schur_form(np.eye(3)))
    with pytest.raises(ValueError, match="kind must be one of"):
        explorer_figure(explore(A6, n_grid=4, kreiss=False), "heatmap")
