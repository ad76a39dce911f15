"""export: CSV rows, marl-eval raw-data JSON and github-action-benchmark entries."""

from __future__ import annotations

import copy
import csv
import io
import json

import pytest

from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.render.formats import FORMATS, export, export_files
from kdmarl_bench.results.render.formats.csv_rows import CSV_COLUMNS
from kdmarl_bench.results.render.formats.gh_benchmark import to_gh_benchmark
from kdmarl_bench.results.render.formats.marl_eval import to_marl_eval
from tests.factories import make_leaderboard, make_record, standard_records, typed


@pytest.fixture(scope="module")
def lb() -> dict:
    return make_leaderboard()


@pytest.fixture(scope="module")
def with_failures() -> dict:
    """kd-marl seed 2 failed on smax/3m, a dagger that failed everywhere, a size only on smax."""
    recs = [
        r
        for r in standard_records()
        if not (r["method"] == "kd-marl" and r["task"] == "smax/3m" and r["seed"] == 2)
    ]
    recs.append(make_record("smax/3m", "kd-marl", 2, None, 1.0, error="NaN loss"))
    recs += [make_record("smax/3m", "dagger", s, None, 1.0, error="diverged") for s in range(3)]
    recs += [make_record("smax/3m", "bc", s, 0.3, 1.0, flops=250.0, size="tiny") for s in range(3)]
    return make_leaderboard(recs)


# ---------------------------------------------------------------------------------------------
# csv


def test_csv_one_row_per_record(lb):
    text, warnings = export(typed(lb), "csv")
    assert warnings == []
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(lb["records"]) == 18
    assert tuple(rows[0]) == CSV_COLUMNS
    kd = next(r for r in rows if (r["task"], r["method"], r["seed"]) == ("smax/3m", "kd-marl", "1"))
    assert kd["size"] == "small" and kd["metric"] == "win_rate"
    assert float(kd["score"]) == pytest.approx(0.95) and float(kd["retention"]) == pytest.approx(0.95)
    assert kd["params"] == "500" and float(kd["flops"]) == 1000.0
    # the 1-thread decentralized entry, not the 8-thread batched one
    assert float(kd["cpu_p50_ms"]) == pytest.approx(0.02)
    assert float(kd["cpu_p90_ms"]) == pytest.approx(0.024) and float(kd["cpu_p99_ms"]) == pytest.approx(0.03)
    teacher = next(r for r in rows if r["method"] == "teacher")
    assert teacher["size"] == "full" and teacher["error"] == ""


def test_csv_failed_record_has_empty_score_and_its_error(with_failures):
    rows = list(csv.DictReader(io.StringIO(export(typed(with_failures), "csv")[0])))
    failed = [r for r in rows if r["error"]]
    assert {r["error"] for r in failed} == {"NaN loss", "diverged"}
    assert all(r["score"] == "" and r["retention"] == "" for r in failed)


# ---------------------------------------------------------------------------------------------
# marl-eval


def check_marl_eval(raw: dict) -> None:
    """The documented marl-eval raw-data layout and DiagnoseData.check_data's rules.

    env → task → algorithm → run → {step_k: {step_count, metrics...}, absolute_metrics: {...}};
    metric values are lists of numbers; keys lower case (marl-eval lower-cases them); per env:
    the same algorithms on every task, the same number of runs for every algorithm and task,
    the same number of steps in every run, the same metrics in every step (step_count aside),
    no comma in an algorithm name.
    """
    assert isinstance(raw, dict) and raw
    for env, tasks in raw.items():
        assert env == env.lower()
        algo_sets, run_counts, step_counts, metric_sets = [], [], [], []
        for task, algos in tasks.items():
            assert task == task.lower()
            algo_sets.append(sorted(algos))
            for algo, runs in algos.items():
                assert algo == algo.lower() and "," not in algo
                run_counts.append(len(runs))
                for run, steps in runs.items():
                    assert run == run.lower()
                    step_counts.append(len(steps))
                    assert "absolute_metrics" in steps
                    logged = [k for k in steps if k != "absolute_metrics"]
                    assert logged and all(k.startswith("step_") for k in logged)
                    for step, metrics in steps.items():
                        if step != "absolute_metrics":
                            assert isinstance(metrics["step_count"], int)
                        names = sorted(k for k in metrics if k != "step_count")
                        metric_sets.append(names)
                        for name in names:
                            values = metrics[name]
                            assert isinstance(values, list) and values
                            assert all(
                                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
                            )
        assert all(a == algo_sets[0] for a in algo_sets), f"{env}: algorithms differ between tasks"
        assert len(set(run_counts)) == 1, f"{env}: run counts differ"
        assert len(set(step_counts)) == 1, f"{env}: step counts differ"
        assert all(m == metric_sets[0] for m in metric_sets), f"{env}: metrics differ"


