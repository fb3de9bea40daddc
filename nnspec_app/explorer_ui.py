"""Matrix Explorer UI pieces: matrix input (gallery / upload / paste), zoom callbacks, cards, export.

No numerics here: matrices are loaded by :mod:`nnspec_core.matrix_io`, built by :mod:`nnspec_core.gallery`
and analysed by :mod:`nnspec_core.explorer`. The current matrix lives in ``st.session_state[CURRENT]`` and
is replaced only by a successful load, so a refused file or text leaves the previous matrix in place.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Callable, MutableMapping
from typing import Any

import numpy as np

from nnspec_app.ui import wrapping_columns
from nnspec_core._validation import check_matrix
from nnspec_core.explorer import MAX_EXPLORER_N, ExplorerResult, matrix_key, region_from_box
from nnspec_core.gallery import GALLERY, GALLERY_TITLES, MAX_GALLERY_N, gallery_matrix
from nnspec_core.matrix_io import MAX_UPLOAD_BYTES, SUPPORTED_EXTENSIONS, load_matrix_bytes, parse_matrix_text
from nnspec_core.operators import OPTIMIZERS

CURRENT = "mx_current"  # {"A": ndarray (n, n), "label": str, "key": sha256}
ERROR = "mx_error"  # one-line reason of the last refused input (cleared by a successful load)
REGION = "mx_region"  # (re_min, re_max, im_min, im_max) or None (automatic axes)
ZOOM = "mx_zoom"  # counter in the chart key: a new zoom gives a fresh chart (and a cleared selection)
UPLOAD_ID = "mx_upload_id"
SOURCES = ("Gallery", "Upload a file", "Paste numbers")
OPT_NAMES = {"gd": "gradient descent", "heavy_ball": "heavy ball", "nesterov": "Nesterov", "rmsprop": "RMSProp",
             "adam": "Adam (frozen M)", "adamw": "AdamW (frozen M)"}  # fmt: skip
#: How the gallery parameters read in the "Current matrix" line (the widgets' symbols, not the code's names).
PARAM_NAMES = {"k": "superdiagonals k", "lam": "λ", "lower": "below diagonal", "diag": "diagonal",
               "upper": "above diagonal", "rho": "ρ", "s": "non-normal part s", "radius": "spectral radius",
               "lr": "η", "momentum": "β", "kappa_H": "κ(H)"}  # fmt: skip
LIMITS_TEXT = (
    f"Limits: square matrices from 2 × 2 up to {MAX_EXPLORER_N} × {MAX_EXPLORER_N}, real or complex, finite "
    f"entries only; files up to {MAX_UPLOAD_BYTES // 2**20} MB ({', '.join(SUPPORTED_EXTENSIONS)}). "
    ".npy files are read without unpickling. Grids for n ≥ 100 take several seconds."
)


# --------------------------------------------------------------------------------------- formatting
def fmt(x: float | None, digits: int = 3) -> str:
    """Card number: ``3.2e4``, ``0.123``, ``∞`` for inf, ``—`` for NaN/None."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    short = f"{x:.{digits}g}"
    if x != 0 and (abs(x) >= 1e4 or abs(x) < 1e-3 or "e" in short):
        mant, exp = f"{x:.{max(digits - 1, 1)}e}".split("e")
        if "." in mant:
            mant = mant.rstrip("0").rstrip(".")
        return f"{mant}e{int(exp)}"
    return short


def eps_text(eps: float) -> str:
    """``1e-2`` for a power of ten, else ``3.2e-3``."""
    lg = math.log10(eps)
    return f"1e{round(lg)}" if abs(lg - round(lg)) < 1e-9 else f"{eps:.2g}"


