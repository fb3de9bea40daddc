"""Transient growth: ||J^k||_2 for k = 0..K, its bounds, and ||e^{tA}||_2 in continuous time.

State convention: one step is ``z_next = J @ z``, so ``||J^k||_2`` is the worst-case amplification of a
perturbation after k steps (2-norm, k in steps). Bounds (Kreiss matrix theorem and eigen-decomposition):

    max(rho^k, K(J) at the peak)  <=  sup_k ||J^k||  <=  e n K(J),        ||J^k|| <= kappa(V) rho^k

Algorithm for dense ``J`` (exact to the stated tolerance, no k-fold SVDs): write k in base
``s = ceil((K+1)^(1/L))`` (L = 4 digits), form the ``~L (s - 1)`` powers ``J^(d s^i)`` once (level by level in
doubling rounds whose independent products run in two threads on two cores: identical values), then run
Golub-Kahan-Lanczos for ``sigma_max(J^k)`` for *all* k simultaneously, one column per k, each step being a
few GEMMs shared by the columns (each formed power acts on ~K/s columns at once). The Lanczos vectors are
stored as rows, so both ``P v`` and ``P^H u`` are ``rows @ P``-type GEMMs in the fast BLAS layout (column
vectors with ``P.T @ X`` were 2x slower for the adjoint). Each ``||J^k||`` is converged to
``|s - ||J^k||| <= tol * s`` (Lanczos residual bound or Kato-Temple with the second Ritz value); converged
columns leave the batch, and the rare column that does not converge gets an exact SVD. ``||J^0|| = 1``
without any work. Row norms, Ritz values and the convergence test are computed scaled, so the norms of a
diverging operator are exact up to ~1e308 (inf only where a formed power overflows). Requested steps
(``k=``, e.g. log-spaced) use repeated squaring instead (~log2 K formed powers).

From n = 256 the Lanczos phase (and, up to n = 1024, the forming of the powers) runs under one BLAS thread
(``threadpool_limits``, restored on exit): its GEMMs are narrow and many, and threaded BLAS on busy cores was
3-5x slower in wall time. From 64 k on, the columns are dealt alternately into two independent batches that
run in two Python threads on a machine with two cores (numpy's GEMMs release the GIL; the same two batches run
one after the other on one core, so the values never depend on the machine).

Cost at n = 771, 1 BLAS thread: ~11 GEMMs to form the powers plus 2 x ~2.9 matrix-vector products per k and
Lanczos step. Lanczos needs 3-9 steps when the top singular values of J^k are well separated (the Adam
"full" operator of a trained MLP: ~0.3 s for all k <= 200) and 40-90 steps when they are within 0.4-2 % of
each other (synthetic Adam operators with a random H, benchmarks/bench_transient.py: 1-2 s with two cores).
A column gets up to ``_MAX_STEPS`` = 400 steps before its exact-SVD fallback: with 60, 29 of 200 k fell back
on one such operator (7.8 s instead of 1.8 s). Long runs are safe without reorthogonalization: the top Ritz
value never exceeds ``||J^k||``, and orthogonality is lost only along converged Ritz vectors, whose residual
test then passes. Measured and not adopted: the real Schur factor (quasi-triangular formed powers, ~half the
flops per product) was 1.25x faster on one core but no faster with two batches on two cores, after its
0.2 s factorization; block Krylov (block 2-8) started from a neighbouring k's top singular vectors needs more
matrix-vector products than single-vector Lanczos; a single warm-start vector saves ~25 % but can lock onto
the second singular value where the top two swap order, so every k starts from the same random vector.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from numpy.typing import ArrayLike

from nnspec_core._validation import check_matrix, check_scalar
from nnspec_core.blocks import eig2x2, kappa2x2, sigma_max2x2
from nnspec_core.pseudospectra import (
    _DENSE_RITZ_BATCH,
    _converged,
    _kappa_unit,
    _resolve,
    _ritz_top_dense,
    _ritz_top_fast,
    _single_blas_thread,
    kreiss_constant,
)

__all__ = ["TransientResult", "power_norms", "transient_growth", "expm_norms"]

#: Below this n (or for tiny K) the powers are formed one by one and each is SVD'd.
DIRECT_MAX_N = 48
#: Digits of k (base ceil((K+1)^(1/L))) on the Lanczos path: more levels = fewer formed powers, wider GEMMs.
_LEVELS = 4
#: From this n on the batched Lanczos runs under one BLAS thread (threadpoolctl, restored on exit) ...
_SINGLE_THREAD_MIN_N = 256
#: ... and so does the forming of the powers below this n (larger GEMMs gain from BLAS threads).
_THREADED_POWERS_MIN_N = 1025
#: From this many k on, the batched Lanczos runs as two interleaved batches (two threads on two cores).
_SPLIT_MIN_COLS = 64
#: Lanczos steps before a k falls back to an exact SVD. Top singular values 0.4 % apart took 60-90 steps; a
#: straggler's step costs a few matrix-vector products, an SVD at n = 771 as much as ~100 of its steps.
_MAX_STEPS = 400
#: Relative accuracy of each ||J^k||_2 on the Lanczos path.
POWER_TOL = 1e-10


@dataclass(frozen=True)
class TransientResult:
    """Transient growth of ``z_{k+1} = J z_k``.

    Attributes
    ----------
    k : ndarray of shape (K + 1,), int
        Steps 0..K.
    norms : ndarray of shape (K + 1,), float64
        ``||J^k||_2``.
    upper : ndarray of shape (K + 1,), float64
        ``kappa(V) rho^k`` (``inf`` for a defective J).
    kreiss_lower : float
        Kreiss constant K(J) (lower bound on ``sup_k ||J^k||``).
    kreiss_upper_linear : float
        ``e n K(J)`` (upper bound on ``sup_k ||J^k||``; n = dimension).
    peak : float
        ``max_k ||J^k||`` over the computed k.
    peak_k : int
        Step where the peak occurs (first one).
    kappa_V : float
        Eigenvector condition number (unit columns, 2-norm).
    rho : float
        Spectral radius.
    """

    k: np.ndarray
    norms: np.ndarray
    upper: np.ndarray
    kreiss_lower: float
    kreiss_upper_linear: float
    peak: float
    peak_k: int
    kappa_V: float
    rho: float

    def __post_init__(self):
        if not (self.k.shape == self.norms.shape == self.upper.shape):
            raise ValueError(
                f"k, norms and upper must have equal shapes; got {self.k.shape}, {self.norms.shape}, "
                f"{self.upper.shape}."
            )


# ----------------------------------------------------------------------------------------------
# batched Lanczos for sigma_max of many products of formed powers
# ----------------------------------------------------------------------------------------------
def _apply(factors: list[tuple[np.ndarray, np.ndarray, np.ndarray]], X: np.ndarray, adjoint: bool) -> np.ndarray:
    """Row c of X (shape (m, n)) <- its row times the product of the factors listing c, as ``x^T P^T`` (forward)
    or ``x^T conj(P)`` (adjoint); the factors are powers of J, so they commute.

    Vectors are stored as rows: ``X[cols] @ P`` streams P once per call in the fast BLAS layout for both
    directions (``P.T @ X`` on column vectors is ~2x slower in OpenBLAS for narrow X).
    """
    Y = X.copy()
    for PT, PC, rows in factors:
        if rows.size:
            Y[rows] = Y[rows] @ (PC if adjoint else PT)
    return Y


def _row_norms(X: np.ndarray) -> np.ndarray:
    """2-norm of each row of X (m, n), without overflow of the squares for entries up to ~1e308 (``||J^k||``
    of a diverging operator): rows with large or tiny entries are scaled by their largest entry first."""
    big = np.abs(X).max(axis=1)
    out = np.linalg.norm(X, axis=1)
    risky = (big > 1e150) | ((big < 1e-150) & (big > 0))
    if np.any(risky & np.isfinite(big)):
        idx = np.flatnonzero(risky & np.isfinite(big))
        out[idx] = big[idx] * np.linalg.norm(X[idx] / big[idx, None], axis=1)
    return out


def _gk_sigma_max(
    factors: list[tuple[np.ndarray, np.ndarray]], n: int, m: int, dtype, tol: float, max_steps: int = _MAX_STEPS
) -> tuple[np.ndarray, np.ndarray]:
    """Top singular value of each column's operator by batched Golub-Kahan-Lanczos; returns (s, ok).

    Column c's operator is the product of the factors ``P`` whose index array lists c. The Lanczos vectors are
    the rows of ``(m, n)`` arrays; rows leave the batch as they converge.
    """
    s_out = np.zeros(m)
    ok = np.zeros(m, dtype=bool)
    todo = np.arange(m)
    rng = np.random.default_rng(0)
    v0 = rng.standard_normal(n)
    if np.dtype(dtype).kind == "c":
        v0 = v0 + 1j * rng.standard_normal(n)
    v = np.repeat((v0 / np.linalg.norm(v0))[None, :], m, axis=0)  # (m, n)
    # x^T P^T = (P x)^T and x^T conj(P) = (P^H x)^T: transposed views for a real P, one conj copy for a complex P
    ops = [(P.T, P.conj() if P.dtype.kind == "c" else P, c) for P, c in factors]
    active = ops
    u, alpha, beta = None, [], []
    # Ritz checks cost O(steps) vectorised work each: dense early on, then every 3rd step
    checks = set(range(2, 13)) | set(range(15, max_steps + 1, 3))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for step in range(1, max_steps + 1):
            p = _apply(active, v, adjoint=False)
            if u is not None:
                p -= beta[-1][:, None] * u
            a = _row_norms(p)
            u = p / np.where(a > 0, a, 1.0)[:, None]
            q = _apply(active, u, adjoint=True) - a[:, None] * v
            b = _row_norms(q)
            alpha.append(a)
            beta.append(b)
            if step in checks or step == max_steps:
                ritz = _ritz_top_dense if todo.size <= _DENSE_RITZ_BATCH else _ritz_top_fast
                s, x_last, s2 = ritz(alpha, beta)
                bad = ~(np.isfinite(s) & np.isfinite(b))
                conv = ~bad & (_converged(s, b * x_last, s2, tol) | (s == 0))
                done = bad | conv | (step == max_steps)
                if np.any(done):
                    idx = todo[done]
                    s_out[idx] = np.where(bad[done], np.inf, s[done])
                    ok[idx] = conv[done] | bad[done]
                    keep = ~done
                    todo = todo[keep]
                    if todo.size == 0:
                        break
                    pos = np.full(m, -1)
                    pos[todo] = np.arange(todo.size)
                    active = [(PT, PC, pos[c][pos[c] >= 0]) for PT, PC, c in ops]
                    alpha = [w[keep] for w in alpha]
                    beta = [w[keep] for w in beta]
                    q, b, u = q[keep], b[keep], u[keep]
            v = q / np.where(b > 0, b, 1.0)[:, None]
    return s_out, ok


def _power_norms_dense(A: np.ndarray, ks: np.ndarray, tol: float) -> np.ndarray:
    """||A^k||_2 for the integer array ks (sorted unique, >= 0).

    From ``n >= _SINGLE_THREAD_MIN_N`` the batched Lanczos runs under one BLAS thread (its GEMMs are narrow and
    many: with other work on the 2 cores, threaded BLAS was measured 3-5x slower in wall time; two batches in
    two Python threads use both cores instead, see :func:`_lanczos_norms`), and so does the forming of the
    powers up to ``n <= _THREADED_POWERS_MIN_N - 1`` (larger GEMMs gain from threads).
    """
    n = A.shape[0]
    if n <= DIRECT_MAX_N or int(ks.max()) <= 3:
        return _power_norms_direct(A, ks)
    single = n >= _SINGLE_THREAD_MIN_N
    with np.errstate(over="ignore", invalid="ignore"):
        with _single_blas_thread(single and n < _THREADED_POWERS_MIN_N):
            if ks.size == int(ks.max()) + 1 and _cores() >= 2:
                with ThreadPoolExecutor(2, thread_name_prefix="nnspec-powers") as pool:
                    factors = _formed_powers(A, ks, pool)
            else:
                factors = _formed_powers(A, ks)
            finite = all(np.all(np.isfinite(P)) for P, _ in factors)
            if finite and not (single and n >= _THREADED_POWERS_MIN_N):
                return _lanczos_norms(A, ks, factors, tol)
        if not finite:  # overflow of a formed power: fall back to one product per k (values inf where overflowed)
            return _power_norms_direct(A, ks)
        with _single_blas_thread(True):
            return _lanczos_norms(A, ks, factors, tol)


def _level_powers(base: np.ndarray, top: int, pool: ThreadPoolExecutor | None) -> list[np.ndarray]:
    """``[base^1, ..., base^top]`` by doubling rounds: round r forms ``base^j = base^h base^(j - h)`` for
    ``h < j <= 2h`` (h = 2^(r-1)), independent products that run in ``pool`` when one is given (numpy's GEMMs
    release the GIL). Same products, hence the same values, with or without the pool."""
    pw = [np.empty((0, 0)), base]  # pw[d] = base^d
    h = 1
    while h < top:
        js = range(h + 1, min(2 * h, top) + 1)
        left, right = [pw[h]] * len(js), [pw[j - h] for j in js]
        parallel = pool is not None and len(js) > 1
        pw += list(pool.map(np.matmul, left, right)) if parallel else map(np.matmul, left, right)
        h = min(2 * h, top)
    return pw[1:]


def _formed_powers(
    A: np.ndarray, ks: np.ndarray, pool: ThreadPoolExecutor | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Formed powers of A and, for each, the indices into ks of the k whose product uses it.

    All k (``ks = 0..K``): k in base ``s = ceil((K+1)^(1/L))`` with L digits, ~L (s - 1) formed powers, formed
    level by level with independent products in ``pool`` (:func:`_level_powers`). Requested k: repeated
    squaring ``A^(2^i)`` (a chain: nothing to run in parallel).
    """
    kmax = int(ks.max())
    factors: list[tuple[np.ndarray, np.ndarray]] = []
    if ks.size == kmax + 1:
        s = max(2, math.ceil((kmax + 1) ** (1.0 / _LEVELS) - 1e-9))
        base, rest = A, ks.copy()  # base = A^(s^i) at level i
        while np.any(rest):
            digit = rest % s
            rest = rest // s
            last = not np.any(rest)
            top = int(digit.max()) if last else s
            pw = _level_powers(base, top, pool)  # pw[d - 1] = A^(d s^i)
            for d in range(1, min(top, s - 1) + 1):
                cols = np.flatnonzero(digit == d)
                if cols.size:
                    factors.append((pw[d - 1], cols))
            if not last:
                base = pw[s - 1]  # A^(s^(i+1))
    else:
        P = A
        for i in range(kmax.bit_length()):
            if i > 0:
                P = P @ P
            factors.append((P, np.flatnonzero((ks >> i) & 1)))
    return factors


