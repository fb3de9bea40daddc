"""AppTest smoke and behaviour tests of the Live Training page (app_pages/live_training.py).

AppTest does not tick ``run_every`` fragments, but the fragment body runs once in every full run: Start
trains one chunk there, Step and "Run to the end" call the same ``nnspec_core.live.advance``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nnspec_app.live_ui import OPTIMIZER_NAMES

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "live_training.py")
TINY = {"lt_steps": "10", "lt_width": "3", "lt_n": "40", "lt_k": "10", "lt_K": "3"}


def _app(**params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params = TINY | params
    at.run()
    assert not at.exception
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _titles(at: AppTest) -> list[str]:
    return [s["layout"].get("title", {}).get("text", "") for s in _chart_specs(at)]


def test_page_loads_ready_without_charts():
    at = _app()
    assert any("press **▶ Start**" in i.value for i in at.info)
    assert not at.get("plotly_chart") and not at.metric
    assert any("width ≤ 64" in c.value and "steps ≤ 2000" in c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("opt", list(OPTIMIZER_NAMES))
def test_each_optimizer_steps_without_exception(opt):
    at = _app(lt_opt=OPTIMIZER_NAMES[opt])
    at.sidebar.button(key="lt_step").click().run()
    assert not at.exception and not at.error
    assert at.session_state["lt_trainer"].config.optimizer == opt
    assert _metrics(at)["step"] == "0"
    titles = _titles(at)
    assert len(titles) == 5 and "J at step 0" in " ".join(titles)
    assert any("Analysis path: **dense**" in c.value for c in at.caption)


def test_start_shows_steps_then_pause():
    at = _app()
    at.sidebar.button(key="lt_start").click().run()
    assert not at.exception
    tr = at.session_state["lt_trainer"]
    assert len(tr.records) >= 1 and at.session_state["lt_live"] is (not tr.done)
    assert int(_metrics(at)["step"]) == tr.records[-1].step
    at.sidebar.button(key="lt_pause").click().run()
    assert not at.exception and at.session_state["lt_live"] is False
    text = at.get("progress")[0].proto.text
    assert text.startswith(("paused", "finished"))


def test_run_to_end_follow_and_select_step():
    at = _app()
    at.sidebar.button(key="lt_runall").click().run()
    assert not at.exception
    assert _metrics(at)["step"] == "10" and at.get("progress")[0].proto.text == "finished: 10 steps"
    picker = at.number_input(key="lt_sel_input")
    assert picker.value is None and picker.proto.placeholder == "latest: 10" and at.toggle(key="lt_follow").value
    assert len(at.get("download_button")) == 9
    at.number_input(key="lt_sel_input").set_value(4).run()
    assert not at.exception
    assert _metrics(at)["step"] == "4" and not at.toggle(key="lt_follow").value
    assert any("J at step 4:" in t for t in _titles(at))
    assert any("**Step 4**" in m.value for m in at.markdown)
    at.toggle(key="lt_follow").set_value(True).run()
    assert _metrics(at)["step"] == "10" and at.number_input(key="lt_sel_input").value is None
    at.number_input(key="lt_sel_input").set_value(6).run()
    assert _metrics(at)["step"] == "6" and not at.toggle(key="lt_follow").value
    at.number_input(key="lt_sel_input").set_value(None).run()  # clearing the input follows again
    assert _metrics(at)["step"] == "10" and at.toggle(key="lt_follow").value


def test_divergence_message_keeps_steps():
    at = _app(lt_opt="GD", lt_lr="10", lt_steps="200")
    at.sidebar.button(key="lt_runall").click().run()
    assert not at.exception
    res = at.session_state["lt_trainer"].result()
    assert res.diverged and len(res.records) == res.diverged_step + 1
    assert any(f"Diverged at step {res.diverged_step}" in e.value for e in at.error)
    assert at.get("progress")[0].proto.text.startswith(f"⚠ diverged at step {res.diverged_step}")
    assert len(at.get("download_button")) == 9  # everything measured stays exportable
    loss = next(s for s in _chart_specs(at) if "Loss" in s["layout"]["title"]["text"])
    assert any("diverged at step" in a["text"] for a in loss["layout"]["annotations"])
    # plain words: no internal names ("exceeds divergence_loss = 1e+10 at step 4", "rule s1.5_w10"), step said once
    k = res.diverged_step
    error = next(e.value for e in at.error if e.value.startswith(f"Diverged at step {k}"))
    assert f"Diverged at step {k}: the training loss " in error and " exceeded 1e10. Training stopped there." in error
    assert "divergence_loss" not in error and "1e+10" not in error
    assert at.get("progress")[0].proto.text.count(f"step {k}") == 1
    names = [t.get("name", "") for t in loss["data"]]
    assert "unstable phase (loss rose ×1.5 within 10 steps)" in names and not any("s1.5_w10" in n for n in names)
    # the summary of the last step: only finite values, ρ > 1 said as such (the overflow case: tests/test_live.py)
    summary = next(m.value for m in at.markdown if m.value.startswith("**Step "))
    assert "> 1: " in summary and "keeps growing (ρ > 1: like ρᵏ)" in summary
    assert "≈ ∞" not in summary and "peaks at" not in summary
    assert "The spectrum lies outside the unit circle" in summary and "reaches the unit circle" not in summary


def test_url_parameters_restore_settings():
    params = dict(lt_data="XOR", lt_opt="heavy ball (SGD momentum)", lt_lr="0.1", lt_beta="0.8", lt_seed="3",
                  lt_act="relu", lt_every="2", lt_coords_heavy_ball="[θₖ; θₖ₋₁] (history)")  # fmt: skip
    at = _app(**params)
    sb = at.sidebar
    assert sb.selectbox(key="lt_data").value == "xor" and sb.selectbox(key="lt_opt").value == "heavy_ball"
    assert sb.select_slider(key="lt_lr").value == 0.1 and sb.slider(key="lt_beta").value == 0.8
    assert sb.number_input(key="lt_seed").value == 3 and sb.slider(key="lt_width").value == 3
    sb.button(key="lt_step").click().run()
    cfg = at.session_state["lt_trainer"].config
    assert (cfg.dataset, cfg.optimizer, cfg.lr, cfg.momentum, cfg.seed, cfg.activation) == (
        "xor", "heavy_ball", 0.1, 0.8, 3, "relu"
    )  # fmt: skip
    assert (cfg.analyze_every, cfg.coords, cfg.steps, cfg.width, cfg.n_samples) == (2, "history", 10, 3, 40)


def test_invalid_url_values_are_ignored():
    at = _app(lt_lr="banana", lt_opt="SGD-ish", lt_width="999")
    sb = at.sidebar
    assert sb.select_slider(key="lt_lr").value == 0.01 and sb.selectbox(key="lt_opt").value == "adam"
    assert sb.slider(key="lt_width").value == 16


def test_changed_settings_notice_and_reset():
    at = _app()
    at.sidebar.button(key="lt_step").click().run()
    at.sidebar.slider(key="lt_width").set_value(4).run()
    assert any("Settings changed" in i.value for i in at.info)
    at.sidebar.button(key="lt_reset").click().run()
    assert at.session_state["lt_trainer"] is None and not at.get("plotly_chart")


def test_matrix_free_path_is_named():
    at = _app(lt_mf="true", lt_opt="GD")
    at.sidebar.button(key="lt_step").click().run()
    assert not at.exception and at.session_state["lt_trainer"].path == "matrix-free"
    assert any("Analysis path: **matrix-free** (forced)" in c.value for c in at.caption)
    assert any("not available on the matrix-free path" in t for t in _titles(at))
    assert _metrics(at)["κ(V)"] == "—"


def _charts_in_columns(at: AppTest) -> int:
    return sum(len(col.get("plotly_chart")) for col in at.main.columns)


def test_talk_theme_renders():
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params = dict(TINY)
    at.session_state["talk_theme"] = True
    at.run()
    at.sidebar.button(key="lt_step").click().run()
    assert not at.exception and len(_titles(at)) == 5
    # talk figures (large fonts) were clipped in half-width columns: every chart gets the full width
    assert _charts_in_columns(at) == 0
    at.session_state["talk_theme"] = False
    at.run()
    assert not at.exception and _charts_in_columns(at) == 5  # side by side in the default theme


@pytest.mark.parametrize(
    "params",
    [
        dict(lt_opt="Adam", lt_lr="10", lt_eps="1e-12", lt_beta1="0.99", lt_beta2="0.9", lt_steps="15"),
        dict(lt_opt="heavy ball (SGD momentum)", lt_lr="10", lt_beta="0.99", lt_steps="15"),
        dict(lt_opt="RMSProp", lt_lr="0.0001", lt_alpha="0.9", lt_eps="0.01", lt_wd="0.1", lt_every="7"),
    ],
)
def test_extreme_settings_never_crash(params):
    at = _app(**params)
    at.sidebar.button(key="lt_runall").click().run()
    assert not at.exception
    res = at.session_state["lt_trainer"].result()
    assert res.status in ("finished", "diverged") and len(res.records) >= 1
    assert res.diverged == any("Diverged at step" in e.value for e in at.error)


def test_warm_up_loads_torch_optim_in_the_background():
    """The Live Training page starts this once per server, so the first ▶ Start does not wait for torch.optim."""
    import sys

    from nnspec_app.runtime import warm_up

    thread = warm_up()
    assert thread.daemon and thread.name == "nnspec-warm-up"
    thread.join(120)
    assert not thread.is_alive()
    assert "torch.optim" in sys.modules


def test_run_buttons_sit_above_the_settings_in_the_sidebar():
    """▶ Start must be in view without scrolling past every setting (it was at the foot of a long sidebar)."""
    at = _app()

    def walk(node, out):
        for child in getattr(node, "children", {}).values():
            if getattr(child, "type", None) in ("button", "selectbox", "slider", "number_input"):
                out.append(child.label)
            walk(child, out)
        return out

    order = walk(at.sidebar, [])
    assert order.index("▶ Start") < order.index("Data set")
    assert order.index("Run to the end (no animation)") < order.index("Data set")
