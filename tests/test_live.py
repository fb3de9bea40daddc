"""Tests of nnspec_core.live: chunked stepping, per-step views against brute force, realized
amplification against the trainer's replay, fit views, figures, bundle and CLI command."""

from __future__ import annotations

import io
import json
import math
import pickle
import shlex
import zipfile
from dataclasses import fields, replace

import numpy as np
import pytest
import torch

from nnspec_core import live
from nnspec_core.export import bundle_zip
from nnspec_core.training import StepRecord, TrainConfig, Trainer, realized_amplification, train

SMALL = dict(width=4, n_samples=32, steps=12)


def _reproducible(result) -> dict[str, np.ndarray]:
    cols = result.columns()
    cols.pop("seconds")
    return cols


def _assert_same_columns(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if a[k].dtype == object:
            assert a[k].tolist() == b[k].tolist(), k
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.fixture(scope="module")
def adam_full():
    return train(TrainConfig(optimizer="adam", coords="full", lr=0.05, **SMALL))


@pytest.fixture(scope="module")
def stable_run():
    """A run whose operator has rho < 1 at the last step (checked in the test that needs it)."""
    return train(TrainConfig(dataset="teacher_student", optimizer="adam", weight_decay=0.1, lr=0.05, width=4,
                             n_samples=32, steps=30))  # fmt: skip


# ------------------------------------------------------------------------------------------ advance
def test_advance_in_chunks_equals_one_run():
    cfg = TrainConfig(optimizer="heavy_ball", lr=0.1, **SMALL)
    tr = Trainer(cfg)
    counts = [live.advance(tr, max_records=5) for _ in range(4)]
    assert counts == [5, 5, 3, 0]  # 13 records (t = 0..12), then nothing: the run is finished
    assert tr.status == "finished"
    _assert_same_columns(_reproducible(tr.result()), _reproducible(train(cfg)))


def test_advance_pauses_and_resumes_with_time_budget():
    for workers in (1, 2):
        tr = Trainer(TrainConfig(optimizer="heavy_ball", **{**SMALL, "width": 10}), workers=workers)  # d = 82
        n = live.advance(tr, max_seconds=1e-9)  # the budget is spent after the first record (+ steps in flight)
        assert n == workers and tr.status == "paused" and tr.t == n == len(tr.records)
        assert live.advance(tr, max_records=2) == 2 and tr.t == n + 2


def test_advance_rejects_bad_input():
    with pytest.raises(TypeError, match="trainer must be a Trainer"):
        live.advance("trainer")
    tr = Trainer(TrainConfig(**SMALL))
    with pytest.raises(ValueError, match="max_records must be >= 1"):
        live.advance(tr, max_records=0)
    with pytest.raises(ValueError, match="max_seconds must be > 0"):
        live.advance(tr, max_seconds=0.0)


def test_divergence_keeps_steps_and_exports_them():
    cfg = TrainConfig(optimizer="gd", lr=10.0, steps=200, width=4, n_samples=32)
    tr = Trainer(cfg)
    live.advance(tr)
    res = tr.result()
    assert res.diverged and res.status == "diverged"
    assert len(res.records) == res.diverged_step + 1 and res.records[-1].diverged
    assert "diverged at step" in live.status_text(res)
    fig = live.loss_figure(res)
    assert any("diverged at step" in a.text for a in fig.layout.annotations)
    figs, data, settings, cmd = live.run_bundle_parts(res)
    rows = data["metrics.csv"].decode().strip().splitlines()
    assert len(rows) == len(res.records) + 1
    doc = json.loads(data["metrics.json"])
    assert doc["diverged"] and doc["diverged_step"] == res.diverged_step
    assert settings["diverged_step"] == res.diverged_step and "--lr 10.0" in cmd


def test_diverged_gd_summary_reports_finite_values_and_plain_words():
    """GD at lr 10 (the review's run): ρ ≈ 9.3e5, ‖Jᵏ‖ ≈ 1e298 at k = 50. The summary said "‖Jᵏ‖ peaks at ≈ ∞
    at k = 26 (upper bound κ(V)ρᵏ = 1.6e155)" and "The spectrum already reaches the unit circle (distance to
    instability 0)"; the status line "training loss 2.95e+13 exceeds divergence_loss = 1e+10 at step 4"."""
    tr = Trainer(TrainConfig(optimizer="gd", lr=10.0, steps=200))
    live.advance(tr)
    res = tr.result()
    assert res.diverged and "divergence_loss" not in res.diverged_reason
    assert live.divergence_reason(res).startswith("the training loss ") and " exceeded 1e10" in res.diverged_reason
    assert live.status_text(res) == f"⚠ diverged at step {res.diverged_step}: {live.divergence_reason(res)}"
    assert not live.status_text(res).endswith(f"at step {res.diverged_step}")  # the step is said once
    step = live.nearest_analysed_step(res, None)
    v = live.step_view(res, step)
    # ‖Jᵏ‖ up to ~1e298 at k = 50 is a double: computed, not reported as an overflow (the engine's squares
    # overflowed from ~1e154 until the Ritz values and row norms were scaled); the overflow sentence itself is
    # tested on synthetic norms in test_transient_sentence_cases
    assert v.rho > 1e5 and np.isfinite(v.norms).all() and v.norms[-1] > 1e290
    np.testing.assert_allclose(v.norms[1:] ** (1.0 / v.k[1:]), v.rho, rtol=0.05)  # grows like ρᵏ
    text = live.explain(res, v)
    assert "∞" not in text and "inf" not in text.lower().replace("infinite", "")
    last = int(v.k[-1])
    assert f"‖Jᵏ‖ keeps growing (ρ > 1: like ρᵏ): ≈ {live.fmt_num(v.norms[-1])} at k = {last}" in text
    assert "overflows" not in text
    outside = f"The spectrum lies outside the unit circle (ρ = {live.fmt_num(v.rho)} > 1): perturbations grow like ρᵏ"
    assert outside in text
    assert "reaches the unit circle" not in text and f"ρ(J) = {live.fmt_num(v.rho, 3)} > 1" in text


def test_transient_sentence_cases(adam_full):
    v = live.step_view(adam_full, 6, n_grid=10, k_max=6, horizon=3)
    k = v.k
    grow = replace(v, rho=1.5, norms=1.5 ** k.astype(float), upper=2 * 1.5 ** k.astype(float))
    assert "keeps growing (ρ > 1: like ρᵏ): ≈ 11.4 at k = 6, against the upper bound κ(V)ρᵏ = 22.8." in live.explain(
        adam_full, grow
    )
    overflow = replace(grow, norms=np.where(k >= 4, np.inf, grow.norms), upper=np.where(k >= 5, np.inf, grow.upper))
    text = live.explain(adam_full, overflow)
    assert "≈ 3.38 at k = 3, against the upper bound κ(V)ρᵏ = 6.75." in text and "From k = 4 on ‖Jᵏ‖ overflows" in text
    hump = replace(v, rho=1.2, norms=np.array([1.0, 50, 80, 60, 40, 30, 20.0]), upper=np.full(7, np.inf))
    text = live.explain(adam_full, hump)  # ρ > 1 but the powers shown peak early: the peak, and the long run
    assert "Transient growth: ‖Jᵏ‖ peaks at ≈ 80 at k = 2" in text and "grows like ρᵏ in the long run" in text
    assert "upper bound" not in text.split("Transient growth")[1].split(".")[0]  # no infinite bound printed
    stable = replace(v, rho=0.5, norms=0.5 ** k.astype(float), dist_instability=0.3)
    text = live.explain(adam_full, stable)
    assert "No transient growth" in text and "long run" not in text and "Distance to instability" in text
    edge = replace(v, rho=1.0, dist_instability=0.0)
    assert "The spectrum reaches the unit circle (ρ = 1, distance to instability 0)." in live.explain(adam_full, edge)


def test_unstable_phase_legend_describes_the_rule():
    from nnspec_core.phases import LabelRule

    assert live.rule_text(LabelRule()) == "loss rose ×1.5 within 10 steps"
    assert live.rule_text(LabelRule(name="x", rise_factor=2.0, horizon=20)) == "loss rose ×2 within 20 steps"
    cfg = TrainConfig(optimizer="gd", lr=10.0, steps=200, width=4, n_samples=32)
    fig = live.loss_figure(train(cfg))
    names = [t.name for t in fig.data]
    assert "unstable phase (loss rose ×1.5 within 10 steps)" in names and not any("s1.5_w10" in n for n in names)


# ------------------------------------------------------------------------------------------ realized
@pytest.mark.parametrize(
    "kw",
    [
        dict(optimizer="adam", coords="full", lr=0.05),  # scaled v-coordinates
        dict(optimizer="rmsprop", coords="full", lr=0.01),
        dict(optimizer="heavy_ball", lr=0.1),
        dict(optimizer="adamw", lr=0.05, weight_decay=0.01),
    ],
)
def test_realized_curve_matches_replay(kw):
    cfg = TrainConfig(**(SMALL | kw))
    res = train(cfg)
    mine = live.realized_curve(res, start=3, horizon=6)
    ref = realized_amplification(cfg, start=3, horizon=6)
    assert mine.complete and ref.complete
    np.testing.assert_allclose(mine.realized, ref.realized, rtol=1e-9)
    np.testing.assert_allclose(mine.predicted, ref.predicted, rtol=1e-9)
    # upper = kappa(V) rho^k; at k = 0 the replay stores 1 instead of kappa(V)
    np.testing.assert_allclose(mine.upper[1:], ref.upper[1:], rtol=1e-9)
    assert mine.upper[0] >= 1 and mine.upper[0] == pytest.approx(mine.upper[1] ** 2 / mine.upper[2], rel=1e-9)


def test_realized_curve_brute_force(adam_full):
    res = adam_full
    s, K = 2, 4
    amp = live.realized_curve(res, start=s, horizon=K)
    J = res.operator(s).J
    assert amp.realized[1] == pytest.approx(np.linalg.norm(J, 2), rel=1e-12)  # one step: ||J_s||
    for k in range(K + 1):
        assert amp.predicted[k] == pytest.approx(np.linalg.norm(np.linalg.matrix_power(J, k), 2), rel=1e-9)
    # the trainer's own window (realized_horizon steps ending at t) is the same number
    Kr = res.config.realized_horizon
    rec = next(r for r in res.records if r.amp_realized_start == s)
    full = live.realized_curve(res, start=s, horizon=Kr)
    assert full.realized[Kr] == pytest.approx(rec.amp_realized, rel=1e-9)


def test_realized_curve_incomplete_at_run_end(adam_full):
    amp = live.realized_curve(adam_full, start=10, horizon=5)  # steps 10, 11, 12 exist
    assert not amp.complete
    assert np.all(np.isfinite(amp.realized[:4])) and np.all(np.isnan(amp.realized[4:]))


# ------------------------------------------------------------------------------------------ step view
def test_step_view_against_brute_force(adam_full):
    res = adam_full
    v = live.step_view(res, 5, n_grid=16, k_max=8, horizon=4)
    J = res.operator(5).J
    assert v.d == J.shape[0] == 3 * res.n_params and v.path == "dense" and v.coords == "full"
    np.testing.assert_allclose(np.sort_complex(v.eigenvalues), np.sort_complex(np.linalg.eigvals(J)), atol=1e-8)
    assert v.rho == pytest.approx(np.abs(np.linalg.eigvals(J)).max(), rel=1e-9)
    # sigma_min(zI - J) at grid points, by dense SVD
    for i, j in [(0, 0), (7, 9), (15, 3)]:
        z = v.pseudo_re[j] + 1j * v.pseudo_im[i]
        ref = np.linalg.svd(z * np.eye(v.d) - J, compute_uv=False)[-1]
        assert v.sigma_min[i, j] == pytest.approx(ref, rel=1e-6, abs=1e-12)
    # window: square, contains the unit disc and every eigenvalue
    assert v.pseudo_re[0] < -1 and v.pseudo_re[-1] > 1 and v.pseudo_im[0] < -1 and v.pseudo_im[-1] > 1
    assert np.ptp(v.pseudo_re) == pytest.approx(np.ptp(v.pseudo_im))
    assert v.pseudo_re[0] <= v.eigenvalues.real.min() and v.eigenvalues.real.max() <= v.pseudo_re[-1]
    for k in range(9):
        assert v.norms[k] == pytest.approx(np.linalg.norm(np.linalg.matrix_power(J, k), 2), rel=1e-9)
    assert v.peak == pytest.approx(v.norms.max()) and v.norms[v.peak_k] == v.peak
    assert v.realized.shape == (5,) and v.realized_complete
    assert v.levels.size >= 1 and np.all(np.diff(v.levels) > 0)
    assert v.dist_instability == (0.0 if v.rho >= 1 else v.dist_instability)


def test_distance_to_instability_brute_force(stable_run):
    res = stable_run
    s = live.nearest_analysed_step(res, None)
    v = live.step_view(res, s, n_grid=12, k_max=5, horizon=0)
    assert v.rho < 1, "the fixture must end with a stable operator"
    J = res.operator(s).J
    theta = np.linspace(0.0, 2.0 * np.pi, 721)  # the full circle, finer than the view's half-circle
    ref = min(np.linalg.svd(np.exp(1j * t) * np.eye(v.d) - J, compute_uv=False)[-1] for t in theta)
    assert v.dist_instability == pytest.approx(ref, rel=1e-3) and v.dist_instability >= ref * (1 - 1e-9)
    assert 0 < v.dist_instability <= 1 - v.rho + 1e-12  # a normal-matrix bound it can never exceed
    assert v.realized.size == 0  # horizon 0 disables it
    text = live.explain(res, v)
    assert "ρ(J) = " in text and "< 1" in text and "Distance to instability" in text


def test_step_view_skips_large_pseudospectra(adam_full):
    v = live.step_view(adam_full, 3, max_pseudo_dim=10, k_max=5, horizon=2)
    assert not v.has_pseudo and v.sigma_min.shape == (0, 0) and "pseudospectra skipped" in v.note
    assert math.isnan(v.dist_instability) and v.norms.size == 6


def test_step_view_blocks_path():
    res = train(TrainConfig(optimizer="nesterov", lr=0.1, **SMALL))
    v = live.step_view(res, 4, n_grid=12, k_max=5, horizon=3)
    assert v.pseudo_method == "blocks"
    J = res.operator(4).J
    z = v.pseudo_re[5] + 1j * v.pseudo_im[6]
    assert v.sigma_min[6, 5] == pytest.approx(np.linalg.svd(z * np.eye(v.d) - J, compute_uv=False)[-1], rel=1e-8)


def test_step_view_matrix_free():
    res = train(TrainConfig(optimizer="gd", matrix_free=True, width=4, n_samples=32, steps=3, n_eigs=4))
    v = live.step_view(res, 2)
    assert v.path == "matrix-free" and not v.has_pseudo and v.k.size == 0 and "Matrix-free" in v.note
    np.testing.assert_array_equal(v.eigenvalues, res.snapshot(2).eigenvalues)
    assert "Matrix-free" in live.explain(res, v)
    fig = live.transient_figure(v)
    assert "not available" in fig.layout.title.text
    spec = live.spectrum_figure(v)
    assert "pseudospectra" not in spec.layout.title.text and not any(t.type == "contour" for t in spec.data)


def test_step_view_errors(adam_full):
    with pytest.raises(ValueError, match="step must be an analysed step"):
        live.step_view(adam_full, 99)
    with pytest.raises(TypeError, match="result must be a TrainingResult"):
        live.step_view("run", 1)
    with pytest.raises(ValueError, match="n_grid must be >= 8"):
        live.step_view(adam_full, 1, n_grid=2)


def test_views_pickle(adam_full):
    v = live.step_view(adam_full, 1, n_grid=10, k_max=4, horizon=2)
    f = live.fit_view(adam_full, 1, n_grid=10)
    for obj in (v, f):
        back = pickle.loads(pickle.dumps(obj))
        for fld in fields(obj):
            a, b = getattr(obj, fld.name), getattr(back, fld.name)
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b)
            else:
                assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


