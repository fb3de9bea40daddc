"""Every page under hostile URLs and with its widgets at their extremes (issue 8), via AppTest.

* URL query parameters: every widget key of a page (found by a first run) gets a hostile value drawn
  by hypothesis (out of range, wrong type, NaN/inf, path-like, markup, 20 000 characters), plus
  unknown names and names of session-state entries that are not widgets. The page must run without
  an exception, keep every widget inside its range/options, never take session state from the URL,
  show errors as one line, and keep working on the next interaction.
* Extremes: sliders at both ends and combinations (β → 1, η at both ends, ε tiny, width/depth max,
  steps max, n max) give finite numbers or an explicit ∞ / "diverges" / "diverged" state.
* Divergent training at every optimizer keeps all measured steps, and the exports hold them all.
* Hostile uploads through the Matrix Explorer's file uploader: one-line refusal, previous matrix kept.
* The documented caps (nnspec_app.limits) agree with the widgets and .streamlit/config.toml.
"""

from __future__ import annotations

import io
import math
import re
import tomllib
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from nnspec_app import limits
from nnspec_app.live_ui import LR_OPTIONS
from nnspec_core.live import snapshots_npz

ROOT = Path(__file__).resolve().parents[2]
PAGE_NAMES = ("home", "operator_lab", "live_training", "matrix_explorer", "phase_study")
PAGES = {p: str(ROOT / "app_pages" / f"{p}.py") for p in PAGE_NAMES}
WIDGETS = ("slider", "select_slider", "number_input", "selectbox", "radio", "toggle", "checkbox", "text_input")
#: Session-state entries that hold objects (trainer, matrix, study): a URL must never set them.
STATE_KEYS = ("lt_trainer", "lt_live", "lt_sel", "mx_current", "mx_region", "mx_error", "ps_loaded", "_lab_lr_exact",
              "talk_theme")  # fmt: skip
HOSTILE = ("1e308", "-1e308", "nan", "inf", "-inf", "-1", "0", "99999999999999999999", "abc", "", " ", "true", "[]",
           "{}", "1,2,3", "../../etc/passwd", "/etc/passwd", "file:///etc/passwd", "C:\\Windows\\win.ini", "%00",
           "<script>alert(1)</script>", "{{7*7}}", "__import__('os').system('id')", "é∞κ", "9" * 20_000)  # fmt: skip
UNKNOWN = ("__proto__", "eval", "x" * 500, "../", "page", "embed", *STATE_KEYS)
NUMBER = re.compile(r"^[+−-]?\d+(\.\d+)?(e[+−-]?\d+)?( ?%)?$")
EXPLICIT = ("∞", "−∞", "diverges", "diverged", "none", "off", "—")


def _app(page: str, params: dict[str, str] | None = None, *, via_app: bool = False, timeout: float = 180) -> AppTest:
    """Run ``page`` directly, or through ``app.py`` (navigation, shared sidebar) as a browser would."""
    at = AppTest.from_file(str(ROOT / "app.py") if via_app else PAGES[page], default_timeout=timeout)
    if params:
        at.query_params = params
    if via_app:
        at.switch_page(f"app_pages/{page}.py")
    at.run()
    return at


def _no_exception(at: AppTest) -> None:
    assert not at.exception, "\n".join(f"{e.message}\n{''.join(e.stack_trace)[-1500:]}" for e in at.exception)


def _check_sane(at: AppTest) -> None:
    """No exception, widgets inside their ranges, one-line errors, metrics finite or explicitly infinite."""
    _no_exception(at)
    for w in [*at.slider, *at.number_input]:
        lo, hi = w.proto.min, w.proto.max
        vals = [v for v in (w.value if isinstance(w.value, (tuple, list)) else (w.value,)) if v is not None]
        assert all(lo <= float(v) <= hi for v in vals), f"{w.key}: {w.value} outside [{lo}, {hi}]"
    for w in [*at.selectbox, *at.radio, *at.select_slider]:
        assert w.value is not None or not w.proto.options, f"{w.key} has no value"
    for e in at.error:
        assert "\n" not in e.value.strip() and "Traceback" not in e.value, e.value[:500]
    for m in at.metric:
        v = m.value.split(" (")[0].strip()
        assert v in EXPLICIT or NUMBER.match(v) or v.isdigit(), f"metric {m.label!r} shows {m.value!r}"
        assert "nan" not in m.value.lower()


