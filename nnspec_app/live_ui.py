"""Live Training page helpers: URL-bound sidebar controls, run buttons, the streaming fragment.

No numerics live here: stepping is :func:`nnspec_core.live.advance`, per-step views are
:func:`nnspec_core.live.step_view` / :func:`~nnspec_core.live.fit_view`, figures come from
:mod:`nnspec_core.live`. Session state (keys prefixed ``lt_``) holds the Trainer, the live flag and
the selected step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import streamlit as st

from nnspec_app.ui import chart_columns, current_theme, show_chart, wrapping_columns
from nnspec_core import live
from nnspec_core.data import CLASSIFICATION, DATASETS
from nnspec_core.export import bundle_zip, figure_html
from nnspec_core.models import ACTIVATIONS, MAX_DEPTH, MAX_WIDTH
from nnspec_core.operators import COORDS, DEFAULT_COORDS
from nnspec_core.training import TRAIN_OPTIMIZERS, TrainConfig, Trainer, TrainingResult

#: Caps of the page (documented on it): the dense analysis stays interactive below them.
MAX_STEPS = 2000
MAX_SAMPLES = 1000
DENSE_LIMIT_MAX = 2000
#: Seconds between live ticks and the training budget of one tick.
TICK = 1.0
TICK_BUDGET = 0.6

LR_OPTIONS = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
EPS_OPTIONS = (1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2)
DECAY_OPTIONS = (0.9, 0.95, 0.99, 0.995, 0.999, 0.9999)
WD_OPTIONS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1)

DATASET_NAMES = {
    "moons": "two moons",
    "circles": "concentric circles",
    "xor": "XOR",
    "spiral": "spiral",
    "blobs": "Gaussian blobs",
    "teacher_student": "teacher–student (regression)",
    "sine": "1-D sine (regression)",
}
OPTIMIZER_NAMES = {
    "gd": "GD",
    "heavy_ball": "heavy ball (SGD momentum)",
    "nesterov": "Nesterov",
    "rmsprop": "RMSProp",
    "adam": "Adam",
    "adamw": "AdamW",
}
COORD_NAMES = {
    "theta": "θ",
    "buffer": "[θ; b] (torch buffer)",
    "history": "[θₖ; θₖ₋₁] (history)",
    "frozen": "frozen preconditioner",
    "simple": "simple (θ only)",
    "full": "full [θ; m; v]",
}
BIND: dict[str, Any] = dict(bind="query-params")


def _fmt_float(x: float) -> str:
    return f"{x:g}"


def init_run_state() -> None:
    """Session-state defaults of the page (the Trainer, live flag, selection, step input)."""
    ss = st.session_state
    ss.setdefault("lt_trainer", None)
    ss.setdefault("lt_live", False)
    ss.setdefault("lt_sel", None)
    ss.setdefault("lt_follow", True)


def sidebar_controls() -> dict[str, Any]:
    """Draw the URL-bound sidebar controls; return the keyword arguments of :class:`TrainConfig`."""
    sb = st.sidebar
    sb.subheader("Data")
    ds = sb.selectbox("Data set", DATASETS, format_func=DATASET_NAMES.get, key="lt_data", **BIND)
    noise = sb.slider("Noise", 0.0, 0.5, 0.1, step=0.01, key="lt_noise", **BIND)
    n = sb.slider("Samples (train + test)", 40, MAX_SAMPLES, 256, step=8, key="lt_n", **BIND)
    sb.subheader("Network")
    depth = sb.slider("Hidden layers", 1, MAX_DEPTH, 1, key="lt_depth", **BIND)
    width = sb.slider("Width", 2, MAX_WIDTH, 16, key="lt_width", **BIND)
    act = sb.selectbox("Activation", ACTIVATIONS, key="lt_act", **BIND)
    loss = "mse"
    if ds in CLASSIFICATION:
        loss = sb.selectbox("Loss", ("mse", "cross_entropy"), key="lt_loss", **BIND)
    sb.subheader("Optimizer")
    opt = sb.selectbox("Optimizer", TRAIN_OPTIMIZERS, index=4, format_func=OPTIMIZER_NAMES.get, key="lt_opt", **BIND)
    kw: dict[str, Any] = {}
    kw["lr"] = sb.select_slider("Learning rate η (log scale)", LR_OPTIONS, value=0.01, format_func=_fmt_float,
                                key="lt_lr", **BIND)  # fmt: skip
    if opt in ("heavy_ball", "nesterov"):
        kw["momentum"] = sb.slider("Momentum β", 0.0, 0.99, 0.9, step=0.01, key="lt_beta", **BIND)
    if opt in ("adam", "adamw"):
        kw["beta1"] = sb.slider("β₁", 0.0, 0.99, 0.9, step=0.01, key="lt_beta1", **BIND)
        kw["beta2"] = sb.select_slider("β₂", DECAY_OPTIONS, value=0.999, format_func=_fmt_float, key="lt_beta2",
                                       **BIND)  # fmt: skip
    if opt == "rmsprop":
        kw["alpha"] = sb.select_slider("Smoothing α", DECAY_OPTIONS, value=0.99, format_func=_fmt_float,
                                       key="lt_alpha", **BIND)  # fmt: skip
    if opt in ("rmsprop", "adam", "adamw"):
        kw["eps"] = sb.select_slider("ε", EPS_OPTIONS, value=1e-8, format_func=_fmt_float, key="lt_eps", **BIND)
    kw["weight_decay"] = sb.select_slider("Weight decay", WD_OPTIONS, value=0.0, format_func=_fmt_float,
                                          key="lt_wd", **BIND)  # fmt: skip
    sb.subheader("Run")
    steps = sb.slider("Steps", 10, MAX_STEPS, 200, step=10, key="lt_steps", **BIND)
    every = sb.slider("Analyse every k steps", 1, 50, 1, key="lt_every", **BIND)
    seed = int(sb.number_input("Seed", 0.0, 1e6, 0.0, step=1.0, format="%.0f", key="lt_seed", **BIND))
    with sb.expander("Analysis options"):
        coords = st.selectbox("State convention of J", COORDS[opt], index=COORDS[opt].index(DEFAULT_COORDS[opt]),
                              format_func=COORD_NAMES.get, key=f"lt_coords_{opt}", **BIND)  # fmt: skip
        dense_limit = st.slider("Dense analysis up to (parameters)", 100, DENSE_LIMIT_MAX, 1000, step=100,
                                key="lt_dense", **BIND,
                                help="Above this size the matrix-free path (Lanczos/Arnoldi) runs.")  # fmt: skip
        mf = st.toggle("Force the matrix-free path", key="lt_mf", **BIND)
        k_max = st.slider("Transient: largest power k", 10, 200, 50, step=10, key="lt_k", **BIND)
        horizon = st.slider("Realized amplification window K", 0, 50, 10, key="lt_K", **BIND,
                            help="0 turns it off. Needs analysis at every step.")  # fmt: skip
    sb.caption(
        f"Caps: width ≤ {MAX_WIDTH}, hidden layers ≤ {MAX_DEPTH}, steps ≤ {MAX_STEPS}, samples ≤ {MAX_SAMPLES}; "
        f"dense analysis up to {DENSE_LIMIT_MAX} parameters, matrix-free (top eigenvalues only) beyond."
    )
    return dict(
        dataset=ds, noise=float(noise), n_samples=int(n), depth=int(depth), width=int(width), activation=act,
        loss=loss, optimizer=opt, steps=int(steps), analyze_every=int(every), seed=int(seed), coords=coords,
        dense_limit=int(dense_limit), matrix_free=bool(mf), transient_k=int(k_max),
        realized_horizon=min(int(horizon), int(k_max)), **kw,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ buttons
def _trainer_for(cfg: TrainConfig) -> Trainer:
    """The session's Trainer for ``cfg``: the current one if it matches and can continue, else a new one."""
    ss = st.session_state
    tr = ss.lt_trainer
    if tr is None or tr.config != cfg or tr.done:
        tr = Trainer(cfg)
        ss.lt_trainer = tr
        ss.lt_sel, ss.lt_sel_input = None, None
        ss.lt_follow = True
    return tr


