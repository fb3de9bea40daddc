"""Operator Lab UI pieces: number formatting, the "walk through an EP" figure, widgets and their callbacks.

The numerics live in :mod:`nnspec_core.lab`; this module only turns widget values into a
:class:`nnspec_core.lab.LabSettings`, moves sliders (preset, map click, snap) through
``st.session_state`` callbacks (which run before the widgets are created on the rerun), and draws
the walk animation (a pure Plotly builder, :func:`plot_ep_walk`, no numerics).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go

from nnspec_core.lab import LabSettings, LabWalk, settings_from_preset
from nnspec_core.quadratic import LAB_COORDS, LAB_OPTIMIZERS, PRESETS
from nnspec_core.theme import DEFAULT_THEME, Theme

DEFAULT_PRESET = "critical_damping"
OPT_NAMES = {"gd": "gradient descent", "heavy_ball": "heavy ball", "nesterov": "Nesterov", "adam": "Adam (frozen M)"}
COORD_NAMES = {
    "history": "history [θₖ; θₖ₋₁]",
    "buffer": "torch buffer [θ; b]",
    "scaled": "scaled [θ; u], u = η c₁ M m",
    "raw": "torch [θ; m]",
    "theta": "θ",
}
V_MODE_NAMES = {"aligned": "fitted to the unrotated H", "diag": "fitted to the rotated H", "ones": "M = I"}
LOG_LR = (-5.0, 1.0, 0.001)  # slider over log10 eta: min, max, step
BETA = (0.0, 0.999, 0.001)
EXACT_KEY = "_lab_lr_exact"  # exact eta after a snap (the slider holds log10 eta rounded to its step)
MSG_KEY = "_lab_message"


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


# ------------------------------------------------------------------------------------ walk figure
def plot_ep_walk(walk: LabWalk, *, theme: Theme = DEFAULT_THEME, title: str = "", animate: bool = True) -> go.Figure:
    """Eigenvalues in the complex plane and κ(V) against η while η sweeps across an exceptional point.

    Left (zoomed on the collision): unit circle, the path of the colliding pair over all frames
    (faint), and the eigenvalues of the current frame (J's, the colliding pair highlighted).
    Right: κ(V) against η (log-log) with the EP marked and the current frame as a marker
    (κ = ∞ at the EP frame is drawn at the top of the axis and labelled "∞"). With ``animate``
    the figure has one Plotly frame per sweep value, a play button and a slider; it starts at
    the first frame. Built from plain dicts in one validated step (frames make per-call
    validation expensive).

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

    m = walk.lr.size
    kap = np.asarray(walk.kappa_V, float)
    finite = kap[np.isfinite(kap)]
    top = float(finite.max()) * 3.0 if finite.size else 10.0
    kap_draw = np.where(np.isfinite(kap), kap, top)
    pair = walk.mode_eigenvalues
    ms = theme.marker_size
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
                 marker=dict(size=1.6 * ms, color=theme.color(1), symbol="star"), **right),
        ]  # fmt: skip

    start = 0 if animate else walk.ep_index
    data += moving(start)
    # zoom on the collision: a square around the pair's path (the unit circle shows where it passes)
    cx, cy = 0.5 * (pair.real.max() + pair.real.min()), 0.0
    half = 0.65 * max(float(np.ptp(pair.real)), 2 * float(np.abs(pair.imag).max()), 0.05)
    xr, yr = [cx - half, cx + half], [cy - half, cy + half]
    ax = axis_style(theme)
    layout = layout_style(theme, has_title=bool(title))
    layout |= dict(
        title=dict(text=title, x=0.0, xanchor="left"), height=460 if theme.height is None else theme.height,
        uirevision="ep_walk", hovermode="closest", meta={"nnspec_theme": theme_meta(theme)},
        legend=dict(orientation="h", yref="container", y=0.0, yanchor="bottom", x=0.0, bgcolor="rgba(0,0,0,0)"),
        xaxis=ax | dict(domain=[0.0, 0.42], range=xr, title=dict(text="Re μ")),
        yaxis=ax | dict(range=yr, title=dict(text="Im μ"), scaleanchor="x", scaleratio=1),
        xaxis2=ax | dict(domain=[0.58, 1.0], type="log", title=dict(text="learning rate η"), anchor="y2",
                         exponentformat="e"),  # not "SI": "250μ" would read as an eigenvalue
        yaxis2=ax | dict(type="log", title=dict(text="κ(V)"), range=[0, math.log10(top) + 0.3], anchor="x2"),
        shapes=[dict(type="line", xref="x2", x0=walk.lr_ep, x1=walk.lr_ep, yref="y2 domain", y0=0, y1=1,
                     line=dict(color=theme.color(1), width=1, dash="dash"))],
        annotations=[dict(x=math.log10(walk.lr_ep), xref="x2", y=1.0, yref="y2 domain", text="EP", showarrow=False,
                          yanchor="bottom", font=dict(color=theme.color(1))),
                     dict(x=0.21, xref="paper", y=1.0, yref="paper", yanchor="bottom", showarrow=False, yshift=18,
                          text="eigenvalues μ of J (zoomed on the collision)"),
                     dict(x=0.79, xref="paper", y=1.0, yref="paper", yanchor="bottom", showarrow=False, yshift=18,
                          text="κ(V) against η")],
    )  # fmt: skip
    frames = []
    if animate:
        frames = [dict(data=moving(i), traces=[3, 4, 5], name=str(i)) for i in range(m)]
        still = dict(frame=dict(duration=0, redraw=False), mode="immediate")
        play = dict(frame=dict(duration=120, redraw=False), transition=dict(duration=0), mode="immediate",
                    fromcurrent=True)  # fmt: skip
        buttons = [dict(label="▶ play", method="animate", args=[None, play]),
                   dict(label="❚❚ pause", method="animate", args=[[None], still])]  # fmt: skip
        steps = [dict(method="animate", label=f"{walk.lr[i]:.3g}", args=[[str(i)], still]) for i in range(m)]
        layout |= dict(
            updatemenus=[dict(type="buttons", showactive=False, x=0.0, y=1.18, xanchor="left", yanchor="bottom",
                              direction="left", buttons=buttons)],
            sliders=[dict(active=start, x=0.0, len=1.0, y=-0.16, yanchor="top", steps=steps, ticklen=0,
                          minorticklen=0, font=dict(color="rgba(0,0,0,0)"),  # step labels only in currentvalue
                          currentvalue=dict(prefix="η = ", font=dict(color=theme.text_color)))],
        )  # fmt: skip
        layout["margin"] = dict(layout.get("margin", {})) | dict(t=110, b=130)
    return go.Figure(data=data, layout=layout, frames=frames)


