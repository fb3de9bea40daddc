"""Live training of a small network with per-step analysis of the optimizer's update operator.

The trainer steps the *real* ``torch.optim`` optimizer on a generated data set and, every
``analyze_every`` steps, takes a snapshot at ``(theta_t, state_t)`` -- the iterate and the optimizer
state torch holds after ``t`` steps -- and analyses the update operator ``J_t`` of step ``t + 1``
(bias-correction step ``t + 1``): ``z_{t+1} ~ J_t z_t`` with the state stacked parameters first
(``docs/design.md``). The Hessian is always taken on the *full training set*, also when the step
itself uses a mini-batch.

Timing convention of a :class:`StepRecord` with ``step = t``: every metric is measured at
``theta_t`` before step ``t + 1`` is taken. A run of ``steps`` steps yields ``steps + 1`` records,
``t = 0 .. steps``.

Analysis paths (``StepRecord.path``)
------------------------------------
``"dense"``        ``n_params <= dense_limit`` and not ``matrix_free``: the dense Hessian (vmap over the
                   VJP of the gradient), the analytic ``J`` of ``nnspec_core.operators`` in ``coords``,
                   all its eigenvalues, kappa(V), eigenvalue condition numbers and classes, rho_plus,
                   (preconditioned) sharpness against the optimizer's threshold, ``||[H, M]||``,
                   departure (``nnspec_core.spectra.operator_diagnostics``) and ``||J^k||_2`` at
                   ``transient_samples`` log-spaced ``k <= transient_k`` (``nnspec_core.transient``).
``"matrix-free"``  the top ``n_eigs`` eigenvalues of ``J`` (Arnoldi, ``scipy.sparse.linalg.eigs`` on
                   ``J^T``-vector products of the exact torch step in ``coords``, built with the step
                   maps of ``nnspec_core.functional``; raw scaling, which leaves eigenvalues unchanged),
                   the extreme eigenvalues of ``H`` and the preconditioned sharpness (Lanczos,
                   ``eigsh``, on Hessian-vector products). kappa(V), eigenvalue condition numbers,
                   transient norms, departure and the commutator are not computed (NaN).

Realized versus predicted amplification: with ``analyze_every == 1`` each record also carries the
2-norm of the product of the *actual* per-step operators over the last ``realized_horizon = K``
steps, ``||J_t J_{t-1} ... J_{t-K+1}||_2`` (finite-time Lyapunov growth of the window that starts at
``t - K + 1``), next to the frozen-snapshot prediction ``||J_t^K||_2``. :meth:`TrainingResult.columns`
aligns both by the window's start step; :func:`realized_amplification` gives whole curves
``k = 0..K`` for any start step.

Divergence: a NaN/inf loss, gradient or parameter, a training loss above ``divergence_loss``,
or a numerical failure of the analysis stop the run cleanly; the reason and step are recorded and
everything measured before is kept.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import scipy.sparse.linalg as spla
import torch

from nnspec_core._validation import MAX_DENSE_DIM, check_choice, check_scalar
from nnspec_core.data import CLASSIFICATION, DATASETS, Dataset, make_dataset
from nnspec_core.functional import STATE_KEYS, flat_optimizer_state, step_map, torch_optimizer
from nnspec_core.hessian import flat_hessian, flat_loss_fn
from nnspec_core.models import (
    ACTIVATIONS,
    LOSSES,
    MAX_DEPTH,
    MAX_WIDTH,
    accuracy,
    encode_targets,
    loss_function,
    make_mlp,
    output_dim,
    predict,
)
from nnspec_core.operators import COORDS, DEFAULT_COORDS, SCALINGS, UpdateOperator, update_operator, v_scale
from nnspec_core.spectra import classify_eigenvalues, operator_diagnostics, spectrum, stability_threshold
from nnspec_core.transient import power_norms

__all__ = [
    "TRAIN_OPTIMIZERS",
    "TrainConfig",
    "StepRecord",
    "Snapshot",
    "TrainingResult",
    "AmplificationResult",
    "Trainer",
    "train",
    "realized_amplification",
    "snapshot_operator",
    "make_optimizer",
    "state_blocks",
]

TRAIN_OPTIMIZERS = ("gd", "heavy_ball", "nesterov", "rmsprop", "adam", "adamw")
STATUSES = ("ready", "running", "paused", "stopped", "diverged", "finished")


def state_blocks(optimizer: str, coords: str) -> int:
    """Number of length-n blocks of the state vector z in ``coords`` (d = blocks * n_params)."""
    if coords in ("theta", "simple") or (optimizer == "rmsprop" and coords == "frozen"):
        return 1
    if coords == "full" and optimizer in ("adam", "adamw"):
        return 3
    return 2


# --------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run, with its default (validated on construction).

    Attributes
    ----------
    dataset, n_samples, noise, test_fraction, n_features, n_classes
        Passed to :func:`nnspec_core.data.make_dataset` (``seed`` is shared).
    depth, width, activation, init_scale
        Passed to :func:`nnspec_core.models.make_mlp`. ``depth`` = number of hidden layers (1 = two-layer net).
    loss : {"mse", "cross_entropy"}
        See :mod:`nnspec_core.models` (binary MSE uses one output and labels +-1).
    optimizer : {"gd", "heavy_ball", "nesterov", "rmsprop", "adam", "adamw"}
        Stepped with the real ``torch.optim`` class (SGD, SGD momentum / nesterov, RMSprop, Adam, AdamW).
    lr : float
        Learning rate eta (per step).
    momentum : float
        beta of heavy ball / Nesterov (torch SGD ``momentum``, dampening 0).
    beta1, beta2, eps : float
        Adam / AdamW moments and epsilon (``eps`` also for RMSProp).
    alpha : float
        RMSProp smoothing constant.
    weight_decay : float
        torch ``weight_decay`` (coupled L2 for SGD / RMSprop / Adam, decoupled for AdamW).
    steps : int
        Number of optimizer steps; records are yielded for ``t = 0 .. steps``.
    analyze_every : int
        Analyse the operator at steps ``t`` with ``t % analyze_every == 0``.
    coords : str or None
        State convention of the dense operator (``nnspec_core.operators.COORDS``); None = the
        optimizer's default (``DEFAULT_COORDS``).
    scaling : str
        Scaling option of :func:`nnspec_core.operators.update_operator`.
    batch_size : int or None
        None = full batch; otherwise mini-batches drawn without replacement per epoch from a seeded
        generator. The Hessian and gradient norm are always on the full training set.
    seed : int
        Seeds the data, the initialisation and the batch order.
    transient_k : int
        Largest power k of ``||J^k||_2`` considered for the per-step transient peak.
    transient_samples : int
        Number of log-spaced powers ``1 <= k <= transient_k`` at which ``||J^k||_2`` is evaluated for the
        per-step peak (plus ``k = realized_horizon``); 0 = every k. The 2x2-block fast path (heavy ball,
        Nesterov) always uses every k. The full curve of a selected step is
        ``nnspec_core.transient.transient_growth(result.operator(step).J, k_max)``.
    realized_horizon : int
        Window K of realized vs predicted amplification (<= transient_k; 0 disables).
    dense_limit : int
        Largest parameter count analysed densely; beyond it (or when the state dimension d of ``coords``
        exceeds ``nnspec_core._validation.MAX_DENSE_DIM``) the matrix-free path runs.
    matrix_free : bool
        Force the matrix-free path.
    n_eigs : int
        Number of top eigenvalues of J computed on the matrix-free path.
    divergence_loss : float
        A training loss above this value counts as divergence.
    keep_snapshots : bool
        Keep a :class:`Snapshot` (theta, state, H, eigenvalues) for every analysed step.
    """

    dataset: str = "moons"
    n_samples: int = 256
    noise: float = 0.1
    test_fraction: float = 0.25
    n_features: int | None = None
    n_classes: int = 2
    depth: int = 1
    width: int = 16
    activation: str = "tanh"
    init_scale: float = 1.0
    loss: str = "mse"
    optimizer: str = "adam"
    lr: float = 0.01
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    alpha: float = 0.99
    weight_decay: float = 0.0
    steps: int = 200
    analyze_every: int = 1
    coords: str | None = None
    scaling: str = "scaled"
    batch_size: int | None = None
    seed: int = 0
    transient_k: int = 50
    transient_samples: int = 12
    realized_horizon: int = 10
    dense_limit: int = 2000
    matrix_free: bool = False
    n_eigs: int = 6
    divergence_loss: float = 1e10
    keep_snapshots: bool = True

    def __post_init__(self) -> None:
        check_choice(self.dataset, "dataset", DATASETS)
        check_scalar(self.n_samples, "n_samples", min_val=4, max_val=100_000, integer=True)
        check_scalar(self.noise, "noise", min_val=0.0)
        check_scalar(self.test_fraction, "test_fraction", min_val=0.0, max_val=0.9)
        check_scalar(self.depth, "depth", min_val=1, max_val=MAX_DEPTH, integer=True)
        check_scalar(self.width, "width", min_val=2, max_val=MAX_WIDTH, integer=True)
        check_choice(self.activation, "activation", ACTIVATIONS)
        check_scalar(self.init_scale, "init_scale", min_val=0.0, include_min=False)
        check_choice(self.loss, "loss", LOSSES)
        if self.loss == "cross_entropy" and self.dataset not in CLASSIFICATION:
            raise ValueError(f"loss must be 'mse' for the regression data set {self.dataset!r}; got 'cross_entropy'.")
        check_choice(self.optimizer, "optimizer", TRAIN_OPTIMIZERS)
        check_scalar(self.lr, "lr", min_val=0.0, include_min=False)
        check_scalar(self.momentum, "momentum", min_val=0.0, max_val=1.0, include_max=False)
        check_scalar(self.beta1, "beta1", min_val=0.0, max_val=1.0, include_max=False)
        check_scalar(self.beta2, "beta2", min_val=0.0, max_val=1.0, include_max=False)
        check_scalar(self.eps, "eps", min_val=0.0, include_min=False)
        check_scalar(self.alpha, "alpha", min_val=0.0, max_val=1.0, include_max=False)
        check_scalar(self.weight_decay, "weight_decay", min_val=0.0)
        check_scalar(self.steps, "steps", min_val=0, max_val=1_000_000, integer=True)
        check_scalar(self.analyze_every, "analyze_every", min_val=1, integer=True)
        if self.coords is not None:
            check_choice(self.coords, "coords", tuple(COORDS[self.optimizer]))
        check_choice(self.scaling, "scaling", SCALINGS)
        if self.batch_size is not None:
            check_scalar(self.batch_size, "batch_size", min_val=1, integer=True)
        check_scalar(self.seed, "seed", min_val=0, integer=True)
        check_scalar(self.transient_k, "transient_k", min_val=1, max_val=10_000, integer=True)
        check_scalar(self.transient_samples, "transient_samples", min_val=0, max_val=10_000, integer=True)
        check_scalar(self.realized_horizon, "realized_horizon", min_val=0, max_val=self.transient_k, integer=True)
        check_scalar(self.dense_limit, "dense_limit", min_val=1, integer=True)
        for flag in ("matrix_free", "keep_snapshots"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"{flag} must be a bool; got {type(getattr(self, flag)).__name__}.")
        check_scalar(self.n_eigs, "n_eigs", min_val=1, max_val=100, integer=True)
        check_scalar(self.divergence_loss, "divergence_loss", min_val=0.0, include_min=False)

    @property
    def resolved_coords(self) -> str:
        """``coords`` or, if None, the optimizer's default state convention."""
        if self.coords is not None:
            return self.coords
        return DEFAULT_COORDS[self.optimizer]

    def operator_hyper(self) -> dict[str, Any]:
        """The optimizer hyperparameters as keyword arguments of ``operators.update_operator``.

        GD ignores ``momentum`` (it is plain SGD), so 0 is passed for it.
        """
        return {
            "lr": self.lr,
            "momentum": 0.0 if self.optimizer == "gd" else self.momentum,
            "betas": (self.beta1, self.beta2),
            "eps": self.eps,
            "alpha": self.alpha,
            "weight_decay": self.weight_decay,
        }

    def dataset_obj(self) -> Dataset:
        """The generated :class:`~nnspec_core.data.Dataset` of this configuration."""
        return make_dataset(
            self.dataset,
            n_samples=self.n_samples,
            noise=self.noise,
            test_fraction=self.test_fraction,
            seed=self.seed,
            n_features=self.n_features,
            n_classes=self.n_classes,
        )


