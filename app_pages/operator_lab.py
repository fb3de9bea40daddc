"""Operator Lab: the update operator J on a quadratic loss; hunt exceptional points with sliders."""

import dataclasses

import streamlit as st

from nnspec_app import lab_ui as ui_lab
from nnspec_app.ui import TALK_KEY, current_theme, init_state, show_chart, user_errors, wrapping_columns
from nnspec_core import lab_figures as figs_lab
from nnspec_core.lab import LabSettings, lab_map, lab_state, lab_walk, snap_target
from nnspec_core.quadratic import PRESETS

init_state()


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def _state(fields: tuple):
    return lab_state(LabSettings(*fields), include_map=False)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _map(fields: tuple):  # the map does not depend on lr / momentum / horizon: cached apart
    return lab_map(LabSettings(*fields))


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _walk(fields: tuple):
    return lab_walk(LabSettings(*fields))


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def _snap(fields: tuple):
    return snap_target(LabSettings(*fields), lr_bounds=(10.0 ** ui_lab.LOG_LR[0], 10.0 ** ui_lab.LOG_LR[1]))


def _current_settings() -> LabSettings:
    ss = st.session_state
    defaults = ui_lab.preset_widget_values(ss.get("preset", ui_lab.DEFAULT_PRESET))
    v = {k: ss.get(k, dv) for k, dv in defaults.items()}
    return ui_lab.lab_settings(v, lr=ui_lab.resolve_lr(v["log_lr"], ss.get("preset", ui_lab.DEFAULT_PRESET), ss))


def _map_fields(s: LabSettings) -> tuple:
    return dataclasses.astuple(dataclasses.replace(s, lr=1.0, momentum=0.0, k_max=1, theta0=(1.0, 1.0)))


st.title("Operator Lab")
st.caption(
    "One optimizer step on the quadratic loss ½ θᵀHθ is a matrix: z ↦ J z. Its eigenvalues μ decide whether "
    "training converges (all |μ| < 1), but not how much it grows first. Move the sliders, click the map, and "
    "find the exceptional points, where two eigenvalues and their eigenvectors merge."
)
preset = st.selectbox("Preset", list(PRESETS), format_func=lambda k: PRESETS[k].title, key="preset",
                      bind="query-params", on_change=ui_lab.apply_preset, args=(st.session_state,))  # fmt: skip
st.caption(figs_lab.pretty(PRESETS[preset].description))
left, right = wrapping_columns("lab_layout", min_width_rem=13).columns([1, 3], gap="medium")  # stack when narrow
with left:
    vals = ui_lab.controls(st, ui_lab.preset_widget_values(preset), preset)
    lr = ui_lab.resolve_lr(vals["log_lr"], preset, st.session_state)
    st.button("Snap to nearest EP", key="snap_btn", on_click=ui_lab.snap,
              args=(st.session_state, _current_settings, lambda s: _snap(dataclasses.astuple(s))),
              help="Move η to the nearest exceptional point (β fixed).")  # fmt: skip
    try:  # the settings shown; invalid ones are reported below (user_errors)
        shown = ui_lab.lab_settings(vals, lr=lr)
    except (ValueError, TypeError):
        shown = None
    msg = ui_lab.current_message(st.session_state, shown)  # a snap message is dropped once η, β, ... moved on
    if msg:
        getattr(st, msg[0])(msg[1])

with user_errors():
    settings = ui_lab.lab_settings(vals, lr=lr)
    res = _state(dataclasses.astuple(settings))
    pmap = _map(_map_fields(settings))
theme = current_theme()
with right:
    ui_lab.cards(st, res)
# talk theme: figures have a fixed 16:9 size, so give each the full width; otherwise a 2 x 2 grid beside the controls
if st.session_state.get(TALK_KEY):
    cells = [st.container() for _ in range(4)]
else:
    with right, wrapping_columns("lab_charts", min_width_rem=20):
        cells = [*st.columns(2), *st.columns(2)]
with cells[0]:
    fig_map = figs_lab.map_figure(res, pmap, theme)
    show_chart(fig_map, key="lab_map", filename="kappa_map",
               on_select=lambda: ui_lab.map_click(st.session_state, "lab_map"))  # fmt: skip
    st.caption("Click the map to move (η, β) there. Dark = well-conditioned eigenvectors, bright = κ(V) huge. "
               "Dashed: ρ(J) = 1 (beyond it training diverges); yellow/blue lines: exceptional points.")  # fmt: skip
with cells[1]:
    fig_spec = figs_lab.spectrum_figure(res, theme)
    show_chart(fig_spec, key="lab_spectrum", filename="spectrum")
    st.caption("Eigenvalues μ of J with the unit circle and ε-pseudospectra: where ‖(zI − J)⁻¹‖ > 1/ε. "
               "Near an EP the contours balloon although the eigenvalues stay inside the circle.")  # fmt: skip
with cells[2]:
    fig_tr = figs_lab.transient_figure(res, theme)
    show_chart(fig_tr, key="lab_transient", filename="transient")
    st.caption(ui_lab.transient_caption(res))
with cells[3]:
    fig_traj = figs_lab.trajectory_figure(res, theme)
    show_chart(fig_traj, key="lab_trajectory", filename="trajectory")
    st.caption(ui_lab.trajectory_caption(res))

st.subheader("Walk through an exceptional point")
st.caption(ui_lab.EP_TEXT)
fig_walk = None
if st.toggle("Show the animation (η sweeps across the nearest EP)", key="walk", bind="query-params"):
    with user_errors():
        walk = _walk(dataclasses.astuple(settings))
    fig_walk = figs_lab.plot_ep_walk(walk, theme=theme)
    show_chart(fig_walk, key="lab_walk", filename="ep_walk")
figs = {"kappa_map": fig_map, "spectrum": fig_spec, "transient": fig_tr, "trajectory": fig_traj}
if fig_walk is not None:
    figs["ep_walk"] = fig_walk
ui_lab.export_section(st, figs, res, pmap, settings, preset)
