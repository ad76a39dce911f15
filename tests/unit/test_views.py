"""Observation views hold exactly the information they claim (kdmarl_bench/envs/views.py)."""

from __future__ import annotations

import pytest
import torch

from kdmarl_bench.envs import get_task
from kdmarl_bench.envs.base import random_actions
from kdmarl_bench.envs.registry import get_view, policy_view
from kdmarl_bench.envs.smax import OWN_FEATURES, UNIT_FEATURES
from kdmarl_bench.envs.views import check_view
from kdmarl_bench.errors import UsageError
from kdmarl_bench.evaluate import evaluate
from kdmarl_bench.methods.rollout import TeacherCollector, TeacherStream
from kdmarl_bench.models.policy import StudentPolicy, TeacherPolicy
from kdmarl_bench.teachers.zoo import load_teacher

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


# ---- SMAX action masks: a masked view leaks nothing it hides ---------------------------------------

MASKED = ("sight5m", "sight4m", "sight3m", "heterom")


def enemy_seen(s_obs: torch.Tensor, n_enemies: int) -> torch.Tensor:
    """``(B, n_enemies)``: the enemy's block in a student's view is not blank (enemies are the last blocks)."""
    n_blocks = (s_obs.shape[1] - OWN_FEATURES) // UNIT_FEATURES
    blocks = s_obs[:, : n_blocks * UNIT_FEATURES].reshape(s_obs.shape[0], n_blocks, UNIT_FEATURES)
    return blocks[:, -n_enemies:].abs().sum(-1) > 0


def real_2s3z_steps(n: int = 40, b: int = 8):
    """Steps of 2s3z under random play (stalkers shoot to 6, zealots to 2; SMAX shows units within 10 / 9)."""
    env = get_task("smax/2s3z").make(b)
    gen = torch.Generator().manual_seed(0)
    try:
        step = env.reset(5)
        steps = [step]
        for _ in range(n):
            step = env.step(random_actions(step.avail, gen))
            steps.append(step)
    finally:
        env.close()
    return steps


def enemy_distance(full_obs: torch.Tensor) -> torch.Tensor:
    """``(B, 5)`` distances of 2s3z's enemies from the observer, from its full observation (blocks 4..8);
    a stalker (type 2) sees 10, a zealot (type 3) 9."""
    blocks = full_obs[:, : 9 * UNIT_FEATURES].reshape(-1, 9, UNIT_FEATURES)[:, 4:]
    sight = full_obs[:, 9 * UNIT_FEATURES + 4 :] @ torch.tensor([9.0, 10.0, 10.0, 9.0, 8.0, 9.0])
    return torch.linalg.vector_norm(blocks[..., 1:3], dim=-1) * sight[:, None]


def test_masked_smax_views_never_offer_an_attack_on_an_enemy_they_hide():
    steps = real_2s3z_steps()
    n_enemies = 5
    sight = {"sight5m": 5.0, "sight4m": 4.0, "sight3m": 3.0, "heterom": 5.0}
    for name in MASKED:
        view = get_view("smax/2s3z", name, students=True)
        assert view.restrict is not None and view.to_dict((127,) * 5)["restricts_mask"]
        for step in steps:
            env_avail = [m.clone() for m in step.avail]
            s_avail = view.avail(step.avail, step.obs, step.state)
            for i, (o, m, e) in enumerate(zip(view(step.obs, step.state), s_avail, env_avail, strict=True)):
                if not (name == "heterom" and i == 0):  # beyond the view's range: never attackable
                    assert not (m[:, 5:] & (enemy_distance(step.obs[i]) >= sight[name])).any(), (name, i)
                seen = enemy_seen(o, n_enemies)
                assert not (m[:, 5:] & ~seen).any(), (name, i)  # no attack on a hidden enemy
                assert torch.equal(m[:, 5:], e[:, 5:] & seen), (name, i)  # seen enemies: the env's mask
                assert torch.equal(m[:, :5], e[:, :5]), (name, i)  # moves and stop untouched
            assert all(torch.equal(a, b) for a, b in zip(step.avail, env_avail, strict=True))  # env mask not mutated


def test_masked_views_remove_attacks_the_env_allows_and_v1_sight5_keeps_them():
    """The restriction bites on real play (stalkers shoot to 6 > 5 > 4 > 3), and ``sight5`` (v1, committed
    cells) keeps the env's mask: there the mask still offers attacks on enemies the view hides."""
    steps = real_2s3z_steps()
    removed = {name: 0 for name in ("sight5m", "sight3m")}
    leaked = 0
    v1 = get_view("smax/2s3z", "sight5", students=True)
    assert v1.restrict is None
    for step in steps:
        for name in removed:
            view = get_view("smax/2s3z", name, students=True)
            s_avail = view.avail(step.avail, step.obs, step.state)
            removed[name] += sum(int((e & ~m).sum()) for e, m in zip(step.avail, s_avail, strict=True))
        assert v1.avail(step.avail, step.obs, step.state) is step.avail
        leaked += sum(int((m[:, 5:] & ~enemy_seen(o, 5)).sum()) for o, m in zip(v1(step.obs, step.state), step.avail,
                                                                                 strict=True))
    assert 0 < removed["sight5m"] < removed["sight3m"]
    assert leaked > 0


