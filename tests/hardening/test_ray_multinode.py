"""Issue 21, case 5: a suite across a 3-node Ray cluster on one machine, one node killed mid-run.

``ray.cluster_utils.Cluster`` starts a head and two worker nodes (one CPU each) as separate raylets.
After the first cell is recorded, a worker node is killed (not gracefully): its tasks are retried on the
surviving nodes. Every cell is recorded exactly once, and the board's scores equal a local (inline) run's.
"""

import json
import time

import pytest

from kdmarl_bench.executors import make_executor
from kdmarl_bench.executors.events import JobStarted
from kdmarl_bench.runner import RunEvents, run_suite
from kdmarl_bench.suite import load_suite
from tests.factories import board_json, random_teacher, tiny_suite_toml

ray = pytest.importorskip("ray")


def _scores(board: dict) -> dict:
    return {(r["method"], r["seed"]): (r["score"], r["episode_scores"]) for r in board["records"]}


@pytest.mark.slow
def test_three_node_cluster_survives_a_lost_node(tmp_path, monkeypatch):
    from ray.cluster_utils import Cluster

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    teacher = random_teacher(tmp_path / "teacher")
    suite_path = tmp_path / "suite.toml"
    suite_path.write_text(tiny_suite_toml(teacher=str(teacher), methods=("teacher", "bc", "kd-marl"), seeds=(0, 1),
                                          env_steps=3_000))
    suite = load_suite(suite_path)
    local_board, _ = run_suite(suite, tmp_path / "local", device="cpu")
    local_board = board_json(local_board)

    started = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
        cluster.wait_for_nodes()
        executor = make_executor("ray", jobs=3, device="cpu", address=cluster.address)
        assert int(ray.cluster_resources()["CPU"]) == 3
        killed: list[str] = []
        done: list[tuple] = []
        starts: dict[int, int] = {}  # job id -> times a worker started it (2+: retried after the node loss)
        real_events = executor.events

        def events():
            evs = real_events()
            for ev in evs:
                if isinstance(ev, JobStarted):
                    starts[ev.job_id] = starts.get(ev.job_id, 0) + 1
            return evs

        executor.events = events

        def on_done(cell, rec, cached):
            done.append((cell.method, cell.seed))
            if not killed:  # tasks are in flight on every node now: lose one of them
                cluster.remove_node(workers[0], allow_graceful=False)
                killed.append(workers[0].node_id)

        out = tmp_path / "ray"
        board, _ = run_suite(suite, out, device="cpu", executor=executor, events=RunEvents(on_cell_done=on_done))
        board = board_json(board)
        alive = [n for n in ray.nodes() if n["Alive"]]
    finally:
        ray.shutdown()
        cluster.shutdown()
    elapsed = time.monotonic() - started

    assert killed and len(alive) == 2
    # every cell recorded exactly once: one done event, one cell file, one board record per (method, seed)
    expected = {(m, s) for m in ("teacher", "bc", "kd-marl") for s in (0, 1)}
    assert sorted(done) == sorted(expected)
    files = [json.loads(f.read_text()) for f in (out / "cells").glob("*.json")]
    cells = [(r["method"], r["seed"]) for r in files if r.get("kind") != "random-score"]
    assert sorted(cells) == sorted(expected)
    assert sorted((r["method"], r["seed"]) for r in board["records"]) == sorted(expected)
    assert all(r["error"] is None for r in board["records"])
    # ... with the scores of a run on this machine alone
    assert _scores(board) == _scores(local_board)
    retried = sum(n > 1 for n in starts.values())
    print(f"3-node Ray cluster, one worker node killed after the first cell: {len(expected)} cells recorded once, "
          f"scores equal to the local run; {retried} job(s) restarted after the loss; {elapsed:.0f} s")
