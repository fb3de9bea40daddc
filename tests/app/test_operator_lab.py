"""AppTest of the Operator Lab page: presets, URL state, sliders -> cards, snap, walk, talk theme.

The figures, the export bundle and the ``lab`` command are tested in tests/test_lab_cli.py and tests/test_lab.py.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nnspec_app import lab_ui
from nnspec_core.lab import lab_state, settings_from_preset
from nnspec_core.lab_figures import fmt
from nnspec_core.quadratic import PRESETS

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "operator_lab.py")


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
        assert card(at, "ρ(J)") == fmt(ref.rho, 5), key
        kappa = card(at, "κ(V)")
        assert kappa == ("∞" if ref.at_ep else fmt(ref.kappa_V)), key
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
    assert card(at, "ρ(J)") == fmt(ref.rho, 5) and card(at, "κ(V)") == fmt(ref.kappa_V)
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
    assert card(app, "ρ(J)") == fmt(lab_state(s).rho, 5)


def test_snap_button_lands_on_the_exceptional_point(at):
    at.slider(key="log_lr").set_value(-1.3).run()
    assert card(at, "κ(V)") != "∞"
    at.button(key="snap_btn").click().run()
    assert not at.exception
    assert card(at, "κ(V)") == "∞" and card(at, "η away") == "0 %"
    assert at.success and at.success[0].value == (  # from η = 10^-1.3 the λ₂ = 0.2 mode's EP is the nearest
        "Snapped η to 0.05 (lower EP of the mode with curvature 0.2); a numerical search of the eigenvalues agrees."
    )
    # gradient descent has no EP: an explanation, no exception
    at.selectbox(key="opt").set_value("gd").run()
    at.button(key="snap_btn").click().run()
    assert not at.exception and at.info and "no" in at.info[0].value.lower()
    assert card(at, "κ(V)") == "1" and card(at, "η away") == "none"


def test_snap_message_names_the_numerical_search_only_when_it_adds_something():
    from types import SimpleNamespace

    t = SimpleNamespace(lr=0.009999999999999995, lr_numeric=0.0100000001, branch="lower", lam=1.0)
    assert lab_ui.snap_message(t) == (
        "Snapped η to 0.01 (lower EP of the mode with curvature 1); a numerical search of the eigenvalues agrees."
    )
    t.lr_numeric = 0.0101
    assert lab_ui.snap_message(t).endswith("; a numerical search of the eigenvalues found 0.0101.")
    t.lr_numeric = math.nan  # e.g. heavy ball at β = 0: the eigenvalues only touch
    assert lab_ui.snap_message(t) == "Snapped η to 0.01 (lower EP of the mode with curvature 1)."


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


def test_talk_theme_stacks_the_charts_full_width():
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["talk_theme"] = True
    app.run()
    assert not app.exception and not app.error
    charts = app.get("plotly_chart")
    assert len(charts) == 4
    assert all('"width":1600' in c.proto.spec.replace(" ", "") for c in charts)  # the talk theme's fixed size


def test_transient_caption_explains_the_missing_bound_at_an_ep(at):
    captions = [c.value for c in at.caption]
    assert card(at, "κ(V)") == "∞"  # the default preset sits on the heavy-ball EP: no κ(V) ρᵏ curve is drawn
    assert any("κ(V) = ∞ (J is not diagonalisable), so the upper bound κ(V) ρᵏ is void" in c for c in captions)
    assert not any("bounds it from above" in c for c in captions)
    at.selectbox(key="preset").set_value("transient").run()
    assert not at.exception and card(at, "κ(V)") != "∞"
    assert any("κ(V) ρᵏ bounds it from above" in c.value for c in at.caption)


def test_snap_message_disappears_once_eta_beta_or_optimizer_move(at):
    """After a snap, moving β left "Snapped η to 0.01 (lower EP …) … agrees." on screen although the point moved."""
    at.button(key="snap_btn").click().run()
    assert not at.exception and at.success and at.success[0].value.startswith("Snapped η to 0.01")
    at.slider(key="k_max").set_value(300).run()  # horizon: the snapped point is unchanged, the message stays
    assert at.success and at.success[0].value.startswith("Snapped η to 0.01")
    at.slider(key="beta").set_value(0.7).run()
    assert not at.exception and not at.success and lab_ui.MSG_KEY not in at.session_state
    at.button(key="snap_btn").click().run()
    assert at.success
    at.slider(key="log_lr").set_value(-1.5).run()
    assert not at.success
    at.button(key="snap_btn").click().run()
    assert at.success
    at.radio(key="coords_m").set_value("buffer").run()  # another state convention
    assert not at.success
    # the "no exceptional point" note of gradient descent goes away with the optimizer
    at.selectbox(key="opt").set_value("gd").run()
    at.button(key="snap_btn").click().run()
    assert at.info and "No exceptional point" in at.info[0].value
    at.selectbox(key="opt").set_value("heavy_ball").run()
    assert not any("No exceptional point" in i.value for i in at.info)


def test_current_message_keeps_a_message_only_for_its_settings():
    s = settings_from_preset("critical_damping")
    session = {lab_ui.MSG_KEY: ("success", "Snapped", lab_ui.message_stamp(s))}
    assert lab_ui.current_message(session, s) == ("success", "Snapped")
    elsewhere = dataclasses.replace(s, k_max=999, theta0=(0.5, 0.5))  # horizon and start: the message still holds
    assert lab_ui.current_message(session, elsewhere) == ("success", "Snapped")
    for change in ({"momentum": 0.8}, {"lr": 0.02}, {"optimizer": "nesterov"}, {"coords": "buffer"}):
        session = {lab_ui.MSG_KEY: ("success", "Snapped", lab_ui.message_stamp(s))}
        assert lab_ui.current_message(session, dataclasses.replace(s, **change)) is None, change
        assert lab_ui.MSG_KEY not in session


def test_transient_caption_follows_rho():
    """ρ > 1 (Kreiss K = ∞) kept the caption "ρ < 1 does not mean 'no growth' … κ(V) ρᵏ bounds it …"."""
    s = dataclasses.replace(settings_from_preset("transient"), n_map=4, n_grid=4, k_max=20)
    inside = lab_ui.transient_caption(lab_state(s))
    assert inside.startswith("ρ < 1 does not mean") and "bounds it from above" in inside
    r = lab_state(dataclasses.replace(s, lr=5.0))
    assert r.diverges and math.isinf(r.kreiss)
    text = lab_ui.transient_caption(r)
    assert text.startswith(f"ρ(J) = {fmt(r.rho, 5)} > 1: the iteration diverges") and "grows like ρᵏ" in text
    assert "ρ < 1" not in text and "bounds it" not in text
    gd = lab_state(dataclasses.replace(s, optimizer="gd", coords="theta", eigenvalues=(1.0, 0.5), lr=2.0))
    assert not gd.diverges and gd.rho == pytest.approx(1.0)  # μ = 1 − ηλ = −1: on the boundary
    assert lab_ui.transient_caption(gd).startswith("ρ(J) = 1: on the stability boundary")


def test_transient_caption_on_the_page_when_the_iteration_diverges(at):
    at.slider(key="log_lr").set_value(0.7).run()  # η = 5 on the critical-damping preset: ηλ > 2(1 + β), ρ > 1
    assert not at.exception and card(at, "peak ‖Jᵏ‖₂") == "diverges"
    captions = [c.value for c in at.caption]
    assert any("> 1: the iteration diverges, ‖Jᵏ‖ grows like ρᵏ" in c for c in captions)
    assert not any("ρ < 1 does not mean" in c for c in captions)


def test_trajectory_caption_mentions_level_sets_only_when_drawn(at):
    """With log-spaced H and n > 2 the figure shows two coordinates without level sets, yet the caption said
    'on the level sets of the loss'."""
    assert any(c.value.endswith("on the level sets of the loss.") for c in at.caption)  # n = 2
    at.radio(key="spec").set_value("log").run()
    at.slider(key="n").set_value(5).run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert not any("on the level sets" in c for c in captions)
    assert any("first two of the n = 5 coordinates of θ. No level sets are drawn" in c for c in captions)
    traj = next(c for c in at.get("plotly_chart") if "iterates θₖ (first two coordinates)" in c.proto.spec)
    assert '"type":"contour"' not in traj.proto.spec.replace(" ", "")


def test_negative_curvature_is_called_a_saddle_not_a_stability_region():
    """λ₁ < 0: the caption said "Move η or β back inside the dashed ρ(J) = 1 curve" (no such (η, β) exists) and the
    trajectory legend "minimum θ*"."""
    s = dataclasses.replace(settings_from_preset("critical_damping"), n_map=4, n_grid=4, k_max=20)
    for lam, opt, kind, params in [
        ((-2.0, 0.2), "heavy_ball", "a saddle", "every η > 0 and β diverges along that direction"),
        ((-2.0, 0.2), "gd", "a saddle", "every η > 0 diverges along that direction"),
        ((-2.0, -0.5), "heavy_ball", "a maximum", "every η > 0 and β diverges along those directions"),
    ]:
        coords = "theta" if opt == "gd" else s.coords
        r = lab_state(dataclasses.replace(s, eigenvalues=lam, optimizer=opt, coords=coords))
        assert r.diverges
        text = lab_ui.transient_caption(r)
        assert text.startswith(f"ρ(J) = {fmt(r.rho, 5)} > 1: the iteration diverges") and "Move η" not in text
        assert f": θ* is {kind}, and {params}." in text
    assert "(λ₁ = −2): θ* is a saddle" in lab_ui.transient_caption(
        lab_state(dataclasses.replace(s, eigenvalues=(-2.0, 0.2)))
    )
    # positive definite H: the curve of the map is still the way back
    r = lab_state(dataclasses.replace(s, lr=5.0))
    assert "Move η or β back inside the dashed ρ(J) = 1 curve" in lab_ui.transient_caption(r)
    assert lab_ui.negative_curvature_text(r) == ""


def test_saddle_on_the_page_caption_legend_and_trajectory_window(at):
    """λ₁ = −2 on the page: the saddle caption, "saddle θ*" in the legend, and a trajectory window of sane aspect
    (equal scales squashed the 12 : 1 window of iterates running off along θ₁ to a ~25 px strip)."""
    at.slider(key="lam1").set_value(-2.0).run()
    assert not at.exception and not at.error
    captions = [c.value for c in at.caption]
    assert any("H has a negative eigenvalue (λ₁ = −2): θ* is a saddle" in c for c in captions)
    assert not any("Move η or β back inside" in c for c in captions)
    traj = next(c for c in at.get("plotly_chart") if "iterates θₖ in θ-space" in c.proto.spec)
    fig = json.loads(traj.proto.spec)
    names = [t.get("name") for t in fig["data"]]
    assert "saddle θ*" in names and "minimum θ*" not in names
    xr, yr = fig["layout"]["xaxis"]["range"], fig["layout"]["yaxis"]["range"]
    assert fig["layout"]["xaxis"].get("constrain") == "domain"  # the page shows exactly these ranges
    assert 1 / 4 <= (xr[1] - xr[0]) / (yr[1] - yr[0]) <= 4
