"""Operator Lab: everything the lab page shows for one slider state, in one call.

The model is the quadratic loss ``L(theta) = 1/2 theta^T H theta`` of :mod:`nnspec_core.quadratic`
(``H = R(angle) diag(lam) R(angle)^T``; Adam's frozen preconditioner ``M`` from ``v_mode``). For one
setting of the optimizer and its hyper-parameters, :func:`lab_state` returns the update operator
``J`` (one step ``z_next = J @ z``, parameters first), its spectrum, the kappa(V) / rho(J) map over the
(eta, beta) plane with the analytic exceptional-point (EP) curves, the eps-pseudospectra, the transient
``||J^k||_2`` with its bounds, a trajectory of the iterates and the metric cards. :func:`snap_target`
finds the nearest EP along the learning rate and :func:`ep_walk` sweeps eta across it.

State conventions (``coords``):

``"theta"``    gd: ``z = theta``, ``J = I - eta H``.
``"history"``  heavy ball / Nesterov: ``z = [theta_k; theta_{k-1}]`` (start: ``theta_{-1} = theta_0``).
``"buffer"``   heavy ball / Nesterov: ``z = [theta; b]`` with torch's momentum buffer (start: ``b = 0``).
``"scaled"``   Adam frozen: ``z = [theta; u]``, ``u = eta c1 M m`` (start: ``m = 0``).
``"raw"``      Adam frozen: torch's ``z = [theta; m]`` (start: ``m = 0``).

kappa(V) is cond_2(V) with unit eigenvector columns; it is reported as ``inf`` when the parameters
sit on an analytic EP to relative precision :data:`AT_EP_RTOL` (the exact-arithmetic operator is
defective there; the floating-point one is only nearly so) or when V is numerically singular.
All norms are 2-norms; eps is absolute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from nnspec_core._validation import check_choice, check_scalar
from nnspec_core.blocks import eig2x2, momentum_blocks
from nnspec_core.exceptional import (
    EPCurve,
    MapResult,
    NearestEP,
    adam_frozen_blocks,
    ep_curves,
    ep_distance,
    ep_products,
    ep_walk,
    kappa_rho_map,
    nearest_analytic_ep,
    snap_to_ep,
)
from nnspec_core.pseudospectra import PseudospectrumResult, eps_levels, pseudospectrum, sigma_min_points
from nnspec_core.quadratic import (
    LAB_COORDS,
    LAB_OPTIMIZERS,
    PRESETS,
    LabOperator,
    LabPreset,
    QuadraticProblem,
    iterate_trajectory,
    lab_operator,
    quadratic_problem,
)
from nnspec_core.spectra import spectrum
from nnspec_core.transient import power_norms

__all__ = [
    "AT_EP_RTOL",
    "LabSettings",
    "settings_from_preset",
    "LabResult",
    "lab_state",
    "lab_map",
    "SnapTarget",
    "snap_target",
    "LabWalk",
    "lab_walk",
]

#: Relative distance in eta below which the parameters count as sitting on an analytic EP.
AT_EP_RTOL = 1e-9
#: Largest number of Hessian eigenvalues the lab accepts (the operator is at most 32 x 32).
MAX_LAB_N = 16
MAX_K = 5000
MAX_GRID = 400

_STATE_TEXT = {
    "theta": "z = θ",
    "history": "z = [θₖ; θₖ₋₁]",
    "buffer": "z = [θ; b] (torch momentum buffer b)",
    "scaled": "z = [θ; u], u = η c₁ M m (momentum part of the step)",
    "raw": "z = [θ; m] (torch exp_avg m)",
}


# ----------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class LabSettings:
    """Every slider value of the Operator Lab (plain, hashable data).

    Attributes
    ----------
    optimizer : {"gd", "heavy_ball", "nesterov", "adam"}
    coords : str
        State convention, one of ``LAB_COORDS[optimizer]`` (module docstring).
    eigenvalues : tuple of float, length n
        Hessian eigenvalues ``lam`` (1 <= n <= 16; negative values allowed: a saddle).
    angle : float
        Rotation of H's eigenbasis against the coordinate axes (radians); matters for Adam only.
    v_mode : {"aligned", "diag", "ones"}
        Adam's frozen second moment (see :mod:`nnspec_core.quadratic`).
    eps : float
        Adam's epsilon (absolute).
    lr : float
        Learning rate eta > 0 (per step).
    momentum : float
        beta in [0, 1) (heavy ball, Nesterov) or beta1 (Adam); ignored for gd.
    step : int
        Adam's bias-correction step t >= 1.
    lr_range : (float, float)
        eta range of the map (log axis), ``0 < lo < hi``.
    momentum_range : (float, float)
        beta range of the map, ``0 <= lo < hi < 1``.
    k_max : int
        Horizon of ``||J^k||`` and of the trajectory (steps).
    theta0 : (float, float)
        Start of the trajectory: ``theta_0 = (theta0[0], theta0[1], theta0[1], ...)`` (length n).
    n_map : int
        Points per axis of the kappa / rho map.
    n_grid : int
        Points per axis of the pseudospectrum grid.
    """

    optimizer: str = "heavy_ball"
    coords: str = "history"
    eigenvalues: tuple[float, ...] = (1.0, 0.1)
    angle: float = 0.0
    v_mode: str = "aligned"
    eps: float = 1e-8
    lr: float = 0.1
    momentum: float = 0.9
    step: int = 10
    lr_range: tuple[float, float] = (1e-3, 10.0)
    momentum_range: tuple[float, float] = (0.0, 0.99)
    k_max: int = 200
    theta0: tuple[float, float] = (1.0, 1.0)
    n_map: int = 80
    n_grid: int = 80


def settings_from_preset(preset: str | LabPreset, **overrides: object) -> LabSettings:
    """:class:`LabSettings` of a preset (a key of ``quadratic.PRESETS``, or a LabPreset), with overrides."""
    if isinstance(preset, LabPreset):
        p = preset
    else:
        p = PRESETS[check_choice(preset, "preset", tuple(PRESETS))]
    s = LabSettings(
        optimizer=p.optimizer,
        coords=p.coords,
        eigenvalues=tuple(float(v) for v in p.hessian_eigenvalues()),
        angle=float(p.angle),
        v_mode=p.v_mode,
        eps=float(p.eps),
        lr=float(p.lr),
        momentum=float(p.beta1 if p.optimizer == "adam" else p.momentum),
        step=int(p.step),
        lr_range=tuple(map(float, p.lr_range)),
        momentum_range=tuple(map(float, p.momentum_range)),
        k_max=int(p.k_max),
        theta0=tuple(map(float, p.theta0)),
    )
    return replace(s, **overrides) if overrides else s


def _pair(x: object, name: str) -> tuple[float, float]:
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"{name} must be a pair (lo, hi); got {x!r}.")
    return float(check_scalar(x[0], f"{name}[0]")), float(check_scalar(x[1], f"{name}[1]"))


def _validate(s: LabSettings) -> LabSettings:
    """Check every field once; returns the settings with normalised types."""
    if not isinstance(s, LabSettings):
        raise TypeError(f"settings must be a LabSettings; got {type(s).__name__}.")
    opt = check_choice(s.optimizer, "optimizer", LAB_OPTIMIZERS)
    check_choice(s.coords, "coords", LAB_COORDS[opt])
    lam = s.eigenvalues
    if not isinstance(lam, (tuple, list)) or not 1 <= len(lam) <= MAX_LAB_N:
        raise ValueError(f"eigenvalues must be a tuple of 1 to {MAX_LAB_N} numbers; got {lam!r}.")
    lam = tuple(float(check_scalar(v, f"eigenvalues[{i}]")) for i, v in enumerate(lam))
    lr_lo, lr_hi = _pair(s.lr_range, "lr_range")
    if not 0 < lr_lo < lr_hi:
        raise ValueError(f"lr_range must satisfy 0 < lo < hi; got {s.lr_range!r}.")
    b_lo, b_hi = _pair(s.momentum_range, "momentum_range")
    if not 0 <= b_lo < b_hi < 1:
        raise ValueError(f"momentum_range must satisfy 0 <= lo < hi < 1; got {s.momentum_range!r}.")
    return replace(
        s,
        eigenvalues=lam,
        angle=float(check_scalar(s.angle, "angle")),
        v_mode=check_choice(s.v_mode, "v_mode", ("aligned", "diag", "ones")),
        eps=float(check_scalar(s.eps, "eps", min_val=0.0)),
        lr=float(check_scalar(s.lr, "lr", min_val=0.0, include_min=False)),
        momentum=float(check_scalar(s.momentum, "momentum", min_val=0.0, max_val=1.0, include_max=False)),
        step=int(check_scalar(s.step, "step", min_val=1, integer=True)),
        lr_range=(lr_lo, lr_hi),
        momentum_range=(b_lo, b_hi),
        k_max=int(check_scalar(s.k_max, "k_max", min_val=1, max_val=MAX_K, integer=True)),
        theta0=_pair(s.theta0, "theta0"),
        n_map=int(check_scalar(s.n_map, "n_map", min_val=2, max_val=MAX_GRID, integer=True)),
        n_grid=int(check_scalar(s.n_grid, "n_grid", min_val=2, max_val=MAX_GRID, integer=True)),
    )


# ---------------------------------------------------------------------------------------- operator
def _problem(s: LabSettings) -> QuadraticProblem:
    return quadratic_problem(np.array(s.eigenvalues), angle=s.angle, v_mode=s.v_mode, eps=s.eps)


def _beta(s: LabSettings, momentum: float | None = None) -> float:
    return 0.0 if s.optimizer == "gd" else float(s.momentum if momentum is None else momentum)


def _operator(s: LabSettings, prob: QuadraticProblem, lr: float, momentum: float) -> LabOperator:
    """:func:`nnspec_core.quadratic.lab_operator` at ``(lr, momentum)`` (momentum is beta1 for Adam)."""
    return lab_operator(prob, optimizer=s.optimizer, coords=s.coords, lr=lr, momentum=momentum if s.optimizer != "adam"
                        else 0.0, beta1=momentum, step=s.step)  # fmt: skip


def _nearest(s: LabSettings, op: LabOperator, lr: float, momentum: float) -> NearestEP:
    return nearest_analytic_ep(s.optimizer, op.modal_curvatures, lr=lr, momentum=momentum, step=s.step)


# ----------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class LabResult:
    """Everything the Operator Lab shows for one slider state (see :func:`lab_state`).

    Attributes
    ----------
    settings : LabSettings
        The validated input.
    H : ndarray of shape (n, n)
        Symmetric Hessian.
    preconditioner : ndarray of shape (n,)
        Adam's ``M`` diagonal (ones for the other optimizers, where it plays no role).
    J : ndarray of shape (d, d)
        Update operator, one step ``z_next = J @ z`` in the convention ``state`` describes (d = n or 2n).
    state : str
        Human-readable state vector, e.g. ``"z = [θₖ; θₖ₋₁]"``.
    eigenvalues : ndarray of shape (d,), complex128
        Eigenvalues of J, sorted by decreasing modulus.
    eigval_condition : ndarray of shape (d,)
        ``1/|yᴴx|`` per eigenvalue (unit left/right eigenvectors; inf at a defective eigenvalue).
    rho : float
        Spectral radius ρ(J).
    kappa_V : float
        cond_2(V) with unit eigenvector columns; ``inf`` at an EP (see ``at_ep``).
    at_ep : bool
        The parameters sit on an analytic EP (``|lr / lr_ep - 1| <= AT_EP_RTOL``) or V is numerically singular.
    departure, departure_rel : float
        Henrici departure from normality ``sqrt(||J||_F² − Σ|μᵢ|²)`` and its ratio to ``||J||_F``.
    commutator : float
        ``||[H, M]||_2`` (Adam: 0 exactly when H and M commute; NaN for the other optimizers, which have no M).
    ep_distance : float
        First-order 2-norm distance from J to the nearest matrix with a double eigenvalue
        (:func:`nnspec_core.exceptional.ep_distance`; 0 at an EP).
    ep_lr, ep_rel : float
        Nearest analytic EP along eta at this momentum (:func:`nnspec_core.exceptional.nearest_analytic_ep`)
        and ``lr / ep_lr - 1``, how far the current eta is from it (NaN if none).
    ep_branch : str
        Its branch ("" if none).
    ep_lam : float
        Curvature of the mode that hits it (NaN if none).
    k : ndarray of shape (k_max + 1,), int
        Step counts 0..k_max.
    power_norms : ndarray of shape (k_max + 1,)
        ``||J^k||_2`` (inf after overflow).
    upper_bound : ndarray of shape (k_max + 1,)
        ``kappa(V) rho^k`` (inf at an EP).
    kreiss : float
        Kreiss constant estimate ``K(J)`` (lower bound on ``sup_k ||J^k||_2``; inf when rho > 1).
    peak, peak_k : float, int
        Largest finite ``||J^k||_2`` over k <= k_max and where it occurs.
    diverges : bool
        ``rho(J) > 1``: the iteration blows up.
    thetas : ndarray of shape (k_max + 1, n)
        Iterates θ₀..θ_kmax of ``z_{k+1} = J z_k`` started at rest from ``settings.theta0``
        (:func:`nnspec_core.quadratic.iterate_trajectory`; non-finite after overflow).
    theta_ratio : ndarray of shape (k_max + 1,)
        ``||θ_k||_2 / ||θ_0||_2``: distance to the minimum relative to the start (inf after overflow).
    pseudo : PseudospectrumResult
        ``sigma_min(zI − J)`` on an ``n_grid x n_grid`` window containing the unit circle and the spectrum.
    eps_levels : ndarray of shape (m,)
        log10 ε contour levels for ``pseudo`` (ε absolute).
    map : MapResult or None
        log10 kappa(V) and rho(J) over ``lr_range x momentum_range`` (:func:`lab_map`); None if not requested.
    ep_curves : tuple of EPCurve
        Analytic EP curves in the (lr, momentum) plane.
    """

    settings: LabSettings
    H: np.ndarray
    preconditioner: np.ndarray
    J: np.ndarray
    state: str
    eigenvalues: np.ndarray
    eigval_condition: np.ndarray
    rho: float
    kappa_V: float
    at_ep: bool
    departure: float
    departure_rel: float
    commutator: float
    ep_distance: float
    ep_lr: float
    ep_rel: float
    ep_branch: str
    ep_lam: float
    k: np.ndarray
    power_norms: np.ndarray
    upper_bound: np.ndarray
    kreiss: float
    peak: float
    peak_k: int
    diverges: bool
    thetas: np.ndarray
    theta_ratio: np.ndarray
    pseudo: PseudospectrumResult
    eps_levels: np.ndarray
    map: MapResult | None
    ep_curves: tuple[EPCurve, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        d = self.J.shape[0]
        m = self.settings.k_max + 1
        assert self.eigenvalues.shape == (d,) and self.eigval_condition.shape == (d,)
        assert self.power_norms.shape == (m,) and self.upper_bound.shape == (m,) and self.k.shape == (m,)
        assert self.thetas.shape == (m, self.H.shape[0]) and self.theta_ratio.shape == (m,)


# ---------------------------------------------------------------------------------------- pieces
def _sigma_min(J: np.ndarray, blocks: np.ndarray | None, z: np.ndarray) -> np.ndarray:
    """``sigma_min(zI - J)`` at points ``z`` (shape (m,)): closed-form blocks, else batched dense SVD."""
    if blocks is not None:
        return sigma_min_points(None, z, blocks=blocks)
    return sigma_min_points(J, z, method="svd")


def _kreiss_estimate(J: np.ndarray, blocks: np.ndarray | None, rho: float, eigs: np.ndarray) -> float:
    """Kreiss constant ``sup_{|z|>1} (|z| - 1) / sigma_min(zI - J)`` by a vectorised polar search.

    Rays at the eigenvalue angles and 13 equispaced angles in [0, pi] (J is real: the function is
    symmetric about the real axis), ``|z| - 1`` log-spaced in ``[1e-6, 10 max(1, ||J||)]``, then three
    zoom rounds around the best point. Every sample is a lower bound of the supremum; the result is at
    least 1 (the limit ``|z| -> inf``) and ``inf`` when ``rho > 1``.
    """
    if rho > 1.0 + 1e-12:
        return math.inf
    top = math.log10(10.0 * max(1.0, float(np.linalg.norm(J, 2))))
    theta = np.unique(np.concatenate([np.abs(np.angle(eigs)), np.linspace(0.0, math.pi, 13)]))
    s = np.logspace(-6.0, top, 40)

    def values(s_: np.ndarray, th: np.ndarray) -> np.ndarray:
        S, T = np.meshgrid(s_, th)  # (len(th), len(s_))
        z = ((1.0 + S) * np.exp(1j * T)).ravel()
        with np.errstate(divide="ignore"):
            v = S.ravel() / _sigma_min(J, blocks, z)
        return np.where(np.isfinite(v), v, 0.0).reshape(S.shape)

    v = values(s, theta)
    i, j = np.unravel_index(int(np.argmax(v)), v.shape)
    best, ls, th = float(v[i, j]), math.log10(s[j]), float(theta[i])
    ls_w, th_w = 0.3, math.pi / 24
    for _ in range(3):
        s_r = 10.0 ** np.clip(np.linspace(ls - ls_w, ls + ls_w, 9), -8.0, top)
        th_r = np.linspace(th - th_w, th + th_w, 9)
        v = values(s_r, th_r)
        i, j = np.unravel_index(int(np.argmax(v)), v.shape)
        if v[i, j] > best:
            best, ls, th = float(v[i, j]), math.log10(s_r[j]), float(th_r[i])
        ls_w, th_w = ls_w / 3.0, th_w / 3.0
    return max(1.0, best)


def _theta0(s: LabSettings, n: int) -> np.ndarray:
    """Start ``(theta0[0], theta0[1], theta0[1], ...)`` of length n."""
    theta0 = np.full(n, s.theta0[1])
    theta0[0] = s.theta0[0]
    return theta0


def _window(eigs: np.ndarray, eps_max: float, kappa: float) -> tuple[np.ndarray, np.ndarray]:
    """Square window containing the unit circle and the eigenvalues grown by a Bauer-Fike-like margin."""
    grow = eps_max * (min(kappa, 3.0) if math.isfinite(kappa) else 3.0)
    lo_re = min(-1.1, float(eigs.real.min()) - grow)
    hi_re = max(1.1, float(eigs.real.max()) + grow)
    h = max(1.1, float(np.abs(eigs.imag).max()) + grow)
    half = 0.5 * max(hi_re - lo_re, 2 * h)
    c = 0.5 * (lo_re + hi_re)
    return c - half, c + half


def lab_map(settings: LabSettings) -> MapResult:
    """log10 kappa(V) and rho(J) over ``lr_range x momentum_range`` (``n_map`` points each, eta log-spaced).

    Depends only on the optimizer, ``coords``, the Hessian (eigenvalues, angle, ``v_mode``, ``eps``),
    ``step`` and the ranges -- not on the current ``lr`` / ``momentum`` -- so a page can cache it apart
    from :func:`lab_state` (``include_map=False``). gd has no momentum: its map is constant along beta.

    Returns
    -------
    MapResult
        Arrays of shape (n_map, n_map) = (len(momentum), len(lr)).
    """
    s = _validate(settings)
    return _map(s, _problem(s))


def _map(s: LabSettings, prob: QuadraticProblem) -> MapResult:
    lr = np.geomspace(*s.lr_range, s.n_map)
    beta = np.linspace(*s.momentum_range, s.n_map)
    if s.optimizer == "gd":  # no momentum: the (eta-only) map, constant along beta
        return kappa_rho_map("gd", prob.H, lr=lr, momentum=beta)
    pre = prob.preconditioner if s.optimizer == "adam" else None
    return kappa_rho_map(s.optimizer, prob.H, lr=lr, momentum=beta, coords=s.coords, preconditioner=pre, step=s.step)


# ----------------------------------------------------------------------------------------- main call
def lab_state(settings: LabSettings, *, include_map: bool = True) -> LabResult:
    """Compute everything the Operator Lab shows for one slider state.

    Parameters
    ----------
    settings : LabSettings
        Optimizer, state convention, Hessian and hyper-parameters (see its attributes).
    include_map : bool
        Also compute the kappa / rho map (:func:`lab_map`); ``False`` leaves ``map = None`` for a
        caller that caches the map separately (it does not depend on ``lr`` / ``momentum``).

    Returns
    -------
    LabResult
        Operator, spectrum, cards, transient and bounds, trajectory, pseudospectrum and map.

    Raises
    ------
    ValueError, TypeError
        For a setting out of range (the message names the field).
    """
    s = _validate(settings)
    prob = _problem(s)
    beta = _beta(s)
    op = _operator(s, prob, s.lr, beta)
    J, B = op.J, op.blocks
    spec = spectrum(J, blocks=B)
    near = _nearest(s, op, s.lr, beta)
    ep_rel = 1.0 / (1.0 + near.relative_change) - 1.0 if near.found else math.nan  # lr / lr_ep - 1
    at_ep = bool((near.found and abs(ep_rel) <= AT_EP_RTOL) or math.isinf(spec.kappa_V))
    kappa = math.inf if at_ep else float(spec.kappa_V)
    rho = float(spec.spectral_radius)
    norms = power_norms(J, s.k_max, blocks=B)
    k = np.arange(s.k_max + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        upper = kappa * rho ** k.astype(float) if math.isfinite(kappa) else np.full(k.size, np.inf)
    peak_k = int(np.argmax(np.where(np.isfinite(norms), norms, -np.inf)))
    theta0 = _theta0(s, prob.n)
    thetas = iterate_trajectory(op, theta0, s.k_max)
    with np.errstate(over="ignore", invalid="ignore"):
        ratio = np.linalg.norm(thetas, axis=1) / max(float(np.linalg.norm(theta0)), np.finfo(float).tiny)
    ratio[~np.isfinite(ratio)] = np.inf
    eps_max = 0.1 * max(float(np.linalg.norm(J, 2)), 1e-3)
    lo, hi = _window(spec.eigenvalues, eps_max, kappa)
    im_half = 0.5 * (hi - lo)
    method = "auto" if B is not None or J.shape[0] > 32 else "svd"  # batched SVD beats Lanczos for d <= 32
    pseudo = pseudospectrum(J, re=np.linspace(lo, hi, s.n_grid), im=np.linspace(-im_half, im_half, s.n_grid),
                            blocks=B, method=method)  # fmt: skip
    curves = ep_curves(s.optimizer, op.modal_curvatures, ranges=(s.lr_range, s.momentum_range), step=s.step)
    return LabResult(
        settings=s,
        H=prob.H,
        preconditioner=prob.preconditioner if s.optimizer == "adam" else np.ones(prob.n),
        J=J,
        state=_STATE_TEXT[s.coords],
        eigenvalues=spec.eigenvalues,
        eigval_condition=np.asarray(spec.eigval_condition, float),
        rho=rho,
        kappa_V=kappa,
        at_ep=at_ep,
        departure=float(spec.departure),
        departure_rel=float(spec.departure_rel),
        commutator=float(op.commutator) if s.optimizer == "adam" else math.nan,
        ep_distance=0.0 if at_ep else float(ep_distance(J).distance),
        ep_lr=near.lr,
        ep_rel=ep_rel,
        ep_branch=near.branch,
        ep_lam=near.curvature,
        k=k,
        power_norms=norms,
        upper_bound=np.asarray(upper, float),
        kreiss=_kreiss_estimate(J, B, rho, spec.eigenvalues),
        peak=float(norms[peak_k]),
        peak_k=peak_k,
        diverges=rho > 1.0 + 1e-12,
        thetas=thetas,
        theta_ratio=ratio,
        pseudo=pseudo,
        eps_levels=eps_levels(pseudo, n_levels=5),
        map=_map(s, prob) if include_map else None,
        ep_curves=tuple(curves),
    )


# ------------------------------------------------------------------------------------------- snap
@dataclass(frozen=True)
class SnapTarget:
    """Nearest exceptional point along the learning rate (momentum fixed), see :func:`snap_target`.

    Attributes
    ----------
    found : bool
        False when the nearest analytic EP at this momentum is missing (gd never has one) or lies
        outside ``lr_bounds``.
    lr : float
        Learning rate of the EP (closed form, exact to rounding); the start lr if not found.
    momentum : float
        The (unchanged) momentum / beta1.
    lr_numeric : float
        Nearest real/complex eigenvalue transition found by the numerical search
        (:func:`nnspec_core.exceptional.snap_to_ep`); NaN if it found none (e.g. the touching EP of
        heavy ball at beta = 0, where the eigenvalues stay real).
    branch : str
        Analytic branch name ("" if not found).
    lam : float
        Curvature of the mode that hits the EP (NaN if not found).
    relative_change : float
        ``lr / lr_start - 1``.
    n_evaluations : int
        Eigenvalue computations spent by the numerical search.
    """

    found: bool
    lr: float
    momentum: float
    lr_numeric: float
    branch: str
    lam: float
    relative_change: float
    n_evaluations: int


def snap_target(settings: LabSettings, *, lr_bounds: tuple[float, float] = (1e-5, 10.0)) -> SnapTarget:
    """Learning rate of the nearest exceptional point (log distance along eta, momentum fixed).

    The closed-form nearest EP (:func:`nnspec_core.exceptional.nearest_analytic_ep`, over modes and
    branches) gives the target; a numerical search (scan + bisection of the number of real eigenvalues of ``J(eta)``
    via :func:`nnspec_core.exceptional.snap_to_ep`) is run alongside as an independent check and
    reported in ``lr_numeric``.

    Parameters
    ----------
    settings : LabSettings
    lr_bounds : (float, float)
        Search interval for eta (``0 < lo < hi``); the current lr is clipped into it.

    Returns
    -------
    SnapTarget
    """
    s = _validate(settings)
    lo, hi = _pair(lr_bounds, "lr_bounds")
    if not 0 < lo < hi:
        raise ValueError(f"lr_bounds must satisfy 0 < lo < hi; got {lr_bounds!r}.")
    beta = _beta(s)
    if s.optimizer == "gd":
        return SnapTarget(False, s.lr, beta, math.nan, "", math.nan, 0.0, 0)
    prob = _problem(s)
    near = _nearest(s, _operator(s, prob, s.lr, beta), s.lr, beta)

    def family(p1: float, p2: float) -> np.ndarray:
        return _operator(s, prob, p1, p2).J

    lr0 = min(max(s.lr, lo), hi)
    res = snap_to_ep(family, (lr0, beta), bounds=((lo, hi), (0.0, 0.9999)), log=(True, False), axis=0)
    lr_num = float(res.params[0]) if res.found else math.nan
    if not near.found or not lo <= near.lr <= hi:
        return SnapTarget(False, s.lr, beta, lr_num, "", math.nan, 0.0, res.n_evaluations)
    return SnapTarget(True, near.lr, beta, lr_num, near.branch, near.curvature, near.relative_change,
                      res.n_evaluations)  # fmt: skip


# ------------------------------------------------------------------------------------------- walk
@dataclass(frozen=True)
class LabWalk:
    """Frames of a sweep of eta across an exceptional point (momentum fixed), see :func:`lab_walk`.

    Attributes
    ----------
    lr : ndarray of shape (m,)
        Learning rates of the frames, increasing (log-spaced); ``lr[ep_index]`` is the EP exactly.
    eigenvalues : ndarray of shape (m, d), complex128
        Eigenvalues of J per frame (each row sorted by decreasing modulus).
    mode_eigenvalues : ndarray of shape (m, 2), complex128
        The two eigenvalues of the colliding mode's 2x2 block (larger real part first, then positive
        imaginary part first); they meet on the real axis at the EP.
    kappa_V : ndarray of shape (m,)
        kappa(V) of J per frame (inf at the EP frame).
    rho : ndarray of shape (m,)
        rho(J) per frame.
    ep_index : int
        Frame at the EP.
    lr_ep, momentum : float
    branch : str
    lam : float
        Curvature of the colliding mode (Hessian eigenvalue, or Adam's eigenvalue of ``M H``).
    optimizer, coords : str
    """

    lr: np.ndarray
    eigenvalues: np.ndarray
    mode_eigenvalues: np.ndarray
    kappa_V: np.ndarray
    rho: np.ndarray
    ep_index: int
    lr_ep: float
    momentum: float
    branch: str
    lam: float
    optimizer: str
    coords: str

    def __post_init__(self) -> None:
        m = self.lr.shape[0]
        assert self.eigenvalues.shape[0] == m and self.mode_eigenvalues.shape == (m, 2)
        assert self.kappa_V.shape == (m,) and self.rho.shape == (m,) and 0 <= self.ep_index < m


def _mode_pair(s: LabSettings, lam: float, lr: np.ndarray, beta: float) -> np.ndarray:
    """Eigenvalues (m, 2) of one mode's 2x2 block across ``lr``: larger real part, then +imag first."""
    if s.optimizer == "adam":
        B = adam_frozen_blocks(lam, lr=lr, beta1=beta, step=s.step)
    else:
        B = momentum_blocks(s.optimizer, lam, lr=lr, momentum=beta, coords=s.coords)
    mu = eig2x2(B)
    order = np.lexsort((-mu.imag, -mu.real), axis=-1)
    return np.take_along_axis(mu, order, axis=1)


def lab_walk(settings: LabSettings, *, n_frames: int = 41, span: float = 1.5) -> LabWalk:
    """Sweep eta across the nearest EP (at the current momentum): the "walk through an EP" frames.

    Uses :func:`nnspec_core.exceptional.ep_walk` on the lab's operator family ``J(eta)`` over
    ``[lr_ep / f, lr_ep * f]``, ``f = min(span, sqrt(ratio to the next EP))`` so that only one EP is
    crossed; the middle frame is the EP exactly (kappa(V) reported as inf there). On one side the
    colliding pair is real, it meets on the real axis at the EP and leaves as a complex-conjugate pair.

    Parameters
    ----------
    settings : LabSettings
        Optimizer with EPs (heavy ball, Nesterov, Adam) and the momentum to sweep at.
    n_frames : int
        Number of frames (even values are made odd, so that a frame sits on the EP).
    span : float
        Largest factor ``f > 1`` of the sweep on each side.

    Returns
    -------
    LabWalk

    Raises
    ------
    ValueError
        If there is no EP at this momentum (gd, or no positive curvature).
    """
    s = _validate(settings)
    n_frames = int(check_scalar(n_frames, "n_frames", min_val=3, max_val=401, integer=True))
    n_frames += 1 - n_frames % 2
    span = float(check_scalar(span, "span", min_val=1.0, include_min=False, max_val=1e6))
    prob = _problem(s)
    beta = _beta(s)
    op = _operator(s, prob, s.lr, beta)
    near = _nearest(s, op, s.lr, beta)
    if not near.found:
        raise ValueError(f"optimizer {s.optimizer!r} has no exceptional point at momentum {beta!r}; "
                         "nothing to walk through.")  # fmt: skip
    pos = op.modal_curvatures[op.modal_curvatures > 0]
    others = (ep_products(s.optimizer, beta, step=s.step)[None, :] / pos[:, None]).ravel()
    gaps = np.abs(np.log(others / near.lr))
    gaps = gaps[gaps > 1e-9]
    f = min(span, math.exp(0.5 * float(gaps.min()))) if gaps.size else span
    w = ep_walk(lambda p: _operator(s, prob, p, beta).J, near.lr, span=f, n_frames=n_frames)
    kappa = 10.0**w.log10_kappa
    mid = n_frames // 2
    kappa[mid] = math.inf
    return LabWalk(
        lr=w.p,
        eigenvalues=w.eigenvalues,
        mode_eigenvalues=_mode_pair(s, near.curvature, w.p, beta),
        kappa_V=kappa,
        rho=w.rho,
        ep_index=mid,
        lr_ep=near.lr,
        momentum=beta,
        branch=near.branch,
        lam=near.curvature,
        optimizer=s.optimizer,
        coords=s.coords,
    )
