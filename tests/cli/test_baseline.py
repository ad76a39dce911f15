"""The committed reference leaderboard: valid, complete, and the gate behaves on it."""

import copy
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdmarl_bench.cli import main
from tests.factories import load_board

BASELINE = Path(__file__).resolve().parents[2] / "baselines" / "quickstart.json"


@pytest.fixture(scope="module")
def board():
    return load_board(BASELINE)  # validates against the schema


def test_baseline_records_are_complete(board):
    assert board["suite"]["name"] == "quickstart"
    students = [r for r in board["records"] if r["method"] != "teacher"]
    assert students and all(r["error"] is None for r in board["records"])
    teacher_flops = {r["task"]: r["cost"]["flops"] for r in board["records"] if r["method"] == "teacher"}
    for r in students:
        c = r["cost"]
        assert c["params"] > 0 and c["macs"] > 0 and c["flops"] > 0
        lat = [e for e in r["latency"] if e["device"] == "cpu" and e["threads"] == 1
               and e["mode"] == "decentralized" and e.get("path", "eager") == "eager"]
        assert lat and 0 < lat[0]["p50_ms"] <= lat[0]["p90_ms"] <= lat[0]["p99_ms"]
        assert r["retention"] is not None and math.isfinite(r["retention"])
        assert (BASELINE.parent / r["checkpoint"]).exists()
        if r["method"] == "kd-marl":
            assert teacher_flops[r["task"]] / c["flops"] >= 10


def test_gate_against_itself_passes(tmp_path):
    res = CliRunner().invoke(main, ["gate", str(BASELINE), "--baseline", str(BASELINE)])
    assert res.exit_code == 0, res.output


def test_gate_fails_when_kdmarl_retention_drops(board, tmp_path):
    low = copy.deepcopy(board)
    for r in low["records"]:
        if r["method"] == "kd-marl":
            r["retention"] -= 0.3
    for s in low["summary"]:
        if s["method"] == "kd-marl":
            s["retention_mean"] -= 0.3
            s["retention_ci95"] = [x - 0.3 for x in s["retention_ci95"]]
    p = tmp_path / "low.json"
    p.write_text(json.dumps(low))
    res = CliRunner().invoke(main, ["gate", str(p), "--baseline", str(BASELINE)])
    assert res.exit_code == 1, res.output
    assert "kd-marl" in res.output and "retention" in res.output


def test_gate_on_non_json_exits_2(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("not json")
    res = CliRunner().invoke(main, ["gate", str(p), "--baseline", str(BASELINE)])
    assert res.exit_code == 2 and "x.json" in res.output


@pytest.mark.slow
def test_committed_students_hold_on_fresh_seeds():
    res = CliRunner().invoke(main, ["verify", str(BASELINE), "--sample", "4", "--json"])
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)) == 4
