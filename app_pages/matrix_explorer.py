"""Matrix Explorer: EigTool in the browser — pseudospectra, field of values and transient growth of any matrix."""

import dataclasses
import json

import streamlit as st

from nnspec_app import explorer_ui as ui
from nnspec_app.ui import (
    BG_KEY,
    TALK_KEY,
    chart_columns,
    current_theme,
    init_state,
    kaleido_server,
    show_chart,
    user_errors,
    wrapping_columns,
)
from nnspec_core.explorer import (
    ExplorerSettings,
    explore,
    explorer_bundle,
    explorer_figures,
    explorer_grid,
    matrix_summary,
    parse_levels,
    settings_from_dict,
    transient_curve,
)
from nnspec_core.pseudospectra import kreiss_constant, schur_form

init_state()
ss = st.session_state
Q = dict(bind="query-params")


@st.cache_data(max_entries=8, ttl=3600, show_spinner="Schur form…")
def _schur(key: str, _A):
    return schur_form(_A)


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Eigenvalues, condition numbers, field of values…")
def _summary(key: str, _A):
    return matrix_summary(_A)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Computing σₘᵢₙ(zI − A) on the grid…")
def _grid(key: str, region, n_grid: int, _A):
    return explorer_grid(_A, region=region, n_grid=n_grid, schur=_schur(key, _A))


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Transient growth…")
def _transient(key: str, dynamics: str, horizon, _A):
    return transient_curve(_A, dynamics=dynamics, horizon=horizon, kappa_V=_summary(key, _A).kappa_V)


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Kreiss constant (a search over the complex plane)…")
def _kreiss(key: str, dynamics: str, _A):
    return kreiss_constant(_A, continuous=dynamics == "continuous")


@st.cache_data(max_entries=64, ttl=3600, show_spinner="ρ_ε and α_ε…")
def _result(key: str, settings_json: str, _A):
    s = settings_from_dict(json.loads(settings_json))
    parts = dict(schur=_schur(key, _A), summary=_summary(key, _A), grid=_grid(key, s.region, s.n_grid, _A),
                 transient=_transient(key, s.dynamics, s.horizon, _A),
                 kreiss_result=_kreiss(key, s.dynamics, _A) if s.kreiss else None)  # fmt: skip
    return explore(_A, **s.explore_kwargs(), **parts)


st.title("Matrix Explorer")
st.caption("EigTool in the browser. Eigenvalues alone can mislead for a non-normal matrix: the ε-pseudospectra "
           "show where the eigenvalues can move under perturbations of size ε, and the transient curve shows "
           "how much ‖Aᵏ‖ (or ‖eᵗᴬ‖) can grow before it decays. Pick a gallery matrix, upload a file or paste "
           "numbers.")  # fmt: skip

# ------------------------------------------------------------------------------------------- input
left, right = wrapping_columns("mx_layout", min_width_rem=16).columns([2, 3], gap="medium")  # stack when narrow
with left:
    source = st.radio("Matrix source", ui.SOURCES, horizontal=True, key="mx_source", on_change=ui.clear_error,
                      args=(ss,), **Q)  # fmt: skip
    if source == "Gallery":
        gkey, gparams = ui.gallery_controls(st)
        ui.use_gallery(ss, gkey, gparams)
    elif source == "Upload a file":
        ui.load_upload(ss, st.file_uploader("Matrix file", type=["npy", "csv", "txt", "mtx"], key="mx_upload"))
    else:
        st.text_area("Paste a matrix: one row per line, entries separated by spaces or commas; rows may also "
                     "end with ';' (1 2; 3 4); also [[1, 2], [3, 4]]; complex as 1+2j.", key="mx_text", height=110,
                     placeholder="0.9 1.0\n0   0.9")  # fmt: skip
        st.button("Use the pasted matrix", key="mx_use_text", on_click=ui.load_text, args=(ss, "mx_text"))
    if ss.get(ui.CURRENT) is None:  # first visit on an upload/paste link: start from the default gallery matrix
        ui.use_gallery(ss, "grcar", {"n": 24})
    if source == "Gallery":  # a shared link of a gallery matrix reopens its zoom
        ui.region_from_url(ss, st.query_params)
    if ss.get(ui.ERROR):
        st.error(ss[ui.ERROR])
    st.caption(ui.LIMITS_TEXT)
