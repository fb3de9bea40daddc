"""Tests of the pure Plotly builders (nnspec_core.figures) and themes (nnspec_core.theme).

Figures are inspected through fig.data / fig.layout, never as images.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnspec_core import figures as F
from nnspec_core.theme import DEFAULT_THEME, OKABE_ITO, TALK_THEME, Theme, apply_theme, talk_theme


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture
def jordanish():
    """Non-normal 6x6 matrix with known eigenvalues, its eigenvalue condition numbers and a σmin grid."""
    n = 6
    A = np.diag(np.linspace(0.2, 0.9, n)) + 0.8 * np.diag(np.ones(n - 1), 1)
    lam, V = np.linalg.eig(A)
    W = np.linalg.inv(V).conj().T  # left eigenvectors as columns (yᴴx = 1)
    cond = np.linalg.norm(W, axis=0) * np.linalg.norm(V, axis=0)  # 1/|yᴴx| for unit y, x
    re = np.linspace(-0.2, 1.3, 31)
    im = np.linspace(-0.6, 0.6, 25)
    smin = np.array([[np.linalg.svd((x + 1j * y) * np.eye(n) - A, compute_uv=False)[-1] for x in re] for y in im])
    return A, lam, cond, re, im, smin


def _names(fig):
    return [t.name for t in fig.data]


def _contour_levels(fig):
    """Levels actually drawn by the ε contour traces, expanded from start/end/size."""
    out = []
    for t in fig.data:
        if isinstance(t, go.Contour) and t.legendgroup == "pseudospectra":
            c = t.contours
            k = int(round((c.end - c.start) / c.size)) if c.end > c.start else 0
            out += [c.start + i * c.size for i in range(k + 1)]
    return np.array(sorted(out))


# ------------------------------------------------------------------------------------ spectrum
def test_spectrum_traces_levels_colourbar_and_aspect(jordanish):
    A, lam, cond, re, im, smin = jordanish
    levels = [-3, -2, -1]
    fov = 0.55 + 0.5 * np.exp(1j * np.linspace(0, 2 * np.pi, 40))
    fig = F.plot_spectrum(lam, cond=cond, pseudo=(re, im, smin), eps_levels=levels, fov=fov)
    assert _names(fig) == [
        "ε-pseudospectra",
        "ε = 1e-3",
        "ε = 1e-2",
        "ε = 1e-1",
        "|μ| = 1",
        "field of values",
        "eigenvalues",
    ]
    np.testing.assert_allclose(_contour_levels(fig), levels, rtol=0, atol=1e-12)
    contour = fig.data[0]
    assert contour.contours.coloring == "lines" and contour.meta["eps_levels"] == [-3.0, -2.0, -1.0]
    # the contour shows log10 sigma_min of the given grid (sigma_min = 0 on an eigenvalue is floored)
    np.testing.assert_allclose(np.asarray(contour.z), np.log10(np.maximum(smin, np.finfo(float).tiny)), rtol=1e-12)
    eig = fig.data[-1]
    np.testing.assert_allclose(np.asarray(eig.x) + 1j * np.asarray(eig.y), lam, rtol=0, atol=0)
    np.testing.assert_allclose(np.asarray(eig.marker.color), np.log10(cond), rtol=1e-12)
    assert eig.marker.coloraxis == "coloraxis" and fig.layout.coloraxis.colorbar.title.text == "log₁₀ κ(μ)"
    # hover shows 1/|yᴴx| per eigenvalue
    assert "1/|yᴴx|" in eig.hovertemplate
    assert [row[1] for row in eig.customdata] == [f"{c:.4g}" for c in cond]
    assert [row[3] for row in eig.customdata] == [str(j) for j in range(lam.size)]
    assert fig.layout.xaxis.title.text == "Re μ" and fig.layout.yaxis.title.text == "Im μ"
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    assert fig.layout.uirevision == "spectrum"
    assert list(fig.layout.xaxis.range) == [re.min(), re.max()]
    # unit circle radius 1
    circ = fig.data[4]
    np.testing.assert_allclose(np.hypot(circ.x, circ.y), 1.0, atol=1e-12)


def test_spectrum_nonuniform_levels_one_trace_each(jordanish):
    *_, lam, cond, re, im, smin = jordanish
    levels = [-4, -2.5, -2]
    fig = F.plot_spectrum(lam, pseudo=(re, im, smin), eps_levels=levels)
    contours = [t for t in fig.data if isinstance(t, go.Contour)]
    assert len(contours) == 3
    np.testing.assert_allclose(_contour_levels(fig), levels)
    assert [c.contours.start for c in contours] == [c.contours.end for c in contours]
    assert "ε = 3.2e-3" in _names(fig) and "ε = 1e-4" in _names(fig)


def test_spectrum_classes_and_defective_eigenvalue():
    lam = np.array([1.0, 1.0, 0.5 + 0.2j, 0.5 - 0.2j])
    cond = np.array([np.inf, np.inf, 3.0, 3.0])
    classes = ["unstable", "unstable", "stable", "stable"]
    fig = F.plot_spectrum(lam, cond=cond, classes=classes, unit_circle=False, symbol="λ")
    assert _names(fig) == ["unstable", "stable"]
    assert fig.data[0].marker.symbol != fig.data[1].marker.symbol
    # inf is drawn at the top of the colour range and reported as ∞
    cmax = fig.layout.coloraxis.cmax
    np.testing.assert_allclose(fig.data[0].marker.color, [cmax, cmax])
    assert np.isfinite(cmax) and [r[1] for r in fig.data[0].customdata] == ["∞", "∞"]
    assert fig.layout.xaxis.title.text == "Re λ"
    json.loads(fig.to_json())  # serialisable despite inf input


def test_spectrum_all_condition_numbers_infinite_no_misleading_colour_bar():
    """Jordan block (Grcar n = 200 numerically): every κ(λ) = ∞ gave a 0-1 colour bar, all dots at "κ = 10"."""
    n = 6
    lam = np.full(n, 0.5 + 0j)
    fig = F.plot_spectrum(lam, cond=np.full(n, np.inf), symbol="λ", unit_circle=False)
    eig = fig.data[-1]
    assert eig.name == "eigenvalues, κ(λ) = ∞ (defective)"
    assert isinstance(eig.marker.color, str) and eig.marker.coloraxis is None  # one colour, no colour scale
    assert fig.layout.coloraxis.cmin is None and fig.layout.coloraxis.colorbar.title.text is None  # no colour bar
    assert [r[1] for r in eig.customdata] == ["∞"] * n and "1/|yᴴx|" in eig.hovertemplate
    cls = F.plot_spectrum(lam, cond=np.full(n, np.inf), classes=["a"] * 3 + ["b"] * 3)
    assert _names(cls)[-2:] == ["a, κ(μ) = ∞ (defective)", "b, κ(μ) = ∞ (defective)"]
    json.loads(fig.to_json())


def test_spectrum_some_condition_numbers_infinite_get_an_infinity_tick():
    lam = np.array([0.1, 0.2, 0.3, 0.4])
    cond = np.array([1.0, 10.0, 100.0, np.inf])
    fig = F.plot_spectrum(lam, cond=cond)
    col = np.asarray(fig.data[-1].marker.color, dtype=float)
    bar, ax = fig.layout.coloraxis.colorbar, fig.layout.coloraxis
    assert bar.ticktext[-1] == "∞" and bar.tickvals[-1] == ax.cmax == col[3]
    assert col[3] > 2.0 and np.isfinite(col).all()  # above the largest finite log10 κ, distinct from it
    np.testing.assert_allclose(col[:3], [0, 1, 2])
    assert list(bar.ticktext[:-1]) == [f"{v:g}" for v in bar.tickvals[:-1]] and bar.ticktext[0] == "0"
    assert all(ax.cmin <= v <= 2.0 for v in bar.tickvals[:-1])
    # no infinite κ: Plotly's own colour-bar ticks
    assert F.plot_spectrum(lam, cond=[1.0, 2.0, 3.0, 4.0]).layout.coloraxis.colorbar.tickvals is None


def test_spectrum_default_levels_are_integer_decades(jordanish):
    *_, lam, cond, re, im, smin = jordanish
    lev = _contour_levels(F.plot_spectrum(lam, pseudo=(re, im, smin)))
    z = np.log10(np.maximum(smin, 1e-300))
    assert lev.size >= 1 and np.all(lev == np.round(lev))
    assert lev.max() <= min(z.max(), 0) and lev.min() >= np.floor(z.min())


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(eigenvalues=np.ones((2, 2))), ValueError, "eigenvalues must be a 1-D array"),
        (dict(eigenvalues=[1, 2], cond=[1.0]), ValueError, "cond must have length 2"),
        (dict(eigenvalues=[1, 2], eps_levels=[-1]), ValueError, "eps_levels needs pseudo"),
        (dict(eigenvalues=[1, 2], pseudo=(np.arange(3), np.arange(2), np.ones((3, 2)))), ValueError, r"shape \(2, 3\)"),
        (dict(eigenvalues=["a", "b"]), TypeError, "numeric"),
        (dict(eigenvalues=[], cond=[]), ValueError, "at least one eigenvalue"),
        (dict(eigenvalues=[1, 2], theme="talk"), TypeError, "theme must be"),
    ],
)
def test_spectrum_bad_input(kwargs, exc, match):
    lam = kwargs.pop("eigenvalues")
    with pytest.raises(exc, match=match):
        F.plot_spectrum(lam, **kwargs)


# ----------------------------------------------------------------------------------- transient
def test_transient_bounds_log_axis_and_peak():
    A = np.array([[0.9, 5.0], [0.0, 0.8]])
    k = np.arange(40)
    norms = np.array([np.linalg.norm(np.linalg.matrix_power(A, j), 2) for j in k])
    upper = 30 * 0.9**k
    fig = F.plot_transient(k, norms, upper=upper, kreiss_lower=4.0, realized=(k[::4], norms[::4]))
    assert fig.layout.yaxis.type == "log"
    assert fig.layout.yaxis.title.text == "‖Jᵏ‖₂" and fig.layout.xaxis.title.text == "k (steps)"
    names = _names(fig)
    assert names[:4] == ["‖Jᵏ‖₂", "κ(V) ρᵏ (upper bound)", "Kreiss lower bound K(J) = 4", "realized amplification"]
    i = int(np.argmax(norms))
    assert names[4] == f"peak {norms[i]:.4g} at k = {i}"
    np.testing.assert_allclose(fig.data[4].x, [k[i]])
    np.testing.assert_allclose(fig.data[0].y, norms)
    np.testing.assert_allclose(fig.data[2].y, [4.0, 4.0])
    assert [s.y0 for s in fig.layout.shapes] == [1.0]  # reference line ‖Jᵏ‖ = 1


def test_transient_continuous_labels_and_gaps():
    t = np.linspace(0, 5, 11)
    y = np.exp(-t)
    y[3], y[4] = 0.0, np.inf  # not drawable on a log axis: gaps
    fig = F.plot_transient(t, y, continuous=True, matrix="A", show_peak=False)
    assert fig.layout.yaxis.title.text == "‖eᵗᴬ‖₂" and fig.layout.xaxis.title.text == "t"
    assert np.isnan(fig.data[0].y[3]) and np.isnan(fig.data[0].y[4])
    with pytest.raises(ValueError, match="norms must have length 11"):
        F.plot_transient(t, y[:-1])


def _log_axis_labels(axis):
    """(values, labels) of the ticks Plotly draws on a log axis with explicit ticks inside its range (log10 units)."""
    lo, hi = sorted(axis.range)
    vals = np.asarray(axis.tickvals, dtype=float)
    inside = (np.log10(vals) >= lo) & (np.log10(vals) <= hi)
    return vals[inside], [t for t, ok in zip(axis.ticktext, inside, strict=True) if ok]


def test_transient_of_diverged_run_finite_range_and_growth_label():
    """A diverged GD run: ‖Jᵏ‖ overflows to inf after k = 25, κ(V) ρᵏ reaches 1e300 and then inf."""
    k = np.arange(55)
    rho = 9.32e5
    with np.errstate(over="ignore"):
        norms = rho ** k.astype(float)
        upper = 3.0 * rho ** k.astype(float)
    norms[26:] = np.inf
    norms[40:] = np.nan
    assert np.isinf(upper).any() and upper[np.isfinite(upper)].max() > 1e290
    fig = F.plot_transient(k, norms, upper=upper, kreiss_lower=np.inf)
    lo, hi = fig.layout.yaxis.range
    assert np.isfinite([lo, hi]).all() and hi <= np.log10(np.finfo(float).max)
    assert hi >= np.log10(upper[np.isfinite(upper)].max()) and lo <= 0.0  # all finite values and the line at 1 shown
    for t in fig.data:  # nothing non-finite is plotted: gaps
        y = np.array([np.nan if v is None else v for v in t.y], dtype=float)
        assert not np.isinf(y).any()
    text = fig.to_json()
    assert "Infinity" not in text and "NaN" not in text
    label = _names(fig)[-1]
    assert label == "grows like ρᵏ (ρ = 9.32e+05 > 1)" and "peak" not in label and "∞" not in label
    np.testing.assert_allclose([fig.data[-1].x[0], fig.data[-1].y[0]], [25, norms[25]])
    # ρ passed explicitly wins; close to 1 it is shown with enough digits to be > 1
    g = F.plot_transient(k[:10], 1.0003 ** k[:10], rho=1.0003)
    assert _names(g)[-1] == "grows like ρᵏ (ρ = 1.0003 > 1)"
    # continuous: the rate α of κ(V) e^{tα}
    t = np.linspace(0, 10, 21)
    c = F.plot_transient(t, np.exp(0.5 * t), upper=2 * np.exp(0.5 * t), continuous=True, matrix="A")
    assert _names(c)[-1] == "grows like eᵅᵗ (α = 0.5 > 0)"


def test_transient_largest_value_at_the_end_is_not_called_a_peak():
    k = np.arange(30)
    rising = 1 + 0.1 * k  # ρ unknown (no upper bound): still rising at the end of the range
    assert _names(F.plot_transient(k, rising))[-1] == f"largest {rising[-1]:.4g} at k = 29 (end of range)"
    over = np.r_[10.0 ** np.arange(10), np.full(20, np.inf)]  # overflowed after k = 9
    name = _names(F.plot_transient(k, over))[-1]
    assert name == "largest 1e+09 at k = 9 (then overflows)" and "∞" not in name
    hump = np.r_[1, 3, 5, 2, 1, 0.5, np.zeros(24)]  # comes down (to 0: nilpotent): a peak
    assert _names(F.plot_transient(k, hump, upper=np.full(30, np.inf)))[-1] == "peak 5 at k = 2"


def test_narrow_log_axes_get_several_labelled_ticks():
    """Powers-of-ten-only labels left one label ("1") on values 1 .. 3.06; wide ranges keep them."""
    k = np.arange(40)
    norms = 1 + 2.06 * np.sin(np.pi * k / 39) ** 2  # 1 .. 3.06
    fig = F.plot_transient(k, norms, upper=np.full(40, 3.2), kreiss_lower=2.0)
    vals, labels = _log_axis_labels(fig.layout.yaxis)
    assert len(vals) >= 3 and np.all((vals >= 1) & (vals <= 3.2))
    assert labels == ["1", "2", "3"]
    loss = F.plot_loss(k, 1.5 + np.cos(k / 7), log_y=True)  # 0.5 .. 2.5 (min 0.503)
    ya = loss.layout.yaxis
    assert list(ya.ticktext) == ["0.7", "1", "2"] and ya.tickvals == (0.7, 1.0, 2.0)
    # much narrower than a decade: evenly spaced ticks; e-style exponents as the theme's
    assert F._log_ticks([1.1e-7, 1.3e-7])["ticktext"] == ["1.1e-7", "1.15e-7", "1.2e-7", "1.25e-7", "1.3e-7"]
    assert F._log_ticks([2e5, 9e5])["ticktext"] == ["2e+5", "3e+5", "5e+5", "7e+5"]
    # wide ranges keep Plotly's powers-of-ten labels
    wide = F.plot_transient(k, 10.0 ** (k / 4))
    assert wide.layout.yaxis.tickvals is None and wide.layout.yaxis.minorloglabels == "none"
    assert F.plot_loss(k, np.exp(-k)).layout.yaxis.tickvals is None


# ------------------------------------------------------------------------------- parameter map
def test_param_map_click_grid_contour_curves_marker():
    eta = np.logspace(-3, 0, 12)
    beta = np.linspace(0, 0.9, 7)
    E, B = np.meshgrid(eta, beta)
    z = np.log10(1 + E / (B + 0.1))
    z[2, 3] = np.inf
    rho = E + B
    curve = ("EP ηλ = (1−√β)²", (1 - np.sqrt(beta)) ** 2, beta)
    fig = F.plot_param_map(
        eta, beta, z, x_name="η", y_name="β", contour_z=rho, curves=[curve], marker=(0.01, 0.5), z_cap=5.0
    )
    assert _names(fig) == ["log₁₀ κ(V)", "ρ(J) = 1", curve[0], "click grid", "current point"]
    heat, cont, _, grid, mark = fig.data
    assert heat.colorbar.title.text == "log₁₀ κ(V)" and heat.zmax == 5.0
    zd = np.asarray(heat.z)
    assert zd[2, 3] == 5.0 and np.isfinite(zd).all()
    np.testing.assert_allclose(np.delete(zd.ravel(), 2 * 12 + 3), np.delete(z.ravel(), 2 * 12 + 3))
    assert cont.contours.start == cont.contours.end == 1.0 and cont.showlegend
    # transparent click grid over every cell, customdata = (x, y, z as text)
    assert grid.mode == "markers" and grid.marker.opacity == 0 and grid.showlegend is False
    X, Y = np.meshgrid(eta, beta)
    np.testing.assert_allclose(grid.x, X.ravel())
    np.testing.assert_allclose(grid.y, Y.ravel())
    np.testing.assert_allclose(grid.customdata, np.column_stack([X.ravel(), Y.ravel()]))
    assert grid.text[2 * 12 + 3] == "∞" and grid.text[0] == f"{z[0, 0]:.4g}"
    assert heat.hoverinfo == "skip"  # the grid carries the hover
    np.testing.assert_allclose([mark.x[0], mark.y[0]], [0.01, 0.5])
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.title.text == "η"
    np.testing.assert_allclose(fig.layout.xaxis.range, [-3 - 3 / 22, 3 / 22])
    assert fig.layout.uirevision == "param_map" and fig.layout.clickmode == "event+select"


def test_param_map_marker_on_the_grid_edge_is_inside_the_axes():
    """The current-point star at β = 0.99 or β = 0 (the grid's first/last row) was half cut off."""
    eta, beta = np.logspace(-3, 1, 60), np.linspace(0.0, 0.99, 50)
    z = np.zeros((50, 60))
    for x0, y0 in [(0.01, 0.99), (0.01, 0.0), (1e-3, 0.5), (10.0, 0.99)]:
        fig = F.plot_param_map(eta, beta, z, x_name="η", y_name="β", marker=(x0, y0))
        for rng, w in ((fig.layout.xaxis.range, np.log10(x0)), (fig.layout.yaxis.range, y0)):
            lo, hi = rng
            margin = 0.04 * (hi - lo)  # a 17 px star needs ~4 % of a 200 px plot area
            assert lo + margin < w < hi - margin, (x0, y0, rng)
    # an interior marker leaves the heatmap's range alone (half a cell beyond the outer centres)
    fig = F.plot_param_map(eta, beta, z, x_name="η", y_name="β", marker=(0.1, 0.5), log_x=False)
    np.testing.assert_allclose(fig.layout.yaxis.range, [-0.99 / 98, 0.99 + 0.99 / 98])


def test_param_map_subsampled_grid_and_no_grid():
    x, y = np.linspace(1, 2, 200), np.linspace(0, 1, 100)
    z = np.zeros((100, 200))
    fig = F.plot_param_map(x, y, z, x_name="a", y_name="b", max_click_points=2000, log_x=False)
    grid = fig.data[-1]
    stride = grid.meta["stride"]
    assert stride == 4 and len(grid.x) == 50 * 25 <= 2000
    fig2 = F.plot_param_map(x, y, z, x_name="a", y_name="b", click_grid=False)
    assert "click grid" not in _names(fig2) and fig2.data[0].hovertemplate
    with pytest.raises(ValueError, match=r"z must have shape \(100, 200\)"):
        F.plot_param_map(x, y, z.T, x_name="a", y_name="b")


# ------------------------------------------------------------------------------------ training
@settings(max_examples=25, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=30))
def test_loss_shading_covers_exactly_the_unstable_steps(mask_list):
    mask = np.array(mask_list)
    steps = np.arange(mask.size) * 5.0
    loss = np.exp(-steps / 50) + 0.01
    fig = F.plot_loss(steps, loss, unstable_mask=mask)
    rects = [(s.x0, s.x1) for s in fig.layout.shapes if s.type == "rect"]
    covered = [any(a <= s <= b for a, b in rects) for s in steps]
    assert covered == mask.tolist()
    # contiguous runs <-> rectangles
    runs = int(np.sum(np.diff(np.r_[0, mask.astype(int)]) == 1))
    assert len(rects) == runs
    assert ("unstable phase" in _names(fig)) == (runs > 0)


