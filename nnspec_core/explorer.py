"""Matrix Explorer ("EigTool in the browser"): everything the page shows for one matrix and one region.

Conventions
-----------
* ``A`` is a square real or complex matrix of shape (n, n). Discrete time: one step is ``z_next = A @ z``
  and transient growth is ``||A^k||_2`` against the step ``k``; continuous time: ``dz/dt = A z`` and
  ``||e^{tA}||_2`` against ``t``. All norms are spectral (2-norm); ``eps`` is absolute (not relative to
  ``||A||``); contour levels are ``log10 eps``.
* ``kappa(V)`` is ``cond_2`` of the eigenvector matrix with unit columns (``inf`` when defective); eigenvalue
  condition numbers are ``1/|y^H x|`` with unit left/right eigenvectors.
* A region is ``(re_min, re_max, im_min, im_max)``; ``None`` means automatic axes
  (:func:`nnspec_core.pseudospectra.pseudospectrum`).

The work is split into stages so that the app can cache each one separately (a new region only recomputes
the grid, a new eps only ``rho_eps``/``alpha_eps``): :func:`matrix_summary`, :func:`explorer_grid`,
:func:`transient_curve`, :func:`nnspec_core.pseudospectra.kreiss_constant`. :func:`explore` runs all stages
(taking any stage already computed) and returns one frozen :class:`ExplorerResult`;
:func:`explorer_figures` and :func:`explorer_data` turn it into the figures and the data the page shows
and exports. :class:`ExplorerSettings` is the JSON-able record of every choice (``settings.json`` in the
export zip, read back by ``python -m nnspec_core figure --settings``).
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from numpy.typing import ArrayLike

from nnspec_core._validation import check_choice, check_matrix, check_scalar
from nnspec_core.figures import plot_spectrum, plot_transient
from nnspec_core.pseudospectra import (
    KreissResult,
    PseudospectrumResult,
    SchurForm,
    auto_axes,
    field_of_values,
    kreiss_constant,
    pseudospectral_abscissa,
    pseudospectral_radius,
    pseudospectrum,
    schur_form,
)
from nnspec_core.pseudospectra import (
    eps_levels as auto_eps_levels,
)
from nnspec_core.spectra import spectrum
from nnspec_core.theme import DEFAULT_THEME, Theme, talk_theme
from nnspec_core.transient import expm_norms, power_norms

__all__ = [
    "DYNAMICS",
    "FIGURE_KINDS",
    "MAX_EXPLORER_N",
    "MAX_GRID",
    "MatrixSummary",
    "TransientCurve",
    "ExplorerResult",
    "ExplorerSettings",
    "matrix_key",
    "matrix_summary",
    "explorer_grid",
    "transient_curve",
    "explore",
    "parse_levels",
    "region_from_box",
    "explorer_figure",
    "explorer_figures",
    "explorer_data",
    "settings_from_dict",
    "explorer_command",
    "explorer_bundle",
    "add_figure_arguments",
    "run_figure",
    "AUTO_EPS_REL",
]

DYNAMICS = ("discrete", "continuous")
FIGURE_KINDS = ("spectrum", "transient", "fov")
#: Largest matrix dimension the Explorer accepts (the grid, Kreiss and rho_eps searches are O(n^3) each).
MAX_EXPLORER_N = 200
#: Largest number of grid points per axis.
MAX_GRID = 300
#: Automatic axes contain every eps-pseudospectrum with eps <= AUTO_EPS_REL * ||A||_2.
AUTO_EPS_REL = 0.1
#: Samples of ``||e^{tA}||`` on ``[0, t_max]`` in continuous time.
N_TIMES = 121
_DEFAULT_HORIZON = {"discrete": 100.0, "continuous": 10.0}
_THEMES = ("default", "talk")
_BACKGROUNDS = ("white", "transparent")


# ---------------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class MatrixSummary:
    """Region- and eps-independent facts about ``A`` (shape (n, n)).

    Attributes
    ----------
    key : str
        :func:`matrix_key` of A (SHA-256 of shape, dtype and bytes).
    n : int
    is_real : bool
    eigenvalues : ndarray of shape (n,), complex128
        Sorted by decreasing modulus.
    eig_condition : ndarray of shape (n,), float64
        ``1/|y^H x|`` per eigenvalue (same order); ``inf`` for a defective eigenvalue.
    fov : ndarray of shape (m,), complex128
        Boundary points of the field of values ``W(A)``, counter-clockwise.
    rho : float
        Spectral radius ``max |lambda|``.
    alpha : float
        Spectral abscissa ``max Re lambda``.
    norm : float
        ``||A||_2``.
    kappa_V : float
        ``cond_2(V)``, unit columns; ``inf`` when defective.
    kappa_status : str
        ``"normal"``, ``"ok"``, ``"clustered"`` or ``"defective"`` (see :func:`nnspec_core.spectra.spectrum`).
    departure, departure_rel : float
        Henrici departure from normality (Frobenius norm) and its ratio to ``||A||_F``.
    numerical_radius, numerical_abscissa : float
        ``max |W(A)|`` and ``max Re W(A)``.
    """

    key: str
    n: int
    is_real: bool
    eigenvalues: np.ndarray
    eig_condition: np.ndarray
    fov: np.ndarray
    rho: float
    alpha: float
    norm: float
    kappa_V: float
    kappa_status: str
    departure: float
    departure_rel: float
    numerical_radius: float
    numerical_abscissa: float

    def __post_init__(self) -> None:
        if self.eigenvalues.shape != (self.n,) or self.eig_condition.shape != (self.n,):
            raise ValueError(f"eigenvalues and eig_condition must have shape ({self.n},).")


@dataclass(frozen=True)
class TransientCurve:
    """Transient growth with its eigenvalue bounds.

    Attributes
    ----------
    dynamics : {"discrete", "continuous"}
    time : ndarray of shape (m,), float64
        Steps ``k = 0..k_max`` (discrete) or times ``t`` in ``[0, t_max]`` (continuous).
    norms : ndarray of shape (m,), float64
        ``||A^k||_2`` or ``||e^{tA}||_2`` (``inf`` on overflow).
    upper : ndarray of shape (m,), float64
        ``kappa(V) rho^k`` or ``kappa(V) e^{t alpha}`` (``inf`` when kappa(V) is).
    lower : ndarray of shape (m,), float64
        ``rho^k`` or ``e^{t alpha}`` (always below ``norms``).
    horizon : float
        ``k_max`` or ``t_max``.
    """

    dynamics: str
    time: np.ndarray
    norms: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    horizon: float

    def __post_init__(self) -> None:
        m = self.time.shape
        if not (self.norms.shape == self.upper.shape == self.lower.shape == m):
            raise ValueError("time, norms, upper and lower must have equal shapes.")

    @property
    def peak(self) -> float:
        """Largest finite norm (``inf`` if the curve overflows)."""
        return float(np.max(self.norms))

    @property
    def peak_time(self) -> float:
        """Step or time of the (first) largest norm."""
        return float(self.time[int(np.argmax(self.norms))])


@dataclass(frozen=True)
class ExplorerResult:
    """Everything the Matrix Explorer shows for one matrix, region and eps.

    Attributes
    ----------
    summary : MatrixSummary
    grid : PseudospectrumResult
        ``sigma_min(zI - A)`` on the region, shape (ny, nx).
    region : tuple of 4 float
        ``(re_min, re_max, im_min, im_max)`` of the grid.
    auto_region : bool
        The region was chosen automatically.
    eps_levels : ndarray of shape (L,), float64
        Contour levels ``log10 eps``, ascending (given or :func:`nnspec_core.pseudospectra.eps_levels`).
    eps : float
        The eps of the cards (absolute, 2-norm).
    rho_eps, alpha_eps : float
        eps-pseudospectral radius and abscissa.
    transient : TransientCurve
    kreiss : KreissResult or None
        Discrete (``sup_{|z|>1} (|z|-1)/sigma_min``) or continuous (``sup_{Re z>0} Re z/sigma_min``) Kreiss
        constant, matching ``transient.dynamics``; None when not requested.
    """

    summary: MatrixSummary
    grid: PseudospectrumResult
    region: tuple[float, float, float, float]
    auto_region: bool
    eps_levels: np.ndarray
    eps: float
    rho_eps: float
    alpha_eps: float
    transient: TransientCurve
    kreiss: KreissResult | None

    @property
    def cards(self) -> dict[str, float]:
        """The headline numbers: rho, alpha, kappa_V, departure_rel, rho_eps, alpha_eps, kreiss (NaN if absent)."""
        s = self.summary
        return {
            "rho": s.rho,
            "alpha": s.alpha,
            "kappa_V": s.kappa_V,
            "departure": s.departure,
            "departure_rel": s.departure_rel,
            "eps": self.eps,
            "rho_eps": self.rho_eps,
            "alpha_eps": self.alpha_eps,
            "kreiss": self.kreiss.value if self.kreiss is not None else math.nan,
            "norm": s.norm,
        }


@dataclass(frozen=True)
class ExplorerSettings:
    """Every user choice of the Explorer (JSON-able; ``settings.json`` of the export zip).

    Attributes
    ----------
    region : tuple of 4 float or None
        ``(re_min, re_max, im_min, im_max)``; None for automatic axes.
    n_grid : int
        Grid points per axis (2..MAX_GRID).
    eps : float
        Absolute eps of the rho_eps / alpha_eps cards (> 0).
    eps_levels : tuple of float or None
        Contour levels ``log10 eps``; None for automatic levels.
    dynamics : {"discrete", "continuous"}
    horizon : float or None
        ``k_max`` (integer steps) or ``t_max``; None for the default (100 steps / t = 10).
    kreiss : bool
        Estimate the Kreiss constant.
    show_fov : bool
        Draw the field of values on the spectrum figure.
    theme : {"default", "talk"}
    background : {"white", "transparent"}
        Background of the talk theme.
    matrix_sha256 : str or None
        :func:`matrix_key` of the matrix these settings were used with (the CLI refuses another matrix).
    """

    region: tuple[float, float, float, float] | None = None
    n_grid: int = 80
    eps: float = 1e-2
    eps_levels: tuple[float, ...] | None = None
    dynamics: str = "discrete"
    horizon: float | None = None
    kreiss: bool = True
    show_fov: bool = True
    theme: str = "default"
    background: str = "white"
    matrix_sha256: str | None = None

    def __post_init__(self) -> None:
        if self.region is not None:
            object.__setattr__(self, "region", _check_region(self.region))
        object.__setattr__(
            self, "n_grid", int(check_scalar(self.n_grid, "n_grid", min_val=2, max_val=MAX_GRID, integer=True))
        )
        object.__setattr__(self, "eps", check_scalar(self.eps, "eps", min_val=0.0, include_min=False))
        if self.eps_levels is not None:
            object.__setattr__(self, "eps_levels", tuple(float(v) for v in _check_levels(self.eps_levels)))
        check_choice(self.dynamics, "dynamics", DYNAMICS)
        if self.horizon is not None:
            object.__setattr__(self, "horizon", _check_horizon(self.horizon, self.dynamics))
        for name in ("kreiss", "show_fov"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be true or false; got {getattr(self, name)!r}.")
            object.__setattr__(self, name, bool(getattr(self, name)))
        check_choice(self.theme, "theme", _THEMES)
        check_choice(self.background, "background", _BACKGROUNDS)
        if self.matrix_sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", str(self.matrix_sha256)):
            raise ValueError(f"matrix_sha256 must be 64 hex digits; got {self.matrix_sha256!r}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples as lists)."""
        d = asdict(self)
        for k in ("region", "eps_levels"):
            if d[k] is not None:
                d[k] = [float(v) for v in d[k]]
        return d

    def to_dict_raw(self) -> dict[str, Any]:
        """Field values as given (tuples kept), for ``ExplorerSettings(**d)``."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def explore_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`explore`."""
        keys = ("region", "n_grid", "eps", "eps_levels", "dynamics", "horizon", "kreiss")
        return {k: getattr(self, k) for k in keys}

    def figure_theme(self) -> Theme:
        """The :class:`~nnspec_core.theme.Theme` the figures are drawn with."""
        return talk_theme(background=self.background) if self.theme == "talk" else DEFAULT_THEME


