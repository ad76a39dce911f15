"""The suite file's declarative schema (issue 22, item 3): every committed suite parses to what the
parser before it produced, and a file with several mistakes reports them all in one ``plan`` run."""

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdmarl_bench.cli import main
from kdmarl_bench.errors import UsageError
from kdmarl_bench.suite import TaskOverride, TeacherSource, load_suite, plan
from kdmarl_bench.suite_schema import BAD, Problems, read_table, toml_field

ROOT = Path(__file__).resolve().parents[2]
PARSED = Path(__file__).parent / "data" / "suites_parsed.json"
"""Each committed suite as the hand-written parser before the schema read it (``summary`` run at commit
cf71d71). ``python tests/unit/test_suite_schema.py --write`` rewrites it with the current parser: only
when a suite file changes on purpose."""


def summary(path: Path) -> dict:
    """What the rest of the code reads from a parsed suite: its cells (hashed), method configs, per-task
    values (views, budgets, teachers), sizes, budget, eval and profile settings, and its leaderboard info."""
    suite = load_suite(path)
    cells = json.dumps([c.config() for c in plan(suite)], sort_keys=True, default=repr)
    return json.loads(json.dumps({
        "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "cells": len(plan(suite)),
        "cells_sha256": hashlib.sha256(cells.encode()).hexdigest(),
        "info": {k: v for k, v in suite.info().items() if k != "path"},
        "tasks": suite.tasks, "methods": suite.methods, "seeds": suite.seeds,
        "method_config": suite.method_config, "method_base": suite.method_base, "method_sizes": suite.method_sizes,
        "sizes": [dataclasses.asdict(s) for s in suite.sizes], "teacher": dataclasses.asdict(suite.teacher),
        "budget": dataclasses.asdict(suite.budget), "eval": dataclasses.asdict(suite.eval),
        "profile": dataclasses.asdict(suite.profile), "focus": suite.focus, "headline_size": suite.headline_size,
        "primary": suite.primary, "tune": None if suite.tune is None else repr(suite.tune),
        "per_task": {t: {"view": suite.view_for(t), "env_steps": suite.env_steps(t),
                         "eval_points": suite.eval_points(t), "eval_episodes": suite.eval_episodes(t),
                         "eval_seeds": suite.eval_seed_count(t), "teacher": dataclasses.asdict(suite.teacher_for(t))}
                     for t in suite.tasks},
    }, default=repr))


# ---- every committed suite parses as before ---------------------------------------------------
EXPECTED = json.loads(PARSED.read_text()) if PARSED.exists() else {}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_committed_suite_parses_as_before(name):
    path = ROOT / "suites" / name
    got = summary(path)
    want = EXPECTED[name]
    assert got["file_sha256"] == want["file_sha256"], (
        f"{path} changed since {PARSED.name} was written: check the change, then rewrite it with "
        f"'python tests/unit/test_suite_schema.py --write'")
    for key in want:
        assert got[key] == want[key], (name, key)


def test_every_committed_suite_is_compared():
    assert EXPECTED, f"{PARSED} is missing"
    committed = {p.name for p in (ROOT / "suites").glob("*.toml")}
    # the nine suites of the repository when the schema replaced the hand-written parser
    assert {"ci.toml", "deploy.toml", "fairfight.toml", "limited.toml", "mpe.toml", "quickstart.toml",
            "smacv2.toml", "smax.toml", "sweep.toml"} <= set(EXPECTED) <= committed


# ---- every mistake of a file at once ------------------------------------------------------------
FOUR_MISTAKES = """
[suite]
name = "four"
tasks = ["smax/3m", "mpe/simple_spread_v3"]
methods = ["teacher", "kd-marl", "bc-fast"]
seeds = [0, 1]
[budget]
env_steps = -5
num_env = 4
[task."smax/3m"]
view = "sight9"
"""


