"""``kdmarl-bench train-teacher`` (stage 1, a MAPPO teacher for one task) and ``improve-teacher`` (search, then
distil the search back into a SMAX teacher)."""

from __future__ import annotations

import os
import shlex

import click

from kdmarl_bench.commands.common import CliError, echo_json, handle_errors, stderr_console, stdout_console
from kdmarl_bench.suite_tables import max_threads


@click.command("train-teacher")
@click.argument("task")
@click.option("--steps", type=click.IntRange(min=1), default=1_000_000, show_default=True, help="Env-steps to train for.")
@click.option("--seed", type=click.IntRange(min=0, max=2**31 - 1), default=0, show_default=True,
              help="Seed of network init, env resets and action sampling.")
@click.option("--out", type=click.Path(), default=None, help="Checkpoint path stem (default: teachers/<task>/seed<S>).")
@click.option("--trainer", type=click.Choice(["torch", "jax"]), default="torch", show_default=True,
              help="torch: MAPPO in torch on any task (--init, any widths). jax: SMAX only, env + nets + PPO in one "
                   "jitted JAX program (~8x faster; JaxMARL's published settings by default: lr 2e-3, clip 0.05, "
                   "128 envs x 128 steps, actor 128,128 and critic 256,256; the actor's widths must be equal).")
@click.option("--hidden", default=None,
              help="Hidden widths: actor and critic for torch (default 512,512,512), the actor for jax (default 128,128).")
