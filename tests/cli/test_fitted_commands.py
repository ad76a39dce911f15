"""Every command's table fits the terminal (issue 23): at 80, 120 and 200 columns, on the committed
boards, no line is wider than the screen, no cell is cut (no '…'), every task id (TASK@VIEW),
method name and number shown stays whole, and columns left out are named in a note."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdmarl_bench.cli import main

ROOT = Path(__file__).resolve().parents[2]
LIMITED = ROOT / "baselines" / "limited.json"
QUICKSTART = ROOT / "baselines" / "quickstart.json"
WIDTHS = [80, 120, 200]


def _run(args: list[str], width: int, code: int = 0) -> str:
    res = CliRunner(env={"COLUMNS": str(width)}).invoke(main, args)
    assert res.exit_code == code, res.output
    return res.output


def _fits(text: str, width: int) -> set[str]:
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= width, max(lines, key=len)
    assert "…" not in text, "a cell was cut"
    return {w for ln in lines for w in ln.split()}


def _labels(board: Path) -> tuple[set[str], set[str]]:
    data = json.loads(board.read_text())
    tasks = {s["task"] if s.get("view", "full") == "full" else f"{s['task']}@{s['view']}" for s in data["summary"]}
    return tasks, {s["method"] for s in data["summary"]}


@pytest.mark.parametrize("width", WIDTHS)
def test_envs_fits(width):
    words = _fits(_run(["envs"], width), width)
    assert {"mpe/simple_speaker_listener_v4", "smacv2/protoss_10_vs_10", "smax/27m_vs_30m", "win_rate"} <= words
    if width == 80:
        assert "hidden to fit:" in _run(["envs"], width)


@pytest.mark.parametrize("width", WIDTHS)
def test_plan_limited_fits(width):
    text = _run(["plan", "limited"], width)
    table = text.split("\n\n", 2)[-1]
    words = _fits(table.split("kd-marl-no-rel (kd-marl)")[0], width)  # the table; the notes under it wrap
    tasks, _ = _labels(LIMITED)
    assert tasks <= words
    assert {"kd-marl-offline", "kd-marl-no-role", "40,000", "x20", "w16"} <= words


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("args", [["methods"], ["methods", "kd-marl"]], ids=["list", "kd-marl"])
def test_methods_fit(args, width):
    words = _fits(_run(args, width), width)
    if len(args) == 1:
        assert {"kd-marl", "kd-marl-offline", "logit-mse", "dagger", "scratch"} <= words
    else:
        assert {"lambda_rel", "rel_per_timestep", "0.001", "0.05"} <= words


@pytest.mark.parametrize("width", WIDTHS)
def test_gate_fits_and_counts_every_verdict(width):
    text = _run(["gate", str(LIMITED), "--baseline", str(LIMITED)], width)
    table, _, summary = text.rpartition("gate passed:")
    words = _fits(table, width)
    assert {"smax/3m@hetero", "mpe/simple_spread_v3@near2", "inconclusive", "≥"} <= words
    assert "171 pass, 0 fail, 33 inconclusive, 0 not judged" in summary
    assert len(text.splitlines()) < 60  # no 33 warning lines of ~330 characters


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_fits_with_units_and_provenance(width):
    text = _run(["compare", str(QUICKSTART), str(ROOT / "baselines" / "deploy.json")], width)
    body = text.split("Δ vs A:")[0]
    body = "\n".join(ln for ln in body.splitlines() if "·" not in ln)  # provenance lines wrap between words
    words = _fits(body, width)
    tasks, methods = _labels(QUICKSTART)
    assert tasks <= words and methods <= words
    assert "pp" in words and "commit" in text and "AMD EPYC" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_show_limited_and_agents_fit(width):
    words = _fits(_run(["show", str(LIMITED)], width), width)
    tasks, methods = _labels(LIMITED)
    assert tasks <= words and methods <= words
    words = _fits(_run(["show", str(LIMITED), "--task", "smax/3m@hetero", "--agents"], width), width)
    assert {"184×184", "120×120", "98.3k", "42.5k"} <= words


def test_profile_fits_at_80_columns_and_names_what_it_hid():
    text = _run(["profile", "zoo:mpe/simple_spread_v3", "--iters", "10", "--warmup", "0", "--threads", "1",
                 "--no-cuda", "--no-recorded"], 80)
    table = text.split("latency per team decision")[1]
    words = _fits(table, 80)
    assert {"eager", "torchscript", "cpu"} <= words
    assert "hidden to fit:" in table


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("board", [LIMITED, QUICKSTART], ids=["limited", "quickstart"])
@pytest.mark.parametrize("command", [["show", "--summary"], ["report", "--headline"]], ids=["show", "report"])
def test_show_summary_fits_and_shows_every_task_and_verdict(board, width, command):
    text = _run([command[0], str(board), command[1]], width)
    words = _fits(text, width)
    rows = json.loads(_run(["show", str(board), "--summary", "--json"], width))
    tasks, _ = _labels(board)
    assert {t for t in tasks if t.partition("@")[0] in {r["task"] for r in rows}} <= words
    assert "holds" in words or "fails" in words or "beyond" in text
    if width == 80:  # nothing hidden: one block per task with every field
        assert "hidden to fit" not in text and "P(KD-MARL > it)" in text
