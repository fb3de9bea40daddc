"""Operator Lab figures, "Download everything" bundle and the ``nnspec lab`` command (no Streamlit).

The Operator Lab page (``app_pages/operator_lab.py``) and the command line both build their figures
here, so the command written into the page's bundle (``command.txt``, :func:`cli_command`)
regenerates the same figures and data: ``python -m nnspec_core lab --optimizer ... --out x.zip``.
The numerics live in :mod:`nnspec_core.lab`; this module only draws (Plotly builders from
:mod:`nnspec_core.figures` plus :func:`plot_ep_walk`) and packs the zip (:mod:`nnspec_core.export`).

Number formatting on the figures: every axis uses ``exponentformat="e"`` (``1e−4``, set by the theme's
``axis_style``), never Plotly's default SI suffixes (``100μ`` would read as an eigenvalue μ, ``10k`` as a step count).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from nnspec_core.exceptional import EP_BRANCHES, EPCurve, MapResult
from nnspec_core.figures import _log_range
from nnspec_core.lab import LabResult, LabSettings, LabWalk, settings_from_preset
from nnspec_core.quadratic import LAB_COORDS, LAB_OPTIMIZERS, PRESETS, V_MODES
from nnspec_core.theme import DEFAULT_THEME, Theme

__all__ = [
    "fmt",
    "fmt_pct",
    "pretty",
    "merged_curves",
    "plot_ep_walk",
    "log_ticks",
    "EP_WALK_TITLES",
    "text_width",
    "map_figure",
    "spectrum_figure",
    "transient_figure",
    "trajectory_figure",
    "trajectory_on_level_sets",
    "lab_figures",
    "lab_bundle_data",
    "cli_command",
    "bundle",
    "add_cli_arguments",
    "cli_settings",
    "run_cli",
    "EP_COLOR_INDEX",
]

#: Palette indices of the EP curves on the κ(V) map, by position of the branch in
#: ``EP_BRANCHES[optimizer]``: Okabe–Ito yellow and sky blue stay visible on the dark end of Magma.
EP_COLOR_INDEX: tuple[int, ...] = (6, 5)


# ------------------------------------------------------------------------------------ formatting
def fmt(x: float, digits: int = 3) -> str:
    """Short number for cards: ``3.2e4``, ``0.123``, ``∞`` for inf, ``—`` for NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x != 0 and (abs(x) >= 1e4 or abs(x) < 1e-3):
        mant, exp = f"{x:.{max(digits - 1, 1)}e}".split("e")
        mant = mant.rstrip("0").rstrip(".")
        return f"{mant}e{int(exp)}"
    return f"{x:.{digits}g}"


def fmt_pct(x: float) -> str:
    """Signed percentage (``+1.2 %``), ``0 %`` below 1e-9, ``—`` for NaN."""
    if math.isnan(x):
        return "—"
    if abs(x) < 1e-9:
        return "0 % (at the EP)"
    return f"{100 * x:+.3g} %"


#: Plain-text names in the preset captions and their symbols. Names are replaced as whole words only ("eta" inside
#: "theta" or "beta" is not η: replacing in sequence once turned "theta" into "thη"); one pass, so no replacement
#: is replaced again.
_PRETTY_WORDS = {"beta1": "β₁", "beta": "β", "eta": "η", "theta": "θ", "lam_max": "λ_max", "lam": "λ", "sqrt": "√",
                 "rho": "ρ", "kappa": "κ"}  # fmt: skip
_PRETTY_SYMBOLS = {"||J^k||": "‖Jᵏ‖", "^2": "²", "!=": "≠", "*": "·"}
_PRETTY_RE = re.compile("|".join([rf"\b{w}\b" for w in _PRETTY_WORDS] + [re.escape(t) for t in _PRETTY_SYMBOLS]))


def pretty(text: str) -> str:
    """Preset captions with Unicode symbols (``eta*lam`` -> ``η·λ``, ``theta`` -> ``θ``; ``metadata`` unchanged)."""
    return _PRETTY_RE.sub(lambda m: _PRETTY_WORDS.get(m.group(), _PRETTY_SYMBOLS.get(m.group(), m.group())), text)


