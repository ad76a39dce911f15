"""`export CHECKPOINT --format onnx` round-trips on a real environment; `profile --paths`; int8 scoring."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from torch import nn

from kdmarl_bench.checkpoint import save_checkpoint
from kdmarl_bench.cli import main
from kdmarl_bench.deploy_runtimes import onnxruntime
from kdmarl_bench.deploy_runtimes.base import missing_modules
from kdmarl_bench.envs import get_task
from kdmarl_bench.evaluate import evaluate
from kdmarl_bench.models.policy import StudentPolicy
from tests.factories import board_json

pytestmark = pytest.mark.skipif(missing_modules("onnxruntime") != [],
                                reason="onnx/onnxscript/onnxruntime not installed (pip install 'kdmarl-bench[deploy]')")

TASK = "mpe/simple_spread_v3"


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory):
    """A tiny MPE student checkpoint (random weights, head gain 1 so greedy actions are not near-ties)."""
    spec = get_task(TASK).spec
    torch.manual_seed(3)
    policy = StudentPolicy(spec.obs_dims, spec.n_actions, [(16, 16)] * spec.n_agents)
    for a in policy.actors:
        nn.init.orthogonal_(a.head.weight, gain=1.0)
    path = tmp_path_factory.mktemp("ckpt") / "student"
    weights = save_checkpoint(policy, path, {"kind": "student", "task": TASK, "method": "test", "seed": 0})
    return policy.eval(), weights


def test_exported_onnx_scores_exactly_like_the_checkpoint_on_100_episodes(tiny_student, tmp_path, runner):
    from kdmarl_bench.profiling.artifacts import load_exported

    policy, weights = tiny_student
    out = tmp_path / "onnx"
    res = runner.invoke(main, ["export", str(weights), "--format", "onnx", "--out", str(out)])
    assert res.exit_code == 0, res.output
    written = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["agent0.onnx", "agent1.onnx", "agent2.onnx", "manifest.json"]  # nothing outside --out

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"]["id"] == TASK and manifest["precision"] == "fp32"
    assert manifest["versions"]["opset"] == str(onnxruntime.ONNX_OPSET)
    assert [a["obs_dim"] for a in manifest["agents"]] == [18, 18, 18]
    assert [a["n_actions"] for a in manifest["agents"]] == [5, 5, 5]
    for f in manifest["files"]:
        assert hashlib.sha256((out / f["file"]).read_bytes()).hexdigest() == f["sha256"]
    eq = manifest["equivalence"]
    assert eq["passed"] and eq["actions_equal"] and eq["n_recorded"] == 256

    exported, _ = load_exported(out)
    fresh = evaluate(exported, TASK, episodes=100, seed=1234)
    ref = evaluate(policy, TASK, episodes=100, seed=1234)
    assert fresh.episodes == 100
    assert fresh.episode_scores == ref.episode_scores  # identical greedy play, episode by episode


def test_a_tampered_export_is_refused(tiny_student, tmp_path):
    from kdmarl_bench.errors import UsageError
    from kdmarl_bench.profiling.artifacts import export_checkpoint, load_exported

    _, weights = tiny_student
    export_checkpoint(str(weights), "onnx", tmp_path, recorded=False)
    (tmp_path / "agent1.onnx").write_bytes((tmp_path / "agent0.onnx").read_bytes() + b"\0")
    with pytest.raises(UsageError, match="agent1.onnx: sha256 does not match"):
        load_exported(tmp_path)


def test_export_tells_checkpoints_and_leaderboards_apart(tiny_student, tmp_path, runner):
    _, weights = tiny_student
    res = runner.invoke(main, ["export", str(weights), "--format", "csv"])
    assert res.exit_code == 2
    assert "is a checkpoint" in res.output and "csv" in res.output and "onnx, executorch" in res.output
    res = runner.invoke(main, ["export", "baselines/quickstart.json", "--format", "onnx", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "not a leaderboard" in res.output and "marl-eval" in res.output
    res = runner.invoke(main, ["export", str(weights), "--format", "onnx"])
    assert res.exit_code == 2 and "--out DIR" in res.output
    res = runner.invoke(main, ["export", str(weights), "--format", "executorch", "--int8", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--int8" in res.output
    assert not any(tmp_path.iterdir())


def test_int8_result_scores_under_the_same_protocol(tiny_student):
    from kdmarl_bench.profiling.quantize import evaluate_int8, int8_result

    policy, _ = tiny_student
    out = int8_result(policy, TASK, episodes=8, eval_seed=5, fp32_score=-10.0, teacher_score=-5.0,
                      random_score=-20.0, warmup=2, iters=20, repeats=1)
    again = evaluate_int8(policy, TASK, episodes=8, eval_seed=5)
    assert out["score"] == pytest.approx(again.score)  # deterministic: same seed, same int8 model
    assert out["retention"] == pytest.approx((out["score"] + 20.0) / 15.0)
    assert out["delta_vs_fp32"] == pytest.approx(out["score"] + 10.0)
    assert out["latency"]["path"] == "onnxruntime-int8" and out["latency"]["p50_ms"] > 0
    from kdmarl_bench.profiling.memory import memory_footprint

    # the files hold at least the int8 weights (at 16 units graph overhead dominates: smaller than
    # fp32 only for wider students, see test_int8_model_is_smaller_and_close_but_not_identical)
    assert out["bytes"] >= memory_footprint(policy.deploy_actors(), list(policy.obs_dims)).weights_int8_bytes
    assert out["equivalence"]["atol"] is None


def test_profile_paths_json_reports_equivalence_bytes_and_floor(tiny_student, runner):
    _, weights = tiny_student
    paths = ["eager", "onnxruntime"] + ([] if missing_modules("executorch") else ["executorch"])
    res = runner.invoke(main, ["profile", str(weights), "--paths", ",".join(paths), "--threads", "1",
                               "--iters", "50", "--warmup", "5", "--no-cuda", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{"):])
    by_path = {e["path"]: e for e in out["latency"]}
    assert sorted(by_path) == sorted(paths)
    for path, e in by_path.items():
        assert e["p50_ms"] <= e["p90_ms"] <= e["p99_ms"]
        assert e["floor_ms"] > 0 and e["x_floor"] == pytest.approx(e["p50_ms"] / e["floor_ms"])
        if path != "eager":
            assert e["equivalence"]["passed"] and e["equivalence"]["n_recorded"] == 256
            assert e["file_bytes"] > 0
    assert out["memory"]["weights_fp32_bytes"] == 4 * sum(p.numel() for p in tiny_student[0].parameters())
    assert out["peak"]["matmul_gflops"] > 0


def test_profile_rejects_unknown_paths_and_keeps_the_torchscript_alias(tiny_student, runner):
    _, weights = tiny_student
    res = runner.invoke(main, ["profile", str(weights), "--paths", "eager,onnxrt"])
    assert res.exit_code == 2 and "onnxruntime" in res.output and "valid choices" in res.output
    res = runner.invoke(main, ["profile", str(weights), "--paths", "eager", "--torchscript", "--threads", "1",
                               "--iters", "20", "--warmup", "2", "--no-cuda", "--no-recorded", "--json"])
    assert res.exit_code == 0, res.output
    assert "deprecated" in res.output
    out = json.loads(res.output[res.output.index("{"):])
    assert {e["path"] for e in out["latency"]} == {"eager", "torchscript"}


def test_profile_without_the_runtime_exits_3_naming_the_install(tiny_student, runner, monkeypatch):
    import importlib.util

    _, weights = tiny_student
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "executorch" else real(name, *a))
    res = runner.invoke(main, ["profile", str(weights), "--paths", "eager,executorch"])
    assert res.exit_code == 3
    assert "pip install 'kdmarl-bench[deploy]'" in res.output


def test_profile_without_the_tasks_backend_checks_on_random_observations_and_says_so(tiny_student, runner,
                                                                                   monkeypatch):
    import dataclasses

    import kdmarl_bench.envs

    _, weights = tiny_student
    unavailable = dataclasses.replace(get_task(TASK), availability=lambda: "mpe2 is not installed (test)")
    monkeypatch.setattr(kdmarl_bench.envs, "get_task", lambda task_id: unavailable)
    res = runner.invoke(main, ["profile", str(weights), "--paths", "eager,torchscript", "--threads", "1",
                               "--iters", "20", "--warmup", "2", "--no-cuda", "--json"])
    assert res.exit_code == 0, res.output
    assert "random observations only" in res.output and "mpe2 is not installed (test)" in res.output
    out = json.loads(res.output[res.output.index("{"):])
    ts = next(e for e in out["latency"] if e["path"] == "torchscript")
    assert ts["equivalence"]["n_recorded"] == 0 and ts["equivalence"]["passed"]


def test_run_records_memory_runtime_paths_and_int8_retention(tmp_path):
    """A suite asking for ONNX Runtime and int8: every student record carries its memory footprint,
    an onnxruntime latency entry with its equivalence check and floor multiple, and an int8 twin
    whose retention is filled against the teacher like the fp32 student's."""
    from kdmarl_bench.runner import run_suite
    from kdmarl_bench.suite import parse_suite

    suite = parse_suite({
        "suite": {"name": "deploy-run"}, "tasks": ["mpe/simple_spread_v3"], "methods": ["teacher", "bc"],
        "seeds": [0], "budget": {"env_steps": 1000, "num_envs": 4}, "eval": {"episodes": {"mpe": 4}},
        "profile": {"iters": 20, "warmup": 5, "threads": [1], "batch_sizes": [], "cuda": "off",
                    "paths": ["eager", "onnxruntime"], "quantize": ["int8"]},
    }, str(tmp_path / "s.toml"))
    board, _ = run_suite(suite, tmp_path / "out", device="cpu")
    board = board_json(board)
    student = next(r for r in board["records"] if r["method"] == "bc")
    assert student["memory"]["weights_fp32_bytes"] > student["memory"]["weights_int8_bytes"] > 0
    ort = next(e for e in student["latency"] if e["path"] == "onnxruntime")
    assert ort["equivalence"]["passed"] and ort["file_bytes"] > 0
    assert ort["x_floor"] > 1
    int8 = student["int8"]
    assert len(int8["episode_scores"]) == 4 and int8["retention"] is not None
    teacher = next(r for r in board["records"] if r["method"] == "teacher")
    assert "int8" not in teacher
