"""Zoo generations: a replaced zoo teacher moves to ``zoo/superseded/<stem>-<sha12>``, and a board that
recorded its digest still finds it (``verify``, ``verify --retrain``), while a new run gets the new one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kdmarl_bench.checkpoint import weights_sha256
from kdmarl_bench.errors import UsageError
from kdmarl_bench.suite_tables import TeacherSource
from kdmarl_bench.teachers import resolve, zoo

ROOT = Path(__file__).resolve().parents[2]


def _copy(src: Path, dst_stem: Path) -> Path:
    dst_stem.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src.with_suffix(".safetensors"), dst_stem.with_suffix(".safetensors"))
    shutil.copyfile(src.with_suffix(".json"), dst_stem.with_suffix(".json"))
    return dst_stem.with_suffix(".safetensors")


@pytest.fixture
def two_generations(tmp_path, monkeypatch):
    """A zoo whose smax/3m is one teacher (the bundled one) and whose superseded folder holds another of the
    same shape (``baselines/teachers/smax_3m-v2``), as a replacement leaves it."""
    new_src = zoo.zoo_path("smax/3m")
    old_src = ROOT / "baselines" / "teachers" / "smax_3m-v2.safetensors"
    d = tmp_path / "zoo"
    current = _copy(new_src, d / "smax_3m")
    old_sha = weights_sha256(old_src)
    old = _copy(old_src, d / "superseded" / f"smax_3m-{old_sha[:12]}")
    monkeypatch.setattr(zoo, "ZOO_DIR", d)
    monkeypatch.setattr(zoo, "SUPERSEDED_DIR", d / "superseded")
    return current, old, old_sha


def test_no_digest_or_the_current_digest_is_the_bundled_teacher(two_generations):
    current, _, _ = two_generations
    assert zoo.zoo_generation("zoo:smax/3m", None) == current
    assert zoo.zoo_generation("zoo:smax/3m", weights_sha256(current)) == current


def test_a_recorded_digest_finds_the_superseded_teacher(two_generations):
    _, old, old_sha = two_generations
    assert zoo.zoo_generation("zoo:smax/3m", old_sha) == old
    assert zoo.resolve_checkpoint_ref("zoo:smax/3m", "/nowhere", False, "board.json", old_sha) == old


def test_an_unknown_digest_names_what_the_install_has(two_generations):
    current, _, old_sha = two_generations
    with pytest.raises(UsageError) as e:
        zoo.zoo_generation("zoo:smax/3m", "ab" * 32)
    msg = str(e.value)
    assert "abababababab" in msg and weights_sha256(current)[:12] in msg and old_sha[:12] in msg


def test_a_superseded_file_is_trusted_by_its_bytes_not_its_name(two_generations):
    """A file named for a digest it does not have (swapped or damaged) is not that generation."""
    current, old, old_sha = two_generations
    shutil.copyfile(current, old)
    with pytest.raises(UsageError, match="no zoo generation"):
        zoo.zoo_generation("zoo:smax/3m", old_sha)


def test_a_pin_resolves_the_teacher_a_board_recorded_and_a_run_gets_the_new_one(two_generations, tmp_path):
    current, old, old_sha = two_generations
    src = TeacherSource()  # source = "zoo", kind = "local"
    fresh = resolve.resolve_teacher("smax/3m", src, tmp_path)
    assert fresh.ref == "zoo:smax/3m" and fresh.sha256 == weights_sha256(current)
    assert resolve.teacher_path(fresh, tmp_path) == current
    pinned = resolve.resolve_teacher("smax/3m", src, tmp_path, pin=old_sha)
    # Same reference in the records (so a retrained record reads like the board's), other weights.
    assert pinned.ref == "zoo:smax/3m" and pinned.sha256 == old_sha
    assert resolve.teacher_path(pinned, tmp_path) == old
    assert resolve.read_checkpoint_blob(pinned, tmp_path).sha256 == old_sha


def test_a_boards_record_is_re_run_with_the_teacher_it_names(two_generations, tmp_path):
    """``verify --retrain`` rebuilds a record's cell with ``cell_spec_for_record``: it pins the record's
    teacher digest, so a board made before the replacement retrains against its own teacher."""
    import json

    from kdmarl_bench.results.model.records import Record
    from kdmarl_bench.runner import cell_spec_for_record
    from kdmarl_bench.suite import load_suite

    current, old, old_sha = two_generations
    real = ROOT / "kdmarl_bench" / "zoo" / "mpe_simple_spread_v3"
    _copy(real, current.parent / real.name)  # the quickstart's other task keeps its teacher
    board = json.loads((ROOT / "baselines" / "quickstart.json").read_text())
    raw = next(r for r in board["records"] if r["task"] == "smax/3m" and r["method"] == "bc")
    suite = load_suite("quickstart")
    then = cell_spec_for_record(suite, Record.from_dict({**raw, "teacher_sha256": old_sha}), tmp_path)
    now = cell_spec_for_record(suite, Record.from_dict({**raw, "teacher_sha256": weights_sha256(current)}), tmp_path)
    assert then.teacher.sha256 == old_sha and now.teacher.sha256 == weights_sha256(current)
    assert resolve.teacher_path(then.teacher, tmp_path) == old
    assert then.key != now.key  # the teacher is part of a cell's identity


def _suite_with_pin(tmp_path, pin_lines: str):
    from kdmarl_bench.suite import load_suite

    path = tmp_path / "pinned.toml"
    path.write_text(f"""[suite]
