"""Classroom load: N concurrent browser sessions against one nnspec server (issue 8).

Starts ``streamlit run app.py`` on 127.0.0.1 (a free port), then for each N drives N Playwright
contexts in one Debian chromium, each doing the scenario of ``tests/e2e/test_load.py``: open the
Operator Lab and move the β slider, open Live Training, run a short training to the end, select a
step. Reports per N: errors (must be 0), p50/p95 of the time from interaction to updated chart (all
interactions and per kind), and the server's RSS (VmRSS) at start, peak and end.

"CPU s/ses" is the server process's CPU time (user + system, /proc) per session: what one student's
scenario costs the server, independent of how busy the machine is (the browser's share is not in it).

Baseline: N = 1 in the same process, on the same (warm) server, first. The ratio columns give
p50/p95 at N over the baseline's, so the slowdown is visible even on a shared machine; the load
average before each round is printed too (other processes on the 2 cores inflate every number).

Run (2 cores; the server gets OPENBLAS/OMP_NUM_THREADS=1 like the test fixture):
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_load.py            # N = 1 (baseline), 10, 20
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_load.py --n 4 10 --timeout 300
Only loopback addresses are used; every interaction has a time limit (``--timeout``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from tests.e2e.conftest import start_app  # noqa: E402
from tests.e2e.test_load import LoadReport, run_load  # noqa: E402

KINDS = ("open_lab", "slider", "open_live", "train", "select_step")


def _row(rep: LoadReport, base: LoadReport | None) -> str:
    p50, p95 = rep.percentile(50), rep.percentile(95)
    r50 = p50 / base.percentile(50) if base else 1.0
    r95 = p95 / base.percentile(95) if base else 1.0
    return (f"{rep.n:>4} {len(rep.errors):>6} {p50:>8.2f} {p95:>8.2f} {r50:>8.1f}x {r95:>8.1f}x "
            f"{rep.rss_start_mb:>9.0f} {rep.rss_peak_mb:>9.0f} {rep.rss_end_mb:>9.0f} {rep.wall:>8.1f} "
            f"{rep.server_cpu_s / rep.n:>9.1f}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10, 20], help="session counts (after the N = 1 baseline)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per interaction")
    ap.add_argument("--stagger", type=float, default=0.2, help="seconds between session starts")
    args = ap.parse_args()
    if any(not 1 <= n <= 50 for n in args.n):
        ap.error("--n values must be between 1 and 50")
    proc, url = start_app()
    print(f"server {url} (pid {proc.pid}); {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    try:
        run_load(url, 1, pid=proc.pid, timeout_s=args.timeout)  # warm-up: imports, first cache entries
        reports: list[LoadReport] = []
        for n in [1, *args.n]:
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            rep = run_load(url, n, pid=proc.pid, timeout_s=args.timeout, stagger=args.stagger)
            reports.append(rep)
            print(f"\n--- N = {n} (load average before {load:.1f}, {time.perf_counter() - t0:.0f} s)")
            print(rep.summary(), flush=True)
            if proc.poll() is not None:
                print("SERVER DIED", flush=True)
                break
        base = reports[0]
        print(f"\n{'N':>4} {'errors':>6} {'p50 s':>8} {'p95 s':>8} {'p50/N=1':>9} {'p95/N=1':>9} "
              f"{'RSS0 MB':>9} {'RSSpk MB':>9} {'RSS1 MB':>9} {'wall s':>8} {'CPU s/ses':>9}")  # fmt: skip
        for rep in reports:
            print(_row(rep, base))
        print("\nper kind, p50 / p95 (s):")
        print(f"{'N':>4} " + " ".join(f"{k:>19}" for k in KINDS))
        for rep in reports:
            cells = [f"{rep.percentile(50, k):8.2f} / {rep.percentile(95, k):7.2f}" for k in KINDS]
            print(f"{rep.n:>4} " + " ".join(f"{c:>19}" for c in cells))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
