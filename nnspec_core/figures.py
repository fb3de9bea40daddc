"""Pure Plotly figure builders used by every page, the CLI and the export bundle.

Every builder takes plain NumPy arrays and scalars, returns a new
``plotly.graph_objects.Figure`` and

* reshapes for display only (log10 for a log colour axis, gaps for non-finite
  values, spans of a boolean mask) — it computes no numerics of its own;
* does no I/O, never imports streamlit and never mutates Plotly's global template;
* labels every axis with Unicode symbols, units and norms ("Re μ", "‖Jᵏ‖₂", "step")
  because MathJax does not render offline;
* sets ``layout.uirevision`` so zoom and legend state survive redraws with new data;
* uses marker (scatter) traces wherever a click or box selection should report a point
  (Streamlit's ``on_select`` reports scatter points, not heatmap cells or bare lines),
  with the point's coordinates in ``customdata``.

Non-finite values never raise: ``+inf`` (for example κ(V) at an exceptional point) is
shown at the top of the colour range and reported as "∞" in the hover; NaN becomes a gap.
Values that cannot be drawn on a log axis (<= 0) become gaps as well.

The modebar configuration (download as SVG at scale 2) is applied where the figure is
shown or written: see :func:`nnspec_core.export.plotly_config`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from nnspec_core._validation import check_matrix, check_scalar
from nnspec_core.theme import DEFAULT_THEME, Theme, axis_style, layout_style, theme_meta

__all__ = [
    "critical_point_kind",
    "plot_spectrum",
    "plot_transient",
    "plot_param_map",
    "plot_loss",
    "plot_indicators",
    "plot_fit",
    "plot_trajectory_2d",
    "plot_phase_distributions",
    "plot_roc",
    "plot_lead_times",
    "plot_run_grid",
    "eps_label",
]

_SYMBOLS = ("circle", "x", "diamond", "square", "triangle-up", "star", "cross", "triangle-down")
_DASHES = ("solid", "dash", "dot", "dashdot")
# Legend under the plot (container coordinates, so Plotly grows the bottom margin to fit it);
# "normal" order keeps legend groups on one line instead of stacking them.
_LEGEND = dict(orientation="h", traceorder="normal", yref="container", y=0.0, yanchor="bottom", x=0.0, xanchor="left")


# ----------------------------------------------------------------------------------------- helpers
def _check_theme(theme: Any) -> Theme:
    if not isinstance(theme, Theme):
        raise TypeError(f"theme must be a nnspec_core.theme.Theme; got {type(theme).__name__}.")
    return theme


def _vector(x: Any, name: str, *, length: int | None = None, like: str = "", complex_ok: bool = False) -> np.ndarray:
    """Return ``x`` as a 1-D float64 (or complex128) array, or raise a one-line error."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError):
        raise ValueError(f"{name} must be a 1-D numeric array; got a ragged {type(x).__name__}.") from None
    if arr.dtype == object or arr.dtype.kind in "USVbMm":
        raise TypeError(f"{name} must be a numeric array; got dtype {arr.dtype}.")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array; got shape {arr.shape}.")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name} must have length {length}{f' (like {like})' if like else ''}; got {arr.shape[0]}.")
    if np.iscomplexobj(arr):
        if not complex_ok:
            raise TypeError(f"{name} must be real; got a complex array.")
        return arr.astype(np.complex128)
    return arr.astype(np.complex128 if complex_ok else np.float64)


def _labels(x: Any, name: str, *, length: int) -> np.ndarray:
    """Return ``x`` as a 1-D array of str of the given length."""
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.shape[0] != length:
        raise ValueError(f"{name} must be a 1-D sequence of length {length}; got shape {arr.shape}.")
    return arr.astype(str)


def _grid(z: Any, name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Return ``z`` as a real 2-D float64 array (non-finite allowed), optionally of a given shape."""
    arr = check_matrix(z, name, square=False, finite=False, max_dim=None)
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real; got a complex array.")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (len(y), len(x)); got {arr.shape}.")
    return arr


def _log_ok(y: np.ndarray) -> np.ndarray:
    """Values drawable on a log axis: non-positive and non-finite entries become NaN (gaps)."""
    y = np.array(y, dtype=float)
    y[~(np.isfinite(y) & (y > 0))] = np.nan
    return y


def _finite_or_nan(y: np.ndarray) -> np.ndarray:
    y = np.array(y, dtype=float)
    y[~np.isfinite(y)] = np.nan
    return y


def _fmt(v: float) -> str:
    """Short number for hovers and labels; ∞ / −∞ / nan for non-finite values."""
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "∞" if v > 0 else "−∞"
    return f"{v:.4g}"


def _fmt_array(v: np.ndarray) -> np.ndarray:
    """:func:`_fmt` of every entry, vectorised (1-D str array)."""
    v = np.asarray(v, dtype=float).ravel()
    out = np.array([f"{x:.4g}" for x in v.tolist()], dtype=object)
    out[np.isposinf(v)] = "∞"
    out[np.isneginf(v)] = "−∞"
    out[np.isnan(v)] = "nan"
    return out.astype(str)


def _tick_text(v: float, digits: int = 1) -> str:
    """Tick label in the themes' exponent style (``exponentformat="e"``, as Plotly labels 1e+4 and 0.001): plain for
    1e-3 <= |v| < 1e4 ("0.002", "20", "1.15"), else mantissa and exponent ("2e+5", "1.5e-7"); ``digits`` significant
    digits at most, trailing zeros dropped."""
    if v == 0 or not np.isfinite(v):
        return _fmt(v)
    e = int(np.floor(np.log10(abs(v))))
    m = round(v / 10.0**e, max(digits - 1, 0))
    if abs(m) >= 10:  # 9.96 rounded up to 10.0
        e, m = e + 1, m / 10
    if -3 <= e <= 3:
        out = f"{v:.{max(digits - 1 - e, 0)}f}"
        return out.rstrip("0").rstrip(".") if "." in out else out
    mant = f"{m:.{max(digits - 1, 0)}f}"
    mant = mant.rstrip("0").rstrip(".") if "." in mant else mant
    return f"{mant}e{e:+d}"


#: Finite data on a log axis spanning fewer decades than this gets explicit 1-2-5 ticks (see :func:`_log_ticks`).
_NARROW_LOG_DECADES = 1.5


def _log_ticks(*arrays: Any) -> dict:
    """Tick properties for a log axis showing ``arrays``' finite positive values, or ``{}`` to keep Plotly's.

    The themes label log axes at powers of ten only (``minorloglabels="none"``): over fewer than
    :data:`_NARROW_LOG_DECADES` decades (or with fewer than two powers of ten inside, e.g. 0.02 .. 0.9) that leaves
    one label or none (values 1 .. 3.06 showed only "1"). Then ticks
    are placed explicitly inside the data range, at the coarsest of mantissas 1-2-5, 1-2-3-5-7, 1..9, or evenly
    spaced 1-2-5 steps (a range much narrower than a decade is nearly linear) that gives at least 3, labelled in
    the themes' exponent style. Wider ranges (and a single value, which Plotly pads by decades) return ``{}``.
    """
    parts = [np.asarray(a, dtype=float).ravel() for a in arrays if a is not None]
    v = np.concatenate(parts) if parts else np.empty(0)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return {}
    lo, hi = float(v.min()), float(v.max())
    tol = 1e-9
    powers = np.floor(np.log10(hi) + tol) - np.ceil(np.log10(lo) - tol) + 1  # powers of ten in [lo, hi]
    if not hi > lo * (1 + tol) or (np.log10(hi / lo) >= _NARROW_LOG_DECADES and powers >= 2):
        return {}
    decades = 10.0 ** np.arange(np.floor(np.log10(lo)), np.floor(np.log10(hi)) + 1)
    for mantissas in ((1, 2, 5), (1, 2, 3, 5, 7), tuple(range(1, 10))):  # 1..9 crowd at the decade's top: last
        ticks = np.outer(decades, mantissas).ravel()
        ticks = np.sort(ticks[(ticks >= lo * (1 - tol)) & (ticks <= hi * (1 + tol))])
        ticks = np.array([float(f"{t:.12g}") for t in ticks])  # 0.7, not 7 * 0.1 = 0.7000000000000001
        if ticks.size >= 3:
            return dict(tickmode="array", tickvals=ticks.tolist(), ticktext=[_tick_text(t) for t in ticks])
    # nearly linear: the largest step 1, 2 or 5 x 10^n with at least 3 multiples in [lo, hi]
    raw = (hi - lo) / 3
    mag = 10.0 ** np.floor(np.log10(raw))
    step = max(m * mag for m in (1, 2, 5) if m * mag <= raw * (1 + tol))
    ticks = np.array(_multiples(lo, hi, step))
    digits = int(np.clip(np.floor(np.log10(hi)) - np.floor(np.log10(step)) + 1, 1, 15))
    return dict(tickmode="array", tickvals=ticks.tolist(), ticktext=[_tick_text(t, digits) for t in ticks])


def eps_label(level: float) -> str:
    """Legend label of the ε-pseudospectral contour at ``log10 ε = level``: ``"ε = 1e-3"``, ``"ε = 3.2e-3"``
    (one exponent style for whole and fractional levels)."""
    if float(level).is_integer():
        return f"ε = 1e{int(level)}"
    mantissa, exponent = f"{10.0**level:.1e}".split("e")
    return f"ε = {mantissa}e{int(exponent)}"


def _title(text: str) -> dict:
    """Title at the figure's left edge (``xref="container"``): anchored to the plot area instead, it started
    at an equal-aspect plot's narrowed left edge and ran off the figure in narrow columns."""
    return dict(text=text, xref="container", x=0.0, xanchor="left", pad=dict(l=12)) if text else dict(text="")


def _nest(kw: Mapping[str, Any]) -> dict:
    """Plotly's "magic underscore" keys as nested dicts: ``{"title_text": "k"} -> {"title": {"text": "k"}}``."""
    out: dict = {}
    for key, val in kw.items():
        parts = key.split("_")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _nest(val) if isinstance(val, Mapping) else val
    return out


def _merge(base: dict, new: Mapping) -> dict:
    """Deep-merge ``new`` into ``base`` (``new`` wins); returns ``base``."""
    for key, val in new.items():
        if isinstance(val, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], val)
        else:
            base[key] = dict(val) if isinstance(val, Mapping) else val
    return base


