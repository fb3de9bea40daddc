"""epsilon-pseudospectra: sigma_min(zI - J) on grids, eps levels, axes, rho_eps, alpha_eps, Kreiss, field of values.

Conventions: ``sigma_min`` is the smallest singular value in the 2-norm; ``eps`` is absolute (not
relative to ``||J||``); ``Lambda_eps(J) = {z : sigma_min(zI - J) <= eps}``. Grids are returned with
shape ``(len(im), len(re))`` (rows follow the imaginary axis), ready for a contour plot.

Paths (``method``):

``"schur-lanczos"``  complex Schur ``J = Z T Z^H`` once (cacheable :class:`SchurForm`), then
    Golub-Kahan-Lanczos on ``(T - zI)^{-1}`` for *all* grid points at once: the triangular solves are
    blocked back-substitutions whose off-diagonal updates are matrix-matrix products shared by every
    shift (only the diagonal differs per shift). Converged points drop out; each point is converged to
    ``|sigma - sigma_true| <= tol * sigma`` (Lanczos residual bound).
``"svd"``            batched dense SVD of ``zI - J`` (exact; fastest for tiny ``n``).
``"blocks"``         ``J`` orthogonally similar to a direct sum of 2x2 blocks: ``min_i sigma_min(zI - B_i)``
    in closed form.
``"krylov"``         pseudospectra of the rectangular Arnoldi Hessenberg matrix (large ``J``). An
    *approximation*: it over-estimates ``sigma_min`` (``Lambda_eps(H) subset Lambda_eps(J)``).

For real ``J`` (or real blocks) only the upper half plane is computed and mirrored.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from numpy.typing import ArrayLike

from nnspec_core._validation import check_choice, check_matrix, check_scalar
from nnspec_core.blocks import eig2x2, sigma_max2x2

__all__ = [
    "SchurForm",
    "PseudospectrumResult",
    "KreissResult",
    "FieldOfValues",
    "schur_form",
    "sigma_min_grid",
    "sigma_min_points",
    "pseudospectrum",
    "auto_axes",
    "eps_levels",
    "pseudospectral_radius",
    "pseudospectral_abscissa",
    "kreiss_constant",
    "field_of_values",
    "METHODS",
]

METHODS = ("auto", "svd", "schur-lanczos", "blocks", "krylov")
#: Largest n for which ``method="auto"`` picks the batched dense SVD (measured crossover).
SVD_MAX_N = 12
#: Default relative tolerance of the Lanczos path on sigma_min.
LANCZOS_TOL = 1e-8
_KRYLOV_DIM = 100
#: Batches (columns) at most this large get their Ritz values from a dense eigh (less Python work per check).
_DENSE_RITZ_BATCH = 16


# ----------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SchurForm:
    """Complex Schur form ``J = Z @ T @ Z^H`` (compute once, reuse across zoom and eps changes).

    Attributes
    ----------
    T : ndarray of shape (n, n), complex128
        Upper triangular; ``diag(T)`` are the eigenvalues of J.
    Z : ndarray of shape (n, n), complex128
        Unitary.
    is_real : bool
        ``J`` was real, so ``sigma_min(conj(z) I - J) = sigma_min(zI - J)`` (grids are mirrored).
    norm : float
        ``||J||_2``.
    T_real : ndarray of shape (n, n), float64, or None
        For real ``J``: the real Schur factor (upper quasi-triangular, 2 x 2 diagonal blocks for complex
        pairs; ``J = Q T_real Q^T`` with Q real orthogonal), so ``sigma_min(zI - J) = sigma_min(zI - T_real)``.
        The Lanczos engine solves with it in real GEMMs (half the flops of the complex ``T``). None for
        complex ``J``.
    """

    T: np.ndarray
    Z: np.ndarray
    is_real: bool
    norm: float
    T_real: np.ndarray | None = None

    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues ``diag(T)``, shape (n,) complex128, sorted by decreasing modulus."""
        d = np.diag(self.T)
        return d[np.argsort(-np.abs(d), kind="stable")]


@dataclass(frozen=True)
class PseudospectrumResult:
    """``sigma_min(zI - J)`` on a grid.

    Attributes
    ----------
    re : ndarray of shape (nx,)
    im : ndarray of shape (ny,)
    sigma_min : ndarray of shape (ny, nx)
        ``sigma_min((re[j] + 1j*im[i]) I - J)`` in the 2-norm at ``[i, j]``.
    eigenvalues : ndarray of shape (d,), complex128
        Sorted by decreasing modulus (for ``"krylov"``: the Ritz values).
    method : str
        ``"svd"``, ``"schur-lanczos"``, ``"blocks"`` or ``"krylov"``.
    approximate : bool
        True for the Krylov projection (label the plot as an approximation).
    norm : float
        ``||J||_2``.
    """

    re: np.ndarray
    im: np.ndarray
    sigma_min: np.ndarray
    eigenvalues: np.ndarray
    method: str
    approximate: bool
    norm: float

    def __post_init__(self):
        if self.sigma_min.shape != (self.im.size, self.re.size):
            raise ValueError(
                f"sigma_min must have shape (len(im), len(re)) = {(self.im.size, self.re.size)}; "
                f"got {self.sigma_min.shape}."
            )


@dataclass(frozen=True)
class KreissResult:
    """Kreiss constant ``K(J) = sup_{|z|>1} (|z| - 1) / sigma_min(zI - J)`` (or its continuous analogue).

    Attributes
    ----------
    value : float
        The supremum found (``inf`` when ``rho(J) > 1``, resp. spectral abscissa > 0). It is a
        grid maximum refined by local optimisation, hence never above the true value.
    z : complex
        Maximiser (``inf`` when the supremum 1 is attained only as ``|z| -> inf``).
    lower_bound_only : bool
        True when the maximiser lies on the edge of the searched region (``|z| - 1``, resp.
        ``Re z``, at its smallest sampled value), so the true supremum may be larger.
    """

    value: float
    z: complex
    lower_bound_only: bool


@dataclass(frozen=True)
class FieldOfValues:
    """Field of values (numerical range) ``W(J) = {x^H J x : ||x|| = 1}``.

    Attributes
    ----------
    boundary : ndarray of shape (n_angles,), complex128
        Boundary points ``x_theta^H J x_theta`` where ``x_theta`` is the top eigenvector of the
        Hermitian part of ``exp(-i theta) J``, theta equally spaced in ``[0, 2 pi)``.
    numerical_radius : float
        ``max_{z in W(J)} |z|`` (refined beyond the sampled angles).
    numerical_abscissa : float
        ``max Re W(J) = lambda_max((J + J^H) / 2)``.
    """

    boundary: np.ndarray
    numerical_radius: float
    numerical_abscissa: float


# ----------------------------------------------------------------------------------------------
# input helpers
# ----------------------------------------------------------------------------------------------
def _check_blocks(blocks: ArrayLike) -> np.ndarray:
    B = np.asarray(blocks)
    if B.dtype == object or B.dtype.kind not in "biufc" or B.dtype.kind == "b":
        raise TypeError(f"blocks must be a numeric array of shape (n, 2, 2); got dtype {B.dtype}.")
    if B.ndim != 3 or B.shape[1:] != (2, 2) or B.shape[0] < 1:
        raise ValueError(f"blocks must have shape (n, 2, 2) with n >= 1; got shape {B.shape}.")
    B = B.astype(np.complex128 if np.iscomplexobj(B) else np.float64)
    if not np.all(np.isfinite(B)):
        raise ValueError("blocks must contain only finite numbers; got NaN/inf entries.")
    return B


