"""Issue 11, cases 7 (cells), 8, 9, 13 and the top-level handler: how `run` and the CLI end.

- an unwritable --out is found before the first cell (exit 2);
- a second run on a folder another run holds exits 2 (a lock, not two computations of each cell);
- a failed cell makes `run` exit 4 after writing everything that finished;
- a cell file that is not a record is an error naming it (exit 2), not a KeyError;
- an unexpected exception exits 70 with one line and the path of its traceback;
- Ctrl-C in the first seconds and SIGTERM exit 130 with a message, not "Aborted!" or -15.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from kdmarl_bench.checkpoint import save_checkpoint
from kdmarl_bench.cli import EXIT_INTERNAL_ERROR, main
from kdmarl_bench.envs import get_task
from kdmarl_bench.models.policy import TeacherPolicy
from kdmarl_bench.results.store.cells import claim_out_dir

TASK = "mpe/simple_speaker_listener_v4"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def suite(tmp_path) -> Path:
    spec = get_task(TASK).spec
    torch.manual_seed(0)
    teacher = save_checkpoint(TeacherPolicy(spec.obs_dims, spec.n_actions, spec.state_dim, (16,), (16,)),
                              tmp_path / "teacher", {"kind": "teacher", "task": TASK})
    p = tmp_path / "suite.toml"
    p.write_text(f"""