# ------------------------------------------------------------------------------------------ steps
def test_nearest_analysed_step_every_k():
    res = train(TrainConfig(optimizer="gd", analyze_every=3, width=4, n_samples=32, steps=10))
    np.testing.assert_array_equal(live.analysed_steps(res), [0, 3, 6, 9])
    assert live.nearest_analysed_step(res, None) == 9
    assert live.nearest_analysed_step(res, 4) == 3 and live.nearest_analysed_step(res, 5) == 6
    assert live.nearest_analysed_step(res, 4.5) == 3  # tie: the earlier one
    assert live.nearest_analysed_step(res, 100) == 9


def test_realized_curve_replays_when_steps_are_sparse():
    cfg = TrainConfig(optimizer="gd", analyze_every=3, width=4, n_samples=32, steps=10)
    res = train(cfg)
    amp = live.realized_curve(res, start=3, horizon=3)
    np.testing.assert_allclose(amp.realized, realized_amplification(cfg, start=3, horizon=3).realized, rtol=1e-12)


# ------------------------------------------------------------------------------------------ fit view
def _softmax(x: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.as_tensor(x), dim=1).numpy()


@pytest.mark.parametrize(
    ("kw", "kind", "level"),
    [
        (dict(dataset="moons"), "boundary", 0.0),
        (dict(dataset="circles", loss="cross_entropy"), "boundary", 0.5),
        (dict(dataset="blobs", n_classes=3), "boundary", math.nan),
        (dict(dataset="sine"), "curve", math.nan),
        (dict(dataset="teacher_student"), "parity", math.nan),
    ],
)
def test_fit_view_kinds(kw, kind, level):
    res = train(TrainConfig(optimizer="adam", width=4, n_samples=40, steps=3, **kw))
    f = live.fit_view(res, 2, n_grid=9)
    assert f.kind == kind and f.step == 2
    assert (math.isnan(level) and math.isnan(f.boundary_level)) or f.boundary_level == level
    theta_out = res.predict
    if kind == "boundary":
        assert f.grid_z.shape == (9, 9)
        i, j = 4, 7
        out = theta_out(np.array([[f.grid_x[j], f.grid_y[i]]]), step=2)
        if out.shape[1] == 1:
            expect = out[0, 0]
        elif level == 0.5:
            expect = _softmax(out)[0, 1]
        else:
            expect = float(np.argmax(out[0]))
        assert f.grid_z[i, j] == pytest.approx(expect, rel=1e-12, abs=1e-15)
        X = np.concatenate([f.X_train, f.X_test])
        assert f.grid_x[0] < X[:, 0].min() and f.grid_x[-1] > X[:, 0].max()
    elif kind == "curve":
        np.testing.assert_allclose(f.curve_y, theta_out(f.curve_x[:, None], step=2)[:, 0], rtol=1e-12)
    else:
        np.testing.assert_allclose(f.pred_train, theta_out(f.X_train, step=2)[:, 0], rtol=1e-12)
    fig = live.fit_figure(f)
    assert len(fig.data) >= 2
    if kind == "parity":
        assert fig.layout.xaxis.title.text == "target y" and "perfect fit" in [t.name for t in fig.data]


