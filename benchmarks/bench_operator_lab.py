"""Operator Lab: server-side work per slider change (budget 300 ms), per preset and per size.

Times the core calls the page makes for one slider change, in the order the page makes them:

  operator      quadratic_problem + lab_operator (J, blocks)
  spectrum      spectra.spectrum(J, blocks=...)               (eigenvalues, rho, kappa(V))
  map           exceptional.kappa_rho_map on an 80 x 80 (eta, beta) grid + analytic ep_curves
  pseudo        pseudospectra.pseudospectrum(J, n_grid=80, blocks=...)
  transient     transient.transient_growth(J, k_max, blocks=..., kappa_V=...) (includes the Kreiss constant)
                + the iterate trajectory J^k theta0 for k <= k_max
  ep            exceptional.ep_distance(J) + nearest_analytic_ep (the "distance to the nearest EP" card)

"lab" columns: the page's actual one call per slider change, ``nnspec_core.lab.lab_state`` (operator, spectrum,
cards, transient + Kreiss estimate, trajectory, pseudospectrum, EP curves; "lab full" also the map via
``include_map=True``, "lab eta/beta" with the map cached by the page: ``include_map=False``), CPU time.

Also timed, but not part of a slider change: "snap", the "Snap to nearest EP" button
(numerical snap_to_ep along eta on the real operator family, scan + bisection to 1e-13).

"full" is a change of a Hessian slider (everything recomputed); "eta/beta" is a change of lr or
momentum, for which the map and curves (functions of H, M, t and coords only) come from the page's
cache. The baseline, run in the same process, is the dense per-point map (batched numpy eig over the
80 x 80 operator stack, ``family_map``): the ratio shows what the closed-form / structured map saves.

Run (2 cores; pin BLAS threads):
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_operator_lab.py [--repeat 5]
Timings are CPU time of this process (``time.process_time``; with one BLAS thread this is the wall
time on an idle core, and it is far less disturbed by other processes sharing the 2 cores than wall
time), best of ``--repeat`` runs after one warm-up. The last column repeats the full slider change
in wall-clock time, and the header gives the load average, so contention is visible.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from nnspec_core.exceptional import (  # noqa: E402
    ep_curves,
    ep_distance,
    family_map,
    kappa_rho_map,
    nearest_analytic_ep,
    snap_to_ep,
)
from nnspec_core.lab import lab_state, settings_from_preset  # noqa: E402
from nnspec_core.pseudospectra import pseudospectrum  # noqa: E402
from nnspec_core.quadratic import PRESETS, LabPreset, lab_operator, preset_problem  # noqa: E402
from nnspec_core.spectra import spectrum  # noqa: E402
from nnspec_core.transient import transient_growth  # noqa: E402

BUDGET_MS = 300.0


def _clock() -> float:
    """CPU seconds of this process (all code here is single-threaded with BLAS pinned to 1 thread)."""
    return time.process_time()


N_GRID = 80
STAGES = ("operator", "spectrum", "map", "pseudo", "transient", "ep")


def _momentum(p: LabPreset) -> float:
    return p.beta1 if p.optimizer == "adam" else p.momentum


def _op(p: LabPreset, problem, lr: float, beta: float):
    kw = {"beta1": beta} if p.optimizer == "adam" else {"momentum": beta}
    return lab_operator(problem, optimizer=p.optimizer, coords=p.coords, lr=lr, step=p.step, **kw)


def slider_change(p: LabPreset, *, with_map: bool = True) -> dict[str, float]:
    """Run the core calls of one slider change; return seconds per stage."""
    t = {}
    t0 = _clock()
    problem = preset_problem(p)
    op = _op(p, problem, p.lr, _momentum(p))
    t["operator"] = _clock() - t0

    t0 = _clock()
    spec = spectrum(op.J, blocks=op.blocks)
    t["spectrum"] = _clock() - t0

    t0 = _clock()
    if with_map:
        lr = np.geomspace(*p.lr_range, N_GRID)
        beta = np.linspace(*p.momentum_range, N_GRID)
        kappa_rho_map(p.optimizer, problem.H, lr=lr, momentum=beta, coords=p.coords,
                      preconditioner=problem.preconditioner, step=p.step)  # fmt: skip
        ep_curves(p.optimizer, op.modal_curvatures, ranges=(p.lr_range, p.momentum_range), step=p.step)
    t["map"] = _clock() - t0

    t0 = _clock()
    pseudospectrum(op.J if op.blocks is None else None, n_grid=N_GRID, blocks=op.blocks)
    t["pseudo"] = _clock() - t0

    t0 = _clock()
    transient_growth(op.J if op.blocks is None else None, p.k_max, blocks=op.blocks, kappa_V=spec.kappa_V)
    z = np.zeros(op.J.shape[0])
    z[: min(2, problem.n)] = p.theta0[: min(2, problem.n)]
    for _ in range(p.k_max):  # trajectory of the iterates
        z = op.J @ z
    t["transient"] = _clock() - t0

    t0 = _clock()
    ep_distance(op.J)
    nearest_analytic_ep(p.optimizer, op.modal_curvatures, lr=p.lr, momentum=_momentum(p), step=p.step)
    t["ep"] = _clock() - t0
    return t


def snap_seconds(p: LabPreset) -> float:
    """The "Snap to nearest EP" button: numerical search along eta on the real operator family."""
    problem = preset_problem(p)
    t0 = _clock()
    r = snap_to_ep(lambda lr, b: _op(p, problem, lr, b).J, (p.lr, _momentum(p)), bounds=(p.lr_range, (0.0, 0.999)),
                   axis=0)  # fmt: skip
    assert r.found
    return _clock() - t0


def reference_seconds() -> float:
    """Machine-speed reference: batched SVD of 6400 random 16 x 16 matrices (~0.09 s CPU here)."""
    A = np.random.default_rng(0).standard_normal((6400, 16, 16))
    t0 = _clock()
    np.linalg.svd(A, compute_uv=False)
    return _clock() - t0


def dense_map_seconds(p: LabPreset) -> float:
    """Baseline: the same 80 x 80 map by building every J and calling batched numpy eig."""
    problem = preset_problem(p)
    lr = np.geomspace(*p.lr_range, N_GRID)
    beta = np.linspace(*p.momentum_range, N_GRID)
    t0 = _clock()
    family_map(lambda e, b: _op(p, problem, e, b).J, lr, beta)
    return _clock() - t0


def lab_ms(p: LabPreset, repeat: int, *, include_map: bool) -> float:
    """CPU milliseconds of the page's single core call ``lab_state`` (best of ``repeat``, after a warm-up)."""
    s = settings_from_preset(p, n_map=N_GRID, n_grid=N_GRID)
    lab_state(s, include_map=include_map)
    best = float("inf")
    for _ in range(repeat):
        t0 = _clock()
        lab_state(s, include_map=include_map)
        best = min(best, _clock() - t0)
    return best * 1e3