# ------------------------------------------------------------------------------------ widget state
def preset_widget_values(key: str) -> dict[str, Any]:
    """Widget values (by widget key) that the preset ``key`` sets."""
    p = PRESETS[key]
    s = settings_from_preset(key)
    vals: dict[str, Any] = {
        "opt": p.optimizer,
        "spec": p.spectrum,
        "lam1": float(p.eigenvalues[0]),
        "lam2": float(p.eigenvalues[1]) if len(p.eigenvalues) > 1 else 0.1,
        "n": int(p.n),
        "log_kH": round(math.log10(p.kappa_H), 1),
        "lam_max": float(p.lam_max),
        "angle": int(round(math.degrees(p.angle))),
        "v_mode": p.v_mode,
        "step": int(p.step),
        "log_lr": round(math.log10(p.lr), 3),
        "beta": round(s.momentum, 3),
        "k_max": int(p.k_max),
        "th1": float(p.theta0[0]),
        "th2": float(p.theta0[1]),
        "lr_win": (round(math.log10(p.lr_range[0]), 1), round(math.log10(p.lr_range[1]), 1)),
        "coords_m": p.coords if p.optimizer in ("heavy_ball", "nesterov") else "history",
        "coords_a": p.coords if p.optimizer == "adam" else "scaled",
    }
    return vals


