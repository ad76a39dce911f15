"""`verify --retrain`: run a tiny real suite, retrain a sampled cell here, judge it against the
board's seed-to-seed spread; plus the judgment and the cell reconstruction on their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdmarl_bench.cli import main
from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.model.records import Record
from kdmarl_bench.runner import run_suite
from kdmarl_bench.suite import load_suite
from kdmarl_bench.verify import judge_retrained, reconstruct_cell
from tests.factories import load_board, random_teacher, tiny_suite_toml, write_board

TASK = "mpe/simple_speaker_listener_v4"


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> Path:
    """A real two-seed board: a random-init teacher and behaviour cloning at a tiny budget."""
    d = tmp_path_factory.mktemp("retrain")
    teacher = random_teacher(d / "teacher", TASK)
    suite = d / "suite.toml"
    suite.write_text(tiny_suite_toml(teacher=str(teacher), task=TASK, methods=("teacher", "bc"), seeds=(0, 1),
                                     name="retrain-test"))
    _, path = run_suite(load_suite(suite), d / "out")
    return path


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_retrain_one_cell_holds_and_writes_nothing_beside_the_board(board):
    before = _files(board.parent)
    res = CliRunner().invoke(main, ["verify", str(board), "--retrain", "1", "--json"])
    assert res.exit_code == 0, res.output
    [row] = json.loads(res.stdout[res.stdout.index("["):])
    assert (row["task"], row["method"], row["size"]) == (TASK, "bc", "auto")
    assert row["verdict"] == "holds" and row["n_seeds"] == 2
    assert row["interval"][0] <= row["retrained"] <= row["interval"][1]
    assert row["identical"] and row["retrained"] == row["recorded"]  # same host: bit for bit
    assert _files(board.parent) == before


def test_retrain_outside_the_boards_spread_exits_1(board, tmp_path):
    """A board whose bc scores were inflated by 2000 points (tiny budgets: seeds differ by ~40): the retrained student falls outside."""
    data = load_board(board)
    for r in data["records"]:
        if r["method"] == "bc":
            r["score"] += 2000.0
            r["episode_scores"] = [x + 2000.0 for x in r["episode_scores"]]
    data["suite"]["path"] = str(Path(data["suite"]["path"]).resolve())
    forged = write_board(tmp_path / "forged.json", data)
    res = CliRunner().invoke(main, ["verify", str(forged), "--retrain", "1"])
    assert res.exit_code == 1, res.output
    assert "outside" in res.output and "bc" in res.output


def test_retrain_without_the_suite_file_exits_2(board, tmp_path):
    data = load_board(board)
    data["suite"]["path"], data["suite"]["name"] = str(tmp_path / "gone.toml"), "gone"
    lost = write_board(tmp_path / "lost.json", data)
    res = CliRunner().invoke(main, ["verify", str(lost), "--retrain", "1"])
    assert res.exit_code == 2 and "suite.path" in res.output and "gone.toml" in res.output


def test_reconstruct_cell_uses_the_record_and_checks_widths(board):
    data = load_board(board)
    suite = load_suite(data["suite"]["path"])
    rec = next(r for r in data["records"] if r["method"] == "bc" and r["seed"] == 1)
    cell, notes = reconstruct_cell(suite, Record.from_dict(rec), "board")
    assert (cell.task, cell.method, cell.size_label, cell.seed) == (TASK, "bc", "auto", 1)
    assert (cell.env_steps, cell.eval_seed, cell.eval_episodes) == (400, rec["eval_seed"], 6) and notes == []
    tampered = {**rec, "budget": {"env_steps": 800}}
    cell, notes = reconstruct_cell(suite, Record.from_dict(tampered), "board")
    assert cell.env_steps == 800 and "env_steps 800" in notes[0]
    wrong = {**rec, "student": {**rec["student"], "widths": [[8, 8], [8, 8]]}}
    with pytest.raises(UsageError, match="widths"):
        reconstruct_cell(suite, Record.from_dict(wrong), "board")
    with pytest.raises(UsageError, match="no cell"):
        reconstruct_cell(suite, Record.from_dict({**rec, "seed": 9}), "board")


def test_judge_retrained():
    seeds = [0.80, 0.84, 0.82]
    verdict, iv = judge_retrained(0.83, seeds)
    assert verdict == "holds" and iv.lo < 0.80 and iv.hi > 0.84
    assert judge_retrained(0.50, seeds)[0] == "outside"
    assert judge_retrained(1.20, seeds)[0] == "outside"  # far above the spread is not the board's cell either
    assert judge_retrained(0.83, [0.82])[0] == "inconclusive"  # one seed: no spread to judge against
    # an episode floor widens the interval: two equal seeds do not make a noiseless cell
    assert judge_retrained(0.70, [0.82, 0.82])[0] == "outside"
    assert judge_retrained(0.70, [0.82, 0.82], floor=0.004)[0] == "holds"