def wall_ms(p: LabPreset, repeat: int) -> float:
    """Wall-clock milliseconds of a full slider change, best of ``repeat``."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        slider_change(p, with_map=True)
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def best_stages(p: LabPreset, repeat: int, *, with_map: bool) -> dict[str, float]:
    slider_change(p, with_map=with_map)  # warm-up
    runs = [slider_change(p, with_map=with_map) for _ in range(repeat)]
    return {s: min(r[s] for r in runs) * 1e3 for s in STAGES}


def size_cases() -> list[LabPreset]:
    """The default 2x2-8x8 quadratics: log-spaced spectrum kappa(H) = 100, rotated by pi/6."""
    base = {
        "heavy_ball": PRESETS["critical_damping"],
        "nesterov": PRESETS["nesterov_nilpotent"],
        "adam": PRESETS["adam_rotated"],
    }
    out = []
    for opt, p in base.items():
        for n in (2, 4, 8):
            out.append(replace(p, key=f"{opt}-n{n}", spectrum="log", n=n, kappa_H=100.0, lam_max=1.0, angle=np.pi / 6))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    cases = list(PRESETS.values()) + size_cases()
    head = f"{'case':<22}{'d':>4}" + "".join(f"{s:>10}" for s in STAGES)
    head += f"{'full ms':>10}{'/budget':>9}{'eta/beta':>10}{'/budget':>9}{'dense map':>11}{'speed-up':>10}"
    head += f"{'snap':>8}{'wall':>8}{'lab full':>10}{'lab eta/beta':>14}"
    ref = min(reference_seconds() for _ in range(3)) * 1e3  # CPU time
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"Operator Lab, per slider change (ms, best of {args.repeat}); budget {BUDGET_MS:.0f} ms; "
        f"grids {N_GRID}x{N_GRID}; machine reference {ref:.0f} ms (idle ~90 ms); load average {load:.2f}"
    )
    print(head)
    worst = worst_lab = worst_lab_q = 0.0
    for p in cases:
        full = best_stages(p, args.repeat, with_map=True)
        quick = best_stages(p, args.repeat, with_map=False)
        dense = min(dense_map_seconds(p) for _ in range(max(1, args.repeat // 2))) * 1e3
        snap = min(snap_seconds(p) for _ in range(args.repeat)) * 1e3
        wall = wall_ms(p, args.repeat)
        lab_full, lab_q = lab_ms(p, args.repeat, include_map=True), lab_ms(p, args.repeat, include_map=False)
        worst_lab, worst_lab_q = max(worst_lab, lab_full), max(worst_lab_q, lab_q)
        tot, tot_q = sum(full.values()), sum(quick.values())
        worst = max(worst, tot)
        d = 2 * preset_problem(p).n if p.optimizer != "gd" else preset_problem(p).n
        print(
            f"{p.key:<22}{d:>4}" + "".join(f"{full[s]:>10.1f}" for s in STAGES)
            + f"{tot:>10.1f}{tot / BUDGET_MS:>9.2f}{tot_q:>10.1f}{tot_q / BUDGET_MS:>9.2f}"
            + f"{dense:>11.1f}{dense / full['map']:>10.1f}{snap:>8.1f}{wall:>8.1f}{lab_full:>10.1f}{lab_q:>14.1f}"
        )  # fmt: skip
    print(f"worst full slider change: {worst:.1f} ms = {worst / BUDGET_MS:.2f} x budget")
    print(
        f"lab_state (CPU): worst full {worst_lab:.1f} ms = {worst_lab / BUDGET_MS:.2f} x budget; "
        f"worst eta/beta change (map cached) {worst_lab_q:.1f} ms = {worst_lab_q / BUDGET_MS:.2f} x budget"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
