"""Closed forms for direct sums of 2x2 blocks (GD / heavy ball / Nesterov on a symmetric H).

For momentum methods with symmetric ``H = Q diag(lam) Q^T`` the update operator in
either state convention is *orthogonally* similar to a direct sum of 2x2 blocks
``B_i`` (one per Hessian eigenvalue ``lam_i``)::

    J = U  blockdiag(B_1, ..., B_n)  U^T,      U = (Q (+) Q) P   (P interleaves)

so every unitarily invariant quantity (eigenvalues, kappa(V) with unit columns,
sigma_min(zI - J), ||J^k||_2, field of values) is the min/max/union over blocks.

State conventions (``coords``):

``"buffer"``  torch's state z = [theta; b] (b = momentum buffer, dampening 0)
    heavy ball  B = [[1 - eta*lam, -eta*beta], [lam, beta]]
    Nesterov    B = [[1 - eta*(1+beta)*lam, -eta*beta**2], [lam, beta]]
``"history"`` classical state z = [theta_k; theta_{k-1}]
    heavy ball  B = [[1 + beta - eta*lam, -beta], [1, 0]]
    Nesterov    B = [[(1+beta)*(1 - eta*lam), -beta*(1 - eta*lam)], [1, 0]]

Coupled weight decay (torch SGD) replaces ``lam`` by ``lam + weight_decay``.
All functions are vectorised over leading axes: blocks have shape ``(..., 2, 2)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "MOMENTUM_COORDS",
    "momentum_blocks",
    "block_basis",
    "blocks_to_dense",
    "eig2x2",
    "departure2x2",
    "kappa2x2",
    "sigma_min2x2",
    "sigma_max2x2",
    "block_power_norms",
]

MOMENTUM_COORDS = ("buffer", "history")


def momentum_blocks(
    optimizer: str,
    lam: ArrayLike,
    *,
    lr: ArrayLike,
    momentum: ArrayLike,
    coords: str = "buffer",
    weight_decay: float = 0.0,
) -> np.ndarray:
    """2x2 blocks of the heavy-ball / Nesterov / GD update operator, one per Hessian eigenvalue.

    Parameters
    ----------
    optimizer : {"gd", "heavy_ball", "nesterov"}
        ``"gd"`` is heavy ball with ``momentum = 0`` in the same layout (its second state
        component is inert), which keeps maps over (eta, beta) continuous.
    lam : array_like of shape (...)
        Hessian eigenvalues.
    lr, momentum : array_like broadcastable with ``lam``
        Learning rate eta (per step) and momentum beta.
    coords : {"buffer", "history"}
        State convention (see module docstring).
    weight_decay : float
        Coupled L2 weight decay, added to ``lam``.

    Returns
    -------
    ndarray of shape (broadcast(lam, lr, momentum).shape + (2, 2)), float64
    """
    lam, eta, beta = np.broadcast_arrays(
        np.asarray(lam, float) + float(weight_decay), np.asarray(lr, float), np.asarray(momentum, float)
    )
    if optimizer == "gd":
        beta = np.zeros_like(beta)
        optimizer = "heavy_ball"
    B = np.empty(lam.shape + (2, 2))
    if coords == "buffer":
        if optimizer == "heavy_ball":
            B[..., 0, 0] = 1.0 - eta * lam
            B[..., 0, 1] = -eta * beta
        elif optimizer == "nesterov":
            B[..., 0, 0] = 1.0 - eta * (1.0 + beta) * lam
            B[..., 0, 1] = -eta * beta**2
        else:
            raise ValueError(f"optimizer must be 'gd', 'heavy_ball' or 'nesterov'; got {optimizer!r}.")
        B[..., 1, 0] = lam
        B[..., 1, 1] = beta
    elif coords == "history":
        if optimizer == "heavy_ball":
            B[..., 0, 0] = 1.0 + beta - eta * lam
            B[..., 0, 1] = -beta
        elif optimizer == "nesterov":
            B[..., 0, 0] = (1.0 + beta) * (1.0 - eta * lam)
            B[..., 0, 1] = -beta * (1.0 - eta * lam)
        else:
            raise ValueError(f"optimizer must be 'gd', 'heavy_ball' or 'nesterov'; got {optimizer!r}.")
        B[..., 1, 0] = 1.0
        B[..., 1, 1] = 0.0
    else:
        raise ValueError(f"coords must be one of {MOMENTUM_COORDS}; got {coords!r}.")
    return B


def block_basis(Q: np.ndarray) -> np.ndarray:
    """Orthogonal ``U`` (shape (2n, 2n)) with ``J = U @ blocks_to_dense(B) @ U.T``.

    ``Q`` (shape (n, n)) holds orthonormal eigenvectors of H in its columns, in the
    order of the blocks. The state is ``[x; y]`` stacked (parameters first); block ``i``
    acts on the pair ``(Q[:, i] in the x half, Q[:, i] in the y half)``.
    """
    Q = np.asarray(Q)
    n = Q.shape[0]
    U = np.zeros((2 * n, 2 * n), dtype=Q.dtype)
    U[:n, 0::2] = Q
    U[n:, 1::2] = Q
    return U


def blocks_to_dense(B: np.ndarray) -> np.ndarray:
    """Block-diagonal dense matrix of shape (2n, 2n) from blocks of shape (n, 2, 2)."""
    B = np.asarray(B)
    n = B.shape[0]
    D = np.zeros((2 * n, 2 * n), dtype=B.dtype)
    idx = np.arange(n)
    for r in range(2):
        for c in range(2):
            D[2 * idx + r, 2 * idx + c] = B[:, r, c]
    return D


def _centered(B: np.ndarray):
    half_tr = 0.5 * (B[..., 0, 0] + B[..., 1, 1])
    p = 0.5 * (B[..., 0, 0] - B[..., 1, 1])
    b = B[..., 0, 1]
    c = B[..., 1, 0]
    return half_tr, p, b, c


def eig2x2(B: ArrayLike) -> np.ndarray:
    """Eigenvalues of 2x2 blocks, shape (..., 2) complex128, larger modulus first."""
    B = np.asarray(B)
    half_tr, p, b, c = _centered(B)
    r = np.sqrt((p * p + b * c).astype(complex))
    mu = np.stack([half_tr + r, half_tr - r], axis=-1).astype(complex)
    swap = np.abs(mu[..., 1]) > np.abs(mu[..., 0])
    mu[swap] = mu[swap][:, ::-1]
    return mu


def departure2x2(B: ArrayLike) -> np.ndarray:
    """Henrici departure ``|t|`` of 2x2 blocks (the off-diagonal of their Schur form), shape (...).

    Computed without cancellation: for real blocks ``|t| = |b - c|`` when the
    eigenvalues are real and ``sqrt(4 p^2 + (b + c)^2)`` when they are complex,
    with ``B - tr/2 I = [[p, b], [c, -p]]``.
    """
    B = np.asarray(B)
    half_tr, p, b, c = _centered(B)
    if not np.iscomplexobj(B):
        disc = p * p + b * c
        return np.where(disc >= 0, np.abs(b - c), np.sqrt(4 * p * p + (b + c) ** 2))
    t2 = 2 * np.abs(p) ** 2 + np.abs(b) ** 2 + np.abs(c) ** 2 - 2 * np.abs(p * p + b * c)
    return np.sqrt(np.maximum(t2, 0.0))


def kappa2x2(B: ArrayLike) -> np.ndarray:
    """Eigenvector condition number of 2x2 blocks (unit 2-norm eigenvector columns), shape (...).

    With Schur form ``[[mu1, t], [0, mu2]]`` and ``delta = mu1 - mu2``:
    ``kappa(V) = (|t| + sqrt(|t|^2 + |delta|^2)) / |delta|``; ``1`` for a normal block,
    ``inf`` for a defective block (an exceptional point: ``delta = 0``, ``t != 0``).
    """
    B = np.asarray(B)
    t = departure2x2(B)
    half_tr, p, b, c = _centered(B)
    delta = 2 * np.abs(np.sqrt((p * p + b * c).astype(complex)))
    with np.errstate(divide="ignore", invalid="ignore"):
        k = (t + np.sqrt(t * t + delta * delta)) / delta
    scale = np.maximum(np.abs(B).max(axis=(-1, -2)), np.finfo(float).tiny)
    normal = t <= 1e-15 * scale
    return np.where(normal, 1.0, np.where(delta == 0, np.inf, k))


def _fro_det(M: np.ndarray):
    F = np.sum(np.abs(M) ** 2, axis=(-1, -2))
    D = np.abs(M[..., 0, 0] * M[..., 1, 1] - M[..., 0, 1] * M[..., 1, 0])
    return F, D


def sigma_min2x2(M: ArrayLike) -> np.ndarray:
    """Smallest singular value of 2x2 matrices, shape (...): ``2D / (sqrt(F+2D) + sqrt(F-2D))``.

    ``F = ||M||_F^2`` and ``D = |det M|``; the formula avoids the cancellation of
    ``(sqrt(F+2D) - sqrt(F-2D)) / 2``.
    """
    F, D = _fro_det(np.asarray(M))
    den = np.sqrt(F + 2 * D) + np.sqrt(np.maximum(F - 2 * D, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 2 * D / np.where(den > 0, den, 1.0), 0.0)


def sigma_max2x2(M: ArrayLike) -> np.ndarray:
    """Largest singular value (2-norm) of 2x2 matrices, shape (...)."""
    F, D = _fro_det(np.asarray(M))
    return 0.5 * (np.sqrt(F + 2 * D) + np.sqrt(np.maximum(F - 2 * D, 0.0)))


def block_power_norms(B: ArrayLike, k_max: int) -> np.ndarray:
    """``||J^k||_2 = max_i ||B_i^k||_2`` for k = 0..k_max, shape (k_max + 1,).

    Blocks of shape (n, 2, 2). Values overflow to ``inf`` rather than raising.
    """
    B = np.asarray(B)
    P = np.broadcast_to(np.eye(2, dtype=B.dtype), B.shape).copy()
    out = np.empty(k_max + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(k_max + 1):
            s = sigma_max2x2(P)
            out[k] = np.inf if not np.all(np.isfinite(s)) else s.max()
            P = B @ P
    return out
