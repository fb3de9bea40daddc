"""Browser test of the Phase Study page: run the tiny preset, click a run on the grid, see its trajectory."""

from __future__ import annotations

import os
import tempfile

import pytest

from tests.e2e.conftest import wait_for_app

pytestmark = pytest.mark.e2e

# The app server inherits the environment when the session fixture starts it (after collection): keep the
# studies this test creates out of the repository.
os.environ.setdefault("NNSPEC_STUDIES_DIR", tempfile.mkdtemp(prefix="nnspec_e2e_studies_"))

_FIND_PLOT = """
(prefix) => [...document.querySelectorAll('.js-plotly-plot')].find(
    p => p.layout && p.layout.title && String(p.layout.title.text || '').replace(/<[^>]+>/g, '').startsWith(prefix))
"""
_POINT = (
    "(prefix) => { const el = (" + _FIND_PLOT + ")(prefix); if (!el) return null;"
    " el.scrollIntoView({block: 'center'});"
    " const t = el._fullData.find(d => d.name === 'diverged'); if (!t) return null;"
    " const ax = el._fullLayout.xaxis, ay = el._fullLayout.yaxis, r = el.getBoundingClientRect();"
    " return {x: r.left + ax._offset + ax.d2p(t.x[0]), y: r.top + ay._offset + ay.d2p(t.y[0])}; }"
)


def test_run_tiny_preset_then_click_a_run(app_url, page, tmp_path):
    page.goto(f"{app_url}/phase_study?ps_preset=tiny")
    wait_for_app(page)
    page.get_by_role("button", name="Run study").click()
    page.get_by_text("The paper's claims beside what this study measured").wait_for(timeout=240_000)
    wait_for_app(page)
    page.get_by_text("κ(V) separates the phases by ≈10×").first.wait_for()
    pt = page.wait_for_function(_POINT, arg="Runs of GD", timeout=180_000).json_value()  # Plotly loads lazily
    page.mouse.move(pt["x"], pt["y"])
    page.mouse.click(pt["x"], pt["y"])
    title = page.wait_for_function(
        "() => { const el = (" + _FIND_PLOT + ")('Loss of the selected run'); "
        "return el ? String(el.layout.title.text).replace(/<[^>]+>/g, '') : null; }",
        timeout=180_000,
    ).json_value()
    assert title.startswith("Loss of the selected run: GD, depth 2")
    wait_for_app(page)
    page.wait_for_function(
        "() => (" + _FIND_PLOT + ")('Indicators of the selected run') !== undefined", timeout=180_000
    )
    assert page.locator("text=Traceback").count() == 0
    page.set_viewport_size({"width": 1400, "height": 3200})
    page.wait_for_timeout(1500)
    page.screenshot(path=str(tmp_path / "phase_study.png"), full_page=True)
    assert (tmp_path / "phase_study.png").stat().st_size > 10_000
    shots = os.environ.get("NNSPEC_SCREENSHOTS")
    if shots:  # keep a copy to look at
        page.screenshot(path=os.path.join(shots, "phase_study.png"), full_page=True)