def settings_from_dict(d: Any) -> ExplorerSettings:
    """:class:`ExplorerSettings` from a dict (e.g. a loaded ``settings.json``); unknown keys are refused.

    Raises
    ------
    TypeError, ValueError
        For a non-dict, unknown keys or invalid values (one line).
    """
    if not isinstance(d, dict):
        raise TypeError(f"settings must be a JSON object; got {type(d).__name__}.")
    known = set(ExplorerSettings.__dataclass_fields__)
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"settings has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
    kw = dict(d)
    for k in ("region", "eps_levels"):
        if kw.get(k) is not None:
            if not isinstance(kw[k], (list, tuple)):
                raise TypeError(f"settings[{k!r}] must be a list of numbers or null; got {type(kw[k]).__name__}.")
            kw[k] = tuple(kw[k])
    return ExplorerSettings(**kw)


# ---------------------------------------------------------------------------------------------------- checks
def _check_region(region: Any) -> tuple[float, float, float, float]:
    if not isinstance(region, (tuple, list, np.ndarray)) or len(region) != 4:
        raise ValueError(f"region must be (re_min, re_max, im_min, im_max); got {region!r}.")
    vals = [check_scalar(v, f"region[{i}]") for i, v in enumerate(region)]
    x0, x1, y0, y1 = vals
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"region must have re_min < re_max and im_min < im_max; got {tuple(vals)}.")
    scale = max(abs(x0), abs(x1), abs(y0), abs(y1), 1e-300)
    if min(x1 - x0, y1 - y0) < 1e-12 * scale:
        raise ValueError(f"region is too small to resolve in floating point; got {tuple(vals)}.")
    return (float(x0), float(x1), float(y0), float(y1))


