"""Analysed training steps per second, end to end, for the live-training engine (issue 4).

One analysed step = full-batch forward/backward + torch.optim step + Hessian (vmap over vjp of grad)
+ analytic J + eig / kappa(V) / rho / classes / sharpness / commutator + transient peak + realized window.
Each case is timed with ``analyze_every=1`` and compared, in the same process, with the same training
without analysis (the baseline: plain torch steps), so the printed ratio is robust to machine speed.
The trainer keeps ``--workers`` analyses in flight (default 2 = the two cores; BLAS pinned to
``--threads`` = 1 per worker), so the target is judged on the wall-clock rate. Also printed: process CPU
seconds per analysed step (all threads), whose inverse times the number of cores is what an idle
machine can reach; and the load average, since other processes on the 2 cores slow the wall rate.
A per-stage breakdown of one analysed step follows each case (``--breakdown``, CPU time).

Run (2 cores; pin BLAS/torch threads, default 1)::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_training.py
    python benchmarks/bench_training.py --workers 1 --threads 2 --steps 60 --repeat 3 --breakdown

Targets (issue 4): >= 20 analysed steps/s for the default network (2 -> 16 -> 1, tanh, 256 points),
>= 3 analysed steps/s at width 64.
"""

from __future__ import annotations

import argparse
import os
import sys

_parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
_parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads")
_parser.add_argument("--workers", type=int, default=2, help="analyses in flight (Trainer(workers=...))")
_parser.add_argument("--steps", type=int, default=40, help="optimizer steps per timed run (all analysed)")
_parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (best is reported)")
_parser.add_argument("--breakdown", action="store_true", help="print a per-stage breakdown of one analysed step")
_parser.add_argument("--cases", default="all", help="comma-separated case names (default: all)")
ARGS = _parser.parse_args()
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import time  # noqa: E402
from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from nnspec_core.spectra import operator_diagnostics  # noqa: E402
from nnspec_core.training import TrainConfig, Trainer, _norm2, snapshot_operator  # noqa: E402
from nnspec_core.transient import power_norms  # noqa: E402

torch.set_num_threads(ARGS.threads)

CASES = {
    # name: (config overrides, target analysed steps/s)
    "default-adam-full": (dict(optimizer="adam", lr=0.01, coords="full"), 20.0),
    "default-adam-frozen": (dict(optimizer="adam", lr=0.01, coords="frozen"), 20.0),
    "default-heavy-ball": (dict(optimizer="heavy_ball", lr=0.05, momentum=0.9), 20.0),
    "width64-heavy-ball": (dict(optimizer="heavy_ball", lr=0.05, momentum=0.9, width=64), 3.0),
    "width64-adam-frozen": (dict(optimizer="adam", lr=0.01, coords="frozen", width=64), 3.0),
    "width64-adam-full": (dict(optimizer="adam", lr=0.01, coords="full", width=64), 3.0),
}


def _time_run(cfg: TrainConfig, analyse: bool) -> tuple[float, float]:
    """(wall, CPU) seconds per record of a whole run (steps + 1 records).

    CPU time of this process is what the step costs on an otherwise idle core (with 1 thread); wall
    time includes waiting for the CPU when other processes compete for the 2 cores.
    """
    tr = Trainer(cfg, analyse=analyse, workers=ARGS.workers)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in tr.run():
        pass
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    assert tr.status == "finished", (tr.status, tr.diverged_reason)
    return dt / (cfg.steps + 1), dc / (cfg.steps + 1)


def _breakdown(cfg: TrainConfig) -> dict[str, float]:
    """Seconds of each stage of one analysed step, at step 10 of the run (best of 5)."""
    tr = Trainer(replace(cfg, steps=10), analyse=False, workers=1)
    while tr.t < 10:
        tr.step_once()
    stages: dict[str, list[float]] = {}

    def tick(name: str, t0: float) -> float:
        t1 = time.process_time()
        stages.setdefault(name, []).append(t1 - t0)
        return t1

    for _ in range(5):
        t = time.process_time()
        _, g, _ = tr._measure()
        t = tick("forward+backward+metrics", t)
        theta = torch.nn.utils.parameters_to_vector(tr.params).detach()
        state = tr._state(theta, g)
        t = tick("optimizer state", t)
        H = tr._hessian(theta)
        t = tick("Hessian", t)
        op = snapshot_operator(cfg, H, state, step=tr.t + 1, coords=tr.coords)
        t = tick("update operator J", t)
        operator_diagnostics(op)
        t = tick("eig, kappa(V), rho, classes, sharpness", t)
        ks = tr._transient_ks(op.blocks is not None)
        power_norms(op.J if op.blocks is None else None, cfg.transient_k, blocks=op.blocks, k=ks)
        t = tick("transient ||J^k|| (sampled k)", t)
        P = op.J @ op.J @ op.J
        _norm2(P)
        tick("realized window (3 matmuls + norm)", t)
    return {k: float(np.min(v)) for k, v in stages.items()}


def main() -> int:
    names = list(CASES) if ARGS.cases == "all" else ARGS.cases.split(",")
    print(
        f"workers={ARGS.workers}  threads={ARGS.threads}  steps={ARGS.steps}  repeat={ARGS.repeat}  "
        f"torch {torch.__version__}"
    )
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (on {os.cpu_count()} CPUs)")
    print("wall/s = analysed records per second of wall time (best of the repeats; the target's measure);")
    print("cpu ms = process CPU per record, all threads; ratio = analysed / plain (no analysis) CPU per step")
    hdr = (
        f"{'case':<22} {'n':>5} {'d':>5} {'wall/s':>8} {'cpu ms':>8} {'target':>7} {'plain cpu/s':>12} "
        f"{'ratio':>6}  met"
    )
    print(hdr)
    for name in names:
        over, target = CASES[name]
        cfg = TrainConfig(steps=ARGS.steps, **over)
        probe = Trainer(cfg)
        n = probe.n_params
        d = n * {"theta": 1, "buffer": 2, "history": 2, "frozen": 2, "simple": 1, "full": 3}[probe.coords]
        if cfg.optimizer == "rmsprop" and probe.coords == "frozen":
            d = n
        _time_run(replace(cfg, steps=3), True)  # warm-up (torch.func tracing, BLAS init)
        runs = [_time_run(cfg, True) for _ in range(ARGS.repeat)]
        wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        plain = min(_time_run(cfg, False)[1] for _ in range(ARGS.repeat))
        print(
            f"{name:<22} {n:>5} {d:>5} {1.0 / wall:>8.1f} {1e3 * cpu:>8.0f} {target:>7.0f} {1.0 / plain:>12.0f} "
            f"{cpu / plain:>6.1f}  {'yes' if 1.0 / wall >= target else 'NO'}"
        )
        if ARGS.breakdown:
            parts = _breakdown(cfg)
            total = sum(parts.values())
            for stage, sec in parts.items():
                print(f"    {stage:<42} {sec * 1e3:8.2f} ms  {100 * sec / total:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
