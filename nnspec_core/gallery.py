"""Matrix gallery of the Matrix Explorer: classic non-normal test matrices and optimizer operators.

Every entry is a pure function of its parameters (random ones take a ``seed``) returning a real
``float64`` matrix of shape ``(n, n)``:

``grcar``       Grcar matrix: ``-1`` on the subdiagonal, ``1`` on the diagonal and the first ``k``
                superdiagonals. Eigenvalues far inside its large pseudospectra (Trefethen & Embree, ch. 7).
``jordan``      Jordan block ``lam I + N`` (``N`` the shift): defective, κ(V) = ∞; ``Λ_ε`` is nearly a
                disk of radius ``ε^(1/n)`` around ``lam``.
``toeplitz``    Tridiagonal Toeplitz ``tridiag(lower, diag, upper)``: eigenvalues
                ``diag + 2 sqrt(lower*upper) cos(j pi/(n+1))``, pseudospectra near the ellipse of its symbol.
``kms``         Kac–Murdock–Szegő ``A_ij = rho^|i-j|``: symmetric Toeplitz, hence **normal** (κ(V) = 1;
                pseudospectra are exact ε-disks): the reference point for "no non-normality".
``companion``   Companion matrix of the monic polynomial ``z^n + c_{n-1} z^{n-1} + ... + c_0``
                (first row ``-c_{n-1} ... -c_0``, ones on the subdiagonal); eigenvalues = the roots.
``random``      Seeded random non-normal matrix ``Q (D + s N) Q^T``: ``D`` diagonal with eigenvalues
                uniform in ``(-r, r)``, ``N`` strictly upper triangular Gaussian / sqrt(n), ``Q`` a random
                orthogonal matrix. The eigenvalues are ``diag(D)`` exactly and the Henrici departure is
                ``s ||N||_F`` exactly; ``s`` dials the non-normality.
``optimizer``   Update operator ``J`` (one step ``z_next = J @ z``, state convention of
                :func:`nnspec_core.operators.update_operator`) of an optimizer on a random quadratic
                ``1/2 theta^T H theta`` with ``H = Q diag(lam) Q^T``, ``lam`` log-spaced from 1 down to
                ``1/kappa_H`` and ``Q`` a seeded random orthogonal matrix. RMSProp/Adam/AdamW use a stationary
                second moment ``v_hat = diag(H @ H)`` (frozen preconditioner ``M = 1/(sqrt(v_hat) + eps)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla

from nnspec_core._validation import check_choice, check_scalar
from nnspec_core.operators import OPTIMIZERS, update_operator

__all__ = [
    "GALLERY",
    "GALLERY_TITLES",
    "MAX_GALLERY_N",
    "GalleryMatrix",
    "gallery_matrix",
    "grcar",
    "jordan_block",
    "toeplitz_tridiagonal",
    "kms",
    "companion",
    "random_nonnormal",
    "optimizer_operator",
]

#: Gallery keys, in menu order.
GALLERY = ("grcar", "jordan", "toeplitz", "kms", "companion", "random", "optimizer")
#: Menu titles of the gallery keys.
GALLERY_TITLES = {
    "grcar": "Grcar matrix",
    "jordan": "Jordan block",
    "toeplitz": "Tridiagonal Toeplitz",
    "kms": "Kac–Murdock–Szegő (normal)",
    "companion": "Companion matrix",
    "random": "Random non-normal (seeded)",
    "optimizer": "Optimizer update operator on a random quadratic",
}
#: Largest gallery dimension n (state dimension for the optimizer operators).
MAX_GALLERY_N = 400

_DESCRIPTIONS = {
    "grcar": "Eigenvalues sit deep inside large pseudospectra: a tiny perturbation moves them far.",
    "jordan": "A single defective eigenvalue: κ(V) = ∞ and the ε-pseudospectrum is a disk of radius about ε^(1/n).",
    "toeplitz": "Non-symmetric tridiagonal Toeplitz: real eigenvalues, but the pseudospectra fill an ellipse.",
    "kms": "Symmetric, hence normal: κ(V) = 1 and every ε-pseudospectrum is a union of ε-disks.",
    "companion": "Eigenvalues are the roots of a polynomial; companion matrices are notoriously non-normal.",
    "random": "Known eigenvalues plus a dial s for the non-normal (strictly triangular) part.",
    "optimizer": "One optimizer step z_next = J z on a quadratic loss; |μ| < 1 means the iteration contracts.",
}


@dataclass(frozen=True)
class GalleryMatrix:
    """One gallery matrix with its provenance.

    Attributes
    ----------
    A : ndarray of shape (n, n), float64
        The matrix.
    key : str
        Gallery key (one of :data:`GALLERY`).
    title : str
        Menu title.
    description : str
        One plain-language sentence on what to look at.
    params : dict
        The parameters used (keyword arguments of :func:`gallery_matrix`), JSON-friendly.
    """

    A: np.ndarray
    key: str
    title: str
    description: str
    params: dict

    def __post_init__(self) -> None:
        assert self.A.ndim == 2 and self.A.shape[0] == self.A.shape[1]


# ---------------------------------------------------------------------------------------------- builders
def _dim(n: Any, name: str = "n", *, min_val: int = 2) -> int:
    return int(check_scalar(n, name, min_val=min_val, max_val=MAX_GALLERY_N, integer=True))


def grcar(n: int, *, k: int = 3) -> np.ndarray:
    """Grcar matrix of shape (n, n): ``-1`` on the subdiagonal, ``1`` on the diagonal and ``k`` superdiagonals."""
    n = _dim(n)
    k = int(check_scalar(k, "k", min_val=0, max_val=n - 1, integer=True))
    A = np.diag(-np.ones(n - 1), -1)
    for j in range(k + 1):
        A += np.diag(np.ones(n - j), j)
    return A


def jordan_block(n: int, *, lam: float = 0.0) -> np.ndarray:
    """Jordan block ``lam I + N`` of shape (n, n) (ones on the superdiagonal)."""
    n = _dim(n)
    lam = check_scalar(lam, "lam")
    return lam * np.eye(n) + np.eye(n, k=1)


def toeplitz_tridiagonal(n: int, *, lower: float = 1.0, diag: float = 0.0, upper: float = 0.25) -> np.ndarray:
    """Tridiagonal Toeplitz matrix of shape (n, n): ``lower`` below, ``diag`` on and ``upper`` above the diagonal."""
    n = _dim(n)
    lower, diag, upper = (check_scalar(v, name) for v, name in ((lower, "lower"), (diag, "diag"), (upper, "upper")))
    return diag * np.eye(n) + lower * np.eye(n, k=-1) + upper * np.eye(n, k=1)


def kms(n: int, *, rho: float = 0.5) -> np.ndarray:
    """Kac–Murdock–Szegő matrix ``A_ij = rho^|i-j|`` of shape (n, n) (symmetric Toeplitz, normal)."""
    n = _dim(n)
    rho = check_scalar(rho, "rho", min_val=-1.0, max_val=1.0)
    idx = np.arange(n)
    return sla.toeplitz(rho ** np.abs(idx))


def companion(coeffs: Any) -> np.ndarray:
    """Companion matrix of ``z^n + c_{n-1} z^{n-1} + ... + c_0``.

    Parameters
    ----------
    coeffs : array_like of shape (n,)
        Real ``[c_{n-1}, ..., c_1, c_0]`` (highest degree first, leading 1 omitted), ``n >= 2``.

    Returns
    -------
    ndarray of shape (n, n), float64
        First row ``-coeffs``, ones on the subdiagonal; its eigenvalues are the polynomial's roots.
    """
    c = np.asarray(coeffs)
    if c.dtype == object or c.dtype.kind not in "iuf" or c.ndim != 1:
        raise TypeError(f"coeffs must be a 1-D real numeric array; got dtype {c.dtype}, shape {c.shape}.")
    _dim(c.size, "len(coeffs)")
    c = c.astype(float)
    if not np.all(np.isfinite(c)):
        raise ValueError("coeffs must contain only finite numbers.")
    n = c.size
    A = np.eye(n, k=-1)
    A[0, :] = -c
    return A


def _orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-random orthogonal matrix of shape (n, n) (QR of a Gaussian matrix with sign fix)."""
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.sign(np.diag(R))[None, :]