[suite]
name = "t"
tasks = ["{TASK}"]
methods = ["teacher", "bc"]
seeds = [0]
[teacher]
source = "{teacher}"
[students]
sizes = [{{ label = "w8", hidden = [8] }}]
[budget]
env_steps = 200
num_envs = 2
[eval]
episodes = 2
[profile]
iters = 10
warmup = 1
threads = [1]
batch_sizes = []
cuda = "off"
""")
    return p


def _run(suite: Path, out: Path, *extra: str):
    return CliRunner().invoke(main, ["run", str(suite), "--out", str(out), *extra])


# ---- case 9: unwritable output folder --------------------------------------------------------


def test_unwritable_out_fails_before_the_first_cell(tmp_path, suite):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    started = []
    import kdmarl_bench.runner as runner_mod

    real = runner_mod.Runner._drive  # the driver loop that hands cells to workers
    try:
        runner_mod.Runner._drive = lambda self, specs, ex: started.append(specs) or real(self, specs, ex)
        res = _run(suite, blocker / "out", "--executor", "inline")
    finally:
        runner_mod.Runner._drive = real
    assert res.exit_code == 2, res.output
    assert "not writable" in res.output and "file/out" in res.output and "Traceback" not in res.output
    assert started == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_fails_before_the_first_cell(tmp_path, suite):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    res = _run(suite, out)
    assert res.exit_code == 2 and "not writable" in res.output, res.output


def test_disk_full_mid_run_exits_2_naming_the_file_and_keeps_finished_cells(tmp_path, suite, monkeypatch):
    import errno

    from kdmarl_bench.results.store.cells import ResultStore

    real = ResultStore.save

    def save(self, key, record):
        if record.method == "bc":
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path(key)))
        return real(self, key, record)

    monkeypatch.setattr(ResultStore, "save", save)
    out = tmp_path / "out"
    # In plan order (teacher, then bc), so a cell has finished before the disk fills; with a pool
    # the bc cell may finish first and nothing would be there to keep.
    res = _run(suite, out, "--executor", "inline")
    assert res.exit_code == 2, res.output
    assert "No space left on device" in res.output and "cells" in res.output and "Traceback" not in res.output
    kept = [json.loads(c.read_text()) for c in (out / "cells").glob("*.json")]
    assert any(r.get("method") == "teacher" for r in kept)


# ---- case 13: one run per folder -------------------------------------------------------------


def test_second_run_on_a_held_folder_exits_2(tmp_path, suite):
    out = tmp_path / "out"
    with claim_out_dir(out):  # as a run in another process holds it
        res = _run(suite, out)
    assert res.exit_code == 2, res.output
    assert "another kdmarl-bench run" in res.output and f"pid {os.getpid()}" in res.output
    assert not (out / "cells").exists()


def test_lock_is_released_and_taken_across_processes(tmp_path):
    out = tmp_path / "out"
    code = ("import sys, time; from kdmarl_bench.results.store.cells import claim_out_dir\n"
            f"with claim_out_dir({str(out)!r}):\n    print('held', flush=True); time.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == "held"
        from kdmarl_bench.errors import UsageError

        with pytest.raises(UsageError, match=f"pid {proc.pid}"), claim_out_dir(out):
            pass
    finally:
        proc.kill()
        proc.wait()
    with claim_out_dir(out):  # the holder died (kill -9 included): the lock went with it
        pass


# ---- cases 13 and 7: failed cells, broken cell files ----------------------------------------


def test_failed_cell_exits_4_after_writing_the_rest_and_broken_cells_exit_2(tmp_path, suite, monkeypatch):
    import kdmarl_bench.methods.bc as bc

    real = bc.ce_to_teacher
    monkeypatch.setattr(bc, "ce_to_teacher", lambda *a, **k: real(*a, **k) * float("nan"))
    out = tmp_path / "out"
    res = _run(suite, out, "--executor", "inline")  # the patch lives in this process, not in pool workers
    assert res.exit_code == 4, res.output
    assert "1 cell(s) failed" in res.output
    board = json.loads((out / "leaderboard.json").read_text())
    assert {r["method"]: bool(r["error"]) for r in board["records"]} == {"teacher": False, "bc": True}
    cells = sorted((out / "cells").glob("*.json"))
    records = [json.loads(c.read_text()) for c in cells]
    teacher_cell = next(c for c, r in zip(cells, records, strict=True) if r.get("method") == "teacher")
    monkeypatch.undo()

    # `{}` (or any non-record) where a finished cell was: exit 2 naming the file, no KeyError.
    teacher_cell.write_text("{}")
    res = _run(suite, out)
    assert res.exit_code == 2, res.output
    assert teacher_cell.name in res.output and "lacks field 'task'" in res.output and "delete the file" in res.output
    # A record planted under another cell's name is caught too.
    bc_cell = next(c for c, r in zip(cells, records, strict=True) if r.get("method") == "bc")
    teacher_cell.write_text(bc_cell.read_text())
    res = _run(suite, out)
    assert res.exit_code == 2 and "its name belongs to" in res.output, res.output
    teacher_cell.write_text("garbage")
    res = _run(suite, out)
    assert res.exit_code == 2 and "not valid JSON" in res.output, res.output


# ---- the top-level handler ---------------------------------------------------------------------


def test_unexpected_exception_exits_70_with_the_traceback_path(tmp_path, suite, monkeypatch):
    import kdmarl_bench.runner as runner_mod

    def broken(*_a, **_k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(runner_mod, "plan", broken)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "out"
    res = _run(suite, out)
    assert res.exit_code == EXIT_INTERNAL_ERROR == 70, res.output
    assert "internal error (ZeroDivisionError: a bug)" in res.output and "Traceback" not in res.output
    logs = list((out / "logs").glob("crash-*.txt"))
    assert len(logs) == 1 and str(logs[0]) in res.output
    assert "ZeroDivisionError: a bug" in logs[0].read_text() and "Traceback" in logs[0].read_text()


def test_unexpected_exception_outside_run_goes_to_the_cache(tmp_path, monkeypatch):
    import kdmarl_bench.commands.common as common
    import kdmarl_bench.commands.plan as plan_cmd

    monkeypatch.setattr(common, "_CRASH_DIR", [None])
    monkeypatch.setattr(plan_cmd, "plan", lambda *_a: [][1])  # the name the command calls
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    res = CliRunner().invoke(main, ["plan", "quickstart"])
    assert res.exit_code == 70, res.output
    (log,) = (tmp_path / "cache" / "kdmarl-bench" / "crashes").glob("crash-*.txt")
    assert str(log) in res.output and "IndexError" in log.read_text()


def _start(args: list[str], tmp_path: Path) -> subprocess.Popen:
    """The installed ``kdmarl-bench`` script (what users run), importing this checkout's package."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    script = shutil.which("kdmarl-bench")
    cmd = [script] if script else [sys.executable, "-c", "import sys; from kdmarl_bench.cli import main; main()"]
    return subprocess.Popen([*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)


@pytest.mark.parametrize("delay", [0.3, 1.5])
def test_ctrl_c_in_the_first_seconds_exits_130(tmp_path, suite, delay):
    proc = _start(["run", str(suite), "--out", str(tmp_path / "out")], tmp_path)
    time.sleep(delay)  # imports (click, then torch/jax inside the command) are still going on
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Aborted!" not in err and "Traceback" not in err


def test_sigterm_takes_the_interrupt_path(tmp_path, suite):
    proc = _start(["run", str(suite), "--out", str(tmp_path / "out")], tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "out" / ".lock").exists():
        time.sleep(0.1)  # wait until the run holds its folder (past the imports)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "finished cells are saved" in err and "Traceback" not in err
