"""AppTest of the Matrix Explorer page: gallery, refusals that keep the previous matrix, cards, zoom."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from nnspec_app import explorer_ui as ui
from nnspec_core.explorer import MAX_EXPLORER_N, matrix_key
from nnspec_core.gallery import GALLERY

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "matrix_explorer.py")


def _npy(a, **kw) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, **kw)
    return buf.getvalue()


def _app() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _spec(at, i: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[i].proto.spec)


def _current(at) -> str:
    return at.session_state[ui.CURRENT]["key"]


def _paste(at, text: str) -> None:
    at.text_area(key="mx_text").set_value(text)
    at.button(key="mx_use_text").click().run()
    assert not at.exception


def test_default_page_renders_cards_and_charts():
    at = _app()
    m = _metrics(at)
    assert len(m) == 8
    assert m["Kreiss K (discrete)"] == "∞"  # Grcar: rho > 1
    assert "Grcar" in at.markdown[0].value or any("Grcar" in x.value for x in at.markdown)
    spec = _spec(at)
    assert spec["layout"]["dragmode"] == "select"
    assert any(t["type"] == "contour" for t in spec["data"])
    assert not at.error


def test_cards_change_with_eps():
    at = _app()
    before = _metrics(at)
    at.slider(key="mx_log_eps").set_value(-0.5).run()
    after = _metrics(at)
    assert not at.exception
    rho_eps = [v for k, v in after.items() if k.startswith("ρ_ε")]
    assert rho_eps and rho_eps[0] != before["ρ_ε, ε = 1e-2"]
    assert float(rho_eps[0]) > float(before["ρ_ε, ε = 1e-2"])
    assert after["ρ(A) spectral radius"] == before["ρ(A) spectral radius"]


def test_gallery_matrices_render():
    at = _app()
    at.slider(key="mx_n").set_value(6).run()
    for key in GALLERY:
        at.selectbox(key="mx_gallery").set_value(key).run()
        assert not at.exception and not at.error, key
        assert at.session_state[ui.CURRENT]["A"].shape[0] in (6, 12), key  # optimizers: state [theta; b]
        shown = next(x.value for x in at.markdown if x.value.startswith("**Current matrix:**"))
        assert "× " in shown
        # parameters read as on the widgets (λ, ρ, η, β, κ(H)), never as code names (lam, rho, kappa_H)
        code_names = ("lam =", "rho =", "lr =", "kappa_H =", "momentum =", "heavy_ball")
        assert not any(name in shown for name in code_names), shown
        assert len(at.metric) == 8 and len(at.get("plotly_chart")) == 2, key
    # the size slider offers only sizes that fit: heavy ball's 2n x 2n operator goes up to n = 100 (n = 150 used to
    # be offered and refused with "at most 200x200 is supported; got shape (300, 300)")
    assert at.slider(key="mx_n").max == MAX_EXPLORER_N // 2


def test_gallery_size_slider_range_follows_the_entry(monkeypatch):
    """The size slider offered n up to 200 for heavy ball, whose 2n x 2n operator is refused above n = 100; the
    range now follows the entry. The Explorer's limit is lowered to 40 here to keep the matrices small (the real
    limit is checked in test_gallery_matrices_render and test_gallery_max_n_fits_every_optimizer)."""
    monkeypatch.setattr(ui, "MAX_EXPLORER_N", 40)
    at = _app()
    at.slider(key="mx_n").set_value(3).run()  # Grcar's k stays below n (k = 3 would be refused)
    k = at.slider(key="mx_grcar_k")
    assert (k.max, k.value) == (2, 2) and not at.error
    at.slider(key="mx_n").set_value(30).run()  # Grcar 30 x 30
    assert at.session_state[ui.CURRENT]["A"].shape == (30, 30) and at.slider(key="mx_n").max == 40
    at.selectbox(key="mx_gallery").set_value("optimizer").run()  # heavy ball: [θ; b], 2n x 2n
    assert not at.exception and not at.error
    n = at.slider(key="mx_n")
    assert (n.min, n.max, n.value) == (2, 20, 20)  # moved to the largest size that fits, not refused
    assert at.session_state[ui.CURRENT]["A"].shape == (40, 40)
    at.selectbox(key="mx_opt").set_value("gd").run()  # one state block: up to 40, the size is kept
    assert at.slider(key="mx_n").max == 40 and at.slider(key="mx_n").value == 20
    assert at.session_state[ui.CURRENT]["A"].shape == (20, 20) and not at.error
    at.slider(key="mx_n").set_value(35).run()
    at.selectbox(key="mx_opt").set_value("adam").run()  # frozen Adam [θ; m]: back to 20
    assert at.slider(key="mx_n").value == 20 and at.session_state[ui.CURRENT]["A"].shape == (40, 40)
    assert not at.error


def test_gallery_max_n_fits_every_optimizer():
    from nnspec_core.gallery import gallery_matrix
    from nnspec_core.operators import OPTIMIZERS

    for opt in OPTIMIZERS:  # the largest size offered is accepted, one more would not be
        n = ui.gallery_max_n("optimizer", {"optimizer": opt})
        assert gallery_matrix("optimizer", n=n, optimizer=opt).A.shape[0] <= MAX_EXPLORER_N
        assert gallery_matrix("optimizer", n=n + 1, optimizer=opt).A.shape[0] > MAX_EXPLORER_N or n == MAX_EXPLORER_N
        session: dict = {}
        ui.use_gallery(session, "optimizer", {"optimizer": opt, "n": n})
        assert session[ui.ERROR] is None and session[ui.CURRENT]["A"].shape[0] <= MAX_EXPLORER_N
    for key in GALLERY:
        if key != "optimizer":
            assert ui.gallery_max_n(key) == MAX_EXPLORER_N
            assert gallery_matrix(key, n=MAX_EXPLORER_N, **({"k": 3} if key == "grcar" else {})).A.shape[0] == 200


def test_a_refusal_is_cleared_when_the_source_changes():
    """The red box of a refused input stayed through unrelated changes although a valid matrix was shown."""
    at = _app()
    at.radio(key="mx_source").set_value("Paste numbers").run()
    _paste(at, "1 2 3")
    assert len(at.error) == 1 and "previous matrix" in at.error[0].value
    at.slider(key="mx_log_eps").set_value(-3.0).run()  # unrelated: the refusal of the pasted text still stands
    assert len(at.error) == 1
    at.radio(key="mx_source").set_value("Upload a file").run()
    assert not at.exception and not at.error
    at.radio(key="mx_source").set_value("Gallery").run()
    assert not at.error


def test_pasted_matlab_rows_without_brackets():
    at = _app()
    at.radio(key="mx_source").set_value("Paste numbers").run()
    for text in ("1 2; 0 1", "1 2;\n0 1", "1 2;\n0 1;"):
        _paste(at, text)
        assert not at.error, text
        np.testing.assert_array_equal(at.session_state[ui.CURRENT]["A"], [[1.0, 2.0], [0.0, 1.0]])


PASTE_BAD = [
    ("1 2 3\n4 5 6", "must be a square"),
    ("", "empty"),
    ("5", "at least 2 row"),
    ("1 nan\n2 3", "finite"),
    ("a b\nc d", "non-numeric"),
    ("1 2\n3", "ragged"),
]


def test_bad_pasted_matrices_keep_the_previous_one():
    at = _app()
    at.radio(key="mx_source").set_value("Paste numbers").run()
    _paste(at, "0.5 1\n0 0.5\n")  # a good matrix first
    good = _current(at)
    assert good == matrix_key(np.array([[0.5, 1.0], [0.0, 0.5]]))
    assert not at.error
    for text, msg in PASTE_BAD:
        _paste(at, text)
        assert len(at.error) == 1, text
        err = at.error[0].value
        assert msg in err and "\n" not in err and "previous matrix" in err, (text, err)
        assert _current(at) == good, text
        assert "pasted matrix (2 × 2" in " ".join(x.value for x in at.markdown)
        assert len(at.metric) == 8
    _paste(at, "1 2\n3 4")  # a good one clears the error
    assert not at.error and _current(at) != good


UPLOAD_BAD = [
    ("rect.csv", b"1,2,3\n4,5,6\n", "must be a square"),
    ("ragged.csv", b"1,2\n3\n", "ragged rows"),
    ("nan.csv", b"1,nan\n2,3\n", "finite"),
    ("text.txt", b"a b\nc d\n", "non-numeric"),
    ("one.txt", b"5\n", "at least 2 row"),
    ("empty.csv", b"", "empty"),
    ("obj.npy", _npy(np.array([[1, "a"], [None, 2]], dtype=object), allow_pickle=True), "pickled"),
    ("str.npy", _npy(np.array([["a", "b"], ["c", "d"]])), "numeric"),
    ("bool.npy", _npy(np.eye(2, dtype=bool)), "dtype bool"),
    ("trunc.npy", _npy(np.eye(4))[:-10], "truncated"),
    ("big.npy", _npy(np.eye(MAX_EXPLORER_N + 1)), f"at most {MAX_EXPLORER_N}x{MAX_EXPLORER_N}"),
    ("inf.npy", _npy(np.array([[1.0, np.inf], [0.0, 1.0]])), "finite"),
    ("bad.mtx", b"%%MatrixMarket matrix coordinate real general\n3 3\n", "Matrix Market"),
]


def test_bad_uploads_keep_the_previous_matrix():
    at = _app()
    at.radio(key="mx_source").set_value("Upload a file").run()
    up = at.file_uploader(key="mx_upload")
    up.set_value(("good.csv", b"0.9,1\n0,0.9\n", "text/csv")).run()
    assert not at.exception and not at.error
    good = _current(at)
    assert good == matrix_key(np.array([[0.9, 1.0], [0.0, 0.9]]))
    for name, data, msg in UPLOAD_BAD:
        at.file_uploader(key="mx_upload").set_value((name, data, "application/octet-stream")).run()
        assert not at.exception, name
        assert len(at.error) == 1, name
        err = at.error[0].value
        assert msg in err and name in err and "\n" not in err, (name, err)
        assert _current(at) == good, name
        assert len(at.metric) == 8
    at.file_uploader(key="mx_upload").set_value(("m.npy", _npy(np.diag([0.5, 0.25, 0.1])), "x")).run()
    assert not at.error and _current(at) == matrix_key(np.diag([0.5, 0.25, 0.1]))
    assert _metrics(at)["κ(V) eigenvectors"] == "1"


def test_levels_input():
    at = _app()
    at.text_input(key="mx_levels").set_value("-1, -2").run()
    names = {t.get("name") for t in _spec(at)["data"]}
    assert {"ε = 1e-1", "ε = 1e-2"} <= names and "ε = 1e-3" not in names
    at.text_input(key="mx_levels").set_value("-1, x").run()
    assert not at.exception
    assert len(at.error) == 1 and "levels must be numbers" in at.error[0].value
    assert len(at.get("plotly_chart")) == 2  # automatic levels instead


def test_zoom_region_and_reset():
    at = _app()
    auto = _spec(at)["layout"]["xaxis"]["range"]
    at.session_state[ui.REGION] = (0.0, 1.0, 1.0, 2.0)
    at.run()
    spec = _spec(at)
    assert spec["layout"]["xaxis"]["range"] == [0.0, 1.0] and spec["layout"]["yaxis"]["range"] == [1.0, 2.0]
    contour = [t for t in spec["data"] if t["type"] == "contour"][0]
    x = np.frombuffer(base64.b64decode(contour["x"]["bdata"]), contour["x"]["dtype"])
    np.testing.assert_allclose(x, np.linspace(0.0, 1.0, 80))  # full resolution on the new region
    at.button(key="mx_reset_zoom").click().run()
    assert at.session_state[ui.REGION] is None
    np.testing.assert_allclose(_spec(at)["layout"]["xaxis"]["range"], auto)


def test_zoom_region_is_shared_through_the_url():
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["mx_region"] = "0,1,1,2"
    at.run()
    assert not at.exception
    assert at.session_state[ui.REGION] == (0.0, 1.0, 1.0, 2.0)
    assert _spec(at)["layout"]["xaxis"]["range"] == [0.0, 1.0]
    at.button(key="mx_reset_zoom").click().run()
    assert "mx_region" not in at.query_params
    bad = AppTest.from_file(PAGE, default_timeout=120)
    bad.query_params["mx_region"] = "1,0,zz"
    bad.run()
    assert not bad.exception and bad.session_state[ui.REGION] is None


def test_box_selection_callback():
    session = {ui.ZOOM: 3, ui.REGION: None}
    key = ui.chart_key(session)
    session[key] = {"selection": {"box": [{"x": [1.5, -0.5], "y": [0.2, 0.7], "xref": "x"}], "points": []}}
    ui.apply_box(session, key)
    assert session[ui.REGION] == (-0.5, 1.5, 0.2, 0.7) and session[ui.ZOOM] == 4
    assert ui.chart_key(session) != key  # a fresh chart: the old box is not applied again
    session[ui.chart_key(session)] = {"selection": {"box": [{"x": [1.0, 1.0], "y": [0.0, 1.0]}]}}
    ui.apply_box(session, ui.chart_key(session))
    assert session[ui.REGION] == (-0.5, 1.5, 0.2, 0.7) and "Zoom ignored" in session[ui.ERROR]


def test_continuous_dynamics():
    at = _app()
    at.slider(key="mx_n").set_value(8)
    at.selectbox(key="mx_gallery").set_value("random")
    at.radio(key="mx_dynamics").set_value("continuous").run()
    assert not at.exception
    assert "Kreiss K (continuous)" in _metrics(at)
    tr = _spec(at, 1)
    assert tr["data"][0]["name"] == "‖eᵗᴬ‖₂"


def test_talk_theme_gives_each_chart_the_full_width():
    at = _app()

    def in_columns() -> int:
        return sum(len(col.get("plotly_chart")) for col in at.main.columns)

    assert in_columns() == 2  # default theme: spectrum and transient side by side
    at.session_state["talk_theme"] = True
    at.run()
    assert not at.exception and len(at.get("plotly_chart")) == 2
    # talk figures (large fonts) were clipped in the 2/5-width column (the transient's title and legend cut)
    assert in_columns() == 0
    assert any(b.label == "Reset zoom" for b in at.button)
