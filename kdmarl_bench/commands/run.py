"""``kdmarl-bench run``: the whole benchmark for one suite."""

from __future__ import annotations

import sys

import click

from kdmarl_bench.commands.common import (
    CliError,
    echo_json,
    handle_errors,
    print_verdict,
    set_crash_dir,
    stderr_console,
    stdout_console,
)
from kdmarl_bench.errors import TrainingError
from kdmarl_bench.executors import make_executor
from kdmarl_bench.results.analysis.headline import headline
from kdmarl_bench.results.model.codec import sanitize
from kdmarl_bench.results.render.terminal import print_leaderboard
from kdmarl_bench.results.render.text import verdict_lines
from kdmarl_bench.safeio import resolve_out
from kdmarl_bench.suite import load_suite
from kdmarl_bench.suite_tables import max_threads


@click.command("run")
@click.argument("suite_path", metavar="SUITE")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Results directory (default: runs/<suite name>). Re-running resumes it.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Training device.")
@click.option("--threads", type=click.IntRange(min=1, max=max_threads()), default=1, show_default=True,
              help="torch CPU threads per worker for training (JAX/XLA gets one). Results depend on it "
                   "(float reductions), not on --jobs.")
@click.option("--executor", "executor_name", type=click.Choice(["local", "ray", "inline"]), default="local",
              show_default=True,
              help="Where cells run: a process pool on this machine, Ray tasks (pip install \"kdmarl-bench[ray]\"), "
                   "or inline: in this process one cell at a time (for a debugger or profiler).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Cells at once (default: usable cores for local, the cluster's CPUs for ray).")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="Ray cluster to use, HOST:PORT or ray://HOST:PORT (default: $RAY_ADDRESS, else a new local instance "
                   "on 127.0.0.1).")
@click.option("--ray-timeout", type=click.FloatRange(min=1, max=3600), default=30, show_default=True, metavar="SECONDS",
              help="Give up connecting to --ray-address after this long (exit 2 naming the address).")
@click.option("--leaderboard", "leaderboard_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write the leaderboard (default: OUT/leaderboard.json).")
@click.option("--task", "only_tasks", multiple=True, metavar="TASK",
              help="Run only this task of the suite (repeatable): split a suite across processes; "
                   "a later run without --task reuses their finished cells.")
@click.option("--method", "only_methods", multiple=True, metavar="METHOD",
              help="Run only this method or variant of the suite (repeatable; the teacher always runs): "
                   "a later run without --method reuses their finished cells.")
@click.option("--retry-failed", is_flag=True, help="Re-run cells that finished with an error (e.g. NaN loss).")
@click.option("--log-dir", "log_dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Write TensorBoard event files per cell under DIR (losses, env-steps/s, the learning curve, against "
                   "env-steps); needs the tensorboard package. Off by default.")
@click.option("--json", "as_json", is_flag=True, help="Print the leaderboard JSON on stdout instead of the table.")
@handle_errors
def run_cmd(suite_path, out_dir, device, threads, executor_name, jobs, ray_address, ray_timeout, leaderboard_path,
            only_tasks, only_methods, retry_failed, log_dir, as_json):
    """Run SUITE: obtain teachers, distill students, evaluate, profile, write a leaderboard.

    Cells run in parallel (``--jobs``, default every usable core; ``--executor ray`` for a cluster).
    Every finished cell is saved at once; re-running the same command skips them, so an
    interrupted run (Ctrl-C, kill) resumes where it stopped. Latency is timed afterwards, on this
    machine alone, once per distinct architecture.
    """
    import torch

    # torch: loaded when this command runs, not at the CLI's start-up
    from kdmarl_bench.commands.progress import RunProgress
    from kdmarl_bench.runner import resolve_device, run_suite

    suite = load_suite(suite_path)
    if only_tasks:
        suite = suite.only_tasks(only_tasks)
    if only_methods:
        suite = suite.only_methods(only_methods)
    # Resolved once (absolute, symlinks followed now): every output path is built from this folder.
    out_dir = resolve_out(out_dir or f"runs/{suite.name}")
    set_crash_dir(out_dir / "logs")  # an unexpected error's traceback goes beside the results
    torch.set_num_threads(threads)
    err = stderr_console()
    executor = make_executor(executor_name, jobs=jobs, threads=threads, device=str(resolve_device(device)),
                             address=ray_address, timeout=ray_timeout)
    err.print(f"[bold]suite[/] {suite.name} v{suite.version} → {out_dir} ({executor.describe()})")
    with RunProgress(err) as progress:
        try:
            board, path = run_suite(suite, out_dir, device, progress.events(), retry_failed, leaderboard_path,
                                    executor=executor, log_dir=log_dir)
        except KeyboardInterrupt:
            raise CliError(f"interrupted: finished cells are saved in {out_dir}; run the same command to resume",
                           exit_code=130) from None

    failed = [r for r in board.records if r.error]
    if as_json:
        echo_json(sanitize(board.to_dict()))
    else:
        print_leaderboard(stdout_console(), board)
        # the research answer in words, when the suite has a focus method and a baseline to beat
        print_verdict(stdout_console(), verdict_lines(headline(board), str(path)))
    if failed:
        err.print(f"[yellow]{len(failed)} cell(s) failed; see 'error' in {path} (re-run with --retry-failed)")
    err.print(f"leaderboard: {path}")
    if failed:  # everything that finished is written; the exit code says not all did
        sys.exit(TrainingError.exit_code)


COMMANDS = [run_cmd]
