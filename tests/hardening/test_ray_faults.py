"""Issue 21, case 5: Ray fails fast and speaks the tool's exit codes.

An unreachable ``--ray-address`` gives up after ``--ray-timeout`` (exit 2, the address named) instead of
retrying for ever; a malformed address is a usage error (exit 2), not a bug (70); SIGTERM during a Ray run,
and during Ray's start-up, exits 130 as without Ray.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdmarl_bench.cli import main
from tests.factories import random_teacher, tiny_suite_toml

pytest.importorskip("ray")


def _suite(tmp_path: Path, env_steps: int = 400, seeds=(0,)) -> Path:
    teacher = random_teacher(tmp_path / "teacher")
    p = tmp_path / "suite.toml"
    p.write_text(tiny_suite_toml(teacher=str(teacher), methods=("teacher", "bc"), seeds=seeds, env_steps=env_steps))
    return p


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_address_times_out_with_exit_2(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    start = time.monotonic()
    res = CliRunner().invoke(main, ["run", str(_suite(tmp_path)), "--out", str(tmp_path / "o"), "--executor", "ray",
                                    "--ray-address", address, "--ray-timeout", "3"])
    assert res.exit_code == 2, res.output
    assert address in res.output and "3 s" in res.output and "--ray-timeout" in res.output
    assert time.monotonic() - start < 60


@pytest.mark.parametrize("address", ["not an address", "127.0.0.1:99999", "http://127.0.0.1:6379", ":6379", "host:"])
def test_malformed_address_exits_2(tmp_path, monkeypatch, address):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    res = CliRunner().invoke(main, ["run", str(_suite(tmp_path)), "--out", str(tmp_path / "o"), "--executor", "ray",
                                    "--ray-address", address])
    assert res.exit_code == 2, res.output
    assert repr(address) in res.output and "HOST:PORT" in res.output


def _sigterm_after(tmp_path: Path, until, env_steps: int) -> subprocess.CompletedProcess:
    out = tmp_path / "o"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([sys.executable, "-m", "kdmarl_bench", "run", str(_suite(tmp_path, env_steps, (0, 1))),
                             "--out", str(out), "--executor", "ray", "--jobs", "2", "--device", "cpu"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not until(out):
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before SIGTERM: " + proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", err)


@pytest.mark.slow
def test_sigterm_during_a_ray_run_exits_130(tmp_path):
    def a_cell_is_done(out: Path) -> bool:
        cells = out / "cells"
        return cells.is_dir() and any("teacher" in f.read_text() for f in cells.glob("*.json"))

    res = _sigterm_after(tmp_path, a_cell_is_done, env_steps=400_000)
    assert res.returncode == 130, res.stderr[-3000:]
    assert "interrupted: finished cells are saved" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
def test_sigterm_during_ray_start_up_exits_130(tmp_path):
    def ray_is_starting(out: Path) -> bool:
        import psutil

        return any("gcs_server" in " ".join(p.cmdline()) for p in psutil.process_iter() if p.pid != os.getpid()
                   if _safe(p))

    res = _sigterm_after(tmp_path, ray_is_starting, env_steps=400_000)
    assert res.returncode == 130, res.stderr[-3000:]
    assert ("terminated (SIGTERM)" in res.stderr or "interrupted" in res.stderr) and "Traceback" not in res.stderr


def _safe(p) -> bool:
    import psutil

    try:
        p.cmdline()
        return True
    except psutil.Error:
        return False
