"""Per-step views of a training run for the Live Training page (and its CLI twin).

Everything the page shows for a run is prepared here, from a
:class:`nnspec_core.training.TrainingResult` (or a running :class:`~nnspec_core.training.Trainer`):

* :func:`advance` steps a trainer by a chunk (a record count and/or a time budget): the one code path
  used by the page's live ticks, its Step / Run buttons and the tests;
* :func:`step_view` gathers what is drawn for one selected analysed step ``s``: the eigenvalues of
  ``J_s`` (with condition numbers and classes), the ε-pseudospectra ``sigma_min(zI - J_s)`` on a grid,
  the distance to instability ``min_{|z|=1} sigma_min(zI - J_s)``, the transient ``||J_s^k||_2`` with the
  ``kappa(V) rho^k`` upper and Kreiss lower bounds, and the realized amplification through the actual
  per-step operators;
* :func:`realized_curve` computes that realized amplification from the run's snapshots (no replay);
* :func:`fit_view` evaluates the network on a grid (decision boundary, regression curve or, for
  regression on more than one input, predicted against target);
* :func:`explain` writes the plain-language summary of a step;
* ``*_figure`` wrap the builders of :mod:`nnspec_core.figures` with this data.

Conventions are those of :mod:`nnspec_core.training`: a record or snapshot at step ``t`` is measured at
``theta_t`` before step ``t + 1``; ``J_t`` maps ``z_t -> z_{t+1}`` with the state stacked parameters first;
all norms are 2-norms; ε is absolute.
"""

from __future__ import annotations

import argparse
import io
import math
import shlex
import time
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from nnspec_core._validation import check_scalar
from nnspec_core.figures import plot_fit, plot_indicators, plot_loss, plot_spectrum, plot_transient
from nnspec_core.operators import v_scale
from nnspec_core.phases import LabelRule, label_steps
from nnspec_core.pseudospectra import eps_levels, pseudospectrum, schur_form, sigma_min_points
from nnspec_core.spectra import rho_plus, spectrum
from nnspec_core.theme import DEFAULT_THEME, Theme
from nnspec_core.training import (
    AmplificationResult,
    TrainConfig,
    Trainer,
    TrainingResult,
    realized_amplification,
    snapshot_operator,
)
from nnspec_core.transient import power_norms, transient_growth

__all__ = [
    "CLASS_NAMES",
    "MAX_PSEUDO_DIM",
    "StepView",
    "FitView",
    "advance",
    "analysed_steps",
    "nearest_analysed_step",
    "step_view",
    "realized_curve",
    "fit_view",
    "explain",
    "status_text",
    "loss_figure",
    "indicators_figure",
    "spectrum_figure",
    "transient_figure",
    "fit_figure",
    "FIGURE_NAMES",
    "snapshots_npz",
    "run_figures",
    "run_bundle_parts",
    "cli_command",
    "add_cli_arguments",
    "config_from_args",
    "run_cli",
    "fmt_num",
]

#: Plain names of the eigenvalue classes of :func:`nnspec_core.spectra.classify_eigenvalues`.
CLASS_NAMES = {
    "stable": "stable (|μ| < 1)",
    "eos_flip": "flip μ ≤ −1 (edge of stability)",
    "escape": "escape μ ≥ 1 (negative curvature)",
    "spiral": "spiral |μ| ≥ 1 (complex pair)",
    "": "top eigenvalues (matrix-free)",
}
_MODE_PHRASES = {
    "eos_flip": "a flip mode (μ ≤ −1, edge of stability)",
    "escape": "an escape mode (μ ≥ 1, negative curvature)",
    "spiral": "a spiral mode (complex pair, |μ| ≥ 1)",
    "stable": "inside the unit circle",
}
#: Largest operator dimension d for which the pseudospectrum grid is computed by the dense Schur path
#: (closed-form 2x2 blocks have no limit).
MAX_PSEUDO_DIM = 800


# ------------------------------------------------------------------------------------------ formatting
def fmt_num(x: float | None, digits: int = 2) -> str:
    """Short human format: ``3.2e4``, ``0.83``, ``950``, ``∞``, ``—`` (None or NaN)."""
    if x is None or math.isnan(float(x)):
        return "—"
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    a = abs(x)
    if 100 <= a < 1e4:
        return f"{x:.0f}"
    if 1e-3 <= a < 100:
        return f"{x:.{digits + 1}g}"
    m, e = f"{x:.{digits - 1}e}".split("e")
    return f"{m}e{int(e)}"


# ------------------------------------------------------------------------------------------ stepping
def advance(trainer: Trainer, *, max_records: int | None = None, max_seconds: float | None = None) -> int:
    """Step ``trainer`` until ``max_records`` records were added, ``max_seconds`` passed, or the run ended.

    The same path serves live ticks (time budget) and buttons (record count). The trainer is left
    ``"paused"`` if it can continue, so a later call resumes it; a finished, diverged or stopped run
    is left as it is.

    Parameters
    ----------
    trainer : Trainer
    max_records : int, optional
        At most this many records (one per optimizer step), >= 1.
    max_seconds : float, optional
        Wall-time budget (> 0); at least one record is always taken (plus the steps already in flight
        when the budget ends, at most ``trainer.workers - 1``).

    Returns
    -------
    int
        Number of records added.
    """
    if not isinstance(trainer, Trainer):
        raise TypeError(f"trainer must be a Trainer; got {type(trainer).__name__}.")
    if max_records is not None:
        max_records = int(check_scalar(max_records, "max_records", min_val=1, integer=True))
    if max_seconds is not None:
        check_scalar(max_seconds, "max_seconds", min_val=0.0, include_min=False)
    if trainer.done:
        return 0
    t0 = time.perf_counter()
    n0 = len(trainer.records)
    trainer.resume()  # a trainer paused by an earlier chunk yields nothing until resumed
    gen = trainer.run(max_records=max_records)
    try:
        for _ in gen:
            if max_seconds is not None and time.perf_counter() - t0 >= max_seconds:
                break
    finally:
        gen.close()  # steps already in flight (workers > 1) are completed into the records
    if not trainer.done:
        trainer.pause()
    return len(trainer.records) - n0