def apply_preset(session: Any) -> None:
    """Callback of the preset selector: move every slider to the chosen preset (before they are drawn)."""
    key = session.get("preset", DEFAULT_PRESET)
    for k, v in preset_widget_values(key).items():
        session[k] = v
    session[EXACT_KEY] = float(PRESETS[key].lr)
    session.pop(MSG_KEY, None)


def resolve_lr(log_lr: float, preset_key: str, session: Any) -> float:
    """η from the log₁₀ η slider; an exact value (after a snap or from the preset) wins if the slider still shows it."""
    half = 0.5 * LOG_LR[2] + 1e-12
    for cand in (session.get(EXACT_KEY), float(PRESETS[preset_key].lr)):
        if cand and abs(math.log10(cand) - log_lr) <= half:
            return float(cand)
    return float(10.0**log_lr)


def set_lr_beta(session: Any, lr: float, beta: float | None, *, exact: bool = False) -> None:
    """Move the η (and β) sliders; keep the exact η when ``exact``."""
    lo, hi, step = LOG_LR
    session["log_lr"] = float(min(max(round(math.log10(lr) / step) * step, lo), hi))
    session["log_lr"] = round(session["log_lr"], 3)
    if beta is not None:
        session["beta"] = round(min(max(float(beta), BETA[0]), BETA[1]), 3)
    if exact:
        session[EXACT_KEY] = float(lr)
    else:
        session.pop(EXACT_KEY, None)


def map_click(session: Any, chart_key: str) -> None:
    """``on_select`` callback of the κ(V) map: the clicked grid point becomes the current (η, β)."""
    state = session.get(chart_key)
    try:
        points = state["selection"]["points"]
    except (KeyError, TypeError):
        return
    for pt in points:  # a grid point's x, y are its (η, β); the browser reports customdata as a dict
        try:
            lr, beta = float(pt["x"]), float(pt["y"])
        except (KeyError, TypeError, ValueError):
            continue
        if lr > 0 and 0 <= beta < 1:
            set_lr_beta(session, lr, beta)
            session.pop(MSG_KEY, None)
            return


def snap(session: Any, settings_fn: Callable[[], LabSettings], snap_fn: Callable[[LabSettings], Any]) -> None:
    """Callback of "Snap to nearest EP": move η to the nearest exceptional point (β fixed)."""
    try:
        s = settings_fn()
        target = snap_fn(s)
    except (ValueError, TypeError) as err:
        session[MSG_KEY] = ("error", str(err).splitlines()[0])
        return
    if not target.found:
        session[MSG_KEY] = ("info", "No exceptional point along η here: "
                            + ("gradient descent on a symmetric H has none (J is symmetric)."
                               if s.optimizer == "gd" else "none inside the η slider range at this β."))  # fmt: skip
        return
    set_lr_beta(session, target.lr, None, exact=True)
    session[MSG_KEY] = ("success", f"Snapped η to {fmt(target.lr, 6)} ({target.branch} EP of the mode with curvature "
                        f"{fmt(target.lam)}); the numerical search found {fmt(target.lr_numeric, 6)}.")  # fmt: skip


def coords_key(optimizer: str) -> str | None:
    """Widget key of the state-convention selector for ``optimizer`` (None for gd)."""
    return {"heavy_ball": "coords_m", "nesterov": "coords_m", "adam": "coords_a"}.get(optimizer)