@cache
def _widget_keys(page: str) -> tuple[str, ...]:
    """Keys of the page's input widgets, from one plain run (cached per test process)."""
    at = _app(page, via_app=True)
    _no_exception(at)
    keys = {w.key for kind in WIDGETS for w in at.get(kind) if w.key and w.key not in STATE_KEYS}
    return tuple(sorted(keys))


# ---------------------------------------------------------------------------------------------- URL parameters
@st.composite
def _hostile_params(draw, keys: tuple[str, ...]) -> dict[str, str]:
    params = {k: draw(st.sampled_from(HOSTILE)) for k in keys if draw(st.integers(0, 3))}
    for name in draw(st.lists(st.sampled_from(UNKNOWN), max_size=4, unique=True)):
        params[name] = draw(st.sampled_from(HOSTILE))
    return params


@pytest.mark.parametrize("page", list(PAGES))
def test_hostile_query_params(page):
    keys = _widget_keys(page)

    @settings(
        max_examples=3,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate),
    )  # no shrinking: every example is a full page run
    @given(params=_hostile_params(keys))
    def check(params):
        at = _app(page, params, via_app=True)
        _check_sane(at)
        assert at.title and at.title[0].value, "the page did not render its title"
        for k in STATE_KEYS:  # object state never comes from the URL
            v = at.session_state[k] if k in at.session_state else None
            assert not isinstance(v, str) or k == "mx_error", f"session state {k!r} = {v!r:.80} from the URL"
        if "mx_current" in at.session_state:
            assert isinstance(at.session_state["mx_current"]["A"], np.ndarray)
        at.run()  # the next interaction still works
        _no_exception(at)

    check()


@pytest.mark.parametrize("value", ["9" * 20_000, "../../../../etc/passwd", "inf"], ids=["9x20000", "path", "inf"])
def test_every_key_of_every_page_at_once(value):
    """The same hostile value in every widget key of every page at once."""
    for page in PAGES:
        at = _app(page, {k: value for k in _widget_keys(page)}, via_app=True)
        _check_sane(at)


INT_INPUTS = {"live_training": "lt_seed", "matrix_explorer": "mx_kmax", "phase_study": "ps_seeds_tiny"}


@pytest.mark.parametrize("page", [p for p in INT_INPUTS if p in PAGES])
def test_infinite_url_value_of_an_integer_input(page):
    """Streamlit 1.67 raises OverflowError seeding an *integer* number_input from ``?key=inf`` (or 400 nines)
    and the page breaks; a float number_input (``0.0, 1e6, step=1.0, format="%.0f"``, then ``int()``) or a
    slider ignores such values. Removing the parameter in app.py does not help: the seeding uses the query
    string the browser sent."""
    extra = {"mx_dynamics": "‖Aᵏ‖ (steps)"} if page == "matrix_explorer" else {}
    at = _app(page, {INT_INPUTS[page]: "inf", **extra}, via_app=True)
    _check_sane(at)
    w = at.number_input(key=INT_INPUTS[page])
    assert w.value == w.proto.default


# ---------------------------------------------------------------------------------------------- extremes: Operator Lab
def _set_sliders(at: AppTest, values: dict[str, float | tuple]) -> AppTest:
    for key, v in values.items():
        at.slider(key=key).set_value(v)
    return at.run()


@pytest.mark.parametrize("end", ["min", "max"])
def test_operator_lab_every_slider_at_one_end(end):
    at = _app("operator_lab")
    _no_exception(at)
    vals = {s.key: (s.proto.min if end == "min" else s.proto.max) for s in at.slider if s.key != "lr_win"}
    _set_sliders(at, vals)
    _check_sane(at)


LAB_COMBOS = [
    ("heavy_ball", {"beta": 0.999, "log_lr": 1.0}),
    ("heavy_ball", {"beta": 0.999, "log_lr": -5.0, "k_max": 2000.0}),
    ("nesterov", {"beta": 0.999, "log_lr": 1.0, "k_max": 2000.0}),
    ("nesterov", {"beta": 0.0, "log_lr": -5.0, "lam1": -2.0, "lam2": -2.0}),
    ("gd", {"log_lr": 1.0, "lam1": 10.0, "lam2": 10.0, "k_max": 2000.0}),
    ("adam", {"beta": 0.999, "log_lr": 1.0, "k_max": 2000.0}),
    ("adam", {"beta": 0.0, "log_lr": -5.0, "lam1": 0.0, "lam2": 0.0}),
]