def analysed_steps(result: TrainingResult) -> np.ndarray:
    """Steps with an analysis (and, if kept, a snapshot), shape (m,), increasing."""
    return np.array([r.step for r in result.records if r.analysed], dtype=np.int64)


def nearest_analysed_step(result: TrainingResult, step: float | None) -> int | None:
    """The analysed step closest to ``step`` (ties: the earlier one); the last analysed step if ``step`` is None.

    Returns None if no step was analysed yet.
    """
    s = analysed_steps(result)
    if s.size == 0:
        return None
    if step is None or not math.isfinite(float(step)):
        return int(s[-1])
    return int(s[np.argmin(np.abs(s - float(step)))])


def divergence_reason(result: TrainingResult) -> str:
    """Why the run stopped, in plain words and without repeating the step (shown after "diverged at step k: ")."""
    return result.diverged_reason.removesuffix(f" at step {result.diverged_step}")


def rule_text(rule: LabelRule) -> str:
    """A labelling rule in words, for legends: ``loss rose ×1.5 within 10 steps`` (not its name ``s1.5_w10``)."""
    return f"loss rose ×{rule.rise_factor:g} within {rule.horizon} steps"


def status_text(result: TrainingResult, *, live: bool = False) -> str:
    """One line for the status bar: running / paused / finished / diverged at step k (reason)."""
    c = result.config
    t = result.records[-1].step if result.records else 0
    if result.diverged:
        return f"⚠ diverged at step {result.diverged_step}: {divergence_reason(result)}"
    if result.status == "finished":
        return f"finished: {c.steps} steps"
    if result.status == "stopped":
        return f"stopped at step {t}"
    if not result.records:
        return "ready: press Start"
    return f"{'running' if live else 'paused'}: step {t} of {c.steps}"


# ------------------------------------------------------------------------------------------ realized
def _v_next(config: TrainConfig, state: dict) -> np.ndarray:
    """``v_{t+1}`` of the step being taken (RMSProp / Adam / AdamW) from the state at t (torch's update)."""
    c = config
    g = state["grad"]
    if c.weight_decay and c.optimizer in ("rmsprop", "adam"):
        g = g + c.weight_decay * state["theta"]
    if c.optimizer == "rmsprop":
        return c.alpha * state["square_avg"] + (1 - c.alpha) * g * g
    return c.beta2 * state["exp_avg_sq"] + (1 - c.beta2) * g * g


def _raw_operator(config: TrainConfig, snap) -> tuple[np.ndarray, np.ndarray | None]:
    """Raw-coordinate ``J_t`` of a dense snapshot and the diagonal scale ``s`` of the "scaled" convention.

    ``J_scaled = S^-1 J_raw S`` with ``S = diag(s)``; ``s`` is None when the two conventions agree.
    """
    c = config
    op = snapshot_operator(c, snap.H, snap.state, step=snap.step + 1, coords=snap.coords, scaling="raw")
    names = [name for name, _, _ in op.layout]
    if c.scaling != "scaled" or "v" not in names:
        return op.J, None
    s = np.ones(op.d)
    _, a, b = op.layout[names.index("v")]
    s[a:b] = v_scale(_v_next(c, snap.state), c.eps)
    return op.J, s


def realized_curve(result: TrainingResult, *, start: int, horizon: int) -> AmplificationResult:
    """Realized versus predicted amplification over ``k = 0..K`` steps from ``start``, from the snapshots.

    ``realized[k] = ||J_{s+k-1} ... J_{s+1} J_s||_2`` with the *actual* per-step operators rebuilt from the
    run's dense snapshots, measured in the state coordinates of ``J_s`` (for the "scaled" convention the
    product is formed in raw coordinates and measured after scaling with ``s``'s scale, as
    :func:`nnspec_core.training.realized_amplification` does); ``predicted[k] = ||J_s^k||_2`` (frozen
    snapshot) and ``upper[k] = kappa(V_s) rho(J_s)^k``. Entries past the last available snapshot are NaN
    (``complete`` False). When the snapshots are not consecutive (``analyze_every > 1``) or were not kept,
    the run is replayed with :func:`nnspec_core.training.realized_amplification` instead.

    Parameters
    ----------
    result : TrainingResult
        A dense-path run.
    start : int
        Start step s (an analysed step).
    horizon : int
        Window K >= 1.

    Returns
    -------
    AmplificationResult
    """
    if not isinstance(result, TrainingResult):
        raise TypeError(f"result must be a TrainingResult; got {type(result).__name__}.")
    s = int(check_scalar(start, "start", min_val=0, integer=True))
    K = int(check_scalar(horizon, "horizon", min_val=1, max_val=10_000, integer=True))
    snaps = {sn.step: sn for sn in result.snapshots if sn.H is not None}
    if s not in snaps:
        if not result.snapshots and result.config.keep_snapshots is False:
            return realized_amplification(result.config, start=s, horizon=K)
        raise ValueError(f"start must be a dense analysed step with a snapshot; got {s}.")
    if result.config.analyze_every > 1:
        return realized_amplification(result.config, start=s, horizon=K)
    k = np.arange(K + 1)
    op0 = result.operator(s)
    sp = spectrum(op0.J, blocks=op0.blocks)
    with np.errstate(all="ignore"):
        predicted = power_norms(op0.J, K, blocks=op0.blocks)
        upper = float(sp.kappa_V) * float(sp.spectral_radius) ** k.astype(float)
        realized, complete = _realized_products(result, s, K, snaps)
        lyap = np.where(k > 0, np.log(realized) / np.maximum(k, 1), np.nan)
    return AmplificationResult(
        start=s, horizon=K, k=k, realized=realized, predicted=predicted, upper=upper, lyapunov=lyap, complete=complete
    )


