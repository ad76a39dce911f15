"""Shared CLI plumbing: error → exit-code mapping, consoles, JSON output."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from kdmarl_bench.errors import KdmarlError


class CliError(click.ClickException):
    """A ClickException that carries one of DESIGN.md's exit codes."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


def handle_errors(fn: Callable) -> Callable:
    """Turn library errors into clean messages and exit codes (no tracebacks)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
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


def stderr_console():
    from rich.console import Console

    return Console(file=sys.stderr, stderr=True)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