def test_marl_eval_layout_and_values(lb):
    res = to_marl_eval(typed(lb))
    assert res.dropped == []
    raw = res.data
    check_marl_eval(raw)
    assert set(raw) == {"smax", "mpe"}
    assert set(raw["smax"]) == {"3m"} and set(raw["mpe"]) == {"simple_spread"}
    assert list(raw["smax"]["3m"]) == ["teacher", "kd-marl:small", "bc:small"]
    run = raw["smax"]["3m"]["kd-marl:small"]["run_1"]
    assert run["step_1"] == {"step_count": 1000, "win_rate": [0.95], "retention": [0.95]}
    assert run["absolute_metrics"] == {"win_rate": [0.95], "retention": [0.95]}
    mpe = raw["mpe"]["simple_spread"]["bc:small"]["run_0"]
    assert mpe["step_1"]["episode_return"] == [-60.0] * 4  # one value per evaluation episode
    assert mpe["absolute_metrics"]["retention"] == [pytest.approx(0.5)]
    assert sorted(raw["mpe"]["simple_spread"]["teacher"]) == ["run_0", "run_1", "run_2"]
    # it is plain JSON
    text, warnings = export(typed(lb), "marl-eval")
    assert json.loads(text) == raw and warnings == []


def test_marl_eval_drops_what_would_make_the_design_ragged(with_failures):
    res = to_marl_eval(typed(with_failures))
    check_marl_eval(res.data)
    smax = res.data["smax"]["3m"]
    # seed 2 failed for kd-marl → seed 2 dropped for every smax algorithm; dagger failed entirely
    assert set(smax) == {"teacher", "kd-marl:small", "bc:small", "bc:tiny"}
    assert all(sorted(runs) == ["run_0", "run_1"] for runs in smax.values())
    # mpe keeps its 3 seeds: the design is rectangular per environment
    assert all(len(runs) == 3 for runs in res.data["mpe"]["simple_spread"].values())
    dropped = "\n".join(res.dropped)
    assert "kd-marl:small seed 2: failed (NaN loss)" in dropped
    assert "dagger:small seed 0: failed (diverged)" in dropped
    assert "smax/3m teacher seed 2: seed missing elsewhere in smax" in dropped
    _, warnings = export(typed(with_failures), "marl-eval")
    assert len(warnings) == len(res.dropped) and warnings[0].startswith("left out of the marl-eval export")


def test_marl_eval_method_missing_on_one_task_is_dropped():
    recs = [r for r in standard_records() if not (r["method"] == "bc" and r["task"] == "smax/3m")]
    recs += [make_record("smax/8m", m, s, 0.5, 1.0) for m in ("teacher", "kd-marl", "bc") for s in range(3)]
    recs = [r for r in recs if not (r["task"] == "smax/8m" and r["method"] == "teacher")]
    recs += [make_record("smax/8m", "teacher", s, 1.0) for s in range(3)]
    res = to_marl_eval(typed(make_leaderboard(recs)))
    check_marl_eval(res.data)
    assert set(res.data["smax"]["3m"]) == set(res.data["smax"]["8m"]) == {"teacher", "kd-marl:small"}
    assert any("smax/8m bc:small: not on every smax task" in d for d in res.dropped)
    assert set(res.data["mpe"]["simple_spread"]) == {"teacher", "kd-marl:small", "bc:small"}


def test_marl_eval_real_checker_when_installed(lb, capsys):
    """marl-eval's own checker and matrix builder (``id-marl-eval``), when importable."""
    diagnose = pytest.importorskip("marl_eval.utils.diagnose_data_errors")
    processing = pytest.importorskip("marl_eval.utils.data_processing_utils")
    raw = to_marl_eval(typed(lb)).data
    checks = diagnose.DiagnoseData(copy.deepcopy(raw)).check_data()
    assert all(all(v.values()) for v in checks.values()), checks
    processed = processing.data_process_pipeline(raw_data=copy.deepcopy(raw), metrics_to_normalize=[])
    matrices, _ = processing.create_matrices_for_rliable(
        data_dictionary=copy.deepcopy(processed), environment_name="smax", metrics_to_normalize=[]
    )
    assert matrices["mean_retention"]["kd-marl:small"].tolist() == [[0.9], [0.95], [1.0]]


