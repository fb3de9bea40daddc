"""The app's documented caps and the server's compute budget: one home (pages may import it).

A classroom server is shared by many sessions on few cores, so every input that sets the amount of
work has a hard cap (and ``nnspec_app.runtime.pin_threads`` keeps each session to one BLAS/torch
thread). The caps are *enforced* where the work is done (the core validators and the page widgets'
ranges); this module gathers them, takes the core values from the modules that enforce them, and
is what ``docs/SECURITY.md`` and the tests refer to (``tests/app/test_extremes.py`` checks that the
widgets and ``.streamlit/config.toml`` agree with it).

=====================  ==========================================  =========================================
what                   cap                                         enforced by
=====================  ==========================================  =========================================
upload / pasted text   25 MiB                                      ``.streamlit/config.toml`` maxUploadSize,
                                                                   ``nnspec_core.matrix_io`` (both)
matrix (file, CLI)     n <= 2000                                   ``matrix_io.MAX_MATRIX_DIM``
matrix (Explorer page) 2 <= n <= 200                               ``explorer.MAX_EXPLORER_N``
pseudospectrum grid    <= 200 points per axis on the page (300     page widget / ``explorer.MAX_GRID``
                       in the core)
transient horizon      k <= 5000 steps, t <= 1000                  page widgets, ``lab.MAX_K``
Operator Lab           n <= 16 curvatures, map/grid <= 400         ``lab.MAX_LAB_N``, ``lab.MAX_GRID``
network                width <= 64, hidden layers <= 4             ``models.MAX_WIDTH``, ``models.MAX_DEPTH``
live training          steps <= 2000, samples <= 1000, dense       Live Training widgets (``MAX_STEPS``,
                       analysis <= 2000 parameters                 ``MAX_SAMPLES``, ``DENSE_LIMIT_MAX``)
one live tick          0.6 s of training per second per session    ``nnspec_app.live_ui.TICK_BUDGET``
caches                 every ``st.cache_data`` has ``max_entries``  pages (checked by the tests)
                       and a ``ttl``
threads                1 torch thread, 1 BLAS thread per process   ``nnspec_app.runtime.pin_threads`` (app.py)
=====================  ==========================================  =========================================
"""

from __future__ import annotations

from dataclasses import dataclass

from nnspec_core.explorer import MAX_EXPLORER_N
from nnspec_core.explorer import MAX_GRID as EXPLORER_MAX_GRID
from nnspec_core.lab import MAX_GRID as LAB_MAX_GRID
from nnspec_core.lab import MAX_K as LAB_MAX_K
from nnspec_core.lab import MAX_LAB_N
from nnspec_core.matrix_io import MAX_MATRIX_DIM, MAX_UPLOAD_BYTES
from nnspec_core.models import MAX_DEPTH, MAX_WIDTH

__all__ = [
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_MB",
    "MAX_MATRIX_DIM",
    "MAX_EXPLORER_N",
    "EXPLORER_MAX_GRID",
    "PAGE_MAX_GRID",
    "LAB_MAX_GRID",
    "LAB_MAX_K",
    "MAX_LAB_N",
    "MAX_WIDTH",
    "MAX_DEPTH",
    "MAX_STEPS",
    "MAX_SAMPLES",
    "DENSE_LIMIT_MAX",
    "MAX_QUERY_VALUE_CHARS",
    "CLASS_SESSIONS",
    "Limit",
    "LIMITS",
]

#: Upload limit in MiB, as ``server.maxUploadSize`` in ``.streamlit/config.toml`` states it.
MAX_UPLOAD_MB = MAX_UPLOAD_BYTES // 2**20
#: Largest grid (points per axis) the Matrix Explorer's widget offers.
PAGE_MAX_GRID = 200
#: Live Training caps (the page's widget ranges).
MAX_STEPS = 2000
#: Phase Study page: at most this many training steps (runs x steps) per study started from the browser;
#: the deep preset (32,400) and larger grids run from the CLI (``python -m nnspec_core study``).
STUDY_STEP_BUDGET = 20_000
MAX_SAMPLES = 1000
DENSE_LIMIT_MAX = 2000
#: URL values longer than this are not meaningful for any widget (Streamlit ignores invalid ones anyway).
MAX_QUERY_VALUE_CHARS = 2000
#: Concurrent sessions the measured load figures support on the reference 2-core server
#: (``benchmarks/bench_load.py``: 0 errors at N = 20; see docs/SECURITY.md for p50/p95).
CLASS_SESSIONS = 20


@dataclass(frozen=True)
class Limit:
    """One documented cap: what it bounds, its value (with unit) and where it is enforced."""

    what: str
    value: str
    enforced_by: str


LIMITS: tuple[Limit, ...] = (
    Limit("uploaded file or pasted text", f"{MAX_UPLOAD_MB} MiB", ".streamlit/config.toml, nnspec_core.matrix_io"),
    Limit("matrix from a file (CLI)", f"n ≤ {MAX_MATRIX_DIM}", "nnspec_core.matrix_io.MAX_MATRIX_DIM"),
    Limit("matrix on the Matrix Explorer page", f"2 ≤ n ≤ {MAX_EXPLORER_N}", "nnspec_core.explorer.MAX_EXPLORER_N"),
    Limit("pseudospectrum grid", f"≤ {PAGE_MAX_GRID} points per axis (core: {EXPLORER_MAX_GRID})", "page, explorer"),
    Limit("Operator Lab", f"n ≤ {MAX_LAB_N} curvatures, k ≤ {LAB_MAX_K}, grid ≤ {LAB_MAX_GRID}", "nnspec_core.lab"),
    Limit("network", f"width ≤ {MAX_WIDTH}, hidden layers ≤ {MAX_DEPTH}", "nnspec_core.models"),
    Limit("live training", f"steps ≤ {MAX_STEPS}, samples ≤ {MAX_SAMPLES}", "Live Training widgets"),
    Limit("dense operator analysis", f"≤ {DENSE_LIMIT_MAX} parameters (matrix-free beyond)", "Live Training widget"),
    Limit("threads per server process", "1 torch thread, 1 BLAS thread", "nnspec_app.runtime.pin_threads (app.py)"),
)
