"""Exceptional points (EPs): analytic locations, numerical search, and kappa(V) / rho(J) maps.

An exceptional point of a parameter family ``J(p)`` is a parameter value where two eigenvalues
*and* their eigenvectors coalesce: ``J`` is defective there, ``kappa(V) = inf``, and nearby
``kappa(V) ~ |p - p_EP|**(-1/2)`` because the eigenvalue gap opens like a square root.

Analytic EPs (per Hessian eigenvalue ``lam``; the characteristic polynomials are the same in
the "buffer" and "history" state conventions, so the EP locations are too):

heavy ball   ``mu^2 - (1 + beta - eta lam) mu + beta = 0``; discriminant zero at
             ``eta lam = (1 - sqrt(beta))^2`` (branch "lower", critical damping) and
             ``eta lam = (1 + sqrt(beta))^2`` (branch "upper").
Nesterov     ``mu^2 - (1+beta)(1-eta lam) mu + beta (1-eta lam) = 0``; with ``s = 1 - eta lam`` the
             discriminant is ``s ((1+beta)^2 s - 4 beta)``: zero at ``eta lam = 1`` (branch
             "nilpotent": the block is nilpotent, a Jordan block at 0) and at
             ``1 - eta lam = 4 beta / (1+beta)^2``, i.e. ``eta lam = ((1-beta)/(1+beta))^2``
             (branch "critical").
Adam         frozen (theta, m) operator with ``M = diag(1/(sqrt(v_hat) + eps))`` (``v_hat = c2 v``),
             ``c1 = 1/(1 - beta1^t)``::

                 J = [[I - eta c1 (1-beta1) M H, -eta c1 beta1 M], [(1-beta1) H, beta1 I]]   ("raw")

             Scaled coordinates ``z~ = [theta; u]`` with ``u = eta c1 M m`` (the momentum part of the
             step, in parameter units; ``J~ = T J T^-1`` with ``T = diag(I, eta c1 M)``)::

                 J~ = [[I - alpha A, -beta1 I], [alpha A, beta1 I]],  A = M H,  alpha = eta c1 (1-beta1)

             ``A = M H`` is similar to the symmetric ``M^1/2 H M^1/2`` (real eigenvalues ``a_i``,
             positive for SPD H, eigenvectors ``S``). ``J~ = (S (+) S) P blockdiag(B_i) P^T (S (+) S)^-1``
             with the heavy-ball-like blocks ``B_i = [[1 - alpha a_i, -beta1], [alpha a_i, beta1]]``
             (``det B_i = beta1``, ``tr B_i = 1 + beta1 - alpha a_i``), so the EPs are at
             ``eta c1 (1-beta1) a = (1 -/+ sqrt(beta1))^2``, i.e.
             ``eta = (1 -/+ sqrt(beta1))^2 (1 - beta1^t) / ((1 - beta1) a)`` (branches "lower"/"upper").

Commuting H and M (rotation angle 0): ``A`` is symmetric, ``S`` orthogonal, and ``J~`` is
*orthogonally* similar to ``blockdiag(B_i)`` -- its only non-normality is that of the 2x2
momentum blocks (exactly as heavy ball on a symmetric H), and the simple Adam operator
``I - eta c1 A`` is normal. For ``[H, M] != 0`` the Henrici departure splits exactly as
``dep(J~)^2 = sum_i dep(B_i)^2 + 2 alpha^2 dep(A)^2`` (the Frobenius norm of each block of ``J~``
is that of a polynomial in ``A``), and ``kappa(V(J~)) <= kappa(S) max_i kappa(B_i)``.
Note: in the other natural scaling ``[M^-1/2 theta; M^1/2 m]`` the operator is orthogonally
block-diagonal for *every* angle -- the coupling non-normality of frozen Adam is removed by
measuring each parameter in its preconditioned unit; ``"scaled"`` keeps theta physical.
The ``"raw"`` coordinates are torch's ``(theta, m)`` (as ``nnspec_core.operators``, coords "frozen").

kappa(V) is cond_2(V) with unit eigenvector columns (``inf`` for a defective matrix).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from nnspec_core._validation import check_choice, check_matrix, check_scalar
from nnspec_core.blocks import MOMENTUM_COORDS, eig2x2, kappa2x2, momentum_blocks

__all__ = [
    "EP_OPTIMIZERS",
    "EP_BRANCHES",
    "ADAM_COORDS",
    "ep_products",
    "analytic_ep_lr",
    "EPCurve",
    "ep_curves",
    "NearestEP",
    "nearest_analytic_ep",
    "AdamModes",
    "adam_modes",
    "adam_frozen_blocks",
    "adam_frozen_operator",
    "MapResult",
    "kappa_rho_map",
    "family_map",
    "EPWalk",
    "ep_walk",
    "EPDistanceResult",
    "ep_distance",
    "locate_eps",
    "SnapResult",
    "snap_to_ep",
]

EP_OPTIMIZERS = ("gd", "heavy_ball", "nesterov", "adam")
EP_BRANCHES: dict[str, tuple[str, ...]] = {
    "gd": (),
    "heavy_ball": ("lower", "upper"),
    "nesterov": ("critical", "nilpotent"),
    "adam": ("lower", "upper"),
}
ADAM_COORDS = ("scaled", "raw")
_PLANE_NAMES = ("lr", "momentum", "beta1")
_EPS = np.finfo(float).eps
_GRAM_LIMIT = 1e4  # Gram-matrix kappa is accurate to ~kappa^2 eps relative: 1e-8 at kappa = 1e4


# ----------------------------------------------------------------------------- analytic EPs


def _check_momentum_array(momentum: ArrayLike, name: str = "momentum") -> np.ndarray:
    beta = np.asarray(momentum, dtype=float)
    if not np.all(np.isfinite(beta)) or np.any(beta < 0) or np.any(beta >= 1):
        raise ValueError(f"{name} must lie in [0, 1); got values in [{np.min(beta)!r}, {np.max(beta)!r}].")
    return beta


def ep_products(optimizer: str, momentum: ArrayLike, *, step: int = 1) -> np.ndarray:
    """Value of the EP product ``eta * lam`` (Adam: ``eta * a``) per branch.

    Parameters
    ----------
    optimizer : {"gd", "heavy_ball", "nesterov", "adam"}
    momentum : array_like of shape (...)
        beta (heavy ball, Nesterov) or beta1 (Adam), in [0, 1).
    step : int
        Adam's bias-correction step t (>= 1); ignored otherwise.

    Returns
    -------
    ndarray of shape (...) + (len(EP_BRANCHES[optimizer]),)
        Branches in the order of ``EP_BRANCHES[optimizer]`` ("gd" has none: ``J = I - eta H`` is symmetric).
    """
    check_choice(optimizer, "optimizer", EP_OPTIMIZERS)
    beta = _check_momentum_array(momentum)
    step = int(check_scalar(step, "step", min_val=1, integer=True))
    sq = np.sqrt(beta)
    if optimizer == "gd":
        return np.zeros(beta.shape + (0,))
    if optimizer == "heavy_ball":
        return np.stack([(1 - sq) ** 2, (1 + sq) ** 2], axis=-1)
    if optimizer == "nesterov":
        return np.stack([((1 - beta) / (1 + beta)) ** 2, np.ones_like(beta)], axis=-1)
    # adam: eta c1 (1 - beta1) a = (1 -/+ sqrt(beta1))^2; (1 - beta1^t)/(1 - beta1) = sum_{k<t} beta1^k
    geom = np.where(beta > 0, (1 - beta**step) / np.where(beta > 0, 1 - beta, 1.0), 1.0)
    return np.stack([(1 - sq) ** 2 * geom, (1 + sq) ** 2 * geom], axis=-1)


def analytic_ep_lr(optimizer: str, lam: ArrayLike, *, momentum: float, step: int = 1) -> np.ndarray:
    """Learning rates at which a mode with curvature ``lam`` sits on an exceptional point.

    Parameters
    ----------
    optimizer : {"gd", "heavy_ball", "nesterov", "adam"}
    lam : array_like of shape (n,)
        Hessian eigenvalues (Adam: eigenvalues ``a`` of ``M H``, see :func:`adam_modes`).
    momentum : float
        beta, or beta1 for Adam.
    step : int
        Adam's bias-correction step t.

    Returns
    -------
    ndarray of shape (n, n_branch)
        ``eta_EP = product / lam``; NaN where ``lam <= 0`` (no EP at positive eta).
    """
    lam = np.atleast_1d(np.asarray(lam, dtype=float))
    if lam.ndim != 1 or not np.all(np.isfinite(lam)):
        raise ValueError(f"lam must be a finite 1-D array; got shape {lam.shape}.")
    prod = ep_products(optimizer, check_scalar(momentum, "momentum", min_val=0.0, max_val=1.0), step=step)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(lam[:, None] > 0, prod[None, :] / lam[:, None], np.nan)


@dataclass(frozen=True)
class EPCurve:
    """One analytic EP curve in a parameter plane (NaN where it leaves the plotted ranges).

    Attributes
    ----------
    name : str
        Legend label, e.g. ``"EP lower, λ=1"``.
    branch : str
        Branch name from ``EP_BRANCHES``.
    lam : float
        Curvature of the mode (Hessian eigenvalue, or Adam's ``a``).
    x, y : ndarray of shape (n_points,)
        Coordinates in the plane ``(x_name, y_name)``.
    x_name, y_name : str
    """

    name: str
    branch: str
    lam: float
    x: np.ndarray
    y: np.ndarray
    x_name: str
    y_name: str


def ep_curves(
    optimizer: str,
    lam: ArrayLike,
    *,
    plane: tuple[str, str] = ("lr", "momentum"),
    ranges: tuple[tuple[float, float], tuple[float, float]],
    step: int = 1,
    n_points: int = 256,
) -> list[EPCurve]:
    """Analytic EP curves ``eta_EP(beta)`` for every mode and branch, in an (lr, momentum) plane.

    Parameters
    ----------
    optimizer : {"gd", "heavy_ball", "nesterov", "adam"}
    lam : array_like of shape (n,)
        Hessian eigenvalues (Adam: eigenvalues of ``M H``); modes with ``lam <= 0`` have no curve.
    plane : tuple of two names
        ``("lr", "momentum")`` or ``("momentum", "lr")``; ``"beta1"`` is accepted for ``"momentum"``.
    ranges : ((x_lo, x_hi), (y_lo, y_hi))
        Plotted ranges in the plane's order; the momentum range must lie in [0, 1).
    step : int
        Adam's bias-correction step t.
    n_points : int
        Momentum samples per curve (linear spacing).

    Returns
    -------
    list of EPCurve
        ``len(lam_positive) * len(EP_BRANCHES[optimizer])`` curves; lr outside its range is NaN.
    """
    check_choice(optimizer, "optimizer", EP_OPTIMIZERS)
    if len(plane) != 2 or set(plane) - set(_PLANE_NAMES) or len({p.replace("beta1", "momentum") for p in plane}) != 2:
        raise ValueError(f"plane must be ('lr', 'momentum') or ('momentum', 'lr'); got {plane!r}.")
    lr_axis = plane.index("lr")
    (lr_lo, lr_hi), (b_lo, b_hi) = (ranges[0], ranges[1]) if lr_axis == 0 else (ranges[1], ranges[0])
    _check_momentum_array([b_lo, b_hi], "momentum range")
    n_points = int(check_scalar(n_points, "n_points", min_val=2, integer=True))
    lam = np.atleast_1d(np.asarray(lam, dtype=float))
    beta = np.linspace(b_lo, b_hi, n_points)
    prod = ep_products(optimizer, beta, step=step)  # (n_points, n_branch)
    curves = []
    for lam_i in lam[lam > 0]:
        for k, branch in enumerate(EP_BRANCHES[optimizer]):
            eta = prod[:, k] / lam_i
            eta = np.where((eta >= lr_lo) & (eta <= lr_hi), eta, np.nan)
            x, y = (eta, beta.copy()) if lr_axis == 0 else (beta.copy(), eta)
            curves.append(EPCurve(f"EP {branch}, λ={lam_i:.3g}", branch, float(lam_i), x, y, plane[0], plane[1]))
    return curves


@dataclass(frozen=True)
class NearestEP:
    """The analytic EP nearest to the current learning rate along the eta axis (momentum fixed).

    Attributes
    ----------
    found : bool
        False when no mode has an EP at positive eta (e.g. gd, or all curvatures <= 0).
    lr : float
        eta at that EP (NaN if not found).
    branch : str
        Branch name from ``EP_BRANCHES`` ("" if not found).
    mode : int
        Index into ``curvatures`` (-1 if not found).
    curvature : float
        The mode's curvature (Hessian eigenvalue, or Adam's ``a``).
    relative_change : float
        ``lr_EP / lr - 1`` (signed: how far to move eta).
    log_distance : float
        ``|ln(lr_EP / lr)|`` (inf if not found).
    """

    found: bool
    lr: float
    branch: str
    mode: int
    curvature: float
    relative_change: float
    log_distance: float


def nearest_analytic_ep(
    optimizer: str, curvatures: ArrayLike, *, lr: float, momentum: float, step: int = 1
) -> NearestEP:
    """Nearest analytic EP in log(eta) at fixed momentum (beta1 for Adam): the "distance to EP" card.

    Parameters
    ----------
    optimizer : {"gd", "heavy_ball", "nesterov", "adam"}
    curvatures : array_like of shape (n,)
        Hessian eigenvalues, or Adam's eigenvalues of ``M H`` (:func:`adam_modes`).
    lr : float
        Current learning rate (> 0).
    momentum : float
        beta (beta1 for Adam).
    step : int
        Adam's bias-correction step t.

    Returns
    -------
    NearestEP
    """
    lr = check_scalar(lr, "lr", min_val=0.0, include_min=False)
    table = analytic_ep_lr(optimizer, curvatures, momentum=momentum, step=step)  # (n, n_branch)
    lam = np.atleast_1d(np.asarray(curvatures, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.abs(np.log(table / lr))
    if table.size == 0 or not np.any(np.isfinite(dist)):
        return NearestEP(False, math.nan, "", -1, math.nan, math.nan, math.inf)
    i, k = np.unravel_index(int(np.nanargmin(np.where(np.isfinite(dist), dist, np.nan))), table.shape)
    lr_ep = float(table[i, k])
    return NearestEP(True, lr_ep, EP_BRANCHES[optimizer][k], int(i), float(lam[i]), lr_ep / lr - 1.0,
                     float(dist[i, k]))  # fmt: skip


# ----------------------------------------------------------------------------- Adam frozen operator


@dataclass(frozen=True)
class AdamModes:
    """Eigen-decomposition ``M H = S diag(a) S^-1`` of Adam's preconditioned Hessian.

    Attributes
    ----------
    a : ndarray of shape (n,)
        Real eigenvalues of ``M H`` (eigenvalues of the symmetric ``M^1/2 H M^1/2``), ascending.
    S : ndarray of shape (n, n)
        Eigenvectors of ``M H`` in columns, unit 2-norm: ``S = M^1/2 W`` normalised, ``W`` orthogonal.
    preconditioner : ndarray of shape (n,)
        Diagonal of ``M`` (positive).
    """

    a: np.ndarray
    S: np.ndarray
    preconditioner: np.ndarray


def _check_symmetric(H: ArrayLike, name: str = "H") -> np.ndarray:
    H = check_matrix(H, name)
    if np.iscomplexobj(H):
        raise TypeError(f"{name} must be a real symmetric matrix; got complex dtype.")
    scale = max(float(np.abs(H).max()), np.finfo(float).tiny)
    if float(np.abs(H - H.T).max()) > 1e-10 * scale:
        raise ValueError(f"{name} must be symmetric (a Hessian); got max |H - H^T| = {np.abs(H - H.T).max():.3g}.")
    return 0.5 * (H + H.T)


def _check_preconditioner(m: ArrayLike, n: int) -> np.ndarray:
    m = np.asarray(m, dtype=float)
    if m.shape != (n,) or not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise ValueError(f"preconditioner must be a positive finite array of shape ({n},); got shape {m.shape}.")
    return m


def adam_modes(H: ArrayLike, preconditioner: ArrayLike) -> AdamModes:
    """Eigenvalues ``a`` and unit eigenvectors ``S`` of ``M H`` for symmetric H and diagonal ``M > 0``.

    Parameters
    ----------
    H : array_like of shape (n, n)
        Symmetric Hessian.
    preconditioner : array_like of shape (n,)
        Diagonal of ``M`` (e.g. ``QuadraticProblem.preconditioner`` or ``UpdateOperator.preconditioner``).
    """
    H = _check_symmetric(H)
    m = _check_preconditioner(preconditioner, H.shape[0])
    r = np.sqrt(m)
    a, W = np.linalg.eigh(r[:, None] * H * r[None, :])
    S = r[:, None] * W
    S /= np.linalg.norm(S, axis=0)
    return AdamModes(a=a, S=S, preconditioner=m)


def _adam_alpha(lr: ArrayLike, beta1: ArrayLike, step: int) -> np.ndarray:
    beta1 = np.asarray(beta1, float)
    return np.asarray(lr, float) * (1 - beta1) / (1 - beta1**step)


def adam_frozen_blocks(a: ArrayLike, *, lr: ArrayLike, beta1: ArrayLike, step: int = 1) -> np.ndarray:
    """2x2 blocks ``B = [[1 - alpha a, -beta1], [alpha a, beta1]]`` of frozen Adam in scaled coordinates.

    ``alpha = lr c1 (1 - beta1)``, ``c1 = 1/(1 - beta1^step)``. Vectorised like
    ``nnspec_core.blocks.momentum_blocks``.

    Parameters
    ----------
    a : array_like of shape (...)
        Eigenvalues of ``M H``.
    lr, beta1 : array_like broadcastable with ``a``
    step : int
        Bias-correction step t (>= 1).

    Returns
    -------
    ndarray of shape (broadcast shape) + (2, 2), float64
    """
    step = int(check_scalar(step, "step", min_val=1, integer=True))
    a, alpha, b1 = np.broadcast_arrays(np.asarray(a, float), _adam_alpha(lr, beta1, step), np.asarray(beta1, float))
    B = np.empty(a.shape + (2, 2))
    B[..., 0, 0] = 1.0 - alpha * a
    B[..., 0, 1] = -b1
    B[..., 1, 0] = alpha * a
    B[..., 1, 1] = b1
    return B


def adam_frozen_operator(
    H: ArrayLike, preconditioner: ArrayLike, *, lr: float, beta1: float, step: int = 1, coords: str = "scaled"
) -> np.ndarray:
    """Dense frozen Adam operator on ``[theta; m]`` (raw) or ``[theta; u]``, ``u = lr c1 M m`` (scaled).

    Parameters
    ----------
    H : array_like of shape (n, n)
        Symmetric Hessian.
    preconditioner : array_like of shape (n,)
        Diagonal of ``M = diag(1/(sqrt(v_hat) + eps))``.
    lr, beta1 : float
        Learning rate (> 0) and beta1 in [0, 1).
    step : int
        Bias-correction step t.
    coords : {"scaled", "raw"}

    Returns
    -------
    ndarray of shape (2n, 2n)
        One step is ``z_next = J @ z`` with parameters first (module docstring).
    """
    H = _check_symmetric(H)
    n = H.shape[0]
    m = _check_preconditioner(preconditioner, n)
    lr = check_scalar(lr, "lr", min_val=0.0, include_min=False)
    beta1 = check_scalar(beta1, "beta1", min_val=0.0, max_val=1.0, include_max=False)
    step = int(check_scalar(step, "step", min_val=1, integer=True))
    check_choice(coords, "coords", ADAM_COORDS)
    c1 = 1.0 / (1.0 - beta1**step)
    alpha = lr * c1 * (1.0 - beta1)
    I = np.eye(n)
    A = m[:, None] * H
    if coords == "scaled":
        return np.block([[I - alpha * A, -beta1 * I], [alpha * A, beta1 * I]])
    return np.block([[I - alpha * A, np.diag(-lr * c1 * beta1 * m)], [(1.0 - beta1) * H, beta1 * I]])


# ----------------------------------------------------------------------------- maps


@dataclass(frozen=True)
class MapResult:
    """kappa(V) and rho(J) over a 2-D parameter grid.

    Attributes
    ----------
    x : ndarray of shape (nx,)
        First parameter (the learning rate eta for the optimizer maps).
    y : ndarray of shape (ny,)
        Second parameter (momentum beta, or beta1 for Adam).
    log10_kappa : ndarray of shape (ny, nx)
        log10 kappa(V) (unit eigenvector columns, 2-norm); ``inf`` at a defective (EP) point.
    rho : ndarray of shape (ny, nx)
        Spectral radius of J.
    x_name, y_name : str
    optimizer, coords : str
        Empty strings for a generic family.
    method : str
        ``"blocks"`` (closed-form 2x2), ``"symmetric"`` (gd), ``"structured"`` (Adam: closed-form
        block eigenvectors mapped through ``S``) or ``"dense"`` (batched ``np.linalg.eig``).
    """

    x: np.ndarray
    y: np.ndarray
    log10_kappa: np.ndarray
    rho: np.ndarray
    x_name: str
    y_name: str
    optimizer: str = ""
    coords: str = ""
    method: str = ""

    def __post_init__(self) -> None:
        shape = (self.y.shape[0], self.x.shape[0])
        assert self.log10_kappa.shape == shape and self.rho.shape == shape


def _grid_vector(v: ArrayLike, name: str, *, positive: bool = False, unit: bool = False) -> np.ndarray:
    v = np.atleast_1d(np.asarray(v, dtype=float))
    if v.ndim != 1 or v.size < 1 or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be a non-empty finite 1-D array; got shape {v.shape}.")
    if positive and np.any(v <= 0):
        raise ValueError(f"{name} must be positive; got min {v.min()!r}.")
    if unit:
        _check_momentum_array(v, name)
    return v


def _eigvecs2x2(B: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Unit eigenvectors of 2x2 blocks: shape (..., 2 [eigenvalue k], 2 [component]), complex."""
    p11, b, c, p22 = (B[..., None, i, j] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
    w1 = np.stack(np.broadcast_arrays(b + 0j, mu - p11), axis=-1)  # (..., 2, 2)
    w2 = np.stack(np.broadcast_arrays(mu - p22, c + 0j), axis=-1)
    n1 = np.linalg.norm(w1, axis=-1, keepdims=True)
    n2 = np.linalg.norm(w2, axis=-1, keepdims=True)
    w = np.where(n1 >= n2, w1, w2)
    nw = np.maximum(n1, n2)
    fallback = np.broadcast_to(np.eye(2, dtype=complex), w.shape)  # scalar block: any basis
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(nw > 0, w / np.where(nw > 0, nw, 1.0), fallback)


def _cond_unit_columns(V: np.ndarray, *, normalized: bool = False) -> np.ndarray:
    """cond_2 of (..., d, d) after scaling columns to unit norm; inf when numerically singular.

    Real stacks go through the Gram matrix (``V^T V``, batched ``eigvalsh``: about 2x faster than a
    batched SVD); where that estimate exceeds ``_GRAM_LIMIT`` (squaring the condition loses accuracy)
    the points are redone with the SVD.
    """
    if not normalized:
        V = V / np.linalg.norm(V, axis=-2, keepdims=True)
    d = V.shape[-1]
    shape = V.shape[:-2]
    V = V.reshape((-1, d, d))
    kappa = np.full(V.shape[0], np.inf)
    redo = np.ones(V.shape[0], bool)
    if not np.iscomplexobj(V):
        lam = np.linalg.eigvalsh(np.matmul(V.transpose(0, 2, 1), V))
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.sqrt(lam[:, -1] / lam[:, 0])
        redo = ~(lam[:, 0] > 0) | ~(k < _GRAM_LIMIT)
        kappa[~redo] = k[~redo]
    if np.any(redo):
        s = np.linalg.svd(V[redo], compute_uv=False)
        with np.errstate(divide="ignore"):
            kappa[redo] = np.where(s[:, -1] <= d * _EPS * s[:, 0], np.inf, s[:, 0] / s[:, -1])
    return kappa.reshape(shape)


def _adam_map(H, m, eta, beta1, step, coords):
    modes = adam_modes(H, m)
    a, S, n = modes.a, modes.S, H.shape[0]
    B = adam_frozen_blocks(a[None, None, :], lr=eta[None, :, None], beta1=beta1[:, None, None], step=step)
    mu = eig2x2(B)  # (ny, nx, n, 2)
    rho = np.abs(mu).max(axis=(-1, -2))
    w = _eigvecs2x2(B, mu)  # (ny, nx, n, 2[k], 2[comp])
    ny, nx = B.shape[:2]
    # eigenvector of mode i, eigenvalue k: [S[:, i] w0; G[:, i] w1] with G = S (scaled) or
    # (eta c1 M)^-1 S (raw, since m = (eta c1 M)^-1 u); columns ordered (i, k)
    G = np.broadcast_to(S[None, None, :, :, None], (ny, nx, n, n, 2))
    if coords == "raw":
        c1 = 1.0 / (1.0 - beta1**step)
        d2 = 1.0 / (eta[None, :, None] * c1[:, None, None] * m[None, None, :])  # (ny, nx, row)
        G = G * d2[..., None, None]
    # beta1 = 0: eigenvalue 0 has the whole second half {0} (+) R^n as eigenspace; take the orthonormal
    # basis e_i there (any basis is an eigenbasis; this one is the best conditioned)
    pure = w[..., 0] == 0  # (ny, nx, i, k)
    if np.any(pure):
        G = np.where(pure[:, :, None, :, :], np.eye(n)[None, None, :, :, None], G)
    g2 = np.einsum("...rik,...rik->...ik", G, G)  # squared column norms of G, (ny, nx, i, k)
    w0, w1 = w[..., 0], w[..., 1]  # (ny, nx, i, k) complex
    col_norm = np.sqrt(np.abs(w0) ** 2 + np.abs(w1) ** 2 * g2)
    # a conjugate pair of unit columns (v, conj v) -> (sqrt2 Re v, sqrt2 Im v) is a unitary change of
    # the pair: singular values are unchanged and the SVD is real (about 3x faster than complex)
    cplx = (mu[..., 0].imag != 0)[..., None]  # (ny, nx, i, 1)
    r2 = math.sqrt(2.0)
    c0 = np.where(cplx, r2 * np.stack([w0[..., 0].real, w0[..., 0].imag], -1), w0.real) / col_norm
    c1v = np.where(cplx, r2 * np.stack([w1[..., 0].real, w1[..., 0].imag], -1), w1.real) / col_norm
    top = S[None, None, :, :, None] * c0[:, :, None, :, :]  # (ny, nx, row, i, k)
    bottom = G * c1v[:, :, None, :, :]
    Vr = np.concatenate([top.reshape(ny, nx, n, 2 * n), bottom.reshape(ny, nx, n, 2 * n)], axis=-2)
    kappa = _cond_unit_columns(Vr, normalized=True)
    defective = np.any(np.isinf(kappa2x2(B)), axis=-1)
    return np.where(defective, np.inf, kappa), rho


def kappa_rho_map(
    optimizer: str,
    H: ArrayLike,
    *,
    lr: ArrayLike,
    momentum: ArrayLike,
    coords: str | None = None,
    preconditioner: ArrayLike | None = None,
    step: int = 1,
) -> MapResult:
    """log10 kappa(V) and rho(J) of an optimizer's update operator over an (eta, beta) grid.

    Parameters
    ----------
    optimizer : {"gd", "heavy_ball", "nesterov", "adam"}
        ``"gd"``: ``J = I - eta H`` (symmetric, kappa = 1). Heavy ball / Nesterov: closed-form 2x2
        blocks (exact, per Hessian eigenvalue). Adam: the frozen (theta, m) operator; eigenvalues
        and rho from its blocks in ``M H``'s eigenbasis, kappa(V) of the real J in ``coords``
        (not the block kappa: ``S`` is not orthogonal when ``[H, M] != 0``).
    H : array_like of shape (n, n)
        Symmetric Hessian.
    lr : array_like of shape (nx,)
        Learning rates eta (> 0), the x axis.
    momentum : array_like of shape (ny,)
        beta (beta1 for Adam) in [0, 1), the y axis.
    coords : str, optional
        ``"buffer"`` / ``"history"`` (default ``"history"``) for momentum methods (gd also ``"theta"``,
        its map does not depend on coords); ``"scaled"``
        (default) / ``"raw"`` for Adam (module docstring).
    preconditioner : array_like of shape (n,), optional
        Adam's ``M`` diagonal (required for Adam).
    step : int
        Adam's bias-correction step t.

    Returns
    -------
    MapResult
        Arrays of shape (ny, nx) = (len(momentum), len(lr)).
    """
    check_choice(optimizer, "optimizer", EP_OPTIMIZERS)
    H = _check_symmetric(H)
    eta = _grid_vector(lr, "lr", positive=True)
    beta = _grid_vector(momentum, "momentum", unit=True)
    step = int(check_scalar(step, "step", min_val=1, integer=True))
    ny, nx = beta.size, eta.size
    y_name = "beta1" if optimizer == "adam" else "momentum"
    if optimizer == "adam":
        coords = check_choice("scaled" if coords is None else coords, "coords", ADAM_COORDS)
        if preconditioner is None:
            raise ValueError("preconditioner must be given for optimizer 'adam'; got None.")
        m = _check_preconditioner(preconditioner, H.shape[0])
        kappa, rho = _adam_map(H, m, eta, beta, step, coords)
        method = "structured"
    else:
        allowed = ("theta", *MOMENTUM_COORDS) if optimizer == "gd" else MOMENTUM_COORDS
        coords = check_choice("history" if coords is None else coords, "coords", allowed)
        lam = np.linalg.eigvalsh(H)
        if optimizer == "gd":
            rho = np.broadcast_to(np.abs(1.0 - eta[:, None] * lam[None, :]).max(axis=-1), (ny, nx)).copy()
            kappa, method = np.ones((ny, nx)), "symmetric"
        else:
            B = momentum_blocks(optimizer, lam[None, None, :], lr=eta[None, :, None], momentum=beta[:, None, None],
                                coords=coords)  # fmt: skip
            kappa = kappa2x2(B).max(axis=-1)
            rho = np.abs(eig2x2(B)).max(axis=(-1, -2))
            method = "blocks"
    with np.errstate(divide="ignore"):
        log10_kappa = np.log10(kappa)
    return MapResult(eta, beta, log10_kappa, rho, "lr", y_name, optimizer, coords, method)


def family_map(
    family: Callable[[float, float], ArrayLike],
    x: ArrayLike,
    y: ArrayLike,
    *,
    x_name: str = "p1",
    y_name: str = "p2",
) -> MapResult:
    """log10 kappa(V) and rho(J) of any family ``J(p1, p2)`` over a grid (dense, batched ``eig``).

    Parameters
    ----------
    family : callable ``(p1, p2) -> array of shape (d, d)``
    x : array_like of shape (nx,)
        Values of ``p1``.
    y : array_like of shape (ny,)
        Values of ``p2``.

    Returns
    -------
    MapResult
        ``log10_kappa`` is ``inf`` where V is singular to working precision (``sigma_min <= d eps sigma_max``).
    """
    x = _grid_vector(x, "x")
    y = _grid_vector(y, "y")
    J = np.stack([np.stack([_family_matrix(family, xi, yj) for xi in x]) for yj in y])  # (ny, nx, d, d)
    mu, V = np.linalg.eig(J)
    kappa = _cond_unit_columns(V)
    with np.errstate(divide="ignore"):
        return MapResult(x, y, np.log10(kappa), np.abs(mu).max(axis=-1), x_name, y_name, method="dense")


@dataclass(frozen=True)
class EPWalk:
    """Frames of a sweep of one parameter through an exceptional point (the "walk through an EP" animation).

    Attributes
    ----------
    p : ndarray of shape (n_frames,)
        Parameter values, log-spaced from ``p_ep / span`` to ``p_ep * span`` (``p_ep`` is the middle frame).
    eigenvalues : ndarray of shape (n_frames, d), complex128
        Eigenvalues of ``J(p)`` per frame, sorted by decreasing modulus (ties by real part, then imaginary).
    log10_kappa : ndarray of shape (n_frames,)
        log10 kappa(V) per frame (``inf`` where numerically defective).
    rho : ndarray of shape (n_frames,)
    """

    p: np.ndarray
    eigenvalues: np.ndarray
    log10_kappa: np.ndarray
    rho: np.ndarray


def ep_walk(family: Callable[[float], ArrayLike], p_ep: float, *, span: float = 1.5, n_frames: int = 41) -> EPWalk:
    """Eigenvalues and kappa(V) of a real family ``J(p)`` along a log sweep centred on an EP ``p_ep``.

    On one side of the EP the two colliding eigenvalues are real, on the other a complex pair; kappa(V)
    peaks at the middle frame. Use :func:`analytic_ep_lr`, :func:`nearest_analytic_ep` or :func:`locate_eps`
    for ``p_ep``. An odd ``n_frames`` puts a frame exactly on ``p_ep``.

    Parameters
    ----------
    family : callable ``p -> array of shape (d, d)``, real
    p_ep : float
        EP location (> 0).
    span : float
        Sweep factor (> 1) on each side.
    n_frames : int
        Number of frames (>= 3).

    Returns
    -------
    EPWalk
    """
    p_ep = check_scalar(p_ep, "p_ep", min_val=0.0, include_min=False)
    span = check_scalar(span, "span", min_val=1.0, include_min=False)
    n_frames = int(check_scalar(n_frames, "n_frames", min_val=3, integer=True))
    p = p_ep * np.geomspace(1.0 / span, span, n_frames)
    p[n_frames // 2] = p_ep if n_frames % 2 else p[n_frames // 2]
    J = np.stack([_family_matrix(lambda x, _y: family(x), pk, 0.0) for pk in p])
    mu, V = np.linalg.eig(J)
    order = np.lexsort((-mu.imag, -mu.real, -np.round(np.abs(mu), 12)), axis=-1)
    mu = np.take_along_axis(mu, order, axis=-1)
    with np.errstate(divide="ignore"):
        log10_kappa = np.log10(_cond_unit_columns(V))
    return EPWalk(p, mu, log10_kappa, np.abs(mu).max(axis=-1))


# ----------------------------------------------------------------------------- numerical EP search


def _family_matrix(family: Callable, p1: float, p2: float) -> np.ndarray:
    J = check_matrix(family(float(p1), float(p2)), "family(p1, p2)")
    if np.iscomplexobj(J):
        raise TypeError("family must return real matrices (EPs are located as real/complex eigenvalue transitions).")
    return J


def _n_real(J: np.ndarray) -> int:
    """Number of real eigenvalues (LAPACK returns exactly zero imaginary parts for them)."""
    return int(np.count_nonzero(np.linalg.eigvals(J).imag == 0.0))


@dataclass(frozen=True)
class EPDistanceResult:
    """How close a matrix is to an exceptional point.

    Attributes
    ----------
    distance : float
        First-order estimate of the 2-norm distance from J to the nearest matrix with a double
        eigenvalue: ``min_{i<j} |mu_i - mu_j| / (s_i + s_j)`` with eigenvalue condition numbers
        ``s_i = 1/|y_i^H x_i|`` (unit left/right eigenvectors). 0 at a defective matrix; ``inf`` for d = 1.
    gap : float
        ``|mu_i - mu_j|`` of the minimising pair.
    pair : tuple of int
        Indices ``(i, j)`` into ``eigenvalues``.
    kappa_V : float
        Severity: cond_2 of the unit-column eigenvector matrix (``inf`` if numerically defective).
    eigenvalues : ndarray of shape (d,), complex128
        Sorted by decreasing modulus.
    eigval_condition : ndarray of shape (d,)
        ``s_i`` (``inf`` where ``y_i^H x_i = 0``).
    """

    distance: float
    gap: float
    pair: tuple[int, int]
    kappa_V: float
    eigenvalues: np.ndarray
    eigval_condition: np.ndarray


def ep_distance(J: ArrayLike) -> EPDistanceResult:
    """Distance of ``J`` (shape (d, d)) to the nearest exceptional point, and kappa(V) as its severity."""
    import scipy.linalg

    J = check_matrix(J, "J")
    d = J.shape[0]
    mu, VL, VR = scipy.linalg.eig(J, left=True, right=True)
    order = np.argsort(-np.abs(mu), kind="stable")
    mu, VL, VR = mu[order], VL[:, order], VR[:, order]
    yx = np.abs(np.einsum("ij,ij->j", VL.conj(), VR)) / (np.linalg.norm(VL, axis=0) * np.linalg.norm(VR, axis=0))
    with np.errstate(divide="ignore"):
        s = np.where(yx > 0, 1.0 / np.where(yx > 0, yx, 1.0), np.inf)
    kappa_V = float(_cond_unit_columns(VR))
    if d == 1:
        return EPDistanceResult(math.inf, math.inf, (0, 0), kappa_V, mu, s)
    i, j = np.triu_indices(d, 1)
    gap = np.abs(mu[i] - mu[j])
    with np.errstate(invalid="ignore", divide="ignore"):
        est = np.where(np.isinf(s[i] + s[j]) | (gap == 0), 0.0, gap / (s[i] + s[j]))
    k = int(np.argmin(est))
    return EPDistanceResult(float(est[k]), float(gap[k]), (int(i[k]), int(j[k])), kappa_V, mu, s)


def _bisect_count(f_count: Callable[[float], int], lo: float, hi: float, c_lo: int, *, tol: float) -> float:
    """Shrink [lo, hi] (count differs at the ends) until hi - lo <= tol; return the midpoint."""
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if f_count(mid) == c_lo:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def locate_eps(
    family: Callable[[float], ArrayLike],
    lo: float,
    hi: float,
    *,
    log: bool = True,
    n_scan: int = 64,
    rtol: float = 1e-13,
) -> np.ndarray:
    """All exceptional points of a real 1-parameter family ``J(p)`` in ``[lo, hi]``.

    An EP of a real matrix family is where a pair of real eigenvalues turns into a complex-conjugate
    pair (the discriminant of the colliding pair changes sign). The interval is scanned at ``n_scan``
    points (log-spaced if ``log``) counting real eigenvalues; every cell where the count changes is
    bisected (on log p if ``log``) to relative width ``rtol``. Two EPs inside one scan cell cancel
    and are missed: raise ``n_scan`` for crowded spectra. Touching points without a transition
    (e.g. heavy ball at beta = 0) are not reported.

    Parameters
    ----------
    family : callable ``p -> array of shape (d, d)``, real
    lo, hi : float
        Search interval (``0 < lo < hi`` if ``log``).
    log : bool
    n_scan : int
    rtol : float
        Relative (log) or absolute-over-|hi| (linear) resolution.

    Returns
    -------
    ndarray of shape (n_ep,)
        EP locations, increasing.
    """
    lo = check_scalar(lo, "lo", min_val=0.0, include_min=not log)
    hi = check_scalar(hi, "hi")
    if hi <= lo:
        raise ValueError(f"hi must be > lo; got lo={lo!r}, hi={hi!r}.")
    n_scan = int(check_scalar(n_scan, "n_scan", min_val=2, integer=True))
    rtol = check_scalar(rtol, "rtol", min_val=0.0, include_min=False)
    to_p = np.exp if log else (lambda t: t)
    t_grid = np.linspace(math.log(lo), math.log(hi), n_scan) if log else np.linspace(lo, hi, n_scan)

    def count(t: float) -> int:
        return _n_real(_family_matrix(lambda p1, _p2: family(p1), float(to_p(t)), 0.0))

    counts = [count(t) for t in t_grid]
    tol = rtol if log else rtol * max(abs(lo), abs(hi))
    out = [
        float(to_p(_bisect_count(count, t_grid[k], t_grid[k + 1], counts[k], tol=tol)))
        for k in range(n_scan - 1)
        if counts[k] != counts[k + 1]
    ]
    return np.array(out)


@dataclass(frozen=True)
class SnapResult:
    """Result of :func:`snap_to_ep`.

    Attributes
    ----------
    found : bool
        False if no EP lies in the search region (``params`` then equals ``start``).
    params : tuple of float
        ``(p1, p2)`` at the EP.
    start : tuple of float
        ``(p1, p2)`` the search started from.
    distance : float
        Distance from start to the EP in normalised coordinates (each axis mapped to [0, 1] over its
        bounds, on log scale for log axes); ``inf`` if not found.
    relative_change : tuple of float
        ``(p1_EP / p1_start - 1, p2_EP / p2_start - 1)`` (NaN where the start value is 0).
    kappa_V_beside : float
        kappa(V) of ``J`` at a point 1e-6 (normalised) before the EP on the way from the start:
        finite and large at a genuine EP.
    n_evaluations : int
        Number of eigenvalue computations.
    """

    found: bool
    params: tuple[float, float]
    start: tuple[float, float]
    distance: float
    relative_change: tuple[float, float]
    kappa_V_beside: float
    n_evaluations: int


def snap_to_ep(
    family: Callable[[float, float], ArrayLike],
    p0: tuple[float, float],
    *,
    bounds: tuple[tuple[float, float], tuple[float, float]],
    log: tuple[bool, bool] = (True, False),
    axis: int | None = None,
    n_scan: int = 48,
    n_directions: int = 24,
    rtol: float = 1e-13,
) -> SnapResult:
    """Nearest exceptional point of a real 2-parameter family ``J(p1, p2)`` from ``p0``.

    ``axis=0`` (``1``) searches along ``p1`` (``p2``) with the other parameter fixed -- e.g. "the
    learning rate at which this beta hits an EP". ``axis=None`` searches the plane: rays in
    ``n_directions`` directions from ``p0`` (normalised coordinates, see :class:`SnapResult`) find
    the first real/complex transition along each ray (scan + bisection to ``rtol``), and a golden-
    section search over the ray angle refines the nearest hit. Returned points lie on the EP set to
    ``rtol``; along an axis they are the nearest EP on that line.

    Parameters
    ----------
    family : callable ``(p1, p2) -> array of shape (d, d)``, real
    p0 : (float, float)
        Start point inside ``bounds``.
    bounds : ((lo1, hi1), (lo2, hi2))
    log : (bool, bool)
        Log scale per axis (bounds must then be positive).
    axis : {0, 1, None}
    n_scan, n_directions : int
        Scan points per ray / number of ray directions.
    rtol : float
        Resolution in normalised coordinates.

    Returns
    -------
    SnapResult
    """
    (lo1, hi1), (lo2, hi2) = bounds
    los, his = [check_scalar(lo1, "bounds[0][0]"), check_scalar(lo2, "bounds[1][0]")], [
        check_scalar(hi1, "bounds[0][1]"), check_scalar(hi2, "bounds[1][1]")]  # fmt: skip
    for k in range(2):
        if his[k] <= los[k] or (log[k] and los[k] <= 0):
            raise ValueError(f"bounds[{k}] must satisfy 0 < lo < hi on a log axis (lo < hi otherwise); "
                             f"got ({los[k]!r}, {his[k]!r}).")  # fmt: skip
        check_scalar(p0[k], f"p0[{k}]", min_val=los[k], max_val=his[k])
    if axis not in (0, 1, None):
        raise ValueError(f"axis must be 0, 1 or None; got {axis!r}.")
    fwd = [(math.log if log[k] else float) for k in range(2)]
    lo_t = [fwd[k](los[k]) for k in range(2)]
    span = [fwd[k](his[k]) - lo_t[k] for k in range(2)]

    def to_params(u: np.ndarray) -> tuple[float, float]:
        out = []
        for k in range(2):
            t = lo_t[k] + float(np.clip(u[k], 0.0, 1.0)) * span[k]
            out.append(math.exp(t) if log[k] else t)
        return out[0], out[1]

    n_eval = [0]

    def count(u: np.ndarray) -> int:
        n_eval[0] += 1
        return _n_real(_family_matrix(family, *to_params(u)))

    u0 = np.array([(fwd[k](float(p0[k])) - lo_t[k]) / span[k] for k in range(2)])
    c0 = count(u0)

    def first_hit(d: np.ndarray, t_max: float | None = None) -> float:
        with np.errstate(divide="ignore"):
            exits = [((1.0 if d[k] > 0 else 0.0) - u0[k]) / d[k] for k in range(2) if d[k] != 0]
        t_end = min(exits) if t_max is None else min(min(exits), t_max)
        if t_end <= 0:
            return math.inf
        ts = np.linspace(0.0, t_end, n_scan)
        prev_t, prev_c = 0.0, c0
        for t in ts[1:]:
            c = count(u0 + t * d)
            if c != prev_c:
                return _bisect_count(lambda s: count(u0 + s * d), prev_t, float(t), prev_c, tol=rtol)
            prev_t, prev_c = float(t), c
        return math.inf

    if axis is not None:
        dirs = [np.eye(2)[axis], -np.eye(2)[axis]]
        hits = [first_hit(d) for d in dirs]
        k = int(np.argmin(hits))
        best_t, best_d = hits[k], dirs[k]
    else:
        angles = np.linspace(0.0, 2 * math.pi, n_directions, endpoint=False)
        hits = [first_hit(np.array([math.cos(a), math.sin(a)])) for a in angles]
        k = int(np.argmin(hits))
        best_t, best_d = hits[k], np.array([math.cos(angles[k]), math.sin(angles[k])])
        if math.isfinite(best_t):
            best_t, best_d = _refine_angle(first_hit, float(angles[k]), 2 * math.pi / n_directions, best_t)
    if not math.isfinite(best_t):
        p = to_params(u0)
        return SnapResult(False, p, p, math.inf, (0.0, 0.0), math.nan, n_eval[0])
    params = to_params(u0 + best_t * best_d)
    start = to_params(u0)
    beside = to_params(u0 + max(best_t - 1e-6, 0.0) * best_d)
    kappa = float(_cond_unit_columns(np.linalg.eig(_family_matrix(family, *beside))[1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = tuple(float(params[k] / start[k] - 1.0) if start[k] != 0 else math.nan for k in range(2))
    return SnapResult(True, params, start, float(best_t), rel, kappa, n_eval[0])


def _refine_angle(first_hit: Callable, a0: float, width: float, t0: float) -> tuple[float, np.ndarray]:
    """Golden-section search of the ray hit distance over angles in [a0 - width, a0 + width]."""
    g = (math.sqrt(5.0) - 1.0) / 2.0

    def f(a: float) -> float:
        return first_hit(np.array([math.cos(a), math.sin(a)]), t_max=2.0 * t0)

    a, b = a0 - width, a0 + width
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(40):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
        if b - a < 1e-9:
            break
    best = min([(t0, a0), (fc, c), (fd, d)])
    return best[0], np.array([math.cos(best[1]), math.sin(best[1])])