def lab_settings(v: dict[str, Any], *, lr: float) -> LabSettings:
    """:class:`LabSettings` from widget values ``v`` (keys as in :func:`preset_widget_values`)."""
    opt = v["opt"]
    ck = coords_key(opt)
    coords = v[ck] if ck else "theta"
    if v["spec"] == "log":
        n, kH, lmax = int(v["n"]), 10.0 ** float(v["log_kH"]), float(v["lam_max"])
        lam = tuple(float(x) for x in lmax * np.geomspace(1.0, 1.0 / kH, n))
    else:
        lam = (float(v["lam1"]), float(v["lam2"]))
    lo, hi = v["lr_win"]
    return LabSettings(
        optimizer=opt, coords=coords, eigenvalues=lam, angle=math.radians(float(v["angle"])),
        v_mode=v["v_mode"], lr=lr, momentum=float(v["beta"]) if opt != "gd" else 0.0, step=int(v["step"]),
        lr_range=(10.0 ** float(lo), 10.0 ** float(hi)), k_max=int(v["k_max"]),
        theta0=(float(v["th1"]), float(v["th2"])),
    )  # fmt: skip


_PRETTY = (("beta1", "β₁"), ("beta", "β"), ("eta", "η"), ("lam_max", "λ_max"), ("lam", "λ"), ("sqrt", "√"),
           ("rho(J)", "ρ(J)"), ("rho", "ρ"), ("kappa(V)", "κ(V)"), ("kappa", "κ"), ("||J^k||", "‖Jᵏ‖"), ("^2", "²"),
           ("!=", "≠"), ("theta", "θ"), ("*", "·"))  # fmt: skip


def pretty(text: str) -> str:
    """Preset captions with Unicode symbols (``eta*lam`` -> ``η·λ``)."""
    for a, b in _PRETTY:
        text = text.replace(a, b)
    return text


def merged_curves(curves: Any) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """One legend entry per EP branch: the curves of all modes joined with NaN gaps (display only)."""
    out: dict[str, tuple[list, list]] = {}
    for c in curves:
        xs, ys = out.setdefault(c.branch, ([], []))
        xs += [c.x, [np.nan]]
        ys += [c.y, [np.nan]]
    return [(f"EP ({b} branch)", np.concatenate(x), np.concatenate(y)) for b, (x, y) in out.items()]


