"""Shared CLI plumbing: error → exit-code mapping, consoles, JSON output."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kdmarl_bench.errors import KdmarlError
from kdmarl_bench.signals import import_heavy


class CliError(click.ClickException):
    """A ClickException that carries one of DESIGN.md's exit codes."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


_CRASH_DIR: list[Path | None] = [None]


def set_crash_dir(path: str | Path | None) -> None:
    """Where an unexpected error's traceback goes (``run`` sets ``OUT/logs``); see cli.KdmarlCli."""
    _CRASH_DIR[0] = None if path is None else Path(path)


def crash_dir() -> Path | None:
    return _CRASH_DIR[0]


def handle_errors(fn: Callable) -> Callable:
    """Turn library errors into clean messages and exit codes (no tracebacks)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with loading_status("loading numpy, scipy and torch"):
            import_heavy()  # a Ctrl-C now waits for these imports to finish, then exits 130 cleanly
        try:
            return fn(*args, **kwargs)
        except KdmarlError as exc:
            raise CliError(str(exc), exc.exit_code) from exc

    return wrapper


def stdout_console():
    from rich.console import Console

    # Piped output (CI logs, files) gets a wide fixed width instead of rich's default 80,
    # unless COLUMNS says how wide the reader's screen is.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit() else 200
    return Console(file=sys.stdout, width=width)


_QUIET = False


def set_quiet(quiet: bool) -> None:
    """``kdmarl-bench --quiet``: no progress or log lines on stderr (errors still print)."""
    global _QUIET
    _QUIET = quiet


def stderr_console():
    from rich.console import Console

    return Console(file=sys.stderr, stderr=True, quiet=_QUIET)


@contextlib.contextmanager
def loading_status(text: str):
    """A transient spinner with ``text`` on stderr while a slow step runs (only on a terminal, not
    with --quiet): imports and compilation take seconds and must not look like a hang."""
    if _QUIET or not sys.stderr.isatty():
        yield
        return
    with stderr_console().status(f"{text}…", spinner="dots"):
        yield


@contextlib.contextmanager
def progress_bar(description: str, total: int | None, unit: str = ""):
    """A transient stderr bar (spinner, bar, count, elapsed, ETA) for one long step.

    Yields ``update(done, total=None, status="")``. It starts drawing at once, so slow
    set-up (JAX compiling an environment) is not silent either.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    con = stderr_console()
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn(unit), TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=con, transient=True, disable=_QUIET) as bar:
        job = bar.add_task(description, total=total, status="")

        def update(done: int, total: int | None = None, status: str = "") -> None:
            bar.update(job, completed=done, status=status, **({"total": total} if total is not None else {}))

        yield update


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def print_verdict(console, lines: list[str]) -> None:
    """The verdict lines of ``results.render.text.verdict_lines``: the summary bold, the per-task lines
    plain, the pointer to the next command dim; rich wraps each line to the terminal."""
    for i, line in enumerate(lines):
        style = "bold" if i == 0 else "dim" if i == len(lines) - 1 else None
        console.print(f"[{style}]{line}[/]" if style else line, highlight=False, markup=style is not None)
