"""verify's and profile's tables, rendered by the render layer (the commands only print them)."""

from __future__ import annotations

import os

import pytest
from rich.console import Console

from kdmarl_bench.results.model.verification import Verification
from kdmarl_bench.results.render.fit import print_fitted
from kdmarl_bench.results.render.terminal import (
    NOISY_MARK,
    fmt_kib,
    latency_notes,
    latency_table,
    profile_lines,
    verify_table,
)


def _text(fitted, width: int = 240) -> str:
    con = Console(width=width, record=True, color_system=None, file=open(os.devnull, "w"))
    print_fitted(con, [fitted])
    return con.export_text()


def test_verify_table_shows_each_verdict():
    rows = [Verification("smax/3m", "bc", "auto", 0, "s.safetensors", 0.9, (0.8, 1.0), 0.85, 7, True,
                         (-0.1, 0.02), True),
            Verification("smax/3m", "bc", "auto", 1, "s.safetensors", 0.9, (0.8, 1.0), 0.5, 8, False,
                         (-0.5, -0.3), False)]
    text = _text(verify_table(rows, "b.json"))
    assert "fresh-seed re-evaluation of b.json" in text
    assert "-0.050 [-0.100, +0.020]" in text and "-0.400 [-0.500, -0.300]" in text
    lines = [li for li in text.splitlines() if "smax/3m" in li]
    assert lines[0].rstrip(" │|").endswith("yes") and lines[1].rstrip(" │|").endswith("no")


def test_profile_lines_and_latency_table():
    out = {"checkpoint": "zoo:smax/3m", "kind": "teacher", "task": "smax/3m",
           "cost": {"params": 1234, "macs": 1000, "flops": 2000, "agree": True},
           "memory": {"weights_fp32_bytes": 4936, "weights_int8_bytes": 1234, "peak_activation_bytes": 512},
           "peak": {"matmul_gflops": 50.0, "bandwidth_gbs": 10.0, "llc_bytes": 32 * 2**20}}
    first, second = profile_lines(out)
    assert "params 1,234" in first and "FLOPs 2,000" in first
    assert "weights 4.8 KiB fp32" in second and "LLC 32 MiB" in second
    entry = {"path": "eager", "device": "cpu", "threads": 1, "mode": "decentralized", "batch": 1, "p50_ms": 0.0123,
             "p90_ms": 0.02, "p99_ms": 0.03, "timer_median_ms": 0.0125, "cv": 0.01,
             "throughput_decisions_per_s": 81300.0, "x_floor": 12.0,
             "equivalence": {"passed": False, "max_abs_diff": 0.5, "n": 64}, "file_bytes": 3 * 2**20}
    text = _text(latency_table([entry]))
    assert "0.0123" in text and "81,300" in text and "12.0x" in text and "FAILED" in text and "3.00 MiB" in text
    assert fmt_kib(None) == "-"
    assert NOISY_MARK not in text and latency_notes([entry]) == []


ENTRY = {"path": "executorch", "device": "cpu", "threads": 1, "mode": "decentralized", "batch": 1,
         "p50_ms": 0.031234, "p90_ms": 0.0402, "p99_ms": 0.0613, "timer_median_ms": 0.156, "cv": 0.01,
         "timer_mismatch": True, "throughput_decisions_per_s": 32015.0, "x_floor": 140.2,
         "equivalence": {"passed": True, "max_abs_diff": 7.6e-6, "n": 256}, "file_bytes": 32316}


def test_profile_flags_a_p50_its_own_cross_check_disagrees_with():
    """p50 0.031 ms beside a Timer median of 0.156 ms: the p50 carries the mark and a footnote says why."""
    text = _text(latency_table([ENTRY, {**ENTRY, "path": "eager", "timer_mismatch": False, "timer_median_ms": 0.0315,
                                        "equivalence": None}]))
    flagged = [ln for ln in text.splitlines() if "executorch" in ln]
    assert flagged and f"0.0312 {NOISY_MARK}" in flagged[0]
    clean = [ln for ln in text.splitlines() if ln.strip().startswith("eager")]
    assert clean and NOISY_MARK not in clean[0]
    (note,) = latency_notes([ENTRY])
    assert note.startswith(NOISY_MARK) and "1 of 1" in note and "cross-check" in note


@pytest.mark.parametrize("width", [80, 120, 200])
def test_profile_and_verify_tables_fit_and_cut_no_number(width):
    entries = [ENTRY, {**ENTRY, "path": "onnxruntime", "p50_ms": 0.0119, "timer_mismatch": False}]
    text = _text(latency_table(entries, width), width)
    assert max(len(ln) for ln in text.splitlines()) <= width
    words = {w for ln in text.splitlines() for w in ln.split()}
    assert {"executorch", "onnxruntime", "0.0312", "0.0119", "decentr."} <= words
    assert "…" not in text
    if width == 80:
        assert "hidden to fit:" in text and "p99 ms" in text.split("hidden to fit:")[1]
    rows = [Verification("smax/3m", "kd-marl-offline", "auto-x0.5", 0, "s.safetensors", 0.9, (0.8, 1.0), 0.85, 7,
                         True, (-0.1, 0.02), True, "hetero")]
    text = _text(verify_table(rows, "baselines/limited.json", width), width)
    assert max(len(ln) for ln in text.splitlines()) <= width and "…" not in text
    words = {w for ln in text.splitlines() for w in ln.split()}
    assert {"smax/3m@hetero", "kd-marl-offline", "auto-x0.5", "0.900", "0.850"} <= words