class _Draft:
    """Collects traces, layout, shapes and annotations; :func:`_finish` builds the Figure once.

    Plotly validates a figure on every ``update_*``/``add_*`` call, which costs ~100 ms per
    figure; building it from plain dicts in one ``go.Figure(data, layout)`` call is several
    times faster, which matters for pages that redraw on every slider move. The methods
    mirror the subset of the Figure API the builders use (rows/cols of a subplot grid).
    """

    def __init__(self, rows: int = 1, cols: int = 1, *, shared_x: bool = False, spacing: float = 0.0):
        self.rows, self.cols = rows, cols
        self.traces: list = []
        self.layout: dict = {}
        self.shapes: list[dict] = []
        self.annotations: list[dict] = []
        if rows * cols == 1:
            self.layout.update(xaxis={}, yaxis={})
            return
        h = (1.0 - spacing * (rows - 1)) / rows if rows > 1 else 1.0
        w = (1.0 - spacing * (cols - 1)) / cols if cols > 1 else 1.0
        bottom = self._ref(rows, 1)[0]
        for r in range(1, rows + 1):
            for c in range(1, cols + 1):
                xr, yr = self._ref(r, c)
                top = 1.0 - (r - 1) * (h + spacing)
                left = (c - 1) * (w + spacing)
                self.layout[self._axis(xr)] = dict(domain=[left, left + w], anchor=yr)
                self.layout[self._axis(yr)] = dict(domain=[max(top - h, 0.0), top], anchor=xr)
                if shared_x and rows > 1 and r < rows:
                    self.layout[self._axis(xr)] |= dict(matches=bottom, showticklabels=False)

    def _ref(self, row: int, col: int) -> tuple[str, str]:
        i = (row - 1) * self.cols + col
        return ("x", "y") if i == 1 else (f"x{i}", f"y{i}")

    @staticmethod
    def _axis(ref: str) -> str:
        return ref[0] + "axis" + ref[1:]

    def _cells(self, row, col):
        rows = range(1, self.rows + 1) if row in (None, "all") else [row]
        cols = range(1, self.cols + 1) if col in (None, "all") else [col]
        return [self._ref(r, c) for r in rows for c in cols]

    def add_trace(self, trace, row: int | None = None, col: int | None = None) -> None:
        if row is not None and self.rows * self.cols > 1:
            xr, yr = self._ref(row, col or 1)
            trace.update(xaxis=xr, yaxis=yr)
        self.traces.append(trace)

    def add_traces(self, traces) -> None:
        for t in traces:
            self.add_trace(t)

    def update_layout(self, **kw) -> None:
        _merge(self.layout, _nest(kw))

    def update_xaxes(self, row=None, col=None, **kw) -> None:
        for xr, _ in self._cells(row, col):
            _merge(self.layout.setdefault(self._axis(xr), {}), _nest(kw))

    def update_yaxes(self, row=None, col=None, **kw) -> None:
        for _, yr in self._cells(row, col):
            _merge(self.layout.setdefault(self._axis(yr), {}), _nest(kw))

    def add_hline(self, y: float, *, line: dict, row=None, col=None) -> None:
        for xr, yr in self._cells(row, col):
            self.shapes.append(dict(type="line", xref=f"{xr} domain", x0=0, x1=1, yref=yr, y0=y, y1=y, line=line))

    def add_vline(
        self, x: float, *, line: dict, text: str = "", text_color: str | None = None, text_bg: str | None = None
    ) -> None:
        """Vertical line through every subplot row; optional label at the top of the first, left of the line and
        clear of a marker on it, over a ``text_bg`` box (readable where a curve passes under it)."""
        for xr, yr in self._cells(None, None):
            self.shapes.append(dict(type="line", xref=xr, x0=x, x1=x, yref=f"{yr} domain", y0=0, y1=1, line=line))
        if text:
            xr, yr = self._ref(1, 1)
            font = dict(color=text_color) if text_color else {}
            self.annotations.append(
                dict(
                    x=x,
                    xref=xr,
                    y=1,
                    yref=f"{yr} domain",
                    text=text,
                    showarrow=False,
                    xanchor="right",
                    yanchor="top",
                    xshift=-10,
                    font=font,
                    **({"bgcolor": text_bg, "opacity": 0.9} if text_bg else {}),
                )
            )

    def add_vrects(self, spans, *, fillcolor: str, opacity: float) -> None:
        for a, b in spans:
            self.shapes.append(
                dict(
                    type="rect",
                    xref="x",
                    yref="y domain",
                    x0=a,
                    x1=b,
                    y0=0,
                    y1=1,
                    fillcolor=fillcolor,
                    opacity=opacity,
                    layer="below",
                    line=dict(width=0),
                )
            )

    def subplot_titles(self, titles: Sequence[str], *, size: float) -> None:
        for c, text in enumerate(titles, start=1):
            dom = self.layout[self._axis(self._ref(1, c)[0])].get("domain", [0.0, 1.0])
            self.annotations.append(
                dict(
                    text=text,
                    x=0.5 * (dom[0] + dom[1]),
                    xref="paper",
                    y=1.0,
                    yref="paper",
                    xanchor="center",
                    yanchor="bottom",
                    showarrow=False,
                    font=dict(size=size),
                )
            )


def _finish(fig: _Draft, theme: Theme, *, title: str, uirevision: str, height: int | None = None) -> go.Figure:
    """Build the Figure: theme layout, builder layout (wins), axis style, legend, title, uirevision."""
    layout = layout_style(theme, has_title=bool(title))
    _merge(layout, fig.layout)
    for name in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        layout[name] = _merge(axis_style(theme), layout[name])
    _merge(layout, dict(title=_title(title), uirevision=uirevision, hovermode="closest"))
    layout["meta"] = {"nnspec_theme": theme_meta(theme)}  # lets apply_theme rescale lines and markers
    layout["legend"] = _LEGEND | dict(font=dict(size=theme.font_size), bgcolor="rgba(0,0,0,0)")
    if height is not None and theme.height is None:
        layout["height"] = height
    if fig.shapes:
        layout["shapes"] = fig.shapes
    if fig.annotations:
        layout["annotations"] = fig.annotations
    return go.Figure(data=fig.traces, layout=layout)


def _cap_inf(z: np.ndarray, cap: float | None) -> tuple[np.ndarray, float, float]:
    """Display copy of ``z``: +inf -> top of range, -inf -> bottom, NaN kept; returns (z, zmin, zmax)."""
    finite = np.isfinite(z)
    if finite.any():
        lo, hi = float(z[finite].min()), float(z[finite].max())
    else:
        lo, hi = 0.0, 1.0
    if cap is not None:
        hi = cap
        lo = min(lo, hi)
    if hi <= lo:
        hi = lo + 1.0
    out = np.array(z, dtype=float)
    out[np.isposinf(out)] = hi
    out[np.isneginf(out)] = lo
    out = np.where(np.isnan(out), np.nan, np.clip(out, lo, hi))
    return out, lo, hi


# ------------------------------------------------------------------------------------ spectrum
def _pseudo_traces(pseudo: tuple, eps_levels: Any, theme: Theme) -> tuple[list[go.BaseTraceType], tuple]:
    """Contour trace(s) of log10 sigma_min at the requested levels and one legend key per level."""
    if not isinstance(pseudo, (tuple, list)) or len(pseudo) != 3:
        raise ValueError("pseudo must be a tuple (re, im, sigma_min) of shapes (nx,), (ny,), (ny, nx).")
    re_ = _vector(pseudo[0], "pseudo[0] (re)")
    im_ = _vector(pseudo[1], "pseudo[1] (im)")
    smin = _grid(pseudo[2], "pseudo[2] (sigma_min)", (im_.size, re_.size))
    z = np.log10(np.maximum(np.where(np.isnan(smin), np.nan, smin), np.finfo(float).tiny))  # (ny, nx)
    if eps_levels is None:
        zf = z[np.isfinite(z)]
        top = min(np.floor(zf.max()), 0.0) if zf.size else -1.0
        bottom = np.ceil(zf.min()) if zf.size else top
        eps_levels = np.arange(max(bottom, top - 7), top + 1)
    levels = np.unique(_vector(eps_levels, "eps_levels"))
    if levels.size == 0 or not np.all(np.isfinite(levels)):
        raise ValueError(f"eps_levels must be a non-empty array of finite log10 exponents; got {levels.tolist()}.")
    lo, hi = float(levels[0]), float(levels[-1])
    # Plotly colours contour lines by mapping [contours.start, contours.end] onto the colourscale.
    # Use its first 80 % so the lightest (yellow) end stays readable on white paper.
    sampled = sample_colorscale(theme.colorscale_pseudo, list(np.linspace(0.0, 0.8, 9)))
    scale = [[i / 8, c] for i, c in enumerate(sampled)]
    colors = sample_colorscale(scale, [(lv - lo) / (hi - lo) if hi > lo else 0.0 for lv in levels])
    steps = np.diff(levels)
    uniform = levels.size == 1 or np.allclose(steps, steps[0], rtol=1e-9, atol=1e-12)
    groups = [levels] if uniform else [levels[i : i + 1] for i in range(levels.size)]
    common = dict(
        x=re_,
        y=im_,
        z=z,
        colorscale=scale,
        showscale=False,
        legendgroup="pseudospectra",
        line=dict(width=0.6 * theme.line_width),
        hovertemplate="Re %{x:.4g}, Im %{y:.4g}<br>log₁₀ σₘᵢₙ = %{z:.2f}<extra></extra>",
    )
    traces: list[go.BaseTraceType] = []
    for g, col in zip(groups, [None] if uniform else colors, strict=True):
        size = float(steps[0]) if (uniform and levels.size > 1) else 1.0
        if col is not None:  # a single level per trace: colour it explicitly
            common |= dict(colorscale=[[0, col], [1, col]])
        traces.append(
            go.Contour(
                **common,
                name="ε-pseudospectra" if uniform else eps_label(g[0]),
                showlegend=False,
                contours=dict(coloring="lines", start=float(g[0]), end=float(g[-1]), size=size, showlabels=False),
                meta=dict(eps_levels=[float(v) for v in g]),
            )
        )
    for lv, col in zip(levels, colors, strict=True):
        traces.append(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name=eps_label(lv),
                legendgroup="pseudospectra",
                line=dict(color=col, width=theme.line_width),
                hoverinfo="skip",
            )
        )
    return traces, ((float(re_.min()), float(re_.max())), (float(im_.min()), float(im_.max())))


def _eigen_traces(lam: np.ndarray, cond, classes, symbol: str, theme: Theme) -> list[go.Scatter]:
    n = lam.size
    cls = _labels(classes, "classes", length=n) if classes is not None else np.full(n, "eigenvalue")
    all_inf = False  # every κ infinite (Jordan block; Grcar n = 200 numerically): no colour scale to speak of
    if cond is not None:
        c = _vector(cond, "cond", length=n, like="eigenvalues")
        with np.errstate(divide="ignore", invalid="ignore"):
            logc = np.log10(c)
        all_inf = not np.isfinite(logc).any() and bool(np.isposinf(logc).any())
        logc_disp, cmin, cmax = _cap_inf(logc, None)
        cmin = min(cmin, 0.0)
        colorbar: dict = {}
        if np.isposinf(logc).any() and not all_inf:
            # some κ = ∞: drawn above the largest finite one, at a colour-bar tick "∞" (not indistinguishable
            # from the largest finite κ at the top of the range)
            ticks = _nice_ticks(cmin, cmax)
            inf_at = cmax + 0.15 * (cmax - cmin)
            logc_disp = np.where(np.isposinf(logc), inf_at, logc_disp)
            cmax = inf_at
            colorbar = dict(tickmode="array", tickvals=[*ticks, inf_at], ticktext=[f"{t:g}" for t in ticks] + ["∞"])
        cond_txt = _fmt_array(c)
    else:
        cond_txt = np.full(n, "–")
    abs_txt = _fmt_array(np.abs(lam))
    order = list(dict.fromkeys(cls.tolist()))  # classes in order of first appearance
    traces = []
    for i, name in enumerate(order):
        idx = np.flatnonzero(cls == name)
        marker = dict(
            size=theme.marker_size * 1.3,
            symbol=_SYMBOLS[i % len(_SYMBOLS)],
            line=dict(width=1, color=theme.text_color),
        )
        label = name if classes is not None else "eigenvalues"
        if all_inf:  # one colour, and the legend says why: a 0-1 colour bar read as "κ = 10"
            marker |= dict(color=theme.color(1))
            label += f", κ({symbol}) = ∞ (defective)"
        elif cond is not None:
            marker |= dict(color=logc_disp[idx], coloraxis="coloraxis")
        else:
            marker |= dict(color=theme.color(i))
        custom = np.column_stack([abs_txt[idx], cond_txt[idx], np.full(idx.size, name), idx.astype(str)])
        traces.append(
            go.Scatter(
                x=lam.real[idx],
                y=lam.imag[idx],
                mode="markers",
                name=label,
                marker=marker,
                customdata=custom,
                hovertemplate=(
                    f"{symbol} = %{{x:.5g}} %{{y:+.5g}}i<br>|{symbol}| = %{{customdata[0]}}"
                    "<br>1/|yᴴx| = %{customdata[1]}<br>class: %{customdata[2]}<extra></extra>"
                ),
            )
        )
    if all_inf:
        traces[0].update(meta=dict(all_infinite=True))
    elif cond is not None:
        traces[0].update(meta=dict(cmin=cmin, cmax=cmax, colorbar=colorbar))
    return traces


