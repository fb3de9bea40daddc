"""Reading and writing user matrices: the one home for file and pasted-text input.

Supported inputs (chosen by file extension, case-insensitive):

``.npy``
    NumPy binary, read with ``allow_pickle=False``. The header (shape, dtype) is
    checked *before* any data is allocated, so a header that declares a huge shape
    is refused cheaply.
``.csv`` / ``.txt``
    UTF-8 text (or UTF-16 with a byte-order mark), parsed by :func:`parse_matrix_text`: one row per line, entries
    separated by commas, semicolons and/or whitespace; ``#`` starts a comment line.
``.mtx``
    Matrix Market (coordinate or array; real, complex, integer or pattern; general,
    symmetric, skew-symmetric or hermitian), read by a strict pure-Python reader here
    (scipy's C++ reader crashes the whole process on some malformed files).

Nothing is ever unpickled or evaluated. Every refusal is a :class:`MatrixLoadError`
(a ``ValueError``) with a one-line, user-facing reason. Matrices come back as
float64 or complex128 ndarrays of shape ``(n, n)`` with ``2 <= n <= max_dim`` and
only finite entries.

Limits: files (and pasted text) larger than :data:`MAX_UPLOAD_BYTES` (25 MiB) and
matrices larger than :data:`MAX_MATRIX_DIM` (2000) per side are refused.
"""

from __future__ import annotations

import codecs
import io
import itertools
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nnspec_core._validation import check_matrix

__all__ = [
    "MAX_UPLOAD_BYTES",
    "MAX_MATRIX_DIM",
    "SUPPORTED_EXTENSIONS",
    "MatrixLoadError",
    "load_matrix_bytes",
    "load_matrix_file",
    "parse_matrix_text",
    "save_matrix",
    "load_state_npz",
]

#: Largest accepted file or pasted text, in bytes (25 MiB).
MAX_UPLOAD_BYTES = 25 * 2**20
#: Largest accepted matrix dimension n (the matrix is n x n).
MAX_MATRIX_DIM = 2000
#: File extensions understood by :func:`load_matrix_bytes` and :func:`save_matrix`.
SUPPORTED_EXTENSIONS = (".npy", ".csv", ".txt", ".mtx")

_MTX_FORMATS = ("coordinate", "array")
_MTX_FIELDS = ("real", "complex", "integer", "pattern")
_MTX_SYMMETRIES = ("general", "symmetric", "skew-symmetric", "hermitian")


class MatrixLoadError(ValueError):
    """A user matrix could not be loaded; ``str(err)`` is a one-line, user-facing reason."""


# ----------------------------------------------------------------------------------------------------------------------
# public entry points


def load_matrix_bytes(data: bytes, filename: str, *, max_dim: int = MAX_MATRIX_DIM) -> np.ndarray:
    """Load a square matrix from the raw bytes of an uploaded file.

    Parameters
    ----------
    data : bytes
        File content, at most :data:`MAX_UPLOAD_BYTES` long.
    filename : str
        Name of the file; only its extension is used (``.npy``, ``.csv``, ``.txt``, ``.mtx``).
    max_dim : int
        Largest accepted dimension n.

    Returns
    -------
    A : ndarray of shape (n, n), float64 or complex128
        ``2 <= n <= max_dim``, every entry finite.

    Raises
    ------
    MatrixLoadError
        With a one-line reason for any unreadable, malformed, unsafe or unsuitable input.
    """
    max_dim = _check_max_dim(max_dim)
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise MatrixLoadError(f"file content must be bytes; got {type(data).__name__}.")
    if not isinstance(filename, (str, os.PathLike)):
        raise MatrixLoadError(f"filename must be a string; got {type(filename).__name__}.")
    ext = Path(filename).suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        shown = f"'{ext}'" if ext else "no extension"
        raise MatrixLoadError(f"unsupported file type ({shown}); use one of {', '.join(SUPPORTED_EXTENSIONS)}.")
    _check_size(len(data))
    if ext == ".npy":
        A = _read_npy(data, max_dim)
    elif ext == ".mtx":
        A = _read_mtx(data, max_dim)
    else:
        A = parse_matrix_text(_decode_text(data), max_dim=max_dim)
    return _final_check(A, max_dim)


