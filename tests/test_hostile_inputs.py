"""Hostile-input fuzz (issue 8) over every non-browser input path, with hypothesis.

Paths: uploaded matrix bytes (random bytes under every extension, .npy headers declaring huge or
exotic shapes and dtypes, Matrix Market banners and size lines, deeply nested CSV quoting and
brackets), pasted text, CLI argv (``nnspec_core.cli.main``) and study config files (JSON/YAML).

The contract checked everywhere: an input is either accepted with a valid result (square, finite,
2 <= n <= max_dim, float64/complex128; for the CLI exit code 0) or refused with a one-line,
non-empty message of the documented error type -- never another exception, never a traceback, and
never an allocation of the size a header merely declares (checked with tracemalloc). Valid inputs
built by the generators must still round-trip exactly, so the refusals are not trivially "refuse all".

Hypothesis runs derandomized (stable in CI) with modest ``max_examples``; the CLI fuzz writes only
below a module temporary directory (every ``--out`` value comes from that pool).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnspec_core.cli import main
from nnspec_core.matrix_io import (
    MAX_UPLOAD_BYTES,
    MatrixLoadError,
    load_matrix_bytes,
    load_state_npz,
    parse_matrix_text,
    save_matrix,
)
from nnspec_core.studies import StudyConfig, read_config_file

FUZZ = settings(
    deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def fuzz(n: int) -> settings:
    """Derandomized (stable in CI), no deadline, ``n`` examples."""
    return settings(FUZZ, max_examples=n)


MAX_DIM = 50  # small max_dim: oversize refusals are reachable by the generators
EXTS = (".npy", ".csv", ".txt", ".mtx")


def _one_line(msg: str, *, max_len: int | None = 600) -> None:
    assert msg and "\n" not in msg and "Traceback" not in msg, repr(msg[:300])
    if max_len is not None:
        assert len(msg) < max_len, f"message too long ({len(msg)} chars): {msg[:200]}..."


def _load_or_refuse(fn, *args, max_dim: int = MAX_DIM, **kw) -> np.ndarray | None:
    """Call a matrix_io loader: a valid matrix or a one-line MatrixLoadError, nothing else."""
    try:
        A = fn(*args, max_dim=max_dim, **kw)
    except MatrixLoadError as err:
        _one_line(str(err))
        return None
    assert isinstance(A, np.ndarray) and A.ndim == 2 and A.shape[0] == A.shape[1]
    assert 2 <= A.shape[0] <= max_dim
    assert A.dtype in (np.float64, np.complex128)
    assert np.all(np.isfinite(A))
    return A


# ---------------------------------------------------------------------------------------------- uploaded bytes
FILENAMES = st.one_of(
    st.sampled_from(EXTS).map(lambda e: "m" + e),
    st.sampled_from(EXTS).map(str.upper).map(lambda e: "UP" + e),
    st.sampled_from(
        [
            "../../etc/passwd.npy",
            "/etc/shadow.csv",
            "C:\\Windows\\win.ini.txt",
            "a/b/../c.mtx",
            "x.npy\x00.csv",
            "",
            ".npy",
            "no_extension",
            "m.npz",
            "m.pkl",
            "m.json",
            "evil.csv.py",
            "~/.ssh/id_rsa.txt",
            "x" * 5000 + ".csv",
        ]
    ),
)


@fuzz(300)
@given(data=st.binary(max_size=2048), filename=FILENAMES)
def test_random_bytes_under_any_name_load_or_refuse(data, filename):
    A = _load_or_refuse(load_matrix_bytes, data, filename)
    if A is not None:
        assert Path(filename).suffix.lower() in EXTS


_NPY_MAGIC = st.sampled_from([b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00", b"\x93NUMPY\x03\x00", b"\x93NUMPY\x09\x09"])
_MTX_BANNER = st.sampled_from(
    [
        b"%%MatrixMarket matrix coordinate real general\n",
        b"%%MatrixMarket matrix array complex hermitian\n",
        b"%%MatrixMarket matrix coordinate pattern symmetric\n",
        b"%%MatrixMarket matrix array integer skew-symmetric\n",
        b"%%MatrixMarket matrix coordinate real general\n3 3 9\n",
        b"%%MatrixMarket matrix array real general\n2 2\n",
    ]
)


@fuzz(200)
@given(prefix=st.one_of(_NPY_MAGIC, _MTX_BANNER), tail=st.binary(max_size=512))
def test_valid_magic_then_garbage_is_refused_cleanly(prefix, tail):
    ext = ".npy" if prefix.startswith(b"\x93") else ".mtx"
    _load_or_refuse(load_matrix_bytes, prefix + tail, "m" + ext)


# ---------------------------------------------------------------------------------------------- .npy headers
def _npy(header: dict | str, body: bytes, version: tuple[int, int] = (1, 0)) -> bytes:
    fh = io.BytesIO()
    if isinstance(header, dict):
        writer = np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0
        writer(fh, header)
        return fh.getvalue() + body
    # raw (possibly hostile) header text with a correct length field
    text = header.encode("latin1", errors="replace")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + body


DTYPES = st.sampled_from(
    ["<f8", ">f8", "<f4", "<c16", "<c8", "|u1", "<i8", "<f2", "|b1", "<U3", "|S4", "|V8", "<M8[s]"]
)
SHAPES = st.lists(st.integers(0, 2**62), max_size=4).map(tuple)


@fuzz(250)
@given(
    descr=DTYPES,
    shape=st.one_of(SHAPES, st.tuples(st.integers(1, 60), st.integers(1, 60))),
    fortran=st.booleans(),
    version=st.sampled_from([(1, 0), (2, 0)]),
    seed=st.integers(0, 2**31),
    extra=st.integers(-3, 3),
)
def test_npy_declared_shape_and_dtype(descr, shape, fortran, version, seed, extra):
    """Any declared shape/dtype: refused before allocation unless it is a small square numeric matrix."""
    dtype = np.dtype(descr)
    n_items = math.prod(shape) if shape else 1
    n_body = max(0, min(n_items * dtype.itemsize + extra, 4096))  # never more than 4 KiB of actual data
    body = np.random.default_rng(seed).integers(0, 256, n_body, dtype=np.uint8).tobytes()
    data = _npy({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran, "shape": shape}, body, version)
    A = _load_or_refuse(load_matrix_bytes, data, "m.npy")
    if A is not None:
        assert dtype.kind in "iufc" and len(shape) == 2 and shape[0] == shape[1] and extra == 0
        expected = np.frombuffer(body, dtype=dtype).reshape(shape, order="F" if fortran else "C")
        np.testing.assert_array_equal(A, expected)


HOSTILE_HEADERS = [
    "{'descr': '<f8', 'fortran_order': False, 'shape': (10**100, 10**100), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (-1, -1), }",
    "{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }",
    "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2, 2), }",
    "{'descr': ('<f8', (2, 2)), 'fortran_order': False, 'shape': (2, 2), }",
    "__import__('os').system('echo pwned')",
    "{'descr': '<f8', 'fortran_order': __import__('os'), 'shape': (2, 2), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': " + "(" * 500 + ")" * 500 + ", }",
    "{'descr': '<f8', 'fortran_order': False}",
    "{" * 10_000,
    "",
]


@pytest.mark.parametrize("header", HOSTILE_HEADERS, ids=range(len(HOSTILE_HEADERS)))
def test_npy_hostile_header_text_is_refused_without_allocation(header):
    data = _npy(header, b"\x00" * 32)
    tracemalloc.start()
    try:
        A = _load_or_refuse(load_matrix_bytes, data, "m.npy")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert A is None
    assert peak < 8 * 2**20, f"peak allocation {peak} bytes for a refused header"


@pytest.mark.parametrize("n", [2001, 10**6, 2**31, 2**62])
def test_npy_huge_declared_square_shape_is_refused_without_allocation(n):
    data = _npy({"descr": "<f8", "fortran_order": False, "shape": (n, n)}, b"\x00" * 64)
    tracemalloc.start()
    try:
        with pytest.raises(MatrixLoadError, match="too large"):
            load_matrix_bytes(data, "m.npy")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


# ---------------------------------------------------------------------------------------------- Matrix Market
_MTX_WORDS = st.sampled_from(["coordinate", "array", "real", "complex", "integer", "pattern", "general", "symmetric",
                              "skew-symmetric", "hermitian", "double", "vector", "Matrix", "COORDINATE"])  # fmt: skip
_BIG_INT = st.one_of(st.integers(0, 6), st.integers(0, 10**30), st.sampled_from([-1, 2**63, 2**64 - 1]))
_MTX_LINE = st.one_of(
    st.tuples(st.integers(-2, 8), st.integers(-2, 8), st.floats(allow_nan=True, allow_infinity=True)).map(
        lambda t: f"{t[0]} {t[1]} {t[2]!r}"
    ),
    st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)).map(lambda t: f"{t[0]!r} {t[1]!r}"),
    st.text(alphabet="0123456789 .-+eE%\t", max_size=30),
)


@fuzz(250)
@given(
    words=st.lists(_MTX_WORDS, min_size=3, max_size=4),
    size=st.lists(_BIG_INT, min_size=1, max_size=4),
    lines=st.lists(_MTX_LINE, max_size=40),
    comments=st.integers(0, 3),
)
def test_mtx_banner_size_line_and_body(words, size, lines, comments):
    text = "%%MatrixMarket matrix " + " ".join(words) + "\n" + "% comment\n" * comments
    text += " ".join(map(str, size)) + "\n" + "\n".join(lines) + "\n"
    tracemalloc.start()
    try:
        _load_or_refuse(load_matrix_bytes, text.encode(), "m.mtx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20


@pytest.mark.parametrize("size_line", ["100000000 100000000 1", "3 3 99999999999999999", "2001 2001 0",
                                       "1" + "0" * 40 + " 2 2", "2 2 -1", "-2 -2 1"])  # fmt: skip
def test_mtx_huge_declared_size_is_refused(size_line):
    data = f"%%MatrixMarket matrix coordinate real general\n{size_line}\n1 1 1.0\n".encode()
    with pytest.raises(MatrixLoadError):
        load_matrix_bytes(data, "m.mtx")


# files that made scipy 1.17's C++ Matrix Market reader (scipy.io.mmread) crash the process (SIGSEGV/SIGABRT):
# a non-numeric token at the end of the file, malformed coordinate lines. The server would die with every session.
SCIPY_CRASHERS = [
    b"%%MatrixMarket matrix array real general\n2 2\n3o",
    b"%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4x",
    b"%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 3o",
    b"%%MatrixMarket matrix array complex hermitian\n1 1\n9-7 e5x9",
    b"%%MatrixMarket matrix coordinate pattern symmetric\n4 1 2\ne0+\t88 \t7x+5e\n",
    b"%%MatrixMarket matrix coordinate integer skew-symmetric\n3 1 0\nEE1 \n",
    b"%%MatrixMarket matrix coordinate integer skew-symmetric\n3 2 6\n+E 2+-\t%%040Eo. 4\t\n",
]


def test_mtx_files_that_crash_scipys_reader_are_refused_in_process():
    """Run in a subprocess: a crash (negative return code) must show up as a test failure, not kill the worker."""
    code = (
        "import sys\nfrom nnspec_core.matrix_io import MatrixLoadError, load_matrix_bytes\n"
        f"for data in {SCIPY_CRASHERS!r}:\n"
        "    try:\n        load_matrix_bytes(data, 'm.mtx')\n    except MatrixLoadError as err:\n        print(err)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    assert proc.returncode == 0, f"loader process died with return code {proc.returncode}: {proc.stderr[-300:]}"
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == len(SCIPY_CRASHERS)  # one one-line refusal per file
    assert sum(ln.startswith("invalid Matrix Market data") for ln in lines) >= 4


@fuzz(120)
@given(
    n=st.integers(2, 7),
    seed=st.integers(0, 2**31),
    field=st.sampled_from(["real", "complex", "integer", "pattern"]),
    symmetry=st.sampled_from(["general", "symmetric", "skew-symmetric", "hermitian"]),
    sparse=st.booleans(),
)
def test_mtx_reader_matches_scipy_on_valid_files(n, seed, field, symmetry, sparse):
    """Differential check of the strict reader against scipy.io.mmread on files scipy.io.mmwrite writes."""
    import scipy.io
    import scipy.sparse

    if (field == "pattern" and (not sparse or symmetry in ("skew-symmetric", "hermitian"))) or (
        symmetry == "hermitian" and field != "complex"
    ):
        return  # combinations Matrix Market does not define
    rng = np.random.default_rng(seed)
    A = rng.integers(-9, 10, (n, n)).astype(float) if field in ("integer", "pattern") else rng.standard_normal((n, n))
    if field == "complex":
        A = A + 1j * rng.standard_normal((n, n))
    A = {"general": A, "symmetric": A + A.T, "skew-symmetric": A - A.T, "hermitian": A + A.conj().T}[symmetry]
    if sparse:
        A = A * (rng.random((n, n)) < 0.5)
        A = np.triu(A) + np.triu(A, 1).T * {"general": 1, "symmetric": 1, "skew-symmetric": -1}.get(symmetry, 1)
        if symmetry == "hermitian":
            A = np.triu(A) + np.triu(A, 1).conj().T
        if field == "pattern":
            A = (A != 0).astype(float)
    buf = io.BytesIO()
    M = scipy.sparse.coo_array(A) if sparse else A
    scipy.io.mmwrite(buf, M, field=field, symmetry=symmetry, precision=17)
    data = buf.getvalue()
    want = scipy.io.mmread(io.BytesIO(data))
    want = want.toarray() if hasattr(want, "toarray") else np.asarray(want)
    got = _load_or_refuse(load_matrix_bytes, data, "m.mtx", max_dim=8)
    if np.count_nonzero(want) == 0 and got is None:
        return
    assert got is not None, data[:200]
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------------------- CSV / pasted text
_TEXT_ALPHABET = "0123456789.,;[]() \t\n\r\"'-+eEijnaf#%x\\"


@fuzz(400)
@given(text=st.text(alphabet=_TEXT_ALPHABET, max_size=300))
def test_random_matrix_like_text(text):
    _load_or_refuse(parse_matrix_text, text)
    _load_or_refuse(load_matrix_bytes, text.encode(), "m.csv")


@fuzz(120)
@given(
    depth=st.integers(1, 3000),
    kind=st.sampled_from(['"', "'", "[", "(", '"[', "'\"", '""', "[[", "array("]),
    core=st.sampled_from(["1", "1, 2", "1 2\n3 4", "", "1;2"]),
    rows=st.integers(1, 3),
)
def test_deeply_nested_quoting_and_brackets(depth, kind, core, rows):
    closing = kind[::-1].translate(str.maketrans("[(", "])")).replace("(yarra", ")")
    cell = kind * depth + core + closing * depth
    text = "\n".join([",".join([cell] * rows)] * rows)
    assert _load_or_refuse(parse_matrix_text, text) is None or depth <= 2
    _load_or_refuse(load_matrix_bytes, text.encode("utf-8"), "m.csv")


@fuzz(150)
@given(
    n=st.integers(2, 8),
    seed=st.integers(0, 2**31),
    sep=st.sampled_from([",", ", ", " ", "\t", ";", " ; "]),
    quote=st.sampled_from(["", '"', "'"]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    complex_=st.booleans(),
)
def test_valid_text_round_trips_exactly(n, seed, sep, quote, newline, complex_):
    """The strict parser is not 'refuse everything': generated valid matrices come back bit-exact."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)) * 10.0 ** rng.integers(-300, 300, (n, n))
    if complex_:
        A = A + 1j * rng.standard_normal((n, n))

    def cell(x):
        if isinstance(x, complex):
            im = repr(x.imag)
            s = f"{x.real!r}{im if im.startswith('-') else '+' + im}j"
        else:
            s = repr(float(x))
        return quote + s + quote

    text = newline.join(sep.join(cell(complex(x) if complex_ else float(x)) for x in row) for row in A)
    B = _load_or_refuse(parse_matrix_text, text, max_dim=8)
    assert B is not None
    np.testing.assert_array_equal(B, A)


