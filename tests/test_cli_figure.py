"""``python -m nnspec_core figure``: valid files, settings from a page zip reproduce its figures, refusals."""

from __future__ import annotations

import base64
import io
import json
import re
import shlex
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nnspec_core.cli import main
from nnspec_core.explorer import MAX_EXPLORER_N, ExplorerSettings, explore, explorer_bundle, matrix_key
from nnspec_core.export import kaleido_available
from nnspec_core.gallery import grcar, random_nonnormal


@pytest.fixture
def mfile(tmp_path):
    A = grcar(12)
    p = tmp_path / "g.npy"
    np.save(p, A)
    return A, p


def _run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _plot_json(html: str) -> list:
    """The data array passed to Plotly.newPlot in an exported HTML page."""
    m = re.search(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*\{', html, re.S)
    assert m, "no Plotly.newPlot call found"
    return json.loads(m.group(1))


def _arr(v) -> np.ndarray:
    """Decode a Plotly JSON array (a list, or a typed array {"dtype": ..., "bdata": base64})."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


def _canon_svg(s: str) -> str:
    """Replace plotly's random ids (figure uid, contour clip ids, trace uids) by stable placeholders."""
    ids = [re.search(r'defs id="defs-([0-9a-f]{6})"', s).group(1)]
    ids += re.findall(r'id="clip([0-9a-f]{6})"', s) + re.findall(r' trace([0-9a-f]{6})"', s)
    for k, u in enumerate(dict.fromkeys(ids)):
        s = s.replace(u, f"ID{k}")
    return s


def test_html_has_the_plot_data(mfile, tmp_path, capsys):
    A, p = mfile
    out = tmp_path / "spec.html"
    rc, stdout, err = _run(["figure", "--matrix", p, "--kind", "spectrum", "--out", out, "--no-kreiss"], capsys)
    assert rc == 0 and err == "" and "wrote" in stdout
    data = _plot_json(out.read_text(encoding="utf-8"))
    eig = [t for t in data if t.get("name") == "eigenvalues"][0]
    np.testing.assert_allclose(np.sort(_arr(eig["x"])), np.sort(np.linalg.eigvals(A).real), atol=1e-10)
    assert any(t["type"] == "contour" for t in data)
    assert any(t.get("name") == "field of values" for t in data)


def test_eps_levels_flag(mfile, tmp_path, capsys):
    _, p = mfile
    out = tmp_path / "s.html"
    rc, _, err = _run(
        ["figure", "--matrix", p, "--out", out, "--eps-levels", "-1", "-2.5", "--n-grid", "12", "--no-kreiss"], capsys
    )
    assert rc == 0, err
    data = _plot_json(out.read_text(encoding="utf-8"))
    keys = sorted(t["name"] for t in data if t.get("legendgroup") == "pseudospectra" and t["type"] == "scatter")
    assert keys == ["ε = 1e-1", "ε = 3.2e-3"]


def test_static_formats_are_valid(mfile, tmp_path, capsys):
    ok, reason = kaleido_available()
    assert ok, reason  # this machine has Debian's chromium: static export must work
    _, p = mfile
    files = {}
    for kind, fmt in (("spectrum", "png"), ("transient", "svg"), ("fov", "pdf")):
        out = tmp_path / f"{kind}.{fmt}"
        rc, _, err = _run(["figure", "--matrix", p, "--kind", kind, "--out", out, "--n-grid", "20"], capsys)
        assert rc == 0, err
        files[fmt] = out.read_bytes()
    assert files["png"].startswith(b"\x89PNG\r\n\x1a\n")
    assert files["pdf"].startswith(b"%PDF")
    root = ET.fromstring(files["svg"])
    assert root.tag.endswith("svg")
    assert "‖Aᵏ‖₂" in files["svg"].decode()


def test_settings_json_from_a_page_zip_reproduces_its_figures(tmp_path, capsys, monkeypatch):
    A = random_nonnormal(8, seed=1, s=2.0)
    settings = ExplorerSettings(
        region=(-1.5, 1.5, -1.2, 1.2),
        n_grid=24,
        eps=0.03,
        eps_levels=(-3.0, -2.0, -1.0),
        dynamics="continuous",
        horizon=6.0,
        theme="talk",
    )
    res = explore(A, **settings.explore_kwargs())
    z = zipfile.ZipFile(io.BytesIO(explorer_bundle(res, A, settings, formats=("svg", "html"))))
    z.extractall(tmp_path)
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["matrix_sha256"] == matrix_key(A) and saved["dynamics"] == "continuous"
    originals = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "figures").iterdir()}
    assert set(originals) == {"spectrum.svg", "spectrum.html", "transient.svg", "transient.html"}
    for p in (tmp_path / "figures").iterdir():
        p.unlink()
    monkeypatch.chdir(tmp_path)
    lines = (tmp_path / "command.txt").read_text().splitlines()
    assert len(lines) == 4
    for line in lines:
        argv = shlex.split(line)
        assert argv[:3] == ["python", "-m", "nnspec_core"]
        rc, _, err = _run(argv[3:], capsys)
        assert rc == 0, err
    for name, text in originals.items():
        new = (tmp_path / "figures" / name).read_text(encoding="utf-8")
        if name.endswith(".html"):
            assert _plot_json(new) == _plot_json(text), name
        else:
            assert _canon_svg(new) == _canon_svg(text), name


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "content, name, match",
    [
        ("1 2 3\n4 5 6\n", "rect.csv", "square"),
        ("1 2\n3\n", "ragged.csv", "row"),
        ("1 nan\n2 3\n", "nan.csv", "finite"),
        ("1 x\n2 3\n", "text.csv", ""),
        ("5\n", "one.txt", ""),
        ("", "empty.csv", "empty"),
    ],
)
def test_bad_matrix_files_exit_1_with_one_line(tmp_path, capsys, content, name, match):
    p = _write(tmp_path, name, content)
    rc, out, err = _run(["figure", "--matrix", p, "--out", tmp_path / "x.html"], capsys)
    assert rc == 1
    assert err.startswith("nnspec: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert match in err
    assert not (tmp_path / "x.html").exists()


def test_matrix_above_the_explorer_limit(tmp_path, capsys):
    p = tmp_path / "big.npy"
    np.save(p, np.eye(MAX_EXPLORER_N + 1))
    rc, _, err = _run(["figure", "--matrix", p, "--out", tmp_path / "x.html"], capsys)
    assert rc == 1 and str(MAX_EXPLORER_N) in err


def test_pickled_npy_is_refused(tmp_path, capsys):
    p = tmp_path / "obj.npy"
    np.save(p, np.array([[1, "a"], [None, 2]], dtype=object), allow_pickle=True)
    rc, _, err = _run(["figure", "--matrix", p, "--out", tmp_path / "x.html"], capsys)
    assert rc == 1 and err.count("\n") == 1


@pytest.mark.parametrize(
    "settings_text, match",
    [
        ('{"zoom": 3}', "unknown key"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"eps": -1}', "eps must be > 0"),
        ('{"matrix_sha256": "' + "0" * 64 + '"}', "not the matrix of the settings"),
    ],
)
def test_bad_settings_exit_1(mfile, tmp_path, capsys, settings_text, match):
    _, p = mfile
    s = _write(tmp_path, "settings.json", settings_text)
    rc, _, err = _run(["figure", "--matrix", p, "--settings", s, "--out", tmp_path / "x.html"], capsys)
    assert rc == 1 and match in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--kind", "heatmap"], "invalid choice"),
        (["--out", "x.jpg"], "cannot tell the format"),
        (["--dynamics", "both"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(mfile, tmp_path, capsys, extra, match):
    _, p = mfile
    argv = ["figure", "--matrix", p, "--out", tmp_path / "x.html", *extra]
    rc, _, err = _run(argv, capsys)
    assert rc == 2 and match in err


def test_missing_matrix_file(tmp_path, capsys):
    rc, _, err = _run(["figure", "--matrix", tmp_path / "nope.npy", "--out", tmp_path / "x.svg"], capsys)
    assert rc == 1 and "no such file" in err


def test_flags_override_settings(mfile, tmp_path, capsys):
    A, p = mfile
    s = _write(tmp_path, "settings.json", json.dumps({"dynamics": "continuous", "horizon": 3.0, "kreiss": False}))
    out = tmp_path / "t.html"
    rc, _, err = _run(
        ["figure", "--matrix", p, "--settings", s, "--kind", "transient", "--dynamics", "discrete", "--out", out],
        capsys,
    )
    assert rc == 0, err
    data = _plot_json(out.read_text(encoding="utf-8"))
    # discrete dynamics with the default horizon (the saved t_max does not carry over): k = 0..100
    assert data[0]["name"] == "‖Aᵏ‖₂" and _arr(data[0]["x"]).size == 101
    assert Path(out).exists()
