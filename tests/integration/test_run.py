"""`run` end to end on a real env with tiny budgets: leaderboard, resume, failures."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from kdmarl_bench.checkpoint import save_checkpoint
from kdmarl_bench.cli import main
from kdmarl_bench.envs import get_task
from kdmarl_bench.models.policy import TeacherPolicy
from kdmarl_bench.results.model.schema import validate
from kdmarl_bench.runner import RunEvents, run_suite
from kdmarl_bench.suite import load_suite
from tests.factories import board_json, load_board, random_teacher, tiny_suite_toml

TASK = "mpe/simple_speaker_listener_v4"


def make_teacher(path: Path, task: str = TASK) -> Path:
    return random_teacher(path, task)


def write_suite(tmp_path: Path, teacher: Path, methods=("teacher", "kd-marl", "bc"), extra: str = "",
                task: str = TASK) -> Path:
    text = tiny_suite_toml(teacher=str(teacher), task=task, methods=methods, batch_sizes=(8,), extra=extra)
    p = tmp_path / "suite.toml"
    p.write_text(text)
    return p


@pytest.fixture
def teacher(tmp_path):
    return make_teacher(tmp_path / "teacher")


def test_run_writes_valid_leaderboard(tmp_path, teacher):
    suite = load_suite(write_suite(tmp_path, teacher))
    board, path = run_suite(suite, tmp_path / "out")
    board = board_json(board)
    validate(load_board(path))
    recs = {r["method"]: r for r in board["records"]}
    assert set(recs) == {"teacher", "kd-marl", "bc"}
    for method, r in recs.items():
        assert r["error"] is None
        assert r["cost"]["params"] > 0 and r["cost"]["macs"] > 0 and r["cost"]["flops"] > 0
        lat = [e for e in r["latency"] if e["device"] == "cpu" and e["threads"] == 1 and e["mode"] == "decentralized"]
        assert lat and lat[0]["p50_ms"] <= lat[0]["p90_ms"] <= lat[0]["p99_ms"]
        assert len(r["episode_scores"]) == 6
        if method != "teacher":
            assert r["retention"] is not None and abs(r["retention"]) < float("inf")
            assert r["student"]["widths"] == [[32, 32], [32, 32]]  # capacity rule: 3 → 32, 11 → 32
            assert r["budget"]["env_steps"] == 400 and r["train"]["env_steps"] <= 400
            assert (tmp_path / "out" / r["checkpoint"]).exists()
    # the distilled students are cheaper than the teacher
    assert recs["kd-marl"]["cost"]["flops"] < recs["teacher"]["cost"]["flops"]
    # paired design: same eval seed for every method
    assert len({r["eval_seed"] for r in recs.values()}) == 1


def test_interrupted_run_resumes_without_recomputing(tmp_path, teacher):
    suite = load_suite(write_suite(tmp_path, teacher))
    out = tmp_path / "out"
    done = []

    def stop_after_two(cell, rec, cached):
        done.append(cell.method)
        if len(done) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, out, events=RunEvents(on_cell_done=stop_after_two))
    files = sorted((out / "cells").glob("*.json"))
    mtimes = {f: f.stat().st_mtime_ns for f in files}
    assert len([f for f in files if "score" in json.loads(f.read_text())]) >= 2

    started, cached = [], []
    board, _ = run_suite(suite, out, events=RunEvents(on_cell_start=lambda c: started.append(c.method),
                                                      on_cell_done=lambda c, r, was: was and cached.append(c.method)))
    board = board_json(board)
    assert cached == done and started == ["bc"]
    for f, m in mtimes.items():
        assert f.stat().st_mtime_ns == m, f"{f} was rewritten"
    assert len(board["records"]) == 3


def test_a_finished_cell_whose_student_is_gone_is_trained_again(tmp_path, teacher):
    """A board that ships some seeds' students only: running its suite regenerates the missing ones (the
    same record, bit for bit) and reads the others' cells."""
    suite = load_suite(write_suite(tmp_path, teacher))
    out = tmp_path / "out"
    first, _ = run_suite(suite, out)
    before = {r.method: r for r in first.records}
    gone = out / before["bc"].checkpoint
    weights = gone.read_bytes()
    gone.unlink()
    started, cached = [], []
    again, _ = run_suite(suite, out, events=RunEvents(on_cell_start=lambda c: started.append(c.method),
                                                      on_cell_done=lambda c, r, was: was and cached.append(c.method)))
    assert started == ["bc"] and sorted(cached) == ["kd-marl", "teacher"]
    assert gone.read_bytes() == weights
    after = {r.method: r for r in again.records}
    assert after["bc"].episode_scores == before["bc"].episode_scores and after["bc"].score == before["bc"].score


