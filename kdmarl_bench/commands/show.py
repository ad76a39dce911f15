"""``kdmarl-bench show``: a leaderboard's results table, from a board file or a run directory."""

from __future__ import annotations

from pathlib import Path

import click

from kdmarl_bench.commands.common import echo_json, handle_errors, print_verdict, stdout_console
from kdmarl_bench.errors import UsageError
from kdmarl_bench.registry import suggest
from kdmarl_bench.results.analysis.headline import headline, headline_dicts
from kdmarl_bench.results.render.fit import print_fitted, print_markdown_fitted
from kdmarl_bench.results.render.markdown import headline_markdown
from kdmarl_bench.results.render.terminal import agents_table, print_leaderboard
from kdmarl_bench.results.render.text import agents_rows, task_label, verdict_lines
from kdmarl_bench.results.store.boards import read_leaderboard


@click.command("show")
@click.argument("leaderboard", metavar="LEADERBOARD|RUN_DIR", type=click.Path(path_type=Path, dir_okay=True))
@click.option("--summary", is_flag=True,
              help="Instead of every row: the focus method against the best action-imitation baseline per task (the headline: regime, PoI, the claim).")
@click.option("--task", "tasks", multiple=True, metavar="TASK",
              help="Only this task (repeatable): TASK or TASK@VIEW as the table shows it (smax/3m@hetero).")
@click.option("--method", "methods", multiple=True, metavar="METHOD", help="Only this method (repeatable).")
@click.option("--agents", is_flag=True,
              help="Per agent of each student of the --task tasks: hidden widths, params, FLOPs, weights "
                   "(heterogeneous students differ per agent).")
@click.option("--json", "as_json", is_flag=True, help="Print the selected summary rows (or headline rows) as JSON.")
@handle_errors
def show_cmd(leaderboard: Path, summary: bool, tasks: tuple[str, ...], methods: tuple[str, ...], agents: bool,
             as_json: bool):
    """Show the results table of LEADERBOARD (a leaderboard JSON, or a run directory holding one).

    The table fits the terminal: below 120 columns it is one table per task, and columns that
    do not fit are compacted (CIs left out) or hidden, with a note saying which.
    """
    board = read_leaderboard(leaderboard)
    labels = {task_label(s.task, s.view): s.task for s in board.summary}
    labels.update({t: t for t in board.tasks})  # the bare id names the task under whichever view it ran
    for opt, asked, have in (("--task", tasks, list(labels)), ("--method", methods,
                                                               list(dict.fromkeys(s.method for s in board.summary)))):
        for name in asked:
            if name not in have:
                shown = sorted({task_label(s.task, s.view) for s in board.summary}) if opt == "--task" else have
                raise UsageError(f"{leaderboard}: {opt} {name!r} is not on this board{suggest(name, list(shown))}; "
                                 f"valid choices: {', '.join(shown)}")
    tasks = tuple(dict.fromkeys(labels[t] for t in tasks))
    if agents:
        if not tasks:
            raise UsageError(f"--agents needs --task TASK (one of: {', '.join(sorted(labels))})")
        if as_json:
            echo_json({t: agents_rows(board, t) for t in tasks})
            return
        con = stdout_console()
        print_fitted(con, [agents_table(board, t, con.width) for t in tasks])
        return
    if summary:

        rows = [r for r in headline(board) if not tasks or r.task in tasks]
        if as_json:
            echo_json(headline_dicts(rows))
            return
        # The verdict in words first, then the headline fitted to the terminal like every other table.
        print_verdict(stdout_console(), verdict_lines(rows, str(leaderboard)))
        print_markdown_fitted(stdout_console(), headline_markdown(rows, board.focus))
        return
    if as_json:
        echo_json([s.to_dict() for s in board.ordered_summary()
                   if (not tasks or s.task in tasks) and (not methods or s.method in methods)])
        return
    print_leaderboard(stdout_console(), board, tasks, methods)


COMMANDS = [show_cmd]