def load_matrix_file(path: str | os.PathLike, *, max_dim: int = MAX_MATRIX_DIM) -> np.ndarray:
    """Load a square matrix from a file on disk (see :func:`load_matrix_bytes`).

    The file size is checked before the file is read.

    Returns
    -------
    A : ndarray of shape (n, n), float64 or complex128

    Raises
    ------
    MatrixLoadError
        If the file is missing, unreadable, too large or not an acceptable matrix.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise MatrixLoadError(f"path must be a string or path; got {type(path).__name__}.")
    p = Path(path)
    try:
        if not p.is_file():
            raise MatrixLoadError(
                f"no such file: {str(p)!r}." if not p.exists() else f"not a regular file: {str(p)!r}."
            )
        _check_size(p.stat().st_size)
        data = p.read_bytes()
    except OSError as err:
        raise MatrixLoadError(f"cannot read {str(p)!r}: {err.strerror or err}.") from None
    return load_matrix_bytes(data, p.name, max_dim=max_dim)


def parse_matrix_text(text: str, *, max_dim: int = MAX_MATRIX_DIM) -> np.ndarray:
    """Parse a pasted matrix, with a strict tokenizer (no ``eval``).

    Accepted layouts:

    * plain rows, one per line; entries separated by commas and/or whitespace
      (``1 2`` / ``1, 2``), or by semicolons when each is a single number (``1;2``, a
      semicolon-separated CSV); blank lines and lines starting with ``#`` are skipped; an
      entry may be wrapped in one pair of quotes (``"1.5"``);
    * MATLAB style without brackets: ``1 2; 3 4`` (on a line whose semicolon-separated parts
      hold several entries, ``;`` ends a row), also over lines (``1 2;`` then ``3 4``): a
      semicolon at the end of a line is a row end and is ignored;
    * nested brackets, Python/NumPy style: ``[[1, 2], [3, 4]]`` or ``[[1. 2.]\\n [3. 4.]]``,
      optionally wrapped in ``array(...)``;
    * single brackets, MATLAB style: ``[1 2; 3 4]`` (rows separated by ``;`` or new lines).

    Entries are real (``-1.5e-3``, ``inf``, ``nan``) or complex (``1+2j``, ``-3.5j``,
    ``(1-2j)``; ``i`` is accepted for ``j``). Non-finite entries are recognised and
    then refused.

    Parameters
    ----------
    text : str
        At most :data:`MAX_UPLOAD_BYTES` characters.
    max_dim : int
        Largest accepted dimension n.

    Returns
    -------
    A : ndarray of shape (n, n), float64 (complex128 if any entry is complex)

    Raises
    ------
    MatrixLoadError
        For empty, non-numeric, ragged, non-square, 1x1, non-finite or oversized input.
    """
    max_dim = _check_max_dim(max_dim)
    if not isinstance(text, str):
        raise MatrixLoadError(f"matrix text must be a string; got {type(text).__name__}.")
    if len(text) > MAX_UPLOAD_BYTES:
        raise MatrixLoadError(f"text is too large: {len(text)} characters exceeds the limit of {MAX_UPLOAD_BYTES}.")
    body = _strip_array_wrapper(text.removeprefix("\ufeff"))
    A = _fast_real_rows(body, max_dim)
    if A is not None:
        return _final_check(A, max_dim)
    tokens = _tokenize(body)
    if any(tok.kind == "[" for tok in tokens):
        rows = _rows_from_brackets(tokens, max_dim)
    else:
        rows = _rows_from_lines(_semicolon_rows(tokens), max_dim)
    return _final_check(_rows_to_array(rows), max_dim)


def save_matrix(path: str | os.PathLike, A: Any) -> None:
    """Write a matrix so that :func:`load_matrix_file` reads it back exactly.

    Parameters
    ----------
    path : str or path-like
        Destination; its extension selects the format: ``.npy`` (``np.save``, no pickle),
        ``.csv`` (comma-separated), ``.txt`` (space-separated) or ``.mtx`` (Matrix Market
        array format). Text formats use shortest round-trip float repr, complex as ``a+bj``.
    A : array_like of shape (m, n)
        Finite real or complex matrix.

    Raises
    ------
    ValueError, TypeError
        For an unsupported extension or a non-numeric / non-finite matrix.
    OSError
        If the file cannot be written.
    """
    ext = Path(path).suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise ValueError(f"path must end in one of {', '.join(SUPPORTED_EXTENSIONS)}; got {str(path)!r}.")
    A = check_matrix(A, "A", square=False, max_dim=None)
    if ext == ".npy":
        with open(path, "wb") as fh:
            np.save(fh, A, allow_pickle=False)
    elif ext == ".mtx":
        import scipy.io

        scipy.io.mmwrite(str(path), A, precision=17)
    else:
        sep = "," if ext == ".csv" else " "
        lines = (sep.join(_format_entry(x) for x in row) for row in A)
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def load_state_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load an optimizer state from a ``.npz`` archive (``allow_pickle=False``).

    Parameters
    ----------
    path : str or path-like
        Archive written by ``np.savez``; typical keys are ``"exp_avg"``, ``"exp_avg_sq"``,
        ``"square_avg"``, ``"grad"`` and ``"momentum_buffer"``, each of shape (n,) in the flat
        parameter order.

    Returns
    -------
    dict[str, ndarray]
        One float64 array per key, every entry finite.

    Raises
    ------
    MatrixLoadError
        For a missing, oversized, corrupt or pickled archive, or non-numeric / non-finite arrays.
    """
    p = Path(path)
    try:
        if not p.is_file():
            raise MatrixLoadError(f"no such file: {str(p)!r}.")
        _check_size(p.stat().st_size)
        data = p.read_bytes()
    except OSError as err:
        raise MatrixLoadError(f"cannot read {str(p)!r}: {err.strerror or err}.") from None
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
        raise MatrixLoadError(f"{p.name} is not a valid .npz archive.") from None
    if sum(info.file_size for info in infos) > MAX_UPLOAD_BYTES:
        raise MatrixLoadError(f"{p.name} is too large when uncompressed (limit {_mb(MAX_UPLOAD_BYTES)}).")
    state: dict[str, np.ndarray] = {}
    for info in infos:
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        try:
            member = zf.read(info)
        except (zipfile.BadZipFile, ValueError, EOFError, OSError, NotImplementedError) as err:
            raise MatrixLoadError(f"{p.name}: entry {key!r} is corrupt ({err}).") from None
        arr = _read_npy_any_shape(member, where=f"{p.name}: entry {key!r}")
        if not np.all(np.isfinite(arr)):
            raise MatrixLoadError(f"{p.name}: entry {key!r} must contain only finite numbers.")
        state[key] = arr
    return state


