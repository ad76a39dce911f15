"""Learning curves (issue 13, item 3): the suite's ``[budget] eval_at``, cell keys, the budget hook,
the staged teacher stream, per-point retention, the summaries' curve statistics and the report plot."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from kdmarl_bench.cli import main
from kdmarl_bench.results.model.records import curve_auc
from kdmarl_bench.results.model.schema import validate
from kdmarl_bench.results.store.boards import leaderboard_from_dict
from kdmarl_bench.suite import MAX_EVAL_POINTS, load_suite, plan
from tests.factories import make_leaderboard, make_record, typed

ROOT = Path(__file__).resolve().parents[2]

SUITE = """
[suite]
name = "t"
tasks = ["mpe/simple_spread_v3", "mpe/simple_reference_v3"]
methods = ["teacher", "kd-marl", "bc"]
seeds = [0]
[budget]
env_steps = 4000
{budget}
{extra}
"""


def _write(tmp_path: Path, budget: str = "", extra: str = "") -> Path:
    p = tmp_path / "s.toml"
    p.write_text(SUITE.format(budget=budget, extra=extra))
    return p


# ---------------------------------------------------------------------------------------------
# the suite field


def test_eval_at_adds_the_final_point_and_reaches_every_student_cell(tmp_path):
    suite = load_suite(_write(tmp_path, "eval_at = [1000, 2000]", '[task."mpe/simple_reference_v3"]\nenv_steps = 3000'))
    assert suite.eval_points("mpe/simple_spread_v3") == (1000, 2000, 4000)
    assert suite.eval_points("mpe/simple_reference_v3") == (1000, 2000, 3000)
    for cell in plan(suite):
        if cell.method == "teacher":
            assert cell.eval_at == ()
        else:
            assert cell.eval_at == suite.eval_points(cell.task) and cell.eval_at[-1] == cell.env_steps
            assert cell.config()["eval_at"] == list(cell.eval_at)  # part of the key


def test_default_is_the_final_point_only_and_stays_out_of_the_key(tmp_path):
    plain = load_suite(_write(tmp_path))
    explicit = load_suite(_write(tmp_path, "eval_at = [4000]"))
    assert plain.eval_points("mpe/simple_spread_v3") == (4000,)
    for a, b in zip(plan(plain), plan(explicit), strict=True):
        assert "eval_at" not in a.config()
        assert a.config() == b.config()
    curve = load_suite(_write(tmp_path, "eval_at = [1000]"))
    students = [(a, c) for a, c in zip(plan(plain), plan(curve), strict=True) if a.method != "teacher"]
    assert students and all(a.config() != c.config() for a, c in students)


@pytest.mark.parametrize("value, fragment", [
    ("[2000, 1000]", "not strictly increasing"),
    ("[1000, 1000]", "not strictly increasing"),
    ("[0, 1000]", "not a positive integer"),
    ("[500, 5000]", "above env_steps"),
    ('["1000"]', "not a positive integer"),
    ("[]", "expected a list"),
    (str(list(range(100, 100 * (MAX_EVAL_POINTS + 1), 100))), f"{MAX_EVAL_POINTS + 1} points"),
    ("1000", "expected list"),
])
def test_bad_eval_at_exits_2_naming_file_field_and_rule(tmp_path, value, fragment):
    res = CliRunner().invoke(main, ["plan", str(_write(tmp_path, f"eval_at = {value}"))])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    for frag in ("s.toml", "budget.eval_at", fragment):
        assert frag in res.output, res.output


def test_eval_at_must_fit_a_task_with_a_smaller_budget(tmp_path):
    p = _write(tmp_path, "eval_at = [1000, 3000]", '[task."mpe/simple_reference_v3"]\nenv_steps = 2000')
    res = CliRunner().invoke(main, ["plan", str(p)])
    assert res.exit_code == 2 and "budget.eval_at" in res.output and "simple_reference_v3" in res.output, res.output
    p = _write(tmp_path, "eval_at = [1000, 3000]",
               '[task."mpe/simple_reference_v3"]\nenv_steps = 2000\neval_at = [500, 1500, 2500]')
    res = CliRunner().invoke(main, ["plan", str(p)])
    assert res.exit_code == 2 and 'task.mpe/simple_reference_v3.eval_at' in res.output, res.output
    fixed = _write(tmp_path, "eval_at = [1000, 3000]",
                   '[task."mpe/simple_reference_v3"]\nenv_steps = 2000\neval_at = [500, 1500]')
    assert load_suite(fixed).eval_points("mpe/simple_reference_v3") == (500, 1500, 2000)


def test_bundled_suites_keep_their_cell_keys():
    """No bundled suite sets eval_at: every cell config, hence every key, is what it was."""
    for name in ("quickstart", "ci", "mpe"):
        for cell in plan(load_suite(name)):
            assert "eval_at" not in cell.config()


# ---------------------------------------------------------------------------------------------
# the budget hook


class _Result:
    def __init__(self, score):
        self.score = score
        self.episode_scores = [score, score]


def _ctx(eval_at, calls):
    from kdmarl_bench.envs import get_task
    from kdmarl_bench.methods.base import DistillContext
    from kdmarl_bench.models.policy import StudentPolicy

    spec = get_task("mpe/simple_spread_v3").spec
    student = StudentPolicy(spec.obs_dims, spec.n_actions, [[8]] * spec.n_agents)

    def evaluate(policy):
        torch.rand(3)  # an evaluation that draws from the global RNG must not shift training's draws
        np.random.rand()
        policy.eval()
        calls.append(policy)
        return _Result(float(len(calls)))

    return DistillContext(spec=spec, make_env=None, teacher=None, student=student, env_steps=eval_at[-1],
                          num_envs=4, seed=0, eval_at=tuple(eval_at), evaluate=evaluate)


def test_reached_evaluates_each_intermediate_point_once_and_leaves_rngs_and_mode_alone():
    calls: list = []
    ctx = _ctx((100, 200, 300, 1000), calls)
    ctx.student.train()
    torch.manual_seed(5)
    np.random.seed(5)
    ctx.reached(64)
    assert calls == []
    ctx.reached(128)  # passes 100
    ctx.reached(150)
    ctx.reached(320)  # passes 200 and 300 at once: one evaluation serves both
    ctx.reached(1000)  # the final point is the cell's final evaluation, not the hook's
    assert len(calls) == 2
    assert [(c.env_steps, c.env_steps_used, c.score) for c in ctx.curve] == [(100, 128, 1.0), (200, 320, 2.0),
                                                                            (300, 320, 2.0)]
    assert ctx.student.training
    after = (torch.rand(1).item(), np.random.rand())
    torch.manual_seed(5)
    np.random.seed(5)
    assert after == (torch.rand(1).item(), np.random.rand())


def test_budget_spent_counts_a_stage_that_ends_just_short_of_its_point():
    calls: list = []
    ctx = _ctx((500, 1000), calls)
    ctx.reached(496)
    assert ctx.curve == []
    ctx.reached(496, budget_spent=500)
    assert [(c.env_steps, c.env_steps_used) for c in ctx.curve] == [(500, 496)]


def test_learning_curve_fills_unreached_points_with_the_final_evaluation():
    from kdmarl_bench.cells import learning_curve

    ctx = _ctx((100, 200, 300), [])
    ctx.reached(150)
    curve = learning_curve(ctx, 180, _Result(7.0))  # the method stopped at 180 < 200
    assert [(c.env_steps, c.env_steps_used, c.score) for c in curve] == [(100, 150, 1.0), (200, 180, 7.0),
                                                                        (300, 180, 7.0)]


def test_teacher_stream_in_one_stage_equals_collect_teacher_dataset():
    """The offline methods' staged collector, run to the whole budget at once, is today's dataset."""
    from kdmarl_bench.envs import get_task
    from kdmarl_bench.methods.bc import TeacherStream
    from kdmarl_bench.methods.rollout import collect_teacher_dataset
    from kdmarl_bench.models.policy import TeacherPolicy

    task = get_task("mpe/simple_spread_v3")
    spec = task.spec
    torch.manual_seed(0)
    teacher = TeacherPolicy(spec.obs_dims, spec.n_actions, spec.state_dim, (16,), (16,))
    budget, cap = 200, 120  # a reservoir smaller than the budget: its draws must match too
    env = task.make(4)
    try:
        ref, used = collect_teacher_dataset(env, teacher, budget, 3, torch.Generator().manual_seed(3), cap)
    finally:
        env.close()
    env = task.make(4)
    try:
        stream = TeacherStream(env, teacher, budget, 3, torch.Generator().manual_seed(3), cap)
        assert stream.collect_until(budget) == used
        staged_env = task.make(4)
        staged = TeacherStream(staged_env, teacher, budget, 3, torch.Generator().manual_seed(3), 10_000)
        assert staged.collect_until(50) == 48 and staged.collect_until(budget) == 200
        staged_env.close()
    finally:
        env.close()
    assert stream.buffer.size == ref.size and stream.buffer.seen == ref.seen
    for a, b in zip(stream.buffer.obs + stream.buffer.teacher_logits, ref.obs + ref.teacher_logits, strict=True):
        assert torch.equal(a, b)
    assert staged.buffer.seen == 200  # two stages continue one stream into one dataset


# ---------------------------------------------------------------------------------------------
# records, summaries, schema


def test_curve_auc_is_the_mean_over_the_range():
    assert curve_auc([0, 10], [0.5, 0.5]) == 0.5
    assert curve_auc([10, 20, 40], [0.0, 1.0, 1.0]) == pytest.approx((5 + 20) / 30)
    assert math.isnan(curve_auc([10], [0.3]))
    assert math.isnan(curve_auc([10, 20], [0.3, math.nan]))
    assert math.isnan(curve_auc([20, 10], [0.3, 0.4]))


POINTS = (1000, 2000, 4000)


def _curve(scores, used=None):
    return [{"env_steps": x, "env_steps_used": used or x, "score": s, "episode_scores": [s] * 4}
            for x, s in zip(POINTS, scores, strict=True)]


def curve_records() -> list[dict]:
    """smax/3m (teacher 1.0): kd-marl 3 seeds with curves; bc with curves; mpe (random −100, teacher −20)."""
    recs = []
    km = [[0.2, 0.6, 0.9], [0.4, 0.8, 0.95], [0.3, 0.7, 1.0]]
    bc = [[0.5, 0.5, 0.5], [0.6, 0.6, 0.6], [0.7, 0.7, 0.7]]
    for seed in range(3):
        recs.append(make_record("smax/3m", "teacher", seed, 1.0, flops=8000.0))
        recs.append(make_record("smax/3m", "kd-marl", seed, km[seed][-1], 1.0, size="auto", curve=_curve(km[seed])))
        recs.append(make_record("smax/3m", "bc", seed, bc[seed][-1], 1.0, size="auto", curve=_curve(bc[seed])))
        kw = {"random_score": -100.0}
        recs.append(make_record("mpe/simple_spread", "teacher", seed, -20.0, flops=4000.0, **kw))
        mc = [-60.0, -40.0, -30.0 + seed]
        recs.append(make_record("mpe/simple_spread", "kd-marl", seed, mc[-1], -20.0, 500.0, size="auto",
                                curve=_curve(mc), **kw))
    return recs


def test_per_point_retention_auc_and_cis_over_seeds():
    board = make_leaderboard(curve_records())
    validate(board)
    lb = leaderboard_from_dict(board)
    km = next(r for r in lb.records if r.task == "smax/3m" and r.method == "kd-marl" and r.seed == 1)
    assert [c.retention for c in km.curve] == [0.4, 0.8, 0.95]
    assert km.curve[-1].retention == km.retention
    mpe = next(r for r in lb.records if r.task == "mpe/simple_spread" and r.method == "kd-marl" and r.seed == 0)
    assert [c.retention for c in mpe.curve] == pytest.approx([0.5, 0.75, 0.875])  # (S + 100) / 80

    rows = lb.summary_index()
    row = rows[("smax/3m", "kd-marl", "auto")]
    assert [p.env_steps for p in row.retention_curve] == list(POINTS)
    assert [p.n_seeds for p in row.retention_curve] == [3, 3, 3]
    assert [p.retention_mean for p in row.retention_curve] == pytest.approx([0.3, 0.7, 0.95])
    assert row.retention_curve[-1].retention_mean == pytest.approx(row.retention_mean)
    for p in row.retention_curve:
        assert p.retention_ci95.lo < p.retention_mean < p.retention_ci95.hi
    per_seed = [curve_auc(POINTS, c) for c in ([0.2, 0.6, 0.9], [0.4, 0.8, 0.95], [0.3, 0.7, 1.0])]
    assert row.curve_auc == pytest.approx(np.mean(per_seed))
    assert row.curve_auc_ci95.lo < row.curve_auc < row.curve_auc_ci95.hi
    flat = rows[("smax/3m", "bc", "auto")]
    assert flat.curve_auc == pytest.approx(0.6)  # a flat curve's AUC is its level
    assert rows[("smax/3m", "teacher", "full")].retention_curve is None


def test_boards_without_curves_are_unchanged_and_round_trip():
    plain = make_leaderboard()
    assert all("retention_curve" not in s for s in plain["summary"])
    assert all("curve" not in r for r in plain["records"])
    board = make_leaderboard(curve_records())
    again = leaderboard_from_dict(board).to_dict()
    assert again["summary"] == board["summary"] and again["records"] == board["records"]
    one_point = copy.deepcopy(curve_records())
    for r in one_point:
        if "curve" in r:
            r["curve"] = r["curve"][-1:]
    rows = make_leaderboard(one_point)["summary"]
    assert all("retention_curve" not in s for s in rows)  # one point: nothing beyond the final retention


def test_schema_refuses_a_malformed_curve():
    from kdmarl_bench.errors import UsageError

    board = make_leaderboard(curve_records())
    bad = copy.deepcopy(board)
    next(r for r in bad["records"] if "curve" in r)["curve"][0]["score"] = "high"
    with pytest.raises(UsageError, match="curve"):
        validate(bad)
    bad = copy.deepcopy(board)
    next(r for r in bad["records"] if "curve" in r)["curve"] = []
    with pytest.raises(UsageError, match="curve"):
        validate(bad)


def test_show_json_carries_the_curves(tmp_path):
    import json

    from kdmarl_bench.results.store.boards import write_leaderboard

    path = write_leaderboard(tmp_path / "b.json", typed(make_leaderboard(curve_records())))
    res = CliRunner().invoke(main, ["show", str(path), "--json"])
    assert res.exit_code == 0, res.output
    rows = {(r["task"], r["method"]): r for r in json.loads(res.output)}
    row = rows[("smax/3m", "kd-marl")]
    assert [p["env_steps"] for p in row["retention_curve"]] == list(POINTS) and row["curve_auc"] is not None


# ---------------------------------------------------------------------------------------------
# the report


def test_curve_lines_pick_auto_and_skip_boards_without_curves():
    from kdmarl_bench.results.analysis.curves import curve_lines

    lines = curve_lines(leaderboard_from_dict(make_leaderboard(curve_records())))
    assert set(lines) == {"smax/3m", "mpe/simple_spread"}
    assert [(ln.method, ln.size) for ln in lines["smax/3m"]] == [("kd-marl", "auto"), ("bc", "auto")]
    ln = lines["smax/3m"][0]
    assert ln.env_steps == list(POINTS) and ln.retention == pytest.approx([0.3, 0.7, 0.95])
    assert all(lo <= m <= hi for lo, m, hi in zip(ln.lo, ln.retention, ln.hi, strict=True))
    assert curve_lines(leaderboard_from_dict(make_leaderboard())) == {}


def test_report_writes_the_curves_png_and_links_it(tmp_path):
    from kdmarl_bench.results.render.report import write_report

    rep = write_report(typed(make_leaderboard(curve_records())), tmp_path / "r")
    png = tmp_path / "r" / "learning_curves.png"
    assert png in rep.plots and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    text = rep.markdown.read_text()
    assert "## Learning curves" in text and "](learning_curves.png)" in text
    assert "| smax/3m | kd-marl (auto) | 3 |" in text
    # a board without curves: no plot, no section, and the old plot is removed as stale
    rep2 = write_report(typed(make_leaderboard()), tmp_path / "r")
    assert not png.exists() and "Learning curves" not in rep2.markdown.read_text()
