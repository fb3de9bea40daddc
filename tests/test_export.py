"""Tests of nnspec_core.export: static formats via one shared kaleido server, HTML, zip bundle, JSON.

One kaleido server (headless Debian chromium) is started per module; its first export takes
a few seconds, later ones well under a second.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import pytest

from nnspec_core import export as E
from nnspec_core import figures as F
from nnspec_core.theme import TALK_THEME, talk_theme

MATHJAX_CDNS = ("cdn.jsdelivr.net/npm/mathjax", "cdnjs.cloudflare.com/ajax/libs/mathjax", "mathjax.org")


@pytest.fixture(scope="module")
def kaleido_server():
    ok, reason = E.kaleido_available()
    assert ok, reason  # CI installs Debian's chromium: static export must work here
    assert E.start_kaleido() is True
    assert E.start_kaleido() is True  # idempotent
    return True


@pytest.fixture
def spectrum_fig():
    lam = np.array([0.9, 0.5 + 0.3j, 0.5 - 0.3j])
    return F.plot_spectrum(lam, cond=[1.0, 40.0, 40.0], title="spectrum test")


def _png_size(b: bytes) -> tuple[int, int]:
    assert b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR"
    return struct.unpack(">II", b[16:24])


# ---------------------------------------------------------------------------------- static export
def test_png_svg_pdf_are_valid(kaleido_server, spectrum_fig):
    png = E.figure_bytes(spectrum_fig, "png", width=400, height=300, scale=2)
    assert _png_size(png) == (800, 600)  # size x scale
    svg = E.figure_bytes(spectrum_fig, "svg", width=400, height=300, scale=1)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert (float(root.get("width")), float(root.get("height"))) == (400, 300)
    svg2 = ET.fromstring(E.figure_bytes(spectrum_fig, "svg", width=400, height=300))  # scale 2 doubles the nominal size
    assert (float(svg2.get("width")), float(svg2.get("height"))) == (800, 600)
    text = "".join(root.itertext())
    assert "Re μ" in text and "Im μ" in text and "log₁₀ κ(μ)" in text  # Unicode labels survive
    pdf = E.figure_bytes(spectrum_fig, "pdf", width=400, height=300)
    assert pdf.startswith(b"%PDF") and b"%%EOF" in pdf[-64:]


def test_talk_theme_export_size_matches_screen(kaleido_server):
    fig = F.plot_loss(np.arange(20), np.exp(-np.arange(20) / 5), theme=TALK_THEME)
    assert _png_size(E.figure_bytes(fig, "png", scale=2)) == (3200, 1800)  # 1600 x 900 from the layout, x2
    assert _png_size(E.figure_bytes(fig, "png", scale=1)) == (1600, 900)


def _first_pixel_rgba(png: bytes) -> tuple[int, ...]:
    """RGBA of the top-left pixel (for any PNG filter the first pixel of row 0 is stored raw)."""
    assert png[25] == 6  # colour type RGBA
    pos, idat = 8, b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        if png[pos + 4 : pos + 8] == b"IDAT":
            idat += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    return tuple(raw[1:5])  # skip the row's filter byte


def test_transparent_background_exports_transparent(kaleido_server):
    k = np.arange(5)
    white = E.figure_bytes(F.plot_loss(k, np.ones(5), theme=TALK_THEME), "png", width=200, height=120, scale=1)
    clear = E.figure_bytes(
        F.plot_loss(k, np.ones(5), theme=talk_theme("transparent")), "png", width=200, height=120, scale=1
    )
    assert _first_pixel_rgba(white) == (255, 255, 255, 255)
    assert _first_pixel_rgba(clear)[3] == 0


def test_write_figure(kaleido_server, spectrum_fig, tmp_path):
    p = E.write_figure(spectrum_fig, tmp_path / "spec.svg")
    ET.parse(p)
    h = E.write_figure(spectrum_fig, tmp_path / "spec.html")
    assert "spectrum test" in h.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="fmt must be one of"):
        E.write_figure(spectrum_fig, tmp_path / "spec.gif")


@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        (("gif",), {}, ValueError, "fmt must be one of 'png', 'svg', 'pdf'; got 'gif'"),
        (("png",), {"width": 0}, ValueError, "width must be >= 10"),
        (("png",), {"scale": 0}, ValueError, "scale must be > 0"),
    ],
)
def test_figure_bytes_bad_input(spectrum_fig, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        E.figure_bytes(spectrum_fig, *args, **kwargs)


def test_figure_bytes_refuses_non_figure():
    with pytest.raises(TypeError, match="fig must be a plotly.graph_objects.Figure; got dict"):
        E.figure_bytes({"data": []}, "png")


# ------------------------------------------------------------------------------------------ HTML
def test_html_self_contained_offline(spectrum_fig):
    html = E.figure_html(spectrum_fig)
    assert html.lower().startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert "spectrum test" in html and "log₁₀ κ(μ)" in html  # the plot data and labels
    assert "Plotly.newPlot" in html and "plotly.js v" in html  # plotly.js itself is embedded
    assert len(html) > 3_000_000
    assert not [cdn for cdn in MATHJAX_CDNS if cdn in html]
    assert re.findall(r"<script[^>]*\bsrc\s*=", html) == []  # no external script: nothing fetched online
    # the modebar config travels with the page
    assert '"toImageButtonOptions": {"format": "svg"' in html and '"displaylogo": false' in html
    assert E.figure_html(spectrum_fig) == html  # deterministic (fixed div id)


def test_plotly_config():
    cfg = E.plotly_config("loss", fmt="svg", scale=2)
    assert cfg["displaylogo"] is False
    assert cfg["toImageButtonOptions"] == {
        "format": "svg",
        "filename": "loss",
        "scale": 2.0,
        "width": None,
        "height": None,
    }
    assert E.plotly_config()["toImageButtonOptions"]["format"] == "svg"
    with pytest.raises(ValueError, match="fmt must be one of"):
        E.plotly_config(fmt="pdf")


# ------------------------------------------------------------------------------------------ JSON
@dataclass(frozen=True)
class _Result:
    kappa: float
    mu: np.ndarray


def test_to_json_safe_rules():
    obj = {
        "kappa": np.inf,
        "neg": -np.inf,
        "bad": float("nan"),
        "mu": 1 + 2j,
        "arr": np.array([1.0, np.nan, np.inf]),
        "carr": np.array([1 + 1j, complex(0.0, np.inf)]),
        "int": np.int64(3),
        "flag": np.bool_(True),
        "tup": (1, 2.5),
        3: "int key",
        "res": _Result(kappa=np.inf, mu=np.array([0.5 + 0.5j])),
    }
    out = E.to_json_safe(obj)
    assert out == {
        "kappa": "inf",
        "neg": "-inf",
        "bad": "nan",
        "mu": [1.0, 2.0],
        "arr": [1.0, "nan", "inf"],
        "carr": [[1.0, 1.0], [0.0, "inf"]],
        "int": 3,
        "flag": True,
        "tup": [1, 2.5],
        "3": "int key",
        "res": {"kappa": "inf", "mu": [[0.5, 0.5]]},
    }
    assert isinstance(out["int"], int) and out["flag"] is True
    s = E.json_dumps(obj)  # strict JSON (allow_nan=False) parses back
    assert json.loads(s)["kappa"] == "inf" and s.endswith("\n")
    with pytest.raises(TypeError, match="cannot be encoded as JSON"):
        E.to_json_safe({"f": object()})


def test_to_json_safe_complex_parts():
    assert E.to_json_safe(complex(np.inf, -1.0)) == ["inf", -1.0]
    assert E.to_json_safe(np.complex128(0.5 - 0.25j)) == [0.5, -0.25]
    assert E.to_json_safe(np.array([[1, 2], [3, 4]], dtype=np.int32)) == [[1, 2], [3, 4]]


# ------------------------------------------------------------------------------------------- zip
@pytest.fixture
def bundle_inputs(rng):
    k = np.arange(12)
    figs = {
        "spectrum": F.plot_spectrum(np.array([0.9, 0.5j]), cond=[1.0, 3.0]),
        "transient": F.plot_transient(k, 0.9**k),
    }
    data = {
        "norms": 0.9**k,
        "sigma_min": rng.random((3, 4)),
        "eigenvalues": np.array([0.9, 0.5j]),
        "metrics": {"step": k, "loss": np.exp(-k / 3.0)},
        "summary": {"kappa": np.inf, "rho": 0.9},
        "snapshots.npz": {"J": np.eye(2), "theta": np.array([1.0, 2.0])},
        "cube": np.zeros((2, 2, 2)),
        "notes.md": "# run notes\n",
        "raw.bin": b"\x00\x01",
    }
    settings = {"optimizer": "heavy_ball", "lr": 0.1, "momentum": 0.9, "eps_levels": [-3, -2]}
    cmd = "python -m nnspec_core figure spectrum --optimizer heavy_ball --lr 0.1 --momentum 0.9"
    return figs, data, settings, cmd


def test_bundle_zip_contents_match_documented_list(kaleido_server, bundle_inputs):
    figs, data, settings, cmd = bundle_inputs
    z = E.bundle_zip(figs, data=data, settings=settings, cli_command=cmd)
    zf = zipfile.ZipFile(io.BytesIO(z))
    names = zf.namelist()
    assert names == E.bundle_names(list(figs), data)
    assert names == sorted(
        [
            "MANIFEST.txt",
            "command.txt",
            "settings.json",
            *[f"figures/{f}.{x}" for f in figs for x in ("html", "pdf", "png", "svg")],
            "data/norms.csv",
            "data/sigma_min.csv",
            "data/eigenvalues.csv",
            "data/metrics.csv",
            "data/summary.json",
            "data/snapshots.npz",
            "data/cube.npy",
            "data/notes.md",
            "data/raw.bin",
        ]
    )
    # every format is valid
    assert zf.read("figures/spectrum.png")[:4] == b"\x89PNG"
    assert zf.read("figures/spectrum.pdf")[:4] == b"%PDF"
    ET.fromstring(zf.read("figures/transient.svg"))
    assert b"Plotly.newPlot" in zf.read("figures/transient.html")
    # settings and command round-trip
    assert json.loads(zf.read("settings.json")) == settings
    assert zf.read("command.txt").decode() == cmd + "\n"
    # the data round-trips exactly
    np.testing.assert_array_equal(np.loadtxt(io.BytesIO(zf.read("data/norms.csv")), skiprows=1), data["norms"])
    np.testing.assert_array_equal(
        np.loadtxt(io.BytesIO(zf.read("data/sigma_min.csv")), delimiter=","), data["sigma_min"]
    )
    eig = np.loadtxt(io.BytesIO(zf.read("data/eigenvalues.csv")), skiprows=1, dtype=complex)
    np.testing.assert_array_equal(eig, data["eigenvalues"])
    cols = np.loadtxt(io.BytesIO(zf.read("data/metrics.csv")), delimiter=",", skiprows=1)
    assert zf.read("data/metrics.csv").decode().splitlines()[0] == "step,loss"
    np.testing.assert_array_equal(cols, np.column_stack([data["metrics"]["step"], data["metrics"]["loss"]]))
    assert json.loads(zf.read("data/summary.json")) == {"kappa": "inf", "rho": 0.9}
    with np.load(io.BytesIO(zf.read("data/snapshots.npz")), allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["J"], np.eye(2))
        np.testing.assert_array_equal(npz["theta"], [1.0, 2.0])
    np.testing.assert_array_equal(
        np.load(io.BytesIO(zf.read("data/cube.npy")), allow_pickle=False), np.zeros((2, 2, 2))
    )
    assert zf.read("data/raw.bin") == b"\x00\x01"
    # MANIFEST lists every other member with its size and SHA-256
    manifest = zf.read("MANIFEST.txt").decode()
    for name in names:
        if name == "MANIFEST.txt":
            continue
        blob = zf.read(name)
        assert f"{len(blob):>10}  {hashlib.sha256(blob).hexdigest()}  {name}" in manifest
    assert "- none" in manifest
    # fixed timestamps and permissions
    assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in zf.infolist()} == {0o644}


def test_bundle_zip_deterministic_without_static(bundle_inputs):
    figs, data, settings, cmd = bundle_inputs
    figs = {"transient": figs["transient"]}  # one figure keeps this fast (each HTML embeds plotly.js)
    a = E.bundle_zip(figs, data=data, settings=settings, cli_command=cmd, formats=("html",))
    b = E.bundle_zip(figs, data=data, settings=settings, cli_command=cmd, formats=("html",))
    assert a == b


def test_bundle_zip_without_chromium(monkeypatch, bundle_inputs, spectrum_fig):
    figs, data, settings, cmd = bundle_inputs
    monkeypatch.setattr(E, "_find_chromium", lambda: None)
    ok, reason = E.kaleido_available()
    assert not ok and "no Chromium" in reason and "HTML export still works" in reason
    with pytest.raises(E.ExportUnavailable, match="Static PNG export is unavailable: no Chromium.*HTML export"):
        E.figure_bytes(spectrum_fig, "png")
    z = E.bundle_zip(figs, data=data, settings=settings, cli_command=cmd)
    zf = zipfile.ZipFile(io.BytesIO(z))
    expected = E.bundle_names(list(figs), data, formats=("html",))
    assert zf.namelist() == expected
    manifest = zf.read("MANIFEST.txt").decode()
    assert "static formats (png, svg, pdf) skipped: no Chromium" in manifest


def test_kaleido_unavailable_with_bogus_browser_path():
    env = dict(os.environ, BROWSER_PATH="/nonexistent/chromium")
    code = "from nnspec_core.export import kaleido_available as k; ok, r = k(); print(ok); print(r)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    ok, reason = out.stdout.strip().splitlines()
    assert ok == "False" and "no Chromium" in reason


def test_browser_that_fails_to_start_is_reported_not_hung(tmp_path):
    """A 'browser' that exits at once: start_kaleido says False, export raises, the zip keeps HTML."""
    code = (
        "import io, zipfile, plotly.graph_objects as go\n"
        "from nnspec_core import export as E\n"
        "print(E.start_kaleido(timeout=30))\n"
        "try:\n    E.figure_bytes(go.Figure(), 'svg')\nexcept E.ExportUnavailable as err:\n    print(err)\n"
        "z = zipfile.ZipFile(io.BytesIO(E.bundle_zip({'f': go.Figure()})))\n"
        "print(' '.join(z.namelist()))\n"
        "print([l for l in z.read('MANIFEST.txt').decode().splitlines() if 'skipped' in l][0])\n"
    )
    env = dict(os.environ, BROWSER_PATH="/bin/false")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "False"
    assert lines[1] == "Static SVG export is unavailable: Chromium did not start for kaleido; HTML export still works."
    assert lines[2] == "MANIFEST.txt command.txt figures/f.html settings.json"
    assert lines[3] == "- static formats (png, svg, pdf) skipped: Chromium did not start for kaleido."


@pytest.mark.parametrize(
    "figs, data, exc, match",
    [
        ({"../evil": go.Figure()}, {}, ValueError, "figure names must be"),
        ({"a b": go.Figure()}, {}, ValueError, "figure names must be"),
        ({"a": {"data": []}}, {}, TypeError, r"figures\['a'\] must be a plotly"),
        ({}, {"x": object()}, TypeError, r"data\['x'\] has unsupported type object"),
        ({}, {"x.npz": {"o": np.array([{}], dtype=object)}}, TypeError, "no pickled objects"),
        ({}, {"x": np.ones(2), "x.csv": "1\n"}, ValueError, "both map to data/x.csv"),
    ],
)
def test_bundle_zip_bad_input(figs, data, exc, match):
    with pytest.raises(exc, match=match):
        E.bundle_zip(figs, data=data, formats=("html",))
