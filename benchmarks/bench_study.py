"""Cost of the phase-study presets: CPU seconds per run by optimizer and the projected preset time.

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/bench_study.py [--preset paper] [--steps N]``.
Trains seed 0 over the whole learning-rate grid of every optimizer and prints the mean CPU time per run,
its ratio to GD's mean measured in the same process (the baseline), and the projected CPU time of the
whole preset (seeds x that mean) and its wall time on 2 worker processes.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from nnspec_core.studies import plan_study, train_run
from nnspec_core.study_presets import PRESETS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", choices=list(PRESETS), default="paper")
    ap.add_argument("--steps", type=int, default=None, help="override the steps per run")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = PRESETS[args.preset]
    if args.steps:
        cfg = replace(cfg, steps=args.steps)
    probe = replace(cfg, seeds=cfg.seeds[:1])
    t0 = time.process_time()
    plan = plan_study(probe)
    plan_cpu = time.process_time() - t0
    times: dict[tuple[str, int], list[float]] = {}
    for spec in plan.runs:
        t0 = time.process_time()
        train_run(spec)
        times.setdefault((spec.optimizer, spec.depth), []).append(time.process_time() - t0)
    per = {k: sum(v) / len(v) for k, v in times.items()}
    base = per[next(k for k in per if k[0] == "gd")]
    n_per = cfg.n_lrs * len(cfg.seeds)
    total = sum(v * n_per for v in per.values())
    print(f"preset {cfg.name}: {cfg.steps} steps, {n_per} runs per optimizer x depth; plan probe {plan_cpu:.2f} s CPU")
    for (opt, depth), v in per.items():
        print(f"  {opt:<11} depth {depth}: {v:6.2f} s CPU per run, mean over the lr grid  ({v / base:5.2f} x GD)")
    print(f"projected: {total:.0f} s CPU, about {total / 2 / 60:.1f} min on 2 worker processes (no other load)")


if __name__ == "__main__":
    main()
