"""Phase study orchestration: config validation, stability edge, conventions, cache/resume, CLI, outputs, claims."""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest

from nnspec_core.cli import main
from nnspec_core.phase_stats import CSV_COLUMNS, StatRow
from nnspec_core.studies import (
    CLAIM_COLUMNS,
    RUN_TABLE_COLUMNS,
    RUNS_COLUMNS,
    STUDY_INDICATORS,
    RunCache,
    StudyConfig,
    _convention_indicators,
    _verdict,
    execute_plan,
    load_study,
    phase_values,
    plan_study,
    roc_curves,
    run_grid,
    run_study,
    run_trajectory,
    stability_edge,
    study_directories,
    train_run,
)
from nnspec_core.study_presets import PRESETS, TINY, preset

# A 2-run study (gd, 2 learning rates, 1 seed, 10 steps) for the cache/pool tests.
MINI = replace(TINY, name="mini", optimizers=("gd",), seeds=(0,), steps=10, n_boot=50)


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("study") / "tiny"
    assert main(["study", "--preset", "tiny", "--out", str(out), "--quiet"]) == 0
    return out


# ------------------------------------------------------------------------------------------------ config
def test_presets_are_valid_and_named():
    assert set(PRESETS) == {"tiny", "paper", "deep"}
    assert preset("paper").depths == (2,) and set(preset("paper").optimizers) == {"gd", "heavy_ball", "adam"}
    assert preset("deep").depths == (2, 3, 4)
    assert TINY.n_lrs == 2 and len(TINY.seeds) == 2 and TINY.steps == 20
    with pytest.raises(ValueError, match="preset must be one of 'tiny', 'paper', 'deep'; got 'huge'"):
        preset("huge")


def test_config_roundtrip_and_digest():
    c = PRESETS["paper"]
    again = StudyConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c and again.digest() == c.digest()
    assert replace(c, steps=151).digest() != c.digest()


@pytest.mark.parametrize(
    ("data", "exc", "match"),
    [
        ({"optimiser": ["gd"]}, ValueError, r"config has unknown key 'optimiser'; known keys: name, optimizers"),
        ({"seeds": "0,1"}, TypeError, r"seeds must be a list; got str\."),
        ({"seeds": [0, 1.5]}, TypeError, r"seeds entries must be int; got 1\.5"),
        ({"seeds": [0, 0]}, ValueError, r"seeds must not repeat entries"),
        ({"n_lrs": 0}, ValueError, r"n_lrs must be >= 1; got 0\."),
        ({"n_lrs": 2.5}, TypeError, r"n_lrs must be an int; got 2\.5"),
        ({"steps": True}, TypeError, r"steps must be an int; got True"),
        ({"lr_range": [2.0, 1.0]}, ValueError, r"lr_range\[1\] must be >= 2\.0; got 1\.0\."),
        ({"lr_range": [0.5]}, ValueError, r"lr_range must be a pair \[low, high\]"),
        ({"lrs": [0.1, -1.0]}, ValueError, r"lrs entry must be > 0\.0; got -1\.0\."),
        ({"optimizers": ["sgd"]}, ValueError, r"optimizers entry must be one of 'gd', 'heavy_ball'"),
        ({"depths": [1]}, ValueError, r"depths entry must be >= 2; got 1\."),
        ({"conventions": ["history"]}, ValueError, r"conventions must include one valid for 'gd' \(theta\)"),
        ({"conventions": ["diagonal"]}, ValueError, r"conventions entry must be one of"),
        ({"width": 1000}, ValueError, r"width must be <= 64; got 1000\."),
        ({"dataset": "mnist"}, ValueError, r"dataset must be one of"),
        ({"noise": "lots"}, TypeError, r"noise must be a number; got 'lots'"),
        ({"rules": [{"name": "r", "rise": 2}]}, ValueError, r"rules\[0\] has unknown key 'rise'"),
        ({"rules": [{"name": "r", "rise_factor": 0.5}]}, ValueError, r"rise_factor must be > 1\.0; got 0\.5\."),
        ({"name": "a b"}, ValueError, r"name must be a non-empty str of letters"),
        ({"lr_range_by_optimizer": {"sgd": [1, 2]}}, ValueError, r"lr_range_by_optimizer key must be one of"),
        ({"lr_range_by_optimizer": {"adam": [3, 2]}}, ValueError, r"lr_range_by_optimizer\['adam'\]\[1\] must be >= 3"),
        ({"lr_range_by_optimizer": [1, 2]}, TypeError, r"lr_range_by_optimizer must be an object such as"),
    ],
)
def test_bad_config_rejected_with_one_line(data, exc, match):
    with pytest.raises(exc, match=match) as info:
        StudyConfig.from_dict(data, base=TINY)
    assert "\n" not in str(info.value)