def test_loss_traces_lines_and_selection():
    steps = np.arange(50)
    tr = np.exp(-steps / 10.0)
    tr[45:] = np.nan
    fig = F.plot_loss(steps, tr, loss_test=1.1 * tr, diverged_step=45, selected_step=20, unstable_spans=[(30, 40)])
    assert _names(fig) == ["train loss", "test loss", "unstable phase"]
    assert all(t.mode == "lines+markers" for t in fig.data[:2])
    np.testing.assert_array_equal(fig.data[0].customdata, steps)
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis.title.text == "step"
    lines = {s.x0 for s in fig.layout.shapes if s.type == "line"}
    assert lines == {45, 20}
    label = next(a for a in fig.layout.annotations if "diverged at step 45" in a.text)
    # left of the line and clear of the last marker on it, over the background (the review's label sat on the
    # last point of the diverging curve)
    assert label.xanchor == "right" and label.xshift < 0 and label.bgcolor == F.DEFAULT_THEME.bgcolor
    assert fig.layout.uirevision == "loss"


def test_indicators_panels_thresholds_shared_x():
    steps = np.arange(0, 100, 5)
    n = steps.size
    series = {
        "κ(V)": np.logspace(0, 3, n),
        "ρ(J)": np.linspace(0.9, 1.1, n),
        "ρ₊": np.linspace(0.85, 1.05, n),
        "λmax(H)": np.linspace(10, 30, n),
        "‖[H, M]‖": np.r_[0.0, np.linspace(0.1, 1, n - 1)],
    }
    thr = {"ρ(J)": 1.0, "λmax(H)": np.full(n, 20.0)}
    fig = F.plot_indicators(
        steps,
        series,
        panels=[["κ(V)"], ["ρ(J)", "ρ₊"], ["λmax(H)"], ["‖[H, M]‖"]],
        thresholds=thr,
        threshold_labels={"λmax(H)": "2/η"},
        selected_step=50,
        log_y=[True, False, True, True],
    )
    assert _names(fig) == ["κ(V)", "ρ(J)", "ρ = 1", "ρ₊", "λmax(H)", "2/η", "‖[H, M]‖"]
    yaxes = [fig.layout[f"yaxis{i if i > 1 else ''}"] for i in range(1, 5)]
    assert [a.title.text for a in yaxes] == ["κ(V)", "ρ(J), ρ₊", "λmax(H)", "‖[H, M]‖"]
    assert [a.type for a in yaxes] == ["log", "linear", "log", "log"]
    # log axes label powers of ten only: no bare digits that repeat the decade below's labels, no overlaps
    assert all(a.minorloglabels == "none" for a in yaxes)
    assert all(a.exponentformat == "e" for a in yaxes)  # no SI suffixes ("100μ" would read as an eigenvalue)
    # every series in its panel, all sharing the bottom x axis
    assert [t.yaxis for t in fig.data] == ["y", "y2", "y2", "y2", "y3", "y3", "y4"]
    assert fig.layout.xaxis.matches == "x4" and fig.layout.xaxis4.title.text == "step"
    assert all(t.mode == "lines+markers" for t in fig.data if not t.name.startswith(("ρ =", "2/η")))
    np.testing.assert_array_equal(fig.data[0].customdata, steps)
    assert np.isnan(fig.data[-1].y[0])  # 0 on a log axis is a gap
    np.testing.assert_allclose(fig.data[2].y, [1.0, 1.0])
    assert sum(s.type == "line" and s.x0 == 50 for s in fig.layout.shapes) == 4
    assert fig.layout.uirevision == "indicators"
    with pytest.raises(ValueError, match="unknown series 'ρ'"):
        F.plot_indicators(steps, series, panels=[["ρ"]])
    with pytest.raises(ValueError, match="one bool per panel"):
        F.plot_indicators(steps, series, log_y=[True])


