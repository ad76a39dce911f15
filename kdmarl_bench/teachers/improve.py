"""Rollout policy improvement for SMAX teachers: search with the teacher, then distil the search back.

PPO teachers on smax/3m plateau at ~0.95 greedy win rate; their losses are last-shot races. SMAX
states can be branched, so a search on top of a teacher measures how much better a policy could
do, and one stage of expert iteration tries to put that back into the network:

1. **Search.** Play ``episodes`` SMAX episodes with a one-step lookahead planner built on the
   teacher. At each step it first plays the teacher's greedy joint action out ``rollouts`` times;
   when every playout wins, it keeps the teacher's actions. Otherwise, for every agent *i* and
   every available action *a*, it plays *a* for agent *i* (the others greedy), then the greedy
   teacher to the end, ``rollouts`` times with shared keys, and takes a candidate for agent *i*
   whose win rate beats the teacher's action by ``margin``. The maximum over noisy estimates is
   biased upwards, so each candidate is re-scored against the teacher's action on
   ``verify_rollouts`` fresh playouts and kept only if it still wins by ``verify_margin``.
2. **Distil.** Fine-tune the teacher's actor on the states the planner visited: at a state where
   the planner kept the teacher's action the target is the teacher's own distribution (nothing
   moves), at a state where it overruled it the target is the planner's action, weighted by
   ``switch_weight``.

The result is an ordinary ``TeacherPolicy`` (the same widths and critic) whose card lists the
stage with its settings and what the search found. Measured on smax/3m (README, "Teachers"): the
planner wins 0.992 where its teacher wins 0.946, and the distilled teacher does not improve on its
teacher (most overrules are one-step delays a memoryless actor cannot tell apart).

Episodes are played in chunks of ``ImproveConfig.chunk``, each written to
``SEARCH_DIR/chunk-NNNN.safetensors`` (default ``OUT.search``) as it finishes, so an interrupted run
resumes with the chunks it has and another distillation of the same search costs no search
(``--jobs`` processes play chunks side by side). Chunks are plain arrays (safetensors): reading one
never runs code.
"""

from __future__ import annotations

import copy
import dataclasses
import platform
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load as load_arrays
from safetensors.numpy import save as save_arrays

from kdmarl_bench import __version__
from kdmarl_bench.checkpoint import save_checkpoint
from kdmarl_bench.envs import get_task
from kdmarl_bench.envs.smax import MAX_STEPS, N_MOVE_ACTIONS, heuristic_env, import_jax, policy_observer
from kdmarl_bench.envs.views import PRIVILEGED
from kdmarl_bench.errors import UsageError
from kdmarl_bench.models.mlp import NEG_INF
from kdmarl_bench.models.policy import TeacherPolicy
from kdmarl_bench.safeio import (
    make_dir_inside,
    read_bytes_bounded,
    read_json,
    write_bytes_atomic,
    write_json_atomic,
)
from kdmarl_bench.teachers.train import card_eval, lineage, read_teacher, widen_for_state

MAX_CHUNK_BYTES = 64 * 2**20
"""Largest chunk file read back (a 50-episode 3m chunk is ~0.8 MB)."""
ALGORITHM = "mappo+rollout-improvement"


@dataclasses.dataclass(frozen=True)
class ImproveConfig:
    """One improvement stage: search settings, then distillation settings."""

    episodes: int = 2000
    """Planner episodes whose states are labelled."""
    chunk: int = 50
    """Episodes per chunk file: the unit of resuming and of the work handed to a process."""
    rollouts: int = 32
    """Playouts per (agent, action) in the search, with keys shared across actions."""
    margin: float = 0.15
    """A candidate must beat the teacher's action by this win rate in the search."""
    verify_rollouts: int = 256
    """Fresh playouts that re-score each candidate against the teacher's action."""
    verify_margin: float = 0.05
    """A candidate overrules the teacher only if it still wins by this much on the fresh playouts."""
    lr: float = 3e-5
    """Adam learning rate of the distillation."""
    epochs: int = 30
    """Passes over the labelled states."""
    switch_weight: float = 5.0
    """Loss weight of a state where the planner overruled the teacher (others weigh 1)."""
    batch_size: int = 256
    """Rows (agent-states) per gradient step."""
    seed: int = 0
    """Seed of the episodes' keys, the playouts' keys and the distillation's shuffling."""