def _check_levels(levels: Any) -> np.ndarray:
    arr = np.asarray(levels)
    if arr.dtype == object or arr.dtype.kind not in "iuf":
        raise TypeError(f"eps_levels must be real numbers (log10 eps); got dtype {arr.dtype}.")
    arr = np.atleast_1d(arr.astype(float))
    if arr.ndim != 1 or arr.size == 0 or arr.size > 20:
        raise ValueError(f"eps_levels must list 1 to 20 exponents (log10 eps); got {arr.size}.")
    if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > 300):
        raise ValueError("eps_levels must be finite exponents between -300 and 300 (log10 eps).")
    return np.unique(arr)


def _check_horizon(horizon: Any, dynamics: str) -> float:
    if dynamics == "discrete":
        return float(check_scalar(horizon, "horizon (k_max)", min_val=1, max_val=100_000, integer=True))
    return check_scalar(horizon, "horizon (t_max)", min_val=0.0, max_val=1e6, include_min=False)


def parse_levels(text: str) -> tuple[float, ...] | None:
    """Parse contour levels typed by a user: ``"-1, -2, -3"`` or ``"-1 -2.5"``; empty or ``"auto"`` gives None.

    Returns
    -------
    tuple of float or None
        Exponents ``log10 eps``, ascending and unique.

    Raises
    ------
    ValueError
        For anything that is not 1 to 20 finite numbers (one line naming the bad entry).
    """
    if not isinstance(text, str):
        raise TypeError(f"levels must be text; got {type(text).__name__}.")
    body = text.strip()
    if body == "" or body.lower() == "auto":
        return None
    vals = []
    for tok in re.split(r"[,;\s]+", body):
        if not tok:
            continue
        try:
            vals.append(float(tok.replace("−", "-")))
        except ValueError:
            raise ValueError(f"levels must be numbers (log10 ε) separated by spaces or commas; got {tok!r}.") from None
    return tuple(float(v) for v in _check_levels(vals))


