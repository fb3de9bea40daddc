"""``python -m nnspec_core lab`` (nnspec_core.lab_figures): the Operator Lab bundle from the command line.

Independent truth: the written CSV / JSON files are compared with a direct ``lab_state`` call
(np.testing at 0 ulp: the CSV cells are written with 17 significant digits), and the command in
the page's own bundle (built as app_pages/operator_lab.py builds it) is run through ``cli.main``: the
two zips must agree byte for byte in figures (HTML, fixed div id) and data.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nnspec_core.cli import SUBCOMMANDS, build_parser, main
from nnspec_core.lab import LabSettings, lab_map, lab_state, lab_walk, settings_from_preset
from nnspec_core.lab_figures import bundle, cli_command, cli_settings, lab_figures
from nnspec_core.quadratic import LAB_COORDS, PRESETS
from nnspec_core.theme import DEFAULT_THEME

ROOT = Path(__file__).resolve().parents[1]
FIGS = ("kappa_map", "spectrum", "transient", "trajectory")


def _csv(z: zipfile.ZipFile, name: str, *, header: bool) -> np.ndarray:
    return np.loadtxt(io.StringIO(z.read(name).decode()), delimiter=",", skiprows=1 if header else 0, ndmin=2)


def test_lab_is_registered_once():
    assert [c.name for c in SUBCOMMANDS].count("lab") == 1
    _, subparsers = build_parser("lab")
    assert "--preset" in subparsers["lab"].format_help()


def test_main_lab_preset_writes_figures_data_settings_and_command(tmp_path, capsys):
    out = tmp_path / "lab.zip"
    argv = ["lab", "--preset", "transient", "--k-max", "40", "--n-map", "6", "--n-grid", "10"]
    assert main([*argv, "--formats", "html", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    s = dataclasses.replace(settings_from_preset("transient"), k_max=40, n_map=6, n_grid=10)
    ref = lab_state(s)
    z = zipfile.ZipFile(out)
    names = set(z.namelist())
    assert {f"figures/{f}.html" for f in FIGS} <= names and "figures/ep_walk.html" not in names
    assert not any(n.endswith((".png", ".svg", ".pdf")) for n in names)  # only the requested format
    settings = json.loads(z.read("settings.json"))
    assert settings["preset"] == "transient" and settings["k_max"] == 40 and settings["n_map"] == 6
    assert settings["momentum_range"] == list(s.momentum_range) and settings["eigenvalues"] == list(s.eigenvalues)
    np.testing.assert_array_equal(_csv(z, "data/operator_J.csv", header=False), ref.J)
    tr = _csv(z, "data/transient.csv", header=True)
    np.testing.assert_array_equal(tr[:, 0], np.arange(41.0))
    np.testing.assert_array_equal(tr[:, 1], ref.power_norms)
    np.testing.assert_array_equal(_csv(z, "data/map_log10_kappa.csv", header=False), ref.map.log10_kappa)
    assert _csv(z, "data/map_log10_kappa.csv", header=False).shape == (6, 6)
    cards = json.loads(z.read("data/cards.json"))
    assert cards["rho"] == ref.rho and cards["peak_k"] == ref.peak_k
    # the written command regenerates exactly these settings (non-default grid sizes included)
    cmd = z.read("command.txt").decode().strip()
    assert cmd == cli_command(s) and "--n-map 6 --n-grid 10" in cmd
    parser = build_parser("lab")[1]["lab"]
    assert cli_settings(parser.parse_args(shlex.split(cmd)[4:])) == (s, "custom")


@pytest.mark.parametrize("key", list(PRESETS))
def test_cli_command_round_trips_every_preset_with_overrides(key):
    parser = build_parser("lab")[1]["lab"]
    base = settings_from_preset(key)
    for s in (
        base,
        dataclasses.replace(base, lr=0.0123456789012345, theta0=(-0.3, 1e-17), n_grid=33, eps=1e-6),
        # negative numbers that argparse would take for flags if written plainly: "-1.0,0.5", "-1e-05"
        dataclasses.replace(
            base, eigenvalues=(-1.0, 0.5), angle=-1e-17, theta0=(-1e-5, -2.0), momentum_range=(0.1, 0.5)
        ),
    ):
        for walk in (False, True):
            args = parser.parse_args(shlex.split(cli_command(s, walk=walk))[4:])
            assert cli_settings(args) == (s, "custom") and args.walk is walk


def test_page_bundle_command_round_trips_through_the_cli(tmp_path):
    from nnspec_app import lab_ui

    # settings, map, state and walk exactly as app_pages/operator_lab.py gets them for a preset
    key = "adam_rotated"
    v = lab_ui.preset_widget_values(key)
    v["k_max"] = 30
    s = lab_ui.lab_settings(v, lr=lab_ui.resolve_lr(v["log_lr"], key, {}))
    s = dataclasses.replace(s, n_map=8, n_grid=12)  # smaller grids than the page's: fast, still round-trips
    r = lab_state(s, include_map=False)
    pmap = lab_map(dataclasses.replace(s, lr=1.0, momentum=0.0, k_max=1, theta0=(1.0, 1.0)))
    figs = lab_figures(r, pmap=pmap, walk=lab_walk(s), theme=DEFAULT_THEME)
    page_zip = zipfile.ZipFile(io.BytesIO(bundle(figs, r, pmap=pmap, settings=s, preset=key, formats=("html",))))
    cmd = page_zip.read("command.txt").decode().strip()
    argv = shlex.split(cmd)
    assert argv[:4] == ["python", "-m", "nnspec_core", "lab"] and argv[-2:] == ["--out", "operator_lab.zip"]
    out = tmp_path / "cli.zip"
    assert main([*argv[3:-2], "--out", str(out), "--formats", "html"]) == 0
    cli_zip = zipfile.ZipFile(out)
    assert sorted(cli_zip.namelist()) == sorted(page_zip.namelist())
    assert "figures/ep_walk.html" in cli_zip.namelist()
    for name in page_zip.namelist():
        if name == "MANIFEST.txt":  # sizes and hashes of every member: differs with settings.json (preset)
            continue
        if name == "settings.json":
            page_set, cli_set = json.loads(page_zip.read(name)), json.loads(cli_zip.read(name))
            assert page_set.pop("preset") == key and cli_set.pop("preset") == "custom"
            assert page_set == cli_set
        else:  # figures (fixed div id: equal figures give equal pages), data, command
            assert cli_zip.read(name) == page_zip.read(name), name


def test_bad_input_is_one_line_without_traceback(tmp_path, capsys):
    out = str(tmp_path / "x.zip")
    assert main(["lab", "--eigenvalues", "1,two", "--out", out]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--eigenvalues must be comma-separated numbers" in err
    assert main(["lab", "--preset", "transient", "--momentum", "1.0", "--out", out]) == 1
    assert "momentum must be < 1" in capsys.readouterr().err
    assert main(["lab", "--optimizer", "gd", "--walk", "--k-max", "5", "--n-map", "4", "--n-grid", "4",
                 "--formats", "html", "--out", out]) == 1  # fmt: skip
    assert "exceptional point" in capsys.readouterr().err.lower()
    assert main(["lab", "--preset", "nope", "--out", out]) == 2
    assert main(["lab", "--preset", "transient"]) == 2  # --out is required
    assert not Path(out).exists()
    with pytest.raises(TypeError, match="s must be a LabSettings"):
        cli_command({"lr": 0.1})


def test_cli_does_not_import_streamlit_or_the_app(tmp_path):
    script = (
        "import sys\n"
        "from nnspec_core.cli import main\n"
        "assert main(['lab', '--help']) == 0\n"
        "assert main(['lab', '--preset', 'critical_damping', '--k-max', '5', '--n-map', '4', '--n-grid', '4', "
        "'--walk', '--formats', 'html', '--out', sys.argv[1]]) == 0\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'nnspec_app'))\n"
        "print('IMPORTED', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    out = tmp_path / "probe.zip"
    proc = subprocess.run(
        [sys.executable, "-c", script, str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "IMPORTED []" in proc.stdout and "usage: nnspec lab" in proc.stdout
    assert "figures/ep_walk.html" in zipfile.ZipFile(out).namelist()


def test_default_settings_need_no_flags_but_out(tmp_path):
    parser = build_parser("lab")[1]["lab"]
    args = parser.parse_args(["--out", str(tmp_path / "a.zip")])
    assert cli_settings(args) == (LabSettings(), "custom")
    args = parser.parse_args(["--optimizer", "nesterov", "--out", "a.zip"])  # coords follow the optimizer
    s, _ = cli_settings(args)
    assert s.optimizer == "nesterov" and s.coords == LAB_COORDS["nesterov"][0]
