"""Process-wide runtime settings for the server: one BLAS / torch thread per session.

Streamlit serves every browser session from threads of one process. On the 2-core
machines nnspec targets, letting each session's numpy/scipy/torch call spawn one
thread per core oversubscribes the CPU (a 771x771 ``eig`` was seen 10x slower), so
the server pins BLAS and torch intra-op threads to 1: sessions then run side by side.
"""

from __future__ import annotations

import os
import threading

THREADS = 1


def pin_threads(threads: int = THREADS) -> dict[str, int]:
    """Pin BLAS (via threadpoolctl) and torch intra-op threads; return what was set."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    import torch

    torch.set_num_threads(threads)
    return {"blas": threads, "torch": torch.get_num_threads()}


def _warm() -> None:
    import torch

    # torch.optim's first optimizer imports torch._dynamo (~2-3 s): without this, the first ▶ Start of the
    # server greyed the Live Training page for that long with no spinner
    p = torch.zeros(1, requires_grad=True)
    for opt in (torch.optim.SGD([p], lr=0.1), torch.optim.Adam([p]), torch.optim.RMSprop([p])):
        opt.zero_grad()


def warm_up() -> threading.Thread:
    """Build a first torch.optim optimizer in a background thread (once per server, via ``st.cache_resource``).

    Called when the Live Training page opens, so the user's first ▶ Start finds torch.optim loaded; a Start
    pressed meanwhile just waits on Python's import lock, as it would have anyway.
    """
    thread = threading.Thread(target=_warm, name="nnspec-warm-up", daemon=True)
    thread.start()
    return thread
