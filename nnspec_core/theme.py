"""Figure themes: fonts, line widths, a colour-blind-safe palette, background and size.

A :class:`Theme` is a small frozen dataclass handed to every builder in
:mod:`nnspec_core.figures`. Builders read trace-level styling (line widths, marker
sizes, palette, colourscales) from it while they build, then call :func:`apply_theme`
for the layout-level part (fonts, background, size, template, margins).

Plotly's global template (``plotly.io.templates.default``) is never touched and never
used: each figure names its own template ("none" by default, i.e. plotly.js defaults plus
the explicit styling here — fast to build, about 25 ms less per figure than expanding
"plotly_white", and independent of whatever template a host application set globally).

``TALK_THEME`` is for slides: large fonts, thick lines, a fixed 16:9 size of
1600 x 900 px, white background. Because the size and fonts live in the figure's
layout, a chart shown with ``st.plotly_chart(fig, theme=None)`` and the file written
by :func:`nnspec_core.export.figure_bytes` look the same.

Labels are plain Unicode (κ, ρ, ε, ‖Jᵏ‖₂, log₁₀): MathJax is fetched from the
internet and does not render offline, so no LaTeX is used anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from plotly.colors import get_colorscale

from nnspec_core._validation import check_choice

__all__ = [
    "OKABE_ITO",
    "Theme",
    "DEFAULT_THEME",
    "TALK_THEME",
    "talk_theme",
    "apply_theme",
    "layout_style",
    "axis_style",
    "theme_meta",
    "BACKGROUNDS",
    "MAGMA",
    "STREAMLIT_PLACEHOLDERS",
    "streamlit_safe_color",
    "streamlit_safe_colorscale",
]

#: Okabe & Ito (2008) colour-blind-safe qualitative palette (blue, vermillion, bluish green,
#: orange, reddish purple, sky blue, yellow, black). Yellow is last but one: it is weak on white.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#E69F00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)

#: Colours Streamlit's Plotly theme (``st.plotly_chart(fig, theme="streamlit")``, the default) treats as placeholders:
#: its frontend replaces every occurrence of "#000001" ... "#000040" in the figure JSON (``replaceAll`` on the
#: serialised spec, see streamlit/elements/lib/streamlit_plotly_theme.py) with the app theme's chart colours. A
#: colourscale that contains one (Plotly's "Magma" starts at "#000004") gets e.g. pink "#ffabab" at that end.
STREAMLIT_PLACEHOLDERS: frozenset[str] = frozenset(f"#{i:06d}" for i in range(1, 41))


def streamlit_safe_color(color: str) -> str:
    """``color`` unless Streamlit would replace it (see :data:`STREAMLIT_PLACEHOLDERS`); then the same colour with
    the red channel raised from 00 to 01 ("#000004" -> "#010004": indistinguishable, and left alone)."""
    if isinstance(color, str) and color.strip().lower() in STREAMLIT_PLACEHOLDERS:
        return "#01" + color.strip()[3:]
    return color


def streamlit_safe_colorscale(scale: Any) -> Any:
    """A colourscale Streamlit leaves alone: a named scale that contains a placeholder colour (e.g. "Magma") is
    expanded to its ``((position, colour), ...)`` pairs with that colour nudged; other names are kept; explicit
    ``[[position, colour], ...]`` pairs come back as a tuple of pairs (hashable, for the frozen :class:`Theme`)."""
    try:
        pairs = get_colorscale(scale) if isinstance(scale, str) else scale
        pairs = tuple((float(pos), str(col)) for pos, col in pairs)
    except Exception:  # plotly's PlotlyError for an unknown name, TypeError/ValueError for a malformed list
        raise ValueError(f"colourscale must be a Plotly scale name or [[pos, colour], ...]; got {scale!r}.") from None
    if isinstance(scale, str) and not any(col.strip().lower() in STREAMLIT_PLACEHOLDERS for _, col in pairs):
        return scale
    return tuple((pos, streamlit_safe_color(col)) for pos, col in pairs)


#: Plotly's "Magma" (dark = low, light yellow = high) with its first colour "#000004" -- a Streamlit placeholder that
#: turned the best-conditioned end of the κ(V) map pink -- replaced by the visually identical "#010004".
MAGMA: tuple[tuple[float, str], ...] = streamlit_safe_colorscale("Magma")

BACKGROUNDS = ("white", "transparent")
_TRANSPARENT = "rgba(0,0,0,0)"


@dataclass(frozen=True)
class Theme:
    """Styling shared by all nnspec figures.

    Attributes
    ----------
    name : str
        Short identifier ("default", "talk").
    font_family : str
        CSS font stack. DejaVu Sans comes first because it covers the Unicode symbols
        used in labels (ᵏ, ‖, ₁₀, ᴴ) and is what Debian's Chromium (kaleido) renders with.
    font_size, title_font_size : int
        Base and title font sizes in px.
    line_width : float
        Width of data lines in px (bounds and references use fractions of it).
    marker_size : float
        Diameter of data markers in px.
    palette : tuple of str
        Qualitative colour cycle (hex); colour-blind safe by default (Okabe–Ito).
    background : {"white", "transparent"}
        Paper and plot background; "transparent" gives PNG/SVG without a background.
    width, height : int or None
        Figure size in px; ``None`` lets the container (or the builder) choose.
    template : str
        Name of a built-in Plotly template set on each figure (never globally); "none"
        keeps figures independent of ``plotly.io.templates.default``.
    colorscale_pseudo : str or tuple of (position, colour)
        Sequential colourscale for ε-pseudospectral contour lines.
    colorscale_kappa : str or tuple of (position, colour)
        Sequential colourscale for κ(V) and other parameter maps (default :data:`MAGMA`, dark = well conditioned).
    colorscale_cond : str or tuple of (position, colour)
        Sequential colourscale for eigenvalue condition numbers.

        Colours and scales are made safe for Streamlit's Plotly theme on construction: a colour in
        :data:`STREAMLIT_PLACEHOLDERS` (which Streamlit would replace by its own) is nudged by one unit of red,
        and a named scale containing one is expanded to explicit pairs.
    grid_color : str
        Colour of axis grid lines.
    text_color : str
        Colour of text and reference lines (axes, unit circle).
    """

    name: str = "default"
    font_family: str = "DejaVu Sans, Verdana, Arial, sans-serif"
    font_size: int = 13
    title_font_size: int = 16
    line_width: float = 2.0
    marker_size: float = 7.0
    palette: tuple[str, ...] = OKABE_ITO
    background: str = "white"
    width: int | None = None
    height: int | None = None
    template: str = "none"
    colorscale_pseudo: str | tuple = "Viridis"
    colorscale_kappa: str | tuple = MAGMA
    colorscale_cond: str | tuple = "Plasma"
    grid_color: str = "#E5E5E5"
    text_color: str = "#222222"

    def __post_init__(self) -> None:
        check_choice(self.background, "background", BACKGROUNDS)
        if not self.palette or not all(isinstance(c, str) for c in self.palette):
            raise ValueError(f"palette must be a non-empty tuple of colour strings; got {self.palette!r}.")
        # Streamlit's theme="streamlit" rewrites placeholder colours anywhere in the figure JSON
        object.__setattr__(self, "palette", tuple(streamlit_safe_color(c) for c in self.palette))
        for field in ("grid_color", "text_color"):
            object.__setattr__(self, field, streamlit_safe_color(getattr(self, field)))
        for field in ("colorscale_pseudo", "colorscale_kappa", "colorscale_cond"):
            object.__setattr__(self, field, streamlit_safe_colorscale(getattr(self, field)))
        for field in ("width", "height"):
            val = getattr(self, field)
            if val is not None and (not isinstance(val, int) or isinstance(val, bool) or val < 10):
                raise ValueError(f"{field} must be None or an integer >= 10 px; got {val!r}.")
        for field in ("font_size", "title_font_size", "line_width", "marker_size"):
            val = getattr(self, field)
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not val > 0:
                raise ValueError(f"{field} must be a positive number; got {val!r}.")

    def color(self, i: int) -> str:
        """Colour ``i`` of the palette, cycling."""
        return self.palette[i % len(self.palette)]

    @property
    def bgcolor(self) -> str:
        """Plotly colour string of the background."""
        return _TRANSPARENT if self.background == "transparent" else "white"


DEFAULT_THEME = Theme()


def talk_theme(background: str = "white") -> Theme:
    """Theme for slides: 1600 x 900 px (16:9), large fonts, thick lines, Okabe–Ito palette.

    Parameters
    ----------
    background : {"white", "transparent"}
        "transparent" removes paper and plot backgrounds (for dark or coloured slides).

    Returns
    -------
    Theme
    """
    check_choice(background, "background", BACKGROUNDS)
    return Theme(
        name="talk",
        font_size=26,
        title_font_size=32,
        line_width=4.5,
        marker_size=14.0,
        background=background,
        width=1600,
        height=900,
        grid_color="#D9D9D9",
        text_color="#000000",
    )


TALK_THEME = talk_theme()


def apply_theme(fig: go.Figure, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Return a restyled copy of ``fig``; the argument is not modified.

    Sets the layout-level styling: template (by name, on this figure only), font family,
    size and colour, title size, colourway (palette), paper/plot background, axis grid and
    line colours, legend font and — if the theme fixes them — width and height, with
    margins scaled to the font.

    Figures made by :mod:`nnspec_core.figures` record the theme they were built with in
    ``layout.meta["nnspec_theme"]``; for those, trace line widths, marker sizes and
    annotation fonts are rescaled by the ratio of the new to the old theme's values, so
    ``apply_theme(plot_x(..., theme=DEFAULT_THEME), TALK_THEME)`` matches
    ``plot_x(..., theme=TALK_THEME)`` in sizes. (Building with the right theme directly is
    cheaper: it avoids the copy.)

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
    theme : Theme

    Returns
    -------
    plotly.graph_objects.Figure
        A new figure.
    """
    if not isinstance(fig, go.Figure):
        raise TypeError(f"fig must be a plotly.graph_objects.Figure; got {type(fig).__name__}.")
    if not isinstance(theme, Theme):
        raise TypeError(f"theme must be a nnspec_core.theme.Theme; got {type(theme).__name__}.")
    out = go.Figure(fig)
    meta = dict(out.layout.meta) if isinstance(out.layout.meta, dict) else {}
    old = meta.get("nnspec_theme")
    if isinstance(old, dict):
        _rescale_traces(out, theme, old)
    style_inplace(out, theme)
    if isinstance(old, dict):
        out.update_layout(meta=meta | {"nnspec_theme": theme_meta(theme)})
    return out


