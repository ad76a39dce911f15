"""What users see (issue 23): noise marks, compare's units/significance/--common-only, views in
every export, curves in marl-eval and CSV, the deployment report section, per-agent detail."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import pytest

from kdmarl_bench.results.analysis.compare import compare, provenance_line
from kdmarl_bench.results.render.formats import export
from kdmarl_bench.results.render.report.deployment import deployment_section, int8_markdown
from kdmarl_bench.results.render.text import (
    LEADERBOARD_COLUMNS,
    NOISY_MARK,
    agents_rows,
    compare_rows,
    leaderboard_rows,
    noise_notes,
)
from kdmarl_bench.results.store.boards import leaderboard_from_dict
from tests.factories import make_leaderboard, make_record, standard_records, typed

P50, SPEEDUP, TRAIN = (LEADERBOARD_COLUMNS.index(c) for c in ("CPU p50 ms", "speed-up ×", "train s"))
LIMITED = str(Path(__file__).resolve().parents[2] / "baselines" / "limited.json")


def _noisy(records, task, method):
    out = copy.deepcopy(records)
    for r in out:
        if r["task"] == task and r["method"] == method:
            for e in r["latency"]:
                e["noisy"] = True
    return out


# ---------------------------------------------------------------------------------------------- noise


def test_a_noisy_p50_and_every_speed_up_from_it_carry_the_mark():
    board = make_leaderboard(_noisy(standard_records(), "smax/3m", "teacher"))
    rows = {(r[0], r[1]): r for r in leaderboard_rows(typed(board))}
    assert rows[("smax/3m", "teacher")][P50] == f"0.080 {NOISY_MARK}"
    # the teacher's p50 is the numerator of every smax/3m speed-up: none is a plain number
    assert rows[("smax/3m", "kd-marl")][SPEEDUP] == f"4.00× {NOISY_MARK}"
    assert rows[("smax/3m", "kd-marl")][P50] == "0.020"  # the student's own p50 was clean
    assert NOISY_MARK not in "".join(rows[("mpe/simple_spread", "kd-marl")])
    (note,) = noise_notes(typed(board))
    assert note.startswith(NOISY_MARK) and "1 of 6 rows" in note
    assert noise_notes(typed(make_leaderboard())) == []


def test_train_wall_time_is_a_cost_column():
    rows = {(r[0], r[1]): r for r in leaderboard_rows(typed(make_leaderboard()))}
    assert rows[("smax/3m", "kd-marl")][TRAIN] == "1.5" and rows[("smax/3m", "teacher")][TRAIN] == "—"


# --------------------------------------------------------------------------------------------- compare


def test_compare_relative_change_units_and_significance():
    base = make_leaderboard()
    worse = standard_records()
    for r in worse:  # bc on smax/3m loses 0.3 win rate on every seed: a real drop over 3 seeds
        if r["task"] == "smax/3m" and r["method"] == "bc":
            r["score"] -= 0.3
            r["win_rate"] = r["score"]
            r["episode_scores"] = [r["score"]] * 4
    rows = compare([("a", typed(base)), ("b", typed(make_leaderboard(worse)))])
    bc = next(r for r in rows if (r["task"], r["method"]) == ("smax/3m", "bc"))["entries"][1]
    assert bc["significant"] and bc["retention_diff_ci95"][1] < 0
    assert bc["rel_retention"] == pytest.approx(-0.3 / 0.6)
    kd = next(r for r in rows if (r["task"], r["method"]) == ("smax/3m", "kd-marl"))["entries"][1]
    assert not kd["significant"] and kd["rel_retention"] == 0.0
    cells = compare_rows(rows)
    line = next(c for c in cells if c[3] == "b" and "-30.0 pp" in c[7])
    assert line[7] == "-30.0 pp (-50%) *" and line[5] == "-30.0 pp"
    assert all(c[7].endswith("pp (+0%)") for c in cells if c[3] == "b" and c is not line)
    p50 = [c[11] for c in cells if c[3] == "b"]
    assert all(x.endswith(" ms (+0%)") for x in p50)


def test_compare_common_only_and_provenance():
    small = [r for r in standard_records() if r["method"] != "bc"]
    full = compare([("a", typed(make_leaderboard())), ("b", typed(make_leaderboard(small)))])
    common = compare([("a", typed(make_leaderboard())), ("b", typed(make_leaderboard(small)))], common_only=True)
    assert len(full) == 6 and len(common) == 4
    assert all(e["present"] for r in common for e in r["entries"])
    line = provenance_line("a", typed(make_leaderboard()))
    assert line.startswith("a: Test CPU, 1 threads") and "torch 2.13.0" in line and "commit unknown" in line


# ----------------------------------------------------------------------------------- views and exports


def _viewed(view="hetero", curve=True):
    recs = standard_records()
    for r in recs:
        if r["task"] == "smax/3m":
            r["view"], r["teacher_kind"] = view, "privileged"
        if curve and r["method"] != "teacher":
            r["curve"] = [{"env_steps": n, "score": r["score"], "episode_scores": r["episode_scores"],
                           "retention": r["retention"]} for n in (250, 500, 1000)]
    return make_leaderboard(recs)


def test_marl_eval_has_one_step_per_curve_point_and_names_the_view():
    data = json.loads(export(typed(_viewed()), "marl-eval")[0])
    assert set(data["smax"]) == {"3m@hetero"}
    run = data["smax"]["3m@hetero"]["kd-marl:small"]["run_0"]
    assert [run[f"step_{k}"]["step_count"] for k in (1, 2, 3)] == [250, 500, 1000]
    assert "step_4" not in run and run["absolute_metrics"]["win_rate"] == [0.9]
    teacher = data["smax"]["3m@hetero"]["teacher"]["run_0"]
    assert [teacher[f"step_{k}"]["step_count"] for k in (1, 2, 3)] == [250, 500, 1000]
    # without curves: one step at the budget, as before
    plain = json.loads(export(typed(make_leaderboard()), "marl-eval")[0])
    assert set(plain["smax"]["3m"]["kd-marl:small"]["run_0"]) == {"step_1", "absolute_metrics"}


def test_csv_has_curve_rows_and_the_new_columns():
    rows = list(csv.DictReader(io.StringIO(export(typed(_viewed()), "csv")[0])))
    final = [r for r in rows if r["point"] == "final"]
    assert len(final) == 18 and len(rows) == 18 + 12 * 2  # 12 students × the 250 and 500 points
    kd = [r for r in rows if r["task"] == "smax/3m@hetero" and r["method"] == "kd-marl" and r["seed"] == "0"]
    assert [(r["point"], r["env_steps"]) for r in kd] == [("curve", "250"), ("curve", "500"), ("final", "1000")]
    f = kd[-1]
    assert f["view"] == "hetero" and f["teacher_kind"] == "privileged" and f["widths"] == "16x16/16x16"
    assert f["train_wall_s"] == "1.5" and f["eval_episodes"] == "4"


def test_gh_benchmark_names_carry_the_view():
    names = [e["name"] for e in json.loads(export(typed(_viewed()), "gh-benchmark-bigger")[0])]
    assert "smax/3m@hetero kd-marl [small] retention" in names
    assert not any(n.startswith("smax/3m ") for n in names)


# ---------------------------------------------------------------------------------------- deployment


def _deploy_records():
    recs = []
    for seed in (0, 1):
        for method, p50s, flops in (("teacher", (0.16, 0.09), 8000.0), ("kd-marl", (0.05, 0.012), 500.0)):
            r = make_record("mpe/simple_spread", method, seed, -20.0 if method == "teacher" else -25.0, -20.0,
                            flops, p50s[0], random_score=-100.0)
            eq = {"max_abs_diff": 1e-6, "action_agreement": 1.0, "n": 256, "atol": 1e-5, "passed": True}
            r["latency"].append({**r["latency"][0], "path": "onnxruntime", "p50_ms": p50s[1], "p90_ms": p50s[1],
                                 "p99_ms": p50s[1], "equivalence": eq, "file_bytes": 44000})
            if method != "teacher":
                r["int8"] = {"retention": 0.9, "bytes": 27000, "latency": {"p50_ms": 0.017},
                             "equivalence": {**eq, "action_agreement": 0.988, "passed": False, "atol": None}}
            recs.append(r)
    return recs


def test_deployment_section_compares_on_the_same_runtime_and_shows_failed_checks():
    md = deployment_section(leaderboard_from_dict(make_leaderboard(_deploy_records(), seeds=[0, 1])), None).markdown
    assert "## Deployment" in md and "### int8 twins" in md
    ort = next(ln for ln in md.splitlines() if "| onnxruntime |" in ln)
    assert "| 0.012 | 0.090 | 7.50× | 44.0 kB | passed (2 of 2) |" in ort  # teacher's p50 on ONNX Runtime too
    i8 = next(ln for ln in int8_markdown(typed(make_leaderboard(_deploy_records(), seeds=[0, 1]))).splitlines()
              if "kd-marl" in ln)
    assert "| 0.012 | 0.017 | 1.42× |" in i8 and "**FAILED** on 2 of 2 seeds, actions agree 98.8%" in i8
    assert "per-call cost" in md and "16× fewer FLOPs" in md


def test_deployment_section_says_when_there_is_nothing_to_show():
    md = deployment_section(leaderboard_from_dict(make_leaderboard()), None).markdown
    assert "No deployment path beyond eager" in md


def test_agents_rows_per_agent():
    rows = agents_rows(typed(make_leaderboard()), "smax/3m")
    kd = [r for r in rows if r[0] == "kd-marl"]
    assert kd[0][:4] == ["kd-marl", "small", "0", "16×16"]
    assert len([r for r in rows if r[0] in ("kd-marl", "bc")]) == 2  # one row each, then "" continuation
    assert len(rows) == 3 * 2


# ------------------------------------------------------------------------------- small-sample honesty


def test_performance_profile_steps_at_exact_run_values():
    from kdmarl_bench.results.render.report.profiles import step_profile

    board = leaderboard_from_dict(make_leaderboard())
    teacher = next(a for a in board.aggregate if a.method == "teacher")
    prof = step_profile(board, teacher, 0.5, 1.2)
    # every teacher run is exactly 1.0: the fraction above τ is 1 up to 1.0, then 0; no slope
    assert prof.taus == [0.5, 1.0, 1.2] and prof.fraction == [1.0, 0.0, 0.0]
    kd = next(a for a in board.aggregate if a.method == "kd-marl")
    prof = step_profile(board, kd, 0.0, 1.2)
    values = sorted(r["retention"] for r in board.to_dict()["records"] if r["method"] == "kd-marl")
    assert prof.taus[1:-1] == sorted(set(values))  # breakpoints are the runs' own retentions
    assert all(lo <= f <= hi for f, lo, hi in zip(prof.fraction, prof.lo, prof.hi, strict=True))


def test_pareto_membership_is_judged_within_the_cis():
    from kdmarl_bench.results.render.report.pareto import front_within_ci

    pts = [{"x": 10, "y": 0.80, "lo": 0.70, "hi": 0.90},   # cheap
           {"x": 20, "y": 0.85, "lo": 0.60, "hi": 0.95},   # dearer, overlaps the cheap one: stays
           {"x": 30, "y": 0.40, "lo": 0.30, "hi": 0.50},   # dearer and clearly worse: out
           {"x": 5, "y": 0.50, "lo": 0.00, "hi": 0.99}]    # cheapest, wide CI: stays
    assert front_within_ci(pts) == [0, 1, 3]


def test_saturated_tasks_and_iqm_mean_disagreement():
    from kdmarl_bench.results.model.records import CI, Aggregate
    from kdmarl_bench.results.render.report.style import iqm_mean_disagree, saturated_tasks, too_few_runs

    recs = standard_records()
    for r in recs:
        if r["task"] == "smax/3m" and r["method"] == "bc":
            r["score"] = 0.99
            r["episode_scores"] = [0.99] * 4
    assert saturated_tasks(leaderboard_from_dict(make_leaderboard(recs))) == ["smax/3m"]
    assert saturated_tasks(leaderboard_from_dict(make_leaderboard())) == []
    a = Aggregate("kd-marl", "auto", 4, 12, 0.90, CI(0.87, 0.91), 0.80, CI(0.70, 0.86))
    assert iqm_mean_disagree(a) and not too_few_runs(a)
    b = Aggregate("bc", "auto", 4, 8, 0.90, CI(0.85, 0.95), 0.88, CI(0.80, 0.92))
    assert not iqm_mean_disagree(b) and too_few_runs(b)


def test_iqm_curves_across_tasks():
    from kdmarl_bench.results.render.report.learning_curves import iqm_curves

    curves = {(c.method, c.size): c for c in iqm_curves(leaderboard_from_dict(_viewed()))}
    assert set(curves) == set()  # the factory board's headline size is auto; its students are "small"
    recs = standard_records()
    for r in recs:
        if r["method"] != "teacher":
            r["student"]["size"] = "auto"
            r["curve"] = [{"env_steps": n, "score": r["score"], "episode_scores": r["episode_scores"]}
                          for n in (500, 1000)]
    board = leaderboard_from_dict(make_leaderboard(recs))
    curves = {(c.method, c.size): c for c in iqm_curves(board)}
    assert set(curves) == {("kd-marl", "auto"), ("bc", "auto")}
    kd = curves[("kd-marl", "auto")]
    assert kd.env_steps == [500, 1000] and kd.n_tasks == 2 and kd.runs_per_task == 3
    assert all(lo <= v <= hi for v, lo, hi in zip(kd.iqm, kd.lo, kd.hi, strict=True))


# ------------------------------------------------------------------------------ TASK@VIEW in --task


def test_every_task_option_takes_task_at_view():
    from click.testing import CliRunner

    from kdmarl_bench.cli import main
    from kdmarl_bench.errors import UsageError
    from kdmarl_bench.suite import load_suite

    suite = load_suite("limited")
    assert suite.only_tasks(["smax/3m@hetero"]).tasks == ("smax/3m",) == suite.only_tasks(["smax/3m"]).tasks
    with pytest.raises(UsageError, match="smax/3m@hetero"):
        suite.only_tasks(["smax/3m@full"])
    runner = CliRunner(env={"COLUMNS": "100"})
    res = runner.invoke(main, ["show", LIMITED, "--task", "smax/3m@hetero"])
    assert res.exit_code == 0 and "smax/3m@hetero" in res.output and "mpe/" not in res.output
    res = runner.invoke(main, ["show", LIMITED, "--task", "smax/3m@sight5"])
    assert res.exit_code == 2 and "did you mean" in res.output and "smax/3m@hetero" in res.output
    res = runner.invoke(main, ["show", LIMITED, "--summary", "--json", "--task", "smax/3m@hetero"])
    assert res.exit_code == 0 and {r["task"] for r in json.loads(res.output)} == {"smax/3m"}
