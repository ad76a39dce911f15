"""``kdmarl-bench tune``: an Optuna study of one method's config on the suite's tuning seeds."""

from __future__ import annotations

import os
from pathlib import Path

import click

from kdmarl_bench.commands.common import CliError, echo_json, handle_errors, stderr_console, stdout_console
from kdmarl_bench.errors import UsageError
from kdmarl_bench.executors import make_executor
from kdmarl_bench.results.store.boards import read_leaderboard
from kdmarl_bench.results.store.cells import claim_out_dir
from kdmarl_bench.suite import load_suite

_MAX_THREADS = 4 * (os.cpu_count() or 1)


@click.command("tune")
@click.argument("suite_path", metavar="SUITE")
@click.option("--method", "method", required=True, metavar="METHOD", help="The suite method (or variant) to tune.")
@click.option("--trials", type=int, default=None,
              help="Trials (default: the suite's [tune] trials, else 20); every compared method should get the same.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Study folder: trial cells and study.json (default: runs/<suite>-tune/<method>). Re-running resumes it.")
@click.option("--board", "board_path", type=click.Path(dir_okay=True), default=None, metavar="LEADERBOARD",
              help="Refuse to tune when the tuning seeds overlap this board's seeds.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Training device.")
@click.option("--threads", type=click.IntRange(min=1, max=_MAX_THREADS), default=1, show_default=True,
              help="torch CPU threads per worker.")
@click.option("--executor", "executor_name", type=click.Choice(["local", "ray", "inline"]), default="local",
              show_default=True, help="Where a trial's cells run (as for run).")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Cells at once (as for run).")
@click.option("--toml", "as_toml", is_flag=True, help="Print the best config as a [method.X] TOML table.")
@click.option("--json", "as_json", is_flag=True, help="Print the study JSON.")
@handle_errors
def tune_cmd(suite_path, method, trials, out_dir, board_path, device, threads, executor_name, jobs, as_toml, as_json):
    """Tune METHOD of SUITE with Optuna (seeded TPE) on the suite's tuning seeds ([tune] seeds).

    Each trial is a suite variant run through the same cells and executors as `run` (a re-run
    resumes: finished trials are not trained again); the objective is the suite's primary metric
    ([suite] primary) averaged over the tuning seeds and tasks. The study (every trial's config and
    score, the best config, the sampler seed, the budget) is written to OUT/study.json.
    """
    import torch

    # torch/scipy: loaded when this command runs, not at the CLI's start-up
    from kdmarl_bench.tuning import best_toml, check_method, require_optuna, run_study, tune_settings

    suite = load_suite(suite_path)
    settings = tune_settings(suite)
    check_method(suite, method)
    trials = settings.trials if trials is None else trials
    if trials < 1:
        raise UsageError(f"--trials: must be >= 1, got {trials}")
    if board_path is not None:
        board_seeds = set(read_leaderboard(board_path).protocol.seeds)
        overlap = sorted(board_seeds & set(settings.seeds))
        if overlap:
            raise UsageError(f"{suite.path}: field 'tune.seeds': seed(s) {overlap} are seeds the board {board_path} "
                             "reports; tune on seeds it never uses")
    require_optuna()
    out_dir = Path(out_dir or f"runs/{suite.name}-tune/{method}")
    torch.set_num_threads(threads)
    err = stderr_console()
    # torch: loaded when this command runs, not at the CLI's start-up
    from kdmarl_bench.runner import RunEvents, Runner, resolve_device

    dev = str(resolve_device(device))

    def run_trial(tsuite):
        cached: list[bool] = []
        events = RunEvents(on_cell_done=lambda cell, record, was_cached: cached.append(was_cached))
        executor = make_executor(executor_name, jobs=jobs, threads=threads, device=dev)
        records = Runner(tsuite, out_dir, device, events, executor=executor).run()
        return records, bool(cached) and all(cached)

    def on_trial(r):
        value = "failed" if r.value is None else f"{r.value:.4f}"
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.params.items())
        err.print(f"trial {r.number + 1}/{trials} ({r.variant}{', cached' if r.cached else ''}): "
                  f"{suite.primary} {value} · {params}", highlight=False)

    err.print(f"[bold]tune[/] {method} on {suite.name}: {trials} trials, seeds {list(settings.seeds)}, "
              f"objective {suite.primary} → {out_dir}", highlight=False)
    with claim_out_dir(out_dir):
        try:
            doc = run_study(suite, method, trials, out_dir, run_trial, on_trial)
        except KeyboardInterrupt:
            raise CliError(f"interrupted: finished trials are saved in {out_dir}; run the same command to resume",
                           exit_code=130) from None
    if as_json:
        echo_json(doc)
    elif as_toml:
        click.echo(best_toml(doc), nl=False)
    else:
        best = doc["best"]
        msg = "no trial finished" if best is None else f"best: trial {best['number']} {suite.primary} {best['value']:.4f}"
        stdout_console().print(f"{msg} · study: {out_dir / 'study.json'}", highlight=False)
        if best is not None:
            click.echo(best_toml(doc), nl=False)


COMMANDS = [tune_cmd]
