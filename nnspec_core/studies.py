"""Phase study: a grid of training runs, an on-disk run cache, the run table, statistics and the claims table.

A study (issue 6) trains small networks with per-step analysis over a grid

    optimizers x learning rates x seeds x depths

and, for every run, computes the indicators in each requested *state convention* of the update operator
from the same snapshots (no retraining): heavy ball in ``"buffer"`` (``z = [theta; b]``) and ``"history"``
(``z = [theta_t; theta_{t-1}]``) coordinates, Adam ``"frozen"`` (``z = [theta; m]``, preconditioner held
fixed), ``"full_raw"`` and ``"full_scaled"`` (``z = [theta; m; v]`` with raw ``v``, or ``v`` measured
relative to ``max(v_{t+1}, eps^2)``), gd ``"theta"``. See :mod:`nnspec_core.operators` for each form.

Learning rates
    Log-spaced multiples ``lr_range[0] .. lr_range[1]`` of the *stability edge* ``eta_edge`` of each
    (optimizer, depth): the learning rate at which the initial operator ``J_0`` reaches its classical
    threshold, ``sharpness_ratio(J_0) = 1`` (:func:`nnspec_core.spectra.operator_diagnostics`): gd
    ``2 / lambda_max(H_0)``, heavy ball ``(2 + 2 beta) / lambda_max(H_0)``, Adam
    ``(2 + 2 beta1) / ((1 - beta1) c1 lambda_max(M_1^(1/2) H_0 M_1^(1/2)))`` with the preconditioner ``M_1``
    of the first step. Because the ratio is proportional to the learning rate, ``eta_edge = eta_ref /
    ratio(eta_ref)``. The median over the study's seeds is used, so every seed shares the grid.
    ``lr_range_by_optimizer`` sets another range for some optimizers (the initial edge is a poor guide for
    Adam, whose preconditioner is built from the first gradient only); an explicit ``lrs`` list replaces the grid.

Depth
    ``depth`` in the tables is the number of weight layers (2 = a two-layer network, one hidden layer),
    i.e. ``TrainConfig.depth + 1``.

Run table (:func:`run_table`), one row per (run, convention, recorded step)
    ``run_id`` (``"<run key>/<convention>"``: the statistics treat each convention of a run as one
    cluster within its own group), ``run_key``, ``seed``, ``lr``, ``lr_factor`` (lr / eta_edge),
    ``optimizer``, ``depth``, ``coords`` (the convention), ``step``, ``loss`` (full-batch training loss at
    ``theta_t``; NaN/inf at a divergence), then one float column per indicator of :data:`STUDY_INDICATORS`
    (NaN where not analysed: the divergence record; ``commutator`` for non-adaptive optimizers).

Phase labels and statistics come from :mod:`nnspec_core.phases` and :func:`nnspec_core.phase_stats.study_statistics`
(cluster bootstrap over runs, pooled and within-learning-rate AUROC, leave-one-seed-out incremental value,
leave-one-run-out check, lead times with held-out thresholds), under every rule of ``StudyConfig.rules``.

On disk (:func:`run_study`), ``out_dir`` holds ``study.json`` (config, plan, edges, status), ``config.json``
(the config alone, for ``--config``), ``runs/<key>.npz`` + ``runs/<key>.json`` (the cache: a run is reused
whenever its settings hash matches; no pickle), ``run_table.csv``, ``runs.csv``, ``results.csv`` /
``results.md`` (:data:`nnspec_core.phase_stats.CSV_COLUMNS`), ``claims.csv`` / ``claims.md``
(:data:`CLAIM_COLUMNS`) and ``lead_times.csv``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from nnspec_core._validation import check_choice, check_scalar, short_repr
from nnspec_core.phase_stats import (
    CSV_COLUMNS,
    RocCurve,
    StatRow,
    StatsConfig,
    StudyStatistics,
    label_run_table,
    roc_curve,
    study_statistics,
)
from nnspec_core.phases import STANDARD_RULES, LabelRule

__all__ = [
    "STUDY_OPTIMIZERS",
    "CONVENTIONS",
    "DEFAULT_CONVENTIONS",
    "STUDY_INDICATORS",
    "INDICATOR_LABELS",
    "RUN_TABLE_COLUMNS",
    "RUNS_COLUMNS",
    "CLAIM_COLUMNS",
    "CACHE_VERSION",
    "StudyConfig",
    "EdgeEstimate",
    "RunSpec",
    "StudyPlan",
    "RunResult",
    "ProgressEvent",
    "ClaimRow",
    "StudyResult",
    "RunGrid",
    "Trajectory",
    "stability_edge",
    "plan_study",
    "train_run",
    "RunCache",
    "execute_plan",
    "run_table",
    "study_stats",
    "claims_table",
    "claims_markdown",
    "run_phases",
    "run_study",
    "write_study",
    "load_study",
    "study_directories",
    "phase_values",
    "roc_curves",
    "run_grid",
    "run_trajectory",
    "find_row",
    "read_config_file",
    "add_cli_arguments",
    "run_cli",
    "fmt_value",
    "fmt_ci",
    "OPTIMIZER_LABELS",
    "study_groups",
    "results_records",
    "claims_records",
    "study_command",
    "study_figures",
]

#: Optimizers a study can run (Nesterov only in buffer coordinates: its history form needs H at the look-ahead).
STUDY_OPTIMIZERS = ("gd", "heavy_ball", "nesterov", "rmsprop", "adam", "adamw")
#: State conventions available per optimizer: label -> (coords, scaling) of :func:`update_operator`.
CONVENTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "gd": {"theta": ("theta", "scaled")},
    "heavy_ball": {"buffer": ("buffer", "scaled"), "history": ("history", "scaled")},
    "nesterov": {"buffer": ("buffer", "scaled")},
    "rmsprop": {"frozen": ("frozen", "scaled"), "full_raw": ("full", "raw"), "full_scaled": ("full", "scaled")},
    "adam": {
        "frozen": ("frozen", "scaled"),
        "simple": ("simple", "scaled"),
        "full_raw": ("full", "raw"),
        "full_scaled": ("full", "scaled"),
    },
    "adamw": {
        "frozen": ("frozen", "scaled"),
        "simple": ("simple", "scaled"),
        "full_raw": ("full", "raw"),
        "full_scaled": ("full", "scaled"),
    },
}
#: Conventions used when ``StudyConfig.conventions`` is empty (the first is the one the trainer runs in).
DEFAULT_CONVENTIONS: dict[str, tuple[str, ...]] = {
    "gd": ("theta",),
    "heavy_ball": ("buffer", "history"),
    "nesterov": ("buffer",),
    "rmsprop": ("frozen", "full_raw", "full_scaled"),
    "adam": ("frozen", "full_raw", "full_scaled"),
    "adamw": ("frozen", "full_raw", "full_scaled"),
}
#: Indicator columns of the run table (TrainingResult / OperatorDiagnostics field names).
STUDY_INDICATORS = ("kappa_V", "rho", "rho_plus", "sharpness_ratio", "lambda_max_H", "commutator", "departure")
#: Display names of the indicators.
INDICATOR_LABELS = {
    "kappa_V": "κ(V)",
    "rho": "ρ(J)",
    "rho_plus": "ρ₊",
    "sharpness_ratio": "sharpness / threshold",
    "lambda_max_H": "λmax(H)",
    "commutator": "‖[H, M]‖",
    "departure": "Henrici departure",
}
RUN_TABLE_COLUMNS = (
    "run_id",
    "run_key",
    "seed",
    "lr",
    "lr_factor",
    "optimizer",
    "depth",
    "coords",
    "step",
    "loss",
    *STUDY_INDICATORS,
)
#: Columns of ``runs.csv`` (one row per training run).
RUNS_COLUMNS = (
    "run_key",
    "optimizer",
    "depth",
    "seed",
    "lr",
    "lr_factor",
    "status",
    "diverged_step",
    "n_records",
    "loss_first",
    "loss_last",
    "run_phase",
    "n_windows_stable",
    "n_windows_unstable",
    "n_windows_ambiguous",
    "conventions",
    "seconds",
)
#: Bump when the content of a cached run changes (invalidates every cache entry).
CACHE_VERSION = "study-run-v1"
_RUN_PHASES = ("stable", "unstable", "diverged", "ambiguous")


# ------------------------------------------------------------------------------------------------ config
def _tuple_of(value: Any, name: str, kind: type | tuple[type, ...], *, allow_empty: bool = False) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list; got {type(value).__name__}.")
    if not value and not allow_empty:
        raise ValueError(f"{name} must not be empty; got [].")
    for v in value:
        bad_bool = isinstance(v, bool) and kind is not bool
        if bad_bool or not isinstance(v, kind):
            want = kind.__name__ if isinstance(kind, type) else "number"
            raise TypeError(f"{name} entries must be {want}; got {short_repr(v)} ({type(v).__name__}).")
    if len(set(value)) != len(value):
        raise ValueError(f"{name} must not repeat entries; got {list(value)}.")
    return tuple(value)


def _ranges_by_optimizer(value: Any) -> tuple[tuple[str, float, float], ...]:
    """``{"adam": [1, 100]}`` or ``(("adam", 1, 100),)`` -> validated, sorted tuple of (optimizer, low, high)."""
    if isinstance(value, Mapping):
        items = [(k, v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)) and all(isinstance(t, (list, tuple)) and len(t) == 3 for t in value):
        items = [(t[0], t[1:]) for t in value]
    else:
        raise TypeError(
            f'lr_range_by_optimizer must be an object such as {{"adam": [1, 100]}}; got {type(value).__name__}.'
        )
    out = []
    for name, pair in items:
        check_choice(name, "lr_range_by_optimizer key", STUDY_OPTIMIZERS)
        if isinstance(pair, (str, bytes)) or not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"lr_range_by_optimizer[{name!r}] must be a pair [low, high]; got {short_repr(pair)}.")
        lo = check_scalar(pair[0], f"lr_range_by_optimizer[{name!r}][0]", min_val=0.0, include_min=False)
        hi = check_scalar(pair[1], f"lr_range_by_optimizer[{name!r}][1]", min_val=lo)
        out.append((name, float(lo), float(hi)))
    return tuple(sorted(out))


def _rule_from(value: Any, i: int) -> LabelRule:
    if isinstance(value, LabelRule):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"rules[{i}] must be an object with LabelRule fields; got {type(value).__name__}.")
    known = {f.name for f in fields(LabelRule)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"rules[{i}] has unknown key {unknown[0]!r}; known keys: {', '.join(sorted(known))}.")
    return LabelRule(**value)


@dataclass(frozen=True)
class StudyConfig:
    """Every setting of a phase study, with its default (validated on construction).

    Attributes
    ----------
    name : str
        Label of the study (letters, digits, ``_ - .``).
    optimizers : tuple of str
        Subset of :data:`STUDY_OPTIMIZERS`.
    depths : tuple of int
        Network depths in weight layers, each in 2..5 (2 = two-layer net).
    seeds : tuple of int
        Seeds (data set, initialisation); >= 0.
    n_lrs : int
        Number of learning rates per (optimizer, depth), log-spaced over ``lr_range`` x eta_edge.
    lr_range : tuple of float
        ``(low, high)`` multiples of the stability edge eta_edge (module docstring), ``0 < low <= high``.
    lr_range_by_optimizer : tuple of (str, float, float)
        Per-optimizer ``(optimizer, low, high)`` overriding ``lr_range`` (JSON: ``{"adam": [1, 100]}``).
    lrs : tuple of float
        Absolute learning rates; if non-empty they replace the edge grid (``n_lrs`` and ``lr_range`` ignored).
    steps : int
        Optimizer steps per run (``steps + 1`` records, every one analysed).
    conventions : tuple of str
        State-convention labels (keys of :data:`CONVENTIONS`); each optimizer uses those valid for it, the
        first one being the convention the trainer analyses natively. Empty = :data:`DEFAULT_CONVENTIONS`.
    dataset, n_samples, noise, width, activation, loss, init_scale
        Passed to :class:`nnspec_core.training.TrainConfig` (full-batch training).
    momentum, beta1, beta2, eps : float
        Optimizer hyperparameters (heavy ball / Nesterov beta; Adam betas and eps).
    rules : tuple of LabelRule
        Phase-labelling rules; the first is the *primary* rule (run grid, claims verdict); every rule is
        reported (sensitivity).
    n_boot : int
        Cluster-bootstrap replicates of each confidence interval.
    stats_seed : int
        Seed of the bootstrap draws.
    """

    name: str = "custom"
    optimizers: tuple[str, ...] = ("gd", "heavy_ball", "adam")
    depths: tuple[int, ...] = (2,)
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    n_lrs: int = 7
    lr_range: tuple[float, float] = (0.3, 3.0)
    lr_range_by_optimizer: tuple[tuple[str, float, float], ...] = ()
    lrs: tuple[float, ...] = ()
    steps: int = 150
    conventions: tuple[str, ...] = ()
    dataset: str = "moons"
    n_samples: int = 128
    noise: float = 0.1
    width: int = 16
    activation: str = "tanh"
    loss: str = "mse"
    init_scale: float = 1.0
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    rules: tuple[LabelRule, ...] = STANDARD_RULES
    n_boot: int = 1000
    stats_seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or not all(c.isalnum() or c in "_-." for c in self.name):
            got = short_repr(self.name)
            raise ValueError(f"name must be a non-empty str of letters, digits, '_', '-', '.'; got {got}.")
        opts = _tuple_of(self.optimizers, "optimizers", str)
        for o in opts:
            check_choice(o, "optimizers entry", STUDY_OPTIMIZERS)
        depths = _tuple_of(self.depths, "depths", int)
        for d in depths:
            check_scalar(d, "depths entry", min_val=2, max_val=5, integer=True)
        seeds = _tuple_of(self.seeds, "seeds", int)
        for s in seeds:
            check_scalar(s, "seeds entry", min_val=0, max_val=2**31 - 1, integer=True)
        check_scalar(self.n_lrs, "n_lrs", min_val=1, max_val=100, integer=True)
        lr_range = self.lr_range
        if isinstance(lr_range, (str, bytes)) or not isinstance(lr_range, (list, tuple)) or len(lr_range) != 2:
            raise ValueError(f"lr_range must be a pair [low, high]; got {short_repr(lr_range)}.")
        lo = check_scalar(lr_range[0], "lr_range[0]", min_val=0.0, include_min=False)
        check_scalar(lr_range[1], "lr_range[1]", min_val=lo)
        by_opt = _ranges_by_optimizer(self.lr_range_by_optimizer)
        lrs = _tuple_of(self.lrs, "lrs", (int, float), allow_empty=True)
        for v in lrs:
            check_scalar(v, "lrs entry", min_val=0.0, include_min=False)
        check_scalar(self.steps, "steps", min_val=2, max_val=100_000, integer=True)
        convs = _tuple_of(self.conventions, "conventions", str, allow_empty=True)
        known = sorted({c for per in CONVENTIONS.values() for c in per})
        for c in convs:
            check_choice(c, "conventions entry", tuple(known))
        for o in opts:
            if convs and not any(c in CONVENTIONS[o] for c in convs):
                raise ValueError(
                    f"conventions must include one valid for {o!r} ({', '.join(CONVENTIONS[o])}); "
                    f"got {short_repr(list(convs))}."
                )
        rules = self.rules
        if isinstance(rules, (str, bytes, Mapping)) or not isinstance(rules, (list, tuple)) or not rules:
            raise TypeError(f"rules must be a non-empty list of rule objects; got {type(rules).__name__}.")
        rules = tuple(_rule_from(r, i) for i, r in enumerate(rules))
        if len({r.name for r in rules}) != len(rules):
            raise ValueError(f"rules must have distinct names; got {[r.name for r in rules]}.")
        check_scalar(self.n_boot, "n_boot", min_val=10, max_val=100_000, integer=True)
        check_scalar(self.stats_seed, "stats_seed", min_val=0, integer=True)
        for name, val in (("n_lrs", self.n_lrs), ("steps", self.steps), ("n_samples", self.n_samples)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)):
                raise TypeError(f"{name} must be an int; got {short_repr(val)} ({type(val).__name__}).")
        conv = dict(
            optimizers=opts,
            depths=tuple(int(d) for d in depths),
            seeds=tuple(int(s) for s in seeds),
            lr_range=(float(lr_range[0]), float(lr_range[1])),
            lr_range_by_optimizer=by_opt,
            lrs=tuple(float(v) for v in lrs),
            conventions=convs,
            rules=rules,
        )
        for k, v in conv.items():
            object.__setattr__(self, k, v)
        for o in opts:  # the remaining fields are validated by TrainConfig itself (one-line messages)
            for d in self.depths:
                self.train_config(o, d, seed=self.seeds[0], lr=1.0)

    # ----- derived
    def lr_range_for(self, optimizer: str) -> tuple[float, float]:
        """``(low, high)`` multiples of the edge used for ``optimizer``."""
        for name, lo, hi in self.lr_range_by_optimizer:
            if name == optimizer:
                return (lo, hi)
        return self.lr_range

    def conventions_for(self, optimizer: str) -> tuple[str, ...]:
        """Convention labels used for ``optimizer`` (the first is the trainer's native one)."""
        if not self.conventions:
            return DEFAULT_CONVENTIONS[optimizer]
        return tuple(c for c in self.conventions if c in CONVENTIONS[optimizer])

    def train_config(self, optimizer: str, depth: int, *, seed: int, lr: float, steps: int | None = None):
        """The :class:`~nnspec_core.training.TrainConfig` of one run (native convention, every step analysed)."""
        from nnspec_core.training import TrainConfig

        coords, scaling = CONVENTIONS[optimizer][self.conventions_for(optimizer)[0]]
        return TrainConfig(
            dataset=self.dataset,
            n_samples=self.n_samples,
            noise=self.noise,
            depth=depth - 1,
            width=self.width,
            activation=self.activation,
            init_scale=self.init_scale,
            loss=self.loss,
            optimizer=optimizer,
            lr=lr,
            momentum=self.momentum,
            beta1=self.beta1,
            beta2=self.beta2,
            eps=self.eps,
            steps=self.steps if steps is None else steps,
            analyze_every=1,
            coords=coords,
            scaling=scaling,
            seed=seed,
            transient_k=1,
            transient_samples=0,
            realized_horizon=0,
            keep_snapshots=True,
        )

    def stats_config(self) -> StatsConfig:
        """The :class:`~nnspec_core.phase_stats.StatsConfig` of the study's statistics."""
        return StatsConfig(n_boot=self.n_boot, seed=self.stats_seed)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (rules as dicts); ``StudyConfig.from_dict(c.to_dict()) == c``."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["rules"] = [r.as_dict() for r in self.rules]
        d["lr_range_by_optimizer"] = {o: [lo, hi] for o, lo, hi in self.lr_range_by_optimizer}
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base: StudyConfig | None = None) -> StudyConfig:
        """Build a config from a JSON-like dict, overriding ``base`` (default: the defaults).

        Raises
        ------
        ValueError
            Unknown key (the message lists the known ones) or out-of-range value.
        TypeError
            Wrong type (e.g. a string where a list of numbers is expected).
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"config must be a JSON object of settings; got {type(data).__name__}.")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"config has unknown key {unknown[0]!r}; known keys: {', '.join(known)}.")
        merged = {f.name: getattr(base or cls(), f.name) for f in fields(cls)}
        for key, value in data.items():
            default = merged[key]
            if key == "lr_range_by_optimizer":
                merged[key] = value  # a JSON object; validated in __post_init__
                continue
            if isinstance(default, tuple) and not isinstance(value, (list, tuple)):
                raise TypeError(f"{key} must be a list; got {type(value).__name__}.")
            if isinstance(default, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise TypeError(f"{key} must be a number; got {short_repr(value)} ({type(value).__name__}).")
            if (
                isinstance(default, int)
                and not isinstance(default, bool)
                and (isinstance(value, bool) or not isinstance(value, int))
            ):
                raise TypeError(f"{key} must be an int; got {short_repr(value)} ({type(value).__name__}).")
            if isinstance(default, str) and not isinstance(value, str):
                raise TypeError(f"{key} must be a string; got {short_repr(value)} ({type(value).__name__}).")
            merged[key] = tuple(value) if isinstance(value, list) else value
        return cls(**merged)

    def digest(self) -> str:
        """Short hash of the settings (names a study directory the app creates)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]