def region_from_box(box: Any) -> tuple[float, float, float, float]:
    """Region ``(re_min, re_max, im_min, im_max)`` from a Plotly box selection ``{"x": [a, b], "y": [c, d]}``.

    The corners may come in any order (the user may drag in any direction).

    Raises
    ------
    ValueError
        If the box is malformed or has zero width or height.
    """
    if not isinstance(box, dict) or "x" not in box or "y" not in box:
        raise ValueError("box selection must have 'x' and 'y' ranges; drag a rectangle on the chart.")
    try:
        xs = [float(v) for v in box["x"]]
        ys = [float(v) for v in box["y"]]
    except (TypeError, ValueError):
        raise ValueError("box selection ranges must be numbers.") from None
    if len(xs) < 2 or len(ys) < 2:
        raise ValueError("box selection must have two x and two y values.")
    return _check_region((min(xs), max(xs), min(ys), max(ys)))


def matrix_key(A: ArrayLike) -> str:
    """SHA-256 hex digest of ``A``'s shape, dtype and bytes (identifies a matrix in caches and settings)."""
    M = np.ascontiguousarray(check_matrix(A, "A", max_dim=None))
    h = hashlib.sha256(f"{M.shape}|{M.dtype.str}|".encode())
    h.update(M.tobytes())
    return h.hexdigest()


def _check_A(A: Any) -> np.ndarray:
    M = check_matrix(A, "A", max_dim=MAX_EXPLORER_N)
    if M.shape[0] < 2:
        raise ValueError(f"A must be at least 2x2 for the Explorer; got shape {M.shape}.")
    return M


def _check_schur(schur: Any, n: int) -> SchurForm | None:
    if schur is None:
        return None
    if not isinstance(schur, SchurForm):
        raise TypeError(f"schur must be a SchurForm from schur_form(A); got {type(schur).__name__}.")
    if schur.T.shape != (n, n):
        raise ValueError(f"schur must be the Schur form of A (shape {(n, n)}); got {schur.T.shape}.")
    return schur


# ---------------------------------------------------------------------------------------------------- stages
def matrix_summary(A: ArrayLike, *, n_fov: int = 256) -> MatrixSummary:
    """Eigenvalues with condition numbers, field of values, rho, alpha, ||A||, kappa(V), departure.

    Parameters
    ----------
    A : array_like of shape (n, n), ``2 <= n <= MAX_EXPLORER_N``
    n_fov : int
        Boundary points of the field of values.

    Returns
    -------
    MatrixSummary
    """
    M = _check_A(A)
    res = spectrum(M)
    fov = field_of_values(M, n_angles=n_fov)
    lam = res.eigenvalues
    return MatrixSummary(
        key=matrix_key(M),
        n=int(M.shape[0]),
        is_real=not np.iscomplexobj(M),
        eigenvalues=lam,
        eig_condition=np.asarray(res.eigval_condition, dtype=float),
        fov=np.asarray(fov.boundary, dtype=complex),
        rho=float(res.spectral_radius),
        alpha=float(lam.real.max()),
        norm=float(np.linalg.norm(M, 2)),
        kappa_V=float(res.kappa_V),
        kappa_status=str(res.kappa_status),
        departure=float(res.departure),
        departure_rel=float(res.departure_rel),
        numerical_radius=float(fov.numerical_radius),
        numerical_abscissa=float(fov.numerical_abscissa),
    )