def theme_meta(theme: Theme) -> dict:
    """What builders record in ``layout.meta["nnspec_theme"]`` (used by :func:`apply_theme`)."""
    return dict(name=theme.name, line_width=theme.line_width, marker_size=theme.marker_size, font_size=theme.font_size)


def _rescale_traces(fig: go.Figure, theme: Theme, old: dict) -> None:
    r_line = theme.line_width / float(old.get("line_width", theme.line_width))
    r_mark = theme.marker_size / float(old.get("marker_size", theme.marker_size))
    r_font = theme.font_size / float(old.get("font_size", theme.font_size))
    for trace in fig.data:
        line = getattr(trace, "line", None)
        if line is not None and isinstance(getattr(line, "width", None), (int, float)) and r_line != 1:
            line.width = line.width * r_line
        marker = getattr(trace, "marker", None)
        if marker is not None and isinstance(getattr(marker, "size", None), (int, float)) and r_mark != 1:
            marker.size = marker.size * r_mark
    if r_line != 1:
        for shape in fig.layout.shapes:
            if isinstance(shape.line.width, (int, float)):
                shape.line.width = shape.line.width * r_line
    if r_font != 1:
        for ann in fig.layout.annotations:
            if ann.font.size is not None:
                ann.font.size = ann.font.size * r_font


