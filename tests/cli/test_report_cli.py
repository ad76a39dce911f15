"""``kdmarl-bench report``, ``export`` and the ``gate --junit / --absolute-latency`` options."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kdmarl_bench.cli import main
from tests.factories import make_leaderboard, standard_records, write_board


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("lb")
    out = {"base": write_board(d / "run" / "leaderboard.json", make_leaderboard())}
    recs = standard_records()
    for r in recs:
        if r["method"] == "kd-marl" and r["task"] == "smax/3m":
            r["score"] -= 0.3
            r["cost"]["flops"] *= 4
    out["worse"] = write_board(d / "worse.json", make_leaderboard(recs))
    recs = standard_records()
    for r in recs:
        for e in r["latency"]:
            e["p50_ms"] *= 2
    out["slow"] = write_board(d / "slow.json", make_leaderboard(recs))
    garbage = d / "garbage.json"
    garbage.write_text("{not json")
    out["garbage"] = garbage
    return out


def test_new_commands_are_registered(runner):
    result = runner.invoke(main, ["--help"])
    assert "report" in result.output and "export" in result.output


# ---------------------------------------------------------------------------------------------
# report


def test_report_default_dir(runner, files):
    result = runner.invoke(main, ["report", str(files["base"])])
    assert result.exit_code == 0, result.output
    out = files["base"].parent / "report"
    assert f"wrote {out / 'report.md'}" in result.output
    assert (out / "report.md").is_file() and (out / "pareto_smax_3m.png").is_file()
    assert len(list(out.glob("*.png"))) == 5


def test_report_out_and_json(runner, files, tmp_path):
    result = runner.invoke(main, ["report", str(files["base"]), "--out", str(tmp_path / "r"), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["markdown"] == (tmp_path / "r" / "report.md").as_posix()
    assert len(payload["plots"]) == 5 and all(Path(p).is_file() for p in payload["plots"])


def test_report_bad_input_exits_2(runner, files, tmp_path):
    result = runner.invoke(main, ["report", str(files["garbage"])])
    assert result.exit_code == 2 and "garbage.json" in result.output and "Traceback" not in result.output
    result = runner.invoke(main, ["report", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "missing.json" in result.output
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    result = runner.invoke(main, ["report", str(files["base"]), "--out", str(blocker / "sub")])
    assert result.exit_code == 2 and "cannot create the report directory" in result.output


# ---------------------------------------------------------------------------------------------
# export


def test_export_csv_to_stdout(runner, files):
    result = runner.invoke(main, ["export", str(files["base"]), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 18 and rows[0]["task"] and "cpu_p99_ms" in rows[0]


def test_export_marl_eval_to_file(runner, files, tmp_path):
    out = tmp_path / "exports" / "marl_eval.json"
    result = runner.invoke(main, ["export", str(files["base"]), "--format", "marl-eval", "--out", str(out)])
    assert result.exit_code == 0, result.output
    raw = json.loads(out.read_text())
    assert set(raw) == {"smax", "mpe"}
    assert raw["smax"]["3m"]["kd-marl:small"]["run_0"]["absolute_metrics"]["win_rate"] == [0.9]


def test_export_gh_benchmark(runner, files, tmp_path):
    result = runner.invoke(main, ["export", str(files["base"]), "--format", "gh-benchmark-smaller"])
    assert result.exit_code == 0
    assert {e["unit"] for e in json.loads(result.stdout)} == {"FLOPs per team decision", "ms"}
    result = runner.invoke(main, ["export", str(files["base"]), "--format", "gh-benchmark"])
    assert result.exit_code == 2 and "--out" in result.output
    result = runner.invoke(
        main,
        ["export", str(files["base"]), "--format", "gh-benchmark", "--out", str(tmp_path / "bench.json")],
    )
    assert result.exit_code == 0, result.output
    bigger = json.loads((tmp_path / "bench-bigger.json").read_text())
    smaller = json.loads((tmp_path / "bench-smaller.json").read_text())
    assert {e["unit"] for e in bigger} == {"fraction of teacher", "win rate", "team return"}
    assert all(set(e) >= {"name", "unit", "value"} for e in bigger + smaller)


def test_export_bad_input(runner, files):
    result = runner.invoke(main, ["export", str(files["base"]), "--format", "xml"])
    assert result.exit_code == 2 and "marl-eval" in result.output
    result = runner.invoke(main, ["export", str(files["garbage"]), "--format", "csv"])
    assert result.exit_code == 2 and "garbage.json" in result.output


# ---------------------------------------------------------------------------------------------
# gate --junit / --absolute-latency


def test_gate_junit(runner, files, tmp_path):
    junit = tmp_path / "reports" / "gate.xml"
    md = tmp_path / "gate.md"
    result = runner.invoke(
        main,
        [
            "gate",
            str(files["worse"]),
            "--baseline",
            str(files["base"]),
            "--junit",
            str(junit),
            "--markdown",
            str(md),
        ],
    )
    assert result.exit_code == 1, result.output
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == int(suite.get("tests")) == 16
    failures = [c.find("failure") for c in cases if c.find("failure") is not None]
    assert len(failures) == 2 == int(suite.get("failures"))
    messages = " | ".join(f.get("message") for f in failures)
    assert "current 0.650 vs baseline 0.950" in messages and "current 4,000 vs baseline 1,000" in messages
    # the markdown lists every check with both values
    body = [line for line in md.read_text().splitlines() if line.startswith("| ") and "| status" not in line]
    assert len(body) == 16


def test_gate_junit_on_pass(runner, files, tmp_path):
    junit = tmp_path / "gate.xml"
    result = runner.invoke(
        main, ["gate", str(files["base"]), "--baseline", str(files["base"]), "--junit", str(junit)]
    )
    assert result.exit_code == 0
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "0" and int(suite.get("tests")) == 16


def test_gate_absolute_latency(runner, files):
    args = ["gate", str(files["slow"]), "--baseline", str(files["base"])]
    assert runner.invoke(main, args).exit_code == 0  # ratios to the teacher are unchanged
    result = runner.invoke(main, [*args, "--absolute-latency"])
    assert result.exit_code == 1
    assert "latency_ms: current 0.1600 ms vs baseline 0.0800 ms" in result.output
    assert runner.invoke(main, [*args, "--absolute-latency", "--max-latency-increase", "1.0"]).exit_code == 0
