"""Spectral diagnostics of update operators: eigenvalues, rho, kappa(V), departure, mode classes, thresholds.

Conventions (see ``docs/design.md``):

- ``J`` is a square (d, d) real or complex matrix acting on a stacked state ``z`` (parameters first),
  one step is ``z_next = J @ z``. Eigenvalues are complex128 and sorted by decreasing modulus
  (ties: larger real part first, then larger imaginary part first).
- ``kappa(V) = cond_2(V) = sigma_max(V) / sigma_min(V)`` where the columns of ``V`` are right
  eigenvectors scaled to unit 2-norm. It is ``inf`` for a (numerically) defective matrix and
  exactly ``1`` for a Hermitian or numerically normal matrix.
- Eigenvalue condition numbers are ``1 / |y^H x|`` with unit 2-norm left (``y``) and right (``x``)
  eigenvectors. They are computed without left eigenvectors, as the row norms of ``V^{-1}`` (its rows are the
  left eigenvectors scaled so that ``y_i^H x_i = 1``); for real J in real arithmetic (see ``_right_eig``).
- Norms are 2-norms for singular values and Frobenius norms (``||.||_F``) for departure, commutators
  and the cluster tolerance scale.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from nnspec_core._validation import check_choice, check_matrix, check_scalar
from nnspec_core.blocks import departure2x2, eig2x2, kappa2x2

__all__ = [
    "EIGENVALUE_CLASSES",
    "UNSTABLE_CLASSES",
    "THRESHOLD_OPTIMIZERS",
    "NORMAL_TOL",
    "SpectrumResult",
    "OperatorDiagnostics",
    "spectrum",
    "eigenvalues",
    "spectral_radius",
    "kappa_V",
    "eigenvalue_condition_numbers",
    "henrici_departure",
    "commutator_norm",
    "classify_eigenvalues",
    "rho_plus",
    "stability_threshold",
    "preconditioned_sharpness",
    "operator_diagnostics",
]

_EPS = float(np.finfo(float).eps)

#: Relative normality residual ||J J^H - J^H J||_F / ||J||_F^2 at or below which J is treated as normal.
NORMAL_TOL = 1e-13
#: Relative Hermitian defect ||J - J^H||_F / ||J||_F at or below which the Hermitian solver (eigh) is used.
HERMITIAN_TOL = 100 * _EPS
#: Relative backward error (times ||J||_F) assumed for the dense eigensolver when grouping eigenvalues.
_BACKWARD = 16 * _EPS
#: Largest cond_2 of a cluster's unit eigenvector columns for which their span is used as its spectral subspace.
_SPAN_COND = 1e4
#: Above this dimension cond_2 uses two Lanczos norms (ARPACK ``svds``) instead of a full SVD: about 5x
#: faster at d = 771 with the same relative accuracy (``tol`` below); a failed Lanczos falls back to the SVD.
_COND_DENSE_MAX = 200
_COND_LANCZOS_TOL = 1e-13

#: Mode classes returned by :func:`classify_eigenvalues`.
EIGENVALUE_CLASSES = ("stable", "eos_flip", "escape", "spiral")
UNSTABLE_CLASSES = ("eos_flip", "escape", "spiral")
#: Optimizers known to :func:`stability_threshold`.
THRESHOLD_OPTIMIZERS = ("gd", "heavy_ball", "nesterov", "rmsprop", "adam", "adamw")
_ADAPTIVE = ("rmsprop", "adam", "adamw")
_KAPPA_STATUS = ("normal", "ok", "clustered", "defective")
_METHODS = ("eigh", "eig", "blocks")


# --------------------------------------------------------------------------------------------------
# results


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class SpectrumResult:
    """Spectral diagnostics of one square matrix ``J`` of shape (d, d).

    Attributes
    ----------
    eigenvalues : ndarray of shape (d,), complex128
        Sorted by decreasing modulus (ties: larger real part, then larger imaginary part first).
    spectral_radius : float
        ``max |lambda_i|``.
    kappa_V : float
        ``cond_2(V)`` with unit 2-norm eigenvector columns; ``1.0`` exactly when ``kappa_status == "normal"``,
        ``inf`` when ``V`` is numerically singular (``sigma_min(V) <= d * eps * sigma_max(V)``).
        Inside a cluster (see ``clusters``) the eigenvector basis is not determined, so this number
        depends on the solver's arbitrary choice; read ``kappa_V_cluster`` then.
    kappa_status : {"normal", "ok", "clustered", "defective"}
        ``"normal"``: J Hermitian or numerically normal (``normality_residual <= NORMAL_TOL``), kappa_V = 1.
        ``"defective"``: V numerically singular, kappa_V = inf. ``"clustered"``: near-degenerate
        eigenvalue clusters exist. ``"ok"``: none of these.
    eigval_condition : ndarray of shape (d,), float64
        ``1 / |y^H x|`` per eigenvalue (same order) with unit 2-norm left/right eigenvectors;
        ``inf`` where ``|y^H x| <= d * eps`` (zero at working precision). For a multiple eigenvalue (inside a
        cluster) the vectors, hence these numbers, depend on the solver's basis choice.
    clusters : tuple of tuple of int
        Index groups (into ``eigenvalues``) of size >= 2 whose members are near-degenerate: connected
        components of the graph linking ``i, j`` when ``|lambda_i - lambda_j| <= ||J||_F * (cluster_tol +
        min(16 * eps * min(c_i, c_j), eps**(1/4)))`` with ``c`` the eigenvalue condition numbers, i.e.
        closer than ``cluster_tol`` relative to ``||J||_F``, or indistinguishable at backward-error level
        (first-order perturbation disks for a backward error ``16 eps ||J||_F`` overlap; the ``eps**(1/4)`` cap
        covers the ``eps**(1/k)`` splitting of Jordan blocks up to size 4).
    kappa_V_cluster : float
        Cluster-aware measure: ``cond_2(X)`` for the similarity ``X`` that block-diagonalises J keeping each
        cluster together, with each cluster's columns an orthonormal basis of its spectral (invariant)
        subspace and each isolated eigenvalue's column its unit eigenvector. It depends only on the
        subspaces, not on a basis choice. Equals ``kappa_V`` when there are no clusters, 1 when normal.
    departure : float
        Henrici departure from normality ``sqrt(max(||J||_F^2 - sum |lambda_i|^2, 0))`` (absolute accuracy
        about ``sqrt(eps) * ||J||_F`` on the dense ``"eig"`` path; exact 0 on ``"eigh"``; closed form on ``"blocks"``).
    departure_rel : float
        ``departure / ||J||_F`` (0 for the zero matrix).
    normality_residual : float
        ``||J J^H - J^H J||_F / ||J||_F^2`` (0 for the zero matrix).
    method : {"eigh", "eig", "blocks"}
        Solver used: Hermitian ``eigh``, general ``eig``, or the 2x2-block closed forms.
    """

    eigenvalues: np.ndarray
    spectral_radius: float
    kappa_V: float
    kappa_status: str
    eigval_condition: np.ndarray
    clusters: tuple[tuple[int, ...], ...]
    kappa_V_cluster: float
    departure: float
    departure_rel: float
    normality_residual: float
    method: str

    def __post_init__(self) -> None:
        d = self.eigenvalues.shape[0]
        assert self.eigenvalues.shape == (d,) and self.eigenvalues.dtype == np.complex128
        assert self.eigval_condition.shape == (d,)
        assert self.kappa_status in _KAPPA_STATUS and self.method in _METHODS
        assert all(len(c) >= 2 and all(0 <= i < d for i in c) for c in self.clusters)


@dataclass(frozen=True)
class OperatorDiagnostics:
    """Diagnostics of an optimizer update operator (see :func:`operator_diagnostics`).

    Attributes
    ----------
    spectrum : SpectrumResult
        Spectral diagnostics of ``op.J`` (shape (d, d), state convention of the operator).
    rho : float
        Spectral radius of J.
    rho_plus : float
        Spectral radius over the eigenvalues that are not ``"escape"`` modes (0 if there are none).
    rho_mode : str
        Class (see ``classes``) of the eigenvalue that sets ``rho`` (the first, largest-modulus one).
    classes : ndarray of shape (d,), str
        Mode class per eigenvalue (same order as ``spectrum.eigenvalues``), see :func:`classify_eigenvalues`.
    n_unstable : dict of str to int
        Counts of ``"eos_flip"``, ``"escape"`` and ``"spiral"`` modes.
    lambda_max_H, lambda_min_H : float
        Extreme eigenvalues of the symmetric part of H (shape (n, n)), without weight decay.
    sharpness : float
        Compared with ``threshold``: ``lambda_max(H + wd I)`` for gd / heavy_ball / nesterov (coupled weight
        decay ``wd``); preconditioned sharpness ``c1 lambda_max(M^(1/2) (H + wd I) M^(1/2))`` for rmsprop / adam
        (coupled wd) and ``c1 lambda_max(M^(1/2) H M^(1/2))`` for adamw (decoupled wd not folded in), where
        ``M = op.preconditioner`` and ``c1 = 1 / (1 - beta1**step)`` is Adam's bias correction of m (1 for
        rmsprop or without ``step``), so that ``sharpness_ratio = 1`` puts an eigenvalue of the frozen operator
        at -1. NaN when an adaptive operator carries no preconditioner.
    threshold : float
        Classical stability threshold of :func:`stability_threshold` (for Adam/AdamW with ``op.coords ==
        "simple"``, where momentum is dropped, ``2 / lr``).
    sharpness_ratio : float
        ``sharpness / threshold`` (> 1 means beyond the classical edge of stability).
    commutator, commutator_rel : float or None
        ``||[H, M]||_F`` and ``||[H, M]||_F / (||H||_F ||M||_F)`` for adaptive methods with a
        preconditioner ``M``; ``None`` otherwise.
    """

    spectrum: SpectrumResult
    rho: float
    rho_plus: float
    rho_mode: str
    classes: np.ndarray
    n_unstable: dict[str, int]
    lambda_max_H: float
    lambda_min_H: float
    sharpness: float
    threshold: float
    sharpness_ratio: float
    commutator: float | None
    commutator_rel: float | None

    def __post_init__(self) -> None:
        assert self.classes.shape == self.spectrum.eigenvalues.shape


# --------------------------------------------------------------------------------------------------
# small helpers (trust their inputs)


def _sort_order(w: np.ndarray) -> np.ndarray:
    """Indices sorting ``w`` by decreasing modulus, then decreasing real part, then decreasing imaginary part."""
    return np.lexsort((-w.imag, -w.real, -np.abs(w)))


def _hermitian_defect(J: np.ndarray, fro: float) -> float:
    return float(np.linalg.norm(J - J.conj().T)) / fro if fro > 0 else 0.0


def _normality_residual(J: np.ndarray, fro: float) -> float:
    if fro == 0:
        return 0.0
    JH = J.conj().T
    return float(np.linalg.norm(J @ JH - JH @ J)) / fro**2


def _find_clusters(w: np.ndarray, cond: np.ndarray, scale: float, cluster_tol: float) -> tuple[tuple[int, ...], ...]:
    """Connected components (size >= 2) of the near-degeneracy graph described in :class:`SpectrumResult`."""
    d = w.shape[0]
    if d < 2 or scale == 0:
        return ()
    rad = np.minimum(_BACKWARD * np.where(np.isfinite(cond), cond, np.inf), _EPS**0.25)  # (d,)
    r_max = scale * (cluster_tol + float(rad.max()))
    pts = np.column_stack([w.real, w.imag])
    pairs = cKDTree(pts).query_pairs(r_max, output_type="ndarray")  # (n_pairs, 2)
    if pairs.size == 0:
        return ()
    i, j = pairs[:, 0], pairs[:, 1]
    keep = np.abs(w[i] - w[j]) <= scale * (cluster_tol + np.minimum(rad[i], rad[j]))
    i, j = i[keep], j[keep]
    if i.size == 0:
        return ()
    graph = coo_matrix((np.ones(i.size), (i, j)), shape=(d, d))
    _, labels = connected_components(graph, directed=False)
    counts = np.bincount(labels)
    groups = [tuple(int(k) for k in np.flatnonzero(labels == lab)) for lab in np.flatnonzero(counts >= 2)]
    return tuple(sorted(groups))


# Eigenvectors without left vectors. For real J, LAPACK returns real columns: a real eigenvector, or the pair
# (a, b) of a conjugate pair v = a + i b (Im lambda > 0 first), v_bar = a - i b. With R the real matrix whose
# columns are x / ||x|| for real eigenvalues and sqrt(2) (a, b) / ||v|| for a pair, the unit-column eigenvector
# matrix is V = R blockdiag(U) with U = [[1, 1], [i, -i]] / sqrt(2) unitary on each pair: V and R have the same
# singular values (kappa(V) = cond_2(R)), and V^{-1} = blockdiag(U^H) R^{-1}, so the rows of V^{-1} for a pair,
# (p -/+ i q) / sqrt(2) with p, q the rows of R^{-1}, both have squared norm (||p||^2 + ||q||^2) / 2.
# Rows of V^{-1} are left eigenvectors scaled so that y_i^H x_i = 1: with ||x_i|| = 1 the eigenvalue condition
# number 1 / |y^H x| (unit y, x) is ||row_i(V^{-1})||. Complex J: R = V with unit columns, no pairs.


def _lwork(fn: Any, d: int) -> int:
    return max(int(np.real(fn(d, compute_vl=0, compute_vr=1)[0])), 4 * d, 1)


def _right_eig(J: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues (LAPACK order, complex128), ``R`` (d, d) as above, and the mask of first columns of pairs.

    ``numpy.linalg.eig`` (LAPACK geev, right vectors only) rather than scipy's wrapper: numpy releases the
    GIL during the factorisation, scipy's f2py wrapper does not (measured: two threads each running scipy's
    dgeev on a 771 x 771 matrix took 1.03x the serial time, numpy's 0.65x), and the live trainer runs
    analyses in worker threads. For real J numpy returns ``v = a + i b`` for the first of a pair: ``a`` and
    ``b`` are LAPACK's real columns.
    """
    d = J.shape[0]
    w, V = np.linalg.eig(J)
    if np.iscomplexobj(J):
        return w.astype(np.complex128), V / np.linalg.norm(V, axis=0), np.zeros(d, dtype=bool)
    w = w.astype(np.complex128)
    first = w.imag > 0  # (d,): column j holds a, column j + 1 holds b
    j = np.flatnonzero(first)
    if np.iscomplexobj(V):
        R = np.ascontiguousarray(V.real)
        R[:, j + 1] = V.imag[:, j]
    else:
        R = V
    n2 = np.einsum("ij,ij->j", R, R)  # (d,) squared column norms
    n2[j] = n2[j + 1] = 0.5 * (n2[j] + n2[j + 1])  # ||v||^2 / 2 for both columns of a pair
    return w, R / np.sqrt(n2), first


