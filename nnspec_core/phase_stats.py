"""Phase-study statistics: separation ratios, AUROC, cluster bootstrap, incremental value, LORO, lead times.

Everything works on plain numpy arrays or on a *run table*: a mapping of equal-length 1-D arrays, one row per
recorded step, with columns

``run_id``  run identifier (str or int); ``seed`` int; ``lr`` float (per step); ``step`` int; ``loss`` float
(NaN/inf allowed: divergence); optional ``optimizer`` str, ``depth`` int, ``coords`` str (state convention the
indicators were computed in); and one float column per indicator (``kappa_V``, ``rho``, ``rho_plus``,
``sharpness_ratio``, ``commutator``, ``departure``, ...; NaN where a step was not analysed, +inf allowed, e.g.
kappa(V) of a defective operator).

Conventions used throughout:

* the positive class is *unstable* (label 1), the negative class *stable* (label 0); ambiguous steps
  (see :mod:`nnspec_core.phases`) are excluded;
* a larger indicator value is taken to predict instability (an AUROC below 0.5 shows the opposite);
* separation ratio = median(unstable) / median(stable), defined for positive medians;
* confidence intervals are percentile intervals from a bootstrap that resamples *whole runs* (clusters) with
  replacement; replicates in which a statistic is undefined (e.g. one class missing) are dropped and counted;
* a figure that cannot be computed honestly is NaN and the row's ``note`` says why.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from nnspec_core._validation import check_scalar
from nnspec_core.phases import STANDARD_RULES, LabelRule, as_loss_vector, as_real_vector, label_steps

__all__ = [
    "auroc",
    "RocCurve",
    "roc_curve",
    "youden_threshold",
    "separation_ratio",
    "BootstrapCI",
    "cluster_bootstrap_ci",
    "LogisticFit",
    "fit_logistic",
    "predict_logistic",
    "IncrementalValue",
    "incremental_value",
    "LoroCheck",
    "leave_one_run_out",
    "lead_times",
    "RESERVED_COLUMNS",
    "DEFAULT_INDICATORS",
    "CSV_COLUMNS",
    "label_run_table",
    "StatsConfig",
    "StatRow",
    "StudyStatistics",
    "study_statistics",
]

#: Run-table columns that are not indicators.
RESERVED_COLUMNS = (
    "run_id",
    "seed",
    "lr",
    "optimizer",
    "depth",
    "coords",
    "step",
    "loss",
    "phase",
    "phase_reason",
    "onset",
)
_REQUIRED = ("run_id", "seed", "lr", "step", "loss")
#: Indicators reported by default (those present in the table; if none is, every float column that is not reserved).
DEFAULT_INDICATORS = ("kappa_V", "rho", "rho_plus", "sharpness_ratio", "commutator", "departure")
_GROUP_DEFAULTS = {"optimizer": "-", "depth": "-", "coords": "-"}
_BIG = np.finfo(float).max


def _quantiles(x: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """np.quantile (linear) that keeps +-inf entries out of the interpolation (inf - inf would give NaN)."""
    r = np.quantile(np.clip(x, -_BIG, _BIG), q)
    return np.where(r >= _BIG, np.inf, np.where(r <= -_BIG, -np.inf, r))


# ----------------------------------------------------------------------------------------------- validation
def _vector(x: ArrayLike, name: str, *, finite: bool = False, allow_nan: bool = True) -> np.ndarray:
    """Real float64 vector of shape (n,), n >= 1 (NaN allowed unless ``allow_nan`` is False)."""
    arr = as_real_vector(x, name, bool_ok=True, finite=finite)
    if not allow_nan and np.isnan(arr).any():
        raise ValueError(f"{name} must not contain NaN; got {int(np.isnan(arr).sum())} NaN entries.")
    return arr


def _labels(y: ArrayLike, n: int, name: str = "labels") -> np.ndarray:
    """Boolean vector of shape (n,) from bool or {0, 1} input (True = unstable)."""
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.size != n:
        raise ValueError(f"{name} must be a 1-D array of length {n}; got shape {arr.shape}.")
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "iuf" or not np.all(np.isin(arr, (0, 1))):
        raise ValueError(f"{name} must be boolean or 0/1; got values {np.unique(arr)[:5]!r}.")
    return arr.astype(bool)


def _groups(g: ArrayLike, n: int, name: str = "groups") -> np.ndarray:
    """Integer codes 0..G-1 of shape (n,) for arbitrary hashable group labels."""
    arr = np.asarray(g)
    if arr.ndim != 1 or arr.size != n:
        raise ValueError(f"{name} must be a 1-D array of length {n}; got shape {arr.shape}.")
    return np.unique(arr, return_inverse=True)[1].ravel()


# ----------------------------------------------------------------------------------------------- AUROC, ROC
def _auroc(s: np.ndarray, y: np.ndarray) -> float:
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return math.nan
    r = rankdata(s)  # average ranks for ties; +inf ranks last
    U = r[y].sum() - n1 * (n1 + 1) / 2.0
    return float(U / (n1 * n0))


def auroc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Exact area under the ROC curve, P(score_unstable > score_stable) + P(tie) / 2 (Mann-Whitney U / (n1 n0)).

    Parameters
    ----------
    scores : array_like of shape (n,)
        Real scores; +-inf allowed, NaN refused. Larger = more unstable.
    labels : array_like of shape (n,)
        Boolean or 0/1; True/1 = unstable (positive class).

    Returns
    -------
    float
        AUROC in [0, 1]; NaN if one class is empty.
    """
    s = _vector(scores, "scores", allow_nan=False)
    return _auroc(s, _labels(labels, s.size))


