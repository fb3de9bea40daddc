"""Phase-study statistics against scipy.stats, brute force and synthetic studies with known answers."""

import csv
import math
import pickle

import numpy as np
import pytest
from scipy import optimize, stats

from nnspec_core.phase_stats import (
    CSV_COLUMNS,
    StatsConfig,
    StudyStatistics,
    _boot_auroc,
    _boot_ratio,
    _counts,
    _draws,
    _within_auroc,
    auroc,
    cluster_bootstrap_ci,
    fit_logistic,
    incremental_value,
    label_run_table,
    lead_times,
    leave_one_run_out,
    predict_logistic,
    roc_curve,
    separation_ratio,
    study_statistics,
    youden_threshold,
)
from nnspec_core.phases import STANDARD_RULES

LEAD = 4  # steps by which the synthetic kappa_V alarm precedes each spike


def synthetic_table(*, n_seeds=4, lrs=(0.01, 0.05, 0.2), n_steps=100, optimizers=("gd", "adam"), seed=0):
    """Run table with known structure.

    Loss: smooth decay; runs with lr >= 0.05 get two spikes (x3 jump at t0, back after 5 steps).
    kappa_V: uniform(0.5, 1.5), set to exactly 20 from t0 - LEAD to t0 + 4 (a perfect alarm, LEAD steps early).
    rho, rho_plus: noise unrelated to phase. sharpness_ratio: proportional to lr (informative only through eta).
    """
    rng = np.random.default_rng(seed)
    cols = {k: [] for k in ("run_id", "seed", "lr", "optimizer", "step", "loss")}
    ind = {k: [] for k in ("kappa_V", "rho", "rho_plus", "sharpness_ratio")}
    for opt in optimizers:
        for s in range(n_seeds):
            for lr in lrs:
                t = np.arange(n_steps)
                L = np.exp(-0.03 * t) + 0.01
                kap = rng.uniform(0.5, 1.5, n_steps)
                if lr >= 0.05:
                    for t0 in rng.choice(np.arange(20, n_steps - 15, 25), size=2, replace=False):
                        L[t0 : t0 + 5] *= [3.0, 5.0, 3.0, 1.5, 1.1]
                        kap[t0 - LEAD : t0 + 5] = 20.0
                cols["run_id"] += [f"{opt}-s{s}-lr{lr}"] * n_steps
                cols["seed"] += [s] * n_steps
                cols["lr"] += [lr] * n_steps
                cols["optimizer"] += [opt] * n_steps
                cols["step"] += list(t)
                cols["loss"] += list(L)
                ind["kappa_V"] += list(kap)
                ind["rho"] += list(rng.uniform(0.95, 1.05, n_steps))
                ind["rho_plus"] += list(rng.uniform(0.9, 1.0, n_steps))
                ind["sharpness_ratio"] += list(10 * lr * rng.uniform(0.8, 1.2, n_steps))
    return {k: np.array(v) for k, v in {**cols, **ind}.items()}


@pytest.fixture(scope="module")
def study():
    return study_statistics(synthetic_table(), config=StatsConfig(n_boot=300, seed=1))


def row(st: StudyStatistics, indicator: str, optimizer: str = "gd", rule: str = "s1.5_w10"):
    (r,) = [r for r in st.rows if (r.indicator, r.optimizer, r.rule) == (indicator, optimizer, rule)]
    return r


# ------------------------------------------------------------------------------------------- AUROC / ROC
def test_auroc_equals_mann_whitney_u(rng):
    for n1, n0 in [(1, 1), (3, 7), (20, 35), (200, 150)]:
        x1 = rng.integers(0, 6, n1).astype(float)  # many ties
        x0 = rng.integers(0, 5, n0).astype(float)
        scores = np.concatenate([x1, x0])
        labels = np.r_[np.ones(n1, bool), np.zeros(n0, bool)]
        perm = rng.permutation(scores.size)
        U = stats.mannwhitneyu(x1, x0).statistic
        assert auroc(scores[perm], labels[perm]) == pytest.approx(U / (n1 * n0), rel=1e-12)