def random_nonnormal(n: int, *, seed: int = 0, s: float = 1.0, radius: float = 0.9) -> np.ndarray:
    """Seeded random ``Q (D + s N) Q^T`` of shape (n, n) (see the module docstring).

    Parameters
    ----------
    n : int
    seed : int
        Seed of ``numpy.random.default_rng``.
    s : float
        Weight ``>= 0`` of the strictly upper triangular part (0 gives a normal, symmetric matrix).
    radius : float
        Eigenvalues are uniform in ``(-radius, radius)``, ``radius > 0``.
    """
    n = _dim(n)
    seed = int(check_scalar(seed, "seed", min_val=0, integer=True))
    s = check_scalar(s, "s", min_val=0.0)
    radius = check_scalar(radius, "radius", min_val=0.0, include_min=False)
    rng = np.random.default_rng(seed)
    d = rng.uniform(-radius, radius, n)
    N = np.triu(rng.standard_normal((n, n)), 1) / np.sqrt(n)
    Q = _orthogonal(n, rng)
    return Q @ (np.diag(d) + s * N) @ Q.T


def _stationary_state(optimizer: str, H: np.ndarray, betas: tuple[float, float], alpha: float, step: int) -> dict:
    """Optimizer state with stationary second moment ``v_hat = diag(H @ H)`` (torch names, shape (n,) each)."""
    v_hat = np.einsum("ij,ij->i", H, H)
    if optimizer == "rmsprop":
        return {"square_avg": v_hat, "grad": np.sqrt(v_hat)}
    v = v_hat * (1.0 - betas[1] ** step)  # exp_avg_sq with c2 * v = v_hat, g^2 = v keeps v stationary
    return {"exp_avg": np.zeros(H.shape[0]), "exp_avg_sq": v, "grad": np.sqrt(v)}