@dataclass(frozen=True)
class RocCurve:
    """ROC curve: predict unstable when ``score >= thresholds[k]``.

    Attributes
    ----------
    fpr, tpr : ndarray of shape (n_thresholds + 1,)
        False/true positive rates, starting at (0, 0) (threshold +inf, nothing flagged) and ending at (1, 1).
    thresholds : ndarray of shape (n_thresholds + 1,)
        ``inf`` followed by the distinct scores in decreasing order.
    auroc : float
        Area under the curve (trapezoid rule; equals :func:`auroc`).
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auroc: float


def _roc(s: np.ndarray, y: np.ndarray) -> RocCurve:
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    last = np.flatnonzero(np.append(s_sorted[1:] != s_sorted[:-1], True))  # last index of each tie group
    tp = np.cumsum(y_sorted)[last]
    fp = np.cumsum(~y_sorted)[last]
    n1, n0 = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    tpr = np.concatenate(([0.0], tp / n1))
    fpr = np.concatenate(([0.0], fp / n0))
    thr = np.concatenate(([np.inf], s_sorted[last]))
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0)) if y.any() and (~y).any() else math.nan
    return RocCurve(fpr=fpr, tpr=tpr, thresholds=thr, auroc=area)


def roc_curve(scores: ArrayLike, labels: ArrayLike) -> RocCurve:
    """ROC curve of ``scores`` for the unstable (True/1) class; see :class:`RocCurve`.

    Parameters
    ----------
    scores : array_like of shape (n,)
        Real scores (+-inf allowed, NaN refused); larger = more unstable.
    labels : array_like of shape (n,)
        Boolean or 0/1; True/1 = unstable.
    """
    s = _vector(scores, "scores", allow_nan=False)
    return _roc(s, _labels(labels, s.size))


def _youden(s: np.ndarray, y: np.ndarray) -> float:
    if not y.any() or y.all():
        return math.nan
    roc = _roc(s, y)
    J = roc.tpr - roc.fpr
    best = np.flatnonzero(J >= J.max() - 1e-12)[0]  # first (near-)maximum = highest threshold, fewest alarms
    return float(roc.thresholds[best])


def youden_threshold(scores: ArrayLike, labels: ArrayLike) -> float:
    """Threshold maximising Youden's J = TPR - FPR for the rule ``score >= threshold`` (ties: the highest).

    Parameters
    ----------
    scores : array_like of shape (n,)
        Real scores (NaN refused). labels : array_like of shape (n,), True/1 = unstable.

    Returns
    -------
    float
        One of the observed scores; ``inf`` (flag nothing) if no threshold beats chance (J <= 0);
        NaN if one class is empty.
    """
    s = _vector(scores, "scores", allow_nan=False)
    return _youden(s, _labels(labels, s.size))


def _median_ratio(v: np.ndarray, y: np.ndarray) -> float:
    if not y.any() or y.all():
        return math.nan
    mu, ms = np.median(v[y]), np.median(v[~y])
    if not (mu > 0 and ms > 0):
        return math.nan
    return float(mu / ms)


def separation_ratio(values: ArrayLike, labels: ArrayLike) -> float:
    """median(values[unstable]) / median(values[stable]).

    Parameters
    ----------
    values : array_like of shape (n,)
        Indicator values (+inf allowed, NaN refused).
    labels : array_like of shape (n,)
        Boolean or 0/1; True/1 = unstable.

    Returns
    -------
    float
        The ratio; NaN if a class is empty or a median is not positive (``inf / inf`` is NaN too).
    """
    v = _vector(values, "values", allow_nan=False)
    return _median_ratio(v, _labels(labels, v.size))


# ----------------------------------------------------------------------------------------------- bootstrap
@dataclass(frozen=True)
class BootstrapCI:
    """A point estimate with a percentile bootstrap confidence interval.

    Attributes
    ----------
    estimate : float
        Statistic on the full data.
    low, high : float
        Percentile interval bounds (NaN if it could not be formed; see ``note``).
    level : float
        Confidence level (e.g. 0.95).
    n_boot : int
        Replicates drawn. n_valid : int, replicates with a finite-or-infinite (non-NaN) statistic.
    n_clusters : int
        Number of clusters (runs) resampled.
    note : str
        Empty, or why the interval is NaN / what was dropped.
    """

    estimate: float
    low: float
    high: float
    level: float
    n_boot: int
    n_valid: int
    n_clusters: int
    note: str = ""


def _draws(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    """Resampled cluster indices of shape (n_boot, n_clusters)."""
    return np.random.default_rng(seed).integers(0, n_clusters, size=(n_boot, n_clusters))


def _counts(draws: np.ndarray, n_clusters: int) -> np.ndarray:
    """Times each cluster is drawn, shape (n_boot, n_clusters)."""
    B = draws.shape[0]
    flat = (draws + n_clusters * np.arange(B)[:, None]).ravel()
    return np.bincount(flat, minlength=B * n_clusters).reshape(B, n_clusters)


def _percentile_ci(estimate: float, reps: np.ndarray, *, level: float, n_clusters: int) -> BootstrapCI:
    valid = reps[~np.isnan(reps)]
    B = reps.size
    note = ""
    if math.isnan(estimate):
        low = high = math.nan
        note = "statistic undefined on the full data"
    elif n_clusters < 2:
        low = high = math.nan
        note = "fewer than 2 runs to resample"
    elif valid.size < max(0.5 * B, 2):
        low = high = math.nan
        note = f"statistic undefined in {B - valid.size} of {B} replicates"
    else:
        low, high = (float(x) for x in _quantiles(valid, [(1 - level) / 2, (1 + level) / 2]))
        if valid.size < B:
            note = f"{B - valid.size} of {B} replicates undefined (dropped)"
    return BootstrapCI(
        estimate=float(estimate),
        low=low,
        high=high,
        level=level,
        n_boot=B,
        n_valid=int(valid.size),
        n_clusters=n_clusters,
        note=note,
    )


def cluster_bootstrap_ci(
    data: ArrayLike | tuple[ArrayLike, ...],
    groups: ArrayLike,
    statistic: Callable[..., float],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> BootstrapCI:
    """Percentile bootstrap CI of ``statistic`` resampling whole clusters (runs) with replacement.

    Each replicate draws ``G`` cluster indices uniformly with replacement (``G`` = number of distinct
    ``groups``) and evaluates ``statistic`` on the concatenated rows of the drawn clusters (a cluster drawn
    twice contributes its rows twice). With singleton clusters this is the ordinary iid bootstrap.

    Parameters
    ----------
    data : array_like of shape (n, ...), or a tuple of such arrays
        Row-aligned data; a tuple's arrays are passed to ``statistic`` as separate arguments.
    groups : array_like of shape (n,)
        Cluster label of each row (any hashable values).
    statistic : callable
        ``statistic(*arrays) -> float``; may return NaN when undefined (such replicates are dropped).
    n_boot : int
        Number of replicates (>= 10).
    seed : int
        Seed of the numpy Generator (deterministic).
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    BootstrapCI
    """
    arrays = [np.asarray(d) for d in (data if isinstance(data, tuple) else (data,))]
    n = arrays[0].shape[0] if arrays[0].ndim else 0
    if n == 0 or any(a.ndim == 0 or a.shape[0] != n for a in arrays):
        raise ValueError(f"data must be non-empty arrays with equal first dimension; got {[a.shape for a in arrays]}.")
    if not callable(statistic):
        raise TypeError(f"statistic must be callable; got {type(statistic).__name__}.")
    n_boot = int(check_scalar(n_boot, "n_boot", min_val=10, integer=True))
    seed = int(check_scalar(seed, "seed", min_val=0, integer=True))
    level = float(check_scalar(level, "level", min_val=0.0, max_val=1.0, include_min=False, include_max=False))
    codes = _groups(groups, n)
    G = int(codes.max()) + 1
    members = [np.flatnonzero(codes == g) for g in range(G)]
    estimate = float(statistic(*arrays))
    reps = np.empty(n_boot)
    for b, row in enumerate(_draws(G, n_boot, seed)):
        idx = np.concatenate([members[g] for g in row])
        reps[b] = float(statistic(*(a[idx] for a in arrays)))
    return _percentile_ci(estimate, reps, level=level, n_clusters=G)


# Fast replicates for the study. A resample is fully described by the cluster counts W (n_boot, G): a
# statistic of the concatenated resample equals a count-weighted statistic of the original rows. Both are
# reduced to cluster-level quantities so a replicate costs O(G^2) or O(G log n), not O(n).


def _weighted_median(v_sorted: np.ndarray, c_sorted: np.ndarray, W: np.ndarray) -> np.ndarray:
    """np.median of the multiset {v_sorted[j] repeated W[b, c_sorted[j]] times}, per replicate; shape (n_boot,).

    The k-th smallest element is v_sorted[j] for the least j with C[b, j] > k, where
    C[b, j] = sum_c W[b, c] * M[c, j] and M[c, j] = #{i <= j : c_sorted[i] = c}; j is found by bisection.
    """
    B, G = W.shape
    n = v_sorted.size
    if n == 0:
        return np.full(B, np.nan)
    M = np.zeros((G, n), dtype=np.int32)
    M[c_sorted, np.arange(n)] = 1
    np.cumsum(M, axis=1, out=M)
    N = W @ M[:, -1]

    def kth(k: np.ndarray) -> np.ndarray:
        lo, hi = np.zeros(B, dtype=np.int64), np.full(B, n - 1, dtype=np.int64)
        while np.any(lo < hi):
            mid = (lo + hi) // 2
            above = np.einsum("bc,cb->b", W, M[:, mid]) > k
            active = lo < hi
            hi, lo = np.where(active & above, mid, hi), np.where(active & ~above, mid + 1, lo)
        return lo

    med = 0.5 * (v_sorted[kth((N - 1) // 2)] + v_sorted[kth(N // 2)])
    return np.where(N > 0, med, np.nan)


def _boot_ratio(v: np.ndarray, y: np.ndarray, codes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Separation ratio per replicate, shape (n_boot,) (NaN where undefined)."""
    meds = []
    for m in (y, ~y):
        order = np.argsort(v[m], kind="stable")
        meds.append(_weighted_median(v[m][order], codes[m][order], counts))
    mu, ms = meds
    with np.errstate(invalid="ignore", divide="ignore"):
        r = mu / ms
    return np.where((mu > 0) & (ms > 0), r, np.nan)