def test_auroc_hand_cases():
    assert auroc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert auroc([1, 2, 3, 4], [1, 1, 0, 0]) == 0.0
    assert auroc([1, 2, 2, 3], [0, 1, 0, 1]) == 0.875  # pairs (2,1)=1 (2,2)=1/2 (3,1)=1 (3,2)=1 over 4
    assert auroc([5, 5, 5], [True, False, True]) == 0.5
    assert auroc([np.inf, 1.0, np.inf, 2.0], [1, 0, 1, 0]) == 1.0  # kappa = inf (defective) ranks highest
    assert math.isnan(auroc([1, 2, 3], [1, 1, 1]))


def test_auroc_bad_input():
    with pytest.raises(ValueError, match="scores must not contain NaN"):
        auroc([1.0, np.nan], [0, 1])
    with pytest.raises(ValueError, match="labels must be boolean or 0/1"):
        auroc([1.0, 2.0], [0, 2])
    with pytest.raises(ValueError, match="labels must be a 1-D array of length 2"):
        auroc([1.0, 2.0], [0, 1, 1])


def test_roc_curve_brute_force_and_area(rng):
    s = rng.integers(0, 8, 60).astype(float)
    y = rng.random(60) < 0.4
    roc = roc_curve(s, y)
    assert roc.thresholds[0] == np.inf and (roc.fpr[0], roc.tpr[0]) == (0.0, 0.0)
    assert (roc.fpr[-1], roc.tpr[-1]) == (1.0, 1.0)
    for thr, f, t in zip(roc.thresholds[1:], roc.fpr[1:], roc.tpr[1:], strict=True):
        assert t == pytest.approx(np.mean(s[y] >= thr)) and f == pytest.approx(np.mean(s[~y] >= thr))
    np.testing.assert_array_equal(roc.thresholds[1:], np.unique(s)[::-1])
    assert roc.auroc == pytest.approx(auroc(s, y), abs=1e-12)


def test_youden_threshold_hand_case():
    # thr 5: TPR 2/3, FPR 0; thr 3: TPR 1, FPR 1/3 -> both J = 2/3; the higher threshold wins
    assert youden_threshold([1, 2, 3, 4, 5, 6], [0, 0, 1, 0, 1, 1]) == 5.0
    assert youden_threshold([1, 2, 10, 11], [0, 0, 1, 1]) == 10.0
    assert math.isnan(youden_threshold([1, 2], [0, 0]))


def test_separation_ratio_hand_cases():
    assert separation_ratio([1, 2, 3, 10, 20, 30], [0, 0, 0, 1, 1, 1]) == pytest.approx(10.0)
    assert separation_ratio([1, 3, 10, 30], [0, 0, 1, 1]) == pytest.approx(10.0)  # medians 2 and 20
    assert math.isnan(separation_ratio([0, 0, 1], [0, 0, 1]))  # median(stable) = 0
    assert math.isnan(separation_ratio([1, 2], [1, 1]))
    assert separation_ratio([1, np.inf, np.inf], [0, 1, 1]) == np.inf


# ------------------------------------------------------------------------------------------- bootstrap
def test_iid_bootstrap_agrees_with_scipy(rng):
    x = rng.normal(2.0, 1.0, 60)
    mine = cluster_bootstrap_ci(x, np.arange(60), np.mean, n_boot=4000, seed=3)
    ref = stats.bootstrap((x,), np.mean, n_resamples=4000, method="percentile", rng=np.random.default_rng(4))
    # Monte-Carlo sd of each endpoint is about 0.006 here; allow ~4 sd of the difference
    assert mine.low == pytest.approx(ref.confidence_interval.low, abs=0.03)
    assert mine.high == pytest.approx(ref.confidence_interval.high, abs=0.03)
    assert mine.estimate == pytest.approx(x.mean()) and mine.n_clusters == 60 and mine.n_valid == 4000


