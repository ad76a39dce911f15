"""``kdmarl-bench plan``: validate a suite and list its cells, doing no work."""

from __future__ import annotations

import click

from kdmarl_bench.commands.common import echo_json, handle_errors, stdout_console


@click.command("plan")
@click.argument("suite_path", metavar="SUITE")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def plan_cmd(suite_path, as_json):
    """Validate SUITE (a .toml path or a bundled name) and list the cells it expands to."""
    from kdmarl_bench.suite import load_suite, plan

    suite = load_suite(suite_path)
    cells = plan(suite)
    if as_json:
        echo_json({"suite": suite.info(), "n_cells": len(cells), "cells": [c.config() for c in cells]})
        return
    from rich.table import Table

    table = Table(title=f"suite {suite.name} v{suite.version}: {len(cells)} cells")
    for col in ("task", "method", "size", "seed", "env steps", "eval episodes", "teacher"):
        table.add_column(col)
    for c in cells:
        table.add_row(c.task, c.method, c.size_label, str(c.seed), f"{c.env_steps:,}", str(c.eval_episodes),
                      c.teacher.source)
    stdout_console().print(table)


COMMANDS = [plan_cmd]