def style_inplace(fig: go.Figure, theme: Theme) -> go.Figure:
    """Layout styling of :func:`apply_theme` applied to ``fig`` itself; returns ``fig``."""
    fig.update_layout(layout_style(theme, has_title=bool(fig.layout.title.text)))
    fig.update_xaxes(**axis_style(theme))
    fig.update_yaxes(**axis_style(theme))
    return fig


def layout_style(theme: Theme, *, has_title: bool = False) -> dict:
    """Layout properties set by a theme (template, fonts, palette, background, margins, size), as a dict.

    Builders merge this into the layout they construct, so a figure is created in one
    validated step (several times faster than updating a figure property by property).
    """
    m = int(round(3.2 * theme.font_size))
    out = dict(
        template=theme.template,
        font=dict(family=theme.font_family, size=theme.font_size, color=theme.text_color),
        title_font=dict(size=theme.title_font_size),
        colorway=list(theme.palette),
        paper_bgcolor=theme.bgcolor,
        plot_bgcolor=theme.bgcolor,
        legend=dict(font=dict(size=theme.font_size), bgcolor=_TRANSPARENT),
        hoverlabel=dict(font=dict(family=theme.font_family, size=max(theme.font_size - 1, 8))),
        margin=dict(l=m + 20, r=m, t=m + (theme.title_font_size if has_title else 0), b=m + 10),
    )
    if theme.width is not None:
        out["width"] = theme.width
    if theme.height is not None:
        out["height"] = theme.height
    return out


def axis_style(theme: Theme) -> dict:
    """Properties a theme sets on every x/y axis (grid, zero line, axis line, ticks), as a dict."""
    return dict(
        automargin=True,
        showgrid=True,
        gridcolor=theme.grid_color,
        zerolinecolor=theme.grid_color,
        showline=True,
        linecolor=theme.text_color,
        ticks="outside",
        tickcolor=theme.text_color,
        # log axes: labels at powers of ten only (as matplotlib). Plotly's default digit labels ("2, 3, 4" for 20,
        # 30, 40) read as the decade below's values; complete minor labels ("20, 30") overlapped on narrow charts
        minorloglabels="none",
        # no SI suffixes: "100μ" would read as an eigenvalue μ, "10k" as a step k
        exponentformat="e",
    )
