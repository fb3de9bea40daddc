"""Phase labels on synthetic loss curves with known spikes, oscillation and divergence.

Known answers are built into the curves; a plain-loop reference implementation of the documented
definitions (module docstring of nnspec_core.phases) checks the vectorised code on random curves.
"""

import math
import pickle

import numpy as np
import pytest

from nnspec_core.phases import STANDARD_RULES, LabelRule, PhaseLabels, as_real_vector, label_steps, spike_onsets

RULE = STANDARD_RULES[0]  # s = 1.5, w = 10


def decay(n: int, rate: float = 0.03) -> np.ndarray:
    return np.exp(-rate * np.arange(n)) + 0.01


# ------------------------------------------------------------------------------------------- reference
def ref_labels(L, rule: LabelRule):
    """Plain-loop transcription of the documented definitions: (window labels, window reasons, onsets)."""
    n, w, s, f = len(L), rule.horizon, rule.rise_factor, rule.loss_floor
    Lf = [max(x, f) if math.isfinite(x) else math.inf for x in L]
    spike, div, argmin = [], [], []
    for t in range(n):
        prev = [(Lf[u], u) for u in range(max(0, t - w), t) if math.isfinite(Lf[u])]
        m = min(p for p, _ in prev) if prev else math.inf
        argmin.append(max(u for p, u in prev if p == m) if prev else -1)
        spike.append(bool(prev) and math.isfinite(Lf[t]) and Lf[t] > m and Lf[t] >= s * m)
        if not math.isfinite(L[0]):
            div.append(True)
        else:
            div.append(not math.isfinite(L[t]) or Lf[t] > rule.divergence_factor * max(L[0], f))
    starts = list(range(0, n, w))
    if len(starts) > 1 and n - starts[-1] < w:
        starts.pop()
    ends = starts[1:] + [n]
    labels, reasons = [], []
    for a, b in zip(starts, ends, strict=True):
        if any(div[a:b]):
            lab = ("unstable", "divergence")
        elif any(spike[a:b]):
            lab = ("unstable", "spike")
        else:
            lab = None
            d = [(Lf[t] - Lf[t - 1], Lf[t - 1]) for t in range(max(a, 1), b)]
            if len(d) >= 2:
                alt = np.mean([d[i][0] * d[i + 1][0] < 0 for i in range(len(d) - 1)])
                amp = np.median([abs(x) / p for x, p in d])
                if alt >= rule.osc_fraction and amp >= rule.osc_amplitude:
                    lab = ("unstable", "oscillation")
            if lab is None:
                ok = all(Lf[t] <= (1 + rule.noise_tol) * min(Lf[max(a - 1, 0) : t]) for t in range(max(a, 1), b))
                lab = ("stable", "monotone") if ok else ("ambiguous", "non-monotone")
        labels.append(lab[0])
        reasons.append(lab[1])
    det = [t for t in range(n) if spike[t] or div[t]]
    onsets = set()
    for i, t in enumerate(det):
        if i == 0 or t - det[i - 1] >= w:
            onsets.add(argmin[t] + 1 if argmin[t] >= 0 else t)
    return labels, reasons, sorted(onsets)