def make_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    """The real ``torch.optim`` optimizer (single-tensor path) that ``config`` describes, on ``params``.

    gd / heavy_ball / nesterov -> ``SGD`` (dampening 0), rmsprop -> ``RMSprop``, adam -> ``Adam``,
    adamw -> ``AdamW``; see :func:`nnspec_core.functional.torch_optimizer`.
    """
    c = config
    return torch_optimizer(
        c.optimizer,
        params,
        lr=c.lr,
        momentum=0.0 if c.optimizer == "gd" else c.momentum,
        betas=(c.beta1, c.beta2),
        eps=c.eps,
        alpha=c.alpha,
        weight_decay=c.weight_decay,
    )


# --------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class StepRecord:
    """Metrics at one step ``t`` (measured at ``theta_t`` before step ``t + 1``).

    Attributes
    ----------
    step : int
        t, the number of optimizer steps taken so far.
    loss_train, loss_test : float
        Full training / test loss (``loss_test`` NaN without a test set).
    grad_norm : float
        ``||grad L(theta_t)||_2`` on the full training set.
    acc_train, acc_test : float
        Accuracy (classification; NaN for regression).
    analysed : bool
        Whether the operator was analysed at this step; all fields below are NaN/"" otherwise.
    path : {"dense", "matrix-free", ""}
    rho : float
        Spectral radius of J_t.
    rho_plus : float
        Spectral radius without negative-curvature escapes (``nnspec_core.spectra.rho_plus``).
    rho_mode, kappa_status : str
    kappa_V, kappa_V_cluster : float
        cond_2 of the unit-column eigenvector matrix (inf if defective); clustered variant.
    lambda_max_H, lambda_min_H : float
        Extreme Hessian eigenvalues (full training set).
    sharpness, threshold, sharpness_ratio : float
        (Preconditioned) sharpness, the optimizer's stability threshold, and their ratio.
    commutator, commutator_rel : float
        ``||[H, M]||`` of the preconditioner M with H, absolute and relative.
    departure, departure_rel : float
        Henrici departure from normality of J_t (absolute, relative to ||J||_F).
    n_unstable : int
        Number of eigenvalues on or outside the unit circle (-1 if not analysed).
    n_eos_flip, n_escape, n_spiral : int
        Their split by class (``nnspec_core.spectra.classify_eigenvalues``). On the matrix-free path
        these count only among the ``n_eigs`` computed eigenvalues (lower bounds if all are unstable).
    transient_peak : float
        ``max ||J_t^k||_2`` over the evaluated powers ``0 <= k <= transient_k`` (all k, or
        ``transient_samples`` log-spaced ones: then an estimate from below); ``transient_peak_k`` its argmax.
    amp_predicted : float
        ``||J_t^K||_2`` (K = realized_horizon), frozen-snapshot prediction for the window starting at t.
    amp_realized : float
        ``||J_t J_{t-1} ... J_{amp_realized_start}||_2``, realized growth over the window of K steps
        ending with this step's operator (NaN until K consecutive steps are analysed).
    amp_realized_start : int
        First step of that window, ``t - K + 1`` (-1 if none).
    diverged : bool
        True on the record at which divergence was detected (the last one).
    seconds : float
        Wall time of this step's analysis (not part of reproducible metrics).
    """

    step: int
    loss_train: float
    loss_test: float
    grad_norm: float
    acc_train: float = math.nan
    acc_test: float = math.nan
    analysed: bool = False
    path: str = ""
    rho: float = math.nan
    rho_plus: float = math.nan
    rho_mode: str = ""
    kappa_V: float = math.nan
    kappa_status: str = ""
    kappa_V_cluster: float = math.nan
    lambda_max_H: float = math.nan
    lambda_min_H: float = math.nan
    sharpness: float = math.nan
    threshold: float = math.nan
    sharpness_ratio: float = math.nan
    commutator: float = math.nan
    commutator_rel: float = math.nan
    departure: float = math.nan
    departure_rel: float = math.nan
    n_unstable: int = -1
    n_eos_flip: int = -1
    n_escape: int = -1
    n_spiral: int = -1
    transient_peak: float = math.nan
    transient_peak_k: int = -1
    amp_predicted: float = math.nan
    amp_realized: float = math.nan
    amp_realized_start: int = -1
    diverged: bool = False
    seconds: float = 0.0


