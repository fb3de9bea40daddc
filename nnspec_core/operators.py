"""Linearised update operators J of real optimizers (torch.optim semantics).

Given the Hessian ``H`` of the loss at the iterate ``theta_t`` (and, for adaptive
methods, the optimizer state torch holds after ``t`` steps), build the matrix ``J`` of
the linearised step ``z_next = J @ z`` of torch step number ``step = t + 1``.

Conventions (see docs/design.md):

* State vectors are stacked with the parameters first; ``layout`` names the blocks.
* torch semantics exactly: SGD with dampening 0, coupled weight decay ``g~ = g + wd*theta``
  for SGD / heavy ball / Nesterov / RMSProp / Adam; AdamW decays ``theta <- theta*(1 - lr*wd)``
  before the update. Adam's step is
  ``theta' = theta - (lr / (1 - beta1**t)) * m' / (sqrt(v') / sqrt(1 - beta2**t) + eps)``.
* ``H~ = H + wd*I`` for the coupled methods and ``H~ = H`` for AdamW.
* Adaptive methods use the preconditioner of the step actually taken, built from
  ``v_{t+1} = b*v_t + (1 - b)*g~_t**2`` (``b = alpha`` for RMSProp, ``beta2`` for Adam), so
  they need ``state["grad"]``: ``M = diag(1 / (sqrt(c2 * v_{t+1}) + eps))``, ``c2 = 1/(1 - beta2**t)``
  (``c2 = 1`` for RMSProp). The ``"frozen"`` forms are the exact Jacobian of the real torch
  step with this ``M`` held fixed; the ``"full"`` forms also differentiate ``M`` through ``v``.

The ``"scaled"`` convention (default) measures ``v`` relatively: ``J -> S^-1 J S`` with
``S = diag(I, [I,] diag(v_scale))``, ``v_scale = max(v_{t+1}, v_floor)`` (see :func:`v_scale`).
Raw coordinates mix units (``v ~ g**2 << theta``), so kappa(V) of a raw full Adam J mostly
measures that unit choice (seen at 1e8-1e9 raw versus ~1e4 scaled). The scaling only changes
forms that contain ``v`` (RMSProp/Adam/AdamW ``"full"``); elsewhere it has no effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from nnspec_core._validation import MAX_DENSE_DIM, check_choice, check_matrix, check_scalar
from nnspec_core.blocks import momentum_blocks

__all__ = [
    "OPTIMIZERS",
    "COORDS",
    "DEFAULT_COORDS",
    "SCALINGS",
    "UpdateOperator",
    "update_operator",
    "v_scale",
]

OPTIMIZERS = ("gd", "heavy_ball", "nesterov", "rmsprop", "adam", "adamw")
COORDS = {
    "gd": ("theta",),
    "heavy_ball": ("buffer", "history"),
    "nesterov": ("buffer", "history"),
    "rmsprop": ("frozen", "full"),
    "adam": ("frozen", "simple", "full"),
    "adamw": ("frozen", "simple", "full"),
}
DEFAULT_COORDS = {
    "gd": "theta",
    "heavy_ball": "buffer",
    "nesterov": "buffer",
    "rmsprop": "frozen",
    "adam": "frozen",
    "adamw": "frozen",
}
SCALINGS = ("raw", "scaled")
# number of n-sized state blocks of z per (optimizer, coords)
_N_BLOCKS = {
    ("gd", "theta"): 1,
    ("heavy_ball", "buffer"): 2, ("heavy_ball", "history"): 2, ("nesterov", "buffer"): 2, ("nesterov", "history"): 2,
    ("rmsprop", "frozen"): 1, ("rmsprop", "full"): 2,
    ("adam", "frozen"): 2, ("adam", "simple"): 1, ("adam", "full"): 3,
    ("adamw", "frozen"): 2, ("adamw", "simple"): 1, ("adamw", "full"): 3,
}  # fmt: skip

#: Relative tolerance under which H counts as symmetric (max |H - H^T| <= tol * max |H|).
SYMMETRY_RTOL = 1e-10


@dataclass(frozen=True)
class UpdateOperator:
    """The linearised one-step map ``z_next = J @ z`` of an optimizer, with its convention.

    Attributes
    ----------
    J : ndarray of shape (d, d), float64
        The operator. ``d = n_params * (number of state blocks)``.
    optimizer : str
        One of :data:`OPTIMIZERS`.
    coords : str
        State convention, one of ``COORDS[optimizer]``.
    scaling : str
        ``"raw"`` or ``"scaled"``, as requested (only forms containing ``v`` differ).
    layout : tuple of (name, start, stop)
        State blocks of ``z`` in order, e.g. ``(("theta", 0, n), ("m", n, 2n), ("v", 2n, 3n))``.
    n_params : int
        Number of parameters ``n``.
    H : ndarray of shape (n, n), float64
        The Hessian used, before weight decay.
    preconditioner : ndarray of shape (n,) or None
        Diagonal of ``M = 1/(sqrt(c2 * v_{t+1}) + eps)`` for RMSProp/Adam/AdamW (``c2 = 1`` for
        RMSProp, ``1/(1 - beta2**step)`` for Adam), else None. The lr and ``c1`` are not included.
    blocks : ndarray of shape (n, 2, 2) or None
        For heavy ball / Nesterov with symmetric ``H``: ``J = U blockdiag(blocks) U^T`` with
        ``U = blocks.block_basis(block_basis)`` orthogonal. None otherwise (always None for gd,
        whose J is symmetric itself when H is).
    block_basis : ndarray of shape (n, n) or None
        Orthonormal eigenvectors ``Q`` of ``H`` (columns, in block order; weight decay shifts the
        eigenvalues only). None when ``blocks`` is None.
    hyper : dict
        The hyperparameters used, as keyword arguments of :func:`update_operator`.
    description : str
        One human-readable line: state vector, convention, what is frozen.
    """

    J: np.ndarray
    optimizer: str
    coords: str
    scaling: str
    layout: tuple[tuple[str, int, int], ...]
    n_params: int
    H: np.ndarray
    preconditioner: np.ndarray | None
    blocks: np.ndarray | None
    block_basis: np.ndarray | None
    hyper: dict
    description: str

    def __post_init__(self) -> None:
        n = self.n_params
        assert self.H.shape == (n, n)
        assert self.layout[0][1] == 0 and self.layout[-1][2] == self.J.shape[0] == self.J.shape[1]
        assert all(a[2] == b[1] for a, b in zip(self.layout[:-1], self.layout[1:], strict=True))
        assert self.preconditioner is None or self.preconditioner.shape == (n,)
        assert (self.blocks is None) == (self.block_basis is None)
        assert self.blocks is None or (self.blocks.shape == (n, 2, 2) and self.block_basis.shape == (n, n))

    @property
    def d(self) -> int:
        """State dimension (rows of ``J``)."""
        return int(self.J.shape[0])


def v_scale(v_next: np.ndarray, eps: float) -> np.ndarray:
    """Scale of the second-moment coordinates for the ``"scaled"`` convention.

    ``v_scale = max(v_next, v_floor)`` entrywise with ``v_floor = eps**2`` (below it the
    denominator ``sqrt(c2 v) + eps`` is dominated by eps, so relative changes of ``v`` do not
    matter), or ``1e-16 * max(v_next)`` if ``eps == 0``, or ``1`` if both vanish.

    Parameters
    ----------
    v_next : ndarray of shape (n,)
        ``v_{t+1}``, nonnegative.
    eps : float
        The optimizer's eps.

    Returns
    -------
    ndarray of shape (n,), strictly positive
    """
    floor = eps**2 if eps > 0 else 1e-16 * float(np.max(v_next, initial=0.0))
    if not floor > 0:
        floor = 1.0
    return np.maximum(v_next, floor)


def _layout(n: int, names: tuple[str, ...]) -> tuple[tuple[str, int, int], ...]:
    return tuple((name, i * n, (i + 1) * n) for i, name in enumerate(names))


def _state_vector(state: Mapping[str, Any] | None, key: str, n: int, why: str, *, nonneg: bool = False) -> np.ndarray:
    if state is None or key not in state:
        have = "no state" if state is None else f"keys {sorted(map(str, state))}"
        raise ValueError(f"state is missing key {key!r}, needed by {why}; got {have}.")
    value = state[key]
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    shape = np.shape(value)
    if shape != (n,):
        raise ValueError(f"state[{key!r}] must have shape ({n},) to match H; got shape {shape}.")
    arr = check_matrix(np.reshape(value, (1, n)), f"state[{key!r}]", square=False, max_dim=None)[0]
    if np.iscomplexobj(arr):
        raise TypeError(f"state[{key!r}] must be real; got dtype {arr.dtype}.")
    if nonneg and np.any(arr < 0):
        raise ValueError(f"state[{key!r}] must be >= 0; got minimum {arr.min()!r}.")
    return arr


def _check_hessian(H: ArrayLike) -> np.ndarray:
    H = check_matrix(H, "H")
    if np.iscomplexobj(H):
        raise TypeError(f"H must be a real matrix; got dtype {H.dtype}.")
    return H


def _check_beta(x: Any, name: str) -> float:
    return check_scalar(x, name, min_val=0.0, max_val=1.0, include_max=False)


def update_operator(
    optimizer: str,
    H: ArrayLike,
    *,
    lr: float,
    momentum: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    alpha: float = 0.99,
    weight_decay: float = 0.0,
    state: Mapping[str, ArrayLike] | None = None,
    step: int = 1,
    coords: str | None = None,
    scaling: str = "scaled",
) -> UpdateOperator:
    """Linearised update operator ``J`` of one torch.optim step at ``(theta_t, state_t)``.

    Parameters
    ----------
    optimizer : {"gd", "heavy_ball", "nesterov", "rmsprop", "adam", "adamw"}
        ``gd``/``heavy_ball``/``nesterov`` are torch SGD (dampening 0) with momentum 0 /
        ``momentum`` / ``momentum, nesterov=True``.
    H : array_like of shape (n, n)
        Real Hessian of the loss at ``theta_t`` over the flat parameter vector, without weight
        decay. Need not be symmetric (then ``blocks`` is None).
    lr : float
        Learning rate eta >= 0 (per step).
    momentum : float
        beta in [0, 1) for heavy ball and Nesterov (ignored otherwise).
    betas : (float, float)
        Adam's (beta1, beta2), each in [0, 1).
    eps : float
        RMSProp/Adam eps >= 0, added to the (bias-corrected) square root as torch does.
    alpha : float
        RMSProp smoothing constant in [0, 1].
    weight_decay : float
        >= 0. Coupled (``g~ = g + wd*theta``) except for AdamW (decoupled).
    state : mapping of str to array_like of shape (n,), optional
        torch names: ``"grad"`` (g_t = dL/dtheta at theta_t, without weight decay),
        ``"exp_avg"`` (m_t), ``"exp_avg_sq"`` (v_t), ``"square_avg"`` (RMSProp v_t), and
        ``"theta"`` (theta_t, only needed for coupled weight decay > 0 in RMSProp/Adam, where
        ``g~`` enters v). Required: RMSProp ``square_avg, grad``; Adam/AdamW ``exp_avg_sq, grad``
        and, for ``"full"``, ``exp_avg``. Ignored for gd/heavy_ball/nesterov.
    step : int
        torch step number being taken (t + 1 >= 1), for Adam's bias corrections.
    coords : str, optional
        State convention, one of ``COORDS[optimizer]`` (default ``DEFAULT_COORDS[optimizer]``):

        * ``"theta"`` (gd): ``z = theta``, ``J = I - eta H~``.
        * ``"buffer"``: ``z = [theta; b]`` with torch's momentum buffer ``b``.
          Heavy ball ``[[I - eta H~, -eta beta I], [H~, beta I]]``;
          Nesterov ``[[I - eta (1+beta) H~, -eta beta^2 I], [H~, beta I]]``.
        * ``"history"``: ``z = [theta_k; theta_{k-1}]``.
          Heavy ball ``[[(1+beta) I - eta H~, -beta I], [I, 0]]``;
          Nesterov ``[[(1+beta)(I - eta H~), -beta (I - eta H~)], [I, 0]]`` (H at the look-ahead point).
        * ``"frozen"``: RMSProp ``z = theta``, ``J = I - eta M H~``; Adam/AdamW ``z = [theta; m]``,
          ``J = [[(1 - eta wd_d) I - eta c1 (1-beta1) M H~, -eta c1 beta1 M], [(1-beta1) H~, beta1 I]]``
          (``wd_d`` = AdamW's decoupled decay, else 0); ``M`` held fixed.
        * ``"simple"``: ``z = theta``, ``J = (1 - eta wd_d) I - eta c1 M H~``: the Jacobian of
          ``theta -> theta (1 - eta wd_d) - eta c1 M g~(theta)`` (momentum dropped, torch's step
          size ``c1 eta`` and ``M`` kept).
        * ``"full"``: exact Jacobian over ``z = [theta; v]`` (RMSProp) or ``[theta; m; v]``
          (Adam/AdamW), including ``dv'/dtheta = 2 (1-b) diag(g~) H~`` and the dependence of the
          theta update on ``v'``. Entries where ``v_{t+1} = 0`` (a zero gradient history; then also
          ``m_{t+1} = 0``) take the derivative of ``m'/sqrt(v')`` with respect to ``v'`` as 0.
    scaling : {"raw", "scaled"}
        ``"scaled"`` (default) returns ``S^-1 J S`` with ``S = diag(I, [I,] diag(v_scale))``,
        ``v_scale = max(v_{t+1}, eps**2)`` (see :func:`v_scale`); no effect on forms without v.

    Returns
    -------
    UpdateOperator
        ``J`` of shape (d, d) with ``d = n`` (gd, frozen RMSProp, simple), ``2n`` or ``3n``.

    Raises
    ------
    ValueError
        Unknown optimizer/coords/scaling, bad H, hyperparameter out of range, missing or
        malformed state entries (the message names the key).
    TypeError
        Non-numeric or complex H or state entries.
    """
    optimizer = check_choice(optimizer, "optimizer", OPTIMIZERS)
    H = _check_hessian(H)
    n = H.shape[0]
    lr = check_scalar(lr, "lr", min_val=0.0)
    weight_decay = check_scalar(weight_decay, "weight_decay", min_val=0.0)
    coords = DEFAULT_COORDS[optimizer] if coords is None else check_choice(coords, "coords", COORDS[optimizer])
    scaling = check_choice(scaling, "scaling", SCALINGS)
    d = n * _N_BLOCKS[optimizer, coords]
    if d > MAX_DENSE_DIM:
        raise ValueError(
            f"H of shape {H.shape} gives a {d}x{d} operator for {optimizer} coords={coords!r}; "
            f"at most {MAX_DENSE_DIM}x{MAX_DENSE_DIM} is supported."
        )
    if optimizer in ("gd", "heavy_ball", "nesterov"):
        beta = 0.0 if optimizer == "gd" else _check_beta(momentum, "momentum")
        return _momentum_operator(optimizer, H, lr=lr, beta=beta, wd=weight_decay, coords=coords, scaling=scaling)
    eps = check_scalar(eps, "eps", min_val=0.0)
    wd_coupled = weight_decay if optimizer in ("rmsprop", "adam") else 0.0
    why = f"{optimizer} coords={coords!r}"
    g = _state_vector(state, "grad", n, why)
    if wd_coupled > 0:
        g = g + wd_coupled * _state_vector(state, "theta", n, why + " with coupled weight_decay > 0")
    if optimizer == "rmsprop":
        alpha = check_scalar(alpha, "alpha", min_val=0.0, max_val=1.0)
        v = _state_vector(state, "square_avg", n, why, nonneg=True)
        return _rmsprop_operator(H, g, v, lr=lr, alpha=alpha, eps=eps, wd=weight_decay, coords=coords, scaling=scaling)
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2); got {betas!r}.")
    b1, b2 = _check_beta(betas[0], "betas[0]"), _check_beta(betas[1], "betas[1]")
    step = check_scalar(step, "step", min_val=1, integer=True)
    v = _state_vector(state, "exp_avg_sq", n, why, nonneg=True)
    m = _state_vector(state, "exp_avg", n, why) if coords == "full" else np.zeros(n)
    return _adam_operator(
        optimizer, H, g, m, v, lr=lr, b1=b1, b2=b2, eps=eps, wd=weight_decay, step=step, coords=coords, scaling=scaling
    )


def _symmetric_eigh(H: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(lam, Q)`` of the symmetric part when ``H`` is symmetric to :data:`SYMMETRY_RTOL`, else None."""
    scale = float(np.max(np.abs(H)))
    if np.max(np.abs(H - H.T)) > SYMMETRY_RTOL * scale:
        return None
    lam, Q = np.linalg.eigh(0.5 * (H + H.T))
    return lam, Q


