"""Issue 21, cases 3, 6, 7 and 8: hostile input exits 2 naming the culprit, never 70; ``plan`` refuses
what ``run`` would die on; ``report`` owns only what it wrote.
"""

import json
import os
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from kdmarl_bench.checkpoint import save_checkpoint
from kdmarl_bench.cli import main
from kdmarl_bench.envs import get_task
from kdmarl_bench.models.policy import StudentPolicy
from tests.factories import random_teacher, tiny_suite_toml

TASK = "mpe/simple_speaker_listener_v4"
ROOT = Path(__file__).resolve().parents[2]


def _refused(res, *fragments: str) -> None:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output
    for frag in fragments:
        assert frag in res.output, res.output


def _student(path: Path) -> Path:
    spec = get_task(TASK).spec
    torch.manual_seed(0)
    pol = StudentPolicy(spec.obs_dims, spec.n_actions, [(8,)] * spec.n_agents)
    return save_checkpoint(pol, path, {"kind": "student", "task": TASK})


def _recast(weights: Path, dtype: torch.dtype) -> None:
    state = load_file(str(weights))
    save_file({k: v.to(dtype) for k, v in state.items()}, str(weights))


# ---- case 6 and 7: weight dtypes -----------------------------------------------------------------


@pytest.mark.parametrize("dtype,code", [(torch.float8_e4m3fn, "F8_E4M3"), (torch.bool, "BOOL"),
                                        (torch.int64, "I64")])
@pytest.mark.parametrize("command", [["evaluate", "--episodes", "1"], ["profile", "--iters", "10"],
                                     ["export", "--format", "onnx"]])
def test_weights_of_a_wrong_dtype_exit_2_naming_file_and_dtype(tmp_path, dtype, code, command):
    weights = _student(tmp_path / "s")
    _recast(weights, dtype)
    args = [command[0], str(weights), *command[1:]]
    if command[0] == "export":
        args += ["--out", str(tmp_path / "onnx")]
    res = CliRunner().invoke(main, args)
    if res.exit_code == 3:  # export needs the [deploy] extra; the dtype is checked on load either way
        pytest.skip("onnx export backend not installed")
    _refused(res, str(weights), code, "float32, float16, bfloat16")


def test_plan_refuses_a_teacher_with_int_weights(tmp_path):
    teacher = random_teacher(tmp_path / "teacher")
    _recast(teacher, torch.int64)
    suite = tmp_path / "s.toml"
    suite.write_text(tiny_suite_toml(teacher=str(teacher)))
    _refused(CliRunner().invoke(main, ["plan", str(suite)]), str(teacher), "I64")


# ---- case 6: suites and cards that would exhaust the parser or the memory ------------------------