# ----------------------------------------------------------------------------------------------------------------------
# helpers: limits and final checks


def _mb(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f} MiB"


def _check_size(nbytes: int) -> None:
    if nbytes > MAX_UPLOAD_BYTES:
        raise MatrixLoadError(f"file is too large: {_mb(nbytes)} exceeds the limit of {_mb(MAX_UPLOAD_BYTES)}.")
    if nbytes == 0:
        raise MatrixLoadError("file is empty.")


def _check_max_dim(max_dim: Any) -> int:
    if isinstance(max_dim, bool) or not isinstance(max_dim, (int, np.integer)) or max_dim < 2:
        raise ValueError(f"max_dim must be an integer >= 2; got {max_dim!r}.")
    return int(max_dim)


def _check_declared_shape(shape: tuple[int, ...], max_dim: int) -> None:
    """Refuse a declared shape before anything of that size is allocated."""
    if len(shape) != 2:
        raise MatrixLoadError(f"matrix must be a 2-D array; got {len(shape)}-D array of shape {tuple(shape)}.")
    m, n = shape
    if m == 0 or n == 0:
        raise MatrixLoadError(f"matrix is empty; got shape {tuple(shape)}.")
    if max(m, n) > max_dim:
        raise MatrixLoadError(f"matrix is too large: at most {max_dim}x{max_dim} is supported; got shape {(m, n)}.")
    if m != n:
        raise MatrixLoadError(f"matrix must be a square 2-D array; got shape {(m, n)}.")


def _final_check(A: Any, max_dim: int) -> np.ndarray:
    try:
        return check_matrix(A, "matrix", square=True, finite=True, min_dim=2, max_dim=max_dim)
    except (ValueError, TypeError) as err:
        raise MatrixLoadError(str(err)) from None


