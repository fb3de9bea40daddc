"""Export of figures and data: PNG/SVG/PDF (kaleido), self-contained HTML, a zip bundle.

Shared by every page and the CLI.

Static images (PNG, SVG, PDF) are rendered by kaleido (>= 1), which drives a headless
Chromium; on Debian it finds ``/usr/bin/chromium`` by itself (``BROWSER_PATH`` overrides).
Starting the browser takes several seconds, so the process keeps **one** kaleido server:
:func:`start_kaleido` starts it (the app holds it with ``st.cache_resource``) and
:func:`figure_bytes` starts it on first use if nobody did. Calls into the server are
serialised by a lock (the server answers one request at a time and is shared by all
Streamlit sessions). Without Chromium, :func:`figure_bytes` raises :class:`ExportUnavailable`
with a one-line reason; :func:`figure_html` always works.

Zip bundle layout (:func:`bundle_zip`), all paths relative to the zip root::

    MANIFEST.txt              this list, with byte sizes and SHA-256 of every other member
    command.txt               the exact CLI command that regenerates the figures
    settings.json             the settings, encoded with to_json_safe
    figures/<name>.<fmt>      every figure in every requested format (png, svg, pdf, html);
                              static formats are skipped (and MANIFEST.txt says why) if
                              kaleido/Chromium is unavailable — html is always written
    data/<key>.<ext>          the data behind the figures, by the type of data[key]:
        str                   -> <key>.txt   (or <key> as given if it has an extension)
        bytes                 -> <key>       (kept as given; key should carry an extension)
        ndarray, 1-D or 2-D   -> <key>.csv   (1-D: one column headed <key>; complex as a+bj)
        ndarray, >= 3-D       -> <key>.npy   (np.save, allow_pickle=False)
        dict of 1-D ndarrays  -> <key>.csv   (columns, equal lengths, header = dict keys)
        dict, key "npz" or
        ending in ".npz"      -> <key>.npz   (np.savez of the numeric arrays, no pickling)
        any other dict / list -> <key>.json  (to_json_safe)

Members are written in sorted order with a fixed timestamp (1980-01-01 00:00:00) and
fixed permissions, so equal inputs give byte-identical members for the data, settings,
command and HTML files. Chromium's SVG (random clip-path ids) and PDF (creation date) differ
from run to run, so a bundle with those formats is not byte-identical.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import re
import threading
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from nnspec_core._validation import check_choice, check_scalar

__all__ = [
    "ExportUnavailable",
    "STATIC_FORMATS",
    "plotly_config",
    "kaleido_available",
    "start_kaleido",
    "figure_bytes",
    "figure_html",
    "write_figure",
    "to_json_safe",
    "json_dumps",
    "bundle_names",
    "bundle_zip",
]

STATIC_FORMATS = ("png", "svg", "pdf")
_BUNDLE_FORMATS = (*STATIC_FORMATS, "html")
_MODEBAR_FORMATS = ("svg", "png", "jpeg", "webp")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_DEFAULT_SIZE = (1000, 600)  # px, when neither the call nor the figure's layout gives one
_TIMEOUT_S = 90.0

_LOCK = threading.RLock()  # serialises every call into the shared kaleido server
# Process-wide state of that server: "warm" after a successful warm-up export, "broken" after a
# call timed out (a late answer would be handed to the next caller, so the server is not reused).
_SERVER_STATE = {"warm": False, "broken": False}


class ExportUnavailable(RuntimeError):
    """Static (PNG/SVG/PDF) export is not possible here; HTML export still is."""


# -------------------------------------------------------------------------------- modebar config
def plotly_config(filename: str = "nnspec", fmt: str = "svg", scale: float = 2) -> dict:
    """Plotly config for ``st.plotly_chart(config=...)`` and HTML export.

    The modebar's camera button downloads ``<filename>.<fmt>`` at ``scale`` times the on-screen
    size (the talk theme fixes 1600 x 900 px, so a talk figure downloads at 3200 x 1800 px for
    PNG). The Plotly logo is hidden.

    Parameters
    ----------
    filename : str
        Download file name without extension.
    fmt : {"svg", "png", "jpeg", "webp"}
        Format of the modebar download (the browser's plotly.js cannot write PDF).
    scale : float
        Resolution multiplier, in (0, 10].

    Returns
    -------
    dict
    """
    if not isinstance(filename, str) or not filename:
        raise ValueError(f"filename must be a non-empty string; got {filename!r}.")
    check_choice(fmt, "fmt", _MODEBAR_FORMATS)
    scale = check_scalar(scale, "scale", min_val=0.0, max_val=10.0, include_min=False)
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": fmt, "filename": filename, "scale": scale, "width": None, "height": None},
    }


# ------------------------------------------------------------------------------------ kaleido
def _find_chromium() -> str | None:
    """Path of the Chromium kaleido will use, or None (same search as kaleido/choreographer)."""
    try:
        from choreographer.browsers.chromium import Chromium
    except ImportError:  # pragma: no cover - kaleido >= 1 always brings choreographer
        return None
    try:
        path = Chromium.find_browser(skip_local=False)
    except Exception:  # noqa: BLE001 - a failed search means "not found"
        return None
    if path and Path(path).is_file() and os.access(path, os.X_OK):
        return str(path)
    return None


def kaleido_available() -> tuple[bool, str]:
    """Whether static export can work here, and why (not).

    Checks that kaleido >= 1 is installed and that a Chromium/Chrome executable can be found
    (``BROWSER_PATH``, ``PATH``, typical locations, or kaleido's own download). It does not
    start the browser: :func:`start_kaleido` does, and reports a failure to launch.

    Returns
    -------
    ok : bool
    reason : str
        One line: the browser path when ``ok``, else what is missing and that HTML export
        still works.
    """
    try:
        from importlib.metadata import version

        import kaleido  # noqa: F401

        major = int(version("kaleido").split(".")[0])
    except Exception:  # noqa: BLE001
        return False, "the kaleido package is not installed (pip install 'kaleido>=1'); HTML export still works."
    if major < 1:
        return False, f"kaleido >= 1 is required (found {version('kaleido')}); HTML export still works."
    path = _find_chromium()
    if path is None:
        return False, (
            "no Chromium/Chrome browser found for kaleido (install Debian's chromium or set BROWSER_PATH); "
            "HTML export still works."
        )
    return True, f"kaleido uses the browser at {path}."


def _server_running() -> bool:
    """Whether kaleido's process-wide sync server has been started (and not stopped)."""
    import kaleido

    srv = getattr(kaleido, "_global_server", None)  # the singleton behind kaleido.start_sync_server
    return bool(srv is not None and srv.is_running())


def _server_healthy() -> bool:
    """Running and its worker thread alive (the thread dies if Chromium fails to start)."""
    import kaleido

    srv = getattr(kaleido, "_global_server", None)
    if srv is None:  # another kaleido layout: trust the warm-up export instead
        return _SERVER_STATE["warm"]
    thread = getattr(srv, "_thread", None)
    return bool(srv.is_running() and (thread is None or thread.is_alive()))


def _run_with_timeout(fn, timeout: float):
    """Run ``fn()`` in a daemon thread; return its result or re-raise its error.

    Raises TimeoutError after ``timeout`` seconds, and RuntimeError as soon as kaleido's server
    thread is found dead (a request to a dead server would otherwise wait forever).
    """
    box: dict[str, Any] = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as err:  # noqa: BLE001 - handed back to the caller
            box["error"] = err

    t = threading.Thread(target=target, daemon=True)
    t.start()
    waited = 0.0
    while t.is_alive():
        t.join(0.05)
        waited += 0.05
        if t.is_alive() and _server_running() and not _server_healthy():
            raise RuntimeError("the kaleido server stopped (Chromium failed to start or crashed)")
        if t.is_alive() and waited >= timeout:
            raise TimeoutError(f"kaleido did not answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["result"]


def start_kaleido(*, timeout: float = _TIMEOUT_S) -> bool:
    """Start (once per process) the shared kaleido server and warm it up with a tiny export.

    Idempotent and thread-safe; the first call takes several seconds (Chromium start-up),
    later ones return immediately. MathJax is disabled in the server (labels are Unicode).

    Parameters
    ----------
    timeout : float
        Seconds to wait for the warm-up export.

    Returns
    -------
    bool
        True if the server runs and exported the warm-up figure; False if Chromium is missing
        or failed to start (the server is then shut down again).
    """
    ok, _ = kaleido_available()
    if not ok:
        return False
    import kaleido

    with _LOCK:
        if _SERVER_STATE["broken"]:
            return False
        if _server_healthy() and _SERVER_STATE["warm"]:
            return True
        if _server_running() and not _server_healthy():  # thread died (browser failed): reset
            kaleido.stop_sync_server(silence_warnings=True)
        if not _server_running():
            kaleido.start_sync_server(mathjax=False, silence_warnings=True)
        probe = {"data": [{"type": "scatter", "x": [0, 1], "y": [0, 1]}], "layout": {}}
        try:
            _run_with_timeout(
                lambda: kaleido.calc_fig_sync(probe, opts=dict(format="svg", width=50, height=50)), timeout
            )
        except TimeoutError:
            _SERVER_STATE["broken"] = True
            return False
        except Exception:  # noqa: BLE001 - any failure means "not available"
            if not _server_healthy():  # Chromium did not start: do not try again in this process
                kaleido.stop_sync_server(silence_warnings=True)
                _SERVER_STATE["broken"] = True
            return False
        _SERVER_STATE["warm"] = True
        return True


def _size(fig: go.Figure, width: int | None, height: int | None) -> tuple[int, int]:
    w = width if width is not None else (fig.layout.width or _DEFAULT_SIZE[0])
    h = height if height is not None else (fig.layout.height or _DEFAULT_SIZE[1])
    return (
        check_scalar(w, "width", min_val=10, max_val=20_000, integer=True),
        check_scalar(h, "height", min_val=10, max_val=20_000, integer=True),
    )


def figure_bytes(
    fig: go.Figure,
    fmt: str,
    *,
    width: int | None = None,
    height: int | None = None,
    scale: float = 2,
) -> bytes:
    """Render ``fig`` to PNG, SVG or PDF bytes with the shared kaleido server.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
    fmt : {"png", "svg", "pdf"}
    width, height : int, optional
        Size in CSS px; default the figure's ``layout.width``/``height`` (the talk theme sets
        1600 x 900) or 1000 x 600.
    scale : float
        Resolution multiplier for PNG (SVG/PDF are vector; scale multiplies their nominal size).

    Returns
    -------
    bytes
        Starting with ``b"\\x89PNG"``, ``b"<svg"`` or ``b"%PDF"``.

    Raises
    ------
    ExportUnavailable
        If kaleido or Chromium is missing, fails to start or does not answer; the message
        offers HTML export instead.
    """
    if not isinstance(fig, go.Figure):
        raise TypeError(f"fig must be a plotly.graph_objects.Figure; got {type(fig).__name__}.")
    check_choice(fmt, "fmt", STATIC_FORMATS)
    w, h = _size(fig, width, height)
    scale = check_scalar(scale, "scale", min_val=0.0, max_val=10.0, include_min=False)
    ok, reason = kaleido_available()
    if not ok:
        raise ExportUnavailable(f"Static {fmt.upper()} export is unavailable: {reason}")
    if not start_kaleido():
        raise ExportUnavailable(
            f"Static {fmt.upper()} export is unavailable: Chromium did not start for kaleido; HTML export still works."
        )
    import kaleido

    spec = fig.to_dict()
    opts = dict(format=fmt, width=w, height=h, scale=scale)
    with _LOCK:
        try:
            out = _run_with_timeout(lambda: kaleido.calc_fig_sync(spec, opts=opts), _TIMEOUT_S)
        except (TimeoutError, RuntimeError) as err:
            _SERVER_STATE["broken"] = True
            raise ExportUnavailable(f"Static {fmt.upper()} export failed: {err}; HTML export still works.") from None
    return bytes(out)


def figure_html(fig: go.Figure, *, filename: str = "nnspec", div_id: str = "nnspec-figure") -> str:
    """Self-contained interactive HTML page of ``fig`` that opens offline.

    plotly.js is embedded (``include_plotlyjs=True``, ~4.8 MB), MathJax is not loaded
    (``include_mathjax=False``: labels are Unicode), the modebar downloads SVG at scale 2
    (:func:`plotly_config`), and the div id is fixed so equal figures give equal pages.

    Returns
    -------
    str
    """
    if not isinstance(fig, go.Figure):
        raise TypeError(f"fig must be a plotly.graph_objects.Figure; got {type(fig).__name__}.")
    return fig.to_html(
        include_plotlyjs=True,
        include_mathjax=False,
        full_html=True,
        config=plotly_config(filename),
        div_id=div_id,
    )


def write_figure(fig: go.Figure, path: str | os.PathLike, *, fmt: str | None = None, scale: float = 2) -> Path:
    """Write ``fig`` to ``path`` as PNG/SVG/PDF/HTML (format from ``fmt`` or the file suffix).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ExportUnavailable
        For a static format when kaleido/Chromium is unavailable.
    """
    p = Path(path)
    fmt = check_choice(fmt if fmt is not None else p.suffix.lstrip(".").lower(), "fmt", _BUNDLE_FORMATS)
    if fmt == "html":
        p.write_text(figure_html(fig, filename=p.stem), encoding="utf-8")
    else:
        p.write_bytes(figure_bytes(fig, fmt, scale=scale))
    return p


# --------------------------------------------------------------------------------------- JSON
def _json_float(x: float) -> float | str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def to_json_safe(obj: Any) -> Any:
    """Convert ``obj`` to plain JSON types (strict JSON: no NaN/Infinity literals).

    Rules: dict -> dict with ``str`` keys; list/tuple/set -> list (sets sorted); ndarray ->
    nested lists; NumPy scalars -> Python scalars; bool/int/str/None unchanged; float ->
    float, except non-finite values -> the strings ``"inf"``, ``"-inf"``, ``"nan"``; complex ->
    ``[re, im]`` (each part encoded as a float); dataclass instances -> dict of their fields;
    ``pathlib.Path`` -> str. Anything else raises TypeError.

    Examples
    --------
    >>> to_json_safe({"kappa": np.inf, "mu": 1 + 2j, "a": np.array([1.0, np.nan])})
    {'kappa': 'inf', 'mu': [1.0, 2.0], 'a': [1.0, 'nan']}
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.generic):
        return to_json_safe(obj.item())
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return _json_float(obj)
    if isinstance(obj, complex):
        return [_json_float(obj.real), _json_float(obj.imag)]
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return [to_json_safe(v) for v in obj.tolist()]
        return to_json_safe(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): to_json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (set, frozenset)):
        return [to_json_safe(v) for v in sorted(obj, key=repr)]
    if isinstance(obj, (list, tuple)):
        return [to_json_safe(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json_safe(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"obj contains a value of type {type(obj).__name__} that cannot be encoded as JSON.")


def json_dumps(obj: Any) -> str:
    """``json.dumps(to_json_safe(obj))`` with sorted keys, 2-space indent and a final newline."""
    return json.dumps(to_json_safe(obj), indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------- zip
def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise ValueError(f"{what} names must be non-empty file names of letters, digits, '_', '-', '.'; got {name!r}.")
    return name


def _is_column_dict(v: Mapping) -> bool:
    cols = list(v.values())
    if not cols or not all(isinstance(c, np.ndarray) and c.ndim == 1 for c in cols):
        return False
    return len({c.shape[0] for c in cols}) == 1


def _data_member(key: str, value: Any) -> tuple[str, str]:
    """File name and kind ('txt', 'bytes', 'csv', 'cols', 'npy', 'npz', 'json') of a data entry."""
    stem, ext = os.path.splitext(key)
    if isinstance(value, (bytes, bytearray)):
        return key, "bytes"
    if isinstance(value, str):
        return (key if ext else f"{key}.txt"), "txt"
    if isinstance(value, np.ndarray) and value.dtype != object and value.dtype.kind in "biufc":
        if value.ndim in (1, 2):
            return f"{key}.csv", "csv"
        return f"{key}.npy", "npy"
    if isinstance(value, Mapping):
        if key == "npz" or ext == ".npz":
            return (key if ext else f"{key}.npz"), "npz"
        if _is_column_dict(value):
            return f"{key}.csv", "cols"
        return f"{key}.json", "json"
    if isinstance(value, (list, tuple, int, float, bool)) or value is None or dataclasses.is_dataclass(value):
        return f"{key}.json", "json"
    raise TypeError(f"data[{key!r}] has unsupported type {type(value).__name__}; use str, bytes, ndarray or dict.")


def _fmt_cell(x: Any) -> str:
    if isinstance(x, complex):
        return f"{x.real:.17g}{x.imag:+.17g}j"
    if isinstance(x, float):
        return f"{x:.17g}"
    return str(x)


def _csv(columns: Sequence[np.ndarray], header: Sequence[str] | None) -> bytes:
    rows = [",".join(header)] if header else []
    for row in zip(*[c.tolist() for c in columns], strict=True):
        rows.append(",".join(_fmt_cell(x) for x in row))
    return ("\n".join(rows) + "\n").encode()


def _encode_data(key: str, kind: str, value: Any) -> bytes:
    if kind == "bytes":
        return bytes(value)
    if kind == "txt":
        return value.encode("utf-8")
    if kind == "json":
        return json_dumps(value).encode("utf-8")
    if kind == "npy":
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return buf.getvalue()
    if kind == "npz":
        arrays = {}
        for k, v in value.items():
            a = np.asarray(v)
            if a.dtype == object:
                raise TypeError(f"data[{key!r}][{k!r}] must be a numeric or string array (no pickled objects).")
            arrays[str(k)] = a
        buf = io.BytesIO()
        np.savez(buf, allow_pickle=False, **arrays)
        return buf.getvalue()
    if kind == "cols":
        return _csv(list(value.values()), [str(k) for k in value])
    # kind == "csv"
    if value.ndim == 1:
        return _csv([value], [key])
    return _csv([value[:, j] for j in range(value.shape[1])], None)


def bundle_names(
    figure_names: Sequence[str], data: Mapping[str, Any] | None = None, *, formats: Sequence[str] = _BUNDLE_FORMATS
) -> list[str]:
    """Sorted member names of the zip :func:`bundle_zip` writes (when static export works).

    Follows the layout documented in this module's docstring; ``MANIFEST.txt``,
    ``command.txt`` and ``settings.json`` are always present.
    """
    names = {"MANIFEST.txt", "command.txt", "settings.json"}
    for f in figure_names:
        names |= {f"figures/{f}.{fmt}" for fmt in formats}
    for key, value in (data or {}).items():
        names.add("data/" + _data_member(key, value)[0])
    return sorted(names)


def _zip_write(zf: zipfile.ZipFile, name: str, payload: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, payload)


def bundle_zip(
    figures: Mapping[str, go.Figure],
    *,
    data: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    cli_command: str = "",
    formats: Sequence[str] = _BUNDLE_FORMATS,
    scale: float = 2,
) -> bytes:
    """ "Download everything": a zip of the figures, the data behind them, settings and CLI command.

    Parameters
    ----------
    figures : dict of name -> plotly.graph_objects.Figure
        Names are file stems (letters, digits, ``_ - .``).
    data : dict of name -> str | bytes | ndarray | dict | list, optional
        Written under ``data/`` by type (see the module docstring).
    settings : dict, optional
        Written as ``settings.json`` (:func:`to_json_safe`, sorted keys).
    cli_command : str
        The exact command that regenerates the figures, written as ``command.txt``.
    formats : sequence of {"png", "svg", "pdf", "html"}
    scale : float
        PNG resolution multiplier.

    Returns
    -------
    bytes
        The zip archive. Its member list equals :func:`bundle_names` when static export works;
        otherwise the static formats are missing and ``MANIFEST.txt`` states why.
    """
    if not isinstance(figures, Mapping):
        raise TypeError(f"figures must be a dict of name -> Figure; got {type(figures).__name__}.")
    fmts = [check_choice(f, "formats entry", _BUNDLE_FORMATS) for f in dict.fromkeys(formats)]
    for name, fig in figures.items():
        _check_name(name, "figure")
        if not isinstance(fig, go.Figure):
            raise TypeError(f"figures[{name!r}] must be a plotly.graph_objects.Figure; got {type(fig).__name__}.")
    if not isinstance(cli_command, str):
        raise TypeError(f"cli_command must be a str; got {type(cli_command).__name__}.")
    members: dict[str, bytes] = {}
    notes: list[str] = []
    for key, value in (data or {}).items():
        _check_name(key, "data")
        fname, kind = _data_member(key, value)
        if f"data/{fname}" in members:
            raise ValueError(f"data entries {key!r} and another both map to data/{fname}; rename one.")
        members[f"data/{fname}"] = _encode_data(key, kind, value)
    members["settings.json"] = json_dumps(dict(settings or {})).encode("utf-8")
    members["command.txt"] = (cli_command.rstrip("\n") + "\n").encode("utf-8")
    static = [f for f in fmts if f in STATIC_FORMATS]
    if static and figures:
        ok, reason = kaleido_available()
        if ok and not start_kaleido():
            ok, reason = False, "Chromium did not start for kaleido."
        if not ok:
            notes.append(f"static formats ({', '.join(static)}) skipped: {reason}")
            static = []
    for name, fig in figures.items():
        for fmt in fmts:
            if fmt == "html":
                members[f"figures/{name}.html"] = figure_html(fig, filename=name, div_id=f"nnspec-{name}").encode()
            elif fmt in static:
                members[f"figures/{name}.{fmt}"] = figure_bytes(fig, fmt, scale=scale)
    members["MANIFEST.txt"] = _manifest(members, notes)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(members):
            _zip_write(zf, name, members[name])
    return buf.getvalue()


def _manifest(members: Mapping[str, bytes], notes: Sequence[str]) -> bytes:
    lines = ["nnspec export bundle", "", "files (bytes, sha256, path):"]
    for name in sorted(members):
        lines.append(f"{len(members[name]):>10}  {hashlib.sha256(members[name]).hexdigest()}  {name}")
    lines += ["", "MANIFEST.txt lists every other member of this zip.", "notes:"]
    lines += [f"- {n}" for n in notes] or ["- none"]
    return ("\n".join(lines) + "\n").encode("utf-8")
