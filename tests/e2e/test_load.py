"""Short concurrent-session load test (issue 8): N browser sessions against one server on 127.0.0.1.

One Debian chromium, N Playwright contexts (asyncio), each a separate Streamlit session doing what a
student does: open the Operator Lab and move the β slider (waits until the eigenvalue chart shows the
new J), open Live Training with a small run, press "Run to the end" (waits for the loss chart), then
select a step (waits until the spectrum chart is redrawn for that step). Every latency is measured
from the interaction to the updated chart, in the browser (``wait_for_function`` polling 50 ms).

Errors counted: Playwright timeouts or failures, JavaScript page errors, Streamlit exception boxes and
``st.error`` boxes. Server RSS is sampled from ``/proc/<pid>/status`` (VmRSS) every 0.5 s.

The CI version runs N = 4 sessions once (well under a minute); ``benchmarks/bench_load.py`` reuses
:func:`run_load` for N = 10 and N = 20. Only loopback addresses; bounded in count and time.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, start_app

pytestmark = [pytest.mark.e2e, pytest.mark.load]

#: A small live-training run (URL-bound widgets): 20 steps of a width-4 network on 40 points.
LIVE_QUERY = "lt_steps=20&lt_width=4&lt_n=40&lt_k=10&lt_K=3&lt_every=2"
SELECT_STEP = 10

_EIGS = """() => {
  const gd = document.querySelector('.st-key-lab_spectrum .js-plotly-plot');
  if (!gd || !gd.data || !gd.data.length) return null;
  return JSON.stringify(gd.data.map(t => [t.name, t.x, t.y]));
}"""  # the spectrum chart's data (typed arrays arrive base64-encoded: compare them as JSON)
_TITLE = """(key) => {
  const gd = document.querySelector('.st-key-' + key + ' .js-plotly-plot');
  const t = gd && gd.layout && gd.layout.title;
  return t ? (typeof t === 'string' ? t : t.text || '') : null;
}"""
_IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
#: Many pages at once in one headless chromium: without these, pages not in front are throttled (timers,
#: requestAnimationFrame), so charts wait for the browser while the server idles.
LOAD_ARGS = [
    *CHROMIUM_ARGS,
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--disable-ipc-flooding-protection",
]


@dataclass
class SessionLog:
    """What one session measured: latencies per interaction kind (seconds) and error descriptions."""

    index: int
    latencies: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


@dataclass
class LoadReport:
    """The load figures of one run with ``n`` concurrent sessions."""

    n: int
    wall: float
    sessions: list[SessionLog]
    rss_start_mb: float
    rss_peak_mb: float
    rss_end_mb: float
    server_cpu_s: float = float("nan")

    @property
    def errors(self) -> list[str]:
        return [f"session {s.index}: {e}" for s in self.sessions for e in s.errors]

    def latencies(self, kind: str | None = None) -> list[float]:
        return sorted(v for s in self.sessions for k, v in s.latencies.items() if kind is None or k == kind)

    def percentile(self, q: float, kind: str | None = None) -> float:
        xs = self.latencies(kind)
        if not xs:
            return float("nan")
        if len(xs) == 1:
            return xs[0]
        return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1] if 1 <= q <= 99 else xs[-1]

    def summary(self) -> str:
        kinds = sorted({k for s in self.sessions for k in s.latencies})
        lines = [
            f"N = {self.n}: errors {len(self.errors)}, {len(self.latencies())} timed interactions in "
            f"{self.wall:.1f} s; p50 {self.percentile(50):.2f} s, p95 {self.percentile(95):.2f} s; server RSS "
            f"{self.rss_start_mb:.0f} MB at start, peak {self.rss_peak_mb:.0f} MB, {self.rss_end_mb:.0f} MB at end; "
            f"server CPU {self.server_cpu_s:.1f} s ({self.server_cpu_s / max(self.n, 1):.1f} s per session)"
        ]
        for k in kinds:
            lines.append(
                f"  {k:<14} n = {len(self.latencies(k)):>3}  p50 {self.percentile(50, k):6.2f} s  "
                f"p95 {self.percentile(95, k):6.2f} s  max {self.latencies(k)[-1]:6.2f} s"
            )
        lines += [f"  ! {e}" for e in self.errors[:20]]
        return "\n".join(lines)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far, in seconds (from /proc), NaN if the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (VmRSS from /proc), NaN if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class _RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, rss_mb(pid)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        self._halt.set()
        self.join(5)
        return self.peak


async def _timed(log: SessionLog, kind: str, action, condition, arg=None, *, page, timeout_ms: float) -> None:
    """Run ``action`` and time until ``condition`` (a JS predicate) holds in the page."""
    t0 = time.perf_counter()
    await action()
    await page.wait_for_function(condition, arg=arg, polling=50, timeout=timeout_ms)
    log.latencies[kind] = time.perf_counter() - t0


async def _check_page(page, log: SessionLog, where: str) -> None:
    if await page.locator("[data-testid='stException']").count():
        log.errors.append(
            f"{where}: exception box: {(await page.locator('[data-testid=stException]').first.inner_text())[:200]}"
        )
    if await page.locator("[data-testid='stAlertContentError']").count():
        text = await page.locator("[data-testid='stAlertContentError']").first.inner_text()
        log.errors.append(f"{where}: st.error: {text[:200]}")


async def _session(browser, url: str, index: int, timeout_ms: float, stagger: float) -> SessionLog:
    log = SessionLog(index)
    await asyncio.sleep(stagger * index)
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await ctx.new_page()
    page.set_default_timeout(timeout_ms)
    page.on("pageerror", lambda err: log.errors.append(f"page error: {str(err)[:200]}"))
    step = "open operator lab"
    try:
        t0 = time.perf_counter()
        await page.goto(f"{url}/operator_lab")
        await page.wait_for_function(_EIGS, polling=50, timeout=timeout_ms)
        log.latencies["open_lab"] = time.perf_counter() - t0
        await page.wait_for_function(_IDLE, polling=100, timeout=timeout_ms)

        step = "move the β slider"
        before = await page.evaluate(_EIGS)
        thumb = page.locator(".st-key-beta input[type='range']").first
        await thumb.focus()
        await _timed(log, "slider", lambda: page.keyboard.press("ArrowRight"),
                     f"(before) => {{ const e = ({_EIGS})(); return e && e !== before; }}", before, page=page,
                     timeout_ms=timeout_ms)  # fmt: skip
        await page.wait_for_function(_IDLE, polling=100, timeout=timeout_ms)
        await _check_page(page, log, "operator lab")

        step = "open live training"
        t0 = time.perf_counter()
        await page.goto(f"{url}/live_training?{LIVE_QUERY}")
        await page.wait_for_selector(".st-key-lt_runall button", timeout=timeout_ms)
        await page.wait_for_function(_IDLE, polling=100, timeout=timeout_ms)
        log.latencies["open_live"] = time.perf_counter() - t0

        step = "run to the end"
        await _timed(log, "train", lambda: page.locator(".st-key-lt_runall button").click(),
                     "() => !!document.querySelector('.st-key-lt_chart_loss .js-plotly-plot')", page=page,
                     timeout_ms=timeout_ms)  # fmt: skip
        await page.wait_for_function(_IDLE, polling=100, timeout=timeout_ms)

        step = "select a step"
        box = page.locator(".st-key-lt_sel_input input").first

        async def select() -> None:
            await box.fill(str(SELECT_STEP))
            await box.press("Enter")

        await _timed(log, "select_step", select,
                     f"() => ({_TITLE})('lt_chart_spectrum')?.includes('step {SELECT_STEP}')", page=page,
                     timeout_ms=timeout_ms)  # fmt: skip
        await page.wait_for_function(_IDLE, polling=100, timeout=timeout_ms)
        await _check_page(page, log, "live training")
    except Exception as err:  # noqa: BLE001 - a failed step is a counted error, the other sessions go on
        log.errors.append(f"{step}: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
    finally:
        await ctx.close()
    return log


async def _run_sessions(url: str, n: int, timeout_ms: float, stagger: float) -> list[SessionLog]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=LOAD_ARGS, headless=True)
        try:
            return list(await asyncio.gather(*(_session(browser, url, i, timeout_ms, stagger) for i in range(n))))
        finally:
            await browser.close()


def _run_in_fresh_thread(fn):
    """Run ``fn`` in a new thread: Playwright's sync API (other e2e tests in this worker) keeps an event loop
    running in the main thread, where ``asyncio.run`` would refuse to start."""
    out: dict = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            out["error"] = err

    t = threading.Thread(target=target, name="load-sessions")
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def run_load(url: str, n: int, *, pid: int, timeout_s: float = 120.0, stagger: float = 0.2) -> LoadReport:
    """Drive ``n`` concurrent sessions (started ``stagger`` s apart) against ``url``; server process ``pid``."""
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise ValueError(f"url must be a loopback address; got {url!r}.")
    if not 1 <= n <= 50:
        raise ValueError(f"n must be between 1 and 50; got {n}.")
    sampler = _RssSampler(pid)
    start, cpu0 = rss_mb(pid), cpu_seconds(pid)
    sampler.start()
    t0 = time.perf_counter()
    try:
        logs = _run_in_fresh_thread(lambda: asyncio.run(_run_sessions(url, n, timeout_s * 1000, stagger)))
    finally:
        peak = sampler.stop()
    return LoadReport(n, time.perf_counter() - t0, logs, start, peak, rss_mb(pid), cpu_seconds(pid) - cpu0)


@pytest.fixture(scope="module")
def server():
    proc, url = start_app()
    try:
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_concurrent_sessions_no_errors(server):
    proc, url = server
    report = run_load(url, 4, pid=proc.pid, timeout_s=120)
    print("\n" + report.summary())
    assert not report.errors, report.summary()
    assert proc.poll() is None, "the server died"
    for kind in ("open_lab", "slider", "open_live", "train", "select_step"):
        assert len(report.latencies(kind)) == 4, f"{kind}: {report.latencies(kind)}"
    assert report.rss_peak_mb >= report.rss_start_mb > 0