@click.option("--lr", type=float, default=None, help="Learning rate (default: per env family).")
@click.option("--num-envs", type=click.IntRange(min=1), default=None, help="Parallel envs (default: per family).")
@click.option("--rollout-len", type=click.IntRange(min=1), default=None,
              help="Env-steps per env between updates (default: per family).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="PPO epochs over each rollout (default: per family).")
@click.option("--ent-coef", type=float, default=None, help="Entropy bonus coefficient (default: per family).")
@click.option("--win-bonus", type=click.FloatRange(min=0.0), default=None,
              help="Extra training reward for winning an episode (tasks with a win only; default 0). "
                   "The card's score always uses the env's own reward.")
@click.option("--eval-episodes", type=click.IntRange(min=1), default=100, show_default=True,
              help="Greedy episodes for the score on the card.")
@click.option("--threads", type=click.IntRange(min=1, max=max_threads()), default=None,
              help="torch CPU threads (--trainer jax: 1 pins XLA to one thread, for two runs side by side).")
@click.option("--checkpoint-every", type=click.IntRange(min=0), default=20, show_default=True,
              help="Write a training snapshot (OUT.train.safetensors) every N updates; 0 = never.")
@click.option("--resume", is_flag=True, help="Continue from OUT.train.safetensors (same options as the interrupted run).")
@click.option("--init", "init", default=None, metavar="REF",
              help="Warm-start from this teacher (zoo:TASK or a checkpoint path): its weights, a fresh optimizer "
                   "and a fresh --steps schedule; the card lists every stage.")
@click.option("--privileged", is_flag=True,
              help="Train the centralized expert: each actor also sees the global state (teacher kind 'privileged'). "
                   "With --init from a local teacher, training starts from that teacher's policy.")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON on stdout.")
@handle_errors
def train_teacher_cmd(task, steps, seed, out, trainer, hidden, lr, num_envs, rollout_len, epochs, ent_coef, win_bonus,
                      eval_episodes, threads, checkpoint_every, resume, init, privileged, as_json):
    """Train a centralized MAPPO teacher for TASK and save checkpoint + card."""
    if trainer == "jax" and threads == 1:
        # Before jax is imported (it reads the flags once): one XLA thread, as the zoo's JAX teachers were trained.
        _pin_xla_to_one_thread()
    import torch
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    # torch: loaded when this command runs, not at the CLI's start-up
    from kdmarl_bench.envs import get_task
    from kdmarl_bench.teachers.jax_mappo import JaxMappoConfig, train_jax_teacher
    from kdmarl_bench.teachers.train import train_teacher

    spec = get_task(task).spec
    hidden = hidden or ("512,512,512" if trainer == "torch" else "128,128")
    try:
        widths = tuple(int(h) for h in hidden.split(","))
        assert widths and all(w > 0 for w in widths)
    except (ValueError, AssertionError) as exc:
        raise CliError(f"--hidden: expected comma-separated positive integers, got {hidden!r}") from exc
    if trainer == "jax":
        if len(set(widths)) != 1:
            raise CliError(f"--hidden {hidden}: the JAX trainer's actor has equal widths (e.g. 128,128)")
    if threads:
        torch.set_num_threads(threads)
    out = out or f"teachers/{task.replace('/', '_')}/seed{seed}"
    command = _command_line(click.get_current_context())

    err = stderr_console()
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} steps"),
        TextColumn("{task.fields[rate]:,.0f} steps/s"), TextColumn("{task.fields[stat]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=err,
    ) as bar:
        job = bar.add_task(task, total=steps, rate=0.0, stat="")
        next_line = [0]

        def on_log(log):
            stat = f"return {log.episode_return:.3f}"
            if log.win_rate is not None:
                stat += f" win {log.win_rate:.2f}"
            rate = log.env_steps / max(log.wall_s, 1e-9)
            bar.update(job, completed=min(log.env_steps, steps), rate=rate, stat=stat)
            # A log file gets no live bar: write a plain line every 5% instead.
            if not err.is_terminal and log.env_steps >= next_line[0]:
                err.print(f"{log.env_steps:,}/{steps:,} steps · {rate:,.0f} steps/s · {stat} · {log.wall_s:.0f}s")
                next_line[0] = log.env_steps + steps // 20

        try:
            if trainer == "jax":
                given = dict(lr=lr, num_envs=num_envs, rollout_len=rollout_len, epochs=epochs, ent=ent_coef,
                             win_bonus=win_bonus)
                cfg = JaxMappoConfig(hidden=widths[0], layers=len(widths), total_steps=steps, seed=seed,
                                     privileged=privileged, **{k: v for k, v in given.items() if v is not None})
                path, card = train_jax_teacher(task, cfg, out, eval_episodes=eval_episodes, progress=on_log,
                                               command=command, checkpoint_every=checkpoint_every, resume=resume,
                                               init=init)
            else:
                path, card = train_teacher(
                    task, steps, seed, out, hidden=widths, eval_episodes=eval_episodes, progress=on_log,
                    command=command, lr=lr, num_envs=num_envs, rollout_len=rollout_len, epochs=epochs,
                    ent_coef=ent_coef, win_bonus=win_bonus, checkpoint_every=checkpoint_every, resume=resume,
                    init=init, privileged=privileged,
                )
        except KeyboardInterrupt:
            # torch: loaded when this command runs, not at the CLI's start-up
            from kdmarl_bench.teachers.train import snapshot_path

            snap = snapshot_path(out)
            how = (f"the last training snapshot is {snap}; run the same command with --resume to continue"
                   if checkpoint_every and snap.exists() else "no training snapshot was written yet")
            raise CliError(f"interrupted: {how}", exit_code=130) from None
    if as_json:
        echo_json({"checkpoint": str(path), "card": card})
        return
    ev = card["eval"]
    lo, hi = ev["score_ci95"]
    score = (f"win rate {ev['win_rate']:.3f} [95% CI {lo:.3f}, {hi:.3f}]" if spec.has_win
             else f"mean return {ev['mean_return']:.2f} [95% CI {lo:.2f}, {hi:.2f}]")
    stdout_console().print(
        f"[green]saved[/] {path}  ({score} over {ev['episodes']} greedy episodes; "
        f"{card['env_steps']:,} steps in {card['train']['wall_s']:.0f}s)"
    )


@click.command("improve-teacher")
@click.argument("teacher")
@click.option("--out", type=click.Path(), required=True, help="Checkpoint path stem of the improved teacher.")
@click.option("--episodes", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Planner episodes whose decisions are labelled (a multiple of --chunk).")
@click.option("--chunk", type=click.IntRange(min=1), default=50, show_default=True,
              help="Episodes per chunk file: the unit of resuming and of the work given to a process.")
@click.option("--rollouts", type=click.IntRange(min=1), default=32, show_default=True,
              help="Playouts per (agent, action) in the search.")
@click.option("--margin", type=click.FloatRange(min=0.0, max=1.0), default=0.15, show_default=True,
              help="Win rate by which an action must beat the teacher's in the search.")
@click.option("--verify-rollouts", type=click.IntRange(min=1), default=256, show_default=True,
              help="Fresh playouts that re-score each candidate against the teacher's action.")
@click.option("--verify-margin", type=click.FloatRange(min=0.0, max=1.0), default=0.05, show_default=True,
              help="Win rate by which a candidate must still win on the fresh playouts to overrule the teacher.")
@click.option("--lr", type=click.FloatRange(min=0.0, min_open=True), default=3e-5, show_default=True,
              help="Learning rate of the distillation.")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True, help="Distillation epochs.")