def _pair_matrix(s: np.ndarray, y: np.ndarray, codes: np.ndarray, G: int) -> np.ndarray:
    """K[c, d] = sum over unstable i in run c, stable j in run d of [s_i > s_j] + [s_i == s_j] / 2; (G, G)."""
    K = np.zeros((G, G))
    s_pos, c_pos = s[y], codes[y]
    for d in np.unique(codes[~y]):
        neg = np.sort(s[~y & (codes == d)])
        half_wins = np.searchsorted(neg, s_pos, "left") + np.searchsorted(neg, s_pos, "right")
        K[:, d] = 0.5 * np.bincount(c_pos, weights=half_wins, minlength=G)
    return K


def _boot_auroc(s, y, codes, counts, strata=None) -> np.ndarray:
    """Pooled (strata None) or pair-weighted within-stratum AUROC per replicate, shape (n_boot,).

    With cluster weights w (one replicate's counts), AUROC = w' K w / sum_h (w_h . P_h)(w_h . N_h), where K is
    :func:`_pair_matrix` restricted to pairs in the same stratum and P, N count unstable/stable rows per run.
    """
    G = counts.shape[1]
    strata = np.zeros(s.size, dtype=int) if strata is None else np.unique(strata, return_inverse=True)[1].ravel()
    H = int(strata.max()) + 1
    run_stratum = np.zeros(G, dtype=int)
    run_stratum[codes] = strata  # strata are run attributes (e.g. the learning rate)
    S = np.zeros((G, H))
    S[np.arange(G), run_stratum] = 1.0
    K = _pair_matrix(s, y, codes, G) * (run_stratum[:, None] == run_stratum[None, :])
    P = np.bincount(codes[y], minlength=G).astype(float)
    N = np.bincount(codes[~y], minlength=G).astype(float)
    W = counts.astype(float)
    num = np.einsum("bc,cd,bd->b", W, K, W)
    den = np.sum(((W * P) @ S) * ((W * N) @ S), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _within_auroc(
    s: np.ndarray, y: np.ndarray, strata: np.ndarray
) -> tuple[float, list[tuple[float, float, int, int]]]:
    """Pair-weighted within-stratum AUROC and per-stratum (stratum, auroc, n_unstable, n_stable)."""
    per, num, den = [], 0.0, 0
    for h in np.unique(strata):
        m = strata == h
        n1, n0 = int(y[m].sum()), int((~y[m]).sum())
        a = _auroc(s[m], y[m])
        per.append((float(h), a, n1, n0))
        if n1 and n0:
            num, den = num + a * n1 * n0, den + n1 * n0
    return (num / den if den else math.nan), per


# ----------------------------------------------------------------------------------------------- logistic
@dataclass(frozen=True)
class LogisticFit:
    """L2-regularised logistic regression on standardised features.

    Attributes
    ----------
    coef : ndarray of shape (p,)
        Coefficients of the standardised features ``(X - mean) / scale``.
    intercept : float
        Unpenalised intercept.
    mean, scale : ndarray of shape (p,)
        Standardisation fitted on the training rows (scale 1 for a constant feature).
    l2 : float
        Penalty ``l2 / 2 * ||coef||^2`` added to the summed log-loss.
    n_iter : int
        Newton iterations used. converged : bool, gradient norm below tolerance.
    """

    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    l2: float
    n_iter: int
    converged: bool


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))


def _fit_logistic(X: np.ndarray, y: np.ndarray, l2: float, max_iter: int = 100, tol: float = 1e-9) -> LogisticFit:
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    Z = np.column_stack([np.ones(X.shape[0]), (X - mean) / scale])  # (n, p + 1)
    pen = np.full(Z.shape[1], l2)
    pen[0] = 0.0
    yf = y.astype(float)
    beta = np.zeros(Z.shape[1])
    p0 = np.clip(yf.mean(), 1e-6, 1 - 1e-6)
    beta[0] = math.log(p0 / (1 - p0))

    def objective(b):
        t = Z @ b
        return np.sum(np.logaddexp(0.0, t) - yf * t) + 0.5 * np.sum(pen * b * b)

    f = objective(beta)
    converged, it = False, 0
    for it in range(1, max_iter + 1):  # noqa: B007
        p = _sigmoid(Z @ beta)
        g = Z.T @ (p - yf) + pen * beta
        if np.linalg.norm(g) <= tol * max(1.0, Z.shape[0]):
            converged = True
            break
        H = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(pen + 1e-10)
        step = np.linalg.solve(H, g)
        t = 1.0
        while t > 1e-8:  # backtracking keeps Newton monotone on separable data
            cand = beta - t * step
            fc = objective(cand)
            if fc <= f - 1e-4 * t * g @ step:
                break
            t *= 0.5
        beta, f = cand, fc
    return LogisticFit(
        coef=beta[1:].copy(), intercept=float(beta[0]), mean=mean, scale=scale, l2=l2, n_iter=it, converged=converged
    )


def fit_logistic(X: ArrayLike, y: ArrayLike, *, l2: float = 1.0, max_iter: int = 100) -> LogisticFit:
    """Fit P(unstable | x) = sigmoid(b0 + coef . (x - mean) / scale) by damped Newton iterations.

    Minimises ``sum_i logloss_i + l2 / 2 * ||coef||^2`` (intercept unpenalised), features standardised on
    the given rows.

    Parameters
    ----------
    X : array_like of shape (n, p)
        Finite features (p may be 0: intercept-only model).
    y : array_like of shape (n,)
        Boolean or 0/1 labels (True/1 = unstable).
    l2 : float
        Ridge penalty (> 0 keeps the problem strictly convex, also on separable data).
    max_iter : int
        Maximum Newton iterations.

    Returns
    -------
    LogisticFit
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array; got {X.ndim}-D array of shape {X.shape}.")
    if X.shape[0] == 0 or not np.all(np.isfinite(X)):
        raise ValueError(f"X must be a non-empty array of finite numbers; got shape {X.shape}.")
    yb = _labels(y, X.shape[0], "y")
    l2 = float(check_scalar(l2, "l2", min_val=0.0))
    max_iter = int(check_scalar(max_iter, "max_iter", min_val=1, integer=True))
    return _fit_logistic(X, yb, l2, max_iter)


def predict_logistic(fit: LogisticFit, X: ArrayLike) -> np.ndarray:
    """Predicted probabilities of shape (n,) for features ``X`` of shape (n, p)."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != fit.coef.size:
        raise ValueError(f"X must be a 2-D array with {fit.coef.size} columns; got shape {X.shape}.")
    return _sigmoid(fit.intercept + ((X - fit.mean) / fit.scale) @ fit.coef)


def _transform(x: np.ndarray) -> np.ndarray:
    """Feature transform: +inf -> largest finite value; log10 if all positive and max/min > 10."""
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return np.zeros_like(x)
    x = np.clip(x, finite.min(), finite.max())
    if finite.min() > 0 and finite.max() / finite.min() > 10:
        return np.log10(x)
    return x


