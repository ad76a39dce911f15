"""The typed results layer: schema v1 → v2 migration of the committed boards, write/read round
trips, the one CI rule, the focus method, and the statistics against rliable."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from kdmarl_bench.cli import main
from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.analysis import stats
from kdmarl_bench.results.analysis.aggregate import improvements_of
from kdmarl_bench.results.analysis.headline import headline
from kdmarl_bench.results.model.records import CI, LatencyEntry, Leaderboard, has_ci
from kdmarl_bench.results.model.schema import SCHEMA_VERSION, validate
from kdmarl_bench.results.render.formats.gh_benchmark import to_gh_benchmark
from kdmarl_bench.results.render.markdown import headline_markdown
from kdmarl_bench.results.render.report import build_markdown
from kdmarl_bench.results.render.text import fmt_retention, fmt_score
from kdmarl_bench.results.store.boards import leaderboard_from_dict, read_leaderboard, write_leaderboard
from kdmarl_bench.results.store.migrate import migrate
from kdmarl_bench.suite import load_suite
from tests.factories import as_v1, load_board, make_leaderboard, standard_records, write_board

ROOT = Path(__file__).resolve().parents[2]
BOARDS = sorted((ROOT / "baselines").glob("*.json"))


def _leaves(obj, path=()):
    """(path, value) of every scalar in a JSON value."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, (*path, i))
    else:
        yield path, obj


def _at(obj, path):
    for p in path:
        obj = obj[p]
    return obj


# ---------------------------------------------------------------------------------------------
# committed boards: version 1 → version 2


def test_there_are_committed_boards():
    assert {p.stem for p in BOARDS} >= {"quickstart", "mpe", "smax", "sweep"}