def merged_curves(curves: Iterable[EPCurve]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """One legend entry per EP branch: the curves of all modes joined with NaN gaps (display only).

    Returns ``[(name, x, y), ...]`` in order of first appearance, ``name = "EP (<branch> branch)"``, ``x`` and ``y``
    of shape (m,) (the curves' (η, β) points with a NaN after each curve).
    """
    out: dict[str, tuple[list, list]] = {}
    for c in curves:
        xs, ys = out.setdefault(c.branch, ([], []))
        xs += [c.x, [np.nan]]
        ys += [c.y, [np.nan]]
    return [(f"EP ({b} branch)", np.concatenate(x), np.concatenate(y)) for b, (x, y) in out.items()]


# ------------------------------------------------------------------------------------ figures
#: Subplot titles of :func:`plot_ep_walk` (short: each must fit its half of a 1024 px wide figure in the talk theme).
EP_WALK_TITLES = ("eigenvalues μ of J", "κ(V) against η")
#: Average advance width of a character of the theme fonts (DejaVu Sans) as a fraction of the font size: an
#: estimate (a little high) of how wide a label is drawn, used to keep labels apart.
CHAR_WIDTH_EM = 0.6


def text_width(text: str, font_size: float) -> float:
    """Estimated drawn width in px of one line of ``text`` at ``font_size`` px (:data:`CHAR_WIDTH_EM` per character)."""
    return CHAR_WIDTH_EM * font_size * len(text)


_NICE_MANTISSAS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)


def log_ticks(lo: float, hi: float, n: int) -> list[float]:
    """At most ``n`` (>= 2) round tick values inside ``[lo, hi]`` (0 < lo < hi), about evenly spaced in log10.

    Powers of ten when the range spans at least ``n - 1`` decades (every k-th one). Otherwise, for each of ``n``
    log-evenly spaced targets, the nearest round value (mantissa 1, 1.2, 1.5, 2, 2.5, 3, 4, ..., 9) inside the
    range, dropping one closer than half the target spacing to the previous tick: ``0.0058 .. 0.0165`` gives
    ``[0.006, 0.01, 0.015]`` for ``n = 3``, where Plotly's own log ticks put six labels (0.006, 0.008, ..., 0.016)
    that collided at large fonts.
    """
    a, b = math.log10(lo), math.log10(hi)
    if b - a >= n - 1:
        k = max(1, math.ceil((math.floor(b) - math.ceil(a)) / (n - 1)))
        return [10.0**e for e in range(math.ceil(a), math.floor(b) + 1, k)]
    cands = np.array([m * 10.0**e for e in range(math.floor(a) - 1, math.ceil(b) + 1) for m in _NICE_MANTISSAS])
    cands = cands[(cands >= lo * (1 - 1e-12)) & (cands <= hi * (1 + 1e-12))]
    out: list[float] = []
    if cands.size:
        logs = np.log10(cands)
        gap = 0.5 * (b - a) / (n - 1)
        for target in np.linspace(a, b, n):
            j = int(np.argmin(np.abs(logs - target)))
            if not out or logs[j] - math.log10(out[-1]) >= gap:
                out.append(float(f"{cands[j]:.12g}"))
    for digits in range(2, 8):  # a range too narrow for round values: the targets with enough digits to differ
        if len(out) >= 2:
            break
        vals = {float(f"{v:.{digits - 1}e}") for v in 10.0 ** np.linspace(a, b, n)}
        out = sorted(v for v in vals if lo * (1 - 1e-12) <= v <= hi * (1 + 1e-12))
    return out


