"""``kdmarl-bench compare`` and ``kdmarl-bench gate`` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdmarl_bench.cli import main
from tests.factories import make_leaderboard, standard_records, write_board


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("lb")
    out = {"base": write_board(d / "base.json", make_leaderboard())}

    recs = standard_records()
    for r in recs:
        if r["method"] == "kd-marl" and r["task"] == "smax/3m":
            r["score"] -= 0.3  # retention 0.95 → 0.65
    out["worse"] = write_board(d / "worse.json", make_leaderboard(recs))

    recs = standard_records()
    for r in recs:
        if r["method"] == "kd-marl":
            r["cost"]["flops"] *= 1.5
    out["fatter"] = write_board(d / "fatter.json", make_leaderboard(recs))

    out["paper"] = write_board(d / "paper.json", make_leaderboard(suite_name="paper"))

    recs = standard_records()
    for r in recs:
        if r["task"] == "smax/3m":
            r["backend"], r["backend_versions"] = "smacv2", {"smacv2": "1.0.0", "sc2": "4.10"}
    out["sc2"] = write_board(d / "sc2.json", make_leaderboard(recs))

    garbage = d / "garbage.json"
    garbage.write_text("<html>not json</html>")
    out["garbage"] = garbage

    invalid = d / "invalid.json"
    data = make_leaderboard()
    data["records"][0]["metric"] = "elo"
    invalid.write_text(json.dumps(data))
    out["invalid"] = invalid
    return out


def _gate(runner, current, baseline, *extra):
    return runner.invoke(main, ["gate", str(current), "--baseline", str(baseline), *extra])


def test_commands_are_registered(runner):
    result = runner.invoke(main, ["--help"])
    assert "compare" in result.output and "gate" in result.output


def test_gate_on_itself_passes(runner, files):
    result = _gate(runner, files["base"], files["base"])
    assert result.exit_code == 0, result.output
    assert "gate passed" in result.output


def test_gate_retention_regression_exits_1_with_both_values(runner, files):
    result = _gate(runner, files["worse"], files["base"])
    assert result.exit_code == 1, result.output
    assert "FAIL smax/3m kd-marl small retention" in result.output
    assert "current 0.650" in result.output and "baseline 0.950" in result.output
    assert "gate failed: 1 of" in result.output
    # a wider tolerance lets it through
    assert _gate(runner, files["worse"], files["base"], "--max-retention-drop", "0.4").exit_code == 0


def test_gate_flops_increase_fails(runner, files):
    result = _gate(runner, files["fatter"], files["base"])
    assert result.exit_code == 1
    assert "flops: current 1,500 vs baseline 1,000" in result.output
    assert _gate(runner, files["fatter"], files["base"], "--max-flops-increase", "0.5").exit_code == 0


def test_gate_json_and_markdown(runner, files, tmp_path):
    md = tmp_path / "reports" / "gate.md"
    result = _gate(runner, files["worse"], files["base"], "--json", "--markdown", str(md))
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["passed"] is False and payload["n_failed"] == 1
    [fail] = [c for c in payload["checks"] if not c["passed"]]
    assert fail["current"] == pytest.approx(0.65) and fail["baseline"] == pytest.approx(0.95)
    text = md.read_text()
    assert "❌ failed" in text and "**FAIL**" in text


def test_gate_non_json_file_exits_2_naming_it(runner, files):
    result = _gate(runner, files["garbage"], files["base"])
    assert result.exit_code == 2
    assert "garbage.json" in result.output and "not valid JSON" in result.output
    assert "Traceback" not in result.output
    result = _gate(runner, files["base"], files["garbage"])
    assert result.exit_code == 2 and "garbage.json" in result.output


def test_gate_invalid_and_missing_files_exit_2(runner, files, tmp_path):
    result = _gate(runner, files["invalid"], files["base"])
    assert result.exit_code == 2
    assert "invalid.json" in result.output and "$.records[0].metric" in result.output
    result = _gate(runner, tmp_path / "nope.json", files["base"])
    assert result.exit_code == 2 and "nope.json" in result.output


def test_gate_different_suites_exit_2(runner, files):
    result = _gate(runner, files["paper"], files["base"])
    assert result.exit_code == 2
    assert "paper" in result.output and "'ci'" in result.output


def test_gate_missing_baseline_option_is_usage_error(runner, files):
    result = runner.invoke(main, ["gate", str(files["base"])])
    assert result.exit_code == 2 and "--baseline" in result.output


def test_compare_table_and_json(runner, files):
    result = runner.invoke(main, ["compare", str(files["base"]), str(files["worse"])])
    assert result.exit_code == 0, result.output
    assert "smax/3m" in result.output and "kd-marl" in result.output and "-30.0 pp" in result.output
    result = runner.invoke(main, ["compare", str(files["base"]), str(files["worse"]), "--json"])
    assert result.exit_code == 0
    payload = json.loads(result.output)
    assert payload["leaderboards"] == [str(files["base"]), str(files["worse"])]
    row = next(r for r in payload["rows"] if (r["task"], r["method"]) == ("smax/3m", "kd-marl"))
    assert row["entries"][1]["delta_retention"] == pytest.approx(-0.3)


def test_compare_different_backends_exit_2(runner, files):
    result = runner.invoke(main, ["compare", str(files["base"]), str(files["sc2"])])
    assert result.exit_code == 2
    assert "base.json" in result.output and "sc2.json" in result.output
    assert "different backends" in result.output


def test_compare_bad_input_exit_2(runner, files):
    result = runner.invoke(main, ["compare", str(files["base"]), str(files["garbage"])])
    assert result.exit_code == 2 and "garbage.json" in result.output
    result = runner.invoke(main, ["compare", str(files["base"])])
    assert result.exit_code == 2 and "at least two" in result.output


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "1e400"])
def test_gate_refuses_a_baseline_with_non_finite_values(runner, files, tmp_path, literal):
    """NaN/Infinity/1e400 (JSON reads it as inf) in a baseline used to drop checks silently."""
    text = files["base"].read_text()
    data = json.loads(text)
    value = data["summary"][1]["retention_mean"]
    bad = tmp_path / "bad.json"
    bad.write_text(text.replace(f'"retention_mean": {json.dumps(value)}', f'"retention_mean": {literal}', 1))
    result = _gate(runner, files["base"], bad)
    assert result.exit_code == 2, result.output
    assert "bad.json" in result.output and "summary[1].retention_mean" in result.output
    result = _gate(runner, bad, files["base"])
    assert result.exit_code == 2 and "bad.json" in result.output


def test_gate_refuses_an_empty_baseline(runner, files, tmp_path):
    data = json.loads(files["base"].read_text())
    data["summary"], data["records"], data["aggregate"] = [], [], []
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps(data))
    result = _gate(runner, files["base"], empty)
    assert result.exit_code == 2 and "no comparable checks" in result.output and "empty.json" in result.output


def test_gate_inconclusive_warns_and_strict_fails(runner, files):
    result = _gate(runner, files["base"], files["base"])
    assert result.exit_code == 0
    last = result.output.splitlines()[-1]
    assert last.startswith("gate passed: 16 checks") and last.endswith("12 pass, 0 fail, 4 inconclusive, 0 not judged")
    inconclusive = [ln for ln in result.output.splitlines() if "inconclusive" in ln.split()]
    assert len(inconclusive) == 4 and all("≥" in ln for ln in inconclusive)  # each says how many seeds it needs
    strict = _gate(runner, files["base"], files["base"], "--strict")
    assert strict.exit_code == 1 and "gate failed (--strict)" in strict.output
    lenient = _gate(runner, files["base"], files["base"], "--max-retention-drop", "0.5")
    assert lenient.exit_code == 0 and "inconclusive" not in lenient.output.split("—")[0]
    assert lenient.output.splitlines()[-1].endswith("16 pass, 0 fail, 0 inconclusive, 0 not judged")
