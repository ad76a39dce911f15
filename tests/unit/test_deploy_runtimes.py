"""Edge deployment paths: exported students against eager, memory footprint, the floor, int8."""

from __future__ import annotations

import copy
import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

from kdmarl_bench.deploy_runtimes import onnxruntime
from kdmarl_bench.deploy_runtimes.base import missing_modules
from kdmarl_bench.errors import BackendUnavailable
from kdmarl_bench.models.mlp import Actor
from kdmarl_bench.models.policy import StudentPolicy, TeacherPolicy
from kdmarl_bench.profiling import runtimes
from kdmarl_bench.profiling.deploy import DEPLOY_PATHS, deploy_entry, require_paths
from kdmarl_bench.profiling.floor import MachinePeak, annotate_floor, floor_ms, measure_peak
from kdmarl_bench.profiling.memory import memory_footprint, peak_activation_bytes, weight_bytes

needs_ort = pytest.mark.skipif(missing_modules("onnxruntime") != [],
                               reason="onnx/onnxscript/onnxruntime not installed (pip install 'kdmarl-bench[deploy]')")
needs_et = pytest.mark.skipif(missing_modules("executorch") != [],
                              reason="executorch not installed (pip install 'kdmarl-bench[deploy]')")


def _student(obs=(12, 12), actions=(5, 5), widths=((16, 16), (16, 16)), seed=0) -> StudentPolicy:
    torch.manual_seed(seed)
    policy = StudentPolicy(list(obs), list(actions), [tuple(w) for w in widths])
    for a in policy.actors:  # an untrained head's 0.01 gain gives near-tied logits; spread them
        nn.init.orthogonal_(a.head.weight, gain=1.0)
    return policy.eval()


# ---- memory ---------------------------------------------------------------------------------------


def test_weight_bytes_fp32_and_int8_by_hand():
    actor = Actor(10, 4, (8,))  # Linear 10->8 (80 w + 8 b), head 8->4 (32 w + 4 b)
    fp32, int8 = weight_bytes(actor)
    assert fp32 == 4 * (80 + 8 + 32 + 4)
    # int8: weight matrices 1 B/element + a 4 B scale and 1 B zero point each; biases stay fp32
    assert int8 == (80 + 5) + (32 + 5) + 4 * (8 + 4)


def test_peak_activation_bytes_is_the_largest_layer_in_plus_out():
    actor = Actor(10, 4, (8,))
    # Linear 10->8: 40 + 32 B; ReLU 32 + 32; head 8->4: 32 + 16  -> 72
    assert peak_activation_bytes(actor, 10) == 72


def test_team_memory_counts_a_shared_actor_once():
    teacher = TeacherPolicy([6, 6, 6], [3, 3, 3], state_dim=4, actor_hidden=(8,), critic_hidden=(8,))
    mem = memory_footprint(teacher.deploy_actors(), [6, 6, 6])
    per_agent = mem.per_agent[0].weights_fp32_bytes
    assert all(a.weights_fp32_bytes == per_agent for a in mem.per_agent)
    mlp_bytes = 4 * sum(p.numel() for p in teacher.actors[0].parameters())
    # the shared MLP once + each agent's 3-float one-hot buffer
    assert mem.weights_fp32_bytes == mlp_bytes + 3 * 3 * 4
    assert mem.weights_int8_bytes < mem.weights_fp32_bytes / 2


# ---- floor ----------------------------------------------------------------------------------------


def test_floor_is_the_max_of_compute_and_memory_time():
    peak = MachinePeak(matmul_gflops=100.0, bandwidth_gbs=10.0)
    assert floor_ms(1e9, 0, peak) == pytest.approx(10.0)  # 1 GFLOP at 100 GFLOP/s = 10 ms
    assert floor_ms(0, 1e8, peak) == pytest.approx(10.0)  # 100 MB at 10 GB/s = 10 ms
    assert floor_ms(1e9, 1e9, peak) == pytest.approx(100.0)