def _check_info(info: int) -> None:
    if info > 0:
        raise np.linalg.LinAlgError(f"eig algorithm (geev) did not converge ({info} eigenvalues failed).")


def _cond_2(A: np.ndarray) -> float:
    """``cond_2(A)`` of a square A; ``inf`` if ``sigma_min <= d * eps * sigma_max``."""
    d = A.shape[0]
    if d > _COND_DENSE_MAX and A.shape[1] == d:
        try:
            with warnings.catch_warnings():  # an exactly singular A warns; it is reported as inf below
                warnings.simplefilter("ignore", sla.LinAlgWarning)
                lu = sla.lu_factor(A, check_finite=False)
        except (ValueError, np.linalg.LinAlgError):
            return float("inf")
        if not np.all(np.isfinite(lu[0])) or np.min(np.abs(np.diag(lu[0]))) == 0.0:
            return float("inf")
        inverse = spla.LinearOperator(
            (d, d), dtype=A.dtype, matvec=lambda x: sla.lu_solve(lu, x, check_finite=False),
            rmatvec=lambda x: sla.lu_solve(lu, x, trans=2, check_finite=False),
        )  # fmt: skip
        kappa = _cond_from_norms(A, inverse, d)
        if kappa is not None:
            return kappa
    s = np.linalg.svd(A, compute_uv=False)
    if not s[-1] > A.shape[0] * _EPS * s[0]:
        return float("inf")
    return float(s[0] / s[-1])