#: Record fields that are not columns of numbers.
_TEXT_FIELDS = ("path", "rho_mode", "kappa_status")


@dataclass(frozen=True)
class Snapshot:
    """What an analysed step keeps, enough to rebuild ``J_t`` (``TrainingResult.operator``).

    Attributes
    ----------
    step : int
    theta : ndarray of shape (n,)
        Flat parameters theta_t (``parameters_to_vector`` order).
    state : dict of str -> ndarray of shape (n,)
        Optimizer state at t under torch's names (``exp_avg`` m_t, ``exp_avg_sq`` v_t, ``square_avg``,
        ``momentum_buffer``; zeros before the first step), ``grad`` = full-batch g_t at theta_t,
        ``theta`` = theta_t and ``theta_prev`` = theta_{t-1} (theta_0 at t = 0): the ``state`` argument of
        :func:`nnspec_core.operators.update_operator` with ``step = t + 1``.
    H : ndarray of shape (n, n) or None
        Full-training-set Hessian at theta_t (None on the matrix-free path); for Nesterov in "history"
        coordinates at the look-ahead point ``theta_t + beta (theta_t - theta_{t-1})``, as the operator needs.
    eigenvalues : ndarray of shape (d,) or (n_eigs,), complex128
        Eigenvalues of J_t, decreasing modulus (all on the dense path, the top ones otherwise).
    eigval_condition : ndarray of shape like ``eigenvalues``
        Eigenvalue condition numbers (NaN on the matrix-free path).
    classes : ndarray of str, shape like ``eigenvalues``
        Class label of each eigenvalue (``nnspec_core.spectra.classify_eigenvalues``; "" if unknown).
    coords, path : str
    """

    step: int
    theta: np.ndarray
    state: dict
    H: np.ndarray | None
    eigenvalues: np.ndarray
    eigval_condition: np.ndarray
    classes: np.ndarray
    coords: str
    path: str


@dataclass(frozen=True)
class TrainingResult:
    """A finished (or stopped / diverged) run: per-step records, snapshots and status.

    Attributes
    ----------
    config : TrainConfig
    records : tuple of StepRecord
        One per measured step, in order.
    snapshots : tuple of Snapshot
        One per analysed step (if ``keep_snapshots``).
    status : {"ready", "running", "paused", "stopped", "diverged", "finished"}
    diverged : bool
    diverged_reason : str
    diverged_step : int
        -1 if not diverged.
    n_params : int
    theta_final : ndarray of shape (n_params,)
        Parameters at the last record (the initial ones before any record).
    """

    config: TrainConfig
    records: tuple
    snapshots: tuple
    status: str
    diverged: bool
    diverged_reason: str
    diverged_step: int
    n_params: int
    theta_final: np.ndarray

    @property
    def steps(self) -> np.ndarray:
        """Steps of the records, shape (n_records,)."""
        return np.array([r.step for r in self.records], dtype=np.int64)

    def columns(self) -> dict[str, np.ndarray]:
        """Per-step metrics as columns, each of shape (n_records,).

        Float fields become float64, int fields int64, bools bool, text fields object arrays. The extra
        column ``amp_realized_by_start``
        holds the realized window amplification aligned with the window's *start* step (the step whose
        ``amp_predicted`` it should be compared with); NaN where no window starting there has completed.
        """
        out: dict[str, np.ndarray] = {}
        for f in fields(StepRecord):
            vals = [getattr(r, f.name) for r in self.records]
            if f.name in _TEXT_FIELDS:
                out[f.name] = np.array(vals, dtype=object)
            elif f.type in ("int",):
                out[f.name] = np.array(vals, dtype=np.int64)
            elif f.type in ("bool",):
                out[f.name] = np.array(vals, dtype=bool)
            else:
                out[f.name] = np.array(vals, dtype=np.float64)
        steps = out["step"]
        by_start = np.full(len(steps), np.nan)
        index = {int(s): i for i, s in enumerate(steps)}
        for r in self.records:
            if r.amp_realized_start >= 0 and r.amp_realized_start in index:
                by_start[index[r.amp_realized_start]] = r.amp_realized
        out["amp_realized_by_start"] = by_start
        return out

    def to_frame_dict(self) -> dict[str, list]:
        """Columns as plain Python lists (for ``pandas.DataFrame`` or JSON)."""
        return {k: v.tolist() for k, v in self.columns().items()}

    def to_csv(self, path: str | None = None) -> str:
        """Per-step metrics as CSV text (one row per record); also written to ``path`` if given."""
        cols = self.columns()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(list(cols))
        for i in range(len(self.records)):
            w.writerow([_csv_value(v[i]) for v in cols.values()])
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    def to_json(self, path: str | None = None) -> str:
        """Config, status and per-step metrics as JSON text (non-finite numbers as null)."""
        doc = {
            "config": asdict(self.config),
            "status": self.status,
            "diverged": self.diverged,
            "diverged_reason": self.diverged_reason,
            "diverged_step": self.diverged_step,
            "n_params": self.n_params,
            "records": {k: [_json_value(x) for x in v.tolist()] for k, v in self.columns().items()},
        }
        text = json.dumps(doc, allow_nan=False)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    def to_npz(self, file) -> None:
        """Write per-step columns and snapshots (theta, state, H, eigenvalues) to an ``.npz``.

        ``file`` is a path or a binary file object. Snapshot arrays are stored as
        ``snap_<step>_<field>`` (state entries as ``snap_<step>_state_<key>``).
        """
        arrays: dict[str, np.ndarray] = {}
        for k, v in self.columns().items():
            arrays[f"metric_{k}"] = v.astype(str) if v.dtype == object else v
        for s in self.snapshots:
            p = f"snap_{s.step}_"
            arrays[p + "theta"] = s.theta
            if s.H is not None:
                arrays[p + "H"] = s.H
            arrays[p + "eigenvalues"] = s.eigenvalues
            arrays[p + "eigval_condition"] = s.eigval_condition
            arrays[p + "classes"] = s.classes.astype(str)
            for key, val in s.state.items():
                arrays[p + "state_" + key] = val
        arrays["config_json"] = np.array(json.dumps(asdict(self.config)))
        np.savez_compressed(file, **arrays)

    def snapshot(self, step: int) -> Snapshot:
        """The snapshot taken at ``step`` (ValueError if that step was not analysed)."""
        for s in self.snapshots:
            if s.step == step:
                return s
        raise ValueError(f"step must be an analysed step with a snapshot; got {step!r}.")

    def operator(self, step: int) -> UpdateOperator:
        """Rebuild the dense update operator ``J_t`` (torch step t + 1) of a dense analysed step ``t``.

        Use it for views of a selected step, e.g. ``pseudospectrum(op.J, blocks=op.blocks, ...)``.
        """
        s = self.snapshot(step)
        if s.H is None:
            raise ValueError(f"step must be a dense-path snapshot to rebuild J; step {step} ran matrix-free.")
        return snapshot_operator(self.config, s.H, s.state, step=s.step + 1, coords=s.coords)

    def predict(self, X: np.ndarray, step: int | None = None) -> np.ndarray:
        """Network outputs, shape (m, n_out), at inputs ``X`` (shape (m, n_in)).

        ``step=None`` uses the last measured parameters (``theta_final``); otherwise the snapshot's theta.
        """
        theta = self.theta_final if step is None else self.snapshot(step).theta
        return predict(_build_model(self.config, self.config.dataset_obj()), X, theta=theta)


