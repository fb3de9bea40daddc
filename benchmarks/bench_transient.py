"""Speed of ``nnspec_core.transient.power_norms`` against the power loop ``P = P @ J; norm(P, 2)`` (issue 3).

Run from the repository root::

    python benchmarks/bench_transient.py            # single BLAS thread, then default threads
    python benchmarks/bench_transient.py --quick    # fewer loop steps timed (extrapolated)
    python benchmarks/bench_transient.py --full     # the whole 200-step loop (exact errors at every k)
    python benchmarks/bench_transient.py --sweep    # also nine synthetic Adam operators (nnspec time only)
    python benchmarks/bench_transient.py --trained  # also 54 trained Adam operators (nnspec time only, ~2 min)

Cases, all with the loop timed in the same process (ratio = loop time / nnspec time):

* ``trainer``  the Adam full (theta, m, v) operator of a width-64 MLP (257 parameters, n = 771) after 10
  steps of ``Trainer(TrainConfig(optimizer="adam", lr=0.01, coords="full", width=64))``; all k <= 200
  (target: < 1 s);
* ``sampled``  the live trainer's call ``power_norms(J, 50, k=[0, 1, 2, 3, 4, 6, 8, 10, 12, 17, 25, 35, 50])``
  on the same operator (issue 4);
* ``hard``     the synthetic Adam full operator of ``bench_pseudospectra.py`` (H = Q diag(logspace(-2, 1)) Q^T,
  lr = 1e-3, step 50): the top singular values of J^k are 0.3-2 % apart and swap order, so single-vector
  Lanczos needs ~40-50 steps per k;
* ``trained``  (``--trained``) the Adam full operators of width-64 MLPs (257 parameters, n = 771) trained on
  moons / spiral / circles with lr 1e-3, 1e-2, 1e-1 and tanh / relu, at steps 10, 100 and 300 (54 operators);
  nnspec time only;
* ``sweep``    (``--sweep``) nine more synthetic Adam full operators, n = 771: H = Q diag(lambda) Q^T with
  lambda = logspace(-2, 1), logspace(-3, 0) or uniform(0, 1), at (lr, step) = (1e-3, 50), (1e-2, 1),
  (1e-3, 1000); nnspec time and the number of k that needed the exact-SVD fallback (the loop is not rerun).

The loop is run for the first ``k_loop`` steps and extrapolated linearly to 200 (printed "extrap.") unless
``--full``; "max rel err" compares nnspec with the loop's norms at those k and with
``matrix_power`` + ``norm(., 2)`` at k = 100 and 200. Timings: wall and process CPU time; on a shared,
loaded machine compare CPU times (and the GEMM yardstick on the last line).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

CHILD_FLAG = "--child"
SAMPLED_K = [0, 1, 2, 3, 4, 6, 8, 10, 12, 17, 25, 35, 50]


def _clock(f, *a, repeat: int = 1, **k):
    """(out, best wall, best cpu) over ``repeat`` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = f(*a, **k)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return out, min(walls), min(cpus)


def _operators():
    import numpy as np

    from nnspec_core.operators import update_operator
    from nnspec_core.training import TrainConfig, Trainer

    tr = Trainer(TrainConfig(optimizer="adam", lr=0.01, coords="full", width=64, steps=15), analyse=False)
    while tr.t < 10:
        tr.step_once()
    J_trainer = tr.current_operator()[0].J
    rng = np.random.default_rng(0)
    n = 257
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    H = (Q * np.logspace(-2, 1, n)) @ Q.T
    g = rng.standard_normal(n) * 0.1
    state = {"grad": g, "exp_avg": 0.1 * g, "exp_avg_sq": g * g + 1e-4}
    J_hard = update_operator("adam", H, lr=1e-3, state=state, coords="full", step=50).J
    return {"trainer": J_trainer, "hard": J_hard}


def _trained() -> None:
    """nnspec time for all k <= 200 on the Adam full operators of 54 trained width-64 MLPs (n = 771)."""
    import numpy as np

    from nnspec_core.training import TrainConfig, Trainer
    from nnspec_core.transient import power_norms

    times = []
    for dataset in ("moons", "spiral", "circles"):
        for lr in (1e-3, 1e-2, 1e-1):
            for activation in ("tanh", "relu"):
                cfg = TrainConfig(optimizer="adam", lr=lr, coords="full", width=64, steps=300, dataset=dataset,
                                  activation=activation)
                trainer = Trainer(cfg, analyse=False)
                row = []
                for target in (10, 100, 300):
                    while trainer.t < target:
                        trainer.step_once()
                    _, wall, _ = _clock(power_norms, trainer.current_operator()[0].J, 200)
                    row.append(wall)
                times += row
                print(f"  trained  {dataset:<8s} lr {lr:<6g} {activation:<5s} steps 10/100/300: nnspec wall "
                      + " / ".join(f"{t:.2f}" for t in row) + " s", flush=True)
    print(f"  trained  median wall {np.median(times):.2f} s, max {max(times):.2f} s, "
          f"{sum(t < 1 for t in times)} of {len(times)} under 1 s", flush=True)