@dataclasses.dataclass(frozen=True)
class TeacherShape:
    """What a search process needs of a teacher: its actors as plain arrays (no code crosses)."""

    weights: dict[str, np.ndarray]
    """``actors.*`` tensors of the teacher's state dict, as numpy arrays."""
    group_of: list[int]
    """Agent i acts through ``actors[group_of[i]]``."""
    n_layers: int
    """Hidden layers of each actor."""
    activation: str
    """``relu`` or ``tanh``."""
    privileged: bool
    """The actors read [observation, global state, one-hot] (a privileged teacher), else [observation, one-hot]."""

    @classmethod
    def of(cls, policy: TeacherPolicy) -> TeacherShape:
        return cls({k: v.detach().cpu().numpy() for k, v in policy.state_dict().items() if k.startswith("actors.")},
                   [policy.group_of[i] for i in range(policy.n_agents)], len(policy.actor_hidden), policy.activation,
                   policy.view == PRIVILEGED)


# ---------------------------------------------------------------------------------------------
# the planner (JAX, on SMAX states)


def _jax_logits(weights: dict, group_of: list[int], n_layers: int, activation: str, privileged: bool, eye):
    """``(obs (N, obs), state (S,)) → logits (N, A)``: the teacher's actors in JAX, agent i through its
    group's MLP on [its observation, the global state if ``privileged``, its one-hot], as
    ``TeacherPolicy`` sees them through its view."""
    import jax
    import jax.numpy as jnp

    act = {"relu": jax.nn.relu, "tanh": jnp.tanh}[activation]

    def forward(obs, state):
        rows = []
        for i, g in enumerate(group_of):
            x = jnp.concatenate([obs[i], state, eye[i]] if privileged else [obs[i], eye[i]])
            for j in range(n_layers):
                x = act(weights[f"actors.{g}.body.{2 * j}.weight"] @ x + weights[f"actors.{g}.body.{2 * j}.bias"])
            rows.append(weights[f"actors.{g}.head.weight"] @ x + weights[f"actors.{g}.head.bias"])
        return jnp.stack(rows)

    return forward