def _start(cfg: TrainConfig) -> None:
    _trainer_for(cfg)
    st.session_state.lt_live = True


def _pause() -> None:
    st.session_state.lt_live = False


def _step(cfg: TrainConfig) -> None:
    st.session_state.lt_live = False
    live.advance(_trainer_for(cfg), max_records=cfg.analyze_every)


def _run_all(cfg: TrainConfig) -> None:
    st.session_state.lt_live = False
    live.advance(_trainer_for(cfg))


def _reset() -> None:
    ss = st.session_state
    ss.lt_trainer, ss.lt_live, ss.lt_sel, ss.lt_follow, ss.lt_sel_input = None, False, None, True, None


def run_buttons(cfg: TrainConfig, box: Any = None) -> None:
    """Start / Pause / Step / Run to end / Reset in ``box`` (default the sidebar; the page passes a container
    made above the settings, so ▶ Start is in view without scrolling). Callbacks run before the page redraws."""
    sb = st.sidebar if box is None else box
    c1, c2 = sb.columns(2)
    c1.button("▶ Start", key="lt_start", on_click=_start, args=(cfg,), type="primary", width="stretch",
              help="Train and watch; continues a paused run with the same settings.")  # fmt: skip
    c2.button("Pause", key="lt_pause", on_click=_pause, width="stretch")
    c1.button("Step", key="lt_step", on_click=_step, args=(cfg,), width="stretch",
              help="Advance to the next analysed step.")  # fmt: skip
    c2.button("Reset", key="lt_reset", on_click=_reset, width="stretch")
    sb.button("Run to the end (no animation)", key="lt_runall", on_click=_run_all, args=(cfg,), width="stretch")


