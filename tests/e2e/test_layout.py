"""Browser test of the layout on a narrow window (800 px, sidebar open) against a wide one (1400 px).

On the narrow window the side-by-side rows wrap: charts stack at a readable width, metric values are not cut
("0.98…"), Home's cards do not break words; on the wide window the same rows stay side by side.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import wait_for_app

pytestmark = pytest.mark.e2e

_BOX = "(sel) => { const el = document.querySelector(sel); if (!el) return null; const r = el.getBoundingClientRect();"
_BOX += " return {x: r.left, y: r.top, w: r.width, h: r.height}; }"
# metric values (and labels) whose text is cut with an ellipsis
_CUT = """() => [...document.querySelectorAll("[data-testid='stMetricValue'] div, [data-testid='stMetricValue']")]
  .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"""


def _open(page, app_url, path, selectors, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{app_url}/{path}")
    wait_for_app(page)
    for sel in selectors:
        page.wait_for_selector(sel, timeout=120_000)
    page.wait_for_timeout(500)
    return {sel: page.evaluate(_BOX, sel) for sel in selectors}


@pytest.mark.parametrize("width", [800, 1400])
def test_operator_lab_charts_stack_on_a_narrow_window(app_url, page, width):
    charts = [f".st-key-lab_{k} .js-plotly-plot" for k in ("map", "spectrum", "transient", "trajectory")]
    boxes = _open(page, app_url, "operator_lab", charts, width)
    m, s = boxes[charts[0]], boxes[charts[1]]
    if width == 800:
        assert s["y"] >= m["y"] + m["h"] - 1, (m, s)  # the spectrum below the map, not beside it
        assert min(b["w"] for b in boxes.values()) >= 380, boxes  # readable, not a stamp
    else:
        assert abs(s["y"] - m["y"]) < 2 and s["x"] > m["x"] + m["w"] - 1, (m, s)  # a 2 x 2 grid
    assert page.evaluate(_CUT) == []


@pytest.mark.parametrize("width", [800, 1400])
def test_matrix_explorer_charts_stack_on_a_narrow_window(app_url, page, width):
    charts = ["[class*='st-key-mx_spectrum_'] .js-plotly-plot", ".st-key-mx_transient .js-plotly-plot"]
    boxes = _open(page, app_url, "matrix_explorer", charts, width)
    s, t = boxes[charts[0]], boxes[charts[1]]
    if width == 800:
        assert t["y"] >= s["y"] + s["h"] - 1 and t["w"] >= 380, (s, t)
    else:
        assert abs(t["y"] - s["y"]) < 2 and t["x"] > s["x"] + s["w"] - 1, (s, t)
    assert page.evaluate(_CUT) == []


def test_home_cards_keep_their_words_on_a_narrow_window(app_url, page):
    _open(page, app_url, "", [".st-key-home_cards"], 800)
    cards = page.evaluate(  # the width of each card: the block around its title
        """() => [...document.querySelectorAll('.st-key-home_cards strong')]
             .map(e => e.closest("[data-testid='stVerticalBlock']").getBoundingClientRect().width)"""
    )
    assert len(cards) == 5 and min(cards) >= 140, cards  # 5 in a row at 800 px were ~95 px ("Operat / or Lab")
    titles = page.locator(".st-key-home_cards strong")
    for i in range(5):  # a title wider than its card would be broken inside a word
        assert page.evaluate("(e) => e.scrollWidth <= e.parentElement.clientWidth + 1", titles.nth(i).element_handle())


def test_live_training_stacks_on_a_narrow_window(app_url, page):
    query = "lt_opt=heavy+ball+%28SGD+momentum%29&lt_lr=0.1&lt_steps=8&lt_width=4&lt_n=64&lt_k=20&lt_K=4"
    _open(page, app_url, f"live_training?{query}", [], 800)
    page.get_by_role("button", name="Run to the end (no animation)").click()
    charts = [f".st-key-lt_chart_{k} .js-plotly-plot" for k in ("loss", "indicators", "spectrum", "transient", "fit")]
    for sel in charts:
        page.wait_for_selector(sel, timeout=120_000)
    wait_for_app(page)
    page.wait_for_timeout(500)
    boxes = {sel: page.evaluate(_BOX, sel) for sel in charts}
    ind, spec = boxes[charts[1]], boxes[charts[2]]
    assert spec["y"] >= ind["y"] + ind["h"] - 1, (ind, spec)  # the selected step's spectrum below the run's charts
    assert min(b["w"] for b in boxes.values()) >= 380, boxes
    assert page.evaluate(_CUT) == []
    cut_buttons = page.evaluate(
        """() => [...document.querySelectorAll(".st-key-lt_downloads button p, .st-key-lt_downloads button div")]
             .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"""
    )
    assert cut_buttons == [], cut_buttons  # "Download …" / "indicat…" before


def test_matrix_explorer_talk_theme_charts_are_not_clipped(app_url, page):
    charts = ["[class*='st-key-mx_spectrum_'] .js-plotly-plot", ".st-key-mx_transient .js-plotly-plot"]
    _open(page, app_url, "matrix_explorer", charts, 1400)
    page.get_by_text("Talk theme (large fonts, 16:9)").click()
    page.wait_for_function(  # the talk figures are drawn (32 px titles)
        "() => { const t = document.querySelector('.st-key-mx_transient .gtitle');"
        " return t && parseFloat(getComputedStyle(t).fontSize) >= 30; }",
        timeout=120_000,
    )
    wait_for_app(page)
    page.wait_for_timeout(500)
    boxes = {sel: page.evaluate(_BOX, sel) for sel in charts}
    s, t = boxes[charts[0]], boxes[charts[1]]
    assert t["y"] >= s["y"] + s["h"] - 1 and abs(t["w"] - s["w"]) < 2, (s, t)  # stacked, both full width
    # no title or legend entry sticks out of its chart (in the 2/5 column the transient's were cut at the right)
    cut = page.evaluate(
        """() => [...document.querySelectorAll("[class*='st-key-mx_'] .js-plotly-plot")].flatMap(gd => {
             const R = gd.querySelector('svg.main-svg').getBoundingClientRect();
             return [...gd.querySelectorAll('.gtitle, .legendtext')].filter(e => {
               const r = e.getBoundingClientRect(); return r.width && (r.left < R.left - 1 || r.right > R.right + 1);
             }).map(e => e.textContent); })"""
    )
    assert cut == [], cut
