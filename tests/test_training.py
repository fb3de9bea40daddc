"""Tests for nnspec_core.training: the real torch.optim loop, per-step analysis, divergence, streaming."""

import io
import json
import math
import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch

from nnspec_core.functional import autodiff_jacobian
from nnspec_core.hessian import flat_loss_fn
from nnspec_core.models import encode_targets, loss_function, make_mlp
from nnspec_core.operators import update_operator, v_scale
from nnspec_core.training import (
    TRAIN_OPTIMIZERS,
    StepRecord,
    TrainConfig,
    Trainer,
    TrainingResult,
    realized_amplification,
    state_blocks,
    train,
)

SMALL = dict(width=4, n_samples=48, steps=6, transient_k=12, realized_horizon=3)
LRS = {"gd": 0.1, "heavy_ball": 0.05, "nesterov": 0.05, "rmsprop": 0.01, "adam": 0.02, "adamw": 0.02}


def _cfg(optimizer="adam", **kw):
    base = dict(SMALL, optimizer=optimizer, lr=LRS[optimizer])
    base.update(kw)
    return TrainConfig(**base)


def _metrics(res: TrainingResult) -> dict:
    cols = res.columns()
    cols.pop("seconds")
    return cols


# --------------------------------------------------------------------------- the real torch.optim loop
def _hand_run(cfg: TrainConfig) -> tuple[np.ndarray, list[float]]:
    """An independent torch.optim loop with the same data, model and hyperparameters."""
    ds = cfg.dataset_obj()
    model = make_mlp(ds.n_features, 1, width=cfg.width, depth=cfg.depth, activation=cfg.activation, seed=cfg.seed)
    X = torch.as_tensor(ds.X_train)
    T = torch.as_tensor(2.0 * ds.y_train - 1.0).reshape(-1, 1)  # binary MSE on +-1 labels
    wd = cfg.weight_decay
    opt = {
        "gd": lambda p: torch.optim.SGD(p, lr=cfg.lr, weight_decay=wd),
        "heavy_ball": lambda p: torch.optim.SGD(p, lr=cfg.lr, momentum=cfg.momentum, weight_decay=wd),
        "nesterov": lambda p: torch.optim.SGD(p, lr=cfg.lr, momentum=cfg.momentum, nesterov=True, weight_decay=wd),
        "rmsprop": lambda p: torch.optim.RMSprop(p, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, weight_decay=wd),
        "adam": lambda p: torch.optim.Adam(p, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=wd),
        "adamw": lambda p: torch.optim.AdamW(p, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=wd),
    }[cfg.optimizer](model.parameters())
    losses = []
    for _ in range(cfg.steps):
        opt.zero_grad()
        loss = torch.mean((model(X) - T) ** 2)
        losses.append(float(loss.detach()))
        loss.backward()
        opt.step()
    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy()
    return theta, losses


@pytest.mark.parametrize("optimizer", TRAIN_OPTIMIZERS)
def test_trainer_steps_equal_hand_run_torch_optim(optimizer):
    cfg = _cfg(optimizer, steps=12, weight_decay=1e-3, analyze_every=4)
    res = train(cfg)
    theta_ref, losses_ref = _hand_run(cfg)
    assert res.status == "finished" and len(res.records) == cfg.steps + 1
    np.testing.assert_allclose(res.theta_final, theta_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.columns()["loss_train"][:-1], losses_ref, rtol=1e-13, atol=0)
    assert [r.analysed for r in res.records] == [t % 4 == 0 for t in range(13)]


def test_minibatch_steps_use_batches_and_metrics_use_full_set():
    cfg = _cfg("heavy_ball", batch_size=12, steps=8, analyze_every=8)
    a, b = train(cfg), train(cfg)
    np.testing.assert_array_equal(a.theta_final, b.theta_final)
    full = train(replace(cfg, batch_size=None))
    assert np.max(np.abs(a.theta_final - full.theta_final)) > 1e-6
    # batch_size equal to the training set is the full-batch run
    same = train(replace(cfg, batch_size=cfg.dataset_obj().n_train))
    np.testing.assert_array_equal(same.theta_final, full.theta_final)
    # the recorded loss and Hessian are on the full training set: recompute at the snapshot's theta
    snap = a.snapshot(8)
    ds = cfg.dataset_obj()
    f = flat_loss_fn(
        make_mlp(2, 1, width=4),
        loss_function("mse"),
        torch.as_tensor(ds.X_train),
        encode_targets(ds.y_train, task="classification", n_classes=2, loss="mse"),
    )
    th = torch.as_tensor(snap.theta)
    assert a.records[8].loss_train == pytest.approx(float(f(th)), rel=1e-14)
    np.testing.assert_allclose(snap.H, torch.func.hessian(f)(th).numpy(), rtol=1e-10, atol=1e-12)