# ------------------------------------------------------------------------------------------ figures, text
def test_indicator_panels_and_thresholds():
    res_gd = train(TrainConfig(optimizer="gd", lr=0.1, **SMALL))
    fig = live.indicators_figure(res_gd, selected_step=3)
    names = [t.name for t in fig.data]
    assert {"κ(V)", "ρ(J)", "ρ₊", "λmax(H)", "ρ = 1", "threshold 2/η"} <= set(names)
    thr = next(t for t in fig.data if t.name == "threshold 2/η")
    np.testing.assert_allclose(np.asarray(thr.y, float), 2 / 0.1)
    kappa = next(t for t in fig.data if t.name == "κ(V)")
    np.testing.assert_array_equal(np.asarray(kappa.customdata), np.arange(13))
    res_adam = train(TrainConfig(optimizer="adam", lr=0.01, **SMALL))
    names = [t.name for t in live.indicators_figure(res_adam).data]
    assert {"P-sharpness", "λmax(H)", "‖[H, M]‖", "threshold 38/η"} <= set(names)
    thr = next(t for t in live.indicators_figure(res_adam).data if t.name == "threshold 38/η")
    np.testing.assert_allclose(np.asarray(thr.y, float), 38 / 0.01, rtol=1e-12)


def test_loss_figure_shades_unstable_phase():
    res = train(TrainConfig(optimizer="gd", lr=10.0, steps=60, width=4, n_samples=32))
    fig = live.loss_figure(res, selected_step=0)
    assert fig.data[0].name == "train loss"
    assert any(t.name.startswith("unstable phase") for t in fig.data) and len(fig.layout.shapes) >= 1