# --------------------------------------------------------------------------------------- current matrix
def set_current(session: MutableMapping, A: np.ndarray, label: str) -> None:
    """Make ``A`` the current matrix (a new matrix resets the zoom and clears the last error)."""
    key = matrix_key(A)
    old = session.get(CURRENT)
    if old is None or old["key"] != key:
        session[REGION] = None
        session[ZOOM] = session.get(ZOOM, 0) + 1
    session[CURRENT] = {"A": A, "label": label, "key": key}
    session[ERROR] = None


def clear_error(session: MutableMapping) -> None:
    """Drop the last refusal (callback of the source selector: a refusal belongs to the input that caused it)."""
    session[ERROR] = None


def refuse(session: MutableMapping, what: str, err: Exception) -> None:
    """Record a one-line reason for a refused input; the current matrix stays."""
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    session[ERROR] = f"{what} was not loaded: {reason} The previous matrix is still shown."


def load_upload(session: MutableMapping, uploaded: Any) -> None:
    """Load a new uploaded file (``st.file_uploader`` value) once; refusals keep the current matrix."""
    if uploaded is None:
        return
    file_id = getattr(uploaded, "file_id", None) or f"{uploaded.name}:{uploaded.size}"
    if session.get(UPLOAD_ID) == file_id:
        return
    session[UPLOAD_ID] = file_id
    try:
        A = load_matrix_bytes(uploaded.getvalue(), uploaded.name, max_dim=MAX_EXPLORER_N)
    except (ValueError, TypeError) as err:
        refuse(session, f"'{uploaded.name}'", err)
        return
    set_current(session, A, f"{uploaded.name} ({A.shape[0]} × {A.shape[1]}, {A.dtype})")


def load_text(session: MutableMapping, text_key: str) -> None:
    """Button callback: parse the pasted matrix; refusals keep the current matrix."""
    try:
        A = parse_matrix_text(session.get(text_key, "") or "", max_dim=MAX_EXPLORER_N)
    except (ValueError, TypeError) as err:
        refuse(session, "The pasted matrix", err)
        return
    set_current(session, A, f"pasted matrix ({A.shape[0]} × {A.shape[1]}, {A.dtype})")


