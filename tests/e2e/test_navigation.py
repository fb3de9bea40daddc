"""Browser test of the routing: the root URL, /home and deep links open their page without "Page not found"."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import until, wait_for_app

pytestmark = pytest.mark.e2e

_DIALOG = "[role='dialog']"
# Streamlit's frontend probes <page path>/_stcore/{health,host-config} on a deep link to find its base path; those
# 404s are its own (then it falls back to the root), not the app's.
_PROBE = re.compile(r"/[a-z_]+/_stcore/(health|host-config)$")


def watch_browser(page) -> list[str]:
    """Console errors and failed or refused requests of ``page`` (filled in as they happen)."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" and
            not m.text.startswith("Failed to load resource") else None)  # fmt: skip
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 and
            not _PROBE.search(r.url) else None)  # fmt: skip
    return problems


def _title(page) -> str:
    return page.locator("[data-testid='stMain'] h1").first.inner_text()


@pytest.mark.parametrize(
    ("path", "title", "final_path"),
    [
        ("/", "nnspec: why optimizers go unstable", "/"),
        ("/home", "nnspec: why optimizers go unstable", "/"),  # an alias of the root page
        ("/home?x=1", "nnspec: why optimizers go unstable", "/"),
        ("/operator_lab", "Operator Lab", "/operator_lab"),
        ("/matrix_explorer", "Matrix Explorer", "/matrix_explorer"),
    ],
)
def test_page_urls_open_their_page(app_url, page, path, title, final_path):
    problems = watch_browser(page)  # e.g. the favicon fetched from fonts.gstatic.com (no internet here)
    page.goto(app_url + path)
    wait_for_app(page)
    until(page, lambda: title in _title(page))
    page.wait_for_timeout(500)  # the "Page not found" dialog arrives with the first script run
    wait_for_app(page)
    assert page.locator(_DIALOG).count() == 0, page.locator(_DIALOG).first.inner_text()
    assert "Page not found" not in page.inner_text("body")
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.url.split("?")[0].rstrip("/") == (app_url + final_path).rstrip("/")
    if path == "/home?x=1":
        assert page.url.endswith("?x=1")  # query parameters survive the alias
    # the sidebar's Home link points at the root URL and is the current page there
    if final_path == "/":
        link = page.locator("[data-testid='stSidebarNav'] a").first
        assert link.get_attribute("href").rstrip("/") == app_url.rstrip("/")
    assert not problems, problems
