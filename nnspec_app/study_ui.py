"""Phase Study page helpers: grid widgets, running with progress/cancel, loading, tables, figures, export.

Numerics live in :mod:`nnspec_core.studies`; this module only wires widgets to it. Studies are written
under a fixed server-side root (``$NNSPEC_STUDIES_DIR`` or ``<repo>/studies``); the page only ever loads
directories listed from that root, never a path typed by the user.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import streamlit as st

from nnspec_app.limits import STUDY_STEP_BUDGET
from nnspec_app.ui import current_theme, kaleido_server, show_chart, user_errors
from nnspec_core import studies as S
from nnspec_core.study_presets import PRESETS

ROOT_ENV = "NNSPEC_STUDIES_DIR"
OPTIMIZER_NAMES = S.OPTIMIZER_LABELS
RUNNING = "ps_running"  # session flag: a run was started and has not finished (a rerun = cancelled)
LOADED = "ps_loaded"  # name of the study directory shown
SELECTED = "ps_selected_run"


def studies_root() -> Path:
    """Fixed directory holding the app's studies (created on demand)."""
    env = os.environ.get(ROOT_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[1] / "studies"


def init_study_state() -> None:
    st.session_state.setdefault(RUNNING, None)
    st.session_state.setdefault(LOADED, None)
    st.session_state.setdefault(SELECTED, None)


# ------------------------------------------------------------------------------------------ grid widgets
def grid_controls() -> S.StudyConfig:
    """Preset picker and grid editor (bound to the URL); returns the validated config (st.error on bad input)."""
    name = st.selectbox("Preset", list(PRESETS), key="ps_preset", bind="query-params", format_func=preset_label,
                        help="tiny: seconds (a smoke test); paper: the default reproduction (minutes); "
                        "deep: adds 3 and 4 layers (long). A preset marked “CLI only” trains more steps than this "
                        "shared server runs per study: the page shows the command that runs it.")  # fmt: skip
    base = PRESETS[name]
    with st.expander("Edit the grid", expanded=False):
        c1, c2, c3 = st.columns(3)
        opts = c1.multiselect("Optimizers", list(OPTIMIZER_NAMES), default=list(base.optimizers),
                              format_func=OPTIMIZER_NAMES.get, key=f"ps_opts_{name}", bind="query-params")  # fmt: skip
        n_seeds = int(
            c2.number_input(
                "Seeds",
                1.0,
                20.0,
                float(len(base.seeds)),
                1.0,
                format="%.0f",
                key=f"ps_seeds_{name}",
                bind="query-params",
            )
        )
        n_lrs = int(
            c3.number_input(
                "Learning rates",
                1.0,
                20.0,
                float(base.n_lrs),
                1.0,
                format="%.0f",
                key=f"ps_nlrs_{name}",
                bind="query-params",
            )
        )
        c4, c5, c6 = st.columns(3)
        lo = c4.number_input("lowest η / η_edge", 0.01, 100.0, base.lr_range[0], format="%.2f",
                             key=f"ps_lo_{name}", bind="query-params")  # fmt: skip
        hi = c5.number_input("highest η / η_edge", 0.01, 100.0, base.lr_range[1], format="%.2f",
                             key=f"ps_hi_{name}", bind="query-params")  # fmt: skip
        steps = int(
            c6.number_input(
                "Steps per run",
                5.0,
                2000.0,
                float(base.steps),
                1.0,
                format="%.0f",
                key=f"ps_steps_{name}",
                bind="query-params",
            )
        )
        st.caption(
            "η_edge is the learning rate at which the initial update operator reaches its classical "
            "stability threshold (2/λmax(H₀) for GD); the grid is log-spaced between the two multiples."
        )
    overrides = {"optimizers": list(opts), "seeds": list(range(int(n_seeds))), "n_lrs": int(n_lrs),
                 "lr_range": [float(lo), float(hi)], "steps": int(steps)}  # fmt: skip
    changed = {k: v for k, v in overrides.items() if v != S.StudyConfig.to_dict(base)[k]}
    with user_errors():
        config = S.StudyConfig.from_dict(changed, base=base) if changed else base
    if changed:
        config = S.StudyConfig.from_dict({"name": f"{name}-custom"}, base=config)
    return config


def _n_runs(config: S.StudyConfig) -> int:
    n_lr = len(config.lrs) if config.lrs else config.n_lrs
    return len(config.optimizers) * len(config.depths) * n_lr * len(config.seeds)


def step_count(config: S.StudyConfig) -> int:
    """Training steps of the whole grid (what :data:`STUDY_STEP_BUDGET` limits)."""
    return _n_runs(config) * config.steps


def preset_label(name: str) -> str:
    """The preset's name in the selector; ``"deep (CLI only: 32,400 steps)"`` when the app would refuse to run it."""
    steps = step_count(PRESETS[name])
    return f"{name} (CLI only: {steps:,} steps)" if steps > STUDY_STEP_BUDGET else name


def cli_run_command(config: S.StudyConfig) -> str:
    """The command that runs ``config`` into the studies folder, where "Open a finished study" lists it.

    Paths are relative to the studies folder (the server's absolute path is not shown): a named preset runs as
    ``--preset NAME``; an edited grid reads its settings from ``NAME.json`` (offered as a download).
    """
    src = f"--preset {config.name}" if PRESETS.get(config.name) == config else f"--config {config.name}.json"
    return f"python -m nnspec_core study {src} --out {directory_for(config).name}"


def _cli_block(config: S.StudyConfig) -> None:
    st.code(cli_run_command(config), language="bash", wrap_lines=True)
    if PRESETS.get(config.name) != config:
        st.download_button(f"{config.name}.json (the grid's settings)", data=json.dumps(config.to_dict(), indent=2),
                           file_name=f"{config.name}.json", mime="application/json", key="ps_config_json",
                           on_click="ignore")  # fmt: skip
    st.caption("Run it in the app's studies folder (studies/ in the repository, or $NNSPEC_STUDIES_DIR): the "
               "finished study then appears under “Open a finished study”.")  # fmt: skip


def directory_for(config: S.StudyConfig) -> Path:
    """Study directory of ``config`` under the root (named by its settings hash, so a rerun resumes)."""
    return studies_root() / f"{config.name}-{config.digest()}"


# ------------------------------------------------------------------------------------------ running
def run_section(config: S.StudyConfig) -> None:
    """Run button, progress bar and cancel; a finished run becomes the loaded study."""
    out = directory_for(config)
    if st.session_state.get(RUNNING):
        done = len(list((Path(st.session_state[RUNNING]) / "runs").glob("*.json")))
        st.warning(f"The study was cancelled: {done} finished run(s) are kept on disk; press Run to resume.")
        st.session_state[RUNNING] = None
    st.caption(f"{_n_runs(config)} runs of {config.steps} steps each, every step analysed in "
               f"{sum(len(config.conventions_for(o)) for o in config.optimizers)} state convention(s).")  # fmt: skip
    budget = step_count(config)
    if budget > STUDY_STEP_BUDGET:
        if PRESETS.get(config.name) == config:  # a CLI-only preset: how to run it, not a refusal
            st.info(f"The “{config.name}” preset trains {budget:,} steps, more than the {STUDY_STEP_BUDGET:,} this "
                    "shared server runs per study from the browser. Run it from the command line:")  # fmt: skip
        else:
            st.error(f"This grid trains {budget:,} steps; the app runs at most {STUDY_STEP_BUDGET:,} per study "
                     "(shared server). Use fewer runs or steps, or run it from the command line: "
                     f"{cli_run_command(config)}")  # fmt: skip
        _cli_block(config)
        return
    c1, c2 = st.columns([1, 3])
    if not c1.button("▶ Run study", key="ps_run", type="primary"):
        return
    if out.name in S.study_directories(out.parent):
        st.session_state[LOADED] = out.name
        st.success("This study has finished before: loaded it from disk.")
        return
    cancel = c2.empty()
    cancel.button("Cancel (keeps finished runs)", key="ps_cancel")
    bar = st.progress(0.0, text="Planning the grid (one Hessian per optimizer × seed)…")
    st.session_state[RUNNING] = str(out)

    def progress(ev: S.ProgressEvent) -> None:
        bar.progress(ev.done / max(ev.total, 1), text=ev.describe())

    with user_errors():
        result = S.run_study(config, out, force=True, progress=progress)
    st.session_state[RUNNING] = None
    cancel.empty()
    bar.progress(1.0, text=f"Done: {len(result.runs)} runs ({result.n_trained} trained, {result.n_cached} from disk).")
    st.session_state[LOADED] = out.name
    st.session_state[SELECTED] = None


def load_section() -> None:
    """Pick a finished study from the server-side list."""
    names = S.study_directories(studies_root())
    if not names:
        st.info("No finished study yet: run one with the preset picker.")
        return
    current = st.session_state.get(LOADED)
    index = names.index(current) if current in names else 0
    choice = st.selectbox("Finished study", names, index=index, key="ps_dir")
    if choice != current:
        st.session_state[LOADED] = choice
        st.session_state[SELECTED] = None


@st.cache_data(max_entries=4, ttl=3600, show_spinner="Loading the study…")
def _load(name: str, stamp: float) -> S.StudyResult:
    return S.load_study(studies_root() / name)


def loaded_study() -> S.StudyResult | None:
    """The loaded study (cached by directory name and study.json's modification time), or None."""
    name = st.session_state.get(LOADED)
    if not name or name not in S.study_directories(studies_root()):
        return None
    stamp = (studies_root() / name / "study.json").stat().st_mtime
    with user_errors():
        return _load(name, stamp)


# ------------------------------------------------------------------------------------------ views
@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _figures(name: str, stamp: float, group: tuple, rule: str, selected: str | None, talk: bool,
             _result: S.StudyResult) -> dict:  # fmt: skip
    opt, depth, coords = group
    return S.study_figures(_result, optimizer=opt, depth=depth, coords=coords, rule=rule, selected=selected,
                           theme=current_theme())  # fmt: skip


def _group_label(g: tuple[str, int, str]) -> str:
    return f"{OPTIMIZER_NAMES.get(g[0], g[0])}, depth {g[1]}, {g[2]} coordinates"


def views(result: S.StudyResult) -> dict:
    """Claims, results table and figures of the loaded study; returns the figures shown (for export)."""
    cfg = result.config
    st.subheader(f"Study “{cfg.name}”: {len(result.runs)} runs")
    edges = "; ".join(
        f"{OPTIMIZER_NAMES.get(e.optimizer, e.optimizer)} (depth {e.depth}): η_edge = {S.fmt_value(e.lr_edge)}, "
        f"η from {cfg.lr_range_for(e.optimizer)[0]:g}× to {cfg.lr_range_for(e.optimizer)[1]:g}× η_edge"
        for e in result.edges
    )
    st.caption(f"Stability edges from the initial Hessian and the learning rates run: {edges}.")
    st.markdown("#### The paper's claims beside what this study measured")
    st.table(S.claims_records(result.claims))
    st.caption("95 % confidence intervals come from a bootstrap that resamples whole runs. “within-η AUROC” "
               "compares stable and unstable steps only at the same learning rate (pooled AUROC partly "
               "measures η itself). A verdict is printed for every labelling rule.")  # fmt: skip
    groups = S.study_groups(result)
    c1, c2 = st.columns(2)
    group = c1.selectbox("Optimizer, depth and state convention", groups, format_func=_group_label,
                         key="ps_group")  # fmt: skip
    rules = [r.name for r in cfg.rules]
    rule = c2.selectbox("Labelling rule", rules, key="ps_rule", bind="query-params")
    st.caption(next(r.describe() for r in cfg.rules if r.name == rule))
    with st.expander("Results table (all indicators)", expanded=False):
        st.dataframe(S.results_records(result, rule=rule), hide_index=True, key="ps_results_table")
    name = st.session_state[LOADED]
    stamp = (studies_root() / name / "study.json").stat().st_mtime
    talk = bool(st.session_state.get("talk_theme"))
    figs = _figures(name, stamp, tuple(group), rule, st.session_state.get(SELECTED), talk, result)
    tabs = st.tabs(["Runs", "Distributions", "ROC", "Lead times"])
    with tabs[0]:
        st.caption("Each marker is one run (learning rate × seed), coloured by its phase under the rule: "
                   "diverged, unstable (some window spikes or oscillates), stable (every window converges) or "
                   "ambiguous. Click a run to see its loss and indicators.")  # fmt: skip
        grid_key = "ps_grid_" + "_".join(map(str, group))  # one selection state per group
        event = show_chart(figs["run_grid"], key=grid_key, filename="run_grid", on_select="rerun")
        _select_from(event, result, group)
        if "loss" in figs:
            show_chart(figs["loss"], key="ps_loss", filename="run_loss")
            show_chart(figs["indicators"], key="ps_indicators", filename="run_indicators")
    with tabs[1]:
        st.caption("Every analysed step of every run, split by the phase of its window (log scale). The "
                   "ratio is median(unstable) / median(stable); AUROC = chance that an unstable step scores "
                   "higher than a stable one (0.5 = no separation).")  # fmt: skip
        if "distributions" in figs:
            show_chart(figs["distributions"], key="ps_dist", filename="distributions")
    with tabs[2]:
        if "roc" in figs:
            show_chart(figs["roc"], key="ps_roc", filename="roc")
        else:
            st.info("Only one phase occurs in this group, so there is no ROC curve.")
    with tabs[3]:
        if "lead_times" in figs:
            st.caption("Steps between an indicator first crossing its threshold (chosen on held-out seeds) and "
                       "the start of a loss spike.")  # fmt: skip
            show_chart(figs["lead_times"], key="ps_lead", filename="lead_times")
        else:
            st.info("No loss spike was preceded by a threshold crossing in this group (or no spikes occurred).")
    return figs


def _select_from(event: Any, result: S.StudyResult, group: tuple) -> None:
    """Store the run clicked on the grid (the point's x = learning rate, y = seed) and rerun to show it."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        points = []
    if not points:
        return
    grid = S.run_grid(result, optimizer=group[0], depth=group[1])
    key = grid.key_at(points[0].get("x"), points[0].get("y"))
    if key and key != st.session_state.get(SELECTED):
        st.session_state[SELECTED] = key
        st.rerun()


# ------------------------------------------------------------------------------------------ export
def study_zip(result: S.StudyResult, figs: dict, *, formats: tuple[str, ...] = ("png", "svg", "pdf", "html")) -> bytes:
    """The "Download everything" zip: figures, the study's tables (CSV/Markdown), settings and CLI command."""
    from nnspec_core.export import bundle_zip

    out = Path(result.directory)
    names = ["claims.csv", "claims.md", "results.csv", "results.md", "runs.csv", "lead_times.csv", "run_table.csv"]
    data = {n: (out / n).read_text(encoding="utf-8") for n in names}
    settings = json.loads((out / "config.json").read_text(encoding="utf-8"))
    cmd = S.study_command(result, relative=True, config="settings.json")  # settings.json is the study's config.json
    return bundle_zip(figs, data=data, settings=settings, cli_command=cmd, formats=formats)


def export_section(result: S.StudyResult, figs: dict) -> None:
    """Per-figure HTML and the "Download everything" zip (built only when clicked)."""
    from nnspec_core.export import figure_html

    st.markdown("#### Export")
    with st.expander("Single figures (interactive HTML)", expanded=False):
        cols = st.columns(3)
        for k, (fname, fig) in enumerate(figs.items()):
            html = lambda f=fig, n=fname: figure_html(f, filename=n).encode()  # noqa: E731 - built on click
            cols[k % 3].download_button(f"{fname}.html", data=html, file_name=f"{fname}.html", mime="text/html",
                                        key=f"ps_html_{fname}", on_click="ignore")  # fmt: skip
    out = Path(result.directory)

    def _zip() -> bytes:
        kaleido_server()  # the process-wide Chromium for PNG/SVG/PDF (falls back to HTML only if unavailable)
        return study_zip(result, figs)

    st.download_button("Download everything (zip)", data=_zip, file_name=f"phase_study_{out.name}.zip",
                       mime="application/zip", key="ps_zip", on_click="ignore", type="primary",
                       help="All figures (PNG, SVG, PDF, HTML), the tables, the settings and the CLI "
                       "command. Building it takes a few seconds.")  # fmt: skip
    st.code(S.study_command(result, relative=True), language="bash", wrap_lines=True)
    st.caption("Regenerates the tables from the study's settings: run it in the app's studies folder (studies/ in "
               "the repository, or $NNSPEC_STUDIES_DIR).")  # fmt: skip