# ---------------------------------------------------------------------------- fit / trajectory
def test_fit_classification_and_regression(rng):
    X = rng.normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    xx, yy = np.linspace(-2, 2, 9), np.linspace(-2, 2, 7)
    zz = 1 / (1 + np.exp(-4 * xx[None, :] + 0 * yy[:, None]))
    fig = F.plot_fit(X, y, grid=(xx, yy, zz), X_test=X[:5], y_test=y[:5])
    assert _names(fig) == [
        "model output",
        "decision boundary",
        "class 0 (train)",
        "class 1 (train)",
        "class 0 (test)",
        "class 1 (test)",
    ]
    assert fig.data[1].contours.start == fig.data[1].contours.end == 0.5
    np.testing.assert_allclose(fig.data[3].x, X[y == 1, 0])
    assert fig.data[4].marker.symbol.endswith("-open")
    assert fig.layout.xaxis.title.text == "x₁" and fig.layout.yaxis.title.text == "x₂"
    x = np.linspace(-1, 1, 15)
    reg = F.plot_fit(x, np.sin(x), curve=(x, 0.9 * np.sin(x)), truth=(x, np.sin(x)))
    assert _names(reg) == ["train data", "target function", "network prediction"]
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\)"):
        F.plot_fit(np.ones((4, 3)), np.ones(4))


