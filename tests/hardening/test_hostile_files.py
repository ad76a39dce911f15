"""Issue 11, cases 3, 6, 7, 12: checkpoints, cards and leaderboards from someone else.

Each gets exit 2 with the file (and record) named, never a traceback, and verify never loads a
checkpoint outside the leaderboard's folder unless told to.
"""

import json
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from kdmarl_bench.checkpoint import save_checkpoint
from kdmarl_bench.cli import main
from kdmarl_bench.envs import get_task
from kdmarl_bench.models.policy import StudentPolicy
from kdmarl_bench.safeio import file_mode
from tests.factories import write_board

TASK = "mpe/simple_speaker_listener_v4"


def _student(path: Path, task: str = TASK, card: dict | None = None) -> Path:
    spec = get_task(task).spec
    torch.manual_seed(0)
    pol = StudentPolicy(spec.obs_dims, spec.n_actions, [(8,)] * spec.n_agents)
    return save_checkpoint(pol, path, {"kind": "student", "task": task, **(card or {})})


def _refused(res, *fragments: str) -> None:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    for frag in fragments:
        assert frag in res.output, res.output


def _board(folder: Path, checkpoint: str, **record_changes) -> Path:
    """A leaderboard in ``folder`` (teacher + one bc record) whose bc record points at ``checkpoint``."""
    from factories import make_leaderboard, make_record

    rec = make_record(TASK, "bc", 0, -10.0, teacher_score=-8.0, size="w8", checkpoint=checkpoint,
                      episode_scores=[-10.0, -11.0, -9.0])
    rec.update(record_changes)
    teacher = make_record(TASK, "teacher", 0, -8.0, checkpoint="zoo:" + TASK, episode_scores=[-8.0, -8.5, -7.5])
    return write_board(folder / "lb.json", make_leaderboard([teacher, rec], seeds=[0]))


# ---- case 3: verify follows checkpoint paths only inside the leaderboard's folder ------------


@pytest.mark.parametrize("how", ["absolute", "dotdot"])
def test_verify_refuses_checkpoints_outside_the_board(tmp_path, how):
    outside = _student(tmp_path / "elsewhere" / "s")
    board_dir = tmp_path / "boards" / "b"
    board_dir.mkdir(parents=True)
    ref = str(outside) if how == "absolute" else os.path.relpath(outside, board_dir)
    lb = _board(board_dir, ref)
    res = CliRunner().invoke(main, ["verify", str(lb), "--sample", "1"])
    _refused(res, "lb.json: record 1", "bc", ref, "outside the leaderboard's folder", "--allow-outside-paths")


def test_verify_refuses_a_symlink_leaving_the_board(tmp_path):
    outside = _student(tmp_path / "elsewhere" / "s")
    board_dir = tmp_path / "b"
    board_dir.mkdir()
    (board_dir / "link").symlink_to(outside.parent)
    lb = _board(board_dir, "link/s.safetensors")
    _refused(CliRunner().invoke(main, ["verify", str(lb), "--sample", "1"]), "outside the leaderboard's folder")


def test_verify_with_allow_outside_paths_loads_it(tmp_path):
    outside = _student(tmp_path / "elsewhere" / "s")
    board_dir = tmp_path / "b"
    board_dir.mkdir()
    lb = _board(board_dir, os.path.relpath(outside, board_dir))
    res = CliRunner().invoke(main, ["verify", str(lb), "--sample", "1", "--allow-outside-paths", "--json"])
    assert res.exit_code in (0, 1), res.output  # a verdict, not a refusal
    (row,) = json.loads(res.stdout)
    assert row["checkpoint"] == os.path.relpath(outside, board_dir)


def test_verify_loads_checkpoints_inside_the_board(tmp_path):
    board_dir = tmp_path / "b"
    _student(board_dir / "students" / "s")
    lb = _board(board_dir, "students/s.safetensors")
    res = CliRunner().invoke(main, ["verify", str(lb), "--sample", "1", "--json"])
    assert res.exit_code in (0, 1), res.output
    assert json.loads(res.stdout)[0]["method"] == "bc"


# ---- case 7: records verify cannot use --------------------------------------------------------


@pytest.mark.parametrize("change, fragment", [
    ({"task": "mpe/simple_spread_v3"}, "made for task 'mpe/simple_speaker_listener_v4', not the record's"),
    ({"episode_scores": []}, "0 episodes"),
    ({"seed": 10**30}, "seed 1000000000000000000000000000000"),
])
def test_verify_names_a_broken_record(tmp_path, change, fragment):
    board_dir = tmp_path / "b"
    _student(board_dir / "students" / "s")
    lb = _board(board_dir, "students/s.safetensors")
    data = json.loads(lb.read_text())
    data["records"][1].update(change)
    lb.write_text(json.dumps(data))
    res = CliRunner().invoke(main, ["verify", str(lb), "--sample", "1"])
    _refused(res, "lb.json: record 1", fragment)