@pytest.mark.parametrize("opt, values", LAB_COMBOS, ids=[f"{o}-{i}" for i, (o, _) in enumerate(LAB_COMBOS)])
def test_operator_lab_extreme_combinations(opt, values):
    at = _app("operator_lab")
    at.selectbox(key="opt").set_value(opt).run()
    _no_exception(at)
    if "lam1" in values and not at.slider(key="lam1").proto.label:  # pragma: no cover - layout guard
        pytest.fail("λ sliders missing")
    _set_sliders(at, values)
    _check_sane(at)
    shown = {m.label: m.value for m in at.metric}
    rho = next(v for k, v in shown.items() if k.startswith("ρ(J)"))
    assert NUMBER.match(rho) or rho in EXPLICIT


def test_operator_lab_log_spaced_hessian_at_max_condition():
    at = _app("operator_lab")
    at.radio(key="spec").set_value("log").run()  # values, not labels
    _no_exception(at)
    _set_sliders(at, {"n": 8.0, "log_kH": 4.0, "lam_max": 10.0, "beta": 0.999, "log_lr": 1.0, "k_max": 2000.0})
    _check_sane(at)


# ---------------------------------------------------------------------------------------------- extremes: Live Training
TINY = {"lt_steps": "30", "lt_width": "4", "lt_n": "40", "lt_k": "10", "lt_K": "3"}
LIVE_OPTIMIZERS = ("GD", "heavy ball (SGD momentum)", "Nesterov", "RMSProp", "Adam", "AdamW")


@pytest.mark.parametrize("opt", LIVE_OPTIMIZERS)
def test_divergent_training_keeps_and_exports_every_measured_step(opt):
    lr_max = max(LR_OPTIONS)
    at = _app("live_training", TINY | {"lt_opt": opt, "lt_lr": f"{lr_max:g}", "lt_beta": "0.99", "lt_beta1": "0.99"})
    _no_exception(at)
    assert float(at.select_slider(key="lt_lr").value) == lr_max
    at.sidebar.button(key="lt_runall").click().run()
    _check_sane(at)
    result = at.session_state["lt_trainer"].result()
    steps = [r.step for r in result.records]
    last = result.diverged_step if result.diverged else result.config.steps
    assert steps == list(range(0, last + 1)), f"measured steps {steps[:5]}..{steps[-3:]}, expected 0..{last}"
    if result.diverged:
        assert any("Diverged at step" in e.value and f"All {len(steps)} measured steps" in e.value for e in at.error)
    csv_rows = result.to_csv().strip().splitlines()
    assert len(csv_rows) == len(steps) + 1  # header + one row per measured step
    npz = np.load(io.BytesIO(snapshots_npz(result)))
    assert any(len(npz[k]) == len(steps) for k in npz.files)
    keys = {b.key for b in at.get("download_button")}
    assert {"lt_dl_csv", "lt_dl_json", "lt_dl_npz"} <= keys, keys  # the exports are offered after divergence


def test_live_training_largest_network_one_step():
    at = _app("live_training", {"lt_width": "64", "lt_depth": "4", "lt_n": "1000", "lt_dense": "2000", "lt_k": "200",
                                "lt_K": "50", "lt_steps": "2000", "lt_opt": "Adam", "lt_eps": "1e-12"})  # fmt: skip
    _no_exception(at)
    assert at.slider(key="lt_width").value == 64 and at.slider(key="lt_depth").value == 4
    at.sidebar.button(key="lt_step").click().run()
    _check_sane(at)
    assert at.session_state["lt_trainer"].result().records


def test_live_training_max_steps_tiny_network():
    at = _app("live_training", {"lt_steps": "2000", "lt_every": "50", "lt_width": "2", "lt_n": "40", "lt_k": "10",
                                "lt_K": "0", "lt_opt": "heavy ball (SGD momentum)", "lt_beta": "0.99"})  # fmt: skip
    _no_exception(at)
    at.sidebar.button(key="lt_runall").click().run()
    _check_sane(at)
    result = at.session_state["lt_trainer"].result()
    assert result.records[-1].step in (result.config.steps, result.diverged_step)