def test_spectrum_and_transient_figures(adam_full):
    v = live.step_view(adam_full, 4, n_grid=12, k_max=6, horizon=3)
    spec = live.spectrum_figure(v, uirevision="u1")
    assert spec.layout.uirevision == "u1" and "step 4" in spec.layout.title.text
    assert any(isinstance(t.name, str) and t.name.startswith("ε = ") for t in spec.data)
    tr = live.transient_figure(v)
    names = [t.name for t in tr.data]
    assert "realized amplification" in names and any("Kreiss" in n for n in names)


def test_explain_numbers(adam_full):
    v = live.step_view(adam_full, 6, n_grid=10, k_max=6, horizon=3)
    text = live.explain(adam_full, v)
    assert f"κ(V) = {live.fmt_num(v.kappa_V)}" in text and f"ρ(J) = {live.fmt_num(v.rho, 3)}" in text
    assert "Realized" in text and "Step 6" in text and f"≈ {live.fmt_num(v.peak)}" in text
    K = int(v.k[-1])
    assert ("keeps growing" in text) == (v.rho >= 1 and v.peak_k == K)
    # the wording follows kappa(V): < 10 nearly normal, < 1e3 mildly, else strongly non-normal
    tier = "nearly normal" if v.kappa_V < 10 else "mildly non-normal" if v.kappa_V < 1e3 else "strongly non-normal"
    assert tier in text
    for kv, word in [(3.0, "nearly normal"), (12.0, "mildly non-normal"), (3e4, "strongly non-normal")]:
        assert word in live.explain(adam_full, replace(v, kappa_V=kv))
    one = replace(v, realized=v.realized[:2], realized_k=v.realized_k[:2])
    assert "over 1 step amplifies" in live.explain(adam_full, one).replace("\n", " ")