def _norm_lanczos(A: Any, d: int) -> float | None:
    """``||A||_2`` of a (d, d) array or LinearOperator by ARPACK Lanczos; None if it did not converge."""
    v0 = np.full(d, 1.0 / np.sqrt(d), dtype=A.dtype)
    try:
        s = spla.svds(A, k=1, tol=_COND_LANCZOS_TOL, v0=v0, return_singular_vectors=False)
    except (spla.ArpackNoConvergence, spla.ArpackError):
        return None
    return float(s[0]) if np.isfinite(s[0]) else None


def _cond_from_norms(A: Any, A_inv: Any, d: int) -> float | None:
    """``||A|| ||A^-1||`` (``inf`` past ``1 / (d eps)``), or None when a Lanczos norm failed (caller uses the SVD)."""
    a, b = _norm_lanczos(A, d), _norm_lanczos(A_inv, d)
    if a is None or b is None:
        return None
    kappa = a * b
    return float("inf") if not kappa < 1.0 / (d * _EPS) else float(kappa)


def _kappa_and_conditions(R: np.ndarray, first: np.ndarray) -> tuple[float, np.ndarray | None]:
    """kappa(V) = cond_2(R) and the eigenvalue condition numbers ||row_i(V^{-1})|| (LAPACK order).

    The condition numbers are ``None`` when R is numerically singular (kappa = inf). For d above
    ``_COND_DENSE_MAX`` kappa comes from the Lanczos norms of R and of the inverse computed for the
    condition numbers (same accuracy as the SVD: both lose ``kappa * eps`` relative).
    """
    d = R.shape[0]
    kappa: float | None = None
    Rinv = None
    if d > _COND_DENSE_MAX:
        try:
            Rinv = np.linalg.inv(R)  # numpy: releases the GIL (worker threads)
        except np.linalg.LinAlgError:  # exactly singular
            return float("inf"), None
        if np.all(np.isfinite(Rinv)):
            kappa = _cond_from_norms(R, Rinv, d)
    if kappa is None:
        kappa = _cond_2(R)
    if np.isinf(kappa):
        return kappa, None
    if Rinv is None:
        Rinv = np.linalg.inv(R)  # numpy: releases the GIL (worker threads)
    r2 = np.einsum("ij,ij->i", Rinv, Rinv.conj()).real  # (d,) squared row norms
    j = np.flatnonzero(first)
    r2[j] = r2[j + 1] = 0.5 * (r2[j] + r2[j + 1])
    c = np.sqrt(r2)
    return kappa, np.where(c < 1.0 / (d * _EPS), c, np.inf)