def optimizer_operator(
    optimizer: str,
    n: int,
    *,
    lr: float = 1.0,
    momentum: float = 0.9,
    betas: tuple[float, float] = (0.9, 0.999),
    alpha: float = 0.99,
    eps: float = 1e-8,
    kappa_H: float = 100.0,
    seed: int = 0,
    coords: str | None = None,
) -> np.ndarray:
    """Update operator ``J`` of ``optimizer`` on a seeded random quadratic with ``n`` parameters.

    Parameters
    ----------
    optimizer : {"gd", "heavy_ball", "nesterov", "rmsprop", "adam", "adamw"}
    n : int
        Number of parameters (``J`` is ``(b n, b n)`` with ``b`` state blocks, see ``coords``).
    lr, momentum, betas, alpha, eps, coords
        As in :func:`nnspec_core.operators.update_operator` (Adam uses bias-correction step 1).
    kappa_H : float
        Condition number of ``H`` (eigenvalues log-spaced in ``[1/kappa_H, 1]``).
    seed : int
        Seed of the random eigenbasis ``Q``.

    Returns
    -------
    ndarray of shape (d, d), float64
        ``J`` in the state convention of ``update_operator`` (parameters first).
    """
    optimizer = check_choice(optimizer, "optimizer", OPTIMIZERS)
    n = _dim(n, min_val=1)
    kappa_H = check_scalar(kappa_H, "kappa_H", min_val=1.0)
    seed = int(check_scalar(seed, "seed", min_val=0, integer=True))
    lam = np.geomspace(1.0, 1.0 / kappa_H, n)
    Q = _orthogonal(n, np.random.default_rng(seed))
    H = (Q * lam) @ Q.T
    H = 0.5 * (H + H.T)
    state = None
    if optimizer in ("rmsprop", "adam", "adamw"):
        state = _stationary_state(optimizer, H, tuple(betas), alpha, 1)
    op = update_operator(
        optimizer,
        H,
        lr=lr,
        momentum=momentum if optimizer in ("heavy_ball", "nesterov") else 0.0,
        betas=betas,
        alpha=alpha,
        eps=eps,
        state=state,
        step=1,
        coords=coords,
    )
    if op.d < 2:
        raise ValueError(f"{optimizer} with n = {n} gives a 1x1 operator; use n >= 2.")
    if op.d > MAX_GALLERY_N:
        raise ValueError(f"n = {n} gives a {op.d}x{op.d} operator; at most {MAX_GALLERY_N}x{MAX_GALLERY_N} is allowed.")
    return op.J