def _momentum_operator(
    optimizer: str, H: np.ndarray, *, lr: float, beta: float, wd: float, coords: str, scaling: str
) -> UpdateOperator:
    n = H.shape[0]
    eta = lr
    I = np.eye(n)
    Ht = H + wd * I
    hyper: dict[str, Any] = {"lr": lr, "weight_decay": wd}
    blocks = basis = None
    wd_txt = f"H~ = H + {wd:g} I (coupled weight decay)" if wd else "H~ = H"
    if optimizer == "gd":
        J = I - eta * Ht
        layout = _layout(n, ("theta",))
        desc = f"gd: z = theta, z_next = J z, J = I - lr H~, {wd_txt}."
    else:
        hyper["momentum"] = beta
        if coords == "buffer":
            c = (1.0 + beta) if optimizer == "nesterov" else 1.0
            top_right = -eta * beta**2 if optimizer == "nesterov" else -eta * beta
            J = np.block([[I - eta * c * Ht, top_right * I], [Ht, beta * I]])
            layout = _layout(n, ("theta", "buffer"))
            state_txt = "z = [theta; b] (torch momentum buffer, dampening 0)"
        else:
            A = (1.0 + beta) * (I - eta * Ht) if optimizer == "nesterov" else (1.0 + beta) * I - eta * Ht
            B = -beta * (I - eta * Ht) if optimizer == "nesterov" else -beta * I
            J = np.block([[A, B], [I, np.zeros((n, n))]])
            layout = _layout(n, ("theta", "theta_prev"))
            state_txt = "z = [theta_k; theta_{k-1}] (classical history coordinates)"
            if optimizer == "nesterov":
                state_txt += ", H at the look-ahead point y = theta_k + beta (theta_k - theta_{k-1})"
        desc = f"{optimizer}: {state_txt}, z_next = J z, {wd_txt}."
        eig = _symmetric_eigh(H)
        if eig is not None:
            lam, basis = eig
            blocks = momentum_blocks(optimizer, lam, lr=eta, momentum=beta, coords=coords, weight_decay=wd)
    return UpdateOperator(
        J=J, optimizer=optimizer, coords=coords, scaling=scaling, layout=layout, n_params=n, H=H,
        preconditioner=None, blocks=blocks, block_basis=basis, hyper=hyper, description=desc,
    )  # fmt: skip