def controls(st: Any, d: dict[str, Any], preset: str) -> dict[str, Any]:
    """Draw the lab's widgets (defaults ``d`` from ``preset``, values bound to the URL); return their values."""
    q = dict(bind="query-params")
    v: dict[str, Any] = {}
    v["opt"] = st.selectbox("Optimizer", LAB_OPTIMIZERS, index=LAB_OPTIMIZERS.index(d["opt"]),
                            format_func=OPT_NAMES.get, key="opt", **q)  # fmt: skip
    for key in ("coords_m", "coords_a"):
        v[key] = st.session_state.get(key, d[key])
    ck = coords_key(v["opt"])
    if ck:
        opts = LAB_COORDS[v["opt"]]
        v[ck] = st.radio("State coordinates", opts, index=opts.index(d[ck]) if d[ck] in opts else 0,
                         format_func=COORD_NAMES.get, key=ck, horizontal=True, **q)  # fmt: skip
    beta_name = "β₁" if v["opt"] == "adam" else "β"
    v["log_lr"] = st.slider("log₁₀ η (learning rate)", *LOG_LR[:2], value=d["log_lr"], step=LOG_LR[2], format="%.3f",
                            key="log_lr", **q)  # fmt: skip
    st.caption(f"η = {fmt(resolve_lr(v['log_lr'], preset, st.session_state), 6)}")
    v["beta"] = st.slider(f"momentum {beta_name}", *BETA[:2], value=d["beta"], step=BETA[2], format="%.3f",
                          key="beta", disabled=v["opt"] == "gd", **q)  # fmt: skip
    st.markdown("**Hessian H of the loss ½ θᵀHθ**")
    v["spec"] = st.radio("H from", ("values", "log"), index=("values", "log").index(d["spec"]), horizontal=True,
                         format_func={"values": "two eigenvalues", "log": "log-spaced, condition κ(H)"}.get,
                         key="spec", **q)  # fmt: skip
    if v["spec"] == "values":
        v["lam1"] = st.slider("λ₁", -2.0, 10.0, value=d["lam1"], step=0.01, key="lam1", **q)
        v["lam2"] = st.slider("λ₂", -2.0, 10.0, value=d["lam2"], step=0.01, key="lam2", **q)
    else:
        v["n"] = st.slider("number of eigenvalues n", 2, 8, value=d["n"], key="n", **q)
        v["log_kH"] = st.slider("log₁₀ κ(H)", 0.0, 4.0, value=d["log_kH"], step=0.1, key="log_kH", **q)
        v["lam_max"] = st.slider("λ_max", 0.01, 10.0, value=d["lam_max"], step=0.01, key="lam_max", **q)
    for key in ("lam1", "lam2", "n", "log_kH", "lam_max", "angle", "v_mode", "step"):
        v.setdefault(key, st.session_state.get(key, d[key]))
    if v["opt"] == "adam":
        v["angle"] = st.slider("rotation of H against the axes (degrees)", 0, 90, value=d["angle"], key="angle",
                               help="At 0° H and Adam's diagonal M commute; rotating gives [H, M] ≠ 0.",
                               **q)  # fmt: skip
        v["v_mode"] = st.selectbox("Adam's second moment v̂", tuple(V_MODE_NAMES), format_func=V_MODE_NAMES.get,
                                   index=tuple(V_MODE_NAMES).index(d["v_mode"]), key="v_mode", **q)  # fmt: skip
        v["step"] = st.slider("bias-correction step t", 1, 100, value=d["step"], key="step", **q)
    with st.expander("Horizon, start point and map window"):
        v["k_max"] = st.slider("steps k shown", 10, 2000, value=d["k_max"], step=10, key="k_max", **q)
        v["th1"] = st.slider("start θ₀ (first coordinate)", -2.0, 2.0, value=d["th1"], step=0.1, key="th1", **q)
        v["th2"] = st.slider("start θ₀ (other coordinates)", -2.0, 2.0, value=d["th2"], step=0.1, key="th2", **q)
        v["lr_win"] = st.slider("map window: log₁₀ η range", -5.0, 1.0, value=d["lr_win"], step=0.5, key="lr_win",
                                **q)  # fmt: skip
    if v["lr_win"][1] <= v["lr_win"][0]:
        v["lr_win"] = (v["lr_win"][0], v["lr_win"][0] + 0.5)
    return v


EP_TEXT = (
    "An exceptional point (EP) is a setting where two eigenvalues of J and their eigenvectors merge into one: "
    "J can no longer be diagonalised. Close to it the two eigenvectors are almost parallel, so writing a vector in "
    "the eigenvector basis needs huge, cancelling coefficients: κ(V) grows like 1/√(distance to the EP) and is ∞ "
    "at the EP. Press ▶: on one side the two eigenvalues are real, they collide on the real axis at the EP and "
    "leave as a complex pair (or the reverse), while κ(V) spikes."
)


