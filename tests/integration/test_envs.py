"""Real backends with tiny budgets: dims, auto-reset semantics, determinism."""

import numpy as np
import pytest
import torch

from kdmarl_bench.envs import get_task, make_env, random_actions
from kdmarl_bench.envs.mpe import MPE_TASKS, _make_raw
from kdmarl_bench.envs.smax import SMAX_MAPS, import_jax


@pytest.mark.parametrize("map_name", ["3m", "2s3z", "8m", "5m_vs_6m", "3s5z", "3s_vs_5z", "6h_vs_8z", "smacv2_5_units"])
def test_smax_spec_matches_backend(map_name):
    import_jax()
    from jaxmarl.environments.smax import HeuristicEnemySMAX, map_name_to_scenario

    env = HeuristicEnemySMAX(scenario=map_name_to_scenario(map_name))
    spec = get_task(f"smax/{map_name}").spec
    assert spec.n_agents == env.num_allies == SMAX_MAPS[map_name][0]
    assert spec.obs_dims[0] == env.observation_spaces[env.agents[0]].shape[0]
    assert spec.n_actions[0] == env.action_spaces[env.agents[0]].n
    assert spec.state_dim == env.state_size


def test_reference_dims():
    s = get_task("smax/3m").spec
    assert (s.n_agents, s.obs_dims, s.state_dim, s.n_actions) == (3, (75,) * 3, 72, (8,) * 3)
    s = get_task("smax/2s3z").spec
    assert (s.n_agents, s.obs_dims[0], s.state_dim, s.n_actions[0]) == (5, 127, 120, 10)
    s = get_task("mpe/simple_speaker_listener_v4").spec
    assert (s.obs_dims, s.n_actions, s.homogeneous) == ((3, 11), (3, 5), False)


@pytest.mark.parametrize("name", sorted(MPE_TASKS))
def test_mpe_spec_matches_backend(name):
    raw = _make_raw(name)
    raw.reset(seed=0)
    spec = get_task(f"mpe/{name}").spec
    assert tuple(raw.agents) == spec.agent_names
    assert tuple(raw.observation_space(a).shape[0] for a in raw.agents) == spec.obs_dims
    assert tuple(int(raw.action_space(a).n) for a in raw.agents) == spec.n_actions
    assert raw.state().shape[0] == spec.state_dim


def test_mpe_state_is_concatenated_obs_and_matches_raw_env():
    env = make_env("mpe/simple_speaker_listener_v4", 2)
    step = env.reset(3)
    raw = env._envs[0]
    np.testing.assert_allclose(step.state[0].numpy(), raw.state(), rtol=1e-6)
    assert [o.shape for o in step.obs] == [(2, 3), (2, 11)]
    assert [a.shape for a in step.avail] == [(2, 3), (2, 5)]


def test_mpe_auto_reset_keeps_terminal_values():
    env = make_env("mpe/simple_spread_v3", 3)
    step = env.reset(0)
    gen = torch.Generator().manual_seed(0)
    total = torch.zeros(3)
    for t in range(25):
        step = env.step(random_actions(step.avail, gen))
        total += step.reward
        if t < 24:
            assert not step.done.any()
    assert step.done.all()
    torch.testing.assert_close(step.ep_return, total)
    assert (step.ep_length == 25).all()
    assert not step.won.any()


def test_smax_auto_reset_and_win_flag():
    env = make_env("smax/3m", 8)
    step = env.reset(0)
    gen = torch.Generator().manual_seed(0)
    lengths, rets = [], []
    running = torch.zeros(8)
    for _ in range(120):
        step = env.step(random_actions(step.avail, gen))
        running += step.reward
        if step.done.any():
            torch.testing.assert_close(step.ep_return[step.done], running[step.done])
            running[step.done] = 0
            lengths += step.ep_length[step.done].tolist()
            rets += step.ep_return[step.done].tolist()
            # after a done the obs belong to a fresh episode: every ally alive again
            assert all(m[step.done].any(-1).all() for m in step.avail)
    assert lengths and max(lengths) <= 101
    assert all(0.0 <= r <= 2.0 + 1e-5 for r in rets)
    # world state normalised: positions / 32 etc.
    assert float(step.state.abs().max()) <= 1.0 + 1e-5


def test_smax_reset_is_deterministic():
    a = make_env("smax/3m", 4).reset(7)
    b = make_env("smax/3m", 4).reset(7)
    for x, y in zip(a.obs, b.obs, strict=True):
        torch.testing.assert_close(x, y)
