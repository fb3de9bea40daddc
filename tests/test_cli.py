"""Tests for the CLI (nnspec_core.cli): round trips against the library, refusals, exit codes, JSON encoding."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnspec_core import cli
from nnspec_core.cli import SUBCOMMANDS, Subcommand, main, to_jsonable
from nnspec_core.matrix_io import MAX_UPLOAD_BYTES
from nnspec_core.operators import update_operator
from nnspec_core.spectra import spectrum

REPO = Path(__file__).resolve().parents[1]
N = 4


def _strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def problem(tmp_path, rng):
    """A random symmetric Hessian (4 x 4) and an optimizer state archive, written to tmp_path."""
    A = rng.standard_normal((N, N))
    H = A @ A.T / N + 0.1 * np.eye(N)
    state = {
        "grad": rng.standard_normal(N),
        "exp_avg": 0.1 * rng.standard_normal(N),
        "exp_avg_sq": 0.01 * rng.random(N),
        "square_avg": 0.01 * rng.random(N),
        "theta": rng.standard_normal(N),
    }
    np.save(tmp_path / "H.npy", H)
    np.savez(tmp_path / "state.npz", **state)
    return H, state


def _values(a):
    """Decode the JSON encoding of a float ('inf'/'nan' strings) or of a complex ([re, im])."""
    if isinstance(a, list):
        return complex(_values(a[0]), _values(a[1]))
    return float(a)


OPERATOR_CASES = [
    (["--optimizer", "gd", "--lr", "0.5"], dict(lr=0.5)),
    (["--optimizer", "gd", "--lr", "0.5", "--weight-decay", "0.1"], dict(lr=0.5, weight_decay=0.1)),
    (["--optimizer", "heavy_ball", "--lr", "0.3", "--momentum", "0.9"], dict(lr=0.3, momentum=0.9)),
    (
        ["--optimizer", "heavy_ball", "--lr", "0.3", "--momentum", "0.81", "--coords", "history"],
        dict(lr=0.3, momentum=0.81, coords="history"),
    ),
    (["--optimizer", "nesterov", "--lr", "0.2", "--momentum", "0.9"], dict(lr=0.2, momentum=0.9)),
    (
        ["--optimizer", "rmsprop", "--lr", "0.01", "--alpha", "0.9", "--eps", "1e-6", "--coords", "full"],
        dict(lr=0.01, alpha=0.9, eps=1e-6, coords="full"),
    ),
    (
        ["--optimizer", "adam", "--lr", "0.01", "--beta1", "0.8", "--step", "5", "--coords", "full"],
        dict(lr=0.01, betas=(0.8, 0.999), step=5, coords="full"),
    ),
    (
        ["--optimizer", "adam", "--lr", "0.01", "--coords", "full", "--scaling", "raw", "--weight-decay", "0.01"],
        dict(lr=0.01, coords="full", scaling="raw", weight_decay=0.01),
    ),
    (["--optimizer", "adam", "--lr", "0.01", "--coords", "simple"], dict(lr=0.01, coords="simple")),
    (
        ["--optimizer", "adamw", "--lr", "0.01", "--weight-decay", "0.1", "--beta2", "0.99"],
        dict(lr=0.01, weight_decay=0.1, betas=(0.9, 0.99)),
    ),
]


@pytest.mark.parametrize("flags, kwargs", OPERATOR_CASES, ids=lambda x: " ".join(x) if isinstance(x, list) else "")
def test_operator_then_analyze_round_trip(tmp_path, problem, capsys, flags, kwargs):
    H, state = problem
    opt = flags[1]
    extra = ["--state", str(tmp_path / "state.npz")] if opt in ("rmsprop", "adam", "adamw") else []
    out = tmp_path / "J.npy"
    rc = main(["operator", *flags, "--hessian", str(tmp_path / "H.npy"), *extra, "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.err == ""
    # the summary is one line naming the file, the shape and the convention
    ref = update_operator(opt, H, state=state if extra else None, **kwargs)
    assert captured.out.count("\n") == 1
    assert f"wrote {out}: J of shape {ref.J.shape}" in captured.out
    assert ref.description.split()[0] in captured.out
    J = np.load(out, allow_pickle=False)
    np.testing.assert_array_equal(J, ref.J)

    rc = main(["analyze", str(out), "--json", "--out", str(tmp_path / "a.json")])
    assert rc == 0 and capsys.readouterr() == ("", "")
    got = _strict_json((tmp_path / "a.json").read_text())
    res = spectrum(ref.J)
    assert got["n"] == ref.J.shape[0] and got["method"] == res.method
    np.testing.assert_allclose([_values(z) for z in got["eigenvalues"]], res.eigenvalues, rtol=0, atol=1e-12)
    for key, attr in [
        ("spectral_radius", "spectral_radius"),
        ("kappa_v", "kappa_V"),
        ("kappa_v_cluster", "kappa_V_cluster"),
        ("departure", "departure"),
        ("departure_rel", "departure_rel"),
        ("normality_residual", "normality_residual"),
    ]:
        np.testing.assert_allclose(_values(got[key]), getattr(res, attr), rtol=1e-12, atol=1e-12, err_msg=key)
    np.testing.assert_allclose([_values(c) for c in got["eigval_condition"]], res.eigval_condition, rtol=1e-12)
    assert got["kappa_status"] == res.kappa_status
    assert got["clusters"] == [list(c) for c in res.clusters]


def test_operator_other_output_formats(tmp_path, problem, capsys):
    H, _ = problem
    for ext in (".csv", ".mtx"):
        out = tmp_path / f"J{ext}"
        argv = ["operator", "--optimizer", "nesterov", "--lr", "0.1", "--momentum", "0.5"]
        assert main([*argv, "--hessian", str(tmp_path / "H.npy"), "--out", str(out)]) == 0
        assert main(["analyze", str(out), "--json"]) == 0
        got = _strict_json(capsys.readouterr().out.splitlines()[-1])
        ref = spectrum(update_operator("nesterov", H, lr=0.1, momentum=0.5).J)
        np.testing.assert_allclose(_values(got["spectral_radius"]), ref.spectral_radius, rtol=1e-12)


def test_hessian_from_text_and_matrix_market(tmp_path, problem, capsys):
    H, _ = problem
    (tmp_path / "H.csv").write_text("\n".join(",".join(repr(float(x)) for x in row) for row in H))
    rc = main(["operator", "--optimizer", "gd", "--lr", "0.5", "--hessian", str(tmp_path / "H.csv"), "--out", "-"])
    # '-' has no supported extension: a clear one-line input error, nothing written
    err = capsys.readouterr().err
    assert rc == 1 and err == "nnspec: error: path must end in one of .npy, .csv, .txt, .mtx; got '-'.\n"
    out = tmp_path / "J.npy"
    assert (
        main(["operator", "--optimizer", "gd", "--lr", "0.5", "--hessian", str(tmp_path / "H.csv"), "--out", str(out)])
        == 0
    )
    np.testing.assert_array_equal(np.load(out), np.eye(N) - 0.5 * H)


def test_analyze_text_summary(tmp_path, capsys):
    J = np.array([[0.5, 10.0], [0.0, -0.25]])
    np.save(tmp_path / "J.npy", J)
    assert main(["analyze", str(tmp_path / "J.npy")]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "2x2 float64" in out
    assert "spectral radius rho          0.5\n" in out
    kappa = spectrum(J).kappa_V  # (|t| + sqrt(t^2 + delta^2)) / delta with t = 10, delta = 0.75
    np.testing.assert_allclose(kappa, (10 + np.hypot(10, 0.75)) / 0.75, rtol=1e-12)
    assert f"kappa(V)                     {kappa:.6g}  [ok]" in out
    assert "unit 2-norm eigenvector columns" in out
    assert "departure (Henrici)          10" in out
    assert out.splitlines()[-2].split()[:3] == ["0", "0.5", "0"]
    assert out.splitlines()[-1].split()[:3] == ["1", "-0.25", "0"]


def test_analyze_show_limits_the_listing(tmp_path, capsys):
    np.save(tmp_path / "D.npy", np.diag(np.arange(1.0, 31.0)))
    assert main(["analyze", str(tmp_path / "D.npy"), "--show", "3"]) == 0
    out = capsys.readouterr().out
    assert "3 of 30" in out and "... 27 more (use --show 30 or --json)" in out
    assert "[normal]" in out


def test_analyze_negative_show_is_a_usage_error(tmp_path, capsys):
    np.save(tmp_path / "D.npy", np.eye(2))
    assert main(["analyze", str(tmp_path / "D.npy"), "--show", "-1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: nnspec analyze")
    assert err.endswith("nnspec analyze: error: --show must be >= 0; got -1.\n")


def test_analyze_json_encodes_non_finite_as_strings(tmp_path, capsys):
    np.save(tmp_path / "jordan.npy", np.array([[1.0, 1.0], [0.0, 1.0]]))
    assert main(["analyze", str(tmp_path / "jordan.npy"), "--json"]) == 0
    got = _strict_json(capsys.readouterr().out)
    assert got["kappa_v"] == "inf" and got["kappa_status"] == "defective"
    assert got["eigval_condition"] == ["inf", "inf"]
    assert got["eigenvalues"] == [[1.0, 0.0], [1.0, 0.0]]
    assert set(got) == {
        "n", "dtype", "method", "eigenvalues", "spectral_radius", "rho_plus", "eigenvalue_classes", "kappa_v",
        "kappa_status", "kappa_v_cluster", "clusters", "eigval_condition", "departure", "departure_rel",
        "normality_residual",
    }  # fmt: skip
    assert all(k == k.lower() and " " not in k for k in got)


def test_to_jsonable():
    x = {"a": np.array([1.0, np.inf, -np.inf, np.nan]), "z": np.complex128(1 - 2j), "t": (np.int64(3), True, None)}
    assert to_jsonable(x) == {"a": [1.0, "inf", "-inf", "nan"], "z": [1.0, -2.0], "t": [3, True, None]}
    assert to_jsonable(np.array([[1 + 1j, complex(0.0, np.inf)]])) == [[[1.0, 1.0], [0.0, "inf"]]]
    with pytest.raises(TypeError, match="cannot convert object to JSON"):
        to_jsonable(object())


# ----------------------------------------------------------------------------------------------------------------------
# refusals: exactly one line on stderr, non-zero exit, no traceback


def _write_bad(tmp_path: Path, kind: str) -> Path:
    p = tmp_path / {"csv_ragged": "m.csv", "text_nonnumeric": "m.txt", "mtx_huge": "m.mtx", "xlsx": "m.xlsx"}.get(
        kind, "m.npy"
    )
    if kind == "not_square":
        np.save(p, np.ones((2, 3)))
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "nan":
        np.save(p, np.array([[1.0, np.nan], [0.0, 1.0]]))
    elif kind == "inf":
        np.save(p, np.array([[1.0, np.inf], [0.0, 1.0]]))
    elif kind == "vector":
        np.save(p, np.ones(4))
    elif kind == "one_by_one":
        np.save(p, np.ones((1, 1)))
    elif kind == "pickled":
        np.save(p, np.array([[{"a": 1}, 2], [3, 4]], dtype=object), allow_pickle=True)
    elif kind == "bool":
        np.save(p, np.eye(2, dtype=bool))
    elif kind == "text_in_npy":
        p.write_text("1 2\n3 4\n")
    elif kind == "random":
        p.write_bytes(np.random.default_rng(0).bytes(256))
    elif kind == "truncated":
        buf = io.BytesIO()
        np.save(buf, np.eye(3))
        p.write_bytes(buf.getvalue()[:-8])
    elif kind == "csv_ragged":
        p.write_text("1,2\n3\n")
    elif kind == "text_nonnumeric":
        p.write_text("hello world\n")
    elif kind == "mtx_huge":
        p.write_text("%%MatrixMarket matrix coordinate real general\n1000000 1000000 1\n1 1 1\n")
    elif kind == "xlsx":
        p.write_bytes(b"PK\x03\x04")
    elif kind == "too_big":
        with open(p, "wb") as fh:
            fh.truncate(MAX_UPLOAD_BYTES + 1)
    elif kind == "missing":
        pass
    else:  # pragma: no cover
        raise AssertionError(kind)
    return p


BAD = {
    "not_square": r"must be a square 2-D array; got shape \(2, 3\)",
    "empty": r"file is empty",
    "nan": r"only finite numbers; got 1 NaN/inf entry",
    "inf": r"only finite numbers",
    "vector": r"must be a 2-D array; got 1-D",
    "one_by_one": r"at least 2 row\(s\)",
    "pickled": r"holds Python objects \(a pickled array\)",
    "bool": r"got dtype bool",
    "text_in_npy": r"not a valid .npy file",
    "random": r"not a valid .npy file",
    "truncated": r"truncated",
    "csv_ragged": r"ragged rows",
    "text_nonnumeric": r"non-numeric entry 'hello'",
    "mtx_huge": r"too large: at most 2000x2000",
    "xlsx": r"unsupported file type \('.xlsx'\)",
    "too_big": r"file is too large",
    "missing": r"no such file",
}


def _assert_one_line_error(rc: int, out: str, err: str, match: str) -> None:
    assert rc == 1
    assert out == ""
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("nnspec: error: ")
    import re

    assert re.search(match, err), err


@pytest.mark.parametrize("kind", sorted(BAD))
def test_analyze_refuses_bad_files(tmp_path, capsys, kind):
    p = _write_bad(tmp_path, kind)
    rc = main(["analyze", str(p), "--json"])
    out, err = capsys.readouterr()
    _assert_one_line_error(rc, out, err, BAD[kind])


@pytest.mark.parametrize("kind", ["not_square", "pickled", "nan", "random", "csv_ragged"])
def test_operator_refuses_bad_hessians(tmp_path, capsys, kind):
    p = _write_bad(tmp_path, kind)
    out_path = tmp_path / "J.npy"
    rc = main(["operator", "--optimizer", "gd", "--lr", "0.1", "--hessian", str(p), "--out", str(out_path)])
    out, err = capsys.readouterr()
    _assert_one_line_error(rc, out, err, r"--hessian .*m\.(npy|csv): .*" + BAD[kind])
    assert not out_path.exists()


def test_operator_refuses_bad_values_and_states(tmp_path, problem, capsys):
    base = ["operator", "--hessian", str(tmp_path / "H.npy"), "--out", str(tmp_path / "J.npy")]
    cases = [
        (["--optimizer", "gd", "--lr", "-1"], r"lr must be >= 0.0; got -1.0"),
        (["--optimizer", "heavy_ball", "--lr", "0.1", "--momentum", "1.5"], r"momentum must be < 1.0"),
    ]
    np.savez(tmp_path / "obj.npz", grad=np.array([None] * N, dtype=object))
    np.savez(tmp_path / "short.npz", grad=np.ones(N - 1), exp_avg_sq=np.ones(N - 1))
    np.savez(tmp_path / "nograd.npz", exp_avg_sq=np.ones(N))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    for name, match in [
        ("obj.npz", r"--state .*obj.npz: obj.npz: entry 'grad' holds Python objects"),
        ("short.npz", r"state\['grad'\] must have shape \(4,\)"),
        ("nograd.npz", r"state is missing key 'grad'"),
        ("junk.npz", r"junk.npz is not a valid .npz archive"),
        ("missing.npz", r"no such file"),
    ]:
        cases.append((["--optimizer", "adam", "--lr", "0.1", "--state", str(tmp_path / name)], match))
    for flags, match in cases:
        rc = main([*base, *flags])
        out, err = capsys.readouterr()
        _assert_one_line_error(rc, out, err, match)


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--optimizer", "adam", "--lr", "0.1", "--momentum", "0.9"], r"--momentum does not apply to --optimizer adam"),
        (["--optimizer", "gd", "--lr", "0.1", "--beta1", "0.9"], r"--beta1 does not apply to --optimizer gd"),
        (["--optimizer", "heavy_ball", "--lr", "0.1", "--state", "s.npz"], r"--state does not apply"),
        (["--optimizer", "gd", "--lr", "0.1", "--scaling", "raw"], r"--scaling does not apply"),
        (["--optimizer", "adam", "--lr", "0.1", "--alpha", "0.9"], r"--alpha does not apply"),
        (["--optimizer", "gd", "--lr", "0.1", "--coords", "history"], r"--coords history does not apply .*theta"),
        (["--optimizer", "rmsprop", "--lr", "0.1"], r"--optimizer rmsprop needs --state STATE.npz"),
        (["--optimizer", "sgd", "--lr", "0.1"], r"argument --optimizer: invalid choice: 'sgd'"),
        (["--optimizer", "gd", "--lr", "abc"], r"argument --lr: invalid float value: 'abc'"),
        (["--optimizer", "gd"], r"the following arguments are required: --lr"),
    ],
)
def test_operator_usage_errors(tmp_path, problem, capsys, flags, match):
    rc = main(["operator", "--hessian", str(tmp_path / "H.npy"), "--out", str(tmp_path / "J.npy"), *flags])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert "Traceback" not in err
    assert err.startswith("usage: nnspec operator")
    import re

    assert re.search(r"nnspec operator: error: " + match, err), err
    assert not (tmp_path / "J.npy").exists()


def test_unrecognized_arguments_are_a_usage_error(tmp_path, problem, capsys):
    argv = ["operator", "--optimizer", "gd", "--lr", "0.1", "--mom", "0.5"]  # no abbreviations
    assert main([*argv, "--hessian", str(tmp_path / "H.npy"), "--out", str(tmp_path / "J.npy")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: nnspec") and err.endswith("nnspec: error: unrecognized arguments: --mom 0.5\n")


def test_top_level_usage_help_and_version(capsys):
    assert main([]) == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(cmd.name in out for cmd in SUBCOMMANDS)
    assert main(["operator", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--optimizer {gd,heavy_ball,nesterov,rmsprop,adam,adamw}" in out and "(default: 0.9)" in out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("nnspec ")


def test_analyze_out_to_unwritable_path(tmp_path, capsys):
    np.save(tmp_path / "J.npy", np.eye(2))
    rc = main(["analyze", str(tmp_path / "J.npy"), "--out", str(tmp_path / "no" / "dir" / "a.json")])
    out, err = capsys.readouterr()
    _assert_one_line_error(rc, out, err, r"cannot access .*a.json: No such file or directory")


def test_internal_errors_are_one_line_with_exit_3(tmp_path, capsys, monkeypatch):
    import nnspec_core.spectra as spectra

    def boom(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(spectra, "spectrum", boom)
    np.save(tmp_path / "J.npy", np.eye(2))
    rc = main(["analyze", str(tmp_path / "J.npy")])
    out, err = capsys.readouterr()
    assert rc == 3 and out == ""
    assert (
        err == "nnspec: error: internal error (RuntimeError): boom second line (rerun with --debug for the traceback)\n"
    )
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "analyze", str(tmp_path / "J.npy")])


def test_registry_accepts_new_subcommands(tmp_path, capsys, monkeypatch):
    (tmp_path / "nnspec_extra_cmd.py").write_text(
        "def add(p):\n    p.add_argument('--times', type=int, default=2)\n\n"
        "def run(args):\n    print('hi' * args.times)\n    return 0\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    def fail(args):
        raise ValueError("bad value for the new command")

    monkeypatch.setattr(
        cli,
        "SUBCOMMANDS",
        SUBCOMMANDS
        + (
            Subcommand("greet", "say hi", "nnspec_extra_cmd:add", "nnspec_extra_cmd:run"),
            Subcommand("fail", "always fails", lambda p: None, fail),
        ),
    )
    assert "nnspec_extra_cmd" not in sys.modules
    assert main(["analyze", "--help"]) == 0  # building the parser does not import other commands' modules
    assert "nnspec_extra_cmd" not in sys.modules
    assert main(["greet", "--times", "3"]) == 0
    assert capsys.readouterr().out.endswith("hihihi\n")
    assert main(["fail"]) == 1
    assert capsys.readouterr().err == "nnspec: error: bad value for the new command\n"
    sys.modules.pop("nnspec_extra_cmd", None)


# ----------------------------------------------------------------------------------------------------------------------
# the real entry point, in a subprocess


def _run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "nnspec_core", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_python_dash_m_entry_point(tmp_path):
    _write_bad(tmp_path, "pickled")
    proc = _run_module("analyze", "m.npy", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert (
        proc.stderr
        == "nnspec: error: m.npy: file holds Python objects (a pickled array); only numeric arrays are accepted.\n"
    )

    np.save(tmp_path / "J.npy", np.array([[0.9, 1.0], [0.0, 0.5]]))
    code = (
        "import sys\nfrom nnspec_core.cli import main\nbefore = 'torch' in sys.modules\n"
        "rc = main(['analyze', 'J.npy', '--json'])\n"
        "print('torch imported by analyze:', ('torch' in sys.modules) > before)\n"
        "raise SystemExit(rc)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    payload, flag = proc.stdout.splitlines()
    assert _strict_json(payload)["spectral_radius"] == 0.9
    assert flag == "torch imported by analyze: False"
