"""Pieces of the parallel run that need no training: cell specs, architecture ids, interleaved timing,
the progress ETA."""

import pickle

import pytest
import torch

import kdmarl_bench.profiling.latency as latency
from kdmarl_bench.cells import CellSpec
from kdmarl_bench.commands.progress import eta_seconds
from kdmarl_bench.models.policy import StudentPolicy, TeacherPolicy
from kdmarl_bench.profiling.phase import annotate, arch_id
from kdmarl_bench.results.analysis.stats import CV_NOISY, is_noisy
from kdmarl_bench.runner import Runner
from kdmarl_bench.suite import load_suite, plan


def test_cell_spec_is_plain_data_and_keeps_the_cell_key(tmp_path):
    suite = load_suite("ci")
    runner = Runner(suite, tmp_path, device="cpu")
    specs = runner.specs()
    assert len(specs) == len(plan(suite))
    for spec, cell in zip(specs, plan(suite), strict=True):
        clone = pickle.loads(pickle.dumps(spec))
        assert isinstance(clone, CellSpec) and clone == spec
        assert clone.key == runner.key(cell)
        assert spec.teacher.ref == "zoo:mpe/simple_spread_v3" and len(spec.teacher.sha256) == 64
        if spec.base_method != "teacher":
            assert spec.method_config["lr"] > 0  # resolved: defaults included, not just overrides


def test_train_teacher_cell_has_no_key_until_trained(tmp_path):
    suite_path = tmp_path / "s.toml"
    suite_path.write_text('[suite]\nname = "t"\ntasks = ["mpe/simple_spread_v3"]\nmethods = ["bc"]\n'
                          '[teacher]\nsource = "train"\nsteps = 100\n')
    (spec,) = Runner(load_suite(suite_path), tmp_path).specs()
    assert spec.teacher.sha256 is None and spec.teacher.ref == "teachers/mpe_simple_spread_v3.safetensors"
    with pytest.raises(ValueError, match="not trained yet"):
        _ = spec.key
    assert len(spec.with_teacher_digest("ab" * 32).key) == 16


def test_arch_id_is_the_computation_not_the_weights():
    torch.manual_seed(0)
    a = StudentPolicy((3, 11), (3, 5), [(32, 32), (32, 32)])
    torch.manual_seed(1)
    b = StudentPolicy((3, 11), (3, 5), [(32, 32), (32, 32)])
    wider = StudentPolicy((3, 11), (3, 5), [(64, 64), (32, 32)])
    teacher = TeacherPolicy((3, 11), (3, 5), 20, (32, 32), (32, 32))
    assert arch_id(a) == arch_id(b)
    assert len({arch_id(a), arch_id(wider), arch_id(teacher)}) == 3
    assert arch_id(a, ("eager",)) != arch_id(a, ("eager", "torchscript"))


def test_interleaved_blocks_alternate(monkeypatch):
    order = []
    real = latency.sample_cpu

    def spy(decision, iters):
        order.append(decision)
        return real(decision, iters)

    monkeypatch.setattr(latency, "sample_cpu", spy)
    small = StudentPolicy((4,), (3,), [(8,)])
    big = StudentPolicy((4,), (3,), [(64, 64)])
    entries = latency.time_interleaved([(small.deploy_actors(), [4]), (big.deploy_actors(), [4])],
                                       iters=5, warmup=1, repeats=3)
    assert len(entries) == 2 and len(order) == 6
    first, second = order[0], order[1]
    assert first is not second and order == [first, second] * 3
    for e in entries:
        assert e["repeats"] == 3 and e["iters"] == 5 and e["p50_ms"] <= e["p90_ms"] <= e["p99_ms"]
    with pytest.raises(ValueError):
        latency.time_interleaved([(small.deploy_actors(), [4, 4])], iters=5)


def test_noisy_and_annotate():
    e = {"p50_ms": 1.0, "cv": 0.0, "timer_mismatch": False}
    assert not is_noisy(e)
    assert is_noisy({**e, "timer_mismatch": True})
    assert is_noisy({**e, "cv": CV_NOISY * 1.5})
    (s,) = annotate([e], "abc", "student", {"teacher", "student"}, 3)
    assert s["arch"] == "abc" and s["noisy"] is False
    assert s["timing"] == {"where": "driver", "phase": "profile", "interleaved_with": "teacher", "shared_by": 3}
    (t,) = annotate([e], "def", "teacher", {"teacher"}, 1)
    assert t["timing"]["interleaved_with"] == "none"


def test_eta_from_finished_cells():
    assert eta_seconds(10, 0, 30.0) is None
    assert eta_seconds(6, 2, 40.0) == pytest.approx(120.0)
    assert eta_seconds(0, 5, 40.0) == 0.0