def cards(st: Any, r: Any) -> None:
    """The six metric cards of the lab (ρ, κ(V), distance to the nearest EP, peak, Kreiss, ‖[H, M]‖)."""
    box = st.container(key="lab_cards")
    row1, row2 = box.columns(3), box.columns(3)
    row1[0].metric("ρ(J) spectral radius", fmt(r.rho, 5), help="Largest |μ|. Below 1, ‖Jᵏ‖ → 0 eventually.")
    row1[1].metric("κ(V) eigenvector condition", fmt(r.kappa_V),
                   help="cond₂ of the eigenvector matrix (unit columns): 1 for a normal J, ∞ at an exceptional "
                        "point, where J cannot be diagonalised.")  # fmt: skip
    if math.isnan(r.ep_lr):
        ep_val, ep_help = "none", "This optimizer has no exceptional point here (gradient descent: J is symmetric)."
    else:
        ep_val = "0 %" if abs(r.ep_rel) < 1e-9 else fmt_pct(r.ep_rel)
        ep_help = (f"How far η is from the nearest EP along η: η_EP = {fmt(r.ep_lr, 6)} ({r.ep_branch} branch, "
                   f"mode curvature {fmt(r.ep_lam)}). Matrix distance to the nearest defective matrix ≈ "
                   f"{fmt(r.ep_distance)} (2-norm).")  # fmt: skip
    row1[2].metric("η away from the nearest EP", ep_val, help=ep_help)
    if r.diverges:
        row2[0].metric("peak ‖Jᵏ‖₂", "diverges", help="ρ(J) > 1: ‖Jᵏ‖ grows without bound.")
    else:
        row2[0].metric(f"peak ‖Jᵏ‖₂ (at k = {r.peak_k})", fmt(r.peak),
                       help=f"Largest ‖Jᵏ‖₂ for k ≤ {r.settings.k_max}: the worst-case amplification.")  # fmt: skip
    row2[1].metric("Kreiss constant K(J)", fmt(r.kreiss),
                   help="A guaranteed lower bound on sup ‖Jᵏ‖ (Kreiss matrix theorem); ∞ when ρ > 1.")  # fmt: skip
    comm = fmt(r.commutator) if r.settings.optimizer == "adam" else "—"
    row2[2].metric("‖[H, M]‖₂ commutator", comm,
                   help="Adam's preconditioner M against H: 0 when they commute (rotation 0°).")  # fmt: skip
    if r.at_ep:
        box.caption("You are on an exceptional point: two eigenvalues and their eigenvectors coincide, J is not "
                    "diagonalisable, and κ(V) = ∞.")  # fmt: skip


def map_figure(r: Any, pmap: Any, theme: Theme) -> go.Figure:
    """The clickable log₁₀ κ(V) map with ρ = 1 contour, EP curves and the current point."""
    from nnspec_core.figures import plot_param_map

    s = r.settings
    y_name = {"adam": "β₁", "gd": "β (not used by GD)"}.get(s.optimizer, "momentum β")
    z = pmap.log10_kappa
    finite = z[np.isfinite(z)]
    cap = float(np.clip(finite.max(), 2.0, 8.0)) if finite.size else 2.0  # κ = ∞ cells at the top of the range
    fig = plot_param_map(pmap.x, pmap.y, z, x_name="learning rate η", y_name=y_name, z_cap=cap, contour_z=pmap.rho,
                         curves=merged_curves(r.ep_curves), marker=(s.lr, s.momentum), title="log₁₀ κ(V) over (η, β)",
                         theme=theme)  # fmt: skip
    # the EP curves must stay visible on the dark end of the colour map (yellow / sky blue)
    fig.update_xaxes(exponentformat="power")  # not "SI": "100μ" would read as an eigenvalue μ
    colors = {"lower": "#F0E442", "upper": "#56B4E9", "critical": "#F0E442", "nilpotent": "#56B4E9"}
    for branch, color in colors.items():
        fig.update_traces(line_color=color, selector=dict(name=f"EP ({branch} branch)"))
    return fig


def spectrum_figure(r: Any, theme: Theme) -> go.Figure:
    """Eigenvalues of J with the unit circle and ε-pseudospectral contours."""
    from nnspec_core.figures import plot_spectrum

    ps = r.pseudo
    return plot_spectrum(r.eigenvalues, cond=r.eigval_condition, pseudo=(ps.re, ps.im, ps.sigma_min),
                         eps_levels=r.eps_levels, title="eigenvalues μ and ε-pseudospectra",
                         theme=theme)  # fmt: skip