def test_trajectory_levels_and_iterates():
    H = np.array([[4.0, 1.0], [1.0, 1.0]])
    th = [np.array([1.0, 1.0])]
    for _ in range(10):
        th.append(th[-1] - 0.2 * H @ th[-1])
    T = np.array(th)
    T[-1] = np.nan  # a diverged last row is dropped
    fig = F.plot_trajectory_2d(T, H=H)
    assert _names(fig) == ["level sets of f", "minimum θ*", "iterates θₖ", "start θ₀"]
    it = fig.data[2]
    np.testing.assert_allclose(np.column_stack([it.x, it.y]), T[:-1])
    np.testing.assert_array_equal(it.customdata, np.arange(10))
    # contour values are log10 of the quadratic at the grid points
    c = fig.data[0]
    gx, gy = np.asarray(c.x), np.asarray(c.y)
    i, j = 17, 93
    f = 0.5 * np.array([gx[j], gy[i]]) @ H @ np.array([gx[j], gy[i]])
    np.testing.assert_allclose(c.z[i][j], np.log10(f), rtol=1e-10)
    assert fig.layout.yaxis.scaleanchor == "x"


def test_trajectory_names_the_critical_point_by_the_hessian():
    """λ₁ < 0 (a saddle) still had the legend entry "minimum θ*"."""
    T = np.array([[1.0, 1.0], [1.2, 0.9], [1.44, 0.81]])
    for H, kind in [
        (np.diag([1.0, 0.2]), "minimum"),
        (np.diag([1.0, 0.0]), "minimum"),  # semidefinite: a (non-unique) minimiser
        (np.diag([-2.0, 0.2]), "saddle"),
        (np.array([[1.0, 2.0], [2.0, 1.0]]), "saddle"),  # eigenvalues 3 and −1
        (np.diag([-2.0, -0.5]), "maximum"),
    ]:
        names = _names(F.plot_trajectory_2d(T, H=H))
        assert f"{kind} θ*" in names and sum(n.endswith(" θ*") for n in names) == 1, kind