def plot_ep_walk(walk: LabWalk, *, theme: Theme = DEFAULT_THEME, title: str = "", animate: bool = True) -> go.Figure:
    """Eigenvalues in the complex plane and κ(V) against η while η sweeps across an exceptional point.

    Left (zoomed on the collision): unit circle, the path of the colliding pair over all frames
    (faint), and the eigenvalues of the current frame (J's, the colliding pair highlighted).
    Right: κ(V) against η (log-log) with the EP marked and the current frame as a marker
    (κ = ∞ at the EP frame is drawn at the top of the axis and labelled "∞"). With ``animate``
    the figure has one Plotly frame per sweep value, play/pause buttons and a slider below the
    plots; it starts at the first frame. Built from plain dicts in one validated step (frames make
    per-call validation expensive).

    Layout (robust to narrow windows and the talk theme): each subplot's title is centred on its
    own subplot (``"x domain"`` / ``"x2 domain"``) just above it, short enough to fit there; the
    "EP" label sits inside the κ(V) plot at the bottom of the EP line (clear of the titles); the
    buttons and the slider sit below the axis titles, offset in px from the font size; the η axis
    has three round ticks (:func:`log_ticks`) so its labels neither collide nor turn. Both right
    axes are padded so every frame's marker (and the star's label) stays inside the plot.

    Parameters
    ----------
    walk : LabWalk
        Frames from :func:`nnspec_core.lab.lab_walk` (``lr`` of shape (m,), ``eigenvalues`` (m, d),
        ``mode_eigenvalues`` (m, 2), ``kappa_V`` (m,)).
    theme : Theme
    title : str
    animate : bool
        Add frames, play button and slider; otherwise a static figure showing the EP frame.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    from nnspec_core.theme import axis_style, layout_style, theme_meta

    if not isinstance(walk, LabWalk):
        raise TypeError(f"walk must be a LabWalk (from nnspec_core.lab.lab_walk); got {type(walk).__name__}.")
    if not isinstance(theme, Theme):
        raise TypeError(f"theme must be a Theme; got {type(theme).__name__}.")
    m = walk.lr.size
    kap = np.asarray(walk.kappa_V, float)
    finite = kap[np.isfinite(kap)]
    top = float(finite.max()) * 3.0 if finite.size else 10.0
    kap_draw = np.where(np.isfinite(kap), kap, top)
    pair = walk.mode_eigenvalues
    ms = theme.marker_size
    f = float(theme.font_size)
    t = np.linspace(0, 2 * np.pi, 241)
    right = dict(xaxis="x2", yaxis="y2")
    data = [
        dict(type="scatter", x=np.cos(t), y=np.sin(t), mode="lines", name="|μ| = 1", hoverinfo="skip",
             line=dict(color=theme.text_color, width=1, dash="dot")),
        dict(type="scatter", x=pair.real.ravel(), y=pair.imag.ravel(), mode="markers", name="path of the pair",
             marker=dict(size=0.5 * ms, color=theme.color(5), opacity=0.45), hoverinfo="skip"),
        dict(type="scatter", x=walk.lr, y=np.where(np.isfinite(kap), kap, np.nan), mode="lines", name="κ(V)",
             line=dict(color=theme.color(0), width=theme.line_width), **right),
    ]  # fmt: skip

    def moving(i: int) -> list[dict]:
        e = walk.eigenvalues[i]
        label = f"η = {fmt(walk.lr[i])}, κ(V) = {fmt(kap[i])}"
        return [
            dict(type="scatter", x=e.real, y=e.imag, mode="markers", name="eigenvalues of J",
                 marker=dict(size=ms, color=theme.color(2))),
            dict(type="scatter", x=pair[i].real, y=pair[i].imag, mode="markers", name="colliding pair",
                 marker=dict(size=1.6 * ms, color=theme.color(1), symbol="x")),
            dict(type="scatter", x=[walk.lr[i]], y=[kap_draw[i]], mode="markers+text", name="current η",
                 text=[fmt(kap[i])], textposition="top center", hovertemplate=label + "<extra></extra>",
                 cliponaxis=False, marker=dict(size=1.6 * ms, color=theme.color(1), symbol="star"), **right),
        ]  # fmt: skip

    start = 0 if animate else walk.ep_index
    data += moving(start)
    # zoom on the collision: a square around the pair's path (the unit circle shows where it passes)
    cx, cy = 0.5 * (pair.real.max() + pair.real.min()), 0.0
    half = 0.65 * max(float(np.ptp(pair.real)), 2 * float(np.abs(pair.imag).max()), 0.05)
    xr, yr = [cx - half, cx + half], [cy - half, cy + half]
    # κ(V) plot: every frame's star inside (5 % of the η range on each side; below κ = 1 if a frame has κ ≈ 1,
    # and above the top frame by room for the star's label)
    x2r = _log_range(walk.lr, pad=0.05)
    y2lo = min(0.0, math.log10(float(kap_draw.min()))) - 0.08 * math.log10(top)
    y2r = [y2lo, math.log10(top) + max(0.3, 0.15 * (math.log10(top) - y2lo))]
    # three η ticks: Plotly's own log ticks on a short range are 6 or more, whose labels collided (0.012, 0.014,
    # 0.016 in the talk theme) or were turned on their side (a 1024 px window)
    eta_ticks = log_ticks(10.0 ** x2r[0], 10.0 ** x2r[1], 3)
    ax = axis_style(theme)  # exponentformat "e": not SI ("250μ" would read as an eigenvalue, "10k" as k)
    layout = layout_style(theme, has_title=bool(title))
    # vertical room: titles (one line) above the plots; below them the tick labels and axis titles, then the
    # animation controls, then the legend (anchored to the bottom of the figure, up to three rows)
    controls_gap = round(3.6 * f + 16)  # px from the plot bottom to the controls: ticks, tick labels, axis title
    legend_h = round(3 * 1.5 * f + 10)
    controls_h = round(1.4 * f + 34) if animate else 0
    margin = dict(layout["margin"])
    margin["t"] = max(margin["t"], round(1.5 * f + 12 + (theme.title_font_size + 12 if title else 0)))
    margin["b"] = controls_gap + controls_h + legend_h + 10
    titles = [dict(text=text, x=0.5, xref=f"{xa} domain", xanchor="center", y=1.0, yref=f"{ya} domain",
                   yanchor="bottom", yshift=6, showarrow=False, font=dict(size=f))
              for text, xa, ya in zip(EP_WALK_TITLES, ("x", "x2"), ("y", "y2"), strict=True)]  # fmt: skip
    layout |= dict(
        title=dict(text=title, x=0.0, xanchor="left"), height=480 if theme.height is None else theme.height,
        uirevision="ep_walk", hovermode="closest", meta={"nnspec_theme": theme_meta(theme)}, margin=margin,
        legend=dict(orientation="h", yref="container", y=0.0, yanchor="bottom", x=0.0, bgcolor="rgba(0,0,0,0)"),
        xaxis=ax | dict(domain=[0.0, 0.42], range=xr, title=dict(text="Re μ")),
        yaxis=ax | dict(range=yr, title=dict(text="Im μ"), scaleanchor="x", scaleratio=1),
        xaxis2=ax | dict(domain=[0.58, 1.0], type="log", range=x2r, title=dict(text="learning rate η"), anchor="y2",
                         tickvals=eta_ticks, ticktext=[fmt(v) for v in eta_ticks]),
        yaxis2=ax | dict(type="log", title=dict(text="κ(V)"), range=y2r, anchor="x2"),
        shapes=[dict(type="line", xref="x2", x0=walk.lr_ep, x1=walk.lr_ep, yref="y2 domain", y0=0, y1=1,
                     line=dict(color=theme.color(1), width=1, dash="dash"))],
        # "EP" inside the plot at the foot of its line: above the plot it ran into the right title (talk theme)
        annotations=[dict(x=math.log10(walk.lr_ep), xref="x2", y=0.0, yref="y2 domain", text="EP", showarrow=False,
                          xanchor="left", yanchor="bottom", xshift=3, yshift=2, font=dict(color=theme.color(1))),
                     *titles],
    )  # fmt: skip
    frames = []
    if animate:
        frames = [dict(data=moving(i), traces=[3, 4, 5], name=str(i)) for i in range(m)]
        still = dict(frame=dict(duration=0, redraw=False), mode="immediate")
        play = dict(frame=dict(duration=120, redraw=False), transition=dict(duration=0), mode="immediate",
                    fromcurrent=True)  # fmt: skip
        # symbols only: the buttons share a row with the slider, which kept too little rail on narrow charts
        buttons = [dict(label="▶", method="animate", args=[None, play]),
                   dict(label="❚❚", method="animate", args=[[None], still])]  # fmt: skip
        steps = [dict(method="animate", label=f"{walk.lr[i]:.3g}", args=[[str(i)], still]) for i in range(m)]
        buttons_w = round(text_width("▶❚❚", f) + 60)  # the two buttons side by side, with their padding
        value_h = round(1.4 * f)  # the slider's "η = ..." line above its rail: the buttons line up with the rail
        layout |= dict(
            updatemenus=[dict(type="buttons", showactive=False, x=0.0, y=0.0, xanchor="left", yanchor="top",
                              direction="left", buttons=buttons, pad=dict(t=controls_gap + value_h, l=0))],
            sliders=[dict(active=start, x=0.0, len=1.0, y=0.0, yanchor="top", steps=steps, ticklen=0,
                          minorticklen=0, font=dict(color="rgba(0,0,0,0)"),  # step labels only in currentvalue
                          pad=dict(t=controls_gap, l=buttons_w + round(f) + 16, b=0),
                          currentvalue=dict(prefix="η = ", font=dict(color=theme.text_color)))],
        )  # fmt: skip
    return go.Figure(data=data, layout=layout, frames=frames)


def _check_result(r: object) -> LabResult:
    if not isinstance(r, LabResult):
        raise TypeError(f"r must be a LabResult (from nnspec_core.lab.lab_state); got {type(r).__name__}.")
    return r


def _check_map(pmap: object) -> MapResult:
    if not isinstance(pmap, MapResult):
        raise TypeError(f"pmap must be a MapResult (from nnspec_core.lab.lab_map); got {type(pmap).__name__}.")
    return pmap


def map_figure(r: LabResult, pmap: MapResult, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """The clickable log₁₀ κ(V) map over (η, β) with the ρ(J) = 1 contour, EP curves and the current point.

    Parameters
    ----------
    r : LabResult
        State at the current setting (``r.ep_curves`` and ``r.settings`` are used).
    pmap : MapResult
        The map (``x`` = η of shape (nx,), ``y`` = β of shape (ny,), ``log10_kappa`` and ``rho`` of shape (ny, nx)).
    theme : Theme

    Returns
    -------
    plotly.graph_objects.Figure
        EP curves are named ``"EP (<branch> branch)"`` and drawn in the theme palette colours
        ``EP_COLOR_INDEX`` (bright on the dark end of the colour map).
    """
    from nnspec_core.figures import plot_param_map

    s = _check_result(r).settings
    pmap = _check_map(pmap)
    y_name = {"adam": "β₁", "gd": "β (not used by GD)"}.get(s.optimizer, "momentum β")
    z = pmap.log10_kappa
    finite = z[np.isfinite(z)]
    cap = float(np.clip(finite.max(), 2.0, 8.0)) if finite.size else 2.0  # κ = ∞ cells at the top of the range
    fig = plot_param_map(pmap.x, pmap.y, z, x_name="learning rate η", y_name=y_name, z_cap=cap, contour_z=pmap.rho,
                         curves=merged_curves(r.ep_curves), marker=(s.lr, s.momentum), title="log₁₀ κ(V) over (η, β)",
                         theme=theme)  # fmt: skip
    # the EP curves must stay visible on the dark end of the colour map: bright palette colours, by branch
    branches = EP_BRANCHES[s.optimizer]
    for k, branch in enumerate(branches):
        color = theme.color(EP_COLOR_INDEX[k % len(EP_COLOR_INDEX)])
        fig.update_traces(line_color=color, selector=dict(name=f"EP ({branch} branch)"))
    return fig


def spectrum_figure(r: LabResult, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Eigenvalues μ of J (shape (d,)) with the unit circle and ε-pseudospectral contours (absolute ε)."""
    from nnspec_core.figures import plot_spectrum

    ps = _check_result(r).pseudo
    fig = plot_spectrum(r.eigenvalues, cond=r.eigval_condition, pseudo=(ps.re, ps.im, ps.sigma_min),
                        eps_levels=r.eps_levels, title="eigenvalues μ and ε-pseudospectra",
                        theme=theme)  # fmt: skip
    return fig