def explorer_grid(
    A: ArrayLike,
    *,
    region: tuple[float, float, float, float] | None = None,
    n_grid: int = 80,
    schur: SchurForm | None = None,
) -> PseudospectrumResult:
    """``sigma_min(zI - A)`` (2-norm) on ``n_grid x n_grid`` points of ``region`` (automatic axes if None).

    Parameters
    ----------
    A : array_like of shape (n, n)
    region : (re_min, re_max, im_min, im_max), optional
        Default: :func:`nnspec_core.pseudospectra.auto_axes` with ``eps_max = AUTO_EPS_REL * ||A||_2`` (contains
        every eps-pseudospectrum up to that eps; square, 10 % margin).
    n_grid : int
        Points per axis, 2..MAX_GRID.
    schur : SchurForm, optional
        Cached ``schur_form(A)`` (a zoom then costs only the grid).

    Returns
    -------
    PseudospectrumResult
        ``sigma_min`` of shape (n_grid, n_grid), rows along the imaginary axis.
    """
    M = _check_A(A)
    S = _check_schur(schur, M.shape[0])
    n_grid = int(check_scalar(n_grid, "n_grid", min_val=2, max_val=MAX_GRID, integer=True))
    if S is None and M.shape[0] > 12:
        S = schur_form(M)
    if region is None:  # Bauer-Fike box (kappa(V)) intersected with the field-of-values box, grown by eps_max
        norm = S.norm if S is not None else float(np.linalg.norm(M, 2))
        (x0, x1), (y0, y1) = auto_axes(M, eps_max=AUTO_EPS_REL * norm if norm > 0 else AUTO_EPS_REL)
    else:
        x0, x1, y0, y1 = _check_region(region)
    re_, im_ = np.linspace(x0, x1, n_grid), np.linspace(y0, y1, n_grid)
    return pseudospectrum(M if S is None else None, schur=S, re=re_, im=im_)


def transient_curve(
    A: ArrayLike,
    *,
    dynamics: str = "discrete",
    horizon: float | None = None,
    kappa_V: float | None = None,
) -> TransientCurve:
    """``||A^k||_2`` for ``k = 0..k_max`` or ``||e^{tA}||_2`` on ``N_TIMES`` times in ``[0, t_max]``, with bounds.

    Parameters
    ----------
    A : array_like of shape (n, n)
    dynamics : {"discrete", "continuous"}
    horizon : float, optional
        ``k_max`` (integer, default 100) or ``t_max`` (default 10).
    kappa_V : float, optional
        Precomputed ``cond_2(V)`` (unit columns; ``inf`` allowed); computed otherwise.

    Returns
    -------
    TransientCurve
        Bounds ``rho^k <= ||A^k|| <= kappa(V) rho^k`` (resp. ``e^{t alpha} <= ||e^{tA}|| <= kappa(V) e^{t alpha}``).
    """
    M = _check_A(A)
    check_choice(dynamics, "dynamics", DYNAMICS)
    h = _check_horizon(_DEFAULT_HORIZON[dynamics] if horizon is None else horizon, dynamics)
    if kappa_V is None:
        kappa_V = spectrum(M).kappa_V
    elif not (isinstance(kappa_V, (int, float, np.floating)) and kappa_V >= 1):
        raise ValueError(f"kappa_V must be a number >= 1 (or inf); got {kappa_V!r}.")
    lam = np.linalg.eigvals(M)
    with np.errstate(over="ignore", invalid="ignore"):
        if dynamics == "discrete":
            time = np.arange(int(h) + 1, dtype=float)
            norms = power_norms(M, int(h))
            lower = float(np.abs(lam).max()) ** time
        else:
            time = np.linspace(0.0, h, N_TIMES)
            norms = expm_norms(M, time)
            lower = np.exp(time * float(lam.real.max()))
        upper = np.full(time.size, math.inf) if not math.isfinite(kappa_V) else float(kappa_V) * lower
    return TransientCurve(
        dynamics=dynamics, time=time, norms=np.asarray(norms, float), upper=upper, lower=lower, horizon=float(h)
    )


