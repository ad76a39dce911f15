"""Never silent: commands draw a status line on a terminal while they load, and
benchmarks/silence_check.py measures the longest silence of each (run in full by hand)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def silence():
    spec = importlib.util.spec_from_file_location("silence_check", ROOT / "benchmarks" / "silence_check.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["silence_check"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_gate_on_a_terminal_shows_a_loading_line_first(silence):
    m = silence.measure("gate", ["gate", silence.BOARD, "--baseline", silence.BOARD])
    assert m.exit_code == 0
    assert "loading numpy, scipy and torch" in m.first_output  # drawn before the slow imports


def test_quiet_draws_no_loading_line(silence):
    m = silence.measure("gate", ["--quiet", "gate", silence.BOARD, "--baseline", silence.BOARD])
    assert m.exit_code == 0 and m.first_output and "loading" not in m.first_output


@pytest.mark.slow
def test_every_quickstart_command_speaks_within_3_seconds(silence, tmp_path):
    todo = silence.commands(tmp_path)
    for name in ("plan", "envs", "methods", "show", "compare", "gate", "report", "evaluate", "verify", "run",
                 "train-teacher", "profile", "export-onnx", "export-onnx-int8", "export-executorch"):
        m = silence.measure(name, todo[name])
        assert m.exit_code in (0, 1), (name, m)
        assert m.longest_gap_s <= 3.0, (name, m)