def _rmsprop_operator(
    H: np.ndarray, g: np.ndarray, v: np.ndarray, *, lr: float, alpha: float, eps: float, wd: float, coords: str,
    scaling: str,
) -> UpdateOperator:  # fmt: skip
    n = H.shape[0]
    eta = lr
    I = np.eye(n)
    Ht = H + wd * I
    v1 = alpha * v + (1.0 - alpha) * g * g  # v_{t+1}
    sq = np.sqrt(v1)
    D = sq + eps
    Mdiag = 1.0 / D
    hyper = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": wd}
    base = "rmsprop: M = diag(1/(sqrt(v_{t+1}) + eps)), v_{t+1} = alpha v_t + (1-alpha) g~^2"
    if coords == "frozen":
        J = I - eta * Mdiag[:, None] * Ht
        layout = _layout(n, ("theta",))
        desc = f"{base}; z = theta, J = I - lr M H~ with M frozen."
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            K = np.where(v1 > 0, g / (2.0 * D * D * sq), 0.0)  # -d(g/D)/dv1
        dv_dtheta = 2.0 * (1.0 - alpha) * g[:, None] * Ht  # (n, n)
        J11 = I - eta * (Mdiag[:, None] * Ht - K[:, None] * dv_dtheta)
        J12 = np.diag(eta * alpha * K)
        J21 = dv_dtheta
        J22 = alpha * I
        if scaling == "scaled":
            s = v_scale(v1, eps)
            J12 = J12 * s[None, :]
            J21 = J21 / s[:, None]
        J = np.block([[J11, J12], [J21, J22]])
        layout = _layout(n, ("theta", "v"))
        desc = f"{base}; z = [theta; v] ({_scaling_text(scaling)}), exact Jacobian including dv/dtheta."
    return UpdateOperator(
        J=J, optimizer="rmsprop", coords=coords, scaling=scaling, layout=layout, n_params=n, H=H,
        preconditioner=Mdiag, blocks=None, block_basis=None, hyper=hyper, description=desc,
    )  # fmt: skip