def test_trajectory_of_diverged_run_has_no_overflow_and_no_inf(recwarn):
    # iterates at |θ| ~ 1e200 throughout (from the start, so the axes and level sets span them: a run that gets
    # there from |θ₀| ~ 1 is drawn around its first iterates, see the next test)
    H = np.array([[2.0, -1.5], [-1.5, 2.0]])
    T = np.array([[1e200, 1e200], [1.5e200, -1e200], [-1e200, 1.2e200]])
    fig = F.plot_trajectory_2d(T, H=H)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    c = fig.data[0]
    z = np.array(c.z, dtype=float)
    assert np.isfinite(z).all()
    i, j = 40, 7  # log10 f at a grid point, from the exact f in extended precision
    x = np.array([c.x[j], c.y[i]], dtype=np.longdouble) / 1e200
    f = 0.5 * x @ H.astype(np.longdouble) @ x
    np.testing.assert_allclose(z[i, j], float(np.log10(f)) + 400, rtol=1e-12)
    # an indefinite f overflows: gaps, never inf
    fig2 = F.plot_trajectory_2d(T, H=np.array([[1.0, 0.0], [0.0, -1.0]]))
    assert not np.isinf(np.array(fig2.data[0].z, dtype=float)).any()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    np.testing.assert_allclose(np.column_stack([fig.data[2].x, fig.data[2].y]), T)


def test_trajectory_of_diverging_run_is_readable_and_says_so():
    """Iterates growing from |θ₀| ~ 1 to 4e66: the axes showed a flat line with overlapping labels, no path."""
    H = np.diag([-2.0, 0.2])
    k = np.arange(2001)
    T = np.column_stack([1.08**k, 0.9**k])  # θ₁ grows like 1.08ᵏ up to 4e66, θ₂ decays
    size = np.hypot(T[:, 0], T[:, 1])
    fig = F.plot_trajectory_2d(T, H=H)
    (ann,) = fig.layout.annotations
    assert ann.text.startswith("iterates diverge: |θₖ| reaches ") and "<br>at k = 2000<br>" in ann.text
    reached = float(ann.text.split("reaches ")[1].split("<br>")[0])  # "7e+66": the theme's exponent style
    assert reached == pytest.approx(size[-1], rel=0.05) and "e+66" in ann.text
    xr, yr = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert np.isfinite([*xr, *yr]).all()
    assert xr[0] < 0 < 1 < xr[1] and yr[0] < 0 < 1 < yr[1]  # θ* and θ₀ on the axes
    assert xr[1] - xr[0] < 100 and yr[1] - yr[0] < 100  # the first iterates' scale, not 1e66
    names = _names(fig)
    it = fig.data[names.index("iterates θₖ")]
    n = len(it.x)
    assert 10 < n < 200 and np.abs(np.column_stack([it.x, it.y])).max() < 1e4  # nothing astronomically far
    np.testing.assert_array_equal(it.customdata, np.arange(n))
    np.testing.assert_allclose(np.column_stack([it.x, it.y]), T[:n])
    K = int(ann.text.split("k ≤ ")[1])  # the axes fit iterates 0..K: those before the first 10 x |θ₀ − θ*| away
    assert np.all((T[: K + 1, 0] > xr[0]) & (T[: K + 1, 0] < xr[1]) & (T[: K + 1, 1] > yr[0]) & (T[: K + 1, 1] < yr[1]))
    assert np.abs(T[: K + 1]).max() <= 10 < np.abs(T[K + 1]).max()
    # the path leaves the plot along its next segment (toward T[n]), cut short instead of ending mid-plot
    seg = next(t for t in fig.data if t.name.startswith("iterates θₖ (toward"))
    a, b = np.array([seg.x[0], seg.y[0]]), np.array([seg.x[1], seg.y[1]])
    np.testing.assert_allclose(a, T[n - 1])
    d_true, d_seg = T[n] - T[n - 1], b - a
    assert abs(d_true[0] * d_seg[1] - d_true[1] * d_seg[0]) <= 1e-9 * np.abs(d_true).max() * np.abs(d_seg).max()
    assert b[0] > xr[1] and seg.showlegend is False
    # the level sets cover the shown window, not 1e66
    assert np.abs(np.asarray(fig.data[0].x)).max() < 100
    # an overflow after the divergence is reported; a converging run has no note and no fixed range
    with np.errstate(over="ignore", invalid="ignore"):
        T2 = np.column_stack([(-2.0) ** np.arange(1100.0), np.ones(1100)])
    T2[~np.isfinite(T2)] = np.inf
    assert "(overflow at k = 1024)" in F.plot_trajectory_2d(T2).layout.annotations[0].text
    calm = F.plot_trajectory_2d(np.column_stack([0.5 ** k[:30], 0.8 ** k[:30]]), H=np.eye(2))
    assert calm.layout.annotations == () and calm.layout.xaxis.range is None