@click.option("--switch-weight", type=click.FloatRange(min=0.0), default=5.0, show_default=True,
              help="Loss weight of a decision where the planner overruled the teacher.")
@click.option("--seed", type=click.IntRange(min=0, max=2**31 - 1), default=0, show_default=True,
              help="Seed of the episodes, the playouts and the distillation.")
@click.option("--privileged", is_flag=True,
              help="Distil into a privileged teacher (its actors also read the global state); a local TEACHER is "
                   "widened first, so the search still plays TEACHER.")
@click.option("--search-dir", type=click.Path(), default=None,
              help="Folder of the search's chunks (default: OUT.search); a re-run with the same teacher and search "
                   "settings reuses them, so an interrupted search resumes and another distillation costs no search.")
@click.option("--jobs", type=click.IntRange(min=1, max=max_threads()), default=1, show_default=True,
              help="Processes playing search chunks side by side.")
@click.option("--eval-episodes", type=click.IntRange(min=1), default=100, show_default=True,
              help="Greedy episodes for the score on the card.")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON on stdout.")
@handle_errors
def improve_teacher_cmd(teacher, out, episodes, chunk, rollouts, margin, verify_rollouts, verify_margin, lr, epochs,
                        switch_weight, seed, privileged, search_dir, jobs, eval_episodes, as_json):
    """Improve a SMAX TEACHER by search: plan with rollouts of it, then distil the plans back into it.

    TEACHER is zoo:TASK or a checkpoint path. Each decision of the planner first plays the teacher's
    own joint action out --rollouts times; where that can lose, it tries every action of every agent
    the same way and overrules the teacher only where an action wins clearly more (re-scored on
    --verify-rollouts fresh playouts). The teacher's actors are then fine-tuned on the planner's
    decisions. The card lists the stage, the planner's win rate and how often it overruled.
    """
    from kdmarl_bench.teachers.improve import ImproveConfig, improve_teacher

    cfg = ImproveConfig(episodes=episodes, chunk=chunk, rollouts=rollouts, margin=margin,
                        verify_rollouts=verify_rollouts, verify_margin=verify_margin, lr=lr, epochs=epochs,
                        switch_weight=switch_weight, seed=seed)
    err = stderr_console()

    def on_chunk(done: int, total: int, win_rate: float) -> None:
        if done:
            err.print(f"search: {done}/{total} chunks · planner win rate {win_rate:.3f}")

    try:
        path, card = improve_teacher(teacher, out, cfg, jobs=jobs, eval_episodes=eval_episodes, privileged=privileged,
                                     search_dir=search_dir, command=_command_line(click.get_current_context()),
                                     progress=on_chunk)
    except KeyboardInterrupt:
        raise CliError("interrupted: the finished search chunks are kept; run the same command to continue",
                       exit_code=130) from None
    if as_json:
        echo_json({"checkpoint": str(path), "card": card})
        return
    ev, planner = card["eval"], card["improve"]["planner"]
    lo, hi = ev["score_ci95"]
    stdout_console().print(
        f"[green]saved[/] {path}  (win rate {ev['win_rate']:.3f} [95% CI {lo:.3f}, {hi:.3f}] over {ev['episodes']} greedy "
        f"episodes; the planner won {planner['win_rate']:.3f} of {planner['episodes']} and overruled "
        f"{planner['overruled_agent_decisions']} of {planner['agent_decisions']} agent decisions)"
    )


def _pin_xla_to_one_thread() -> None:
    """XLA on one CPU thread (set before jax is imported; a no-op once it is)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()


def _command_line(ctx: click.Context) -> str:
    """The command as the user gave it, rebuilt from the parsed parameters (not sys.argv,
    which is the test runner's under CliRunner); defaults are left out."""
    from click.core import ParameterSource

    words = ["kdmarl-bench", ctx.info_name or "train-teacher"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif ctx.get_parameter_source(param.name) not in (ParameterSource.DEFAULT, None):
            if param.is_flag:
                if value:
                    words.append(param.opts[0])
            else:
                words += [param.opts[0], str(value)]
    return " ".join(shlex.quote(w) for w in words)


COMMANDS = [train_teacher_cmd, improve_teacher_cmd]
