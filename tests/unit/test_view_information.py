"""benchmarks/view_information.py: the teacher-action classifiers and the mask-leak count (issue 20)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from kdmarl_bench.envs.smax import OWN_FEATURES, UNIT_FEATURES

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location("view_information", ROOT / "benchmarks" / "view_information.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["view_information"] = mod  # its dataclasses look their module up while being built
    spec.loader.exec_module(mod)
    return mod


def test_hidden_attack_share_counts_available_attacks_on_blank_enemy_blocks():
    vi = load_script()
    # 3m layout: 2 ally blocks, 3 enemy blocks, own features; enemy 0 shown, enemies 1 and 2 blank.
    o = torch.zeros(2, 5 * UNIT_FEATURES + OWN_FEATURES)
    o[:, 2 * UNIT_FEATURES] = 1.0
    avail = torch.zeros(2, 8, dtype=torch.bool)
    avail[:, 4] = True  # stop
    avail[0, 5] = avail[0, 6] = True  # row 0: enemy 0 (shown) and enemy 1 (blank)
    avail[1, 5] = True  # row 1: enemy 0 only
    assert vi.hidden_attack_share(o, avail, 3) == 1 / 3
    assert vi.hidden_attack_share(o, torch.zeros(2, 8, dtype=torch.bool), 3) is None


def test_v1_sight5_leaks_through_the_mask_and_sight5m_does_not():
    """Same seed, same teacher rollouts (the teacher acts on its own mask either way): the teacher-input
    classifier scores the same; the stalkers' masks under v1 sight5 offer attacks on enemies the view
    hides, sight5m's never."""
    vi = load_script()
    leak = vi.measure("smax/2s3z@sight5", "local", steps=1280, act="greedy", seed=0)
    masked = vi.measure("smax/2s3z@sight5m", "local", steps=1280, act="greedy", seed=0)
    assert [r.acc_teacher_input for r in leak] == [r.acc_teacher_input for r in masked]
    assert leak[0].hidden_attacks > 0 or leak[1].hidden_attacks > 0  # ally_0/1 are the stalkers (range 6)
    assert all(r.hidden_attacks in (0.0, None) for r in masked)
    assert all(r.unimitable == 0.0 for r in leak)  # the env's mask allows every teacher action
    for r in leak + masked:
        assert 0.0 <= r.acc_student_view <= 1.0 and r.n_test > 0
        assert abs(r.gap_points - 100 * (r.acc_teacher_input - r.acc_student_view)) < 1e-9