@dataclass(frozen=True)
class IncrementalValue:
    """Held-out (leave-one-seed-out) value of a candidate feature in a logistic model.

    Attributes
    ----------
    candidate : str
        Feature tested. with_features, without_features : tuple of str, the two models' features.
    logloss_with, logloss_without : float
        Mean held-out log-loss (natural log) of the two models.
    auroc_with, auroc_without : float
        Held-out AUROC of the two models (predictions pooled over folds).
    delta : BootstrapCI
        ``mean(logloss_without - logloss_with)`` per held-out row, CI by run-cluster bootstrap;
        positive = the candidate improves prediction.
    verdict : str
        ``"adds"`` (CI low > 0), ``"does not add"`` (otherwise) or ``"n/a"`` (could not be computed).
    n_folds : int
        Seeds held out with a valid fit. n_rows : int, held-out rows scored.
    note : str
        Reason for NaN results, if any.
    """

    candidate: str
    with_features: tuple[str, ...]
    without_features: tuple[str, ...]
    logloss_with: float
    logloss_without: float
    auroc_with: float
    auroc_without: float
    delta: BootstrapCI
    verdict: str
    n_folds: int
    n_rows: int
    note: str = ""


def _loso_predictions(F: np.ndarray, y: np.ndarray, seeds: np.ndarray, l2: float) -> np.ndarray:
    """Leave-one-seed-out predicted probabilities of shape (n,) (NaN where a fold could not be fitted)."""
    pred = np.full(y.size, np.nan)
    for s in np.unique(seeds):
        test = seeds == s
        train = ~test
        if not (y[train].any() and (~y[train]).any()):
            continue
        pred[test] = predict_logistic(_fit_logistic(F[train], y[train], l2), F[test])
    return pred


def _incremental(
    feats: Mapping[str, np.ndarray],
    y: np.ndarray,
    *,
    candidate: str,
    base: tuple[str, ...],
    seeds: np.ndarray,
    runs: np.ndarray,
    l2: float,
    n_boot: int,
    seed: int,
    level: float,
) -> IncrementalValue:
    if candidate in base:
        with_f, without_f = base, tuple(f for f in base if f != candidate)
    else:
        with_f, without_f = (*base, candidate), base
    nan_ci = BootstrapCI(math.nan, math.nan, math.nan, level, 0, 0, 0, "not computed")

    def empty(note: str) -> IncrementalValue:
        return IncrementalValue(candidate, with_f, without_f, *(math.nan,) * 4, nan_ci, "n/a", 0, 0, note)

    if np.unique(seeds).size < 2:
        return empty("fewer than 2 seeds for leave-one-seed-out")
    if not (y.any() and (~y).any()):
        return empty("only one phase present")
    Fw = np.column_stack([_transform(feats[f]) for f in with_f])
    Fo = np.column_stack([_transform(feats[f]) for f in without_f]) if without_f else np.zeros((y.size, 0))
    pw, po = _loso_predictions(Fw, y, seeds, l2), _loso_predictions(Fo, y, seeds, l2)
    ok = ~np.isnan(pw) & ~np.isnan(po)
    if not ok.any():
        return empty("no fold had both phases in its training seeds")
    eps = 1e-12
    yk = y[ok]

    def ll(p: np.ndarray) -> np.ndarray:
        p = np.clip(p[ok], eps, 1 - eps)
        return -(yk * np.log(p) + (~yk) * np.log1p(-p))

    lw, lo = ll(pw), ll(po)
    d = lo - lw
    codes = _groups(runs[ok], d.size)
    G = int(codes.max()) + 1
    counts = _counts(_draws(G, n_boot, seed), G).astype(float)
    run_sum = np.bincount(codes, weights=d, minlength=G)  # (G,) per-run sums of d
    nrow = np.bincount(codes, minlength=G).astype(float)
    reps = (counts @ run_sum) / (counts @ nrow)
    ci = _percentile_ci(float(d.mean()), reps, level=level, n_clusters=G)
    verdict = "n/a" if math.isnan(ci.low) else ("adds" if ci.low > 0 else "does not add")
    return IncrementalValue(
        candidate=candidate,
        with_features=with_f,
        without_features=without_f,
        logloss_with=float(lw.mean()),
        logloss_without=float(lo.mean()),
        auroc_with=_auroc(pw[ok], yk),
        auroc_without=_auroc(po[ok], yk),
        delta=ci,
        verdict=verdict,
        n_folds=int(np.unique(seeds[ok]).size),
        n_rows=int(ok.sum()),
        note=ci.note,
    )