def explore(
    A: ArrayLike,
    *,
    region: tuple[float, float, float, float] | None = None,
    n_grid: int = 80,
    eps: float = 1e-2,
    eps_levels: ArrayLike | None = None,
    dynamics: str = "discrete",
    horizon: float | None = None,
    kreiss: bool = True,
    schur: SchurForm | None = None,
    summary: MatrixSummary | None = None,
    grid: PseudospectrumResult | None = None,
    transient: TransientCurve | None = None,
    kreiss_result: KreissResult | None = None,
) -> ExplorerResult:
    """Everything the Matrix Explorer shows for ``A``, a region and an eps.

    Parameters
    ----------
    A : array_like of shape (n, n), real or complex, finite, ``2 <= n <= MAX_EXPLORER_N``
    region : (re_min, re_max, im_min, im_max), optional
        Grid window; automatic axes when None.
    n_grid : int
        Grid points per axis.
    eps : float
        Absolute eps (> 0) for ``rho_eps`` and ``alpha_eps``.
    eps_levels : array_like of shape (L,), optional
        Contour levels ``log10 eps``; automatic "nice" levels when None.
    dynamics : {"discrete", "continuous"}
        ``||A^k||`` and the discrete Kreiss constant, or ``||e^{tA}||`` and the continuous one.
    horizon : float, optional
        ``k_max`` or ``t_max`` of the transient curve.
    kreiss : bool
        Estimate the Kreiss constant (the slowest stage: a grid search with local refinement).
    schur : SchurForm, optional
        Cached ``schur_form(A)``.
    summary, grid, transient, kreiss_result : optional
        Stages already computed for this same ``A`` (and the same region / dynamics / horizon); they are
        used as given (the app caches them separately), the missing ones are computed.

    Returns
    -------
    ExplorerResult

    Raises
    ------
    TypeError, ValueError
        For invalid input, with a one-line message; a defective A is fine (kappa(V) = inf).
    """
    M = _check_A(A)
    S = _check_schur(schur, M.shape[0])
    check_choice(dynamics, "dynamics", DYNAMICS)
    eps = check_scalar(eps, "eps", min_val=0.0, include_min=False)
    levels_given = _check_levels(eps_levels) if eps_levels is not None else None
    if summary is None:
        summary = matrix_summary(M)
    elif not isinstance(summary, MatrixSummary):
        raise TypeError(f"summary must be a MatrixSummary; got {type(summary).__name__}.")
    elif summary.key != matrix_key(M):
        raise ValueError("summary must be the MatrixSummary of this A (its matrix_key differs).")
    if grid is None:
        grid = explorer_grid(M, region=region, n_grid=n_grid, schur=S)
    elif not isinstance(grid, PseudospectrumResult):
        raise TypeError(f"grid must be a PseudospectrumResult; got {type(grid).__name__}.")
    if transient is None:
        transient = transient_curve(M, dynamics=dynamics, horizon=horizon, kappa_V=summary.kappa_V)
    elif not isinstance(transient, TransientCurve) or transient.dynamics != dynamics:
        raise TypeError(f"transient must be a TransientCurve with dynamics {dynamics!r}.")
    if kreiss and kreiss_result is None:
        kreiss_result = kreiss_constant(M, continuous=dynamics == "continuous")
    levels = levels_given if levels_given is not None else auto_eps_levels(grid)
    reg = (float(grid.re[0]), float(grid.re[-1]), float(grid.im[0]), float(grid.im[-1]))
    return ExplorerResult(
        summary=summary,
        grid=grid,
        region=reg,
        auto_region=region is None,
        eps_levels=np.asarray(levels, dtype=float),
        eps=float(eps),
        rho_eps=float(pseudospectral_radius(M, eps)),
        alpha_eps=float(pseudospectral_abscissa(M, eps)),
        transient=transient,
        kreiss=kreiss_result if kreiss else None,
    )


# ---------------------------------------------------------------------------------------------------- output
def explorer_figure(
    res: ExplorerResult, kind: str, *, show_fov: bool = True, theme: Theme = DEFAULT_THEME
) -> go.Figure:
    """One figure of the Explorer.

    Parameters
    ----------
    res : ExplorerResult
    kind : {"spectrum", "transient", "fov"}
        ``"spectrum"``: eigenvalues coloured by ``log10 1/|y^H x|`` over the eps-pseudospectral contours
        (plus the field of values if ``show_fov``), box-select drag mode; ``"transient"``: ``||A^k||``
        or ``||e^{tA}||`` with the kappa(V) upper bound and the Kreiss lower bound; ``"fov"``: eigenvalues
        and the field-of-values boundary alone.
    show_fov : bool
    theme : Theme

    Returns
    -------
    plotly.graph_objects.Figure
    """
    if not isinstance(res, ExplorerResult):
        raise TypeError(f"res must be an ExplorerResult; got {type(res).__name__}.")
    check_choice(kind, "kind", FIGURE_KINDS)
    s = res.summary
    continuous = res.transient.dynamics == "continuous"
    if kind == "spectrum":
        g = res.grid
        title = "ε-pseudospectra" + (" (Krylov approximation)" if g.approximate else "")
        return plot_spectrum(
            s.eigenvalues,
            cond=s.eig_condition,
            pseudo=(g.re, g.im, g.sigma_min),
            eps_levels=res.eps_levels,
            unit_circle=not continuous,
            fov=s.fov if show_fov else None,
            symbol="λ",
            title=title,
            dragmode="select",
            uirevision=f"spectrum-{s.key[:12]}",
            theme=theme,
        )
    if kind == "fov":
        return plot_spectrum(
            s.eigenvalues,
            cond=s.eig_condition,
            unit_circle=not continuous,
            fov=s.fov,
            symbol="λ",
            title=f"Field of values (numerical radius {s.numerical_radius:.4g})",
            uirevision=f"fov-{s.key[:12]}",
            theme=theme,
        )
    tr = res.transient
    upper = tr.upper if np.any(np.isfinite(tr.upper)) else None
    K = res.kreiss.value if res.kreiss is not None else None
    return plot_transient(
        tr.time,
        tr.norms,
        upper=upper,
        kreiss_lower=K,
        continuous=continuous,
        matrix="A",
        title="Transient growth " + ("‖eᵗᴬ‖₂" if continuous else "‖Aᵏ‖₂"),
        uirevision=f"transient-{s.key[:12]}",
        theme=theme,
    )