# ------------------------------------------------------------------------------------------ selection
def _on_chart_select(chart_key: str) -> None:
    """A click / box selection on the loss or indicator chart selects that step everywhere."""
    state = st.session_state.get(chart_key)
    try:
        points = state["selection"]["points"]
    except (KeyError, TypeError):
        return
    steps = []
    for p in points or []:
        x = p.get("customdata", p.get("x"))
        if isinstance(x, (list, tuple)):
            x = x[0] if x else None
        if isinstance(x, (int, float)) and math.isfinite(x):
            steps.append(int(round(x)))
    if steps:
        _select(min(steps))


def _select(step: int) -> None:
    ss = st.session_state
    ss.lt_sel = int(step)
    ss.lt_follow = False
    ss.lt_sel_input = int(step)


def _on_step_input() -> None:
    v = st.session_state.lt_sel_input
    if v is None:  # cleared: follow the latest step again
        _on_follow(True)
    else:
        _select(int(v))


def _on_follow(follow: bool | None = None) -> None:
    ss = st.session_state
    if follow is not None:
        ss.lt_follow = follow
    if ss.lt_follow:
        ss.lt_sel, ss.lt_sel_input = None, None


def selected_step(result: TrainingResult) -> int | None:
    """The selected analysed step: the latest one while following, else the nearest to the user's choice."""
    ss = st.session_state
    if ss.lt_follow or ss.lt_sel is None:
        return live.nearest_analysed_step(result, None)
    return live.nearest_analysed_step(result, ss.lt_sel)


# ------------------------------------------------------------------------------------------ cached views
@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def cached_step_view(cfg_repr: str, step: int, available: int, _result: TrainingResult) -> live.StepView:
    """:func:`nnspec_core.live.step_view`, keyed by the run's settings, the step and how many later steps exist."""
    return live.step_view(_result, step, horizon=_result.config.realized_horizon)


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def cached_fit_view(cfg_repr: str, step: int, _result: TrainingResult) -> live.FitView:
    """:func:`nnspec_core.live.fit_view` at ``step``, keyed by the run's settings and the step."""
    return live.fit_view(_result, step)


def views_for(result: TrainingResult, step: int) -> tuple[live.StepView, live.FitView]:
    """Cached step and fit views (runs are deterministic, so settings + step identify them)."""
    c = result.config
    steps = live.analysed_steps(result)
    available = int(min(c.realized_horizon, int((steps > step).sum())))
    return cached_step_view(repr(c), step, available, result), cached_fit_view(repr(c), step, result)


