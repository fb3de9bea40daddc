"""Quadratic-loss model behind the Operator Lab: ``L(theta) = 1/2 theta^T H theta``.

``H = R(phi) diag(lam) R(phi)^T`` is built from its eigenvalues ``lam`` (given, or
log-spaced with condition number ``kappa(H)``) and a rotation angle ``phi`` between
H's eigenbasis and the coordinate axes. The rotation matters only for Adam, whose
diagonal preconditioner ``M = diag(1 / (sqrt(v_hat) + eps))`` lives on the coordinate
axes: at ``phi = 0`` H is diagonal and ``[H, M] = 0``; for ``phi != 0`` they do not commute.

Rotation convention: ``R(phi)`` is a product of plane (Givens) rotations by ``phi`` in the
coordinate planes ``(i, n-1-i)`` for ``i < n // 2`` -- the largest eigenvalue is mixed
with the smallest, the second largest with the second smallest, and so on (for odd
``n`` the middle eigenvector stays on its axis). ``phi = pi/4`` is maximal mixing.

Adam's bias-corrected second moment ``v_hat = c2 * v`` (``c2 = 1 / (1 - beta2**t)``) is
held fixed ("frozen"). ``v_mode`` chooses it:

``"aligned"``  ``v_hat_i = lam_i**2``: the second moment Adam estimates from gradients
               ``g = H0 theta`` with ``theta ~ N(0, I)`` for the *axis-aligned* Hessian
               ``H0 = diag(lam)``; it does not change with the angle, so rotating H is
               a pure change of eigenbasis against a fixed preconditioner (at ``phi = 0``
               ``M H = diag(lam / (lam + eps))`` is almost ``I``: perfect preconditioning).
``"diag"``     ``v_hat = diag(H @ H)``: the same estimate for the rotated H itself (then ``M``
               turns with H: for n = 2 at ``phi = pi/4`` both rows of H have equal norm, ``M`` is
               a multiple of ``I`` and commutes again, so ``[H, M]`` is not monotone in phi).
``"ones"``     ``v_hat = 1``: ``M = I / (1 + eps)``, commuting with any H.

The presets of the Operator Lab are plain data: :data:`PRESETS` maps a key to a frozen
:class:`LabPreset` holding every slider value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from nnspec_core._validation import check_choice, check_scalar
from nnspec_core.exceptional import ADAM_COORDS, adam_frozen_operator, adam_modes

__all__ = [
    "V_MODES",
    "QuadraticProblem",
    "log_spectrum",
    "rotation_matrix",
    "quadratic_problem",
    "LabPreset",
    "PRESETS",
    "preset_problem",
    "LAB_OPTIMIZERS",
    "LAB_COORDS",
    "LabOperator",
    "lab_operator",
    "iterate_trajectory",
]

V_MODES = ("aligned", "diag", "ones")
MAX_LAB_DIM = 64


@dataclass(frozen=True)
class QuadraticProblem:
    """A quadratic loss ``1/2 theta^T H theta`` and Adam's frozen preconditioner for it.

    Attributes
    ----------
    H : ndarray of shape (n, n), float64
        Symmetric Hessian ``Q diag(eigenvalues) Q^T``.
    eigenvalues : ndarray of shape (n,), float64
        Hessian eigenvalues in the order of ``Q``'s columns (as given / decreasing for log-spaced).
    Q : ndarray of shape (n, n), float64
        Orthonormal eigenvectors of H in its columns: ``Q = rotation_matrix(n, angle)``.
    angle : float
        Rotation angle phi (radians) between H's eigenbasis and the coordinate axes.
    v_hat : ndarray of shape (n,), float64
        Adam's frozen bias-corrected second moment ``c2 * v`` (see module docstring).
    eps : float
        Adam's epsilon (absolute, added to ``sqrt(v_hat)``).
    preconditioner : ndarray of shape (n,), float64
        Diagonal of ``M = diag(1 / (sqrt(v_hat) + eps))``.
    v_mode : str
        How ``v_hat`` was chosen.
    """

    H: np.ndarray
    eigenvalues: np.ndarray
    Q: np.ndarray
    angle: float
    v_hat: np.ndarray
    eps: float
    preconditioner: np.ndarray
    v_mode: str

    def __post_init__(self) -> None:
        n = self.eigenvalues.shape[0]
        assert self.H.shape == (n, n) and self.Q.shape == (n, n)
        assert self.v_hat.shape == (n,) and self.preconditioner.shape == (n,)

    @property
    def n(self) -> int:
        """Number of parameters."""
        return int(self.eigenvalues.shape[0])

    def adam_state(self, *, betas: tuple[float, float] = (0.9, 0.999), step: int = 1) -> dict[str, np.ndarray]:
        """Torch-named Adam state whose frozen preconditioner is this problem's ``M``.

        A stationary second moment: ``exp_avg_sq = grad**2 = v_hat * (1 - beta2**step)``, so that
        ``v_{t+1} = beta2 v_t + (1 - beta2) g**2 = v_t`` and ``c2 * v_{t+1} = v_hat`` at bias-correction
        step ``step`` (``nnspec_core.operators.update_operator`` builds ``M`` from ``v_{t+1}``).
        ``exp_avg`` (m) is zero; the frozen (theta, m) operator does not depend on it.
        Entries are 1-D arrays of shape (n,).
        """
        beta2 = float(betas[1])
        v = self.v_hat * (1.0 - beta2**step)
        return {"exp_avg": np.zeros(self.n), "exp_avg_sq": v, "grad": np.sqrt(v)}


def log_spectrum(n: int, *, kappa: float, lam_max: float = 1.0) -> np.ndarray:
    """Log-spaced Hessian eigenvalues from ``lam_max`` down to ``lam_max / kappa``.

    Parameters
    ----------
    n : int
        Number of eigenvalues (>= 1; for ``n = 1`` only ``lam_max``).
    kappa : float
        Condition number ``kappa(H) = lam_max / lam_min >= 1``.
    lam_max : float
        Largest eigenvalue (> 0).

    Returns
    -------
    ndarray of shape (n,), float64, decreasing.
    """
    n = int(check_scalar(n, "n", min_val=1, max_val=MAX_LAB_DIM, integer=True))
    kappa = check_scalar(kappa, "kappa", min_val=1.0)
    lam_max = check_scalar(lam_max, "lam_max", min_val=0.0, include_min=False)
    if n == 1:
        return np.array([lam_max])
    return lam_max * np.geomspace(1.0, 1.0 / kappa, n)


def rotation_matrix(n: int, angle: float) -> np.ndarray:
    """Orthogonal ``R(phi)`` of shape (n, n): Givens rotations by ``angle`` in planes ``(i, n-1-i)``.

    ``R(0) = I``. Column ``i`` of ``R`` is the direction of the i-th eigenvector of H.
    """
    n = int(check_scalar(n, "n", min_val=1, max_val=MAX_LAB_DIM, integer=True))
    angle = check_scalar(angle, "angle")
    c, s = math.cos(angle), math.sin(angle)
    R = np.eye(n)
    for i in range(n // 2):
        j = n - 1 - i
        R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    return R


def quadratic_problem(
    eigenvalues: ArrayLike,
    *,
    angle: float = 0.0,
    v_mode: str = "aligned",
    eps: float = 1e-8,
) -> QuadraticProblem:
    """Build ``H = R(angle) diag(eigenvalues) R(angle)^T`` and Adam's frozen preconditioner.

    Parameters
    ----------
    eigenvalues : array_like of shape (n,)
        Hessian eigenvalues (finite; negative values allowed: a saddle).
    angle : float
        Rotation angle phi in radians (see :func:`rotation_matrix`).
    v_mode : {"aligned", "diag", "ones"}
        Choice of Adam's bias-corrected second moment ``v_hat`` (module docstring).
    eps : float
        Adam's epsilon (>= 0).

    Returns
    -------
    QuadraticProblem
    """
    lam = np.asarray(eigenvalues, dtype=float) if not isinstance(eigenvalues, np.ndarray) else eigenvalues
    if lam.dtype.kind not in "fiu" or lam.ndim != 1 or lam.size < 1:
        raise ValueError(f"eigenvalues must be a non-empty 1-D real array; got shape {np.shape(lam)}.")
    if lam.size > MAX_LAB_DIM:
        raise ValueError(f"eigenvalues must have at most {MAX_LAB_DIM} entries; got {lam.size}.")
    lam = lam.astype(float)
    if not np.all(np.isfinite(lam)):
        raise ValueError("eigenvalues must be finite; got NaN/inf.")
    angle = check_scalar(angle, "angle")
    check_choice(v_mode, "v_mode", V_MODES)
    eps = check_scalar(eps, "eps", min_val=0.0)
    n = lam.size
    Q = rotation_matrix(n, angle)
    H = (Q * lam) @ Q.T
    H = 0.5 * (H + H.T)
    if v_mode == "aligned":
        v_hat = lam**2
    elif v_mode == "diag":
        v_hat = np.einsum("ij,ij->i", H, H)
    else:
        v_hat = np.ones(n)
    den = np.sqrt(v_hat) + eps
    if np.any(den <= 0):
        raise ValueError("v_hat + eps must be positive for every coordinate; got a zero second moment with eps = 0.")
    return QuadraticProblem(
        H=H, eigenvalues=lam, Q=Q, angle=angle, v_hat=v_hat, eps=eps, preconditioner=1.0 / den, v_mode=v_mode
    )


@dataclass(frozen=True)
class LabPreset:
    """Every slider value of one Operator Lab preset (plain data).

    Attributes
    ----------
    key, title, description : str
        URL key, menu title, one-sentence caption ("what to look at").
    optimizer : {"gd", "heavy_ball", "nesterov", "adam"}
    coords : str
        State convention: ``"history"`` / ``"buffer"`` for momentum methods, ``"scaled"`` / ``"raw"``
        for Adam's frozen (theta, m) operator (see ``nnspec_core.exceptional``).
    eigenvalues : tuple of float
        Hessian eigenvalues (used when ``spectrum == "values"``).
    spectrum : {"values", "log"}
        ``"log"`` uses ``n``, ``kappa_H`` and ``lam_max`` with :func:`log_spectrum`.
    n, kappa_H, lam_max : int, float, float
        Log-spaced spectrum parameters.
    angle : float
        Rotation of H's eigenbasis (radians).
    v_mode : str
        Adam's frozen second moment (module docstring).
    lr, momentum, beta1, beta2, eps : float
        Hyper-parameters (``momentum`` for heavy ball / Nesterov, ``beta1`` for Adam). ``beta2`` does not enter
        the frozen operator (``v_hat = c2 v`` is given); it only fixes ``QuadraticProblem.adam_state``.
    step : int
        Adam bias-correction step t (torch step number being taken).
    lr_range, momentum_range : tuple of float
        Axes of the (eta, beta) map; eta is log-scaled.
    k_max : int
        Horizon of the ``||J^k||`` curve.
    theta0 : tuple of float
        Start of the iterate trajectory (first two coordinates; the rest zero).
    """

    key: str
    title: str
    description: str
    optimizer: str
    coords: str
    eigenvalues: tuple[float, ...] = (1.0, 0.1)
    spectrum: str = "values"
    n: int = 2
    kappa_H: float = 10.0
    lam_max: float = 1.0
    angle: float = 0.0
    v_mode: str = "aligned"
    lr: float = 0.1
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    step: int = 10
    lr_range: tuple[float, float] = (1e-3, 10.0)
    momentum_range: tuple[float, float] = (0.0, 0.99)
    k_max: int = 200
    theta0: tuple[float, float] = (1.0, 1.0)

    def hessian_eigenvalues(self) -> np.ndarray:
        """Eigenvalues of H, shape (n,)."""
        if self.spectrum == "log":
            return log_spectrum(self.n, kappa=self.kappa_H, lam_max=self.lam_max)
        return np.asarray(self.eigenvalues, dtype=float)


PRESETS: dict[str, LabPreset] = {
    p.key: p
    for p in (
        LabPreset(
            key="critical_damping",
            title="critical damping (heavy-ball EP)",
            description="Heavy ball at eta*lam = (1 - sqrt(beta))^2 for lam = 1: the two eigenvalues of that mode "
            "meet on the real axis at sqrt(beta) and kappa(V) blows up while rho < 1.",
            optimizer="heavy_ball",
            coords="history",
            eigenvalues=(1.0, 0.2),
            lr=0.01,
            momentum=0.81,
            lr_range=(1e-3, 10.0),
        ),
        LabPreset(
            key="nesterov_nilpotent",
            title="Nesterov nilpotent point",
            description="Nesterov at eta*lam = 1: the lam = 1 block is nilpotent (a Jordan block at 0), "
            "kappa(V) is infinite although that mode's eigenvalues are exactly 0.",
            optimizer="nesterov",
            coords="history",
            eigenvalues=(1.0, 0.25),
            lr=1.0,
            momentum=0.9,
            lr_range=(1e-2, 10.0),
        ),
        LabPreset(
            key="adam_rotated",
            title="Adam commuting vs rotated Hessian",
            description="Adam's frozen (theta, m) operator with a preconditioner fitted to the axis-aligned Hessian; "
            "move the angle away from 0 and [H, M] != 0 adds non-normality beyond the momentum blocks.",
            optimizer="adam",
            coords="scaled",
            eigenvalues=(10.0, 1.0),
            angle=math.pi / 6,
            lr=0.01,
            beta1=0.9,
            step=10,
            lr_range=(1e-4, 1.0),
            momentum_range=(0.0, 0.99),
        ),
        LabPreset(
            key="transient",
            title="ρ < 1 but huge transient",
            description="Heavy ball with beta = 0.99 and a small step: rho(J) = sqrt(beta) < 1, yet ||J^k|| "
            "grows about 100-fold (peak near k = 120) before it decays.",
            optimizer="heavy_ball",
            coords="history",
            eigenvalues=(1.0, 0.1),
            lr=0.001,
            momentum=0.99,
            lr_range=(1e-5, 10.0),
            k_max=1000,
        ),
        LabPreset(
            key="edge_of_stability",
            title="edge of stability",
            description="Heavy ball with beta = 0.5 just inside the stability boundary eta*lam_max = 2 + 2*beta = 3 "
            "(past the upper EP (1 + sqrt(beta))^2 = 2.91): rho(J) = 0.994, and 2 % more eta diverges.",
            optimizer="heavy_ball",
            coords="history",
            spectrum="log",
            n=4,
            kappa_H=100.0,
            lam_max=1.0,
            lr=2.997,
            momentum=0.5,
            lr_range=(1e-2, 10.0),
        ),
    )
}


def preset_problem(preset: LabPreset) -> QuadraticProblem:
    """The :class:`QuadraticProblem` a preset describes."""
    return quadratic_problem(preset.hessian_eigenvalues(), angle=preset.angle, v_mode=preset.v_mode, eps=preset.eps)


LAB_OPTIMIZERS = ("gd", "heavy_ball", "nesterov", "adam")
LAB_COORDS: dict[str, tuple[str, ...]] = {
    "gd": ("theta",),
    "heavy_ball": ("buffer", "history"),
    "nesterov": ("buffer", "history"),
    "adam": ADAM_COORDS,
}


@dataclass(frozen=True)
class LabOperator:
    """The update operator the Operator Lab shows, with what its views need.

    Attributes
    ----------
    J : ndarray of shape (d, d)
        ``z_next = J @ z``; ``d = n`` for gd (``J = I - lr H``), ``2n`` otherwise (parameters first).
    blocks : ndarray of shape (n, 2, 2) or None
        Heavy ball / Nesterov: ``J = U blockdiag(blocks) U^T`` with ``U = blocks.block_basis(Q)`` orthogonal
        (closed-form fast paths of spectra / pseudospectra / transient). None for gd and Adam (for Adam the
        blocks live in ``M H``'s non-orthogonal eigenbasis: see ``nnspec_core.exceptional``).
    modal_curvatures : ndarray of shape (n,)
        Curvature per mode entering the analytic EP formulas: Hessian eigenvalues (ascending), or
        for Adam the eigenvalues ``a`` of ``M H``.
    commutator : float
        ``||[H, M]||_2`` for Adam (0 when H and M commute); 0.0 for the other optimizers (no M).
    optimizer, coords, description : str
    """

    J: np.ndarray
    blocks: np.ndarray | None
    modal_curvatures: np.ndarray
    commutator: float
    optimizer: str
    coords: str
    description: str


def lab_operator(
    problem: QuadraticProblem,
    *,
    optimizer: str,
    coords: str,
    lr: float,
    momentum: float = 0.0,
    beta1: float = 0.9,
    step: int = 1,
) -> LabOperator:
    """Update operator of ``optimizer`` on the quadratic ``problem`` (one call per slider change).

    Heavy ball / Nesterov / gd come from ``nnspec_core.operators.update_operator`` (torch semantics);
    Adam is the frozen (theta, m) operator with the problem's ``M`` in ``"scaled"`` or ``"raw"``
    coordinates (``nnspec_core.exceptional.adam_frozen_operator``; raw equals update_operator's "frozen").

    Parameters
    ----------
    problem : QuadraticProblem
    optimizer : {"gd", "heavy_ball", "nesterov", "adam"}
    coords : str
        One of ``LAB_COORDS[optimizer]``.
    lr : float
        Learning rate (> 0).
    momentum : float
        beta for heavy ball / Nesterov, in [0, 1).
    beta1 : float
        Adam's beta1, in [0, 1).
    step : int
        Adam's bias-correction step t.

    Returns
    -------
    LabOperator
    """
    from nnspec_core.operators import update_operator

    check_choice(optimizer, "optimizer", LAB_OPTIMIZERS)
    check_choice(coords, "coords", LAB_COORDS[optimizer])
    lr = check_scalar(lr, "lr", min_val=0.0, include_min=False)
    H = problem.H
    if optimizer == "adam":
        J = adam_frozen_operator(H, problem.preconditioner, lr=lr, beta1=beta1, step=step, coords=coords)
        m = problem.preconditioner
        comm = float(np.linalg.norm(H * m[None, :] - m[:, None] * H, 2))
        a = adam_modes(H, m).a
        desc = (
            f"adam frozen (theta, {'u = lr c1 M m' if coords == 'scaled' else 'm'}), step {step}, "
            f"M = diag(1/(sqrt(v_hat) + eps)) fixed ({problem.v_mode})"
        )
        return LabOperator(J, None, a, comm, optimizer, coords, desc)
    momentum = check_scalar(momentum, "momentum", min_val=0.0, max_val=1.0, include_max=False)
    op = update_operator(optimizer, H, lr=lr, momentum=0.0 if optimizer == "gd" else momentum, coords=coords)
    return LabOperator(op.J, op.blocks, np.linalg.eigvalsh(H), 0.0, optimizer, op.coords, op.description)


def iterate_trajectory(op: LabOperator, theta0: ArrayLike, k_max: int) -> np.ndarray:
    """Parameters ``theta_k`` of the linearised iteration ``z_{k+1} = J z_k`` started at rest from ``theta0``.

    Parameters
    ----------
    op : LabOperator
    theta0 : array_like of shape (n,) or shorter
        Start parameters (missing trailing coordinates are 0). The optimizer starts at rest: momentum
        buffer / Adam's m (u) zero, and ``theta_{-1} = theta0`` in history coords.
    k_max : int
        Number of steps.

    Returns
    -------
    ndarray of shape (k_max + 1, n)
        ``theta_k`` for k = 0..k_max (parameter half of the state; overflow gives inf/NaN, no exception).
    """
    k_max = int(check_scalar(k_max, "k_max", min_val=0, max_val=10**6, integer=True))
    d = op.J.shape[0]
    n = d if op.optimizer == "gd" else d // 2
    t0 = np.asarray(theta0, dtype=float).ravel()
    if t0.size > n or not np.all(np.isfinite(t0)):
        raise ValueError(f"theta0 must hold at most {n} finite numbers; got {t0.size} entries.")
    z = np.zeros(d)
    z[: t0.size] = t0
    if op.coords == "history":
        z[n : n + t0.size] = t0
    out = np.empty((k_max + 1, n))
    out[0] = z[:n]
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, k_max + 1):
            z = op.J @ z
            out[k] = z[:n]
    return out