def test_trajectory_of_fast_divergence_shows_its_direction():
    """η at its maximum: the iterates left 10 |θ₀ − θ*| at k = 1 and the axes fit θ₀ alone ("k ≤ 0"), so the
    direction of divergence was not visible. The axes fit at least θ₀ … θ₃."""
    H = np.diag([10.0, 0.2])
    k = np.arange(201.0)
    T = np.column_stack([(-21.0) ** k, 0.9**k])  # 21-fold per step along θ₁, alternating sign
    with np.errstate(over="ignore"):
        T[~np.isfinite(T)] = np.inf
    fig = F.plot_trajectory_2d(T, H=H)
    (ann,) = fig.layout.annotations
    assert ann.text.endswith("axes fit the iterates k ≤ 3")
    xr, yr = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert np.all((T[:4, 0] > xr[0]) & (T[:4, 0] < xr[1]) & (T[:4, 1] > yr[0]) & (T[:4, 1] < yr[1]))
    it = fig.data[_names(fig).index("iterates θₖ")]
    assert len(it.x) >= 4
    np.testing.assert_allclose(np.column_stack([it.x[:4], it.y[:4]]), T[:4])
    # a run shorter than that: all its iterates
    short = F.plot_trajectory_2d(np.array([[1.0, 1.0], [1e7, 1.0], [np.inf, np.inf]]), H=H)
    assert short.layout.annotations[0].text.endswith("axes fit the iterates k ≤ 1")


def _window_aspect(fig) -> float:
    """Width : height of the window a trajectory figure shows (its fixed ranges: equal scales keep them)."""
    xr, yr = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert xr is not None and yr is not None
    return (xr[1] - xr[0]) / (yr[1] - yr[0])


def test_trajectory_window_keeps_a_sane_aspect():
    """Iterates running off along θ₁ only: with equal axis scales the plot area was a ~25 px strip and the θ₂ tick
    labels overlapped. The short side is widened (level sets included), never the iterates cut."""
    k = np.arange(13)
    T = np.column_stack([1.2**k, 0.5**k])  # θ₁ from 1 to 9, θ₂ from 1 to 0: a 9 : 1 window, not diverging
    for H in (np.diag([-2.0, 0.2]), None):
        fig = F.plot_trajectory_2d(T, H=H)
        assert 1 / 4 <= _window_aspect(fig) <= 4 and fig.layout.yaxis.scaleanchor == "x"
        xr, yr = fig.layout.xaxis.range, fig.layout.yaxis.range
        assert xr[0] < T[:, 0].min() and T[:, 0].max() < xr[1] and yr[0] < T[:, 1].min() and T[:, 1].max() < yr[1]
        if H is not None:  # the level sets fill the widened window
            c = fig.data[0]
            assert min(c.y) == pytest.approx(yr[0]) and max(c.y) == pytest.approx(yr[1])
    tall = F.plot_trajectory_2d(T[:, ::-1], H=np.eye(2))  # the same along θ₂
    assert 1 / 4 <= _window_aspect(tall) <= 4
    # a diverging run along θ₁ (the Operator Lab at λ₁ = −2): its fixed window too
    k = np.arange(201)
    assert 1 / 4 <= _window_aspect(F.plot_trajectory_2d(np.column_stack([1.08**k, 0.99**k]), H=np.eye(2))) <= 4
    # a window of sane aspect is left to Plotly's autorange, as before
    assert F.plot_trajectory_2d(np.column_stack([0.5 ** k[:30], 0.8 ** k[:30]]), H=np.eye(2)).layout.xaxis.range is None


# ------------------------------------------------------------------------------------- studies
def test_phase_distributions_roc_lead_times_run_grid(rng):
    vals = {
        "κ(V)": {"stable": 10 ** rng.normal(1, 0.3, 20), "unstable": np.r_[10 ** rng.normal(3, 0.3, 9), -1.0]},
        "ρ(J)": {"stable": rng.uniform(0.8, 1, 20), "unstable": rng.uniform(0.95, 1.2, 10)},
    }
    fig = F.plot_phase_distributions(vals, annotations={"κ(V)": "AUC 0.93"})
    assert _names(fig) == ["stable", "unstable", "stable", "unstable"]
    assert [t.showlegend for t in fig.data] == [True, True, False, False]
    assert len(fig.data[1].y) == 9  # the non-positive value is dropped on a log axis
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.title.text == "ρ(J)"
    assert "AUC 0.93" in fig.layout.annotations[0].text

    fpr = np.linspace(0, 1, 11)
    roc = F.plot_roc({"κ(V)": (fpr, np.sqrt(fpr), 0.8), "ρ(J)": (fpr, fpr, None)})
    assert _names(roc) == ["κ(V) (AUC = 0.80)", "ρ(J)", "chance"]
    assert roc.layout.xaxis.title.text == "false-positive rate"

    lead = F.plot_lead_times({"κ(V)": np.r_[1.0, 2.0, np.inf], "ρ(J)": [3.0]})
    assert _names(lead) == ["κ(V) (n = 2, 1 missed)", "ρ(J) (n = 1, 0 missed)"]
    assert lead.layout.barmode == "group"
    assert lead.data[0].xbins.size == lead.data[1].xbins.size  # shared bins
    assert lead.layout.yaxis.dtick == 1  # whole runs

    lrs, seeds = np.logspace(-2, 0, 4), np.arange(3)
    ph = np.array([["stable"] * 3, ["stable", "eos", "stable"], ["diverged"] * 3, ["diverged"] * 3])
    grid = F.plot_run_grid(lrs, seeds, ph, selected=(1, 1))
    assert _names(grid) == ["stable", "eos", "diverged", "selected run"]
    pts = [(t.name, *c) for t in grid.data[:3] for c in t.customdata]
    assert sorted((int(i), int(j)) for *_, i, j in pts) == [(i, j) for i in range(4) for j in range(3)]
    for name, lr_, sd_, i, j in pts:
        assert lr_ == lrs[int(i)] and sd_ == seeds[int(j)] and ph[int(i), int(j)] == name
    assert grid.layout.xaxis.type == "log" and grid.layout.yaxis.type == "category"
    with pytest.raises(ValueError, match=r"phase must have shape"):
        F.plot_run_grid(lrs, seeds, ph.T)