@pytest.mark.parametrize(
    ("x", "s"),
    [(3.2e4, "3.2e4"), (0.8312, "0.831"), (950.4, "950"), (math.inf, "∞"), (math.nan, "—"), (None, "—"), (0, "0"),
     (1.5e-5, "1.5e-5")],
)  # fmt: skip
def test_fmt_num(x, s):
    assert live.fmt_num(x) == s


# ------------------------------------------------------------------------------------------ export, CLI
def test_bundle_html_only(adam_full):
    figs, data, settings, cmd = live.run_bundle_parts(adam_full, step=4)
    assert set(figs) == set(live.FIGURE_NAMES)
    assert settings["selected_step"] == 4 and settings["config"]["coords"] == "full"
    blob = bundle_zip(figs, data=data, settings=settings, cli_command=cmd, formats=("html",))
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        names = set(zf.namelist())
        assert {f"figures/{n}.html" for n in live.FIGURE_NAMES} <= names
        assert {"data/metrics.csv", "data/metrics.json", "data/snapshots.npz", "data/step_view.npz"} <= names
        with np.load(io.BytesIO(zf.read("data/snapshots.npz"))) as npz:
            np.testing.assert_array_equal(npz["snap_4_theta"], adam_full.snapshot(4).theta)
        with np.load(io.BytesIO(zf.read("data/step_view.npz"))) as npz:
            assert int(npz["step"]) if "step" in npz else True
            np.testing.assert_array_equal(npz["eigenvalues"], adam_full.snapshot(4).eigenvalues)
        assert zf.read("command.txt").decode().strip() == cmd