# ---------------------------------------------------------------------------------------------
# github-action-benchmark


def _check_gh(entries: list) -> None:
    assert isinstance(entries, list) and entries
    for e in entries:
        assert set(e) <= {"name", "unit", "value", "range", "extra"}
        assert isinstance(e["name"], str) and isinstance(e["unit"], str) and isinstance(e["extra"], str)
        assert isinstance(e["value"], float)
        assert "range" not in e or isinstance(e["range"], str)
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names))


def test_gh_benchmark_bigger_is_retention_and_score(lb):
    entries = to_gh_benchmark(typed(lb), "bigger")
    _check_gh(entries)
    by = {e["name"]: e for e in entries}
    ret = by["smax/3m kd-marl [small] retention"]
    assert ret["value"] == pytest.approx(0.95) and ret["unit"] == "fraction of teacher"
    assert ret["range"].startswith("95% CI [") and "seeds 3" in ret["extra"]
    assert by["smax/3m teacher score"]["unit"] == "win rate"
    assert by["mpe/simple_spread bc [small] score"]["value"] == pytest.approx(-50.0)
    assert by["mpe/simple_spread bc [small] score"]["unit"] == "team return"
    assert not any(n.startswith("smax/3m teacher retention") for n in by)  # 1.0 by definition
    assert len(entries) == 4 * 2 + 2  # 4 student rows: retention + score; 2 teachers: score
    assert "range" not in by["smax/3m teacher score"]  # a degenerate CI [1, 1] is left out


def test_gh_benchmark_smaller_is_flops_and_latency(lb):
    entries = to_gh_benchmark(typed(lb), "smaller")
    _check_gh(entries)
    by = {e["name"]: e for e in entries}
    assert by["smax/3m teacher FLOPs"]["value"] == 8000.0
    assert by["smax/3m teacher FLOPs"]["unit"] == "FLOPs per team decision"
    lat = by["smax/3m kd-marl [small] CPU p50 latency (1 thread)"]
    assert lat["unit"] == "ms" and lat["value"] == pytest.approx(0.02) and "p99 0.03 ms" in lat["extra"]
    assert len(entries) == 6 * 2


def test_gh_benchmark_skips_failed_cells(with_failures):
    names = {e["name"] for e in to_gh_benchmark(typed(with_failures), "bigger")}
    assert not any("dagger" in n for n in names)
    assert "smax/3m bc [tiny] retention" in names
    text, _ = export(typed(with_failures), "gh-benchmark-smaller")
    _check_gh(json.loads(text))
    with pytest.raises(ValueError, match="bigger"):
        to_gh_benchmark(typed(with_failures), "sideways")


def test_unknown_format():
    assert "csv" in FORMATS
    with pytest.raises(UsageError, match="valid choices"):
        export(typed(make_leaderboard()), "xml")
    with pytest.raises(UsageError, match="did you mean: marl-eval"):
        export(typed(make_leaderboard()), "marl_eval")


def test_registry_lists_every_format_once():
    assert FORMATS.names() == ["csv", "gh-benchmark", "gh-benchmark-bigger", "gh-benchmark-smaller", "marl-eval"]
    assert [n for n, f in FORMATS.items() if f.needs_out] == ["gh-benchmark"]
    with pytest.raises(UsageError, match="several files"):
        export(typed(make_leaderboard()), "gh-benchmark")


def test_gh_benchmark_pair_matches_single_files(tmp_path):
    board = make_leaderboard()
    paths, warnings = export_files(typed(board), "gh-benchmark", tmp_path / "bench.json")
    assert [p.name for p in paths] == ["bench-bigger.json", "bench-smaller.json"] and warnings == []
    assert paths[0].read_text() == export(typed(board), "gh-benchmark-bigger")[0]
    assert paths[1].read_text() == export(typed(board), "gh-benchmark-smaller")[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench-bigger.json", "bench-smaller.json"]  # no temp left


def test_gh_benchmark_pair_refuses_a_symlink_out_of_the_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.json").write_text("keep")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "bench-smaller.json").symlink_to(outside / "target.json")
    with pytest.raises(UsageError, match="would leave the folder"):
        export_files(typed(make_leaderboard()), "gh-benchmark", folder / "bench.json")
    assert (outside / "target.json").read_text() == "keep"
    assert not (folder / "bench-bigger.json").exists()  # refused before anything was written
