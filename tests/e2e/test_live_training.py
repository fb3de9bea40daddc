"""Browser test of the Live Training page: a short live run, then a click on the indicator chart
selects a step and the eigenvalue view follows."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import wait_for_app

pytestmark = pytest.mark.e2e

QUERY = "lt_opt=heavy+ball+%28SGD+momentum%29&lt_lr=0.1&lt_steps=12&lt_width=4&lt_n=64&lt_k=20&lt_K=4"

_FIND_PLOT = """
(prefix) => [...document.querySelectorAll('.js-plotly-plot')].find(
    p => p.layout && p.layout.title && String(p.layout.title.text || '').includes(prefix))
"""
_SPECTRUM = (
    "() => { const el = (" + _FIND_PLOT + ")('J at step'); if (!el) return null;"
    " const eig = el._fullData.filter(t => t.type === 'scatter' && t.mode === 'markers');"
    " return {title: String(el.layout.title.text).replace(/<[^>]+>/g, ''),"
    " x: eig.flatMap(t => Array.from(t.x)), y: eig.flatMap(t => Array.from(t.y))}; }"
)
_POINT = (
    "(step) => { const el = (" + _FIND_PLOT + ")('Indicators'); el.scrollIntoView({block: 'center'});"
    " const t = el._fullData.find(d => d.name === 'ρ(J)'); const i = Array.from(t.x).indexOf(step);"
    " const ax = el._fullLayout['xaxis' + t.xaxis.slice(1)], ay = el._fullLayout['yaxis' + t.yaxis.slice(1)];"
    " const r = el.getBoundingClientRect();"
    " return {x: r.left + ax._offset + ax.d2p(t.x[i]), y: r.top + ay._offset + ay.d2p(t.y[i])}; }"
)


def test_live_run_then_click_selects_step(app_url, page, tmp_path):
    page.goto(f"{app_url}/live_training?{QUERY}")
    wait_for_app(page)
    page.get_by_role("button", name="Start").click()
    page.get_by_text("finished: 12 steps").wait_for(timeout=120_000)  # live ticks until the end
    wait_for_app(page)
    before = page.wait_for_function(_SPECTRUM).json_value()
    assert before["title"].startswith("J at step 12:")

    pt = page.evaluate(_POINT, 3)
    page.mouse.move(pt["x"], pt["y"])
    page.mouse.click(pt["x"], pt["y"])
    after = page.wait_for_function(
        "() => { const el = (" + _FIND_PLOT + ")('J at step'); "
        "return el && String(el.layout.title.text).includes('J at step 3:') ? el.layout.title.text : null; }",
        timeout=60_000,
    ).json_value()
    assert "J at step 3:" in after
    wait_for_app(page)
    now = page.evaluate(_SPECTRUM)
    assert now["x"] != before["x"] or now["y"] != before["y"]  # the eigenvalues shown changed
    page.get_by_text("Step 3", exact=False).first.wait_for()  # the explanation follows the selection
    page.set_viewport_size({"width": 1400, "height": 2600})
    page.wait_for_timeout(1500)
    page.screenshot(path=str(tmp_path / "live_training.png"), full_page=True)
    assert (tmp_path / "live_training.png").stat().st_size > 10_000