def transient_figure(r: Any, theme: Theme) -> go.Figure:
    """‖Jᵏ‖₂ against k with the κ(V)ρᵏ upper bound and the Kreiss lower bound."""
    from nnspec_core.figures import plot_transient

    upper = r.upper_bound if np.isfinite(r.upper_bound).any() else None
    kreiss = r.kreiss if math.isfinite(r.kreiss) else None
    return plot_transient(r.k, r.power_norms, upper=upper, kreiss_lower=kreiss, title="transient growth ‖Jᵏ‖₂",
                          theme=theme)  # fmt: skip


def trajectory_figure(r: Any, theme: Theme) -> go.Figure:
    """Iterates in θ-space (2-D H: on the loss level sets; otherwise the first two coordinates)."""
    from nnspec_core.figures import plot_trajectory_2d

    if r.H.shape[0] == 2:
        return plot_trajectory_2d(r.thetas, H=r.H, title="iterates θₖ in θ-space", theme=theme)
    return plot_trajectory_2d(r.thetas[:, :2], title="iterates θₖ (first two coordinates)", theme=theme)


def cli_command(s: LabSettings, *, walk: bool = False) -> str:
    """The ``python -m nnspec_core lab ...`` command that regenerates the lab's figures and data."""
    lam = ",".join(repr(float(x)) for x in s.eigenvalues)
    return (f"python -m nnspec_core lab --optimizer {s.optimizer} --coords {s.coords} --eigenvalues {lam} "
            f"{'--walk ' if walk else ''}"
            f"--angle {s.angle!r} --v-mode {s.v_mode} --lr {s.lr!r} --momentum {s.momentum!r} --step {s.step} "
            f"--lr-range {s.lr_range[0]!r} {s.lr_range[1]!r} --k-max {s.k_max} "
            f"--theta0 {s.theta0[0]!r} {s.theta0[1]!r} --out operator_lab.zip")  # fmt: skip


