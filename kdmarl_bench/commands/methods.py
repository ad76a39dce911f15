"""``kdmarl-bench methods``: the registered methods and every config field a suite may set."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from kdmarl_bench.commands.common import echo_json, handle_errors, stdout_console
from kdmarl_bench.results.render.fit import print_fitted
from kdmarl_bench.results.render.terminal import method_info_table, methods_table


def _fmt_default(value: Any) -> str:
    """A config field's default as TOML writes it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


@click.command("methods")
@click.argument("method_id", required=False, metavar="[ID]")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def methods_cmd(method_id, as_json):
    """List the methods, or show every config field of method ID with its default and meaning.

    A suite overrides these fields in ``[method.ID]`` (or a ``[variant.NAME]`` with ``method = ID``).
    """
    # torch: loaded when this command runs, not at the CLI's start-up
    from kdmarl_bench.methods.describe import describe_method, describe_methods

    infos = [describe_method(method_id)] if method_id else describe_methods()
    if as_json:
        rows = [dataclasses.asdict(i) for i in infos]
        echo_json(rows[0] if method_id else rows)
        return
    con = stdout_console()
    if method_id:
        info = infos[0]
        rows = [[f.name, f.type, _fmt_default(f.default), f.doc] for f in info.fields]
        print_fitted(con, [method_info_table(f"{info.id}: {info.summary}", rows, con.width)])
        return
    rows = [[m.id, "student" if m.trains_student else "-", "yes" if m.uses_teacher else "no", m.kind,
             str(len(m.fields)), m.summary] for m in infos]
    print_fitted(con, [methods_table(rows, con.width)])


COMMANDS = [methods_cmd]