def test_cluster_bootstrap_hand_case():
    # cluster A: one row 0.0; cluster B: three rows 1.0. Replicates: AA -> 0, AB/BA -> 0.75, BB -> 1.
    ci = cluster_bootstrap_ci(np.array([0.0, 1.0, 1.0, 1.0]), ["A", "B", "B", "B"], np.mean, n_boot=2000, seed=0)
    assert ci.estimate == 0.75 and ci.low == 0.0 and ci.high == 1.0
    ci = cluster_bootstrap_ci(np.array([3.0, 3.0]), [1, 1], np.mean, n_boot=100)
    assert math.isnan(ci.low) and ci.note == "fewer than 2 runs to resample"


def test_cluster_bootstrap_covers_where_iid_bootstrap_does_not():
    rng = np.random.default_rng(11)
    cover_cluster = cover_iid = 0
    n_rep = 150
    groups = np.repeat(np.arange(15), 10)  # 15 runs x 10 correlated steps
    for _ in range(n_rep):
        x = rng.normal(0, 1, 15)[groups] + rng.normal(0, 0.3, groups.size)  # true mean 0
        c = cluster_bootstrap_ci(x, groups, np.mean, n_boot=200, seed=int(rng.integers(1 << 30)))
        i = cluster_bootstrap_ci(x, np.arange(x.size), np.mean, n_boot=200, seed=int(rng.integers(1 << 30)))
        cover_cluster += c.low <= 0 <= c.high
        cover_iid += i.low <= 0 <= i.high
    assert 0.82 <= cover_cluster / n_rep <= 0.99  # nominal 0.95 (percentile CI, 15 clusters: slightly below)
    assert cover_iid / n_rep < 0.7  # ignoring the clusters badly under-covers


def clustered_data(rng, G=9):
    runs = np.repeat(np.arange(G), rng.integers(5, 15, G))
    n = runs.size
    y = rng.random(n) < 0.3
    v = np.round(rng.lognormal(0, 1, n) * (1 + 2 * y), 1)  # rounding makes ties
    lr = np.array([0.1, 0.2, 0.4])[runs % 3]
    return v, y, runs, lr


def test_vectorised_replicates_equal_the_generic_resampling(rng):
    v, y, runs, lr = clustered_data(rng)
    G, B = runs.max() + 1, 200
    draws = _draws(G, B, 5)
    members = [np.flatnonzero(runs == g) for g in range(G)]
    idx = [np.concatenate([members[g] for g in row]) for row in draws]
    generic_ratio = [separation_ratio(v[i], y[i]) if y[i].any() and (~y[i]).any() else np.nan for i in idx]
    generic_auc = [auroc(v[i], y[i]) for i in idx]
    generic_within = [_within_auroc(v[i], y[i], lr[i])[0] for i in idx]
    counts = _counts(draws, G)
    np.testing.assert_allclose(_boot_ratio(v, y, runs, counts), generic_ratio, rtol=1e-14)
    np.testing.assert_allclose(_boot_auroc(v, y, runs, counts), generic_auc, rtol=1e-12)
    lr_codes = np.unique(lr, return_inverse=True)[1]
    np.testing.assert_allclose(_boot_auroc(v, y, runs, counts, lr_codes), generic_within, rtol=1e-12)
    # and the public generic bootstrap uses the same draws
    ci = cluster_bootstrap_ci((v, y), runs, separation_ratio, n_boot=B, seed=5)
    expect = np.quantile(np.array(generic_ratio)[~np.isnan(generic_ratio)], [0.025, 0.975])
    np.testing.assert_allclose([ci.low, ci.high], expect, rtol=1e-14)