def _lanczos_norms(A: np.ndarray, ks: np.ndarray, factors: list, tol: float) -> np.ndarray:
    """Batched Lanczos over the formed powers; exact SVDs for the rare unconverged k; ||A^0|| = 1.

    From ``_SPLIT_MIN_COLS`` columns on, the k are dealt alternately into two independent batches (equal mixes
    of small and large k), run in two threads where two cores are available (numpy's GEMMs release the GIL)
    and one after the other otherwise: the same batches either way, so the values do not depend on the machine.
    """
    n, m = A.shape[0], ks.size
    if m < _SPLIT_MIN_COLS:
        s_k, ok = _gk_sigma_max(factors, n, m, A.dtype, tol)
    else:
        parts = [np.arange(i, m, 2) for i in range(2)]

        def run(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            pos = np.full(m, -1)
            pos[cols] = np.arange(cols.size)
            sub = [(P, pos[c][pos[c] >= 0]) for P, c in factors]
            return _gk_sigma_max(sub, n, cols.size, A.dtype, tol)

        if _cores() >= 2:
            with ThreadPoolExecutor(2, thread_name_prefix="nnspec-powers") as pool:
                results = list(pool.map(run, parts))
        else:
            results = [run(c) for c in parts]
        s_k, ok = np.empty(m), np.empty(m, dtype=bool)
        for cols, (s_part, ok_part) in zip(parts, results, strict=True):
            s_k[cols], ok[cols] = s_part, ok_part
    s_k[ks == 0] = 1.0  # ||J^0|| = ||I|| = 1: no SVD of the identity
    for i in np.flatnonzero(~ok & (ks > 0)):
        out_k = np.linalg.matrix_power(A, int(ks[i]))
        s_k[i] = sla.svdvals(out_k, check_finite=False)[0] if np.all(np.isfinite(out_k)) else np.inf
    return s_k


def _cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _power_norms_direct(A: np.ndarray, ks: np.ndarray) -> np.ndarray:
    out = np.empty(ks.size)
    P, k_cur = np.eye(A.shape[0], dtype=A.dtype), 0
    with np.errstate(over="ignore", invalid="ignore"):
        for i, k in enumerate(ks):
            P = P @ np.linalg.matrix_power(A, int(k) - k_cur)
            k_cur = int(k)
            out[i] = sla.svdvals(P, check_finite=False)[0] if np.all(np.isfinite(P)) else np.inf
    return out


def _power_norms_blocks(B: np.ndarray, ks: np.ndarray) -> np.ndarray:
    out = np.empty(ks.size)
    P = np.broadcast_to(np.eye(2, dtype=B.dtype), B.shape).copy()
    k_cur = 0
    with np.errstate(over="ignore", invalid="ignore"):
        for i, k in enumerate(ks):
            P = np.linalg.matrix_power(B, int(k) - k_cur) @ P if k > k_cur else P
            k_cur = int(k)
            c = np.abs(P).max(axis=(-1, -2))  # scale before squaring entries (no spurious overflow)
            c = np.where(c > 0, c, 1.0)
            s = c * sigma_max2x2(P / c[:, None, None])
            out[i] = np.inf if not np.all(np.isfinite(s)) else float(s.max())
    return out


def power_norms(
    J: ArrayLike | None,
    k_max: int,
    *,
    blocks: np.ndarray | None = None,
    k: ArrayLike | None = None,
    tol: float = POWER_TOL,
) -> np.ndarray:
    """``||J^k||_2`` for ``k = 0..k_max`` (or for the given steps ``k``).

    Parameters
    ----------
    J : array_like of shape (n, n), real or complex, or None with ``blocks``
    k_max : int
        Largest power (>= 0); ignored when ``k`` is given.
    blocks : ndarray of shape (n // 2, 2, 2), optional
        2x2 blocks orthogonally similar to J: ``||J^k|| = max_i ||B_i^k||`` in closed form.
    k : array_like of int, shape (m,), optional
        Arbitrary non-negative steps (e.g. log-spaced up to 10^6): evaluated by repeated squaring.
    tol : float
        Relative accuracy of each value on the dense Lanczos path: ``|value - ||J^k||_2| <= tol ||J^k||_2``
        (residual / Kato-Temple test; observed errors are 1e-13 .. 5e-11 for the default 1e-10). Small
        ``n <= 48`` or ``k_max <= 3`` use exact SVDs of the formed powers.

    Returns
    -------
    ndarray of shape (k_max + 1,) or (m,), float64
        ``inf`` where the power overflows.
    """
    A, B, _ = _resolve(J, blocks, None)
    check_scalar(tol, "tol", min_val=0.0, max_val=1e-3, include_min=False)
    if k is None:
        kk = np.arange(int(check_scalar(k_max, "k_max", min_val=0, max_val=10**6, integer=True)) + 1)
    else:
        kk = np.atleast_1d(np.asarray(k))
        if kk.dtype.kind not in "iu" and not (kk.dtype.kind == "f" and np.all(np.mod(kk, 1) == 0)):
            raise TypeError(f"k must be an array of non-negative integers; got dtype {kk.dtype}.")
        kk = kk.astype(np.int64).ravel()
        if kk.size == 0 or kk.min() < 0 or kk.max() > 10**12:
            raise ValueError("k must be a non-empty array of integers in [0, 1e12].")
    uniq, inv = np.unique(kk, return_inverse=True)
    if B is not None:
        vals = _power_norms_blocks(B, uniq)
    else:
        vals = _power_norms_dense(A, uniq, float(tol))
    return vals[inv]


def _kappa_rho(A: np.ndarray | None, B: np.ndarray | None) -> tuple[float, float]:
    if B is not None:
        return float(kappa2x2(B).max()), float(np.abs(eig2x2(B)).max())
    w, kappa = _kappa_unit(A)
    return kappa, float(np.abs(w).max())


def transient_growth(
    J: ArrayLike | None,
    k_max: int = 100,
    *,
    blocks: np.ndarray | None = None,
    kappa_V: float | None = None,
) -> TransientResult:
    """``||J^k||_2`` for ``k = 0..k_max`` with the eigenvector bound and the Kreiss bounds.

    Parameters
    ----------
    J : array_like of shape (n, n), or None with ``blocks``
    k_max : int
        Number of steps (>= 1).
    blocks : ndarray of shape (n // 2, 2, 2), optional
        Orthogonally similar 2x2 blocks (closed forms; kappa(V) = max over blocks).
    kappa_V : float, optional
        Precomputed kappa(V) (unit columns); computed with ``numpy.linalg.eig`` otherwise
        (``inf`` when numerically defective).

    Returns
    -------
    TransientResult
    """
    A, B, _ = _resolve(J, blocks, None)
    check_scalar(k_max, "k_max", min_val=1, max_val=10**6, integer=True)
    if kappa_V is not None:
        if isinstance(kappa_V, (bool, np.bool_)) or not isinstance(kappa_V, (int, float, np.integer, np.floating)):
            raise TypeError(f"kappa_V must be a real number; got {type(kappa_V).__name__}.")
        if not kappa_V >= 1:
            raise ValueError(f"kappa_V must be >= 1 (or inf); got {kappa_V!r}.")
    norms = power_norms(A, int(k_max), blocks=B)
    kappa, rho = _kappa_rho(A, B)
    if kappa_V is not None:
        kappa = float(kappa_V)
    k = np.arange(int(k_max) + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        upper = np.full(k.size, math.inf) if not math.isfinite(kappa) else kappa * rho ** k.astype(float)
    n = 2 * B.shape[0] if B is not None else A.shape[0]
    K = kreiss_constant(A, blocks=B).value
    i = int(np.argmax(norms))
    return TransientResult(
        k=k,
        norms=norms,
        upper=upper,
        kreiss_lower=float(K),
        kreiss_upper_linear=float(math.e * n * K),
        peak=float(norms[i]),
        peak_k=i,
        kappa_V=float(kappa),
        rho=rho,
    )


def expm_norms(A: ArrayLike, t: ArrayLike) -> np.ndarray:
    """``||exp(t A)||_2`` for each time ``t`` (continuous time, ``dz/dt = A z``).

    Parameters
    ----------
    A : array_like of shape (n, n), real or complex
    t : array_like of shape (m,)
        Times (any real values).

    Returns
    -------
    ndarray of shape (m,), float64 (``inf`` on overflow)
    """
    M = check_matrix(A, "A")
    tt = np.atleast_1d(np.asarray(t))
    if tt.dtype == object or tt.dtype.kind not in "iuf":
        raise TypeError(f"t must be a real numeric array; got dtype {tt.dtype}.")
    tt = tt.astype(float).ravel()
    if not np.all(np.isfinite(tt)):
        raise ValueError("t must contain only finite numbers.")
    T, Z = sla.schur(M, output="complex")  # ||e^{tA}|| = ||e^{tT}||, and expm of triangular T is cheaper/stabler
    out = np.empty(tt.size)
    with np.errstate(over="ignore", invalid="ignore"):
        for i, ti in enumerate(tt):
            E = sla.expm(ti * T)
            out[i] = sla.svdvals(E, check_finite=False)[0] if np.all(np.isfinite(E)) else np.inf
    return out
