"""Distillation methods on a tiny fake VecEnv: registry, configs, budget, seeding, masking, NaN."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import textwrap

import pytest
import torch

from kdmarl_bench.envs.base import EnvSpec, Step, VecEnv
from kdmarl_bench.errors import UsageError
from kdmarl_bench.methods import METHODS, DistillContext, DistillMethod, MethodConfig
from kdmarl_bench.methods.base import NonFiniteLoss
from kdmarl_bench.methods.dagger import DaggerConfig, dagger_beta
from kdmarl_bench.methods.kd_marl import KdMarl, KdMarlConfig, ProjectionHeads
from kdmarl_bench.methods.losses import role_contrast_across_time
from kdmarl_bench.methods.rollout import (
    LabelledBuffer,
    OnPolicyCollector,
    greedy_actions,
    plan_num_envs,
    plan_rollouts,
)
from kdmarl_bench.models.policy import StudentPolicy, TeacherPolicy

DISTILL_IDS = ("kd-marl", "kd-marl-offline", "bc", "pd-kl", "dagger", "logit-mse", "scratch")

FAKE_SPEC = EnvSpec(id="fake/hetero", family="fake", n_agents=2, obs_dims=(3, 5), state_dim=8, n_actions=(3, 4),
                    episode_limit=5, metric="return", backend="fake")


class FakeEnv(VecEnv):
    """Heterogeneous 2-agent env: random obs; agent 1's action 0 is unavailable on odd steps;
    reward 1 when agent 0 plays action 1; episodes last 5 steps. Fails on unavailable actions."""

    def __init__(self, num_envs: int, log: list | None = None):
        super().__init__(FAKE_SPEC, num_envs)
        self.steps_taken = 0
        self.closed = False
        if log is not None:
            log.append(self)

    def _observe(self, reward, done) -> Step:
        b = self.num_envs
        obs = [torch.randn(b, d, generator=self.g) for d in FAKE_SPEC.obs_dims]
        avail = [torch.ones(b, a, dtype=torch.bool) for a in FAKE_SPEC.n_actions]
        avail[1][:, 0] = self.t % 2 == 0
        return Step(obs, torch.cat(obs, 1), avail, reward, done, torch.zeros(b, dtype=torch.bool))

    def _reset(self, seed: int) -> Step:
        self.g = torch.Generator().manual_seed(seed)
        self.t = torch.zeros(self.num_envs, dtype=torch.int64)
        self._last = self._observe(torch.zeros(self.num_envs), torch.zeros(self.num_envs, dtype=torch.bool))
        return self._last

    def _step(self, actions: list[torch.Tensor]) -> Step:
        assert not self.closed
        for a, m in zip(actions, self._last.avail, strict=True):
            assert a.shape == (self.num_envs,) and a.dtype == torch.int64
            assert m.gather(1, a[:, None]).all(), "an unavailable action was executed"
        self.steps_taken += self.num_envs
        reward = (actions[0] == 1).float()
        self.t += 1
        done = self.t >= 5
        self.t[done] = 0
        self._last = self._observe(reward, done)
        return self._last

    def close(self) -> None:
        self.closed = True


def make_policies(seed: int = 0):
    torch.manual_seed(seed)
    teacher = TeacherPolicy(FAKE_SPEC.obs_dims, FAKE_SPEC.n_actions, FAKE_SPEC.state_dim, (32,), (32,)).eval()
    with torch.no_grad():  # a decisive teacher (random heads have gain 0.01: near-uniform)
        for actor in teacher.actors:
            actor.head.weight.mul_(200.0)
    student = StudentPolicy(FAKE_SPEC.obs_dims, FAKE_SPEC.n_actions, [(16,), (8,)])
    return teacher, student


def make_ctx(budget: int, num_envs: int = 4, seed: int = 0, teacher=None, student=None, progress=None):
    envs: list[FakeEnv] = []
    t, s = make_policies()
    ctx = DistillContext(spec=FAKE_SPEC, make_env=lambda n: FakeEnv(n, envs), teacher=teacher or t,
                         student=student or s, env_steps=budget, num_envs=num_envs, seed=seed, progress=progress)
    return ctx, envs


def params_of(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# ---- registry and configs ------------------------------------------------------------------


def test_all_methods_registered():
    for mid in DISTILL_IDS:
        cls = METHODS.get(mid)
        assert issubclass(cls, DistillMethod) and cls.id == mid
        assert issubclass(cls.config_cls, MethodConfig)
        assert cls.trains_student
        assert cls.uses_teacher == (mid != "scratch")
        cls()  # default config constructs


def _field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of the fields declared in the class body."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:] + [None], strict=True):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            doc = ""
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                doc = nxt.value.value
            docs[node.target.id] = doc
    return docs


@pytest.mark.parametrize("mid", DISTILL_IDS)
def test_every_config_field_documented_with_its_default(mid):
    cfg_cls = METHODS.get(mid).config_cls
    defaults = cfg_cls()
    documented = set()
    for klass in cfg_cls.__mro__:
        if klass in (MethodConfig, object) or not dataclasses.is_dataclass(klass):
            continue
        for name, doc in _field_docs(klass).items():
            if name in documented:
                continue  # a subclass re-declared it
            documented.add(name)
            assert doc.strip() and "\n" not in doc.strip(), f"{klass.__name__}.{name}: one-line docstring"
            value = getattr(defaults, name)
            assert f"default {value!r}" in doc or f"default {value}" in doc, f"{klass.__name__}.{name}: {doc!r}"
    own = {f.name for f in dataclasses.fields(cfg_cls)} - {f.name for f in dataclasses.fields(MethodConfig)}
    assert own <= documented


def test_validate_overrides():
    def err(field, msg):
        return UsageError(f"{field}: {msg}")

    KdMarl.validate_overrides({"lambda_rel": 0, "teacher_advantage": False, "proj_dim": 8}, err)
    with pytest.raises(UsageError, match="lamda_kl"):
        KdMarl.validate_overrides({"lamda_kl": 1.0}, err)
    with pytest.raises(UsageError, match="role_term: must be one of v1, across-time; got 'shared'"):
        KdMarl.validate_overrides({"role_term": "shared"}, err)
    with pytest.raises(UsageError, match="beta_schedule: must be one of linear, geometric"):
        METHODS.get("dagger").validate_overrides({"beta_schedule": "cosine"}, err)
    with pytest.raises(UsageError, match="warm_start_frac: must be >= 0 and <= 1"):
        KdMarl.validate_overrides({"warm_start_frac": 1.5}, err)
    with pytest.raises(UsageError, match="imitation_lr: must be >= 0"):
        KdMarl.validate_overrides({"imitation_lr": -1e-3}, err)
    KdMarl.validate_overrides({"role_term": "across-time", "imitation_lr": 0.0, "imitation_replay": True}, err)
    m = KdMarl.from_overrides({"lambda_rel": 0.0, "use_role": False})
    assert m.config.lambda_rel == 0.0 and not m.config.use_role and m.config.lambda_kl == KdMarlConfig().lambda_kl


# ---- building blocks -------------------------------------------------------------------------


def test_plan_num_envs():
    assert plan_num_envs(1000, 16) == 16
    assert plan_num_envs(5, 16) == 5
    with pytest.raises(ValueError):
        plan_num_envs(0, 4)


def test_buffer_fifo_keeps_newest_rows():
    buf = LabelledBuffer((1,), (2,), capacity=5, mode="fifo")

    def rows(lo, hi):
        x = torch.arange(lo, hi, dtype=torch.float32)[:, None]
        return [x], [torch.ones(hi - lo, 2, dtype=torch.bool)], [x.expand(-1, 2)]

    buf.add(*rows(0, 3))
    assert len(buf) == 3
    buf.add(*rows(3, 7))
    assert len(buf) == 5 and buf.seen == 7
    assert sorted(buf.obs[0].squeeze(-1).tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]
    buf.add(*rows(7, 20))  # more than the capacity at once
    assert sorted(buf.obs[0].squeeze(-1).tolist()) == [15.0, 16.0, 17.0, 18.0, 19.0]
    obs, avail, logits = buf.get(torch.tensor([0, 1]))
    assert torch.equal(logits[0][:, 0], obs[0][:, 0])


def test_buffer_reservoir_samples_the_whole_stream():
    buf = LabelledBuffer((1,), (2,), capacity=50, mode="reservoir", generator=torch.Generator().manual_seed(0))
    for lo in range(0, 2000, 16):
        x = torch.arange(lo, lo + 16, dtype=torch.float32)[:, None]
        buf.add([x], [torch.ones(16, 2, dtype=torch.bool)], [torch.zeros(16, 2)])
    kept = buf.obs[0].squeeze(-1)
    assert len(buf) == 50 and len(set(kept.tolist())) == 50
    assert (kept < 500).any() and (kept >= 1500).any()  # early and late rows both represented
    assert 600 < kept.mean().item() < 1400  # ≈ uniform over 0..2047 (mean ≈ 1000)


def test_collector_beta_mixture_and_masking():
    teacher, student = make_policies()
    env = FakeEnv(4)
    gen = torch.Generator().manual_seed(0)
    col = OnPolicyCollector(env, student, teacher, seed=0, generator=gen)
    ro = col.collect(6, beta=1.0, with_hidden=True, with_values=True)
    assert ro.env_steps == 24 == env.steps_taken
    assert ro.teacher_acted.all()
    t_act = greedy_actions([z.reshape(-1, z.shape[-1]) for z in ro.teacher_logits],
                           [m.reshape(-1, m.shape[-1]) for m in ro.avail])
    assert torch.equal(ro.flat(ro.actions), torch.stack(t_act, -1))
    assert ro.teacher_hidden[1].shape == (6, 4, 32) and ro.teacher_values.shape == (6, 4)
    assert ro.next_teacher_value.shape == (4,)
    ro = col.collect(6, beta=0.0)
    assert not ro.teacher_acted.any() and ro.teacher_hidden is None and ro.teacher_values is None
    assert torch.isfinite(ro.logp).all()  # executed actions are available (the env also checks)


def test_dagger_beta_schedules():
    lin = DaggerConfig()
    assert dagger_beta(lin, 0, 0, 1000) == 1.0
    assert dagger_beta(lin, 3, 250, 1000) == pytest.approx(0.75)
    assert dagger_beta(lin, 9, 1000, 1000) == 0.0
    geo = DaggerConfig(beta_schedule="geometric", beta_decay=0.5)
    assert [dagger_beta(geo, k, 0, 1000) for k in range(3)] == [1.0, 0.5, 0.25]


def test_projection_heads_map_heterogeneous_widths_to_common_dim():
    heads = ProjectionHeads([16, 8], 32, 12)
    out = heads.project_student([torch.randn(5, 16), torch.randn(5, 8)])
    assert out.shape == (5, 2, 12)
    assert heads.project_teacher(torch.randn(5, 2, 32)).shape == (5, 2, 12)


# ---- every method on the fake env ---------------------------------------------------------------


@pytest.mark.parametrize("mid", DISTILL_IDS)
def test_method_trains_within_budget(mid):
    calls = []
    ctx, envs = make_ctx(budget=150, num_envs=4, progress=lambda s, m: calls.append((s, dict(m))))
    before_student = params_of(ctx.student)
    before_teacher = params_of(ctx.teacher)
    keys = set(before_student)
    stats = METHODS.get(mid)().train(ctx)

    assert 0 < stats.env_steps <= 150
    assert stats.env_steps == sum(e.steps_taken for e in envs)
    assert envs and all(e.closed for e in envs)
    assert stats.updates > 0 and stats.wall_s > 0
    assert stats.final_losses and all(torch.isfinite(torch.tensor(v)) for v in stats.final_losses.values())
    after = params_of(ctx.student)
    assert set(after) == keys  # no training-only heads were attached to the student
    assert any(not torch.equal(before_student[k], after[k]) for k in keys)
    for k, v in params_of(ctx.teacher).items():
        assert torch.equal(before_teacher[k], v), f"teacher changed: {k}"
    assert calls and all(s <= 150 for s, _ in calls)
    assert [s for s, _ in calls] == sorted(s for s, _ in calls)


@pytest.mark.parametrize("mid", DISTILL_IDS)
def test_method_budget_below_num_envs(mid):
    ctx, envs = make_ctx(budget=3, num_envs=8)
    stats = METHODS.get(mid)().train(ctx)
    assert stats.env_steps == 3
    assert envs[0].num_envs == 3


@pytest.mark.parametrize("mid", ("kd-marl", "kd-marl-offline", "bc", "dagger", "scratch"))
def test_method_is_deterministic_given_seed(mid):
    results = []
    for _ in range(2):
        ctx, _ = make_ctx(budget=96, num_envs=4, seed=7)
        METHODS.get(mid)().train(ctx)
        results.append(params_of(ctx.student))
    for k in results[0]:
        assert torch.equal(results[0][k], results[1][k]), k


def _nan_teacher():
    teacher, _ = make_policies()
    with torch.no_grad():
        teacher.actors[1].head.bias.fill_(float("nan"))
    return teacher


@pytest.mark.parametrize("mid,overrides", [("kd-marl", {}), ("kd-marl-offline", {"teacher_sampling": False}),
                                           ("dagger", {"beta_start": 0.0}),
                                           ("pd-kl", {"teacher_sampling": False})])
def test_nan_teacher_raises_non_finite_loss(mid, overrides):
    ctx, envs = make_ctx(budget=64, teacher=_nan_teacher())
    with pytest.raises(NonFiniteLoss):
        METHODS.get(mid).from_overrides(overrides).train(ctx)
    assert all(e.closed for e in envs)


def test_bad_settings_are_usage_errors():
    ctx, _ = make_ctx(budget=32)
    off = {"teacher_advantage": False, "use_kl": False, "use_ce": False, "lambda_rel": 0.0, "use_role": False}
    with pytest.raises(UsageError, match="switched off"):
        KdMarl.from_overrides(off).train(ctx)
    with pytest.raises(UsageError, match="beta_schedule"):
        METHODS.get("dagger").from_overrides({"beta_schedule": "cosine"}).train(ctx)


def test_kd_marl_loss_terms_follow_switches():
    ctx, _ = make_ctx(budget=64)
    stats = KdMarl().train(ctx)
    assert set(stats.final_losses) == {"pg", "kl", "ce", "rel", "role", "entropy", "total"}
    ctx, _ = make_ctx(budget=64)
    cfg = dataclasses.replace(KdMarlConfig(), teacher_advantage=False, lambda_rel=0.0, use_role=False)
    stats = KdMarl(cfg).train(ctx)
    assert set(stats.final_losses) == {"kl", "ce", "entropy", "total"}


# ---- the role term: not solvable from agent identity ------------------------------------------------


def _fit_identity_only_student(role_term: str, steps: int = 300) -> tuple[float, float]:
    """Train a student whose features carry only its agent index (a learnt constant per agent) and the heads
    on L_role against state-dependent teacher features; returns (final loss, chance level of the term)."""
    torch.manual_seed(0)
    b, n, w, h_t = 64, 3, 8, 16
    agent_offset = torch.randn(n, h_t)
    teacher_hidden = torch.randn(b, n, h_t) + 2.0 * agent_offset  # agents differ, and every row differs
    identity = torch.nn.Parameter(torch.randn(n, w))
    heads = ProjectionHeads([w] * n, h_t, 16, role_term=role_term)
    optim = torch.optim.Adam([identity, *heads.parameters()], lr=1e-2)
    for _ in range(steps):
        hidden = [identity[i].expand(b, w) for i in range(n)]
        loss = heads.structure_losses(hidden, teacher_hidden, use_rel=False, use_role=True,
                                      rel_per_timestep=True, kappa=0.1)["role"]
        optim.zero_grad()
        loss.backward()
        optim.step()
    chance = math.log(n) if role_term == "v1" else math.log(b)
    return loss.item(), chance


def test_v1_role_term_is_solved_from_agent_identity_alone():
    loss, chance = _fit_identity_only_student("v1")
    assert loss < 0.1 * chance, (loss, chance)  # ln 3 ≈ 1.10 → near 0: it transfers nothing


def test_across_time_role_term_stays_at_chance_from_agent_identity_alone():
    loss, chance = _fit_identity_only_student("across-time")
    assert loss > chance - 0.01, (loss, chance)  # ln 64 ≈ 4.16: identity cannot pick the row


def test_across_time_role_term_is_solved_by_state_dependent_embeddings():
    torch.manual_seed(0)
    t = torch.randn(32, 3, 16)
    loss = role_contrast_across_time(t.clone(), t, kappa=0.1)
    assert loss < 0.1 and role_contrast_across_time(t[:, :, :], t.roll(1, 0), kappa=0.1) > math.log(32)
    assert role_contrast_across_time(t[:1], t[:1]).item() == 0.0
    with pytest.raises(ValueError, match="shape"):
        role_contrast_across_time(t, t[:, :2])


def test_across_time_heads_have_no_per_agent_bias_and_unknown_role_term_is_refused():
    assert all(h.bias is None for h in ProjectionHeads([4, 6], 8, 5, role_term="across-time").student)
    assert all(h.bias is not None for h in ProjectionHeads([4, 6], 8, 5).student)
    ctx, _ = make_ctx(budget=32)
    for mid in ("kd-marl", "kd-marl-offline"):
        with pytest.raises(UsageError, match="role_term must be one of v1, across-time"):
            METHODS.get(mid).from_overrides({"role_term": "shared"}).train(ctx)


def test_kd_marl_warm_start_trains_without_pg_first():
    calls = []
    ctx, _ = make_ctx(budget=4 * 4 * 32, num_envs=4, progress=lambda s, m: calls.append((s, set(m))))
    stats = KdMarl(dataclasses.replace(KdMarlConfig(), warm_start_frac=0.5)).train(ctx)
    assert stats.env_steps == 512
    assert [s for s, _ in calls] == [128, 256, 384, 512]
    assert ["pg" in m for _, m in calls] == [False, False, True, True]
    assert all({"kl", "ce", "rel", "role"} <= m for _, m in calls)


def test_kd_marl_replay_keeps_every_row_and_trains_imitation_apart():
    calls = []
    ctx, _ = make_ctx(budget=3 * 4 * 32, num_envs=4, progress=lambda s, m: calls.append(dict(m)))
    cfg = dataclasses.replace(KdMarlConfig(), imitation_replay=True, imitation_epochs=2, imitation_minibatch=64)
    stats = KdMarl(cfg).train(ctx)
    # fresh steps: 3 rollouts × 4 epochs × 4 minibatches; imitation: ⌈2·128 / min(64, kept)⌉ = 4 per rollout
    assert stats.updates == 3 * 16 + 3 * 4
    assert {"pg", "kl", "ce", "rel", "role", "entropy", "total"} <= set(calls[-1])


def test_plan_rollouts_rounds_the_budget_down_to_whole_rollouts():
    assert plan_rollouts(40_000, 16, 32) == (32, 78)  # 39,936 env-steps; the 64-step tail is not collected
    assert plan_rollouts(40_448, 16, 32) == (32, 79)
    assert plan_rollouts(300, 4, 32) == (32, 2)
    assert plan_rollouts(100, 4, 32) == (25, 1)  # below one rollout: the one rollout that fits
    with pytest.raises(ValueError, match="smaller than one step"):
        plan_rollouts(3, 4, 32)
