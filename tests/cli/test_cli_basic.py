"""CLI: exit codes and messages for each error class, and the issue-2 commands."""

import json

import pytest

from kdmarl_bench import __version__
from kdmarl_bench.cli import main


def test_version(runner):
    res = runner.invoke(main, ["--version"])
    assert res.exit_code == 0
    assert __version__ in res.output


def test_envs_json_lists_all_families(runner):
    res = runner.invoke(main, ["envs", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["id"]: r for r in json.loads(res.output)}
    assert rows["smax/3m"]["obs_dims"] == [75, 75, 75]
    assert rows["smax/3m"]["state_dim"] == 72
    assert rows["smax/3m"]["n_actions"] == [8, 8, 8]
    assert rows["smax/3m"]["available"] is True
    assert rows["mpe/simple_speaker_listener_v4"]["obs_dims"] == [3, 11]
    assert rows["mpe/simple_speaker_listener_v4"]["n_actions"] == [3, 5]
    for tid in ("smacv2/protoss_5_vs_5", "smacv2/3m", "smacv2/corridor", "smacv2/zerg_20_vs_20"):
        assert rows[tid]["available"] is False
    for tid in ("smax/10m_vs_11m", "smax/27m_vs_30m", "smax/smacv2_5_units", "mpe/simple_line_v1"):
        assert tid in rows


def test_envs_table(runner):
    res = runner.invoke(main, ["envs", "--family", "mpe"])
    assert res.exit_code == 0
    assert "mpe/simple_speaker_listener_v4" in res.output and "3/11" in res.output
    assert "smax/3m" not in res.output


def test_evaluate_random_spread_matches_reference(runner):
    res = runner.invoke(main, ["evaluate", "--policy", "random", "--task", "mpe/simple_spread_v3",
                               "--episodes", "200", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert len(out["episode_scores"]) == 200
    # REFERENCE.md: random team return ≈ −27.3 (200 episodes).
    assert abs(out["score"] - (-27.3)) <= 1.5, out["score"]
    lo, hi = out["score_ci95"]
    assert lo <= out["score"] <= hi


def test_evaluate_random_smax_never_wins(runner):
    res = runner.invoke(main, ["evaluate", "--policy", "random", "--task", "smax/3m", "--episodes", "32", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["win_rate"] == 0.0
    assert out["metric"] == "win_rate" and len(out["episode_scores"]) == 32


def test_evaluate_text_output(runner):
    res = runner.invoke(main, ["evaluate", "--policy", "random", "--task", "smax/3m", "--episodes", "4"])
    assert res.exit_code == 0, res.output
    assert "win rate 0.000" in res.output and "95% CI" in res.output


def test_unknown_task_exit_2_with_suggestion(runner):
    res = runner.invoke(main, ["evaluate", "--policy", "random", "--task", "smax/3mm"])
    assert res.exit_code == 2
    assert "unknown task 'smax/3mm'" in res.output and "did you mean" in res.output and "smax/3m" in res.output
    assert "Traceback" not in res.output


def test_smacv2_without_game_exit_3(runner):
    res = runner.invoke(main, ["evaluate", "--policy", "random", "--task", "smacv2/protoss_5_vs_5"])
    assert res.exit_code == 3, res.output
    assert "SC2PATH" in res.output and "pip install" in res.output


def test_evaluate_needs_exactly_one_policy(runner):
    res = runner.invoke(main, ["evaluate", "--task", "smax/3m"])
    assert res.exit_code == 2
    assert "--policy random" in res.output


def test_plan_quickstart(runner):
    res = runner.invoke(main, ["plan", "suites/quickstart.toml", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["suite"]["name"] == "quickstart"
    methods = {c["method"] for c in out["cells"]}
    assert methods == {"teacher", "kd-marl", "bc", "pd-kl"}
    assert out["n_cells"] == len(out["cells"]) == 2 * 2 + 2 * 3 * 2


def test_plan_bundled_name(runner):
    res = runner.invoke(main, ["plan", "quickstart"])
    assert res.exit_code == 0, res.output
    assert "kd-marl" in res.output


@pytest.mark.parametrize(
    "text, needles",
    [
        ("not = [toml", ["not valid TOML"]),
        ('[suite]\nname="x"\ntasks=["smax/3m"]\nmethods=["kdmarl"]', ["methods[0]", "did you mean: kd-marl"]),
        ('[suite]\nname="x"\ntasks=["smax/9m"]\nmethods=["bc"]', ["tasks[0]", "unknown task 'smax/9m'", "did you mean"]),
        ('[suite]\nname="x"\ntasks=["foo/3m"]\nmethods=["bc"]', ["unknown env family 'foo'"]),
        ('[suite]\nname="x"\ntasks="smax/3m"\nmethods=["bc"]', ["field 'tasks'", "expected list"]),
    ],
)
def test_plan_bad_suite_exit_2(runner, tmp_path, text, needles):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    res = runner.invoke(main, ["plan", str(p)])
    assert res.exit_code == 2, res.output
    assert str(p) in res.output
    for n in needles:
        assert n in res.output, (n, res.output)
    assert "Traceback" not in res.output


def test_plan_missing_file_exit_2(runner, tmp_path):
    res = runner.invoke(main, ["plan", str(tmp_path / "missing.toml")])
    assert res.exit_code == 2
    assert "missing.toml" in res.output


def test_run_smacv2_suite_without_game_exit_3(runner, tmp_path):
    res = runner.invoke(main, ["plan", "smacv2"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["run", "smacv2", "--out", str(tmp_path / "o")])
    assert res.exit_code == 3, res.output
    assert "SC2PATH" in res.output
    assert not (tmp_path / "o" / "leaderboard.json").exists()


def test_run_unknown_suite_name_exit_2(runner):
    res = runner.invoke(main, ["run", "quikstart"])
    assert res.exit_code == 2
    assert "quikstart" in res.output and "did you mean: quickstart" in res.output


def test_run_unknown_task_filter_exit_2(runner, tmp_path):
    res = runner.invoke(main, ["run", "quickstart", "--task", "smax/3n", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert "--task 'smax/3n' is not a task of suite 'quickstart'" in res.output
    assert "did you mean: smax/3m" in res.output
    assert "valid choices: mpe/simple_spread_v3, smax/3m" in res.output
    assert not (tmp_path / "o").exists()


def test_run_unknown_method_filter_exit_2(runner, tmp_path):
    res = runner.invoke(main, ["run", "quickstart", "--method", "kd-marl-tuned", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert "--method 'kd-marl-tuned' is not a method of suite 'quickstart'" in res.output
    assert "did you mean: kd-marl" in res.output and "valid choices: teacher, kd-marl" in res.output
    assert not (tmp_path / "o").exists()


def test_run_method_filter_runs_those_cells_and_a_full_run_reuses_them(runner, tmp_path):
    """`run --method bc` trains bc (and scores the teacher) only; the full run after it trains kd-marl
    and takes bc's finished cell as it is."""
    out = tmp_path / "o"
    res = runner.invoke(main, ["-q", "run", "ci", "--method", "bc", "--out", str(out), "--jobs", "1", "--json"])
    assert res.exit_code == 0, res.output
    first = {r["method"]: r for r in json.loads(res.stdout)["records"]}
    assert set(first) == {"teacher", "bc"}
    res = runner.invoke(main, ["-q", "run", "ci", "--out", str(out), "--jobs", "1", "--json"])
    assert res.exit_code == 0, res.output
    full = {r["method"]: r for r in json.loads(res.stdout)["records"]}
    assert set(full) == {"teacher", "kd-marl", "bc"}
    assert full["bc"]["episode_scores"] == first["bc"]["episode_scores"]
    assert full["bc"]["train"]["wall_s"] == first["bc"]["train"]["wall_s"]  # not trained again