def test_annotate_floor_scales_batched_flops_and_skips_cuda():
    peak = MachinePeak(matmul_gflops=1.0, bandwidth_gbs=1e9)  # compute-bound
    entries = [{"device": "cpu", "batch": 1, "p50_ms": 2.0}, {"device": "cpu", "batch": 4, "p50_ms": 2.0},
               {"device": "cuda", "batch": 1, "p50_ms": 1.0}]
    annotate_floor(entries, flops_per_decision=1e6, weight_bytes_per_decision=1.0, peak=peak)
    assert entries[0]["floor_ms"] == pytest.approx(1.0) and entries[0]["x_floor"] == pytest.approx(2.0)
    assert entries[1]["floor_ms"] == pytest.approx(4.0) and entries[1]["x_floor"] == pytest.approx(0.5)
    assert "floor_ms" not in entries[2]


def test_weights_that_fit_in_the_last_level_cache_are_not_streamed_from_dram():
    from kdmarl_bench.profiling.floor import dram_weight_bytes

    teacher = TeacherPolicy([6, 6, 6], [3, 3, 3], state_dim=4, actor_hidden=(8,), critic_hidden=(8,))
    actors = teacher.deploy_actors()
    once = 4 * sum(p.numel() for p in teacher.actors[0].parameters()) + 3 * 4
    assert dram_weight_bytes(actors, MachinePeak(1.0, 1.0, llc_bytes=10 * once)) == 0
    # larger than the cache: every agent call streams the shared weights again
    assert dram_weight_bytes(actors, MachinePeak(1.0, 1.0, llc_bytes=once // 2)) == 3 * once


def test_measured_peak_is_positive_and_finite():
    peak = measure_peak(matmul_n=128, copy_bytes=4 * 2**20)
    assert 0 < peak.matmul_gflops < float("inf") and 0 < peak.bandwidth_gbs < float("inf")


# ---- availability ---------------------------------------------------------------------------------


def test_missing_runtime_raises_exit_3_with_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(BackendUnavailable) as exc:
        require_paths(["eager", "onnxruntime"])
    assert exc.value.exit_code == 3
    assert "pip install 'kdmarl-bench[deploy]'" in str(exc.value) and "onnxruntime" in str(exc.value)
    require_paths(["eager", "torchscript"])  # PyTorch paths need nothing more
    with pytest.raises(ValueError, match="valid: eager, torchscript, onnxruntime, executorch"):
        require_paths(["tensorrt"])
    assert DEPLOY_PATHS == ("eager", "torchscript", "onnxruntime", "executorch")


# ---- exported students against eager ---------------------------------------------------------------


@needs_ort
def test_onnx_student_matches_eager_and_a_shared_teacher_is_exported_once():
    student = _student()
    team = runtimes.RuntimeTeam.build(student.deploy_actors(), [12, 12], "onnxruntime")
    assert len(team.units) == 2 and team.file_bytes > 0
    recorded = [np.abs(o) for o in runtimes.random_observations([12, 12], 32, seed=7)]
    eq = runtimes.check_equivalence(student.deploy_actors(), team, recorded=recorded)
    assert eq.passed and eq.actions_equal and eq.max_abs_diff <= 1e-5 * max(1.0, eq.max_abs_logit)
    assert (eq.n, eq.n_recorded) == (256 + 32, 32)
    # batch axis is dynamic: a batch of 7 runs too
    out = team.logits(1, np.zeros((7, 12), dtype=np.float32))
    assert out.shape == (7, 5)

    teacher = TeacherPolicy([6, 6, 6], [3, 3, 3], state_dim=4, actor_hidden=(8,), critic_hidden=(8,)).eval()
    tteam = runtimes.RuntimeTeam.build(teacher.deploy_actors(), [6, 6, 6], "onnxruntime")
    assert len(tteam.units) == 1 and tteam.units[0].append_agent_id and tteam.units[0].agents == [0, 1, 2]
    assert runtimes.check_equivalence(teacher.deploy_actors(), tteam).passed


@needs_ort
def test_a_failed_equivalence_check_is_recorded_on_the_entry_not_hidden(monkeypatch):
    student = _student()
    real_export = onnxruntime.export_onnx

    def export_a_different_model(module, in_dim, opset=onnxruntime.ONNX_OPSET):
        wrong = copy.deepcopy(module)
        with torch.no_grad():
            wrong.head.bias.add_(0.5)
        return real_export(wrong, in_dim, opset)

    monkeypatch.setattr(onnxruntime, "export_onnx", export_a_different_model)
    entry = deploy_entry(student.deploy_actors(), [12, 12], "onnxruntime", warmup=2, iters=20, repeats=1)
    assert entry["path"] == "onnxruntime"
    assert entry["equivalence"]["passed"] is False
    assert entry["equivalence"]["max_abs_diff"] == pytest.approx(0.5, abs=1e-4)
    assert entry["p50_ms"] > 0 and entry["p50_ms"] <= entry["p90_ms"] <= entry["p99_ms"]


@needs_ort
def test_torchscript_and_onnxruntime_entries_carry_equivalence_bytes_and_runtime():
    student = _student()
    for path in ("torchscript", "onnxruntime"):
        e = deploy_entry(student.deploy_actors(), [12, 12], path, warmup=2, iters=20, repeats=2)
        assert e["equivalence"]["passed"], (path, e["equivalence"])
        assert e["file_bytes"] > 4 * sum(p.numel() for p in student.parameters()) * 0.9
        assert e["mode"] == "decentralized" and e["threads"] == 1 and e["batch"] == 1
    assert e["runtime"]["onnxruntime"] != "missing"


@needs_et
def test_executorch_student_matches_eager():
    student = _student()
    team = runtimes.RuntimeTeam.build(student.deploy_actors(), [12, 12], "executorch")
    eq = runtimes.check_equivalence(student.deploy_actors(), team)
    assert eq.passed and eq.actions_equal
    entry = runtimes.time_team(team, warmup=2, iters=20, repeats=1)
    assert entry["runtime"]["executorch"] != "missing" and entry["p50_ms"] > 0


# ---- int8 -----------------------------------------------------------------------------------------


@needs_ort
def test_int8_model_is_smaller_and_close_but_not_identical():
    from kdmarl_bench.profiling.quantize import int8_team

    student = _student(widths=((64, 64), (64, 64)))
    fp32 = runtimes.RuntimeTeam.build(student.deploy_actors(), [12, 12], "onnxruntime")
    int8 = int8_team(student, fp32_models=fp32.models)
    assert int8.file_bytes < 0.5 * fp32.file_bytes
    eq = runtimes.check_equivalence(student.deploy_actors(), int8, atol=None)
    assert eq.atol is None and eq.passed is False  # int8 is never a pass/fail equivalence
    assert 0 < eq.max_abs_diff < 0.5  # quantization changes logits, but not wildly
    assert eq.action_agreement > 0.8


def test_int8_retention_is_filled_like_the_fp32_one():
    from kdmarl_bench.results.analysis.aggregate import with_int8_retention
    from kdmarl_bench.results.model.records import Record
    from tests.factories import make_record

    def rec(metric_task: str, teacher: float, int8: dict | None, random_score: float | None = None) -> Record:
        r = make_record(metric_task, "bc", 0, 0.5, teacher, random_score=random_score)
        return Record.from_dict({**r, **({"int8": int8} if int8 is not None else {})})

    ret = rec("mpe/simple_spread", -10.0, {"score": -15.0}, random_score=-30.0)
    assert with_int8_retention(ret).extra["int8"]["retention"] == pytest.approx(0.75)
    assert ret.extra["int8"] == {"score": -15.0}  # pure: the input is not changed
    win = rec("smax/3m", 0.8, {"score": 0.6})
    assert with_int8_retention(win).extra["int8"]["retention"] == pytest.approx(0.75)
    assert with_int8_retention(rec("smax/3m", 0.0, {"score": 0.6})).extra["int8"]["retention"] is None
    plain = rec("mpe/simple_spread", 1.0, None)
    assert with_int8_retention(plain) is plain


def test_leaderboard_schema_takes_the_runtime_paths_with_their_extra_fields():
    from kdmarl_bench.errors import UsageError
    from kdmarl_bench.results.model.schema import validate
    from tests.factories import make_leaderboard

    lb = make_leaderboard()
    rec = next(r for r in lb["records"] if r["latency"])
    base = rec["latency"][0]
    extra = {"equivalence": {"max_abs_diff": 1e-6, "passed": True}, "file_bytes": 1234, "floor_ms": 1e-4,
             "x_floor": 20.0}
    rec["latency"] += [{**base, "path": p, **extra} for p in ("onnxruntime", "executorch")]
    rec["memory"] = {"weights_fp32_bytes": 100, "weights_int8_bytes": 40, "peak_activation_bytes": 8}
    rec["int8"] = {"score": 1.0, "retention": 0.9, "bytes": 50}
    validate(lb)
    rec["latency"].append({**base, "path": "tensorrt"})
    with pytest.raises(UsageError, match="tensorrt"):
        validate(lb)