def test_bootstrap_drops_undefined_replicates():
    v = np.arange(40.0)
    y = np.zeros(40, bool)
    y[:4] = True  # only run 0 has unstable steps
    runs = np.repeat(np.arange(10), 4)
    ci = cluster_bootstrap_ci((v, y), runs, lambda a, b: auroc(a, b), n_boot=400, seed=0)
    assert 0 < ci.n_valid < 400  # run 0 is missing from about (9/10)^10 = 35 % of resamples
    assert abs(1 - ci.n_valid / 400 - 0.9**10) < 0.08
    assert "undefined (dropped)" in ci.note


def test_bootstrap_bad_input():
    with pytest.raises(ValueError, match="equal first dimension"):
        cluster_bootstrap_ci((np.ones(3), np.ones(4)), np.arange(3), np.mean)
    with pytest.raises(ValueError, match="groups must be a 1-D array of length 3"):
        cluster_bootstrap_ci(np.ones(3), np.arange(4), np.mean)
    with pytest.raises(ValueError, match="n_boot must be >= 10"):
        cluster_bootstrap_ci(np.ones(3), np.arange(3), np.mean, n_boot=5)
    with pytest.raises(TypeError, match="statistic must be callable"):
        cluster_bootstrap_ci(np.ones(3), np.arange(3), "mean")


# ------------------------------------------------------------------------------------------- logistic
def test_logistic_matches_scipy_minimize(rng):
    X = rng.normal(size=(300, 3)) * [1.0, 5.0, 0.2] + [0.0, 3.0, -1.0]
    y = rng.random(300) < 1 / (1 + np.exp(-(0.5 + X @ [1.0, -0.3, 2.0])))
    fit = fit_logistic(X, y, l2=2.0)
    Z = (X - X.mean(0)) / X.std(0)

    def obj(b):
        t = b[0] + Z @ b[1:]
        return np.sum(np.logaddexp(0, t) - y * t) + 1.0 * np.sum(b[1:] ** 2)

    ref = optimize.minimize(obj, np.zeros(4), method="BFGS", options={"gtol": 1e-9}).x
    assert fit.converged
    np.testing.assert_allclose(fit.coef, ref[1:], atol=1e-5)
    assert fit.intercept == pytest.approx(ref[0], abs=1e-5)


def test_logistic_recovers_known_coefficients(rng):
    X = rng.normal(size=(4000, 2))
    y = rng.random(4000) < 1 / (1 + np.exp(-(2.0 * X[:, 0] - 1.0 * X[:, 1])))
    fit = fit_logistic(X, y, l2=1e-3)
    beta = fit.coef / fit.scale  # back to the raw features
    assert beta[0] > 0 > beta[1]
    np.testing.assert_allclose(beta, [2.0, -1.0], atol=0.2)
    p = predict_logistic(fit, X)
    assert p.shape == (4000,) and auroc(p, y) > 0.8


def test_logistic_separable_and_intercept_only():
    X = np.r_[np.linspace(-2, -1, 20), np.linspace(1, 2, 20)][:, None]
    y = X[:, 0] > 0
    fit = fit_logistic(X, y, l2=0.1)
    assert fit.converged and np.all(np.isfinite(fit.coef)) and fit.coef[0] > 0
    fit0 = fit_logistic(np.zeros((10, 0)), np.r_[np.ones(3), np.zeros(7)])
    np.testing.assert_allclose(predict_logistic(fit0, np.zeros((4, 0))), 0.3, rtol=1e-8)
    with pytest.raises(ValueError, match="X must be a non-empty array of finite numbers"):
        fit_logistic(np.array([[np.nan]]), [1])


def incremental_data(rng, n_seeds=5, runs_per_seed=4, n=40):
    seeds = np.repeat(np.arange(n_seeds), runs_per_seed * n)
    runs = np.repeat(np.arange(n_seeds * runs_per_seed), n)
    N = seeds.size
    base = rng.normal(size=N)
    informative = rng.normal(size=N)
    y = rng.random(N) < 1 / (1 + np.exp(-(0.5 * base + 2.0 * informative)))
    feats = {
        "rho": base,
        "kappa_V": np.exp(informative),  # positive and heavy-tailed: log-transformed
        "noise": rng.normal(size=N),
    }
    return feats, y, seeds, runs


