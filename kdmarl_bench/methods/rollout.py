"""Shared rollout collection for the distillation methods.

Two ways of visiting states:

- ``collect_teacher_dataset``: the frozen teacher acts (offline methods: bc, pd-kl, logit-mse);
  every visited state is stored with the teacher's logits in a ``LabelledBuffer``.
- ``OnPolicyCollector``: the student acts (kd-marl; dagger with a β-mixture with the teacher);
  the teacher labels the same observations (logits, last hidden features) and, on request, its
  centralized critic evaluates the global state.
- ``TeacherCollector``: the frozen teacher acts in ``(T, B)`` chunks that keep the sequence
  (rewards, dones, V_T(s) and the bootstrap V_T(s_T)), so a method can compute the teacher's GAE
  per chunk before the rows enter a ``LabelledBuffer`` with per-row ``extras`` (kd-marl-offline).

Views (``kdmarl_bench/envs/views.py``): each policy acts through its own view of the same step.
The teacher labels from ``teacher.view`` (its full observation, or ``obs ⊕ state`` for a privileged
teacher); the student's observations (stored in datasets and rollouts, ``obs``) come through
``student.view``, which may hold less. Masks go the same way: the student's rows and actions use
``student_view.avail`` (a view that hides enemies also masks out attacks on them), the teacher acts
on its own view's mask (the env's).

Budget accounting: one ``VecEnv.step`` on B copies costs B env-steps. On-policy methods spend
their budget in whole rollouts only (``plan_rollouts``).
Env tensors live on the CPU; observations are moved to ``device`` for the networks, actions
come back to the CPU. Sampling uses an explicit CPU ``torch.Generator`` (seeded by the method).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from kdmarl_bench.envs.base import VecEnv
from kdmarl_bench.envs.registry import policy_view
from kdmarl_bench.envs.views import View, full_view
from kdmarl_bench.models.mlp import masked_logits
from kdmarl_bench.models.policy import TeacherPolicy, TeamPolicy

# ---- budget ----------------------------------------------------------------------


def plan_num_envs(budget: int, num_envs: int) -> int:
    """Env copies to use: ``num_envs``, or fewer when the whole budget is smaller than one step."""
    if budget < 1:
        raise ValueError(f"env-step budget must be >= 1, got {budget}")
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    return min(num_envs, budget)


def plan_rollouts(budget: int, num_envs: int, rollout_len: int) -> tuple[int, int]:
    """The on-policy budget rule, the same for every method that trains on its own rollouts (kd-marl,
    dagger, scratch and the MAPPO teacher trainer): ``(steps per copy per rollout, rollouts)``.

    The budget is rounded **down to whole rollouts** of ``num_envs · rollout_len`` env-steps: no
    partial rollout is ever collected or trained on, so every update sees a full batch (a short last
    rollout used to get the full epochs × minibatches of updates on tiny minibatches). The record's
    ``train.env_steps`` says the env-steps actually used (≤ the budget). Only a budget smaller than
    one rollout runs a single shorter rollout of every whole step that fits (``budget // num_envs``):
    it is then the only update, not a tail. ``num_envs`` is the planned one (``plan_num_envs``).
    """
    if rollout_len < 1:
        raise ValueError(f"rollout_len must be >= 1, got {rollout_len}")
    per_copy = budget // num_envs
    if per_copy < 1:
        raise ValueError(f"env-step budget {budget} is smaller than one step of {num_envs} env copies")
    if per_copy < rollout_len:
        return per_copy, 1
    return rollout_len, per_copy // rollout_len


# ---- action selection ---------------------------------------------------------------


def sample_actions(logits: list[torch.Tensor], avail: list[torch.Tensor],
                   generator: torch.Generator) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Sample each agent's action from its masked softmax; returns (actions on CPU, log-probs)."""
    actions, logps = [], []
    for z, m in zip(logits, avail, strict=True):
        logp_all = torch.log_softmax(masked_logits(z, m), -1)
        a = torch.multinomial(logp_all.exp().cpu(), 1, generator=generator).squeeze(-1)
        actions.append(a)
        logps.append(logp_all.gather(-1, a.to(z.device)[:, None]).squeeze(-1))
    return actions, logps


def greedy_actions(logits: list[torch.Tensor], avail: list[torch.Tensor]) -> list[torch.Tensor]:
    """Argmax over available actions, per agent (on the CPU)."""
    return [masked_logits(z, m).argmax(-1).cpu() for z, m in zip(logits, avail, strict=True)]


def log_prob_of(logits: list[torch.Tensor], avail: list[torch.Tensor], actions: list[torch.Tensor]) -> list[torch.Tensor]:
    """Log-probability of given actions under each agent's masked softmax."""
    out = []
    for z, m, a in zip(logits, avail, actions, strict=True):
        logp_all = torch.log_softmax(masked_logits(z, m), -1)
        out.append(logp_all.gather(-1, a.to(z.device)[:, None]).squeeze(-1))
    return out


def _module_device(module: torch.nn.Module, default: torch.device) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else default


@torch.no_grad()
def teacher_outputs(teacher: TeamPolicy, obs: list[torch.Tensor],
                    device: torch.device) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The frozen teacher's (logits, last hidden features) per agent, on ``device``, without grad."""
    t_dev = _module_device(teacher, device)
    logits, hidden = teacher.features([o.to(t_dev) for o in obs])
    return [z.to(device) for z in logits], [h.to(device) for h in hidden]


@torch.no_grad()
def teacher_value(teacher: TeacherPolicy, state: torch.Tensor, device: torch.device) -> torch.Tensor:
    """V_T(s) in return units, ``(B,)`` on ``device``."""
    t_dev = _module_device(teacher, device)
    return teacher.value(state.to(t_dev)).to(device)


# ---- labelled dataset ---------------------------------------------------------------


class LabelledBuffer:
    """Preallocated store of visited states with the teacher's logits, one row per env-step.

    A row holds every agent's obs, avail mask and teacher logits, plus optional named ``extras``
    (one tensor per name, rows first: e.g. the teacher's advantage and action), allocated on the
    first ``add`` that passes them and written to the same slots as the row. ``mode``:

    - ``"fifo"``: when full, the oldest rows are overwritten (DAgger's capped aggregate);
    - ``"reservoir"``: when full, keeps a uniform random sample of every row ever added
      (Vitter's algorithm R), so an offline dataset bounded in memory still covers the whole
      budget.
    """

    def __init__(self, obs_dims, n_actions, capacity: int, mode: str = "fifo",
                 device: torch.device | str = "cpu", generator: torch.Generator | None = None):
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        if mode not in ("fifo", "reservoir"):
            raise ValueError(f"buffer mode must be 'fifo' or 'reservoir', got {mode!r}")
        self.capacity = capacity
        self.mode = mode
        self.device = torch.device(device)
        self.generator = generator
        self.obs = [torch.zeros(capacity, d, device=self.device) for d in obs_dims]
        self.avail = [torch.zeros(capacity, a, dtype=torch.bool, device=self.device) for a in n_actions]
        self.teacher_logits = [torch.zeros(capacity, a, device=self.device) for a in n_actions]
        self.extras: dict[str, torch.Tensor] = {}
        """Name → ``(capacity, ...)`` per-row extra data (empty unless ``add`` was given extras)."""
        self.size = 0
        """Rows currently stored."""
        self.seen = 0
        """Rows ever added."""
        self._pos = 0

    def __len__(self) -> int:
        return self.size

    def _write(self, slots: torch.Tensor, rows: torch.Tensor, obs, avail, t_logits,
               extras: dict[str, torch.Tensor] | None = None) -> None:
        slots = slots.to(self.device)
        rows = rows.to(obs[0].device)
        for i in range(len(self.obs)):
            self.obs[i][slots] = obs[i][rows].to(self.device)
            self.avail[i][slots] = avail[i][rows].to(self.device)
            self.teacher_logits[i][slots] = t_logits[i][rows].to(self.device)
        for name, x in (extras or {}).items():
            self.extras[name][slots] = x[rows.to(x.device)].to(self.device)

    def add(self, obs: list[torch.Tensor], avail: list[torch.Tensor], teacher_logits: list[torch.Tensor],
            extras: dict[str, torch.Tensor] | None = None) -> None:
        """Add ``k`` rows; ``extras`` (name → ``(k, ...)``) must name the same keys on every call."""
        k = obs[0].shape[0]
        cap = self.capacity
        if extras is not None:
            if not self.extras and self.seen == 0:
                self.extras = {n: torch.zeros(cap, *x.shape[1:], dtype=x.dtype, device=self.device)
                               for n, x in extras.items()}
            if set(extras) != set(self.extras):
                raise ValueError(f"buffer extras {sorted(extras)} differ from the stored {sorted(self.extras)}")
        elif self.extras:
            raise ValueError(f"buffer rows need extras {sorted(self.extras)}")
        if self.mode == "fifo":
            rows = torch.arange(max(0, k - cap), k)  # more rows than capacity: keep the newest
            slots = (self._pos + torch.arange(rows.numel())) % cap
            self._write(slots, rows, obs, avail, teacher_logits, extras)
            self._pos = int((self._pos + rows.numel()) % cap)
            self.size = min(cap, self.size + rows.numel())
        else:
            g = self.seen + torch.arange(k)  # global index of each incoming row
            fill = g < cap
            if fill.any():
                self._write(g[fill], torch.nonzero(fill).squeeze(-1), obs, avail, teacher_logits, extras)
            rest = torch.nonzero(~fill).squeeze(-1)
            if rest.numel():
                # row with global index g replaces a uniform slot with probability cap / (g + 1)
                u = torch.rand(rest.numel(), generator=self.generator)
                j = (u * (g[rest] + 1).double()).long()
                keep = j < cap
                self._write(j[keep], rest[keep], obs, avail, teacher_logits, extras)
            self.size = min(cap, self.seen + k)
        self.seen += k

    def get(self, idx: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """(obs, avail, teacher logits) per agent for the rows ``idx``."""
        idx = idx.to(self.device)
        return ([o[idx] for o in self.obs], [m[idx] for m in self.avail], [z[idx] for z in self.teacher_logits])

    def get_extras(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ``extras`` of the rows ``idx``."""
        idx = idx.to(self.device)
        return {name: x[idx] for name, x in self.extras.items()}

    def epoch(self, minibatch_size: int) -> Iterator[torch.Tensor]:
        """Row indices of one shuffled pass over the buffer, in minibatches."""
        perm = torch.randperm(self.size, generator=self.generator)
        for start in range(0, self.size, minibatch_size):
            yield perm[start:start + minibatch_size]

    def sample(self, minibatch_size: int) -> torch.Tensor:
        """Row indices of one uniform minibatch (without replacement when it fits)."""
        if minibatch_size >= self.size:
            return torch.randperm(self.size, generator=self.generator)
        return torch.randperm(self.size, generator=self.generator)[:minibatch_size]


class TeacherStream:
    """The frozen teacher rolled out in one env stream, its visited states collected (in stages) into one
    reservoir dataset.

    ``collect_until(n)`` continues the same episodes up to ``n`` env-steps (whole steps of every copy);
    offline methods with a learning curve call it once per budget point, and
    ``collect_teacher_dataset`` calls it once for the whole budget. ``sample=True``: the teacher samples
    from its masked softmax (wider state coverage than its greedy policy); ``False``: it acts greedily.
    Each row holds the state as the student will see it (``student_view``, default the full
    observation) with the teacher's logits from its own view of the same state.
    """

    def __init__(self, env: VecEnv, teacher: TeamPolicy, budget: int, seed: int, generator: torch.Generator,
                 capacity: int, sample: bool = True, device: torch.device | str = "cpu",
                 on_steps: Callable[[int], None] | None = None, student_view: View | None = None):
        self.env = env
        self.teacher = teacher
        self.generator = generator
        self.sample = sample
        self.device = torch.device(device)
        self.on_steps = on_steps
        spec = env.spec
        self.teacher_view = policy_view(spec.id, teacher)
        self.student_view = student_view if student_view is not None else full_view(spec.obs_dims)
        n_steps = budget // env.num_envs
        # Sized for the whole budget: a reservoir over every stage's rows.
        self.buffer = LabelledBuffer(self.student_view.obs_dims, spec.n_actions,
                                     max(1, min(capacity, n_steps * env.num_envs)), "reservoir", self.device, generator)
        self.step = env.reset(seed)
        self.t = 0
        """Steps of every copy taken so far."""

    @property
    def used(self) -> int:
        return self.t * self.env.num_envs

    @torch.no_grad()
    def collect_until(self, env_steps: int) -> int:
        """Roll on until ``env_steps`` (rounded down to whole steps of every copy); returns env-steps used."""
        b = self.env.num_envs
        n_steps = env_steps // b
        while self.t < n_steps:
            step = self.step
            s_obs = [o.to(self.device) for o in self.student_view(step.obs, step.state)]
            s_avail = [m.to(self.device) for m in self.student_view.avail(step.avail, step.obs, step.state)]
            t_avail = [m.to(self.device) for m in self.teacher_view.avail(step.avail, step.obs, step.state)]
            t_logits, _ = teacher_outputs(self.teacher, self.teacher_view(step.obs, step.state), self.device)
            self.buffer.add(s_obs, s_avail, t_logits)
            if self.sample:
                actions = sample_actions(t_logits, t_avail, self.generator)[0]
            else:
                actions = greedy_actions(t_logits, t_avail)
            self.step = self.env.step(actions)
            if self.on_steps is not None and (self.t % 32 == 31 or self.t == n_steps - 1):
                self.on_steps((self.t + 1) * b)
            self.t += 1
        return self.used


def collect_teacher_dataset(env: VecEnv, teacher: TeamPolicy, budget: int, seed: int, generator: torch.Generator,
                            capacity: int, sample: bool = True, device: torch.device | str = "cpu",
                            on_steps: Callable[[int], None] | None = None,
                            student_view: View | None = None) -> tuple[LabelledBuffer, int]:
    """Roll out the frozen teacher for up to ``budget`` env-steps and keep every state it visits
    (``TeacherStream`` in one stage). Returns (buffer, env-steps used)."""
    stream = TeacherStream(env, teacher, budget, seed, generator, capacity, sample, device, on_steps, student_view)
    return stream.buffer, stream.collect_until(budget)


# ---- on-policy (student) rollouts ---------------------------------------------------


@dataclass
class Rollout:
    """A ``(T, B)`` student rollout with the teacher's labels. Per-agent lists where sizes differ."""

    obs: list[torch.Tensor]
    """Per agent ``(T, B, obs_i)``, as the student sees them (its view)."""
    avail: list[torch.Tensor]
    """Per agent ``(T, B, A_i)`` bool."""
    actions: torch.Tensor
    """``(T, B, N)`` executed actions (int64, on ``device``)."""
    logp: torch.Tensor
    """``(T, B, N)`` the student's log-prob of the executed action at collection time."""
    teacher_logits: list[torch.Tensor]
    """Per agent ``(T, B, A_i)``, unmasked."""
    rewards: torch.Tensor
    """``(T, B)`` team rewards."""
    dones: torch.Tensor
    """``(T, B)`` bool: transition t ended its episode."""
    teacher_hidden: list[torch.Tensor] | None = None
    """Per agent ``(T, B, H_T)`` teacher last hidden features (when requested)."""
    teacher_values: torch.Tensor | None = None
    """``(T, B)`` V_T(s_t) in return units (when requested)."""
    next_teacher_value: torch.Tensor | None = None
    """``(B,)`` V_T of the state after the last step (bootstrap)."""
    env_steps: int = 0
    episode_returns: list[float] = field(default_factory=list)
    teacher_acted: torch.Tensor | None = None
    """``(T, B)`` bool: the teacher's action was executed (β-mixture)."""
    teacher_obs: list[torch.Tensor] | None = None
    """Per agent ``(T, B, obs_T_i)``: the teacher's own view of the same states (``TeacherCollector``)."""

    def flat(self, x: torch.Tensor) -> torch.Tensor:
        """Merge the leading (T, B) dims of a rollout tensor."""
        return x.reshape(-1, *x.shape[2:])


class OnPolicyCollector:
    """Runs the student in the env (optionally mixed with the teacher) and labels every state.

    The env is reset once (with ``seed``); consecutive ``collect`` calls continue its episodes.
    """

    def __init__(self, env: VecEnv, student: TeamPolicy, teacher: TeacherPolicy, seed: int,
                 generator: torch.Generator, device: torch.device | str = "cpu"):
        self.env = env
        self.student = student
        self.teacher = teacher
        self.generator = generator
        self.device = torch.device(device)
        self.student_view = policy_view(env.spec.id, student)
        self.teacher_view = policy_view(env.spec.id, teacher)
        self.step = env.reset(seed)

    @torch.no_grad()
    def collect(self, rollout_len: int, beta: float = 0.0, with_hidden: bool = False,
                with_values: bool = False) -> Rollout:
        """``rollout_len`` steps of all copies. Per step and per env copy, with probability ``beta``
        the whole team executes the teacher's greedy actions, else the student's sampled ones."""
        dev = self.device
        n = self.env.spec.n_agents
        b = self.env.num_envs
        b_obs = [[] for _ in range(n)]
        b_avail = [[] for _ in range(n)]
        b_tlogits = [[] for _ in range(n)]
        b_thidden = [[] for _ in range(n)]
        b_act, b_logp, b_rew, b_done, b_tval, b_mix = [], [], [], [], [], []
        ep_returns: list[float] = []
        was_training = self.student.training
        self.student.eval()
        for _ in range(rollout_len):
            obs = [o.to(dev) for o in self.student_view(self.step.obs, self.step.state)]
            avail = [m.to(dev) for m in self.student_view.avail(self.step.avail, self.step.obs, self.step.state)]
            t_logits, t_hidden = teacher_outputs(self.teacher, self.teacher_view(self.step.obs, self.step.state), dev)
            s_logits = self.student.logits(obs)
            actions, _ = sample_actions(s_logits, avail, self.generator)
            use_teacher = torch.zeros(b, dtype=torch.bool)
            if beta > 0.0:
                use_teacher = torch.rand(b, generator=self.generator) < beta
                t_avail = [m.to(dev) for m in self.teacher_view.avail(self.step.avail, self.step.obs, self.step.state)]
                t_act = greedy_actions(t_logits, t_avail)
                actions = [torch.where(use_teacher, ta, sa) for ta, sa in zip(t_act, actions, strict=True)]
            logps = log_prob_of(s_logits, avail, actions)
            for i in range(n):
                b_obs[i].append(obs[i])
                b_avail[i].append(avail[i])
                b_tlogits[i].append(t_logits[i])
                if with_hidden:
                    b_thidden[i].append(t_hidden[i])
            if with_values:
                b_tval.append(teacher_value(self.teacher, self.step.state, dev))
            b_act.append(torch.stack(actions, -1).to(dev))
            b_logp.append(torch.stack(logps, -1))
            b_mix.append(use_teacher)
            self.step = self.env.step(actions)
            b_rew.append(self.step.reward.to(dev))
            b_done.append(self.step.done.to(dev))
            if self.step.done.any():
                ep_returns += self.step.ep_return[self.step.done].tolist()
        self.student.train(was_training)
        return Rollout(
            obs=[torch.stack(o) for o in b_obs],
            avail=[torch.stack(m) for m in b_avail],
            actions=torch.stack(b_act),
            logp=torch.stack(b_logp),
            teacher_logits=[torch.stack(z) for z in b_tlogits],
            rewards=torch.stack(b_rew),
            dones=torch.stack(b_done),
            teacher_hidden=[torch.stack(h) for h in b_thidden] if with_hidden else None,
            teacher_values=torch.stack(b_tval) if with_values else None,
            next_teacher_value=teacher_value(self.teacher, self.step.state, dev) if with_values else None,
            env_steps=rollout_len * b,
            episode_returns=ep_returns,
            teacher_acted=torch.stack(b_mix),
        )


# ---- teacher rollouts in chunks (offline methods that need the sequence) ---------------


class TeacherCollector:
    """The frozen teacher acts (sampling its masked softmax, or greedily); every state is kept with
    the student's view (``obs``), the teacher's own view (``teacher_obs``), its logits, the executed
    action and its log-prob, rewards, dones, V_T(s_t) and the bootstrap V_T(s_T).

    Same env-step accounting as ``collect_teacher_dataset``: one ``VecEnv.step`` on B copies costs
    B env-steps. The env is reset once (with ``seed``); consecutive ``collect`` calls continue its
    episodes, so GAE over one chunk bootstraps from V_T of the state where the next chunk starts.
    """

    def __init__(self, env: VecEnv, teacher: TeacherPolicy, seed: int, generator: torch.Generator,
                 device: torch.device | str = "cpu", student_view: View | None = None, sample: bool = True):
        self.env = env
        self.teacher = teacher
        self.generator = generator
        self.device = torch.device(device)
        self.sample = sample
        self.teacher_view = policy_view(env.spec.id, teacher)
        self.student_view = student_view if student_view is not None else full_view(env.spec.obs_dims)
        self.step = env.reset(seed)

    @torch.no_grad()
    def collect(self, rollout_len: int) -> Rollout:
        """``rollout_len`` steps of all copies, the teacher acting."""
        dev = self.device
        n = self.env.spec.n_agents
        b_obs = [[] for _ in range(n)]
        b_tobs = [[] for _ in range(n)]
        b_avail = [[] for _ in range(n)]
        b_tlogits = [[] for _ in range(n)]
        b_act, b_logp, b_rew, b_done, b_tval = [], [], [], [], []
        ep_returns: list[float] = []
        for _ in range(rollout_len):
            s_obs = [o.to(dev) for o in self.student_view(self.step.obs, self.step.state)]
            t_obs = [o.to(dev) for o in self.teacher_view(self.step.obs, self.step.state)]
            t_avail = [m.to(dev) for m in self.teacher_view.avail(self.step.avail, self.step.obs, self.step.state)]
            t_logits, _ = teacher_outputs(self.teacher, t_obs, dev)
            if self.sample:
                actions, logps = sample_actions(t_logits, t_avail, self.generator)
            else:
                actions = greedy_actions(t_logits, t_avail)
                logps = log_prob_of(t_logits, t_avail, actions)
            # The rows' masks are the student's; the action the teacher executed stays available in its
            # row (a per-action loss on it stays finite) even where the student's view hides its target.
            avail = [m.to(dev) for m in self.student_view.avail(self.step.avail, self.step.obs, self.step.state)]
            if self.student_view.restrict is not None:
                avail = [m | F.one_hot(a.to(dev), m.shape[-1]).bool() for m, a in zip(avail, actions, strict=True)]
            for i in range(n):
                b_obs[i].append(s_obs[i])
                b_tobs[i].append(t_obs[i])
                b_avail[i].append(avail[i])
                b_tlogits[i].append(t_logits[i])
            b_tval.append(teacher_value(self.teacher, self.step.state, dev))
            b_act.append(torch.stack(actions, -1).to(dev))
            b_logp.append(torch.stack(logps, -1))
            self.step = self.env.step(actions)
            b_rew.append(self.step.reward.to(dev))
            b_done.append(self.step.done.to(dev))
            if self.step.done.any():
                ep_returns += self.step.ep_return[self.step.done].tolist()
        return Rollout(
            obs=[torch.stack(o) for o in b_obs],
            avail=[torch.stack(m) for m in b_avail],
            actions=torch.stack(b_act),
            logp=torch.stack(b_logp),
            teacher_logits=[torch.stack(z) for z in b_tlogits],
            rewards=torch.stack(b_rew),
            dones=torch.stack(b_done),
            teacher_values=torch.stack(b_tval),
            next_teacher_value=teacher_value(self.teacher, self.step.state, dev),
            env_steps=rollout_len * self.env.num_envs,
            episode_returns=ep_returns,
            teacher_obs=[torch.stack(o) for o in b_tobs],
        )