@pytest.mark.parametrize("path", BOARDS, ids=[p.stem for p in BOARDS])
def test_committed_board_migrates_without_changing_a_number(path: Path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert validate(raw, path) == raw["schema_version"]  # valid as written, against its own version
    board = read_leaderboard(path)
    current = board.to_dict()
    assert current["schema_version"] == SCHEMA_VERSION == 3
    validate(current)  # the migrated board is a valid version-3 board
    if raw["schema_version"] < 3:
        assert board.suite.primary == "final"  # boards made before [suite] primary were read on the final point
    else:
        assert board.suite.primary == raw["suite"]["primary"]  # declared by its suite before it ran
    # every value in the file is still there, unchanged (a migration only adds fields), except the
    # CIs over seeds of rows with 2 to 4 seeds: version 3 gives them Student-t intervals
    small = {i for i, row in enumerate(raw["summary"]) if 2 <= row["n_seeds"] < 5}
    for leaf_path, value in _leaves(raw):
        if leaf_path == ("schema_version",):
            continue
        if leaf_path[0] == "summary" and leaf_path[1] in small and any("ci95" in str(p) for p in leaf_path):
            continue
        assert _at(current, leaf_path) == value, leaf_path
    for i in small:
        row = board.summary[i]
        assert row.ci_kind == "t"
        rets = [r.retention for r in board.records if r.key == row.key and r.ok and r.retention is not None]
        if len(set(rets)) > 1 and len(rets) == row.n_seeds:
            # the t interval is centred on the mean and strictly wider than the seeds' range would be
            # only when the spread allows; it is never the bootstrap's [min, max] of the seeds
            lo, hi = row.retention_ci95.lo, row.retention_ci95.hi
            assert abs((lo + hi) / 2 - row.retention_mean) < 1e-9
            assert (lo, hi) != (min(rets), max(rets))
    if raw["schema_version"] == 1:
        assert board.focus == "kd-marl"
        for r in board.records:
            for e in r.latency:
                assert e.noisy == e.timer_mismatch  # v1: noisy is the Timer cross-check
        for s in board.summary:
            for _dev, g in s.latency_summary.devices():
                assert g.noisy == g.timer_mismatch
    # the facade hands gate.py / verify.py the same migrated board as a dict
    assert load_board(path) == current


@pytest.mark.parametrize("path", BOARDS, ids=[p.stem for p in BOARDS])
def test_committed_board_round_trips(path: Path, tmp_path: Path):
    board = read_leaderboard(path)
    out = write_leaderboard(tmp_path / "board.json", board)
    again = read_leaderboard(out)
    assert again == board
    assert json.loads(out.read_text())["schema_version"] == 3
    second = write_leaderboard(tmp_path / "again.json", again)
    assert second.read_bytes() == out.read_bytes()  # writing is deterministic


def test_built_board_round_trips_and_keeps_open_fields(tmp_path: Path):
    recs = standard_records()
    recs[0]["eval_seed"] = 10_000  # a field the schema leaves open travels in Record.extra
    recs[0]["latency"][0].update(arch="ab12cd34", timing={"where": "main", "phase": "after"}, noisy=True)
    data = make_leaderboard(recs)
    board = leaderboard_from_dict(data)
    path = write_leaderboard(tmp_path / "lb.json", board)
    back = read_leaderboard(path)
    assert back == board and back.to_dict() == data
    rec = next(r for r in back.records if r.extra.get("eval_seed") == 10_000)
    entry = rec.latency_entry("cpu", 1)
    assert entry is not None and entry.arch == "ab12cd34" and entry.noisy is True
    assert entry.timing == {"where": "main", "phase": "after"}
    row = back.summary_index()[rec.key]
    assert row.latency_summary.cpu is not None and row.latency_summary.cpu.noisy is True
    md = build_markdown(back)
    line = next(li for li in md.splitlines() if li.startswith(f"| {rec.task} | {rec.method} | {rec.size} | cpu |"))
    assert line.endswith("| ⚠ yes |")  # the report's latency table shows the summary's noisy flag


def test_noisy_derived_from_timer_mismatch_when_absent():
    base = {"device": "cpu", "device_name": None, "threads": 1, "batch": 1, "mode": "decentralized",
            "p50_ms": 0.1, "p90_ms": 0.1, "p99_ms": 0.1}
    assert LatencyEntry.from_dict({**base, "timer_mismatch": True}).noisy is True
    assert LatencyEntry.from_dict({**base, "timer_mismatch": False}).noisy is False
    assert LatencyEntry.from_dict({**base, "timer_mismatch": True, "noisy": False}).noisy is False
    assert LatencyEntry.from_dict(base).noisy is None


def test_v1_dict_migrates_and_newer_is_refused(tmp_path: Path):
    lb = make_leaderboard()
    old = as_v1(lb)
    assert validate(old) == 1
    assert migrate(old) == lb and old["schema_version"] == 1  # migrate copies
    p = tmp_path / "old.json"
    p.write_text(json.dumps(old))
    assert read_leaderboard(p) == leaderboard_from_dict(lb)
    p.write_text(json.dumps({**lb, "schema_version": 4}))
    with pytest.raises(UsageError, match="old.json.*newer kdmarl-bench"):
        read_leaderboard(p)


@pytest.mark.parametrize("literal", ["NaN", "-Infinity", "1e400"])
def test_non_finite_literal_in_a_file_is_refused_naming_the_field(tmp_path: Path, literal):
    lb = make_leaderboard()
    text = json.dumps(lb).replace('"score_mean": 1.0', f'"score_mean": {literal}', 1)
    assert text != json.dumps(lb)
    p = tmp_path / "nan.json"
    p.write_text(text)
    # The writer stores a missing number as null, so a non-finite literal is damage, not data.
    with pytest.raises(UsageError, match=r"nan\.json: field 'summary\[\d+\]\.score_mean': non-finite"):
        read_leaderboard(p)


# ---------------------------------------------------------------------------------------------
# the one CI rule


def test_has_ci():
    assert has_ci([0.1, 0.2]) and has_ci((0.1, 0.2)) and has_ci(CI(0.1, 0.2))
    assert not has_ci([0.5, 0.5])  # one seed: a point, nothing to show
    assert has_ci([0.5, 0.5], informative=False)
    for bad in (None, [], [0.1], [0.1, 0.2, 0.3], [math.nan, 0.2], [0.1, math.inf], ["a", "b"], [True, 1.0]):
        assert not has_ci(bad) and not has_ci(bad, informative=False), bad
    assert CI.parse([0.1, None]) is None and CI.parse([0.1, 0.2]) == CI(0.1, 0.2)


def test_readers_follow_the_ci_rule():
    assert fmt_retention(0.5, [0.4, 0.6]) == "50.0% [40.0, 60.0]"
    assert fmt_retention(0.5, [0.5, 0.5]) == "50.0%"
    assert fmt_retention(0.5, [math.nan, 0.6]) == "50.0%"
    assert fmt_score(0.5, CI(0.4, 0.6), "win_rate") == "50.0% [40.0, 60.0]"
    one_seed = make_leaderboard([r for r in standard_records() if r["seed"] == 0], seeds=[0])
    entries = to_gh_benchmark(leaderboard_from_dict(one_seed), "bigger")
    assert entries and all("range" not in e for e in entries)  # [v, v] CIs are not ranges
    three = to_gh_benchmark(leaderboard_from_dict(make_leaderboard()), "bigger")
    assert any(e.get("range", "").startswith("95% CI [") for e in three)


# ---------------------------------------------------------------------------------------------
# the focus method


def test_focus_is_recorded_and_defaults_to_kd_marl():
    assert leaderboard_from_dict(make_leaderboard()).focus == "kd-marl"
    assert make_leaderboard(focus="bc")["suite"]["focus"] == "bc"


def _auto_records():
    recs = []
    for r in standard_records():
        if r["student"] is not None:
            r["student"]["size"] = "auto"
        recs.append(r)
    return recs


def test_focus_bc_changes_the_headline_method():
    kd_rows = headline(leaderboard_from_dict(make_leaderboard(_auto_records())))
    bc_rows = headline(leaderboard_from_dict(make_leaderboard(_auto_records(), focus="bc")))
    assert [r.method for r in kd_rows] == ["kd-marl", "kd-marl"]
    assert [r.method for r in bc_rows] == ["bc", "bc"]
    by_task = {r.task: r for r in bc_rows}
    smax = by_task["smax/3m"]
    assert smax.retention == pytest.approx(0.6)  # bc's own numbers: 0.5, 0.6, 0.7 of a teacher at 1.0
    # baselines are action-imitation methods other than the focus: kd-marl (structure) is not one
    assert smax.best_baseline is None and smax.baseline_retention is None and smax.poi is None
    assert not smax.claim_met
    assert "bc retention [95% CI]" in headline_markdown(bc_rows)
    # an explicit focus overrides the board's
    assert [r.method for r in headline(leaderboard_from_dict(make_leaderboard(_auto_records())), focus="bc")] == ["bc", "bc"]


def test_focus_decides_whose_probability_of_improvement_is_stored_and_reported():
    kd = leaderboard_from_dict(make_leaderboard())
    bc = leaderboard_from_dict(make_leaderboard(focus="bc"))
    assert [a.method for a in bc.aggregate if a.probability_of_improvement is not None] == ["bc"]
    assert [a.method for a in kd.aggregate if a.probability_of_improvement is not None] == ["kd-marl"]
    (bc_vs_kd,) = [p for _a, p in improvements_of(bc) if p.method == "kd-marl"]
    assert bc_vs_kd.value == pytest.approx(0.0)  # bc is below kd-marl on every seed of both tasks
    # any method can be asked for, stored or not: the same numbers either way
    assert [p for _a, p in improvements_of(kd, "bc")] == [p for _a, p in improvements_of(bc)]
    md = build_markdown(bc)
    assert "P(bc > other)" in md and "## Probability of improvement (bc vs each baseline)" in md
    assert "| small | kd-marl | small |" in md  # with bc in focus, kd-marl is a baseline


def test_suite_focus_setting(tmp_path: Path):
    text = '[suite]\nname = "f"\nfocus = "bc"\ntasks = ["smax/3m"]\nmethods = ["teacher", "kd-marl", "bc"]\n'
    p = tmp_path / "f.toml"
    p.write_text(text)
    suite = load_suite(p)
    assert suite.focus == "bc" and suite.info()["focus"] == "bc"
    p.write_text(text.replace('focus = "bc"\n', ""))
    assert load_suite(p).focus == "kd-marl"
    p.write_text(text.replace('focus = "bc"', 'focus = "bcc"'))
    with pytest.raises(UsageError) as exc:
        load_suite(p)
    msg = str(exc.value)
    for needle in (str(p), "suite.focus", "unknown method 'bcc'", "did you mean: bc", "valid choices: kd-marl, bc"):
        assert needle in msg, (needle, msg)


def test_unknown_focus_exits_2(runner, tmp_path: Path):
    p = tmp_path / "bad.toml"
    p.write_text('[suite]\nname = "f"\nfocus = "kdmarl"\ntasks = ["smax/3m"]\nmethods = ["teacher", "kd-marl"]\n')
    res = runner.invoke(main, ["plan", str(p)])
    assert res.exit_code == 2, res.output
    assert "did you mean: kd-marl" in res.output and "Traceback" not in res.output


# ---------------------------------------------------------------------------------------------
# statistics against rliable


def _import_rliable():
    """rliable's ``metrics`` and ``library`` modules.

    ``rliable.library`` imports ``arch`` (< 8), whose 7.x releases call pandas'
    ``deprecate_kwarg(old, new)`` at import time; pandas 3 wants a warning class first. Only for
    that import, the old call form is mapped onto the new one (arch uses it on one plotting method).
    """
    metrics = pytest.importorskip("rliable.metrics")
    try:
        from rliable import library
    except TypeError:
        import pandas.util._decorators as decorators

        original = decorators.deprecate_kwarg

        def old_form(*args, **kwargs):
            if args and isinstance(args[0], str):
                return original(FutureWarning, *args, **kwargs)
            return original(*args, **kwargs)

        decorators.deprecate_kwarg = old_form
        try:
            from rliable import library
        finally:
            decorators.deprecate_kwarg = original
    return metrics, library


@pytest.fixture(scope="module")
def matrices():
    rng = np.random.default_rng(7)
    x = rng.normal(0.9, 0.08, size=(10, 4))  # runs × tasks
    y = rng.normal(0.8, 0.1, size=(8, 4))
    y[:, 2] = x[:8, 2]  # ties on one task
    return x, y


def test_stats_equal_rliable(matrices):
    rly_metrics, rly = _import_rliable()
    x, y = matrices
    # point estimates: identical
    assert stats.aggregate_iqm(x) == pytest.approx(float(rly_metrics.aggregate_iqm(x)), abs=1e-12)
    assert stats.aggregate_mean(x) == pytest.approx(float(rly_metrics.aggregate_mean(x)), abs=1e-12)
    taus = np.asarray(stats.PROFILE_TAUS)
    expected_profile = rly.score_distributions(x, taus)
    np.testing.assert_allclose(stats.performance_profile(x, taus), expected_profile, atol=1e-12)
    p, p_lo, p_hi = stats.probability_of_improvement(x, y, n_resamples=2000, random_state=0)
    assert p == pytest.approx(float(rly_metrics.probability_of_improvement(x, y)), abs=1e-12)

    # stratified bootstrap CIs: the same percentile intervals up to resampling noise (fixed seeds)
    reps, tol = 2000, 0.005  # the intervals are ~0.04 wide; observed differences < 0.002
    rs = np.random.RandomState(0)
    points, cis = rly.get_interval_estimates(
        {"x": x}, lambda s: np.array([rly_metrics.aggregate_iqm(s), rly_metrics.aggregate_mean(s)]),
        reps=reps, random_state=rs,
    )
    iqm, iqm_lo, iqm_hi = stats.stratified_bootstrap_ci(x, stats.aggregate_iqm, n_resamples=reps)
    mean, mean_lo, mean_hi = stats.stratified_bootstrap_ci(x, stats.aggregate_mean, n_resamples=reps)
    assert (iqm, mean) == pytest.approx(tuple(points["x"]), abs=1e-12)
    assert [iqm_lo, mean_lo] == pytest.approx(list(cis["x"][0]), abs=tol)
    assert [iqm_hi, mean_hi] == pytest.approx(list(cis["x"][1]), abs=tol)
    width = iqm_hi - iqm_lo
    assert width > 0.03  # a real interval, so the tolerance above is a real check

    _, poi_cis = rly.get_interval_estimates(
        {"x,y": [x, y]}, lambda a, b: np.array([rly_metrics.probability_of_improvement(a, b)]),
        reps=reps, random_state=np.random.RandomState(0),
    )
    assert [p_lo, p_hi] == pytest.approx([poi_cis["x,y"][0][0], poi_cis["x,y"][1][0]], abs=0.015)

    # performance-profile bands (what rliable.create_performance_profile computes, with a fixed seed)
    _, prof_cis = rly.get_interval_estimates(
        {"x": x}, lambda s: rly.score_distributions(s, taus), reps=reps, random_state=np.random.RandomState(0)
    )
    _, lo, hi = stats.performance_profile_ci(x, taus, n_resamples=reps)
    step = 1 / x.size  # the fractions move in steps of one run
    np.testing.assert_allclose(lo, prof_cis["x"][0], atol=1.5 * step)
    np.testing.assert_allclose(hi, prof_cis["x"][1], atol=1.5 * step)


def test_typed_board_is_what_readers_get(tmp_path: Path):
    path = write_board(tmp_path / "lb.json", make_leaderboard())
    board = read_leaderboard(path)
    assert isinstance(board, Leaderboard)
    row = board.summary_index()[("smax/3m", "kd-marl", "small")]
    assert isinstance(row.retention_ci95, CI) and row.retention_ci95.lo <= 0.95 <= row.retention_ci95.hi
    rec = board.records[0]
    assert isinstance(rec.latency[0], LatencyEntry) and rec.size in ("full", "small")


# ---------------------------------------------------------------------------------------------
# deployment columns: weights bytes and the best path


def _entry(path, p50, passed=None):
    e = {"device": "cpu", "device_name": "x", "threads": 1, "batch": 1, "mode": "decentralized", "p50_ms": p50,
         "p90_ms": p50, "p99_ms": p50, "path": path}
    if passed is not None:
        e["equivalence"] = {"passed": passed}
    return e


def test_summary_best_path_skips_failed_equivalence_and_carries_weights():
    from kdmarl_bench.results.analysis.aggregate import _best_path
    from kdmarl_bench.results.model.records import Record
    from tests.factories import make_record

    rec = make_record(task="smax/3m", method="bc", seed=0, score=0.8)
    rec["memory"] = {"weights_fp32_bytes": 4000, "weights_int8_bytes": 1000}
    rec["latency"] = [_entry("eager", 0.05), _entry("torchscript", 0.02), _entry("onnxruntime", 0.01, passed=False),
                      _entry("executorch", 0.015, passed=True)]
    r = Record.from_dict(rec)
    assert _best_path([r]) == {"best_path": "executorch", "best_path_p50_ms": 0.015}
    assert r.weights_bytes == 4000.0


def test_markdown_leaves_out_columns_empty_on_every_row():
    from kdmarl_bench.results.render.markdown import leaderboard_markdown

    board = leaderboard_from_dict(make_leaderboard())  # factory records carry no memory; their one latency entry is eager
    lines = leaderboard_markdown(board).splitlines()
    assert "weights" not in lines[0] and "retention" in lines[0]
    assert lines[0].endswith("| best path p50 ms |") and lines[2].endswith(" eager |")
