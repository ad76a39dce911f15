"""`tune`: the [tune] section's checks, the search spaces, and a short real study on the `ci` suite."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdmarl_bench.cli import main
from kdmarl_bench.errors import UsageError
from kdmarl_bench.methods import METHODS
from kdmarl_bench.suite import load_suite, parse_suite
from kdmarl_bench.tune_spec import SPACES
from kdmarl_bench.tuning import best_toml

CI_SUITE = Path(__file__).resolve().parents[2] / "suites" / "ci.toml"

BASE = """
[suite]
name = "t"
tasks = ["mpe/simple_spread_v3"]
methods = ["teacher", "kd-marl", "bc", "pd-kl"]
seeds = [0, 1]
"""


def tune_error(tmp_path, text: str) -> str:
    p = tmp_path / "s.toml"
    p.write_text(BASE + text)
    with pytest.raises(UsageError) as exc:
        load_suite(p)
    assert str(p) in str(exc.value)
    return str(exc.value)


# ---------------------------------------------------------------------------------------------
# the [tune] section


def test_every_compared_method_has_a_search_space_of_the_same_size():
    compared = ["bc", "pd-kl", "dagger", "logit-mse", "kd-marl", "kd-marl-offline"]
    assert set(compared) <= set(SPACES)
    assert {len(SPACES[m]) for m in compared} == {3}
    for m in compared:  # every dimension is a numeric field of the method's config, lr first
        defaults = METHODS.get(m).config_cls()
        assert SPACES[m][0].field == "lr"
        for d in SPACES[m]:
            assert isinstance(getattr(defaults, d.field), (int, float)) and d.low < d.high


def test_tune_section_bad_input_names_the_field(tmp_path):
    assert "tune.seeds" in tune_error(tmp_path, "[tune]\nseeds = [1, 7]")  # 1 is a board seed
    assert "tune.trials" in tune_error(tmp_path, "[tune]\nseeds = [9]\ntrials = 0")
    msg = tune_error(tmp_path, "[tune]\nseeds = [9]\n[tune.space.bc]\nlrr = { low = 0.001, high = 0.01 }")
    assert "tune.space.bc.lrr" in msg and "did you mean: lr?" in msg
    assert "empty search space" in tune_error(tmp_path, "[tune]\nseeds = [9]\n[tune.space.bc]\n")
    assert "tune.space.dagger" in tune_error(tmp_path, "[tune]\nseeds = [9]\n[tune.space.dagger]\nlr = { low = 0.1, high = 0.2 }")
    msg = tune_error(tmp_path, "[tune]\nseeds = [9]\n[tune.space.bc]\ntau = { low = 0.1, high = 0.2 }")
    assert "tune.space.bc.tau" in msg  # bc has no tau
    msg = tune_error(tmp_path, "[tune]\nseeds = [9]\n[tune.space.bc]\nmax_dataset = { low = 100, high = 1000 }")
    assert "same size" in msg and "bc: 4" in msg  # one method more dimensions than the others: unequal tuning
    assert "low < high" in tune_error(tmp_path, "[tune]\nseeds = [9]\n[tune.space.bc]\nlr = { low = 0.1, high = 0.01 }")
    assert "tune.frobnicate" in tune_error(tmp_path, "[tune]\nseeds = [9]\nfrobnicate = 1")


def test_tune_section_parses_and_overrides_a_dimension(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(BASE + "[tune]\nseeds = [9, 10]\ntrials = 5\n[tune.space.bc]\nlr = { low = 0.001, high = 0.01, log = true }")
    suite = load_suite(p)
    assert suite.tune.seeds == (9, 10) and suite.tune.budget() == {"kd-marl": 5, "bc": 5, "pd-kl": 5}
    (lr,) = [d for d in suite.tune.spaces["bc"] if d.field == "lr"]
    assert (lr.low, lr.high, lr.log) == (0.001, 0.01, True) and len(suite.tune.spaces["bc"]) == 3
    assert suite.info()["tuning"] == {"kd-marl": 5, "bc": 5, "pd-kl": 5}


def test_tune_section_names_the_tasks_and_methods_it_tunes(tmp_path):
    p = tmp_path / "two.toml"
    two = BASE.replace('tasks = ["mpe/simple_spread_v3"]', 'tasks = ["mpe/simple_spread_v3", "mpe/simple_speaker_listener_v4"]')
    p.write_text(two + '[tune]\nseeds = [9]\ntrials = 3\ntasks = ["mpe/simple_spread_v3"]\nmethods = ["bc", "pd-kl"]')
    suite = load_suite(p)
    assert suite.tune.tasks == ("mpe/simple_spread_v3",) and list(suite.tune.spaces) == ["bc", "pd-kl"]
    assert suite.info()["tuning"] == {"bc": 3, "pd-kl": 3}  # kd-marl runs untuned: the board does not claim it
    msg = tune_error(tmp_path, '[tune]\nseeds = [9]\ntasks = ["mpe/simple_spred_v3"]')
    assert "tune.tasks" in msg and "did you mean: mpe/simple_spread_v3?" in msg and "valid choices:" in msg
    msg = tune_error(tmp_path, '[tune]\nseeds = [9]\nmethods = ["teacher"]')
    assert "tune.methods" in msg and "valid choices: kd-marl, bc, pd-kl" in msg
    assert "non-empty" in tune_error(tmp_path, "[tune]\nseeds = [9]\nmethods = []")
    assert "twice" in tune_error(tmp_path, '[tune]\nseeds = [9]\nmethods = ["bc", "bc"]')
    msg = tune_error(tmp_path, '[tune]\nseeds = [9]\nmethods = ["bc", "pd-kl"]\n[tune.space.kd-marl]\nlr = { low = 0.001, high = 0.01 }')
    assert "tune.space.kd-marl" in msg and "not a method this suite tunes" in msg
    # a method the section leaves out is refused by `tune` (exit 2), before anything is written
    res = CliRunner().invoke(main, ["tune", str(p), "--method", "kd-marl", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "tune.methods" in res.output and "valid choices: bc, pd-kl" in res.output
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------
# a short study on the ci suite


def test_short_study_on_ci_resumes_and_prints_the_best_config(tmp_path):
    out = tmp_path / "study"
    r = CliRunner()
    args = ["tune", "ci", "--method", "bc", "--trials", "2", "--out", str(out), "--executor", "inline"]
    res = r.invoke(main, [*args, "--json"])
    assert res.exit_code == 0, res.output
    study = json.loads((out / "study.json").read_text())
    assert study["method"] == "bc" and study["sampler"] == {"name": "TPESampler", "seed": 0,
                                                             "optuna": study["sampler"]["optuna"]}
    assert study["budget"]["trials"] == 2 and study["budget"]["seeds"] == [100] and study["budget"]["board_seeds"] == [0]
    assert len(study["trials"]) == 2 and study["objective"]["primary"] == "final"
    for t in study["trials"]:
        assert set(t["params"]) == {"lr", "epochs", "minibatch_size"} and isinstance(t["value"], float)
    best = max(study["trials"], key=lambda t: t["value"])
    assert study["best"]["params"] == best["params"] and study["best"]["value"] == best["value"]
    # every trial is a suite cell on the tuning seed; the teacher's cell is shared; both scores recorded
    cells = [c for c in (json.loads(p.read_text()) for p in (out / "cells").glob("*.json"))
             if "method" in c]  # (the random policy's score of the return task is a cell too)
    assert sorted(c["method"] for c in cells) == sorted(["teacher", *(t["variant"] for t in study["trials"])])
    assert {c["seed"] for c in cells} == {100}
    assert all(c["score_sampled"] is not None and len(c["episode_scores_sampled"]) == 10 for c in cells)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    # a re-run resumes: the same proposals (seeded TPE) find their finished cells
    res = r.invoke(main, [*args, "--toml"])
    assert res.exit_code == 0, res.output
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")} == mtimes
    assert json.loads((out / "study.json").read_text())["trials"] == study["trials"]
    snippet = tomllib.loads(res.stdout[res.stdout.index("[method.bc]"):])
    assert snippet["method"]["bc"]["epochs"] == best["params"]["epochs"]
    # the snippet is a valid [method.bc] table of the suite
    text = CI_SUITE.read_text() + "\n" + best_toml(study)
    suite = parse_suite(tomllib.loads(text), "ci+tuned.toml")
    assert suite.method_config["bc"]["minibatch_size"] == best["params"]["minibatch_size"]


def test_tune_bad_input_exits_2_naming_the_field(tmp_path, monkeypatch):
    r = CliRunner()
    res = r.invoke(main, ["tune", "ci", "--method", "dagger", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--method 'dagger'" in res.output and "valid choices: kd-marl, bc" in res.output
    res = r.invoke(main, ["tune", "ci", "--method", "bc", "--trials", "0", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--trials" in res.output
    # a board that reports the tuning seed: refused
    board = json.loads((Path(__file__).resolve().parents[2] / "baselines" / "mpe.json").read_text())
    board["protocol"]["seeds"] = [100]
    (tmp_path / "b.json").write_text(json.dumps(board))
    res = r.invoke(main, ["tune", "ci", "--method", "bc", "--board", str(tmp_path / "b.json"),
                          "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "tune.seeds" in res.output
    monkeypatch.setitem(sys.modules, "optuna", None)  # Optuna not installed
    res = r.invoke(main, ["tune", "ci", "--method", "bc", "--out", str(tmp_path / "o")])
    assert res.exit_code == 3 and 'pip install "kdmarl-bench[tune]"' in res.output
    assert not (tmp_path / "o").exists()  # nothing written before the checks
