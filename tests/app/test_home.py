"""AppTest of the Home page: renders the live picture, one card per page with a preset link, conventions."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

from streamlit.testing.v1 import AppTest

from nnspec_core.quadratic import PRESETS

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "home.py")


def test_home_renders_picture_cards_and_conventions():
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    assert "exceptional points" in text and "κ(V)" in text and "CLI" in text
    # one live picture: the heavy-ball walk through the EP at η = (1 − √0.81)² = 0.01, κ(V) = ∞ there
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    fig = json.loads(charts[0].proto.spec)
    assert len(fig["frames"]) == 41
    mid = fig["frames"][20]["data"][2]
    assert abs(mid["x"][0] - 0.01) < 1e-12 and mid["text"] == ["∞"]
    # a card per page; run on its own the page has no navigation, so the links fall back to URLs
    links = [m.value for m in at.markdown if m.value.startswith("[Open")]
    for slug in ("operator_lab", "live_training", "matrix_explorer", "phase_study"):
        assert any(f"(/{slug}" in link for link in links), slug
    for key in ("critical_damping", "transient"):  # the Operator Lab cards open a preset
        assert any(urlencode({"preset": PRESETS[key].title}) in link for link in links), key