def test_heterom_keeps_ally0s_mask_and_restricts_the_others():
    steps = real_2s3z_steps(10)
    view = get_view("smax/2s3z", "heterom", students=True)
    assert view.obs_dims == (127,) + (75,) * 4
    for step in steps:
        s_avail = view.avail(step.avail, step.obs, step.state)
        assert torch.equal(s_avail[0], step.avail[0])
        for o, m in zip(view(step.obs, step.state)[1:], s_avail[1:], strict=True):
            assert not (m[:, 5:] & ~enemy_seen(o, 5)).any()


def test_views_without_a_restriction_return_the_env_mask_itself():
    avail = [torch.tensor([[True, False, True]])]
    obs, state = [torch.zeros(1, 18)], torch.zeros(1, 54)
    for task, name in (("mpe/simple_spread_v3", "full"), ("mpe/simple_spread_v3", "near2"),
                       ("mpe/simple_spread_v3", "privileged"), ("smax/3m", "hetero"), ("smax/3m", "sight5")):
        assert get_view(task, name).avail(avail, obs, state) is avail


def test_teacher_rollouts_store_the_students_mask_while_the_teacher_acts_on_its_own():
    """TeacherStream rows carry the student's mask; TeacherCollector rows too, plus the action the
    teacher executed, which the teacher chose on the env's mask (so it may target a hidden enemy)."""
    spec = get_task("smax/2s3z").spec
    teacher, _ = load_teacher("zoo", spec)
    view = get_view("smax/2s3z", "sight3m", students=True)
    gen = torch.Generator().manual_seed(0)
    with get_task("smax/2s3z").make(8) as env:
        stream = TeacherStream(env, teacher, 8 * 30, 0, gen, 10_000, sample=False, student_view=view)
        stream.collect_until(8 * 30)
        obs, avail, _ = stream.buffer.get(torch.arange(stream.buffer.size))
        for o, m in zip(obs, avail, strict=True):
            assert not (m[:, 5:] & ~enemy_seen(o, 5)).any()
    with get_task("smax/2s3z").make(8) as env:
        ro = TeacherCollector(env, teacher, 0, gen, student_view=view, sample=False).collect(30)
    hidden_targets = 0
    for i in range(spec.n_agents):
        o, m, a = ro.flat(ro.obs[i]), ro.flat(ro.avail[i]), ro.flat(ro.actions[..., i])
        assert m.gather(-1, a[:, None]).all()  # the executed action is in its row's mask
        executed = torch.nn.functional.one_hot(a, m.shape[-1]).bool()
        assert not ((m & ~executed)[:, 5:] & ~enemy_seen(o, 5)).any()  # nothing else hidden is offered
        attack = a >= 5
        hidden_targets += int((attack & ~enemy_seen(o, 5).gather(-1, (a - 5).clamp_min(0)[:, None]).squeeze(-1)).sum())
    assert hidden_targets > 0  # the teacher shot enemies beyond 3 (stalkers reach 6): it kept its own mask


class MaskSpy(StudentPolicy):
    """A student that records the masks it is given."""

    def act(self, obs, avail, greedy=True, generator=None):
        self.seen.append([(o.clone(), m.clone()) for o, m in zip(obs, avail, strict=True)])
        return super().act(obs, avail, greedy, generator)


def test_evaluate_gives_a_student_its_views_mask():
    view = get_view("smax/2s3z", "sight3m", students=True)
    spy = MaskSpy(view.obs_dims, (10,) * 5, [(8,)] * 5, view="sight3m")
    spy.seen = []
    evaluate(spy, "smax/2s3z", episodes=2, seed=0, num_envs=2)
    assert spy.seen
    assert all(not (m[:, 5:] & ~enemy_seen(o, 5)).any() for rows in spy.seen for o, m in rows)


def test_new_views_are_listed_for_every_smax_and_the_named_mpe_tasks():
    from kdmarl_bench.envs.registry import task_views

    for task in ("smax/3m", "smax/2s3z", "smax/8m", "smax/3s5z"):
        names = set(task_views(task))
        assert {"sight5", "hetero", *MASKED} <= names
    assert {"near1", "near2", "hetero"} <= set(task_views("mpe/simple_spread_v3"))
    assert "fog" in task_views("mpe/simple_reference_v3")


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
    with pytest.raises(UsageError, match=r"did you mean: near2, near1\?\);.*views of mpe/simple_spread_v3: full, near2, near1, hetero"):
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
