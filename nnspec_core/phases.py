"""Phase labels for training-loss curves: stable / unstable / ambiguous windows, and spike onsets.

Definitions (every threshold is a field of :class:`LabelRule`; ``L_t`` is the loss after ``t`` records,
``t = 0 .. n_steps - 1``, ``w`` = ``rule.horizon``, ``s`` = ``rule.rise_factor``, losses below
``rule.loss_floor`` are raised to the floor before any ratio is taken):

Spike at step t
    ``L_t > m_t`` and ``L_t >= s * m_t``, where ``m_t = min(L_u : t - w <= u < t, L_u finite)`` is the
    running minimum over the preceding ``w`` records ("the loss rose by a factor >= s within w steps").
Divergence at step t
    ``L_t`` is not finite, or ``L_t > rule.divergence_factor * L_0`` (``L_0`` = first loss; a non-finite
    ``L_0`` makes every step divergent).
Windows
    Consecutive, non-overlapping blocks of ``w`` records starting at step 0; a trailing block shorter
    than ``w`` is merged into the previous window (a series shorter than ``w`` is a single window).
    A window's label is given to every step in it, so one run can hold both phases.
Unstable window (reason, in this priority)
    ``"divergence"``: some step of the window diverges; ``"spike"``: some step is a spike;
    ``"oscillation"``: with ``d_t = L_t - L_{t-1}`` for the window's steps ``t >= 1`` (the first
    difference reaches into the previous window), the signs of consecutive differences alternate in at
    least ``rule.osc_fraction`` of the consecutive pairs, and the median relative amplitude
    ``|d_t| / L_{t-1}`` is at least ``rule.osc_amplitude``.
Stable window (reason ``"monotone"``)
    Not unstable, and every step stays within the relative noise tolerance of the best loss seen so far in
    the window: ``L_t <= (1 + rule.noise_tol) * min(L_u : a - 1 <= u < t)`` for each step ``t`` of the
    window ``[a, b)`` (``u >= 0``; the first step of the series is exempt).
Ambiguous window (reason ``"non-monotone"``)
    Neither: e.g. a rise below ``s``, or an oscillation too small or too irregular. Excluded from the
    statistics; its count is reported.
Spike onset
    Detection steps (spike or divergence) closer than ``w`` records to the previous detection belong to one
    episode. The onset of an episode whose first detection is at ``t1`` is the first step after the last
    occurrence of the running minimum ``m_{t1}`` in ``[t1 - w, t1)``: the first step of the rise
    (``t1`` itself if no finite loss precedes it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

from nnspec_core._validation import check_matrix, check_scalar

__all__ = [
    "PHASES",
    "REASONS",
    "LabelRule",
    "STANDARD_RULES",
    "PhaseLabels",
    "label_steps",
    "spike_onsets",
    "as_loss_vector",
    "as_real_vector",
]

#: Phase labels, as stored in :attr:`PhaseLabels.label`.
PHASES = ("stable", "unstable", "ambiguous")
#: Reasons, as stored in :attr:`PhaseLabels.reason`.
REASONS = ("divergence", "spike", "oscillation", "monotone", "non-monotone")


@dataclass(frozen=True)
class LabelRule:
    """Parameters of the phase-labelling rule (see the module docstring for the exact definitions).

    Attributes
    ----------
    name : str
        Short identifier shown with the results.
    rise_factor : float
        Spike factor ``s > 1``: a loss ``>= s`` times its running minimum over the previous ``horizon`` records.
    horizon : int
        ``w >= 2``: the spike look-back and the window length, in records (steps).
    osc_fraction : float
        Minimum fraction (in (0, 1]) of consecutive loss differences with alternating sign for an oscillation.
    osc_amplitude : float
        Minimum median relative step change ``|L_t - L_{t-1}| / L_{t-1}`` for an oscillation.
    noise_tol : float
        Relative tolerance for "monotone up to noise" (stable windows).
    divergence_factor : float
        A finite loss above ``divergence_factor * L_0`` counts as divergence.
    loss_floor : float
        Losses below this value are raised to it before ratios are taken (avoids 0/0).
    """

    name: str = "s1.5_w10"
    rise_factor: float = 1.5
    horizon: int = 10
    osc_fraction: float = 0.8
    osc_amplitude: float = 0.05
    noise_tol: float = 0.02
    divergence_factor: float = 100.0
    loss_floor: float = 1e-12

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty str; got {self.name!r}.")
        check_scalar(self.rise_factor, "rise_factor", min_val=1.0, include_min=False)
        check_scalar(self.horizon, "horizon", min_val=2, integer=True)
        check_scalar(self.osc_fraction, "osc_fraction", min_val=0.0, max_val=1.0, include_min=False)
        check_scalar(self.osc_amplitude, "osc_amplitude", min_val=0.0)
        check_scalar(self.noise_tol, "noise_tol", min_val=0.0)
        check_scalar(self.divergence_factor, "divergence_factor", min_val=1.0, include_min=False)
        check_scalar(self.loss_floor, "loss_floor", min_val=0.0, include_min=False)
        object.__setattr__(self, "horizon", int(self.horizon))

    def describe(self) -> str:
        """One-line human-readable description of the rule (shown beside result tables)."""
        return (
            f"{self.name}: spike = loss >= {self.rise_factor:g} x min of previous {self.horizon} steps; "
            f"windows of {self.horizon} steps; oscillation = sign alternation >= {self.osc_fraction:g} "
            f"with median |dL|/L >= {self.osc_amplitude:g}; stable = no rise > {self.noise_tol:g} above the "
            f"window's best; divergence = non-finite or > {self.divergence_factor:g} x initial loss"
        )

    def as_dict(self) -> dict:
        """Plain dict of the rule parameters."""
        return asdict(self)


#: The labelling rules every statistic is reported under (sensitivity to the rule).
STANDARD_RULES: tuple[LabelRule, ...] = (
    LabelRule(name="s1.5_w10", rise_factor=1.5, horizon=10),
    LabelRule(name="s2_w20", rise_factor=2.0, horizon=20),
    LabelRule(name="s1.2_w5", rise_factor=1.2, horizon=5),
)


@dataclass(frozen=True)
class PhaseLabels:
    """Per-step and per-window phase labels of one loss curve.

    Attributes
    ----------
    label : ndarray of shape (n_steps,), dtype str
        ``"stable"``, ``"unstable"`` or ``"ambiguous"`` (the label of the step's window).
    reason : ndarray of shape (n_steps,), dtype str
        ``"divergence"``, ``"spike"``, ``"oscillation"`` (unstable), ``"monotone"`` (stable) or
        ``"non-monotone"`` (ambiguous).
    window : ndarray of shape (n_steps,), int
        Index of the window holding each step.
    window_start : ndarray of shape (n_windows,), int
        First step of each window (windows are ``[window_start[k], window_start[k+1])``).
    window_label, window_reason : ndarray of shape (n_windows,), dtype str
        Label and reason per window.
    onsets : ndarray of shape (n_onsets,), int
        Spike onsets (see :func:`spike_onsets`), increasing.
    rule : LabelRule
        The rule used.
    """

    label: np.ndarray
    reason: np.ndarray
    window: np.ndarray
    window_start: np.ndarray
    window_label: np.ndarray
    window_reason: np.ndarray
    onsets: np.ndarray
    rule: LabelRule

    def __post_init__(self) -> None:
        assert self.label.shape == self.reason.shape == self.window.shape
        assert self.window_start.shape == self.window_label.shape == self.window_reason.shape

    def window_counts(self) -> dict[str, int]:
        """Number of windows per phase, e.g. ``{"stable": 3, "unstable": 1, "ambiguous": 0}``."""
        return {p: int(np.count_nonzero(self.window_label == p)) for p in PHASES}


def as_real_vector(x: ArrayLike, name: str, *, bool_ok: bool = False, finite: bool = False) -> np.ndarray:
    """Return ``x`` (array_like or Tensor) as a real float64 vector of shape (n,), n >= 1, or raise.

    Booleans are refused unless ``bool_ok`` (then True -> 1.0); NaN/inf are allowed unless ``finite``.

    Raises
    ------
    TypeError
        If the values are not real numbers (complex, strings, objects, dates; booleans unless ``bool_ok``).
    ValueError
        If ``x`` is not 1-D or is empty, or (``finite``) has a NaN/inf entry.
    """
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind in ("USVMmc" if bool_ok else "USVbMmc"):
        raise TypeError(f"{name} must be a real numeric array; got dtype {arr.dtype}.")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array; got {arr.ndim}-D array of shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} must have at least 1 entry; got 0.")
    return check_matrix(arr.reshape(1, -1).astype(float), name, square=False, finite=finite, max_dim=None)[0]


def as_loss_vector(loss: ArrayLike, name: str = "loss") -> np.ndarray:
    """Return ``loss`` as a float64 vector of shape (n_steps,), n_steps >= 1; NaN/inf allowed, negatives refused.

    Raises
    ------
    TypeError
        If the values are not real numbers.
    ValueError
        If ``loss`` is not 1-D, is empty, or has a negative finite entry.
    """
    arr = as_real_vector(loss, name)
    if np.any(arr[np.isfinite(arr)] < 0):
        raise ValueError(f"{name} must be non-negative where finite; got minimum {np.nanmin(arr):g}.")
    return arr


def _running_min(L: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Min over the previous ``w`` finite records and the last index where it occurs (-1 if none).

    ``L`` has non-finite entries replaced by +inf. Returns ``(m, arg)`` of shape (n,).
    """
    n = L.size
    m = np.full(n, np.inf)
    arg = np.full(n, -1)
    for k in range(1, min(w, n - 1) + 1):  # look back k records; ties keep the most recent (smallest k)
        shifted = np.full(n, np.inf)
        shifted[k:] = L[: n - k]
        better = shifted < m
        m[better] = shifted[better]
        arg[better] = (np.arange(n) - k)[better]
    return m, arg


def _detections(L_raw: np.ndarray, rule: LabelRule) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Spike mask, divergence mask, running minimum index and floored losses, each of shape (n,)."""
    finite = np.isfinite(L_raw)
    L = np.where(finite, np.maximum(L_raw, rule.loss_floor), np.inf)
    m, arg = _running_min(L, rule.horizon)
    spike = finite & np.isfinite(m) & (L > m) & (L >= rule.rise_factor * m)
    L0 = L_raw[0]
    if np.isfinite(L0):
        diverge = ~finite | (L > rule.divergence_factor * max(L0, rule.loss_floor))
    else:
        diverge = np.ones_like(finite)
    return spike, diverge, arg, L


def _windows(n: int, w: int) -> np.ndarray:
    starts = np.arange(0, n, w)
    if starts.size > 1 and n - starts[-1] < w:
        starts = starts[:-1]
    return starts


def _window_phase(L: np.ndarray, spike: np.ndarray, diverge: np.ndarray, a: int, b: int, rule: LabelRule):
    if diverge[a:b].any():
        return "unstable", "divergence"
    if spike[a:b].any():
        return "unstable", "spike"
    lo = max(a, 1)
    d = L[lo:b] - L[lo - 1 : b - 1]  # (b - lo,) differences d_t, t = lo..b-1
    if d.size >= 2:
        sgn = np.sign(d)
        alternate = np.mean(sgn[1:] * sgn[:-1] < 0)
        amp = np.median(np.abs(d) / L[lo - 1 : b - 1])
        if alternate >= rule.osc_fraction and amp >= rule.osc_amplitude:
            return "unstable", "oscillation"
    best = np.minimum.accumulate(L[max(a - 1, 0) : b])  # best so far, starting one record before the window
    prev_best = best[:-1] if a > 0 else np.concatenate(([np.inf], best[:-1]))
    if np.all(L[a:b] <= (1.0 + rule.noise_tol) * prev_best[-(b - a) :]):
        return "stable", "monotone"
    return "ambiguous", "non-monotone"


def _onsets(spike: np.ndarray, diverge: np.ndarray, arg: np.ndarray, w: int) -> np.ndarray:
    det = np.flatnonzero(spike | diverge)
    if det.size == 0:
        return np.zeros(0, dtype=int)
    first = det[np.concatenate(([True], np.diff(det) >= w))]  # first detection of each episode
    onset = np.where(arg[first] >= 0, arg[first] + 1, first)
    return np.unique(onset)


def label_steps(loss: ArrayLike, rule: LabelRule = STANDARD_RULES[0]) -> PhaseLabels:
    """Label every step of a loss curve stable / unstable / ambiguous by windows (module docstring).

    Parameters
    ----------
    loss : array_like of shape (n_steps,)
        Training loss per record, in step order (consecutive records are one step apart). Non-finite values
        mark divergence; finite values must be >= 0.
    rule : LabelRule
        Labelling parameters.

    Returns
    -------
    PhaseLabels
        Per-step ``label``/``reason``/``window``, per-window labels and the spike ``onsets``.

    Raises
    ------
    TypeError, ValueError
        On a non-numeric, non-1-D, empty or negative ``loss`` or a non-LabelRule ``rule``.
    """
    L_raw = as_loss_vector(loss)
    if not isinstance(rule, LabelRule):
        raise TypeError(f"rule must be a LabelRule; got {type(rule).__name__}.")
    n = L_raw.size
    spike, diverge, arg, L = _detections(L_raw, rule)
    starts = _windows(n, rule.horizon)
    ends = np.append(starts[1:], n)
    phases = [_window_phase(L, spike, diverge, a, b, rule) for a, b in zip(starts, ends, strict=True)]
    wl, wr = [p for p, _ in phases], [r for _, r in phases]
    window = np.repeat(np.arange(starts.size), ends - starts)
    wl_arr, wr_arr = np.array(wl, dtype="<U9"), np.array(wr, dtype="<U12")
    return PhaseLabels(
        label=wl_arr[window],
        reason=wr_arr[window],
        window=window,
        window_start=starts,
        window_label=wl_arr,
        window_reason=wr_arr,
        onsets=_onsets(spike, diverge, arg, rule.horizon),
        rule=rule,
    )


def spike_onsets(loss: ArrayLike, rule: LabelRule = STANDARD_RULES[0]) -> np.ndarray:
    """Steps at which loss spikes (or divergences) begin: the first step of each rise (module docstring).

    Parameters
    ----------
    loss : array_like of shape (n_steps,)
        Training loss per record, in step order.
    rule : LabelRule
        Labelling parameters (``rise_factor``, ``horizon``, ``divergence_factor``, ``loss_floor`` are used).

    Returns
    -------
    ndarray of shape (n_onsets,), int
        Record indices (0-based) of the onsets, increasing.
    """
    L_raw = as_loss_vector(loss)
    if not isinstance(rule, LabelRule):
        raise TypeError(f"rule must be a LabelRule; got {type(rule).__name__}.")
    spike, diverge, arg, _ = _detections(L_raw, rule)
    return _onsets(spike, diverge, arg, rule.horizon)
