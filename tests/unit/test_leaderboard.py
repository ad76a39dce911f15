"""Leaderboard building, schema validation, I/O, rendering and compare."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import t as scipy_t

from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.analysis.compare import compare
from kdmarl_bench.results.model.schema import validate
from kdmarl_bench.results.render.markdown import leaderboard_markdown
from kdmarl_bench.results.render.terminal import leaderboard_table
from kdmarl_bench.results.render.text import human_count, leaderboard_rows
from kdmarl_bench.results.store.provenance import collect_provenance
from tests.factories import (
    PROVENANCE,
    build_board,
    load_board,
    make_leaderboard,
    make_record,
    standard_records,
    summary_index,
    typed,
    write_board,
)


@pytest.fixture(scope="module")
def lb() -> dict:
    return make_leaderboard()


def test_built_leaderboard_validates(lb):
    validate(lb)
    assert lb["schema"] == "kdmarl-bench/leaderboard" and lb["schema_version"] == 3
    assert lb["suite"]["focus"] == "kd-marl"  # the default focus, recorded
    assert len(lb["records"]) == 18
    assert lb["protocol"]["bootstrap"] == {"n_resamples": 200, "random_state": 0, "confidence": 0.95}


def test_summary_numbers_by_hand(lb):
    idx = summary_index(lb)
    kd = idx[("smax/3m", "kd-marl", "small")]
    assert kd["n_seeds"] == 3 and kd["n_failed"] == 0
    assert kd["score_mean"] == pytest.approx(0.95)
    assert kd["retention_mean"] == pytest.approx(0.95)  # teacher wins always
    lo, hi = kd["retention_ci95"]
    # 3 seeds: a Student-t interval (mean ± t_{0.975, 2} · s / √3), not a bootstrap of 3 values (their range)
    rets = [r["retention"] for r in lb["records"] if (r["task"], r["method"]) == ("smax/3m", "kd-marl")]
    half = scipy_t.ppf(0.975, 2) * np.std(rets, ddof=1) / np.sqrt(3)
    assert (lo, hi) == pytest.approx((0.95 - half, 0.95 + half))
    assert lo < min(rets) and hi > max(rets) and kd["ci_kind"] == "t"
    assert kd["flops"] == 1000 and kd["params"] == 500
    assert kd["flops_reduction"] == pytest.approx(8.0)  # 8000 / 1000
    assert kd["latency_cpu_p50_ms"] == pytest.approx(0.02)  # 1-thread decentralized entry
    assert kd["latency_speedup_cpu"] == pytest.approx(4.0)  # 0.08 / 0.02
    mpe = idx[("mpe/simple_spread", "kd-marl", "small")]
    # (S − R)/(T − R) with R = −100, T = −20: 70/80, 72/80, 74/80
    assert mpe["retention_mean"] == pytest.approx(0.9)
    assert mpe["score_mean"] == pytest.approx(-28.0)
    teacher = idx[("smax/3m", "teacher", "full")]
    assert teacher["retention_mean"] == 1.0 and teacher["score_ci95"] == [1.0, 1.0]
    assert teacher["flops_reduction"] == 1.0 and teacher["latency_speedup_cpu"] == 1.0
    # teacher first within each task
    order = [(r["task"], r["method"]) for r in lb["summary"]]
    assert order[0] == ("mpe/simple_spread", "teacher") and order[3] == ("smax/3m", "teacher")


def test_aggregate_by_hand(lb):
    agg = {(a["method"], a["size"]): a for a in lb["aggregate"]}
    kd = agg[("kd-marl", "small")]
    # retentions: 0.9, 0.95, 1.0 (smax) and 0.875, 0.9, 0.925 (mpe) → IQM of the middle four
    assert kd["iqm_retention"] == pytest.approx((0.9 + 0.9 + 0.925 + 0.95) / 4)
    assert kd["mean_retention"] == pytest.approx((0.95 + 0.9) / 2)
    assert kd["n_tasks"] == 2 and kd["n_runs"] == 6
    lo, hi = kd["iqm_retention_ci95"]
    assert lo <= kd["iqm_retention"] <= hi
    poi = {(p["method"], p["size"]): p for p in kd["probability_of_improvement"]}
    assert poi[("bc", "small")]["value"] == pytest.approx(1.0)
    # smax: kd-marl vs teacher 1,1,1 → only ties at 1.0: 3 × 0.5 / 9; mpe: 0 → mean 1/12
    assert poi[("teacher", "full")]["value"] == pytest.approx(1 / 12)
    assert "probability_of_improvement" not in agg[("bc", "small")]


def test_build_is_deterministic():
    assert make_leaderboard() == make_leaderboard()


def test_failed_records_are_kept_but_excluded():
    recs = standard_records()
    recs.append(make_record("smax/3m", "kd-marl", 3, None, 1.0, flops=1000.0, error="NaN loss at step 120"))
    recs.append(make_record("smax/3m", "kd-marl", 4, float("nan"), 1.0, flops=1000.0, error="NaN loss"))
    lb = make_leaderboard(recs)
    validate(lb)
    assert len(lb["records"]) == 20
    failed = [r for r in lb["records"] if r["error"]]
    assert len(failed) == 2 and all(r["score"] is None for r in failed)  # NaN → null
    kd = summary_index(lb)[("smax/3m", "kd-marl", "small")]
    assert kd["n_seeds"] == 3 and kd["n_failed"] == 2
    assert kd["score_mean"] == pytest.approx(0.95)
    assert json.loads(json.dumps(lb, allow_nan=False)) == lb  # strict JSON


def test_retention_filled_in_and_respected():
    recs = [
        make_record("smax/3m", "teacher", 0, 0.8),
        make_record("smax/3m", "kd-marl", 0, 0.6, 0.8),
        make_record("smax/3m", "bc", 0, 0.6, 0.8, retention=0.5),  # given: kept
    ]
    lb = make_leaderboard(recs, seeds=[0])
    by_method = {r["method"]: r for r in lb["records"]}
    assert by_method["kd-marl"]["retention"] == pytest.approx(0.75)
    assert by_method["teacher"]["retention"] == pytest.approx(1.0)
    assert by_method["bc"]["retention"] == 0.5
    kd = summary_index(lb)[("smax/3m", "kd-marl", "small")]
    assert kd["retention_ci95"] == pytest.approx([0.75, 0.75])  # one seed


def test_zero_teacher_win_rate_gives_null_retention():
    recs = [make_record("smax/3m", "teacher", 0, 0.0), make_record("smax/3m", "kd-marl", 0, 0.0, 0.0)]
    lb = make_leaderboard(recs, seeds=[0])
    validate(lb)
    kd = summary_index(lb)[("smax/3m", "kd-marl", "small")]
    assert kd["retention_mean"] is None and kd["retention_ci95"] is None


def test_multiple_sizes_are_separate_rows():
    recs = standard_records() + [
        make_record("smax/3m", "kd-marl", s, 0.7, 1.0, flops=250.0, p50=0.015, size="tiny") for s in range(3)
    ]
    lb = make_leaderboard(recs)
    idx = summary_index(lb)
    assert idx[("smax/3m", "kd-marl", "tiny")]["flops_reduction"] == pytest.approx(32.0)
    rows = [r for r in lb["summary"] if r["task"] == "smax/3m" and r["method"] == "kd-marl"]
    assert [r["size"] for r in rows] == ["small", "tiny"]  # larger student first


def test_broken_leaderboard_fails_validation_naming_file(lb, tmp_path: Path):
    broken = copy.deepcopy(lb)
    broken["records"][2]["score"] = "high"
    with pytest.raises(UsageError) as exc:
        validate(broken, tmp_path / "broken.json")
    msg = str(exc.value)
    assert "broken.json" in msg and "$.records[2].score" in msg and "'high'" in msg
    broken = copy.deepcopy(lb)
    del broken["summary"][0]["flops"]
    with pytest.raises(UsageError, match=r"\$\.summary\[0\].*'flops' is a required property"):
        validate(broken, "x.json")
    broken = copy.deepcopy(lb)
    broken["records"][0]["score"] = None  # no error recorded → score must be a number
    with pytest.raises(UsageError, match="failed cell"):
        validate(broken)


def test_wrong_schema_id_and_newer_version(lb):
    with pytest.raises(UsageError, match="not a kdmarl-bench leaderboard"):
        validate({"hello": 1}, "other.json")
    with pytest.raises(UsageError, match="expected a JSON object"):
        validate([1, 2], "list.json")
    newer = {**lb, "schema_version": 4}
    with pytest.raises(UsageError, match="newer kdmarl-bench"):
        validate(newer, "new.json")


def test_write_and_load_roundtrip(lb, tmp_path: Path):
    path = tmp_path / "sub" / "leaderboard.json"
    write_board(path, lb)
    assert load_board(path) == lb
    broken = copy.deepcopy(lb)
    broken["protocol"]["greedy"] = False
    with pytest.raises(UsageError, match="leaderboard.json"):
        write_board(path, broken)
    assert load_board(path) == lb  # the invalid one was never written


def test_load_errors_name_the_file(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text("this is not json")
    with pytest.raises(UsageError, match="bad.json.*not valid JSON"):
        load_board(bad)
    with pytest.raises(UsageError, match="missing.json.*not found"):
        load_board(tmp_path / "missing.json")
    with pytest.raises(UsageError, match="is a directory"):
        load_board(tmp_path)
    other = tmp_path / "other.json"
    other.write_text('{"schema": "something-else"}')
    with pytest.raises(UsageError, match="other.json.*not a kdmarl-bench leaderboard"):
        load_board(other)


def test_collect_provenance_fits_schema():
    prov = collect_provenance()
    assert set(prov) == set(PROVENANCE)
    assert isinstance(prov["git_commit"], str) and prov["git_commit"]
    assert prov["python"].count(".") == 2
    lb = build_board(
        standard_records()[:2],
        {"name": "t", "version": 1, "sha256": "ab"},
        {"eval_episodes": 32, "seeds": [0], "greedy": True, "eval_seed_base": 0},
        prov,
    )
    validate(lb)
    assert lb["protocol"]["bootstrap"] == {"n_resamples": 2000, "random_state": 0, "confidence": 0.95}


def test_git_commit_unknown_outside_checkout(monkeypatch: pytest.MonkeyPatch):
    import subprocess

    from kdmarl_bench.results.store import provenance as lbmod

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert lbmod._git_commit() == "unknown"


# --------------------------------------------------------------------------------------------- render


def test_human_count():
    assert human_count(1_234_567) == "1.2M"
    assert human_count(1500) == "1.5k"
    assert human_count(999) == "999"
    assert human_count(2.5e9) == "2.5G"
    assert human_count(None) == "—"


def test_render_rows_and_markdown(lb):
    rows = leaderboard_rows(typed(lb))
    assert rows[0][:3] == ["mpe/simple_spread", "teacher", "full"]
    smax_kd = next(r for r in rows if r[0] == "smax/3m" and r[1] == "kd-marl")
    assert smax_kd[3].startswith("95.0% [")  # win rate as %
    assert smax_kd[5] == "—"  # no sampled score on these records
    assert smax_kd[6] == "1.0k" and smax_kd[7] == "8.0×" and smax_kd[8] == "0.020" and smax_kd[9] == "4.00×"
    mpe_kd = next(r for r in rows if r[0] == "mpe/simple_spread" and r[1] == "kd-marl")
    assert mpe_kd[3].startswith("-28.00 [")  # returns with 2 decimals
    assert mpe_kd[4].startswith("90.0% [")
    md = leaderboard_markdown(typed(lb))
    lines = md.strip().splitlines()
    assert lines[0].startswith("| task | method | size |")
    assert len(lines) == 2 + len(lb["summary"])
    table = leaderboard_table(typed(lb))
    assert table.row_count == len(lb["summary"])


def test_render_failed_row():
    recs = [
        make_record("smax/3m", "teacher", 0, 1.0),
        make_record("smax/3m", "kd-marl", 0, None, 1.0, error="NaN loss"),
    ]
    rows = leaderboard_rows(typed(make_leaderboard(recs, seeds=[0])))
    assert rows[1][3] == "failed (1)"


# --------------------------------------------------------------------------------------------- compare


def test_compare_identical_has_zero_deltas(lb):
    rows = compare([("a.json", typed(lb)), ("b.json", typed(lb))])
    assert len(rows) == len(lb["summary"])
    for row in rows:
        first, second = row["entries"]
        assert first["delta_score"] is None
        assert second["delta_score"] == 0.0 and second["delta_retention"] == 0.0
        assert second["flops_ratio"] == 1.0


def test_compare_deltas_and_missing_rows(lb):
    other = make_leaderboard(
        [r for r in standard_records() if r["method"] != "bc"]
        + [make_record("smax/3m", "bc", s, 0.8, 1.0, flops=1000.0, p50=0.02) for s in range(3)]
    )
    rows = {(r["task"], r["method"], r["size"]): r for r in compare([("a", typed(lb)), ("b", typed(other))])}
    bc = rows[("smax/3m", "bc", "small")]["entries"][1]
    assert bc["delta_score"] == pytest.approx(0.2)
    missing = rows[("mpe/simple_spread", "bc", "small")]["entries"][1]
    assert missing["present"] is False and missing["delta_score"] is None


def test_compare_refuses_different_backends(lb):
    recs = standard_records()
    for r in recs:
        if r["task"] == "smax/3m":
            r["backend"] = "smacv2"
            r["backend_versions"] = {"smacv2": "1.0.0", "sc2": "4.10"}
    other = make_leaderboard(recs)
    with pytest.raises(UsageError) as exc:
        compare([("smax.json", typed(lb)), ("sc2.json", typed(other))])
    msg = str(exc.value)
    assert "smax.json" in msg and "sc2.json" in msg and "smax/3m" in msg and "different backends" in msg


def test_compare_refuses_different_major_versions(lb):
    recs = standard_records()
    for r in recs:
        if r["task"] == "mpe/simple_spread":
            r["backend_versions"] = {"mpe2": "2.0.0"}
    other = make_leaderboard(recs)
    with pytest.raises(UsageError, match="major versions of mpe2"):
        compare([("a.json", typed(lb)), ("b.json", typed(other))])
    recs = standard_records()
    for r in recs:
        if r["task"] == "mpe/simple_spread":
            r["backend_versions"] = {"mpe2": "1.2.0"}  # same major: fine
    compare([("a.json", typed(lb)), ("b.json", typed(make_leaderboard(recs)))])


def test_nan_is_never_written(lb, tmp_path: Path):
    data = copy.deepcopy(lb)
    data["summary"][0]["latency_speedup_cpu"] = math.nan
    path = write_board(tmp_path / "lb.json", data)
    assert "NaN" not in path.read_text()
    assert load_board(path)["summary"][0]["latency_speedup_cpu"] is None