# ---------------------------------------------------------------------------------------------- dispatcher
_DEFAULTS: dict[str, dict[str, Any]] = {
    "grcar": {"n": 32, "k": 3},
    "jordan": {"n": 12, "lam": 0.0},
    "toeplitz": {"n": 40, "lower": 1.0, "diag": 0.0, "upper": 0.25},
    "kms": {"n": 20, "rho": 0.5},
    "companion": {"n": 10},
    "random": {"n": 40, "seed": 0, "s": 1.0, "radius": 0.9},
    "optimizer": {"n": 10, "optimizer": "heavy_ball", "lr": 1.0, "momentum": 0.9, "kappa_H": 100.0, "seed": 0},
}


#: Hyperparameters of the gallery's optimizer operators beyond lr (the others are ignored).
_OPTIMIZER_USES = {"gd": set(), "heavy_ball": {"momentum"}, "nesterov": {"momentum"}, "rmsprop": {"alpha", "eps"},
                   "adam": {"betas", "eps"}, "adamw": {"betas", "eps"}}  # fmt: skip


def gallery_matrix(key: str, **params: Any) -> GalleryMatrix:
    """Build gallery matrix ``key`` with ``params`` overriding its defaults.

    Parameters
    ----------
    key : {"grcar", "jordan", "toeplitz", "kms", "companion", "random", "optimizer"}
    **params
        ``n`` for every key, plus: grcar ``k``; jordan ``lam``; toeplitz ``lower, diag, upper``; kms ``rho``;
        companion ``coeffs`` (default all ones: roots are the (n+1)-th roots of unity except 1); random
        ``seed, s, radius``; optimizer ``optimizer, lr, momentum, kappa_H, seed`` (and the other keywords of
        :func:`optimizer_operator`).

    Returns
    -------
    GalleryMatrix

    Raises
    ------
    ValueError, TypeError
        For an unknown key, an unknown parameter name or an invalid value (one line).
    """
    key = check_choice(key, "key", GALLERY)
    allowed = set(_DEFAULTS[key]) | ({"coeffs"} if key == "companion" else set())
    if key == "optimizer":
        allowed |= {"betas", "alpha", "eps", "coords"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for gallery {key!r}; allowed: {sorted(allowed)}.")
    p = {**_DEFAULTS[key], **params}
    if key == "grcar":
        A = grcar(p["n"], k=p["k"])
    elif key == "jordan":
        A = jordan_block(p["n"], lam=p["lam"])
    elif key == "toeplitz":
        A = toeplitz_tridiagonal(p["n"], lower=p["lower"], diag=p["diag"], upper=p["upper"])
    elif key == "kms":
        A = kms(p["n"], rho=p["rho"])
    elif key == "companion":
        if "coeffs" not in p:
            p["coeffs"] = [1.0] * int(_dim(p["n"]))
        A = companion(p["coeffs"])
        p["n"] = A.shape[0]
    elif key == "random":
        A = random_nonnormal(p["n"], seed=p["seed"], s=p["s"], radius=p["radius"])
    else:
        kw = {k: v for k, v in p.items() if k not in ("optimizer", "n")}
        A = optimizer_operator(p["optimizer"], p["n"], **kw)
    if key == "optimizer":  # report only what the operator uses (GD has no momentum, heavy ball no betas)
        unused = {"momentum", "betas", "alpha", "eps"} - _OPTIMIZER_USES[p["optimizer"]]
        p = {k: v for k, v in p.items() if k not in unused}
    params_out = {k: (list(map(float, v)) if isinstance(v, (list, tuple, np.ndarray)) else v) for k, v in p.items()}
    return GalleryMatrix(A=A, key=key, title=GALLERY_TITLES[key], description=_DESCRIPTIONS[key], params=params_out)