def test_cli_command():
    assert live.cli_command(TrainConfig()) == "python -m nnspec_core train --out live_training"
    cfg = replace(TrainConfig(), optimizer="heavy_ball", lr=0.5, matrix_free=True, dataset="sine")
    argv = shlex.split(live.cli_command(cfg, select_step=7))
    assert argv[:4] == ["python", "-m", "nnspec_core", "train"]
    assert argv[argv.index("--optimizer") + 1] == "heavy_ball" and argv[argv.index("--lr") + 1] == "0.5"
    assert "--matrix-free" in argv and argv[argv.index("--select") + 1] == "7"
    with pytest.raises(TypeError, match="config must be a TrainConfig"):
        live.cli_command({"lr": 1})


def test_status_text():
    tr = Trainer(TrainConfig(**SMALL))
    assert live.status_text(tr.result()) == "ready: press Start"
    live.advance(tr, max_records=2)
    assert live.status_text(tr.result()) == "paused: step 1 of 12"
    assert live.status_text(tr.result(), live=True) == "running: step 1 of 12"
    assert isinstance(tr.result().records[0], StepRecord)


def _parse(cmd: str):
    import argparse

    parser = argparse.ArgumentParser()
    live.add_cli_arguments(parser)
    argv = shlex.split(cmd)
    assert argv[:4] == ["python", "-m", "nnspec_core", "train"]
    return parser.parse_args(argv[4:])


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(),
        TrainConfig(optimizer="adamw", lr=1e-3, beta2=0.99, eps=1e-6, weight_decay=1e-4, coords="full", seed=7),
        TrainConfig(dataset="sine", optimizer="nesterov", momentum=0.5, matrix_free=True, batch_size=16, depth=2),
    ],
)
def test_cli_command_round_trips(cfg):
    args = _parse(live.cli_command(cfg, select_step=3))
    assert live.config_from_args(args) == cfg and args.select == 3


def test_run_cli_writes_the_bundle(tmp_path, capsys):
    cfg = TrainConfig(optimizer="heavy_ball", lr=0.1, width=3, n_samples=32, steps=4)
    args = _parse(live.cli_command(cfg, select_step=2, out=str(tmp_path / "out")) + " --formats html")
    assert live.run_cli(args) == 0
    out = tmp_path / "out"
    assert {p.name for p in (out / "figures").iterdir()} == {f"{n}.html" for n in live.FIGURE_NAMES}
    assert json.loads((out / "settings.json").read_text())["selected_step"] == 2
    ref = train(cfg).columns()["loss_train"]
    rows = (out / "data" / "metrics.csv").read_text().splitlines()
    col = rows[0].split(",").index("loss_train")
    np.testing.assert_array_equal([float(r.split(",")[col]) for r in rows[1:]], ref)
    assert "finished: 4 steps" in capsys.readouterr().out
    with pytest.raises(ValueError, match="lr must be > 0"):
        live.run_cli(_parse("python -m nnspec_core train --lr 0"))