def make_planner(map_name: str, teacher: TeacherShape, cfg: ImproveConfig):
    """Jitted ``(reset, observe, step, plan)`` for one SMAX map and one teacher."""
    jax = import_jax()
    import jax.numpy as jnp

    env = heuristic_env(map_name)
    agents = env.agents
    n = len(agents)
    n_actions = env.action_spaces[agents[0]].n
    w = {k: jnp.asarray(v) for k, v in teacher.weights.items()}
    logits_of = _jax_logits(w, teacher.group_of, teacher.n_layers, teacher.activation, teacher.privileged, jnp.eye(n))
    observe = policy_observer(env)  # (observations (N, obs), global state (S,), action masks (N, A))

    def greedy(state):
        o, ws, m = observe(state)
        return jnp.argmax(jnp.where(m, logits_of(o, ws), -jnp.inf), -1).astype(jnp.int32)

    def step(key, state, act):
        _, nxt, rew, dones, _ = env.step_env(key, state, {a: act[i] for i, a in enumerate(agents)})
        done = dones["__all__"]
        return nxt, rew[agents[0]], done, done & (rew[agents[0]] >= 1.0)

    def playout(key, state, first):
        """Play ``first``, then the greedy teacher to the episode's end: (won, env-steps)."""
        k0, key = jax.random.split(key)
        state, _, done, won = step(k0, state, first)

        def body(c):
            key, state, _, _, t = c
            key, k = jax.random.split(key)
            state, _, done, won = step(k, state, greedy(state))
            return key, state, done, won, t + 1

        _, _, _, won, t = jax.lax.while_loop(lambda c: ~c[2], body, (key, state, done, won, jnp.int32(1)))
        return won.astype(jnp.float32), t

    many = jax.vmap(playout, (0, None, None))  # K keys, one joint action
    grid = jax.vmap(jax.vmap(many, (None, None, 0)), (None, None, 0))  # (agent, action) grid of joint actions

    def plan(key, state):
        """(planned joint action, the teacher's greedy joint action, overruled per agent, the search's win
        rates per (agent, action) (-1: unavailable; the greedy one-hot when the search was skipped),
        playout env-steps)."""
        g = greedy(state)
        _, _, m = observe(state)
        k_base, k_verify = jax.random.split(key)
        keys = jax.random.split(k_base, cfg.rollouts)
        # The greedy joint action's playouts are q[i, g_i] for every i (same keys): when they all win,
        # no action can beat the teacher's by the margin and the search is skipped.
        base, base_t = many(keys, state, g)

        def search():
            joint = jnp.broadcast_to(g, (n, n_actions, n))
            joint = joint.at[jnp.arange(n)[:, None], jnp.arange(n_actions)[None, :], jnp.arange(n)[:, None]].set(
                jnp.arange(n_actions)[None, :])
            wins, t = grid(keys, state, joint)
            return wins.mean(-1), t.sum()

        def keep():
            return jnp.where(jnp.arange(n_actions)[None, :] == g[:, None], 1.0, 0.0), jnp.int32(0)

        q, search_t = jax.lax.cond(base.mean() < 1.0, search, keep)
        q = jnp.where(m, q, -1.0)
        best = jnp.argmax(q, -1).astype(jnp.int32)
        q_teacher = jnp.take_along_axis(q, g[:, None], 1)[:, 0]
        candidate = q.max(-1) > q_teacher + cfg.margin

        def verify():
            pairs = jnp.stack([jnp.broadcast_to(g, (n, n)),
                               jnp.broadcast_to(g, (n, n)).at[jnp.arange(n), jnp.arange(n)].set(best)], 1)
            wins, t = grid(jax.random.split(k_verify, cfg.verify_rollouts), state, pairs)
            return wins.mean(-1), t.sum()

        q2, verify_t = jax.lax.cond(candidate.any(), verify, lambda: (jnp.zeros((n, 2)), jnp.int32(0)))
        overrule = candidate & (q2[:, 1] > q2[:, 0] + cfg.verify_margin)
        return jnp.where(overrule, best, g), g, overrule, q, base_t.sum() + search_t + verify_t

    return jax.jit(env.reset), jax.jit(observe), jax.jit(step), jax.jit(plan)


def play_chunk(map_name: str, teacher: TeacherShape, cfg: ImproveConfig, chunk: int) -> dict[str, np.ndarray]:
    """Episodes ``chunk·cfg.chunk …`` with the planner: every decision's observations, global state,
    masks, planned and greedy actions, overrule flags; per episode the win flag."""
    jax = import_jax()
    started = time.monotonic()
    reset, observe, step, plan = make_planner(map_name, teacher, cfg)
    rows: dict[str, list] = {"obs": [], "state": [], "avail": [], "action": [], "greedy": [], "overrule": [], "q": []}
    wins, steps, playout_steps = [], 0, 0
    root = jax.random.PRNGKey(cfg.seed)
    for e in range(cfg.chunk):
        key = jax.random.fold_in(root, chunk * cfg.chunk + e)
        key, k_reset = jax.random.split(key)
        _, state = reset(k_reset)
        won = False
        for _ in range(MAX_STEPS + 1):
            key, k_step, k_plan = jax.random.split(key, 3)
            o, ws, m = observe(state)
            act, g, over, q, t = plan(k_plan, state)
            for name, x in zip(rows, (o, ws, m, act, g, over, q), strict=True):
                rows[name].append(np.asarray(x))
            playout_steps += int(t)
            state, _, done, w = step(k_step, state, act)
            steps += 1
            if bool(done):
                won = bool(w)
                break
        wins.append(won)
    out = {name: np.stack(x) for name, x in rows.items()}
    out["overrule"] = out["overrule"].astype(np.uint8)
    out["avail"] = out["avail"].astype(np.uint8)
    out["wins"] = np.asarray(wins, np.uint8)
    out["env_steps"] = np.asarray([steps, playout_steps], np.int64)
    out["wall_s"] = np.asarray([time.monotonic() - started], np.float64)
    return out