def test_killed_process_resumes(tmp_path, teacher):
    """A real SIGKILL midway: finished cells survive and are not recomputed."""
    suite_path = write_suite(tmp_path, teacher, methods=("teacher", "kd-marl", "bc", "pd-kl"))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "kdmarl_bench", "run", str(suite_path), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    student_cells = []
    while time.time() < deadline:
        cells = list((out / "cells").glob("*.json")) if (out / "cells").exists() else []
        student_cells = [c for c in cells if json.loads(c.read_text()).get("method") == "kd-marl"]
        if student_cells:
            break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert student_cells, "no cell finished before the deadline"
    assert not (out / "leaderboard.json").exists()
    before = {c: c.stat().st_mtime_ns for c in (out / "cells").glob("*.json")}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "resuming" in res.stderr
    for c, m in before.items():
        assert c.stat().st_mtime_ns == m
    assert len(json.loads((out / "leaderboard.json").read_text())["records"]) == 4
    # run ends with the answer in words (a focus method and an action-imitation baseline) and the next step
    flat = " ".join(res.stdout.split())
    assert "Verdict on retention at size" in flat and "KD-MARL is worse than bc on" in flat
    assert "with too few seeds (< 3) to judge" in flat  # one seed: no PoI verdict
    assert "kdmarl-bench report" in res.stdout and "kdmarl-bench gate" in res.stdout


def test_nan_loss_fails_one_cell_others_go_on(tmp_path, teacher, monkeypatch):
    import kdmarl_bench.methods.bc as bc

    real = bc.ce_to_teacher
    monkeypatch.setattr(bc, "ce_to_teacher", lambda *a, **k: real(*a, **k) * float("nan"))
    suite = load_suite(write_suite(tmp_path, teacher))
    board, _ = run_suite(suite, tmp_path / "out")
    board = board_json(board)
    recs = {r["method"]: r for r in board["records"]}
    assert recs["bc"]["error"] and "non-finite" in recs["bc"]["error"]
    assert recs["bc"]["score"] is None
    assert recs["kd-marl"]["error"] is None and recs["kd-marl"]["score"] is not None