name = "pinned"
tasks = ["smax/3m"]
methods = ["teacher", "bc"]
seeds = [0]

[students]
sizes = [{{ label = "x20", flops_reduction = 20 }}]

[budget]
env_steps = 2000

[task."smax/3m"]
{pin_lines}
""")
    return load_suite(path)


def test_a_suite_pins_a_zoo_generation_for_its_runs(two_generations, tmp_path):
    """``[task."ID"] teacher_sha256``: a suite whose board was made with a replaced zoo teacher keeps
    running with it; without the pin the same suite gets the bundled one."""
    from kdmarl_bench.runner import Runner

    current, old, old_sha = two_generations
    pinned = Runner(_suite_with_pin(tmp_path, f'teacher_sha256 = "{old_sha}"'), tmp_path / "a").teacher_ref("smax/3m")
    assert pinned.ref == "zoo:smax/3m" and pinned.sha256 == old_sha
    assert resolve.teacher_path(pinned, tmp_path) == old
    free = Runner(_suite_with_pin(tmp_path, ""), tmp_path / "b").teacher_ref("smax/3m")
    assert free.sha256 == weights_sha256(current)


@pytest.mark.parametrize("lines, message", [
    ('teacher_sha256 = "c6ca7ee2"', "64 lowercase hex digits"),
    ('teacher_sha256 = "' + "a" * 64 + '"\nteacher = "some/teacher"', "pins a zoo teacher"),
])
def test_a_bad_pin_is_refused_naming_the_field(lines, message, tmp_path):
    with pytest.raises(UsageError) as e:
        _suite_with_pin(tmp_path, lines)
    assert "task.smax/3m.teacher_sha256" in str(e.value) and message in str(e.value)
    assert "pinned.toml" in str(e.value)


def test_the_committed_suites_pin_the_teachers_their_boards_were_made_with():
    """Every committed board's smax/3m teacher digest is what its suite resolves to on this version: the
    suites made with a replaced zoo teacher pin it (and the install ships it under ``zoo/superseded``)."""
    import json

    from kdmarl_bench.runner import Runner
    from kdmarl_bench.suite import load_suite

    for board_path in sorted((ROOT / "baselines").glob("*.json")):
        board = json.loads(board_path.read_text())
        digests = {r["teacher_sha256"] for r in board["records"] if r["task"] == "smax/3m" and r.get("teacher_sha256")}
        if not digests:
            continue
        assert len(digests) == 1, board_path.name
        suite = load_suite(board["suite"]["name"])
        ref = Runner(suite, ROOT / "runs" / "never-written").teacher_ref("smax/3m")
        assert ref.sha256 == digests.pop(), board_path.name