def test_each_epoch_visits_every_point_once():
    tr = Trainer(_cfg("gd", batch_size=5))
    n = tr.dataset.n_train
    idx = torch.cat([tr._next_batch(5) for _ in range(n // 5 + 1)]).tolist()
    assert sorted(idx[:n]) == list(range(n))


# --------------------------------------------------------------------------- analysis against ground truth
@pytest.mark.parametrize(
    "optimizer,coords",
    [("gd", None), ("heavy_ball", "buffer"), ("nesterov", "history"), ("rmsprop", "full"), ("adam", "full"),
     ("adamw", "frozen")],
)  # fmt: skip
def test_analysed_metrics_match_autodiff_jacobian(optimizer, coords):
    cfg = _cfg(optimizer, coords=coords, steps=4, analyze_every=2, weight_decay=1e-3)
    res = train(cfg)
    tr = Trainer(cfg)
    for rec in res.records:
        if not rec.analysed:
            continue
        snap = res.snapshot(rec.step)
        J_ad = autodiff_jacobian(
            optimizer, tr._f, snap.theta, snap.state, lr=cfg.lr, momentum=0.0 if optimizer == "gd" else cfg.momentum,
            betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, alpha=cfg.alpha, weight_decay=cfg.weight_decay,
            step=rec.step + 1, coords=cfg.resolved_coords, scaling=cfg.scaling,
        )  # fmt: skip
        op = res.operator(rec.step)
        np.testing.assert_allclose(op.J, J_ad, rtol=1e-8, atol=1e-10 * np.abs(J_ad).max())
        mu = np.linalg.eigvals(J_ad)
        assert rec.rho == pytest.approx(np.abs(mu).max(), rel=1e-8)
        np.testing.assert_allclose(np.sort(np.abs(snap.eigenvalues)), np.sort(np.abs(mu)), rtol=1e-7, atol=1e-9)
        point = snap.theta
        if coords == "history":  # Nesterov's Hessian is taken at the look-ahead point
            point = snap.theta + cfg.momentum * (snap.theta - snap.state["theta_prev"])
        lam = np.linalg.eigvalsh(torch.func.hessian(tr._f)(torch.as_tensor(point)).numpy())
        assert rec.lambda_max_H == pytest.approx(lam[-1], rel=1e-9)
        assert rec.lambda_min_H == pytest.approx(lam[0], rel=1e-9, abs=1e-12)
        assert rec.n_unstable == rec.n_eos_flip + rec.n_escape + rec.n_spiral
        assert rec.n_unstable == int(np.sum(np.abs(mu) >= 1 - 1e-9))
        assert rec.rho_plus <= rec.rho + 1e-15


def test_metrics_are_finite_where_they_should_be():
    res = train(_cfg("adam", coords="full", steps=8))
    cols = res.columns()
    for name in ("loss_train", "loss_test", "grad_norm", "acc_train", "acc_test", "rho", "rho_plus", "kappa_V",
                 "lambda_max_H", "lambda_min_H", "sharpness", "threshold", "sharpness_ratio", "commutator",
                 "departure", "transient_peak", "amp_predicted"):  # fmt: skip
        assert np.all(np.isfinite(cols[name])), name
    assert np.all(cols["kappa_V"] >= 1.0) and np.all(cols["transient_peak"] >= 1.0)
    assert np.all((cols["acc_train"] >= 0) & (cols["acc_train"] <= 1))
    np.testing.assert_allclose(cols["threshold"], 38 / 0.02, rtol=1e-12)  # (2 + 2 beta1) / ((1 - beta1) lr)
    K = 3
    assert np.all(np.isnan(cols["amp_realized"][: K - 1])) and np.all(np.isfinite(cols["amp_realized"][K - 1 :]))
    assert set(cols["path"]) == {"dense"}
    # regression data: no accuracy, losses finite
    reg = train(_cfg("gd", dataset="sine", steps=3))
    assert np.all(np.isnan(reg.columns()["acc_train"])) and np.all(np.isfinite(reg.columns()["rho"]))


@pytest.mark.parametrize("optimizer,samples", [("heavy_ball", 4), ("adam", 0), ("adam", 5)])
def test_transient_fields_follow_the_powers_of_J(optimizer, samples):
    res = train(_cfg(optimizer, coords="full" if optimizer == "adam" else None, steps=2, transient_k=15,
                     transient_samples=samples))  # fmt: skip
    for rec in res.records:
        J = res.operator(rec.step).J
        norms = np.array([np.linalg.norm(np.linalg.matrix_power(J, k), 2) for k in range(16)])
        assert rec.amp_predicted == pytest.approx(norms[3], rel=1e-8)
        assert rec.transient_peak == pytest.approx(norms[rec.transient_peak_k], rel=1e-8)
        if optimizer == "heavy_ball" or samples == 0:  # every k: the exact peak
            assert rec.transient_peak == pytest.approx(norms.max(), rel=1e-8)
        else:  # log-spaced k in 1..15 (plus 0, 1, K = 3): the best of those
            ks = sorted({0, 1, 3} | set(np.round(np.geomspace(1, 15, samples)).astype(int).tolist()))
            assert rec.transient_peak == pytest.approx(norms[ks].max(), rel=1e-8)
            assert rec.transient_peak_k in ks


# --------------------------------------------------------------------------- realized vs predicted
@pytest.mark.parametrize("optimizer,coords", [("heavy_ball", "buffer"), ("adam", "full"), ("rmsprop", "frozen")])
def test_realized_window_is_product_of_per_step_operators(optimizer, coords):
    cfg = _cfg(optimizer, coords=coords, steps=7, realized_horizon=3)
    res = train(cfg)
    for rec in res.records[2:]:
        s = rec.amp_realized_start
        assert s == rec.step - 2
        ops = [res.operator(s)]
        raws = [
            update_operator(optimizer, res.snapshot(t).H, lr=cfg.lr, momentum=cfg.momentum, betas=(0.9, 0.999),
                            state=res.snapshot(t).state, step=t + 1, coords=coords, scaling="raw").J
            for t in range(s, rec.step + 1)
        ]  # fmt: skip
        P = raws[2] @ raws[1] @ raws[0]
        # measured in the start step's coordinates: S_s^-1 P S_s, S_s = diag(1, 1, v_scale(v_{s+1}))
        if coords == "full":
            st = res.snapshot(s).state
            v1 = 0.999 * st["exp_avg_sq"] + 0.001 * st["grad"] ** 2
            s_vec = np.concatenate([np.ones(2 * len(v1)), v_scale(v1, cfg.eps)])
            np.testing.assert_allclose(ops[0].J, raws[0] * s_vec[None, :] / s_vec[:, None], rtol=1e-12, atol=1e-14)
            P = P * s_vec[None, :] / s_vec[:, None]
        assert rec.amp_realized == pytest.approx(np.linalg.norm(P, 2), rel=1e-9)
    by_start = res.columns()["amp_realized_by_start"]  # aligned with the window's first step
    np.testing.assert_array_equal(by_start[:6], [r.amp_realized for r in res.records[2:]])
    assert np.all(np.isnan(by_start[6:]))
    # the replay gives whole curves that agree with the in-loop numbers
    amp = realized_amplification(cfg, start=2, horizon=3)
    assert amp.complete and amp.k.tolist() == [0, 1, 2, 3]
    assert amp.realized[3] == pytest.approx(res.records[4].amp_realized, rel=1e-9)
    assert amp.predicted[3] == pytest.approx(res.records[2].amp_predicted, rel=1e-9)
    assert amp.realized[1] == pytest.approx(amp.predicted[1], rel=1e-12)  # one step: the same operator
    assert np.all(amp.upper[1:] >= amp.predicted[1:] * (1 - 1e-9))  # ||J^k|| <= kappa(V) rho^k


def test_realized_amplification_past_the_end_is_incomplete():
    cfg = _cfg("gd", steps=4)
    amp = realized_amplification(cfg, start=3, horizon=3)
    assert not amp.complete and np.isfinite(amp.realized[2]) and np.isnan(amp.realized[3])
    with pytest.raises(ValueError, match="start must be <= 4"):
        realized_amplification(cfg, start=5)
    with pytest.raises(ValueError, match="config must select the dense path"):
        realized_amplification(replace(cfg, matrix_free=True), start=0)
    with pytest.raises(TypeError, match="config must be a TrainConfig or TrainingResult"):
        realized_amplification({"steps": 3}, start=0)
    res = train(cfg)
    np.testing.assert_array_equal(realized_amplification(res, start=3, horizon=3).realized, amp.realized)


def test_realized_is_nan_when_not_every_step_is_analysed():
    res = train(_cfg("heavy_ball", steps=6, analyze_every=2))
    assert np.all(np.isnan(res.columns()["amp_realized"]))


# --------------------------------------------------------------------------- matrix-free path
@pytest.mark.parametrize(
    "optimizer,coords",
    [("gd", None), ("heavy_ball", "buffer"), ("nesterov", "history"), ("rmsprop", "full"), ("adam", "full"),
     ("adam", "frozen"), ("adamw", "simple")],
)  # fmt: skip
def test_matrix_free_top_eigenvalues_match_dense(optimizer, coords):
    cfg = _cfg(optimizer, coords=coords, steps=3, analyze_every=3, n_eigs=4, weight_decay=1e-3)
    dense, mf = train(cfg), train(replace(cfg, matrix_free=True))
    np.testing.assert_array_equal(dense.theta_final, mf.theta_final)
    for rd, rm in zip(dense.records, mf.records, strict=True):
        if not rd.analysed:
            continue
        assert rd.path == "dense" and rm.path == "matrix-free"
        mu_d = dense.snapshot(rd.step).eigenvalues
        mu_m = mf.snapshot(rm.step).eigenvalues
        np.testing.assert_allclose(np.abs(mu_m), np.abs(mu_d[:4]), rtol=1e-6)
        assert rm.rho == pytest.approx(rd.rho, rel=1e-6)
        for f in ("lambda_max_H", "lambda_min_H", "sharpness", "threshold"):
            assert getattr(rm, f) == pytest.approx(getattr(rd, f), rel=1e-6, abs=1e-10), f
        assert math.isnan(rm.kappa_V) and mf.snapshot(rm.step).H is None


def test_state_dimension_and_path_choice():
    from nnspec_core.operators import COORDS

    for opt in TRAIN_OPTIMIZERS:
        for coords in COORDS[opt]:
            tr = Trainer(_cfg(opt, coords=coords, steps=1))
            op, _ = tr.current_operator()
            assert op.d == tr.state_dim == state_blocks(opt, coords) * tr.n_params
    # n = 1801 <= dense_limit, but Adam's full state 3n exceeds the dense size limit: matrix-free
    big = dict(width=40, depth=2, n_samples=16)
    assert Trainer(TrainConfig(optimizer="adam", coords="full", **big)).path == "matrix-free"
    assert Trainer(TrainConfig(optimizer="heavy_ball", **big)).path == "dense"


def test_dense_limit_switches_to_matrix_free():
    tr = Trainer(_cfg("gd", dense_limit=10))
    assert tr.n_params == 17 and tr.path == "matrix-free"
    rec = tr.step_once()
    assert rec.path == "matrix-free" and np.isfinite(rec.rho)
    with pytest.raises(ValueError, match="matrix-free"):
        tr.result().operator(0)


# --------------------------------------------------------------------------- divergence
def test_divergence_at_absurd_lr_stops_cleanly():
    cfg = _cfg("gd", lr=1e3, steps=200)
    tr = Trainer(cfg)
    recs = list(tr.run())  # no exception escapes
    res = tr.result()
    assert res.diverged and res.status == "diverged" and tr.done
    assert res.diverged_step == recs[-1].step < cfg.steps and recs[-1].diverged
    assert "at step" in res.diverged_reason and str(res.diverged_step) in res.diverged_reason
    assert len(res.records) == res.diverged_step + 1
    assert [r.step for r in res.records] == list(range(res.diverged_step + 1))
    ok = [r for r in res.records[:-1] if r.analysed]
    assert ok and all(np.isfinite(r.rho) for r in ok)
    assert len(res.snapshots) == len(ok)
    json.loads(res.to_json())  # everything measured stays exportable
    assert len(res.to_csv().splitlines()) == len(res.records) + 1
    with pytest.raises(RuntimeError, match="the run is over"):
        tr.step_once()
    assert list(tr.run()) == []


def test_divergence_threshold_and_nonfinite_loss():
    res = train(_cfg("adam", divergence_loss=0.5, steps=3))
    # plain words, no internal name ("exceeds divergence_loss = 0.5" before)
    assert res.diverged_step == 0 and res.diverged_reason.startswith("the training loss ")
    assert res.diverged_reason.endswith(" exceeded 0.5 at step 0") and "divergence_loss" not in res.diverged_reason
    big = train(_cfg("heavy_ball", lr=50.0, steps=400, divergence_loss=1.7e308, analyze_every=50))
    assert big.diverged and ("not finite" in big.diverged_reason or "loss is" in big.diverged_reason)


@pytest.mark.parametrize("workers", [1, 2])
def test_analysis_failure_is_recorded_as_divergence(monkeypatch, workers):
    import nnspec_core.training as training

    real = training.snapshot_operator
    ref = train(_cfg("heavy_ball", steps=5, width=10))  # without the failure

    def flaky(config, H, state, *, step, **kw):
        if step == 3:  # the analysis of step t = 2 (torch step t + 1), whichever thread runs it
            raise np.linalg.LinAlgError("eig did not converge")
        return real(config, H, state, step=step, **kw)

    monkeypatch.setattr(training, "snapshot_operator", flaky)
    tr = Trainer(_cfg("heavy_ball", steps=5, width=10), workers=workers)  # d = 82: pipelined
    recs = list(tr.run())
    res = tr.result()
    assert res.diverged and res.diverged_step == 2 and recs[-1].step == 2
    assert res.diverged_reason.startswith("analysis failed at step 2: LinAlgError")
    assert len(res.records) == 3 and res.records[1].analysed
    # the run ends at the failed step's parameters, even if a worker had already stepped past it
    assert tr.t == 2
    theta_now = torch.nn.utils.parameters_to_vector(tr.model.parameters()).detach().numpy()
    np.testing.assert_array_equal(theta_now, ref.snapshot(2).theta)
    np.testing.assert_array_equal(res.theta_final, ref.snapshot(2).theta)


# --------------------------------------------------------------------------- streaming and control
@pytest.mark.parametrize("workers", [1, 2])
def test_pause_resume_stop_and_streaming_equals_one_shot(workers):
    cfg = _cfg("heavy_ball", steps=11, width=10)  # state dimension 82: analyses go to the workers
    one_shot = train(cfg)
    extra = workers - 1  # steps already taken when the pause arrives; their records still come
    tr = Trainer(cfg, workers=workers)
    got = []
    for rec in tr.run():
        got.append(rec)
        if rec.step == 2:
            tr.pause()
    assert [r.step for r in got] == list(range(3 + extra)) and tr.status == "paused"
    assert list(tr.run()) == [] and tr.t == 3 + extra  # paused: nothing until resume
    got.append(tr.step_once())  # a single step while paused
    assert tr.status == "paused"
    tr.resume()
    got += list(tr.run(max_records=2))  # exactly two, also with steps in flight
    assert tr.status == "ready" and tr.t == 6 + extra
    got.append(tr.step_once())
    gen = tr.run()
    got.append(next(gen))
    gen.close()  # abandoned with a step in flight: its record is kept, not lost
    assert len(tr.records) == tr.t == 8 + 2 * extra
    got += tr.records[len(got) :]
    got += list(tr.run())
    assert [r.step for r in got] == list(range(12)) and tr.status == "finished"
    a, b = _metrics(one_shot), _metrics(tr.result())
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    stopped = Trainer(cfg, workers=workers)
    for rec in stopped.run():
        if rec.step == 3:
            stopped.stop()
    res = stopped.result()
    assert res.status == "stopped" and len(res.records) == 4 + extra and not res.diverged
    assert [r.step for r in res.records] == list(range(4 + extra))


def test_same_seed_identical_metrics_other_seed_differs():
    cfg = _cfg("adam", coords="full", steps=5)
    a, b = train(cfg), train(cfg)
    ma, mb = _metrics(a), _metrics(b)
    for k in ma:
        np.testing.assert_array_equal(ma[k], mb[k], err_msg=k)
    c = train(replace(cfg, seed=1))
    assert not np.array_equal(_metrics(c)["loss_train"], ma["loss_train"])


# --------------------------------------------------------------------------- results and exports
def test_result_exports_and_pickle(tmp_path):
    res = train(_cfg("adam", steps=4, analyze_every=2))
    cols = res.columns()
    assert all(v.shape == (5,) for v in cols.values())
    assert cols["step"].dtype == np.int64 and cols["analysed"].dtype == bool
    text = res.to_csv(tmp_path / "run.csv")
    assert (tmp_path / "run.csv").read_text() == text
    header = text.splitlines()[0].split(",")
    assert header[:3] == ["step", "loss_train", "loss_test"] and "amp_realized_by_start" in header
    doc = json.loads(res.to_json(tmp_path / "run.json"))
    assert doc["config"]["optimizer"] == "adam" and doc["records"]["rho"][1] is None  # NaN -> null
    assert doc["records"]["rho"][0] == pytest.approx(res.records[0].rho, rel=1e-15)
    buf = io.BytesIO()
    res.to_npz(buf)
    buf.seek(0)
    z = np.load(buf)
    np.testing.assert_array_equal(z["snap_2_theta"], res.snapshot(2).theta)
    np.testing.assert_array_equal(z["snap_2_H"], res.snapshot(2).H)
    np.testing.assert_array_equal(z["metric_loss_train"], cols["loss_train"])
    assert "snap_2_state_exp_avg_sq" in z.files and "snap_1_theta" not in z.files
    back = pickle.loads(pickle.dumps(res))
    np.testing.assert_array_equal(back.snapshot(4).eigenvalues, res.snapshot(4).eigenvalues)
    frame = res.to_frame_dict()
    assert frame["step"] == [0, 1, 2, 3, 4]
    out = res.predict(np.zeros((3, 2)))
    assert out.shape == (3, 1) and np.all(np.isfinite(out))
    with pytest.raises(ValueError, match="analysed step"):
        res.snapshot(3)


def test_step_record_defaults_and_analysis_timing():
    rec = StepRecord(step=0, loss_train=1.0, loss_test=1.0, grad_norm=0.0)
    assert not rec.analysed and math.isnan(rec.rho) and rec.n_unstable == -1
    res = train(_cfg("gd", steps=1))
    assert all(r.seconds > 0 for r in res.records)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(optimizer="lbfgs"), ValueError, "optimizer must be one of"),
        (dict(lr=0.0), ValueError, "lr must be > 0"),
        (dict(lr="big"), TypeError, "lr must be a real number"),
        (dict(momentum=1.0), ValueError, "momentum must be < 1"),
        (dict(coords="full", optimizer="heavy_ball"), ValueError, "coords must be one of 'buffer', 'history'"),
        (dict(analyze_every=0), ValueError, "analyze_every must be >= 1"),
        (dict(realized_horizon=60, transient_k=50), ValueError, "realized_horizon must be <= 50"),
        (dict(loss="cross_entropy", dataset="sine"), ValueError, "loss must be 'mse' for the regression"),
        (dict(width=100), ValueError, "width must be <= 64"),
        (dict(matrix_free=1), TypeError, "matrix_free must be a bool"),
        (dict(keep_snapshots="yes"), TypeError, "keep_snapshots must be a bool"),
        (dict(scaling="log"), ValueError, "scaling must be one of 'raw', 'scaled'"),
        (dict(dataset="cifar"), ValueError, "dataset must be one of"),
    ],
)
def test_config_validation(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        TrainConfig(**kwargs)


def test_trainer_argument_checks():
    with pytest.raises(TypeError, match="config must be a TrainConfig"):
        Trainer({"lr": 0.1})
    with pytest.raises(ValueError, match="batch_size must be <= the 36 training points"):
        Trainer(_cfg("gd", batch_size=100))


def test_default_config_steps():
    tr = Trainer()
    assert tr.n_params == 65 and tr.state_dim == 130 and tr.path == "dense"
    assert tr.config.optimizer == "adam" and tr.coords == "frozen"
    recs = list(tr.run(max_records=2))
    assert [r.step for r in recs] == [0, 1] and all(r.analysed and np.isfinite(r.kappa_V) for r in recs)
    assert tr.status == "ready" and not tr.done


def test_cross_entropy_multiclass_runs():
    cfg = _cfg("adam", dataset="blobs", n_classes=3, loss="cross_entropy", steps=3)
    res = train(cfg)
    assert res.n_params == (2 + 1) * 4 + (4 + 1) * 3 and res.status == "finished"
    assert np.all(np.isfinite(res.columns()["rho"]))


# --------------------------------------------------------------------------- analyses in worker threads
@pytest.mark.parametrize(
    "over",
    [
        dict(optimizer="adam", coords="full", analyze_every=1, realized_horizon=3, transient_k=12),
        dict(optimizer="nesterov", coords="history", analyze_every=2, realized_horizon=2, transient_k=6),
        dict(optimizer="rmsprop", coords="full", batch_size=16, analyze_every=1, realized_horizon=4, transient_k=8),
    ],
)
def test_workers_give_identical_records_and_snapshots(over):
    from nnspec_core.training import _PIPELINE_MIN_DIM

    cfg = _cfg(steps=9, keep_snapshots=True, width=10, **over)
    assert Trainer(cfg).state_dim >= _PIPELINE_MIN_DIM  # the analyses really go to worker threads
    results = []
    for workers in (1, 2, 3):
        tr = Trainer(cfg, workers=workers)
        recs = list(tr.run())
        assert [r.step for r in recs] == list(range(10)) and tr.status == "finished"
        results.append(tr.result())
    base = _metrics(results[0])
    if cfg.analyze_every == 1:  # the realized window (chained across consecutive steps) is exercised
        assert np.isfinite(base["amp_realized"][-1])
    for res in results[1:]:
        other = _metrics(res)
        for k in base:
            np.testing.assert_array_equal(base[k], other[k], err_msg=k)
        assert [s.step for s in res.snapshots] == [s.step for s in results[0].snapshots]
        for a, b in zip(results[0].snapshots, res.snapshots, strict=True):
            np.testing.assert_array_equal(a.H, b.H)
            np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)