def test_incremental_value_adds_for_informative_not_for_noise(rng):
    feats, y, seeds, runs = incremental_data(rng)
    kw = {"base": ("rho",), "seeds": seeds, "runs": runs, "n_boot": 300, "seed": 0}
    inf = incremental_value(feats, y, candidate="kappa_V", **kw)
    assert inf.verdict == "adds" and inf.delta.low > 0
    assert inf.logloss_with < inf.logloss_without and inf.auroc_with > inf.auroc_without + 0.1
    assert inf.with_features == ("rho", "kappa_V") and inf.without_features == ("rho",)
    assert inf.n_folds == 5 and inf.n_rows == y.size
    noise = incremental_value(feats, y, candidate="noise", **kw)
    assert noise.verdict == "does not add" and noise.delta.low <= 0
    assert abs(noise.delta.estimate) < 0.02
    base_in = incremental_value(feats, y, candidate="rho", **kw)  # a base feature: base vs base minus it
    assert base_in.with_features == ("rho",) and base_in.without_features == ()


def test_incremental_value_needs_two_seeds(rng):
    feats, y, _, runs = incremental_data(rng, n_seeds=2)
    res = incremental_value(feats, y, candidate="kappa_V", base=("rho",), seeds=np.zeros(y.size), runs=runs)
    assert res.verdict == "n/a" and math.isnan(res.logloss_with) and "fewer than 2 seeds" in res.note
    with pytest.raises(ValueError, match="features must contain 'sharpness'"):
        incremental_value(feats, y, candidate="kappa_V", base=("sharpness",), seeds=np.zeros(y.size), runs=runs)


# ------------------------------------------------------------------------------------------- LORO
def test_loro_flags_a_single_dominating_run(rng):
    runs = np.repeat(np.arange(8), 20)
    y = np.zeros(runs.size, bool)
    y[runs == 5] = np.arange(20) >= 10  # run 5: 10 unstable steps with huge values
    y[(runs != 5) & (np.arange(runs.size) % 20 == 0)] = True  # every other run: a single unstable step
    v = rng.uniform(1, 2, runs.size)
    v[(runs == 5) & y] *= 1000
    res = leave_one_run_out(v, y, runs)
    assert res.ratio > 100 and res.flag and res.worst_run == "5" and "removing run 5" in res.reason
    assert res.ratios_without[5] < 2
    ok = leave_one_run_out(rng.uniform(1, 2, runs.size) * (1 + 4 * y), y, runs)  # every run separates alike
    assert ok.ratio > 2 and not ok.flag and ok.reason == ""


def test_loro_phase_resting_on_one_run_and_crossing_one():
    runs = np.repeat(np.arange(4), 5)
    y = runs == 2
    v = np.arange(20.0) + 1
    res = leave_one_run_out(v, y, runs)
    assert res.flag and res.worst_run == "2" and "rests on run 2" in res.reason
    # ratio 1.025 that drops below 1 without run 0 (a small change, far below the factor 2)
    v2 = np.array([1.0, 1.1, 1.0, 1.1, 1.0, 0.95, 1.0, 0.9])
    y2 = np.array([0, 1, 0, 1, 0, 1, 0, 1], bool)
    r2 = np.repeat(np.arange(4), 2)
    crossing = leave_one_run_out(v2, y2, r2)
    assert crossing.ratio == pytest.approx(1.025) and crossing.flag and "across 1" in crossing.reason
    assert leave_one_run_out(v2, y2, r2, ci=(1.01, 1.05)).flag  # the CI claims ratio > 1: the crossing matters
    assert not leave_one_run_out(v2, y2, r2, ci=(0.9, 1.2)).flag  # the CI does not: no claim to overturn