def _realized_products(result: TrainingResult, s: int, K: int, snaps: dict) -> tuple[np.ndarray, bool]:
    """``||J_{s+k-1} ... J_s||_2`` for k = 0..K in the start's coordinates (NaN past the last snapshot)."""
    realized = np.full(K + 1, np.nan)
    realized[0] = 1.0
    P, s0, complete = None, None, False
    for j in range(K):
        snap = snaps.get(s + j)
        if snap is None:
            break
        J, sc = _raw_operator(result.config, snap)
        if j == 0:
            s0 = sc
        P = J if P is None else J @ P
        Q = P if s0 is None else P * s0[None, :] / s0[:, None]  # S^-1 P S in the start's coordinates
        realized[j + 1] = float(np.linalg.norm(Q, 2)) if np.all(np.isfinite(Q)) else math.inf
        complete = j == K - 1
    return realized, complete


# ------------------------------------------------------------------------------------------ step view
@dataclass(frozen=True)
class StepView:
    """Everything drawn for one analysed step ``s`` (operator ``J_s`` of torch step ``s + 1``).

    Attributes
    ----------
    step : int
    path : {"dense", "matrix-free"}
        Analysis path that produced the snapshot.
    coords : str
        State convention of ``J_s`` (``nnspec_core.operators.COORDS``).
    d : int
        Dimension of ``J_s`` (0 if unknown on the matrix-free path).
    eigenvalues : ndarray of shape (m,), complex128
        Eigenvalues of ``J_s``, decreasing modulus (all d on the dense path, the top ``n_eigs`` otherwise).
    eigval_condition : ndarray of shape (m,)
        Eigenvalue condition numbers (unit left/right eigenvectors; inf if defective; NaN matrix-free).
    classes : ndarray of shape (m,), str
        Class per eigenvalue ("stable", "eos_flip", "escape", "spiral").
    rho, rho_plus, kappa_V : float
        Spectral radius, radius without escape modes, cond_2 of unit-column eigenvectors (NaN matrix-free).
    pseudo_re, pseudo_im : ndarray of shape (nx,), (ny,)
        Grid axes (empty when no pseudospectrum was computed).
    sigma_min : ndarray of shape (ny, nx)
        ``sigma_min((re[j] + 1j im[i]) I - J_s)`` in the 2-norm (shape (0, 0) when not computed).
    levels : ndarray of shape (L,)
        Contour levels as log10 ε (ε absolute).
    pseudo_method : str
        Method of :func:`nnspec_core.pseudospectra.pseudospectrum` ("" when not computed).
    dist_instability : float
        ``min_{|z|=1} sigma_min(zI - J_s)`` on 181 points of the upper unit half-circle (J is real, so the
        lower half mirrors it); an upper bound on the true minimum. The smallest ε whose ε-pseudospectrum
        reaches the unit circle; 0 if ``rho >= 1``, NaN if not computed.
    k : ndarray of shape (K + 1,), int
        Powers ``0..K`` of the transient (empty matrix-free).
    norms, upper : ndarray of shape (K + 1,)
        ``||J_s^k||_2`` and ``kappa(V) rho^k``.
    kreiss : float
        Kreiss constant (lower bound on ``sup_k ||J_s^k||``; inf if ``rho > 1``).
    peak : float
        ``max_k ||J_s^k||_2``; ``peak_k`` its first argmax.
    realized_k, realized : ndarray of shape (K2 + 1,)
        Realized amplification through the actual operators ``J_{s+k-1} ... J_s`` (NaN where the run has
        no step yet; empty when not computed).
    realized_complete : bool
    note : str
        Plain-language note on what could not be computed and why ("" if everything was).
    """

    step: int
    path: str
    coords: str
    d: int
    eigenvalues: np.ndarray
    eigval_condition: np.ndarray
    classes: np.ndarray
    rho: float
    rho_plus: float
    kappa_V: float
    pseudo_re: np.ndarray
    pseudo_im: np.ndarray
    sigma_min: np.ndarray
    levels: np.ndarray
    pseudo_method: str
    dist_instability: float
    k: np.ndarray
    norms: np.ndarray
    upper: np.ndarray
    kreiss: float
    peak: float
    peak_k: int
    realized_k: np.ndarray
    realized: np.ndarray
    realized_complete: bool
    note: str

    def __post_init__(self) -> None:
        assert self.eigenvalues.shape == self.eigval_condition.shape == self.classes.shape
        assert self.sigma_min.shape == (self.pseudo_im.size, self.pseudo_re.size)
        assert self.k.shape == self.norms.shape == self.upper.shape
        assert self.realized_k.shape == self.realized.shape

    @property
    def has_pseudo(self) -> bool:
        """True if a pseudospectrum grid was computed."""
        return self.sigma_min.size > 0


_EMPTY = np.zeros(0)


