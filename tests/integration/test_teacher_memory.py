"""benchmarks/teacher_memory.py: the feed-forward vs GRU MAPPO probe on real SMAX, at tiny budgets, and
the README's numbers from its committed results."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import teacher_memory as tm  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "teacher_memory"
TINY = dict(num_envs=8, rollout_len=16, total_steps=8 * 16 * 2, hidden=16, critic_hidden=16)


@pytest.mark.parametrize("actor", ["ff", "gru"])
def test_the_loss_replays_the_rollouts_log_probs(actor):
    """Under the parameters that acted, the loss recomputes every taken action's log-prob: for the GRU
    from the hidden state the rollout started from (carried over from the previous rollout, mid-episode
    after two 16-step rollouts of 3m) with a reset at each episode start. The check can fail: a GRU
    replayed from zeros instead gets other log-probs; a feed-forward actor has nothing to carry."""
    prog = tm.program(tm.probe_config(actor=actor, **TINY))
    params, opt, carry = prog.init(jax.random.PRNGKey(0))
    assert float(prog.replay_error(params, carry)[0]) < 1e-4
    for _ in range(2):
        (params, opt, carry), stats = prog.update((params, opt, carry), None)
        assert float(stats["entropy"]) > 0
    right, dropped = (float(e) for e in prog.replay_error(params, carry))
    assert right < 1e-4
    assert (dropped > 1e-3) == (actor == "gru"), dropped


def test_train_writes_its_result(tmp_path):
    cfg = tm.probe_config(actor="ff", **TINY)
    res = tm.train(cfg, tmp_path / "probe", eval_every=1, eval_episodes=4, save_weights=True, final_episodes=8,
                   log=lambda s: None)
    saved = json.loads((tmp_path / "probe.json").read_text())
    assert saved == json.loads(json.dumps(res))
    assert saved["config"]["actor"] == "ff" and saved["env_steps"] == 256
    assert [p[0] for p in saved["curve"]] == [128, 256]
    assert all(0.0 <= p[1] <= 1.0 for p in saved["curve"]) and 0.0 <= saved["final_greedy_win_rate"] <= 1.0
    assert (tmp_path / "probe.npz").is_file()


def test_readme_quotes_the_committed_probe():
    """The README's memory paragraph: each committed run's final win rate (1000 episodes) and its config."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**Memory, probed**"):]
    section = section[:section.index("\n\n")]
    runs = {p.stem: json.loads(p.read_text()) for p in sorted(DATA.glob("*.json"))}
    assert {"ff128", "gru128"} <= set(runs)
    for name in ("ff128", "gru128"):
        r = runs[name]
        assert r["final_episodes"] == 1000 and r["env_steps"] >= 9_900_000
        assert f"{r['final_greedy_win_rate']:.3f}" in section, name
        assert f"--out benchmarks/data/teacher_memory/{name}" in section, name
        assert r["config"]["hidden"] == 128
    assert runs["ff128"]["config"]["actor"] == "ff" and runs["gru128"]["config"]["actor"] == "gru"
    lr = re.search(r"--actor gru --lr (\S+)", section)
    assert lr and float(lr.group(1)) == runs["gru128"]["config"]["lr"]
    assert "From 2.5M env-steps on, both\ncurves stay within 0.73–0.83" in section
    for name in ("ff128", "gru128"):
        assert all(0.73 <= wr <= 0.83 for steps, wr in runs[name]["curve"] if steps >= 2_400_000), name
    # the GRU at the feed-forward run's learning rate, stopped early: its last point beside ff128's at that step
    slow = runs["gru128-lr5e-4"]
    assert slow["config"]["lr"] == runs["ff128"]["config"]["lr"] and slow["final_greedy_win_rate"] is None
    steps, score = slow["curve"][-1]
    same_step = dict(map(tuple, runs["ff128"]["curve"]))[steps]
    assert f"stopped at {steps / 1e6:.1f}M steps" in section and f"({score:.3f} against {same_step:.3f} there)" in section