def _deep(n: int) -> str:
    return "[" * n + "]" * n


@pytest.mark.parametrize("args", [["compare", "{lb}", "{lb}"], ["gate", "{lb}", "--baseline", "{lb}"],
                                  ["report", "{lb}", "--headline"], ["export", "{lb}", "--format", "csv"],
                                  ["verify", "{lb}"]])
def test_deeply_nested_leaderboard_exits_2(tmp_path, args):
    lb = tmp_path / "deep.json"
    lb.write_text('{"schema": "kdmarl-bench/leaderboard", "records": ' + _deep(100_000) + "}")
    res = CliRunner().invoke(main, [a.format(lb=lb) for a in args])
    _refused(res, "deep.json", "deeper than 64")


def test_moderately_nested_leaderboard_is_refused_before_schema_validation(tmp_path):
    lb = tmp_path / "deep.json"
    lb.write_text('{"schema": "kdmarl-bench/leaderboard", "records": ' + _deep(500) + "}")
    _refused(CliRunner().invoke(main, ["compare", str(lb), str(lb)]), "deeper than 64")


def test_deeply_nested_card_exits_2(tmp_path):
    w = _student(tmp_path / "s")
    w.with_suffix(".json").write_text('{"task": ' + _deep(100_000) + "}")
    _refused(CliRunner().invoke(main, ["evaluate", str(w)]), "s.json", "deeper than 64")


# ---- case 6: cards that lie -------------------------------------------------------------------


def test_card_with_a_lying_task_exits_2_naming_both(tmp_path):
    w = _student(tmp_path / "s")
    card = json.loads(w.with_suffix(".json").read_text())
    card["task"] = "smax/3m"
    w.with_suffix(".json").write_text(json.dumps(card))
    res = CliRunner().invoke(main, ["evaluate", str(w), "--episodes", "2"])
    _refused(res, "smax/3m", "does not fit", "obs_dims")


def test_card_with_huge_widths_is_refused_before_allocating(tmp_path):
    w = _student(tmp_path / "s")
    card = json.loads(w.with_suffix(".json").read_text())
    card["architecture"]["widths"] = [[1_000_000_000]] * 2
    w.with_suffix(".json").write_text(json.dumps(card))
    res = CliRunner().invoke(main, ["evaluate", str(w), "--episodes", "2"])
    _refused(res, "s.json", "architecture.widths", "65,536")


def test_card_whose_parameter_count_is_too_big_is_refused(tmp_path):
    w = _student(tmp_path / "s")
    card = json.loads(w.with_suffix(".json").read_text())
    card["architecture"]["widths"] = [[65_536] * 16] * 2  # each width allowed, the total is ~137 G parameters
    w.with_suffix(".json").write_text(json.dumps(card))
    _refused(CliRunner().invoke(main, ["profile", str(w)]), "parameters", "refusing to allocate")


def test_card_and_weights_disagree_names_the_tensor(tmp_path):
    w = _student(tmp_path / "s")
    card = json.loads(w.with_suffix(".json").read_text())
    card["architecture"]["widths"] = [[16], [16]]
    w.with_suffix(".json").write_text(json.dumps(card))
    _refused(CliRunner().invoke(main, ["evaluate", str(w)]), "s.safetensors", "do not match", "actors.0")


# ---- case 12: non-finite weights --------------------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_student_weights_are_an_error(tmp_path, value):
    from safetensors.torch import load_file, save_file

    w = _student(tmp_path / "s")
    state = load_file(str(w))
    first = sorted(state)[0]
    state[first].view(-1)[0] = value
    save_file(state, str(w))
    for cmd in (["evaluate", str(w), "--episodes", "2"], ["profile", str(w)]):
        _refused(CliRunner().invoke(main, cmd), "s.safetensors", "non-finite", first)


# ---- case 13 (files): unique temp names, consistent modes ---------------------------------------


def test_checkpoint_files_share_one_mode_and_temp_names_do_not_collide(tmp_path):
    # A leftover (or another writer's) fixed temp name must not break or be reused by a save.
    (tmp_path / "s.safetensors.tmp").mkdir()
    w = _student(tmp_path / "s")
    assert w.stat().st_mode & 0o777 == file_mode()
    assert w.with_suffix(".json").stat().st_mode & 0o777 == file_mode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "s.safetensors", "s.safetensors.tmp"]