def _nice_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[float]:
    """Multiples of the smallest step 1, 2 or 5 x 10^n giving at most ``max_ticks`` ticks in [lo, hi] (hi > lo)."""
    raw = (hi - lo) / max(max_ticks - 1, 1)
    mag = 10.0 ** np.floor(np.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    return _multiples(lo, hi, step)


def _multiples(lo: float, hi: float, step: float) -> list[float]:
    """The multiples of ``step`` in ``[lo, hi]`` (to 1e-9 of a step), rounded to 12 digits (0.7, not 0.70000001)."""
    idx = np.arange(np.ceil(lo / step - 1e-9), np.floor(hi / step + 1e-9) + 1)
    return [float(f"{t:.12g}") + 0.0 for t in idx * step]  # + 0.0: no "-0" label


def plot_spectrum(
    eigenvalues: Any,
    *,
    cond: Any = None,
    classes: Any = None,
    pseudo: tuple | None = None,
    eps_levels: Any = None,
    unit_circle: bool = True,
    fov: Any = None,
    symbol: str = "μ",
    title: str = "",
    dragmode: str = "zoom",
    uirevision: str = "spectrum",
    theme: Theme = DEFAULT_THEME,
) -> go.Figure:
    """Eigenvalues in the complex plane with ε-pseudospectra, unit circle and field of values.

    Parameters
    ----------
    eigenvalues : array_like of shape (n,), complex
        Eigenvalues of the operator (e.g. J, one step ``z_next = J @ z``), any order.
    cond : array_like of shape (n,), optional
        Eigenvalue condition numbers ``1/|yᴴx|`` (unit left/right eigenvectors; inf for a
        defective eigenvalue). Markers are coloured by ``log10 cond`` with a colourbar;
        ``inf`` is drawn at the top of the colour range, above the largest finite value, where the
        colour bar has a tick "∞", and shown as "∞" in the hover. If every value is ``inf``, the
        markers have one colour, no colour bar, and the legend says "κ(λ) = ∞ (defective)".
    classes : sequence of str of shape (n,), optional
        Class of each eigenvalue ("stable", "unstable", ...): one trace (marker symbol,
        legend entry) per class, in order of first appearance.
    pseudo : tuple (re, im, sigma_min), optional
        ``re`` of shape (nx,), ``im`` of shape (ny,), ``sigma_min`` of shape (ny, nx): the
        smallest singular value (2-norm) of ``z I - A`` at ``z = re[j] + 1j*im[i]``.
    eps_levels : array_like of shape (m,), optional
        Contour levels as ``log10 ε`` (ε absolute). Default: integers from ``floor(max)``
        (at most 0) down over at most 8 decades present in the grid. Evenly spaced levels
        give one contour trace; otherwise one trace per level. Each contour trace's
        ``meta["eps_levels"]`` lists its levels; each level has a legend key "ε = 1e-3".
    unit_circle : bool
        Draw ``|μ| = 1`` (the stability boundary of a discrete-time iteration).
    fov : array_like of shape (m,), complex, optional
        Boundary points of the field of values, in order (the curve is closed here).
    symbol : str
        Eigenvalue symbol in labels ("μ" for update operators, "λ" for a matrix).
    title : str
    dragmode : {"zoom", "select", "pan", "lasso"}
        Initial drag mode ("select" for box-select zoom pages).
    uirevision : str
        Keep zoom across redraws while this string stays the same.
    theme : Theme

    Returns
    -------
    plotly.graph_objects.Figure
        Equal aspect ratio (``yaxis.scaleanchor = "x"``), axes "Re μ" / "Im μ".
    """
    theme = _check_theme(theme)
    lam = _vector(eigenvalues, "eigenvalues", complex_ok=True)
    if lam.size == 0:
        raise ValueError("eigenvalues must contain at least one eigenvalue; got an empty array.")
    fig = _Draft()
    ranges = None
    if pseudo is not None:
        traces, ranges = _pseudo_traces(pseudo, eps_levels, theme)
        fig.add_traces(traces)
    elif eps_levels is not None:
        raise ValueError("eps_levels needs pseudo=(re, im, sigma_min); got pseudo=None.")
    if unit_circle:
        t = np.linspace(0.0, 2.0 * np.pi, 361)
        fig.add_trace(
            go.Scatter(
                x=np.cos(t),
                y=np.sin(t),
                mode="lines",
                name=f"|{symbol}| = 1",
                line=dict(color=theme.text_color, width=0.5 * theme.line_width, dash="dot"),
                hoverinfo="skip",
            )
        )
    if fov is not None:
        w = _vector(fov, "fov", complex_ok=True)
        w = np.append(w, w[:1])
        fig.add_trace(
            go.Scatter(
                x=w.real,
                y=w.imag,
                mode="lines",
                name="field of values",
                line=dict(color=theme.color(1), width=0.7 * theme.line_width, dash="dash"),
                hoverinfo="skip",
            )
        )
    eig = _eigen_traces(lam, cond, classes, symbol, theme)
    fig.add_traces(eig)
    meta = eig[0].meta
    if cond is not None and not meta.get("all_infinite"):
        bar = dict(title=dict(text=f"log₁₀ κ({symbol})", side="right"), thickness=0.9 * theme.font_size)
        fig.update_layout(
            coloraxis=dict(
                colorscale=theme.colorscale_cond,
                cmin=meta["cmin"],
                cmax=meta["cmax"],
                colorbar=bar | meta["colorbar"],
            )
        )
    fig.update_xaxes(title_text=f"Re {symbol}")
    fig.update_yaxes(title_text=f"Im {symbol}", scaleanchor="x", scaleratio=1)
    if ranges is not None:
        fig.update_xaxes(range=list(ranges[0]))
        fig.update_yaxes(range=list(ranges[1]))
    fig.update_layout(dragmode=dragmode)
    return _finish(fig, theme, title=title, uirevision=uirevision, height=560)


# ----------------------------------------------------------------------------------- transient
def plot_transient(
    k: Any,
    norms: Any,
    *,
    upper: Any = None,
    kreiss_lower: float | Any = None,
    realized: tuple | None = None,
    continuous: bool = False,
    matrix: str = "J",
    show_peak: bool = True,
    rho: float | None = None,
    title: str = "",
    uirevision: str = "transient",
    theme: Theme = DEFAULT_THEME,
) -> go.Figure:
    """Transient growth ``‖Jᵏ‖₂`` against ``k`` (or ``‖eᵗᴬ‖₂`` against ``t``) on a log axis.

    Parameters
    ----------
    k : array_like of shape (m,)
        Step counts (time in steps) or, if ``continuous``, times ``t``.
    norms : array_like of shape (m,)
        ``‖Jᵏ‖₂`` (spectral norm) at each ``k``.
    upper : array_like of shape (m,), optional
        Upper bound ``κ(V) ρ(J)ᵏ`` (or ``κ(V) e^{tα}``) at the same ``k``.
    kreiss_lower : float or array_like of shape (m,), optional
        Kreiss lower bound on ``sup_k ‖Jᵏ‖₂``: a horizontal line (scalar) or a curve.
    realized : tuple (k2, values), optional
        Realized amplification of a perturbation through the actual per-step Jacobians,
        ``k2`` and ``values`` of shape (m2,).
    continuous : bool
        Label for ``‖eᵗᴬ‖₂`` against ``t`` instead of ``‖Jᵏ‖₂`` against ``k``.
    matrix : str
        Matrix symbol in labels ("J" or "A").
    show_peak : bool
        Mark the largest finite ``norms`` entry: "peak 12.3 at k = 7" when the curve turns
        down after it; "grows like ρᵏ (ρ = 2.24 > 1)" (continuous: "grows like eᵅᵗ
        (α = 0.3 > 0)") when the spectral radius says the norms grow without bound; else, if
        the largest value is the last finite one, "largest 5.1 at k = 50 (end of range)" (or
        "(then overflows)" when ``norms`` turn inf/NaN after it: a diverged run).
    rho : float, optional
        Spectral radius ρ(J) (continuous: spectral abscissa α(A)), used only for that label.
        Default: read off ``upper`` (the per-step ratio of ``κ(V) ρᵏ``, or the rate of
        ``κ(V) e^{tα}``); unknown without ``upper``. A non-finite value counts as unknown.
    title, uirevision : str
    theme : Theme

    Returns
    -------
    plotly.graph_objects.Figure
        Log y axis; a dotted reference line at 1 (layout shape). Non-positive or non-finite
        values are gaps and never reach the axis: the y range is set from the finite
        positive values of all curves (and 1) and stays inside the double range (overflowed
        runs reach 1e300). Ranges under about 1.5 decades get 1-2-5 ticks (:func:`_log_ticks`).
        Norms that are exactly 0 from some k on (a nilpotent matrix) get a legend entry
        "‖Jᵏ‖₂ = 0 from k = 24 on", since a log axis cannot show them.
    """
    theme = _check_theme(theme)
    kk = _vector(k, "k")
    m = kk.size
    y = _vector(norms, "norms", length=m, like="k")
    var = "t" if continuous else "k"
    power = f"e{_sup('t')}{_sup(matrix)}" if continuous else f"{matrix}{_sup('k')}"
    norm_name = f"‖{power}‖₂"
    mode = "lines+markers" if m <= 120 else "lines"
    fig = _Draft()
    fig.add_trace(
        go.Scatter(
            x=kk,
            y=_log_ok(y),
            mode=mode,
            name=norm_name,
            line=dict(color=theme.color(0), width=theme.line_width),
            marker=dict(size=0.7 * theme.marker_size),
            hovertemplate=f"{var} = %{{x}}<br>{norm_name} = %{{y:.4g}}<extra></extra>",
        )
    )
    if upper is not None:
        u = _vector(upper, "upper", length=m, like="k")
        bound = "κ(V) e" + _sup("t") + "ᵅ" if continuous else "κ(V) ρ" + _sup("k")
        fig.add_trace(
            go.Scatter(
                x=kk,
                y=_log_ok(u),
                mode="lines",
                name=f"{bound} (upper bound)",
                line=dict(color=theme.color(1), width=0.7 * theme.line_width, dash="dash"),
            )
        )
    if kreiss_lower is not None:
        xs, ys, K = _line_or_curve(kk, kreiss_lower, "kreiss_lower", like="k", min_val=0.0, inf_ok=True)
        name = f"Kreiss lower bound K({matrix})" + ("" if K is None else f" = {_fmt(K)}")
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=_log_ok(ys),
                mode="lines",
                name=name,
                line=dict(color=theme.color(2), width=0.7 * theme.line_width, dash="dot"),
            )
        )
    if realized is not None:
        if not isinstance(realized, (tuple, list)) or len(realized) != 2:
            raise ValueError("realized must be a tuple (k2, values) of two 1-D arrays of equal length.")
        k2 = _vector(realized[0], "realized[0] (k2)")
        r = _vector(realized[1], "realized[1] (values)", length=k2.size, like="realized[0]")
        fig.add_trace(
            go.Scatter(
                x=k2,
                y=_log_ok(r),
                mode="lines+markers" if k2.size <= 120 else "lines",
                name="realized amplification",
                line=dict(color=theme.color(3), width=theme.line_width),
                marker=dict(size=0.7 * theme.marker_size, symbol="diamond"),
            )
        )
    if rho is not None:
        rho = float(rho) if np.isfinite(float(rho)) else None
        rho = None if rho is None else check_scalar(rho, "rho")
    elif upper is not None:
        rho = _growth_rate(kk, u, continuous=continuous)
    zero = np.flatnonzero(y == 0)
    if zero.size and np.all(y[zero[0] :] == 0):  # nilpotent: the curve just stops on a log axis; say why
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name=f"{norm_name} = 0 from {var} = {_fmt(float(kk[zero[0]]))} on",
                line=dict(color=theme.color(0), width=theme.line_width, dash="dot"),
                hoverinfo="skip",
            )
        )
    if show_peak:
        peak = _peak_trace(kk, y, rho, continuous=continuous, var=var, theme=theme)
        if peak is not None:
            fig.add_trace(peak)
    fig.add_hline(1.0, line=dict(color=theme.text_color, width=0.4 * theme.line_width, dash="dot"))
    fig.update_xaxes(title_text="t" if continuous else "k (steps)")
    # the y range from the finite positive values only: Plotly's autorange over values near the double limit
    # (a diverged run, 1e300) padded past 1e308 and labelled that tick "NaNe+Infinity"
    shown = [t.y for t in fig.traces]
    fig.update_yaxes(title_text=norm_name, type="log", range=_log_range(*shown, [1.0]), **_log_ticks(*shown, [1.0]))
    return _finish(fig, theme, title=title, uirevision=uirevision, height=420)