def test_oversized_text_and_too_many_rows_are_refused_quickly():
    with pytest.raises(MatrixLoadError, match="too large"):
        parse_matrix_text("1 " * (MAX_UPLOAD_BYTES // 2 + 1))
    with pytest.raises(MatrixLoadError, match="too large"):
        load_matrix_bytes(b"1" * (MAX_UPLOAD_BYTES + 1), "m.csv")
    with pytest.raises(MatrixLoadError, match="too large"):
        parse_matrix_text("1\n" * (MAX_DIM + 1), max_dim=MAX_DIM)


# ---------------------------------------------------------------------------------------------- state archives
@fuzz(100)
@given(data=st.binary(max_size=1024), zipped=st.booleans())
def test_state_npz_random_bytes(tmp_path_factory, data, zipped):
    p = tmp_path_factory.mktemp("npz") / "state.npz"
    if zipped:  # a real zip container around random members
        import zipfile

        with zipfile.ZipFile(p, "w") as zf:
            zf.writestr("grad.npy", data)
            zf.writestr("exp_avg.npy", _npy({"descr": "<f8", "fortran_order": False, "shape": (10**12,)}, b""))
    else:
        p.write_bytes(data)
    try:
        state = load_state_npz(p)
    except MatrixLoadError as err:
        _one_line(str(err))
    else:
        assert all(v.dtype == np.float64 and np.all(np.isfinite(v)) for v in state.values())


# ---------------------------------------------------------------------------------------------- CLI argv
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    """Matrix, state, settings and config files (valid and hostile) plus output paths, all in one temp dir."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    H = rng.standard_normal((4, 4))
    H = H @ H.T / 4 + 0.1 * np.eye(4)
    save_matrix(d / "H.npy", H)
    save_matrix(d / "H.csv", H)
    save_matrix(d / "H.mtx", H)
    (d / "bad.csv").write_text('1,"2\n3,4\n')
    (d / "ragged.txt").write_text("1 2\n3\n")
    (d / "nan.csv").write_text("1,nan\n3,4\n")
    (d / "rect.csv").write_text("1,2,3\n4,5,6\n")
    (d / "huge.npy").write_bytes(_npy({"descr": "<f8", "fortran_order": False, "shape": (10**9, 10**9)}, b""))
    (d / "pickle.npy").write_bytes(_npy("{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }", b"x" * 16))
    (d / "random.mtx").write_bytes(bytes(rng.integers(0, 256, 300, dtype=np.uint8)))
    np.savez(d / "state.npz", grad=rng.standard_normal(4), exp_avg=rng.standard_normal(4) * 0.1,
             exp_avg_sq=rng.random(4) * 0.01, square_avg=rng.random(4) * 0.01)  # fmt: skip
    np.savez(d / "state_nan.npz", grad=np.array([np.nan, 1, 2, 3.0]))
    (d / "state_garbage.npz").write_bytes(b"PK\x03\x04garbage")
    (d / "settings.json").write_text(json.dumps({"n_grid": 12, "kreiss": False}))
    (d / "settings_bad.json").write_text('{"n_grid": "many"}')
    (d / "settings_deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / "settings_list.json").write_text("[1, 2]")
    (d / "config_bad.json").write_text('{"optimizers": ["gd"], "steps": -5}')
    (d / "config_unknown.json").write_text('{"rm -rf": 1}')
    (d / "config_ok.json").write_text(json.dumps({"optimizers": ["gd"], "seeds": [0], "n_lrs": 1, "steps": 3}))
    (d / "config.yaml").write_text("a: &a [1, 1]\nb: &b [*a, *a]\noptimizers: [*b, *b]\n")
    (d / "existing_dir").mkdir()
    return d


_NUMS = ["0", "-1", "1", "0.5", "0.999", "1e308", "1e-320", "nan", "inf", "-inf", "abc", "", "9" * 400, "0x10",
         "1_000", "  3", "१२", "2", "10", "-0.0"]  # fmt: skip
_IN = ["H.npy", "H.csv", "H.mtx", "bad.csv", "ragged.txt", "nan.csv", "rect.csv", "huge.npy", "pickle.npy",
       "random.mtx", "missing.npy", "existing_dir", "state.npz"]  # fmt: skip
_OUT = ["out.npy", "out.csv", "out.txt", "out.mtx", "out.json", "out.html", "out", "existing_dir",
        "no_such_dir/out.npy", "sub/../out2.csv", "H.npy.bak.npy"]  # fmt: skip
_SUB_FLAGS = {
    "operator": {"--optimizer": ["gd", "heavy_ball", "nesterov", "rmsprop", "adam", "adamw", "sgd", "eval"],
                 "--hessian": _IN, "--lr": _NUMS, "--momentum": _NUMS, "--beta1": _NUMS, "--beta2": _NUMS,
                 "--eps": _NUMS, "--alpha": _NUMS, "--weight-decay": _NUMS, "--step": _NUMS,
                 "--state": ["state.npz", "state_nan.npz", "state_garbage.npz", "H.npy", "missing.npz"],
                 "--coords": ["buffer", "history", "frozen", "full", "simple", "theta", "x"],
                 "--scaling": ["raw", "scaled", "x"], "--max-dim": _NUMS},
    "analyze": {"--show": _NUMS, "--max-dim": _NUMS, "--cluster-tol": _NUMS},
    "figure": {"--matrix": _IN, "--kind": ["spectrum", "transient", "fov", "x"], "--format": ["html", "x"],
               "--settings": ["settings.json", "settings_bad.json", "settings_deep.json", "settings_list.json",
                              "missing.json"],
               "--eps": _NUMS, "--n-grid": ["2", "12", "0", "-3", "100000", "x"], "--horizon": _NUMS,
               "--dynamics": ["discrete", "continuous", "x"]},
    "study": {"--preset": ["tiny", "paper", "deep", "x"], "--jobs": _NUMS,
              "--config": ["config_bad.json", "config_unknown.json", "config_ok.json", "config.yaml",
                           "settings_deep.json", "H.npy", "missing.json", "existing_dir"]},
}  # fmt: skip
_SWITCHES = {"analyze": ["--json"], "figure": ["--no-kreiss", "--talk"], "study": ["--force", "--quiet"],
             "operator": []}  # fmt: skip
_PATH_FLAGS = {"--hessian", "--state", "--matrix", "--settings", "--config"}


@st.composite
def cli_argv(draw, d: Path) -> list[str]:
    sub = draw(st.sampled_from([*_SUB_FLAGS, "nonsense", ""]))
    argv: list[str] = [sub] if sub else []
    if draw(st.booleans()):
        argv.insert(0, draw(st.sampled_from(["--debug", "--version", "--help", "-h", "--bogus"])))
    flags = _SUB_FLAGS.get(sub, {})
    for flag in draw(st.lists(st.sampled_from(sorted(flags)), max_size=6)) if flags else []:
        value = draw(st.sampled_from(flags[flag]))
        argv += [flag, str(d / value) if flag in _PATH_FLAGS else value]
    if sub == "analyze" and draw(st.integers(0, 3)):
        argv.append(str(d / draw(st.sampled_from(_IN))))
    if sub in _SWITCHES and _SWITCHES[sub]:
        argv += draw(st.lists(st.sampled_from(_SWITCHES[sub]), max_size=2))
    if sub and draw(st.integers(0, 4)):  # every write goes below the temp dir
        argv += ["--out", str(d / draw(st.sampled_from(_OUT)))]
    if draw(st.integers(0, 9)) == 0:
        argv.append(draw(st.sampled_from(["--", "-", "=", "\x00", "../../etc/passwd", "--lr=1"])))
    return argv


class _StudyReached(BaseException):  # not an Exception: main's last-resort handler must not swallow it
    """Raised by the patched run_study: the CLI validated its input and would start training."""


def _no_study(config, out, **kw):
    assert isinstance(config, StudyConfig)
    raise _StudyReached


@fuzz(150)
@given(data=st.data())
def test_cli_random_argv_exit_code_and_one_line_error(cli_files, data):
    argv = data.draw(cli_argv(cli_files))
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.setattr("nnspec_core.studies.run_study", _no_study)  # a valid study would train for minutes
        try:
            rc = main(argv)
        except _StudyReached:
            return
        except SystemExit as exc:  # --debug re-raises only real errors; argparse exits are converted by main
            pytest.fail(f"main raised SystemExit({exc.code}) for {argv!r}")
        except Exception as exc:  # noqa: BLE001
            if "--debug" in argv:  # --debug re-raises, by design, with the traceback
                assert isinstance(exc, (ValueError, TypeError, OSError)), f"{type(exc).__name__} for {argv!r}"
                return
            raise
    assert isinstance(rc, int) and rc in (0, 1, 2), f"exit code {rc} for {argv!r}: {err.getvalue()!r}"
    e = err.getvalue()
    assert "Traceback" not in e
    if rc == 1:
        lines = e.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nnspec: error: "), (argv, e)
    elif rc == 2:
        assert e.strip().splitlines()[-1].startswith("nnspec"), (argv, e)
        assert "error:" in e.strip().splitlines()[-1]
    elif "--help" not in argv and "-h" not in argv and "--version" not in argv:
        assert any(a == "--out" for a in argv) or out.getvalue()


@pytest.mark.parametrize("name", ["settings_deep.json"])
def test_cli_deeply_nested_json_is_an_input_error_not_an_internal_error(cli_files, name, capsys):
    """A JSON file nested 100 000 levels deep is bad input (exit 1, one line), not an internal error (3)."""
    deep = str(cli_files / name)
    for argv in (
        ["study", "--config", deep, "--out", str(cli_files / "o_deep")],
        ["figure", "--matrix", str(cli_files / "H.npy"), "--settings", deep, "--out", str(cli_files / "f.html")],
    ):
        rc = main(argv)
        e = capsys.readouterr().err
        assert rc == 1, f"exit code {rc} for {argv[0]}: {e.strip()}"
        assert e.startswith("nnspec: error: ") and "internal error" not in e


# ---------------------------------------------------------------------------------------------- study configs
_KNOWN_KEYS = [f for f in StudyConfig.__dataclass_fields__]
_JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["gd", "adam", "heavy_ball", "moons", "tanh", "mse", "buffer", "", "../../x", "a" * 3000]),
    st.text(max_size=20),
)  # fmt: skip
_JSON = st.recursive(
    _JSON_LEAF,
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=8), c, max_size=4)),
    max_leaves=12,
)
_CONFIG = st.dictionaries(st.one_of(st.sampled_from(_KNOWN_KEYS), st.text(max_size=12)), _JSON, max_size=5)


@fuzz(150)
@given(doc=_CONFIG)
def test_study_config_from_random_json(doc):
    try:
        cfg = StudyConfig.from_dict(doc)
    except (ValueError, TypeError) as err:
        _one_line(str(err), max_len=None)  # length: see test_study_config_error_message_is_bounded
        return
    assert StudyConfig.from_dict(cfg.to_dict()) == cfg  # an accepted config is a valid, reproducible one


@fuzz(80)
@given(raw=st.one_of(st.binary(max_size=300), _CONFIG.map(lambda d: json.dumps(d).encode())),
       suffix=st.sampled_from([".json", ".yaml", ".yml", ".txt"]))  # fmt: skip
def test_study_config_file_random_bytes(tmp_path_factory, raw, suffix):
    p = tmp_path_factory.mktemp("cfg") / f"config{suffix}"
    p.write_bytes(raw)
    try:
        read_config_file(str(p))
    except (ValueError, TypeError) as err:
        _one_line(str(err), max_len=None)


@pytest.mark.parametrize("doc", [{"name": ["a" * 5000]}, {"optimizers": ["x" * 5000]}, {"seeds": [[0] * 5000]},
                                 {"rules": [{"name": "r", "horizon": "h" * 5000}]}])  # fmt: skip
def test_study_config_error_message_is_bounded(doc):
    """A refusal quotes what arrived, but not all of it: a huge value must not make a huge (or endless) message."""
    with pytest.raises((ValueError, TypeError)) as info:
        StudyConfig.from_dict(doc)
    _one_line(str(info.value), max_len=600)


def test_yaml_alias_bomb_is_refused_without_expansion(tmp_path):
    """A 'billion laughs' YAML document (anchors of anchors, 2**40 leaves) is refused without expanding it.

    Run in a subprocess with a time limit: a loader that expands the aliases never returns (2**40 leaves), so
    the limit only has to cover the import of torch/scipy on a loaded CI machine.
    """
    anchors = ", ".join(["&a0 [1, 1]"] + [f"&a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 41)])
    (tmp_path / "bomb.yaml").write_text(f"seeds: [{anchors}]\noptimizers: [*a40]\n")
    code = (
        "import sys\nfrom nnspec_core.studies import read_config_file\n"
        "try:\n    read_config_file(sys.argv[1])\nexcept (ValueError, TypeError) as err:\n    print(err)\n"
    )
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "bomb.yaml")], capture_output=True,
                              text=True, timeout=60, cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("read_config_file did not return within 60 s on a YAML alias bomb (it expands the aliases)")
    assert proc.returncode == 0, proc.stderr[-500:]
    _one_line(proc.stdout.strip())