def explorer_figures(res: ExplorerResult, *, show_fov: bool = True, theme: Theme = DEFAULT_THEME) -> dict:
    """The figures of the Explorer page: ``{"spectrum": Figure, "transient": Figure}``."""
    return {k: explorer_figure(res, k, show_fov=show_fov, theme=theme) for k in ("spectrum", "transient")}


def explorer_data(res: ExplorerResult, A: ArrayLike) -> dict[str, Any]:
    """The data behind the figures, keyed for :func:`nnspec_core.export.bundle_zip`.

    Returns
    -------
    dict
        ``"matrix.npy"``: A as ``.npy`` bytes (``allow_pickle=False``); ``"eigenvalues"``: columns
        ``re, im, abs, cond`` (shape (n,) each); ``"pseudospectrum.npz"``: ``re`` (nx,), ``im`` (ny,),
        ``sigma_min`` (ny, nx), ``eps_levels`` (L,); ``"transient"``: columns ``time, norm, upper, lower``;
        ``"field_of_values"``: columns ``re, im``; ``"cards"``: the headline numbers (JSON).
    """
    M = _check_A(A)
    if matrix_key(M) != res.summary.key:
        raise ValueError("A is not the matrix this result was computed for.")
    buf = io.BytesIO()
    np.save(buf, M, allow_pickle=False)
    s, g, tr = res.summary, res.grid, res.transient
    cards = dict(res.cards)
    cards |= {
        "kappa_status": s.kappa_status,
        "numerical_radius": s.numerical_radius,
        "numerical_abscissa": s.numerical_abscissa,
        "kreiss_lower_bound_only": bool(res.kreiss.lower_bound_only) if res.kreiss is not None else None,
        "transient_peak": tr.peak,
        "transient_peak_time": tr.peak_time,
        "region": list(res.region),
        "grid_method": g.method,
        "matrix_sha256": s.key,
    }
    return {
        "matrix.npy": buf.getvalue(),
        "eigenvalues": {
            "re": s.eigenvalues.real,
            "im": s.eigenvalues.imag,
            "abs": np.abs(s.eigenvalues),
            "cond": s.eig_condition,
        },
        "pseudospectrum.npz": {"re": g.re, "im": g.im, "sigma_min": g.sigma_min, "eps_levels": res.eps_levels},
        "transient": {"time": tr.time, "norm": tr.norms, "upper": tr.upper, "lower": tr.lower},
        "field_of_values": {"re": s.fov.real, "im": s.fov.imag},
        "cards": cards,
    }


#: Member names of the figures in the export zip, per kind.
BUNDLE_FIGURES = ("spectrum", "transient")
BUNDLE_FORMATS = ("png", "svg", "pdf", "html")


def explorer_command(
    *, kinds: tuple[str, ...] = BUNDLE_FIGURES, formats: tuple[str, ...] = BUNDLE_FORMATS, python: str = "python"
) -> str:
    """The CLI lines that regenerate the zip's figures, run from the unpacked zip's folder (one line each).

    Each line reads ``data/matrix.npy`` and ``settings.json`` and writes ``figures/<kind>.<format>``.
    """
    for k in kinds:
        check_choice(k, "kind", FIGURE_KINDS)
    for f in formats:
        check_choice(f, "format", BUNDLE_FORMATS)
    return "\n".join(
        f"{python} -m nnspec_core figure --matrix data/matrix.npy --settings settings.json --kind {k} "
        f"--format {f} --out figures/{k}.{f}"
        for k in kinds
        for f in formats
    )


def explorer_bundle(
    res: ExplorerResult,
    A: ArrayLike,
    settings: ExplorerSettings,
    *,
    formats: tuple[str, ...] = BUNDLE_FORMATS,
    scale: float = 2,
) -> bytes:
    """ "Download everything" zip of the Explorer (layout of :func:`nnspec_core.export.bundle_zip`).

    Members: ``figures/{spectrum,transient}.{png,svg,pdf,html}``, ``data/`` (:func:`explorer_data`),
    ``settings.json`` (``settings`` with ``matrix_sha256`` filled in), ``command.txt``
    (:func:`explorer_command`) and ``MANIFEST.txt``.

    Raises
    ------
    ValueError
        If ``A`` is not the matrix of ``res``.
    """
    from nnspec_core.export import bundle_zip

    if not isinstance(settings, ExplorerSettings):
        raise TypeError(f"settings must be ExplorerSettings; got {type(settings).__name__}.")
    data = explorer_data(res, A)
    settings = ExplorerSettings(**{**settings.to_dict_raw(), "matrix_sha256": res.summary.key})
    figs = explorer_figures(res, show_fov=settings.show_fov, theme=settings.figure_theme())
    return bundle_zip(
        figs,
        data=data,
        settings=settings.to_dict(),
        cli_command=explorer_command(formats=tuple(formats)),
        formats=formats,
        scale=scale,
    )


