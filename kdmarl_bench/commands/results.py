"""``kdmarl-bench compare`` and ``kdmarl-bench gate``: read leaderboards, never run anything."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kdmarl_bench.commands.common import CliError, echo_json, handle_errors, stdout_console


@click.command()
@click.argument("leaderboards", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON instead of a table.")
@handle_errors
def compare(leaderboards: tuple[Path, ...], as_json: bool) -> None:
    """Put leaderboards side by side per task, method and size (deltas vs the first).

    Refuses (exit 2) to compare a task whose numbers come from different backends, e.g.
    SMAX against real StarCraft II.
    """
    from kdmarl_bench.results.compare import compare as compare_leaderboards
    from kdmarl_bench.results.leaderboard import load_leaderboard
    from kdmarl_bench.results.render import compare_table, print_table

    if len(leaderboards) < 2:
        raise CliError(f"compare needs at least two leaderboards, got one: {leaderboards[0]}", 2)
    loaded = [(str(p), load_leaderboard(p)) for p in leaderboards]
    rows = compare_leaderboards(loaded)
    if as_json:
        echo_json({"leaderboards": [label for label, _ in loaded], "rows": rows})
        return
    print_table(
        stdout_console(), compare_table(rows, title=f"kdmarl-bench compare (deltas vs {loaded[0][0]})")
    )


@click.command()
@click.argument("current", type=click.Path(path_type=Path, dir_okay=True))
@click.option(
    "--baseline",
    required=True,
    type=click.Path(path_type=Path, dir_okay=True),
    help="Reference leaderboard of the same suite (e.g. baselines/ci.json).",
)
@click.option(
    "--max-retention-drop",
    type=click.FloatRange(min=0),
    default=0.05,
    show_default=True,
    help="Allowed drop of mean retention (absolute, 0.05 = 5 points); fails only beyond the CI.",
)
@click.option(
    "--max-flops-increase",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Allowed relative FLOPs increase (0.1 = +10%).",
)
@click.option(
    "--max-latency-increase",
    type=click.FloatRange(min=0),
    default=0.25,
    show_default=True,
    help="Allowed relative increase of CPU p50 latency measured against the same leaderboard's teacher.",
)
@click.option(
    "--markdown",
    "markdown_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write a markdown report of every check to this file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@handle_errors
def gate(
    ctx: click.Context,
    current: Path,
    baseline: Path,
    max_retention_drop: float,
    max_flops_increase: float,
    max_latency_increase: float,
    markdown_file: Path | None,
    as_json: bool,
) -> None:
    """Pass/fail CURRENT leaderboard against a baseline (exit 0 pass, 1 regression, 2 bad input)."""
    from kdmarl_bench.results.gate import gate as run_gate
    from kdmarl_bench.results.gate import gate_markdown
    from kdmarl_bench.results.leaderboard import load_leaderboard

    cur_data = load_leaderboard(current)
    base_data = load_leaderboard(baseline)
    result = run_gate(
        cur_data,
        base_data,
        max_retention_drop=max_retention_drop,
        max_flops_increase=max_flops_increase,
        max_latency_increase=max_latency_increase,
        current_name=str(current),
        baseline_name=str(baseline),
    )
    if markdown_file is not None:
        try:
            markdown_file.parent.mkdir(parents=True, exist_ok=True)
            markdown_file.write_text(gate_markdown(result), encoding="utf-8")
        except OSError as exc:
            raise CliError(
                f"{markdown_file}: cannot write markdown report: {exc.strerror or exc}", 2
            ) from exc
    if as_json:
        echo_json(result.to_dict())
    else:
        for check in result.failures:
            click.echo(check.describe())
        n, n_fail = len(result.checks), len(result.failures)
        if result.passed:
            click.echo(f"gate passed: {n} checks against {baseline}")
        else:
            click.echo(f"gate failed: {n_fail} of {n} checks regressed against {baseline}")
    sys.stdout.flush()
    if not result.passed:
        ctx.exit(1)


COMMANDS = [compare, gate]