def incremental_value(
    features: Mapping[str, ArrayLike],
    labels: ArrayLike,
    *,
    candidate: str,
    base: Sequence[str],
    seeds: ArrayLike,
    runs: ArrayLike,
    l2: float = 1.0,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> IncrementalValue:
    """Does ``candidate`` improve a leave-one-seed-out logistic model of instability beyond ``base``?

    If ``candidate`` is not in ``base`` the models are ``base + [candidate]`` (with) and ``base`` (without);
    if it is, they are ``base`` and ``base`` minus ``candidate``. Features are transformed (+inf clipped to the
    largest finite value; log10 when all positive with max/min > 10) and standardised on each training fold.
    Each seed in turn is held out, both models are fitted (L2 penalty ``l2``) on the other seeds and score
    the held-out rows.

    Parameters
    ----------
    features : mapping of str to array_like of shape (n,)
        Feature columns (NaN refused; +inf allowed), must include ``candidate`` and ``base``.
    labels : array_like of shape (n,)
        True/1 = unstable.
    candidate : str
        Feature under test.
    base : sequence of str
        Baseline features (e.g. ``("rho", "rho_plus", "sharpness_ratio", "log_lr")``).
    seeds, runs : array_like of shape (n,)
        Seed of each row (folds) and run of each row (bootstrap clusters).
    l2 : float
        Ridge penalty on standardised coefficients.
    n_boot, seed, level
        Cluster-bootstrap settings for the log-loss difference.

    Returns
    -------
    IncrementalValue
    """
    y = _labels(labels, np.asarray(labels).size)
    n = y.size
    names = list(dict.fromkeys([*base, candidate]))
    for name in names:
        if name not in features:
            raise ValueError(f"features must contain {name!r}; got columns {sorted(features)}.")
    feats = {name: _vector(features[name], f"features[{name!r}]", allow_nan=False) for name in names}
    for name, col in feats.items():
        if col.size != n:
            raise ValueError(f"features[{name!r}] must have length {n}; got {col.size}.")
    return _incremental(
        feats,
        y,
        candidate=candidate,
        base=tuple(base),
        seeds=_groups(seeds, n, "seeds"),
        runs=_groups(runs, n, "runs"),
        l2=float(check_scalar(l2, "l2", min_val=0.0)),
        n_boot=int(check_scalar(n_boot, "n_boot", min_val=10, integer=True)),
        seed=int(check_scalar(seed, "seed", min_val=0, integer=True)),
        level=float(check_scalar(level, "level", min_val=0.0, max_val=1.0, include_min=False, include_max=False)),
    )


# ----------------------------------------------------------------------------------------------- LORO
@dataclass(frozen=True)
class LoroCheck:
    """Leave-one-run-out stability of the pooled separation ratio.

    Attributes
    ----------
    ratio : float
        Pooled ratio with all runs.
    run_ids : ndarray of shape (n_runs,)
        Runs, in sorted order. ratios_without : ndarray of shape (n_runs,), ratio with that run removed.
    flag : bool
        True if removing a single run changes the ratio by more than ``factor`` (either way), leaves a phase
        without data (the phase then rests on that one run), or moves the ratio across 1 while the pooled
        interval ``ci`` excludes 1 (without ``ci``: any crossing of 1).
    worst_run : str
        The run whose removal changes the ratio most (log scale), or that carries a phase alone.
    factor : float
        Threshold used. reason : str, why the flag was raised (empty if not).
    """

    ratio: float
    run_ids: np.ndarray
    ratios_without: np.ndarray
    flag: bool
    worst_run: str
    factor: float
    reason: str = ""


def _loro(v: np.ndarray, y: np.ndarray, runs: np.ndarray, factor: float, ci: tuple[float, float] | None) -> LoroCheck:
    ids = np.unique(runs)
    full = _median_ratio(v, y)
    without = np.array([_median_ratio(v[runs != r], y[runs != r]) for r in ids])
    if math.isnan(full):
        return LoroCheck(full, ids, without, False, "", factor, "pooled ratio undefined")
    lost = [
        r
        for r, x in zip(ids, without, strict=True)
        if math.isnan(x) and not (y[runs != r].any() and (~y[runs != r]).any())
    ]
    if lost:
        return LoroCheck(full, ids, without, True, str(lost[0]), factor, f"a phase rests on run {lost[0]} alone")
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.abs(np.log(without / full))
    change = np.where(np.isnan(change), np.inf, change)
    k = int(np.argmax(change))
    flips = (without > 1) != (full > 1)
    if ci is not None and not (ci[0] > 1 or ci[1] < 1):  # the pooled CI does not claim a side of 1
        flips[:] = False
    reason = ""
    if change[k] > math.log(factor):
        reason = f"removing run {ids[k]} changes the ratio {full:.3g} -> {without[k]:.3g}"
    elif flips.any():
        k = int(np.flatnonzero(flips)[0])
        reason = f"removing run {ids[k]} moves the ratio across 1 ({full:.3g} -> {without[k]:.3g})"
    return LoroCheck(full, ids, without, bool(reason), str(ids[k]), factor, reason)


def leave_one_run_out(
    values: ArrayLike,
    labels: ArrayLike,
    runs: ArrayLike,
    *,
    factor: float = 2.0,
    ci: tuple[float, float] | None = None,
) -> LoroCheck:
    """Flag a pooled separation ratio that is carried by a single run (see :class:`LoroCheck`).

    Parameters
    ----------
    values : array_like of shape (n,)
        Indicator values (NaN refused). labels : array_like of shape (n,), True/1 = unstable.
    runs : array_like of shape (n,)
        Run of each row.
    factor : float
        Flag when one removal changes the ratio by more than this factor (> 1).
    ci : (float, float), optional
        Pooled interval of the ratio; a crossing of 1 is flagged only if it excludes 1.

    Returns
    -------
    LoroCheck
    """
    v = _vector(values, "values", allow_nan=False)
    y = _labels(labels, v.size)
    r = np.asarray(runs)
    if r.shape != v.shape:
        raise ValueError(f"runs must be a 1-D array of length {v.size}; got shape {r.shape}.")
    if ci is not None:
        ci = (float(ci[0]), float(ci[1]))
    return _loro(v, y, r, float(check_scalar(factor, "factor", min_val=1.0, include_min=False)), ci)


# ----------------------------------------------------------------------------------------------- lead time
def _lead(steps: np.ndarray, scores: np.ndarray, onsets: np.ndarray, threshold: float) -> np.ndarray:
    leads = np.full(onsets.size, np.nan)
    prev = -np.inf
    for k, t0 in enumerate(onsets):
        idx = np.flatnonzero((steps <= t0) & (steps > prev) & ~np.isnan(scores))
        prev = t0
        if idx.size == 0 or not scores[idx[-1]] >= threshold:
            continue
        below = np.flatnonzero(scores[idx] < threshold)
        first = idx[below[-1] + 1] if below.size else idx[0]
        leads[k] = t0 - steps[first]
    return leads


def lead_times(steps: ArrayLike, scores: ArrayLike, onsets: ArrayLike, *, threshold: float) -> np.ndarray:
    """Steps by which an indicator alarm (``score >= threshold``) precedes each spike onset of one run.

    For an onset ``t0``, consider the analysed steps (non-NaN score) in ``(previous onset, t0]``. If the
    alarm is off at the last of them the onset is missed (NaN). Otherwise the alarm has been on
    continuously since some step ``t_c`` (the first step after its last ``score < threshold``, or the
    first considered step) and the lead time is ``t0 - t_c >= 0``.

    Parameters
    ----------
    steps : array_like of shape (n,)
        Step numbers, increasing.
    scores : array_like of shape (n,)
        Indicator per step (NaN = not analysed; +inf allowed).
    onsets : array_like of shape (n_onsets,)
        Spike-onset steps (same step numbering), e.g. from :func:`nnspec_core.phases.spike_onsets`.
    threshold : float
        Alarm threshold.

    Returns
    -------
    ndarray of shape (n_onsets,)
        Lead time in steps per onset; NaN where the alarm was off at the onset.
    """
    st = _vector(steps, "steps", finite=True)
    sc = _vector(scores, "scores")
    if sc.size != st.size:
        raise ValueError(f"scores must have length {st.size} (like steps); got {sc.size}.")
    if np.any(np.diff(st) <= 0):
        raise ValueError("steps must be strictly increasing; got a non-increasing pair.")
    on = np.sort(np.asarray(onsets, dtype=float).ravel())
    thr = float(threshold)
    if math.isnan(thr):
        raise ValueError("threshold must not be NaN; got nan.")
    return _lead(st, sc, on, thr)


# ----------------------------------------------------------------------------------------------- run table
def _check_table(table: Mapping[str, ArrayLike], group_by: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Validate a run table; return its columns sorted by (run_id, step), group columns filled with defaults."""
    if not isinstance(table, Mapping) and not hasattr(table, "keys"):
        raise TypeError(f"table must be a mapping of column name to 1-D array; got {type(table).__name__}.")
    missing = [c for c in _REQUIRED if c not in table.keys()]
    if missing:
        raise ValueError(f"table must have columns {', '.join(_REQUIRED)}; missing {', '.join(missing)}.")
    raw = {str(c): np.asarray(table[c]) for c in table.keys()}
    n = raw["loss"].shape[0] if raw["loss"].ndim == 1 else -1
    for c, a in raw.items():
        if a.ndim != 1 or a.shape[0] != n or n == 0:
            raise ValueError(
                f"table columns must be non-empty 1-D arrays of equal length; column {c!r} has shape "
                f"{a.shape}, loss has shape {raw['loss'].shape}."
            )
    cols = dict(raw)
    cols["run_id"] = raw["run_id"].astype(str)
    cols["loss"] = as_loss_vector(raw["loss"], "table['loss']")
    for c in ("seed", "step"):
        x = _vector(raw[c], f"table[{c!r}]", finite=True)
        if not np.all(x == np.round(x)):
            raise ValueError(f"table[{c!r}] must hold integers; got {x[x != np.round(x)][0]!r}.")
        cols[c] = x.astype(np.int64)
    cols["lr"] = _vector(raw["lr"], "table['lr']", finite=True)
    if np.any(cols["lr"] <= 0):
        raise ValueError(f"table['lr'] must be > 0; got minimum {cols['lr'].min():g}.")
    for c in group_by:
        cols[c] = raw[c] if c in raw else np.full(n, _GROUP_DEFAULTS.get(c, "-"))
    order = np.lexsort((cols["step"], cols["run_id"]))
    cols = {c: a[order] for c, a in cols.items()}
    rid = cols["run_id"]
    same_run = rid[1:] == rid[:-1]
    if np.any(same_run & (cols["step"][1:] == cols["step"][:-1])):
        k = int(np.flatnonzero(same_run & (cols["step"][1:] == cols["step"][:-1]))[0])
        raise ValueError(
            f"table has a repeated step {cols['step'][k]} in run {rid[k]!r}; steps must be unique per run."
        )
    for c in ("seed", "lr", *group_by):
        bad = same_run & (cols[c][1:] != cols[c][:-1])
        if np.any(bad):
            raise ValueError(
                f"table[{c!r}] must be constant within each run; run {rid[int(np.flatnonzero(bad)[0])]!r} "
                f"has several values."
            )
    return cols


def _indicator_names(cols: Mapping[str, np.ndarray], indicators: Sequence[str] | None) -> tuple[str, ...]:
    if indicators is None:
        names = [c for c in DEFAULT_INDICATORS if c in cols]
        if not names:
            names = [c for c, a in cols.items() if c not in RESERVED_COLUMNS and a.dtype.kind == "f"]
    else:
        if isinstance(indicators, str):
            raise TypeError("indicators must be a sequence of column names; got a single str.")
        names = list(dict.fromkeys(indicators))
        missing = [c for c in names if c not in cols or c in RESERVED_COLUMNS]
        if missing:
            raise ValueError(f"indicators must be indicator columns of the table; got unknown {missing}.")
    if not names:
        raise ValueError("table must have at least one indicator column; got none.")
    for c in names:
        cols[c] = _vector(cols[c], f"table[{c!r}]")  # type: ignore[index]
    return tuple(names)


@dataclass(frozen=True)
class _Labelled:
    phase: np.ndarray  # (n,) str
    reason: np.ndarray  # (n,) str
    onset: np.ndarray  # (n,) bool, row is a spike onset
    windows: dict  # run_id -> {"stable": k, "unstable": k, "ambiguous": k}


def _label_table(cols: Mapping[str, np.ndarray], rule: LabelRule) -> _Labelled:
    n = cols["loss"].size
    phase, reason = np.empty(n, dtype="<U9"), np.empty(n, dtype="<U12")
    onset = np.zeros(n, dtype=bool)
    windows = {}
    rid = cols["run_id"]
    bounds = np.flatnonzero(np.concatenate(([True], rid[1:] != rid[:-1], [True])))
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        lab = label_steps(cols["loss"][a:b], rule)
        phase[a:b], reason[a:b] = lab.label, lab.reason
        onset[a + lab.onsets] = True
        windows[rid[a]] = lab.window_counts()
    return _Labelled(phase, reason, onset, windows)


def label_run_table(table: Mapping[str, ArrayLike], rule: LabelRule = STANDARD_RULES[0]) -> dict[str, np.ndarray]:
    """Phase-label every run of a run table (loss curves taken per run in step order).

    Parameters
    ----------
    table : mapping of str to array_like of shape (n_rows,)
        Run table (module docstring); needs ``run_id``, ``seed``, ``lr``, ``step``, ``loss``.
    rule : LabelRule
        Labelling rule.

    Returns
    -------
    dict of str to ndarray of shape (n_rows,)
        The table's columns sorted by (run_id, step) with ``run_id`` as str, plus ``phase``
        ("stable"/"unstable"/"ambiguous"), ``phase_reason`` and ``onset`` (bool: a spike begins at this row).
    """
    if not isinstance(rule, LabelRule):
        raise TypeError(f"rule must be a LabelRule; got {type(rule).__name__}.")
    cols = _check_table(table, ())
    lab = _label_table(cols, rule)
    return {**cols, "phase": lab.phase, "phase_reason": lab.reason, "onset": lab.onset}


# ----------------------------------------------------------------------------------------------- study table
@dataclass(frozen=True)
class StatsConfig:
    """Settings of :func:`study_statistics` (every default lives here).

    Attributes
    ----------
    n_boot : int
        Cluster-bootstrap replicates per interval.
    seed : int
        Bootstrap seed (the same draws are used for every row; deterministic).
    level : float
        Confidence level of the intervals.
    loro_factor : float
        Leave-one-run-out flag threshold (ratio change factor).
    l2 : float
        Ridge penalty of the incremental-value logistic models (standardised features).
    base_features : tuple of str
        Baseline of the incremental-value models; ``"log_lr"`` is log10(lr); names absent from the table
        are left out (and noted).
    group_by : tuple of str
        Run-level columns that define the table's rows besides the indicator.
    """

    n_boot: int = 1000
    seed: int = 0
    level: float = 0.95
    loro_factor: float = 2.0
    l2: float = 1.0
    base_features: tuple[str, ...] = ("rho", "rho_plus", "sharpness_ratio", "log_lr")
    group_by: tuple[str, ...] = ("optimizer", "depth", "coords")

    def __post_init__(self) -> None:
        check_scalar(self.n_boot, "n_boot", min_val=10, integer=True)
        check_scalar(self.seed, "seed", min_val=0, integer=True)
        check_scalar(self.level, "level", min_val=0.0, max_val=1.0, include_min=False, include_max=False)
        check_scalar(self.loro_factor, "loro_factor", min_val=1.0, include_min=False)
        check_scalar(self.l2, "l2", min_val=0.0)
        for name in ("base_features", "group_by"):
            val = getattr(self, name)
            if isinstance(val, str) or not all(isinstance(v, str) for v in val):
                raise TypeError(f"{name} must be a tuple of str; got {val!r}.")
            object.__setattr__(self, name, tuple(val))


@dataclass(frozen=True)
class StatRow:
    """One row of the results table: one indicator in one (optimizer, depth, coords) group under one rule.

    Counts are over rows with the indicator analysed (non-NaN). ``ratio``/``auroc`` intervals are
    cluster-bootstrap (runs) percentile intervals; ``auroc_within_lr`` is the pair-weighted mean of the
    per-learning-rate AUROCs (``auroc_by_lr`` lists ``lr:auroc(n_unstable/n_stable)``); ``lead_*`` are over
    detected spike onsets with a leave-one-seed-out Youden threshold (``n_detected`` of ``n_onsets``);
    ``incr_*`` compare leave-one-seed-out logistic models with and without the indicator
    (``incr_delta`` = held-out log-loss without - with; ``incr_verdict`` "adds" when its CI is above 0).
    ``note`` says why any figure is NaN. ``lead_times`` (shape (n_detected,)) is kept for histograms.
    """

    rule: str
    indicator: str
    optimizer: str
    depth: str
    coords: str
    n_runs: int
    n_runs_stable: int
    n_runs_unstable: int
    n_stable: int
    n_unstable: int
    n_ambiguous: int
    n_windows_stable: int
    n_windows_unstable: int
    n_windows_ambiguous: int
    median_stable: float
    q25_stable: float
    q75_stable: float
    median_unstable: float
    q25_unstable: float
    q75_unstable: float
    ratio: float
    ratio_low: float
    ratio_high: float
    auroc: float
    auroc_low: float
    auroc_high: float
    auroc_within_lr: float
    auroc_within_lr_low: float
    auroc_within_lr_high: float
    auroc_by_lr: str
    loro_flag: bool
    loro_worst_run: str
    loro_min: float
    loro_max: float
    lead_median: float
    lead_q25: float
    lead_q75: float
    n_onsets: int
    n_detected: int
    incr_logloss_with: float
    incr_logloss_without: float
    incr_delta: float
    incr_delta_low: float
    incr_delta_high: float
    incr_auroc_with: float
    incr_auroc_without: float
    incr_verdict: str
    note: str
    lead_times: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)


#: Columns of :meth:`StudyStatistics.to_csv`, in order (rule parameters follow ``rule``).
CSV_COLUMNS = (
    "rule",
    "rise_factor",
    "horizon",
    "osc_fraction",
    "osc_amplitude",
    "noise_tol",
    "divergence_factor",
    *(f.name for f in fields(StatRow) if f.name not in ("rule", "lead_times")),
)


def _fmt(x: float, spec: str = ".3g") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _fmt_ci(est: float, lo: float, hi: float, spec: str) -> str:
    if math.isnan(est):
        return "n/a"
    return f"{_fmt(est, spec)} [{_fmt(lo, spec)}, {_fmt(hi, spec)}]"


@dataclass(frozen=True)
class StudyStatistics:
    """Results table of a phase study: :class:`StatRow` per rule x group x indicator, with the rules used.

    Attributes
    ----------
    rows : tuple of StatRow
    rules : tuple of LabelRule
        Rules the statistics were computed under (shown with the results).
    indicators : tuple of str
    config : StatsConfig
    """

    rows: tuple[StatRow, ...]
    rules: tuple[LabelRule, ...]
    indicators: tuple[str, ...]
    config: StatsConfig

    def to_records(self) -> list[dict]:
        """Rows as plain dicts with the columns :data:`CSV_COLUMNS`."""
        params = {r.name: r.as_dict() for r in self.rules}
        out = []
        for row in self.rows:
            d = {k: v for k, v in asdict(row).items() if k != "lead_times"}
            d.update({k: v for k, v in params[row.rule].items() if k in CSV_COLUMNS})
            out.append({c: d[c] for c in CSV_COLUMNS})
        return out

    def to_csv(self, path) -> None:
        """Write :meth:`to_records` to ``path`` as CSV (header = :data:`CSV_COLUMNS`; NaN written as ``nan``)."""
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(self.to_records())

    def to_markdown(self) -> str:
        """The table as a paper would print it: one section per rule, CIs in brackets, then the rule sensitivity."""
        pct = f"{100 * self.config.level:g}% CI"
        lines = [f"Confidence intervals: {pct}, bootstrap over whole runs ({self.config.n_boot} replicates)."]
        head = (
            f"| indicator | optimizer | depth | coords | runs | steps stable / unstable (ambiguous) "
            f"| ratio [{pct}] | AUROC [{pct}] | within-lr AUROC [{pct}] | lead time median [IQR] (detected/onsets) "
            f"| LORO | Δ log-loss [{pct}] |"
        )
        for rule in self.rules:
            lines += ["", f"### Rule {rule.describe()}", "", head, "|" + "---|" * 12]
            for r in (r for r in self.rows if r.rule == rule.name):
                lead = (
                    "n/a" if math.isnan(r.lead_median) else f"{r.lead_median:g} [{r.lead_q25:g}, {r.lead_q75:g}]"
                ) + f" ({r.n_detected}/{r.n_onsets})"
                loro = f"flag: {r.loro_worst_run}" if r.loro_flag else "ok"
                incr = _fmt_ci(r.incr_delta, r.incr_delta_low, r.incr_delta_high, ".3g") + f" {r.incr_verdict}"
                lines.append(
                    f"| {r.indicator} | {r.optimizer} | {r.depth} | {r.coords} | {r.n_runs} "
                    f"| {r.n_stable} / {r.n_unstable} ({r.n_ambiguous}) "
                    f"| {_fmt_ci(r.ratio, r.ratio_low, r.ratio_high, '.3g')} "
                    f"| {_fmt_ci(r.auroc, r.auroc_low, r.auroc_high, '.2f')} "
                    f"| {_fmt_ci(r.auroc_within_lr, r.auroc_within_lr_low, r.auroc_within_lr_high, '.2f')} "
                    f"| {lead} | {loro} | {incr} |"
                )
        lines += self._sensitivity_lines()
        notes = [
            f"- {r.rule} / {r.indicator} / {r.optimizer}, {r.depth}, {r.coords}: {r.note}" for r in self.rows if r.note
        ]
        if notes:
            lines += ["", "Notes:", *notes]
        return "\n".join(lines) + "\n"

    def _sensitivity_lines(self) -> list[str]:
        names = [r.name for r in self.rules]
        lines = ["", "### Sensitivity to the labelling rule (ratio / AUROC)", ""]
        lines.append("| indicator | optimizer | depth | coords | " + " | ".join(names) + " |")
        lines.append("|" + "---|" * (4 + len(names)))
        by_key: dict[tuple, dict[str, StatRow]] = {}
        for r in self.rows:
            by_key.setdefault((r.indicator, r.optimizer, r.depth, r.coords), {})[r.rule] = r
        for key, per in by_key.items():
            cells = [f"{_fmt(per[n].ratio)} / {_fmt(per[n].auroc, '.2f')}" if n in per else "-" for n in names]
            lines.append("| " + " | ".join(map(str, key)) + " | " + " | ".join(cells) + " |")
        return lines


def _quartiles(x: np.ndarray) -> tuple[float, float, float]:
    if x.size == 0:
        return math.nan, math.nan, math.nan
    q = _quantiles(x, [0.25, 0.5, 0.75])
    return float(q[0]), float(np.median(x)), float(q[2])


def _ratio_note(v: np.ndarray, y: np.ndarray) -> str:
    if not y.any():
        return "no unstable steps"
    if y.all():
        return "no stable steps"
    return "a phase median is not positive or both are infinite"


def _lead_stats(cols, lab: _Labelled, keep: np.ndarray, m: np.ndarray, ind: str) -> tuple[np.ndarray, int, str]:
    """Leave-one-seed-out Youden thresholds and lead times of all onsets in the group's runs."""
    v_all, seeds_all, rid = cols[ind], cols["seed"], cols["run_id"]
    y_all = lab.phase == "unstable"
    leads, n_onsets, skipped = [], 0, 0
    for s in np.unique(seeds_all[m]):
        train = keep & (seeds_all != s)
        thr = _youden(v_all[train], y_all[train]) if train.any() else math.nan
        for r in np.unique(rid[m & (seeds_all == s)]):
            in_run = m & (rid == r)
            on = cols["step"][lab.onset & (rid == r)]
            if math.isnan(thr):
                skipped += on.size
                continue
            n_onsets += on.size
            leads.append(_lead(cols["step"][in_run].astype(float), v_all[in_run], on.astype(float), thr))
    note = f"lead: {skipped} onsets without a held-out threshold" if skipped else ""
    leads_arr = np.concatenate(leads) if leads else np.zeros(0)
    return leads_arr[~np.isnan(leads_arr)], n_onsets, note


def _stat_row(cols, lab: _Labelled, gmask, gkey, ind: str, rule: LabelRule, cfg: StatsConfig, counts_cache) -> StatRow:
    notes: list[str] = []
    v_all = cols[ind]
    m = gmask & ~np.isnan(v_all)  # analysed rows of this group
    keep = m & (lab.phase != "ambiguous")
    v, y = v_all[keep], lab.phase[keep] == "unstable"
    rid = cols["run_id"][keep]
    codes = _groups(rid, rid.size) if rid.size else np.zeros(0, dtype=int)
    G = int(codes.max()) + 1 if codes.size else 0
    if G not in counts_cache:
        counts_cache[G] = _counts(_draws(max(G, 1), cfg.n_boot, cfg.seed), max(G, 1))
    counts = counts_cache[G]
    runs_in_group = np.unique(cols["run_id"][gmask])
    wins = {p: sum(lab.windows[r][p] for r in runs_in_group) for p in ("stable", "unstable", "ambiguous")}
    qs, qu = _quartiles(v[~y]), _quartiles(v[y])
    nan_ci = BootstrapCI(math.nan, math.nan, math.nan, cfg.level, 0, 0, G, "")

    def ci(est: float, boot: Callable[[], np.ndarray], label: str) -> BootstrapCI:
        out = _percentile_ci(est, boot(), level=cfg.level, n_clusters=G) if G and not math.isnan(est) else nan_ci
        if out.note and not math.isnan(est):
            notes.append(f"{label} CI: {out.note}")
        return out

    if not m.any():
        notes.append("indicator not analysed in this group (all NaN)")
    ratio = ci(_median_ratio(v, y), lambda: _boot_ratio(v, y, codes, counts), "ratio")
    if math.isnan(ratio.estimate) and m.any():
        notes.append(f"ratio: {_ratio_note(v, y)}")
    au = ci(_auroc(v, y) if v.size else math.nan, lambda: _boot_auroc(v, y, codes, counts), "AUROC")
    if math.isnan(au.estimate) and m.any():
        notes.append("AUROC: needs both phases")
    lr_codes = _groups(cols["lr"][keep], v.size) if v.size else codes
    w_est, per_lr = _within_auroc(v, y, cols["lr"][keep]) if v.size else (math.nan, [])
    wau = ci(w_est, lambda: _boot_auroc(v, y, codes, counts, lr_codes), "within-lr AUROC")
    if math.isnan(w_est) and m.any():
        notes.append("within-lr AUROC: no learning rate has both phases")
    by_lr = ";".join(f"{lr:g}:{_fmt(a, '.2f')}({n1}/{n0})" for lr, a, n1, n0 in per_lr)
    loro = _loro(v, y, rid, cfg.loro_factor, (ratio.low, ratio.high)) if v.size else None
    leads, n_onsets, lead_note = _lead_stats(cols, lab, keep, m, ind)
    if lead_note:
        notes.append(lead_note)
    lq = _quartiles(leads)
    inc = _row_incremental(cols, lab, keep, ind, cfg, notes)
    lw = loro.ratios_without[~np.isnan(loro.ratios_without)] if loro is not None else np.zeros(0)
    return StatRow(
        rule=rule.name,
        indicator=ind,
        optimizer=str(gkey[0]),
        depth=str(gkey[1]),
        coords=str(gkey[2]),
        n_runs=int(np.unique(cols["run_id"][m]).size),
        n_runs_stable=int(np.unique(rid[~y]).size),
        n_runs_unstable=int(np.unique(rid[y]).size),
        n_stable=int((~y).sum()),
        n_unstable=int(y.sum()),
        n_ambiguous=int((m & (lab.phase == "ambiguous")).sum()),
        n_windows_stable=wins["stable"],
        n_windows_unstable=wins["unstable"],
        n_windows_ambiguous=wins["ambiguous"],
        median_stable=qs[1],
        q25_stable=qs[0],
        q75_stable=qs[2],
        median_unstable=qu[1],
        q25_unstable=qu[0],
        q75_unstable=qu[2],
        ratio=ratio.estimate,
        ratio_low=ratio.low,
        ratio_high=ratio.high,
        auroc=au.estimate,
        auroc_low=au.low,
        auroc_high=au.high,
        auroc_within_lr=wau.estimate,
        auroc_within_lr_low=wau.low,
        auroc_within_lr_high=wau.high,
        auroc_by_lr=by_lr,
        loro_flag=bool(loro.flag) if loro is not None else False,
        loro_worst_run=(loro.worst_run if loro is not None and loro.flag else ""),
        loro_min=float(lw.min()) if lw.size else math.nan,
        loro_max=float(lw.max()) if lw.size else math.nan,
        lead_median=lq[1],
        lead_q25=lq[0],
        lead_q75=lq[2],
        n_onsets=n_onsets,
        n_detected=int(leads.size),
        incr_logloss_with=inc.logloss_with,
        incr_logloss_without=inc.logloss_without,
        incr_delta=inc.delta.estimate,
        incr_delta_low=inc.delta.low,
        incr_delta_high=inc.delta.high,
        incr_auroc_with=inc.auroc_with,
        incr_auroc_without=inc.auroc_without,
        incr_verdict=inc.verdict,
        note="; ".join(notes),
        lead_times=leads,
    )


def _row_incremental(cols, lab: _Labelled, keep: np.ndarray, ind: str, cfg: StatsConfig, notes: list[str]):
    base = tuple(f for f in cfg.base_features if f == "log_lr" or f in cols)
    absent = [f for f in cfg.base_features if f not in base]
    names = list(dict.fromkeys([*base, ind]))
    feats = {f: (np.log10(cols["lr"]) if f == "log_lr" else cols[f]) for f in names}
    rows = keep.copy()
    for f in names:
        rows &= ~np.isnan(feats[f])
    y = lab.phase[rows] == "unstable"
    inc = (
        _incremental(
            {f: x[rows] for f, x in feats.items()},
            y,
            candidate=ind,
            base=base,
            seeds=cols["seed"][rows],
            runs=cols["run_id"][rows],
            l2=cfg.l2,
            n_boot=cfg.n_boot,
            seed=cfg.seed,
            level=cfg.level,
        )
        if rows.any()
        else None
    )
    if inc is None:
        nan_ci = BootstrapCI(math.nan, math.nan, math.nan, cfg.level, 0, 0, 0, "")
        inc = IncrementalValue(ind, (), (), *(math.nan,) * 4, nan_ci, "n/a", 0, 0, "no rows with every feature")
    if inc.note:
        notes.append(f"incremental: {inc.note}")
    if absent:
        notes.append(f"incremental: base features absent from the table: {', '.join(absent)}")
    return inc


def study_statistics(
    table: Mapping[str, ArrayLike],
    indicators: Sequence[str] | None = None,
    *,
    rules: Sequence[LabelRule] = STANDARD_RULES,
    config: StatsConfig = StatsConfig(),
) -> StudyStatistics:
    """All phase-study statistics of a run table, per rule x (optimizer, depth, coords) x indicator.

    For every rule the runs are relabelled from their loss curves (:func:`nnspec_core.phases.label_steps`);
    ambiguous steps are excluded. See :class:`StatRow` for the figures and the module docstring for the
    conventions (unstable = positive class, cluster bootstrap over runs, NaN with a note when undefined).

    Parameters
    ----------
    table : mapping of str to array_like of shape (n_rows,)
        Run table: ``run_id``, ``seed``, ``lr``, ``step``, ``loss`` (+ ``optimizer``, ``depth``, ``coords``)
        and indicator columns (NaN where not analysed).
    indicators : sequence of str, optional
        Indicator columns to report (default: the :data:`DEFAULT_INDICATORS` present in the table, else every
        float column that is not in :data:`RESERVED_COLUMNS`).
    rules : sequence of LabelRule
        Labelling rules (default :data:`nnspec_core.phases.STANDARD_RULES`).
    config : StatsConfig
        Bootstrap, LORO and logistic-model settings.

    Returns
    -------
    StudyStatistics

    Raises
    ------
    TypeError, ValueError
        On a malformed table, unknown indicators or invalid rules/config.
    """
    if not isinstance(config, StatsConfig):
        raise TypeError(f"config must be a StatsConfig; got {type(config).__name__}.")
    rules = tuple(rules) if not isinstance(rules, LabelRule) else (rules,)
    if not rules or not all(isinstance(r, LabelRule) for r in rules):
        raise TypeError(f"rules must be a non-empty sequence of LabelRule; got {rules!r}.")
    if len({r.name for r in rules}) != len(rules):
        raise ValueError(f"rules must have distinct names; got {[r.name for r in rules]}.")
    gcols = ("optimizer", "depth", "coords")
    group_by = tuple(c for c in config.group_by if c in gcols)
    cols = _check_table(table, gcols)
    inds = _indicator_names(cols, indicators)
    keys = np.array([[str(cols[c][i]) if c in group_by else "all" for c in gcols] for i in range(cols["loss"].size)])
    uniq, gidx = np.unique(keys, axis=0, return_inverse=True)
    gidx = gidx.ravel()
    rows = []
    counts_cache: dict[int, np.ndarray] = {}
    for rule in rules:
        lab = _label_table(cols, rule)
        for g, gkey in enumerate(uniq):
            for ind in inds:
                rows.append(_stat_row(cols, lab, gidx == g, tuple(gkey), ind, rule, config, counts_cache))
    return StudyStatistics(rows=tuple(rows), rules=rules, indicators=inds, config=config)
