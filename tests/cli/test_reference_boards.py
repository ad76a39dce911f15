"""The committed MPE and SMAX reference leaderboards (issue: expert teachers and tuned KD-MARL).

They must validate, hold >= 3 seeds for every (task, method, size) the suite plans, point at
committed student checkpoints, and their students must hold on fresh eval seeds.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdmarl_bench.cli import main
from kdmarl_bench.results.leaderboard import load_leaderboard
from kdmarl_bench.suite import load_suite, plan

ROOT = Path(__file__).resolve().parents[2]
BOARDS = ["mpe", "smax"]
REQUIRED_METHODS = {"teacher", "kd-marl", "bc", "pd-kl", "dagger", "logit-mse", "scratch"}


@pytest.fixture(scope="module", params=BOARDS)
def named_board(request):
    return request.param, load_leaderboard(ROOT / "baselines" / f"{request.param}.json")  # validates


def test_board_covers_its_suite(named_board):
    name, board = named_board
    suite = load_suite(ROOT / "suites" / f"{name}.toml")
    assert board["suite"]["name"] == name and board["suite"]["sha256"] == suite.sha256
    planned = {(c.task, c.method, c.size_label, c.seed) for c in plan(suite)}
    recorded = {(r["task"], r["method"], (r["student"] or {}).get("size", "full"), r["seed"])
                for r in board["records"]}
    assert recorded == planned
    seeds = collections.defaultdict(set)
    for task, method, _size, seed in recorded:
        seeds[(task, method)].add(seed)
    assert all(len(s) >= 3 for s in seeds.values())
    assert REQUIRED_METHODS <= {m for _, m in seeds}


def test_board_students_are_committed(named_board):
    name, board = named_board
    base = ROOT / "baselines"
    for r in board["records"]:
        if r["method"] == "teacher":
            assert r["checkpoint"].startswith("zoo:")
        elif r["error"] is None:
            assert (base / r["checkpoint"]).is_file(), r["checkpoint"]
            assert r["cost"]["flops"] > 0


@pytest.mark.parametrize("name", BOARDS)
def test_board_students_hold_on_fresh_seeds(name):
    res = CliRunner().invoke(main, ["verify", str(ROOT / "baselines" / f"{name}.json"), "--sample", "3", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 3