def test_suite_nested_100k_levels_exits_2(tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text(f'[suite]\nname = "x"\ntasks = ["{TASK}"]\nx = ' + "[" * 100_000 + "]" * 100_000 + "\n")
    _refused(CliRunner().invoke(main, ["plan", str(deep)]), str(deep), "deeper than")


def test_suite_with_deep_dotted_tables_exits_2(tmp_path):
    deep = tmp_path / "dotted.toml"
    deep.write_text(f'[suite]\nname = "x"\ntasks = ["{TASK}"]\n[' + ".".join(["a"] * 200) + "]\n")
    _refused(CliRunner().invoke(main, ["plan", str(deep)]), str(deep), "deeper than")


def test_a_million_seeds_exit_2_fast(tmp_path):
    suite = tmp_path / "seeds.toml"
    suite.write_text(tiny_suite_toml().replace("seeds = [0]", "seeds = [" + ",".join(map(str, range(10**6))) + "]"))
    start = time.monotonic()
    res = CliRunner().invoke(main, ["plan", str(suite)])
    _refused(res, str(suite), "field 'seeds'", "1,000,000 seeds", "at most 1,000")
    assert time.monotonic() - start < 60


def test_suite_that_is_a_device_exits_2(tmp_path):
    link = tmp_path / "zero.toml"
    link.symlink_to("/dev/zero")
    _refused(CliRunner().invoke(main, ["plan", str(link)]), str(link), "not a regular file")


def test_verify_card_linked_to_dev_zero_exits_2(tmp_path):
    from factories import make_leaderboard, make_record

    from tests.factories import write_board

    weights = _student(tmp_path / "b" / "s")
    card = weights.with_suffix(".json")
    card.unlink()
    card.symlink_to("/dev/zero")
    rec = make_record(TASK, "bc", 0, -10.0, teacher_score=-8.0, size="w8", checkpoint="s.safetensors",
                      episode_scores=[-10.0, -11.0, -9.0])
    teacher = make_record(TASK, "teacher", 0, -8.0, checkpoint="zoo:" + TASK, episode_scores=[-8.0, -8.5, -7.5])
    lb = write_board(tmp_path / "b" / "lb.json", make_leaderboard([teacher, rec], seeds=[0]))
    res = CliRunner().invoke(main, ["verify", str(lb), "--sample", "1"])
    _refused(res, "s.json", "/dev/zero", "lies outside the leaderboard's folder")
    res = CliRunner().invoke(main, ["verify", str(lb), "--sample", "1", "--allow-outside-paths"])
    _refused(res, "s.json", "not a regular file")  # trusted paths still get a bounded, regular-file read


def test_evaluate_card_linked_to_dev_zero_exits_2(tmp_path):
    weights = _student(tmp_path / "s")
    card = weights.with_suffix(".json")
    card.unlink()
    card.symlink_to("/dev/zero")
    _refused(CliRunner().invoke(main, ["evaluate", str(weights), "--episodes", "1"]), str(card), "not a regular file")


# ---- case 7: plan refuses what run dies on --------------------------------------------------------


def test_plan_refuses_widths_past_the_parameter_cap(tmp_path):
    suite = tmp_path / "wide.toml"
    text = tiny_suite_toml(methods=("teacher", "bc")).replace("[budget]", "[students]\nsizes = [{label = \"huge\", "
                                                                         "hidden = [65536, 65536]}]\n[budget]")
    suite.write_text(text)
    res = CliRunner().invoke(main, ["plan", str(suite)])
    _refused(res, str(suite), "students.sizes[0].hidden", "huge", "parameters", "2,000,000,000")


def test_plan_refuses_a_student_checkpoint_as_teacher(tmp_path):
    student = _student(tmp_path / "student")
    suite = tmp_path / "s.toml"
    suite.write_text(tiny_suite_toml(teacher=str(student)))
    _refused(CliRunner().invoke(main, ["plan", str(suite)]), "teacher.source", "'student' checkpoint", "not a teacher")


# ---- case 8: messages that name the culprit ---------------------------------------------------------


def test_nan_score_in_a_cell_file_is_reported_against_the_cell_file(tmp_path):
    teacher = random_teacher(tmp_path / "teacher")
    suite = tmp_path / "s.toml"
    suite.write_text(tiny_suite_toml(teacher=str(teacher), methods=("teacher",)))
    out = tmp_path / "out"
    args = ["run", str(suite), "--out", str(out), "--executor", "inline", "--device", "cpu"]
    assert CliRunner().invoke(main, args).exit_code == 0
    cell = next(f for f in (out / "cells").glob("*.json") if json.loads(f.read_text()).get("method") == "teacher")
    cell.write_text(cell.read_text().replace('"score": ', '"score": NaN, "was": ', 1))
    res = CliRunner().invoke(main, args)
    _refused(res, str(cell), "field 'score' is nan")
    assert "leaderboard.json" not in res.output


def test_report_on_a_full_disk_leaves_no_truncated_png(tmp_path, monkeypatch):
    """The disk fills after 64 KB of a plot: the report exits 2 naming the file, and the folder holds exactly
    what it held before (no truncated PNG, no temp file)."""
    import errno

    import kdmarl_bench.results.store.cells as store

    out = tmp_path / "rep"
    assert CliRunner().invoke(main, ["report", str(QUICKSTART), "--out", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_fdopen = os.fdopen

    class FillsUp:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, data):
            if self.written + len(data) > 65_536:
                self.f.write(bytes(data)[: 65_536 - self.written])
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(data)
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(store.os, "fdopen", lambda fd, mode="r", *a, **k: FillsUp(real_fdopen(fd, mode, *a, **k)))
    res = CliRunner().invoke(main, ["report", str(QUICKSTART), "--out", str(out)])
    monkeypatch.setattr(store.os, "fdopen", real_fdopen)
    assert res.exit_code == 2, res.output
    assert "No space left" in res.output and ".png" in res.output, res.output
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before


# ---- case 3: report owns only what it wrote -----------------------------------------------------------


QUICKSTART = ROOT / "baselines" / "quickstart.json"


def test_report_never_deletes_a_users_file_matching_a_plot_name(tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    mine = out / "pareto_final_v3.png"
    mine.write_bytes(b"the user's figure")
    res = CliRunner().invoke(main, ["report", str(QUICKSTART), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert mine.read_bytes() == b"the user's figure"
    # ... and a second report still leaves it, while it removes its own stale plots
    (out / ".kdmarl-report.json").write_text(json.dumps({"files": ["report.md", "pareto_gone.png"]}))
    (out / "pareto_gone.png").write_bytes(b"an earlier report's plot")
    res = CliRunner().invoke(main, ["report", str(QUICKSTART), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert mine.exists() and not (out / "pareto_gone.png").exists()


def test_report_refuses_to_overwrite_a_report_md_it_did_not_write(tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.md").write_text("my notes\n")
    res = CliRunner().invoke(main, ["report", str(QUICKSTART), "--out", str(out)])
    _refused(res, "report.md", "not written by kdmarl-bench report", "--force")
    assert (out / "report.md").read_text() == "my notes\n"
    res = CliRunner().invoke(main, ["report", str(QUICKSTART), "--out", str(out), "--force"])
    assert res.exit_code == 0, res.output
    assert (out / "report.md").read_text().startswith("# kdmarl-bench report")
    res = CliRunner().invoke(main, ["report", str(QUICKSTART), "--out", str(out)])  # its own now: no --force
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("link", ["folder", "report.md"])
def test_report_refuses_symlinks(tmp_path, link):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "report.md").write_text("precious\n")
    (target / "pareto_x.png").write_bytes(b"precious")
    out = tmp_path / "rep"
    if link == "folder":
        out.symlink_to(target, target_is_directory=True)
    else:
        out.mkdir()
        (out / "report.md").symlink_to(target / "report.md")
    res = CliRunner().invoke(main, ["report", str(QUICKSTART), "--out", str(out)])
    _refused(res, "is a symlink")
    assert (target / "report.md").read_text() == "precious\n"
    assert sorted(p.name for p in target.iterdir()) == ["pareto_x.png", "report.md"]
