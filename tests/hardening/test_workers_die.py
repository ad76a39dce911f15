"""Issue 21, case 4: workers die with their driver.

A ``run`` driver killed with SIGKILL (no chance to clean up) leaves no worker process behind after 10 s:
the process pool's workers get the kernel's parent-death signal (and a watchdog on the parent pid), and a
local Ray instance's processes (raylet, GCS, task workers) go with the driver that started them.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.factories import random_teacher, tiny_suite_toml

TASK = "mpe/simple_speaker_listener_v4"


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(procs: list[psutil.Process]) -> list[str]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            pass
    return out


def _names(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def kill_driver_and_check_workers(cmd: list[str], worker_mark: str, want_workers: int = 2,
                                  timeout: float = 240) -> None:
    """Start ``cmd``, wait until ``want_workers`` descendants whose command line holds ``worker_mark`` run
    (workers busy with jobs), SIGKILL the driver, and assert every descendant is gone 10 s later."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    seen: dict[int, psutil.Process] = {}
    try:
        deadline = time.time() + timeout
        while time.time() < deadline and proc.poll() is None:
            for p in _descendants(proc.pid):
                seen.setdefault(p.pid, p)
            if sum(worker_mark in _names(p) for p in seen.values()) >= want_workers:
                time.sleep(3)  # let the workers take their jobs
                for p in _descendants(proc.pid):
                    seen.setdefault(p.pid, p)
                break
            time.sleep(0.3)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        assert sum(worker_mark in _names(p) for p in seen.values()) >= want_workers, "the workers never started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(10)
        left = _alive(list(seen.values()))
        assert not left, "worker processes outlived their SIGKILLed driver:\n" + "\n".join(left)
    finally:
        for p in seen.values():  # never leave anything behind, even when the assertion failed
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        if proc.poll() is None:
            proc.kill()


def _suite(tmp_path: Path) -> Path:
    teacher = random_teacher(tmp_path / "teacher")
    p = tmp_path / "suite.toml"
    # Budgets large enough that the workers are still training when the driver is killed.
    p.write_text(tiny_suite_toml(teacher=str(teacher), methods=("teacher", "bc", "kd-marl"), seeds=(0, 1),
                                 env_steps=400_000))
    return p


@pytest.mark.slow
def test_sigkill_of_the_driver_leaves_no_pool_worker(tmp_path):
    cmd = [sys.executable, "-m", "kdmarl_bench", "run", str(_suite(tmp_path)), "--out", str(tmp_path / "out"),
           "--jobs", "2", "--device", "cpu"]
    kill_driver_and_check_workers(cmd, "multiprocessing.spawn")


@pytest.mark.slow
def test_sigkill_of_the_driver_leaves_no_local_ray_process(tmp_path):
    pytest.importorskip("ray")
    cmd = [sys.executable, "-m", "kdmarl_bench", "run", str(_suite(tmp_path)), "--out", str(tmp_path / "out"),
           "--executor", "ray", "--jobs", "2", "--device", "cpu"]
    kill_driver_and_check_workers(cmd, "ray::_remote_entry")  # two Ray tasks in flight