def _eig_left_right(J: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fallback for a numerically singular V: eigenvalues, R, pair mask and ``1 / |y^H x|`` from left vectors."""
    d = J.shape[0]
    w, VL, VR = sla.eig(J, left=True, right=True, check_finite=False)
    VL = VL / np.linalg.norm(VL, axis=0)
    VR = VR / np.linalg.norm(VR, axis=0)
    s = np.abs(np.sum(VL.conj() * VR, axis=0))  # |y_i^H x_i|, (d,)
    with np.errstate(divide="ignore"):
        cond = np.where(s > d * _EPS, 1.0 / np.maximum(s, d * _EPS), np.inf)
    return w.astype(np.complex128), VR, np.zeros(d, dtype=bool), cond


def _complex_columns(R: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The unit-column complex eigenvector matrix ``V = R blockdiag(U)``."""
    V = R.astype(np.complex128)
    j = np.flatnonzero(first)
    v = (R[:, j] + 1j * R[:, j + 1]) / np.sqrt(2.0)
    V[:, j], V[:, j + 1] = v, v.conj()
    return V


def _select_closest(t: np.ndarray, members: np.ndarray) -> np.ndarray:
    """int32 mask (d,) of the ``len(members)`` Schur diagonal entries ``t`` closest to the cluster ``members``."""
    dist = np.min(np.abs(t[:, None] - members[None, :]), axis=1)  # (d,)
    select = np.zeros(t.shape[0], dtype=np.int32)
    select[np.argsort(dist, kind="stable")[: members.shape[0]]] = 1
    return select


def _cluster_kappa(
    J: np.ndarray,
    R: np.ndarray,
    first: np.ndarray,
    order: np.ndarray,
    w: np.ndarray,
    clusters: tuple[tuple[int, ...], ...],
) -> float:
    """cond_2 of [unit eigenvectors of isolated eigenvalues, orthonormal bases of the cluster subspaces].

    ``R``, ``first`` are in LAPACK order, ``w`` sorted (``w = w_lapack[order]``), ``clusters`` index ``w``.
    Each cluster's spectral subspace is the leading invariant subspace after moving the cluster's Schur
    diagonal entries to the top (LAPACK ``trsen``, entries matched to the cluster by proximity). For real J
    whose clusters are closed under conjugation, everything stays real: the real Schur vectors span the same
    (conjugation-invariant) subspaces, and R has the singular values of the complex eigenvector columns.
    Shortcut without a Schur form: when every cluster's eigenvector columns are well conditioned
    (``cond_2 <= _SPAN_COND``, a semisimple-like cluster) they span its spectral subspace of the backward-perturbed
    matrix; its orthonormal basis comes from a QR of those columns (accuracy loses at most that condition number).
    """
    d = J.shape[0]
    groups = [order[list(idx)] for idx in clusters]  # LAPACK-order indices
    in_cluster = np.zeros(d, dtype=bool)
    for g in groups:
        in_cluster[g] = True
    partner = np.arange(d)
    j = np.flatnonzero(first)
    partner[j], partner[j + 1] = j + 1, j
    closed = all(set(partner[g]) == set(g) for g in groups)  # always for complex J (no pairs)
    if closed and all(_cond_2(R[:, g]) <= _SPAN_COND for g in groups):  # the eigenvectors span each subspace
        return _cond_2(np.hstack([R[:, ~in_cluster]] + [np.linalg.qr(R[:, g])[0] for g in groups]))
    if np.iscomplexobj(J) or not closed:
        return _cluster_kappa_complex(J, w, _complex_columns(R, first)[:, order], clusters)
    t, _, wr, wi, Z, _, info = sla.lapack.dgees(lambda a, b: 0, J, lwork=_lwork(sla.lapack.dgeev_lwork, d))
    _check_info(info)
    T, Z = np.asfortranarray(t), np.asfortranarray(Z)
    cols = [R[:, ~in_cluster]]
    for idx in clusters:
        select = _select_closest(wr + 1j * wi, w[list(idx)])  # (wr, wi): Schur diagonal order
        T, Z, wr, wi, m, _, _, info = sla.lapack.dtrsen(select, T, Z, job="N", overwrite_t=1, overwrite_q=1)
        if info != 0:  # reordering failed (eigenvalues too close to swap): no finite measure available
            return float("inf")
        if m != len(idx):  # a 2x2 block was split by the selection: use the complex Schur form
            return _cluster_kappa_complex(J, w, _complex_columns(R, first)[:, order], clusters)
        cols.append(Z[:, :m].copy())
    return _cond_2(np.hstack(cols))


def _complex_schur(J: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if np.iscomplexobj(J):
        return sla.schur(J, output="complex")
    T, Z = sla.schur(J, output="real")
    return sla.rsf2csf(T, Z)


def _cluster_kappa_complex(J: np.ndarray, w: np.ndarray, V: np.ndarray, clusters: tuple[tuple[int, ...], ...]) -> float:
    """:func:`_cluster_kappa` in complex arithmetic; ``V`` (d, d) unit eigenvector columns in sorted order."""
    d = J.shape[0]
    in_cluster = np.zeros(d, dtype=bool)
    for idx in clusters:
        in_cluster[list(idx)] = True
    cols = [V[:, ~in_cluster]]
    T, Z = _complex_schur(J)
    T, Z = np.asfortranarray(T, dtype=complex), np.asfortranarray(Z, dtype=complex)
    for idx in clusters:
        select = _select_closest(np.diag(T), w[list(idx)])
        T, Z, _, _, _, _, info = sla.lapack.ztrsen(select, T, Z, job="N", overwrite_t=1, overwrite_q=1)
        if info != 0:  # reordering failed (eigenvalues too close to swap): no finite measure available
            return float("inf")
        cols.append(Z[:, : len(idx)].copy())
    return _cond_2(np.hstack(cols))


def _departure(fro: float, w: np.ndarray) -> float:
    return float(np.sqrt(max(fro**2 - float(np.sum(np.abs(w) ** 2)), 0.0)))


def _check_blocks(blocks: Any, d: int) -> np.ndarray:
    B = np.asarray(blocks.detach().cpu().numpy() if hasattr(blocks, "detach") else blocks)
    if B.ndim != 3 or B.shape[1:] != (2, 2):
        raise ValueError(f"blocks must have shape (n, 2, 2); got shape {B.shape}.")
    if 2 * B.shape[0] != d:
        raise ValueError(f"blocks must have shape ({d // 2}, 2, 2) to match J of shape ({d}, {d}); got {B.shape}.")
    return check_matrix(B.reshape(B.shape[0], 4), "blocks", square=False).reshape(B.shape)


def _as_diag_or_matrix(M: Any, name: str, n: int) -> np.ndarray:
    """Return ``M`` as a validated (n,) vector or (n, n) matrix."""
    if hasattr(M, "detach"):
        M = M.detach().cpu().numpy()
    arr = np.asarray(M)
    if arr.ndim == 1 and arr.dtype != object:
        if arr.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) or ({n}, {n}) to match H; got shape {arr.shape}.")
        return check_matrix(arr[None, :], name, square=False)[0]
    if arr.ndim == 2:
        if arr.shape != (n, n):
            raise ValueError(f"{name} must have shape ({n},) or ({n}, {n}) to match H; got shape {arr.shape}.")
        return check_matrix(arr, name)
    raise ValueError(
        f"{name} must be a 1-D diagonal of shape ({n},) or a 2-D array of shape ({n}, {n}); got {arr.shape}."
    )


# --------------------------------------------------------------------------------------------------
# spectrum


def spectrum(J: ArrayLike, *, blocks: np.ndarray | None = None, cluster_tol: float = 1e-8) -> SpectrumResult:
    """Eigenvalues, spectral radius, kappa(V), eigenvalue condition numbers, clusters and departure of ``J``.

    Parameters
    ----------
    J : array_like of shape (d, d)
        Real or complex square matrix, finite. For an update operator: the state ``z`` (parameters first)
        advances as ``z_next = J @ z``.
    blocks : ndarray of shape (d // 2, 2, 2), optional
        Fast path: the caller guarantees ``J = U blockdiag(blocks) U^T`` with ``U`` orthogonal (heavy ball /
        Nesterov / GD on a symmetric H, see :mod:`nnspec_core.blocks`). Everything is then computed from 2x2
        closed forms (``kappa_V = max_i kappa2x2(B_i)``, since for a direct sum with unit eigenvector columns
        ``cond_2(V) = sqrt((1 + c_max) / (1 - c_max))`` with ``c_max`` the largest eigenvector cosine).
        Only ``||J||_F`` and ``trace(J)`` are cross-checked against the blocks.
    cluster_tol : float
        Relative gap (scaled by ``||J||_F``) below which eigenvalues are grouped into a cluster.

    Returns
    -------
    SpectrumResult
        See its attributes for conventions (unit 2-norm eigenvector columns, sort order, clusters).

    Raises
    ------
    ValueError
        If ``J`` is not square, empty or non-finite, or ``blocks`` has the wrong shape or does not match J.
    TypeError
        If ``J`` or ``blocks`` is not numeric.
    """
    J = check_matrix(J, "J")
    cluster_tol = check_scalar(cluster_tol, "cluster_tol", min_val=0.0)
    fro = float(np.linalg.norm(J))
    if blocks is not None:
        return _spectrum_blocks(J, _check_blocks(blocks, J.shape[0]), fro, cluster_tol)
    if _hermitian_defect(J, fro) <= HERMITIAN_TOL:
        return _spectrum_eigh(J, fro, cluster_tol)
    return _spectrum_eig(J, fro, cluster_tol)


def _spectrum_eigh(J: np.ndarray, fro: float, cluster_tol: float) -> SpectrumResult:
    d = J.shape[0]
    w = np.linalg.eigvalsh(0.5 * (J + J.conj().T)).astype(np.complex128)
    w = w[_sort_order(w)]
    cond = np.ones(d)
    return SpectrumResult(
        eigenvalues=_frozen(w),
        spectral_radius=float(np.abs(w).max()),
        kappa_V=1.0,
        kappa_status="normal",
        eigval_condition=_frozen(cond),
        clusters=_find_clusters(w, cond, fro, cluster_tol),
        kappa_V_cluster=1.0,
        departure=0.0,
        departure_rel=0.0,
        normality_residual=_normality_residual(J, fro),
        method="eigh",
    )


def _spectrum_eig(J: np.ndarray, fro: float, cluster_tol: float) -> SpectrumResult:
    d = J.shape[0]
    residual = _normality_residual(J, fro)
    if residual <= NORMAL_TOL:
        w = sla.eigvals(J, check_finite=False).astype(np.complex128)
        w = w[_sort_order(w)]
        cond = np.ones(d)
        clusters = _find_clusters(w, cond, fro, cluster_tol)
        kappa, kappa_cl, status = 1.0, 1.0, "normal"
    else:
        w, R, first = _right_eig(J)  # LAPACK order
        kappa, cond = _kappa_and_conditions(R, first)
        if cond is None:  # V numerically singular: eigenvalue conditions from LAPACK's left vectors
            w, R, first, cond = _eig_left_right(J)
            kappa = _cond_2(R)
        order = _sort_order(w)
        w, cond = w[order], cond[order]
        clusters = _find_clusters(w, cond, fro, cluster_tol)
        kappa_cl = _cluster_kappa(J, R, first, order, w, clusters) if clusters else kappa
        status = "defective" if np.isinf(kappa) else ("clustered" if clusters else "ok")
    departure = _departure(fro, w)
    return SpectrumResult(
        eigenvalues=_frozen(w),
        spectral_radius=float(np.abs(w).max()),
        kappa_V=kappa,
        kappa_status=status,
        eigval_condition=_frozen(cond),
        clusters=clusters,
        kappa_V_cluster=kappa_cl,
        departure=departure,
        departure_rel=departure / fro if fro > 0 else 0.0,
        normality_residual=residual,
        method="eig",
    )


def _spectrum_blocks(J: np.ndarray, B: np.ndarray, fro: float, cluster_tol: float) -> SpectrumResult:
    d = J.shape[0]
    fro_B = float(np.sqrt(np.sum(np.abs(B) ** 2)))
    tr_B = complex(np.sum(B[:, 0, 0] + B[:, 1, 1]))
    tol = 1e-8 * max(fro, 1e-300)
    if abs(fro_B - fro) > tol or abs(tr_B - complex(np.trace(J))) > tol * np.sqrt(d):
        raise ValueError(
            f"blocks do not match J: ||blocks||_F = {fro_B:.6g} vs ||J||_F = {fro:.6g}, "
            f"sum of block traces {tr_B:.6g} vs trace(J) {complex(np.trace(J)):.6g}."
        )
    mu = eig2x2(B)  # (n, 2)
    t = departure2x2(B)  # (n,)
    delta = np.abs(mu[:, 0] - mu[:, 1])  # (n,)
    kappa_b = kappa2x2(B)  # (n,)
    kappa_b = np.where(kappa_b > 1.0 / (d * _EPS), np.inf, kappa_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        cond_b = np.where(kappa_b == 1.0, 1.0, np.where(delta > 0, np.sqrt(1.0 + (t / delta) ** 2), np.inf))
    cond_b = np.where(np.isinf(kappa_b), np.inf, cond_b)
    w_all = mu.reshape(-1)  # (d,), block i owns entries 2i, 2i+1
    order = _sort_order(w_all)
    w = w_all[order]
    cond = np.repeat(cond_b, 2)[order]
    block_of = (np.arange(d) // 2)[order]  # (d,) block index of each sorted eigenvalue
    clusters = _find_clusters(w, cond, fro, cluster_tol)
    merged = np.zeros(B.shape[0], dtype=bool)  # both eigenvalues of a block in one cluster
    for idx in clusters:
        blk, cnt = np.unique(block_of[list(idx)], return_counts=True)
        merged[blk[cnt == 2]] = True
    kappa = float(kappa_b.max())
    kappa_cl = float(kappa_b[~merged].max()) if np.any(~merged) else 1.0
    comm = np.einsum("nij,nkj->nik", B, B.conj()) - np.einsum("nji,njk->nik", B.conj(), B)  # B B^H - B^H B
    residual = float(np.sqrt(np.sum(np.abs(comm) ** 2))) / fro**2 if fro > 0 else 0.0
    departure = float(np.sqrt(np.sum(t**2)))
    if kappa == 1.0:
        status = "normal"
    elif np.isinf(kappa):
        status = "defective"
    else:
        status = "clustered" if clusters else "ok"
    return SpectrumResult(
        eigenvalues=_frozen(w),
        spectral_radius=float(np.abs(w).max()),
        kappa_V=kappa,
        kappa_status=status,
        eigval_condition=_frozen(cond),
        clusters=clusters,
        kappa_V_cluster=kappa_cl,
        departure=departure,
        departure_rel=departure / fro if fro > 0 else 0.0,
        normality_residual=residual,
        method="blocks",
    )


def eigenvalues(J: ArrayLike) -> np.ndarray:
    """Eigenvalues of ``J`` (shape (d, d)) as complex128 of shape (d,), sorted by decreasing modulus.

    Uses ``eigvalsh`` for (numerically) Hermitian J, ``eigvals`` otherwise; agrees with
    ``spectrum(J).eigenvalues`` to rounding.
    """
    J = check_matrix(J, "J")
    if _hermitian_defect(J, float(np.linalg.norm(J))) <= HERMITIAN_TOL:
        w = np.linalg.eigvalsh(0.5 * (J + J.conj().T)).astype(np.complex128)
    else:
        w = sla.eigvals(J, check_finite=False).astype(np.complex128)
    return w[_sort_order(w)]


def spectral_radius(J: ArrayLike) -> float:
    """Spectral radius ``max |lambda_i|`` of ``J`` (shape (d, d))."""
    return float(np.abs(eigenvalues(J)).max())


def kappa_V(J: ArrayLike) -> float:
    """Eigenvector condition number ``cond_2(V)`` of ``J`` (shape (d, d)) with unit 2-norm eigenvector columns.

    1 for Hermitian / numerically normal J, ``inf`` for a (numerically) defective J. See :func:`spectrum`
    for the cluster-aware alternative when eigenvalues are near-degenerate.
    """
    return spectrum(J).kappa_V


def eigenvalue_condition_numbers(J: ArrayLike) -> np.ndarray:
    """Per-eigenvalue condition numbers ``1 / |y^H x|`` (unit left/right vectors), shape (d,).

    Ordered like ``spectrum(J).eigenvalues`` (decreasing modulus); ``inf`` where ``y^H x`` vanishes.
    """
    return spectrum(J).eigval_condition


def henrici_departure(J: ArrayLike) -> tuple[float, float]:
    """Henrici departure from normality of ``J`` (shape (d, d)) and its value relative to ``||J||_F``.

    Returns
    -------
    departure : float
        ``sqrt(max(||J||_F^2 - sum_i |lambda_i|^2, 0))``, the Frobenius norm of the strictly upper part of
        any Schur form; 0 for Hermitian J. Absolute accuracy about ``sqrt(eps) * ||J||_F``.
    departure_rel : float
        ``departure / ||J||_F`` (0 for the zero matrix).
    """
    J = check_matrix(J, "J")
    fro = float(np.linalg.norm(J))
    if _hermitian_defect(J, fro) <= HERMITIAN_TOL:
        return 0.0, 0.0
    dep = _departure(fro, sla.eigvals(J, check_finite=False))
    return dep, (dep / fro if fro > 0 else 0.0)


def commutator_norm(H: ArrayLike, M: ArrayLike) -> tuple[float, float]:
    """Frobenius norm of the commutator ``[H, M] = H M - M H``, absolute and relative.

    Parameters
    ----------
    H : array_like of shape (n, n)
        Hessian (any square matrix).
    M : array_like of shape (n,) or (n, n)
        Preconditioner: a diagonal given by its entries (``M = diag(m)``), or a full matrix.

    Returns
    -------
    norm : float
        ``||H M - M H||_F``.
    norm_rel : float
        ``||[H, M]||_F / (||H||_F ||M||_F)`` (0 if either factor is zero).
    """
    H = check_matrix(H, "H")
    M = _as_diag_or_matrix(M, "M", H.shape[0])
    if M.ndim == 1:
        C = H * (M[None, :] - M[:, None])  # [H, diag(m)]_ij = H_ij (m_j - m_i)
    else:
        C = H @ M - M @ H
    norm = float(np.linalg.norm(C))
    denom = float(np.linalg.norm(H)) * float(np.linalg.norm(M))
    return norm, (norm / denom if denom > 0 else 0.0)


# --------------------------------------------------------------------------------------------------
# mode classes and thresholds


def classify_eigenvalues(mu: ArrayLike, *, tol: float = 1e-9) -> np.ndarray:
    """Class of each eigenvalue of an update operator, shape (d,) of str.

    ``"stable"``: ``|mu| < 1 - tol``. Otherwise (on or outside the unit circle, marginal modes included):
    ``"eos_flip"`` if mu is real and negative (edge-of-stability flip, ``mu <= -1``), ``"escape"`` if real and
    positive (``mu >= 1``: negative-curvature escape; a flat direction gives ``mu = 1``), ``"spiral"`` if complex
    (a momentum spiral, conjugate pair). ``mu`` is real when ``|Im mu| <= tol * max(1, |mu|)``.

    Parameters
    ----------
    mu : array_like of shape (d,)
        Eigenvalues (real or complex).
    tol : float
        Tolerance for the unit circle and for realness.
    """
    mu = check_matrix(np.atleast_1d(np.asarray(mu))[None, :], "mu", square=False)[0]
    tol = check_scalar(tol, "tol", min_val=0.0, max_val=0.5)
    mu = mu.astype(np.complex128)
    r = np.abs(mu)
    real = np.abs(mu.imag) <= tol * np.maximum(1.0, r)
    out = np.where(r < 1.0 - tol, "stable", np.where(real, np.where(mu.real < 0, "eos_flip", "escape"), "spiral"))
    return out.astype("<U8")


def rho_plus(mu: ArrayLike, classes: ArrayLike | None = None) -> float:
    """Spectral radius over the eigenvalues that are not negative-curvature ``"escape"`` modes.

    Parameters
    ----------
    mu : array_like of shape (d,)
        Eigenvalues.
    classes : array_like of shape (d,), optional
        Their classes (default: :func:`classify_eigenvalues` with its default tolerance).

    Returns
    -------
    float
        ``max |mu_i|`` over ``classes[i] != "escape"``; 0.0 if every eigenvalue is an escape mode.
    """
    mu = check_matrix(np.atleast_1d(np.asarray(mu))[None, :], "mu", square=False)[0]
    classes = classify_eigenvalues(mu) if classes is None else np.asarray(classes)
    if classes.shape != mu.shape:
        raise ValueError(f"classes must have shape {mu.shape} like mu; got shape {classes.shape}.")
    keep = classes != "escape"
    return float(np.abs(mu[keep]).max()) if np.any(keep) else 0.0


def stability_threshold(
    optimizer: str,
    *,
    lr: float,
    momentum: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
) -> float:
    """Classical stability threshold on the (preconditioned) sharpness for a quadratic.

    - ``"gd"``: ``2 / lr`` (``lambda_max(H)``; momentum ignored).
    - ``"heavy_ball"``: ``(2 + 2 beta) / lr`` (torch SGD momentum, dampening 0).
    - ``"nesterov"``: ``(2 + 2 beta) / ((1 + 2 beta) lr)``.
    - ``"rmsprop"``: ``(2 + 2 beta) / lr`` on the preconditioned sharpness (``2 / lr`` without momentum).
    - ``"adam"`` / ``"adamw"``: ``(2 + 2 beta1) / ((1 - beta1) lr)`` on the preconditioned sharpness
      ``lambda_max(P^{-1} H)`` (frozen preconditioner, bias correction ignored; ``38 / lr`` at beta1 = 0.9).

    Each is the value of the (preconditioned) Hessian eigenvalue at which a 2x2 mode block has the
    eigenvalue ``mu = -1``.

    Parameters
    ----------
    optimizer : {"gd", "heavy_ball", "nesterov", "rmsprop", "adam", "adamw"}
    lr : float
        Learning rate eta (per step), > 0.
    momentum : float
        beta in [0, 1) (heavy_ball, nesterov, rmsprop).
    betas : tuple of float
        (beta1, beta2) in [0, 1) (adam, adamw); only beta1 enters.
    """
    optimizer = check_choice(optimizer, "optimizer", THRESHOLD_OPTIMIZERS)
    eta = check_scalar(lr, "lr", min_val=0.0, include_min=False)
    beta = check_scalar(momentum, "momentum", min_val=0.0, max_val=1.0, include_max=False)
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2); got {betas!r}.")
    beta1 = check_scalar(betas[0], "betas[0]", min_val=0.0, max_val=1.0, include_max=False)
    check_scalar(betas[1], "betas[1]", min_val=0.0, max_val=1.0, include_max=False)
    if optimizer == "gd":
        return 2.0 / eta
    if optimizer in ("heavy_ball", "rmsprop"):
        return (2.0 + 2.0 * beta) / eta
    if optimizer == "nesterov":
        return (2.0 + 2.0 * beta) / ((1.0 + 2.0 * beta) * eta)
    return (2.0 + 2.0 * beta1) / ((1.0 - beta1) * eta)


def _sym(H: np.ndarray, name: str) -> np.ndarray:
    fro = float(np.linalg.norm(H))
    if fro > 0 and float(np.linalg.norm(H - H.conj().T)) > 1e-6 * fro:
        raise ValueError(
            f"{name} must be symmetric (Hermitian); got relative asymmetry {_hermitian_defect(H, fro):.3g}."
        )
    return 0.5 * (H + H.conj().T)


def preconditioned_sharpness(H: ArrayLike, M: ArrayLike) -> float:
    """Preconditioned sharpness ``lambda_max(M^{1/2} H M^{1/2}) = lambda_max(P^{-1} H)`` with ``P^{-1} = M``.

    Parameters
    ----------
    H : array_like of shape (n, n)
        Symmetric Hessian (symmetrised as ``(H + H^H) / 2``; relative asymmetry above 1e-6 is refused).
    M : array_like of shape (n,) or (n, n)
        Inverse preconditioner: diagonal entries (>= 0), e.g. Adam's ``1 / (sqrt(v_hat) + eps)``, or a
        symmetric positive semidefinite matrix.

    Returns
    -------
    float
        Largest eigenvalue of ``M^{1/2} H M^{1/2}`` (real).
    """
    H = _sym(check_matrix(H, "H"), "H")
    M = _as_diag_or_matrix(M, "M", H.shape[0])
    if M.ndim == 1:
        if np.iscomplexobj(M) or np.any(M < 0):
            raise ValueError(
                "M must be real and nonnegative (a diagonal preconditioner); got negative/complex entries."
            )
        s = np.sqrt(M)
        A = s[:, None] * H * s[None, :]
    else:
        lam, Q = np.linalg.eigh(_sym(M, "M"))
        if lam.min() < -1e-12 * max(abs(lam.max()), 1e-300):
            raise ValueError(f"M must be positive semidefinite; got smallest eigenvalue {lam.min():.3g}.")
        S = (Q * np.sqrt(np.clip(lam, 0.0, None))) @ Q.conj().T
        A = S @ H @ S
    return float(np.linalg.eigvalsh(0.5 * (A + A.conj().T))[-1])


# --------------------------------------------------------------------------------------------------
# operator diagnostics (duck-typed on nnspec_core.operators.UpdateOperator)


def operator_diagnostics(op: Any, *, cluster_tol: float = 1e-8, tol: float = 1e-9) -> OperatorDiagnostics:
    """Spectral and stability diagnostics of an optimizer update operator.

    Parameters
    ----------
    op : UpdateOperator-like
        Needs ``J`` (d, d), ``optimizer`` (one of :data:`THRESHOLD_OPTIMIZERS`), ``H`` (n, n), ``hyper`` (dict
        with ``lr`` and optionally ``momentum``, ``betas``, ``weight_decay``, ``step``), and optionally ``blocks``
        ((d // 2, 2, 2) or None: 2x2 fast path), ``preconditioner`` ((n,) diagonal ``M`` or None) and ``coords``.
        :class:`nnspec_core.operators.UpdateOperator` provides all of them.
    cluster_tol : float
        Passed to :func:`spectrum`.
    tol : float
        Passed to :func:`classify_eigenvalues`.

    Returns
    -------
    OperatorDiagnostics
    """
    missing = [a for a in ("J", "optimizer", "H", "hyper") if not hasattr(op, a)]
    if missing:
        raise TypeError(f"op must be an UpdateOperator-like object; got {type(op).__name__} without {missing}.")
    optimizer = check_choice(op.optimizer, "op.optimizer", THRESHOLD_OPTIMIZERS)
    hyper = dict(op.hyper)
    blocks = getattr(op, "blocks", None)
    spec = spectrum(op.J, blocks=blocks, cluster_tol=cluster_tol)
    classes = classify_eigenvalues(spec.eigenvalues, tol=tol)
    H = _sym(check_matrix(op.H, "op.H"), "op.H")
    lam_H = np.linalg.eigvalsh(H)
    wd = float(hyper.get("weight_decay", 0.0) or 0.0)
    H_eff = H if optimizer == "adamw" else H + wd * np.eye(H.shape[0])
    M = getattr(op, "preconditioner", None)
    commutator = commutator_rel = None
    if optimizer in _ADAPTIVE:
        if M is None:
            sharpness = float("nan")
        else:
            c1 = 1.0
            if optimizer != "rmsprop" and hyper.get("step"):
                beta1 = float((hyper.get("betas") or (0.9, 0.999))[0])
                c1 = 1.0 / (1.0 - beta1 ** int(hyper["step"]))
            sharpness = c1 * preconditioned_sharpness(H_eff, M)
            commutator, commutator_rel = commutator_norm(H, M)
    else:
        sharpness = float(lam_H[-1]) + (wd if optimizer != "adamw" else 0.0)
    betas = hyper.get("betas") or (0.9, 0.999)
    threshold_optimizer = optimizer
    if optimizer in ("adam", "adamw") and getattr(op, "coords", None) == "simple":
        threshold_optimizer = "rmsprop"  # momentum dropped: J = I - lr c1 M H~, threshold 2 / lr
    threshold = stability_threshold(
        threshold_optimizer, lr=hyper["lr"], momentum=float(hyper.get("momentum", 0.0) or 0.0), betas=tuple(betas)
    )
    return OperatorDiagnostics(
        spectrum=spec,
        rho=spec.spectral_radius,
        rho_plus=rho_plus(spec.eigenvalues, classes),
        rho_mode=str(classes[0]),
        classes=_frozen(classes),
        n_unstable={c: int(np.count_nonzero(classes == c)) for c in UNSTABLE_CLASSES},
        lambda_max_H=float(lam_H[-1]),
        lambda_min_H=float(lam_H[0]),
        sharpness=sharpness,
        threshold=threshold,
        sharpness_ratio=sharpness / threshold,
        commutator=commutator,
        commutator_rel=commutator_rel,
    )