def _plotly_histogram_count(trace) -> int:
    """Values a go.Histogram with explicit xbins counts, as plotly.js does: bins [start + j size, start + (j+1) size)
    for every left edge start + j size < end; a value goes to bin floor((v - start) / size + 1e-9)."""
    b = trace.xbins
    n_bins = 0
    while b.start + n_bins * b.size < b.end:
        n_bins += 1
    j = np.floor((np.asarray(trace.x, dtype=float) - b.start) / b.size + 1e-9)
    return int(((j >= 0) & (j < n_bins)).sum())


@pytest.mark.parametrize(
    "lead",
    [
        {"ρ(J)": [0.0, 1.0], "ρ₊": [0.0, 1.0], "sharpness": [1.0, 0.0]},  # the review's case: n = 2, one bar of 1
        {"κ(V)": np.r_[1.0, 2.0, np.inf], "ρ(J)": [3.0]},
        {"a": np.arange(-7.0, 130.0, 3.0), "b": [129.0, 129.0, -7.0, np.nan]},  # wide integer range: size > 1
        {"a": [5.0, 5.0, 5.0]},  # one value
        {"a": [0.25, 1.5, 2.75, 2.75], "b": [0.1]},  # not whole steps
        {"a": [-2.5, -2.5]},
    ],
)
def test_lead_times_bins_hold_every_finite_value(lead):
    fig = F.plot_lead_times(lead)
    for trace, vals in zip(fig.data, lead.values(), strict=True):
        v = np.asarray(vals, dtype=float)
        assert _plotly_histogram_count(trace) == np.isfinite(v).sum() == len(trace.x)
    sizes = {t.xbins.size for t in fig.data}
    assert len(sizes) == 1  # shared bins
    pooled = np.concatenate([np.asarray(v, float) for v in lead.values()])
    pooled = pooled[np.isfinite(pooled)]
    if np.all(pooled == np.round(pooled)):  # whole steps: integer-centred bins, integer ticks
        b = fig.data[0].xbins
        assert b.size >= 1 and float(b.size).is_integer() and (b.start + 0.5).is_integer()
        assert fig.layout.xaxis.tick0 == 0 and float(fig.layout.xaxis.dtick).is_integer()
        assert (pooled.max() - pooled.min() + 1) / fig.layout.xaxis.dtick <= 10


def test_lead_times_zero_and_one_step_are_two_unit_bars():
    fig = F.plot_lead_times({"ρ(J)": [0.0, 1.0]})
    b = fig.data[0].xbins
    assert (b.start, b.size) == (-0.5, 1.0) and 1.0 < b.end <= 2.5
    assert fig.layout.xaxis.dtick == 1 and fig.layout.yaxis.dtick == 1


# --------------------------------------------------------------------------------------- theme
def _all_builders(theme):
    k = np.arange(10.0)
    return [
        F.plot_spectrum(np.array([0.5, 0.9j]), cond=[1.0, 2.0], theme=theme),
        F.plot_transient(k, 0.9**k, theme=theme),
        F.plot_param_map(k + 1, k, np.ones((10, 10)), x_name="η", y_name="β", theme=theme),
        F.plot_loss(k, np.exp(-k), theme=theme),
        F.plot_indicators(k, {"κ(V)": k + 1}, theme=theme),
        F.plot_fit(k, k, theme=theme),
        F.plot_trajectory_2d(np.c_[k, k], theme=theme),
        F.plot_phase_distributions({"κ(V)": {"a": k + 1}}, theme=theme),
        F.plot_roc({"a": (k / 9, k / 9, 0.5)}, theme=theme),
        F.plot_lead_times({"a": k}, theme=theme),
        F.plot_run_grid(k + 1, [0, 1], np.full((10, 2), "s"), theme=theme),
    ]


def test_talk_theme_applied_everywhere():
    template_before = pio.templates.default
    for fig in _all_builders(TALK_THEME):
        lay = fig.layout
        assert lay.font.size == 26 and lay.width == 1600 and lay.height == 900
        assert lay.width * 9 == lay.height * 16
        assert list(lay.colorway) == list(OKABE_ITO)
        assert lay.paper_bgcolor == "white" and lay.uirevision
        assert lay.xaxis.title.text and lay.yaxis.title.text  # explicit axis titles
        line_colors = [t.line.color for t in fig.data if isinstance(t, go.Scatter) and t.line.color]
        assert all(c in OKABE_ITO or c in ("#000000", "#222222", "white") for c in line_colors)
    assert pio.templates.default == template_before  # the global template is never mutated


def test_transparent_talk_and_default_theme():
    fig = F.plot_loss(np.arange(5), np.ones(5), theme=talk_theme("transparent"))
    assert fig.layout.paper_bgcolor == "rgba(0,0,0,0)" and fig.layout.plot_bgcolor == "rgba(0,0,0,0)"
    d = F.plot_loss(np.arange(5), np.ones(5))
    assert d.layout.width is None and d.layout.font.size == DEFAULT_THEME.font_size
    # the talk theme thickens lines and enlarges markers
    t = F.plot_loss(np.arange(5), np.ones(5), theme=TALK_THEME)
    assert t.data[0].line.width > d.data[0].line.width and t.data[0].marker.size > d.data[0].marker.size
    with pytest.raises(ValueError, match="background must be one of"):
        talk_theme("black")
    with pytest.raises(ValueError, match="width must be None or an integer"):
        Theme(width=5)


def test_apply_theme_returns_copy():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    before = fig.to_json()
    out = apply_theme(fig, TALK_THEME)
    assert out is not fig and fig.to_json() == before
    assert out.layout.width == 1600 and out.layout.font.family == TALK_THEME.font_family
    with pytest.raises(TypeError, match="fig must be"):
        apply_theme({"data": []}, TALK_THEME)


def _sizes(fig):
    lines = [t.line.width for t in fig.data if getattr(t, "line", None) is not None and t.line.width is not None]
    marks = [
        t.marker.size
        for t in fig.data
        if getattr(t, "marker", None) is not None and isinstance(getattr(t.marker, "size", None), (int, float))
    ]
    return np.array(lines, float), np.array(marks, float)


