"""``kdmarl-bench run``: the whole benchmark for one suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from kdmarl_bench.commands.common import CliError, echo_json, handle_errors, stderr_console, stdout_console
from kdmarl_bench.errors import TrainingError

_MAX_THREADS = 4 * (os.cpu_count() or 1)  # as suite.max_threads(); more oversubscribes and can crash torch


@click.command("run")
@click.argument("suite_path", metavar="SUITE")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Results directory (default: runs/<suite name>). Re-running resumes it.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Training device.")
@click.option("--threads", type=click.IntRange(min=1, max=_MAX_THREADS), default=1, show_default=True,
              help="torch CPU threads for training (JAX keeps its own pool; more threads oversubscribe small CPUs).")
@click.option("--leaderboard", "leaderboard_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write the leaderboard (default: OUT/leaderboard.json).")
@click.option("--task", "only_tasks", multiple=True, metavar="TASK",
              help="Run only this task of the suite (repeatable): split a suite across processes; "
                   "a later run without --task reuses their finished cells.")
@click.option("--retry-failed", is_flag=True, help="Re-run cells that finished with an error (e.g. NaN loss).")
@click.option("--json", "as_json", is_flag=True, help="Print the leaderboard JSON on stdout instead of the table.")
@handle_errors
def run_cmd(suite_path, out_dir, device, threads, leaderboard_path, only_tasks, retry_failed, as_json):
    """Run SUITE: obtain teachers, distill students, evaluate, profile, write a leaderboard.

    Every finished cell is saved at once; re-running the same command skips them, so an
    interrupted run (Ctrl-C, kill) resumes where it stopped.
    """
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kdmarl_bench.commands.common import set_crash_dir
    from kdmarl_bench.results.render import leaderboard_table
    from kdmarl_bench.runner import RunEvents, run_suite
    from kdmarl_bench.suite import load_suite

    suite = load_suite(suite_path)
    if only_tasks:
        suite = suite.only_tasks(only_tasks)
    out_dir = out_dir or f"runs/{suite.name}"
    set_crash_dir(Path(out_dir) / "logs")  # an unexpected error's traceback goes beside the results
    torch.set_num_threads(threads)
    err = stderr_console()
    err.print(f"[bold]suite[/] {suite.name} v{suite.version} → {out_dir}")

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=err) as bar:
        overall = bar.add_task("cells", total=None, status="")

        def on_plan(total, finished):
            bar.update(overall, total=total, completed=0)
            if finished:
                err.print(f"resuming: {finished}/{total} cells already finished")

        def on_cell_start(cell):
            bar.update(overall, status=cell.label())

        def on_cell_done(cell, rec, cached):
            bar.advance(overall)
            if not cached:
                if rec.get("error"):
                    err.print(f"[red]failed[/] {cell.label()}: {rec['error'].splitlines()[0]}")
                else:
                    err.print(f"[green]done[/] {cell.label()}: score {rec['score']:.3f}")

        def on_train(cell, steps, metrics):
            bar.update(overall, status=f"{cell.label()} · {steps:,}/{cell.env_steps:,} steps")

        events = RunEvents(on_plan=on_plan, on_cell_start=on_cell_start, on_cell_done=on_cell_done,
                           on_train_progress=on_train, on_message=err.print)
        try:
            board, path = run_suite(suite, out_dir, device, events, retry_failed, leaderboard_path)
        except KeyboardInterrupt:
            raise CliError(f"interrupted: finished cells are saved in {out_dir}; run the same command to resume",
                           exit_code=130) from None

    failed = [r for r in board["records"] if r.get("error")]
    if as_json:
        echo_json(board)
    else:
        stdout_console().print(leaderboard_table(board))
    if failed:
        err.print(f"[yellow]{len(failed)} cell(s) failed; see 'error' in {path} (re-run with --retry-failed)")
    err.print(f"leaderboard: {path}")
    if failed:  # everything that finished is written; the exit code says not all did
        sys.exit(TrainingError.exit_code)


COMMANDS = [run_cmd]
