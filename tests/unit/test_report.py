"""Leaderboard fields the report reads (latency_summary, performance_profile) and write_report."""

from __future__ import annotations

import copy
import re

import pytest

from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.model.schema import validate
from kdmarl_bench.results.render.report import default_out_dir, write_report
from tests.factories import (
    as_v1,
    latency_summary,
    make_leaderboard,
    make_record,
    standard_records,
    summary_index,
    typed,
    with_derived_fields,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def lb() -> dict:
    return make_leaderboard()


def _timed(seed: int, p50: float, timer: float, mismatch: bool, cv: float, cuda: float | None = None) -> dict:
    rec = make_record("smax/3m", "kd-marl", seed, 0.9, 1.0, p50=p50)
    cpu1 = rec["latency"][0]
    cpu1.update(timer_median_ms=timer, timer_mismatch=mismatch, cv=cv, throughput_decisions_per_s=1e3 / p50)
    if cuda is not None:
        rec["latency"].append(
            {
                "device": "cuda",
                "device_name": "Test GPU",
                "threads": None,
                "batch": 1,
                "mode": "decentralized",
                "p50_ms": cuda,
                "p90_ms": cuda * 1.1,
                "p99_ms": cuda * 1.3,
                "cv": 0.01,
                "timer_median_ms": cuda,
                "timer_mismatch": False,
            }
        )
    return rec


# ---------------------------------------------------------------------------------------------
# leaderboard fields


def test_latency_summary_by_hand():
    recs = [_timed(0, 0.02, 0.021, False, 0.01, cuda=0.10), _timed(1, 0.04, 0.06, True, 0.05, cuda=0.20)]
    s = latency_summary(recs)
    cpu = s["cpu"]
    assert (cpu["device"], cpu["threads"], cpu["batch"], cpu["mode"]) == ("cpu", 1, 1, "decentralized")
    assert cpu["n_seeds"] == 2
    assert cpu["p50_ms"] == pytest.approx(0.03)  # mean of 0.02 and 0.04
    assert cpu["p90_ms"] == pytest.approx(0.036) and cpu["p99_ms"] == pytest.approx(0.045)
    assert cpu["timer_median_ms"] == pytest.approx(0.0405)
    assert cpu["timer_mismatch"] is True  # any seed
    assert cpu["cv_max"] == pytest.approx(0.05)
    assert cpu["throughput_decisions_per_s"] == pytest.approx((5e4 + 2.5e4) / 2)
    cuda = s["cuda"]
    assert cuda["device_name"] == "Test GPU" and cuda["threads"] is None
    assert cuda["p50_ms"] == pytest.approx(0.15) and cuda["timer_mismatch"] is False
    # no latency entries at all → nulls
    assert latency_summary([make_record("smax/3m", "bc", 0, 0.5, 1.0, p50=None)]) == {
        "cpu": None,
        "cuda": None,
    }


def test_summary_has_latency_summary_and_validates():
    recs = [r for r in standard_records() if not (r["task"] == "smax/3m" and r["method"] == "kd-marl")]
    recs += [_timed(s, 0.02 + 0.01 * s, 0.03, s == 2, 0.02 * s) for s in range(3)]
    data = make_leaderboard(recs)
    validate(data)
    row = summary_index(data)[("smax/3m", "kd-marl", "small")]
    cpu = row["latency_summary"]["cpu"]
    assert cpu["p50_ms"] == pytest.approx(0.03) and cpu["timer_mismatch"] is True
    assert cpu["cv_max"] == pytest.approx(0.04) and row["latency_summary"]["cuda"] is None
    assert cpu["p50_ms"] == pytest.approx(row["latency_cpu_p50_ms"])


def test_aggregate_performance_profile_by_hand(lb):
    agg = {(a["method"], a["size"]): a for a in lb["aggregate"]}
    prof = agg[("kd-marl", "small")]["performance_profile"]
    assert prof["taus"][0] == 0.0 and prof["taus"][-1] == 1.2 and len(prof["taus"]) == 25
    frac = dict(zip(prof["taus"], prof["fraction"], strict=True))
    # retentions 0.9, 0.95, 1.0 (smax) and 0.875, 0.9, 0.925 (mpe)
    assert frac[0.85] == 1.0
    assert frac[0.9] == pytest.approx(3 / 6)  # 0.95, 1.0, 0.925
    assert frac[0.95] == pytest.approx(1 / 6)  # 1.0
    assert frac[1.0] == 0.0
    for lo, f, hi in zip(prof["ci95_lo"], prof["fraction"], prof["ci95_hi"], strict=True):
        assert 0.0 <= lo <= f <= hi <= 1.0
    bc = dict(zip(prof["taus"], agg[("bc", "small")]["performance_profile"]["fraction"], strict=True))
    assert bc[0.6] == pytest.approx(3 / 6)  # 0.7, 0.625, 0.75
    assert lb["protocol"]["bootstrap"]["n_resamples"] == 200  # the CIs' settings are recorded


def test_schema_stays_strict_on_the_new_fields(lb):
    bad = copy.deepcopy(lb)
    bad["aggregate"][0]["performance_profile"]["fraction"][0] = 1.5
    with pytest.raises(UsageError, match="performance_profile"):
        validate(bad)
    bad = copy.deepcopy(lb)
    bad["summary"][0]["latency_summary"]["tpu"] = None
    with pytest.raises(UsageError, match="latency_summary"):
        validate(bad)
    bad = copy.deepcopy(lb)
    del bad["summary"][0]["latency_summary"]["cpu"]["p99_ms"]
    with pytest.raises(UsageError, match="p99_ms"):
        validate(bad)


def test_old_leaderboards_still_validate_and_get_the_fields(lb):
    old = as_v1(lb)
    for row in old["summary"]:
        del row["latency_summary"]
    for a in old["aggregate"]:
        del a["performance_profile"]
    validate(old)  # optional in schema version 1
    upgraded = with_derived_fields(old)  # the v1 → v2 migration computes them from the records
    validate(upgraded)
    assert upgraded["summary"] == lb["summary"] and upgraded["aggregate"] == lb["aggregate"]
    assert "latency_summary" not in old["summary"][0]  # the input is not modified
    current = copy.deepcopy(lb)
    del current["summary"][0]["latency_summary"]
    with pytest.raises(UsageError, match="latency_summary"):
        validate(current)  # required in schema version 2


# ---------------------------------------------------------------------------------------------
# write_report


def _images(md: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)


def _check_report(rep, out) -> str:
    assert rep.markdown == out / "report.md" and rep.markdown.is_file()
    for p in rep.plots:
        assert p.parent == out and p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 5000
    md = rep.markdown.read_text(encoding="utf-8")
    linked = _images(md)
    assert sorted(linked) == sorted(p.name for p in rep.plots)  # every plot embedded, by relative path
    assert all((out / name).is_file() for name in linked)
    return md


def test_report_standard(lb, tmp_path):
    rep = write_report(typed(lb), tmp_path / "r", source="lb.json")
    md = _check_report(rep, tmp_path / "r")
    assert {p.name for p in rep.plots} == {
        "pareto_smax_3m.png",
        "pareto_mpe_simple_spread.png",
        "aggregate_retention.png",
        "probability_of_improvement.png",
        "performance_profiles.png",
    }
    assert rep.notes == []
    assert "| task | method | size | score (95% CI) |" in md  # render.leaderboard_markdown
    assert (
        "## Latency" in md and "| p50 ms | p90 ms | p99 ms | Timer median ms | Timer check | CV max |" in md
    )
    assert "| smax/3m | kd-marl | small | cpu | Test CPU | 1 | 1 | 3 | 0.0200 | 0.0240 | 0.0300 |" in md
    assert "| small | bc | small | 2 | 1.000 |" in md  # P(kd-marl > bc) = 1
    assert "200 resamples, random_state 0" in md and "Leaderboard: `lb.json`" in md
    assert "No failed cells." in md


def test_report_without_kd_marl_with_failed_cells(tmp_path):
    recs = [r for r in standard_records() if r["method"] != "kd-marl"]
    recs += [make_record("smax/3m", "dagger", s, None, 1.0, error="NaN loss") for s in range(3)]
    rep = write_report(typed(make_leaderboard(recs)), tmp_path)
    md = _check_report(rep, tmp_path)
    assert "probability_of_improvement.png" not in {p.name for p in rep.plots}
    assert any("No KD-MARL" in n for n in rep.notes)
    assert "Not available: the leaderboard has no KD-MARL results" in md
    assert md.count("| NaN loss |") == 3
    assert "failed (3)" in md  # the leaderboard row of the failed method


def test_report_single_task_single_seed_return_metric(tmp_path):
    recs = [r for r in standard_records() if r["task"] == "mpe/simple_spread" and r["seed"] == 0]
    rep = write_report(typed(make_leaderboard(recs, seeds=[0])), tmp_path)
    md = _check_report(rep, tmp_path)
    assert len(rep.plots) == 4 and "pareto_mpe_simple_spread.png" in md  # one task: one Pareto plot


def test_report_when_nothing_has_a_retention(tmp_path):
    recs = [make_record("smax/3m", "teacher", 0, 1.0)]
    recs += [make_record("smax/3m", "kd-marl", s, None, 1.0, error="boom") for s in range(2)]
    rep = write_report(typed(make_leaderboard(recs, seeds=[0, 1])), tmp_path)
    _check_report(rep, tmp_path)
    assert [p.name for p in rep.plots] == ["pareto_smax_3m.png", "performance_profiles.png"]
    assert len(rep.notes) == 2


def test_report_reads_an_old_leaderboard_and_default_dir(lb, tmp_path):
    old = as_v1(lb)
    for row in old["summary"]:
        del row["latency_summary"]
    for a in old["aggregate"]:
        del a["performance_profile"]
    md = _check_report(write_report(typed(old), tmp_path), tmp_path)
    assert "| mpe/simple_spread | teacher | full | cpu |" in md
    assert default_out_dir(tmp_path / "runs" / "leaderboard.json") == (tmp_path / "runs" / "report").resolve()


def test_report_into_a_file_path_is_a_usage_error(lb, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot create the report directory"):
        write_report(typed(lb), blocker / "r")


def test_tick_count_is_short_for_round_counts():
    from kdmarl_bench.results.render.report.style import tick_count

    assert [tick_count(v) for v in (5, 1000, 10_000, 50_000, 1.5e6, 2e9)] == ["5", "1k", "10k", "50k", "1.5M", "2G"]


# ---------------------------------------------------------------------------------------------
# sections, roles and plots that scale


def _with_control_and_variant() -> dict:
    """standard_records plus a scratch control far below (−0.5 retention on smax/3m) and a kd-marl variant."""
    recs = standard_records()
    for seed in range(3):
        recs.append(make_record("smax/3m", "scratch", seed, -0.5, 1.0, flops=1000.0))
        recs.append(make_record("smax/3m", "kd-marl-no-adv", seed, 0.85, 1.0, flops=1000.0, base_method="kd-marl"))
    return make_leaderboard(recs)


def test_control_methods_are_the_registrys_methods_without_a_teacher():
    from kdmarl_bench.methods import METHODS

    assert {name for name, cls in METHODS.items() if cls.kind == "control"} == {
        name for name, cls in METHODS.items() if cls.trains_student and not cls.uses_teacher}


def test_probability_of_improvement_only_against_baselines(tmp_path):
    from kdmarl_bench.results.render.report.improvement import poi_rows
    from kdmarl_bench.results.render.report.style import role
    from kdmarl_bench.results.store.boards import leaderboard_from_dict

    board = leaderboard_from_dict(_with_control_and_variant())
    assert [role(board, m) for m in ("teacher", "kd-marl", "kd-marl-no-adv", "scratch", "bc")] == [
        "teacher", "focus", "variant", "control", "baseline"]
    assert [(p.method, p.size) for _a, p in poi_rows(board)] == [("bc", "small")]
    md = write_report(board, tmp_path).markdown.read_text()
    section = md[md.index("## Probability of improvement"):md.index("## Performance profiles")]
    assert "| bc |" in section and "teacher" not in section and "scratch" not in section and "no-adv" not in section


def test_too_few_runs_are_said_so(tmp_path):
    recs = [r for r in standard_records() if r["seed"] < 2]
    md = write_report(typed(make_leaderboard(recs, seeds=[0, 1])), tmp_path).markdown.read_text()
    assert "too few runs to judge (2 per task; needs ≥ 3)" in md
    assert "1 of 1 comparisons have fewer than 3 runs per task" in md


def test_aggregate_axis_is_fitted_to_the_compared_methods():
    from kdmarl_bench.results.render.report.aggregate import axis_limits
    from kdmarl_bench.results.render.report.style import students
    from kdmarl_bench.results.store.boards import leaderboard_from_dict

    board = leaderboard_from_dict(_with_control_and_variant())
    scratch = next(a for a in board.aggregate if a.method == "scratch")
    lo, hi = axis_limits(board, students(board), "mean_retention")
    assert scratch.mean_retention is not None and scratch.mean_retention < lo  # drawn off axis, not stretching it
    assert lo > 0.3 and hi >= 1.0


def test_pareto_axis_is_fitted_to_the_compared_methods(tmp_path):
    from kdmarl_bench.results.render.report.pareto import plot_task_pareto, y_limits
    from kdmarl_bench.results.store.boards import leaderboard_from_dict

    board = leaderboard_from_dict(_with_control_and_variant())
    points = [{"row": r, "y": r.retention_mean, "lo": r.retention_mean, "hi": r.retention_mean}
              for r in board.summary if r.task == "smax/3m" and r.retention_mean is not None]
    lo, _hi = y_limits(board, points)
    assert lo > 0.3  # scratch at −0.5 does not stretch it
    assert plot_task_pareto(board, "smax/3m", tmp_path / "p.png").read_bytes()[:8] == PNG_MAGIC


def test_profiles_panel_per_focus_size_with_the_best_baselines():
    from kdmarl_bench.results.render.report.profiles import panels
    from kdmarl_bench.results.store.boards import leaderboard_from_dict

    (panel,) = panels(leaderboard_from_dict(_with_control_and_variant()))
    assert [a.method for a in panel.entries] == ["kd-marl", "bc", "teacher"]  # no control, no variant


def test_sections_registered_in_order_and_markdown_without_plots(lb):
    from kdmarl_bench.results.render.report import SECTIONS, build_markdown
    from kdmarl_bench.results.render.report.base import ordered_sections

    names = [s.name for s in ordered_sections()]
    assert names[:4] == ["headline", "leaderboard", "learning-curves", "pareto"] and names[-1] == "provenance"
    assert set(names) == set(SECTIONS.names())
    md = build_markdown(typed(lb))
    assert "## Aggregate retention across tasks" in md and "![" not in md  # nothing drawn
