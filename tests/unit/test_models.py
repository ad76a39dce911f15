import pytest
import torch

from kdmarl_bench.checkpoint import check_dims, load_checkpoint, save_checkpoint
from kdmarl_bench.envs import get_task
from kdmarl_bench.errors import UsageError
from kdmarl_bench.models.capacity import auto_width, student_widths
from kdmarl_bench.models.policy import StudentPolicy, TeacherPolicy, agent_groups


def test_capacity_rule_anchors():
    # REFERENCE.md: 18 → 32, 75 → 64, 205 → 128; multiples of 8, clamped to [32, 128]
    assert auto_width(18) == 32 and auto_width(75) == 64 and auto_width(205) == 128
    assert auto_width(3) == 32 and auto_width(1000) == 128
    assert all(auto_width(d) % 8 == 0 for d in range(1, 400))
    assert auto_width(75, scale=0.5) == 32
    assert student_widths((3, 11)) == [(32, 32), (32, 32)]
    assert student_widths((75, 205)) == [(64, 64), (128, 128)]
    assert student_widths((3, 11), hidden=(16,)) == [(16,), (16,)]


def test_agent_groups_heterogeneous():
    assert agent_groups((3, 11), (3, 5)) == [[0], [1]]
    assert agent_groups((75, 75, 75), (8, 8, 8)) == [[0, 1, 2]]


def test_teacher_shared_actor_matches_deployed_view():
    spec = get_task("smax/3m").spec
    torch.manual_seed(0)
    t = TeacherPolicy(spec.obs_dims, spec.n_actions, spec.state_dim, (32,), (32,))
    obs = [torch.randn(5, d) for d in spec.obs_dims]
    logits, hidden = t.features(obs)
    for i, actor in enumerate(t.deploy_actors()):
        torch.testing.assert_close(actor(obs[i]), logits[i])
    assert hidden[0].shape == (5, 32)
    # agent ids make the shared actor agent-specific
    assert not torch.allclose(logits[0], t.deploy_actors()[1](obs[0]))


def test_greedy_act_respects_masks():
    s = StudentPolicy((4, 4), (3, 3), [(8,), (8,)])
    obs = [torch.randn(64, 4) for _ in range(2)]
    avail = [torch.tensor([[False, True, False]]).expand(64, 3), torch.tensor([[True, False, True]]).expand(64, 3)]
    a = s.act(obs, avail)
    assert (a[0] == 1).all() and (a[1] != 1).all()


def test_checkpoint_roundtrip_and_errors(tmp_path):
    spec = get_task("mpe/simple_speaker_listener_v4").spec
    s = StudentPolicy(spec.obs_dims, spec.n_actions, [(16,), (8, 8)])
    p = save_checkpoint(s, tmp_path / "s", {"kind": "student", "task": spec.id})
    s2, card = load_checkpoint(p)
    for a, b in zip(s.state_dict().values(), s2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert card["architecture"]["widths"] == [[16], [8, 8]]
    with pytest.raises(UsageError, match="does not fit task 'mpe/simple_spread_v3'"):
        check_dims(card, get_task("mpe/simple_spread_v3").spec, p)
    p.write_bytes(b"\x00" * 10)
    with pytest.raises(UsageError, match="corrupt checkpoint weights"):
        load_checkpoint(p)