def _decode_text(data: bytes) -> str:
    """UTF-8 (optional BOM), or UTF-16 with a BOM (as some spreadsheet exports write)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise MatrixLoadError("file is not valid UTF-16 text.") from None
        if "\x00" in text:
            raise MatrixLoadError("file is not a text file (it contains NUL characters).")
        return text
    if b"\x00" in data:
        raise MatrixLoadError("file is not a text file (it contains NUL bytes).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MatrixLoadError("file is not UTF-8 text.") from None


# ----------------------------------------------------------------------------------------------------------------------
# .npy


def _npy_header(fh: io.BytesIO, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
    except (ValueError, EOFError, OSError):
        raise MatrixLoadError(f"{where} is not a valid .npy file (bad magic string).") from None
    try:
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(fh)
        else:
            raise MatrixLoadError(f"{where} uses unsupported .npy format version {version[0]}.{version[1]}.")
    except MatrixLoadError:
        raise
    except Exception:  # numpy's header reader on untrusted bytes (ValueError, SyntaxError, TokenError, ...)
        raise MatrixLoadError(f"{where} has a corrupt .npy header.") from None
    if dtype.hasobject:
        raise MatrixLoadError(f"{where} holds Python objects (a pickled array); only numeric arrays are accepted.")
    if dtype.names is not None or dtype.subdtype is not None or dtype.kind not in "iufc":
        raise MatrixLoadError(f"{where} must hold a numeric (real or complex) array; got dtype {dtype}.")
    return tuple(int(s) for s in shape), bool(fortran), dtype


def _npy_body(data: bytes, fh: io.BytesIO, shape: tuple[int, ...], fortran: bool, dtype: np.dtype, where: str):
    offset = fh.tell()
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    present = len(data) - offset
    if present < expected:
        raise MatrixLoadError(f"{where} is truncated: header declares {expected} data bytes but {present} are present.")
    if present > expected:
        raise MatrixLoadError(f"{where} has {present - expected} unexpected bytes after the array data.")
    flat = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C").copy()


def _read_npy(data: bytes, max_dim: int) -> np.ndarray:
    fh = io.BytesIO(data)
    shape, fortran, dtype = _npy_header(fh, "file")
    _check_declared_shape(shape, max_dim)
    return _npy_body(data, fh, shape, fortran, dtype, "file")


def _read_npy_any_shape(data: bytes, *, where: str) -> np.ndarray:
    fh = io.BytesIO(data)
    shape, fortran, dtype = _npy_header(fh, where)
    if dtype.kind == "c":
        raise MatrixLoadError(f"{where} must be real; got dtype {dtype}.")
    return np.asarray(_npy_body(data, fh, shape, fortran, dtype, where), dtype=np.float64)


# ----------------------------------------------------------------------------------------------------------------------
# .mtx


def _read_mtx(data: bytes, max_dim: int) -> np.ndarray:
    text = _decode_text(data)
    lines = iter(text.splitlines())
    banner = next(lines, "").split()
    if len(banner) != 5 or banner[0].lower() != "%%matrixmarket" or banner[1].lower() != "matrix":
        raise MatrixLoadError("not a Matrix Market file: the first line must be '%%MatrixMarket matrix ...'.")
    fmt, field, symmetry = (b.lower() for b in banner[2:])
    for value, allowed, what in (
        (fmt, _MTX_FORMATS, "format"),
        (field, _MTX_FIELDS, "field"),
        (symmetry, _MTX_SYMMETRIES, "symmetry"),
    ):
        if value not in allowed:
            raise MatrixLoadError(f"unsupported Matrix Market {what} {value!r}; expected one of {', '.join(allowed)}.")
    if fmt == "array" and field == "pattern":
        raise MatrixLoadError("invalid Matrix Market header: 'array' format cannot have 'pattern' field.")
    size_line = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("%")), None)
    if size_line is None:
        raise MatrixLoadError("Matrix Market file has no size line (matrix is empty).")
    parts = size_line.split()
    n_expected = 3 if fmt == "coordinate" else 2
    if len(parts) != n_expected or not all(re.fullmatch(r"\d{1,18}", s) for s in parts):
        layout = "'rows cols entries'" if fmt == "coordinate" else "'rows cols'"
        raise MatrixLoadError(f"invalid Matrix Market size line {size_line.strip()[:60]!r}; expected {layout}.")
    m, n = int(parts[0]), int(parts[1])
    _check_declared_shape((m, n), max_dim)
    if fmt == "coordinate" and int(parts[2]) > m * n:
        raise MatrixLoadError(f"invalid Matrix Market size line: {parts[2]} entries exceed {m}x{n}.")
    n_entries = int(parts[2]) if fmt == "coordinate" else None
    return _mtx_body(list(lines), fmt, field, symmetry, m, n_entries)


def _mtx_number(tok: str, field: str, k: int) -> float | int:
    if field == "integer":
        if not re.fullmatch(r"[+-]?\d{1,30}", tok):
            raise MatrixLoadError(f"invalid Matrix Market data: Invalid integer value {tok[:30]!r} (value {k}).")
        val = int(tok)
        if not -(2**63) <= val < 2**63:
            raise MatrixLoadError(f"invalid Matrix Market data: Integer out of range {tok[:30]!r} (value {k}).")
        return val
    try:
        return float(tok)
    except ValueError:
        raise MatrixLoadError(
            f"invalid Matrix Market data: Invalid floating-point value {tok[:30]!r} (value {k})."
        ) from None


_MTX_TOKEN = re.compile(r"\S+")


def _mtx_body(lines: list[str], fmt: str, field: str, symmetry: str, n: int, n_entries: int | None) -> np.ndarray:
    """Strict pure-Python reader of the data lines (scipy's C++ reader crashes the process on some malformed files).

    Array format: values in column-major order (lower triangle for symmetric/hermitian, strictly lower for
    skew-symmetric). Coordinate format: ``i j [value]`` with 1-based indices; duplicates are summed.
    Off-diagonal entries of a symmetric/skew-symmetric/hermitian matrix are mirrored (A_ji = A_ij, -A_ij, conj).
    """
    per_value = 2 if field == "complex" else (0 if field == "pattern" else 1)
    if fmt == "array":
        if symmetry == "general":
            rows, cols = np.divmod(np.arange(n * n), n)[::-1]  # column-major: row = k % n, col = k // n
        else:
            first = 0 if symmetry in ("symmetric", "hermitian") else 1
            cols, rows = (
                zip(*[(j, i) for j in range(n) for i in range(j + first, n)], strict=True) if n > first else ((), ())
            )
            rows, cols = np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp)
        width, count = per_value, len(rows)
    else:
        width, count = 2 + per_value, int(n_entries)
    # lazily, at most one token more than needed: a file of millions of tokens is refused without listing them
    stream = (m.group() for ln in lines if not ln.lstrip().startswith("%") for m in _MTX_TOKEN.finditer(ln))
    tokens = list(itertools.islice(stream, width * count + 1))
    if len(tokens) < width * count:
        missing = width * count - len(tokens)
        raise MatrixLoadError(f"invalid Matrix Market data: Truncated file. Expected another {missing} value(s).")
    if len(tokens) > width * count:
        raise MatrixLoadError("invalid Matrix Market data: Too many values in the file (file too long).")
    if fmt == "coordinate":
        idx = []
        for k in range(count):
            i, j = tokens[width * k], tokens[width * k + 1]
            if not (re.fullmatch(r"\d{1,18}", i) and re.fullmatch(r"\d{1,18}", j)):
                raise MatrixLoadError(
                    f"invalid Matrix Market data: Invalid index ({i[:20]!r}, {j[:20]!r}) at entry {k + 1}."
                )
            if not (1 <= int(i) <= n and 1 <= int(j) <= n):
                raise MatrixLoadError(f"invalid Matrix Market data: index ({i}, {j}) out of bounds at entry {k + 1}.")
            idx.append((int(i) - 1, int(j) - 1))
        rows = np.array([p[0] for p in idx], dtype=np.intp)
        cols = np.array([p[1] for p in idx], dtype=np.intp)
        value_tokens = [tokens[width * k + 2 : width * (k + 1)] for k in range(count)]
    else:
        value_tokens = [tokens[width * k : width * (k + 1)] for k in range(count)]
    if field == "pattern":
        vals = np.ones(count)
    elif field == "complex":
        vals = np.array([complex(_mtx_number(re_, field, k), _mtx_number(im, field, k))
                         for k, (re_, im) in enumerate(value_tokens, start=1)], dtype=np.complex128)  # fmt: skip
    else:
        vals = np.array([_mtx_number(v[0], field, k) for k, v in enumerate(value_tokens, start=1)], dtype=np.float64)
    A = np.zeros((n, n), dtype=vals.dtype)
    np.add.at(A, (rows, cols), vals)
    if symmetry != "general":
        off = rows != cols
        mirror = {"symmetric": vals, "skew-symmetric": -vals, "hermitian": np.conj(vals)}[symmetry]
        np.add.at(A, (cols[off], rows[off]), mirror[off])
    return A


# ----------------------------------------------------------------------------------------------------------------------
# text tokenizer (no eval)

_UREAL = r"(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)"
_REAL_RE = re.compile(rf"[+-]?{_UREAL}", re.IGNORECASE)
_STRICT_COMPLEX_RE = re.compile(rf"(?:[+-]?{_UREAL}[+-]|[+-]?){_UREAL}?[ij]", re.IGNORECASE)
_WRAPPER_RE = re.compile(
    r"\A\s*(?:np\.|numpy\.)?(?:array|matrix)\(\s*(?P<body>.*?)\s*(?:,\s*dtype\s*=\s*[\w.'\"]+\s*)?\)\s*\Z",
    re.DOTALL,
)
_SCAN_RE = re.compile(
    r"""(?P<ws>[^\S\n]+)|(?P<nl>\n)|(?P<delim>[,;])|(?P<lb>\[)|(?P<rb>\])"""
    r"""|"(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s,;\[\]"']+)|(?P<bad>.)""",
)