def _growth_rate(x: np.ndarray, u: np.ndarray, *, continuous: bool) -> float | None:
    """ρ of an upper bound ``u = κ(V) ρˣ`` (continuous: α of ``κ(V) e^{xα}``) at ``x`` (m,), from the median rate
    between consecutive finite positive entries; None if fewer than two."""
    ok = np.isfinite(x) & np.isfinite(u) & (u > 0)
    xs, logs = x[ok], np.log(u[ok])
    dx = np.diff(xs)
    good = dx > 0
    if not good.any():
        return None
    rate = float(np.median(np.diff(logs)[good] / dx[good]))
    return rate if continuous else float(np.exp(rate))


def _fmt_beyond(v: float, ref: float) -> str:
    """``v`` with as few significant digits (>= 4) as tell it apart from ``ref`` ("1.0003", not "1")."""
    for digits in range(4, 17):
        out = f"{v:.{digits}g}"
        if float(out) != ref:
            return out
    return f"{v!r}"


def _peak_trace(kk, y, rho, *, continuous: bool, var: str, theme: Theme) -> go.Scatter | None:
    """The marker of :func:`plot_transient`'s ``show_peak`` (see there), or None without a finite positive value."""
    ok = np.isfinite(y) & (y > 0)
    if not ok.any():
        return None
    i = int(np.argmax(np.where(ok, y, -np.inf)))
    last = int(np.flatnonzero(ok)[-1])
    grows = rho is not None and (rho > 0 if continuous else rho > 1)
    symbol = "star"
    if grows:
        i = last  # the curve heads off to infinity: mark where it was last seen
        symbol = "triangle-up"
        if continuous:
            name = f"grows like e{_sup('α')}{_sup('t')} (α = {_fmt_beyond(rho, 0.0)} > 0)"
        else:
            name = f"grows like ρ{_sup('k')} (ρ = {_fmt_beyond(rho, 1.0)} > 1)"
    elif i == last and (y.size > 1 and i == y.size - 1 or not np.isfinite(y[i + 1 :]).all()):
        # no value after the largest one came down: not a peak (still rising at the end, or overflowed after it)
        tail = "end of range" if i == y.size - 1 else "then overflows"
        name = f"largest {_fmt(y[i])} at {var} = {_fmt(kk[i])} ({tail})"
        symbol = "triangle-up"
    else:
        name = f"peak {_fmt(y[i])} at {var} = {_fmt(kk[i])}"
    return go.Scatter(
        x=[kk[i]],
        y=[y[i]],
        mode="markers",
        name=name,
        marker=dict(size=1.8 * theme.marker_size, symbol=symbol, color=theme.color(0)),
        hovertemplate=f"{var} = %{{x}}<br>%{{y:.4g}}<extra>{name}</extra>",
    )


def _log_range(*arrays: Any, pad: float = 0.05) -> list[float] | None:
    """Log-axis range (log10 units) over the finite positive values of ``arrays``, padded by ``pad`` of the span
    (0.1 decade for one value), kept inside the doubles (log10 of the largest is 308.25) so no tick overflows."""
    parts = [np.asarray(a, dtype=float).ravel() for a in arrays if a is not None]
    v = np.concatenate(parts) if parts else np.empty(0)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return None
    lo, hi = float(np.log10(v.min())), float(np.log10(v.max()))
    margin = pad * (hi - lo) if hi > lo else 0.1
    top = np.log10(np.finfo(float).max)
    return [max(lo - margin, -330.0), min(hi + margin, float(top))]


