"""`show` and tables that fit (issue 15): a board or a run directory, at 80/120/200 columns,
never a method name or task id broken across lines; compare's paths become labels."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdmarl_bench.cli import main
from kdmarl_bench.results.store.boards import read_leaderboard

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "baselines" / "quickstart.json"
MPE = ROOT / "baselines" / "mpe.json"


def _show(args, width):
    res = CliRunner(env={"COLUMNS": str(width)}).invoke(main, ["show", *args])
    assert res.exit_code == 0, res.output
    return res.output


def _names(board: Path) -> tuple[set[str], set[str]]:
    data = json.loads(board.read_text())
    return {s["task"] for s in data["summary"]}, {s["method"] for s in data["summary"]}


@pytest.mark.parametrize("width", [80, 120, 200])
@pytest.mark.parametrize("board", [QUICKSTART, MPE], ids=["quickstart", "mpe"])
def test_show_fits_the_width_and_breaks_no_name(board, width):
    text = _show([str(board)], width)
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= width
    tasks, methods = _names(board)
    words = {w for ln in lines for w in ln.split()}
    assert tasks <= words, f"task ids broken or missing at {width} columns"
    assert methods <= words, f"method names broken or missing at {width} columns"
    if width < 120:
        assert "task" not in lines[1].split()  # stacked: one table per task, the id as its title
    if width == 200:
        assert "[" in text  # wide enough for the CIs


def test_show_a_run_directory_and_a_baselines_folder(tmp_path):
    run = tmp_path / "runs" / "quickstart"
    run.mkdir(parents=True)
    shutil.copy(QUICKSTART, run / "leaderboard.json")
    assert "kd-marl" in _show([str(run)], 120)
    assert "kd-marl" in _show([str(ROOT / "baselines" / "quickstart")], 120)  # → baselines/quickstart.json
    empty = tmp_path / "empty"
    (empty / "cells").mkdir(parents=True)
    res = CliRunner().invoke(main, ["show", str(empty)])
    assert res.exit_code == 2 and "without a leaderboard.json" in res.output and "re-run" in res.output


def test_show_filters_summary_and_json(tmp_path):
    text = _show([str(QUICKSTART), "--task", "smax/3m", "--method", "bc"], 200)
    assert "bc" in text and "mpe/simple_spread_v3" not in text and "pd-kl" not in text
    rows = json.loads(_show([str(QUICKSTART), "--json", "--method", "kd-marl"], 200))
    assert {r["method"] for r in rows} == {"kd-marl"} and len(rows) == 2
    head = _show([str(QUICKSTART), "--summary"], 200)
    assert "best action imitation" in head and "smax/3m" in head
    res = CliRunner().invoke(main, ["show", str(QUICKSTART), "--method", "kdmarl"])
    assert res.exit_code == 2 and "did you mean: kd-marl" in res.output


def test_leaderboard_commands_take_a_run_directory(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(QUICKSTART, run / "leaderboard.json")
    res = CliRunner().invoke(main, ["export", str(run), "--format", "csv"])
    assert res.exit_code == 0 and "kd-marl" in res.output
    res = CliRunner().invoke(main, ["report", str(run), "--headline"])
    assert res.exit_code == 0 and "smax/3m" in res.output


@pytest.mark.parametrize("width", [80, 120])
def test_compare_uses_short_labels_with_a_legend(width):
    res = CliRunner(env={"COLUMNS": str(width)}).invoke(main, ["compare", str(QUICKSTART), str(QUICKSTART)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert f"  A = {QUICKSTART}" in lines and f"  B = {QUICKSTART}" in lines
    table = "\n".join(ln for ln in lines if not ln.startswith("  A =") and not ln.startswith("  B ="))
    assert str(QUICKSTART) not in table  # paths only in the legend
    assert max(len(ln) for ln in lines if not ln.startswith("  ")) <= width
    assert {"kd-marl", "teacher", "smax/3m"} <= {w for ln in lines for w in ln.split()}


def test_report_defaults_next_to_its_board_and_removes_stale_plots(tmp_path):
    from kdmarl_bench.results.render.report import default_out_dir, write_report

    assert default_out_dir(tmp_path / "baselines" / "mpe.json") == (tmp_path / "baselines" / "mpe" / "report").resolve()
    assert default_out_dir(tmp_path / "run" / "leaderboard.json") == (tmp_path / "run" / "report").resolve()
    out = tmp_path / "rep"
    out.mkdir()
    (out / "pareto_old_task.png").write_bytes(b"stale")
    (out / "notes.png").write_bytes(b"the user's own file")
    (out / ".kdmarl-report.json").write_text('{"files": ["report.md", "pareto_old_task.png"]}')  # an earlier report's
    rep = write_report(read_leaderboard(QUICKSTART), out)
    assert not (out / "pareto_old_task.png").exists() and (out / "notes.png").exists()
    assert any("pareto_old_task.png" in n for n in rep.notes)


def test_report_plots_retention_vs_bytes_when_the_board_has_memory(tmp_path):
    from kdmarl_bench.results.render.report import write_report

    rep = write_report(read_leaderboard(ROOT / "baselines" / "deploy.json"), tmp_path / "deploy")
    names = {p.name for p in rep.plots}
    assert {"pareto_bytes_smax_3m.png", "pareto_smax_3m.png"} <= names
    assert "pareto_bytes_smax_3m.png" in rep.markdown.read_text()
    rep = write_report(read_leaderboard(MPE), tmp_path / "mpe")  # made before memory was recorded
    assert not any(p.name.startswith("pareto_bytes_") for p in rep.plots)