# ------------------------------------------------------------------------------------------------ plan
@dataclass(frozen=True)
class EdgeEstimate:
    """Stability edge of one (optimizer, depth) from the initial operator (module docstring).

    Attributes
    ----------
    optimizer : str
    depth : int
        Weight layers.
    lr_edge : float
        Median over seeds of ``eta_edge`` (learning rate at which ``sharpness_ratio(J_0) = 1``).
    seeds : ndarray of shape (n_seeds,), int
    lr_edge_by_seed : ndarray of shape (n_seeds,)
    sharpness0 : ndarray of shape (n_seeds,)
        Initial (preconditioned, for adaptive methods) sharpness the threshold is compared with.
    """

    optimizer: str
    depth: int
    lr_edge: float
    seeds: np.ndarray
    lr_edge_by_seed: np.ndarray
    sharpness0: np.ndarray


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid.

    Attributes
    ----------
    key : str
        Hash of the settings (cache file stem).
    optimizer : str
    depth : int
        Weight layers.
    seed : int
    lr : float
    lr_factor : float
        ``lr / eta_edge``.
    conventions : tuple of str
        Convention labels analysed (first = native).
    train : TrainConfig
    """

    key: str
    optimizer: str
    depth: int
    seed: int
    lr: float
    lr_factor: float
    conventions: tuple[str, ...]
    train: Any

    def as_dict(self) -> dict:
        """JSON-ready description (train config as a dict)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "train"}
        d["conventions"] = list(self.conventions)
        d["train"] = asdict(self.train)
        return d


