"""Issue 21, cases 1 and 2: one path discipline under ``--out``.

A relative ``--out`` (the default ``runs/<suite>`` is one) is resolved once, so a suite-trained teacher
lands in ``OUT/teachers/`` and is found again; ``export --format gh-benchmark --out DIR/FILE`` writes into
DIR, not DIR/DIR. No write follows a symlink planted inside the output folder (``.lock``, ``cells/``,
``latency/``, a checkpoint's temp name): each is refused (exit 2, the link named) or replaced, never
written through, and the outside file is untouched.
"""

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdmarl_bench import safeio
from kdmarl_bench.cli import main
from kdmarl_bench.results.store import cells as store
from kdmarl_bench.teachers.resolve import CheckpointBlob, write_checkpoint_blob
from tests.factories import random_teacher, tiny_suite_toml

TASK = "mpe/simple_speaker_listener_v4"


def _suite(folder: Path, teacher: str, name: str = "trainrel", **kw) -> Path:
    p = folder / f"{name}.toml"
    p.write_text(tiny_suite_toml(teacher=teacher, name=name, methods=("teacher", "bc"), **kw))
    return p


# ---- case 1: a relative --out with a teacher the suite trains ---------------------------------


def test_trained_teacher_with_default_relative_out_finishes(tmp_path, monkeypatch):
    """`run SUITE` (default --out runs/<suite>, relative) with [teacher] source = "train" finishes, the teacher
    is in runs/<suite>/teachers/ (not runs/<suite>/runs/<suite>/...), and a re-run resumes from it."""
    monkeypatch.chdir(tmp_path)
    suite = _suite(tmp_path, "train", teacher_steps=200)
    args = ["run", str(suite.name), "--executor", "inline", "--device", "cpu"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    out = tmp_path / "runs" / "trainrel"
    assert (out / "teachers" / "mpe_simple_speaker_listener_v4.safetensors").is_file()
    assert (out / "teachers" / "mpe_simple_speaker_listener_v4.json").is_file()
    assert not (out / "runs").exists(), "the run folder was joined to itself"
    board = json.loads((out / "leaderboard.json").read_text())
    assert {r["method"] for r in board["records"]} == {"teacher", "bc"}
    again = CliRunner().invoke(main, args)  # resumes: the teacher and every cell are found again
    assert again.exit_code == 0, again.output
    assert "training teacher" not in again.output


def test_export_gh_benchmark_relative_out_writes_once_into_the_folder(tmp_path, monkeypatch):
    from factories import make_leaderboard, make_record

    from tests.factories import write_board

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    recs = [make_record(TASK, "teacher", 0, -8.0, episode_scores=[-8.0, -8.5]),
            make_record(TASK, "bc", 0, -10.0, teacher_score=-8.0, episode_scores=[-10.0, -11.0])]
    lb = write_board(tmp_path / "lb.json", make_leaderboard(recs, seeds=[0]))
    res = CliRunner().invoke(main, ["export", str(lb), "--format", "gh-benchmark", "--out", "results/bench.json"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "results" / "bench-bigger.json").is_file()
    assert (tmp_path / "results" / "bench-smaller.json").is_file()
    assert not (tmp_path / "results" / "results").exists()


# ---- case 2: links planted inside the output folder --------------------------------------------


@pytest.fixture
def outside(tmp_path):
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("precious\n")
    return victim


def test_lock_symlink_is_refused_and_its_target_untouched(tmp_path, outside):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".lock").symlink_to(outside)
    from kdmarl_bench.errors import UsageError

    with pytest.raises(UsageError, match=r"\.lock: is a symlink"), store.claim_out_dir(out):
        pass
    assert outside.read_text() == "precious\n"


@pytest.mark.parametrize("folder", ["cells", "latency", "students"])
def test_run_refuses_a_planted_folder_link(tmp_path, outside, folder):
    teacher = random_teacher(tmp_path / "teacher")
    suite = _suite(tmp_path, str(teacher), name="links")
    out = tmp_path / "out"
    out.mkdir()
    (out / folder).symlink_to(outside.parent, target_is_directory=True)
    res = CliRunner().invoke(main, ["run", str(suite), "--out", str(out), "--executor", "inline", "--device", "cpu"])
    assert res.exit_code == 2, res.output
    assert folder in res.output and ("symlink" in res.output or "would leave" in res.output), res.output
    assert sorted(p.name for p in outside.parent.iterdir()) == ["victim.txt"]
    assert outside.read_text() == "precious\n"


def test_checkpoint_temp_name_link_is_never_written_through(tmp_path, outside):
    """The old writer wrote weights to the fixed name seed0.safetensors.tmp, following a link planted there."""
    out = tmp_path / "out"
    stem = out / "students" / "x" / "seed0"
    stem.parent.mkdir(parents=True)
    (stem.parent / "seed0.safetensors.tmp").symlink_to(outside)
    weights = write_checkpoint_blob(CheckpointBlob(b"\x00" * 64, json.dumps({"task": TASK})), stem, out)
    assert weights.read_bytes() == b"\x00" * 64
    assert outside.read_text() == "precious\n"


def test_atomic_write_replaces_a_link_at_the_target_never_its_target(tmp_path, outside):
    out = tmp_path / "out"
    out.mkdir()
    (out / "leaderboard.json").symlink_to(outside)
    safeio.write_bytes_atomic(out / "leaderboard.json", b"{}\n", root=out)
    assert not (out / "leaderboard.json").is_symlink()
    assert outside.read_text() == "precious\n"


def test_disk_full_names_the_file(tmp_path, monkeypatch):
    """ENOSPC mid-write: the error names the file being written (the CLI prints it), no temp file is left."""
    import errno

    def full(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as info:
        safeio.write_bytes_atomic(tmp_path / "cells" / "abc.json", None, fill=full)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "cells" / "abc.json")
    assert os.listdir(tmp_path / "cells") == []