def _line_or_curve(
    x: np.ndarray, value: Any, name: str, *, like: str, min_val: float | None = None, inf_ok: bool = False
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """``(xs, ys, level)``: a scalar ``value`` as a level line across ``x`` (m,) (``level`` is that scalar;
    ``inf_ok`` turns a non-finite one into +inf), an array of shape (m,) as a curve over ``x`` (``level`` None)."""
    if np.ndim(value) == 0:
        v = np.inf if inf_ok and not np.isfinite(value) else check_scalar(value, name, min_val=min_val)
        return (np.array([x.min(), x.max()]) if x.size else np.array([0.0, 1.0])), np.array([v, v]), v
    return x, _vector(value, name, length=x.size, like=like), None


_SUP = str.maketrans("kntAJmα0123456789", "ᵏⁿᵗᴬᴶᵐᵅ⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sup(s: str) -> str:
    """Unicode superscript of ``s`` (characters without a superscript form are kept)."""
    return s.translate(_SUP)


# ------------------------------------------------------------------------------- parameter map
def plot_param_map(
    x: Any,
    y: Any,
    z: Any,
    *,
    x_name: str,
    y_name: str,
    z_name: str = "log₁₀ κ(V)",
    z_cap: float | None = None,
    contour_z: Any = None,
    contour_level: float = 1.0,
    contour_name: str = "ρ(J) = 1",
    curves: Sequence[tuple[str, Any, Any]] | None = None,
    marker: tuple[float, float] | None = None,
    marker_name: str = "current point",
    log_x: bool = True,
    log_y: bool = False,
    click_grid: bool = True,
    max_click_points: int = 10_000,
    title: str = "",
    uirevision: str = "param_map",
    theme: Theme = DEFAULT_THEME,
) -> go.Figure:
    """Heatmap of a quantity over a parameter plane (e.g. log10 κ(V) over η × β), clickable.

    Parameters
    ----------
    x : array_like of shape (nx,)
        First parameter (columns), e.g. learning rate η (per step).
    y : array_like of shape (ny,)
        Second parameter (rows), e.g. momentum β.
    z : array_like of shape (ny, nx)
        Displayed values (already transformed, e.g. ``log10 κ(V)``). ``+inf`` (κ = ∞ at an
        exceptional point) is drawn at the top of the colour range (``z_cap`` if given, else
        the largest finite value) and shown as "∞" in the hover; NaN is a gap.
    x_name, y_name, z_name : str
        Axis and colourbar titles, e.g. "learning rate η", "momentum β".
    z_cap : float, optional
        Upper end of the colour range; larger values are clipped for display.
    contour_z : array_like of shape (ny, nx), optional
        Quantity whose ``contour_level`` set is drawn as a line (e.g. ρ(J) with level 1).
    contour_level : float
    contour_name : str
        Legend name of that line.
    curves : list of (name, cx, cy), optional
        Curves in the plane (e.g. analytic exceptional points), ``cx``/``cy`` of shape (m,);
        NaN separates pieces.
    marker : tuple (x0, y0), optional
        Current parameter point (drawn as a star).
    log_x, log_y : bool
        Logarithmic axes.
    click_grid : bool
        Add an invisible scatter trace (marker opacity 0) on the grid points, named
        "click grid", with ``customdata = [x, y]`` and ``text`` = z per point, so that Streamlit's
        ``on_select`` reports clicks and box selections (heatmap clicks are not reported).
        Grids with more than ``max_click_points`` points are subsampled with a stride.
    title, uirevision : str
    theme : Theme

    Returns
    -------
    plotly.graph_objects.Figure
    """
    theme = _check_theme(theme)
    xv, yv = _vector(x, "x"), _vector(y, "y")
    zz = _grid(z, "z", (yv.size, xv.size))
    if z_cap is not None:
        z_cap = check_scalar(z_cap, "z_cap")
    zd, zmin, zmax = _cap_inf(zz, z_cap)
    hover = (  # the click grid carries the hover when present
        dict(hoverinfo="skip")
        if click_grid
        else dict(
            hovertemplate=f"{x_name} = %{{x:.4g}}<br>{y_name} = %{{y:.4g}}<br>{z_name} = %{{z:.3g}}<extra></extra>"
        )
    )
    fig = _Draft()
    fig.add_trace(
        go.Heatmap(
            x=xv,
            y=yv,
            z=zd,
            zmin=zmin,
            zmax=zmax,
            colorscale=theme.colorscale_kappa,
            name=z_name,
            colorbar=dict(title=dict(text=z_name, side="right"), thickness=0.9 * theme.font_size),
            **hover,
        )
    )
    if contour_z is not None:
        cz = _grid(contour_z, "contour_z", zz.shape)
        lvl = check_scalar(contour_level, "contour_level")
        line = dict(color=theme.color(1), width=theme.line_width, dash="dash")
        fig.add_trace(_level_line(xv, yv, cz, lvl, name=contour_name, line=line))
    curve_colors = ("#000000", theme.color(5), theme.color(3), theme.color(4), "#FFFFFF")
    for i, curve in enumerate(curves or ()):
        if not isinstance(curve, (tuple, list)) or len(curve) != 3:
            raise ValueError(f"curves[{i}] must be a tuple (name, x, y); got {type(curve).__name__}.")
        name, cx, cy = curve
        cxv = _vector(cx, f"curves[{i}] x")
        cyv = _vector(cy, f"curves[{i}] y", length=cxv.size, like=f"curves[{i}] x")
        fig.add_trace(
            go.Scatter(
                x=cxv,
                y=cyv,
                mode="lines",
                name=str(name),
                line=dict(color=curve_colors[i % len(curve_colors)], width=theme.line_width, dash=_DASHES[i % 4]),
                hoverinfo="skip",
            )
        )
    if click_grid:
        fig.add_trace(_click_grid(xv, yv, zz, x_name, y_name, z_name, max_click_points, theme.marker_size))
    x_range, y_range = _axis_range(xv, log_x), _axis_range(yv, log_y)
    if marker is not None:
        if not isinstance(marker, (tuple, list)) or len(marker) != 2:
            raise ValueError(f"marker must be a tuple (x0, y0); got {marker!r}.")
        x0, y0 = check_scalar(marker[0], "marker x0"), check_scalar(marker[1], "marker y0")
        # the star on the grid's edge (β = 0 or 0.99) was cut in half by a range ending half a cell further
        x_range, y_range = _range_with(x_range, x0, log_x), _range_with(y_range, y0, log_y)
        fig.add_trace(
            go.Scatter(
                x=[x0],
                y=[y0],
                mode="markers",
                name=marker_name,
                marker=dict(
                    symbol="star", size=2.4 * theme.marker_size, color="white", line=dict(width=2, color="black")
                ),
                hovertemplate=f"{x_name} = %{{x:.4g}}<br>{y_name} = %{{y:.4g}}<extra>{marker_name}</extra>",
            )
        )
    x_ticks = _log_ticks(xv) if log_x else {}
    y_ticks = _log_ticks(yv) if log_y else {}
    fig.update_xaxes(title_text=x_name, type="log" if log_x else "linear", showgrid=False, range=x_range, **x_ticks)
    fig.update_yaxes(title_text=y_name, type="log" if log_y else "linear", showgrid=False, range=y_range, **y_ticks)
    fig.update_layout(clickmode="event+select")
    return _finish(fig, theme, title=title, uirevision=uirevision, height=520)


def _level_line(x: np.ndarray, y: np.ndarray, z: np.ndarray, level: float, *, name: str, line: dict) -> go.Contour:
    """The ``level`` set of ``z`` (ny, nx) on the grid ``x`` (nx,), ``y`` (ny,) as a line in the legend (no fill)."""
    return go.Contour(
        x=x,
        y=y,
        z=_finite_or_nan(z),
        name=name,
        showlegend=True,
        showscale=False,
        contours=dict(coloring="none", start=level, end=level, size=1.0),
        line=line,
        hoverinfo="skip",
        meta=dict(level=level),
    )


def _axis_range(v: np.ndarray, log: bool) -> list[float] | None:
    """Axis range covering the cells of a heatmap with centres ``v`` (Plotly log ranges are in log10)."""
    v = v[np.isfinite(v) & ((v > 0) if log else True)]
    if v.size == 0:
        return None
    w = np.log10(v) if log else v
    half = 0.5 * (w.max() - w.min()) / max(w.size - 1, 1)
    return [float(w.min() - half), float(w.max() + half)]


#: Room kept between a marked point and the axis end, as a fraction of the axis span: the star of
#: :func:`plot_param_map` (2.4 marker sizes, ~17 px) is fully inside a plot area down to ~200 px.
_MARKER_ROOM = 0.05


def _range_with(rng: list[float] | None, v: float, log: bool) -> list[float] | None:
    """Axis range ``rng`` (log10 units on a log axis) widened where needed so that ``v`` lies at least
    :data:`_MARKER_ROOM` of the span inside it (a marker drawn there is not clipped by the axis end)."""
    if log and not v > 0:
        return rng  # not drawable on a log axis anyway
    w = float(np.log10(v)) if log else float(v)
    if rng is None:
        return None  # autorange: Plotly pads for the marker itself
    span = rng[1] - rng[0]
    room = _MARKER_ROOM * (span if span > 0 else 1.0)
    return [min(rng[0], w - room), max(rng[1], w + room)]


def _click_grid(xv, yv, zz, x_name, y_name, z_name, max_points: int, marker_size: float) -> go.Scatter:
    stride = max(1, int(np.ceil(np.sqrt(xv.size * yv.size / max(max_points, 1)))))
    xs, ys = xv[::stride], yv[::stride]
    X, Y = np.meshgrid(xs, ys)  # (ny', nx')
    Z = zz[::stride, ::stride]
    z_text = _fmt_array(Z)  # "∞" for kappa = inf
    return go.Scatter(
        x=X.ravel(),
        y=Y.ravel(),
        mode="markers",
        name="click grid",
        showlegend=False,
        marker=dict(size=1.15 * marker_size, opacity=0.0, color="black"),
        customdata=np.column_stack([X.ravel(), Y.ravel()]),  # (n_points, 2): (x, y) of each point
        text=z_text,
        hovertemplate=(
            f"{x_name} = %{{customdata[0]:.4g}}<br>{y_name} = %{{customdata[1]:.4g}}"
            f"<br>{z_name} = %{{text}}<extra></extra>"
        ),
        meta=dict(stride=stride),
    )


# ------------------------------------------------------------------------------------ training
def _mask_spans(steps: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """Contiguous True runs of ``mask`` as (left, right) edges at the midpoints between steps."""
    spans = []
    n = steps.size
    i = 0
    while i < n:
        if mask[i]:
            j = i
            while j + 1 < n and mask[j + 1]:
                j += 1
            left = 0.5 * (steps[i - 1] + steps[i]) if i > 0 else steps[i]
            right = 0.5 * (steps[j] + steps[j + 1]) if j + 1 < n else steps[j]
            spans.append((float(left), float(right)))
            i = j + 1
        else:
            i += 1
    return spans


def _step_trace(s: np.ndarray, y: np.ndarray, name: str, *, color: str, width: float, theme: Theme) -> go.Scatter:
    """A series ``y`` (n,) against steps ``s`` (n,), clickable: ``customdata = step``."""
    return go.Scatter(
        x=s,
        y=y,
        mode="lines+markers",
        name=name,
        customdata=s,
        line=dict(color=color, width=width),
        marker=dict(size=0.6 * theme.marker_size),
        hovertemplate=f"step %{{x}}<br>{name} = %{{y:.4g}}<extra></extra>",
    )


def _mark_step(fig: _Draft, selected_step: float | None, theme: Theme) -> None:
    """Solid vertical line (through all subplots) at the selected step, if any."""
    if selected_step is not None:
        fig.add_vline(
            check_scalar(selected_step, "selected_step"),
            line=dict(color=theme.text_color, width=0.6 * theme.line_width),
        )


def plot_loss(
    steps: Any,
    loss_train: Any,
    *,
    loss_test: Any = None,
    unstable_mask: Any = None,
    unstable_spans: Sequence[tuple[float, float]] | None = None,
    unstable_name: str = "unstable phase",
    diverged_step: float | None = None,
    selected_step: float | None = None,
    log_y: bool = True,
    title: str = "",
    uirevision: str = "loss",
    theme: Theme = DEFAULT_THEME,
) -> go.Figure:
    """Training (and test) loss against step, unstable phases shaded, selected step marked.

    Parameters
    ----------
    steps : array_like of shape (n,)
        Step numbers.
    loss_train : array_like of shape (n,)
        Training loss at each step (non-finite values after a divergence are gaps).
    loss_test : array_like of shape (n,), optional
    unstable_mask : array_like of bool, shape (n,), optional
        Steps in an unstable phase; contiguous runs are shaded (edges halfway between steps).
    unstable_spans : list of (start, end), optional
        Alternatively, the shaded intervals in step units.
    unstable_name : str
        Legend name of the shading.
    diverged_step : float, optional
        Dashed vertical line with the annotation "diverged at step k".
    selected_step : float, optional
        Solid vertical line at the selected step.
    log_y : bool
    title, uirevision : str
    theme : Theme

    Returns
    -------
    plotly.graph_objects.Figure
        Lines-and-markers traces "train loss" / "test loss" with ``customdata = step`` (so a
        click or box selection reports steps); the shading is a set of layout shapes plus a
        legend key trace named ``unstable_name``.
    """
    theme = _check_theme(theme)
    s = _vector(steps, "steps")
    n = s.size
    tr = _vector(loss_train, "loss_train", length=n, like="steps")
    prep = _log_ok if log_y else _finite_or_nan
    fig = _Draft()
    series = [("train loss", tr)]
    if loss_test is not None:
        series.append(("test loss", _vector(loss_test, "loss_test", length=n, like="steps")))
    for i, (name, v) in enumerate(series):
        fig.add_trace(_step_trace(s, prep(v), name, color=theme.color(i), width=theme.line_width, theme=theme))
    spans = []
    if unstable_mask is not None:
        mask = np.asarray(unstable_mask)
        if mask.shape != (n,) or mask.dtype.kind not in "bi":
            raise ValueError(f"unstable_mask must be a boolean array of shape ({n},); got {mask.dtype} {mask.shape}.")
        spans += _mask_spans(s, mask.astype(bool))
    for i, sp in enumerate(unstable_spans or ()):
        if len(sp) != 2:
            raise ValueError(f"unstable_spans[{i}] must be a pair (start, end); got {sp!r}.")
        spans.append((check_scalar(sp[0], "span start"), check_scalar(sp[1], "span end")))
    shade = theme.color(1)
    fig.add_vrects(spans, fillcolor=shade, opacity=0.15)
    if spans:
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=unstable_name,
                marker=dict(symbol="square", size=theme.marker_size * 1.5, color=shade, opacity=0.3),
                hoverinfo="skip",
            )
        )
    if diverged_step is not None:
        d = check_scalar(diverged_step, "diverged_step")
        fig.add_vline(
            d,
            line=dict(color=theme.color(1), width=theme.line_width, dash="dash"),
            text=f"diverged at step {_fmt(d)}",
            text_color=theme.color(1),
            text_bg=theme.bgcolor,
        )
    _mark_step(fig, selected_step, theme)
    fig.update_xaxes(title_text="step")
    ticks = _log_ticks(*(v for _, v in series)) if log_y else {}
    fig.update_yaxes(title_text="loss", type="log" if log_y else "linear", **ticks)
    fig.update_layout(clickmode="event+select")
    return _finish(fig, theme, title=title, uirevision=uirevision, height=360)


def plot_indicators(
    steps: Any,
    series: Mapping[str, Any],
    *,
    panels: Sequence[Sequence[str]] | None = None,
    thresholds: Mapping[str, Any] | None = None,
    threshold_labels: Mapping[str, str] | None = None,
    selected_step: float | None = None,
    log_y: bool | Sequence[bool] = True,
    title: str = "",
    uirevision: str = "indicators",
    theme: Theme = DEFAULT_THEME,
) -> go.Figure:
    """Indicator trajectories (κ(V), ρ(J), ρ₊, λmax(H), ‖[H, M]‖ ...) on a shared step axis.

    Parameters
    ----------
    steps : array_like of shape (n,)
        Analyzed step numbers.
    series : dict of str to array_like of shape (n,)
        Indicator name (the legend and y-axis title, e.g. "κ(V)", "ρ(J)", "ρ₊") to values.
    panels : list of lists of str, optional
        Series shown together in one subplot, top to bottom, e.g.
        ``[["κ(V)"], ["ρ(J)", "ρ₊"], ["λmax(H)"], ["‖[H, M]‖"]]``. Default: one per series.
    thresholds : dict of str to float or array_like of shape (n,), optional
        Threshold for a series, drawn as a dashed line in that series' subplot (e.g.
        ``{"ρ(J)": 1.0, "λmax(H)": 2/η}``); an array gives a step-dependent threshold.
    threshold_labels : dict of str to str, optional
        Legend names of the thresholds (default "ρ(J) = 1" for a scalar, "threshold of
        λmax(H)" for an array).
    selected_step : float, optional
        Vertical line through all subplots.
    log_y : bool or sequence of bool (one per panel)
    title, uirevision : str
    theme : Theme

    Returns
    -------
    plotly.graph_objects.Figure
        Subplots with shared x; every series is a lines-and-markers trace with
        ``customdata = step`` so a click selects a step. Bottom x axis titled "step".
    """
    theme = _check_theme(theme)
    s = _vector(steps, "steps")
    if not isinstance(series, Mapping) or not series:
        raise ValueError("series must be a non-empty dict of name -> array of shape (n_steps,).")
    data = {str(k): _vector(v, f"series[{k!r}]", length=s.size, like="steps") for k, v in series.items()}
    panels = [[str(n) for n in p] for p in (panels if panels is not None else [[k] for k in data])]
    for p in panels:
        for name in p:
            if name not in data:
                raise ValueError(f"panels refers to unknown series {name!r}; known: {', '.join(data)}.")
    n_p = len(panels)
    logs = [bool(log_y)] * n_p if isinstance(log_y, (bool, np.bool_)) else [bool(v) for v in log_y]
    if len(logs) != n_p:
        raise ValueError(f"log_y must be a bool or one bool per panel ({n_p}); got {len(logs)}.")
    thresholds = dict(thresholds or {})
    labels = dict(threshold_labels or {})
    for key in thresholds:
        if key not in data:
            raise ValueError(f"thresholds refers to unknown series {key!r}; known: {', '.join(data)}.")
    fig = _Draft(rows=n_p, cols=1, shared_x=True, spacing=min(0.04, 0.3 / n_p))
    color_of = {name: theme.color(i) for i, name in enumerate(data)}
    for row, (p, lg) in enumerate(zip(panels, logs, strict=True), start=1):
        prep = _log_ok if lg else _finite_or_nan
        shown = []
        for name in p:
            y = prep(data[name])
            fig.add_trace(
                _step_trace(s, y, name, color=color_of[name], width=0.8 * theme.line_width, theme=theme), row=row, col=1
            )
            shown.append(y)
            if name in thresholds:
                th = _threshold_trace(s, name, thresholds[name], labels.get(name), prep, theme)
                fig.add_trace(th, row=row, col=1)
                shown.append(th.y)
        ticks = _log_ticks(*shown) if lg else {}
        fig.update_yaxes(title_text=", ".join(p), type="log" if lg else "linear", row=row, col=1, **ticks)
    _mark_step(fig, selected_step, theme)
    fig.update_xaxes(title_text="step", row=n_p, col=1)
    fig.update_layout(clickmode="event+select")
    return _finish(fig, theme, title=title, uirevision=uirevision, height=170 * n_p + 110)


def _threshold_trace(s, name, value, label, prep, theme: Theme) -> go.Scatter:
    xs, ys, v = _line_or_curve(s, value, f"thresholds[{name!r}]", like="steps")
    label = label or (f"threshold of {name}" if v is None else f"{name.split('(')[0]} = {_fmt(v)}")
    return go.Scatter(
        x=xs,
        y=prep(ys),
        mode="lines",
        name=label,
        line=dict(color=theme.text_color, width=0.6 * theme.line_width, dash="dash"),
        hoverinfo="skip",
    )


def plot_fit(
    X: Any,
    y: Any,
    *,
    grid: tuple | None = None,
    boundary_level: float | None = 0.5,
    curve: tuple | None = None,
    truth: tuple | None = None,
    X_test: Any = None,
    y_test: Any = None,
    output_name: str = "model output",
    title: str = "",
    uirevision: str = "fit",
    theme: Theme = DEFAULT_THEME,
) -> go.Figure:
    """The network's fit: a decision boundary (2-D classification) or a regression curve.

    Classification (``X`` of shape (n, 2)): ``grid = (xx, yy, zz)`` with ``xx`` of shape (nx,),
    ``yy`` of shape (ny,) and ``zz`` of shape (ny, nx) the model output on the grid (e.g. the
    probability of class 1) drawn as a filled contour, the decision boundary as the
    ``boundary_level`` line (None: no line), and the points coloured by class ``y`` (n,).

    Regression (``X`` of shape (n,) or (n, 1)): data points ``(X, y)``, the prediction
    ``curve = (x, y_pred)`` of shapes (m,), and optionally the noiseless ``truth = (x, y_true)``.

    ``X_test``/``y_test`` add the held-out points (open markers).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    theme = _check_theme(theme)
    Xa = np.asarray(X)
    if Xa.ndim == 2 and Xa.shape[1] == 2:
        return _fit_classification(X, y, grid, boundary_level, X_test, y_test, output_name, title, uirevision, theme)
    if Xa.ndim == 1 or (Xa.ndim == 2 and Xa.shape[1] == 1):
        return _fit_regression(X, y, curve, truth, X_test, y_test, title, uirevision, theme)
    raise ValueError(f"X must have shape (n, 2) (classification) or (n,) / (n, 1) (regression); got {Xa.shape}.")


def _fit_classification(X, y, grid, level, X_test, y_test, output_name, title, uirevision, theme) -> go.Figure:
    Xa = check_matrix(X, "X", square=False, finite=False, max_dim=None)
    lab = _labels(y, "y", length=Xa.shape[0])
    fig = _Draft()
    if grid is not None:
        if not isinstance(grid, (tuple, list)) or len(grid) != 3:
            raise ValueError("grid must be a tuple (xx, yy, zz) of shapes (nx,), (ny,), (ny, nx).")
        xx, yy = _vector(grid[0], "grid xx"), _vector(grid[1], "grid yy")
        zz = _grid(grid[2], "grid zz", (yy.size, xx.size))
        fig.add_trace(
            go.Contour(
                x=xx,
                y=yy,
                z=_finite_or_nan(zz),
                colorscale="RdBu_r",
                opacity=0.55,
                contours=dict(coloring="fill", showlines=False),
                ncontours=20,
                name=output_name,
                colorbar=dict(title=dict(text=output_name, side="right"), thickness=0.9 * theme.font_size),
                hovertemplate=f"x₁ %{{x:.3g}}, x₂ %{{y:.3g}}<br>{output_name} = %{{z:.3g}}<extra></extra>",
            )
        )
        if level is not None:
            lv = check_scalar(level, "boundary_level")
            line = dict(color=theme.text_color, width=theme.line_width)
            fig.add_trace(_level_line(xx, yy, zz, lv, name="decision boundary", line=line))
    sets = [("train", Xa, lab, False)]
    if X_test is not None:
        Xt = check_matrix(X_test, "X_test", square=False, finite=False, max_dim=None)
        sets.append(("test", Xt, _labels(y_test, "y_test", length=Xt.shape[0]), True))
    classes = sorted(set(lab.tolist()) | (set(sets[1][2].tolist()) if len(sets) > 1 else set()))
    for split, P, L, hollow in sets:
        for i, c in enumerate(classes):
            idx = L == c
            fig.add_trace(
                go.Scatter(
                    x=P[idx, 0],
                    y=P[idx, 1],
                    mode="markers",
                    name=f"class {c} ({split})",
                    marker=dict(
                        size=theme.marker_size,
                        color=theme.color(i),
                        symbol=_SYMBOLS[i % len(_SYMBOLS)] + ("-open" if hollow else ""),
                        line=dict(width=1.5) if hollow else dict(width=0.5, color="white"),
                    ),
                )
            )
    fig.update_xaxes(title_text="x₁")
    fig.update_yaxes(title_text="x₂", scaleanchor="x", scaleratio=1)
    return _finish(fig, theme, title=title, uirevision=uirevision, height=480)


def _fit_regression(X, y, curve, truth, X_test, y_test, title, uirevision, theme) -> go.Figure:
    x = _vector(np.asarray(X).reshape(-1), "X")
    yv = _vector(y, "y", length=x.size, like="X")
    fig = _Draft()
    fig.add_trace(
        go.Scatter(
            x=x, y=yv, mode="markers", name="train data", marker=dict(size=theme.marker_size, color=theme.color(0))
        )
    )
    if X_test is not None:
        xt = _vector(np.asarray(X_test).reshape(-1), "X_test")
        fig.add_trace(
            go.Scatter(
                x=xt,
                y=_vector(y_test, "y_test", length=xt.size, like="X_test"),
                mode="markers",
                name="test data",
                marker=dict(size=theme.marker_size, symbol="circle-open", color=theme.color(0)),
            )
        )
    for key, val, color, dash in (("truth", truth, theme.text_color, "dot"), ("curve", curve, theme.color(1), None)):
        if val is None:
            continue
        if not isinstance(val, (tuple, list)) or len(val) != 2:
            raise ValueError(f"{key} must be a tuple (x, y) of two 1-D arrays of equal length.")
        cx = _vector(val[0], f"{key} x")
        fig.add_trace(
            go.Scatter(
                x=cx,
                y=_finite_or_nan(_vector(val[1], f"{key} y", length=cx.size, like=f"{key} x")),
                mode="lines",
                name="target function" if key == "truth" else "network prediction",
                line=dict(color=color, width=theme.line_width, dash=dash),
            )
        )
    fig.update_xaxes(title_text="x")
    fig.update_yaxes(title_text="y")
    return _finish(fig, theme, title=title, uirevision=uirevision, height=420)


def plot_trajectory_2d(
    thetas: Any,
    *,
    H: Any = None,
    theta_star: Any = None,
    n_levels: int = 12,
    title: str = "",
    uirevision: str = "trajectory",
    theme: Theme = DEFAULT_THEME,
) -> go.Figure:
    """Iterates of an optimizer in θ-space for a 2-D quadratic ``f(θ) = ½ (θ−θ*)ᵀ H (θ−θ*)``.

    Parameters
    ----------
    thetas : array_like of shape (k, 2)
        Iterates θ₀, θ₁, ... (non-finite rows after a divergence are dropped).
    H : array_like of shape (2, 2), optional
        Symmetric Hessian: level sets of ``f`` are drawn (``log₁₀ f`` if ``H`` is positive
        semidefinite on the shown window, else ``f``).
    theta_star : array_like of shape (2,), optional
        Critical point of ``f`` (default the origin), marked when ``H`` is given: "minimum θ*",
        "saddle θ*" (``H`` indefinite) or "maximum θ*" (negative definite).
    n_levels : int
        Number of contour levels.
    title, uirevision : str
    theme : Theme

    Returns
    -------
    plotly.graph_objects.Figure
        Equal aspect; the trajectory is a lines-and-markers trace "iterates θₖ" with
        ``customdata = k`` (every finite iterate). A diverging run (distance from θ* beyond
        1e6 times the start's) is shown on axes (and level sets) around the iterates before
        they first leave 10 times the start's distance (at least θ₀ … θ₃): the trace holds those, a
        line-only trace continues toward the next iterate (off the plot), and an annotation
        says "iterates diverge: |θₖ| reaches 4e+66 at k = 2000".
    """
    theme = _check_theme(theme)
    T = check_matrix(thetas, "thetas", square=False, finite=False, max_dim=None)
    if T.shape[1] != 2:
        raise ValueError(f"thetas must have shape (k, 2); got {T.shape}.")
    n_levels = check_scalar(n_levels, "n_levels", min_val=1, integer=True)
    star = np.zeros(2) if theta_star is None else _vector(theta_star, "theta_star", length=2)
    ok = np.all(np.isfinite(T), axis=1)
    steps = np.flatnonzero(ok)
    P = T[ok]
    n_in, note = _diverging_window(T, P, steps, star)  # iterates that set the axes: all unless diverging
    shown = P[:n_in]
    drawn, cut = _drawable_path(P, n_in, star) if note else (P.shape[0], None)
    # the window (axes and level sets): the shown iterates and θ* (if marked), padded; fixed when diverging or when
    # its aspect is extreme (equal scales then squashed the plot area to a strip with overlapping tick labels)
    box = np.vstack([shown, star[None, :]]) if (H is not None or note or not shown.size) else shown
    lo, hi, fixed = _trajectory_window(box, pad_zero=H is not None)
    fixed = fixed or bool(note)
    fig = _Draft()
    if H is not None:
        Hm = check_matrix(H, "H")
        if Hm.shape != (2, 2):
            raise ValueError(f"H must have shape (2, 2); got {Hm.shape}.")
        g1 = np.linspace(lo[0], hi[0], 121)
        g2 = np.linspace(lo[1], hi[1], 121)
        D1, D2 = np.meshgrid(g1 - star[0], g2 - star[1])  # (121, 121)
        # f = s^2 f(D / s): diverged iterates (|θ| ~ 1e200) would overflow f itself, not its log
        s = max(float(np.abs(D1).max()), float(np.abs(D2).max()), np.finfo(float).tiny)
        E1, E2 = D1 / s, D2 / s
        Fs = 0.5 * (Hm[0, 0] * E1**2 + (Hm[0, 1] + Hm[1, 0]) * E1 * E2 + Hm[1, 1] * E2**2)
        use_log = bool(np.all(Fs >= 0))
        if use_log:
            F = Fs  # only its sign is used below
            Z = 2 * np.log10(s) + np.log10(np.maximum(Fs, np.finfo(float).tiny))
        else:
            with np.errstate(over="ignore"):
                F = Z = Fs * s * s
            Z = np.where(np.isfinite(Z), Z, np.nan)  # gaps in the contour, never inf in the figure JSON
        zf = Z[np.isfinite(Z) & (F > 0)] if use_log else Z[np.isfinite(Z)]
        zlo, zhi = (float(np.quantile(zf, 0.02)), float(zf.max())) if zf.size else (0.0, 1.0)
        fig.add_trace(
            go.Contour(
                x=g1,
                y=g2,
                z=Z,
                name="level sets of f",
                colorscale=theme.colorscale_kappa,
                contours=dict(coloring="lines", start=zlo, end=zhi, size=max((zhi - zlo) / n_levels, 1e-12)),
                line=dict(width=0.5 * theme.line_width),
                showscale=False,
                showlegend=True,
                hovertemplate="θ₁ %{x:.3g}, θ₂ %{y:.3g}<br>"
                + ("log₁₀ f" if use_log else "f")
                + " = %{z:.3g}<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[star[0]],
                y=[star[1]],
                mode="markers",
                name=f"{critical_point_kind(Hm)} θ*",
                marker=dict(symbol="x", size=1.5 * theme.marker_size, color=theme.text_color),
            )
        )
    fig.add_trace(
        go.Scatter(
            x=P[:drawn, 0],
            y=P[:drawn, 1],
            mode="lines+markers",
            name="iterates θₖ",
            legendgroup="iterates",
            customdata=steps[:drawn],
            line=dict(color=theme.color(1), width=0.8 * theme.line_width),
            marker=dict(size=0.8 * theme.marker_size),
            hovertemplate="k = %{customdata}<br>θ = (%{x:.4g}, %{y:.4g})<extra></extra>",
        )
    )
    if cut is not None:  # the segment toward the first iterate far off the plot, cut short
        a, end = P[drawn - 1], cut
        fig.add_trace(
            go.Scatter(
                x=[a[0], end[0]],
                y=[a[1], end[1]],
                mode="lines",
                name=f"iterates θₖ (toward k = {int(steps[drawn])})",
                legendgroup="iterates",
                showlegend=False,
                line=dict(color=theme.color(1), width=0.8 * theme.line_width),
                hoverinfo="skip",
            )
        )
    if P.size:
        fig.add_trace(
            go.Scatter(
                x=[P[0, 0]],
                y=[P[0, 1]],
                mode="markers",
                name="start θ₀",
                marker=dict(symbol="circle-open", size=2 * theme.marker_size, color=theme.color(1), line=dict(width=2)),
            )
        )
    fig.update_xaxes(title_text="θ₁")
    fig.update_yaxes(title_text="θ₂", scaleanchor="x", scaleratio=1)
    if fixed:
        # a diverging run: the axes cover the iterates before they left the window around θ*; the path runs off
        # the plot from there
        fig.update_xaxes(range=[float(lo[0]), float(hi[0])])
        fig.update_yaxes(range=[float(lo[1]), float(hi[1])])
    if note:
        fig.annotations.append(
            dict(
                text=note,
                xref="paper",
                yref="paper",
                x=0.01,
                y=0.99,
                xanchor="left",
                yanchor="top",
                showarrow=False,
                align="left",
                bgcolor="rgba(255,255,255,0.85)",
                font=dict(size=0.9 * theme.font_size, color=theme.color(1)),
            )
        )
    return _finish(fig, theme, title=title, uirevision=uirevision, height=480)


def critical_point_kind(H: np.ndarray) -> str:
    """What θ* is ("minimum", "saddle" or "maximum") for ``f(θ) = ½ (θ−θ*)ᵀ H (θ−θ*)`` (``H``'s symmetric part)."""
    lam = np.linalg.eigvalsh(0.5 * (H + H.T))
    tol = 1e-12 * max(float(np.abs(lam).max()), np.finfo(float).tiny)
    if lam.min() >= -tol:
        return "minimum"
    return "maximum" if lam.max() < -tol else "saddle"


#: The trajectory window's width : height (or height : width) is at most this: the short side is widened.
_MAX_WINDOW_ASPECT = 2.0


def _trajectory_window(box: np.ndarray, *, pad_zero: bool) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(lo, hi, fixed)``: the window of :func:`plot_trajectory_2d` around the points ``box`` (shape (m, 2)).

    The points' bounding box padded by 15 % per side (a side of zero extent by 1 if ``pad_zero``, i.e. when the
    level sets need an area, else by Plotly's own autorange), its short side then widened about its centre so the
    aspect is at most :data:`_MAX_WINDOW_ASPECT`: with equal axis scales a 12 : 1 window left a plot area ~25 px
    tall (GD on a saddle running off along θ₁). ``fixed`` says the window must be set as the axes' ranges (it was
    widened); otherwise Plotly's autorange shows the same points.
    """
    lo, hi = box.min(axis=0), box.max(axis=0)
    ext = hi - lo
    # overflow-safe scale of the points (|θ| up to 1.8e308) for a window of zero extent
    scale = np.maximum(np.abs(box).max(axis=0), 1e-300)
    pad = 0.15 * np.maximum(ext, 1e-12 * scale)
    if pad_zero:
        pad = pad + (ext == 0)
    lo, hi = lo - pad, hi + pad
    with np.errstate(over="ignore", invalid="ignore"):
        ext = hi - lo
        short = int(np.argmin(ext))
        need = ext[1 - short] / _MAX_WINDOW_ASPECT
    fixed = bool(np.isfinite(need) and need > ext[short] * (1 + 1e-9))
    if fixed:
        c = 0.5 * lo[short] + 0.5 * hi[short]
        lo[short], hi[short] = c - 0.5 * need, c + 0.5 * need
    return lo, hi, fixed


#: A trajectory whose distance from θ* grows beyond this multiple of the start's is shown as diverging.
_DIVERGE_SPREAD = 1e6
#: ... on axes around the iterates before they first leave this multiple of the start's distance.
_DIVERGE_WINDOW = 10.0
#: ... but never fewer than this many steps (the iterates θ₀ … θ₃).
_DIVERGE_MIN_STEPS = 3


def _diverging_window(T: np.ndarray, P: np.ndarray, steps: np.ndarray, star: np.ndarray) -> tuple[int, str]:
    """``(n, note)``: :func:`plot_trajectory_2d` draws (and sets its axes by) the first ``n`` finite iterates
    and annotates ``note``.

    All finite iterates ``P`` (rows of ``T`` at ``steps``) and no note, unless the run diverges: the largest
    distance from θ* (∞-norm) exceeds :data:`_DIVERGE_SPREAD` times the start's (|θ| reached 1e66 and the
    axes showed a flat line with overlapping labels). Then only the iterates before the first one farther
    than :data:`_DIVERGE_WINDOW` times the start's distance (but at least the first :data:`_DIVERGE_MIN_STEPS`
    steps), and a note with the largest |θₖ| (2-norm).
    """
    if P.shape[0] < 2:
        return P.shape[0], ""
    with np.errstate(over="ignore", invalid="ignore"):
        dist = np.max(np.abs(P - star), axis=1)
    d0 = dist[0] if dist[0] > 0 else max(float(np.abs(star).max()), 1.0)
    if not np.isfinite(dist).all() or dist.max() > _DIVERGE_SPREAD * d0:
        exits = np.flatnonzero(~(dist <= _DIVERGE_WINDOW * d0))
        n_in = int(exits[0]) if exits.size else P.shape[0]
        size = np.hypot(P[:, 0], P[:, 1])  # no overflow in |θ|²; beyond 1.8e308 the larger component
        size = np.where(np.isfinite(size), size, np.abs(P).max(axis=1))
        j = int(np.argmax(size))
        # short lines: the note sits inside plots in narrow columns
        note = f"iterates diverge: |θₖ| reaches {_tick_text(float(size[j]), 2)}<br>at k = {int(steps[j])}"
        later = np.flatnonzero(~np.all(np.isfinite(T), axis=1))
        later = later[later > steps[-1]]
        if later.size:
            note += f" (overflow at k = {int(later[0])})"
        # at least a few steps, so the direction of divergence shows (a fast one left only θ₀: "k ≤ 0")
        n_in = max(n_in, min(_DIVERGE_MIN_STEPS + 1, P.shape[0]))
        return n_in, note + f"<br>axes fit the iterates k ≤ {int(steps[n_in - 1])}"
    return P.shape[0], ""


def _drawable_path(P: np.ndarray, n_in: int, star: np.ndarray) -> tuple[int, np.ndarray | None]:
    """``(m, cut)`` for a diverging path whose axes fit ``P[:n_in]``: the iterates ``P[:m]`` lie within ten
    times that window around θ* (off the axes, but drawable), and ``cut`` is a point on the segment from
    ``P[m - 1]`` toward ``P[m]`` far outside the plot (None if every iterate is drawable).

    plotly.js draws points ~1e66 away at clamped, wrong places (stray markers in a corner, lines across the plot),
    so the path is drawn only as far as it stays within reach, then leaves the plot along its next segment.
    """
    box = np.vstack([P[:n_in], star[None, :]])
    ext = float(np.ptp(box, axis=0).max())
    reach = 10.0 * (ext if ext > 0 else max(float(np.abs(box).max()), 1.0))
    with np.errstate(over="ignore", invalid="ignore"):
        far = np.flatnonzero(~(np.max(np.abs(P - star), axis=1) <= reach))
    far = far[far >= n_in]
    if not far.size:
        return P.shape[0], None
    m = int(far[0])
    a, b = P[m - 1], P[m]
    with np.errstate(over="ignore", invalid="ignore"):
        d = b - a
        size = float(np.abs(d).max())
    if not np.isfinite(size):  # b - a overflowed: b's direction (a is negligible next to it)
        d, size = b / np.abs(b).max(), 1.0
    # at most 3 x reach along the segment (never past P[m]): off the plot even if the segment runs back across it
    return m, a + d * min(3.0 * reach / size, 1.0)


# ------------------------------------------------------------------------------------- studies
def plot_phase_distributions(
    values_by_phase: Mapping[str, Mapping[str, Any]],
    *,
    annotations: Mapping[str, str] | None = None,
    phase_order: Sequence[str] | None = None,
    log_y: bool = True,
    title: str = "",
    uirevision: str = "phases",
    theme: Theme = DEFAULT_THEME,
) -> go.Figure:
    """Box plots with all points of each indicator, split by training phase.

    Parameters
    ----------
    values_by_phase : dict of indicator -> dict of phase -> array_like of shape (n_phase,)
        E.g. ``{"κ(V)": {"stable": a, "unstable": b}, "ρ(J)": {...}}``: one subplot per
        indicator (left to right), one box per phase; non-finite values are dropped (and
        non-positive ones too on a log axis).
    annotations : dict of indicator -> str, optional
        Text under each subplot title, e.g. a test statistic ("AUC 0.91, p = 3e-4").
    phase_order : sequence of str, optional
        Order (and colour) of the phases; default order of first appearance.
    log_y : bool
    title, uirevision : str
    theme : Theme

    Returns
    -------
    plotly.graph_objects.Figure
        One ``go.Box`` per (indicator, phase) named after the phase (legend once per phase).
    """
    theme = _check_theme(theme)
    if not isinstance(values_by_phase, Mapping) or not values_by_phase:
        raise ValueError("values_by_phase must be a non-empty dict of indicator -> {phase: values}.")
    inds = [str(k) for k in values_by_phase]
    phases: list[str] = list(phase_order or [])
    for ind, per in values_by_phase.items():
        if not isinstance(per, Mapping):
            raise TypeError(f"values_by_phase[{ind!r}] must be a dict of phase -> values; got {type(per).__name__}.")
        phases += [str(p) for p in per if str(p) not in phases]
    notes = dict(annotations or {})
    subtitles = [f"{i}<br><sup>{notes[i]}</sup>" if i in notes else i for i in inds]
    # room between panels for the next panel's tick labels and y title (they ran into the neighbour at 0.25 / n)
    fig = _Draft(rows=1, cols=len(inds), spacing=0.3 / len(inds) + 0.05)
    fig.subplot_titles(subtitles, size=theme.font_size)
    if title:  # the figure title above two-line subplot titles: a taller top margin (they crowded each other)
        m = layout_style(theme, has_title=True)["margin"]
        fig.update_layout(margin_t=m["t"] + int(round((2.4 if notes else 1.3) * theme.font_size)))
    for col, (ind, per) in enumerate(values_by_phase.items(), start=1):
        shown = []
        for p_name, vals in per.items():
            v = _vector(vals, f"values_by_phase[{ind!r}][{p_name!r}]")
            v = v[np.isfinite(v) & ((v > 0) if log_y else True)]
            shown.append(v)
            j = phases.index(str(p_name))
            fig.add_trace(
                go.Box(
                    y=v,
                    name=str(p_name),
                    legendgroup=str(p_name),
                    showlegend=col == 1,
                    boxpoints="all",
                    jitter=0.4,
                    pointpos=0,
                    marker=dict(color=theme.color(j), size=0.6 * theme.marker_size, opacity=0.7),
                    line=dict(width=0.6 * theme.line_width),
                ),
                row=1,
                col=col,
            )
        ticks = _log_ticks(*shown) if log_y else {}
        fig.update_yaxes(title_text=str(ind), type="log" if log_y else "linear", row=1, col=col, **ticks)
        fig.update_xaxes(title_text="phase", categoryorder="array", categoryarray=phases, row=1, col=col)
    return _finish(fig, theme, title=title, uirevision=uirevision, height=440)


def plot_roc(
    curves: Mapping[str, tuple],
    *,
    title: str = "",
    uirevision: str = "roc",
    theme: Theme = DEFAULT_THEME,
) -> go.Figure:
    """ROC curves of indicators as early-warning classifiers.

    Parameters
    ----------
    curves : dict of name -> (fpr, tpr, auc)
        ``fpr`` and ``tpr`` of shape (m,) in [0, 1]; ``auc`` a float (or None). The legend
        name is "name (AUC = 0.91)".
    title, uirevision : str
    theme : Theme

    Returns
    -------
    plotly.graph_objects.Figure
        One line per indicator plus the diagonal "chance"; square unit axes.
    """
    theme = _check_theme(theme)
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty dict of name -> (fpr, tpr, auc).")
    fig = _Draft()
    for i, (name, val) in enumerate(curves.items()):
        if not isinstance(val, (tuple, list)) or len(val) != 3:
            raise ValueError(f"curves[{name!r}] must be a tuple (fpr, tpr, auc).")
        fpr = _vector(val[0], f"curves[{name!r}] fpr")
        tpr = _vector(val[1], f"curves[{name!r}] tpr", length=fpr.size, like="fpr")
        auc = val[2]
        label = f"{name} (AUC = {float(auc):.2f})" if auc is not None and np.isfinite(auc) else str(name)
        fig.add_trace(
            go.Scatter(
                x=fpr,
                y=tpr,
                mode="lines",
                name=label,
                line=dict(color=theme.color(i), width=theme.line_width, shape="hv"),
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="chance",
            line=dict(color=theme.text_color, width=0.4 * theme.line_width, dash="dot"),
        )
    )
    fig.update_xaxes(title_text="false-positive rate", range=[0, 1], constrain="domain")
    fig.update_yaxes(title_text="true-positive rate", range=[0, 1], scaleanchor="x", scaleratio=1, constrain="domain")
    return _finish(fig, theme, title=title, uirevision=uirevision, height=480)


def plot_lead_times(
    lead_times: Mapping[str, Any],
    *,
    nbins: int = 20,
    x_title: str = "lead time (steps before the loss spike)",
    title: str = "",
    uirevision: str = "lead_times",
    theme: Theme = DEFAULT_THEME,
) -> go.Figure:
    """Histograms of warning lead times, one per indicator, side by side on shared bins.

    Parameters
    ----------
    lead_times : dict of name -> array_like of shape (n_runs,)
        Steps between the indicator's warning and the event (positive = warned before);
        non-finite entries mean "never warned" and are counted in the legend name
        ("κ(V) (n = 40, 3 missed)").
    nbins : int
        Number of bins shared by all indicators (over the range of all finite lead times); every finite value
        is in a bin. Whole-number lead times (steps) get bins centred on integers (width
        ``max(1, ceil(range / nbins))`` steps) and integer x ticks.
    x_title, title, uirevision : str
    theme : Theme

    Returns
    -------
    plotly.graph_objects.Figure
        One ``go.Histogram`` per indicator (grouped bars in the legend's colours: overlaid bars blended
        into colours that were in no legend), whole-number count ticks, and a dotted line at 0. An indicator
        with no finite lead time keeps its legend entry through a data-less marker trace in its colour.
    """
    theme = _check_theme(theme)
    if not isinstance(lead_times, Mapping) or not lead_times:
        raise ValueError("lead_times must be a non-empty dict of name -> array of lead times.")
    nbins = check_scalar(nbins, "nbins", min_val=1, integer=True)
    finite = {}
    for name, vals in lead_times.items():
        v = _vector(vals, f"lead_times[{name!r}]")
        finite[name] = (v[np.isfinite(v)], v.size)
    pooled = np.concatenate([f for f, _ in finite.values()])
    xbins, integer = _lead_bins(pooled, nbins)
    # the same bins as Plotly's: [start + j size, start + (j + 1) size) for every start + j size < end
    n_bins = int(np.ceil((xbins["end"] - xbins["start"]) / xbins["size"] - 1e-9))
    edges = xbins["start"] + xbins["size"] * np.arange(n_bins + 1)
    top = 0
    fig = _Draft()
    for i, (name, (fin, total)) in enumerate(finite.items()):
        top = max(top, int(np.histogram(fin, bins=edges)[0].max()) if fin.size else 0)
        label = f"{name} (n = {fin.size}, {total - fin.size} missed)"
        fig.add_trace(
            go.Histogram(
                x=fin,
                xbins=xbins,
                autobinx=False,
                name=label,
                legendgroup=label,
                showlegend=bool(fin.size),
                marker=dict(color=theme.color(i)),
                opacity=0.85,
            )
        )
        if not fin.size:  # Plotly leaves a trace without data out of the legend: an indicator that never warned
            fig.add_trace(  # would vanish, and with it the fact that it missed every event
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    name=label,
                    legendgroup=label,
                    marker=dict(color=theme.color(i), symbol="square", size=12, opacity=0.85),
                    hoverinfo="skip",
                )
            )
    fig.add_vline(0.0, line=dict(color=theme.text_color, width=0.4 * theme.line_width, dash="dot"))
    fig.update_layout(barmode="group", bargap=0.15)
    fig.update_xaxes(title_text=x_title)
    if integer:  # whole steps: ticks at integers, at most ~10 (Plotly's auto ticks gave "0.025" for lead times 0, 1)
        span = float(pooled.max() - pooled.min()) + 1.0 if pooled.size else 1.0
        steps = (10**e * m for e in range(16) for m in (1, 2, 5))
        fig.update_xaxes(tick0=0, dtick=next(d for d in steps if span / d <= 10))
    # counts are whole runs: ticks every 1, 2, 5, 10, ... runs (Plotly's auto ticks gave 0.5, 1.5, ...)
    dtick = next(d for d in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10**9) if top / d <= 8)
    fig.update_yaxes(title_text="number of runs", dtick=dtick, tick0=0, rangemode="tozero")
    return _finish(fig, theme, title=title, uirevision=uirevision, height=400)


def _lead_bins(v: np.ndarray, nbins: int) -> tuple[dict, bool]:
    """Plotly ``xbins`` (start, end, size) holding every value of ``v`` (finite, any length) and whether ``v`` is
    whole numbers.

    Plotly counts a value in bin ``floor((v - start) / size)`` and makes bins only while their left edge is below
    ``end``: ``end`` equal to the largest value (as from ``np.histogram_bin_edges``) dropped that value. Whole
    numbers (lead times in steps) get bins centred on integers, ``size = max(1, ceil(range / nbins))``, from
    ``min - 0.5``; other values ``nbins + 1`` bins of width ``range / nbins`` centred on ``min + j * width``.
    ``end`` is half a bin beyond the largest value, so it lies inside the last bin.
    """
    if v.size == 0:
        return dict(start=-0.5, end=0.5, size=1.0), True
    lo, hi = float(v.min()), float(v.max())
    integer = bool(np.all(v == np.round(v)))
    if integer:
        size = float(max(1, int(np.ceil((hi - lo) / nbins))))
        start = lo - 0.5
    else:
        size = (hi - lo) / nbins if hi > lo else max(abs(lo), 1.0) / nbins
        start = lo - 0.5 * size
    return dict(start=start, end=hi + 0.5 * size, size=size), integer


def plot_run_grid(
    lrs: Any,
    seeds: Any,
    phase: Any,
    *,
    selected: tuple[int, int] | None = None,
    x_title: str = "learning rate η",
    title: str = "",
    uirevision: str = "run_grid",
    theme: Theme = DEFAULT_THEME,
) -> go.Figure:
    """Clickable grid of runs (learning rate × seed) coloured by phase label.

    Parameters
    ----------
    lrs : array_like of shape (n_lr,)
        Learning rates η (per step), log x axis.
    seeds : array_like of shape (n_seed,)
        Integer seeds (categorical y axis).
    phase : array_like of str, shape (n_lr, n_seed)
        Phase label of each run ("stable", "edge of stability", "diverged", ...).
    selected : tuple (i, j), optional
        Index of the highlighted run (``lrs[i]``, ``seeds[j]``).
    x_title, title, uirevision : str
    theme : Theme

    Returns
    -------
    plotly.graph_objects.Figure
        One marker trace per phase label with ``customdata = [lr, seed, i, j]`` (floats) per point.
    """
    theme = _check_theme(theme)
    lr = _vector(lrs, "lrs")
    sd = _vector(seeds, "seeds")
    lab = np.asarray(phase).astype(str)
    if lab.shape != (lr.size, sd.size):
        raise ValueError(f"phase must have shape (len(lrs), len(seeds)) = {(lr.size, sd.size)}; got {lab.shape}.")
    I, J = np.meshgrid(np.arange(lr.size), np.arange(sd.size), indexing="ij")  # (n_lr, n_seed)
    seed_txt = [f"{int(v)}" if float(v).is_integer() else f"{v:g}" for v in sd]
    fig = _Draft()
    for c, name in enumerate(dict.fromkeys(lab.ravel().tolist())):
        m = lab == name
        ii, jj = I[m], J[m]
        fig.add_trace(
            go.Scatter(
                x=lr[ii],
                y=[seed_txt[j] for j in jj],
                mode="markers",
                name=name,
                marker=dict(symbol=_SYMBOLS[c % len(_SYMBOLS)], size=1.4 * theme.marker_size, color=theme.color(c)),
                customdata=np.column_stack([lr[ii], sd[jj], ii, jj]),  # (n_points, 4) float
                hovertemplate="η = %{customdata[0]:.4g}<br>seed %{y}<br>" + name + "<extra></extra>",
            )
        )
    if selected is not None:
        i, j = (check_scalar(v, "selected index", min_val=0, integer=True) for v in selected)
        if i >= lr.size or j >= sd.size:
            raise ValueError(f"selected must index the grid of shape {(lr.size, sd.size)}; got {tuple(selected)}.")
        fig.add_trace(
            go.Scatter(
                x=[lr[i]],
                y=[seed_txt[j]],
                mode="markers",
                name="selected run",
                marker=dict(
                    symbol="circle-open", size=2.6 * theme.marker_size, color=theme.text_color, line=dict(width=2)
                ),
                hoverinfo="skip",
            )
        )
    fig.update_xaxes(title_text=x_title, type="log", **_log_ticks(lr))
    fig.update_yaxes(title_text="seed", type="category", categoryorder="array", categoryarray=seed_txt)
    fig.update_layout(clickmode="event+select")
    return _finish(fig, theme, title=title, uirevision=uirevision, height=120 + 28 * sd.size)