# ------------------------------------------------------------------------------------------- lead time
def test_lead_times_known_lead():
    steps = np.arange(100)
    sc = np.ones(100)
    sc[27:35] = 9.0  # alarm from step 27, onset at 30 -> lead 3
    sc[60:62] = 9.0  # onset 70: alarm off at 70 -> missed
    sc[86:91] = 9.0  # onset 90 -> lead 4
    np.testing.assert_array_equal(lead_times(steps, sc, [30, 70, 90], threshold=5.0), [3.0, np.nan, 4.0])
    sparse = sc.copy()
    sparse[1::2] = np.nan  # analysed every other step: the alarm is first seen at step 28
    np.testing.assert_array_equal(lead_times(steps, sparse, [30], threshold=5.0), [2.0])
    always = np.full(100, 9.0)  # alarm on since the previous onset: the lead is bounded by it
    np.testing.assert_array_equal(lead_times(steps, always, [30, 50], threshold=5.0), [30.0, 19.0])
    with pytest.raises(ValueError, match="steps must be strictly increasing"):
        lead_times(steps[::-1], sc, [30], threshold=5.0)
    with pytest.raises(ValueError, match="scores must have length 100"):
        lead_times(steps, sc[:50], [30], threshold=5.0)


# ------------------------------------------------------------------------------------------- the study
def test_study_rows_cover_rules_groups_indicators(study):
    assert len(study.rows) == 3 * 2 * 4
    assert study.indicators == ("kappa_V", "rho", "rho_plus", "sharpness_ratio")
    assert {r.rule for r in study.rows} == {r.name for r in STANDARD_RULES}
    r = row(study, "kappa_V")
    assert (r.n_runs, r.n_runs_unstable, r.n_runs_stable) == (12, 8, 12)
    assert r.n_stable + r.n_unstable + r.n_ambiguous == 1200
    assert r.n_windows_stable + r.n_windows_unstable + r.n_windows_ambiguous == 120
    assert r.n_windows_unstable == 16  # 8 unstable runs x 2 spikes, one 10-step window each


def test_study_known_separation_and_lead(study):
    for opt in ("gd", "adam"):
        for rule in STANDARD_RULES:
            k = row(study, "kappa_V", opt, rule.name)
            assert k.ratio_low > 1 and k.auroc_low > 0.6 and k.auroc_within_lr_low > 0.6
            assert k.n_detected == k.n_onsets == 16  # every spike detected by the held-out threshold ...
            np.testing.assert_array_equal(k.lead_times, LEAD)  # ... exactly LEAD steps early
            assert (k.lead_median, k.lead_q25, k.lead_q75) == (LEAD, LEAD, LEAD)
            assert k.incr_verdict == "adds" and not k.loro_flag
            rho = row(study, "rho", opt, rule.name)
            assert rho.auroc_low < 0.5 < rho.auroc_high and rho.ratio_low < 1 < rho.ratio_high
            assert rho.incr_verdict == "does not add"


def test_within_lr_auroc_removes_the_learning_rate_confound(study):
    s = row(study, "sharpness_ratio")
    assert s.auroc_low > 0.55  # pooled: high-lr runs are the unstable ones, and sharpness_ratio tracks lr
    assert s.auroc_within_lr_low < 0.5 < s.auroc_within_lr_high  # within each lr it carries no information
    assert s.auroc_by_lr.startswith("0.01:n/a(0/") and "0.2:" in s.auroc_by_lr


def test_study_reports_nan_with_reasons_when_a_phase_is_missing():
    tab = synthetic_table(lrs=(0.01,), n_seeds=2, optimizers=("gd",))  # no spikes anywhere
    st = study_statistics(tab, ["kappa_V"], rules=STANDARD_RULES[:1], config=StatsConfig(n_boot=50))
    (r,) = st.rows
    assert math.isnan(r.ratio) and math.isnan(r.auroc) and math.isnan(r.auroc_within_lr)
    assert "ratio: no unstable steps" in r.note and "AUROC: needs both phases" in r.note
    assert r.incr_verdict == "n/a" and r.n_onsets == 0 and math.isnan(r.lead_median)
    assert "n/a" in st.to_markdown()


