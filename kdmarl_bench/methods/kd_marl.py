"""``kd-marl``: the method under test (Pavel et al., arXiv 2604.06691, IJCNN 2026), as reconstructed
in REFERENCE.md ("The method under test: KD-MARL").

Students act on-policy (sampling their masked softmax). The frozen teacher labels the same
observations (logits, last hidden features) and its centralized critic V_T(s) evaluates the global
state. Students have no critic of their own:

- advantage: GAE(γ, λ) from env rewards and V_T (teacher-guided), normalised per batch;
- L_pg:   PPO clipped surrogate on the student's own ratio (switch ``teacher_advantage``);
- L_kl:   τ²·KL(softmax(z_T/τ) ‖ softmax(z_S/τ)) over available actions;
- L_ce:   cross-entropy against the teacher's greedy action;
- L_rel:  per timestep, agent×agent distance matrices of the teacher's hidden features vs the
          student's projected embeddings, each normalised by its mean, Huber loss (Park et al.,
          CVPR 2019, distance form). With 2 agents a per-timestep normalised matrix holds one
          distance divided by itself, so L_rel is 0; ``rel_per_timestep=False`` normalises by the
          minibatch mean instead (Park et al.'s choice);
- L_role: per timestep, InfoNCE across agents: each student agent's projected embedding must pick
          out its own teacher counterpart (cosine / κ);
- total:  pg_coef·L_pg + λ_kl·L_kl + λ_ce·L_ce + λ_rel·L_rel + λ_role·L_role − ent_coef·entropy.

The projection heads live here, not in the student, so they are dropped at deployment and never
counted in FLOPs: one ``Linear(H_S_i, proj_dim)`` per student agent (heterogeneous widths map to a
common width; used by both L_rel and L_role) and one ``Linear(H_T, proj_dim)`` shared by all teacher
agents for L_role. The teacher head is trained jointly with the student (a frozen random map would
fix an arbitrary target geometry); it only shapes the role term, never the teacher. L_rel uses the
teacher's hidden features directly: normalised distances do not depend on their width.

Budget: whole rollouts only (``rollout.plan_rollouts``, the rule of every on-policy method): the
budget is rounded down to whole ``num_envs · rollout_len`` rollouts, so no short last rollout gets the
full epochs × minibatches of updates; the record's ``train.env_steps`` says what was used.

Learning curves: after every rollout's update the method reports the env-steps used
(``ctx.reached_rollout``); each ``[budget] eval_at`` point is scored on the student of the whole
rollouts ≤ the point.

Readings of the paper (which one each switch implements; the defaults are **v1**, the reading the
committed boards ran, so their ``kd-marl`` cells keep their meaning; every other one is opt-in):

- v1 (defaults): one composite step per minibatch of the fresh on-policy batch, every term at ``lr``;
  each batch is used ``epochs`` times and discarded. L_role is the per-timestep InfoNCE across agents
  with per-agent heads that have biases (``role_term = "v1"``): agent identity alone solves it (its
  loss ends at ~0.001–0.04 against chance ln N).
- "equal supervision" (``imitation_replay``, ``replay_size``, ``imitation_lr``, ``imitation_epochs``,
  ``imitation_minibatch``): the paper distils from the teacher on the states the student visits; read as
  DAgger-style aggregation (Ross et al. 2011, as ``dagger`` keeps), L_kl/L_ce train on a FIFO aggregate
  of every teacher-labelled on-policy row, in steps of their own (``imitation_lr``, 0 = ``lr``) after
  each rollout's update: ⌈imitation_epochs · M / min(imitation_minibatch, rows kept)⌉ steps of uniformly drawn
  rows, M the rollout's rows, so the imitation row-gradients per env-step can be set to bc's (10 per row at
  ``epochs`` = 10, or 18.75 over a 4-point curve: set 10 or 19; on the limited board's 40k env-steps,
  19 gives 78 × 512 × 19 = 758,784 row-gradients against bc's 749,920, v1 makes 4 × 39,936 = 159,744
  KL/CE row-gradients). L_pg, L_rel, L_role and the entropy
  stay on the fresh batch, at ``lr``; both kinds of step share one Adam (its second-moment estimate keeps a
  step of only small losses small).
- "role, not identity" (``role_term = "across-time"``): per-agent student maps without bias into
  ``proj_dim`` and an InfoNCE per agent across the minibatch's rows (each agent's embedding at a state
  must pick its teacher counterpart at the same state among that teacher agent's embeddings at other
  states; ``losses.role_contrast_across_time``). An embedding that carries only the agent's index stays
  at chance ln B. Shared with ``kd-marl-offline`` (``StructureTermsConfig``).
- "two stage" (``warm_start_frac``): the first ⌊warm_start_frac · R⌋ of the R whole rollouts train
  without L_pg (imitation and structure terms), the rest add the teacher-guided advantage
  (imitation first, then advantage-guided refinement), inside one run of this method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from kdmarl_bench.errors import UsageError
from kdmarl_bench.methods.base import (
    FIELD_CHOICES,
    DistillContext,
    DistillMethod,
    MethodConfig,
    TrainStats,
    check_finite,
    register_method,
)
from kdmarl_bench.methods.losses import (
    ce_to_teacher,
    kl_distill,
    masked_entropy,
    normalize_advantages,
    ppo_clip_loss,
    relation_loss,
    role_alignment_loss,
    role_contrast_across_time,
)
from kdmarl_bench.methods.rollout import (
    LabelledBuffer,
    OnPolicyCollector,
    log_prob_of,
    plan_num_envs,
    plan_rollouts,
)
from kdmarl_bench.models.policy import TeamPolicy
from kdmarl_bench.results.model.records import WHOLE_ROLLOUTS
from kdmarl_bench.teachers.mappo import gae

ROLE_TERMS = FIELD_CHOICES["role_term"]
"""``role_term`` choices (``StructureTermsConfig``)."""


@dataclass
class StructureTermsConfig(MethodConfig):
    """The structural terms both readings of KD-MARL add to imitation (``ProjectionHeads.structure_losses``)."""

    use_rel: bool = True
    """Structural-relation term on (default True)."""
    lambda_rel: float = 0.1
    """Weight λ_rel of L_rel (default 0.1)."""
    rel_per_timestep: bool = True
    """Normalise L_rel distances per timestep; False = by the minibatch mean (nonzero with 2 agents) (default True)."""
    use_role: bool = True
    """Role-alignment term on (default True)."""
    lambda_role: float = 0.05
    """Weight λ_role of L_role (default 0.05)."""
    kappa: float = 0.1
    """Temperature κ of the role-alignment InfoNCE (default 0.1)."""
    proj_dim: int = 32
    """Common width of the training-only projection heads (default 32)."""
    role_term: str = "v1"
    """L_role: 'v1' across agents (identity solves it) or 'across-time' across rows, bias-free heads (default 'v1')."""


@dataclass
class KdMarlConfig(StructureTermsConfig):
    """KD-MARL: teacher-guided advantage + KL, CE, structural-relation and role-alignment supervision.

    Defaults checked by suites/sweep.toml (baselines/sweep.json, 40k steps, 2 seeds): no variant
    (τ=2, λ_kl=0.5, no CE, λ_rel=0.5, λ_role=0.2, lr 3e-3) beat them on mean retention over
    simple_spread and smax/3m; lr 3e-3 helped on spread (95.6% vs 92.3%) but hurt on 3m (87.9% vs 95.0%).
    The v2 switches (``imitation_replay``, ``imitation_lr``, ``imitation_epochs``, ``role_term``,
    ``warm_start_frac``) are off by default: the defaults are the v1 reading the committed boards ran.
    """

    rollout_len: int = 32
    """Steps per env copy per rollout; batch = num_envs·rollout_len (default 32)."""
    epochs: int = 4
    """Passes over each rollout batch (default 4)."""
    minibatches: int = 4
    """Minibatches per epoch (default 4)."""
    gamma: float = 0.99
    """Discount of the teacher-guided GAE (default 0.99)."""
    gae_lambda: float = 0.95
    """λ of the teacher-guided GAE (default 0.95)."""
    normalize_adv: bool = True
    """Normalise advantages to zero mean, unit std per batch (default True)."""
    teacher_advantage: bool = True
    """PPO term with the teacher-guided advantage on; False = the 'without advantage' ablation (default True)."""
    pg_coef: float = 1.0
    """Weight of the PPO term L_pg (default 1.0)."""
    clip: float = 0.2
    """PPO ratio clip ε (default 0.2)."""
    use_kl: bool = True
    """KL term on (default True)."""
    lambda_kl: float = 1.0
    """Weight λ_kl of L_kl (default 1.0)."""
    tau: float = 1.0
    """Softmax temperature τ of L_kl (default 1.0)."""
    use_ce: bool = True
    """Cross-entropy term on (default True)."""
    lambda_ce: float = 0.1
    """Weight λ_ce of L_ce; small, since KL already carries the greedy action (default 0.1)."""
    ent_coef: float = 0.01
    """Entropy bonus weight β (default 0.01)."""
    imitation_replay: bool = False
    """L_kl/L_ce on a bounded aggregate of all teacher-labelled rows, in steps of their own; False = v1 (default False)."""
    replay_size: int = 200_000
    """Rows kept in the imitation aggregate, oldest dropped first, as dagger's max_dataset (default 200000)."""
    imitation_lr: float = 0.0
    """Adam learning rate of the replay imitation steps; 0 = lr; bc's is 0.003 (default 0.0)."""
    imitation_epochs: int = 4
    """Replay imitation row-gradients per fresh row; bc: 10 per stage, 18.75 over 4 curve stages (default 4)."""
    imitation_minibatch: int = 256
    """Rows per replay imitation step, as bc's minibatch_size (default 256)."""
    warm_start_frac: float = 0.0
    """Fraction of the whole rollouts trained first without L_pg (two-stage reading); 0 = off (default 0.0)."""


