"""AppTest tests of the Phase Study page (app_pages/phase_study.py).

Load, run the tiny preset, tables, views, errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nnspec_app import study_ui
from nnspec_core import studies as S
from nnspec_core.study_presets import TINY

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "phase_study.py")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("studies")


@pytest.fixture(autouse=True)
def _studies_root(root, monkeypatch):
    monkeypatch.setenv(study_ui.ROOT_ENV, str(root))


def _app(**params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.query_params = params
    at.run()
    assert not at.exception
    return at


def _charts(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]


def test_page_loads_without_a_study(root):
    at = _app()
    assert not at.error
    assert any("tiny" in i.value and "Run a study" in i.value for i in at.info)
    assert at.selectbox(key="ps_preset").value == "tiny"  # the fast preset is the default
    assert not at.get("plotly_chart")


def test_runs_the_tiny_preset_and_shows_the_tables(root):
    at = _app(ps_preset="tiny")
    assert any("8 runs of 20 steps" in c.value for c in at.caption)
    at.button(key="ps_run").click().run()
    assert not at.exception and not at.error
    name = f"tiny-{TINY.digest()}"
    assert S.study_directories(root) == [name]
    assert at.session_state[study_ui.LOADED] == name
    claims = at.table[0].value
    assert set(claims["paper's claim"]) >= {S._CLAIM_RHO, S._CLAIM_KAPPA}
    assert set(claims["verdict"]) <= {"holds", "does not hold", "partly", "undetermined"}
    assert len(claims) == 9  # 3 claims x (gd theta, heavy ball buffer, heavy ball history)
    results = at.dataframe[0].value
    assert {"ratio [95% CI]", "AUROC [95% CI]", "within-η AUROC [95% CI]"} <= set(results.columns)
    titles = _charts(at)
    assert any(t.startswith("Runs of GD") for t in titles)
    assert any(t.startswith("Indicators by phase") for t in titles)
    assert any(t.startswith("ROC") for t in titles)
    assert any("η_edge = 0.422" in c.value for c in at.caption)  # the edge is shown with 3 significant digits


def test_open_finished_study_select_run_and_switch_group(root):
    if not S.study_directories(root):  # the page test above normally created it
        S.run_study(TINY, root / f"tiny-{TINY.digest()}")
    at = _app(ps_source="Open a finished study")
    assert at.selectbox(key="ps_dir").options == S.study_directories(root)
    result = S.load_study(root / S.study_directories(root)[0])
    grid = S.run_grid(result, optimizer="gd", depth=2)
    at.session_state[study_ui.SELECTED] = str(grid.keys[1, 0])  # what a click on the grid stores
    at.run()
    assert not at.exception
    titles = _charts(at)
    assert any(t.startswith("Loss of the selected run: GD") for t in titles)
    assert any(t.startswith("Indicators of the selected run") for t in titles)
    at.selectbox(key="ps_group").select(("heavy_ball", 2, "history")).run()
    assert not at.exception
    assert any(t.startswith("Runs of heavy ball") for t in _charts(at))
    at.selectbox(key="ps_rule").select("s2_w20").run()
    assert not at.exception
    assert any("s2_w20: spike = loss >= 2" in c.value for c in at.caption)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ps_lo_tiny": "3.0", "ps_hi_tiny": "1.0"}, "lr_range[1] must be >= 3.0; got 1.0."),
        ({"ps_opts_tiny": "[]"}, "optimizers must not be empty"),
    ],
)
def test_bad_grid_is_one_line_error(params, message, root):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params = {"ps_preset": "tiny"}
    at.run()
    if "ps_opts_tiny" in params:
        at.multiselect(key="ps_opts_tiny").set_value([]).run()
    else:
        at.number_input(key="ps_lo_tiny").set_value(3.0).run()
        at.number_input(key="ps_hi_tiny").set_value(1.0).run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value and "\n" not in at.error[0].value


def test_download_bundle_holds_figures_tables_settings_and_command(root):
    import io
    import zipfile

    if not S.study_directories(root):
        S.run_study(TINY, root / f"tiny-{TINY.digest()}")
    result = S.load_study(root / S.study_directories(root)[0])
    figs = S.study_figures(result, optimizer="gd", depth=2, coords="theta")
    payload = study_ui.study_zip(result, figs, formats=("html",))  # static formats need Chromium: tested in export
    names = zipfile.ZipFile(io.BytesIO(payload)).namelist()
    assert {f"figures/{k}.html" for k in figs} <= set(names)
    tables = ("claims.csv", "claims.md", "results.csv", "results.md", "runs.csv", "lead_times.csv", "run_table.csv")
    assert {f"data/{n}" for n in tables} <= set(names)
    z = zipfile.ZipFile(io.BytesIO(payload))
    assert z.read("data/claims.csv").decode().splitlines()[0] == ",".join(S.CLAIM_COLUMNS)
    assert z.read("command.txt").decode().startswith("python -m nnspec_core study --config ")
    assert json.loads(z.read("settings.json"))["name"] == "tiny"


def _tiny_edited(**inputs: float) -> AppTest:
    """The page on the tiny preset with its grid inputs (``seeds``, ``nlrs``, ``steps``) set in the given order."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params = {"ps_preset": "tiny"}
    at.run()
    for name, value in inputs.items():
        at.number_input(key=f"ps_{name}_tiny").set_value(float(value)).run()
    return at


