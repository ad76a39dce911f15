"""``kdmarl-bench profile``: FLOPs, params, memory and latency of one saved policy, per deployment path."""

from __future__ import annotations

import click

from kdmarl_bench.commands.common import CliError, echo_json, handle_errors, progress_bar, stdout_console
from kdmarl_bench.deploy_runtimes import runtimes
from kdmarl_bench.registry import suggest
from kdmarl_bench.results.render.fit import print_fitted
from kdmarl_bench.results.render.terminal import latency_notes, latency_table, profile_lines
from kdmarl_bench.suite_tables import batch_sizes_problem, threads_problem

DEFAULT_PATHS = "eager,torchscript"


def paths_help() -> str:
    """``--paths`` help from the runtime registry: every selectable path, and what an extra installs."""
    chosen = runtimes(selectable=True)
    names = ", ".join(f"{rt.name} ({rt.note})" if rt.note else rt.name for rt in chosen)
    extras = {}
    for rt in chosen:
        if rt.extra:
            extras.setdefault(rt.extra, []).append(rt.name)
    needs = " ".join(f"{'/'.join(group)} need `pip install 'kdmarl-bench[{extra}]'` (else exit 3)."
                     for extra, group in extras.items())
    return f"Deployment paths to time (1 thread, decentralized): {names}." + (f" {needs}" if needs else "")


def _parse_paths(paths: str, torchscript: bool | None) -> tuple[str, ...]:
    valid = [rt.name for rt in runtimes(selectable=True)]
    chosen = [p.strip() for p in paths.split(",") if p.strip()]
    for p in chosen:
        if p not in valid:
            raise CliError(f"--paths: unknown deployment path {p!r}{suggest(p, valid)}; "
                           f"valid choices: {', '.join(valid)}", 2)
    if torchscript is True and "torchscript" not in chosen:
        chosen.append("torchscript")
    elif torchscript is False:
        chosen = [p for p in chosen if p != "torchscript"]
    return tuple(dict.fromkeys(["eager", *chosen]))


@click.command("profile")
@click.argument("checkpoint")
@click.option("--iters", type=click.IntRange(min=10), default=1000, show_default=True,
              help="Timed team decisions per repeat.")
@click.option("--warmup", type=click.IntRange(min=0), default=100, show_default=True,
              help="Untimed team decisions before timing.")
@click.option("--threads", default="1,0", show_default=True, help="CPU thread counts (0 = all cores).")
@click.option("--batch", "batch_sizes", default="", help="Batched latency at these batch sizes, e.g. 32,1024.")
@click.option("--cuda/--no-cuda", default=True, show_default=True, help="Also time on CUDA when present.")
@click.option("--paths", default=DEFAULT_PATHS, show_default=True,
              help=paths_help())
@click.option("--torchscript/--no-torchscript", default=None, hidden=True,
              help="Deprecated: use --paths (adds / removes the torchscript path).")
@click.option("--recorded/--no-recorded", default=True, show_default=True,
              help="Also check exported paths against eager on observations recorded in the task's environment.")
@click.option("--json", "as_json", is_flag=True, help="Print cost, memory, the floor and latency entries as JSON.")
@handle_errors
def profile_cmd(checkpoint, iters, warmup, threads, batch_sizes, cuda, paths, torchscript, recorded, as_json):
    """Count FLOPs, memory and time CHECKPOINT (path or zoo:TASK) on each deployment path."""
    # torch: loaded when this command runs, not at the CLI's start-up
    from kdmarl_bench.profiling.deploy import recorded_observations, require_paths
    from kdmarl_bench.profiling.floor import machine_peak
    from kdmarl_bench.profiling.memory import memory_footprint
    from kdmarl_bench.profiling.policy import profile_policy
    from kdmarl_bench.teachers.zoo import load_policy_ref

    try:
        thread_list = tuple(int(t) for t in threads.split(",") if t.strip())
        batch_list = tuple(int(b) for b in batch_sizes.split(",") if b.strip())
    except ValueError as exc:
        raise CliError(f"--threads/--batch: expected comma-separated integers ({exc})") from exc
    for opt, problem in (("--threads", threads_problem(thread_list)), ("--batch", batch_sizes_problem(batch_list))):
        if problem:
            raise CliError(f"{opt}: {problem}")
    if torchscript is not None:
        click.echo("warning: --torchscript/--no-torchscript is deprecated; use --paths", err=True)
    path_list = _parse_paths(paths, torchscript)
    require_paths(path_list)  # exit 3 with the install command before any work
    with progress_bar("profile", None, "") as update:  # every step named while it runs: never silent
        def step(text: str) -> None:
            update(0, status=text)

        step(f"loading {checkpoint}")
        policy, card = load_policy_ref(checkpoint)
        observations = None
        if recorded and any(p != "eager" for p in path_list):
            # torch: loaded when this command runs, not at the CLI's start-up
            from kdmarl_bench.envs import get_task

            why = get_task(card["task"]).availability()
            if why is None:
                step(f"recording observations in {card['task']}")
                observations = recorded_observations(policy, card["task"])
            else:  # profiling needs no environment: check on random observations only, and say so
                click.echo(f"note: equivalence checked on random observations only ({card['task']}: {why})",
                           err=True)
        cost, latency = profile_policy(policy, iters=iters, warmup=warmup, threads=thread_list,
                                       batch_sizes=batch_list, cuda="auto" if cuda else "off", paths=path_list,
                                       recorded=observations, on_step=step)
        step("measuring memory and this machine's floor")
        memory = memory_footprint(policy.deploy_actors(), list(policy.obs_dims)).to_dict()
        peak = machine_peak().to_dict()
    out = {"checkpoint": checkpoint, "task": card["task"], "view": policy.view, "kind": card.get("kind"), "cost": cost,
           "memory": memory, "peak": peak, "latency": latency}
    if as_json:
        echo_json(out)
        return

    con = stdout_console()
    for line in profile_lines(out):
        con.print(line, highlight=False)
    print_fitted(con, [latency_table(latency, con.width)], latency_notes(latency))


COMMANDS = [profile_cmd]