def test_lead_threshold_is_never_chosen_on_the_same_seed():
    tab = synthetic_table(n_seeds=1, optimizers=("gd",))
    st = study_statistics(tab, ["kappa_V"], rules=STANDARD_RULES[:1], config=StatsConfig(n_boot=50))
    (r,) = st.rows
    assert r.n_onsets == 0 and math.isnan(r.lead_median)
    assert "onsets without a held-out threshold" in r.note and "fewer than 2 seeds" in r.note


def test_study_loro_flags_a_dominating_run():
    # one chaotic run (oscillating throughout, indicator 50) holds most unstable steps of the pooled table
    tab = synthetic_table(optimizers=("gd",), n_seeds=2, lrs=(0.01, 0.2))
    hot = tab["run_id"] == "gd-s0-lr0.2"
    t = tab["step"][hot]
    tab["loss"][hot] = 1.0 + 0.3 * (-1.0) ** t
    tab["rho"] = np.where(hot, 50.0, 1.0) * np.where(tab["lr"] > 0.1, 1.5, 1.0)
    st = study_statistics(tab, ["rho"], rules=STANDARD_RULES[:1], config=StatsConfig(n_boot=50))
    (r,) = st.rows
    assert r.ratio > 10 and r.loro_flag and r.loro_worst_run == "gd-s0-lr0.2"
    assert r.loro_min < 2
    assert "flag: gd-s0-lr0.2" in st.to_markdown()


def test_label_run_table_columns_order_and_onsets():
    tab = synthetic_table(n_seeds=1, optimizers=("gd",))
    perm = np.random.default_rng(0).permutation(tab["loss"].size)
    out = label_run_table({k: v[perm] for k, v in tab.items()}, STANDARD_RULES[0])
    assert {"phase", "phase_reason", "onset"} <= set(out) and set(tab) <= set(out)
    key = np.lexsort((out["step"], out["run_id"]))
    np.testing.assert_array_equal(key, np.arange(key.size))  # sorted by run, then step
    assert out["onset"].sum() == 4  # 2 unstable runs x 2 spikes
    assert np.all(out["phase"][out["onset"]] == "unstable")


@pytest.mark.parametrize(
    ("edit", "err", "match"),
    [
        (lambda t: t.pop("loss"), ValueError, "table must have columns run_id, seed, lr, step, loss; missing loss"),
        (lambda t: t.update(rho=t["rho"][:-1]), ValueError, "equal length; column 'rho'"),
        (lambda t: t.update(step=np.zeros_like(t["step"])), ValueError, "repeated step 0"),
        (lambda t: t.update(lr=np.where(t["step"] == 3, 9.0, t["lr"])), ValueError, r"table\['lr'\] must be constant"),
        (lambda t: t.update(lr=-t["lr"]), ValueError, r"table\['lr'\] must be > 0"),
        (lambda t: t.update(seed=t["seed"] + 0.5), ValueError, r"table\['seed'\] must hold integers"),
        (lambda t: t.update(loss=-t["loss"]), ValueError, r"table\['loss'\] must be non-negative"),
    ],
)
def test_bad_tables(edit, err, match):
    tab = synthetic_table(n_seeds=1, lrs=(0.01,), n_steps=10, optimizers=("gd",))
    edit(tab)
    with pytest.raises(err, match=match):
        study_statistics(tab, ["rho"] if "rho" in tab else None, config=StatsConfig(n_boot=10))