def _scaling_text(scaling: str) -> str:
    return "v measured relative to max(v_{t+1}, eps^2)" if scaling == "scaled" else "raw v"


def _adam_operator(
    optimizer: str, H: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, *, lr: float, b1: float, b2: float,
    eps: float, wd: float, step: int, coords: str, scaling: str,
) -> UpdateOperator:  # fmt: skip
    n = H.shape[0]
    eta = lr
    I = np.eye(n)
    wd_c, wd_d = (wd, 0.0) if optimizer == "adam" else (0.0, wd)
    Ht = H + wd_c * I
    c1 = 1.0 / (1.0 - b1**step)
    bc2_sqrt = (1.0 - b2**step) ** 0.5  # torch: denom = sqrt(v') / sqrt(1 - beta2^t) + eps
    v1 = b2 * v + (1.0 - b2) * g * g  # v_{t+1}
    sq = np.sqrt(v1)
    D = sq / bc2_sqrt + eps
    Mdiag = 1.0 / D
    hyper = {"lr": lr, "betas": (b1, b2), "eps": eps, "weight_decay": wd, "step": step}
    wd_txt = "decoupled weight decay theta*(1 - lr wd)" if optimizer == "adamw" else "H~ = H + wd I (coupled)"
    base = (
        f"{optimizer} step {step}: M = diag(1/(sqrt(c2 v_{{t+1}}) + eps)), c1 = {c1:.6g}, "
        f"c2 = 1/(1 - beta2^t), {wd_txt}"
    )
    decay = (1.0 - eta * wd_d) * I
    if coords == "simple":
        J = decay - eta * c1 * Mdiag[:, None] * Ht
        layout = _layout(n, ("theta",))
        head = "(1 - lr wd) I" if optimizer == "adamw" else "I"
        desc = f"{base}; z = theta, J = {head} - lr c1 M H~ (momentum dropped, M frozen)."
    elif coords == "frozen":
        J11 = decay - eta * c1 * (1.0 - b1) * Mdiag[:, None] * Ht
        J = np.block([[J11, np.diag(-eta * c1 * b1 * Mdiag)], [(1.0 - b1) * Ht, b1 * I]])
        layout = _layout(n, ("theta", "m"))
        desc = f"{base}; z = [theta; m], M frozen (the preconditioner of this step)."
    else:
        m1 = b1 * m + (1.0 - b1) * g  # m_{t+1}
        with np.errstate(divide="ignore", invalid="ignore"):
            K = np.where(v1 > 0, m1 / (2.0 * D * D * sq * bc2_sqrt), 0.0)  # -d(m1/D)/dv1
        dv_dtheta = 2.0 * (1.0 - b2) * g[:, None] * Ht  # (n, n)
        J11 = decay - eta * c1 * ((1.0 - b1) * Mdiag[:, None] * Ht - K[:, None] * dv_dtheta)
        J12 = np.diag(-eta * c1 * b1 * Mdiag)
        J13 = np.diag(eta * c1 * b2 * K)
        J31 = dv_dtheta
        if scaling == "scaled":
            s = v_scale(v1, eps)
            J13 = J13 * s[None, :]
            J31 = J31 / s[:, None]
        Z = np.zeros((n, n))
        J = np.block([[J11, J12, J13], [(1.0 - b1) * Ht, b1 * I, Z], [J31, Z, b2 * I]])
        layout = _layout(n, ("theta", "m", "v"))
        desc = f"{base}; z = [theta; m; v] ({_scaling_text(scaling)}), exact Jacobian including dv/dtheta."
    return UpdateOperator(
        J=J, optimizer=optimizer, coords=coords, scaling=scaling, layout=layout, n_params=n, H=H,
        preconditioner=Mdiag, blocks=None, block_basis=None, hyper=hyper, description=desc,
    )  # fmt: skip