def _num(x: float) -> str:
    """A number in messages: 3 significant digits, exponents without "+" or leading zeros (``2.95e13``, ``1e10``)."""
    text = f"{x:.3g}"
    if "e" in text:
        mant, exp = text.split("e")
        text = f"{mant}e{int(exp)}"
    return text


def _csv_value(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    return str(x)


def _json_value(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


# --------------------------------------------------------------------------------------------- helpers
def _build_model(config: TrainConfig, ds: Dataset) -> torch.nn.Module:
    return make_mlp(
        ds.n_features,
        output_dim(ds.task, ds.n_classes, config.loss),
        depth=config.depth,
        width=config.width,
        activation=config.activation,
        seed=config.seed,
        init_scale=config.init_scale,
    )


def _theta(model: torch.nn.Module) -> torch.Tensor:
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach()


def snapshot_operator(
    config: TrainConfig, H: np.ndarray, state: dict, *, step: int, coords: str, scaling: str | None = None
) -> UpdateOperator:
    """``J_t`` of a run's snapshot: ``update_operator`` with the run's hyperparameters.

    ``step`` is the torch step number being taken (t + 1); ``scaling`` defaults to ``config.scaling``.
    """
    return update_operator(
        config.optimizer, H, **config.operator_hyper(), state=state, step=step, coords=coords,
        scaling=config.scaling if scaling is None else scaling,
    )  # fmt: skip


def _v_next(config: TrainConfig, state: dict) -> np.ndarray | None:
    """``v_{t+1}`` of the step being taken (RMSProp / Adam / AdamW), from the state at t; None otherwise."""
    c = config
    if c.optimizer not in ("rmsprop", "adam", "adamw"):
        return None
    g = state["grad"]
    if c.weight_decay and c.optimizer in ("rmsprop", "adam"):
        g = g + c.weight_decay * state["theta"]
    if c.optimizer == "rmsprop":
        return c.alpha * state["square_avg"] + (1 - c.alpha) * g * g
    return c.beta2 * state["exp_avg_sq"] + (1 - c.beta2) * g * g


def _state_scale(op: UpdateOperator, config: TrainConfig, state: dict) -> np.ndarray | None:
    """Diagonal ``s`` of the "scaled" convention (``J = S^-1 J_raw S``), shape (d,); None if J is raw."""
    names = [name for name, _, _ in op.layout]
    if op.scaling != "scaled" or "v" not in names:
        return None
    s = np.ones(op.d)
    _, a, b = op.layout[names.index("v")]
    s[a:b] = v_scale(_v_next(config, state), config.eps)
    return s


def _step_map(config: TrainConfig, f, state: dict, step: int, coords: str):
    """``(fn, z0)``: the exact torch step ``z -> z_next`` in ``coords`` (raw scaling) and the state z_t.

    :func:`nnspec_core.functional.step_map`, the map that defines the autodiff ground truth.
    """
    return step_map(
        config.optimizer, f, state["theta"], state, **config.operator_hyper(), step=step, coords=coords, scaling="raw"
    )


class _WindowProduct:
    """Product ``A_newest ... A_oldest`` of the last ``K`` pushed matrices (two-stack queue, ~3 matmuls/push)."""

    def __init__(self, K: int) -> None:
        self.K = K
        self.back: list[np.ndarray] = []  # newer elements, oldest first
        self.back_prod: np.ndarray | None = None  # product of ``back``, newest on the left
        self.front: list[np.ndarray] = []  # older elements as suffix products: front[i] = F_last ... F_i
        self.count = 0

    def push(self, A: np.ndarray) -> None:
        self.back.append(A)
        self.back_prod = A if self.back_prod is None else A @ self.back_prod
        self.count += 1
        if self.count > self.K:
            if not self.front:
                aggs = [self.back[-1]]
                for E in reversed(self.back[:-1]):
                    aggs.append(aggs[-1] @ E)
                self.front = aggs[::-1]
                self.back, self.back_prod = [], None
            self.front.pop(0)
            self.count -= 1

    def factors(self) -> list[np.ndarray] | None:
        """One or two matrices whose product (left to right) is that of the last K, or None if fewer were pushed."""
        if self.count < self.K:
            return None
        if not self.front:
            return [self.back_prod]
        return [self.front[0]] if self.back_prod is None else [self.back_prod, self.front[0]]

    def product(self) -> np.ndarray | None:
        """The product of the last K matrices, or None if fewer than K were pushed."""
        f = self.factors()
        return None if f is None else (f[0] if len(f) == 1 else f[0] @ f[1])


#: Up to this many parameters the Hessian rows are computed in one vmap batch (else chunks of 16).
_HESSIAN_ONE_CHUNK = 96
#: Below this state dimension an analysis takes a few ms and handing it to a worker thread costs more than it saves.
_PIPELINE_MIN_DIM = 64
#: Above this size the spectral norm uses Lanczos bidiagonalisation (``svds``) instead of a full SVD.
_NORM2_DENSE_MAX = 256


def _norm2(A: np.ndarray) -> float:
    """Spectral norm ``sigma_max(A)`` (relative accuracy ~1e-12), ``inf`` if ``A`` is not finite."""
    if not np.all(np.isfinite(A)):
        return math.inf
    d = min(A.shape)
    if d > _NORM2_DENSE_MAX:
        try:
            v0 = np.ones(A.shape[1]) / math.sqrt(A.shape[1])
            return float(spla.svds(A, k=1, tol=1e-13, v0=v0, return_singular_vectors=False)[0])
        except (spla.ArpackNoConvergence, spla.ArpackError):
            pass
    return float(np.linalg.norm(A, 2))


def _norm2_scaled_product(factors: list[np.ndarray], s: np.ndarray | None) -> float:
    """``||S^-1 F_1 F_2 S||_2`` (one or two factors, ``S = diag(s)``), without forming the product when large.

    Above ``_NORM2_DENSE_MAX`` Lanczos (``svds``) applies the factors to vectors, saving a d^3 GEMM.
    """
    d = factors[0].shape[0]
    if len(factors) == 1 or d <= _NORM2_DENSE_MAX or not all(np.all(np.isfinite(F)) for F in factors):
        P = factors[0] if len(factors) == 1 else factors[0] @ factors[1]
        return _norm2(_scaled(P, s))
    A, B = factors
    sc = np.ones(d) if s is None else s

    def mv(x: np.ndarray) -> np.ndarray:
        return A @ (B @ (sc * x.reshape(-1))) / sc

    def rmv(y: np.ndarray) -> np.ndarray:
        return sc * (B.T @ (A.T @ (y.reshape(-1) / sc)))

    op = spla.LinearOperator((d, d), matvec=mv, rmatvec=rmv, dtype=np.float64)
    try:
        v0 = np.ones(d) / math.sqrt(d)
        return float(spla.svds(op, k=1, tol=1e-13, v0=v0, return_singular_vectors=False)[0])
    except (spla.ArpackNoConvergence, spla.ArpackError):
        return _norm2(_scaled(A @ B, s))


def _unscaled(J: np.ndarray, s: np.ndarray | None) -> np.ndarray:
    """``S J S^-1`` (raw coordinates from scaled ones)."""
    return J if s is None else s[:, None] * J / s[None, :]


def _scaled(P: np.ndarray, s: np.ndarray | None) -> np.ndarray:
    """``S^-1 P S``."""
    return P if s is None else P * s[None, :] / s[:, None]


def _nan_if_none(x: Any) -> float:
    return math.nan if x is None else float(x)


class _Done:
    """An already computed result with the ``Future.result()`` interface (synchronous analysis)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


@dataclass
class _Pending:
    """A measured step waiting for its record: divergence reason, or its analysis job and parameters."""

    t: int
    base: dict
    reason: str = ""
    job: Future | _Done | None = None
    theta: np.ndarray | None = None


# --------------------------------------------------------------------------------------------- trainer
class Trainer:
    """Stateful, step-wise training with per-step operator analysis.

    Use :meth:`run` (a generator of :class:`StepRecord`) or :meth:`step_once`; :meth:`pause`,
    :meth:`resume` and :meth:`stop` control a running generator between records, so a UI can
    stream; :meth:`result` returns the :class:`TrainingResult` so far at any time.

    Parameters
    ----------
    config : TrainConfig, optional
        Defaults to ``TrainConfig()``.
    analyse : bool
        False trains without any operator analysis (records carry only losses, gradient norm, accuracy):
        replays and timing baselines.
    workers : int, optional
        Dense analyses that :meth:`run` keeps in flight at once (default ``min(2, cpu_count)``; state
        dimensions below 64 always run inline, where a thread hand-off costs more than it saves). With
        ``workers > 1`` the analysis of step t (Hessian, J, eig, kappa(V), transient) runs in a worker
        thread while the main thread measures and takes the next torch steps (LAPACK, BLAS and torch release
        the GIL, so two analyses use two cores). Records are still produced in step order and are identical
        to ``workers=1``: each analysis depends only on its own snapshot, and the realized-amplification
        window (which chains consecutive J) is updated in order on the calling thread. Pin BLAS to one
        thread per worker (``threadpoolctl``) to avoid oversubscription. :meth:`step_once` is synchronous.

    Attributes
    ----------
    t : int
        Steps taken so far (the next record is for step t).
    status : {"ready", "running", "paused", "stopped", "diverged", "finished"}
    path : {"dense", "matrix-free"}
        Analysis path of this run (matrix-free if ``config.matrix_free``, ``n_params > dense_limit`` or
        ``state_dim > MAX_DENSE_DIM``).
    n_params : int
    state_dim : int
        d, the dimension of the state z in ``coords``.
    """

    def __init__(self, config: TrainConfig | None = None, *, analyse: bool = True, workers: int | None = None) -> None:
        if config is None:
            config = TrainConfig()
        if workers is None:
            workers = min(2, os.cpu_count() or 1)
        self.workers = int(check_scalar(workers, "workers", min_val=1, max_val=64, integer=True))
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig; got {type(config).__name__}.")
        self.config = c = config
        self.coords = c.resolved_coords
        self.dataset = ds = c.dataset_obj()
        if c.batch_size is not None and c.batch_size > ds.n_train:
            raise ValueError(f"batch_size must be <= the {ds.n_train} training points; got {c.batch_size!r}.")
        self.model = _build_model(c, ds)
        self.params = list(self.model.parameters())
        self.n_params = sum(p.numel() for p in self.params)
        self.optimizer = make_optimizer(c, self.params)
        self.loss_fn = loss_function(c.loss)
        enc = dict(task=ds.task, n_classes=ds.n_classes, loss=c.loss)
        self.X_train, self.T_train = torch.as_tensor(ds.X_train), encode_targets(ds.y_train, **enc)
        self.X_test, self.T_test = torch.as_tensor(ds.X_test), encode_targets(ds.y_test, **enc)
        self.state_dim = state_blocks(c.optimizer, self.coords) * self.n_params
        too_big = self.n_params > c.dense_limit or self.state_dim > MAX_DENSE_DIM
        self.path = "matrix-free" if (c.matrix_free or too_big) else "dense"
        self._f = flat_loss_fn(self.model, self.loss_fn, self.X_train, self.T_train)
        self._batch_rng = np.random.default_rng([c.seed, 1])
        self._batch_queue: list[int] = []
        self._window = _WindowProduct(c.realized_horizon) if c.realized_horizon > 0 else None
        self._window_scales: list[np.ndarray | None] = []
        self._last_window_step = -2
        self._theta_prev: np.ndarray | None = None
        self._theta_last = _theta(self.model).numpy().copy()
        self.t = 0
        self.records: list[StepRecord] = []
        self.snapshots: list[Snapshot] = []
        self.status = "ready"
        self.diverged_reason = ""
        self.diverged_step = -1
        self._pause_requested = False
        self._halted = False  # no further measurement: the last step or a divergence was measured
        self.analyse = bool(analyse)

    # ----- control
    @property
    def done(self) -> bool:
        """True once the run finished, diverged or was stopped."""
        return self.status in ("stopped", "diverged", "finished")

    def pause(self) -> None:
        """Make :meth:`run` return after the current record and yield nothing until :meth:`resume`."""
        if not self.done:
            self._pause_requested = True
            self.status = "paused"

    def resume(self) -> None:
        """Clear a pause; the next :meth:`run` continues from the current step."""
        if self.status == "paused":
            self._pause_requested = False
            self.status = "ready"

    def stop(self) -> None:
        """End the run for good; the records so far are kept."""
        if not self.done:
            self.status = "stopped"

    def run(self, max_records: int | None = None) -> Iterator[StepRecord]:
        """Yield records until the run ends, is paused or stopped, or ``max_records`` were yielded.

        A paused trainer yields nothing until :meth:`resume` (``step_once`` still single-steps it). No
        exception escapes for divergence: the last record then has ``diverged=True`` and :attr:`status`
        is ``"diverged"``. With ``workers > 1`` up to ``workers`` analysed steps are in flight: a pause or
        stop takes effect after the records of the steps already taken (at most ``workers - 1`` more), and
        if the consumer closes the generator early those steps are completed into :attr:`records` without
        being yielded. Between calls ``t`` is always one past the last record.
        """
        if self.status == "paused":
            return
        self._pause_requested = False
        pipelined = self.analyse and self.path == "dense" and self.state_dim >= _PIPELINE_MIN_DIM
        depth = self.workers if pipelined else 1
        pool = ThreadPoolExecutor(depth, thread_name_prefix="nnspec-analysis") if depth > 1 else None
        pending: deque[_Pending] = deque()
        n, halt = 0, False
        try:
            while True:
                while (
                    len(pending) < depth
                    and not (halt or self._halted or self.done)
                    and (max_records is None or n + len(pending) < max_records)
                ):
                    self.status = "running"
                    pending.append(self._begin_step(pool))
                if not pending:
                    return
                rec = self._finish_step(pending.popleft())
                n += 1
                yield rec
                if self.status == "diverged":
                    return
                halt = halt or self._pause_requested or self.status in ("paused", "stopped")
        finally:  # also when the consumer abandons the generator: keep every measured step
            self._pause_requested = False
            while pending and self.status != "diverged":
                self._finish_step(pending.popleft())
            pending.clear()  # after a failed analysis the run ended at that step; later steps are dropped
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            if self.status == "running":
                self.status = "ready"

    # ----- one step
    def _measure(self) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Full-batch loss and gradient at theta_t (left in ``p.grad``), test loss, accuracies."""
        self.optimizer.zero_grad(set_to_none=True)
        out = self.model(self.X_train)
        loss = self.loss_fn(out, self.T_train)
        loss.backward()
        g = torch.cat([p.grad.reshape(-1) for p in self.params]).detach()
        ds = self.dataset
        with torch.no_grad():
            out_test = self.model(self.X_test) if ds.n_test else None
            loss_test = float(self.loss_fn(out_test, self.T_test)) if out_test is not None else math.nan
        is_cls = ds.task == "classification"
        base = dict(
            step=self.t,
            loss_train=float(loss.detach()),
            loss_test=loss_test,
            grad_norm=float(torch.linalg.vector_norm(g)),
            acc_train=accuracy(out, ds.y_train) if is_cls else math.nan,
            acc_test=accuracy(out_test, ds.y_test) if is_cls and out_test is not None else math.nan,
        )
        return loss, g, base

    def step_once(self) -> StepRecord:
        """Measure (and, every ``analyze_every`` steps, analyse) at step t, then take step t + 1.

        Returns the record of step t. After the record of ``t = steps`` the status is "finished".

        Raises
        ------
        RuntimeError
            If the run is already over (finished, diverged or stopped).
        """
        if self.done:
            raise RuntimeError(f"the run is over (status {self.status!r}); create a new Trainer to train again.")
        return self._finish_step(self._begin_step(None))

    def _begin_step(self, pool: ThreadPoolExecutor | None) -> _Pending:
        """Measure step t, start its analysis (in ``pool`` if given, else now), then take the torch step."""
        t, c = self.t, self.config
        _, g, base = self._measure()
        theta = _theta(self.model)
        self._theta_last = theta.numpy().copy()
        reason = self._divergence(base["loss_train"], g, theta)
        if reason:
            self._halted = True
            return _Pending(t, base, reason=reason)
        job: Future | _Done | None = None
        if self.analyse and t % c.analyze_every == 0:
            state = self._state(theta, g)
            if pool is not None and self.path == "dense":
                # the worker evaluates the loss on its own copy of the module: functional_call swaps module
                # attributes while it runs, which must not race with this thread's forward passes
                f = flat_loss_fn(copy.deepcopy(self.model), self.loss_fn, self.X_train, self.T_train)
                job = pool.submit(self._analysis_job, t, theta, state, f)
            else:
                job = _Done(self._analysis_job(t, theta, state, self._f))
                if isinstance(job.result(), str):  # failed: the run ends at step t, do not step on
                    self._halted = True
                    return _Pending(t, base, job=job, theta=self._theta_last)
        if t >= c.steps:
            self._halted = True
            return _Pending(t, base, job=job, theta=self._theta_last)
        self._theta_prev = theta.numpy().copy()
        bs = c.batch_size
        if bs is not None and bs < self.dataset.n_train:  # mini-batch step; full-batch grad was for metrics
            idx = self._next_batch(bs)
            self.optimizer.zero_grad(set_to_none=True)
            self.loss_fn(self.model(self.X_train[idx]), self.T_train[idx]).backward()
        self.optimizer.step()
        self.t += 1
        return _Pending(t, base, job=job, theta=self._theta_last)

    def _finish_step(self, p: _Pending) -> StepRecord:
        """Record of a begun step, in step order: waits for its analysis, updates the realized window."""
        c = self.config
        if p.reason:
            return self._diverge(StepRecord(**p.base, diverged=True), p.reason)
        analysis: dict[str, Any] = {}
        if p.job is not None:
            res = p.job.result()
            if isinstance(res, str):  # the analysis failed: the run ends at this step, at its parameters
                if self.t != p.t:
                    torch.nn.utils.vector_to_parameters(torch.as_tensor(p.theta), self.params)
                    self.t, self._theta_last = p.t, p.theta
                self._halted = True
                return self._diverge(StepRecord(**p.base, diverged=True), res)
            analysis, J, scale, snap = res
            if J is not None and c.realized_horizon > 0:
                analysis.update(self._realized(J, scale, p.t))
            if snap is not None:
                self.snapshots.append(snap)
        rec = StepRecord(**p.base, **analysis)
        self.records.append(rec)
        if p.t >= c.steps:
            self.status = "finished"
        return rec

    def _divergence(self, loss: float, g: torch.Tensor, theta: torch.Tensor) -> str:
        t = self.t
        if not math.isfinite(loss):
            return f"the training loss is {loss} at step {t}"
        if loss > self.config.divergence_loss:
            return f"the training loss {_num(loss)} exceeded {_num(self.config.divergence_loss)} at step {t}"
        if not bool(torch.isfinite(theta).all()):
            return f"parameters are not finite at step {t}"
        if not bool(torch.isfinite(g).all()):
            return f"gradient is not finite at step {t}"
        return ""

    def _diverge(self, rec: StepRecord, reason: str) -> StepRecord:
        self.records.append(rec)
        self.status = "diverged"
        self.diverged_reason = reason
        self.diverged_step = rec.step
        return rec

    def _next_batch(self, bs: int) -> torch.Tensor:
        if len(self._batch_queue) < bs:
            self._batch_queue = self._batch_queue + self._batch_rng.permutation(self.dataset.n_train).tolist()
        idx, self._batch_queue = self._batch_queue[:bs], self._batch_queue[bs:]
        return torch.as_tensor(idx)

    # ----- analysis
    def _state(self, theta: torch.Tensor, g: torch.Tensor) -> dict[str, np.ndarray]:
        """State at t for the operators: torch keys (zeros before they exist), theta, grad, theta_prev."""
        st = flat_optimizer_state(self.optimizer, self.params)
        st.pop("step", None)
        state = {k: np.asarray(v, dtype=np.float64) for k, v in st.items()}
        for key in STATE_KEYS[self.config.optimizer]:
            state.setdefault(key, np.zeros(self.n_params))
        state["theta"] = theta.numpy().astype(np.float64)
        state["grad"] = g.numpy().astype(np.float64)
        state["theta_prev"] = state["theta"].copy() if self._theta_prev is None else self._theta_prev
        return state

    def current_operator(self) -> tuple[UpdateOperator, dict[str, np.ndarray]]:
        """Dense update operator ``J_t`` at the current ``(theta_t, state_t)`` and that state.

        Recomputes the full-batch gradient (into ``p.grad``) and the Hessian; does not step.
        """
        _, g, _ = self._measure()
        theta = _theta(self.model)
        state = self._state(theta, g)
        H = self._hessian(self._hessian_point(theta, state))
        return snapshot_operator(self.config, H, state, step=self.t + 1, coords=self.coords), state

    def _hessian(self, theta: torch.Tensor, f=None) -> np.ndarray:
        """Dense full-training-set Hessian at theta of ``f`` (default the run's loss; one vmap batch for small n)."""
        n = self.n_params
        return flat_hessian(self._f if f is None else f, theta, chunk_size=n if n <= _HESSIAN_ONE_CHUNK else 16)

    def _hessian_point(self, theta: torch.Tensor, state: dict) -> torch.Tensor:
        """theta_t, or Nesterov's look-ahead ``y_t = theta_t + beta (theta_t - theta_{t-1})`` in history coords."""
        if self.config.optimizer == "nesterov" and self.coords == "history":
            return theta + self.config.momentum * (theta - torch.as_tensor(state["theta_prev"]))
        return theta

    def _analysis_job(self, t: int, theta: torch.Tensor, state: dict, f) -> tuple | str:
        """Analysis of step t from its snapshot alone (safe in a worker thread for the dense path).

        Returns ``(fields, J, scale, snapshot)`` (J and scale for the realized window, None on the
        matrix-free path; snapshot None unless kept) or, if the analysis failed, the one-line reason.
        """
        t0 = time.perf_counter()
        try:
            with np.errstate(all="ignore"):
                if self.path == "dense":
                    out, J, scale, snap = self._analyse_dense(t, theta, state, f)
                else:  # runs on the calling thread, before the torch step (uses the run's module)
                    out, snap = self._analyse_matrix_free(theta, state)
                    J = scale = None
        except (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError, spla.ArpackError) as err:
            return f"analysis failed at step {t}: {type(err).__name__}: {err}".splitlines()[0]
        out["seconds"] = time.perf_counter() - t0
        return out, J, scale, snap

    def _analyse_dense(self, t: int, theta: torch.Tensor, state: dict, f) -> tuple:
        c = self.config
        H = self._hessian(self._hessian_point(theta, state), f)
        if not np.all(np.isfinite(H)):
            raise FloatingPointError("the Hessian has non-finite entries")
        op = snapshot_operator(c, H, state, step=t + 1, coords=self.coords)
        dg = operator_diagnostics(op)
        sp = dg.spectrum
        ks = self._transient_ks(op.blocks is not None)
        norms = power_norms(op.J if op.blocks is None else None, c.transient_k, blocks=op.blocks, k=ks)
        i_peak = int(np.argmax(norms))
        out = dict(
            analysed=True,
            path="dense",
            rho=float(dg.rho),
            rho_plus=float(dg.rho_plus),
            rho_mode=str(dg.rho_mode),
            kappa_V=float(sp.kappa_V),
            kappa_status=str(sp.kappa_status),
            kappa_V_cluster=float(sp.kappa_V_cluster),
            lambda_max_H=float(dg.lambda_max_H),
            lambda_min_H=float(dg.lambda_min_H),
            sharpness=float(dg.sharpness),
            threshold=float(dg.threshold),
            sharpness_ratio=float(dg.sharpness_ratio),
            commutator=_nan_if_none(dg.commutator),
            commutator_rel=_nan_if_none(dg.commutator_rel),
            departure=float(sp.departure),
            departure_rel=float(sp.departure_rel),
            n_eos_flip=int(dg.n_unstable.get("eos_flip", 0)),
            n_escape=int(dg.n_unstable.get("escape", 0)),
            n_spiral=int(dg.n_unstable.get("spiral", 0)),
            transient_peak=float(norms[i_peak]),
            transient_peak_k=int(ks[i_peak]),
        )
        out["n_unstable"] = out["n_eos_flip"] + out["n_escape"] + out["n_spiral"]
        if c.realized_horizon > 0:
            out["amp_predicted"] = float(norms[np.searchsorted(ks, c.realized_horizon)])
        snap = None
        if c.keep_snapshots:
            snap = Snapshot(
                step=t,
                theta=state["theta"],
                state=state,
                H=H,
                eigenvalues=np.array(sp.eigenvalues, dtype=np.complex128),
                eigval_condition=np.array(sp.eigval_condition, dtype=np.float64),
                classes=np.array(dg.classes, dtype=str),
                coords=self.coords,
                path="dense",
            )
        return out, op.J, _state_scale(op, c, state), snap

    def _transient_ks(self, exact: bool) -> np.ndarray:
        """Sorted powers k at which ||J^k|| is evaluated per step (always 0, 1 and realized_horizon)."""
        c = self.config
        if exact or c.transient_samples == 0 or c.transient_samples >= c.transient_k:
            return np.arange(c.transient_k + 1)
        ks = np.round(np.geomspace(1, c.transient_k, c.transient_samples)).astype(np.int64)
        return np.unique(np.concatenate([[0, 1, c.realized_horizon], ks]))

    def _realized(self, J: np.ndarray, s: np.ndarray | None, t: int) -> dict[str, Any]:
        """Push J_t (raw coordinates) into the window; realized growth of the window in its start's coordinates."""
        w = self._window
        if t != self._last_window_step + 1:  # a gap (analyze_every > 1): start a new window
            self._window = w = _WindowProduct(w.K)
            self._window_scales = []
        self._last_window_step = t
        w.push(_unscaled(J, s))
        self._window_scales = (self._window_scales + [s])[-w.K :]
        factors = w.factors()
        if factors is None:
            return {}
        amp = _norm2_scaled_product(factors, self._window_scales[0])
        return dict(amp_realized=amp, amp_realized_start=t - w.K + 1)

    def _analyse_matrix_free(self, theta: torch.Tensor, state: dict) -> tuple[dict[str, Any], Snapshot | None]:
        c, t, n = self.config, self.t, self.n_params
        theta_H = self._hessian_point(theta, state)
        _, hvp_fn = torch.func.vjp(torch.func.grad(self._f), theta_H)  # H is symmetric: vjp = H v

        def hvp(v: np.ndarray) -> np.ndarray:
            return hvp_fn(torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(-1)))[0].numpy()

        H_op = spla.LinearOperator((n, n), matvec=hvp, rmatvec=hvp, dtype=np.float64)
        v0 = np.ones(n) / math.sqrt(n)
        lam = np.sort(spla.eigsh(H_op, k=2, which="BE", v0=v0, tol=1e-12, return_eigenvectors=False))
        JT_op = self.jacobian_operator(state, transpose=True)
        d = JT_op.shape[0]
        mu = spla.eigs(JT_op, k=min(c.n_eigs, d - 2), which="LM", v0=np.ones(d) / math.sqrt(d), tol=1e-12,
                       return_eigenvectors=False)  # fmt: skip
        mu = mu[np.lexsort((-mu.imag, -mu.real, -np.abs(mu)))]
        classes = classify_eigenvalues(mu)
        keep = classes != "escape"
        wd = c.weight_decay if c.optimizer != "adamw" else 0.0
        sharp = self._preconditioned_sharpness(H_op, state) if self._adaptive else float(lam[-1]) + wd
        thr_opt = "rmsprop" if self.coords == "simple" else c.optimizer  # as spectra.operator_diagnostics
        thr = stability_threshold(
            thr_opt, lr=c.lr, momentum=c.momentum if c.optimizer in ("heavy_ball", "nesterov") else 0.0,
            betas=(c.beta1, c.beta2),
        )  # fmt: skip
        counts = {k: int(np.count_nonzero(classes == k)) for k in ("eos_flip", "escape", "spiral")}
        out = dict(
            analysed=True,
            path="matrix-free",
            rho=float(np.abs(mu[0])),
            rho_plus=float(np.abs(mu[keep]).max()) if np.any(keep) else math.nan,
            rho_mode=str(classes[0]),
            lambda_max_H=float(lam[-1]),
            lambda_min_H=float(lam[0]),
            sharpness=sharp,
            threshold=thr,
            sharpness_ratio=sharp / thr,
            n_eos_flip=counts["eos_flip"],
            n_escape=counts["escape"],
            n_spiral=counts["spiral"],
            n_unstable=sum(counts.values()),
        )
        snap = None
        if c.keep_snapshots:
            snap = Snapshot(
                step=t, theta=state["theta"], state=state, H=None, eigenvalues=mu.astype(np.complex128),
                eigval_condition=np.full(len(mu), np.nan), classes=classes.astype(str), coords=self.coords,
                path="matrix-free",
            )  # fmt: skip
        return out, snap

    @property
    def _adaptive(self) -> bool:
        return self.config.optimizer in ("rmsprop", "adam", "adamw")

    def _preconditioned_sharpness(self, H_op: spla.LinearOperator, state: dict) -> float:
        """``c1 lambda_max(M^1/2 H~ M^1/2)`` as in ``spectra.operator_diagnostics``, by Lanczos."""
        c, n = self.config, self.n_params
        v1 = _v_next(c, state)
        c1, c2 = 1.0, 1.0
        if c.optimizer != "rmsprop":
            c1, c2 = 1.0 / (1.0 - c.beta1 ** (self.t + 1)), 1.0 / (1.0 - c.beta2 ** (self.t + 1))
        r = np.sqrt(1.0 / (np.sqrt(c2 * v1) + c.eps))  # M^(1/2)
        wd = c.weight_decay if c.optimizer != "adamw" else 0.0

        def mv(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x).reshape(-1)
            return r * (H_op.matvec(r * x) + wd * r * x)

        A = spla.LinearOperator((n, n), matvec=mv, rmatvec=mv, dtype=np.float64)
        v0 = np.ones(n) / math.sqrt(n)
        return c1 * float(spla.eigsh(A, k=1, which="LA", v0=v0, tol=1e-12, return_eigenvectors=False)[0])

    def jacobian_operator(self, state: dict | None = None, *, transpose: bool = False) -> spla.LinearOperator:
        """Matrix-free ``J_t`` (or ``J_t^T``) of the exact torch step in ``coords`` (raw scaling).

        Shape (d, d) with the layout of :func:`~nnspec_core.operators.update_operator`; the eigenvalues
        equal those of the dense operator in either scaling (the scaling is a similarity). ``J^T v`` costs one
        backward pass through the linearised step (graph built once); ``J v`` one forward-mode pass.

        Parameters
        ----------
        state : dict, optional
            State at t as in :class:`Snapshot` (default: the trainer's current state; recomputes the gradient).
        transpose : bool
            Return ``J^T`` (same eigenvalues, cheaper products).
        """
        if state is None:
            _, g, _ = self._measure()
            state = self._state(_theta(self.model), g)
        fn, z0 = _step_map(self.config, self._f, state, self.t + 1, self.coords)
        d = int(z0.numel())
        if transpose:
            _, vjp_fn = torch.func.vjp(fn, z0)

            def matvec(u: np.ndarray) -> np.ndarray:
                return vjp_fn(torch.as_tensor(np.asarray(u, dtype=np.float64).reshape(-1)))[0].numpy()

        else:

            def matvec(u: np.ndarray) -> np.ndarray:
                tan = torch.as_tensor(np.asarray(u, dtype=np.float64).reshape(-1))
                return torch.func.jvp(fn, (z0,), (tan,))[1].numpy()

        return spla.LinearOperator((d, d), matvec=matvec, dtype=np.float64)

    # ----- result
    def result(self) -> TrainingResult:
        """The run so far as an immutable :class:`TrainingResult`."""
        return TrainingResult(
            config=self.config,
            records=tuple(self.records),
            snapshots=tuple(self.snapshots),
            status=self.status,
            diverged=self.status == "diverged",
            diverged_reason=self.diverged_reason,
            diverged_step=self.diverged_step,
            n_params=self.n_params,
            theta_final=self._theta_last.copy(),
        )


def train(config: TrainConfig | None = None) -> TrainingResult:
    """Run a whole training (no streaming) and return its :class:`TrainingResult`."""
    trainer = Trainer(config)
    for _ in trainer.run():
        pass
    return trainer.result()


# --------------------------------------------------------------------------------------------- realized
@dataclass(frozen=True)
class AmplificationResult:
    """Realized versus predicted amplification over ``k = 0..K`` steps from ``start``.

    All norms are 2-norms in the state coordinates of the operator at ``start`` (for the "scaled"
    convention, the per-step raw Jacobians are multiplied and the product is measured in the start's
    scaling, so that realized and predicted numbers are comparable).

    Attributes
    ----------
    start, horizon : int
        First step s and window K.
    k : ndarray of shape (K + 1,), int64
    realized : ndarray of shape (K + 1,)
        ``||J_{s+k-1} ... J_{s+1} J_s||_2`` with the actual per-step operators (1 at k = 0).
    predicted : ndarray of shape (K + 1,)
        ``||J_s^k||_2``, the frozen-snapshot prediction.
    upper : ndarray of shape (K + 1,)
        ``kappa(V_s) rho(J_s)^k`` (inf if J_s is defective).
    lyapunov : ndarray of shape (K + 1,)
        Finite-time Lyapunov exponent ``log(realized_k) / k`` per step (NaN at k = 0).
    complete : bool
        False if the run ended (divergence or its last step) before ``s + K``; the arrays are NaN
        beyond the last available step.
    """

    start: int
    horizon: int
    k: np.ndarray
    realized: np.ndarray
    predicted: np.ndarray
    upper: np.ndarray
    lyapunov: np.ndarray
    complete: bool


def realized_amplification(
    config: TrainConfig | TrainingResult, *, start: int, horizon: int | None = None
) -> AmplificationResult:
    """Replay a run deterministically from its config and compare realized with predicted growth.

    Trains ``start`` steps without analysis, then for ``j = 0..K-1`` builds the dense analytic operator
    ``J_{s+j}`` (full-batch Hessian and optimizer state at that step), multiplies them up and steps on.

    Parameters
    ----------
    config : TrainConfig or TrainingResult
        The run's configuration (or the run itself); dense path only.
    start : int
        Start step s, ``0 <= s <= config.steps``.
    horizon : int or None
        Window K >= 1 (default ``config.realized_horizon``, or 10 if that is 0).

    Returns
    -------
    AmplificationResult
    """
    if isinstance(config, TrainingResult):
        config = config.config
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig or TrainingResult; got {type(config).__name__}.")
    s = int(check_scalar(start, "start", min_val=0, max_val=config.steps, integer=True))
    K = horizon if horizon is not None else (config.realized_horizon or 10)
    K = int(check_scalar(K, "horizon", min_val=1, max_val=10_000, integer=True))
    tr = Trainer(replace(config, keep_snapshots=False, realized_horizon=0), analyse=False)
    if tr.path != "dense":
        raise ValueError(
            f"config must select the dense path for realized_amplification; got {tr.n_params} parameters "
            f"(dense_limit {config.dense_limit}, matrix_free {config.matrix_free})."
        )
    while tr.t < s and not tr.done:
        tr.step_once()
    k = np.arange(K + 1)
    realized, predicted, upper = (np.full(K + 1, np.nan) for _ in range(3))
    realized[0] = predicted[0] = upper[0] = 1.0
    P = op0 = s0 = None
    complete = False
    with np.errstate(all="ignore"):
        for j in range(K):
            if tr.done or tr.t != s + j:
                break
            op, state = tr.current_operator()
            sc = _state_scale(op, config, state)
            if op0 is None:
                op0, s0 = op, sc
            J = _unscaled(op.J, sc)
            P = J if P is None else J @ P
            realized[j + 1] = _norm2(_scaled(P, s0))
            complete = j == K - 1
            tr.step_once()
        if op0 is not None:
            sp = spectrum(op0.J, blocks=op0.blocks)
            Pk = np.eye(op0.d)
            for j in range(1, K + 1):
                Pk = op0.J @ Pk
                predicted[j] = _norm2(Pk)
                upper[j] = float(sp.kappa_V) * float(sp.spectral_radius) ** j
        lyap = np.where(k > 0, np.log(realized) / np.maximum(k, 1), np.nan)
    return AmplificationResult(
        start=s, horizon=K, k=k, realized=realized, predicted=predicted, upper=upper, lyapunov=lyap, complete=complete
    )
