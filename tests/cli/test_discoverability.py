"""Discoverability (issue 15): methods and their config, zoo teachers in envs, plan refusals,
and a README command reference that cannot drift from the commands' own help."""

import json
from pathlib import Path

import click

from kdmarl_bench import docs, readme
from kdmarl_bench.cli import main
from kdmarl_bench.methods import METHODS
from kdmarl_bench.teachers.zoo import load_card, zoo_path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_option_has_help_text():
    missing = [f"{name} {p.opts[0]}" for name, cmd in main.commands.items() for p in cmd.params
               if isinstance(p, click.Option) and not p.hidden and not (p.help or "").strip()]
    assert missing == []


def test_readme_command_reference_is_current():
    text = README.read_text(encoding="utf-8")
    fresh = readme.render_blocks(README.parent / "baselines", ["cli-reference"])["cli-reference"]
    assert readme.readme_blocks(text)["cli-reference"] == fresh, "run: python benchmarks/readme_tables.py"


def test_readme_names_every_option_of_every_command():
    text = README.read_text(encoding="utf-8")
    for name, cmd in main.commands.items():
        assert f"kdmarl-bench {name}" in text
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden:
                assert f"`{p.opts[0]}`" in text, f"{name} {p.opts[0]} is not in README.md"


def test_reference_lists_options_with_defaults():
    ref = docs.cli_reference(main)
    assert "#### `kdmarl-bench run [OPTIONS] SUITE`" in ref
    assert "| `--device` `auto\\|cpu\\|cuda` | `auto` |" in ref  # pipes escaped inside the table


def test_methods_lists_every_registered_method(runner):
    res = runner.invoke(main, ["methods", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["id"] for r in rows] == METHODS.names()
    by_id = {r["id"]: r for r in rows}
    assert by_id["teacher"]["trains_student"] is False
    assert by_id["scratch"]["uses_teacher"] is False


def test_methods_id_shows_every_field_with_default_and_docstring(runner):
    res = runner.invoke(main, ["methods", "kd-marl", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    fields = {f["name"]: f for f in info["fields"]}
    assert fields["lambda_rel"]["default"] == 0.1 and fields["lambda_rel"]["type"] == "float"
    assert fields["lr"]["doc"].startswith("Adam learning rate")  # inherited from MethodConfig
    # issue 19: the opt-in readings' switches, off by default (the v1 reading)
    switches = {"imitation_replay": False, "replay_size": 200_000, "imitation_lr": 0.0, "imitation_epochs": 4,
                "imitation_minibatch": 256, "warm_start_frac": 0.0, "role_term": "v1"}
    assert {name: fields[name]["default"] for name in switches} == switches
    undocumented = [(m, f["name"]) for m in METHODS.names()
                    for f in json.loads(runner.invoke(main, ["methods", m, "--json"]).output)["fields"] if not f["doc"]]
    assert undocumented == []


def test_methods_table_and_unknown_id(runner):
    res = runner.invoke(main, ["methods", "bc"])
    assert res.exit_code == 0 and "minibatch_size" in res.output and "256" in res.output
    res = runner.invoke(main, ["methods", "kdmarl"])
    assert res.exit_code == 2 and "did you mean: kd-marl" in res.output


def test_envs_marks_zoo_teachers_and_why_a_task_is_unavailable(runner):
    res = runner.invoke(main, ["envs", "--json"])
    assert res.exit_code == 0
    rows = {r["id"]: r for r in json.loads(res.output)}
    card = load_card(zoo_path("smax/3m"))
    assert rows["smax/3m"]["zoo_teacher"] == {"ref": "zoo:smax/3m", "score": card["eval"]["score"],
                                               "metric": "win_rate", "env_steps": card["env_steps"]}
    assert rows["smax/2s_vs_1sc"]["zoo_teacher"] is None
    assert rows["smax/3m"]["unavailable_reason"] is None
    assert "StarCraft II" in rows["smacv2/3m"]["unavailable_reason"]
    table = runner.invoke(main, ["envs", "--family", "smacv2"]).output
    assert "no [1]" in table and "[1] StarCraft II backend" in table


def _suite(tmp_path, body):
    p = tmp_path / "s.toml"
    p.write_text(body)
    return str(p)


def test_plan_refuses_a_task_without_a_teacher(runner, tmp_path):
    path = _suite(tmp_path, '[suite]\nname = "t"\ntasks = ["smax/2s_vs_1sc"]\nmethods = ["teacher", "bc"]\n')
    res = runner.invoke(main, ["plan", path])
    assert res.exit_code == 2
    assert "teacher.source" in res.output and "no bundled zoo teacher" in res.output
    assert "kdmarl-bench train-teacher smax/2s_vs_1sc" in res.output
    path = _suite(tmp_path, '[suite]\nname = "t"\ntasks = ["smax/3m"]\nmethods = ["bc"]\n'
                            '[task."smax/3m"]\nteacher = "nowhere/t.safetensors"\n')
    res = runner.invoke(main, ["plan", path])
    assert res.exit_code == 2 and "task.smax/3m.teacher" in res.output and "not found" in res.output
    path = _suite(tmp_path, '[suite]\nname = "t"\ntasks = ["smax/2s_vs_1sc"]\nmethods = ["bc"]\n'
                            '[teacher]\nsource = "train"\n')
    assert runner.invoke(main, ["plan", path]).exit_code == 0


def test_plan_shows_resolved_method_configs(runner, tmp_path):
    path = _suite(tmp_path, '[suite]\nname = "t"\ntasks = ["mpe/simple_spread_v3"]\nmethods = ["kd-marl", "bc"]\n'
                            '[method.kd-marl]\nlambda_rel = 0.3\n')
    res = runner.invoke(main, ["plan", path, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    kd = data["methods"]["kd-marl"]
    assert kd["overrides"] == {"lambda_rel": 0.3}
    assert kd["resolved_config"]["lambda_rel"] == 0.3 and kd["resolved_config"]["lambda_role"] == 0.05
    assert all("resolved_config" in c for c in data["cells"])
    assert data["methods"]["bc"]["resolved_config"]["minibatch_size"] == 256
    table = runner.invoke(main, ["plan", path]).output
    assert "kd-marl: lambda_rel=0.3" in table and "bc: all defaults" in table


def test_evaluate_reports_progress_per_finished_episode():
    from kdmarl_bench.evaluate import evaluate

    seen = []
    res = evaluate(None, "mpe/simple_spread_v3", 10, 0, num_envs=4, progress=lambda d, t: seen.append((d, t)))
    assert len(res.returns) == 10
    assert seen and seen[-1] == (10, 10)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_quiet_silences_stderr_but_not_results():
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "kdmarl_bench", "-q", "evaluate", "--policy", "random", "--task",
           "mpe/simple_spread_v3", "--episodes", "4"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert "mean team return" in res.stdout