def test_workers_divergence_keeps_every_step_in_order():
    cfg = _cfg("heavy_ball", lr=40.0, steps=300, divergence_loss=1e6, width=10)
    one = train(cfg)
    tr = Trainer(cfg, workers=2)
    recs = list(tr.run())
    assert tr.status == "diverged" and one.diverged
    assert [r.step for r in recs] == list(range(one.diverged_step + 1))
    a, b = _metrics(one), _metrics(tr.result())
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_realized_norm_of_two_factors_without_forming_the_product():
    from nnspec_core.training import _norm2_scaled_product, _WindowProduct

    rng = np.random.default_rng(3)
    d = 300  # above the dense-norm size: Lanczos on the factors
    mats = [np.eye(d) + 0.2 * rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(7)]
    s = rng.uniform(0.1, 10.0, d)
    w = _WindowProduct(4)
    for i, A in enumerate(mats):
        w.push(A)
        if i < 3:
            assert w.factors() is None
            continue
        ref = np.linalg.multi_dot(mats[i - 3 : i + 1][::-1])  # newest on the left
        P = ref * s[None, :] / s[:, None]
        f = w.factors()
        assert len(f) in (1, 2)
        assert _norm2_scaled_product(f, s) == pytest.approx(np.linalg.norm(P, 2), rel=1e-11)
        assert _norm2_scaled_product(f, None) == pytest.approx(np.linalg.norm(ref, 2), rel=1e-11)
