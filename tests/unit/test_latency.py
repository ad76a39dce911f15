"""Latency measurement (kdmarl_bench.profiling.latency): structure and invariants, no timing thresholds."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from kdmarl_bench.errors import BackendUnavailable
from kdmarl_bench.profiling.latency import cuda_available, time_batched, time_decentralized

KEYS = {
    "device",
    "device_name",
    "threads",
    "batch",
    "mode",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "iters",
    "repeats",
    "cv",
    "timer_median_ms",
    "timer_mismatch",
    "throughput_decisions_per_s",
    "torch",
}
FAST = {"warmup": 5, "iters": 50, "repeats": 2}


def actors(n: int = 3, obs: int = 12, actions: int = 5) -> list[nn.Module]:
    return [nn.Sequential(nn.Linear(obs, 16), nn.ReLU(), nn.Linear(16, actions)) for _ in range(n)]


class GRUActor(nn.Module):
    def __init__(self, obs: int = 12, hidden: int = 8, actions: int = 5):
        super().__init__()
        self.fc = nn.Linear(obs, hidden)
        self.rnn = nn.GRUCell(hidden, hidden)
        self.head = nn.Linear(hidden, actions)

    def forward(self, obs, h):
        h = self.rnn(torch.relu(self.fc(obs)), h)
        return self.head(h), h


class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


def check_result(r: dict, *, device: str, mode: str, batch: int) -> None:
    assert set(r) == KEYS
    assert r["device"] == device and r["mode"] == mode and r["batch"] == batch
    assert isinstance(r["device_name"], str) and r["device_name"]
    assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
    assert r["mean_ms"] > 0 and r["timer_median_ms"] > 0
    assert r["cv"] >= 0
    assert isinstance(r["timer_mismatch"], bool)
    assert r["iters"] == FAST["iters"] and r["repeats"] == FAST["repeats"]
    assert r["torch"] == torch.__version__
    assert r["throughput_decisions_per_s"] == pytest.approx(batch / (r["p50_ms"] / 1e3), rel=1e-9)


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_decentralized_cpu_result(restore_threads):
    r = time_decentralized(actors(), [12, 12, 12], threads=1, **FAST)
    check_result(r, device="cpu", mode="decentralized", batch=1)
    assert r["threads"] == 1


def test_thread_count_restored(restore_threads):
    torch.set_num_threads(2)
    time_decentralized(actors(1), [12], threads=1, **FAST)
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    r = time_decentralized(actors(1), [12], threads=None, **FAST)
    assert r["threads"] == (os.cpu_count() or 1)
    assert torch.get_num_threads() == 1


def test_thread_count_restored_on_error(restore_threads):
    torch.set_num_threads(1)
    with pytest.raises(RuntimeError, match="boom"):
        time_decentralized([Boom()], [4], threads=2, **FAST)
    assert torch.get_num_threads() == 1


def test_batched_throughput_is_batch_over_p50(restore_threads):
    r = time_batched(actors(2), [12, 12], device="cpu", threads=1, batch=32, **FAST)
    check_result(r, device="cpu", mode="batched", batch=32)
    assert r["throughput_decisions_per_s"] == pytest.approx(32 / (r["p50_ms"] / 1e3))


def test_single_repeat_cv_is_zero(restore_threads):
    r = time_decentralized(actors(1), [12], warmup=2, iters=20, repeats=1)
    assert r["cv"] == 0.0
    assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]


def test_originals_untouched(restore_threads):
    team = actors(2)
    for m in team:
        m.train()
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in team]
    time_decentralized(team, [12, 12], **FAST)
    for m, sd in zip(team, before, strict=True):
        assert m.training
        assert all(torch.equal(v, sd[k]) for k, v in m.state_dict().items())
        assert all(p.device.type == "cpu" for p in m.parameters())


def test_shared_module_and_gru_extra_inputs(restore_threads):
    shared = GRUActor()
    r = time_decentralized([shared, shared], [12, 12], extra_inputs=[{"h": torch.zeros(1, 8)}] * 2, **FAST)
    check_result(r, device="cpu", mode="decentralized", batch=1)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        time_decentralized(actors(2), [12], **FAST)
    with pytest.raises(ValueError):
        time_decentralized(actors(1), [12], iters=0)
    with pytest.raises(ValueError):
        time_batched(actors(1), [12], device="cpu", threads=0, batch=4, warmup=1, iters=5, repeats=1)


@pytest.mark.skipif(cuda_available(), reason="checks the error raised without CUDA")
def test_cuda_requested_without_cuda_raises_clear_error():
    with pytest.raises(BackendUnavailable, match="CUDA is not available"):
        time_decentralized(actors(1), [12], device="cuda", **FAST)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_decentralized_and_batched(restore_threads):
    team = actors(3)
    r = time_decentralized(team, [12, 12, 12], device="cuda", threads=1, **FAST)
    check_result(r, device="cuda", mode="decentralized", batch=1)
    assert r["device_name"] == torch.cuda.get_device_name(0)
    b = time_batched(team, [12, 12, 12], device="cuda", threads=1, batch=64, **FAST)
    check_result(b, device="cuda", mode="batched", batch=64)
    assert all(p.device.type == "cpu" for m in team for p in m.parameters())