with right, wrapping_columns("mx_settings", min_width_rem=8):
    c1, c2, c3 = st.columns(3)
    n_grid = c1.select_slider("grid points per axis", [40, 60, 80, 100, 150, 200], 80, key="mx_grid", **Q)
    log_eps = c2.slider("log₁₀ ε for ρ_ε, α_ε", -10.0, 1.0, -2.0, 0.25, key="mx_log_eps", **Q)
    levels_text = c3.text_input("contour levels (log₁₀ ε)", "", key="mx_levels", placeholder="auto, or -1 -2 -3", **Q)
    c4, c5, c6 = st.columns(3)
    dynamics = c4.radio("dynamics", ["discrete", "continuous"], key="mx_dynamics", horizontal=True, **Q,
                        format_func={"discrete": "‖Aᵏ‖ (steps)", "continuous": "‖eᵗᴬ‖ (time)"}.get)  # fmt: skip
    if dynamics == "discrete":
        k_max = c5.number_input("steps k_max", 1.0, 5000.0, 100.0, 10.0, format="%.0f", key="mx_kmax", **Q)
        horizon = float(int(k_max))
    else:
        horizon = float(c5.number_input("time t_max", 0.1, 1000.0, 10.0, 1.0, key="mx_tmax", **Q))
    show_fov = c6.checkbox("field of values", True, key="mx_fov", **Q)
    kreiss = c6.checkbox("Kreiss K", True, key="mx_kreiss", help="Estimate the Kreiss constant (slow for big n).", **Q)
    try:
        levels = parse_levels(levels_text)
    except ValueError as err:
        st.error(f"{err} Using automatic levels.")
        levels = None

ui.region_to_url(ss, st.query_params)
cur = ss[ui.CURRENT]
A, key = cur["A"], cur["key"]
st.markdown(f"**Current matrix:** {cur['label']}")
with user_errors():
    settings = ExplorerSettings(region=ss.get(ui.REGION), n_grid=n_grid, eps=10.0**log_eps, eps_levels=levels,
                                dynamics=dynamics, horizon=horizon, kreiss=kreiss, show_fov=show_fov,
                                theme="talk" if ss.get(TALK_KEY) else "default",
                                background=ss.get(BG_KEY, "white"), matrix_sha256=key)  # fmt: skip
    _summary(key, A)
    _grid(key, settings.region, settings.n_grid, A)
    _transient(key, settings.dynamics, settings.horizon, A)
    numerics = dataclasses.replace(settings, show_fov=True, theme="default", background="white")  # display-only
    res = _result(key, json.dumps(numerics.to_dict(), sort_keys=True), A)

# ------------------------------------------------------------------------------------------- output
ui.cards(st, res)
figs = explorer_figures(res, show_fov=show_fov, theme=current_theme())
g1, g2 = chart_columns("mx_charts", [3, 2], min_width_rem=22)  # stacked when narrow or in the talk theme
with g1:
    ck = ui.chart_key(ss)
    show_chart(figs["spectrum"], key=ck, filename="spectrum", on_select=lambda: ui.apply_box(ss, ck),
               selection_mode=("box",))  # fmt: skip
    b1, b2 = st.columns([1, 3])
    b1.button("Reset zoom", key="mx_reset_zoom", on_click=ui.reset_zoom, args=(ss,), disabled=ss.get(ui.REGION) is None)
    b2.caption("Drag a box on the chart to zoom: the grid is recomputed at full resolution for that region. "
               "Contours: boundaries of the ε-pseudospectra (where ‖(zI − A)⁻¹‖ = 1/ε). Dots: eigenvalues, "
               "coloured by their condition number 1/|yᴴx| (hover shows it); dashed: field of values.")  # fmt: skip
with g2:
    show_chart(figs["transient"], key="mx_transient", filename="transient")
    st.caption("Worst-case amplification after k steps (or time t). Dashed: the upper bound κ(V)ρᵏ (κ(V)eᵗᵅ); "
               "dotted: the Kreiss constant, which the peak must reach. A peak far above 1 despite ρ < 1 "
               "(α < 0) is the signature of non-normality.")  # fmt: skip

sig = f"{key}|{json.dumps(settings.to_dict(), sort_keys=True)}"
ui.export_section(st, figs, lambda: explorer_bundle(res, A, settings), kaleido_server, sig)