def bundle(figs: dict[str, go.Figure], r: Any, pmap: Any, s: LabSettings, preset: str,
           formats: tuple[str, ...] = ("png", "svg", "pdf", "html")) -> bytes:  # fmt: skip
    """The "Download everything" zip: figures (PNG/SVG/PDF/HTML), data, settings and CLI command."""
    import dataclasses

    from nnspec_core.export import bundle_zip

    data = {
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
    settings = dataclasses.asdict(s) | {"preset": preset}
    cmd = cli_command(s, walk="ep_walk" in figs)
    return bundle_zip(figs, data=data, settings=settings, cli_command=cmd, formats=formats)


def export_section(st: Any, figs: dict[str, go.Figure], r: Any, pmap: Any, s: LabSettings, preset: str) -> None:
    """Per-figure HTML downloads and "Download everything" (the zip is built only when clicked)."""
    from nnspec_core.export import figure_html

    with st.expander("Export: download everything"):
        st.caption("The zip holds every figure as PNG, SVG, PDF and HTML, the data behind them (CSV), the "
                   "settings (JSON) and the command that regenerates them. It is built when you click.")  # fmt: skip
        st.download_button("Download everything (.zip)", data=lambda: bundle(figs, r, pmap, s, preset),
                           file_name=f"operator_lab_{preset}.zip", mime="application/zip", key="lab_zip",
                           on_click="ignore")  # fmt: skip
        cols = st.columns(len(figs))
        for col, (name, fig) in zip(cols, figs.items(), strict=True):
            col.download_button(f"{name}.html", data=lambda f=fig, n=name: figure_html(f, filename=n),
                                file_name=f"{name}.html", mime="text/html", key=f"lab_html_{name}",
                                on_click="ignore")  # fmt: skip


# ------------------------------------------------------------------------------------ CLI
def add_cli_arguments(parser: Any) -> None:
    """Arguments of ``python -m nnspec_core lab`` (the command in the Operator Lab's export bundle)."""
    from nnspec_core.quadratic import V_MODES

    parser.add_argument("--preset", choices=tuple(PRESETS), help="start from this preset (else LabSettings defaults)")
    parser.add_argument("--optimizer", choices=LAB_OPTIMIZERS)
    parser.add_argument("--coords", choices=sorted({c for cs in LAB_COORDS.values() for c in cs}))
    parser.add_argument("--eigenvalues", help="Hessian eigenvalues, comma separated (e.g. 1.0,0.2)")
    parser.add_argument("--angle", type=float, help="rotation of H against the axes (radians)")
    parser.add_argument("--v-mode", choices=V_MODES)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--momentum", type=float, help="beta (beta1 for Adam)")
    parser.add_argument("--step", type=int, help="Adam's bias-correction step t")
    parser.add_argument("--lr-range", type=float, nargs=2, metavar=("LO", "HI"), help="eta range of the map")
    parser.add_argument("--k-max", type=int)
    parser.add_argument("--theta0", type=float, nargs=2, metavar=("A", "B"))
    parser.add_argument("--walk", action="store_true", help="also write the walk-through-an-EP animation")
    parser.add_argument("--formats", nargs="+", default=["png", "svg", "pdf", "html"],
                        choices=["png", "svg", "pdf", "html"])  # fmt: skip
    parser.add_argument("--out", required=True, help="zip file to write")


def cli_settings(args: Any) -> tuple[LabSettings, str]:
    """``(settings, preset key or "custom")`` from parsed CLI arguments."""
    import dataclasses

    s = settings_from_preset(args.preset) if args.preset else LabSettings()
    fields = {"optimizer": args.optimizer, "coords": args.coords, "angle": args.angle, "v_mode": args.v_mode,
              "lr": args.lr, "momentum": args.momentum, "step": args.step, "k_max": args.k_max}  # fmt: skip
    over = {k: v for k, v in fields.items() if v is not None}
    if args.eigenvalues:
        try:
            over["eigenvalues"] = tuple(float(x) for x in args.eigenvalues.split(","))
        except ValueError:
            raise ValueError(f"--eigenvalues must be comma-separated numbers; got {args.eigenvalues!r}.") from None
    if args.lr_range:
        over["lr_range"] = tuple(args.lr_range)
    if args.theta0:
        over["theta0"] = tuple(args.theta0)
    if "optimizer" in over and "coords" not in over:
        over["coords"] = LAB_COORDS[over["optimizer"]][0]
    return dataclasses.replace(s, **over), (args.preset or "custom")


def run_cli(args: Any) -> int:
    """Write the Operator Lab bundle (figures, data, settings, command) for one setting to ``args.out``."""
    from pathlib import Path

    from nnspec_core.lab import lab_state, lab_walk

    s, preset = cli_settings(args)
    r = lab_state(s)
    th = DEFAULT_THEME
    figs = {"kappa_map": map_figure(r, r.map, th), "spectrum": spectrum_figure(r, th),
            "transient": transient_figure(r, th), "trajectory": trajectory_figure(r, th)}  # fmt: skip
    if args.walk:
        figs["ep_walk"] = plot_ep_walk(lab_walk(s))
    out = Path(args.out)
    out.write_bytes(bundle(figs, r, r.map, s, preset, formats=tuple(args.formats)))
    print(f"wrote {out} ({len(figs)} figures)")
    return 0


__all__ = [
    "fmt",
    "fmt_pct",
    "plot_ep_walk",
    "preset_widget_values",
    "apply_preset",
    "resolve_lr",
    "set_lr_beta",
    "map_click",
    "snap",
    "coords_key",
    "lab_settings",
    "cards",
    "map_figure",
    "spectrum_figure",
    "transient_figure",
    "trajectory_figure",
    "cli_command",
    "bundle",
    "export_section",
    "EP_TEXT",
    "add_cli_arguments",
    "cli_settings",
    "run_cli",
    "pretty",
    "merged_curves",
    "controls",
    "LAB_OPTIMIZERS",
    "LAB_COORDS",
]