@dataclass(frozen=True)
class StudyPlan:
    """The grid of a study: stability edges and run specifications, in grid order.

    Attributes
    ----------
    config : StudyConfig
    edges : tuple of EdgeEstimate
        One per (optimizer, depth).
    runs : tuple of RunSpec
        Ordered optimizer, depth, learning rate, seed.
    """

    config: StudyConfig
    edges: tuple[EdgeEstimate, ...]
    runs: tuple[RunSpec, ...]


def _run_key(train_config: Any, conventions: tuple[str, ...]) -> str:
    payload = json.dumps({"v": CACHE_VERSION, "train": asdict(train_config), "conv": list(conventions)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def stability_edge(config: StudyConfig, optimizer: str, depth: int) -> EdgeEstimate:
    """Stability edge ``eta_edge`` of (``optimizer``, ``depth``) from the initial operator of each seed.

    Parameters
    ----------
    config : StudyConfig
    optimizer : str
        One of ``config.optimizers``' choices (:data:`STUDY_OPTIMIZERS`).
    depth : int
        Weight layers (2..5).

    Returns
    -------
    EdgeEstimate
    """
    from nnspec_core.spectra import operator_diagnostics
    from nnspec_core.training import Trainer

    check_choice(optimizer, "optimizer", STUDY_OPTIMIZERS)
    depth = int(check_scalar(depth, "depth", min_val=2, max_val=5, integer=True))
    edges, sharp = [], []
    with _torch_single_thread():
        for seed in config.seeds:
            lr_ref = 1.0
            op, _ = Trainer(config.train_config(optimizer, depth, seed=seed, lr=lr_ref, steps=0)).current_operator()
            dg = operator_diagnostics(op)
            ratio = float(dg.sharpness_ratio)
            edges.append(lr_ref / ratio if ratio > 0 and math.isfinite(ratio) else math.nan)
            sharp.append(float(dg.sharpness))
    e = np.array(edges)
    if not np.isfinite(e).any():
        raise ValueError(f"the stability edge of {optimizer} at depth {depth} is undefined (initial sharpness <= 0).")
    return EdgeEstimate(
        optimizer=optimizer,
        depth=depth,
        lr_edge=float(np.nanmedian(e)),
        seeds=np.array(config.seeds, dtype=np.int64),
        lr_edge_by_seed=e,
        sharpness0=np.array(sharp),
    )


def plan_study(config: StudyConfig) -> StudyPlan:
    """Stability edges and the grid of runs of ``config`` (no training; one Hessian per optimizer x depth x seed).

    Returns
    -------
    StudyPlan
        Runs ordered by optimizer, depth, learning rate, seed; learning rates are
        ``geomspace(lr_range) * eta_edge`` or ``config.lrs``.
    """
    if not isinstance(config, StudyConfig):
        raise TypeError(f"config must be a StudyConfig; got {type(config).__name__}.")
    edges, runs = [], []
    for opt in config.optimizers:
        convs = config.conventions_for(opt)
        for depth in config.depths:
            edge = stability_edge(config, opt, depth)
            edges.append(edge)
            if config.lrs:
                lrs = np.array(sorted(config.lrs))
            else:
                lo, hi = config.lr_range_for(opt)
                lrs = edge.lr_edge * np.geomspace(lo, hi, config.n_lrs)
            for lr in lrs:
                lr = float(f"{lr:.6g}")  # short, stable keys
                for seed in config.seeds:
                    tc = config.train_config(opt, depth, seed=seed, lr=lr)
                    runs.append(RunSpec(_run_key(tc, convs), opt, depth, seed, lr, lr / edge.lr_edge, convs, tc))
    return StudyPlan(config=config, edges=tuple(edges), runs=tuple(runs))


# ------------------------------------------------------------------------------------------------ one run
@dataclass(frozen=True)
class RunResult:
    """Per-step results of one training run in every convention.

    Attributes
    ----------
    spec : RunSpec
    status : str
        ``"finished"`` or ``"diverged"`` (:class:`nnspec_core.training.TrainingResult`).
    diverged_step : int
        -1 if the run did not diverge.
    diverged_reason : str
    columns : dict of str to ndarray of shape (n_records,)
        ``step`` (int), ``loss``, ``loss_test``, ``grad_norm`` and ``"<convention>.<indicator>"`` for every
        convention of ``spec.conventions`` and indicator of :data:`STUDY_INDICATORS` (NaN where not analysed).
    n_failed : int
        Snapshots whose extra-convention analysis failed numerically (left NaN).
    seconds : float
        Wall time of training and analysis (not part of the reproducible results).
    """

    spec: RunSpec
    status: str
    diverged_step: int
    diverged_reason: str
    columns: dict
    n_failed: int = 0
    seconds: float = 0.0

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def n_records(self) -> int:
        return int(self.columns["step"].size)


def _convention_indicators(spec: RunSpec, snap: Any, label: str) -> dict[str, float]:
    from nnspec_core.spectra import operator_diagnostics
    from nnspec_core.training import snapshot_operator

    c = spec.train
    coords, scaling = CONVENTIONS[spec.optimizer][label]
    op = snapshot_operator(c, snap.H, snap.state, step=snap.step + 1, coords=coords, scaling=scaling)
    dg = operator_diagnostics(op)
    return {
        "kappa_V": float(dg.spectrum.kappa_V),
        "rho": float(dg.rho),
        "rho_plus": float(dg.rho_plus),
        "sharpness_ratio": float(dg.sharpness_ratio),
        "lambda_max_H": float(dg.lambda_max_H),
        "commutator": math.nan if dg.commutator is None else float(dg.commutator),
        "departure": float(dg.spectrum.departure),
    }


def train_run(spec: RunSpec) -> RunResult:
    """Train one run with per-step analysis and compute every convention's indicators from its snapshots.

    The trainer analyses the native convention (``spec.conventions[0]``); the others are rebuilt from the
    same snapshot (Hessian and optimizer state at ``theta_t``) with :func:`update_operator` and
    :func:`nnspec_core.spectra.operator_diagnostics`, so all conventions describe the same trajectory.

    Returns
    -------
    RunResult
    """
    from nnspec_core.training import train

    if not isinstance(spec, RunSpec):
        raise TypeError(f"spec must be a RunSpec; got {type(spec).__name__}.")
    t0 = time.perf_counter()
    res = train(spec.train)
    rec = res.columns()
    n = rec["step"].size
    cols: dict[str, np.ndarray] = {
        "step": rec["step"].astype(np.int64),
        "loss": rec["loss_train"],
        "loss_test": rec["loss_test"],
        "grad_norm": rec["grad_norm"],
    }
    native = spec.conventions[0]
    for ind in STUDY_INDICATORS:
        cols[f"{native}.{ind}"] = rec[ind].astype(np.float64)
    index = {int(s): i for i, s in enumerate(cols["step"])}
    n_failed = 0
    for label in spec.conventions[1:]:
        out = {ind: np.full(n, np.nan) for ind in STUDY_INDICATORS}
        for snap in res.snapshots:
            try:
                with np.errstate(all="ignore"):
                    vals = _convention_indicators(spec, snap, label)
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                n_failed += 1
                continue
            for ind, v in vals.items():
                out[ind][index[snap.step]] = v
        for ind in STUDY_INDICATORS:
            cols[f"{label}.{ind}"] = out[ind]
    return RunResult(
        spec=spec,
        status=res.status,
        diverged_step=int(res.diverged_step),
        diverged_reason=str(res.diverged_reason),
        columns=cols,
        n_failed=n_failed,
        seconds=time.perf_counter() - t0,
    )


# ------------------------------------------------------------------------------------------------ cache
class RunCache:
    """Directory of finished runs: ``<key>.npz`` (arrays, loaded without pickle) + ``<key>.json`` (metadata).

    The JSON is written last (atomically), so a run counts as cached only once both files are complete.
    Counters ``n_loaded`` / ``n_saved`` record what this instance did.
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.n_loaded = 0
        self.n_saved = 0

    def paths(self, key: str) -> tuple[Path, Path]:
        """``(npz, json)`` paths of ``key``."""
        return self.directory / f"{key}.npz", self.directory / f"{key}.json"

    def load(self, spec: RunSpec) -> RunResult | None:
        """The cached result of ``spec``, or None if absent, incomplete or written for other settings."""
        npz, js = self.paths(spec.key)
        if not (npz.exists() and js.exists()):
            return None
        try:
            meta = json.loads(js.read_text(encoding="utf-8"))
            if meta.get("cache_version") != CACHE_VERSION or meta.get("spec", {}).get("train") != asdict(spec.train):
                return None
            with np.load(npz, allow_pickle=False) as z:
                cols = {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            return None
        self.n_loaded += 1
        return RunResult(
            spec=spec,
            status=meta["status"],
            diverged_step=int(meta["diverged_step"]),
            diverged_reason=meta["diverged_reason"],
            columns=cols,
            n_failed=int(meta.get("n_failed", 0)),
            seconds=float(meta.get("seconds", 0.0)),
        )

    def save(self, result: RunResult) -> None:
        """Write ``result`` (npz first, then the JSON marker; both via atomic rename)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        npz, js = self.paths(result.key)
        tmp = npz.with_name(npz.stem + ".tmp.npz")
        np.savez(tmp, **result.columns)
        os.replace(tmp, npz)
        meta = {
            "cache_version": CACHE_VERSION,
            "key": result.key,
            "spec": result.spec.as_dict(),
            "status": result.status,
            "diverged_step": result.diverged_step,
            "diverged_reason": result.diverged_reason,
            "n_failed": result.n_failed,
            "seconds": result.seconds,
        }
        tmpj = js.with_suffix(".json.tmp")
        tmpj.write_text(json.dumps(meta, indent=1, allow_nan=False), encoding="utf-8")
        os.replace(tmpj, js)
        self.n_saved += 1


# ------------------------------------------------------------------------------------------------ execution
@dataclass(frozen=True)
class ProgressEvent:
    """Progress of :func:`execute_plan`, passed to the ``progress`` callback after every run.

    Attributes
    ----------
    done, total : int
        Runs finished (trained or loaded) and planned.
    n_cached, n_trained : int
    spec : RunSpec or None
        The run just finished (None for the initial event).
    elapsed : float
        Seconds since the start.
    """

    done: int
    total: int
    n_cached: int
    n_trained: int
    spec: RunSpec | None
    elapsed: float

    def describe(self) -> str:
        """One line such as ``[#####.....] 12/40 runs (3 cached) 0:41 elapsed, ~1:30 left``."""
        width = 24
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(round(width * frac)) + "." * (width - int(round(width * frac)))
        left = ""
        if self.n_trained and self.done < self.total:
            per = self.elapsed / max(self.n_trained, 1)
            left = f", ~{_clock(per * (self.total - self.done))} left"
        what = ""
        if self.spec is not None:
            what = f" | {self.spec.optimizer} depth {self.spec.depth} lr {self.spec.lr:.3g} seed {self.spec.seed}"
        return (
            f"[{bar}] {self.done}/{self.total} runs ({self.n_cached} cached) {_clock(self.elapsed)} elapsed{left}{what}"
        )


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


@contextlib.contextmanager
def _torch_single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread (tiny matrices: extra threads only contend), then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _worker(spec: RunSpec) -> RunResult:
    with _torch_single_thread():
        return train_run(spec)


def execute_plan(
    plan: StudyPlan,
    *,
    cache_dir: str | os.PathLike | None = None,
    jobs: int = 1,
    progress: Callable[[ProgressEvent], bool | None] | None = None,
) -> tuple[tuple[RunResult, ...], int, int, bool]:
    """Run (or load from the cache) every run of ``plan``.

    Parameters
    ----------
    plan : StudyPlan
    cache_dir : path, optional
        Run cache (:class:`RunCache`); finished runs are saved as soon as they finish, so an interrupted
        or cancelled study resumes. None: nothing is read or written.
    jobs : int
        Worker processes (1 = in this process).
    progress : callable, optional
        Called with a :class:`ProgressEvent` after each run; returning ``False`` cancels: no further runs
        start, runs already running finish and are kept.

    Returns
    -------
    (runs, n_trained, n_cached, cancelled)
        ``runs`` holds the finished runs in plan order (all of them unless cancelled).
    """
    jobs = int(check_scalar(jobs, "jobs", min_val=1, max_val=256, integer=True))
    cache = RunCache(cache_dir) if cache_dir is not None else None
    t0 = time.perf_counter()
    done: dict[str, RunResult] = {}
    todo = []
    for spec in plan.runs:
        hit = cache.load(spec) if cache is not None else None
        if hit is not None:
            done[spec.key] = hit
        else:
            todo.append(spec)
    n_cached = len(done)
    state = {"trained": 0, "cancelled": False}

    def finish(result: RunResult | None, spec: RunSpec | None) -> bool:
        if result is not None:
            done[result.key] = result
            state["trained"] += 1
            if cache is not None:
                cache.save(result)
        ev = ProgressEvent(len(done), len(plan.runs), n_cached, state["trained"], spec, time.perf_counter() - t0)
        if progress is not None and progress(ev) is False:
            state["cancelled"] = True
        return not state["cancelled"]

    if finish(None, None) and todo:
        if jobs == 1 or len(todo) == 1:
            for spec in todo:
                if not finish(_worker(spec), spec):
                    break
        else:
            _execute_pool(todo, jobs, finish)
    runs = tuple(done[s.key] for s in plan.runs if s.key in done)
    return runs, state["trained"], n_cached, bool(state["cancelled"] and len(runs) < len(plan.runs))


def _execute_pool(todo: list[RunSpec], jobs: int, finish: Callable[[RunResult, RunSpec], bool]) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")  # torch + fork can deadlock in OpenMP
    pending = list(reversed(todo))
    with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx) as pool:
        running = {}
        go_on = True
        while pending and len(running) < jobs:
            spec = pending.pop()
            running[pool.submit(_worker, spec)] = spec
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                spec = running.pop(fut)
                go_on = finish(fut.result(), spec) and go_on
                if go_on and pending:
                    nxt = pending.pop()
                    running[pool.submit(_worker, nxt)] = nxt


# ------------------------------------------------------------------------------------------------ tables
def run_table(runs: Sequence[RunResult]) -> dict[str, np.ndarray]:
    """The run table of ``runs`` (module docstring; columns :data:`RUN_TABLE_COLUMNS`).

    Parameters
    ----------
    runs : sequence of RunResult

    Returns
    -------
    dict of str to ndarray of shape (n_rows,)
        One row per (run, convention, record), in run order then convention order then step.
    """
    parts: dict[str, list[np.ndarray]] = {c: [] for c in RUN_TABLE_COLUMNS}
    for r in runs:
        s = r.spec
        n = r.n_records
        for label in s.conventions:
            parts["run_id"].append(np.full(n, f"{s.key}/{label}"))
            parts["run_key"].append(np.full(n, s.key))
            parts["seed"].append(np.full(n, s.seed, dtype=np.int64))
            parts["lr"].append(np.full(n, s.lr))
            parts["lr_factor"].append(np.full(n, s.lr_factor))
            parts["optimizer"].append(np.full(n, s.optimizer))
            parts["depth"].append(np.full(n, s.depth, dtype=np.int64))
            parts["coords"].append(np.full(n, label))
            parts["step"].append(r.columns["step"].astype(np.int64))
            parts["loss"].append(r.columns["loss"].astype(np.float64))
            for ind in STUDY_INDICATORS:
                parts[ind].append(r.columns[f"{label}.{ind}"].astype(np.float64))
    if not parts["run_id"]:
        raise ValueError("runs must hold at least one finished run; got none.")
    return {c: np.concatenate(v) for c, v in parts.items()}


def _present_indicators(table: Mapping[str, np.ndarray]) -> tuple[str, ...]:
    return tuple(i for i in STUDY_INDICATORS if np.any(~np.isnan(table[i])))


def study_stats(table: Mapping[str, np.ndarray], config: StudyConfig) -> StudyStatistics:
    """Phase statistics of a run table under every rule of ``config`` (:func:`phase_stats.study_statistics`).

    Indicators never analysed anywhere in the table (e.g. ``commutator`` in a study without adaptive
    optimizers) are left out; ``commutator`` rows of non-adaptive groups carry phase_stats' "not analysed" note.
    """
    cols = {c: table[c] for c in ("run_id", "seed", "lr", "optimizer", "depth", "coords", "step", "loss")}
    inds = _present_indicators(table)
    cols.update({i: table[i] for i in inds})
    return study_statistics(cols, indicators=inds, rules=config.rules, config=config.stats_config())


def run_phases(table: Mapping[str, np.ndarray], rule: LabelRule) -> dict[str, tuple[str, dict[str, int]]]:
    """Whole-run phase of every run key under ``rule``: ``{run_key: (phase, window_counts)}``.

    ``"diverged"`` if the loss curve has a non-finite value or a divergence window, else ``"unstable"`` if
    any window is unstable, ``"stable"`` if every window is stable, otherwise ``"ambiguous"``.
    Labels use each run's loss curve once (the conventions of a run share it).
    """
    from nnspec_core.phases import label_steps

    out: dict[str, tuple[str, dict[str, int]]] = {}
    keys, rid = table["run_key"], table["run_id"]
    for key in dict.fromkeys(keys.tolist()):
        m = keys == key
        first = rid[m][0]
        mm = rid == first
        order = np.argsort(table["step"][mm], kind="stable")
        lab = label_steps(table["loss"][mm][order], rule)
        counts = lab.window_counts()
        if np.any(lab.window_reason == "divergence"):
            phase = "diverged"
        elif counts["unstable"]:
            phase = "unstable"
        elif counts["ambiguous"] == 0:
            phase = "stable"
        else:
            phase = "ambiguous"
        out[key] = (phase, counts)
    return out


# ------------------------------------------------------------------------------------------------ claims
#: Columns of ``claims.csv``.
CLAIM_COLUMNS = (
    "claim",
    "indicator",
    "optimizer",
    "depth",
    "coords",
    "rule",
    "n_runs",
    "ratio",
    "ratio_low",
    "ratio_high",
    "auroc",
    "auroc_low",
    "auroc_high",
    "auroc_within_lr",
    "auroc_within_lr_low",
    "auroc_within_lr_high",
    "incr_verdict",
    "loro_flag",
    "verdict",
    "verdicts_by_rule",
)
_CLAIM_RHO = "ρ(J) does not separate stable from unstable phases"
_CLAIM_KAPPA = "κ(V) separates the phases by ≈10× (median unstable / median stable)"
_CLAIM_ADDS = "κ(V) adds information beyond ρ, ρ₊, sharpness and η"
#: The band counted as "≈10×": within half a decade of 10.
TEN_X_BAND = (10**0.5, 10**1.5)


@dataclass(frozen=True)
class ClaimRow:
    """The paper's claim beside what the study measured, for one (optimizer, depth, convention).

    Figures are those of the primary rule; ``verdicts_by_rule`` repeats the verdict under every rule.

    Verdicts (95 % CIs from the run bootstrap):

    * ρ(J) does not separate: ``"holds"`` if the pooled AUROC CI and the within-learning-rate AUROC CI
      (when defined) both contain 0.5; ``"does not hold"`` if either excludes 0.5.
    * κ(V) separates by ≈10×: ``"holds"`` if the ratio CI lies above 1, the AUROC CI above 0.5 and the
      ratio CI meets the band [10^0.5, 10^1.5] ≈ [3.2, 32]; ``"partly"`` if it separates (ratio CI > 1,
      AUROC CI > 0.5) but the ratio CI misses the band; ``"does not hold"`` otherwise.
    * κ(V) adds information: ``"holds"`` if the held-out log-loss improvement CI lies above 0
      (phase_stats' incremental value, leave-one-seed-out), else ``"does not hold"``.
    * ``"undetermined"`` when the figure or its CI is NaN (e.g. one phase missing); the notes say why.
    """

    claim: str
    indicator: str
    optimizer: str
    depth: str
    coords: str
    rule: str
    n_runs: int
    ratio: float
    ratio_low: float
    ratio_high: float
    auroc: float
    auroc_low: float
    auroc_high: float
    auroc_within_lr: float
    auroc_within_lr_low: float
    auroc_within_lr_high: float
    incr_verdict: str
    loro_flag: bool
    verdict: str
    verdicts_by_rule: str


#: ClaimRow fields taken as they are from the primary rule's StatRow (all but the claim and its verdicts).
_CLAIM_FROM_STAT = tuple(f.name for f in fields(ClaimRow) if f.name not in ("claim", "verdict", "verdicts_by_rule"))


def _contains(lo: float, hi: float, x: float) -> bool:
    return lo <= x <= hi


def _verdict(claim: str, r: StatRow) -> str:
    if claim == _CLAIM_ADDS:
        return {"adds": "holds", "does not add": "does not hold"}.get(r.incr_verdict, "undetermined")
    if math.isnan(r.auroc_low) or math.isnan(r.auroc_high):
        return "undetermined"
    if claim == _CLAIM_RHO:
        ok = _contains(r.auroc_low, r.auroc_high, 0.5)
        if not math.isnan(r.auroc_within_lr_low):
            ok = ok and _contains(r.auroc_within_lr_low, r.auroc_within_lr_high, 0.5)
        return "holds" if ok else "does not hold"
    if math.isnan(r.ratio_low):
        return "undetermined"
    separates = r.ratio_low > 1.0 and r.auroc_low > 0.5
    if not separates:
        return "does not hold"
    in_band = r.ratio_high >= TEN_X_BAND[0] and r.ratio_low <= TEN_X_BAND[1]
    return "holds" if in_band else "partly"


def claims_table(stats: StudyStatistics) -> tuple[ClaimRow, ...]:
    """The paper's claims versus the measured figures, per (optimizer, depth, convention) (see :class:`ClaimRow`)."""
    primary = stats.rules[0].name
    by_key: dict[tuple, dict[str, StatRow]] = {}
    for r in stats.rows:
        by_key.setdefault((r.indicator, r.optimizer, r.depth, r.coords), {})[r.rule] = r
    out = []
    for claim, ind in ((_CLAIM_RHO, "rho"), (_CLAIM_KAPPA, "kappa_V"), (_CLAIM_ADDS, "kappa_V")):
        for (i, *_), per in by_key.items():
            if i != ind or primary not in per:
                continue
            r = per[primary]
            by_rule = "; ".join(f"{name}: {_verdict(claim, per[name])}" for name in per)
            copied = {name: getattr(r, name) for name in _CLAIM_FROM_STAT}  # its key, rule = primary, figures
            out.append(ClaimRow(claim=claim, verdict=_verdict(claim, r), verdicts_by_rule=by_rule, **copied))
    return tuple(out)


def _f(x: float, spec: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return format(x, spec)


def _ci(est: float, lo: float, hi: float, spec: str) -> str:
    return "n/a" if math.isnan(est) else f"{_f(est, spec)} [{_f(lo, spec)}, {_f(hi, spec)}]"


def claims_markdown(claims: Sequence[ClaimRow], *, rules: Sequence[LabelRule] = ()) -> str:
    """The claims table as Markdown: claim, setting, what was measured (with 95 % CIs), verdict."""
    lines = ["| paper's claim | optimizer | depth | convention | runs | ratio [95% CI] | AUROC [95% CI] "
             "| within-η AUROC [95% CI] | verdict | verdict per rule |", "|" + "---|" * 10]  # fmt: skip
    for c in claims:
        flag = " (LORO flag)" if c.loro_flag else ""
        extra = f" (incremental: {c.incr_verdict})" if c.claim == _CLAIM_ADDS else ""
        lines.append(
            f"| {c.claim} | {c.optimizer} | {c.depth} | {c.coords} | {c.n_runs} "
            f"| {_ci(c.ratio, c.ratio_low, c.ratio_high, '.3g')}{flag} "
            f"| {_ci(c.auroc, c.auroc_low, c.auroc_high, '.2f')} "
            f"| {_ci(c.auroc_within_lr, c.auroc_within_lr_low, c.auroc_within_lr_high, '.2f')} "
            f"| **{c.verdict}**{extra} | {c.verdicts_by_rule} |"
        )
    text = "\n".join(lines) + "\n"
    if rules:
        text += "\nPrimary rule: " + rules[0].describe() + "\n"
    text += (
        "\nVerdicts: ρ claim holds when the AUROC CIs (pooled and within each η) contain 0.5; κ(V) ≈10× holds "
        f"when the ratio CI > 1, the AUROC CI > 0.5 and the ratio CI meets [{TEN_X_BAND[0]:.2g}, {TEN_X_BAND[1]:.3g}]; "
        "'partly' = separates but not by ≈10×; 'adds' uses the leave-one-seed-out logistic model with and "
        "without κ(V).\n"
    )
    return text


# ------------------------------------------------------------------------------------------------ study
@dataclass(frozen=True)
class StudyResult:
    """A finished (or cancelled) study.

    Attributes
    ----------
    config : StudyConfig
    edges : tuple of EdgeEstimate
    runs : tuple of RunResult
        Finished runs in grid order.
    table : dict of str to ndarray of shape (n_rows,)
        Run table (:func:`run_table`).
    stats : StudyStatistics or None
        None if the study was cancelled before every run finished.
    claims : tuple of ClaimRow
    n_trained, n_cached, n_planned : int
    cancelled : bool
    directory : str
        Output directory ("" if none).
    """

    config: StudyConfig
    edges: tuple[EdgeEstimate, ...]
    runs: tuple[RunResult, ...]
    table: dict
    stats: StudyStatistics | None
    claims: tuple[ClaimRow, ...]
    n_trained: int
    n_cached: int
    n_planned: int
    cancelled: bool
    directory: str = ""

    def run(self, key: str) -> RunResult:
        """The run with settings hash ``key`` (ValueError if absent)."""
        for r in self.runs:
            if r.key == key:
                return r
        raise ValueError(f"key must be a run of this study; got {short_repr(key)}.")


def _check_out_dir(out: Path, config: StudyConfig, force: bool) -> None:
    """Refuse to overwrite a finished or different study unless ``force``."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"out must be a directory; {str(out)!r} is a file.")
    if force or not any(out.iterdir()):
        return
    meta = out / "study.json"
    if not meta.exists():
        raise ValueError(f"out directory {str(out)!r} exists and is not empty; use --force to write into it.")
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise ValueError(f"out directory {str(out)!r} holds an unreadable study.json; use --force.") from None
    if doc.get("config") != json.loads(json.dumps(config.to_dict())):
        raise ValueError(f"out directory {str(out)!r} holds a different study; use --force to overwrite it.")
    if doc.get("status") == "complete":
        raise ValueError(f"out directory {str(out)!r} already holds this finished study; use --force to redo it.")
    # an interrupted run of the same study: resume from its run cache


def run_study(
    config: StudyConfig,
    out_dir: str | os.PathLike | None = None,
    *,
    jobs: int = 1,
    force: bool = False,
    progress: Callable[[ProgressEvent], bool | None] | None = None,
    command: str = "",
) -> StudyResult:
    """Plan, run (resuming from ``out_dir/runs``), analyse and (if ``out_dir``) write a study.

    Parameters
    ----------
    config : StudyConfig
    out_dir : path, optional
        Output directory (created). An existing non-empty directory is refused unless it holds an
        interrupted run of the same study (then it resumes) or ``force`` is True (the run cache is still
        reused: runs are keyed by their settings).
    jobs : int
        Worker processes.
    force : bool
        Overwrite the results of a finished or different study in ``out_dir``.
    progress : callable, optional
        See :func:`execute_plan` (return False to cancel: finished runs stay in the cache).
    command : str
        The command line recorded in ``study.json`` (default: the equivalent ``--config`` command).

    Returns
    -------
    StudyResult
        ``stats`` is None if the study was cancelled.

    Raises
    ------
    ValueError
        Refused output directory (one line), invalid settings.
    """
    if not isinstance(config, StudyConfig):
        raise TypeError(f"config must be a StudyConfig; got {type(config).__name__}.")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        _check_out_dir(out, config, force)
    plan = plan_study(config)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config.to_dict(), indent=1) + "\n", encoding="utf-8")
        _write_meta(out, plan, status="running", command=command)
    runs, n_trained, n_cached, cancelled = execute_plan(
        plan, cache_dir=None if out is None else out / "runs", jobs=jobs, progress=progress
    )
    table = run_table(runs) if runs else {}
    stats = None if cancelled or not runs else study_stats(table, config)
    result = StudyResult(
        config=config,
        edges=plan.edges,
        runs=runs,
        table=table,
        stats=stats,
        claims=claims_table(stats) if stats is not None else (),
        n_trained=n_trained,
        n_cached=n_cached,
        n_planned=len(plan.runs),
        cancelled=cancelled,
        directory="" if out is None else str(out),
    )
    if out is not None:
        if stats is not None:
            write_study(result, out)
        _write_meta(out, plan, status="cancelled" if cancelled else "complete", command=command, result=result)
    return result


def _edge_dict(e: EdgeEstimate) -> dict:
    return {
        "optimizer": e.optimizer,
        "depth": e.depth,
        "lr_edge": e.lr_edge,
        "seeds": e.seeds.tolist(),
        "lr_edge_by_seed": [None if not math.isfinite(x) else x for x in e.lr_edge_by_seed.tolist()],
        "sharpness0": e.sharpness0.tolist(),
    }


def _write_meta(out: Path, plan: StudyPlan, *, status: str, command: str, result: StudyResult | None = None) -> None:
    cfg = plan.config
    doc = {
        "format": "nnspec-study-v1",
        "status": status,
        "config": cfg.to_dict(),
        "command": command or f"python -m nnspec_core study --config {out / 'config.json'} --out {out} --force",
        "rules": [r.describe() for r in cfg.rules],
        "edges": [_edge_dict(e) for e in plan.edges],
        "runs": [s.key for s in plan.runs],
        "n_planned": len(plan.runs),
    }
    if result is not None:
        doc.update(n_finished=len(result.runs), n_trained=result.n_trained, n_cached=result.n_cached)
    tmp = out / "study.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, out / "study.json")


def _csv_cell(x: Any) -> Any:
    if isinstance(x, (float, np.floating)):
        return repr(float(x)) if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    return x


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([_csv_cell(v) for v in row])


def write_study(result: StudyResult, out: str | os.PathLike) -> None:
    """Write the tables of a finished study into ``out`` (module docstring lists the files)."""
    if result.stats is None:
        raise ValueError("result must be a finished study with statistics; got a cancelled one.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rule = result.config.rules[0]
    labelled = label_run_table(result.table, rule)
    header = [*RUN_TABLE_COLUMNS, "phase", "phase_reason", "onset"]
    cols = [labelled[c] for c in header]
    _write_csv(out / "run_table.csv", header, list(zip(*cols, strict=True)))
    phases = run_phases(result.table, rule)
    rows = []
    for r in result.runs:
        s, loss = r.spec, r.columns["loss"]
        ph, counts = phases[s.key]
        rows.append(
            [s.key, s.optimizer, s.depth, s.seed, s.lr, s.lr_factor, r.status, r.diverged_step, r.n_records,
             float(loss[0]), float(loss[-1]), ph, counts["stable"], counts["unstable"], counts["ambiguous"],
             " ".join(s.conventions), round(r.seconds, 3)]
        )  # fmt: skip
    _write_csv(out / "runs.csv", RUNS_COLUMNS, rows)
    result.stats.to_csv(out / "results.csv")
    edges = "\n".join(
        f"- {e.optimizer}, depth {e.depth}: η_edge = {e.lr_edge:.4g} (median over seeds of the η at which "
        f"sharpness/threshold of J₀ = 1; initial sharpness median {np.median(e.sharpness0):.4g})"
        for e in result.edges
    )
    head = (
        f"# Phase study '{result.config.name}'\n\n{len(result.runs)} runs; stability edges:\n{edges}\n\n"
        "ratio = median(unstable) / median(stable) per step; run_id = run × state convention.\n\n"
    )
    (out / "results.md").write_text(head + result.stats.to_markdown(), encoding="utf-8")
    _write_csv(out / "claims.csv", CLAIM_COLUMNS, [[getattr(c, k) for k in CLAIM_COLUMNS] for c in result.claims])
    (out / "claims.md").write_text(claims_markdown(result.claims, rules=result.config.rules), encoding="utf-8")
    lead_rows = [
        [r.rule, r.indicator, r.optimizer, r.depth, r.coords, float(x)] for r in result.stats.rows for x in r.lead_times
    ]
    _write_csv(out / "lead_times.csv", ["rule", "indicator", "optimizer", "depth", "coords", "lead"], lead_rows)


# ------------------------------------------------------------------------------------------------ loading
def study_directories(root: str | os.PathLike) -> list[str]:
    """Names of the finished study directories directly under ``root`` (sorted; [] if ``root`` is absent)."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        meta = d / "study.json"
        if d.is_dir() and meta.is_file() and (d / "results.csv").is_file():
            try:
                if json.loads(meta.read_text(encoding="utf-8")).get("status") == "complete":
                    out.append(d.name)
            except (OSError, json.JSONDecodeError):
                continue
    return out


def _parse(value: str, kind: str) -> Any:
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return value == "True"
    return value


def _read_stats(out: Path, config: StudyConfig) -> StudyStatistics:
    kinds = {f.name: str(f.type) for f in fields(StatRow)}
    leads: dict[tuple, list[float]] = {}
    with open(out / "lead_times.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            key = (row["rule"], row["indicator"], row["optimizer"], row["depth"], row["coords"])
            leads.setdefault(key, []).append(float(row["lead"]))
    rows = []
    with open(out / "results.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if list(reader.fieldnames or []) != list(CSV_COLUMNS):
            raise ValueError(f"results.csv in {str(out)!r} does not have the expected columns.")
        for row in reader:
            vals = {k: _parse(row[k], kinds[k]) for k in kinds if k != "lead_times"}
            key = (vals["rule"], vals["indicator"], vals["optimizer"], vals["depth"], vals["coords"])
            rows.append(StatRow(**vals, lead_times=np.array(leads.get(key, []))))
    inds = tuple(dict.fromkeys(r.indicator for r in rows))
    return StudyStatistics(rows=tuple(rows), rules=config.rules, indicators=inds, config=config.stats_config())


def load_study(directory: str | os.PathLike) -> StudyResult:
    """Load a finished study written by :func:`run_study` (runs from the cache, statistics from results.csv).

    Raises
    ------
    ValueError
        If the directory does not hold a complete study (one line naming what is missing).
    """
    out = Path(directory)
    meta = out / "study.json"
    if not meta.is_file():
        raise ValueError(f"directory must hold a study (study.json); got {str(out)!r}.")
    doc = json.loads(meta.read_text(encoding="utf-8"))
    if doc.get("status") != "complete":
        raise ValueError(f"directory must hold a finished study; {str(out)!r} has status {doc.get('status')!r}.")
    config = StudyConfig.from_dict(doc["config"])
    cache = RunCache(out / "runs")
    runs = []
    for key in doc["runs"]:
        _, js = cache.paths(key)
        spec_d = json.loads(js.read_text(encoding="utf-8"))["spec"]
        spec = _spec_from_dict(spec_d)
        r = cache.load(spec)
        if r is None:
            raise ValueError(f"directory {str(out)!r} is missing the cached run {short_repr(key)}.")
        runs.append(r)
    edges = tuple(
        EdgeEstimate(
            optimizer=e["optimizer"],
            depth=int(e["depth"]),
            lr_edge=float(e["lr_edge"]),
            seeds=np.array(e["seeds"], dtype=np.int64),
            lr_edge_by_seed=np.array([math.nan if x is None else x for x in e["lr_edge_by_seed"]], dtype=float),
            sharpness0=np.array(e["sharpness0"], dtype=float),
        )
        for e in doc["edges"]
    )
    stats = _read_stats(out, config)
    return StudyResult(
        config=config,
        edges=edges,
        runs=tuple(runs),
        table=run_table(runs),
        stats=stats,
        claims=claims_table(stats),
        n_trained=0,
        n_cached=len(runs),
        n_planned=int(doc["n_planned"]),
        cancelled=False,
        directory=str(out),
    )


def _spec_from_dict(d: Mapping[str, Any]) -> RunSpec:
    from nnspec_core.training import TrainConfig

    return RunSpec(
        key=d["key"],
        optimizer=d["optimizer"],
        depth=int(d["depth"]),
        seed=int(d["seed"]),
        lr=float(d["lr"]),
        lr_factor=float(d["lr_factor"]),
        conventions=tuple(d["conventions"]),
        train=TrainConfig(**d["train"]),
    )


# ------------------------------------------------------------------------------------------------ views
def find_row(
    result: StudyResult, *, indicator: str, optimizer: str, depth: Any, coords: str, rule: str | None = None
) -> StatRow | None:
    """The results-table row of (indicator, optimizer, depth, coords) under ``rule`` (default: primary)."""
    if result.stats is None:
        return None
    rule = rule or result.config.rules[0].name
    for r in result.stats.rows:
        if (r.rule, r.indicator, r.optimizer, r.depth, r.coords) == (rule, indicator, optimizer, str(depth), coords):
            return r
    return None


def _rule(result: StudyResult, rule: str | None) -> LabelRule:
    names = [r.name for r in result.config.rules]
    if rule is None:
        return result.config.rules[0]
    check_choice(rule, "rule", tuple(names))
    return result.config.rules[names.index(rule)]


def _group(result: StudyResult, optimizer: str, depth: Any, coords: str, rule: str | None) -> dict[str, np.ndarray]:
    t = result.table
    m = (t["optimizer"] == optimizer) & (t["depth"] == int(depth)) & (t["coords"] == coords)
    if not m.any():
        raise ValueError(f"no runs for optimizer {optimizer!r}, depth {depth}, convention {coords!r} in this study.")
    sub = {c: v[m] for c, v in t.items()}
    return label_run_table(sub, _rule(result, rule))


def phase_values(
    result: StudyResult, *, indicator: str, optimizer: str, depth: Any, coords: str, rule: str | None = None
) -> dict[str, np.ndarray]:
    """Indicator values of the analysed steps split by phase: ``{"stable": (n_s,), "unstable": (n_u,)}``."""
    check_choice(indicator, "indicator", STUDY_INDICATORS)
    lab = _group(result, optimizer, depth, coords, rule)
    v = lab[indicator].astype(float)
    ok = ~np.isnan(v)
    return {p: v[ok & (lab["phase"] == p)] for p in ("stable", "unstable")}


def roc_curves(
    result: StudyResult,
    *,
    indicators: Sequence[str],
    optimizer: str,
    depth: Any,
    coords: str,
    rule: str | None = None,
) -> dict[str, RocCurve]:
    """Pooled ROC curve (unstable = positive, larger = more unstable) of each indicator with both phases present."""
    lab = _group(result, optimizer, depth, coords, rule)
    out = {}
    for ind in indicators:
        check_choice(ind, "indicator", STUDY_INDICATORS)
        v = lab[ind].astype(float)
        keep = ~np.isnan(v) & (lab["phase"] != "ambiguous")
        y = lab["phase"][keep] == "unstable"
        if y.any() and (~y).any():
            out[ind] = roc_curve(v[keep], y)
    return out


@dataclass(frozen=True)
class RunGrid:
    """Runs of one (optimizer, depth) on the learning-rate x seed grid.

    Attributes
    ----------
    lrs : ndarray of shape (n_lr,)
    seeds : ndarray of shape (n_seed,), int
    phase : ndarray of shape (n_lr, n_seed), str
        Whole-run phase (:func:`run_phases`); "" where no run finished.
    keys : ndarray of shape (n_lr, n_seed), str
        Run keys ("" where missing).
    """

    lrs: np.ndarray
    seeds: np.ndarray
    phase: np.ndarray
    keys: np.ndarray

    def key_at(self, lr: float, seed: Any) -> str:
        """Key of the run at learning rate ``lr`` (matched to 1e-6 relative) and ``seed`` ("" if none)."""
        try:
            lr, seed = float(lr), int(float(seed))
        except (TypeError, ValueError):
            return ""
        i = np.flatnonzero(np.isclose(self.lrs, lr, rtol=1e-6, atol=0.0))
        j = np.flatnonzero(self.seeds == seed)
        return str(self.keys[i[0], j[0]]) if i.size and j.size else ""


def run_grid(result: StudyResult, *, optimizer: str, depth: Any, rule: str | None = None) -> RunGrid:
    """Whole-run phase of every run of (``optimizer``, ``depth``) on its (lr x seed) grid."""
    runs = [r for r in result.runs if r.spec.optimizer == optimizer and r.spec.depth == int(depth)]
    if not runs:
        raise ValueError(f"no runs for optimizer {optimizer!r} at depth {depth} in this study.")
    lrs = np.array(sorted({r.spec.lr for r in runs}))
    seeds = np.array(sorted({r.spec.seed for r in runs}), dtype=np.int64)
    phases = run_phases({c: result.table[c] for c in ("run_key", "run_id", "step", "loss")}, _rule(result, rule))
    ph = np.full((lrs.size, seeds.size), "", dtype=object)
    keys = np.full((lrs.size, seeds.size), "", dtype=object)
    for r in runs:
        i, j = int(np.searchsorted(lrs, r.spec.lr)), int(np.searchsorted(seeds, r.spec.seed))
        ph[i, j], keys[i, j] = phases[r.key][0], r.key
    return RunGrid(lrs=lrs, seeds=seeds, phase=ph.astype(str), keys=keys.astype(str))


@dataclass(frozen=True)
class Trajectory:
    """Loss and indicators of one run, for the Live-Training-style views.

    Attributes
    ----------
    key, optimizer : str
    depth, seed : int
    lr : float
    steps : ndarray of shape (n,), int
    loss : ndarray of shape (n,)
    unstable : ndarray of shape (n,), bool
        Steps in unstable windows under the rule.
    diverged_step : int
        -1 if none.
    indicators : dict of str to ndarray of shape (n,)
        ``"<convention>.<indicator>"`` as in :attr:`RunResult.columns`.
    """

    key: str
    optimizer: str
    depth: int
    seed: int
    lr: float
    steps: np.ndarray
    loss: np.ndarray
    unstable: np.ndarray
    diverged_step: int
    indicators: dict


def run_trajectory(result: StudyResult, key: str, *, rule: str | None = None) -> Trajectory:
    """Loss curve, unstable-window mask and per-convention indicators of run ``key``."""
    from nnspec_core.phases import label_steps

    r = result.run(key)
    lab = label_steps(r.columns["loss"], _rule(result, rule))
    inds = {k: v for k, v in r.columns.items() if "." in k}
    return Trajectory(
        key=key,
        optimizer=r.spec.optimizer,
        depth=r.spec.depth,
        seed=r.spec.seed,
        lr=r.spec.lr,
        steps=r.columns["step"],
        loss=r.columns["loss"],
        unstable=lab.label == "unstable",
        diverged_step=r.diverged_step,
        indicators=inds,
    )


# ------------------------------------------------------------------------------------------------ CLI
def add_cli_arguments(p: Any) -> None:
    """Arguments of ``python -m nnspec_core study`` (registered in :data:`nnspec_core.cli.SUBCOMMANDS`)."""
    from nnspec_core.study_presets import PRESETS

    p.add_argument("--preset", choices=tuple(PRESETS), default=None, help="named study (default: paper)")
    p.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="JSON (or YAML, if PyYAML is installed) object of StudyConfig settings; overrides --preset",
    )
    p.add_argument("--out", metavar="DIR", required=True, help="output directory (created; see --force)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument(
        "--force", action="store_true", help="write into an existing directory (cached runs are still reused)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")


def read_config_file(path: str, *, base: StudyConfig | None = None) -> StudyConfig:
    """A :class:`StudyConfig` from a JSON (or, with PyYAML installed, YAML) file overriding ``base``.

    Raises
    ------
    ValueError, TypeError
        Unreadable file, invalid JSON/YAML, unknown keys, wrong types or out-of-range values (one line).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"config {path!r} is not UTF-8 text.") from None
    except OSError as err:
        raise ValueError(f"config {path!r} cannot be read ({err.strerror or err}).") from None
    try:
        return _parse_config_text(p, path, text, base)
    except RecursionError:
        raise ValueError(f"config {path!r} is nested too deeply.") from None


def _parse_config_text(p: Path, path: str, text: str, base: StudyConfig | None) -> StudyConfig:
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise ValueError(f"config {path!r} is YAML but PyYAML is not installed; use JSON.") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"config {path!r} is not valid YAML: {str(err).splitlines()[0]}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"config {path!r} is not valid JSON: {err.msg} at line {err.lineno}.") from None
    try:
        return StudyConfig.from_dict(data, base=base)
    except (ValueError, TypeError) as err:
        msg = str(err)
        raise type(err)(f"config {path!r}: {msg if len(msg) <= 300 else msg[:300] + '…'}") from None


def run_cli(args: Any) -> int:
    """``python -m nnspec_core study``: run a study with a progress bar on stderr and write its tables."""
    import shlex
    import sys

    from nnspec_core.study_presets import PRESETS

    base = PRESETS[args.preset or "paper"]
    config = read_config_file(args.config, base=base) if args.config else base
    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1; got {args.jobs}.")
    tty = sys.stderr.isatty()

    def progress(ev: ProgressEvent) -> None:
        if args.quiet:
            return
        line = ev.describe()
        if tty:
            sys.stderr.write("\r" + line[:160].ljust(160) + ("\n" if ev.done == ev.total else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    parts = ["python -m nnspec_core study"]
    if args.preset:
        parts.append(f"--preset {args.preset}")
    if args.config:
        parts.append(f"--config {shlex.quote(args.config)}")
    parts += [f"--out {shlex.quote(args.out)}", f"--jobs {args.jobs}", "--force"]
    command = " ".join(parts)
    result = run_study(config, args.out, jobs=args.jobs, force=args.force, progress=progress, command=command)
    out = Path(args.out)
    print(f"{len(result.runs)} runs ({result.n_trained} trained, {result.n_cached} from cache) -> {out}")
    for name in ("results.md", "results.csv", "claims.md", "claims.csv", "run_table.csv", "runs.csv"):
        print(f"  {out / name}")
    print(claims_markdown(result.claims, rules=result.config.rules), end="")
    return 0


# ------------------------------------------------------------------------------------------------ display
def fmt_value(x: float, digits: int = 3) -> str:
    """Short display of a number: ``3.2e4`` style for large/small magnitudes, ``∞`` for inf, ``n/a`` for NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x != 0 and (abs(x) >= 10**digits or abs(x) < 10 ** -(digits - 1)):
        mant, exp = f"{x:.{digits - 2}e}".split("e")
        return f"{mant}e{int(exp)}"
    return f"{x:.{digits}g}"


def fmt_ci(est: float, low: float, high: float, digits: int = 3, *, fixed: bool = False) -> str:
    """``est [low, high]`` with :func:`fmt_value`, or ``digits`` decimals if ``fixed`` (``n/a`` for a NaN estimate)."""
    if est is None or (isinstance(est, float) and math.isnan(est)):
        return "n/a"

    def f(x: float) -> str:
        return f"{x:.{digits}f}" if fixed and math.isfinite(x) else fmt_value(x, digits)

    return f"{f(est)} [{f(low)}, {f(high)}]"


#: Display names of the optimizers.
OPTIMIZER_LABELS = {
    "gd": "GD",
    "heavy_ball": "heavy ball",
    "nesterov": "Nesterov",
    "rmsprop": "RMSProp",
    "adam": "Adam",
    "adamw": "AdamW",
}


def study_groups(result: StudyResult) -> list[tuple[str, int, str]]:
    """The (optimizer, depth, convention) groups of the run table, in grid order."""
    t = result.table
    seen = dict.fromkeys(zip(t["optimizer"].tolist(), t["depth"].tolist(), t["coords"].tolist(), strict=True))
    return [(str(o), int(d), str(c)) for o, d, c in seen]


def results_records(result: StudyResult, *, rule: str | None = None) -> list[dict[str, Any]]:
    """The results table under ``rule`` (default: primary) as display rows (formatted strings, CIs in brackets)."""
    rule = _rule(result, rule).name
    out = []
    for r in result.stats.rows if result.stats is not None else ():
        if r.rule != rule:
            continue
        lead = "n/a" if math.isnan(r.lead_median) else f"{r.lead_median:g} [{r.lead_q25:g}, {r.lead_q75:g}]"
        out.append(
            {
                "indicator": INDICATOR_LABELS.get(r.indicator, r.indicator),
                "optimizer": OPTIMIZER_LABELS.get(r.optimizer, r.optimizer),
                "depth": r.depth,
                "convention": r.coords,
                "runs": r.n_runs,
                "steps stable / unstable": f"{r.n_stable} / {r.n_unstable}",
                "ratio [95% CI]": fmt_ci(r.ratio, r.ratio_low, r.ratio_high),
                "AUROC [95% CI]": fmt_ci(r.auroc, r.auroc_low, r.auroc_high, 2, fixed=True),
                "within-η AUROC [95% CI]": fmt_ci(
                    r.auroc_within_lr, r.auroc_within_lr_low, r.auroc_within_lr_high, 2, fixed=True
                ),
                "lead time (steps)": f"{lead} ({r.n_detected}/{r.n_onsets})",
                "one run dominates?": f"yes: {r.loro_worst_run}" if r.loro_flag else "no",
                "adds beyond ρ, ρ₊, sharpness, η?": r.incr_verdict,
                "note": r.note,
            }
        )
    return out


def claims_records(claims: Sequence[ClaimRow]) -> list[dict[str, Any]]:
    """The claims table as display rows: the paper's claim beside what this study measured."""
    return [
        {
            "paper's claim": c.claim,
            "setting": f"{OPTIMIZER_LABELS.get(c.optimizer, c.optimizer)}, depth {c.depth}, {c.coords}",
            "runs": c.n_runs,
            "ratio [95% CI]": fmt_ci(c.ratio, c.ratio_low, c.ratio_high)
            + (" (one run dominates)" if c.loro_flag else ""),
            "AUROC [95% CI]": fmt_ci(c.auroc, c.auroc_low, c.auroc_high, 2, fixed=True),
            "within-η AUROC [95% CI]": fmt_ci(
                c.auroc_within_lr, c.auroc_within_lr_low, c.auroc_within_lr_high, 2, fixed=True
            ),
            "verdict": c.verdict,
            "verdict per labelling rule": c.verdicts_by_rule,
        }
        for c in claims
    ]


def study_command(result: StudyResult, *, relative: bool = False, config: str | None = None) -> str:
    """The command line that regenerates the study's tables (from its directory's ``config.json``).

    ``relative``: the study folder's name instead of its absolute path (run from the studies folder; the app
    never shows the server's paths). ``config``: another settings file instead of ``<folder>/config.json``
    (e.g. ``settings.json`` inside an export zip).
    """
    d = (Path(result.directory).name if relative else result.directory) or "STUDY_DIR"
    return f"python -m nnspec_core study --config {config or Path(d) / 'config.json'} --out {d} --force"


def study_figures(
    result: StudyResult,
    *,
    optimizer: str,
    depth: Any,
    coords: str,
    rule: str | None = None,
    indicators: Sequence[str] = ("kappa_V", "rho", "rho_plus", "sharpness_ratio"),
    selected: str | None = None,
    theme: Any = None,
) -> dict[str, Any]:
    """Plotly figures of one (optimizer, depth, convention) group (pure: no I/O).

    Returns a dict with ``"distributions"`` (indicator by phase, ratio and AUROC with CIs annotated),
    ``"roc"`` (if both phases occur), ``"lead_times"`` (if any spike was warned of), ``"run_grid"``
    (lr x seed coloured by whole-run phase; customdata ``[lr, seed, i, j]``) and, if ``selected`` is a run
    key, ``"loss"`` and ``"indicators"`` of that run (every convention's κ(V)).
    """
    from nnspec_core import figures as F
    from nnspec_core.theme import DEFAULT_THEME

    theme = DEFAULT_THEME if theme is None else theme
    rname = _rule(result, rule).name
    where = f"{OPTIMIZER_LABELS.get(optimizer, optimizer)}, depth {depth}, {coords} coordinates (rule {rname})"
    figs: dict[str, Any] = {}
    values, notes = {}, {}
    for ind in indicators:
        label = INDICATOR_LABELS[ind]
        v = phase_values(result, indicator=ind, optimizer=optimizer, depth=depth, coords=coords, rule=rname)
        if not (v["stable"].size or v["unstable"].size):
            continue
        values[label] = v
        row = find_row(result, indicator=ind, optimizer=optimizer, depth=depth, coords=coords, rule=rname)
        if row is not None:
            ci = "" if math.isnan(row.ratio_low) else f" [{fmt_value(row.ratio_low)}–{fmt_value(row.ratio_high)}]"
            auc = "n/a" if math.isnan(row.auroc) else f"{row.auroc:.2f}"
            notes[label] = f"ratio {fmt_value(row.ratio)}{ci}, AUROC {auc}"  # CIs of the AUROC: results table
    if values:
        figs["distributions"] = F.plot_phase_distributions(
            values,
            annotations=notes,
            phase_order=("stable", "unstable"),
            title=f"Indicators by phase: {where}",
            theme=theme,
        )
    curves = roc_curves(result, indicators=indicators, optimizer=optimizer, depth=depth, coords=coords, rule=rname)
    if curves:
        figs["roc"] = F.plot_roc(
            {INDICATOR_LABELS[k]: (c.fpr, c.tpr, c.auroc) for k, c in curves.items()},
            title=f"ROC, pooled over learning rates: {where}",
            theme=theme,
        )
    leads = {}
    for ind in indicators:
        row = find_row(result, indicator=ind, optimizer=optimizer, depth=depth, coords=coords, rule=rname)
        if row is not None and row.n_onsets:  # NaN = an onset the indicator did not warn of ("missed")
            missed = np.full(max(row.n_onsets - row.n_detected, 0), np.nan)
            leads[INDICATOR_LABELS[ind]] = np.concatenate([row.lead_times, missed])
    if leads:
        figs["lead_times"] = F.plot_lead_times(
            leads, title=f"Warning lead times before loss spikes: {where}", theme=theme
        )
    grid = run_grid(result, optimizer=optimizer, depth=depth, rule=rname)
    sel = None
    if selected is not None and selected in grid.keys:
        i, j = np.argwhere(grid.keys == selected)[0]
        sel = (int(i), int(j))
    figs["run_grid"] = F.plot_run_grid(
        grid.lrs,
        grid.seeds,
        grid.phase,
        selected=sel,
        title=f"Runs of {OPTIMIZER_LABELS.get(optimizer, optimizer)}, depth {depth}: click one to see its trajectory",
        theme=theme,
    )
    lo, hi = float(np.log10(grid.lrs.min())), float(np.log10(grid.lrs.max()))
    pad = max(0.08 * (hi - lo), 0.1)  # keep the extreme runs inside the plot area (clickable)
    figs["run_grid"].update_xaxes(range=[lo - pad, hi + pad])
    figs["run_grid"].update_layout(height=max(300, 150 + 36 * grid.seeds.size))  # room for the seed rows
    if sel is not None:
        figs.update(_trajectory_figures(result, selected, rname, theme))
    return figs


def _trajectory_figures(result: StudyResult, key: str, rule: str, theme: Any) -> dict[str, Any]:
    from nnspec_core import figures as F

    tr = run_trajectory(result, key, rule=rule)
    what = (
        f"{OPTIMIZER_LABELS.get(tr.optimizer, tr.optimizer)}, depth {tr.depth}, η = {fmt_value(tr.lr)}, seed {tr.seed}"
    )
    loss = F.plot_loss(
        tr.steps,
        tr.loss,
        unstable_mask=tr.unstable,
        diverged_step=tr.diverged_step if tr.diverged_step >= 0 else None,
        title=f"Loss of the selected run: {what}",
        uirevision=f"loss-{key}",
        theme=theme,
    )
    convs = result.run(key).spec.conventions
    series = {f"κ(V) {c}": tr.indicators[f"{c}.kappa_V"] for c in convs}
    first = convs[0]
    series.update(
        {
            "ρ(J)": tr.indicators[f"{first}.rho"],
            "ρ₊": tr.indicators[f"{first}.rho_plus"],
            "sharpness / threshold": tr.indicators[f"{first}.sharpness_ratio"],
        }
    )
    inds = F.plot_indicators(
        tr.steps,
        series,
        panels=[[f"κ(V) {c}" for c in convs], ["ρ(J)", "ρ₊"], ["sharpness / threshold"]],
        thresholds={"ρ(J)": 1.0, "sharpness / threshold": 1.0},
        title=f"Indicators of the selected run ({first} coordinates for ρ): {what}",
        uirevision=f"ind-{key}",
        theme=theme,
    )
    return {"loss": loss, "indicators": inds}