# ------------------------------------------------------------------------------------------ downloads
def downloads(result: TrainingResult, step: int | None, figs: dict[str, Any]) -> None:
    """CSV / JSON / NPZ of the run, per-figure HTML and the "Download everything" zip (all built on click)."""
    theme = current_theme()
    tag = f"{result.config.optimizer}_step{result.records[-1].step if result.records else 0}"
    box = wrapping_columns("lt_downloads", min_width_rem=10)  # the buttons wrap instead of cutting their labels
    c1, c2, c3, c4 = box.columns(4)
    c1.download_button("Metrics (CSV)", data=lambda: result.to_csv().encode(), file_name=f"metrics_{tag}.csv",
                       mime="text/csv", key="lt_dl_csv", on_click="ignore")  # fmt: skip
    c2.download_button("Metrics (JSON)", data=lambda: result.to_json().encode(), file_name=f"metrics_{tag}.json",
                       mime="application/json", key="lt_dl_json", on_click="ignore")  # fmt: skip
    c3.download_button("Snapshots (NPZ)", data=lambda: live.snapshots_npz(result), file_name=f"snapshots_{tag}.npz",
                       mime="application/octet-stream", key="lt_dl_npz", on_click="ignore")  # fmt: skip

    def _zip() -> bytes:
        parts = live.run_bundle_parts(result, step=step, theme=theme)
        return bundle_zip(parts[0], data=parts[1], settings=parts[2], cli_command=parts[3])

    c4.download_button("Download everything (zip)", data=_zip, file_name=f"live_training_{tag}.zip",
                       mime="application/zip", key="lt_dl_zip", on_click="ignore", type="primary",
                       help="All figures as PNG, SVG, PDF and HTML, the data, the settings and the CLI command "
                       "(python -m nnspec_core train ...). Building it takes a few seconds.")  # fmt: skip
    cols = box.columns(len(figs))
    for col, (name, fig) in zip(cols, figs.items(), strict=True):
        col.download_button(f"{name} (HTML)", data=lambda f=fig, n=name: figure_html(f, filename=f"live_{n}").encode(),
                            file_name=f"live_{name}_{tag}.html", mime="text/html", key=f"lt_html_{name}",
                            on_click="ignore")  # fmt: skip


# ------------------------------------------------------------------------------------------ live panel
EXPLAINER = """
**ρ(J)**, the spectral radius of the update operator J, is the largest |μ| over its eigenvalues μ. With
ρ < 1 a small perturbation of the weights (and optimizer state) *eventually* shrinks; with ρ > 1 it
eventually grows.

**κ(V)** is the condition number of J's eigenvector matrix. κ(V) = 1 means the eigenvectors are
orthogonal (a *normal* J): then ‖Jᵏ‖ = ρᵏ and the eigenvalues tell the whole story. A large κ(V) means a
*non-normal* J: ‖Jᵏ‖ can grow up to about κ(V) times ρᵏ for a while even when ρ < 1 (transient growth).

**ε-pseudospectra** are the regions of the complex plane where some perturbation of J of size ε (2-norm)
puts an eigenvalue. For a normal J they are discs of radius ε around the eigenvalues; for a non-normal J
they can be much larger. If the ε-contour crosses the unit circle for a small ε, the iteration is close to
instability even if every eigenvalue is inside.

**Sharpness** λmax(H) is the largest Hessian eigenvalue; each optimizer has a classical threshold (2/η for
GD, 38/η for Adam's preconditioned sharpness at β₁ = 0.9) above which a quadratic model of the loss
becomes unstable. Colours of the eigenvalues give their condition numbers; marker shapes give their class.

The app shows the evidence; whether κ(V), ρ(J) or the sharpness warns before the loss spikes is for you to
judge from the plots.
"""


def _path_caption(tr: Trainer, view: live.StepView | None) -> str:
    c = tr.config
    if tr.path == "dense":
        d = f"J is {view.d}×{view.d}" if view is not None and view.d else "J dense"
        return (f"Analysis path: **dense** ({tr.n_params} parameters ≤ {c.dense_limit}; {d}, coordinates "
                f"“{tr.coords}”; full eigendecomposition, κ(V), pseudospectra).")  # fmt: skip
    why = "forced" if c.matrix_free else f"{tr.n_params} parameters > {c.dense_limit}"
    return (
        f"Analysis path: **matrix-free** ({why}): top {c.n_eigs} eigenvalues of J by Arnoldi on "
        "Jacobian-vector products, λmax(H) by Lanczos; κ(V), pseudospectra and transients are not computed."
    )


def _metrics(result: TrainingResult, step: int | None) -> None:
    rec = next((r for r in result.records if r.step == step), result.records[-1])
    cols = wrapping_columns("lt_metrics", min_width_rem=8).columns(5)
    cols[0].metric("step", f"{rec.step}")
    cols[1].metric("train loss", live.fmt_num(rec.loss_train, 3))
    cols[2].metric("ρ(J)", live.fmt_num(rec.rho, 3))
    cols[3].metric("κ(V)", live.fmt_num(rec.kappa_V))
    cols[4].metric("sharpness / threshold", live.fmt_num(rec.sharpness_ratio, 3))