def step_view(
    result: TrainingResult,
    step: int,
    *,
    n_grid: int | None = None,
    k_max: int | None = None,
    horizon: int | None = None,
    max_pseudo_dim: int = MAX_PSEUDO_DIM,
) -> StepView:
    """Prepare the spectrum, pseudospectrum and transient views of analysed step ``step``.

    Parameters
    ----------
    result : TrainingResult
        Needs snapshots (``config.keep_snapshots``).
    step : int
        An analysed step with a snapshot.
    n_grid : int
        Pseudospectrum grid points per axis, 8..200, on a square window around the unit disc and every
        eigenvalue (15 % margin), so the stability boundary |z| = 1 is always in view. Default: 48, or 32
        when ``d > 300`` (the cost grows like ``n_grid**2 d**2``).
    k_max : int, optional
        Largest power of the transient (default ``config.transient_k``).
    horizon : int, optional
        Window of the realized amplification (default ``config.realized_horizon``, or ``k_max`` if that is
        0; 0 here disables it). Capped at ``k_max``.
    max_pseudo_dim : int
        Skip the pseudospectrum (with a note) when ``d`` exceeds this and no 2x2 block form exists.

    Returns
    -------
    StepView
    """
    if not isinstance(result, TrainingResult):
        raise TypeError(f"result must be a TrainingResult; got {type(result).__name__}.")
    step = int(check_scalar(step, "step", min_val=0, integer=True))
    if n_grid is not None:
        n_grid = int(check_scalar(n_grid, "n_grid", min_val=8, max_val=200, integer=True))
    c = result.config
    K = int(check_scalar(c.transient_k if k_max is None else k_max, "k_max", min_val=1, max_val=1000, integer=True))
    K2 = (c.realized_horizon or K) if horizon is None else horizon
    K2 = min(int(check_scalar(K2, "horizon", min_val=0, integer=True)), K)
    snap = result.snapshot(step)
    lam = np.asarray(snap.eigenvalues, dtype=np.complex128)
    cond = np.asarray(snap.eigval_condition, dtype=np.float64)
    classes = np.asarray(snap.classes, dtype=str)
    rec = next(r for r in result.records if r.step == step)
    if snap.H is None:
        return StepView(
            step=step, path=snap.path, coords=snap.coords, d=0, eigenvalues=lam, eigval_condition=cond,
            classes=classes, rho=float(np.abs(lam).max()), rho_plus=float(rec.rho_plus), kappa_V=math.nan,
            pseudo_re=_EMPTY, pseudo_im=_EMPTY, sigma_min=np.zeros((0, 0)), levels=_EMPTY, pseudo_method="",
            dist_instability=math.nan, k=np.zeros(0, dtype=np.int64), norms=_EMPTY, upper=_EMPTY,
            kreiss=math.nan, peak=math.nan, peak_k=-1, realized_k=np.zeros(0, dtype=np.int64), realized=_EMPTY,
            realized_complete=False,
            note=f"Matrix-free path: only the top {lam.size} eigenvalues of J were computed (Arnoldi); "
            "pseudospectra, κ(V) and transient growth need the dense path (a smaller network).",
        )  # fmt: skip
    op = result.operator(step)
    notes = []
    with np.errstate(all="ignore"):
        tg = transient_growth(op.J, K, blocks=op.blocks, kappa_V=_kappa_arg(rec.kappa_V))
        re = im = _EMPTY
        sig = np.zeros((0, 0))
        levels = _EMPTY
        method = ""
        dist = math.nan
        if op.blocks is not None or op.d <= max_pseudo_dim:
            schur = None if op.blocks is not None else schur_form(op.J)
            re_ax, im_ax = _window(lam, n_grid or (48 if op.d <= 300 else 32))
            ps = pseudospectrum(None if schur else op.J, blocks=op.blocks, schur=schur, re=re_ax, im=im_ax)
            re, im, sig, method = ps.re, ps.im, ps.sigma_min, ps.method
            levels = eps_levels(ps, n_levels=6)
            theta = np.linspace(0.0, np.pi, 181)  # J is real: sigma_min is symmetric about the real axis
            circle = sigma_min_points(None if schur else op.J, np.exp(1j * theta), blocks=op.blocks, schur=schur)
            dist = 0.0 if tg.rho >= 1.0 else float(np.min(circle))
        else:
            notes.append(f"pseudospectra skipped: J is {op.d}×{op.d} (> {max_pseudo_dim}); use a smaller network.")
    rk, rv, complete = np.zeros(0, dtype=np.int64), _EMPTY, False
    if K2 > 0:
        if c.analyze_every == 1:
            snaps = {sn.step: sn for sn in result.snapshots if sn.H is not None}
            with np.errstate(all="ignore"):
                rv, complete = _realized_products(result, step, K2, snaps)
            rk = np.arange(K2 + 1)
        else:
            amp = realized_curve(result, start=step, horizon=K2)
            rk, rv, complete = amp.k, amp.realized, amp.complete
        if not complete:
            notes.append("realized amplification stops where the run has no more analysed steps.")
    return StepView(
        step=step, path=snap.path, coords=snap.coords, d=op.d, eigenvalues=lam, eigval_condition=cond,
        classes=classes, rho=float(rec.rho), rho_plus=float(rho_plus(lam, classes)), kappa_V=float(tg.kappa_V),
        pseudo_re=re, pseudo_im=im, sigma_min=sig, levels=levels, pseudo_method=method, dist_instability=dist,
        k=tg.k, norms=tg.norms, upper=tg.upper, kreiss=float(tg.kreiss_lower), peak=float(tg.peak),
        peak_k=int(tg.peak_k), realized_k=rk, realized=rv, realized_complete=complete, note=" ".join(notes),
    )  # fmt: skip