def _sweep() -> None:
    """nnspec time on nine synthetic Adam full operators (n = 771) and how many k fell back to an exact SVD."""
    import numpy as np

    import nnspec_core.transient as tr
    from nnspec_core.operators import update_operator

    fallbacks = []
    engine = tr._gk_sigma_max

    def counting(*a, **k):
        s, ok = engine(*a, **k)
        fallbacks.append(int(np.count_nonzero(~ok)))
        return s, ok

    tr._gk_sigma_max = counting
    rng = np.random.default_rng(0)
    n = 257
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    spectra = {
        "logspace(-2, 1)": np.logspace(-2, 1, n),
        "logspace(-3, 0)": np.logspace(-3, 0, n),
        "uniform(0, 1)": np.random.default_rng(1).uniform(0, 1, n),
    }
    times = []
    for label, lam in spectra.items():
        H = (Q * lam) @ Q.T
        g = rng.standard_normal(n) * 0.1
        state = {"grad": g, "exp_avg": 0.1 * g, "exp_avg_sq": g * g + 1e-4}
        for lr, step in ((1e-3, 50), (1e-2, 1), (1e-3, 1000)):
            J = update_operator("adam", H, lr=lr, state=state, coords="full", step=step).J
            fallbacks.clear()
            _, wall, cpu = _clock(tr.power_norms, J, 200)
            times.append(wall)
            print(
                f"  sweep    lambda {label:<16s} lr {lr:<6g} step {step:<5d}: nnspec wall {wall:5.2f} s "
                f"cpu {cpu:5.2f} s | exact-SVD fallbacks {sum(fallbacks)}",
                flush=True,
            )
    tr._gk_sigma_max = engine
    print(f"  sweep    median wall {np.median(times):.2f} s, max {max(times):.2f} s, "
          f"{sum(t < 1 for t in times)} of {len(times)} under 1 s", flush=True)


def _run_child(quick: bool, full: bool, sweep: bool = False, trained: bool = False) -> None:
    import numpy as np

    from nnspec_core.transient import power_norms

    K = 200
    k_loop = K if full else (10 if quick else 30)

    def loop(J, steps):
        P = np.eye(J.shape[0])
        out = [1.0]
        for _ in range(steps):
            P = P @ J
            out.append(np.linalg.norm(P, 2))
        return np.array(out)

    for name, J in _operators().items():
        power_norms(J, 2)  # warm-up (imports, BLAS buffers)
        norms, wall, cpu = _clock(power_norms, J, K, repeat=2)
        ref, t_loop, c_loop = _clock(loop, J, k_loop)
        t_loop, c_loop = t_loop * K / k_loop, c_loop * K / k_loop
        far = [100, 200]
        ref_far = np.array([np.linalg.norm(np.linalg.matrix_power(J, k), 2) for k in far])
        err = max(
            float(np.max(np.abs(norms[: k_loop + 1] - ref) / ref)),
            float(np.max(np.abs(norms[far] - ref_far) / ref_far)),
        )
        tag = "" if full else " (extrap.)"
        print(
            f"  {name:<8s} all k<={K}, n={J.shape[0]}: nnspec wall {wall:6.3f} s cpu {cpu:6.3f} s | power-loop wall "
            f"{t_loop:6.2f} s cpu {c_loop:6.2f} s{tag} | ratio wall x{t_loop / wall:5.1f} cpu x{c_loop / cpu:5.1f} "
            f"| max rel err {err:.1e}",
            flush=True,
        )
        if name == "trainer":
            vals, wall_s, cpu_s = _clock(power_norms, J, 50, k=SAMPLED_K, repeat=5)
            ref_s = norms[SAMPLED_K]
            err_s = float(np.max(np.abs(vals - ref_s) / ref_s))
            print(
                f"  {'sampled':<8s} power_norms(J, 50, k=<{len(SAMPLED_K)} steps>): wall {1e3 * wall_s:6.1f} ms "
                f"cpu {1e3 * cpu_s:6.1f} ms (best of 5) | max rel diff to the all-k run {err_s:.1e}",
                flush=True,
            )
    if trained:
        _trained()
    if sweep:
        _sweep()
    J = np.random.default_rng(1).standard_normal((771, 771))
    _, wall_g, cpu_g = _clock(lambda: [J @ J for _ in range(5)])
    print(
        f"  (yardstick: one 771x771 float64 GEMM = {1e3 * wall_g / 5:.1f} ms wall, {1e3 * cpu_g / 5:.1f} ms cpu; "
        f"load average {os.getloadavg()[0]:.1f})",
        flush=True,
    )


def main() -> int:
    quick, full, sweep, trained = (f in sys.argv for f in ("--quick", "--full", "--sweep", "--trained"))
    if CHILD_FLAG in sys.argv:
        _run_child(quick, full, sweep, trained)
        return 0
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for label, threads in (("single BLAS thread", "1"), ("default threads", None)):
        env = dict(os.environ)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            if threads is None:
                env.pop(var, None)
            else:
                env[var] = threads
        print(f"== {label} (ratios = power-loop time / nnspec time, same process) ==", flush=True)
        flags = [f for f in ("--quick", "--full", "--sweep", "--trained") if f in sys.argv]
        rc = subprocess.call([sys.executable, os.path.abspath(__file__), CHILD_FLAG, *flags], env=env)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
