"""Browser test of the Matrix Explorer: upload a file, contours, box zoom, the zip and a modebar SVG download."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest

from nnspec_core.explorer import explorer_grid, matrix_key
from nnspec_core.gallery import random_nonnormal
from tests.e2e.conftest import until as _until
from tests.e2e.conftest import wait_for_app

pytestmark = pytest.mark.e2e

SPEC = "[class*='st-key-mx_spectrum_'] .js-plotly-plot"
# contour levels and eigenvalue x-coordinates of the spectrum chart, from plotly's own data
_CHART = """() => {
  const gd = document.querySelector("[class*='st-key-mx_spectrum_'] .js-plotly-plot");
  if (!gd || !gd.data) return null;
  const c = gd._fullData.filter(t => t.type === 'contour');
  const e = gd._fullData.filter(t => t.name === 'eigenvalues');
  return JSON.stringify({contours: c.length, eig_x: e.length ? Array.from(e[0].x) : [],
                         paths: gd.querySelectorAll('.contourlayer path').length});
}"""


_RANGE = """() => {
  const gd = document.querySelector("[class*='st-key-mx_spectrum_'] .js-plotly-plot");
  return gd && gd._fullLayout ? JSON.stringify([gd._fullLayout.xaxis.range, gd._fullLayout.yaxis.range]) : null;
}"""



def test_upload_contours_zip_and_modebar_svg(app_url, page, tmp_path):
    A = random_nonnormal(10, seed=5, s=2.0)
    f = tmp_path / "nonnormal.npy"
    np.save(f, A)

    page.goto(f"{app_url}/matrix_explorer?mx_source=Upload+a+file")
    wait_for_app(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(f))
    _until(page, lambda: "nonnormal.npy (10 × 10" in page.inner_text("[data-testid='stMain']"))
    eig_x = np.sort(np.linalg.eigvals(A).real)

    def _uploaded_chart():  # Streamlit keeps the previous matrix's chart on screen until the rerun replaces it
        c = page.evaluate(_CHART)
        c = json.loads(c) if c else None
        ok = c and c["paths"] > 0 and len(c["eig_x"]) == eig_x.size
        return c if ok and np.allclose(np.sort(c["eig_x"]), eig_x, atol=1e-8) else None

    chart = _until(page, _uploaded_chart)
    assert chart["contours"] >= 1
    assert page.locator("[data-testid='stException']").count() == 0
    page.screenshot(path=str(tmp_path / "matrix_explorer.png"), full_page=True)

    # box-select zoom: drag a rectangle; the grid is recomputed for it (a new chart), "Reset zoom" undoes it
    auto = json.loads(page.evaluate(_RANGE))
    g = explorer_grid(A, n_grid=2)  # the automatic window (independent of the grid size)
    page.locator(SPEC).first.scroll_into_view_if_needed()
    box = page.locator(f"{SPEC} .nsewdrag").first.bounding_box()
    x0, y0 = box["x"] + 0.55 * box["width"], box["y"] + 0.25 * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 0.2 * box["width"], y0 + 0.2 * box["height"], steps=6)
    page.mouse.move(x0 + 0.4 * box["width"], y0 + 0.4 * box["height"], steps=6)
    page.mouse.up()
    zoomed = _until(page, lambda: (r := page.evaluate(_RANGE)) and json.loads(r)[0][0] > auto[0][0] + 1e-6 and r)
    assert json.loads(zoomed)[0][1] <= auto[0][1] + 1e-9
    _until(page, lambda: page.evaluate(_CHART) and json.loads(page.evaluate(_CHART))["paths"] > 0)
    page.get_by_role("button", name="Reset zoom").click()
    # back to automatic axes: exactly the first automatic window, which is the grid's own window (a pure function
    # of the matrix; Plotly must not widen it to fit the plot area - it once drifted ~7 % with each redraw)
    window = np.array([[g.re[0], g.re[-1]], [g.im[0], g.im[-1]]])
    np.testing.assert_allclose(auto, window, rtol=1e-9, atol=1e-9)

    def _reset_done():
        r = page.evaluate(_RANGE)
        return bool(r) and np.allclose(json.loads(r), window, rtol=1e-9, atol=1e-9)

    _until(page, _reset_done)

    # "Download everything": prepare, then download, then check the members and the matrix inside
    page.get_by_text("Export: download everything").click()
    page.get_by_role("button", name="Prepare the zip").click()
    button = page.get_by_role("button", name="Download everything (.zip)")
    button.wait_for(timeout=120_000)
    with page.expect_download(timeout=120_000) as dl:
        button.click()
    zpath = tmp_path / "bundle.zip"
    dl.value.save_as(zpath)
    z = zipfile.ZipFile(zpath)
    names = set(z.namelist())
    for fig in ("spectrum", "transient"):
        assert {f"figures/{fig}.{ext}" for ext in ("png", "svg", "pdf", "html")} <= names
    assert {"MANIFEST.txt", "command.txt", "settings.json", "data/matrix.npy", "data/eigenvalues.csv"} <= names
    assert z.read("figures/spectrum.png").startswith(b"\x89PNG") and z.read("figures/spectrum.pdf").startswith(b"%PDF")
    M = np.load(io.BytesIO(z.read("data/matrix.npy")), allow_pickle=False)
    np.testing.assert_array_equal(M, A)
    assert json.loads(z.read("settings.json"))["matrix_sha256"] == matrix_key(A)
    assert "figure --matrix data/matrix.npy --settings settings.json" in z.read("command.txt").decode()

    # the modebar camera button downloads an SVG
    page.hover(SPEC)
    with page.expect_download(timeout=60_000) as dl2:
        page.locator(f"{SPEC} .modebar-btn[data-title*='Download']").first.click()
    assert dl2.value.suggested_filename.endswith(".svg")
    svg_path = tmp_path / dl2.value.suggested_filename
    dl2.value.save_as(svg_path)
    root = ET.fromstring(svg_path.read_bytes())
    assert root.tag.endswith("svg")
    page.screenshot(path=str(tmp_path / "matrix_explorer_after.png"), full_page=True)