def _window(lam: np.ndarray, n_grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Square grid axes around the unit disc and every eigenvalue, with a 15 % margin, shape (n_grid,) each."""
    x0, x1 = min(-1.0, float(lam.real.min())), max(1.0, float(lam.real.max()))
    y0, y1 = min(-1.0, float(lam.imag.min())), max(1.0, float(lam.imag.max()))
    half = 0.5 * max(x1 - x0, y1 - y0) * 1.15
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    return np.linspace(cx - half, cx + half, n_grid), np.linspace(cy - half, cy + half, n_grid)


def _kappa_arg(kappa: float) -> float | None:
    return float(kappa) if (kappa >= 1 or math.isinf(kappa)) else None


# ------------------------------------------------------------------------------------------ fit view
@dataclass(frozen=True)
class FitView:
    """The network's fit at one step.

    Attributes
    ----------
    kind : {"boundary", "curve", "parity"}
        2-D classification (output on a grid), 1-D regression (curve), or regression on more inputs
        (predicted against target).
    step : int
        Step whose parameters were used (-1: the last measured parameters).
    X_train, X_test : ndarray of shape (n_train, n_in), (n_test, n_in)
    y_train, y_test : ndarray of shape (n_train,), (n_test,)
        Labels (classification) or targets (regression).
    grid_x, grid_y : ndarray of shape (nx,), (ny,)
        Grid axes (kind "boundary"; empty otherwise).
    grid_z : ndarray of shape (ny, nx)
        Network output on the grid: the single output for binary MSE (labels ±1, boundary at 0), the
        softmax probability of class 1 for binary cross-entropy (boundary 0.5), the predicted class for
        more classes (no boundary line).
    boundary_level : float
        NaN when no boundary line is drawn.
    output_name : str
    curve_x, curve_y : ndarray of shape (m,)
        "curve": the prediction on a fine grid; "parity": empty.
    pred_train, pred_test : ndarray of shape (n_train,), (n_test,)
        "parity": the network's predictions; empty otherwise.
    """

    kind: str
    step: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray
    grid_z: np.ndarray
    boundary_level: float
    output_name: str
    curve_x: np.ndarray
    curve_y: np.ndarray
    pred_train: np.ndarray
    pred_test: np.ndarray


def fit_view(result: TrainingResult, step: int | None = None, *, n_grid: int = 60) -> FitView:
    """Evaluate the network (parameters of ``step``, or the last measured ones) for the fit figure.

    Parameters
    ----------
    result : TrainingResult
    step : int, optional
        A step with a snapshot; None uses ``result.theta_final``.
    n_grid : int
        Grid points per axis (classification) or curve points (regression), 8..400.

    Returns
    -------
    FitView
    """
    if not isinstance(result, TrainingResult):
        raise TypeError(f"result must be a TrainingResult; got {type(result).__name__}.")
    n_grid = int(check_scalar(n_grid, "n_grid", min_val=8, max_val=400, integer=True))
    ds = result.config.dataset_obj()
    Xtr, Xte = ds.X_train, ds.X_test
    empty = dict(grid_x=_EMPTY, grid_y=_EMPTY, grid_z=np.zeros((0, 0)), curve_x=_EMPTY, curve_y=_EMPTY,
                 pred_train=_EMPTY, pred_test=_EMPTY)  # fmt: skip
    base = dict(step=-1 if step is None else int(step), X_train=Xtr, y_train=ds.y_train, X_test=Xte, y_test=ds.y_test)
    with np.errstate(all="ignore"):
        if ds.task == "classification":
            X_all = np.concatenate([Xtr, Xte]) if Xte.size else Xtr
            lo, hi = X_all.min(axis=0), X_all.max(axis=0)
            pad = 0.1 * np.maximum(hi - lo, 1e-9)
            gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], n_grid)
            gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], n_grid)
            XX, YY = np.meshgrid(gx, gy)
            out = result.predict(np.stack([XX.ravel(), YY.ravel()], 1), step=step)  # (ny*nx, n_out)
            if out.shape[1] == 1:
                z, level, name = out[:, 0], 0.0, "network output (class 1 > 0)"
            elif ds.n_classes == 2:
                e = np.exp(out - out.max(axis=1, keepdims=True))
                z, level, name = e[:, 1] / e.sum(axis=1), 0.5, "P(class 1)"
            else:
                z, level, name = out.argmax(axis=1).astype(float), math.nan, "predicted class"
            return FitView(kind="boundary", **base, **(empty | dict(grid_x=gx, grid_y=gy, grid_z=z.reshape(XX.shape))),
                           boundary_level=level, output_name=name)  # fmt: skip
        if ds.n_features == 1:
            X_all = np.concatenate([Xtr, Xte]) if Xte.size else Xtr
            cx = np.linspace(X_all.min(), X_all.max(), n_grid)
            cy = result.predict(cx[:, None], step=step)[:, 0]
            return FitView(kind="curve", **base, **(empty | dict(curve_x=cx, curve_y=cy)), boundary_level=math.nan,
                           output_name="network prediction")  # fmt: skip
        ptr = result.predict(Xtr, step=step)[:, 0]
        pte = result.predict(Xte, step=step)[:, 0] if Xte.size else _EMPTY
        return FitView(kind="parity", **base, **(empty | dict(pred_train=ptr, pred_test=pte)),
                       boundary_level=math.nan, output_name="network prediction")  # fmt: skip


# ------------------------------------------------------------------------------------------ explanation
def explain(result: TrainingResult, view: StepView) -> str:
    """Plain-language summary (Markdown) of what the selected step's picture shows.

    States ρ(J), κ(V), the transient peak, the distance to instability, the realized growth and the
    sharpness against its threshold, with numbers; it describes, it does not predict.
    """
    rec = next(r for r in result.records if r.step == view.step)
    size = f"J is {view.d}×{view.d}" if view.d else f"top {view.eigenvalues.size} eigenvalues of J"
    lines = [f"**Step {view.step}** ({view.path} analysis, {size}, coordinates “{view.coords}”)."]
    rho = view.rho
    if math.isfinite(rho):
        if rho < 1:
            lines.append(f"ρ(J) = {fmt_num(rho, 3)} < 1: every eigenvalue is inside the unit circle, so small "
                         "perturbations *eventually* shrink.")  # fmt: skip
        else:
            mode = _MODE_PHRASES.get(rec.rho_mode, rec.rho_mode or "unknown")
            lines.append(f"ρ(J) = {fmt_num(rho, 3)} {'>' if rho > 1 else '='} 1: {max(rec.n_unstable, 1)} "
                         f"eigenvalue(s) on or outside the unit circle; the largest is {mode}. Without "
                         f"negative-curvature escapes ρ₊ = {fmt_num(view.rho_plus, 3)}.")  # fmt: skip
    kv = view.kappa_V
    if math.isinf(kv):
        lines.append("κ(V) = ∞: J is (numerically) defective — eigenvalues alone cannot bound ‖Jᵏ‖.")
    elif math.isfinite(kv):
        if kv < 10:
            what = "eigenvectors are close to orthogonal (nearly normal J)."
        elif kv < 1e3:
            what = (
                "the eigenvectors are noticeably non-orthogonal (mildly non-normal J): ‖Jᵏ‖ can exceed ρᵏ by up "
                "to this factor."
            )
        else:
            what = (
                "the eigenvectors are far from orthogonal (strongly non-normal J), so ‖Jᵏ‖ can grow before it decays."
            )
        lines.append(f"κ(V) = {fmt_num(kv)}: " + what)
    if view.k.size:
        lines.append(_transient_sentence(view))
    if math.isfinite(view.dist_instability):
        if rho > 1:
            lines.append(f"The spectrum lies outside the unit circle (ρ = {fmt_num(rho)} > 1): perturbations grow like "
                         "ρᵏ, there is no distance to instability left.")  # fmt: skip
        elif view.dist_instability > 0:
            lines.append(f"Distance to instability: a perturbation of J of size ε ≈ {fmt_num(view.dist_instability)} "
                         "(2-norm) can already push an eigenvalue onto the unit circle (the ε-pseudospectrum "
                         "touches it).")  # fmt: skip
        else:
            lines.append("The spectrum reaches the unit circle (ρ = 1, distance to instability 0).")
    if view.realized.size > 1:
        kk = int(np.max(np.flatnonzero(np.isfinite(view.realized))))
        if kk > 0:
            lines.append(
                f"Realized: the product of the actual per-step operators over {kk} step{'s' if kk > 1 else ''} "
                f"amplifies by "
                f"{fmt_num(view.realized[kk])}, the frozen snapshot predicts {fmt_num(view.norms[kk])}."
            )
    if math.isfinite(rec.sharpness_ratio):
        what = "preconditioned sharpness" if result.config.optimizer in ("rmsprop", "adam", "adamw") else "λmax(H)"
        lines.append(f"{what} = {fmt_num(rec.sharpness, 3)} is {fmt_num(rec.sharpness_ratio, 2)}× its stability "
                     f"threshold {fmt_num(rec.threshold, 3)}.")  # fmt: skip
    if view.note:
        lines.append(f"*{view.note}*")
    return "  \n".join(lines)


def _transient_sentence(view: StepView) -> str:
    """The ‖Jᵏ‖ sentence of :func:`explain`, from finite values only.

    With ρ > 1 the norms grow like ρᵏ and can overflow float64 from some k on (past 1.8e308; ρ ≈ 1e6 reaches it
    after about 51 powers): the sentence reports the largest finite power and says from which k the norms
    overflowed, instead of "peaks at ≈ ∞" above a finite upper bound.
    """
    k, norms, upper = view.k, np.asarray(view.norms, float), np.asarray(view.upper, float)
    finite = np.isfinite(norms)
    over = ""
    if not finite.all():
        k_over = int(k[np.argmin(finite)])
        over = f" From k = {k_over} on ‖Jᵏ‖ overflows floating-point numbers, so larger powers are not shown."
    if not finite.any():
        return "‖Jᵏ‖ overflows floating-point numbers at every power shown."
    idx = np.flatnonzero(finite)
    j = int(idx[np.argmax(norms[idx])])
    peak, peak_k = fmt_num(float(norms[j])), int(k[j])
    bound = f"upper bound κ(V)ρᵏ = {fmt_num(upper[j])}" if math.isfinite(upper[j]) else ""
    rho = view.rho
    if rho >= 1 and j == idx[-1]:
        how = "ρ > 1: like ρᵏ" if rho > 1 else "ρ = 1"
        against = f", against the {bound}" if bound else ""
        return f"‖Jᵏ‖ keeps growing ({how}): ≈ {peak} at k = {peak_k}{against}." + over
    later = " With ρ > 1 it grows like ρᵏ in the long run." if rho > 1 else ""
    if float(norms[j]) > 1.0 + 1e-9:
        tail = " even though ρ < 1" if rho < 1 else ""
        parts = [f"Kreiss lower bound {fmt_num(view.kreiss)}"] if math.isfinite(view.kreiss) else []
        parts += [bound] if bound else []
        detail = f" ({', '.join(parts)})" if parts else ""
        return f"Transient growth: ‖Jᵏ‖ peaks at ≈ {peak} at k = {peak_k}{tail}{detail}." + later + over
    return "No transient growth: ‖Jᵏ‖ ≤ 1 for every k shown." + later + over


# ------------------------------------------------------------------------------------------ figures
def _run_tag(result: TrainingResult) -> str:
    return str(abs(hash(result.config)) % 10**8)


def loss_figure(result: TrainingResult, *, selected_step: int | None = None, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Loss (log) against step with unstable phases (``nnspec_core.phases.label_steps``) shaded.

    Train and test loss traces carry ``customdata = step`` so that a click selects a step.
    """
    cols = result.columns()
    steps = cols["step"]
    if steps.size == 0:
        return plot_loss([0], [np.nan], title="loss", uirevision="loss-" + _run_tag(result), theme=theme)
    loss = cols["loss_train"]
    labels = label_steps(np.where(np.isfinite(loss) & (loss >= 0), loss, np.inf))
    test = cols["loss_test"] if np.any(np.isfinite(cols["loss_test"])) else None
    return plot_loss(
        steps,
        loss,
        loss_test=test,
        unstable_mask=labels.label == "unstable",
        unstable_name=f"unstable phase ({rule_text(labels.rule)})",
        diverged_step=result.diverged_step if result.diverged else None,
        selected_step=selected_step,
        title="Loss (log scale)",
        uirevision="loss-" + _run_tag(result),
        theme=theme,
    )


def _threshold_name(config: TrainConfig) -> str:
    return {
        "gd": "2/η",
        "heavy_ball": "(2+2β)/η",
        "nesterov": "(2+2β)/((1+2β)η)",
        "rmsprop": "2/η",
        "adam": "(2+2β₁)/((1−β₁)η)",
        "adamw": "(2+2β₁)/((1−β₁)η)",
    }[config.optimizer]


def indicators_figure(
    result: TrainingResult, *, selected_step: int | None = None, theme: Theme = DEFAULT_THEME
) -> go.Figure:
    """Indicator trajectories on a shared step axis: κ(V); ρ(J), ρ₊ against 1;
    the (preconditioned) sharpness against its threshold (38/η for Adam at β₁ = 0.9); ‖[H, M]‖ (adaptive).

    Only analysed steps are drawn; every trace carries ``customdata = step``.
    """
    cols = result.columns()
    a = cols["analysed"] if cols["step"].size else np.zeros(0, bool)
    steps = cols["step"][a]
    c = result.config
    adaptive = c.optimizer in ("rmsprop", "adam", "adamw")
    if steps.size == 0:
        steps = np.zeros(0)
    sharp_name = "P-sharpness" if adaptive else "λmax(H)"
    series = {
        "κ(V)": cols["kappa_V"][a],
        "ρ(J)": cols["rho"][a],
        "ρ₊": cols["rho_plus"][a],
        sharp_name: cols["sharpness"][a],
    }
    panels = [["κ(V)"], ["ρ(J)", "ρ₊"], [sharp_name]]
    if adaptive:
        series["λmax(H)"] = cols["lambda_max_H"][a]
        panels[2].append("λmax(H)")
        series["‖[H, M]‖"] = cols["commutator"][a]
        panels.append(["‖[H, M]‖"])
    thr = cols["threshold"][a]
    thr_label = f"threshold {_threshold_name(c)}"
    if adaptive and abs(c.beta1 - 0.9) < 1e-12:
        thr_label = "threshold 38/η"
    return plot_indicators(
        steps,
        series,
        panels=panels,
        thresholds={"ρ(J)": 1.0, sharp_name: thr if thr.size else 1.0},
        threshold_labels={"ρ(J)": "ρ = 1", sharp_name: thr_label},
        selected_step=selected_step,
        log_y=[True, False, True] + ([True] if adaptive else []),
        title="Indicators (analysed steps)",
        uirevision="indicators-" + _run_tag(result),
        theme=theme,
    )


def spectrum_figure(view: StepView, *, theme: Theme = DEFAULT_THEME, uirevision: str = "spectrum") -> go.Figure:
    """Eigenvalues of ``J_s`` with the unit circle, ε-pseudospectral contours and classes."""
    names = np.array([CLASS_NAMES.get(c, c) for c in view.classes.tolist()], dtype=object)
    cond = view.eigval_condition if np.any(np.isfinite(view.eigval_condition)) else None
    pseudo = (view.pseudo_re, view.pseudo_im, view.sigma_min) if view.has_pseudo else None
    return plot_spectrum(
        view.eigenvalues,
        cond=cond,
        classes=names,
        pseudo=pseudo,
        eps_levels=view.levels if view.has_pseudo else None,
        symbol="μ",
        title=f"J at step {view.step}: eigenvalues" + (", ε-pseudospectra" if view.has_pseudo else ""),
        uirevision=uirevision,
        theme=theme,
    )


def transient_figure(view: StepView, *, theme: Theme = DEFAULT_THEME, uirevision: str = "transient") -> go.Figure:
    """``||J_s^k||_2`` with the κ(V)ρᵏ upper and Kreiss lower bounds and the realized amplification."""
    if view.k.size == 0:
        return plot_transient([0], [1.0], show_peak=False, title=f"Transient at step {view.step}: not available "
                              "on the matrix-free path", uirevision=uirevision, theme=theme)  # fmt: skip
    realized = (view.realized_k, view.realized) if view.realized.size else None
    return plot_transient(
        view.k,
        view.norms,
        upper=view.upper,
        kreiss_lower=view.kreiss,
        realized=realized,
        title=f"Transient growth ‖Jᵏ‖ from step {view.step}",
        uirevision=uirevision,
        theme=theme,
    )


def fit_figure(view: FitView, *, theme: Theme = DEFAULT_THEME, uirevision: str = "fit") -> go.Figure:
    """The fit: decision boundary, regression curve, or predicted against target."""
    when = "last step" if view.step < 0 else f"step {view.step}"
    if view.kind == "boundary":
        level = None if math.isnan(view.boundary_level) else view.boundary_level
        return plot_fit(
            view.X_train, view.y_train, grid=(view.grid_x, view.grid_y, view.grid_z), boundary_level=level,
            X_test=view.X_test if view.X_test.size else None, y_test=view.y_test if view.X_test.size else None,
            output_name=view.output_name, title=f"Network fit at {when}", uirevision=uirevision, theme=theme,
        )  # fmt: skip
    if view.kind == "curve":
        return plot_fit(
            view.X_train[:, 0], view.y_train, curve=(view.curve_x, view.curve_y),
            X_test=view.X_test[:, 0] if view.X_test.size else None, y_test=view.y_test if view.X_test.size else None,
            title=f"Network fit at {when}", uirevision=uirevision, theme=theme,
        )  # fmt: skip
    y_all = np.concatenate([view.y_train, view.y_test])
    line = np.array([y_all.min(), y_all.max()]) if y_all.size else np.array([0.0, 1.0])
    fig = plot_fit(
        view.y_train, view.pred_train, truth=(line, line),
        X_test=view.y_test if view.y_test.size else None, y_test=view.pred_test if view.y_test.size else None,
        title=f"Predicted against target at {when}", uirevision=uirevision, theme=theme,
    )  # fmt: skip
    for tr in fig.data:
        if tr.name == "target function":
            tr.name = "perfect fit"
    fig.update_xaxes(title_text="target y")
    fig.update_yaxes(title_text="network prediction")
    return fig


# ------------------------------------------------------------------------------------------ export
FIGURE_NAMES = ("loss", "indicators", "spectrum", "transient", "fit")


def snapshots_npz(result: TrainingResult) -> bytes:
    """The run's per-step metrics and snapshots as ``.npz`` bytes (:meth:`TrainingResult.to_npz`)."""
    buf = io.BytesIO()
    result.to_npz(buf)
    return buf.getvalue()


def run_figures(
    result: TrainingResult, *, step: int | None = None, theme: Theme = DEFAULT_THEME
) -> tuple[dict[str, go.Figure], StepView | None, FitView | None]:
    """All five figures of the page for a run and a selected step (default: the last analysed step).

    Returns
    -------
    figures : dict of name -> Figure
        Keys :data:`FIGURE_NAMES` (only "loss" and "indicators" when no step was analysed yet).
    view, fit : StepView or None, FitView or None
        The views drawn for the selected step.
    """
    sel = nearest_analysed_step(result, step)
    figs = {
        "loss": loss_figure(result, selected_step=sel, theme=theme),
        "indicators": indicators_figure(result, selected_step=sel, theme=theme),
    }
    if sel is None:
        return figs, None, None
    view = step_view(result, sel)
    fit = fit_view(result, sel)
    figs["spectrum"] = spectrum_figure(view, theme=theme)
    figs["transient"] = transient_figure(view, theme=theme)
    figs["fit"] = fit_figure(fit, theme=theme)
    return figs, view, fit


def _view_arrays(view: StepView) -> dict[str, np.ndarray]:
    out = {}
    for f in fields(StepView):
        v = getattr(view, f.name)
        if isinstance(v, np.ndarray):
            out[f.name] = v.astype(str) if v.dtype.kind in "UO" else v
    return out


def run_bundle_parts(
    result: TrainingResult, *, step: int | None = None, theme: Theme = DEFAULT_THEME
) -> tuple[dict[str, go.Figure], dict[str, Any], dict[str, Any], str]:
    """Figures, data, settings and CLI command of the "Download everything" zip
    (pass them to :func:`nnspec_core.export.bundle_zip`).

    Data: ``metrics.csv`` and ``metrics.json`` (all measured steps, also after a divergence),
    ``snapshots.npz`` (every snapshot), ``step_view.npz`` (arrays of the selected step's views).
    """
    figs, view, _ = run_figures(result, step=step, theme=theme)
    data: dict[str, Any] = {
        "metrics.csv": result.to_csv().encode(),
        "metrics.json": result.to_json().encode(),
        "snapshots.npz": snapshots_npz(result),
    }
    if view is not None:
        data["step_view.npz"] = _view_arrays(view)
    settings = {
        "config": asdict(result.config),
        "selected_step": None if view is None else view.step,
        "status": result.status,
        "diverged_step": result.diverged_step,
        "diverged_reason": result.diverged_reason,
        "n_params": result.n_params,
    }
    return figs, data, settings, cli_command(result.config, select_step=None if view is None else view.step)


# ------------------------------------------------------------------------------------------ CLI command
def cli_command(config: TrainConfig, *, select_step: int | None = None, out: str = "live_training") -> str:
    """The ``python -m nnspec_core train ...`` command that reruns ``config`` (defaults omitted).

    Every field of :class:`~nnspec_core.training.TrainConfig` that differs from its default becomes a
    ``--field-name value`` flag; ``--select`` names the step whose views are exported.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig; got {type(config).__name__}.")
    default = TrainConfig()
    parts = ["python", "-m", "nnspec_core", "train"]
    for f in fields(TrainConfig):
        v = getattr(config, f.name)
        if v == getattr(default, f.name) or f.name == "keep_snapshots":
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(v, bool):
            parts.append(flag if v else "--no-" + f.name.replace("_", "-"))
        else:
            parts += [flag, repr(v) if isinstance(v, float) else str(v)]
    if select_step is not None:
        parts += ["--select", str(int(select_step))]
    parts += ["--out", out]
    return " ".join(shlex.quote(p) for p in parts)


_FIELD_TYPES = {"int": int, "float": float, "str": str, "int | None": int, "str | None": str}


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``nnspec train``: one ``--field-name`` flag per :class:`TrainConfig` field, plus
    ``--select STEP`` (the step whose views are exported; default the last analysed one) and ``--out DIR``."""
    default = TrainConfig()
    g = parser.add_argument_group("run settings (TrainConfig fields; validated like the app)")
    for f in fields(TrainConfig):
        if f.name == "keep_snapshots":
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            g.add_argument(flag, action=argparse.BooleanOptionalAction, default=getattr(default, f.name))
        else:
            g.add_argument(flag, type=_FIELD_TYPES[str(f.type)], default=getattr(default, f.name), metavar="X")
    parser.add_argument("--select", type=int, default=None, help="step whose spectrum / transient / fit is exported")
    parser.add_argument("--out", default="live_training", help="output directory (created if missing)")
    parser.add_argument(
        "--formats", default="png,svg,pdf,html", help="comma-separated figure formats among png, svg, pdf, html"
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` described by parsed ``nnspec train`` arguments (ValueError on bad values)."""
    kw = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name != "keep_snapshots"}
    return TrainConfig(**kw)


def run_cli(args: argparse.Namespace) -> int:
    """``nnspec train``: train, then write what the Live Training page's "Download everything" holds into ``--out``
    (``figures/``, ``data/``, ``settings.json``, ``command.txt``, ``MANIFEST.txt``). Prints one summary line."""
    from nnspec_core.export import bundle_zip

    cfg = config_from_args(args)
    formats = tuple(x.strip() for x in str(args.formats).split(",") if x.strip())
    result = _train(cfg)
    figs, data, settings, cmd = run_bundle_parts(result, step=args.select)
    blob = bundle_zip(figs, data=data, settings=settings, cli_command=cmd, formats=formats)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        zf.extractall(out)
    print(f"{status_text(result)}; wrote {len(figs)} figures and the data to {out}")
    return 0


def _train(cfg: TrainConfig) -> TrainingResult:
    tr = Trainer(cfg)
    advance(tr)
    return tr.result()
