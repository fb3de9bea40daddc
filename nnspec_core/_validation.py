"""Input validation: the only home for checks on user-supplied arrays and scalars.

Every public function validates once, at its boundary, with these helpers.
Messages are one line: the argument, the requirement, and what arrived.
"""

from __future__ import annotations

import math
import reprlib
from typing import Any

import numpy as np

__all__ = ["check_matrix", "check_scalar", "check_choice", "short_repr", "MAX_DENSE_DIM"]

#: Largest matrix dimension accepted by the dense analysis paths.
MAX_DENSE_DIM = 4096


def check_matrix(
    A: Any,
    name: str = "A",
    *,
    square: bool = True,
    finite: bool = True,
    min_dim: int = 1,
    max_dim: int | None = MAX_DENSE_DIM,
) -> np.ndarray:
    """Return ``A`` as a 2-D float64 or complex128 ndarray, or raise.

    Parameters
    ----------
    A : array_like of shape (m, n)
        Real or complex numeric matrix. Object, string and boolean arrays are refused.
    name : str
        Argument name used in error messages.
    square : bool
        Require ``m == n``.
    finite : bool
        Require every entry to be finite (no NaN or inf).
    min_dim, max_dim : int
        Bounds on each dimension (``max_dim=None`` disables the upper bound).

    Returns
    -------
    ndarray of shape (m, n), dtype float64 or complex128

    Raises
    ------
    TypeError
        If ``A`` is not numeric.
    ValueError
        If the shape, size or finiteness requirement fails.
    """
    if hasattr(A, "detach"):  # torch tensor
        A = A.detach().cpu().numpy()
    try:
        arr = np.asarray(A)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular numeric 2-D array; got {type(A).__name__} ({err}).") from None
    if arr.dtype == object or arr.dtype.kind in "USVbMm":
        raise TypeError(f"{name} must be a numeric (real or complex) array; got dtype {arr.dtype}.")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array; got {arr.ndim}-D array of shape {arr.shape}.")
    m, n = arr.shape
    if square and m != n:
        raise ValueError(f"{name} must be a square 2-D array; got shape {arr.shape}.")
    if min(m, n) < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} row(s) and column(s); got shape {arr.shape}.")
    if max_dim is not None and max(m, n) > max_dim:
        raise ValueError(f"{name} is too large: at most {max_dim}x{max_dim} is supported; got shape {arr.shape}.")
    arr = arr.astype(np.complex128 if np.iscomplexobj(arr) else np.float64, copy=False)
    if finite and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        entries = "entry" if bad == 1 else "entries"
        raise ValueError(f"{name} must contain only finite numbers; got {bad} NaN/inf {entries}.")
    return arr


def check_scalar(
    x: Any,
    name: str,
    *,
    min_val: float | None = None,
    max_val: float | None = None,
    include_min: bool = True,
    include_max: bool = True,
    integer: bool = False,
) -> float | int:
    """Return ``x`` as a finite Python float (or int if ``integer``), or raise.

    Raises
    ------
    TypeError
        If ``x`` is not a real number (booleans and strings are refused).
    ValueError
        If ``x`` is not finite or lies outside the stated bounds.
    """
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number; got {type(x).__name__}.")
    if integer:
        if not float(x).is_integer():
            raise ValueError(f"{name} must be an integer; got {x!r}.")
        val: float | int = int(x)
    else:
        val = float(x)
    if not math.isfinite(val):
        raise ValueError(f"{name} must be finite; got {x!r}.")
    if min_val is not None and (val < min_val or (not include_min and val == min_val)):
        op = ">=" if include_min else ">"
        raise ValueError(f"{name} must be {op} {min_val}; got {x!r}.")
    if max_val is not None and (val > max_val or (not include_max and val == max_val)):
        op = "<=" if include_max else "<"
        raise ValueError(f"{name} must be {op} {max_val}; got {x!r}.")
    return val


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 60, 60
_SHORT.maxtuple = _SHORT.maxlist = _SHORT.maxarray = _SHORT.maxset = _SHORT.maxfrozenset = 6
_SHORT.maxdict = 4


def short_repr(value: Any) -> str:
    """``repr(value)`` cut to a few dozen characters, without walking all of a huge or deeply nested value.

    Use it to quote user input in error messages: a 5000-character string or a YAML alias bomb
    (2**40 shared list leaves) then gives a short one-line message instead of a huge or endless one.
    """
    return _SHORT.repr(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; raise ValueError naming them otherwise."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {short_repr(value)}.")
    return value