def test_apply_theme_to_builder_figure_matches_building_with_theme():
    for d, t in zip(_all_builders(DEFAULT_THEME), _all_builders(TALK_THEME), strict=True):
        before = d.to_json()
        a = apply_theme(d, TALK_THEME)
        assert d.to_json() == before  # the input figure is untouched
        for got, want in zip(_sizes(a), _sizes(t), strict=True):
            assert got.size == want.size
            np.testing.assert_allclose(got, want, rtol=1e-12)
        assert a.layout.width == t.layout.width and a.layout.font.size == t.layout.font.size
        assert a.layout.meta["nnspec_theme"]["name"] == "talk"
        assert [x.line.width for x in a.layout.shapes] == pytest.approx([x.line.width for x in t.layout.shapes])
        ann_a = [x.font.size for x in a.layout.annotations]
        ann_t = [x.font.size for x in t.layout.annotations]
        assert ann_a == ann_t


def test_builders_deterministic_serialisable_and_leave_inputs_alone():
    a = _all_builders(DEFAULT_THEME)
    b = _all_builders(DEFAULT_THEME)
    for fa, fb in zip(a, b, strict=True):
        assert fa.to_json() == fb.to_json()
        json.loads(fa.to_json())
    lam = np.array([0.5, 0.9j])
    cond = np.array([1.0, np.inf])
    F.plot_spectrum(lam, cond=cond)
    np.testing.assert_array_equal(cond, [1.0, np.inf])


def test_eps_label():
    assert F.eps_label(-3) == "ε = 1e-3" and F.eps_label(0.0) == "ε = 1e0" and F.eps_label(-2.5) == "ε = 3.2e-3"


def test_no_streamlit_import():
    code = "import sys, nnspec_core.figures, nnspec_core.theme, nnspec_core.export; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=".")
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------ Streamlit placeholder colours
def _streamlit_placeholders() -> set[str]:
    """Colours Streamlit's Plotly theme replaces in a figure's JSON: the constants of its theme module (read from the
    installed source, without importing streamlit) and the documented range "#000001" ... "#000040"."""
    import importlib.util
    import re
    from pathlib import Path

    found = {f"#{i:06d}" for i in range(1, 41)}
    spec = importlib.util.find_spec("streamlit")
    if spec is not None and spec.submodule_search_locations:
        src = Path(next(iter(spec.submodule_search_locations))) / "elements" / "lib" / "streamlit_plotly_theme.py"
        if src.exists():
            found |= {c.lower() for c in re.findall(r'"(#[0-9a-fA-F]{6})"', src.read_text())}
    return found


def _theme_colours(theme: Theme) -> list[str]:
    from plotly.colors import get_colorscale

    out = [*theme.palette, theme.grid_color, theme.text_color, theme.bgcolor]
    for scale in (theme.colorscale_pseudo, theme.colorscale_kappa, theme.colorscale_cond):
        out += [c for _, c in (get_colorscale(scale) if isinstance(scale, str) else scale)]
    return out


def test_no_theme_colour_is_a_streamlit_placeholder():
    placeholders = _streamlit_placeholders()
    assert {"#000001", "#000004", "#000040"} <= placeholders
    themes = [DEFAULT_THEME, TALK_THEME, talk_theme("transparent"), Theme()]
    for theme in themes:
        bad = [c for c in _theme_colours(theme) if c.strip().lower() in placeholders]
        assert not bad, (theme.name, bad)
    # the κ(V) scale keeps Magma's look: dark (well conditioned) at the low end, light at the top
    from plotly.colors import hex_to_rgb

    lo, hi = DEFAULT_THEME.colorscale_kappa[0][1], DEFAULT_THEME.colorscale_kappa[-1][1]
    assert sum(hex_to_rgb(lo)) < 30 and sum(hex_to_rgb(hi)) > 600
    # any theme is made safe: a named scale or colour that Streamlit would replace is nudged
    t = Theme(colorscale_kappa="Magma", colorscale_cond="Magma_r", palette=("#000001", "#0072B2"), text_color="#000040")
    assert not [c for c in _theme_colours(t) if c.lower() in placeholders]
    assert t.palette[1] == "#0072B2" and t.colorscale_pseudo == "Viridis"
    with pytest.raises(ValueError, match="colourscale must be"):
        Theme(colorscale_kappa="NoSuchScale")


def test_no_builder_figure_carries_a_streamlit_placeholder():
    """Streamlit rewrites placeholder strings anywhere in the figure JSON (``replaceAll``), e.g. κ(V) maps."""
    placeholders = _streamlit_placeholders()
    k = np.arange(10.0)
    extra = [
        F.plot_spectrum(np.array([0.5, 0.9j]), cond=[np.inf, np.inf]),
        F.plot_trajectory_2d(np.c_[k, k], H=np.eye(2)),
    ]
    for theme in (DEFAULT_THEME, TALK_THEME):
        for fig in [*_all_builders(theme), *extra]:
            text = fig.to_json().lower()
            assert not [c for c in placeholders if c in text], fig.layout.title.text
    heat = F.plot_param_map(k + 1, k, np.outer(k, k), x_name="η", y_name="β").data[0]
    assert heat.colorscale[0][1].lower() not in placeholders


def test_lead_times_indicator_that_never_warned_keeps_its_legend_entry():
    """Plotly drops traces without data from the legend: κ(V) missing every spike must still be listed."""
    fig = F.plot_lead_times({"κ(V)": [np.nan, np.nan], "ρ(J)": [0.0, 1.0]})
    shown = [t for t in fig.data if t.showlegend is not False]
    names = [t.name for t in shown]
    assert "κ(V) (n = 0, 2 missed)" in names and "ρ(J) (n = 2, 0 missed)" in names
    entry = next(t for t in shown if t.name.startswith("κ(V)"))
    hist = next(t for t in fig.data if t.type == "histogram" and t.name.startswith("κ(V)"))
    assert entry.marker.color == hist.marker.color and entry.legendgroup == hist.legendgroup


def test_transient_of_a_nilpotent_matrix_says_where_the_norms_vanish():
    """Jordan block with eigenvalue 0 (n = 5): J^k = 0 exactly from k = 5; the log axis just ended the curve."""
    from nnspec_core.transient import power_norms

    J = np.diag(np.ones(4), 1)
    k = np.arange(11)
    norms = power_norms(J, 10)
    assert np.all(norms[5:] == 0) and np.all(norms[:5] == 1)
    names = [t.name for t in F.plot_transient(k, norms).data]
    assert "‖Jᵏ‖₂ = 0 from k = 5 on" in names
    assert not any("= 0 from" in n for n in [t.name for t in F.plot_transient(k, 0.9**k).data])
