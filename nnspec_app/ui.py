"""Shared UI pieces: sidebar, themed chart display, error handling, export buttons.

Pages call these so that every chart gets the same modebar config (SVG at scale 2),
the same talk-theme handling and the same "clear message, never a traceback" policy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from nnspec_core.export import plotly_config
from nnspec_core.theme import DEFAULT_THEME, Theme, apply_theme, talk_theme

#: Browser-tab icon, inline: a Material ":material/..." page icon makes the browser fetch the favicon from
#: fonts.gstatic.com, which fails (a console error) on the offline machines nnspec is shown from.
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f4e99"/>'
    '<circle cx="16" cy="16" r="10" fill="none" stroke="#fff" stroke-width="1.5" stroke-dasharray="3 2"/>'
    '<circle cx="11" cy="16" r="3" fill="#ffb000"/><circle cx="21" cy="16" r="3" fill="#ffb000"/></svg>'
)
TALK_KEY = "talk_theme"
BG_KEY = "talk_background"


def init_state() -> None:
    """Session-state defaults shared by all pages (UI state only)."""
    st.session_state.setdefault(TALK_KEY, False)
    st.session_state.setdefault(BG_KEY, "white")


def sidebar_common() -> None:
    """Sidebar controls shared by every page (talk theme)."""
    with st.sidebar:
        st.toggle(
            "Talk theme (large fonts, 16:9)",
            key=TALK_KEY,
            help="Large fonts, thick lines, colour-blind-safe palette; exported files look the same.",
        )
        if st.session_state.get(TALK_KEY):
            st.radio("Background", ["white", "transparent"], key=BG_KEY, horizontal=True)


def current_theme() -> Theme:
    """The theme chosen in the sidebar."""
    if st.session_state.get(TALK_KEY):
        return talk_theme(background=st.session_state.get(BG_KEY, "white"))
    return DEFAULT_THEME


def show_chart(
    fig: go.Figure, *, key: str, filename: str = "nnspec", on_select: str = "ignore", selection_mode: Any = ("points",)
) -> Any:
    """Display ``fig`` themed, with the modebar download set to SVG at scale 2; return the selection state."""
    theme = current_theme()
    fig = _keep_equal_aspect_window(apply_theme(fig, theme))
    talk = bool(st.session_state.get(TALK_KEY))
    kwargs: dict[str, Any] = {
        "key": key,
        "config": plotly_config(filename=filename),
        "theme": None if talk else "streamlit",
    }
    if talk:  # keep the 16:9 export size on screen so the chart and the exported file look the same
        kwargs["width"] = "content"
    if on_select != "ignore":
        kwargs.update(on_select=on_select, selection_mode=selection_mode)
    return st.plotly_chart(fig, **kwargs)


def _keep_equal_aspect_window(fig: go.Figure) -> go.Figure:
    """Equal-aspect charts (``scaleanchor``) keep their ranges exactly: Plotly shrinks the plot area instead.

    With Plotly's default ``constrain="range"`` the browser widens the ranges to fit the plot area's aspect and
    writes them back; every redraw with a new automargin then widens them again, so the window shown drifted
    with the chart's redraw history (seen: ~7 % wider after a zoom reset in the Matrix Explorer). With
    ``constrain="domain"`` the window shown is the figure's own (a pure function of the data).
    """
    for name in [k for k in fig.layout if k.startswith("yaxis")]:
        anchor = getattr(fig.layout[name], "scaleanchor", None)
        if not anchor:
            continue
        x_name = "xaxis" + anchor.removeprefix("x")
        for axis in (name, x_name):
            if fig.layout[axis].constrain is None:
                fig.layout[axis].constrain = "domain"
    return fig


def wrapping_columns(key: str, *, min_width_rem: float) -> Any:
    """A container (``key=key``) whose ``st.columns`` rows wrap when a column would be narrower than ``min_width_rem``.

    Streamlit keeps columns side by side down to a 640 px window; on a narrow window with the sidebar open
    (e.g. 800 px) charts then shrink to illegible stamps and labels are cut. Rows made directly inside the
    returned container wrap instead (nested rows are not affected); each column still grows to fill its line.
    """
    row = f".st-key-{key} > [data-testid='stLayoutWrapper'] > [data-testid='stHorizontalBlock']"
    col = f"{row} > [data-testid='stColumn']"
    css = f"{row} {{flex-wrap: wrap; row-gap: 1rem;}} {col} {{min-width: min(100%, {min_width_rem:g}rem);}}"
    st.html(f"<style>{css}</style>")
    return st.container(key=key)


def chart_columns(key: str, spec: int | list[float], *, min_width_rem: float, gap: str = "medium") -> list[Any]:
    """Columns for charts side by side (wrapping when narrow, see :func:`wrapping_columns`); in the talk theme one
    full-width container per column instead, stacked in order.

    Talk figures have 26-32 px fonts and a 900 px height; Streamlit caps their width at the column's, so in a column
    (e.g. 360 px for the Matrix Explorer's transient chart at 1400 px) their titles and legends were clipped.
    """
    n = spec if isinstance(spec, int) else len(spec)
    if st.session_state.get(TALK_KEY):
        box = st.container(key=key)
        return [box.container() for _ in range(n)]
    return wrapping_columns(key, min_width_rem=min_width_rem).columns(spec, gap=gap)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn ValueError/TypeError raised by core calls into a one-line ``st.error`` and stop the run."""
    try:
        yield
    except (ValueError, TypeError, OverflowError, ArithmeticError) as err:
        st.error(str(err).splitlines()[0] if str(err) else type(err).__name__)
        st.stop()


@st.cache_resource(show_spinner="Starting the figure renderer (Chromium, once per server)…")
def _kaleido_started() -> bool:
    from nnspec_core.export import start_kaleido

    return start_kaleido()


def kaleido_server() -> bool:
    """Start kaleido's process-wide Chromium once (held by ``st.cache_resource``); False if unavailable.

    A failed start is not cached, so a transient failure (a busy machine) is retried on the next call.
    """
    ok = _kaleido_started()
    if not ok:
        _kaleido_started.clear()
    return ok