def test_grid_over_the_step_budget_is_refused_with_the_cli_hint(root):
    """A whole-class server runs at most STUDY_STEP_BUDGET training steps per study from the browser."""
    from nnspec_app.limits import STUDY_STEP_BUDGET

    at = _tiny_edited(seeds=20, nlrs=20, steps=2000)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(f"at most {STUDY_STEP_BUDGET:,}" in e and "python -m nnspec_core study" in e for e in errors), errors
    assert not [b for b in at.button if b.key == "ps_run"]


def test_cli_only_preset_is_labelled_and_shows_its_command(root):
    """'deep' could be picked and was then refused ("This grid trains 32,400 steps; the app runs at most 20,000 …")."""
    from nnspec_app.limits import STUDY_STEP_BUDGET
    from nnspec_core.study_presets import DEEP, PRESETS

    steps = study_ui.step_count(DEEP)
    assert steps == 32_400 > STUDY_STEP_BUDGET
    at = _app()
    labels = at.selectbox(key="ps_preset").options
    assert "deep (CLI only: 32,400 steps)" in labels and "tiny" in labels and "paper" in labels
    for name, cfg in PRESETS.items():  # exactly the presets over the budget are marked
        assert ("CLI only" in study_ui.preset_label(name)) == (study_ui.step_count(cfg) > STUDY_STEP_BUDGET)
    at.selectbox(key="ps_preset").select("deep").run()
    assert not at.exception and not at.error  # not a refusal
    assert any("Run it from the command line" in i.value and "32,400" in i.value for i in at.info)
    code = [c.value for c in at.code]
    assert f"python -m nnspec_core study --preset deep --out deep-{DEEP.digest()}" in code
    assert not any(str(root) in c for c in code)  # no server path
    assert all(c.proto.wrap_lines for c in at.code)
    assert not [b for b in at.button if b.key == "ps_run"]


def test_edited_grid_over_the_budget_offers_its_settings_and_a_relative_command(root):
    at = _tiny_edited(steps=2000, seeds=10)
    assert not at.exception and len(at.error) == 1
    cfg = S.StudyConfig.from_dict({"name": "tiny-custom", "steps": 2000, "seeds": list(range(10))}, base=TINY)
    cmd = f"python -m nnspec_core study --config tiny-custom.json --out tiny-custom-{cfg.digest()}"
    assert cmd in at.error[0].value and [c.value for c in at.code] == [cmd]
    button = next(b for b in at.get("download_button") if "tiny-custom.json" in b.proto.label)
    assert button is not None


def test_export_command_is_relative_to_the_studies_folder(root):
    import io
    import zipfile

    if not S.study_directories(root):
        S.run_study(TINY, root / f"tiny-{TINY.digest()}")
    name = S.study_directories(root)[0]
    at = _app(ps_source="Open a finished study")
    assert not at.exception
    code = [c for c in at.code if "nnspec_core study" in c.value]
    assert [c.value for c in code] == [f"python -m nnspec_core study --config {name}/config.json --out {name} --force"]
    assert str(root) not in code[0].value and code[0].proto.wrap_lines  # no server path, and wrapped, not cut off
    result = S.load_study(root / name)
    payload = study_ui.study_zip(result, {}, formats=("html",))
    command = zipfile.ZipFile(io.BytesIO(payload)).read("command.txt").decode()
    assert command.strip() == f"python -m nnspec_core study --config settings.json --out {name} --force"