def teacher_guided_advantage(rewards: torch.Tensor, teacher_values: torch.Tensor, next_teacher_value: torch.Tensor,
                             dones: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """GAE over a ``(T, B)`` student rollout with the frozen teacher's V_T(s) as the baseline.

    ``teacher_values[t]`` = V_T(s_t) in return units, ``next_teacher_value`` = V_T(s_T); a done at t
    stops bootstrapping and the trace (the same ``gae`` MAPPO uses). Un-normalised.
    """
    adv, _ = gae(rewards, teacher_values, next_teacher_value, dones, gamma, lam)
    return adv


def hidden_widths(policy: TeamPolicy, obs_dims) -> list[int]:
    """Width of each agent's last hidden features (one dummy forward)."""
    p = next(policy.parameters())
    with torch.no_grad():
        _, hidden = policy.features([torch.zeros(1, d, device=p.device) for d in obs_dims])
    return [h.shape[-1] for h in hidden]


class ProjectionHeads(nn.Module):
    """Training-only heads for L_rel/L_role (not part of the deployed student).

    ``role_term`` 'v1': per-agent student heads with biases and L_role across the agents of a timestep;
    'across-time': per-agent student maps without bias (a per-agent offset cannot carry identity) and
    L_role across the minibatch's rows (``role_contrast_across_time``). L_rel uses the same student maps."""

    def __init__(self, student_widths: list[int], teacher_width: int, proj_dim: int, role_term: str = "v1"):
        super().__init__()
        if role_term not in ROLE_TERMS:
            raise ValueError(f"role_term must be one of {', '.join(ROLE_TERMS)}; got {role_term!r}")
        self.role_term = role_term
        bias = role_term == "v1"
        self.student = nn.ModuleList(nn.Linear(w, proj_dim, bias=bias) for w in student_widths)
        self.teacher = nn.Linear(teacher_width, proj_dim)

    @classmethod
    def for_team(cls, student: TeamPolicy, teacher: TeamPolicy, proj_dim: int, who: str,
                 check: bool = True, role_term: str = "v1") -> ProjectionHeads:
        """Heads for a student/teacher pair (each on its own view's obs sizes). ``check``: refuse a
        teacher whose agents' hidden widths differ (L_rel/L_role compare them in one space)."""
        t_widths = hidden_widths(teacher, teacher.obs_dims)
        if check and len(set(t_widths)) != 1:
            raise ValueError(f"{who}: teacher agents' hidden widths differ ({t_widths}); L_rel/L_role need one width")
        return cls(hidden_widths(student, student.obs_dims), t_widths[0], proj_dim, role_term)

    @property
    def teacher_width(self) -> int:
        return self.teacher.in_features

    def structure_losses(self, hidden: list[torch.Tensor], teacher_hidden: torch.Tensor, use_rel: bool,
                         use_role: bool, rel_per_timestep: bool, kappa: float) -> dict[str, torch.Tensor]:
        """``{"rel": L_rel, "role": L_role}`` (the switched-on ones) of student features ``hidden``
        against the teacher's ``(B, N, H_T)`` features of the same states."""
        s_proj = self.project_student(hidden)  # (mb, N, D)
        out: dict[str, torch.Tensor] = {}
        if use_rel:
            out["rel"] = relation_loss(s_proj, teacher_hidden, rel_per_timestep)
        if use_role:
            role = role_alignment_loss if self.role_term == "v1" else role_contrast_across_time
            out["role"] = role(s_proj, self.project_teacher(teacher_hidden), kappa)
        return out

    def project_student(self, hidden: list[torch.Tensor]) -> torch.Tensor:
        """Per-agent student features → ``(B, N, proj_dim)``."""
        return torch.stack([head(h) for head, h in zip(self.student, hidden, strict=True)], 1)

    def project_teacher(self, hidden: torch.Tensor) -> torch.Tensor:
        """Teacher features ``(B, N, H_T)`` → ``(B, N, proj_dim)``."""
        return self.teacher(hidden)


def check_role_term(cfg: StructureTermsConfig, who: str) -> None:
    """A clear usage error for an unknown ``role_term`` (a free string in the suite file)."""
    if cfg.role_term not in ROLE_TERMS:
        raise UsageError(f"{who}: role_term must be one of {', '.join(ROLE_TERMS)}; got {cfg.role_term!r}")


@register_method("kd-marl")
class KdMarl(DistillMethod):
    """On-policy students, teacher-guided GAE + composite distillation loss."""

    config_cls = KdMarlConfig
    kind = "structure"
    revision = 2

    def train(self, ctx: DistillContext) -> TrainStats:
        cfg = self.config
        check_role_term(cfg, "kd-marl")
        use_pg = cfg.teacher_advantage and cfg.pg_coef != 0
        use_kl = cfg.use_kl and cfg.lambda_kl != 0
        use_ce = cfg.use_ce and cfg.lambda_ce != 0
        use_rel = cfg.use_rel and cfg.lambda_rel != 0
        use_role = cfg.use_role and cfg.lambda_role != 0
        if not (use_pg or use_kl or use_ce or use_rel or use_role):
            raise UsageError("kd-marl: every loss term is switched off (teacher_advantage, use_kl, use_ce, "
                             "use_rel, use_role or their weights); nothing would be trained")
        replay = cfg.imitation_replay and (use_kl or use_ce)
        t_start = self.clock()
        torch.manual_seed(ctx.seed)
        gen = torch.Generator().manual_seed(ctx.seed)
        device = torch.device(ctx.device)
        student = ctx.student.to(device)
        teacher = ctx.teacher.eval()
        spec = ctx.spec
        n_agents = spec.n_agents
        num_envs = plan_num_envs(ctx.env_steps, ctx.num_envs)
        rollout_len, n_rollouts = plan_rollouts(ctx.env_steps, num_envs, cfg.rollout_len)
        n_warm = int(cfg.warm_start_frac * n_rollouts)  # rollouts trained without L_pg (two-stage reading)

        # ---- training-only projection heads --------------------------------------------------
        heads = ProjectionHeads.for_team(student, teacher, cfg.proj_dim, "kd-marl", check=use_rel or use_role,
                                         role_term=cfg.role_term).to(device)
        params = list(student.parameters()) + list(heads.parameters())
        optim = torch.optim.Adam(params, lr=cfg.lr, eps=1e-5)

        # ---- imitation aggregate (imitation_replay): its own rows, steps and learning rate ------------
        # One Adam for both kinds of step: a shared second-moment estimate keeps a step of small losses
        # (entropy, structure) small, where an Adam of its own would scale it up to a full lr-sized step.
        data = None
        if replay:
            data = LabelledBuffer(student.obs_dims, spec.n_actions, max(1, min(cfg.replay_size, ctx.env_steps)),
                                  "fifo", device, gen)

        env = ctx.make_env(num_envs)
        env_steps, updates = 0, 0
        final: dict[str, float] = {}
        try:
            collector = OnPolicyCollector(env, student, teacher, ctx.seed, gen, device)
            ctx.reached_rollout(0, rollout_len * num_envs)  # curve points before the first whole rollout
            for r_idx in range(n_rollouts):
                pg_now = use_pg and r_idx >= n_warm
                # the fresh batch's step: every term (v1), or all but the imitation terms (replay)
                kl_now, ce_now = use_kl and not replay, use_ce and not replay
                fresh_step = pg_now or kl_now or ce_now or use_rel or use_role

                # ---- rollout: student acts, teacher labels ---------------------------------------
                ro = collector.collect(rollout_len, with_hidden=use_rel or use_role, with_values=use_pg)
                env_steps += ro.env_steps

                # ---- teacher-guided advantage ----------------------------------------------------
                b_adv = None
                if pg_now:
                    adv = teacher_guided_advantage(ro.rewards, ro.teacher_values, ro.next_teacher_value, ro.dones,
                                                   cfg.gamma, cfg.gae_lambda)
                    b_adv = adv.flatten()
                    if cfg.normalize_adv:
                        b_adv = normalize_advantages(b_adv)

                # ---- flatten the (T, B) batch -----------------------------------------------------
                b_obs = [ro.flat(o) for o in ro.obs]
                b_avail = [ro.flat(m) for m in ro.avail]
                b_act = ro.flat(ro.actions)  # (M, N)
                b_logp = ro.flat(ro.logp)  # (M, N)
                b_tlogits = [ro.flat(z) for z in ro.teacher_logits]
                b_thidden = torch.stack([ro.flat(h) for h in ro.teacher_hidden], 1) if ro.teacher_hidden else None
                batch = b_act.shape[0]
                if data is not None:
                    data.add(b_obs, b_avail, b_tlogits)

                # ---- update on the fresh batch ---------------------------------------------------------
                student.train()
                sums: dict[str, float] = {}
                n_mb = 0
                for _ in range(cfg.epochs if fresh_step else 0):
                    perm = torch.randperm(batch, generator=gen).to(device)
                    for mb_idx in perm.tensor_split(min(cfg.minibatches, batch)):
                        mb_obs = [o[mb_idx] for o in b_obs]
                        mb_avail = [m[mb_idx] for m in b_avail]
                        mb_tlogits = [z[mb_idx] for z in b_tlogits]
                        logits, hidden = student.features(mb_obs)
                        losses: dict[str, torch.Tensor] = {}
                        loss = torch.zeros((), device=device)
                        if pg_now:
                            mb_act = [b_act[mb_idx, i] for i in range(n_agents)]
                            new_logp = torch.stack(log_prob_of(logits, mb_avail, mb_act), -1)
                            pg_loss = ppo_clip_loss(new_logp, b_logp[mb_idx], b_adv[mb_idx], cfg.clip)
                            losses["pg"] = pg_loss
                            loss = loss + cfg.pg_coef * pg_loss
                        if kl_now:
                            kl_loss = kl_distill(logits, mb_tlogits, mb_avail, cfg.tau)
                            losses["kl"] = kl_loss
                            loss = loss + cfg.lambda_kl * kl_loss
                        if ce_now:
                            ce_loss = ce_to_teacher(logits, mb_tlogits, mb_avail)
                            losses["ce"] = ce_loss
                            loss = loss + cfg.lambda_ce * ce_loss
                        if use_rel or use_role:
                            structure = heads.structure_losses(hidden, b_thidden[mb_idx], use_rel, use_role,
                                                               cfg.rel_per_timestep, cfg.kappa)
                            losses.update(structure)
                            if use_rel:
                                loss = loss + cfg.lambda_rel * structure["rel"]
                            if use_role:
                                loss = loss + cfg.lambda_role * structure["role"]
                        entropy = masked_entropy(logits, mb_avail)
                        losses["entropy"] = entropy
                        loss = loss - cfg.ent_coef * entropy
                        losses["total"] = loss
                        check_finite({k: v.detach() for k, v in losses.items()})

                        optim.zero_grad(set_to_none=True)
                        loss.backward()
                        nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                        optim.step()
                        updates += 1
                        n_mb += 1
                        for k, v in losses.items():
                            sums[k] = sums.get(k, 0.0) + v.item()
                final = {k: v / n_mb for k, v in sums.items()}

                # ---- imitation steps on the aggregate (imitation_replay) -----------------------------------
                if data is not None:
                    # imitation_epochs row-gradients per fresh row (minibatches are smaller while the aggregate is)
                    im_steps = math.ceil(cfg.imitation_epochs * batch / min(cfg.imitation_minibatch, len(data)))
                    im_sums: dict[str, float] = {}
                    for group in optim.param_groups:
                        group["lr"] = cfg.imitation_lr or cfg.lr
                    for _ in range(im_steps):
                        mb_obs, mb_avail, mb_tlogits = data.get(data.sample(cfg.imitation_minibatch))
                        logits = student.logits(mb_obs)
                        im_losses: dict[str, torch.Tensor] = {}
                        im_loss = torch.zeros((), device=device)
                        if use_kl:
                            im_losses["kl"] = kl_distill(logits, mb_tlogits, mb_avail, cfg.tau)
                            im_loss = im_loss + cfg.lambda_kl * im_losses["kl"]
                        if use_ce:
                            im_losses["ce"] = ce_to_teacher(logits, mb_tlogits, mb_avail)
                            im_loss = im_loss + cfg.lambda_ce * im_losses["ce"]
                        check_finite({k: v.detach() for k, v in im_losses.items()})
                        optim.zero_grad(set_to_none=True)  # the heads get no gradient: Adam skips them
                        im_loss.backward()
                        nn.utils.clip_grad_norm_(student.parameters(), cfg.max_grad_norm)
                        optim.step()
                        updates += 1
                        for k, v in im_losses.items():
                            im_sums[k] = im_sums.get(k, 0.0) + v.item()
                    for group in optim.param_groups:
                        group["lr"] = cfg.lr
                    final.update({k: v / max(im_steps, 1) for k, v in im_sums.items()})
                if ctx.progress is not None:
                    ctx.progress(env_steps, dict(final))
                ctx.reached_rollout(env_steps, ro.env_steps)  # learning curve: points before the next rollout
        finally:
            env.close()
        student.eval()
        return TrainStats(env_steps=env_steps, wall_s=self.clock() - t_start, updates=updates, final_losses=final,
                          budget_rule=WHOLE_ROLLOUTS)
