"""``kdmarl-bench compare``, ``gate``, ``report`` and ``export``: read leaderboards, never run anything."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kdmarl_bench.commands.common import (
    CliError,
    echo_json,
    handle_errors,
    print_verdict,
    progress_bar,
    stdout_console,
)
from kdmarl_bench.commands.export_checkpoint import (
    checkpoint_export_help,
    export_checkpoint_cli,
    reject_checkpoint,
)
from kdmarl_bench.deploy_runtimes import checkpoint_formats
from kdmarl_bench.results.analysis.compare import compare as compare_leaderboards
from kdmarl_bench.results.analysis.compare import provenance_line
from kdmarl_bench.results.analysis.headline import headline, headline_dicts
from kdmarl_bench.results.gate.checks import gate as run_gate
from kdmarl_bench.results.model.records import Leaderboard
from kdmarl_bench.results.render.fit import print_fitted, print_markdown_fitted
from kdmarl_bench.results.render.formats import FORMATS as LEADERBOARD_FORMATS
from kdmarl_bench.results.render.formats import export as export_text
from kdmarl_bench.results.render.formats import export_files, format_help
from kdmarl_bench.results.render.junit import gate_junit
from kdmarl_bench.results.render.markdown import gate_markdown, headline_markdown
from kdmarl_bench.results.render.report import default_out_dir, write_report
from kdmarl_bench.results.render.terminal import (
    print_compare,
    print_gate,
    retrain_messages,
    retrain_table,
    verify_table,
    views_of,
)
from kdmarl_bench.results.render.text import board_labels, verdict_lines
from kdmarl_bench.results.store.boards import board_path, read_leaderboard


@click.command()
@click.argument("leaderboards", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=True))
@click.option("--common-only", is_flag=True, help="Only the (task, method, size) rows present on every board.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON instead of a table.")
@handle_errors
def compare(leaderboards: tuple[Path, ...], common_only: bool, as_json: bool) -> None:
    """Put leaderboards side by side per task, method and size (deltas vs the first).

    Each Δ has its unit and a relative %; ``*`` marks a Δ retention whose 95% interval over
    seeds (the gate's noise model) excludes 0, ``⚠`` a noisy latency. One provenance line per
    board (machine, versions, commit).

    Refuses (exit 2) to compare a task whose numbers come from different backends, e.g.
    SMAX against real StarCraft II.
    """

    if len(leaderboards) < 2:
        raise CliError(f"compare needs at least two leaderboards, got one: {leaderboards[0]}", 2)
    paths = [str(p) for p in leaderboards]
    boards = [(p, read_leaderboard(p)) for p in paths]
    rows = compare_leaderboards(boards, common_only=common_only)  # errors name the files
    provenance = [provenance_line(p, b) for p, b in boards]
    if as_json:
        echo_json({"leaderboards": paths, "provenance": provenance, "rows": rows})
        return
    # In the table a board is a short label (A, B, ...) with a legend, not a path column.
    for row in rows:
        for entry, label in zip(row["entries"], board_labels(paths), strict=True):
            entry["label"] = label
    print_compare(stdout_console(), rows, paths, provenance)


@click.command()
@click.argument("current", type=click.Path(path_type=Path, dir_okay=True))
@click.option(
    "--baseline",
    required=True,
    type=click.Path(path_type=Path, dir_okay=True),
    help="Reference leaderboard of the same suite (e.g. baselines/quickstart.json for a quickstart run).",
)
@click.option(
    "--max-retention-drop",
    type=click.FloatRange(min=0),
    default=0.05,
    show_default=True,
    help="Allowed drop of mean retention (absolute, 0.05 = 5 points), and of the teacher's score (as a "
    "fraction of its gap over random); fails only when the rerun-noise interval lies wholly beyond it.",
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
    "--absolute-latency",
    is_flag=True,
    help="Compare absolute CPU p50 ms against the baseline instead of ratios to each leaderboard's "
    "teacher (only meaningful when both ran on the same machine).",
)
@click.option(
    "--markdown",
    "markdown_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write a markdown report of every check to this file.",
)
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write a JUnit XML report (one testcase per check) to this file.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 also when a check is inconclusive (the seeds cannot tell a drop of the threshold from noise).",
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
    absolute_latency: bool,
    markdown_file: Path | None,
    junit_file: Path | None,
    strict: bool,
    as_json: bool,
) -> None:
    """Pass/fail CURRENT leaderboard against a baseline (exit 0 pass, 1 regression, 2 bad input).

    Prints one compact table of the checks that did not simply pass (check, verdict, seeds
    needed) and a summary line counting pass, fail, inconclusive and not judged (noisy latency).
    A check the seeds cannot decide is inconclusive: exit 0, or exit 1 with --strict.
    """

    cur_data = read_leaderboard(current)
    base_data = read_leaderboard(baseline)
    result = run_gate(
        cur_data,
        base_data,
        max_retention_drop=max_retention_drop,
        max_flops_increase=max_flops_increase,
        max_latency_increase=max_latency_increase,
        absolute_latency=absolute_latency,
        strict=strict,
        current_name=str(current),
        baseline_name=str(baseline),
    )
    views = views_of(cur_data, base_data)
    for path, what, render in (
        (markdown_file, "markdown report", lambda r: gate_markdown(r, views)),
        (junit_file, "JUnit XML report", gate_junit),
    ):
        if path is not None:
            _write_text(path, render(result), what)
    if as_json:
        echo_json(result.to_dict())
    else:
        print_gate(stdout_console(), result, str(baseline), views)
    sys.stdout.flush()
    if result.exit_code:
        ctx.exit(result.exit_code)


def _write_text(path: Path, text: str, what: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{path}: cannot write {what}: {exc.strerror or exc}", 2) from exc


@click.command()
@click.argument("leaderboard", type=click.Path(path_type=Path, dir_okay=True))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory for the PNG plots and report.md [default: <leaderboard dir>/report].",
)
@click.option("--headline", "headline_only", is_flag=True,
              help="Only print the headline (the suite's focus method, default kd-marl, vs the best action-imitation "
              "baseline per task and regime, with P(improvement) and the paper's claim); write nothing.")
@click.option("--size", "headline_size", default=None, metavar="LABEL",
              help="Student size of the headline [default: the suite's headline_size, else auto].")
@click.option("--force", is_flag=True,
              help="Overwrite a report.md in the folder that an earlier report did not write (refused by default).")
@click.option("--json", "as_json", is_flag=True, help="Print the written paths (or the headline rows) as JSON.")
@handle_errors
def report(leaderboard: Path, out_dir: Path | None, headline_only: bool, headline_size: str | None,
           force: bool, as_json: bool) -> None:
    """Write PNG plots and a Markdown report of a LEADERBOARD.

    Per task: retention (95% CI) vs FLOPs per team decision with the Pareto front; across
    tasks: IQM/mean retention, the focus method's probability of improvement and performance profiles;
    plus latency (p50/p90/p99, Timer cross-check), failed cells and provenance in report.md.
    """

    data = read_leaderboard(leaderboard)
    if headline_only:

        rows = headline(data, headline_size)
        if headline_size is not None and not rows:
            sizes = sorted({s.size for s in data.summary if s.method == data.focus})
            raise CliError(f"--size: no {data.focus} results at size {headline_size!r}; sizes on this board: "
                           f"{', '.join(sizes) or 'none'}")
        if as_json:
            echo_json(headline_dicts(rows))
        else:
            print_verdict(stdout_console(), verdict_lines(rows, str(leaderboard)))
            print_markdown_fitted(stdout_console(), headline_markdown(rows, data.focus))
        return
    out = out_dir if out_dir is not None else default_out_dir(leaderboard)
    with progress_bar(f"report → {out}", None, "") as update:  # a spinner while the plots render
        update(0, status="plotting")
        result = write_report(data, out, source=str(leaderboard), on_section=lambda name: update(0, status=name),
                              force=force)
    if as_json:
        echo_json(result.to_dict())
        return
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {result.markdown}")
    for plot in result.plots:
        click.echo(f"wrote {plot}")


@click.command()
@click.argument("leaderboard", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--sample", type=click.IntRange(min=1), default=4, show_default=True, help="Records to re-evaluate.")
@click.option("--fresh-seed", type=click.IntRange(min=0, max=2**31 - 1), default=777_000, show_default=True,
              help="Base of the new eval seeds (+ the record's seed).")
@click.option("--teacher", "include_teacher", is_flag=True, help="Also sample teacher records.")
@click.option("--retrain", type=click.IntRange(min=1), default=None,
              help="Instead: retrain N sampled cells on this machine (in a temporary folder) and judge each "
              "against the board's seed-to-seed spread (95% prediction interval for a new seed).")
@click.option("--allow-outside-paths", "allow_outside", is_flag=True,
              help="Load checkpoints outside the leaderboard's folder (absolute or ../ paths); refused by default.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
@handle_errors
def verify(leaderboard: Path, sample: int, fresh_seed: int, include_teacher: bool, retrain: int | None,
           allow_outside: bool,
           as_json: bool) -> None:
    """Re-evaluate a sample of LEADERBOARD's students on fresh eval seeds.

    Shows whether each fresh score lies in the 95% CI of its recorded episodes, and exits 1 when a
    fresh score is significantly below the recorded one (the 95% CI of fresh − recorded is below 0).
    With --retrain N: retrains N cells here and exits 1 when one falls outside its prediction interval.
    """
    # torch: loaded when this command runs, not at the CLI's start-up
    from kdmarl_bench.verify import verify_leaderboard

    leaderboard = board_path(leaderboard)  # a run directory → its leaderboard.json

    if retrain is not None:
        _verify_retrain(read_leaderboard(leaderboard), leaderboard, retrain, as_json)
        return

    missing: list[dict] = []
    with progress_bar("verify", None, "records") as update:
        rows = verify_leaderboard(read_leaderboard(leaderboard), leaderboard, sample, fresh_seed,
                                  include_teacher=include_teacher, allow_outside=allow_outside,
                                  progress=lambda done, total, label: update(done, total, label), not_shipped=missing)
    if missing:
        click.echo(f"note: {len(missing)} record(s) of this board have no student file on disk (not shipped with "
                   "the board; its suite regenerates them) and were not sampled", err=True)
    if as_json:
        echo_json([r.to_dict() for r in rows])
    else:
        con = stdout_console()
        print_fitted(con, [verify_table(rows, str(leaderboard), con.width)])
    if not all(r.holds for r in rows):
        sys.exit(1)


def _verify_retrain(board: Leaderboard, leaderboard: Path, n: int, as_json: bool) -> None:
    # torch: loaded when this command runs, not at the CLI's start-up
    from kdmarl_bench.verify import retrain_leaderboard

    rows = retrain_leaderboard(board, leaderboard, n,
                               on_start=lambda c: click.echo(f"retraining {c.label()} ...", err=True))
    if as_json:
        echo_json([r.to_dict() for r in rows])
    else:
        con = stdout_console()
        print_fitted(con, [retrain_table(rows, str(leaderboard), con.width)])
        for message in retrain_messages(rows):
            click.echo(message, err=True)
    if any(r.verdict == "outside" for r in rows):
        sys.exit(1)


_CHECKPOINT_EXPORT_FORMATS = checkpoint_formats()
_CHECKPOINT_EXPORT_HELP = checkpoint_export_help()


@click.command()
@click.argument("leaderboard", metavar="LEADERBOARD|CHECKPOINT", type=click.Path(path_type=Path, dir_okay=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(LEADERBOARD_FORMATS.names() + list(_CHECKPOINT_EXPORT_FORMATS)),
    required=True,
    help=f"Of a LEADERBOARD: {format_help()}. {_CHECKPOINT_EXPORT_HELP}",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help=f"Write to this file instead of stdout (for {'/'.join(_CHECKPOINT_EXPORT_FORMATS)}: the folder to write into).",
)
@click.option("--int8", is_flag=True, help="With --format onnx: dynamic int8 quantization (ONNX Runtime).")
@handle_errors
def export(leaderboard: Path, fmt: str, out: Path | None, int8: bool) -> None:
    """Export a LEADERBOARD (CSV, marl-eval, github-action-benchmark) or a CHECKPOINT (ONNX, ExecuTorch)."""
    if fmt in _CHECKPOINT_EXPORT_FORMATS:
        export_checkpoint_cli(str(leaderboard), fmt, out, int8)
        return
    reject_checkpoint(str(leaderboard), fmt, int8)
    if out is None and LEADERBOARD_FORMATS.get(fmt).needs_out:
        raise CliError(f"--format {fmt} writes several files; give --out FILE "
                       f"(or a one-file format: {', '.join(n for n, f in LEADERBOARD_FORMATS.items() if not f.needs_out)})", 2)
    data = read_leaderboard(leaderboard)
    if out is None:
        text, warnings = export_text(data, fmt)
    else:
        try:
            paths, warnings = export_files(data, fmt, out)
        except OSError as exc:
            raise CliError(f"{exc.filename or out}: cannot write the {fmt} export: {exc.strerror or exc}", 2) from exc
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    if out is None:
        click.echo(text, nl=False)
    else:
        for path in paths:
            click.echo(f"wrote {path}", err=True)


COMMANDS = [compare, gate, report, export, verify]
