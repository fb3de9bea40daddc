"""AppTest of the Operator Lab page: presets, URL state, sliders -> cards, snap, walk, export bundle."""

from __future__ import annotations

import dataclasses
import io
import math
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nnspec_app import lab_ui
from nnspec_core.lab import lab_state, settings_from_preset
from nnspec_core.quadratic import PRESETS

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "operator_lab.py")


def cards(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def card(at: AppTest, prefix: str) -> str:
    return next(v for k, v in cards(at).items() if k.startswith(prefix))


@pytest.fixture
def at() -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.run()
    assert not app.exception
    return app


def test_every_preset_runs_and_cards_match_the_core(at):
    for key, p in PRESETS.items():
        at.selectbox(key="preset").set_value(key).run()
        assert not at.exception and not at.error, key
        assert at.selectbox(key="opt").value == p.optimizer
        assert len(at.metric) == 6
        ref = lab_state(dataclasses.replace(settings_from_preset(key), n_map=4, n_grid=4))
        assert card(at, "ρ(J)") == lab_ui.fmt(ref.rho, 5), key
        kappa = card(at, "κ(V)")
        assert kappa == ("∞" if ref.at_ep else lab_ui.fmt(ref.kappa_V)), key
        assert at.slider(key="log_lr").value == pytest.approx(round(math.log10(p.lr), 3))
    # the two EP presets sit exactly on their exceptional point
    at.selectbox(key="preset").set_value("nesterov_nilpotent").run()
    assert card(at, "κ(V)") == "∞" and card(at, "η away") == "0 %"


def test_moving_a_slider_changes_the_cards(at):
    before = cards(at)
    assert card(at, "κ(V)") == "∞"  # default preset: critical damping
    at.slider(key="beta").set_value(0.85).run()
    after = cards(at)
    assert not at.exception
    assert after != before and card(at, "κ(V)") != "∞"
    ref = lab_state(dataclasses.replace(settings_from_preset("critical_damping"), momentum=0.85, n_map=4, n_grid=4))
    assert card(at, "ρ(J)") == lab_ui.fmt(ref.rho, 5) and card(at, "κ(V)") == lab_ui.fmt(ref.kappa_V)
    at.slider(key="log_lr").set_value(-1.0).run()
    assert cards(at) != after


def test_url_parameters_restore_the_state():
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.query_params["preset"] = PRESETS["transient"].title  # a select box carries its label in the URL
    app.query_params["beta"] = "0.95"
    app.query_params["log_lr"] = "-2.5"
    app.run()
    assert not app.exception
    assert app.selectbox(key="preset").value == "transient"
    assert app.slider(key="beta").value == pytest.approx(0.95)
    assert app.slider(key="log_lr").value == pytest.approx(-2.5)
    s = dataclasses.replace(settings_from_preset("transient"), momentum=0.95, lr=10**-2.5, n_map=4, n_grid=4)
    assert card(app, "ρ(J)") == lab_ui.fmt(lab_state(s).rho, 5)


def test_snap_button_lands_on_the_exceptional_point(at):
    at.slider(key="log_lr").set_value(-1.3).run()
    assert card(at, "κ(V)") != "∞"
    at.button(key="snap_btn").click().run()
    assert not at.exception
    assert card(at, "κ(V)") == "∞" and card(at, "η away") == "0 %"
    assert at.success and "Snapped η" in at.success[0].value
    # gradient descent has no EP: an explanation, no exception
    at.selectbox(key="opt").set_value("gd").run()
    at.button(key="snap_btn").click().run()
    assert not at.exception and at.info and "no" in at.info[0].value.lower()
    assert card(at, "κ(V)") == "1" and card(at, "η away") == "none"


def test_walk_animation_and_adam_controls(at):
    at.toggle(key="walk").set_value(True).run()
    assert not at.exception and not at.error
    at.selectbox(key="preset").set_value("adam_rotated").run()
    assert not at.exception
    comm = card(at, "‖[H, M]‖")
    at.slider(key="angle").set_value(0).run()
    assert card(at, "‖[H, M]‖") == "0" and comm != "0"
    at.radio(key="spec").set_value("log").run()
    at.slider(key="n").set_value(8).run()
    assert not at.exception and not at.error
    at.selectbox(key="opt").set_value("gd").run()  # gd has no EP: the walk says so in one line
    assert not at.exception and at.error and "no exceptional point" in at.error[0].value


def test_map_click_and_lr_resolution_callbacks():
    point = {"x": 0.0123, "y": 0.456, "customdata": {"0": 0.0123, "1": 0.456, "2": "2.1"}, "curve_number": 4}
    session: dict = {"lab_map": {"selection": {"points": [point]}}}
    lab_ui.map_click(session, "lab_map")
    assert session["log_lr"] == pytest.approx(round(math.log10(0.0123), 3)) and session["beta"] == 0.456
    lab_ui.map_click({"lab_map": None}, "lab_map")  # nothing selected: no error
    session = {}
    lab_ui.set_lr_beta(session, 0.009999999999999995, None, exact=True)
    assert session["log_lr"] == -2.0
    assert lab_ui.resolve_lr(-2.0, "transient", session) == 0.009999999999999995  # the exact snapped value
    assert lab_ui.resolve_lr(-1.0, "transient", session) == pytest.approx(0.1)


def test_formatting():
    assert lab_ui.fmt(32000.0) == "3.2e4" and lab_ui.fmt(math.inf) == "∞" and lab_ui.fmt(math.nan) == "—"
    assert lab_ui.fmt(0.98895, 5) == "0.98895" and lab_ui.fmt(1.5e-5) == "1.5e-5"
    assert lab_ui.fmt_pct(0.0121) == "+1.21 %" and lab_ui.fmt_pct(0.0).startswith("0 %")
    assert lab_ui.pretty("eta*lam = (1 - sqrt(beta))^2") == "η·λ = (1 - √(β))²"


def test_bundle_holds_figures_data_settings_and_command():
    s = dataclasses.replace(settings_from_preset("critical_damping"), n_map=6, n_grid=8, k_max=20)
    r = lab_state(s)
    figs = {"kappa_map": lab_ui.map_figure(r, r.map, lab_ui.DEFAULT_THEME),
            "spectrum": lab_ui.spectrum_figure(r, lab_ui.DEFAULT_THEME)}  # fmt: skip
    z = zipfile.ZipFile(io.BytesIO(lab_ui.bundle(figs, r, r.map, s, "critical_damping", formats=("html",))))
    names = set(z.namelist())
    assert {"figures/kappa_map.html", "figures/spectrum.html", "settings.json", "command.txt"} <= names
    assert {"data/operator_J.csv", "data/transient.csv", "data/map_log10_kappa.csv", "data/cards.json"} <= names
    cmd = z.read("command.txt").decode()
    assert cmd.startswith("python -m nnspec_core lab --optimizer heavy_ball --coords history") and "--lr 0.01" in cmd


def test_cli_command_round_trips_and_writes_the_bundle(tmp_path):
    import argparse

    s = dataclasses.replace(settings_from_preset("adam_rotated"), lr=0.0123, k_max=30)
    cmd = lab_ui.cli_command(s, walk=True)
    argv = cmd.split()[4:]  # drop "python -m nnspec_core lab"
    parser = argparse.ArgumentParser()
    lab_ui.add_cli_arguments(parser)
    args = parser.parse_args([a if not a.endswith(".zip") else str(tmp_path / a) for a in argv] + ["--formats", "html"])
    back, preset = lab_ui.cli_settings(args)
    assert back == s and preset == "custom" and args.walk
    assert lab_ui.run_cli(args) == 0
    z = zipfile.ZipFile(tmp_path / "operator_lab.zip")
    assert {f"figures/{n}.html" for n in ("kappa_map", "spectrum", "transient", "trajectory", "ep_walk")} <= set(
        z.namelist()
    )
    assert z.read("command.txt").decode().strip() == cmd


def test_talk_theme_stacks_the_charts_full_width():
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["talk_theme"] = True
    app.run()
    assert not app.exception and not app.error
    charts = app.get("plotly_chart")
    assert len(charts) == 4
    assert all('"width":1600' in c.proto.spec.replace(" ", "") for c in charts)  # the talk theme's fixed size
