"""Browser test of the Operator Lab (Debian chromium via Playwright): keyboard slider, map click, screenshot."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import until as _until
from tests.e2e.conftest import wait_for_app

pytestmark = pytest.mark.e2e

# x and y of the eigenvalue markers of the spectrum chart (decoded arrays live in gd._fullData)
_EIGS = """() => {
  const gd = document.querySelector('.st-key-lab_spectrum .js-plotly-plot');
  if (!gd || !gd._fullData) return null;
  const tr = gd._fullData.filter(t => t.mode === 'markers' && t.customdata && t.x && t.x.length);
  return tr.length ? JSON.stringify(tr.map(t => [Array.from(t.x), Array.from(t.y)])) : null;
}"""


def _thumb(page, key: str):
    """The slider's thumb input (react-aria: a visually hidden ``input[type=range]`` that takes keyboard focus)."""
    return page.locator(f".st-key-{key} input[type='range']").first


def _slider(page, key: str) -> float:
    return float(_thumb(page, key).input_value())



def test_operator_lab_keyboard_slider_and_map_click(app_url, page, tmp_path):
    # warm up: until app.py's first run has called st.navigation, the frontend routes with the plain pages/
    # directory (no wide layout); wait for the real navigation before opening the page
    page.goto(app_url)
    page.wait_for_selector("[data-testid='stSidebarNav'] >> text=\"Operator Lab\"", timeout=120_000)
    page.goto(f"{app_url}/operator_lab")
    wait_for_app(page)
    page.wait_for_selector(".st-key-lab_spectrum .js-plotly-plot")
    page.wait_for_selector(".st-key-lab_map .js-plotly-plot")
    assert page.locator("[data-testid='stException']").count() == 0
    beta0, lr0 = _slider(page, "beta"), _slider(page, "log_lr")
    eig0 = _until(page, lambda: page.evaluate(_EIGS))
    kappa = page.locator(".st-key-lab_cards [data-testid='stMetricValue']").nth(1)
    assert "∞" in kappa.inner_text()  # the default preset sits on the heavy-ball EP

    # keyboard: focus the β thumb, five steps to the right (step 0.001)
    _thumb(page, "beta").focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    _until(page, lambda: abs(_slider(page, "beta") - (beta0 + 0.005)) < 1e-9)
    eig1 = _until(page, lambda: (e := page.evaluate(_EIGS)) != eig0 and e)
    _until(page, lambda: "∞" not in kappa.inner_text())
    page.screenshot(path=str(tmp_path / "operator_lab_after_keyboard.png"), full_page=True)

    # click the κ(V) map (the transparent click grid): η and β move there, the eigenvalues change
    box = page.locator(".st-key-lab_map .nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + 0.6 * box["height"])
    _until(page, lambda: _slider(page, "log_lr") != lr0 and _slider(page, "beta") != beta0 + 0.005)
    _until(page, lambda: (e := page.evaluate(_EIGS)) != eig1 and e)
    assert page.locator("[data-testid='stException']").count() == 0
    page.screenshot(path=str(tmp_path / "operator_lab.png"), full_page=True)
