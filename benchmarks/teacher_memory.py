"""Does a recurrent actor lift the smax/3m teacher? A probe, not a trainer of the zoo.

When it was written, every feed-forward MAPPO teacher of smax/3m here plateaued at 0.93-0.95 greedy on
fresh episodes, while a one-step search on top of one wins 0.992 (``kdmarl-bench improve-teacher``),
and published MAPPO, whose actor is a GRU, reaches ~1.0 on SMAC 3m. This script asks whether memory is
the missing piece: it trains the same MAPPO twice, once with a feed-forward actor and once with a GRU
actor, and scores each greedy on fresh episodes.

The trainer is ``kdmarl_bench/teachers/jax_mappo.py`` (``train-teacher --trainer jax``: SMAX, the nets
and PPO in one jitted JAX program, ~8-13k env-steps/s on one core), run here with the probe's own
defaults (``PROBE_DEFAULTS``: the committed runs were made with them) and a GRU option. What the
policies see is what the project's teachers see (``kdmarl_bench.envs.smax``): each agent's SMAX
observation with its one-hot id, the available-actions mask, and for the centralized critic the
scaled global state. The reward is the env's plus ``--win-bonus`` on a winning step. The result is a
paired comparison within this trainer (a recurrent teacher would change how teachers are stored,
queried by the distillation methods and exported).

    python benchmarks/teacher_memory.py --actor ff  --out benchmarks/data/teacher_memory/ff128
    python benchmarks/teacher_memory.py --actor gru --out benchmarks/data/teacher_memory/gru128 --lr 1e-3

``OUT.json`` gets the config, the greedy win rate every ``--eval-every`` updates (``--eval-episodes``
fresh episodes each) and at the end over 1000 episodes; ``--save-weights`` also writes ``OUT.npz``.
One core each: set ``XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"``
and pin two runs to the two cores (``taskset -c 0`` / ``-c 1``).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
from pathlib import Path

import jax
import numpy as np

from kdmarl_bench.safeio import write_bytes_atomic, write_json_atomic
from kdmarl_bench.teachers.jax_mappo import ACTORS, JaxMappoConfig, Program, build, train_jax

FINAL_EPISODES = 1000
FINAL_EVAL_SEED = 123_456
PROBE_DEFAULTS = dict(lr=5e-4, clip=0.2, ent=0.005, max_grad_norm=0.5, win_bonus=2.0)
"""Where the probe's defaults differ from ``JaxMappoConfig``'s (JaxMARL's published settings): the
committed runs were made with these."""


def probe_config(**settings) -> JaxMappoConfig:
    """The trainer's settings for a probe run: ``PROBE_DEFAULTS`` under ``settings``."""
    return JaxMappoConfig(**{**PROBE_DEFAULTS, **settings})


def program(cfg: JaxMappoConfig, map_name: str = "3m") -> Program:
    return build(cfg, map_name)


# ---------------------------------------------------------------------------------------------
# the run


def train(cfg: JaxMappoConfig, out: Path, map_name: str = "3m", eval_every: int = 50, eval_episodes: int = 256,
          save_weights: bool = False, final_episodes: int = FINAL_EPISODES, log=print) -> dict:
    """Train (``train_jax``), scoring greedy every ``eval_every`` updates; write ``out.json`` (and
    ``out.npz``); return the result."""
    config = {"map_name": map_name, **dataclasses.asdict(cfg)}
    config.pop("privileged")  # the probe's actors read no global state
    result = {"config": config, "curve_columns": ["env_steps", "greedy_win_rate"], "curve": [],
              "eval_episodes": eval_episodes}
    steps_per_update = cfg.num_envs * cfg.rollout_len

    def on_log(t):
        log(f"update {t.updates}/{cfg.num_updates()} · {t.env_steps:,} env-steps · train win rate {t.win_rate:.3f} · "
            f"entropy {t.losses['entropy']:.3f} · {t.env_steps / t.wall_s:,.0f} env-steps/s")

    def on_params(updates, params, program_evaluate):
        score = float(program_evaluate(params, jax.random.PRNGKey(7_000 + updates - 1), eval_episodes))
        result["curve"].append([updates * steps_per_update, score])
        log(f"greedy win rate at {updates * steps_per_update:,} env-steps: {score:.3f} ({eval_episodes} episodes)")

    run = train_jax(cfg, map_name, on_log, on_params=on_params, params_every=eval_every)
    result["final_episodes"] = final_episodes
    result["final_greedy_win_rate"] = float(run.evaluate(run.params, jax.random.PRNGKey(FINAL_EVAL_SEED),
                                                         final_episodes))
    result["env_steps"] = run.log.env_steps
    result["wall_s"] = round(run.log.wall_s, 1)
    log(f"final greedy win rate over {final_episodes} episodes: {result['final_greedy_win_rate']:.3f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out.with_suffix(".json"), result)
    if save_weights:
        flat = jax.tree_util.tree_flatten_with_path(run.params)[0]
        buf = io.BytesIO()
        np.savez(buf, **{"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(v) for path, v in flat})
        write_bytes_atomic(out.with_suffix(".npz"), buf.getvalue())
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--map-name", default="3m")
    defaults = probe_config()
    for f in dataclasses.fields(JaxMappoConfig):
        if f.name == "privileged":
            continue
        ap.add_argument("--" + f.name.replace("_", "-"), type=int if f.type == "bool" else type(f.default),
                        default=getattr(defaults, f.name), **({"choices": list(ACTORS)} if f.name == "actor" else {}))
    ap.add_argument("--out", type=Path, required=True, help="output stem (OUT.json, OUT.npz)")
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--eval-episodes", type=int, default=256)
    ap.add_argument("--save-weights", action="store_true")
    args = vars(ap.parse_args())
    out, every, n, save = args.pop("out"), args.pop("eval_every"), args.pop("eval_episodes"), args.pop("save_weights")
    map_name = args.pop("map_name")
    cfg = probe_config(**{k: (bool(v) if k == "anneal" else v) for k, v in args.items()})
    train(cfg, out, map_name, every, n, save, log=lambda s: print(s, flush=True))


if __name__ == "__main__":
    main()
