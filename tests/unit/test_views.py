"""Observation views hold exactly the information they claim (kdmarl_bench/envs/views.py)."""

from __future__ import annotations

import pytest
import torch

from kdmarl_bench.envs import get_task
from kdmarl_bench.envs.registry import get_view, policy_view
from kdmarl_bench.envs.smax import OWN_FEATURES, UNIT_FEATURES
from kdmarl_bench.envs.views import check_view
from kdmarl_bench.errors import UsageError
from kdmarl_bench.models.policy import StudentPolicy, TeacherPolicy

# ---- SMAX -----------------------------------------------------------------------------------------


def smax_obs(blocks: list[tuple[float, float]], own_type: int = 0) -> torch.Tensor:
    """One 3m agent's observation: 5 other-unit blocks (alive, at the given relative positions in units of
    the observer's sight range) and its own features (alive, marine by default)."""
    o = torch.zeros(1, UNIT_FEATURES * 5 + OWN_FEATURES)
    for j, (dx, dy) in enumerate(blocks):
        o[0, j * UNIT_FEATURES : (j + 1) * UNIT_FEATURES] = torch.arange(1, UNIT_FEATURES + 1) / 100.0
        o[0, j * UNIT_FEATURES + 1] = dx
        o[0, j * UNIT_FEATURES + 2] = dy
    own = UNIT_FEATURES * 5
    o[0, own] = 1.0  # health
    o[0, own + 4 + own_type] = 1.0
    return o


def test_sight5_hides_exactly_the_units_beyond_five():
    view = get_view("smax/3m", "sight5", students=True)
    # A marine sees 9: relative 0.5 → 4.5 away (inside 5), 0.6 → 5.4 away (outside 5, inside SMAX's 9).
    near, far = (0.5, 0.0), (0.6, 0.0)
    o = smax_obs([near, far, near, far, (0.3, 0.4)])  # the last one: 0.5·9 = 4.5 away
    s = view([o], torch.zeros(1, 72))[0]
    for j, visible in enumerate([True, False, True, False, True]):
        block = s[0, j * UNIT_FEATURES : (j + 1) * UNIT_FEATURES]
        want = o[0, j * UNIT_FEATURES : (j + 1) * UNIT_FEATURES] if visible else torch.zeros(UNIT_FEATURES)
        assert torch.equal(block, want), j
    assert torch.equal(s[0, -OWN_FEATURES:], o[0, -OWN_FEATURES:])  # own features untouched


def test_a_unit_outside_the_student_range_changes_the_teacher_obs_but_not_the_students():
    view = get_view("smax/3m", "sight5", students=True)
    a = smax_obs([(0.5, 0.0), (0.7, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)])
    b = a.clone()
    b[0, UNIT_FEATURES + 0] = 0.123  # the far unit's health changes: the teacher sees it
    b[0, UNIT_FEATURES + 2] = 0.05  # and it moves a little, still out of the student's range
    assert not torch.equal(a, b)
    assert torch.equal(view([a], None)[0], view([b], None)[0])


def test_sight_range_follows_the_observers_unit_type():
    view = get_view("smax/3m", "sight5", students=True)
    # relative 0.45: a marine (sight 9) → 4.05 away, visible; a zergling (sight 8, type 4) → 3.6, visible;
    # relative 0.55: marine → 4.95 visible, stalker (sight 10, type 2) → 5.5 hidden.
    marine = view([smax_obs([(0.55, 0)] + [(0, 0)] * 4, own_type=0)], None)[0]
    stalker = view([smax_obs([(0.55, 0)] + [(0, 0)] * 4, own_type=2)], None)[0]
    assert marine[0, :UNIT_FEATURES].abs().sum() > 0
    assert stalker[0, :UNIT_FEATURES].abs().sum() == 0


def test_smax_hetero_view_keeps_agent0_whole_and_gives_the_others_enemies_only():
    view = get_view("smax/3m", "hetero", students=True)
    assert view.obs_dims == (75, 49, 49) and view.heterogeneous and view.limited
    o = smax_obs([(0.1, 0), (0.2, 0), (0.3, 0), (0.9, 0), (0.4, 0)])  # 2 allies, then 3 enemies
    out = view([o, o, o], None)
    assert torch.equal(out[0], o)
    enemies = o[:, 2 * UNIT_FEATURES : 5 * UNIT_FEATURES].clone()
    enemies[:, UNIT_FEATURES : 2 * UNIT_FEATURES] = 0  # the enemy 0.9·9 = 8.1 away is hidden
    assert torch.equal(out[1], torch.cat([enemies, o[:, -OWN_FEATURES:]], -1))