# ---------------------------------------------------------------------------------------------------- CLI
def add_figure_arguments(p: Any) -> None:
    """Arguments of ``python -m nnspec_core figure`` (see :func:`run_figure`)."""
    p.add_argument("--matrix", required=True, metavar="M", help="square matrix file (.npy, .csv, .txt, .mtx)")
    p.add_argument("--kind", choices=FIGURE_KINDS, default="spectrum", help="which figure to write")
    p.add_argument("--out", required=True, metavar="FILE", help="output file (.png, .svg, .pdf or .html)")
    p.add_argument("--format", choices=BUNDLE_FORMATS, help="output format (default: from the --out suffix)")
    p.add_argument("--settings", metavar="settings.json", help="Explorer settings (from a page's export zip)")
    p.add_argument("--eps-levels", nargs="+", metavar="L", help="contour levels log10 eps, e.g. -1 -2 -3")
    p.add_argument("--eps", type=float, help="eps of the rho_eps/alpha_eps numbers (absolute)")
    p.add_argument("--region", nargs=4, type=float, metavar=("RE0", "RE1", "IM0", "IM1"), help="grid window")
    p.add_argument("--n-grid", type=int, help="grid points per axis")
    p.add_argument("--dynamics", choices=DYNAMICS, help="||A^k|| (discrete) or ||e^{tA}|| (continuous)")
    p.add_argument("--horizon", type=float, help="k_max (discrete) or t_max (continuous)")
    p.add_argument("--no-kreiss", action="store_true", help="skip the Kreiss constant (faster)")
    p.add_argument("--talk", action="store_true", help="talk theme (large fonts, 16:9)")
    p.add_argument("--scale", type=float, default=2.0, help="PNG resolution multiplier")


def _load_settings(path: str | None) -> dict[str, Any]:
    import json
    from pathlib import Path

    if path is None:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"--settings {path}: cannot read ({err.strerror or err}).") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"--settings {path}: not valid JSON ({err.msg} at line {err.lineno}).") from None
    except RecursionError:
        raise ValueError(f"--settings {path}: JSON nested too deeply.") from None
    if not isinstance(d, dict):
        raise ValueError(f"--settings {path}: must be a JSON object; got {type(d).__name__}.")
    return d


def run_figure(args: Any) -> int:
    """``python -m nnspec_core figure``: write one Explorer figure of a matrix file.

    Settings come from ``--settings`` (an Explorer ``settings.json``), then explicit flags override them.
    """
    from pathlib import Path

    from nnspec_core.cli import UsageError
    from nnspec_core.export import ExportUnavailable, write_figure
    from nnspec_core.matrix_io import load_matrix_file

    out = Path(args.out)
    fmt = args.format or out.suffix.lstrip(".").lower()
    if fmt not in BUNDLE_FORMATS:
        raise UsageError(f"--out {args.out}: cannot tell the format from the suffix; give --format.")
    d = _load_settings(args.settings)
    saved_dynamics = d.get("dynamics", "discrete")
    overrides = {
        "eps": args.eps,
        "region": tuple(args.region) if args.region is not None else None,
        "n_grid": args.n_grid,
        "dynamics": args.dynamics,
        "horizon": args.horizon,
        "eps_levels": parse_levels(" ".join(args.eps_levels)) if args.eps_levels else None,
    }
    d.update({k: v for k, v in overrides.items() if v is not None})
    if args.no_kreiss:
        d["kreiss"] = False
    if args.talk:
        d["theme"] = "talk"
    if args.horizon is None and args.dynamics is not None and args.dynamics != saved_dynamics:
        d.pop("horizon", None)  # a horizon saved for the other dynamics (steps vs time) would not fit
    try:
        settings = settings_from_dict(d)
    except (TypeError, ValueError) as err:
        raise ValueError(f"settings: {err}") from None
    A = load_matrix_file(args.matrix, max_dim=MAX_EXPLORER_N)
    key = matrix_key(A)
    if settings.matrix_sha256 is not None and settings.matrix_sha256 != key:
        raise ValueError(f"--matrix {args.matrix} is not the matrix of the settings (sha256 differs).")
    res = explore(A, **settings.explore_kwargs())
    fig = explorer_figure(res, args.kind, show_fov=settings.show_fov, theme=settings.figure_theme())
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_figure(fig, out, fmt=fmt, scale=args.scale)
    except ExportUnavailable as err:
        raise ValueError(str(err)) from None
    print(f"wrote {out} ({args.kind}, {fmt}, n = {A.shape[0]})")
    return 0
