"""``kdmarl-bench envs``: list every task, its dimensions and whether it runs here."""

from __future__ import annotations

import click

from kdmarl_bench.commands.common import echo_json, handle_errors, stdout_console


@click.command("envs")
@click.option("--family", type=click.Choice(["mpe", "smax", "smacv2"]), default=None, help="Only this env family.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def envs_cmd(family, as_json):
    """List the tasks: agents, obs dims, state dim, actions, episode limit, metric, availability."""
    from kdmarl_bench.envs import all_tasks

    rows = []
    for task in all_tasks():
        spec = task.spec
        if family and spec.family != family:
            continue
        rows.append({**spec.to_dict(), "available": task.available})
    if as_json:
        echo_json(rows)
        return

    from rich.table import Table

    table = Table(title="kdmarl-bench tasks")
    for col in ("id", "agents", "obs dims", "state", "actions", "limit", "metric", "available"):
        table.add_column(col, justify="left" if col in ("id", "metric") else "right", no_wrap=True)

    def dims(v):
        return str(v[0]) if len(set(v)) == 1 else "/".join(map(str, v))

    for r in rows:
        table.add_row(r["id"], str(r["n_agents"]), dims(r["obs_dims"]), str(r["state_dim"]), dims(r["n_actions"]),
                      str(r["episode_limit"]), r["metric"], "[green]yes[/]" if r["available"] else "[red]no[/]")
    stdout_console().print(table)


COMMANDS = [envs_cmd]