def gallery_max_n(key: str, params: dict | None = None) -> int:
    """Largest size n of gallery entry ``key`` whose matrix fits the Explorer (at most ``MAX_EXPLORER_N`` square).

    The optimizer operators are ``b n × b n`` with ``b`` state blocks (heavy ball and Nesterov ``[θ; b]``: 2, so
    n ≤ 100); every other entry is ``n × n``. ``params`` are the entry's other parameters (e.g. the optimizer).
    """
    blocks = 1
    if key == "optimizer":
        blocks = gallery_matrix(key, **((params or {}) | {"n": 2})).A.shape[0] // 2
    return max(2, min(MAX_GALLERY_N, MAX_EXPLORER_N // max(blocks, 1)))


def bounded_slider(st: Any, label: str, lo: Any, hi: Any, default: Any, *, key: str, **kw: Any) -> Any:
    """``st.slider`` whose range may change between runs (it depends on other widgets).

    A slider with a new range is a new widget for Streamlit, which would start again from ``default``: when the range
    changed, the value the slider showed last is written back through the key, moved into the new range if it falls
    outside (so the slider never offers or keeps a value that would be refused). The last value and range are kept
    in plain session-state entries (``_shown_<key>``): after a range change the widget's own entry can still hold
    the value written at the previous change rather than the one the user chose since.
    """
    state = st.session_state
    memo = f"_shown_{key}"
    last = state.get(memo)  # (lo, hi, value) of the previous run
    changed = last is not None and (last[0], last[1]) != (lo, hi)
    cur = last[2] if changed else state.get(key)
    if cur is not None and (changed or not lo <= cur <= hi):
        state[key] = min(max(cur, lo), hi)
    else:
        kw["value"] = min(max(default, lo), hi)  # not when the state was just set (Streamlit warns about both)
    value = st.slider(label, lo, hi, key=key, **kw)
    state[memo] = (lo, hi, value)
    return value


def gallery_controls(st: Any) -> tuple[str, dict]:
    """Gallery widgets (bound to the URL); returns the gallery key and its parameters.

    The size slider's range depends on the entry: an optimizer operator is ``b n × b n`` (2n × 2n for heavy ball),
    so its n goes up to ``MAX_EXPLORER_N // b`` (:func:`gallery_max_n`) and every n offered gives a matrix the
    Explorer accepts (n up to 200 used to be offered and anything above 100 refused). Grcar's k stays below n.
    """
    q = dict(bind="query-params")
    key = st.selectbox("Gallery matrix", GALLERY, format_func=GALLERY_TITLES.get, key="mx_gallery", **q)
    p: dict[str, Any] = {}
    if key == "optimizer":  # first: the size limit depends on it
        p["optimizer"] = st.selectbox("optimizer", OPTIMIZERS, format_func=OPT_NAMES.get, index=1, key="mx_opt", **q)
    n_max = gallery_max_n(key, p)
    size_help = (f"An optimizer's operator acts on its whole state (heavy ball: θ and the momentum buffer, 2n "
                 f"numbers), so n goes up to {MAX_EXPLORER_N} / (number of state blocks).")  # fmt: skip
    p["n"] = bounded_slider(st, "size n (optimizer: number of parameters)", 2, n_max, 24, key="mx_n", help=size_help,
                            **q)  # fmt: skip
    if key == "grcar":
        p["k"] = bounded_slider(st, "superdiagonals k (< n)", 0, min(10, p["n"] - 1), 3, key="mx_grcar_k", **q)
    elif key == "jordan":
        p["lam"] = st.number_input("eigenvalue λ", -10.0, 10.0, 0.0, 0.1, key="mx_jordan_lam", **q)
    elif key == "toeplitz":
        c = st.columns(2)
        p["lower"] = c[0].number_input("below diagonal", -10.0, 10.0, 1.0, 0.05, key="mx_tz_lower", **q)
        p["upper"] = c[1].number_input("above diagonal", -10.0, 10.0, 0.25, 0.05, key="mx_tz_upper", **q)
    elif key == "kms":
        p["rho"] = st.slider("ρ (entries ρ^|i−j|)", -0.99, 0.99, 0.5, 0.01, key="mx_kms_rho", **q)
    elif key == "random":
        c = st.columns(2)
        p["seed"] = int(c[0].number_input("seed", 0.0, 1e6, 0.0, 1.0, format="%.0f", key="mx_seed", **q))
        p["s"] = c[1].slider("non-normal part s", 0.0, 5.0, 1.0, 0.1, key="mx_s", **q)
    elif key == "optimizer":
        c = st.columns(2)
        p["lr"] = 10.0 ** c[0].slider("log₁₀ η", -3.0, 1.0, 0.0, 0.05, key="mx_log_lr", **q)
        p["kappa_H"] = 10.0 ** c[1].slider("log₁₀ κ(H)", 0.0, 6.0, 2.0, 0.5, key="mx_log_kh", **q)
        if p["optimizer"] in ("heavy_ball", "nesterov"):
            p["momentum"] = st.slider("momentum β", 0.0, 0.999, 0.9, 0.001, key="mx_beta", **q)
    return key, p


def _param_text(name: str, value: Any) -> str:
    if name == "optimizer":
        return OPT_NAMES.get(value, str(value))
    return fmt(value) if isinstance(value, float) else str(value)


def use_gallery(session: MutableMapping, key: str, params: dict, build: Callable = gallery_matrix) -> None:
    """Make the gallery matrix current (an invalid combination is refused like a bad file)."""
    try:
        g = build(key, **params)
        check_matrix(g.A, "the gallery matrix", max_dim=MAX_EXPLORER_N)  # the Explorer's size limit
    except (ValueError, TypeError) as err:
        refuse(session, "The gallery matrix", err)
        return
    shown = ", ".join(f"{PARAM_NAMES.get(k, k)} = {_param_text(k, v)}" for k, v in g.params.items() if k != "coeffs")
    set_current(session, g.A, f"{g.title} ({shown}; {g.A.shape[0]} × {g.A.shape[1]})")


# --------------------------------------------------------------------------------------- zoom
def chart_key(session: MutableMapping) -> str:
    """Key of the spectrum chart; it changes with every zoom so the old box selection is dropped."""
    return f"mx_spectrum_{session.get(ZOOM, 0)}"


def apply_box(session: MutableMapping, key: str) -> None:
    """``on_select`` callback of the spectrum chart: a box selection becomes the new grid region."""
    state = session.get(key)
    box = []
    if state is not None:
        sel = state.get("selection", {}) if isinstance(state, dict) else getattr(state, "selection", {})
        box = (sel.get("box") if isinstance(sel, dict) else getattr(sel, "box", None)) or []
    if not box:
        return
    try:
        region = region_from_box(box[0])
    except ValueError as err:
        session[ERROR] = f"Zoom ignored: {err}"
        return
    session[REGION] = region
    session[ZOOM] = session.get(ZOOM, 0) + 1


def reset_zoom(session: MutableMapping) -> None:
    """Back to automatic axes."""
    session[REGION] = None
    session[ZOOM] = session.get(ZOOM, 0) + 1


def region_from_url(session: MutableMapping, params: Any) -> None:
    """On a session's first run, take the zoom region from the URL (``?mx_region=re0,re1,im0,im1``).

    Invalid values are ignored (like Streamlit ignores invalid values of URL-bound widgets).
    """
    if session.get("_mx_url_read"):
        return
    session["_mx_url_read"] = True
    text = params.get("mx_region")
    if not text:
        return
    try:
        v = [float(x) for x in str(text).split(",")]
        session[REGION] = region_from_box({"x": v[:2], "y": v[2:]}) if len(v) == 4 else None
    except ValueError:
        session[REGION] = None


def region_to_url(session: MutableMapping, params: Any) -> None:
    """Keep ``?mx_region=...`` in the URL in step with the zoom, so a shared link reopens it."""
    r = session.get(REGION)
    if r is None:
        if "mx_region" in params:
            del params["mx_region"]
    else:
        text = ",".join(f"{v:.12g}" for v in r)
        if params.get("mx_region") != text:
            params["mx_region"] = text


# --------------------------------------------------------------------------------------- cards
def cards(st: Any, res: ExplorerResult) -> None:
    """Eight metric cards: ρ, α, ‖A‖₂, κ(V); departure, ρ_ε, α_ε, Kreiss constant."""
    s = res.summary
    e = eps_text(res.eps)
    continuous = res.transient.dynamics == "continuous"
    box = wrapping_columns("mx_cards", min_width_rem=10)  # two rows of four; they wrap on a narrow window
    r1, r2 = box.columns(4), box.columns(4)
    r1[0].metric("ρ(A) spectral radius", fmt(s.rho, 5), help="Largest |λ|. Discrete time: ‖Aᵏ‖ → 0 iff ρ < 1.")
    r1[1].metric("α(A) spectral abscissa", fmt(s.alpha, 5),
                 help="Largest Re λ. Continuous time: ‖eᵗᴬ‖ → 0 iff α < 0.")  # fmt: skip
    r1[2].metric("‖A‖₂", fmt(s.norm, 4), help="Largest singular value: the most one step can amplify.")
    r1[3].metric("κ(V) eigenvectors", fmt(s.kappa_V),
                 help="cond₂ of the eigenvector matrix with unit columns: 1 for a normal matrix, ∞ for a "
                      "defective one (a Jordan block).")  # fmt: skip
    r2[0].metric("departure (Henrici)", fmt(s.departure_rel),
                 help=f"Relative departure from normality √(‖A‖²_F − Σ|λ|²) / ‖A‖_F: 0 for a normal matrix, 1 for a "
                      f"nilpotent one. Absolute: {fmt(s.departure)}.")  # fmt: skip
    r2[1].metric(f"ρ_ε, ε = {e}", fmt(res.rho_eps, 5),
                 help="Largest |z| in the ε-pseudospectrum. ρ_ε − ρ ≫ ε signals non-normality.")  # fmt: skip
    r2[2].metric(f"α_ε, ε = {e}", fmt(res.alpha_eps, 5),
                 help="Largest Re z in the ε-pseudospectrum. α_ε − α ≫ ε signals non-normality.")  # fmt: skip
    if res.kreiss is None:
        kval, khelp = "off", "Switch on “Kreiss constant” to estimate it."
    else:
        kval = fmt(res.kreiss.value) + (" (at least)" if res.kreiss.lower_bound_only else "")
        what = "sup_{Re z>0} Re z / σₘᵢₙ(zI − A)" if continuous else "sup_{|z|>1} (|z| − 1) / σₘᵢₙ(zI − A)"
        khelp = (f"{what}. A guaranteed lower bound on the peak of "
                 f"{'‖eᵗᴬ‖' if continuous else '‖Aᵏ‖'} (∞ when the matrix is unstable).")  # fmt: skip
    r2[3].metric(f"Kreiss K ({'continuous' if continuous else 'discrete'})", kval, help=khelp)


# --------------------------------------------------------------------------------------- export
def export_section(
    st: Any, figs: dict, build_zip: Callable[[], bytes], kaleido: Callable[[], bool], signature: str
) -> None:
    """Per-figure HTML downloads and "Download everything" (prepared on request, then downloaded).

    ``signature`` identifies the matrix and settings: a zip prepared for other ones is dropped.
    """
    from nnspec_core.export import figure_html

    with st.expander("Export: download everything"):
        st.caption("The zip holds every figure as PNG, SVG, PDF and HTML, the data behind them (matrix, "
                   "eigenvalues, grid, transient, cards), the settings (JSON) and the command lines that "
                   "regenerate the figures: unzip and run them in that folder.")  # fmt: skip
        if st.button("Prepare the zip", key="mx_prepare", help="Renders every figure (a few seconds)."):
            with st.spinner("Rendering PNG, SVG and PDF…"):
                kaleido()
                st.session_state["mx_zip"] = (signature, build_zip())
        prepared = st.session_state.get("mx_zip")
        if prepared is not None and prepared[0] == signature:
            data = prepared[1]
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                if not any(n.endswith(".png") for n in z.namelist()):
                    st.info("Static export (PNG/SVG/PDF) is not available here (see MANIFEST.txt in the zip); "
                            "it holds the interactive HTML figures, which always work.")  # fmt: skip
            st.download_button("Download everything (.zip)", data=data, file_name="matrix_explorer.zip",
                               mime="application/zip", key="mx_zip_download", on_click="ignore")  # fmt: skip
        cols = st.columns(len(figs))
        for col, (name, fig) in zip(cols, figs.items(), strict=True):
            col.download_button(f"{name}.html", data=lambda f=fig, n=name: figure_html(f, filename=n),
                                file_name=f"{name}.html", mime="text/html", key=f"mx_html_{name}",
                                on_click="ignore")  # fmt: skip


__all__ = [
    "CURRENT",
    "ERROR",
    "REGION",
    "SOURCES",
    "LIMITS_TEXT",
    "fmt",
    "eps_text",
    "set_current",
    "refuse",
    "clear_error",
    "load_upload",
    "load_text",
    "gallery_controls",
    "gallery_max_n",
    "bounded_slider",
    "use_gallery",
    "chart_key",
    "apply_box",
    "reset_zoom",
    "region_from_url",
    "region_to_url",
    "cards",
    "export_section",
]