def test_bad_arguments():
    tab = synthetic_table(n_seeds=1, lrs=(0.01,), n_steps=10, optimizers=("gd",))
    with pytest.raises(ValueError, match="indicators must be indicator columns of the table; got unknown"):
        study_statistics(tab, ["kappa"])
    with pytest.raises(TypeError, match="table must be a mapping"):
        study_statistics([1, 2, 3])
    with pytest.raises(TypeError, match="config must be a StatsConfig"):
        study_statistics(tab, config={"n_boot": 10})
    with pytest.raises(ValueError, match="rules must have distinct names"):
        study_statistics(tab, rules=(STANDARD_RULES[0], STANDARD_RULES[0]))
    with pytest.raises(ValueError, match="n_boot must be >= 10"):
        StatsConfig(n_boot=1)


def test_outputs_csv_markdown_pickle(study, tmp_path):
    path = tmp_path / "table.csv"
    study.to_csv(path)
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == len(study.rows)
    first = study.rows[0]
    assert rows[0]["indicator"] == first.indicator and float(rows[0]["ratio"]) == pytest.approx(first.ratio)
    assert float(rows[0]["rise_factor"]) == 1.5 and int(rows[0]["horizon"]) == 10
    md = study.to_markdown()
    for rule in STANDARD_RULES:
        assert rule.describe() in md
    k = row(study, "kappa_V")
    assert f"| kappa_V | gd | - | - | 12 | {k.n_stable} / {k.n_unstable} ({k.n_ambiguous}) | {k.ratio:.3g} [" in md
    assert "Sensitivity to the labelling rule" in md
    back = pickle.loads(pickle.dumps(study))
    np.testing.assert_array_equal(back.rows[0].lead_times, study.rows[0].lead_times)


def test_deterministic_given_seed():
    tab = synthetic_table(n_seeds=2, optimizers=("gd",), n_steps=80)
    a = study_statistics(tab, ["kappa_V"], rules=STANDARD_RULES[:1], config=StatsConfig(n_boot=50, seed=3))
    b = study_statistics(tab, ["kappa_V"], rules=STANDARD_RULES[:1], config=StatsConfig(n_boot=50, seed=3))
    assert a.to_records() == b.to_records()


def test_youden_without_discrimination_flags_nothing():
    assert youden_threshold([1.0, 1.0, 1.0, 1.0], [0, 1, 0, 1]) == np.inf


def test_study_edge_columns_inf_nan_constant():
    tab = synthetic_table(n_seeds=3, optimizers=("gd",))
    n = tab["loss"].size
    tab["commutator"] = np.zeros(n)  # GD: [H, M] = 0 everywhere
    tab["departure"] = np.full(n, np.nan)  # never analysed
    tab["kappa_V"][np.flatnonzero(tab["kappa_V"] == 20.0)[::3]] = np.inf  # defective operators: kappa = inf
    tab["kappa_V"][1::2] = np.nan  # analysed every other step
    tab["depth"] = np.full(n, 2)
    tab["coords"] = np.full(n, "buffer")
    st = study_statistics(tab, rules=STANDARD_RULES[:1], config=StatsConfig(n_boot=60))
    assert st.indicators == ("kappa_V", "rho", "rho_plus", "sharpness_ratio", "commutator", "departure")
    k, com, dep = (row(st, name) for name in ("kappa_V", "commutator", "departure"))
    assert (k.depth, k.coords) == ("2", "buffer")
    assert k.n_stable + k.n_unstable + k.n_ambiguous == n // 2  # only analysed steps count
    assert k.ratio_low > 1 and k.incr_verdict == "adds"
    assert set(k.lead_times) <= {LEAD - 1.0, float(LEAD)}  # the alarm is seen on the first analysed step
    assert math.isnan(com.ratio) and "a phase median is not positive" in com.note and com.auroc == 0.5
    assert com.n_detected == 0  # a constant indicator never raises an alarm
    assert dep.n_runs == 0 and math.isnan(dep.auroc) and "not analysed in this group" in dep.note