def test_teacher_for_other_task_is_refused(tmp_path):
    wrong = make_teacher(tmp_path / "spread_teacher", task="mpe/simple_spread_v3")
    suite_path = write_suite(tmp_path, wrong)
    res = CliRunner().invoke(main, ["run", str(suite_path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert "spread_teacher" in res.output and "does not fit task" in res.output


def test_missing_and_corrupt_checkpoint_exit_2(tmp_path, teacher):
    r = CliRunner()
    res = r.invoke(main, ["evaluate", str(tmp_path / "nope.safetensors")])
    assert res.exit_code == 2 and "nope.json" in res.output
    bad = tmp_path / "bad"
    bad.with_suffix(".json").write_text(json.loads(json.dumps("x")) and teacher.with_suffix(".json").read_text())
    bad.with_suffix(".safetensors").write_bytes(b"garbage")
    res = r.invoke(main, ["evaluate", str(bad.with_suffix(".safetensors"))])
    assert res.exit_code == 2 and "corrupt checkpoint weights" in res.output
    bad.with_suffix(".json").write_text("{not json")
    res = r.invoke(main, ["profile", str(bad.with_suffix(".safetensors"))])
    assert res.exit_code == 2 and "not valid JSON" in res.output


def test_cli_run_json_validates(tmp_path, teacher):
    suite_path = write_suite(tmp_path, teacher, methods=("teacher", "bc"))
    res = CliRunner().invoke(main, ["run", str(suite_path), "--out", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 0, res.output
    validate(json.loads(res.stdout))


def test_gate_passes_a_rerun_and_fails_a_bigger_student(tmp_path, teacher):
    """Noise vs regression on real runs: a re-run of the same suite passes the gate; the same
    suite with students 4× wider (≈ 4-16× the FLOPs) fails it."""
    base_suite = load_suite(write_suite(tmp_path, teacher, methods=("teacher", "kd-marl")))
    _, base = run_suite(base_suite, tmp_path / "base")
    _, rerun = run_suite(base_suite, tmp_path / "rerun")
    r = CliRunner()
    # Latency is not what this checks: a tiny policy's p50 (~0.05 ms) on a shared CI machine
    # moves up to ~2× between two runs (measured once: teacher 0.063 vs 0.111 ms), so it gets a
    # wide tolerance here; latency regressions are tested on controlled leaderboards in test_gate.py.
    res = r.invoke(main, ["gate", str(rerun), "--baseline", str(base), "--max-latency-increase", "4"])
    assert res.exit_code == 0, res.output

    big = tmp_path / "big"
    big.mkdir()
    big_suite = write_suite(big, teacher, methods=("teacher", "kd-marl"),
                            extra='[students]\nsizes = [{ label = "auto", hidden = [128, 128] }]\n')
    _, bigger = run_suite(load_suite(big_suite), tmp_path / "bigrun")
    res = r.invoke(main, ["gate", str(bigger), "--baseline", str(base), "--markdown", str(tmp_path / "g.md")])
    assert res.exit_code == 1, res.output
    assert "flops" in res.output.lower()
    assert "kd-marl" in (tmp_path / "g.md").read_text()


def test_verify_flags_scores_that_do_not_hold_on_fresh_seeds(tmp_path, teacher):
    suite = load_suite(write_suite(tmp_path, teacher, methods=("teacher", "bc")))
    _, path = run_suite(suite, tmp_path / "out")
    r = CliRunner()
    res = r.invoke(main, ["verify", str(path), "--sample", "1", "--json"])
    rows = json.loads(res.stdout)
    assert len(rows) == 1 and rows[0]["method"] == "bc" and rows[0]["fresh_seed"] != rows[0]["seed"]
    assert res.exit_code == (0 if rows[0]["holds"] else 1)
    assert rows[0]["holds"] == (rows[0]["diff_ci95"][1] >= 0)
    # A record whose episodes claim far more than the policy does is caught.
    data = json.loads(path.read_text())
    for rec in data["records"]:
        if rec["method"] == "bc":
            rec["episode_scores"] = [s + 100.0 for s in rec["episode_scores"]]
            rec["score"] += 100.0
    path.write_text(json.dumps(data))
    res = r.invoke(main, ["verify", str(path), "--sample", "1", "--json"])
    assert res.exit_code == 1, res.output
    (row,) = json.loads(res.stdout)
    assert not row["holds"] and not row["inside"] and row["diff_ci95"][1] < -50


def test_teacher_checkpoint_path_in_leaderboard_resolves(tmp_path, teacher):
    suite = load_suite(write_suite(tmp_path, teacher, methods=("teacher",)))
    lb = tmp_path / "elsewhere" / "lb.json"
    board, path = run_suite(suite, tmp_path / "out", leaderboard_path=lb)
    board = board_json(board)
    ck = board["records"][0]["checkpoint"]
    assert (path.parent / ck).resolve() == teacher.resolve()


def test_a_retrained_teacher_invalidates_finished_cells(tmp_path, teacher):
    suite = load_suite(write_suite(tmp_path, teacher, methods=("teacher", "bc")))
    run_suite(suite, tmp_path / "out")
    make_teacher(tmp_path / "teacher")  # same path, new weights (different init seed below)
    spec = get_task(TASK).spec
    torch.manual_seed(1)
    save_checkpoint(TeacherPolicy(spec.obs_dims, spec.n_actions, spec.state_dim, (32, 32), (32, 32)),
                    tmp_path / "teacher", {"kind": "teacher", "task": TASK})
    started = []
    run_suite(suite, tmp_path / "out", events=RunEvents(on_cell_start=lambda c: started.append(c.method)))
    assert started == ["teacher", "bc"]


def test_a_changed_method_default_invalidates_its_cells(tmp_path, teacher, monkeypatch):
    suite = load_suite(write_suite(tmp_path, teacher, methods=("teacher", "bc", "kd-marl")))
    run_suite(suite, tmp_path / "out")
    from dataclasses import dataclass

    from kdmarl_bench.methods.bc import BCConfig, BehaviourCloning

    @dataclass
    class NewDefaults(BCConfig):
        lr: float = 5e-4

    monkeypatch.setattr(BehaviourCloning, "config_cls", NewDefaults)  # a new default for bc
    started = []
    board, _ = run_suite(suite, tmp_path / "out", events=RunEvents(on_cell_start=lambda c: started.append(c.method)))
    board = board_json(board)
    assert started == ["bc"]
    assert {r["method"]: r["method_config"].get("lr") for r in board["records"]}["bc"] == 5e-4
