"""safeio: bounded JSON, safe names, confinement to a folder."""

import json
import os

import pytest

from kdmarl_bench.errors import UsageError
from kdmarl_bench.safeio import (
    MAX_JSON_DEPTH,
    confine,
    is_inside,
    json_depth,
    loads_json,
    read_json,
    slug_problem,
    task_dirname,
)
from kdmarl_bench.teachers.zoo import resolve_checkpoint_ref


def test_json_depth_counts_nesting():
    assert json_depth(1) == 0
    assert json_depth([]) == 1
    assert json_depth({"a": [[{"b": 1}]]}) == 4


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 2_000, 200_000])
def test_too_deep_json_is_refused(depth):
    with pytest.raises(UsageError, match=f"deeper than {MAX_JSON_DEPTH}"):
        loads_json("[" * depth + "]" * depth, "x.json")


def test_json_at_the_limit_is_read():
    text = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_depth(loads_json(text, "x.json")) == MAX_JSON_DEPTH


def test_read_json_names_the_file(tmp_path):
    with pytest.raises(UsageError, match="nope.json: card not found"):
        read_json(tmp_path / "nope.json", "card")
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe")
    with pytest.raises(UsageError, match="bad.json: card is not UTF-8"):
        read_json(tmp_path / "bad.json", "card")
    (tmp_path / "t.json").write_text("{oops")
    with pytest.raises(UsageError, match=r"t.json: card is not valid JSON \(.* line 1 column 2\)"):
        read_json(tmp_path / "t.json", "card")
    (tmp_path / "ok.json").write_text(json.dumps({"a": [1, 2]}))
    assert read_json(tmp_path / "ok.json") == {"a": [1, 2]}


@pytest.mark.parametrize("name", ["auto", "auto-x0.5", "w16", "kd-marl+rel", "A_1.b"])
def test_safe_slugs(name):
    assert slug_problem(name) is None


@pytest.mark.parametrize("name", ["", "..", "../x", "a/b", "/abs", ".hidden", "-opt", "a..b", "a b", "x" * 101,
                                  "tab\t", "ü"])
def test_unsafe_slugs(name):
    assert slug_problem(name) is not None


def test_task_dirname():
    assert task_dirname("smax/3m") == "smax_3m"
    with pytest.raises(UsageError):
        task_dirname("smax/../../x")
    with pytest.raises(UsageError):
        task_dirname("noslash")


def test_confine_keeps_paths_inside(tmp_path):
    assert confine(tmp_path, "students/a/seed0") == tmp_path / "students/a/seed0"
    for bad in ("../x", "/etc/passwd", "students/../../x"):
        with pytest.raises(UsageError, match="would leave the folder"):
            confine(tmp_path, bad)
    (tmp_path / "link").symlink_to("/tmp")
    with pytest.raises(UsageError):
        confine(tmp_path, "link/x")


def test_resolve_checkpoint_ref(tmp_path):
    board = tmp_path / "b"
    board.mkdir()
    assert resolve_checkpoint_ref("s/x.safetensors", board, False, "rec") == board / "s/x.safetensors"
    with pytest.raises(UsageError, match="rec: checkpoint '../x.safetensors' lies outside"):
        resolve_checkpoint_ref("../x.safetensors", board, False, "rec")
    assert resolve_checkpoint_ref("../x.safetensors", board, True, "rec") == board / "../x.safetensors"
    assert resolve_checkpoint_ref("zoo:mpe/simple_spread_v3", board, False, "rec").exists()
    assert is_inside(board, board / "a") and not is_inside(board, os.path.dirname(board))