def transient_figure(r: LabResult, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """‖Jᵏ‖₂ against k (shape (k_max + 1,)) with the κ(V) ρᵏ upper bound and the Kreiss lower bound."""
    from nnspec_core.figures import plot_transient

    _check_result(r)
    upper = r.upper_bound if np.isfinite(r.upper_bound).any() else None
    kreiss = r.kreiss if math.isfinite(r.kreiss) else None
    fig = plot_transient(r.k, r.power_norms, upper=upper, kreiss_lower=kreiss, title="transient growth ‖Jᵏ‖₂",
                         theme=theme)  # fmt: skip
    return fig


def trajectory_on_level_sets(r: LabResult) -> bool:
    """Whether :func:`trajectory_figure` draws the loss level sets: only for a 2-D θ (n = 2 eigenvalues of H); for
    n > 2 it shows the first two coordinates of θ alone (a slice would not be the loss seen by the iterates)."""
    return _check_result(r).H.shape[0] == 2


def trajectory_figure(r: LabResult, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Iterates θₖ (shape (k_max + 1, n)) in θ-space: on the loss level sets (n = 2), else the first two coordinates."""
    from nnspec_core.figures import plot_trajectory_2d

    if trajectory_on_level_sets(r):
        fig = plot_trajectory_2d(r.thetas, H=r.H, title="iterates θₖ in θ-space", theme=theme)
    else:
        fig = plot_trajectory_2d(r.thetas[:, :2], title="iterates θₖ (first two coordinates)", theme=theme)
    return fig


def lab_figures(
    r: LabResult, *, pmap: MapResult | None = None, walk: LabWalk | None = None, theme: Theme = DEFAULT_THEME
) -> dict[str, go.Figure]:
    """The Operator Lab's figures by file stem: kappa_map, spectrum, transient, trajectory (and ep_walk).

    Parameters
    ----------
    r : LabResult
    pmap : MapResult, optional
        The κ(V) map; default ``r.map`` (present when ``lab_state`` ran with ``include_map=True``).
    walk : LabWalk, optional
        Adds the static-start animation ``ep_walk`` (:func:`plot_ep_walk`).
    theme : Theme

    Returns
    -------
    dict of str -> plotly.graph_objects.Figure
    """
    pmap = _check_result(r).map if pmap is None else pmap
    if pmap is None:
        raise ValueError("pmap is required when r has no map (lab_state(..., include_map=False)).")
    figs = {"kappa_map": map_figure(r, pmap, theme), "spectrum": spectrum_figure(r, theme),
            "transient": transient_figure(r, theme), "trajectory": trajectory_figure(r, theme)}  # fmt: skip
    if walk is not None:
        figs["ep_walk"] = plot_ep_walk(walk, theme=theme)
    return figs


def lab_bundle_data(r: LabResult, pmap: MapResult) -> dict[str, Any]:
    """The data behind the lab's figures, as written under ``data/`` of the bundle.

    Keys: ``operator_J`` (d, d); ``eigenvalues`` (re, im, eigval_condition, each (d,)); ``transient``
    (k, norm_Jk, kappa_rho_k, each (k_max + 1,)); ``trajectory_theta`` (k_max + 1, n); ``map_log10_kappa``
    and ``map_rho`` (ny, nx); ``map_axes`` (lr (nx,), momentum (ny,)); ``pseudospectrum_sigma_min``
    (n_grid, n_grid); ``pseudospectrum_axes`` (re, im); ``cards`` (scalars).
    """
    _check_result(r)
    _check_map(pmap)
    return {
        "operator_J": r.J,
        "eigenvalues": {"re": r.eigenvalues.real.copy(), "im": r.eigenvalues.imag.copy(),
                        "eigval_condition": r.eigval_condition},
        "transient": {"k": r.k.astype(float), "norm_Jk": r.power_norms, "kappa_rho_k": r.upper_bound},
        "trajectory_theta": r.thetas,
        "map_log10_kappa": pmap.log10_kappa,
        "map_rho": pmap.rho,
        "map_axes": {"lr": pmap.x, "momentum": pmap.y},
        "pseudospectrum_sigma_min": r.pseudo.sigma_min,
        "pseudospectrum_axes": {"re": r.pseudo.re, "im": r.pseudo.im},
        "cards": {"rho": r.rho, "kappa_V": r.kappa_V, "at_ep": r.at_ep, "ep_lr": r.ep_lr, "ep_rel": r.ep_rel,
                  "ep_branch": r.ep_branch, "ep_distance": r.ep_distance, "peak": r.peak, "peak_k": r.peak_k,
                  "kreiss": r.kreiss, "commutator": r.commutator, "departure": r.departure},
    }  # fmt: skip


#: LabSettings fields the page never changes: written into the command only when they differ from the default.
_EXTRA_FLAGS = (("eps", "--eps"), ("momentum_range", "--momentum-range"), ("n_map", "--n-map"), ("n_grid", "--n-grid"))


def _arg(x: float) -> str:
    """A float as a command-line value that argparse reads back exactly.

    ``repr`` (shortest exact form), except that a negative number in exponent form (``-1e-05``) would be
    taken for a flag: it is written positionally instead (``-0.00001``, still exact).
    """
    text = repr(float(x))
    if text.startswith("-") and "e" in text:
        text = np.format_float_positional(float(x), unique=True, trim="0")
    return text


def cli_command(s: LabSettings, *, walk: bool = False) -> str:
    """The ``python -m nnspec_core lab ...`` command that regenerates the lab's figures and data.

    Floats are written exactly (:func:`repr`); ``eps``, ``momentum_range``, ``n_map`` and ``n_grid``
    appear only when they differ from the :class:`LabSettings` defaults. Parsing the command with
    :func:`add_cli_arguments` and :func:`cli_settings` gives back ``s`` exactly.
    """
    if not isinstance(s, LabSettings):
        raise TypeError(f"s must be a LabSettings; got {type(s).__name__}.")
    lam = ",".join(repr(float(x)) for x in s.eigenvalues)
    lam_flag = f"--eigenvalues={lam}" if lam.startswith("-") else f"--eigenvalues {lam}"  # "-1.0,2.0" is no flag
    extra = ""
    default = LabSettings()
    for name, flag in _EXTRA_FLAGS:
        value = getattr(s, name)
        if value != getattr(default, name):
            extra += f"{flag} {' '.join(map(_arg, value)) if isinstance(value, tuple) else repr(value)} "
    return (f"python -m nnspec_core lab --optimizer {s.optimizer} --coords {s.coords} {lam_flag} "
            f"{'--walk ' if walk else ''}"
            f"--angle {_arg(s.angle)} --v-mode {s.v_mode} --lr {_arg(s.lr)} --momentum {_arg(s.momentum)} "
            f"--step {s.step} --lr-range {_arg(s.lr_range[0])} {_arg(s.lr_range[1])} --k-max {s.k_max} "
            f"--theta0 {_arg(s.theta0[0])} {_arg(s.theta0[1])} {extra}--out operator_lab.zip")  # fmt: skip


def bundle(
    figs: dict[str, go.Figure],
    r: LabResult,
    *,
    pmap: MapResult,
    settings: LabSettings,
    preset: str,
    formats: tuple[str, ...] = ("png", "svg", "pdf", "html"),
) -> bytes:
    """The "Download everything" zip: figures (PNG/SVG/PDF/HTML), data, settings and CLI command.

    Parameters
    ----------
    figs : dict of str -> Figure
        Figures by file stem (``"ep_walk"`` present adds ``--walk`` to the command).
    r : LabResult
    pmap : MapResult
    settings : LabSettings
        The settings ``r`` was computed with; written as ``settings.json`` with ``preset``.
    preset : str
        Preset key, or ``"custom"``.
    formats : tuple of {"png", "svg", "pdf", "html"}

    Returns
    -------
    bytes
        Zip with ``figures/<name>.<fmt>``, ``data/...`` (:func:`lab_bundle_data`), ``settings.json`` and
        ``command.txt`` (:func:`cli_command`).
    """
    from nnspec_core.export import bundle_zip

    data = lab_bundle_data(r, pmap)
    meta = dataclasses.asdict(settings) | {"preset": preset}
    cmd = cli_command(settings, walk="ep_walk" in figs)
    return bundle_zip(figs, data=data, settings=meta, cli_command=cmd, formats=formats)


# ------------------------------------------------------------------------------------ CLI
_FORMATS = ("png", "svg", "pdf", "html")


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``python -m nnspec_core lab`` (the command in the Operator Lab's export bundle)."""
    parser.add_argument("--preset", choices=tuple(PRESETS), help="start from this preset (else LabSettings defaults)")
    parser.add_argument("--optimizer", choices=LAB_OPTIMIZERS)
    parser.add_argument("--coords", choices=sorted({c for cs in LAB_COORDS.values() for c in cs}))
    parser.add_argument("--eigenvalues", help="Hessian eigenvalues, comma separated (e.g. 1.0,0.2)")
    parser.add_argument("--angle", type=float, help="rotation of H against the axes (radians)")
    parser.add_argument("--v-mode", choices=V_MODES)
    parser.add_argument("--eps", type=float, help="Adam's epsilon (absolute)")
    parser.add_argument("--lr", type=float, help="learning rate eta (per step)")
    parser.add_argument("--momentum", type=float, help="beta (beta1 for Adam)")
    parser.add_argument("--step", type=int, help="Adam's bias-correction step t")
    parser.add_argument("--lr-range", type=float, nargs=2, metavar=("LO", "HI"), help="eta range of the map")
    parser.add_argument("--momentum-range", type=float, nargs=2, metavar=("LO", "HI"), help="beta range of the map")
    parser.add_argument("--k-max", type=int, help="steps k of ||J^k|| and of the trajectory")
    parser.add_argument("--theta0", type=float, nargs=2, metavar=("A", "B"), help="start (first, other coordinates)")
    parser.add_argument("--n-map", type=int, help="points per axis of the kappa(V) map")
    parser.add_argument("--n-grid", type=int, help="points per axis of the pseudospectrum grid")
    parser.add_argument("--walk", action="store_true", help="also write the walk-through-an-EP animation")
    parser.add_argument("--formats", nargs="+", default=list(_FORMATS), choices=_FORMATS)
    parser.add_argument("--out", required=True, help="zip file to write")


def cli_settings(args: argparse.Namespace) -> tuple[LabSettings, str]:
    """``(settings, preset key or "custom")`` from parsed CLI arguments (flags override the preset)."""
    s = settings_from_preset(args.preset) if args.preset else LabSettings()
    fields = {"optimizer": args.optimizer, "coords": args.coords, "angle": args.angle, "v_mode": args.v_mode,
              "eps": args.eps, "lr": args.lr, "momentum": args.momentum, "step": args.step, "k_max": args.k_max,
              "n_map": args.n_map, "n_grid": args.n_grid}  # fmt: skip
    over: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if args.eigenvalues:
        try:
            over["eigenvalues"] = tuple(float(x) for x in args.eigenvalues.split(","))
        except ValueError:
            raise ValueError(f"--eigenvalues must be comma-separated numbers; got {args.eigenvalues!r}.") from None
    for name in ("lr_range", "momentum_range", "theta0"):
        if getattr(args, name):
            over[name] = tuple(getattr(args, name))
    if "optimizer" in over and "coords" not in over:
        over["coords"] = LAB_COORDS[over["optimizer"]][0]
    return dataclasses.replace(s, **over), (args.preset or "custom")


def run_cli(args: argparse.Namespace) -> int:
    """Write the Operator Lab bundle (figures, data, settings, command) for one setting to ``args.out``."""
    from nnspec_core.lab import lab_state, lab_walk

    s, preset = cli_settings(args)
    r = lab_state(s)
    figs = lab_figures(r, walk=lab_walk(s) if args.walk else None)
    out = Path(args.out)
    out.write_bytes(bundle(figs, r, pmap=r.map, settings=s, preset=preset, formats=tuple(args.formats)))
    print(f"wrote {out} ({len(figs)} figures)")
    return 0