def random_curve(rng: np.random.Generator, n: int) -> np.ndarray:
    logL = np.cumsum(rng.normal(-0.02, 0.03, n))
    jumps = rng.random(n) < 0.04
    logL += np.cumsum(np.where(jumps, rng.normal(0.0, 0.8, n), 0.0))
    L = np.exp(logL)
    if rng.random() < 0.3:  # period-2 oscillation segment
        a = rng.integers(0, max(n - 10, 1))
        L[a : a + 25] *= 1 + rng.uniform(0.01, 0.3) * (-1.0) ** np.arange(min(25, n - a))
    if rng.random() < 0.15:  # divergence to NaN
        L[rng.integers(n // 2, n) :] = np.nan
    return L


@pytest.mark.parametrize("rule", STANDARD_RULES, ids=lambda r: r.name)
def test_matches_plain_loop_reference_on_random_curves(rule):
    rng = np.random.default_rng(7)
    seen = set()
    for _ in range(60):
        L = random_curve(rng, int(rng.integers(3, 90)))
        lab = label_steps(L, rule)
        ref_l, ref_r, ref_on = ref_labels(L, rule)
        np.testing.assert_array_equal(lab.window_label, ref_l)
        np.testing.assert_array_equal(lab.window_reason, ref_r)
        np.testing.assert_array_equal(lab.onsets, ref_on)
        np.testing.assert_array_equal(spike_onsets(L, rule), ref_on)
        seen.update(ref_r)
    assert seen == {"spike", "oscillation", "monotone", "non-monotone", "divergence"}  # every branch exercised


# ------------------------------------------------------------------------------------------- known answers
def test_monotone_decay_is_stable_everywhere():
    for rule in STANDARD_RULES:
        lab = label_steps(decay(100), rule)
        assert set(lab.label) == {"stable"} and set(lab.reason) == {"monotone"}
        assert lab.onsets.size == 0
        assert lab.window_counts() == {"stable": lab.window_start.size, "unstable": 0, "ambiguous": 0}


def test_small_noise_within_tolerance_is_stable_and_above_it_is_not():
    L = decay(60)
    L[31] = L[30] * 1.01  # a 1 % uptick: within noise_tol = 0.02
    assert set(label_steps(L, RULE).label) == {"stable"}
    L[31] = L[30] * 1.1  # 10 %: above noise, below the 1.5 spike factor -> ambiguous window
    lab = label_steps(L, RULE)
    assert lab.label[31] == "ambiguous" and lab.reason[31] == "non-monotone"
    assert set(lab.label[lab.window != lab.window[31]]) == {"stable"}


@pytest.mark.parametrize("rule", STANDARD_RULES, ids=lambda r: r.name)
@pytest.mark.parametrize("t0", [20, 47, 63])
def test_jump_spike_window_and_onset(rule, t0):
    L = decay(100)
    L[t0 : t0 + 5] *= np.array([3.0, 5.0, 3.0, 1.5, 1.1])  # rises x3 at t0, recovers by t0 + 5
    lab = label_steps(L, rule)
    np.testing.assert_array_equal(lab.onsets, [t0])
    k = lab.window[t0]
    assert lab.window_label[k] == "unstable" and lab.window_reason[k] == "spike"
    assert np.all(lab.label[: lab.window_start[k]] == "stable")  # everything before the spike window is stable
    assert lab.label[-1] == "stable"  # the run recovers
    assert np.all(lab.label[lab.window == k] == "unstable")  # the window's label is given to all its steps


def test_gradual_rise_onset_is_first_step_after_the_minimum():
    L = decay(80)
    L[41:56] = L[40] * 1.1 ** np.arange(1, 16)  # grows 10 % per step from step 41
    L[56:] = L[40] * 0.9 ** np.arange(1, 25)
    for rule in STANDARD_RULES:
        np.testing.assert_array_equal(spike_onsets(L, rule), [41])


def test_rise_factor_controls_detection():
    L = decay(60)
    L[30] = 1.7 * L[29]  # a factor 1.7 rise: a spike for s = 1.5 and s = 1.2, not for s = 2
    assert spike_onsets(L, STANDARD_RULES[0]).tolist() == [30]
    assert spike_onsets(L, STANDARD_RULES[2]).tolist() == [30]
    assert spike_onsets(L, STANDARD_RULES[1]).size == 0
    assert label_steps(L, STANDARD_RULES[1]).label[30] == "ambiguous"


def test_horizon_controls_detection():
    L = decay(60, rate=0.0) * 1.0
    L[20:] = L[19] * 1.05 ** np.arange(1, 41)  # slow growth: x1.5 takes 9 steps, x2 takes 15
    assert spike_onsets(L, LabelRule(name="w10", rise_factor=1.5, horizon=10)).tolist() == [20]
    assert spike_onsets(L, LabelRule(name="w5", rise_factor=1.5, horizon=5)).size == 0  # 1.05^5 < 1.5


def test_two_spikes_two_onsets_and_both_phases_in_one_run():
    L = decay(120)
    for t0 in (30, 80):
        L[t0 : t0 + 3] *= [4.0, 2.0, 1.2]
    lab = label_steps(L, RULE)
    np.testing.assert_array_equal(lab.onsets, [30, 80])
    assert {"stable", "unstable"} <= set(lab.label)


def test_sustained_oscillation():
    t = np.arange(80)
    L = (1.0 + 0.2 * (-1.0) ** t) * np.exp(-0.002 * t)  # period-2, 20 % amplitude, slowly decaying envelope
    lab = label_steps(L, RULE)
    assert set(lab.reason) == {"oscillation"} and set(lab.label) == {"unstable"}
    small = (1.0 + 0.005 * (-1.0) ** t) * np.exp(-0.05 * t)  # alternation below the noise tolerance
    assert set(label_steps(small, RULE).label) == {"stable"}
    mid = 1.0 + 0.015 * (-1.0) ** t  # 3 % swings: above noise (2 %), below osc_amplitude (5 %)
    assert set(label_steps(mid, RULE).label) == {"ambiguous"}


def test_irregular_large_changes_are_not_oscillation():
    L = decay(40)
    L[10:20] *= np.array([1, 1.3, 1.3, 1.3, 1, 1, 1.3, 1.3, 1, 1])  # big but non-alternating, below spike factor
    lab = label_steps(L, RULE)
    assert lab.window_reason[1] == "non-monotone"


def test_divergence_nan_and_cap():
    L = decay(60)
    L[37:] = np.nan
    lab = label_steps(L, RULE)
    assert lab.reason[37] == "divergence" and lab.label[-1] == "unstable"
    assert np.all(lab.label[:30] == "stable")
    np.testing.assert_array_equal(lab.onsets, [37])
    L = decay(60)
    L[45:] = L[0] * 200.0  # over the cap of 100 x L_0
    lab = label_steps(L, RULE)
    assert lab.reason[45] == "divergence"
    np.testing.assert_array_equal(lab.onsets, [45])
    L = decay(30)
    L[0] = np.inf  # non-finite start: the run diverged before it began
    assert set(label_steps(L, RULE).reason) == {"divergence"}


def test_windows_partition_and_tail_merge():
    lab = label_steps(decay(25), RULE)
    np.testing.assert_array_equal(lab.window_start, [0, 10])  # the 5-step tail joins the previous window
    np.testing.assert_array_equal(np.bincount(lab.window), [10, 15])
    lab = label_steps(decay(7), RULE)
    np.testing.assert_array_equal(lab.window_start, [0])
    lab = label_steps([1.0], RULE)
    assert lab.label.tolist() == ["stable"]


def test_zero_losses_use_the_floor():
    L = np.zeros(30)
    assert set(label_steps(L, RULE).label) == {"stable"}
    L[20] = 1e-3  # from an exact zero any rise is a spike (relative to the floor)
    np.testing.assert_array_equal(spike_onsets(L, RULE), [20])


def test_results_pickle_and_are_consistent():
    lab = label_steps(decay(50), STANDARD_RULES[2])
    back = pickle.loads(pickle.dumps(lab))
    assert isinstance(back, PhaseLabels) and back.rule == STANDARD_RULES[2]
    np.testing.assert_array_equal(back.label, lab.label)
    np.testing.assert_array_equal(lab.label, lab.window_label[lab.window])


def test_standard_rules_and_description():
    assert len(STANDARD_RULES) >= 3 and len({r.name for r in STANDARD_RULES}) == len(STANDARD_RULES)
    assert {(r.rise_factor, r.horizon) for r in STANDARD_RULES} == {(1.5, 10), (2.0, 20), (1.2, 5)}
    text = STANDARD_RULES[1].describe()
    assert "2 x min of previous 20 steps" in text and text.startswith("s2_w20")
    assert STANDARD_RULES[0].as_dict()["rise_factor"] == 1.5


# ------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("loss", "err", "match"),
    [
        (np.ones((3, 3)), ValueError, "loss must be a 1-D array; got 2-D"),
        (np.array([]), ValueError, "loss must have at least 1 entry"),
        (np.array([1.0, -0.5]), ValueError, "loss must be non-negative where finite"),
        (np.array([1.0 + 1j]), TypeError, "loss must be a real numeric array"),
        (np.array(["a", "b"]), TypeError, "loss must be a real numeric array"),
    ],
)
def test_bad_loss(loss, err, match):
    with pytest.raises(err, match=match):
        label_steps(loss, RULE)
    with pytest.raises(err, match=match):
        spike_onsets(loss, RULE)


def test_as_real_vector_converts_and_refuses():
    import torch

    out = as_real_vector(torch.tensor([1, 2], dtype=torch.int32), "x")
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.0]
    np.testing.assert_array_equal(as_real_vector(np.array([True, False]), "x", bool_ok=True), [1.0, 0.0])
    with pytest.raises(TypeError, match="x must be a real numeric array; got dtype bool"):
        as_real_vector(np.array([True, False]), "x")
    assert np.isnan(as_real_vector([np.nan, np.inf], "x")[0])
    with pytest.raises(ValueError, match="x must contain only finite numbers; got 1 NaN/inf entry"):
        as_real_vector([1.0, np.inf], "x", finite=True)
    with pytest.raises(ValueError, match="x must be a 1-D array; got 0-D"):
        as_real_vector(3.0, "x")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rise_factor": 1.0}, "rise_factor must be > 1.0"),
        ({"horizon": 1}, "horizon must be >= 2"),
        ({"horizon": 2.5}, "horizon must be an integer"),
        ({"osc_fraction": 0.0}, "osc_fraction must be > 0.0"),
        ({"noise_tol": -0.1}, "noise_tol must be >= 0.0"),
        ({"rise_factor": float("nan")}, "rise_factor must be finite"),
    ],
)
def test_bad_rule(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LabelRule(**kwargs)


def test_bad_rule_types():
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        LabelRule(name="")
    with pytest.raises(TypeError, match="rule must be a LabelRule; got dict"):
        label_steps(decay(10), {"rise_factor": 2})
