"""Executors on real envs with tiny budgets: a process pool and Ray give the same results as one
worker, the driver writes every cell once, latency is one measurement per architecture, Ctrl-C
stops the workers and a re-run resumes."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kdmarl_bench.executors import make_executor
from kdmarl_bench.runner import RunEvents, Runner, run_suite
from kdmarl_bench.suite import load_suite, plan
from tests.factories import board_json, tiny_suite_toml

TASK = "mpe/simple_speaker_listener_v4"


def tiny_suite(tmp_path: Path, teacher: str = "zoo", methods=("teacher", "kd-marl", "bc"), seeds=(0,),
               env_steps: int = 400, teacher_steps: int = 800, task: str = TASK, name: str = "suite") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(tiny_suite_toml(teacher=teacher, task=task, methods=methods, seeds=seeds, name="tiny",
                                 env_steps=env_steps, teacher_steps=teacher_steps))
    return p


def outcome(board: dict) -> list[tuple]:
    """What must not depend on where a cell ran: scores, episodes, losses, cost, teacher digest."""
    return sorted((r["task"], r["method"], r["seed"], r["score"], tuple(r["episode_scores"]),
                   json.dumps((r["train"] or {}).get("final_losses"), sort_keys=True), r["cost"]["flops"],
                   r["teacher_sha256"]) for r in board["records"])


def checkpoint_bytes(out: Path, board: dict) -> dict:
    return {(r["method"], r["seed"]): (out / r["checkpoint"]).read_bytes() for r in board["records"]
            if r["method"] != "teacher"}


@pytest.fixture(scope="module")
def ci_runs(tmp_path_factory):
    """The bundled ``ci`` suite with --jobs 1 and --jobs 2 (local process pools)."""
    suite = load_suite("ci")
    out = {}
    for jobs in (1, 2):
        d = tmp_path_factory.mktemp(f"ci_jobs{jobs}")
        board, _ = run_suite(suite, d, device="cpu", executor=make_executor("local", jobs=jobs))
        board = board_json(board)
        out[jobs] = (d, board)
    return out


def test_jobs_2_is_bit_identical_to_jobs_1(ci_runs):
    (d1, b1), (d2, b2) = ci_runs[1], ci_runs[2]
    assert outcome(b1) == outcome(b2)
    assert checkpoint_bytes(d1, b1) == checkpoint_bytes(d2, b2)
    assert sorted(p.name for p in (d1 / "cells").glob("*.json")) == sorted(p.name for p in (d2 / "cells").glob("*.json"))


def test_same_architecture_is_one_measurement(ci_runs):
    d, board = ci_runs[2]
    recs = {r["method"]: r for r in board["records"]}
    kd, bc, teacher = recs["kd-marl"]["latency"], recs["bc"]["latency"], recs["teacher"]["latency"]
    assert kd and kd == bc  # same student architecture on the same task: the very same entries
    assert {e["arch"] for e in kd} != {e["arch"] for e in teacher}
    for e in kd:
        assert e["timing"] == {"where": "driver", "phase": "profile", "interleaved_with": "teacher", "shared_by": 2}
        assert e["noisy"] == (e["timer_mismatch"] or e["cv"] > 0.10)
    assert all(e["timing"]["interleaved_with"] == "students" and e["timing"]["shared_by"] == 1 for e in teacher)
    files = list((d / "latency").glob("*.json"))
    assert len(files) == 1
    # A resumed run attaches the stored measurement instead of timing again.
    mtime = files[0].stat().st_mtime_ns
    again, _ = run_suite(load_suite("ci"), d, device="cpu")
    again = board_json(again)
    assert files[0].stat().st_mtime_ns == mtime
    assert {r["method"]: r["latency"] for r in again["records"]} == {r["method"]: r["latency"] for r in board["records"]}


def test_jobs_validation_and_default(tmp_path):
    from kdmarl_bench.executors import usable_cores

    ex = make_executor("local")
    try:
        assert ex.workers == usable_cores() == len(os.sched_getaffinity(0))
    finally:
        ex.close()


def test_ctrl_c_stops_workers_keeps_cells_and_resumes(tmp_path):
    psutil = pytest.importorskip("psutil")
    # 3 seeds (12 cells): many cells are still to run when the first student's cell lands, so Ctrl-C
    # always arrives mid-run (with one seed a fast machine could finish before the signal)
    suite_path = tiny_suite(tmp_path, methods=("teacher", "kd-marl", "bc", "pd-kl"), seeds=(0, 1, 2), env_steps=3000)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "kdmarl_bench", "run", str(suite_path), "--out", str(out), "--jobs", "2"]
    # the run starts with Ctrl-C's default action, as from a terminal (a test runner started in the
    # background of a script inherits SIGINT ignored, and a child keeps ignoring it)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    workers = []
    while time.time() < deadline:
        cells = [c for c in (out / "cells").glob("*.json")] if (out / "cells").exists() else []
        if any(json.loads(c.read_text()).get("method") not in (None, "teacher") for c in cells):
            workers = psutil.Process(proc.pid).children(recursive=True)
            break
        time.sleep(0.2)
    assert workers, "no student cell finished before the deadline"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    time.sleep(0.5)
    assert not [p for p in workers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    kept = {c: c.stat().st_mtime_ns for c in (out / "cells").glob("*.json")}
    assert kept and not (out / "leaderboard.json").exists()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "resuming" in res.stderr
    for c, m in kept.items():
        assert c.stat().st_mtime_ns == m, f"{c} was rewritten"
    assert len(json.loads((out / "leaderboard.json").read_text())["records"]) == 12


# ---------------------------------------------------------------------------------
# Ray: a real local instance bound to 127.0.0.1
@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    for attempt in range(3):  # Ray waits 30 s for its raylet; a loaded 2-core CI machine can miss that once
        try:
            ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                     log_to_driver=False)
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    yield ray
    ray.shutdown()


def test_ray_matches_local_on_ci(local_ray, ci_runs, tmp_path):
    board, _ = run_suite(load_suite("ci"), tmp_path / "ray", device="cpu", executor=make_executor("ray", jobs=2))
    board = board_json(board)
    assert outcome(board) == outcome(ci_runs[2][1])
    assert checkpoint_bytes(tmp_path / "ray", board) == checkpoint_bytes(*ci_runs[2])


def test_ray_trains_the_teacher_as_a_task_students_depend_on(local_ray, tmp_path):
    suite = load_suite(tiny_suite(tmp_path, teacher="train", methods=("teacher", "bc")))
    ray_board, _ = run_suite(suite, tmp_path / "ray", device="cpu", executor=make_executor("ray", jobs=2))
    ray_board = board_json(ray_board)
    local_board, _ = run_suite(suite, tmp_path / "inline", device="cpu")
    local_board = board_json(local_board)
    assert outcome(ray_board) == outcome(local_board)
    weights = tmp_path / "ray" / "teachers" / "mpe_simple_speaker_listener_v4.safetensors"
    assert weights.read_bytes() == (tmp_path / "inline" / "teachers" / weights.name).read_bytes()
    assert {r["teacher"] for r in ray_board["records"]} == {"teachers/mpe_simple_speaker_listener_v4.safetensors"}


def test_ray_killed_worker_every_cell_finishes_once(local_ray, tmp_path):
    psutil = pytest.importorskip("psutil")
    suite = load_suite(tiny_suite(tmp_path, methods=("teacher", "kd-marl", "bc"), env_steps=3000))
    killed: list[int] = []
    done: list[tuple] = []

    def kill_a_running_task(cell) -> None:
        if killed or cell.method == "teacher":
            return

        def kill() -> None:
            time.sleep(1.0)  # mid-cell: the student is training
            for p in psutil.process_iter(["pid", "cmdline"]):
                if any("ray::_remote_entry" in part for part in (p.info["cmdline"] or [])):
                    killed.append(p.pid)
                    os.kill(p.pid, signal.SIGKILL)
                    return

        threading.Thread(target=kill, daemon=True).start()

    events = RunEvents(on_cell_start=kill_a_running_task,
                       on_cell_done=lambda c, r, cached: done.append((c.method, c.seed, cached)))
    out = tmp_path / "out"
    board, _ = run_suite(suite, out, device="cpu", executor=make_executor("ray", jobs=2), events=events)
    board = board_json(board)
    assert killed, "no Ray worker was running a cell to kill"
    planned = plan(suite)
    assert sorted(done) == sorted((c.method, c.seed, False) for c in planned)  # each recorded exactly once
    keys = {Runner(suite, out).key(c) for c in planned}
    assert {p.stem for p in (out / "cells").glob("*.json") if json.loads(p.read_text()).get("method")} == keys
    assert all(r["error"] is None and r["score"] is not None for r in board["records"])


def test_ray_missing_exits_3(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from kdmarl_bench.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError, as without the extra
    res = CliRunner().invoke(main, ["run", str(tiny_suite(tmp_path)), "--out", str(tmp_path / "o"),
                                    "--executor", "ray"])
    assert res.exit_code == 3, res.output
    assert 'pip install "kdmarl-bench[ray]"' in res.output


def test_run_one_cell_reproduces_a_record_here(ci_runs, tmp_path):
    """``verify --retrain``'s entry point: one cell from a board's record, in this process."""
    from kdmarl_bench.results.model.records import Record
    from kdmarl_bench.runner import cell_spec_for_record, run_one_cell

    _, board = ci_runs[2]
    (rec,) = [r for r in board["records"] if r["method"] == "bc"]
    suite = load_suite("ci")
    spec = cell_spec_for_record(suite, Record.from_dict(rec), tmp_path)
    assert (spec.cell.method, spec.cell.seed, spec.cell.task) == ("bc", rec["seed"], rec["task"])
    again = run_one_cell(spec, tmp_path, device="cpu")
    assert again.score == rec["score"] and again.episode_scores == rec["episode_scores"]
    assert (tmp_path / again.checkpoint).is_file()
    with pytest.raises(Exception, match="no cell"):
        cell_spec_for_record(suite, Record.from_dict({**rec, "seed": 99}), tmp_path)


def test_a_pool_run_ends_without_worker_tracebacks(tmp_path):
    """The driver ends idle pool workers with SIGTERM at the end of a run; they must die quietly
    (once, each printed a `Terminated` traceback on stderr after every successful run)."""
    suite = tiny_suite(tmp_path, methods=("teacher", "bc"), task="mpe/simple_spread_v3")
    import shutil

    exe = shutil.which("kdmarl-bench")  # the console script users run (spawned workers re-import it)
    cmd = [exe] if exe else [sys.executable, "-m", "kdmarl_bench"]
    res = subprocess.run([*cmd, "run", str(suite), "--out", str(tmp_path / "out"), "--jobs", "2"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and "Terminated" not in res.stderr, res.stderr