def _play_chunk_job(args: tuple) -> tuple[int, bytes]:
    """Process-pool entry: one chunk as safetensors bytes (plain arrays cross the process boundary)."""
    chunk = args[-1]
    torch.set_num_threads(1)
    return chunk, save_arrays(play_chunk(*args))


# ---------------------------------------------------------------------------------------------
# distillation


def distil(policy: TeacherPolicy, data: dict[str, np.ndarray], cfg: ImproveConfig) -> dict:
    """Fine-tune ``policy``'s actors in place on the planner's labels; returns fit statistics.

    A privileged teacher's actors read the global state too, so they could tell apart states that
    look the same to a local one (e.g. where the enemies stand before anyone sees them)."""
    obs, avail, action, overrule = data["obs"], data["avail"].astype(bool), data["action"], data["overrule"].astype(bool)
    steps, n = obs.shape[:2]
    live = avail.sum(-1) > 1  # a dead unit has one action (no-op): nothing to learn there
    eye = np.broadcast_to(np.eye(n, dtype=np.float32), (steps, n, n))
    parts = [obs.astype(np.float32)]
    if policy.view == PRIVILEGED:
        parts.append(np.broadcast_to(data["state"][:, None, :], (steps, n, data["state"].shape[-1])))
    x_all = torch.from_numpy(np.concatenate([*parts, eye], -1))
    groups = [policy.group_of[i] for i in range(n)]
    g_all = torch.tensor(groups).expand(steps, n)
    sel = torch.from_numpy(live)
    x, m = x_all[sel], torch.from_numpy(avail)[sel]
    y, sw, grp = torch.from_numpy(action.astype(np.int64))[sel], torch.from_numpy(overrule)[sel], g_all[sel]
    torch.manual_seed(cfg.seed)
    actors = policy.actors

    def logits(rows: torch.Tensor) -> torch.Tensor:
        out = torch.empty(len(rows), m.shape[1])
        for g in grp[rows].unique().tolist():
            pick = rows[grp[rows] == g]
            out[grp[rows] == g] = actors[g](x[pick])
        return out.masked_fill(~m[rows], NEG_INF)

    everything = torch.arange(len(x))
    with torch.no_grad():
        p_teacher = torch.softmax(logits(everything), -1)
    target = torch.where(sw[:, None], torch.nn.functional.one_hot(y, m.shape[1]).float(), p_teacher)
    weight = torch.where(sw, cfg.switch_weight, 1.0)
    params = [p for a in actors for p in a.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), cfg.batch_size):
            mb_idx = perm[i:i + cfg.batch_size]
            logp = torch.log_softmax(logits(mb_idx), -1).clamp_min(NEG_INF / 1e5)
            loss = (-(target[mb_idx] * logp).sum(-1) * weight[mb_idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for p in params:
        p.requires_grad_(False)
    with torch.no_grad():
        hit = logits(everything).argmax(-1) == y
    return {"rows": int(len(x)), "overruled_rows": int(sw.sum()),
            "fit_kept": float(hit[~sw].float().mean()) if (~sw).any() else None,
            "fit_overruled": float(hit[sw].float().mean()) if sw.any() else None}


# ---------------------------------------------------------------------------------------------
# the stage


def default_search_dir(out: str | Path) -> Path:
    """Where ``improve_teacher(out=...)`` keeps its finished chunks unless told otherwise."""
    return Path(str(Path(out).with_suffix("")) + ".search")


def _check_source(ref: str) -> tuple[Path, TeacherPolicy, dict, str]:
    path, policy, card = read_teacher(ref, ref)
    task_id = card["task"]
    spec = get_task(task_id).spec
    if spec.family != "smax":
        raise UsageError(f"{ref}: improve-teacher branches SMAX states to search; task {task_id!r} is a "
                         f"{spec.family!r} task (valid: smax/*)")
    return path, policy, card, task_id


CHUNK_KEYS = ("obs", "state", "avail", "action", "greedy", "overrule", "q", "wins", "env_steps")


def _read_chunk(path: Path) -> dict[str, np.ndarray]:
    """A finished chunk read back; a damaged one is a UsageError naming it (deleting it searches it again)."""
    try:
        arrays = load_arrays(read_bytes_bounded(path, "search chunk", MAX_CHUNK_BYTES))
    except UsageError:
        raise
    except Exception as exc:  # safetensors raises its own error types for a damaged file
        raise UsageError(f"{path}: not a readable search chunk ({exc}); delete it to search it again") from exc
    missing = [k for k in CHUNK_KEYS if k not in arrays]
    if missing:
        raise UsageError(f"{path}: search chunk lacks {', '.join(missing)}; delete it to search it again")
    return arrays


def _check_chunking(cfg: ImproveConfig) -> None:
    if cfg.episodes % cfg.chunk:
        raise UsageError(f"episodes: {cfg.episodes} is not a multiple of {cfg.chunk} (--chunk, the episodes per chunk)")


def search(task_id: str, rollout_teacher: TeacherPolicy, teacher_sha256: str, cfg: ImproveConfig, folder: str | Path,
           jobs: int = 1, progress: Callable[[int, int, float], None] | None = None) -> tuple[dict, dict]:
    """The search part of a stage: ``cfg.episodes`` planner episodes, in chunks kept in ``folder`` (a re-run
    with the same teacher and search settings reuses them). Returns (the labelled decisions, planner stats)."""
    _check_chunking(cfg)
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    make_dir_inside(folder.parent, folder, "search folder")
    # what the chunks depend on (not how many there are, nor the distillation)
    search_keys = ("chunk", "rollouts", "margin", "verify_rollouts", "verify_margin", "seed")
    stamp = {"teacher_sha256": teacher_sha256, "task": task_id,
             "search": {k: v for k, v in dataclasses.asdict(cfg).items() if k in search_keys}}
    stamp_path = folder / "search.json"
    if stamp_path.exists() and read_json(stamp_path, "search folder stamp") != stamp:
        raise UsageError(f"{stamp_path}: these chunks were searched with another teacher or other search settings "
                         f"({read_json(stamp_path, 'search folder stamp')}); delete {folder} or pass another "
                         "--search-dir")
    write_json_atomic(stamp_path, stamp)
    n_chunks = cfg.episodes // cfg.chunk
    chunks: dict[int, dict[str, np.ndarray]] = {}
    for c in range(n_chunks):
        f = folder / f"chunk-{c:04d}.safetensors"
        if f.exists():
            chunks[c] = _read_chunk(f)

    def won_so_far() -> float:
        wins = [w for d in chunks.values() for w in d["wins"]]
        return float(np.mean(wins)) if wins else float("nan")

    todo = [c for c in range(n_chunks) if c not in chunks]
    if progress is not None:
        progress(len(chunks), n_chunks, won_so_far())
    shape = TeacherShape.of(rollout_teacher)
    args = [(task_id.split("/", 1)[1], shape, cfg, c) for c in todo]

    def keep(c: int, blob: bytes) -> None:
        write_bytes_atomic(folder / f"chunk-{c:04d}.safetensors", blob)
        chunks[c] = load_arrays(blob)
        if progress is not None:
            progress(len(chunks), n_chunks, won_so_far())

    if jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=get_context("spawn")) as pool:
            for c, blob in pool.map(_play_chunk_job, args):
                keep(c, blob)
    else:
        for a in args:
            keep(*_play_chunk_job(a))
    order = range(n_chunks)
    data = {k: np.concatenate([chunks[c][k] for c in order]) for k in
            ("obs", "state", "avail", "action", "greedy", "overrule", "q")}
    wins = np.concatenate([chunks[c]["wins"] for c in order])
    episode_steps, playout_steps = (int(sum(chunks[c]["env_steps"][i] for c in order)) for i in (0, 1))
    live = data["avail"].sum(-1) > 1
    # where the planner disagrees: an agent with no attack available (no enemy in range) is still approaching
    approach = live & (data["avail"][..., N_MOVE_ACTIONS:].sum(-1) == 0)
    overruled = data["overrule"].astype(bool)
    stats = {"episodes": int(len(wins)), "win_rate": float(wins.mean()), "decisions": int(len(data["obs"])),
             "overruled_agent_decisions": int(overruled[live].sum()), "agent_decisions": int(live.sum()),
             "overruled_unable_to_attack": int(overruled[approach].sum()), "agent_decisions_unable_to_attack":
             int(approach.sum()),
             "episode_env_steps": episode_steps, "playout_env_steps": playout_steps,
             # seconds the processes spent on the chunks (compiling included); None when a chunk predates the timer
             "chunk_process_s": (round(float(sum(chunks[c]["wall_s"][0] for c in order)), 1)
                                 if all("wall_s" in chunks[c] for c in order) else None)}
    return data, stats


def improve_teacher(ref: str, out: str | Path, cfg: ImproveConfig, jobs: int = 1, eval_episodes: int = 100,
                    privileged: bool = False, search_dir: str | Path | None = None, command: str | None = None,
                    progress: Callable[[int, int, float], None] | None = None) -> tuple[Path, dict]:
    """Search with teacher ``ref``, distil the search into a copy of it, evaluate, save ``out`` + card.

    ``privileged=True`` distils into a privileged teacher (actors read the global state too); from a
    local ``ref`` it starts as that teacher widened with zero weights on the state (the same policy),
    and the search still plays ``ref``. The chunks stay in ``search_dir`` (default ``OUT.search``), so
    another distillation of the same search costs no search. ``progress(done_chunks, total_chunks,
    planner_win_rate)`` is called as chunks finish.
    """
    path, source, base_card, task_id = _check_source(ref)
    prior_stages, init = lineage(ref, path, base_card)
    if privileged and source.view != PRIVILEGED:
        spec = get_task(task_id).spec
        view = get_task(task_id).views()[PRIVILEGED]
        policy = TeacherPolicy(view.obs_dims, spec.n_actions, spec.state_dim, source.actor_hidden,
                               source.critic_hidden, source.activation, view=PRIVILEGED)
        widen_for_state(policy, source)
    else:
        policy = copy.deepcopy(source)
    started = time.monotonic()
    data, planner = search(task_id, source, init["sha256"], cfg, search_dir or default_search_dir(out), jobs, progress)
    search_s = time.monotonic() - started

    # ---- distil and evaluate
    started = time.monotonic()
    fit = distil(policy, data, cfg)
    distil_s = time.monotonic() - started
    eval_seed = 10_000 + cfg.seed
    ev = card_eval(policy, task_id, eval_episodes, eval_seed)

    # ---- card
    command = command or f"kdmarl-bench improve-teacher {ref}"
    stage = {"command": command, "algorithm": "rollout-improvement", "config": dataclasses.asdict(cfg),
             "env_steps": planner["episode_env_steps"], "playout_env_steps": planner["playout_env_steps"],
             "wall_s": round(search_s + distil_s, 1), "search_wall_s": round(search_s, 1), "jobs": jobs,
             "eval_score": ev["score"]}
    card = {k: v for k, v in base_card.items() if k not in ("architecture", "card_version", "stages", "init", "improve")}
    card.update({
        "algorithm": ALGORITHM,
        "teacher_kind": "privileged" if policy.view == PRIVILEGED else "local",
        "env_steps": (base_card.get("env_steps") or 0) + planner["episode_env_steps"],
        "eval": ev,
        "init": init,
        "stages": [*prior_stages, stage],
        "improve": {"config": dataclasses.asdict(cfg), "planner": planner, "distil": {**fit, "wall_s": round(distil_s, 1)}},
        "software": {"kdmarl_bench": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "command": command,
    })
    return save_checkpoint(policy, out, card), card
