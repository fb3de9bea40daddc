"""Core engine timing: Hessian + update operator + eig + kappa(V) per optimizer, n = 65 and 257 parameters.

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_core.py  [--repeats 7]

For each optimizer (default coordinates; Adam/AdamW/RMSProp also in their full form) it prints the
median wall time of

    hessian (torch.func vmap-over-vjp recipe) + update_operator + spectrum (eig, kappa(V), clusters)

and, as the in-process baseline, the same pipeline done naively: ``torch.autograd.functional.hessian``,
the dense operator from the same formulas, ``numpy.linalg.eig`` and ``numpy.linalg.cond`` of the
unit-normalised eigenvector matrix. The ratio column is baseline / nnspec (> 1 means nnspec is faster).
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from nnspec_core.functional import flat_optimizer_state, torch_optimizer  # noqa: E402
from nnspec_core.hessian import flat_hessian, flat_loss_fn, flat_parameters  # noqa: E402
from nnspec_core.operators import update_operator  # noqa: E402
from nnspec_core.spectra import spectrum  # noqa: E402

CASES = [
    ("gd", "theta"), ("heavy_ball", "buffer"), ("heavy_ball", "history"), ("nesterov", "buffer"),
    ("rmsprop", "frozen"), ("rmsprop", "full"), ("adam", "frozen"), ("adam", "full"), ("adamw", "full"),
]


def make_problem(width: int, seed: int = 0):
    """2 -> width -> 1 tanh MLP, MSE on 256 seeded points (n = 4*width + 1 parameters)."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(2, width), torch.nn.Tanh(), torch.nn.Linear(width, 1)).double()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 2, generator=gen, dtype=torch.float64)
    y = torch.sin(2 * x[:, :1])
    return model, x, y


def state_after_steps(optimizer: str, model, x, y, hyper: dict, steps: int = 5) -> dict:
    opt = torch_optimizer(optimizer, list(model.parameters()), **hyper)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    return flat_optimizer_state(opt, list(model.parameters()))


def pipeline_nnspec(loss, theta, optimizer, hyper, state, step, coords):
    H = flat_hessian(loss, theta)
    op = update_operator(optimizer, H, **hyper, state=state, step=step, coords=coords)
    return spectrum(op.J, blocks=op.blocks)


def pipeline_baseline(loss, theta, optimizer, hyper, state, step, coords):
    H = torch.autograd.functional.hessian(loss, theta).numpy()
    H = 0.5 * (H + H.T)
    op = update_operator(optimizer, H, **hyper, state=state, step=step, coords=coords)
    w, V = np.linalg.eig(op.J)
    V = V / np.linalg.norm(V, axis=0)
    return np.abs(w).max(), np.linalg.cond(V)


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'n':>5} {'optimizer':>11} {'coords':>8} {'d':>5} {'nnspec [ms]':>12} {'baseline [ms]':>14} {'ratio':>7}")
    for width in (16, 64):
        model, x, y = make_problem(width)
        n = sum(p.numel() for p in model.parameters())
        for optimizer, coords in CASES:
            hyper = dict(lr=0.05, momentum=0.9 if optimizer in ("heavy_ball", "nesterov") else 0.0,
                         betas=(0.9, 0.999), eps=1e-8, alpha=0.99, weight_decay=0.0)
            m, *_ = make_problem(width)
            state = state_after_steps(optimizer, m, x, y, hyper)
            loss = flat_loss_fn(m, torch.nn.functional.mse_loss, x, y)
            theta = flat_parameters(m)
            step = int(state.get("step", 0)) + 1

            args_ = (loss, theta, optimizer, hyper, state, step, coords)
            ours = functools.partial(pipeline_nnspec, *args_)
            baseline = functools.partial(pipeline_baseline, *args_)
            t_ours = median_time(ours, args.repeats)
            t_base = median_time(baseline, args.repeats)
            d = ours().eigenvalues.size
            print(f"{n:>5} {optimizer:>11} {coords:>8} {d:>5} {1e3 * t_ours:>12.1f} {1e3 * t_base:>14.1f} "
                  f"{t_base / t_ours:>7.2f}")


if __name__ == "__main__":
    main()
