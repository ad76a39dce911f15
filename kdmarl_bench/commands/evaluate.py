"""``kdmarl-bench evaluate``: score a policy (random, a checkpoint, or a zoo teacher)."""

from __future__ import annotations

import click

from kdmarl_bench.commands.common import CliError, echo_json, handle_errors, progress_bar, stdout_console
from kdmarl_bench.results.analysis.stats import mean_ci


@click.command("evaluate")
@click.argument("checkpoint", required=False)
@click.option("--task", "task_id", default=None,
              help="Task id, e.g. smax/3m, or TASK@VIEW as tables print it (the same as --view VIEW; default: the "
                   "checkpoint's task).")
@click.option("--policy", type=click.Choice(["random"]), default=None, help="Evaluate a built-in policy instead.")
@click.option("--episodes", type=click.IntRange(min=1), default=None, help="Episodes (default: the env family's protocol, 128 SMAX, 32 SMACv2, 100 MPE).")
@click.option("--seed", type=click.IntRange(min=0, max=2**31 - 1), default=0, show_default=True, help="Eval seed.")
@click.option("--num-envs", type=click.IntRange(min=1), default=None, help="Parallel env copies.")
@click.option("--view", "view_name", default=None,
              help="Observation view (default: the one the checkpoint was trained on; another one is refused).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output with per-episode scores.")
@handle_errors
def evaluate_cmd(checkpoint, task_id, policy, episodes, seed, num_envs, view_name, as_json):
    """Evaluate CHECKPOINT (a .safetensors path or zoo:TASK), or --policy random.

    A checkpoint is played greedy and then sampling its actions, on the same episodes' starts (the
    same eval seed). Prints each mean score with a 95% bootstrap CI over episodes, and the win rate
    where the task has one.
    """
    # torch: loaded when this command runs, not at the CLI's start-up
    from kdmarl_bench.envs import get_task
    from kdmarl_bench.evaluate import evaluate

    if (checkpoint is None) == (policy is None):
        raise CliError("give either a CHECKPOINT (path or zoo:TASK) or --policy random")
    if task_id is not None and "@" in task_id:  # TASK@VIEW, the task identity tables print
        task_id, _, at_view = task_id.partition("@")
        if view_name is not None and view_name != at_view:
            raise CliError(f"--task {task_id}@{at_view} and --view {view_name} name different views")
        view_name = at_view
    pol = None
    source = "random"
    if checkpoint is not None:
        # torch: loaded when this command runs, not at the CLI's start-up
        from kdmarl_bench.teachers.zoo import load_policy_ref

        pol, card = load_policy_ref(checkpoint)
        source = checkpoint
        # torch: loaded when this command runs, not at the CLI's start-up
        from kdmarl_bench.checkpoint import check_dims

        # The card's task is checked against the weights too: a card may name a task its network cannot play.
        where = "--task" if task_id is not None else f"{checkpoint}: card field 'task'"
        task_id = task_id or card["task"]
        check_dims(card, get_task(task_id, where).spec, checkpoint)
        # torch: loaded when this command runs, not at the CLI's start-up
        from kdmarl_bench.envs.registry import get_view
        from kdmarl_bench.envs.views import check_view

        if view_name is not None:
            get_view(task_id, view_name, "--view")  # an unknown name: "did you mean" and the task's views
        check_view(pol.view, view_name, checkpoint)
    elif view_name is not None:
        raise CliError("--view applies to a checkpoint; a random policy ignores observations")
    if task_id is None:
        raise CliError("--task is required with --policy random")
    spec = get_task(task_id, "--task").spec
    episodes = episodes or get_task(task_id).family.eval_episodes
    with progress_bar(f"evaluate {task_id}", episodes, "episodes") as update:
        result = evaluate(pol, task_id, episodes, seed, num_envs=num_envs, progress=update)
    if pol is not None:  # the same starts, sampling actions: a near-tie shows as a gap between the two
        with progress_bar(f"evaluate {task_id} (sampled)", episodes, "episodes") as update:
            result.sampled = evaluate(pol, task_id, episodes, seed, greedy=False, num_envs=num_envs, progress=update)
    mean, lo, hi = mean_ci(result.episode_scores, random_state=seed)
    out = {"policy": source, "greedy": pol is not None, **result.to_dict(), "score_ci95": [lo, hi]}
    if result.sampled is not None:
        s_mean, s_lo, s_hi = mean_ci(result.sampled.episode_scores, random_state=seed)
        out["score_sampled_ci95"] = [s_lo, s_hi]
    if as_json:
        echo_json(out)
        return
    label = "win rate" if spec.metric == "win_rate" else "mean team return"
    mode = "uniform over available actions" if pol is None else "greedy"
    shown = task_id if pol is None or pol.view == "full" else f"{task_id}@{pol.view}"
    msg = f"{shown} · {source} · {episodes} episodes (seed {seed}, {mode}): {label} {mean:.3f} [95% CI {lo:.3f}, {hi:.3f}]"
    if spec.metric == "win_rate":
        msg += f" · mean return {out['mean_return']:.3f}"
    if result.sampled is not None:
        msg += f"\n  sampled: {label} {s_mean:.3f} [95% CI {s_lo:.3f}, {s_hi:.3f}]"
    stdout_console().print(msg, highlight=False)


COMMANDS = [evaluate_cmd]