_HSPACE = r"[^\S\n]"
_SEP_PATTERN = rf"{_HSPACE}*[,;]{_HSPACE}*|{_HSPACE}+"
_TRAILING_SEMICOLONS_RE = re.compile(r"(?:\s*;)+\s*\Z")
_REAL_LINE_RE = re.compile(rf"[+-]?{_UREAL}(?:(?:{_SEP_PATTERN})[+-]?{_UREAL})*", re.IGNORECASE)


def _fast_real_rows(text: str, max_dim: int) -> np.ndarray | None:
    """Fast path for the common case (plain rows of real numbers, equal lengths); None means 'use the tokenizer'.

    Anything unusual (brackets, quotes, complex entries, inline comments, errors) returns None, so that
    the general tokenizer produces the same result or a precise error message.
    """
    rows: list[list[str]] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        s = line.strip()
        if not s or s[0] in "#%":
            continue
        if ";" in s:  # the rules of _semicolon_rows: a row end at the end of a line, else rows or entries
            s = _TRAILING_SEMICOLONS_RE.sub("", s)
            parts = [p.strip() for p in s.split(";")]
            if not all(parts):
                return None
            if all(_REAL_RE.fullmatch(p) for p in parts):
                line_rows = [parts]  # "1;2": one number per part, ';' separates entries
            elif all(_REAL_LINE_RE.fullmatch(p) for p in parts):
                line_rows = [p.replace(",", " ").split() for p in parts]  # "1 2; 3 4": ';' ends a row
            else:
                return None
        elif _REAL_LINE_RE.fullmatch(s):
            line_rows = [s.replace(",", " ").split()]  # structure already checked by the regex
        else:
            return None
        for row in line_rows:
            rows.append(row)
            if len(rows) > max_dim or len(row) != len(rows[0]) or len(rows[0]) > max_dim:
                return None
    if not rows:
        return None
    return np.array(rows, dtype=np.float64)


