"""Operator Lab UI pieces: widgets, their session-state callbacks, the metric cards and the export section.

The numerics live in :mod:`nnspec_core.lab` and the figures, the "Download everything" bundle and the
``nnspec lab`` command in :mod:`nnspec_core.lab_figures` (no Streamlit). This module only turns widget
values into a :class:`nnspec_core.lab.LabSettings` and moves sliders (preset, map click, snap) through
``st.session_state`` callbacks (which run before the widgets are created on the rerun).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go

from nnspec_app.ui import wrapping_columns
from nnspec_core.figures import critical_point_kind
from nnspec_core.lab import LabResult, LabSettings, settings_from_preset
from nnspec_core.lab_figures import bundle, fmt, fmt_pct, trajectory_on_level_sets
from nnspec_core.quadratic import LAB_COORDS, LAB_OPTIMIZERS, PRESETS

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


def message_stamp(s: LabSettings) -> tuple:
    """What a snap message is about: the settings that place the exceptional points and the current (η, β).

    The horizon, start point and map window are left out: changing them leaves the message true.
    """
    return (s.optimizer, s.coords, s.eigenvalues, s.angle, s.v_mode, s.step, s.eps, s.lr, s.momentum)


def snap(session: Any, settings_fn: Callable[[], LabSettings], snap_fn: Callable[[LabSettings], Any]) -> None:
    """Callback of "Snap to nearest EP": move η to the nearest exceptional point (β fixed).

    The message is stored with :func:`message_stamp` of the settings it describes (after the move), so that
    :func:`current_message` drops it as soon as η, β, the optimizer, the coordinates or H change.
    """
    try:
        s = settings_fn()
        target = snap_fn(s)
    except (ValueError, TypeError) as err:
        session[MSG_KEY] = ("error", str(err).splitlines()[0], None)
        return
    if not target.found:
        session[MSG_KEY] = ("info", "No exceptional point along η here: "
                            + ("gradient descent on a symmetric H has none (J is symmetric)."
                               if s.optimizer == "gd" else "none inside the η slider range at this β."),
                            message_stamp(s))  # fmt: skip
        return
    set_lr_beta(session, target.lr, None, exact=True)
    try:
        stamp = message_stamp(settings_fn())  # the settings now shown: η moved to the EP
    except (ValueError, TypeError):
        stamp = None
    session[MSG_KEY] = ("success", snap_message(target), stamp)


def current_message(session: Any, s: LabSettings | None) -> tuple[str, str] | None:
    """The snap message ``(kind, text)`` if it still describes the settings ``s``; a stale one is removed.

    "Snapped η to 0.01 (lower EP …)" stayed on screen after β was moved away from the EP. A message without a
    stamp (the settings were invalid) is kept until the next snap, preset or map click.
    """
    msg = session.get(MSG_KEY)
    if not msg:
        return None
    stamp = msg[2] if len(msg) > 2 else None
    if stamp is not None and s is not None and stamp != message_stamp(s):
        session.pop(MSG_KEY, None)
        return None
    return msg[0], msg[1]


def transient_caption(res: LabResult) -> str:
    """Caption of the transient chart, adapted to the state shown.

    ρ > 1: the iteration diverges like ρᵏ (the Kreiss constant is ∞), so the "ρ < 1 does not mean no growth" story
    does not apply. ρ = 1: on the stability boundary, no decay. ρ < 1: transient growth, with the κ(V) ρᵏ upper
    bound, or, at an exceptional point (κ(V) = ∞, the default preset), why that bound is not drawn.
    """
    rho = fmt(res.rho, 5)
    if res.diverges:
        text = (f"ρ(J) = {rho} > 1: the iteration diverges, ‖Jᵏ‖ grows like ρᵏ without bound (the Kreiss constant "
                "is ∞). ")  # fmt: skip
        saddle = negative_curvature_text(res)
        return text + (saddle or "Move η or β back inside the dashed ρ(J) = 1 curve of the map.")
    if res.rho >= 1.0 - 1e-12:
        return (f"ρ(J) = {rho}: on the stability boundary ‖Jᵏ‖ does not decay (it grows if J is not diagonalisable "
                "there); the Kreiss constant K(J) is a guaranteed lower bound on its supremum.")  # fmt: skip
    text = "ρ < 1 does not mean “no growth”: ‖Jᵏ‖ can rise far above 1 before it decays. "
    if np.isfinite(res.upper_bound).any():
        return text + "κ(V) ρᵏ bounds it from above; the Kreiss constant K(J) is a guaranteed lower bound on the peak."
    return text + ("Here κ(V) = ∞ (J is not diagonalisable), so the upper bound κ(V) ρᵏ is void and not drawn; "
                   "the Kreiss constant K(J) is still a guaranteed lower bound on the peak.")  # fmt: skip


def negative_curvature_text(res: LabResult) -> str:
    """Why no (η, β) is stable when H has a negative eigenvalue ("" if it has none).

    GD, heavy ball, Nesterov and (frozen) Adam then diverge for every η > 0 and every β along that eigenvector, so
    "move η or β back inside the ρ(J) = 1 curve" pointed at a curve that does not exist.
    """
    lam = np.asarray(res.settings.eigenvalues, dtype=float)
    neg = np.flatnonzero(lam < 0)
    if not neg.size:
        return ""
    sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
    vals = ", ".join(f"λ{str(i + 1).translate(sub)} = {fmt(lam[i]).replace('-', '−')}" for i in neg)
    kind = "a " + critical_point_kind(res.H)  # "saddle" or "maximum", as the trajectory's legend says
    which = "that direction" if neg.size == 1 else "those directions"
    params = "every η > 0" if res.settings.optimizer == "gd" else "every η > 0 and β"
    eig = "a negative eigenvalue" if neg.size == 1 else "negative eigenvalues"
    return f"H has {eig} ({vals}): θ* is {kind}, and {params} diverges along {which}."


def trajectory_caption(res: LabResult) -> str:
    """Caption of the trajectory chart: level sets are drawn only for n = 2 (see ``trajectory_on_level_sets``)."""
    start = "The iterates θₖ from the start θ₀ (optimizer at rest)"
    if trajectory_on_level_sets(res):
        return start + ", on the level sets of the loss."
    n = res.H.shape[0]
    return (start + f": the first two of the n = {n} coordinates of θ. No level sets are drawn: with n > 2 the "
            "loss over these two coordinates depends on the others.")  # fmt: skip


def snap_message(target: Any) -> str:
    """The line shown after a snap. The numerical search is named only where it adds something: its value when it
    differs from the formula's at the digits shown ("Snapped η to 0.01 …; the numerical search found 0.01" made the
    reader look for a difference), nothing when it found no transition (NaN: "found —" before)."""
    lr, num = fmt(target.lr, 6), fmt(target.lr_numeric, 6)
    text = f"Snapped η to {lr} ({target.branch} EP of the mode with curvature {fmt(target.lam)})"
    if not math.isfinite(target.lr_numeric):
        return text + "."
    if num == lr:
        return text + "; a numerical search of the eigenvalues agrees."
    return text + f"; a numerical search of the eigenvalues found {num}."


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


def cards(st: Any, r: LabResult) -> None:
    """The six metric cards of the lab (ρ, κ(V), distance to the nearest EP, peak, Kreiss, ‖[H, M]‖)."""
    box = wrapping_columns("lab_cards", min_width_rem=10)  # two rows of three; they wrap on a narrow window
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


def export_section(st: Any, figs: dict[str, go.Figure], r: LabResult, pmap: Any, s: LabSettings, preset: str) -> None:
    """Per-figure HTML downloads and "Download everything" (the zip is built only when clicked)."""
    from nnspec_core.export import figure_html

    with st.expander("Export: download everything"):
        st.caption("The zip holds every figure as PNG, SVG, PDF and HTML, the data behind them (CSV), the "
                   "settings (JSON) and the command that regenerates them. It is built when you click.")  # fmt: skip
        st.download_button("Download everything (.zip)",
                           data=lambda: bundle(figs, r, pmap=pmap, settings=s, preset=preset),
                           file_name=f"operator_lab_{preset}.zip", mime="application/zip", key="lab_zip",
                           on_click="ignore")  # fmt: skip
        cols = st.columns(len(figs))
        for col, (name, fig) in zip(cols, figs.items(), strict=True):
            col.download_button(f"{name}.html", data=lambda f=fig, n=name: figure_html(f, filename=n),
                                file_name=f"{name}.html", mime="text/html", key=f"lab_html_{name}",
                                on_click="ignore")  # fmt: skip


__all__ = [
    "preset_widget_values",
    "apply_preset",
    "resolve_lr",
    "set_lr_beta",
    "map_click",
    "snap",
    "message_stamp",
    "current_message",
    "transient_caption",
    "trajectory_caption",
    "coords_key",
    "lab_settings",
    "cards",
    "export_section",
    "EP_TEXT",
    "controls",
    "LAB_OPTIMIZERS",
    "LAB_COORDS",
]
