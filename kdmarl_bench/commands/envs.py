"""``kdmarl-bench envs``: list every task, its dimensions and whether it runs here."""

from __future__ import annotations

import click

from kdmarl_bench.commands.common import echo_json, handle_errors, stdout_console
from kdmarl_bench.results.render.fit import print_fitted
from kdmarl_bench.results.render.terminal import envs_table


@click.command("envs")
@click.option("--family", default=None, metavar="NAME", help="Only this env family (mpe, smax, smacv2; every family "
              "module registers itself).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def envs_cmd(family, as_json):
    """List the tasks: agents, obs dims, state dim, actions, episode limit, metric, bundled teachers, the
    students' observation views (``--json``: every view with each agent's student and teacher observation
    sizes), availability."""
    # torch: loaded when this command runs, not at the CLI's start-up
    from kdmarl_bench.envs import all_tasks
    from kdmarl_bench.teachers.zoo import zoo_teachers

    if family is not None:
        # torch: loaded when this command runs, not at the CLI's start-up
        from kdmarl_bench.envs.family import get_family

        get_family(family, "--family")  # an unknown name: "did you mean" and the families
    zoo = zoo_teachers()
    rows = []
    for task in all_tasks():
        spec = task.spec
        if family and spec.family != family:
            continue
        why = task.availability()
        teacher = zoo.get(spec.id)
        expert = zoo.get(f"{spec.id}@privileged")
        views = [v.to_dict(spec.obs_dims) for v in task.views().values()]
        rows.append({**spec.to_dict(), "available": why is None, "unavailable_reason": why,
                     "zoo_teacher": None if teacher is None else {
                         "ref": f"zoo:{spec.id}", "score": teacher.score, "metric": spec.metric,
                         "env_steps": teacher.env_steps},
                     "zoo_privileged_teacher": None if expert is None else {
                         "ref": f"zoo:{spec.id}@privileged", "score": expert.score, "metric": spec.metric,
                         "env_steps": expert.env_steps},
                     "views": views})
    if as_json:
        echo_json(rows)
        return


    def dims(v):
        """Sizes per agent, runs of equal sizes as ``size×count`` (27 agents stay short)."""
        if len(set(v)) == 1:
            return str(v[0])
        runs: list[list[int]] = []
        for d in v:
            if runs and runs[-1][0] == d:
                runs[-1][1] += 1
            else:
                runs.append([d, 1])
        return "/".join(f"{d}×{n}" if n > 1 else str(d) for d, n in runs)

    def teacher_cell(t, metric):
        if t is None:
            return "-"
        return f"{t['score']:.0%}" if metric == "win_rate" else f"{t['score']:.2f}"

    def teacher_cells(r):
        local = teacher_cell(r["zoo_teacher"], r["metric"])
        if r["zoo_privileged_teacher"] is None:
            return local
        return f"{local} (+priv {teacher_cell(r['zoo_privileged_teacher'], r['metric'])})"

    def views_cell(r):
        limited = [v for v in r["views"] if v["limited"]]
        return " ".join(f"{v['name']}:{dims(v['obs_dims'])}" for v in limited) or "-"

    reasons: dict[str, str] = {}
    cells = []
    for r in rows:
        if r["available"]:
            avail = "[green]yes[/]"
        else:  # one footnote per distinct reason, so the table stays narrow
            mark = reasons.setdefault(r["unavailable_reason"], f"[{len(reasons) + 1}]")
            avail = f"[red]no[/] {mark}"
        cells.append([r["id"], str(r["n_agents"]), dims(r["obs_dims"]), str(r["state_dim"]), dims(r["n_actions"]),
                      str(r["episode_limit"]), r["metric"], teacher_cells(r), views_cell(r), avail])
    con = stdout_console()
    print_fitted(con, [envs_table("kdmarl-bench tasks (teacher: the bundled zoo teacher's greedy score; views: "
                                  "students' observation sizes beyond full)", cells, con.width)])
    for reason, mark in reasons.items():
        con.print(f"{mark} {reason}", highlight=False, markup=False)


COMMANDS = [envs_cmd]