class _Tok:
    __slots__ = ("kind", "text", "line", "col")

    def __init__(self, kind: str, text: str, line: int, col: int):
        self.kind, self.text, self.line, self.col = kind, text, line, col


def _strip_array_wrapper(text: str) -> str:
    m = _WRAPPER_RE.match(text)
    return m.group("body") if m else text


def _tokenize(text: str) -> list[_Tok]:
    """Split text into tokens: entries ('num'), '[', ']', ',', ';', new lines ('nl'). Comment lines are dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    tokens: list[_Tok] = []
    line, line_start, prev_end_field = 1, 0, False
    in_comment = False
    for m in _SCAN_RE.finditer(text):
        kind = m.lastgroup
        col = m.start() - line_start + 1
        if kind == "nl":
            tokens.append(_Tok("nl", "\n", line, col))
            line, line_start, in_comment, prev_end_field = line + 1, m.end(), False, False
            continue
        if in_comment:
            continue
        if kind == "bare" and m.group().startswith(("#", "%")):  # comment to the end of the line
            in_comment = True
            continue
        if kind == "bad":
            ch = m.group()
            if ch in "\"'":
                raise MatrixLoadError(f"unbalanced quote at line {line}, column {col}.")
            raise MatrixLoadError(f"unexpected character {ch!r} at line {line}, column {col}.")
        is_field = kind in ("dq", "sq", "bare")
        if is_field and prev_end_field:
            raise MatrixLoadError(
                f"nested or doubled quotes are not supported (line {line}, column {col}); write plain numbers."
            )
        prev_end_field = is_field
        if kind == "ws":
            continue
        if is_field:
            tokens.append(_Tok("num", m.group(kind).strip(), line, col))
        else:
            tokens.append(_Tok({"delim": m.group(), "lb": "[", "rb": "]"}[kind], m.group(), line, col))
    return tokens


def _parse_number(tok: _Tok) -> float | complex:
    s = tok.text
    inner = s[1:-1].strip() if len(s) >= 2 and s[0] == "(" and s[-1] == ")" else s
    if _REAL_RE.fullmatch(inner):
        return float(inner)
    if _STRICT_COMPLEX_RE.fullmatch(inner):
        z = inner[:-1] + "j"  # the imaginary unit is the last character ('i' or 'j')
        try:
            return complex(z)
        except ValueError:
            pass
    shown = s if len(s) <= 30 else s[:27] + "..."
    where = f"line {tok.line}, column {tok.col}"
    if not s:
        raise MatrixLoadError(f"empty entry at {where}.")
    raise MatrixLoadError(f"non-numeric entry {shown!r} at {where}.")


def _row_too_long(line: int, max_dim: int) -> MatrixLoadError:
    return MatrixLoadError(f"matrix is too large: row at line {line} has more than {max_dim} entries.")


def _semicolon_rows(tokens: list[_Tok]) -> list[_Tok]:
    """Plain layout: decide, line by line, what a ';' means (the tokens with row-ending ';' turned into new lines).

    * ';' at the end of a line (before any comment) ends the row, as in MATLAB: dropped (``1 2;`` then ``3 4``);
    * a line whose ';'-separated parts each hold one entry uses ';' between entries (``1;2``, CSV with semicolons);
    * a line with a part of several entries uses ';' between rows (``1 2; 3 4``, MATLAB without brackets).
    """
    out: list[_Tok] = []
    line: list[_Tok] = []
    for tok in tokens + [_Tok("nl", "\n", 0, 0)]:
        if tok.kind != "nl":
            line.append(tok)
            continue
        while line and line[-1].kind == ";":
            line.pop()
        counts, n = [], 0
        for t in line:
            if t.kind == ";":
                counts.append(n)
                n = 0
            elif t.kind == "num":
                n += 1
        counts.append(n)
        if len(counts) > 1 and max(counts) > 1:
            line = [_Tok("nl", "\n", t.line, t.col) if t.kind == ";" else t for t in line]
        out += line
        if tok.line:  # not the sentinel
            out.append(tok)
        line = []
    return out


def _rows_from_lines(tokens: list[_Tok], max_dim: int) -> list[list[_Tok]]:
    """Plain layout: one row per line; ',' or ';' or whitespace separate entries."""
    rows: list[list[_Tok]] = []
    row: list[_Tok] = []
    expect_entry = False  # just saw a delimiter
    for tok in tokens + [_Tok("nl", "\n", 0, 0)]:
        if tok.kind == "nl":
            if expect_entry:
                raise MatrixLoadError(f"empty entry at line {row[-1].line if row else tok.line} (trailing separator).")
            if row:
                rows.append(row)
                if len(rows) > max_dim:
                    raise MatrixLoadError(f"matrix is too large: more than {max_dim} rows.")
            row, expect_entry = [], False
        elif tok.kind in ",;":
            if expect_entry or not row:
                raise MatrixLoadError(f"empty entry at line {tok.line}, column {tok.col}.")
            expect_entry = True
        elif tok.kind == "num":
            row.append(tok)
            expect_entry = False
            if len(row) > max_dim:
                raise _row_too_long(tok.line, max_dim)
        else:  # a ']' without any '[' (text with a '[' goes to _rows_from_brackets)
            raise MatrixLoadError(f"unexpected {tok.text!r} at line {tok.line}, column {tok.col}.")
    return rows


def _rows_from_brackets(tokens: list[_Tok], max_dim: int) -> list[list[_Tok]]:
    """Bracketed layout: ``[[a, b], [c, d]]`` (nested) or ``[a b; c d]`` (MATLAB style)."""
    sig = [k for k, t in enumerate(tokens) if t.kind != "nl"]  # indices of significant tokens
    first = tokens[sig[0]]
    if first.kind != "[":
        raise MatrixLoadError(f"unexpected {first.text[:30]!r} at line {first.line}, column {first.col} before '['.")
    depth = max_depth = 0
    end = -1
    for k in sig:
        t = tokens[k]
        if t.kind == "[":
            depth += 1
            max_depth = max(max_depth, depth)
            if depth > 2:
                raise MatrixLoadError(
                    f"brackets nested too deeply at line {t.line}, column {t.col} (at most 2 levels)."
                )
        elif t.kind == "]":
            depth -= 1
            if depth == 0:
                end = k
                break
    if end < 0:
        raise MatrixLoadError("unbalanced brackets: missing ']'.")
    after = next((tokens[k] for k in sig if k > end), None)
    if after is not None:
        raise MatrixLoadError(
            f"unexpected {after.text[:30]!r} at line {after.line}, column {after.col} after the final ']'."
        )
    inner = tokens[sig[0] + 1 : end]
    if max_depth == 2:
        return _nested_rows([t for t in inner if t.kind != "nl"], max_dim)
    # MATLAB style: ';' separates rows like a new line does
    return _rows_from_lines([_Tok("nl", "\n", t.line, t.col) if t.kind == ";" else t for t in inner], max_dim)


def _nested_rows(toks: list[_Tok], max_dim: int) -> list[list[_Tok]]:
    """Rows of ``[a, b], [c, d]`` (the outer brackets removed); inside a row ',', ';' or spaces separate entries."""
    rows: list[list[_Tok]] = []
    row: list[_Tok] | None = None  # None: between rows
    after_sep = False
    for t in toks:
        if row is None:
            if t.kind == "[":
                row, after_sep = [], False
            elif t.kind == "num":
                raise MatrixLoadError(
                    f"entry {t.text[:30]!r} at line {t.line}, column {t.col} is outside a row's brackets."
                )
            elif t.kind == "]":  # pragma: no cover - excluded by the bracket balance check
                raise MatrixLoadError(f"unbalanced ']' at line {t.line}, column {t.col}.")
        elif t.kind == "]":
            if after_sep:
                raise MatrixLoadError(f"empty entry at line {t.line}, column {t.col} (trailing separator).")
            rows.append(row)
            if len(rows) > max_dim:
                raise MatrixLoadError(f"matrix is too large: more than {max_dim} rows.")
            row = None
        elif t.kind in ",;":
            if after_sep or not row:
                raise MatrixLoadError(f"empty entry at line {t.line}, column {t.col}.")
            after_sep = True
        else:  # 'num' ('[' inside a row is excluded by the depth check)
            row.append(t)
            after_sep = False
            if len(row) > max_dim:
                raise _row_too_long(t.line, max_dim)
    return rows


def _rows_to_array(rows: list[list[_Tok]]) -> np.ndarray:
    if not any(rows):
        raise MatrixLoadError("no numbers found (the matrix is empty).")
    width = len(rows[0])
    for k, r in enumerate(rows[1:], start=2):
        if len(r) != width:
            where = f" (line {r[0].line})" if r else ""
            raise MatrixLoadError(
                f"ragged rows: row 1 has {width} entries but row {k}{where} has {len(r)}; all rows need equal length."
            )
    values = [[_parse_number(t) for t in r] for r in rows]
    is_complex = any(isinstance(v, complex) for r in values for v in r)
    return np.array(values, dtype=np.complex128 if is_complex else np.float64)


def _format_entry(x: complex | float) -> str:
    if isinstance(x, (complex, np.complexfloating)):
        im = repr(float(x.imag))
        return f"{float(x.real)!r}{im if im.startswith('-') else '+' + im}j"
    return repr(float(x))