def _step_picker(result: TrainingResult, sel: int | None) -> None:
    """Follow toggle and step input. While following, the input stays empty (its placeholder names the step), so
    live redraws never write into a widget the user may be typing in."""
    c1, c2 = st.columns([1, 1])
    c1.toggle("Follow latest", key="lt_follow", on_change=_on_follow, help="Keep the newest analysed step selected.")
    c2.number_input("Selected step", 0, result.config.steps, value=None, step=result.config.analyze_every,
                    placeholder=f"latest: {sel}" if sel is not None else "no step yet", key="lt_sel_input",
                    on_change=_on_step_input)  # fmt: skip


def _panel() -> None:
    ss = st.session_state
    tr: Trainer | None = ss.lt_trainer
    if ss.lt_live and tr is not None and not tr.done:
        with st.spinner("training…", show_time=False):
            live.advance(tr, max_seconds=TICK_BUDGET)
    if ss.lt_live and (tr is None or tr.done):
        ss.lt_live = False
        st.rerun()
    if tr is None:
        st.info("Choose a data set, a network and an optimizer in the sidebar, then press **▶ Start**.")
        return
    result = tr.result()
    c = result.config
    t = result.records[-1].step if result.records else 0
    st.progress(min(t / max(c.steps, 1), 1.0), text=live.status_text(result, live=ss.lt_live))
    if result.diverged:
        st.error(f"Diverged at step {result.diverged_step}: {live.divergence_reason(result)}. Training stopped "
                 f"there. All {len(result.records)} measured steps up to then are kept below and in the "
                 "downloads.")  # fmt: skip
    sel = selected_step(result)
    view = fit = None
    if sel is not None:
        try:
            view, fit = views_for(result, sel)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as err:  # e.g. an operator with inf entries
            st.warning(f"Step {sel} could not be drawn: {str(err).splitlines()[0]}")
    st.caption(_path_caption(tr, view))
    if not result.records:
        return
    _metrics(result, sel)
    theme = current_theme()
    tag = str(abs(hash(c)) % 10**8)
    figs: dict[str, Any] = {
        "loss": live.loss_figure(result, selected_step=sel, theme=theme),
        "indicators": live.indicators_figure(result, selected_step=sel, theme=theme),
    }
    if view is not None:
        figs["spectrum"] = live.spectrum_figure(view, theme=theme, uirevision=f"spectrum-{tag}")
        figs["transient"] = live.transient_figure(view, theme=theme, uirevision=f"transient-{tag}")
        figs["fit"] = live.fit_figure(fit, theme=theme, uirevision=f"fit-{tag}")
    left, right = chart_columns("lt_main", 2, min_width_rem=22)  # stacked when narrow or in the talk theme
    with left:  # the run over time: clicking a step selects it everywhere
        for name in ("loss", "indicators"):
            fig, key = figs[name], f"lt_chart_{name}"
            show_chart(fig, key=key, filename=f"live_{name}", on_select=lambda k=key: _on_chart_select(k),
                       selection_mode=("points", "box"))  # fmt: skip
        st.caption("Click a point (or drag a box: its first step is taken) on either chart to select a step.")
    with right:  # the selected step
        _step_picker(result, sel)
        if view is None:
            st.info("No analysed step yet.")
        else:
            show_chart(figs["spectrum"], key="lt_chart_spectrum", filename="live_spectrum")
            show_chart(figs["transient"], key="lt_chart_transient", filename="live_transient")
    if view is not None:
        fit_col, text_col = chart_columns("lt_fit", 2, min_width_rem=22)
        with fit_col:
            show_chart(figs["fit"], key="lt_chart_fit", filename="live_fit")
        with text_col:
            st.markdown(live.explain(result, view))
    with st.expander("What do κ(V), ρ(J) and pseudospectra mean?"):
        st.markdown(EXPLAINER)
    if ss.lt_live:
        st.caption("Downloads appear when the run is paused, finished or diverged.")
    else:
        st.subheader("Downloads")
        downloads(result, sel, figs)


def live_panel() -> None:
    """The streaming part of the page: a fragment that trains a chunk per tick while the run is live."""
    st.fragment(_panel, run_every=TICK if st.session_state.lt_live else None)()


def settings_notice(cfg: TrainConfig) -> None:
    """Tell the user when the sidebar settings differ from the run on screen."""
    tr = st.session_state.lt_trainer
    if tr is not None and tr.config != cfg:
        st.info("Settings changed since this run started: **▶ Start** begins a new run with them "
                "(the plots below keep the old run until then).")  # fmt: skip
