"""Process-wide runtime settings for the server: one BLAS / torch thread per session.

Streamlit serves every browser session from threads of one process. On the 2-core
machines nnspec targets, letting each session's numpy/scipy/torch call spawn one
thread per core oversubscribes the CPU (a 771x771 ``eig`` was seen 10x slower), so
the server pins BLAS and torch intra-op threads to 1: sessions then run side by side.
"""

from __future__ import annotations

import os

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
