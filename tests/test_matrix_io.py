"""Tests for nnspec_core.matrix_io: accepted layouts, exact round trips, and every refusal with its wording."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnspec_core.matrix_io import (
    MAX_MATRIX_DIM,
    MAX_UPLOAD_BYTES,
    SUPPORTED_EXTENSIONS,
    MatrixLoadError,
    load_matrix_bytes,
    load_matrix_file,
    load_state_npz,
    parse_matrix_text,
    save_matrix,
)

M22 = np.array([[1.0, 2.0], [3.0, 4.0]])


def _npy_bytes(a: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, **kw)
    return buf.getvalue()


def _npy_header_only(shape: tuple[int, ...], descr: str = "<f8", version: int = 1) -> bytes:
    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    if version == 1:
        np.lib.format.write_array_header_1_0(buf, header)
    else:
        np.lib.format.write_array_header_2_0(buf, header)
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------------------------------
# constants


def test_documented_limits():
    assert MAX_UPLOAD_BYTES == 25 * 2**20
    assert MAX_MATRIX_DIM == 2000
    assert SUPPORTED_EXTENSIONS == (".npy", ".csv", ".txt", ".mtx")
    assert issubclass(MatrixLoadError, ValueError)


# ----------------------------------------------------------------------------------------------------------------------
# pasted text: accepted layouts


@pytest.mark.parametrize(
    "text",
    [
        "1 2\n3 4",
        "1,2\n3,4\n",
        "1;2\n3;4",
        "1\t2\r\n3\t4\r\n",
        "  1 ,  2  \n\n  3 ;4  \n",
        "# a comment line\n1 2\n% another\n3 4 # trailing comment",
        '"1","2"\n"3","4"',
        "'1' '2'\n'3' 4",
        "[[1, 2], [3, 4]]",
        "[[1. 2.]\n [3. 4.]]",
        "array([[1, 2],\n       [3, 4]])",
        "np.array([[1, 2], [3, 4]], dtype=float32)",
        "[1 2; 3 4]",
        "[1, 2\n 3, 4]",
        "\ufeff1 2\n3 4",
        "1.0e0 +2\n.3E1 4.",
    ],
)
def test_parse_accepts_layouts(text):
    A = parse_matrix_text(text)
    assert A.dtype == np.float64
    np.testing.assert_array_equal(A, M22)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1+2j (3-1j)\n-j 4", [[1 + 2j, 3 - 1j], [-1j, 4]]),
        ("1+2i 3\n0 -1.5e-3-2.5e2i", [[1 + 2j, 3], [0, -1.5e-3 - 250j]]),
        ("array([[1.+2.j, 0.+0.j],[0.-1.j, 2.+0.j]])", [[1 + 2j, 0], [-1j, 2]]),
        ("[[j, 1], [2, +j]]", [[1j, 1], [2, 1j]]),
    ],
)
def test_parse_complex(text, expected):
    A = parse_matrix_text(text)
    assert A.dtype == np.complex128
    np.testing.assert_array_equal(A, np.array(expected, dtype=complex))


def test_parse_fast_and_general_paths_agree(rng):
    # plain real rows take a fast path; a complex entry forces the general tokenizer for the same numbers
    A = rng.standard_normal((7, 7)) * 10.0 ** rng.integers(-300, 300, size=(7, 7))
    text = "\n".join(", ".join(repr(float(x)) for x in row) for row in A)
    np.testing.assert_array_equal(parse_matrix_text(text), A)
    B = parse_matrix_text(text + "+0j")
    assert B.dtype == np.complex128
    np.testing.assert_array_equal(B, A)


@pytest.mark.parametrize(
    "text",
    [
        "1 2; 3 4",  # MATLAB rows without brackets: was refused as shape (1, 4)
        "1 2;\n3 4",  # a row end at the end of a line: was "empty entry at line 1 (trailing separator)"
        "1 2;\n3 4;\n",
        "1 2 ;\r\n3 4 ; # comment\n",
        "1, 2; 3, 4",
        " 1\t2 ; 3\t4 ",
        "1 2; 3 4;",
        "1 2\n3 4;",
        "1;2;\n3;4;",  # semicolon-separated CSV with a row end at each line end
        "[1 2;\n 3 4]",
        "[1 2; 3 4;]",
    ],
)
def test_parse_accepts_semicolon_rows_with_or_without_brackets(text):
    A = parse_matrix_text(text)
    assert A.dtype == np.float64
    np.testing.assert_array_equal(A, M22)
    # the fast path for plain real rows and the general tokenizer (forced by a complex entry) agree
    if "[" not in text and "#" not in text:
        B = parse_matrix_text(text.replace("4", "4+0j", 1))
        assert B.dtype == np.complex128
        np.testing.assert_array_equal(B, M22)


def test_parse_semicolon_rows_at_size():
    A = np.arange(1.0, 37.0).reshape(6, 6)
    one_line = "; ".join(" ".join(f"{x:g}" for x in row) for row in A)
    np.testing.assert_array_equal(parse_matrix_text(one_line), A)
    np.testing.assert_array_equal(parse_matrix_text(one_line.replace("; ", ";\n")), A)
    with pytest.raises(MatrixLoadError, match=r"too large: row at line 1 has more than 5 entries"):
        parse_matrix_text(one_line, max_dim=5)
    with pytest.raises(MatrixLoadError, match=r"too large: more than 2 rows"):  # rows counted across ';' and lines
        parse_matrix_text("1 2; 3 4\n5 6", max_dim=2)


@pytest.mark.parametrize(
    "text, match",
    [
        ("1 2; 3", r"ragged rows: row 1 has 2 entries but row 2 \(line 1\) has 1"),
        ("1 2; 3 x", r"non-numeric entry 'x' at line 1, column 8"),
        ("1 2; 3 4; 5 6", r"must be a square 2-D array; got shape \(3, 2\)"),
        ("1,2,;\n3,4", r"empty entry at line 1 \(trailing separator\)"),
        ("1, ,2; 3 4 5", r"empty entry at line 1, column 4"),
        ("1;2", r"must be a square 2-D array; got shape \(1, 2\)"),
        (";\n;", r"no numbers found"),
        ("1 2; [3 4]", r"unexpected '1' at line 1, column 1 before '\['"),
        ("1 2; 3 4]", r"unexpected '\]' at line 1, column 9"),
    ],
)
def test_parse_semicolon_refusals(text, match):
    with pytest.raises(MatrixLoadError, match=match):
        parse_matrix_text(text)


# ----------------------------------------------------------------------------------------------------------------------
# pasted text: refusals with pinned wording


@pytest.mark.parametrize(
    "text, match",
    [
        ("", r"no numbers found \(the matrix is empty\)"),
        ("  \n # only a comment\n", r"no numbers found"),
        ("[]", r"no numbers found"),
        ("[[]]", r"no numbers found"),
        ("7", r"at least 2 row\(s\) and column\(s\); got shape \(1, 1\)"),
        ("1 2 3\n4 5 6", r"must be a square 2-D array; got shape \(2, 3\)"),
        ("1 2\n3", r"ragged rows: row 1 has 2 entries but row 2 \(line 2\) has 1"),
        ("1,2\n3,4,5", r"ragged rows: row 1 has 2 entries but row 2 \(line 2\) has 3"),
        ("[[1, 2], [3]]", r"ragged rows: row 1 has 2 entries but row 2"),
        ("1 nan\n3 4", r"only finite numbers; got 1 NaN/inf entry"),
        ("inf -inf\n3 4", r"only finite numbers; got 2 NaN/inf entries"),
        ("1e400 1\n1 1", r"only finite numbers"),
        ("1 abc\n3 4", r"non-numeric entry 'abc' at line 1, column 3"),
        ("1 2\n3 0x10", r"non-numeric entry '0x10' at line 2, column 3"),
        ("1_0 2\n3 4", r"non-numeric entry '1_0'"),
        ("true false\nfalse true", r"non-numeric entry 'true'"),
        ("1,,2\n3,4", r"empty entry at line 1, column 3"),
        (",1\n3,4", r"empty entry at line 1, column 1"),
        ("1,2,\n3,4,", r"empty entry at line 1 \(trailing separator\)"),
        ("[[1, 2,], [3, 4]]", r"empty entry at line 1, column 8 \(trailing separator\)"),
        ('"1,5" 2\n3 4', r"non-numeric entry '1,5'"),
        ('"1 2\n3 4', r"unbalanced quote at line 1, column 1"),
        ('""1"" 2\n3 4', r"nested or doubled quotes are not supported \(line 1, column 3\)"),
        ("[[[1, 2]]]", r"brackets nested too deeply at line 1, column 3 \(at most 2 levels\)"),
        ("[[1, 2], [3, 4]", r"unbalanced brackets: missing '\]'"),
        ("[[1, 2], [3, 4]] 5", r"unexpected '5' at line 1, column 18 after the final '\]'"),
        ("x [[1, 2], [3, 4]]", r"unexpected 'x' at line 1, column 1 before '\['"),
        ("[[1, 2], 3, [4, 5]]", r"entry '3' at line 1, column 10 is outside a row's brackets"),
        ("1 2\n3 4]", r"unexpected '\]' at line 2, column 4"),
        ("1 2 {\n3 4 5", r"non-numeric entry '\{' at line 1, column 5"),
        ("1 2\x00\n3 4", r"non-numeric entry '2\\x00' at line 1, column 3"),
        ("[1 2 3 4]", r"must be a square 2-D array; got shape \(1, 4\)"),
    ],
)
def test_parse_refusals(text, match):
    with pytest.raises(MatrixLoadError, match=match):
        parse_matrix_text(text)


def test_parse_max_dim():
    with pytest.raises(MatrixLoadError, match=r"too large: row at line 1 has more than 3 entries"):
        parse_matrix_text("\n".join(["1 0 0 0"] * 4), max_dim=3)
    with pytest.raises(MatrixLoadError, match=r"too large: more than 3 rows"):
        parse_matrix_text("[" + ",".join(["[1, 0, 0]"] * 4) + "]", max_dim=3)
    # rows and row lengths are bounded while reading, before the whole matrix is built
    with pytest.raises(MatrixLoadError, match=r"too large: more than 3 rows"):
        parse_matrix_text("\n".join(["1, x"] * 5), max_dim=3)
    with pytest.raises(MatrixLoadError, match=r"row at line 1 has more than 3 entries"):
        parse_matrix_text("1 2 3 4 x\n1 2 3 4", max_dim=3)
    with pytest.raises(MatrixLoadError, match=r"too large: more than 3 rows"):
        parse_matrix_text("[" + ",".join(["[1, x]"] * 5) + "]", max_dim=3)
    with pytest.raises(ValueError, match=r"max_dim must be an integer >= 2; got 1"):
        parse_matrix_text("1 2\n3 4", max_dim=1)


def test_parse_refuses_non_string_and_oversized_text():
    with pytest.raises(MatrixLoadError, match=r"matrix text must be a string; got bytes"):
        parse_matrix_text(b"1 2\n3 4")  # type: ignore[arg-type]
    with pytest.raises(MatrixLoadError, match=r"text is too large"):
        parse_matrix_text(" " * (MAX_UPLOAD_BYTES + 1))


def test_deep_quoting_and_nesting_are_refused_in_linear_time():
    t0 = time.perf_counter()
    with pytest.raises(MatrixLoadError, match=r"nested or doubled quotes"):
        parse_matrix_text('"' * 20001 + "1" + '"' * 20001 + ",2\n3,4")
    with pytest.raises(MatrixLoadError, match=r"brackets nested too deeply"):
        parse_matrix_text("[" * 100000 + "1" + "]" * 100000)
    with pytest.raises(MatrixLoadError, match=r"brackets nested too deeply"):
        load_matrix_bytes(b"[" * 100000, "m.csv")
    # not a timing assertion of the library's speed, only a guard against exponential backtracking
    assert time.perf_counter() - t0 < 20.0


# ----------------------------------------------------------------------------------------------------------------------
# .npy


def test_npy_accepts_numeric_dtypes_and_layouts():
    a = np.arange(9.0).reshape(3, 3)
    for arr in (a, np.asfortranarray(a), a.astype(">f8"), a.astype(np.int16), a.astype(np.uint8), a.astype(np.float16)):
        A = load_matrix_bytes(_npy_bytes(arr), "m.npy")
        assert A.dtype == np.float64 and A.flags.writeable
        np.testing.assert_array_equal(A, a)
    z = a + 1j * a.T
    A = load_matrix_bytes(_npy_bytes(z.astype(np.complex64)), "M.NPY")
    assert A.dtype == np.complex128
    np.testing.assert_array_equal(A, z)
    # a version 2.0 header is read too
    A = load_matrix_bytes(_npy_header_only((2, 2), version=2) + M22.astype("<f8").tobytes(), "m.npy")
    np.testing.assert_array_equal(A, M22)


@pytest.mark.parametrize(
    "payload, match",
    [
        (lambda: _npy_bytes(np.array([[1, None], [2, 3]], dtype=object), allow_pickle=True), r"pickled array"),
        (lambda: _npy_bytes(np.eye(2, dtype=bool)), r"numeric \(real or complex\) array; got dtype bool"),
        (lambda: _npy_bytes(np.array([["a", "b"], ["c", "d"]])), r"got dtype <U1"),
        (lambda: _npy_bytes(np.zeros((2, 2), dtype=[("a", "f8")])), r"numeric \(real or complex\) array; got dtype"),
        (lambda: _npy_bytes(np.zeros((2, 2), dtype="M8[s]")), r"got dtype datetime64"),
        (lambda: _npy_bytes(np.eye(3))[:-5], r"truncated: header declares 72 data bytes but 67 are present"),
        (lambda: _npy_bytes(np.eye(3)) + b"xx", r"2 unexpected bytes after the array data"),
        (lambda: _npy_header_only((10**6, 10**6)), r"too large: at most 2000x2000 .*got shape \(1000000, 1000000\)"),
        (lambda: _npy_header_only((3, 10**12)), r"too large"),
        (lambda: _npy_bytes(np.zeros((0, 0))), r"matrix is empty; got shape \(0, 0\)"),
        (lambda: _npy_bytes(np.ones(4)), r"must be a 2-D array; got 1-D array of shape \(4,\)"),
        (lambda: _npy_bytes(np.ones((2, 2, 2))), r"must be a 2-D array; got 3-D"),
        (lambda: _npy_bytes(np.ones((2, 3))), r"must be a square 2-D array; got shape \(2, 3\)"),
        (lambda: _npy_bytes(np.ones((1, 1))), r"at least 2 row\(s\) and column\(s\); got shape \(1, 1\)"),
        (lambda: _npy_bytes(np.array([[1.0, np.nan], [0.0, 1.0]])), r"only finite numbers; got 1 NaN/inf entry"),
        (lambda: _npy_bytes(np.array([[1.0, np.inf], [-np.inf, 1j]])), r"only finite numbers; got 2 NaN/inf entries"),
        (lambda: b"\x93NUMPY\x01\x00\xff\xff{", r"corrupt .npy header"),
        (lambda: b"\x93NUMPY\x03\x00" + b"\x00" * 20, r"unsupported .npy format version 3.0"),
        (lambda: b"not an npy file at all", r"not a valid .npy file \(bad magic string\)"),
        (lambda: np.random.default_rng(7).bytes(200), r"not a valid .npy file"),
        (lambda: b"", r"file is empty"),
    ],
)
def test_npy_refusals(payload, match):
    with pytest.raises(MatrixLoadError, match=match):
        load_matrix_bytes(payload(), "m.npy")


def test_npy_huge_header_is_refused_without_allocation():
    # the declared 8 TB array is refused from the header alone; nothing of that size exists
    data = _npy_header_only((10**6, 10**6))
    assert len(data) < 200
    with pytest.raises(MatrixLoadError, match=r"too large"):
        load_matrix_bytes(data, "m.npy")
    # even when max_dim would allow it, the missing data is detected before anything is allocated
    with pytest.raises(MatrixLoadError, match=r"truncated: header declares 8000000000000 data bytes but 0"):
        load_matrix_bytes(data, "m.npy", max_dim=10**7)


def test_max_dim_applies_to_files():
    with pytest.raises(MatrixLoadError, match=r"too large: at most 3x3 is supported; got shape \(4, 4\)"):
        load_matrix_bytes(_npy_bytes(np.eye(4)), "m.npy", max_dim=3)
    np.testing.assert_array_equal(load_matrix_bytes(_npy_bytes(np.eye(4)), "m.npy", max_dim=4), np.eye(4))


# ----------------------------------------------------------------------------------------------------------------------
# text files, generic refusals


@pytest.mark.parametrize(
    "data, name, match",
    [
        (b"1 2\n3 4", "m.xlsx", r"unsupported file type \('.xlsx'\); use one of .npy, .csv, .txt, .mtx"),
        (b"1 2\n3 4", "matrix", r"unsupported file type \(no extension\)"),
        (b"1 2\n3 4", "m.pkl", r"unsupported file type \('.pkl'\)"),
        (b"1\x002\x00", "m.csv", r"not a text file \(it contains NUL bytes\)"),
        (b"\xff\xfe1\x00\x00\x00", "m.csv", r"not a text file \(it contains NUL characters\)"),
        (b"\xff\xfe1\x00\x00", "m.csv", r"not valid UTF-16 text"),
        (b"1 2\n3 \xe94", "m.txt", r"not UTF-8 text"),
        (b"", "m.csv", r"file is empty"),
        (b"a,b\n1,2\n3,4", "m.csv", r"non-numeric entry 'a' at line 1, column 1"),
        (b"1,2\n3", "m.csv", r"ragged rows"),
        (b"1 2 3\n4 5 6", "m.txt", r"must be a square 2-D array"),
    ],
)
def test_byte_refusals(data, name, match):
    with pytest.raises(MatrixLoadError, match=match):
        load_matrix_bytes(data, name)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom"])
def test_text_encodings(encoding):
    text = "1,2\r\n3,4\r\n"
    if encoding.endswith("-bom"):
        codec = encoding.removesuffix("-bom")
        data = "\ufeff".encode(codec) + text.encode(codec)
    else:
        data = text.encode(encoding)
    np.testing.assert_array_equal(load_matrix_bytes(data, "m.csv"), M22)


def test_refuses_oversized_uploads(tmp_path):
    with pytest.raises(MatrixLoadError, match=r"file is too large: 25.0 MiB exceeds the limit of 25.0 MiB"):
        load_matrix_bytes(b" " * (MAX_UPLOAD_BYTES + 1), "m.csv")
    big = tmp_path / "big.npy"
    with open(big, "wb") as fh:  # sparse file: the size is checked before anything is read
        fh.truncate(MAX_UPLOAD_BYTES + 2**20)
    with pytest.raises(MatrixLoadError, match=r"file is too large: 26.0 MiB exceeds the limit of 25.0 MiB"):
        load_matrix_file(big)


def test_refuses_bad_argument_types():
    with pytest.raises(MatrixLoadError, match=r"file content must be bytes; got str"):
        load_matrix_bytes("1 2\n3 4", "m.csv")  # type: ignore[arg-type]
    with pytest.raises(MatrixLoadError, match=r"filename must be a string; got int"):
        load_matrix_bytes(b"1 2\n3 4", 3)  # type: ignore[arg-type]
    with pytest.raises(MatrixLoadError, match=r"path must be a string or path; got NoneType"):
        load_matrix_file(None)  # type: ignore[arg-type]
    np.testing.assert_array_equal(load_matrix_bytes(bytearray(b"1 2\n3 4"), "m.txt"), M22)


def test_load_matrix_file_missing_and_directory(tmp_path):
    with pytest.raises(MatrixLoadError, match=r"no such file: '.*nope.npy'"):
        load_matrix_file(tmp_path / "nope.npy")
    with pytest.raises(MatrixLoadError, match=r"not a regular file"):
        load_matrix_file(tmp_path)


# ----------------------------------------------------------------------------------------------------------------------
# Matrix Market


MTX_CASES = [
    ("coordinate real general\n2 2 3\n1 1 1.5\n2 1 -2\n2 2 3e2", [[1.5, 0], [-2, 300]]),
    ("coordinate integer general\n3 3 2\n1 3 7\n3 1 -4", [[0, 0, 7], [0, 0, 0], [-4, 0, 0]]),
    ("coordinate real symmetric\n2 2 2\n1 1 1\n2 1 5", [[1, 5], [5, 0]]),
    ("coordinate integer skew-symmetric\n3 3 1\n2 1 5", [[0, -5, 0], [5, 0, 0], [0, 0, 0]]),
    ("coordinate pattern symmetric\n2 2 2\n1 1\n2 1", [[1, 1], [1, 0]]),
    ("coordinate pattern general\n2 2 1\n1 2", [[0, 1], [0, 0]]),
    ("coordinate complex general\n2 2 2\n1 1 1 2\n2 1 0 -1", [[1 + 2j, 0], [-1j, 0]]),
    ("coordinate complex hermitian\n2 2 2\n1 1 3 0\n2 1 1 1", [[3, 1 - 1j], [1 + 1j, 0]]),
    ("array real general\n2 2\n1\n2\n3\n4", [[1, 3], [2, 4]]),
    ("array real symmetric\n2 2\n1\n2\n4", [[1, 2], [2, 4]]),
    ("array real skew-symmetric\n3 3\n1\n2\n3", [[0, -1, -2], [1, 0, -3], [2, 3, 0]]),
    ("array complex hermitian\n2 2\n1 0\n2 1\n3 0", [[1, 2 - 1j], [2 + 1j, 3]]),
    ("array integer general\n2 2\n1\n2\n3\n4", [[1, 3], [2, 4]]),
]


@pytest.mark.parametrize("body, expected", MTX_CASES)
def test_mtx_variants(body, expected):
    data = f"%%MatrixMarket matrix {body}\n".encode()
    A = load_matrix_bytes(data, "m.mtx")
    want = np.array(expected)
    assert A.dtype == (np.complex128 if np.iscomplexobj(want) else np.float64)
    np.testing.assert_array_equal(A, want)


def test_mtx_comments_and_blank_lines():
    data = b"%%MatrixMarket matrix coordinate real general\n% comment\n\n%another\n2 2 1\n2 2 9\n"
    np.testing.assert_array_equal(load_matrix_bytes(data, "M.MTX"), [[0, 0], [0, 9]])


@pytest.mark.parametrize(
    "text, match",
    [
        ("coordinate real general\n1000000 1000000 1\n1 1 1", r"too large: at most 2000x2000 .*\(1000000, 1000000\)"),
        ("coordinate real general\n99999999999999999999999 2 1\n1 1 1", r"invalid Matrix Market size line"),
        ("coordinate real general\n2 2\n1 1 1", r"invalid Matrix Market size line '2 2'; expected 'rows cols entries'"),
        ("array real general\n2 2 4\n1\n2\n3\n4", r"invalid Matrix Market size line '2 2 4'; expected 'rows cols'"),
        ("coordinate real general\n-2 2 1\n1 1 1", r"invalid Matrix Market size line"),
        ("coordinate real general\n2 2 5\n1 1 1", r"5 entries exceed 2x2"),
        ("coordinate real general\n2 3 1\n1 1 1", r"must be a square 2-D array; got shape \(2, 3\)"),
        ("coordinate real general\n0 0 0", r"matrix is empty; got shape \(0, 0\)"),
        ("coordinate real general\n1 1 1\n1 1 1", r"at least 2 row\(s\) and column\(s\); got shape \(1, 1\)"),
        ("coordinate real general\n2 2 2\n1 1 1", r"invalid Matrix Market data: Truncated file"),
        ("coordinate real general\n2 2 1\n3 1 1", r"invalid Matrix Market data: .*out of bounds"),
        ("coordinate real general\n2 2 1\n1 1 abc", r"invalid Matrix Market data: .*Invalid floating-point value"),
        ("coordinate integer general\n2 2 1\n1 1 99999999999999999999999", r"Integer out of range"),
        ("coordinate real general\n2 2 1\n1 1 nan", r"only finite numbers; got 1 NaN/inf entry"),
        ("coordinate real general\n", r"no size line \(matrix is empty\)"),
        ("coordinate real foo\n2 2 1\n1 1 1", r"unsupported Matrix Market symmetry 'foo'"),
        ("coordinate double general\n2 2 1\n1 1 1", r"unsupported Matrix Market field 'double'"),
        ("sparse real general\n2 2 1\n1 1 1", r"unsupported Matrix Market format 'sparse'"),
        ("array pattern general\n2 2", r"'array' format cannot have 'pattern' field"),
    ],
)
def test_mtx_refusals(text, match):
    with pytest.raises(MatrixLoadError, match=match):
        load_matrix_bytes(f"%%MatrixMarket matrix {text}\n".encode(), "m.mtx")


@pytest.mark.parametrize("data", [b"1 2\n3 4\n", b"%%MatrixMarket vector coordinate real general\n2 1\n", b"\xff\xfe"])
def test_mtx_refuses_non_matrix_market(data):
    with pytest.raises(MatrixLoadError, match=r"not a Matrix Market file|not UTF-8 text"):
        load_matrix_bytes(data, "m.mtx")


# ----------------------------------------------------------------------------------------------------------------------
# save_matrix round trips


@pytest.mark.parametrize("ext", SUPPORTED_EXTENSIONS)
@pytest.mark.parametrize("is_complex", [False, True])
def test_save_load_round_trip_is_exact(tmp_path, rng, ext, is_complex):
    A = rng.standard_normal((5, 5)) * 10.0 ** rng.integers(-30, 30, size=(5, 5))
    A[0, 0], A[1, 1] = -0.0, 5e-324  # signed zero and a subnormal survive text formats
    if is_complex:
        A = A + 1j * rng.standard_normal((5, 5))
    path = tmp_path / f"m{ext}"
    save_matrix(path, A)
    B = load_matrix_file(path)
    assert B.dtype == (np.complex128 if is_complex else np.float64)
    np.testing.assert_array_equal(B, A)
    np.testing.assert_array_equal(load_matrix_bytes(path.read_bytes(), path.name), A)


def test_save_matrix_refusals(tmp_path):
    with pytest.raises(ValueError, match=r"path must end in one of .npy, .csv, .txt, .mtx; got '.*m.pkl'"):
        save_matrix(tmp_path / "m.pkl", M22)
    with pytest.raises(ValueError, match=r"A must contain only finite numbers"):
        save_matrix(tmp_path / "m.npy", np.array([[np.nan, 0], [0, 1]]))
    with pytest.raises(TypeError, match=r"A must be a numeric"):
        save_matrix(tmp_path / "m.npy", np.eye(2, dtype=bool))
    assert not (tmp_path / "m.npy").exists()


def test_saved_npy_is_plain_numpy(tmp_path):
    save_matrix(tmp_path / "m.npy", M22)
    np.testing.assert_array_equal(np.load(tmp_path / "m.npy", allow_pickle=False), M22)


# ----------------------------------------------------------------------------------------------------------------------
# optimizer state archives


def test_load_state_npz_round_trip(tmp_path, rng):
    m, v = rng.standard_normal(6), rng.random(6)
    np.savez(tmp_path / "s.npz", exp_avg=m, exp_avg_sq=v.astype(np.float32), step_count=np.array(3))
    state = load_state_npz(tmp_path / "s.npz")
    assert set(state) == {"exp_avg", "exp_avg_sq", "step_count"}
    np.testing.assert_array_equal(state["exp_avg"], m)
    np.testing.assert_array_equal(state["exp_avg_sq"], v.astype(np.float32).astype(np.float64))
    assert all(a.dtype == np.float64 for a in state.values())
    np.savez_compressed(tmp_path / "c.npz", grad=m)
    np.testing.assert_array_equal(load_state_npz(tmp_path / "c.npz")["grad"], m)


def test_load_state_npz_refusals(tmp_path):
    np.savez(tmp_path / "obj.npz", exp_avg=np.array([None, 1.0], dtype=object))
    with pytest.raises(MatrixLoadError, match=r"obj.npz: entry 'exp_avg' holds Python objects \(a pickled array\)"):
        load_state_npz(tmp_path / "obj.npz")
    np.savez(tmp_path / "nan.npz", exp_avg=np.array([1.0, np.nan]))
    with pytest.raises(MatrixLoadError, match=r"nan.npz: entry 'exp_avg' must contain only finite numbers"):
        load_state_npz(tmp_path / "nan.npz")
    np.savez(tmp_path / "str.npz", exp_avg=np.array(["a"]))
    with pytest.raises(MatrixLoadError, match=r"entry 'exp_avg' must hold a numeric"):
        load_state_npz(tmp_path / "str.npz")
    np.savez(tmp_path / "cplx.npz", exp_avg=np.array([1j]))
    with pytest.raises(MatrixLoadError, match=r"entry 'exp_avg' must be real; got dtype complex128"):
        load_state_npz(tmp_path / "cplx.npz")
    (tmp_path / "bad.npz").write_bytes(np.random.default_rng(3).bytes(300))
    with pytest.raises(MatrixLoadError, match=r"bad.npz is not a valid .npz archive"):
        load_state_npz(tmp_path / "bad.npz")
    with pytest.raises(MatrixLoadError, match=r"no such file"):
        load_state_npz(tmp_path / "missing.npz")
    # a small compressed archive that would inflate beyond the limit is refused from its directory
    np.savez_compressed(tmp_path / "bomb.npz", grad=np.zeros(MAX_UPLOAD_BYTES // 8 + 1024))
    assert (tmp_path / "bomb.npz").stat().st_size < 2**20
    with pytest.raises(MatrixLoadError, match=r"bomb.npz is too large when uncompressed \(limit 25.0 MiB\)"):
        load_state_npz(tmp_path / "bomb.npz")


# ----------------------------------------------------------------------------------------------------------------------
# fuzzing: nothing but MatrixLoadError may escape, and anything accepted satisfies the contract


def _check_contract(data: bytes | str, name: str | None) -> None:
    try:
        A = parse_matrix_text(data) if name is None else load_matrix_bytes(data, name, max_dim=50)
    except MatrixLoadError as err:
        msg = str(err)
        assert msg and "\n" not in msg
        return
    assert A.ndim == 2 and A.shape[0] == A.shape[1] >= 2
    assert A.dtype in (np.float64, np.complex128)
    assert np.all(np.isfinite(A))


_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(data=st.binary(max_size=600), ext=st.sampled_from(SUPPORTED_EXTENSIONS + (".bin",)))
def test_fuzz_random_bytes(data, ext):
    _check_contract(data, "f" + ext)


_ALPHABET = "0123456789 .,;eE+-ij\n\t[]()\"'#%nafINF\x00xé"


@_FUZZ
@given(text=st.text(alphabet=_ALPHABET, max_size=200), ext=st.sampled_from((".csv", ".txt", ".mtx", None)))
def test_fuzz_random_text(text, ext):
    _check_contract(text if ext is None else text.encode(), None if ext is None else "f" + ext)


@_FUZZ
@given(
    pos=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=4),
    vals=st.lists(st.integers(min_value=0, max_value=255), min_size=4, max_size=4),
    cut=st.integers(min_value=0, max_value=10_000),
)
def test_fuzz_mutated_npy(pos, vals, cut):
    buf = bytearray(_npy_bytes(np.arange(9.0).reshape(3, 3)))
    for p, v in zip(pos, vals, strict=False):
        buf[p % len(buf)] = v
    _check_contract(bytes(buf[: max(1, len(buf) - cut % 40)]), "f.npy")


@_FUZZ
@given(
    header=st.sampled_from([b"coordinate real general", b"array complex hermitian", b"coordinate pattern symmetric"]),
    body=st.text(alphabet="0123456789 .-e\n%", max_size=80),
)
def test_fuzz_mtx_body(header, body):
    _check_contract(b"%%MatrixMarket matrix " + header + b"\n" + body.encode(), "f.mtx")