def test_smax_views_on_real_observations():
    env = get_task("smax/3m").make(4)
    try:
        step = env.reset(3)
        for _ in range(5):
            step = env.step([torch.zeros(4, dtype=torch.long)] * 3)
        view = get_view("smax/3m", "sight5", students=True)
        for o, s in zip(step.obs, view(step.obs, step.state), strict=True):
            blocks_o = o[:, : 5 * UNIT_FEATURES].reshape(4, 5, UNIT_FEATURES)
            blocks_s = s[:, : 5 * UNIT_FEATURES].reshape(4, 5, UNIT_FEATURES)
            dist = torch.linalg.vector_norm(blocks_o[..., 1:3], dim=-1) * 9.0  # 3m: marines only
            kept = blocks_s.abs().sum(-1) > 0
            assert torch.equal(kept, (blocks_o.abs().sum(-1) > 0) & (dist < 5.0))
    finally:
        env.close()


# ---- MPE ------------------------------------------------------------------------------------------


def spread_obs(landmarks: list[tuple[float, float]], others=((1.0, 1.0), (2.0, 2.0))) -> torch.Tensor:
    vals = [0.1, 0.2, 0.3, 0.4, *[x for lm in landmarks for x in lm], *[x for o in others for x in o], 0, 0, 0, 0]
    return torch.tensor([vals], dtype=torch.float32)


def test_near2_keeps_the_two_nearest_landmarks_nearest_first_and_no_agents():
    view = get_view("mpe/simple_spread_v3", "near2", students=True)
    o = spread_obs([(0.9, 0.0), (0.1, 0.1), (0.0, -0.5)])
    s = view([o, o, o], None)[0]
    assert torch.allclose(s, torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.1, 0.1, 0.0, -0.5]]))
    moved = spread_obs([(0.9, 0.0), (0.1, 0.1), (0.0, -0.5)], others=((-3.0, 0.5), (0.2, 0.2)))
    far_moved = spread_obs([(1.5, 0.0), (0.1, 0.1), (0.0, -0.5)])
    assert torch.equal(view([moved] * 3, None)[0], s)  # other agents: invisible
    assert torch.equal(view([far_moved] * 3, None)[0], s)  # the farthest landmark: invisible


def test_spread_hetero_sizes_and_contents():
    view = get_view("mpe/simple_spread_v3", "hetero", students=True)
    assert view.obs_dims == (14, 8, 6)
    o = spread_obs([(0.9, 0.0), (0.1, 0.1), (0.0, -0.5)])
    a0, a1, a2 = view([o, o, o], None)
    assert torch.equal(a0, o[:, :14])
    assert torch.allclose(a2, torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.1, 0.1]]))
    assert a1.shape == (1, 8)


def test_spread_views_on_real_observations_match_the_declared_sizes():
    env = get_task("mpe/simple_spread_v3").make(2)
    try:
        step = env.reset(0)
        for name in ("full", "near2", "hetero", "privileged"):
            view = get_task("mpe/simple_spread_v3").views()[name]
            out = view(step.obs, step.state)
            assert tuple(o.shape[1] for o in out) == view.obs_dims, name
    finally:
        env.close()


# ---- lookup and policies --------------------------------------------------------------------------


def test_unknown_view_names_the_views_and_suggests():
    with pytest.raises(UsageError, match=r"did you mean: near2\?\);.*views of mpe/simple_spread_v3: full, near2, hetero"):
        get_view("mpe/simple_spread_v3", "near3", students=True)
    with pytest.raises(UsageError, match="unknown student view 'privileged'"):
        get_view("smax/3m", "privileged", students=True)
    assert get_view("smax/3m", "privileged").teacher_only


def test_check_view_refuses_another_view():
    assert check_view("near2", None, "ck") == "near2"
    assert check_view("near2", "near2", "ck") == "near2"
    with pytest.raises(UsageError, match="trained on view 'near2' and cannot be run through view 'full'"):
        check_view("near2", "full", "ck")


def test_policies_record_and_use_their_view():
    view = get_view("mpe/simple_spread_v3", "hetero", students=True)
    student = StudentPolicy(view.obs_dims, (5, 5, 5), [(8,), (8,), (8,)], view="hetero")
    assert student.architecture()["view"] == "hetero"
    assert "view" not in StudentPolicy((18,) * 3, (5,) * 3, [(8,)] * 3).architecture()  # old cards unchanged
    assert policy_view("mpe/simple_spread_v3", student).obs_dims == (14, 8, 6)
    teacher = TeacherPolicy((72,) * 3, (5,) * 3, 54, (16,), (16,), view="privileged")
    obs = [torch.randn(2, 18) for _ in range(3)]
    state = torch.cat(obs, -1)
    t_in = policy_view("mpe/simple_spread_v3", teacher)(obs, state)
    assert [o.shape[1] for o in t_in] == [72, 72, 72] and torch.equal(t_in[1][:, 18:], state)