def test_cli_rejects_bad_config_files(tmp_path, capsys):
    cases = {
        "unknown.json": ('{"seedz": [1]}', "unknown key 'seedz'"),
        "type.json": ('{"steps": "many"}', "steps must be an int; got 'many'"),
        "range.json": ('{"n_boot": 3}', "n_boot must be >= 10; got 3."),
        "broken.json": ('{"steps": 10,', "is not valid JSON"),
        "list.json": ("[1, 2]", "config must be a JSON object of settings; got list."),
    }
    for name, (text, msg) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        code = main(["study", "--config", str(path), "--out", str(tmp_path / "o"), "--quiet"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1, name
        assert len(err) == 1 and err[0].startswith("nnspec: error: ") and msg in err[0], err
    assert not (tmp_path / "o").exists()  # nothing is created for a rejected config


# ------------------------------------------------------------------------------------------------ plan
def test_stability_edge_matches_initial_sharpness():
    """GD edge = 2 / lambda_max(H_0), heavy ball = (2 + 2 beta) / lambda_max(H_0) (trainer record at t = 0)."""
    from nnspec_core.training import train

    cfg = replace(TINY, seeds=(0, 1))
    for opt, factor in (("gd", 2.0), ("heavy_ball", 2.0 + 2.0 * cfg.momentum)):
        edge = stability_edge(cfg, opt, 2)
        lam = [train(cfg.train_config(opt, 2, seed=s, lr=0.01, steps=0)).records[0].lambda_max_H for s in cfg.seeds]
        np.testing.assert_allclose(edge.lr_edge_by_seed, factor / np.array(lam), rtol=1e-10)
        np.testing.assert_allclose(edge.sharpness0, lam, rtol=1e-10)
        assert edge.lr_edge == pytest.approx(np.median(factor / np.array(lam)), rel=1e-12)


def test_plan_grid_is_log_spaced_across_the_edge():
    plan = plan_study(TINY)
    assert len(plan.runs) == 2 * 2 * 2  # optimizers x lrs x seeds
    assert len({s.key for s in plan.runs}) == len(plan.runs)
    for e in plan.edges:
        runs = [s for s in plan.runs if s.optimizer == e.optimizer]
        factors = sorted({round(s.lr_factor, 4) for s in runs})
        np.testing.assert_allclose(factors, [0.1, 4.0], rtol=1e-4)
        assert all(s.train.lr == s.lr and s.train.depth == 1 for s in runs)  # depth 2 = one hidden layer
    hb = [s for s in plan.runs if s.optimizer == "heavy_ball"][0]
    assert hb.conventions == ("buffer", "history") and hb.train.coords == "buffer"
    per_opt = plan_study(replace(TINY, lr_range_by_optimizer={"heavy_ball": [0.2, 0.8]}))
    hb_factors = sorted({round(s.lr_factor, 4) for s in per_opt.runs if s.optimizer == "heavy_ball"})
    gd_factors = sorted({round(s.lr_factor, 4) for s in per_opt.runs if s.optimizer == "gd"})
    np.testing.assert_allclose(hb_factors, [0.2, 0.8], rtol=1e-4)
    np.testing.assert_allclose(gd_factors, [0.1, 4.0], rtol=1e-4)
    explicit = plan_study(replace(MINI, lrs=(0.2, 0.05)))
    assert [s.lr for s in explicit.runs] == [0.05, 0.2]


# ------------------------------------------------------------------------------------------------ conventions
def test_conventions_from_snapshots_agree_with_the_trainer_and_similarity():
    """Native convention recomputed from a snapshot equals the trainer's record; similar conventions share rho."""
    from nnspec_core.training import train

    cfg = replace(TINY, optimizers=("heavy_ball", "adam"), seeds=(0,), steps=6)
    for spec in [s for s in plan_study(cfg).runs if s.lr_factor < 1]:
        res = train(spec.train)
        run = train_run(spec)
        for snap in res.snapshots[1:4]:
            rec = res.records[snap.step]
            native = _convention_indicators(spec, snap, spec.conventions[0])
            for ind in STUDY_INDICATORS:
                a, b = native[ind], getattr(rec, ind)
                assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9), (spec.optimizer, ind)
        c = run.columns
        pairs = {"heavy_ball": ("buffer", "history"), "adam": ("full_raw", "full_scaled")}[spec.optimizer]
        ok = ~np.isnan(c[f"{pairs[0]}.rho"])
        assert ok.sum() >= 6
        # the two conventions are similarity transforms of each other: same eigenvalues, different kappa(V)
        np.testing.assert_allclose(c[f"{pairs[0]}.rho"][ok], c[f"{pairs[1]}.rho"][ok], rtol=1e-7)
        assert not np.allclose(c[f"{pairs[0]}.kappa_V"][ok], c[f"{pairs[1]}.kappa_V"][ok], rtol=1e-3)


def test_gd_indicators_have_closed_forms():
    """GD: J = I - eta H is symmetric, so kappa(V) = 1 and rho = max(|1 - eta lam_max|, |1 - eta lam_min|)."""
    spec = plan_study(MINI).runs[0]
    c = train_run(spec).columns
    from nnspec_core.training import train

    recs = train(spec.train).records
    lam_max = np.array([r.lambda_max_H for r in recs])
    lam_min = np.array([r.lambda_min_H for r in recs])
    rho = np.maximum(np.abs(1 - spec.lr * lam_max), np.abs(1 - spec.lr * lam_min))
    np.testing.assert_allclose(c["theta.rho"], rho, rtol=1e-9)
    np.testing.assert_allclose(c["theta.kappa_V"], 1.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(c["theta.sharpness_ratio"], spec.lr * lam_max / 2, rtol=1e-9)
    assert np.isnan(c["theta.commutator"]).all()  # no preconditioner


# ------------------------------------------------------------------------------------------------ outputs
def test_tiny_study_writes_documented_files(tiny_dir):
    for name in ("study.json", "config.json", "run_table.csv", "runs.csv", "results.csv", "results.md"):
        assert (tiny_dir / name).is_file(), name
    assert _header(tiny_dir / "run_table.csv") == [*RUN_TABLE_COLUMNS, "phase", "phase_reason", "onset"]
    assert _header(tiny_dir / "runs.csv") == list(RUNS_COLUMNS)
    assert _header(tiny_dir / "results.csv") == list(CSV_COLUMNS)
    assert _header(tiny_dir / "claims.csv") == list(CLAIM_COLUMNS)
    assert _header(tiny_dir / "lead_times.csv") == ["rule", "indicator", "optimizer", "depth", "coords", "lead"]
    runs = _rows(tiny_dir / "runs.csv")
    assert len(runs) == 8 and {r["optimizer"] for r in runs} == {"gd", "heavy_ball"}
    assert {r["depth"] for r in runs} == {"2"}
    table = _rows(tiny_dir / "run_table.csv")
    n_rows = sum(int(r["n_records"]) * len(r["conventions"].split()) for r in runs)
    assert len(table) == n_rows
    assert {r["coords"] for r in table if r["optimizer"] == "heavy_ball"} == {"buffer", "history"}
    assert {r["phase"] for r in table} <= {"stable", "unstable", "ambiguous"}
    # the grid straddles the edge: 0.1x edge runs stay finite, 4x edge runs diverge
    for r in runs:
        assert (r["status"] == "diverged") == (float(r["lr_factor"]) > 1), r
    results = _rows(tiny_dir / "results.csv")
    rules = [r.name for r in TINY.rules]
    assert {r["rule"] for r in results} == set(rules)
    assert {(r["optimizer"], r["coords"]) for r in results} == {
        ("gd", "theta"),
        ("heavy_ball", "buffer"),
        ("heavy_ball", "history"),
    }
    gd_kappa = [r for r in results if r["indicator"] == "kappa_V" and r["optimizer"] == "gd" and r["rule"] == rules[0]]
    assert float(gd_kappa[0]["ratio"]) == pytest.approx(1.0, abs=1e-6)  # kappa(V) of GD is 1 in both phases
    assert int(gd_kappa[0]["n_runs"]) == 4
    claims = _rows(tiny_dir / "claims.csv")
    assert {c["verdict"] for c in claims} <= {"holds", "does not hold", "partly", "undetermined"}
    md = (tiny_dir / "claims.md").read_text()
    assert "ρ(J) does not separate" in md and "κ(V) separates the phases by ≈10×" in md
    doc = json.loads((tiny_dir / "study.json").read_text())
    assert doc["status"] == "complete" and doc["n_planned"] == 8 and len(doc["runs"]) == 8
    assert doc["command"].startswith("python -m nnspec_core study --preset tiny")


def test_refuses_to_overwrite_without_force_and_resumes_with_it(tiny_dir, capsys):
    npz = sorted((tiny_dir / "runs").glob("*.npz"))
    assert len(npz) == 8
    mtimes = [p.stat().st_mtime_ns for p in npz]
    before = (tiny_dir / "results.csv").read_bytes()
    assert main(["study", "--preset", "tiny", "--out", str(tiny_dir), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds this finished study; use --force" in err[0]
    assert main(["study", "--preset", "tiny", "--out", str(tiny_dir), "--force"]) == 0
    captured = capsys.readouterr()
    assert "8 runs (0 trained, 8 from cache)" in captured.out
    assert "8/8 runs (8 cached)" in captured.err  # plain-text progress bar on stderr
    assert [p.stat().st_mtime_ns for p in npz] == mtimes  # nothing retrained or rewritten
    assert (tiny_dir / "results.csv").read_bytes() == before  # deterministic statistics
    # a different study into the same directory is refused too
    assert main(["study", "--preset", "paper", "--out", str(tiny_dir), "--quiet"]) == 1
    assert "holds a different study; use --force" in capsys.readouterr().err


def test_refuses_unrelated_non_empty_directory(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("keep me")
    assert main(["study", "--preset", "tiny", "--out", str(tmp_path), "--quiet"]) == 1
    assert "exists and is not empty; use --force" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("x")
    assert main(["study", "--preset", "tiny", "--out", str(tmp_path / "file"), "--quiet"]) == 1
    assert "is a file" in capsys.readouterr().err


def test_cancel_keeps_finished_runs_and_resume_trains_only_the_rest(tmp_path):
    out = tmp_path / "s"
    seen = []

    def cancel_after_one(ev):
        seen.append(ev.done)
        return ev.done < 1

    first = run_study(MINI, out, progress=cancel_after_one)
    assert first.cancelled and first.stats is None and len(first.runs) == 1 and first.n_trained == 1
    assert json.loads((out / "study.json").read_text())["status"] == "cancelled"
    assert len(list((out / "runs").glob("*.json"))) == 1
    assert not (out / "results.csv").exists()
    second = run_study(MINI, out)  # same study, interrupted: resumes without --force
    assert not second.cancelled and second.n_cached == 1 and second.n_trained == 1 and len(second.runs) == 2
    assert second.stats is not None and (out / "results.csv").is_file()


def test_cache_rejects_entries_for_other_settings(tmp_path):
    spec = plan_study(MINI).runs[0]
    cache = RunCache(tmp_path)
    assert cache.load(spec) is None
    result = train_run(spec)
    cache.save(result)
    loaded = cache.load(spec)
    assert loaded is not None and cache.n_loaded == 1
    for k, v in result.columns.items():
        np.testing.assert_array_equal(loaded.columns[k], v)
    other = replace(spec, train=replace(spec.train, lr=spec.lr * 2))  # same key, different settings
    assert cache.load(other) is None
    npz, js = cache.paths(spec.key)
    js.unlink()  # half-written entry (no JSON marker) is not a cache hit
    assert cache.load(spec) is None


def test_parallel_jobs_give_the_same_runs(tmp_path):
    plan = plan_study(MINI)
    events = []
    runs, n_trained, n_cached, cancelled = execute_plan(plan, cache_dir=tmp_path, jobs=2, progress=events.append)
    assert (n_trained, n_cached, cancelled) == (2, 0, False)
    assert [r.key for r in runs] == [s.key for s in plan.runs]
    assert [e.done for e in events] == [0, 1, 2]
    for r in runs:
        ref = train_run(r.spec)
        for k in ("loss", "theta.kappa_V", "theta.rho"):
            np.testing.assert_allclose(r.columns[k], ref.columns[k], rtol=1e-10)
    with pytest.raises(ValueError, match="jobs must be >= 1; got 0"):
        execute_plan(plan, jobs=0)


# ------------------------------------------------------------------------------------------------ loading, views
def test_load_study_roundtrip_and_views(tiny_dir, tmp_path):
    res = load_study(tiny_dir)
    assert len(res.runs) == 8 and res.stats is not None
    rows = _rows(tiny_dir / "results.csv")
    assert len(res.stats.rows) == len(rows)
    for row, csv_row in zip(res.stats.rows, rows, strict=True):
        assert row.indicator == csv_row["indicator"] and row.coords == csv_row["coords"]
        a, b = row.ratio, float(csv_row["ratio"])
        assert (math.isnan(a) and math.isnan(b)) or a == b
    assert len(res.claims) == len(_rows(tiny_dir / "claims.csv"))
    assert study_directories(tiny_dir.parent) == ["tiny"]
    assert study_directories(tmp_path / "absent") == []
    grid = run_grid(res, optimizer="gd", depth=2)
    assert grid.phase.shape == (2, 2) and grid.keys.shape == (2, 2)
    assert list(grid.phase[1]) == ["diverged", "diverged"] and "diverged" not in grid.phase[0]
    traj = run_trajectory(res, str(grid.keys[1, 0]))
    assert traj.unstable.all() and traj.diverged_step == traj.steps[-1]
    assert set(traj.indicators) == {f"theta.{i}" for i in STUDY_INDICATORS}
    vals = phase_values(res, indicator="rho", optimizer="gd", depth=2, coords="theta")
    assert vals["stable"].size > 0 and vals["unstable"].size > 0
    assert np.median(vals["unstable"]) > np.median(vals["stable"])
    curves = roc_curves(res, indicators=["rho", "kappa_V"], optimizer="gd", depth=2, coords="theta")
    assert curves["rho"].auroc == pytest.approx(1.0) and curves["kappa_V"].auroc == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no runs for optimizer 'adam'"):
        phase_values(res, indicator="rho", optimizer="adam", depth=2, coords="frozen")
    with pytest.raises(ValueError, match="must hold a study"):
        load_study(tmp_path)


# ------------------------------------------------------------------------------------------------ claims
def _row(**kw) -> StatRow:
    base = {f.name: (math.nan if f.type == "float" else 0 if f.type == "int" else "") for f in fields(StatRow)}
    base.update(loro_flag=False, incr_verdict="n/a", lead_times=np.zeros(0))
    base.update(kw)
    return StatRow(**base)


@pytest.mark.parametrize(
    ("claim_kind", "kw", "verdict"),
    [
        ("rho", dict(auroc=0.52, auroc_low=0.45, auroc_high=0.6), "holds"),
        ("rho", dict(auroc=0.52, auroc_low=0.45, auroc_high=0.6, auroc_within_lr_low=0.55, auroc_within_lr_high=0.7),
         "does not hold"),
        ("rho", dict(auroc=0.7, auroc_low=0.62, auroc_high=0.8), "does not hold"),
        ("rho", dict(auroc=0.3, auroc_low=0.2, auroc_high=0.4), "does not hold"),
        ("rho", dict(auroc=math.nan), "undetermined"),
        ("kappa", dict(ratio=10.0, ratio_low=5.0, ratio_high=20.0, auroc=0.8, auroc_low=0.7, auroc_high=0.9), "holds"),
        ("kappa", dict(ratio=2.0, ratio_low=1.5, ratio_high=2.5, auroc=0.8, auroc_low=0.7, auroc_high=0.9), "partly"),
        ("kappa", dict(ratio=100.0, ratio_low=50, ratio_high=200, auroc=0.9, auroc_low=0.8, auroc_high=1.0), "partly"),
        ("kappa", dict(ratio=2.0, ratio_low=0.8, ratio_high=3.0, auroc=0.8, auroc_low=0.7, auroc_high=0.9),
         "does not hold"),
        ("kappa", dict(ratio=10.0, ratio_low=5.0, ratio_high=20.0, auroc=0.6, auroc_low=0.45, auroc_high=0.7),
         "does not hold"),
        ("kappa", dict(ratio=math.nan, auroc=0.8, auroc_low=0.7, auroc_high=0.9), "undetermined"),
        ("adds", dict(incr_verdict="adds"), "holds"),
        ("adds", dict(incr_verdict="does not add"), "does not hold"),
        ("adds", dict(incr_verdict="n/a"), "undetermined"),
    ],
)  # fmt: skip
def test_claim_verdicts(claim_kind, kw, verdict):
    from nnspec_core import studies

    claim = {"rho": studies._CLAIM_RHO, "kappa": studies._CLAIM_KAPPA, "adds": studies._CLAIM_ADDS}[claim_kind]
    assert _verdict(claim, _row(**kw)) == verdict


def test_claims_table_takes_each_figure_from_the_primary_rule_row():
    """Each claim row carries its group's primary-rule StatRow figures unchanged, and one verdict per rule."""
    from nnspec_core.phase_stats import StatsConfig, StudyStatistics
    from nnspec_core.phases import STANDARD_RULES
    from nnspec_core.studies import _CLAIM_ADDS, _CLAIM_KAPPA, _CLAIM_RHO, claims_table

    rules = STANDARD_RULES[:2]
    rng = np.random.default_rng(3)
    rows = []
    for ind in ("rho", "kappa_V"):
        for rule in rules:
            figs = {name: float(rng.uniform(0.1, 0.9)) for name in ("ratio", "auroc", "auroc_within_lr")}
            figs |= {f"{k}_low": v - 0.05 for k, v in figs.items()} | {f"{k}_high": v + 0.05 for k, v in figs.items()}
            rows.append(_row(indicator=ind, optimizer="adam", depth="2", coords="frozen", rule=rule.name,
                             n_runs=int(rng.integers(2, 50)), loro_flag=bool(rng.integers(2)), **figs))  # fmt: skip
    claims = claims_table(StudyStatistics(rows=tuple(rows), rules=rules, indicators=("rho", "kappa_V"),
                                          config=StatsConfig()))  # fmt: skip
    assert [c.claim for c in claims] == [_CLAIM_RHO, _CLAIM_KAPPA, _CLAIM_ADDS]
    primary = {r.indicator: r for r in rows if r.rule == rules[0].name}
    for c in claims:
        r = primary[c.indicator]
        for f in fields(c):
            if f.name not in ("claim", "verdict", "verdicts_by_rule"):
                assert getattr(c, f.name) == getattr(r, f.name), f.name
        assert c.verdict == _verdict(c.claim, r)
        assert c.verdicts_by_rule == "; ".join(
            f"{x.rule}: {_verdict(c.claim, x)}" for x in rows if x.indicator == c.indicator
        )


def test_run_study_without_directory_writes_nothing(tmp_path):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        res = run_study(MINI)
    finally:
        os.chdir(cwd)
    assert res.directory == "" and res.stats is not None and list(tmp_path.iterdir()) == []
    assert {c.optimizer for c in res.claims} == {"gd"}


def test_run_grid_key_lookup(tiny_dir):
    grid = run_grid(load_study(tiny_dir), optimizer="heavy_ball", depth=2)
    assert grid.key_at(grid.lrs[1] * (1 + 1e-9), "1") == grid.keys[1, 1]
    assert grid.key_at(grid.lrs[0], 0.0) == grid.keys[0, 0]
    assert grid.key_at(grid.lrs[0] * 1.1, 0) == "" and grid.key_at(grid.lrs[0], 7) == ""
    assert grid.key_at(None, "x") == ""


def test_study_command_absolute_relative_and_other_config(tiny_dir):
    from nnspec_core.studies import study_command

    res = load_study(tiny_dir)
    d = str(res.directory)
    assert study_command(res) == f"python -m nnspec_core study --config {Path(d) / 'config.json'} --out {d} --force"
    rel = study_command(res, relative=True)  # the app never shows the server's absolute path
    assert rel == "python -m nnspec_core study --config tiny/config.json --out tiny --force" and d not in rel
    assert study_command(res, relative=True, config="settings.json") == (
        "python -m nnspec_core study --config settings.json --out tiny --force"
    )
