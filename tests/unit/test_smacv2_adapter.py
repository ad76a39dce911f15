"""SC2VecEnv against a fake game that follows the SMAC/SMACv2 API, plus the static specs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from kdmarl_bench.envs import smacv2 as sc2
from kdmarl_bench.envs.base import EnvSpec, random_actions
from kdmarl_bench.envs.registry import get_task
from kdmarl_bench.errors import BackendUnavailable

N_AGENTS, N_ENEMIES, OBS, STATE = 3, 2, 5, 7
N_ACTIONS = 6 + N_ENEMIES
NOOP, STOP, ATTACK_0, ATTACK_1 = 0, 1, 6, 7


class FakeSC2Env:
    """A tiny deterministic stand-in for a SMAC game.

    Episodes last ``k`` steps; even episodes (0, 2, ...) are won. Agent 2 dies after the
    first step of each episode (then only no-op is available); enemy 1 is never in range.
    Reward is 1 per step plus 10 on a win. ``reset()`` returns None on odd resets and a
    stale value otherwise, as smacv2's wrapper can. ``crash_episodes`` end on their first
    step with ``(0, True, {})`` like smacv2 after a game crash; ``drop_battle_won`` leaves
    ``battle_won`` out of every info.
    """

    def __init__(self, seed=None, k=3, crash_episodes=(), drop_battle_won=False, info=None):
        self.seed = seed
        self.k = k
        self.crash_episodes = set(crash_episodes)
        self.drop_battle_won = drop_battle_won
        self.info = info or {}
        self.episode = -1
        self.t = 0
        self.closed = False
        self.n_resets = 0

    def get_env_info(self):
        info = dict(
            state_shape=STATE, obs_shape=OBS, n_actions=N_ACTIONS, n_agents=N_AGENTS, episode_limit=10
        )
        info.update(self.info)
        return info

    def reset(self):
        self.episode += 1
        self.t = 0
        self.n_resets += 1
        if self.n_resets % 2 == 0:
            return None  # pitfall: nothing returned
        return [np.full(OBS, -1.0)] * N_AGENTS, np.full(STATE, -1.0)  # pitfall: stale values

    def _alive(self, k):
        return not (k == 2 and self.t >= 1)

    def get_obs(self):
        return [
            np.array([self.episode, self.t, k, self._alive(k), self.seed or 0], np.float32) for k in range(3)
        ]

    def get_state(self):
        return np.array([self.episode, self.t, 0, 0, 0, 0, 1], np.float64)  # float64 like SMAC

    def get_avail_actions(self):
        out = []
        for k in range(N_AGENTS):
            if self._alive(k):
                out.append([0, 1, 1, 1, 1, 1, 1, 0])  # stop, moves, attack enemy 0
            else:
                out.append([1, 0, 0, 0, 0, 0, 0, 0])  # dead: no-op only
        return out

    def step(self, actions):
        avail = self.get_avail_actions()
        for k, a in enumerate(actions):
            assert avail[k][a] == 1, f"agent {k} cannot perform action {a}"
        if self.episode in self.crash_episodes:
            return 0, True, {}
        self.t += 1
        if self.t < self.k:
            return 1.0, False, {"battle_won": False}
        won = self.episode % 2 == 0
        info = {} if self.drop_battle_won else {"battle_won": won}
        return 1.0 + (10.0 if won else 0.0), True, info

    def close(self):
        self.closed = True


SPEC = EnvSpec(
    id="smacv2/fake",
    family="smacv2",
    n_agents=N_AGENTS,
    obs_dims=(OBS,) * N_AGENTS,
    state_dim=STATE,
    n_actions=(N_ACTIONS,) * N_AGENTS,
    episode_limit=10,
    metric="win_rate",
    backend="smacv2",
)


def make_env(num_envs=4, **fake_kwargs):
    games: list[FakeSC2Env] = []

    def factory(seed=None):
        games.append(FakeSC2Env(seed=seed, **fake_kwargs))
        return games[-1]

    return sc2.SC2VecEnv(SPEC, num_envs, factory), games


def legal_actions(b=4, attack=True):
    """Alive agents 0 and 1 attack enemy 0 (or stop); agent 2 is dead after step 1."""
    a = ATTACK_0 if attack else STOP
    return [torch.full((b,), a), torch.full((b,), a), torch.full((b,), NOOP)]


def first_step_actions(b=4):
    return [torch.full((b,), STOP) for _ in range(N_AGENTS)]


# -- SC2VecEnv -----------------------------------------------------------------------------


def test_reset_shapes_and_dtypes():
    env, games = make_env(4)
    step = env.reset(seed=0)
    assert len(games) == 4
    assert len(step.obs) == N_AGENTS and len(step.avail) == N_AGENTS
    for o, m in zip(step.obs, step.avail, strict=True):
        assert o.shape == (4, OBS) and o.dtype == torch.float32
        assert m.shape == (4, N_ACTIONS) and m.dtype == torch.bool
    assert step.state.shape == (4, STATE) and step.state.dtype == torch.float32
    assert step.reward.shape == (4,) and step.reward.dtype == torch.float32
    assert step.done.dtype == torch.bool and step.won.dtype == torch.bool
    assert not step.done.any() and not step.won.any() and (step.reward == 0).all()
    assert (step.ep_return == 0).all() and (step.ep_length == 0).all()


def test_reset_reads_obs_explicitly_not_from_reset_return():
    env, _ = make_env(2)
    step = env.reset()  # the fake returns stale -1s from its first reset()
    for k, o in enumerate(step.obs):
        assert o[:, 0].tolist() == [0, 0]  # episode 0
        assert o[:, 1].tolist() == [0, 0]  # t = 0
        assert o[:, 2].tolist() == [k, k]
    assert (step.state[:, 6] == 1).all()


def test_step_shapes_and_values():
    env, _ = make_env(4)
    env.reset()
    step = env.step(first_step_actions())
    assert step.obs[0].shape == (4, OBS) and step.obs[0].dtype == torch.float32
    assert step.state.shape == (4, STATE) and step.state.dtype == torch.float32
    assert torch.equal(step.reward, torch.ones(4))
    assert not step.done.any() and not step.won.any()
    assert (step.obs[0][:, 1] == 1).all()  # t advanced


def test_auto_reset_keeps_terminal_reward_done_won():
    env, _ = make_env(4, k=3)
    env.reset()
    env.step(first_step_actions())
    env.step(legal_actions())
    last = env.step(legal_actions())
    # Terminal transition of episode 0 (won): its reward, done and won are kept ...
    assert last.done.all() and last.won.all()
    assert torch.equal(last.reward, torch.full((4,), 11.0))
    assert torch.equal(last.ep_return, torch.full((4,), 13.0))
    assert torch.equal(last.ep_length, torch.full((4,), 3))
    # ... while obs/state/avail already belong to episode 1, at t = 0 with everyone alive.
    assert (last.obs[0][:, 0] == 1).all() and (last.obs[0][:, 1] == 0).all()
    assert (last.state[:, 0] == 1).all()
    assert last.avail[2][:, STOP].all() and not last.avail[2][:, NOOP].any()
    # Episode 1 is lost: done without won, return counted from zero again.
    env.step(first_step_actions())
    env.step(legal_actions())
    last = env.step(legal_actions())
    assert last.done.all() and not last.won.any()
    assert torch.equal(last.ep_return, torch.full((4,), 3.0))


def test_done_only_for_copies_that_ended():
    games_k = iter([2, 3])

    def factory(seed=None):
        return FakeSC2Env(seed=seed, k=next(games_k))

    env = sc2.SC2VecEnv(SPEC, 2, factory)
    env.reset()
    env.step(first_step_actions(2))
    step = env.step(legal_actions(2))
    assert step.done.tolist() == [True, False]
    assert step.won.tolist() == [True, False]
    assert step.ep_length.tolist() == [2, 0]
    assert step.obs[0][:, 1].tolist() == [0, 2]  # copy 0 restarted, copy 1 runs on


def test_missing_battle_won_means_not_won():
    env, _ = make_env(2, k=2, drop_battle_won=True)
    env.reset()
    env.step(first_step_actions(2))
    step = env.step(legal_actions(2))
    assert step.done.all() and not step.won.any()


def test_game_crash_ends_episode_not_won():
    env, _ = make_env(2, crash_episodes={0})
    env.reset()
    step = env.step(first_step_actions(2))  # smacv2 returns (0, True, {}) after a crash
    assert step.done.all() and not step.won.any()
    assert (step.reward == 0).all()
    assert torch.equal(step.ep_length, torch.ones(2, dtype=torch.int64))
    assert (step.obs[0][:, 0] == 1).all()  # a new episode started


def test_avail_masks_come_from_the_game():
    env, games = make_env(3)
    env.reset()
    step = env.step(first_step_actions(3))
    want = torch.tensor(games[0].get_avail_actions(), dtype=torch.bool)
    for k in range(N_AGENTS):
        assert torch.equal(step.avail[k], want[k].expand(3, -1))
    assert torch.equal(step.avail[2][0], torch.tensor([1, 0, 0, 0, 0, 0, 0, 0], dtype=torch.bool))
    # A random policy over the masks never trips the game's own assertion.
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        actions = random_actions(step.avail, g)
        for a, m in zip(actions, step.avail, strict=True):
            assert m[torch.arange(3), a].all()
        step = env.step(actions)


def test_unavailable_action_is_a_clear_error():
    env, _ = make_env(2)
    env.reset()
    env.step(first_step_actions(2))
    bad = legal_actions(2)
    bad[2] = torch.tensor([NOOP, ATTACK_0])  # agent 2 of copy 1 is dead
    with pytest.raises(ValueError, match="agent 2 of copy 1 chose action 6, which is not available"):
        env.step(bad)
    out_of_range = legal_actions(2)
    out_of_range[0] = torch.tensor([ATTACK_0, 99])
    with pytest.raises(ValueError, match="not available"):
        env.step(out_of_range)


def test_wrong_number_of_action_tensors():
    env, _ = make_env(2)
    env.reset()
    with pytest.raises(ValueError, match="expected 3 action tensors"):
        env.step(first_step_actions(2)[:2])


def test_step_before_reset_raises():
    env, _ = make_env(2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(first_step_actions(2))


def test_close_closes_every_game():
    env, games = make_env(3)
    env.reset()
    env.close()
    assert len(games) == 3 and all(g.closed for g in games)
    env.close()  # idempotent


def test_close_keeps_going_when_one_game_fails():
    env, games = make_env(3)
    env.reset()

    def boom():
        raise OSError("sc2 process already gone")

    games[0].close = boom
    with pytest.raises(OSError, match="already gone"):
        env.close()
    assert games[1].closed and games[2].closed


def test_context_manager_closes():
    env, games = make_env(2)
    with env:
        env.reset()
    assert all(g.closed for g in games)


def test_seeds_go_to_the_constructor_and_differ_per_copy():
    env, games = make_env(3)
    env.reset(seed=5)
    seeds = [g.seed for g in games]
    assert len(set(seeds)) == 3 and all(0 <= s < 2**31 for s in seeds)
    env2, games2 = make_env(3)
    env2.reset(seed=5)
    assert [g.seed for g in games2] == seeds
    env2.reset(seed=6)  # later resets reuse the running games
    assert len(games2) == 3


def test_factory_without_seed_parameter():
    made = []

    def factory():
        made.append(FakeSC2Env())
        return made[-1]

    env = sc2.SC2VecEnv(SPEC, 2, factory)
    step = env.reset(seed=1)
    assert len(made) == 2 and step.obs[0].shape == (2, OBS)


def test_env_info_mismatch_is_reported_and_games_closed():
    env, games = make_env(2, info={"obs_shape": OBS + 1})
    with pytest.raises(BackendUnavailable, match="obs_shape=6 \\(expected 5\\)"):
        env.reset()
    assert games and all(g.closed for g in games)


def test_smacv2_samplers_are_reseeded():
    class Dist:
        def __init__(self):
            self.rng = np.random.default_rng()

        def generate(self):
            return self.rng.random()

    class Outer(Dist):
        def __init__(self):
            super().__init__()
            self.inner = Dist()

    class Wrapped(FakeSC2Env):
        def __init__(self, seed=None):
            super().__init__(seed)
            self.env_key_to_distribution_map = {"team_gen": Dist(), "start_positions": Outer()}

    def draws(seed):
        w = Wrapped()
        sc2._reseed_samplers(w, seed)
        d = w.env_key_to_distribution_map
        return (
            d["team_gen"].generate(),
            d["start_positions"].generate(),
            d["start_positions"].inner.generate(),
        )

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)
    sc2._reseed_samplers(FakeSC2Env(), 3)  # no samplers: nothing to do


# -- static specs and registration ---------------------------------------------------------

# (obs, state, actions, episode limit, n_agents) from REFERENCE.md
REFERENCE = {
    "3m": (30, 48, 9, 60, 3),
    "8m": (80, 168, 14, 120, 8),
    "2s3z": (80, 120, 11, 120, 5),
    "3s5z": (128, 216, 14, 150, 8),
    "MMM2": (176, 322, 18, 180, 10),
    "5m_vs_6m": (55, 98, 12, 70, 5),
    "protoss_5_vs_5": (92, 130, 11, 200, 5),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_registered_specs_match_reference(name):
    obs, state, n_actions, limit, n = REFERENCE[name]
    spec = get_task(f"smacv2/{name}").spec
    assert spec.n_agents == n
    assert spec.obs_dims == (obs,) * n
    assert spec.state_dim == state
    assert spec.n_actions == (n_actions,) * n
    assert spec.episode_limit == limit
    assert spec.family == "smacv2" and spec.metric == "win_rate"
    assert spec.backend == ("smacv2" if name.startswith("protoss") else "smac")


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_feature_formula_reproduces_reference(name):
    # The formula sizes the tasks REFERENCE.md does not list, so it must agree where it does.
    if name in sc2.SMAC_MAPS:
        n, m, ar, er, bits, _ = sc2.SMAC_MAPS[name]
        dims = sc2.smac_dims(n, m, ar, er, bits, own_pos=False)
    else:
        dims = sc2.smac_dims(5, 5, "P", "P", sc2.SMACV2_TYPE_BITS, own_pos=True)
    assert dims == REFERENCE[name][:3]


def test_derived_specs():
    derived = {
        "corridor": (156, 282, 30, 400),
        "6h_vs_8z": (78, 140, 14, 150),
        "27m_vs_30m": (285, 1170, 36, 180),
        "protoss_10_vs_10": (182, 310, 16, 200),
        "protoss_20_vs_20": (362, 820, 26, 200),
        "terran_5_vs_5": (82, 120, 11, 200),
        "zerg_20_vs_20": (322, 780, 26, 200),
    }
    for name, (obs, state, n_actions, limit) in derived.items():
        spec = get_task(f"smacv2/{name}").spec
        assert (spec.obs_dims[0], spec.state_dim, spec.n_actions[0], spec.episode_limit) == (
            obs,
            state,
            n_actions,
            limit,
        ), name


def test_all_tasks_registered():
    ids = {f"smacv2/{r}_{n}_vs_{n}" for r in ("protoss", "terran", "zerg") for n in (5, 10, 20)}
    ids |= {
        f"smacv2/{m}"
        for m in ("3m", "8m", "2s3z", "3s5z", "MMM2", "5m_vs_6m", "corridor", "6h_vs_8z", "27m_vs_30m")
    }
    for task_id in ids:
        task = get_task(task_id)
        assert task.spec.id == task_id and task.spec.homogeneous and task.spec.has_win


def test_capability_config():
    a = sc2.capability_config("terran", 10)
    b = sc2.capability_config("terran", 10)
    assert a == b and a is not b and a["team_gen"] is not b["team_gen"]
    assert a["n_units"] == a["n_enemies"] == 10
    assert a["team_gen"]["unit_types"] == ["marine", "marauder", "medivac"]
    assert a["team_gen"]["weights"] == [0.45, 0.45, 0.1]
    assert a["team_gen"]["exception_unit_types"] == ["medivac"]
    assert a["start_positions"]["dist_type"] == "surrounded_and_reflect"
    p = sc2.capability_config("protoss", 5)
    assert "exception_unit_types" not in p["team_gen"] and p["team_gen"]["dist_type"] == "weighted_teams"
    assert sc2.capability_config("zerg", 5)["team_gen"]["weights"] == [0.45, 0.1, 0.45]


# -- availability -----------------------------------------------------------------------


@pytest.mark.parametrize("task_id", ["smacv2/3m", "smacv2/protoss_5_vs_5"])
def test_unavailable_without_the_game(task_id, monkeypatch, tmp_path):
    monkeypatch.setenv("SC2PATH", str(tmp_path / "nowhere"))
    task = get_task(task_id)
    assert task.available is False
    with pytest.raises(BackendUnavailable) as err:
        task.make(2)
    msg = str(err.value)
    assert err.value.exit_code == 3
    assert "SC2PATH" in msg and "pip install" in msg and "4.10" in msg and "Maps/SMAC_Maps" in msg
    pkg = task.spec.backend
    assert f"github.com/oxwhirl/{pkg}.git" in msg


def test_unavailable_on_this_machine():
    # No StarCraft II or smac/smacv2 here (the default SC2PATH); skip where it is installed.
    task = get_task("smacv2/protoss_5_vs_5")
    if task.available:
        pytest.skip("StarCraft II and smacv2 are installed here")
    with pytest.raises(BackendUnavailable, match="pip install"):
        task.make()


def test_available_once_package_game_and_map_exist(monkeypatch, tmp_path):
    monkeypatch.setattr(sc2, "_import_problem", lambda package: None)
    monkeypatch.setenv("SC2PATH", str(tmp_path))
    task = get_task("smacv2/3m")
    assert "no Versions/ folder" in task.availability()
    (tmp_path / "Versions" / "Base75689").mkdir(parents=True)
    assert "map 3m.SC2Map not found" in task.availability()
    (tmp_path / "Maps" / "SMAC_Maps").mkdir(parents=True)
    (tmp_path / "Maps" / "SMAC_Maps" / "3m.SC2Map").write_bytes(b"")
    assert task.availability() is None and task.available
    assert task.versions()["sc2_game"] == "4.10"


def test_versions_without_the_game(monkeypatch, tmp_path):
    monkeypatch.setenv("SC2PATH", str(tmp_path))
    v = get_task("smacv2/zerg_10_vs_10").versions()
    assert set(v) == {"smacv2", "pysc2", "protobuf", "sc2_game"}
    assert v["sc2_game"] == "missing"


def test_module_import_does_not_import_the_game_packages():
    code = (
        "import sys, kdmarl_bench.envs.smacv2\n"
        "bad = [m for m in ('smac', 'smacv2', 'pysc2') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