# ------------------------------------------------------------------------------------------ extremes: Matrix Explorer
@pytest.mark.parametrize(
    "gallery, params",
    [
        ("Jordan block", {"mx_n": "200", "mx_grid": "200", "mx_log_eps": "-10", "mx_kmax": "5000"}),
        (
            "Grcar matrix",
            {
                "mx_n": "200",
                "mx_grid": "40",
                "mx_log_eps": "1",
                "mx_dynamics": "‖eᵗᴬ‖ (time)",
                "mx_tmax": "1000",
                "mx_kreiss": "false",
            },
        ),
        ("Kac–Murdock–Szegő (normal)", {"mx_n": "2", "mx_grid": "40", "mx_log_eps": "-10", "mx_kms_rho": "0.99"}),
    ],
)
def test_matrix_explorer_extremes(gallery, params):
    at = _app("matrix_explorer", {"mx_gallery": gallery, **params})
    _check_sane(at)
    assert at.slider(key="mx_n").value == int(params["mx_n"])
    shown = {m.label: m.value for m in at.metric}
    assert len(shown) == 8
    if gallery == "Jordan block":
        assert shown["κ(V) eigenvectors"] == "∞"  # defective: explicit, not an error


@pytest.mark.parametrize(
    "name, data",
    [
        ("crash.mtx", b"%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4x"),
        ("huge.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000, "
                     b"10000000000), }" + b" " * 40 + b"\n"),
        ("pickle.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }"
                       + b" " * 60 + b"\n" + b"\x80\x04" * 8),
        ("nested.csv", ('"' * 3000 + "1" + '"' * 3000 + ",2\n3,4").encode()),
        ("random.csv", bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8))),
        ("../../etc/passwd.txt", b"root:x:0:0:root:/root:/bin/bash\n"),
        ("big.txt", b"1 " * (limits.MAX_EXPLORER_N + 1) + b"\n"),
    ],
)  # fmt: skip
def test_matrix_explorer_hostile_upload_keeps_previous_matrix(name, data):
    at = _app("matrix_explorer")
    _no_exception(at)
    before = at.session_state["mx_current"]["key"]
    at.radio(key="mx_source").set_value("Upload a file").run()
    at.file_uploader(key="mx_upload").set_value((name, data, "application/octet-stream")).run()
    _check_sane(at)
    assert at.session_state["mx_current"]["key"] == before
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "was not loaded" in errors[0] and "previous matrix" in errors[0], errors


# ---------------------------------------------------------------------------------------------- extremes: Phase Study
@pytest.mark.skipif("phase_study" not in PAGES, reason="the Phase Study page has not landed")
def test_phase_study_inputs_at_max_render_without_running():
    keys = [k for k in _widget_keys("phase_study") if k.startswith(("ps_seeds", "ps_nlrs", "ps_steps", "ps_hi"))]
    at = _app("phase_study")
    _no_exception(at)
    for k in keys:
        w = at.number_input(key=k)
        w.set_value(w.proto.max)
    at.run()
    _check_sane(at)


# ---------------------------------------------------------------------------------------------- documented caps
def test_documented_limits_match_widgets_and_config():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["maxUploadSize"] == limits.MAX_UPLOAD_MB
    assert cfg["server"]["enableXsrfProtection"] is True and cfg["server"]["headless"] is True
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["client"]["showErrorDetails"] in ("none", False)
    at = _app("live_training")
    assert at.slider(key="lt_steps").proto.max == limits.MAX_STEPS
    assert at.slider(key="lt_n").proto.max == limits.MAX_SAMPLES
    assert at.slider(key="lt_width").proto.max == limits.MAX_WIDTH
    assert at.slider(key="lt_depth").proto.max == limits.MAX_DEPTH
    assert at.slider(key="lt_dense").proto.max == limits.DENSE_LIMIT_MAX
    at = _app("matrix_explorer")
    assert at.slider(key="mx_n").proto.max == limits.MAX_EXPLORER_N
    assert max(int(x) for x in at.select_slider(key="mx_grid").proto.options) == limits.PAGE_MAX_GRID
    assert limits.PAGE_MAX_GRID <= limits.EXPLORER_MAX_GRID
    assert math.isclose(limits.MAX_UPLOAD_BYTES, limits.MAX_UPLOAD_MB * 2**20)


def test_every_cache_is_bounded():
    """Every ``@st.cache_data`` on a page or UI helper has max_entries and a ttl (no unbounded growth)."""
    sources = [*ROOT.joinpath("app_pages").glob("*.py"), *ROOT.joinpath("nnspec_app").glob("*.py"), ROOT / "app.py"]
    unbounded = []
    for path in sources:
        text = path.read_text()
        for m in re.finditer(r"^\s*@st\.cache_data(\([^)]*\))?", text, flags=re.MULTILINE):
            args = m.group(1) or ""
            if "max_entries" not in args or "ttl" not in args:
                line = text[: m.start()].count("\n") + 1
                unbounded.append(f"{path.relative_to(ROOT)}:{line}: {m.group(0)}")
    assert not unbounded, "caches without max_entries/ttl: " + "; ".join(unbounded)