def test_four_mistakes_are_reported_in_one_plan_run(tmp_path):
    path = tmp_path / "four.toml"
    path.write_text(FOUR_MISTAKES)
    res = CliRunner().invoke(main, ["plan", str(path)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert "4 problems" in res.output
    lines = [ln for ln in res.output.splitlines() if "field '" in ln]
    assert len(lines) == 4, res.output
    expected = {
        "methods[2]": ["unknown method 'bc-fast'", "valid choices: bc, dagger"],
        "budget.env_steps": ["must be > 0", "got -5"],
        "budget.num_env": ["unknown field", "did you mean: num_envs", "valid fields: env_steps, eval_at, num_envs"],
        "task.smax/3m.view": ["'sight9'", "did you mean: sight5"],
    }
    for fld, needles in expected.items():
        line = next((ln for ln in lines if f"field '{fld}'" in ln), None)
        assert line is not None, (fld, res.output)
        assert str(path) in line, line  # every line names the file
        for n in needles:
            assert n in line, (n, line)


ONE = '[suite]\nname = "one"\n{meta}tasks = {tasks}\nmethods = {methods}\n{rest}'


@pytest.mark.parametrize("meta, tasks, methods, rest, field", [
    # a broken variant: its own table's line, not also "unknown method" in methods
    ("", '["smax/3m"]', '["teacher", "kv"]', '[variant.kv]\nmethod = "kd-marll"\n', "variant.kv.method"),
    # a misspelt task: not also "overrides a task the suite does not list", nor a view error
    ("", '["smax/3mm"]', '["bc"]', '[task."smax/3m"]\nview = "hetero"\n', "tasks[0]"),
    # a bad budget: the eval_at checks that need it are skipped
    ("", '["smax/3m"]', '["bc"]', '[budget]\nenv_steps = "x"\neval_at = [10]\n[task."smax/3m"]\neval_at = [5]\n',
     "budget.env_steps"),
    # bad seeds: no second line about the eval seed base
    ("", '["smax/3m"]', '["bc"]', "seeds = [-1]\n[eval]\nseed_base = 5\n", "seeds"),
    # a bad size: not also the headline size or a method's sizes
    ('headline_size = "w8"\n', '["smax/3m"]', '["bc"]',
     '[students]\nsizes = [{ label = "w8", hidden = [0] }]\n[method.bc]\nsizes = ["w8"]\n', "students.sizes[0].hidden"),
    # bad methods: not also the focus
    ('focus = "kv"\n', '["smax/3m"]', '["bc", 3]', "", "methods[1]"),
])
def test_one_mistake_is_one_line(tmp_path, meta, tasks, methods, rest, field):
    path = tmp_path / "one.toml"
    path.write_text(ONE.format(meta=meta, tasks=tasks, methods=methods, rest=rest))
    with pytest.raises(UsageError) as exc:
        load_suite(path)
    msg = str(exc.value)
    assert "\n" not in msg and f"field '{field}'" in msg and str(path) in msg, msg


# ---- the schema machinery and the typed overrides ----------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Table:
    count: int = toml_field(3, int, lambda v: None if v > 0 else "must be > 0")
    names: tuple = toml_field((), list, item=lambda v: None if isinstance(v, str) else "not a name", convert=tuple)


def test_read_table_records_every_problem_and_goes_on():
    p = Problems("f.toml")
    values = read_table(p, {"count": 0, "names": ["a", 3, 4], "nmes": 1}, _Table, "t.")
    assert values == {"count": BAD, "names": BAD}
    assert [e.field_name for e in p.found] == ["t.nmes", "t.count", "t.names[1]", "t.names[2]"]
    assert "did you mean: names" in str(p.found[0])
    with pytest.raises(UsageError, match=r"^f\.toml: 4 problems") as exc:
        p.raise_all()
    assert all(line.startswith("f.toml: field 't.") for line in str(exc.value).splitlines()[1:])
    ok = Problems("f.toml")
    assert read_table(ok, {"names": ["a"]}, _Table, "t.") == {"names": ("a",)}
    assert not ok and ok.raise_all() is None
    assert _Table() == _Table(3, ())


def test_one_problem_keeps_the_one_line_message():
    p = Problems("f.toml")
    p.add("budget.env_steps", "must be > 0")
    with pytest.raises(UsageError) as exc:
        p.raise_all()
    assert str(exc.value) == "f.toml: field 'budget.env_steps': must be > 0"


def test_task_overrides_are_typed(tmp_path):
    suite = load_suite(ROOT / "suites" / "fairfight.toml")
    ov = suite.override("smax/3m")
    assert isinstance(ov, TaskOverride) and ov.view == "hetero" and ov.teacher_kind == "privileged"
    assert suite.teacher_for("smax/3m") == TeacherSource(suite.teacher.source, suite.teacher.steps, "privileged")
    assert suite.override("no/such") == TaskOverride() and suite.view_for("no/such") == "full"


TASK_SEEDS_SUITE = """
[suite]
name = "s"
tasks = ["mpe/simple_spread_v3", "mpe/simple_speaker_listener_v4"]
methods = ["teacher", "bc"]
seeds = [0, 1, 2, 3]
[task."mpe/simple_speaker_listener_v4"]
seeds = SEEDS
"""


def test_a_task_runs_some_of_the_suites_seeds(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TASK_SEEDS_SUITE.replace("SEEDS", "[0, 2]"))
    suite = load_suite(path)
    assert suite.seeds_for("mpe/simple_spread_v3") == (0, 1, 2, 3)
    assert suite.seeds_for("mpe/simple_speaker_listener_v4") == (0, 2)
    assert suite.task_seeds() == {"mpe/simple_speaker_listener_v4": [0, 2]}
    cells = plan(suite)
    assert sorted((c.task, c.method, c.seed) for c in cells if c.task.endswith("v4")) == [
        ("mpe/simple_speaker_listener_v4", m, s) for m in ("bc", "teacher") for s in (0, 2)]
    assert len(cells) == 2 * 4 + 2 * 2


@pytest.mark.parametrize("seeds, message", [
    ("[0, 7]", "field 'task.mpe/simple_speaker_listener_v4.seeds': seed 7 is not one of the suite's seeds; "
               "valid choices: 0, 1, 2, 3"),
    ("[1, 1]", "lists seed 1 twice"),
    ("[]", "expected a non-empty list of the suite's seeds [0, 1, 2, 3], got []"),
    ("3", "expected list"),
])
def test_a_task_cannot_bring_seeds_the_suite_does_not_list(tmp_path, seeds, message):
    path = tmp_path / "s.toml"
    path.write_text(TASK_SEEDS_SUITE.replace("SEEDS", seeds))
    with pytest.raises(UsageError) as exc:
        load_suite(path)
    assert message in str(exc.value) and str(path) in str(exc.value)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    PARSED.write_text(json.dumps({p.name: summary(p) for p in sorted((ROOT / "suites").glob("*.toml"))},
                                 indent=1, sort_keys=True) + "\n")
    print(f"wrote {PARSED}")