def _check_axis(x: ArrayLike, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == object or a.dtype.kind not in "biuf" or a.dtype.kind == "b":
        raise TypeError(f"{name} must be a real numeric 1-D array; got dtype {a.dtype}.")
    a = np.atleast_1d(a.astype(np.float64))
    if a.ndim != 1 or a.size < 1:
        raise ValueError(f"{name} must be a non-empty 1-D array; got shape {np.shape(x)}.")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must contain only finite numbers.")
    return a


def _resolve(J, blocks, schur, name="J"):
    """Validate (J, blocks, schur) once; return (J array or None, blocks or None, schur or None)."""
    B = _check_blocks(blocks) if blocks is not None else None
    if J is None:
        if B is None and schur is None:
            raise ValueError(f"{name} must be given unless blocks or schur is.")
        A = None
    else:
        A = check_matrix(J, name)
        if B is not None and A.shape[0] != 2 * B.shape[0]:
            raise ValueError(f"blocks must have shape ({A.shape[0] // 2}, 2, 2) to match {name}; got {B.shape}.")
    if schur is not None:
        if not isinstance(schur, SchurForm):
            raise TypeError(f"schur must be a SchurForm from schur_form(J); got {type(schur).__name__}.")
        if A is not None and schur.T.shape != A.shape:
            raise ValueError(f"schur must be the Schur form of {name} (shape {A.shape}); got {schur.T.shape}.")
    return A, B, schur


# ----------------------------------------------------------------------------------------------
# Schur form and the batched Lanczos engine
# ----------------------------------------------------------------------------------------------
def schur_form(J: ArrayLike) -> SchurForm:
    """Complex Schur form of ``J`` (shape (n, n)), to pass as ``schur=`` to the grid functions.

    Raises
    ------
    TypeError, ValueError
        For non-numeric, non-square or non-finite ``J``.
    """
    A = check_matrix(J, "J")
    return _schur(A)


def _schur(A: np.ndarray) -> SchurForm:
    T_real = None
    if np.iscomplexobj(A):
        T, Z = sla.schur(A, output="complex")
    else:  # real Schur form then its complex triangularisation: about twice as fast as complex QR
        T_real, Q = sla.schur(A, output="real")
        T_real = np.triu(T_real, -1)  # exact zeros below the 2 x 2 blocks
        T, Z = sla.rsf2csf(T_real, Q, check_finite=False)
    T = np.triu(T)
    norm = float(sla.svdvals(A)[0])
    return SchurForm(T=T, Z=Z, is_real=T_real is not None, norm=norm, T_real=T_real)


def _col_norms(X: np.ndarray) -> np.ndarray:
    """2-norms of the columns of a complex (n, m) array (no complex temporaries)."""
    Xf = X.view(np.float64)  # (n, 2m): real and imaginary parts interleaved
    s = np.einsum("ij,ij->j", Xf, Xf)
    return np.sqrt(s[0::2] + s[1::2])


def _scale_cols(X: np.ndarray, s: np.ndarray) -> None:
    """``X[:, j] *= s[j]`` in place for complex X (n, m), real s (m,): a real product on the float64 view
    (half the work of numpy's complex-by-real broadcast)."""
    Xf = X.view(np.float64)
    Xf *= np.repeat(s, 2)[None, :]


class _ShiftedTriangular:
    """Solves with ``M_j = T - z_j I`` and ``M_j^H`` for many shifts at once (columns of X).

    T (n, n) is shared by all shifts: complex upper triangular (complex Schur form), or real upper
    quasi-triangular (real Schur form of a real J: 1 x 1 and 2 x 2 diagonal blocks). Blocked back- and
    forward substitution by recursive halving, unrolled once into a flat plan: the off-diagonal updates are
    GEMMs with a large inner dimension shared by every shift (real T: real GEMMs on the float64 view of X, half
    the flops of the complex form); only the leaves -- one row, two rows, or one 2 x 2 bump (never split) --
    are solved with per-shift coefficients precomputed once, in at most five whole-row operations:

    * two rows of a triangle: ``[[d1, t], [0, d2]] - zI`` has the inverse ``[[i1, -t i1 i2], [0, i2]]``
      (``i = 1 / (d - z)``): scale both rows, then one update with ``t i1`` (forward: ``conj(t i2)``);
    * a 2 x 2 bump ``[[a, b], [c, d]] - zI``: its explicit inverse ``[[d - z, -b], [-c, a - z]] / det``
      (backward error of order eps |block|).
    """

    def __init__(self, T: np.ndarray, z: np.ndarray):
        n = T.shape[0]
        self.T = T
        self.TH = np.ascontiguousarray(T.conj().T)  # M^H = T^H - conj(z) I: lower (quasi-)triangular
        self.sub = np.zeros(max(n, 1), dtype=bool)  # sub[k]: rows k, k + 1 form a 2 x 2 bump
        if n > 1 and not np.iscomplexobj(T):
            self.sub[: n - 1] = np.diag(T, -1) != 0
        self._leaves: list[tuple[int, int]] = []
        self.back_plan = self._plan(0, n, upper=True)
        self.forward_plan = self._plan(0, n, upper=False)
        d = np.diag(T)
        top = np.flatnonzero(self.sub)
        pairs = np.array([lo for lo, hi in self._leaves if hi - lo == 2 and not self.sub[lo]], dtype=int)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            inv_d = 1.0 / (d[:, None] - z[None, :])  # (n, m); inf at an exact eigenvalue
            cb = np.zeros((n, z.size), dtype=complex)  # per-shift leaf couplings, back solve
            cf = np.zeros((n, z.size), dtype=complex)  # ... forward (adjoint) solve
            if pairs.size:
                t = T[pairs, pairs + 1][:, None]
                cb[pairs] = t * inv_d[pairs]
                cf[pairs + 1] = np.conj(t * inv_d[pairs + 1])
            if top.size:
                a, b = T[top, top][:, None], T[top, top + 1][:, None]
                c, dd = T[top + 1, top][:, None], T[top + 1, top + 1][:, None]
                inv_det = 1.0 / ((a - z) * (dd - z) - b * c)
                inv_d[top] = (dd - z) * inv_det
                inv_d[top + 1] = (a - z) * inv_det
                cb[top] = -b * inv_det  # (M^-1)[k, k + 1]
                cb[top + 1] = -c * inv_det  # (M^-1)[k + 1, k]
                cf[top] = np.conj(cb[top + 1])  # (M^-H)[k, k + 1]
                cf[top + 1] = np.conj(cb[top])  # (M^-H)[k + 1, k]
        self.inv_d, self.inv_dH, self.cb, self.cf = inv_d, np.conj(inv_d), cb, cf
        self.bump = {int(k): j for j, k in enumerate(top)}

    def take(self, keep: np.ndarray) -> None:
        """Keep the shifts ``keep`` (boolean (m,)); the coefficient rows stay C-contiguous."""
        idx = np.flatnonzero(keep)
        self.inv_d, self.inv_dH = np.take(self.inv_d, idx, axis=1), np.take(self.inv_dH, idx, axis=1)
        self.cb, self.cf = np.take(self.cb, idx, axis=1), np.take(self.cf, idx, axis=1)

    def solve(self, X: np.ndarray) -> np.ndarray:
        """``(T - z_j I)^{-1} X[:, j]`` (X is not modified)."""
        X = np.array(X, dtype=complex, order="C")
        self._run(X, self.back_plan, self.inv_d, self.cb, upper=True)
        return X

    def solve_h(self, X: np.ndarray) -> np.ndarray:
        """``(T - z_j I)^{-H} X[:, j]`` in place (X, complex and C-contiguous, is overwritten and returned)."""
        self._run(X, self.forward_plan, self.inv_dH, self.cf, upper=False)
        return X

    def _split(self, lo: int, hi: int) -> int:
        """Split point of rows lo:hi (0 for a leaf: one row, two rows or one bump), never inside a 2 x 2 bump."""
        if hi - lo <= 2:  # a bump never straddles the ends of a range, so two rows are two singles or one bump
            return 0
        mid = (lo + hi) // 2
        return mid + 1 if self.sub[mid - 1] else mid

    def _plan(self, lo: int, hi: int, upper: bool) -> list:
        """Flat list of steps: ``(lo, hi, None, None)`` solves the leaf rows lo:hi, ``(rows, src, A, real)`` is
        the GEMM update ``X[rows] -= A @ X[src]``; back substitution (upper) or forward (lower, on T^H)."""
        if hi <= lo:
            return []
        mid = self._split(lo, hi)
        if not mid:
            if upper:
                self._leaves.append((lo, hi))
            return [(lo, hi, None, None)]
        rows, src = (slice(lo, mid), slice(mid, hi)) if upper else (slice(mid, hi), slice(lo, mid))
        A = np.ascontiguousarray((self.T if upper else self.TH)[rows, src])
        gemm = (rows, src, A, not np.iscomplexobj(A))
        if upper:
            return [*self._plan(mid, hi, True), gemm, *self._plan(lo, mid, True)]
        return [*self._plan(lo, mid, False), gemm, *self._plan(mid, hi, False)]

    def _run(self, X: np.ndarray, plan: list, inv: np.ndarray, cpl: np.ndarray, upper: bool) -> None:
        Xf = X.view(np.float64)  # (n, 2m): real and imaginary parts interleaved, for real GEMMs
        sub = self.sub
        for a, b, A, real in plan:
            if A is not None:  # X[a] -= A X[b]; numpy's matmul releases the GIL (scipy's BLAS wrappers hold it)
                Y = Xf if real else X
                Y[a] -= A @ Y[b]
                continue
            if b - a == 1:
                X[a] *= inv[a]
            elif sub[a]:  # bump: x = [[p, q], [s, u]] r, the off-diagonal coefficients in cpl
                t1 = cpl[a] * X[a + 1]
                t2 = cpl[a + 1] * X[a]
                X[a:b] *= inv[a:b]
                X[a] += t1
                X[a + 1] += t2
            elif upper:
                X[a:b] *= inv[a:b]
                X[a] -= cpl[a] * X[a + 1]
            else:
                X[a:b] *= inv[a:b]
                X[a + 1] -= cpl[a + 1] * X[a]


def _ritz_top_dense(alpha: list[np.ndarray], beta: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top two singular values ``s1 >= s2`` of the Lanczos bidiagonal ``B_k`` and ``|x_k|`` (last entry of the
    top left singular vector), per column: returns ``(s1, |x_k|, s2)``, by a batched dense ``eigh`` of the
    tridiagonal ``B_k B_k^T`` (diagonal ``a_i^2 + b_i^2``, ``a_k^2``; off-diagonal ``a_{i+1} b_i``); cheapest
    for a few columns. ``alpha``, ``beta``: one (m,) array per Lanczos step."""
    k = len(alpha)
    a = np.stack(alpha, axis=1)  # (m, k)
    m = a.shape[0]
    if k == 1:
        return a[:, 0].copy(), np.ones(m), np.zeros(m)
    b = np.stack(beta[: k - 1], axis=1)
    unit = _bidiag_scale(a, b, axis=1)
    a, b = a / unit[:, None], b / unit[:, None]
    d = a * a
    d[:, :-1] += b * b
    e = a[:, 1:] * b
    G = np.zeros((m, k, k))
    idx = np.arange(k)
    G[:, idx, idx] = d
    G[:, idx[1:], idx[:-1]] = e
    G[:, idx[:-1], idx[1:]] = e
    w, X = np.linalg.eigh(G)
    s1, s2 = np.sqrt(np.maximum(w[:, -1], 0.0)), np.sqrt(np.maximum(w[:, -2], 0.0))
    return unit * s1, np.abs(X[:, -1, -1]), unit * s2


def _bidiag_scale(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
    """Per-column scale ``max(|a|, |b|)`` of a Lanczos bidiagonal (1 where it is 0 or not finite).

    The Ritz routines square the entries: dividing by it first keeps ``||J^k||`` up to ~1e308 finite (the
    squares overflowed from ~1e154) and the smallest ones out of the subnormal range."""
    c = np.abs(a).max(axis=axis)
    if b.size:
        c = np.maximum(c, np.abs(b).max(axis=axis))
    return np.where((c > 0) & np.isfinite(c), c, 1.0)


#: Lanczos steps after which the dense engine tests convergence (a test costs about 1/3 of a step).
_CHECK_STEPS = frozenset({1, 2, 3, 5, 7, 10, 13, 17, 22, 28, 35, 43, 52, 62, 80})  # measured best of 3 schedules

_GAP_PROBES = np.array([0.9, 0.75, 0.5, 0.25, 0.1, 0.05, 0.025, 0.01, 1e-3, 1e-4])


def _ritz_top_fast(alpha: list[np.ndarray], beta: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As :func:`_ritz_top_dense` (``(s1, |x_k|, s2)`` per column), in O(k) vector operations for every k.

    ``s1^2 = lambda_max(B_k B_k^T)`` by Laguerre's iteration on the LDL^T pivots of ``B_k B_k^T - x I`` (all
    roots are real, so from the Gershgorin bound it descends monotonically and converges cubically); ``|x_k|``
    by two steps of inverse iteration (Thomas algorithm). ``s2`` is an *upper bound* on the second Ritz value
    (``lambda_2 < s1^2 (1 - c)`` for the largest probe ``c`` in ``_GAP_PROBES`` where a Sturm count finds only
    one eigenvalue above), so the Kato-Temple gap ``s1 - s2`` is never over-estimated. The recurrences run over
    the rows of ``(k, m)`` arrays (one contiguous row per Lanczos step).
    """
    k = len(alpha)
    a = np.stack(alpha)  # (k, m)
    m = a.shape[1]
    if k == 1:
        return a[0].copy(), np.ones(m), np.zeros(m)
    b = np.stack(beta[: k - 1])
    unit = _bidiag_scale(a, b, axis=0)
    a, b = a / unit, b / unit
    d = a * a
    d[:-1] += b * b
    e = a[1:] * b  # (k - 1, m)
    ae = np.abs(e)
    g = d.copy()
    g[:-1] += ae
    g[1:] += ae
    scale = g.max(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    d /= scale  # eigenvalues of the scaled matrix lie in [0, 1]
    e /= scale
    e2 = e * e
    x = np.full(m, 1.0 + 1e-12)
    act = np.arange(m)
    dd, ee = d, e2
    with np.errstate(all="ignore"):
        for _ in range(60):
            xx = x[act]
            q = dd[0] - xx
            ok = q < 0  # all pivots negative <=> x > lambda_max
            t = -1.0 / q  # q_i' / q_i
            w = np.zeros(act.size)  # q_i'' / q_i
            G, H = t.copy(), t * t  # sum 1/(x - lambda_j), sum 1/(x - lambda_j)^2
            for i in range(1, k):
                rho = ee[i - 1] / q
                q = dd[i] - xx - rho
                ok &= q < 0
                w = rho * (w - 2.0 * t * t) / q
                t = (rho * t - 1.0) / q
                G += t
                H += t * t - w
            step = k / (G + np.sqrt(np.maximum((k - 1) * (k * H - G * G), 0.0)))
            # a point whose pivots are not all negative is within rounding of lambda_max: it stays there
            move = ok & (step > 2e-16 * xx) & np.isfinite(step)
            x[act[move]] = xx[move] - step[move]
            if not move.all():
                act = act[move]
                if act.size == 0:
                    break
                dd, ee = d[:, act], e2[:, act]
        lam1 = np.clip(x, 0.0, 1.0)
        # Sturm counts at probes lam1 (1 - c): one eigenvalue above means lambda_2 < lam1 (1 - c)
        probes = (1.0 - _GAP_PROBES)[:, None] * lam1[None, :]  # (p, m)
        tiny = np.finfo(float).tiny
        q = d[0] - probes
        count = (q >= 0).astype(np.int64)
        for i in range(1, k):
            q = np.where(np.abs(q) < tiny, -tiny, q)
            q = d[i] - probes - e2[i - 1] / q
            count += q >= 0
        sep = count <= 1  # (p, m), True for probes below which only lambda_1 lies
        c = np.where(sep, _GAP_PROBES[:, None], 0.0).max(axis=0)
        lam2 = lam1 * (1.0 - c)
        # inverse iteration with (T - shift I), shift slightly above lambda_max: negative definite, stable
        shift = lam1 * (1 + 8 * np.finfo(float).eps) + tiny
        y = np.ones((k, m))
        cc = np.empty((k - 1, m))
        gg = np.empty((k, m))
        for _ in range(2):
            piv = d[0] - shift
            piv = np.where(np.abs(piv) < tiny, -tiny, piv)
            cc[0] = e[0] / piv
            gg[0] = y[0] / piv
            for i in range(1, k):
                piv = d[i] - shift - e[i - 1] * cc[i - 1]
                piv = np.where(np.abs(piv) < tiny, -tiny, piv)
                if i < k - 1:
                    cc[i] = e[i] / piv
                gg[i] = (y[i] - e[i - 1] * gg[i - 1]) / piv
            y[-1] = gg[-1]
            for i in range(k - 2, -1, -1):
                y[i] = gg[i] - cc[i] * y[i + 1]
            y /= np.maximum(np.sqrt(np.einsum("ij,ij->j", y, y)), tiny)[None, :]
    return unit * np.sqrt(lam1 * scale), np.abs(y[-1]), unit * np.sqrt(lam2 * scale)


def _converged(s: np.ndarray, res: np.ndarray, s2: np.ndarray, tol: float) -> np.ndarray:
    """Convergence of the top Ritz value s (residual res, next Ritz value s2) to relative accuracy tol.

    Either the rigorous residual bound ``res <= tol s`` or, once the top Ritz value is separated from the
    next one by more than twice the residual, the quadratic (Kato-Temple) estimate
    ``res^2 / (s - s2) <= tol s`` (with ``res <= 1e-3 s`` as a safeguard against an unresolved cluster).
    """
    pos = s > 0
    safe = np.where(pos, s, 1.0)
    r, g = res / safe, (s - s2) / safe  # relative: res * res and s * gap overflowed from ~1e154
    quad = pos & (r <= 0.5 * g) & (r <= 1e-3) & (r * r <= tol * g)
    return (res <= tol * s) | quad


def _gk_chunk(T: np.ndarray, z: np.ndarray, tol: float, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Batched Golub-Kahan-Lanczos on ``C_j = (T - z_j I)^{-1}`` (short recurrences), one column per shift.

    Returns ``(sigma, ok)``: ``sigma[j] = 1 / s_j`` with ``s_j`` the top Ritz singular value of ``C_j``, and
    ``ok[j]`` whether the residual bound ``beta_k |x_k| <= tol * s_j`` (so ``|s_j - sigma_max(C_j)| <= tol s_j``)
    or its Kato-Temple refinement was met within ``max_steps``. Finished columns are recorded at once and leave
    the batch when they are at least 1/8 of it (fewer copies), so the GEMM-based solves run on active ones.
    """
    n, m = T.shape[0], z.size
    sigma = np.zeros(m)
    ok = np.zeros(m, dtype=bool)
    todo = np.arange(m)
    live = np.ones(m, dtype=bool)  # per batch column: not yet recorded
    op = _ShiftedTriangular(T, z)
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    v = np.repeat((w0 / np.linalg.norm(w0))[:, None], m, axis=1)
    u, alpha, beta = None, [], []
    checks = _CHECK_STEPS
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for step in range(1, max_steps + 1):
            p = op.solve(v)
            if u is not None:
                _scale_cols(u, beta[-1])
                p -= u
            a = _col_norms(p)
            _scale_cols(p, 1.0 / np.where(a > 0, a, 1.0))
            u = p
            q = op.solve_h(p.copy())
            _scale_cols(v, a)
            q -= v
            b = _col_norms(q)
            alpha.append(a)
            beta.append(b)
            if step in checks or step == max_steps:
                ritz = _ritz_top_dense if b.size <= _DENSE_RITZ_BATCH else _ritz_top_fast
                s, x_last, s2 = ritz(alpha, beta)
                bad = ~(np.isfinite(s) & np.isfinite(b) & (s > 0))
                conv = ~bad & _converged(s, b * x_last, s2, tol)
                done = live & (bad | conv | (step == max_steps))
                if np.any(done):
                    idx = todo[done]
                    sigma[idx] = np.where(bad[done], 0.0, 1.0 / np.where(bad[done], 1.0, s[done]))
                    ok[idx] = conv[done] | bad[done]
                    live &= ~done
                    if not live.any():
                        break
                    if 8 * (live.size - live.sum()) >= live.size:  # compact: drop recorded columns
                        keep = live
                        todo, live = todo[keep], live[keep]
                        op.take(keep)
                        alpha = [w[keep] for w in alpha]
                        beta = [w[keep] for w in beta]
                        cols = np.flatnonzero(keep)  # np.take keeps the rows C-contiguous (X[:, mask] would not)
                        q, b, u = np.take(q, cols, axis=1), b[keep], np.take(u, cols, axis=1)
            _scale_cols(q, 1.0 / np.where(b > 0, b, 1.0))
            v = q
    return sigma, ok


#: Batches of at least this many (shifts x n) run the dense Lanczos engine with one BLAS thread (see below).
_SINGLE_THREAD_WORK = 1 << 14


def _sigma_min_schur(schur: SchurForm, z: np.ndarray, tol: float) -> np.ndarray:
    """sigma_min(z I - T) for flat shifts z (m,), by batched Lanczos; stragglers finished by a dense SVD.

    The engine's GEMMs are small (at most n x n times n x chunk) and many, so multi-threaded BLAS only adds
    synchronisation: with other work on the cores it was measured 10-40x slower in wall time. Large batches
    therefore run under ``threadpool_limits(1)`` (restored on exit; a no-op where the caller already pinned it).
    """
    with _single_blas_thread(z.size * schur.T.shape[0] >= _SINGLE_THREAD_WORK):
        return _sigma_min_schur_batches(schur, z, tol)


def _single_blas_thread(active: bool):
    """Context: BLAS limited to one thread if ``active`` (threadpoolctl; restored on exit), else nothing."""
    if not active:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _sigma_min_schur_batches(schur: SchurForm, z: np.ndarray, tol: float) -> np.ndarray:
    """Body of :func:`_sigma_min_schur`: chunks of shifts through :func:`_gk_chunk`, dense SVD for stragglers."""
    T = schur.T if schur.T_real is None else schur.T_real  # real quasi-triangular: real GEMMs
    n = T.shape[0]
    out = np.empty(z.size)
    chunk = max(64, (1 << 21) // n)
    for c0 in range(0, z.size, chunk):
        zc = z[c0 : c0 + chunk]
        sig, ok = _gk_chunk(T, zc, tol, max_steps=80)
        for j in np.flatnonzero(~ok):  # rare: clustered smallest singular values
            sig[j] = sla.svdvals(T - zc[j] * np.eye(n), check_finite=False)[-1]
        out[c0 : c0 + chunk] = sig
    return out


def _sigma_min_svd(A: np.ndarray, z: np.ndarray) -> np.ndarray:
    """sigma_min(z I - A) by batched dense SVD (exact), A of shape (n, n) or rectangular (n + 1, n)."""
    p, n = A.shape
    eye = np.eye(p, n)
    out = np.empty(z.size)
    chunk = max(1, (1 << 22) // (p * n))
    for c0 in range(0, z.size, chunk):
        zc = z[c0 : c0 + chunk]
        M = zc[:, None, None] * eye - A  # (c, p, n)
        out[c0 : c0 + chunk] = np.linalg.svd(M, compute_uv=False)[:, -1]
    return out


def _sigma_min_blocks(B: np.ndarray, z: np.ndarray) -> np.ndarray:
    """min_i sigma_min(z I - B_i) in closed form; B (nb, 2, 2), z (m,).

    With ``M = zI - B_i``, ``F = ||M||_F^2`` and ``D^2 = |det M|^2``:
    ``sigma_min^2 = 2 D^2 / (F + sqrt(F^2 - 4 D^2))`` (no cancellation; one square root per block and point),
    minimised over the blocks with ``np.minimum.reduce`` and rooted once per point. Real blocks use real
    arithmetic only (``det M = (p + iy)(q + iy) - bc`` with ``p = x - a``, ``q = x - d``). Work arrays of shape
    (nb, chunk) stay small (cache-sized), so memory is bounded for any grid.
    """
    nb = B.shape[0]
    out = np.empty(z.size)
    chunk = int(min(max(64, (1 << 15) // nb), 4096))
    tiny = np.finfo(float).tiny
    real = not np.iscomplexobj(B)
    a, b, c, d = (B[:, i, j][:, None] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))  # (nb, 1)
    bc2 = np.abs(b) ** 2 + np.abs(c) ** 2
    bc = b * c
    tr = a + d
    det = a * d - bc
    for c0 in range(0, z.size, chunk):
        zc = z[c0 : c0 + chunk][None, :]  # (1, c)
        if real:
            x, y = zc.real, zc.imag
            y2 = y * y
            p = x - a  # (nb, c)
            q = x - d
            # det M = (p + iy)(q + iy) - bc: shifted factors keep the cancellation near eigenvalues small
            dre = p * q
            dre -= y2 + bc
            F = p * p
            p += q  # p + q
            q *= q
            F += q
            F += bc2 + 2 * y2
            p *= y  # Im det M
            D2 = dre * dre
            p *= p
            D2 += p
        else:
            F = np.abs(zc - a) ** 2 + np.abs(zc - d) ** 2 + bc2
            D2 = np.abs(zc * zc - tr * zc + det) ** 2
        disc = F * F
        disc -= 4 * D2
        np.maximum(disc, 0.0, out=disc)
        np.sqrt(disc, out=disc)
        disc += F
        np.maximum(disc, tiny, out=disc)
        np.divide(D2, disc, out=D2)
        out[c0 : c0 + chunk] = np.sqrt(2 * np.minimum.reduce(D2, axis=0))
    return out


def _arnoldi(A: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k steps of Arnoldi (twice-iterated Gram-Schmidt): returns (H (k+1, k), Q (n, k+1))."""
    n = A.shape[0]
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(n).astype(A.dtype)
    Q = np.zeros((n, k + 1), dtype=np.result_type(A, float))
    H = np.zeros((k + 1, k), dtype=Q.dtype)
    Q[:, 0] = q / np.linalg.norm(q)
    for j in range(k):
        w = A @ Q[:, j]
        for _ in range(2):
            h = Q[:, : j + 1].conj().T @ w
            w = w - Q[:, : j + 1] @ h
            H[: j + 1, j] += h
        H[j + 1, j] = np.linalg.norm(w)
        if H[j + 1, j] <= 1e-14 * np.abs(H[: j + 2, : j + 1]).max():  # invariant subspace: exact
            return H[: j + 1, : j + 1], Q[:, : j + 1]
        Q[:, j + 1] = w / H[j + 1, j]
    return H, Q


def _flat_grid(re: np.ndarray, im: np.ndarray, mirror: bool):
    """Unique shifts to evaluate and the index map back to the (ny, nx) grid (mirroring for real J)."""
    if not mirror:
        z = (re[None, :] + 1j * im[:, None]).ravel()
        return z, np.arange(z.size).reshape(im.size, re.size)
    aim = np.abs(im)
    tol = 4 * np.finfo(float).eps * max(float(aim.max()), float(np.abs(re).max()), 1.0)
    order = np.argsort(aim, kind="stable")
    rows = np.empty(im.size, dtype=np.intp)
    uniq: list[float] = []
    for i in order:
        if uniq and aim[i] - uniq[-1] <= tol:
            rows[i] = len(uniq) - 1
        else:
            uniq.append(float(aim[i]))
            rows[i] = len(uniq) - 1
    uim = np.array(uniq)
    z = (re[None, :] + 1j * uim[:, None]).ravel()
    index = rows[:, None] * re.size + np.arange(re.size)[None, :]
    return z, index


def _choose_method(method: str, n: int, blocks, max_dense: int) -> str:
    if method != "auto":
        return method
    if blocks is not None:
        return "blocks"
    if n > max_dense:
        return "krylov"
    return "svd" if n <= SVD_MAX_N else "schur-lanczos"


def _grid_eval(A, B, schur, re, im, method, max_dense, tol, krylov_dim=_KRYLOV_DIM):
    """Core of sigma_min_grid after validation: returns (sigma (ny, nx), method, eigenvalues, norm, approx)."""
    n = 2 * B.shape[0] if B is not None else (schur.T.shape[0] if schur is not None else A.shape[0])
    method = _choose_method(method, n, B, max_dense)
    if method == "blocks":
        if B is None:
            raise ValueError("method='blocks' needs blocks of shape (n, 2, 2).")
        mirror = not np.iscomplexobj(B)
        z, index = _flat_grid(re, im, mirror)
        s = _sigma_min_blocks(B, z)
        eig = eig2x2(B).ravel()
        norm = float(sigma_max2x2(B).max())
        return s[index], method, eig, norm, False
    if method == "krylov":
        if A is None:
            raise ValueError("method='krylov' needs the matrix J.")
        H, _ = _arnoldi(A, min(krylov_dim, n))
        mirror = not np.iscomplexobj(A)
        z, index = _flat_grid(re, im, mirror)
        s = _sigma_min_svd(H, z)
        k = H.shape[1]
        eig = np.linalg.eigvals(H[:k, :k])
        norm = float(sla.svdvals(A)[0]) if n <= max_dense else float(sla.norm(A, 1))
        return s[index], method, eig, norm, True
    if method == "svd":
        if A is None:
            A = schur.Z @ schur.T @ schur.Z.conj().T
        mirror = not np.iscomplexobj(A)
        z, index = _flat_grid(re, im, mirror)
        s = _sigma_min_svd(A, z)
        eig = np.linalg.eigvals(A) if schur is None else np.diag(schur.T)
        norm = float(sla.svdvals(A)[0]) if schur is None else schur.norm
        return s[index], method, eig, norm, False
    if method == "schur-lanczos":
        z, index = _flat_grid(re, im, schur.is_real if schur is not None else not np.iscomplexobj(A))
        S = schur if schur is not None or n <= 512 else _schur(A)  # large n: threads help the O(n^3) Schur form
        # moderate n: the Schur form gains little from threads and loses a lot on busy cores (see _sigma_min_schur)
        with _single_blas_thread(z.size * n >= _SINGLE_THREAD_WORK):
            S = S if S is not None else _schur(A)
            s = _sigma_min_schur_batches(S, z, tol)
        return s[index], method, np.diag(S.T), S.norm, False
    raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}.")


def _sort_eigs(e: np.ndarray) -> np.ndarray:
    e = np.asarray(e, dtype=complex)
    return e[np.argsort(-np.abs(e), kind="stable")]


# ----------------------------------------------------------------------------------------------
# public grid functions
# ----------------------------------------------------------------------------------------------
def sigma_min_grid(
    J: ArrayLike | None,
    re: ArrayLike,
    im: ArrayLike,
    *,
    blocks: np.ndarray | None = None,
    method: str = "auto",
    schur: SchurForm | None = None,
    max_dense: int = 2000,
    tol: float = LANCZOS_TOL,
) -> np.ndarray:
    """``sigma_min(zI - J)`` (2-norm) at ``z = re[j] + 1j * im[i]``.

    Parameters
    ----------
    J : array_like of shape (n, n), real or complex, or None
        The matrix (may be None when ``blocks`` or ``schur`` is given).
    re : array_like of shape (nx,)
    im : array_like of shape (ny,)
    blocks : ndarray of shape (n // 2, 2, 2), optional
        2x2 blocks with ``J = U blockdiag(blocks) U^T`` for an *orthogonal* U (see ``nnspec_core.blocks``);
        selects the closed-form path.
    method : {"auto", "svd", "schur-lanczos", "blocks", "krylov"}
        ``"auto"``: blocks if given; batched SVD for ``n <= 12``; Krylov (approximate) for ``n > max_dense``;
        Schur + batched Lanczos otherwise.
    schur : SchurForm, optional
        Cached ``schur_form(J)`` (skips the O(n^3) factorisation).
    max_dense : int
        Largest ``n`` treated densely by ``"auto"``.
    tol : float
        Relative accuracy of the Lanczos path (residual bound on each point).

    Returns
    -------
    ndarray of shape (ny, nx), float64
        ``sigma_min`` at ``[i, j]``. Values below about ``1e-14 ||J||`` are rounding noise.

    Raises
    ------
    TypeError, ValueError
        For non-numeric or non-finite input, bad shapes or an unknown method.
    """
    A, B, S = _resolve(J, blocks, schur)
    re_, im_ = _check_axis(re, "re"), _check_axis(im, "im")
    check_choice(method, "method", METHODS)
    check_scalar(max_dense, "max_dense", min_val=1, integer=True)
    check_scalar(tol, "tol", min_val=0.0, max_val=1e-2, include_min=False)
    return _grid_eval(A, B, S, re_, im_, method, int(max_dense), float(tol))[0]


def sigma_min_points(
    J: ArrayLike | None,
    z: ArrayLike,
    *,
    blocks: np.ndarray | None = None,
    schur: SchurForm | None = None,
    method: str = "auto",
) -> np.ndarray:
    """``sigma_min(z_k I - J)`` at scattered points ``z`` (shape (m,), complex); returns shape (m,) float64."""
    A, B, S = _resolve(J, blocks, schur)
    check_choice(method, "method", METHODS)
    zz = np.atleast_1d(np.asarray(z, dtype=complex)).ravel()
    if not np.all(np.isfinite(zz)):
        raise ValueError("z must contain only finite numbers.")
    return _points(A, B, S, zz, method)


def _points(A, B, S, z, method="auto", tol=LANCZOS_TOL) -> np.ndarray:
    n = 2 * B.shape[0] if B is not None else (S.T.shape[0] if S is not None else A.shape[0])
    method = _choose_method(method, n, B, 10**9)
    if method == "blocks":
        return _sigma_min_blocks(B, z)
    if method == "svd" or (S is None and z.size <= 8):
        if A is None:
            A = S.Z @ S.T @ S.Z.conj().T
        return _sigma_min_svd(A, z)
    S = S if S is not None else _schur(A)
    return _sigma_min_schur(S, z, tol)


def pseudospectrum(
    J: ArrayLike | None,
    *,
    re: ArrayLike | None = None,
    im: ArrayLike | None = None,
    n_grid: int = 80,
    eps_max: float | None = None,
    blocks: np.ndarray | None = None,
    method: str = "auto",
    schur: SchurForm | None = None,
    max_dense: int = 2000,
    tol: float = LANCZOS_TOL,
) -> PseudospectrumResult:
    """``sigma_min(zI - J)`` on a grid, with automatic axes when ``re``/``im`` are not given.

    Parameters
    ----------
    J : array_like of shape (n, n), or None when ``blocks`` or ``schur`` is given
    re, im : array_like of shape (nx,), (ny,), optional
        Grid axes; default ``n_grid`` points each on :func:`auto_axes` (square, 10 % margin).
    n_grid : int
        Points per axis for automatic axes.
    eps_max : float, optional
        Largest eps (absolute) the axes must contain; default ``0.1 * ||J||_2`` (or 0.1 if J = 0).
    blocks, method, schur, max_dense, tol
        See :func:`sigma_min_grid`.

    Returns
    -------
    PseudospectrumResult
    """
    A, B, S = _resolve(J, blocks, schur)
    check_choice(method, "method", METHODS)
    check_scalar(n_grid, "n_grid", min_val=2, max_val=2000, integer=True)
    check_scalar(max_dense, "max_dense", min_val=1, integer=True)
    check_scalar(tol, "tol", min_val=0.0, max_val=1e-2, include_min=False)
    if (re is None) != (im is None):
        raise ValueError("re and im must be given together (or both left None for automatic axes).")
    if re is None:
        if B is not None:
            eigs, norm = eig2x2(B).ravel(), float(sigma_max2x2(B).max())
        elif S is not None:
            eigs, norm = np.diag(S.T), S.norm
        else:
            eigs, norm = None, float(sla.svdvals(A)[0]) if A.shape[0] <= max_dense else float(sla.norm(A, 1))
        if eps_max is None:
            eps_max = 0.1 * norm if norm > 0 else 0.1
        check_scalar(eps_max, "eps_max", min_val=0.0, include_min=False)
        if B is not None:
            (x0, x1), (y0, y1) = _axes_blocks(B, float(eps_max), 0.1, True)
        elif A is not None and A.shape[0] <= max_dense:
            (x0, x1), (y0, y1) = _auto_axes_dense(A, float(eps_max), None, 0.1, True)
        else:
            H = _arnoldi(A, min(_KRYLOV_DIM, A.shape[0]))[0] if eigs is None else None
            e = eigs if eigs is not None else np.linalg.eigvals(H[: H.shape[1]])
            g = float(eps_max)
            box = (e.real.min() - g, e.real.max() + g, e.imag.min() - g, e.imag.max() + g)
            real = A is not None and not np.iscomplexobj(A)
            (x0, x1), (y0, y1) = _box_from_bounds(box, g, 0.1, True, real)
        re_ = np.linspace(x0, x1, int(n_grid))
        im_ = np.linspace(y0, y1, int(n_grid))
    else:
        re_, im_ = _check_axis(re, "re"), _check_axis(im, "im")
    sig, meth, eig, norm, approx = _grid_eval(A, B, S, re_, im_, method, int(max_dense), float(tol))
    return PseudospectrumResult(
        re=re_, im=im_, sigma_min=sig, eigenvalues=_sort_eigs(eig), method=meth, approximate=approx, norm=norm
    )


# ----------------------------------------------------------------------------------------------
# axes and levels
# ----------------------------------------------------------------------------------------------
def _kappa_unit(A: np.ndarray) -> tuple[np.ndarray, float]:
    """Eigenvalues and cond_2(V) with unit eigenvector columns (inf when numerically defective)."""
    w, V = np.linalg.eig(A)
    V = V / np.linalg.norm(V, axis=0)[None, :]
    s = sla.svdvals(V)
    kappa = float(s[0] / s[-1]) if s[-1] > 0 else math.inf
    if not math.isfinite(kappa) or kappa * np.finfo(float).eps * A.shape[0] >= 1:
        kappa = math.inf
    return w, kappa


def _fov_box(A: np.ndarray) -> tuple[float, float, float, float]:
    """Bounding box of the field of values: Re in eig((A + A^H)/2), Im in eig((A - A^H)/2i)."""
    hr = np.linalg.eigvalsh(0.5 * (A + A.conj().T))
    hi = np.linalg.eigvalsh(-0.5j * (A - A.conj().T))
    return hr[0], hr[-1], hi[0], hi[-1]


def _auto_axes_dense(A, eps_max, kappa, margin, square):
    w, kap = _kappa_unit(A)
    if kappa is not None:
        kap = kappa
    x0, x1, y0, y1 = _fov_box(A)
    fov = (x0 - eps_max, x1 + eps_max, y0 - eps_max, y1 + eps_max)  # Lambda_eps subset W(A) + eps disk
    grow = eps_max * kap if math.isfinite(kap) else math.inf
    e = np.asarray(w)
    bf = (e.real.min() - grow, e.real.max() + grow, e.imag.min() - grow, e.imag.max() + grow)
    box = tuple(max(a, b) if i % 2 == 0 else min(a, b) for i, (a, b) in enumerate(zip(bf, fov, strict=True)))
    return _box_from_bounds(box, eps_max, margin, square, real=not np.iscomplexobj(A))


def _box_from_bounds(box, eps_max, margin, square, real):
    x0, x1, y0, y1 = box
    if real:
        y1 = max(abs(y0), abs(y1))
        y0 = -y1
    w, h = x1 - x0, y1 - y0
    scale = max(w, h, eps_max, 1e-300)
    mx, my = margin * max(w, 0.05 * scale), margin * max(h, 0.05 * scale)
    x0, x1, y0, y1 = x0 - mx, x1 + mx, y0 - my, y1 + my
    if square:
        w, h = x1 - x0, y1 - y0
        if w > h:
            y0, y1 = y0 - (w - h) / 2, y1 + (w - h) / 2
        else:
            x0, x1 = x0 - (h - w) / 2, x1 + (h - w) / 2
    return (float(x0), float(x1)), (float(y0), float(y1))


def _axes_blocks(B, eps_max, margin, square):
    """Axes for a direct sum of 2x2 blocks: union over blocks of (FOV box grown by eps_max)."""
    H = 0.5 * (B + B.conj().transpose(0, 2, 1))
    K = -0.5j * (B - B.conj().transpose(0, 2, 1))
    hr, hi = np.linalg.eigvalsh(H), np.linalg.eigvalsh(K)
    box = (hr[:, 0].min() - eps_max, hr[:, 1].max() + eps_max, hi[:, 0].min() - eps_max, hi[:, 1].max() + eps_max)
    return _box_from_bounds(box, eps_max, margin, square, real=not np.iscomplexobj(B))


def auto_axes(
    J_or_eigs: ArrayLike,
    *,
    eps_max: float,
    kappa: float | None = None,
    margin: float = 0.1,
    square: bool = True,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Plot window ``((re_min, re_max), (im_min, im_max))`` that contains ``Lambda_eps(J)`` for all ``eps <= eps_max``.

    For a matrix: the intersection of the eigenvalue box grown by ``eps_max * kappa(V)`` (Bauer-Fike) and the
    field-of-values box grown by ``eps_max`` (``Lambda_eps subset W(J) + D(0, eps)``), then widened by
    ``margin`` (relative) and, if ``square``, made square (equal aspect). Real J gives a window symmetric
    about the real axis. For eigenvalues only (1-D input): their box grown by ``eps_max * kappa``
    (``kappa`` defaults to 1, i.e. a normal matrix).

    Parameters
    ----------
    J_or_eigs : array_like of shape (n, n), or of shape (d,) (complex eigenvalues)
    eps_max : float
        Largest eps (absolute, 2-norm) to show; > 0.
    kappa : float, optional
        Eigenvector condition number kappa(V) (unit columns) if already known; ``inf`` allowed.
    margin : float
        Relative padding on each side, >= 0.
    square : bool
        Equal width and height.
    """
    check_scalar(eps_max, "eps_max", min_val=0.0, include_min=False)
    check_scalar(margin, "margin", min_val=0.0)
    if kappa is not None:
        if isinstance(kappa, (bool, np.bool_)) or not isinstance(kappa, (int, float, np.integer, np.floating)):
            raise TypeError(f"kappa must be a real number; got {type(kappa).__name__}.")
        if not (kappa >= 1):
            raise ValueError(f"kappa must be >= 1 (or inf); got {kappa!r}.")
    arr = np.asarray(J_or_eigs)
    if arr.ndim == 1:
        if arr.dtype == object or arr.dtype.kind not in "biufc" or arr.size == 0:
            raise TypeError(f"J_or_eigs must be a numeric matrix or a non-empty 1-D array; got dtype {arr.dtype}.")
        e = arr.astype(complex)
        if not np.all(np.isfinite(e)):
            raise ValueError("J_or_eigs must contain only finite numbers.")
        grow = float(eps_max) * (1.0 if kappa is None else float(kappa))
        if not math.isfinite(grow):
            raise ValueError("kappa must be finite when only eigenvalues are given.")
        box = (e.real.min() - grow, e.real.max() + grow, e.imag.min() - grow, e.imag.max() + grow)
        return _box_from_bounds(box, float(eps_max), float(margin), bool(square), real=False)
    A = check_matrix(arr, "J_or_eigs")
    return _auto_axes_dense(A, float(eps_max), kappa, float(margin), bool(square))


#: eps_levels keeps every contour closed (top level below the edge's sigma_min) while that keeps this share
#: of the window's decades; otherwise (a zoomed window) the levels span the window's range.
_CLOSED_SHARE = 0.5
_NICE_STEPS = (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 50.0, 100.0)


def eps_levels(
    sigma_min_or_result: ArrayLike | PseudospectrumResult,
    *,
    n_levels: int = 6,
    norm: float | None = None,
    floor_rel: float = 1e-14,
) -> np.ndarray:
    """ "Smart" contour levels: log10(eps) exponents, ascending, at a nice spacing (1, 2, 0.5, ... decades).

    The bottom level is above both the grid minimum and ``floor_rel * ||J||`` (below which sigma_min is
    rounding noise). The top level is below the smallest sigma_min on the grid's edge, so every contour closes
    inside the window -- as long as that keeps at least ``_CLOSED_SHARE`` of the window's range of
    ``log10 sigma_min`` (from the bottom to the 90th percentile). A zoomed window whose edge passes close to an
    eigenvalue would leave almost no room that way (a band of three levels one tenth of a decade apart);
    there the levels span the window's own range instead and some contours leave the window.

    Parameters
    ----------
    sigma_min_or_result : array_like of shape (ny, nx) or PseudospectrumResult
    n_levels : int
        Maximum number of levels (>= 1).
    norm : float, optional
        ``||J||_2``; taken from the result if given one; otherwise the grid maximum is used.
    floor_rel : float
        Relative noise floor.

    Returns
    -------
    ndarray of shape (k,), 1 <= k <= n_levels, float64 (exponents: eps = 10 ** level)
    """
    if isinstance(sigma_min_or_result, PseudospectrumResult):
        S = sigma_min_or_result.sigma_min
        if norm is None:
            norm = sigma_min_or_result.norm
    else:
        S = check_matrix(sigma_min_or_result, "sigma_min", square=False)
        if np.iscomplexobj(S):
            raise TypeError("sigma_min must be real.")
    check_scalar(n_levels, "n_levels", min_val=1, max_val=100, integer=True)
    check_scalar(floor_rel, "floor_rel", min_val=0.0)
    if norm is not None:
        check_scalar(norm, "norm", min_val=0.0)
    S = np.asarray(S, float)
    top_all = float(S.max())
    scale = float(norm) if norm else top_all
    floor = max(floor_rel * scale, float(S.min()), np.finfo(float).tiny)
    edge = np.concatenate([S[0], S[-1], S[:, 0], S[:, -1]])
    top = float(edge.min())
    view = float(np.quantile(S, 0.9))  # the window's own range (a quantile: robust to one far corner)
    if view > floor and not (
        top > floor and math.log10(top / floor) >= _CLOSED_SHARE * math.log10(view / floor)
    ):
        top = view
    if not top > floor:
        top = top_all
    if not top > floor:  # flat grid: a single level just below it
        return np.array([math.log10(max(top, np.finfo(float).tiny))])
    lo, hi = math.log10(floor), math.log10(top)
    for step in _NICE_STEPS:
        first = math.floor(lo / step) + 1
        last = math.ceil(hi / step) - 1
        if last - first + 1 <= n_levels:
            break
    levels = np.arange(first, last + 1) * step
    if levels.size == 0:  # less than one nice step of room: one level in the middle (rounded)
        levels = np.array([round(0.5 * (lo + hi), 2)])
    return levels.astype(float)


# ----------------------------------------------------------------------------------------------
# derived quantities: rho_eps, alpha_eps (criss-cross), Kreiss constant, field of values
# ----------------------------------------------------------------------------------------------
#: Dense J up to this n keep the circle search's generalized eigenproblem (QZ); larger, well-conditioned ones
#: (cond_2(J) <= _PENCIL_COND_MAX) solve R^{-1} L instead: QZ on the 400 x 400 pencil of Grcar n = 200 took 0.6 s.
_PENCIL_QZ_MAX_N = 32
_PENCIL_COND_MAX = 1e6


class _Stack:
    """J as a direct sum of square matrices A_i (one dense matrix, or the relevant 2x2 blocks)."""

    def __init__(self, A: np.ndarray | None, B: np.ndarray | None):
        self.blocks = B is not None
        self.mats = (B if B is not None else A[None]).astype(complex)  # (p, m, m)
        self.real = not np.iscomplexobj(B if B is not None else A)
        self.eigs = eig2x2(B).ravel() if B is not None else np.linalg.eigvals(A)
        sv = None if B is not None else sla.svdvals(A)
        self.norm = float(sigma_max2x2(B).max()) if sv is None else float(sv[0])
        #: (A^H)^{-1} of a dense, well-conditioned A: the circle search's pencil as a standard eigenproblem
        self.inv_AH = None
        if sv is not None and A.shape[0] > _PENCIL_QZ_MAX_N and sv[-1] > _PENCIL_COND_MAX**-1 * sv[0]:
            self.inv_AH = np.linalg.inv(A.conj().T.astype(complex))
        self._A = A
        self._B = B
        self._schur: SchurForm | None = None

    def keep(self, mask: np.ndarray) -> _Stack:
        if not self.blocks:
            return self
        return _Stack(None, self._B[mask])

    def sigma(self, z: np.ndarray) -> np.ndarray:
        z = np.atleast_1d(np.asarray(z, complex))
        if self.blocks:
            return _sigma_min_blocks(self._B, z)
        if z.size <= 8 or self._A.shape[0] <= SVD_MAX_N:
            return _sigma_min_svd(self._A, z)
        if self._schur is None:
            self._schur = _schur(self._A)
        return _sigma_min_schur(self._schur, z, LANCZOS_TOL)


def _block2x2(P: np.ndarray, q: float, r: float, S: np.ndarray) -> np.ndarray:
    """Stack of [[P, q I], [r I, S]] for P, S of shape (p, m, m)."""
    m = P.shape[1]
    eye = np.broadcast_to(np.eye(m), P.shape)
    top = np.concatenate([P, q * eye], axis=-1)
    bot = np.concatenate([r * eye, S], axis=-1)
    return np.concatenate([top, bot], axis=-2)


def _real_eigs_of(K: np.ndarray, tol: float) -> np.ndarray:
    """Real eigenvalues (|imag| <= tol) of a stack of matrices K (p, k, k)."""
    mu = np.linalg.eigvals(K).ravel()
    return mu.real[np.abs(mu.imag) <= tol]


def _horizontal(st: _Stack, y: float, eps: float, tol: float) -> float:
    """Largest x with sigma_min((x + iy) I - J) = eps (eigenvalues of [[B, -eps], [-eps, B^H]], B = J - iyI)."""
    m = st.mats.shape[1]
    Bm = st.mats - 1j * y * np.eye(m)
    K = _block2x2(Bm, -eps, -eps, Bm.conj().transpose(0, 2, 1))
    x = _real_eigs_of(K, tol)
    if x.size == 0:
        mu = np.linalg.eigvals(K).ravel()
        x = mu.real[np.argsort(np.abs(mu.imag))[:2]]
    return float(x.max())


def _radial(st: _Stack, theta: float, eps: float, tol: float) -> float:
    """Largest r with sigma_min(r e^{i theta} I - J) = eps."""
    Bm = np.exp(-1j * theta) * st.mats
    K = _block2x2(Bm, -eps, -eps, Bm.conj().transpose(0, 2, 1))
    r = _real_eigs_of(K, tol)
    if r.size == 0:
        mu = np.linalg.eigvals(K).ravel()
        r = mu.real[np.argsort(np.abs(mu.imag))[:2]]
    return float(r.max())


def _inside_midpoints(st: _Stack, pts: np.ndarray, eps: float) -> np.ndarray:
    """Midpoints (complex) of consecutive crossing points that lie strictly inside Lambda_eps."""
    if pts.size < 2:
        return np.empty(0, complex)
    mids = 0.5 * (pts[:-1] + pts[1:])
    return mids[st.sigma(mids) < eps]


def _criss_cross_abscissa(st: _Stack, eps: float, tol: float) -> float:
    scale = st.norm + eps
    ztol = 1e-8 * scale
    lam = st.eigs[np.argmax(st.eigs.real)]
    x = _horizontal(st, lam.imag, eps, ztol)
    m = st.mats.shape[1]
    for _ in range(100):
        Am = st.mats - x * np.eye(m)
        H = _block2x2(Am, -eps, eps, -Am.conj().transpose(0, 2, 1))
        mu = np.linalg.eigvals(H).ravel()
        ys = np.unique(np.round(mu.imag[np.abs(mu.real) <= ztol] / ztol) * ztol)
        mids = _inside_midpoints(st, x + 1j * ys, eps)
        if mids.size == 0:
            break
        x_new = max(_horizontal(st, float(w.imag), eps, ztol) for w in mids)
        if x_new <= x + tol * max(1.0, abs(x)):
            x = max(x, x_new)
            break
        x = x_new
    return float(x)


def _circle_angles(st: _Stack, r: float, eps: float, tol: float) -> np.ndarray:
    """Angles theta where eps is a singular value of r e^{i theta} I - A_i (pencil of Mengi & Overton)."""
    m = st.mats.shape[1]
    I = np.eye(m)
    out = []
    if st.inv_AH is not None:  # R^{-1} L (R block lower triangular, G = (A^H)^{-1}): numpy's eig, not QZ
        A, G = st.mats[0], st.inv_AH
        M = np.block([[A / r, (-eps / r) * I], [(eps / r) * (G @ A), (r - eps * eps / r) * G]])
        lam = np.linalg.eigvals(M)
        lam = lam[np.isfinite(lam)]
        return np.sort(np.angle(lam[np.abs(np.abs(lam) - 1) <= tol]))
    for A in st.mats:
        L = np.block([[A, -eps * I], [np.zeros((m, m)), r * I]])
        R = np.block([[r * I, np.zeros((m, m))], [-eps * I, A.conj().T]])
        lam = sla.eigvals(L, R, check_finite=False)
        lam = lam[np.isfinite(lam)]
        out.append(np.angle(lam[np.abs(np.abs(lam) - 1) <= tol]))
    return np.sort(np.concatenate(out)) if out else np.empty(0)


def _criss_cross_radius(st: _Stack, eps: float, tol: float) -> float:
    lam = st.eigs[np.argmax(np.abs(st.eigs))]
    ztol = 1e-8 * (st.norm + eps)
    r = _radial(st, float(np.angle(lam)), eps, ztol)
    for _ in range(100):
        th = _circle_angles(st, r, eps, 1e-8)
        if th.size == 0:
            break
        th = np.unique(np.round(th / 1e-12) * 1e-12)
        ext = np.concatenate([th, [th[0] + 2 * np.pi]])
        mids_t = 0.5 * (ext[:-1] + ext[1:])
        inside = st.sigma(r * np.exp(1j * mids_t)) < eps
        if not np.any(inside):
            break
        r_new = max(_radial(st, float(t), eps, ztol) for t in mids_t[inside])
        if r_new <= r * (1 + tol):
            r = max(r, r_new)
            break
        r = r_new
    return float(r)


def _stack_from(J, blocks) -> _Stack:
    A, B, _ = _resolve(J, blocks, None)
    return _Stack(A if B is None else None, B)


def pseudospectral_radius(
    J: ArrayLike | None, eps: float, *, blocks: np.ndarray | None = None, tol: float = 1e-8
) -> float:
    """epsilon-pseudospectral radius ``rho_eps(J) = max{|z| : sigma_min(zI - J) <= eps}``.

    Criss-cross algorithm of Mengi & Overton (radial searches by real eigenvalues of a 2n x 2n matrix,
    circular searches by the unit-circle eigenvalues of a 2n x 2n pencil); iterates until the radius
    grows by less than ``tol`` (relative). O(n^3) per iteration for dense J; for ``blocks`` the maximum
    over the blocks that can matter (``||B_i|| >= rho(J)``).

    Parameters
    ----------
    J : array_like of shape (n, n), or None with ``blocks``
    eps : float
        Absolute eps > 0 (2-norm).
    blocks : ndarray of shape (n // 2, 2, 2), optional
        Orthogonally similar 2x2 blocks of J.
    tol : float
        Relative stopping tolerance.

    Returns
    -------
    float
        ``rho_eps(J)`` (always ``>= rho(J) + eps``; equality for normal J).
    """
    check_scalar(eps, "eps", min_val=0.0, include_min=False)
    check_scalar(tol, "tol", min_val=0.0, max_val=0.1, include_min=False)
    st = _stack_from(J, blocks)
    if st.blocks:
        rho = np.abs(st.eigs).max()
        st = st.keep(sigma_max2x2(st._B) >= rho * (1 - 1e-12))
    return _criss_cross_radius(st, float(eps), float(tol))


def pseudospectral_abscissa(
    J: ArrayLike | None, eps: float, *, blocks: np.ndarray | None = None, tol: float = 1e-8
) -> float:
    """epsilon-pseudospectral abscissa ``alpha_eps(J) = max{Re z : sigma_min(zI - J) <= eps}``.

    Criss-cross algorithm of Burke, Lewis & Overton (vertical searches by imaginary eigenvalues of a
    2n x 2n Hamiltonian matrix, horizontal searches by real eigenvalues); stops when the abscissa grows
    by less than ``tol * max(1, |alpha|)``. Parameters as in :func:`pseudospectral_radius`.

    Returns
    -------
    float
        ``alpha_eps(J)`` (``>= alpha(J) + eps``; equality for normal J).
    """
    check_scalar(eps, "eps", min_val=0.0, include_min=False)
    check_scalar(tol, "tol", min_val=0.0, max_val=0.1, include_min=False)
    st = _stack_from(J, blocks)
    if st.blocks:
        alpha = st.eigs.real.max()
        H = 0.5 * (st._B + st._B.conj().transpose(0, 2, 1))
        st = st.keep(np.linalg.eigvalsh(H)[:, -1] >= alpha - 1e-12 * max(1.0, abs(alpha)))
    return _criss_cross_abscissa(st, float(eps), float(tol))


def _kreiss_search(f, grid_a: np.ndarray, grid_b: np.ndarray, to_z, n_refine: int = 2):
    """Maximise f over a 2-D parameter grid, then Nelder-Mead from the best few points."""
    from scipy.optimize import minimize

    A, Bg = np.meshgrid(grid_a, grid_b, indexing="ij")
    vals = f(to_z(A.ravel(), Bg.ravel()))
    order = np.argsort(-vals)[:n_refine]
    best_v, best_p = -np.inf, None
    for i in order:
        p0 = np.array([A.ravel()[i], Bg.ravel()[i]])
        res = minimize(
            lambda p: -float(f(to_z(np.array([p[0]]), np.array([p[1]])))[0]),
            p0,
            method="Nelder-Mead",
            bounds=[(grid_a[0], grid_a[-1]), (None, None)],
            options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 250},
        )
        v, p = (-res.fun, res.x) if -res.fun >= vals[i] else (vals[i], p0)
        if v > best_v:
            best_v, best_p = v, p
    return best_v, best_p


def kreiss_constant(J: ArrayLike | None, *, blocks: np.ndarray | None = None, continuous: bool = False) -> KreissResult:
    """Kreiss constant: ``sup_{|z|>1} (|z| - 1) / sigma_min(zI - J)`` (or ``sup_{Re z>0} Re z / sigma_min``).

    Grid search over ``|z| - 1`` (resp. ``Re z``) log-spaced in ``[1e-6, 10 max(1, ||J||)]`` and the angle
    (resp. ``Im z``), then Nelder-Mead refinement from the best grid points. The value never exceeds the
    true supremum; it is at least 1 (the limit ``|z| -> inf``). Kreiss matrix theorem:
    ``K <= sup_k ||J^k|| <= e n K`` (resp. ``K <= sup_t ||e^{tJ}|| <= e n K``).

    Parameters
    ----------
    J : array_like of shape (n, n), or None with ``blocks``
    blocks : ndarray of shape (n // 2, 2, 2), optional
    continuous : bool
        Continuous-time constant (left half-plane stability) instead of discrete time.

    Returns
    -------
    KreissResult
        ``value = inf`` when rho(J) > 1 (resp. spectral abscissa > 0).
    """
    st = _stack_from(J, blocks)
    eigs = st.eigs
    scale = max(1.0, st.norm)
    if not continuous:
        lam = eigs[np.argmax(np.abs(eigs))]
        if abs(lam) > 1 + 1e-12:
            return KreissResult(value=math.inf, z=complex(lam), lower_bound_only=False)
        s_grid = np.log(np.logspace(-6, math.log10(10 * scale), 40))
        th_hi = np.pi if st.real else 2 * np.pi
        th = np.linspace(0, th_hi, 61 if st.real else 121)

        def to_z(ls, t):
            return (1 + np.exp(ls)) * np.exp(1j * t)

        def f(z):
            return (np.abs(z) - 1) / np.maximum(st.sigma(z), 1e-300)

    else:
        lam = eigs[np.argmax(eigs.real)]
        if lam.real > 1e-12 * scale:
            return KreissResult(value=math.inf, z=complex(lam), lower_bound_only=False)
        s_grid = np.log(np.logspace(-6, math.log10(10 * scale), 40))
        y_hi = 2 * scale
        th = np.linspace(0 if st.real else -y_hi, y_hi, 61 if st.real else 121)

        def to_z(ls, y):
            return np.exp(ls) + 1j * y

        def f(z):
            return z.real / np.maximum(st.sigma(z), 1e-300)

    val, p = _kreiss_search(f, s_grid, th, to_z)
    if val <= 1.0 + 1e-12:
        return KreissResult(value=1.0, z=complex(math.inf, 0.0), lower_bound_only=False)
    z = complex(to_z(np.array([p[0]]), np.array([p[1]]))[0])
    edge = p[0] <= s_grid[0] + 1e-6
    return KreissResult(value=float(val), z=z, lower_bound_only=bool(edge))


def _herm_top_2x2(p: np.ndarray, q: np.ndarray, r: np.ndarray):
    """Top eigenvalue and unit eigenvector of Hermitian [[p, q], [conj(q), r]] (arrays of equal shape)."""
    half = 0.5 * (p - r)
    rad = np.sqrt(half * half + np.abs(q) ** 2)
    lam = 0.5 * (p + r) + rad
    # eigenvector: (q, lam - p) or (lam - r, conj(q)); take the larger one
    v1 = np.stack([q, (lam - p).astype(complex)], axis=-1)
    v2 = np.stack([(lam - r).astype(complex), np.conj(q)], axis=-1)
    n1 = np.linalg.norm(v1, axis=-1)
    n2 = np.linalg.norm(v2, axis=-1)
    v = np.where((n1 >= n2)[..., None], v1, v2)
    nv = np.maximum(n1, n2)
    degenerate = nv <= 1e-300
    v = np.where(degenerate[..., None], np.array([1.0, 0.0], complex), v / np.where(degenerate, 1.0, nv)[..., None])
    return lam, v


def field_of_values(J: ArrayLike | None, *, n_angles: int = 256, blocks: np.ndarray | None = None) -> FieldOfValues:
    """Boundary of the field of values ``W(J)``, numerical radius and numerical abscissa.

    For each angle theta the supporting point in direction ``e^{i theta}`` is ``x^H J x`` with ``x`` the top
    eigenvector of ``(e^{-i theta} J + e^{i theta} J^H) / 2``. With ``blocks`` this is done in closed form per
    2x2 block (each block's W is an ellipse with foci at its eigenvalues and minor axis ``|t|``) and
    ``W(J)`` is the convex hull of the ellipses.

    Parameters
    ----------
    J : array_like of shape (n, n), or None with ``blocks``
    n_angles : int
        Number of boundary points (>= 8).
    blocks : ndarray of shape (n // 2, 2, 2), optional

    Returns
    -------
    FieldOfValues
    """
    check_scalar(n_angles, "n_angles", min_val=8, max_val=100000, integer=True)
    A, B, _ = _resolve(J, blocks, None)
    theta = np.linspace(0, 2 * np.pi, int(n_angles), endpoint=False)
    if B is not None:
        Bc = B.astype(complex)

        def support(t):
            t = np.atleast_1d(t)
            e = np.exp(-1j * t)[:, None]  # (k, 1)
            a, b, c, d = Bc[:, 0, 0], Bc[:, 0, 1], Bc[:, 1, 0], Bc[:, 1, 1]
            p = (e * a).real
            r = (e * d).real
            q = 0.5 * (e * b + np.conj(e * c))
            lam, v = _herm_top_2x2(p, q, r)  # (k, nb), (k, nb, 2)
            i = np.argmax(lam, axis=1)
            k = np.arange(t.size)
            vv = v[k, i]
            Bi = Bc[i]
            pts = np.einsum("ki,kij,kj->k", vv.conj(), Bi, vv)
            return lam[k, i], pts

    else:
        n = A.shape[0]
        Ac = np.ascontiguousarray(A, dtype=complex)  # once: a real A times a complex x converted A on every call
        AH = np.ascontiguousarray(Ac.conj().T)

        def support(t):
            t = np.atleast_1d(t)
            lam = np.empty(t.size)
            X = np.empty((n, t.size), complex)  # top eigenvectors, one column per angle
            for j, tj in enumerate(t):
                e = np.exp(-1j * tj)
                H = 0.5 * (e * Ac + np.conj(e) * AH)
                w, V = sla.eigh(H, subset_by_index=[n - 1, n - 1], check_finite=False, overwrite_a=True)
                lam[j] = w[0]
                X[:, j] = V[:, 0]
            return lam, np.einsum("ij,ij->j", X.conj(), Ac @ X)  # x^H A x for every angle: one GEMM

    if B is None and not np.iscomplexobj(A):
        # real J: H(-theta) = conj(H(theta)), so the supporting point at -theta is the conjugate of the one at theta
        half = len(theta) // 2
        lam_h, pts_h = support(theta[: half + 1])
        mirror = np.arange(1, len(theta) - half)  # theta_j and theta_{N-j} = 2 pi - theta_j
        lam = np.concatenate([lam_h, lam_h[mirror][::-1]])
        pts = np.concatenate([pts_h, np.conj(pts_h[mirror])[::-1]])
    else:
        lam, pts = support(theta)
    from scipy.optimize import minimize_scalar

    i = int(np.argmax(lam))
    h = 2 * np.pi / n_angles
    res = minimize_scalar(
        lambda t: -support(t)[0][0], bounds=(theta[i] - h, theta[i] + h), method="bounded", options={"xatol": 1e-12}
    )
    radius = max(float(lam[i]), float(-res.fun))
    abscissa = float(support(0.0)[0][0])
    return FieldOfValues(boundary=pts, numerical_radius=radius, numerical_abscissa=abscissa)
