"""``kdmarl-bench methods``: the registered methods and every config field a suite may set."""

from __future__ import annotations

import dataclasses

import click

from kdmarl_bench.commands.common import echo_json, handle_errors, stdout_console
from kdmarl_bench.results.fit import print_fitted


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
    from kdmarl_bench.tables import method_info_table, methods_table

    infos = [describe_method(method_id)] if method_id else describe_methods()
    if as_json:
        rows = [dataclasses.asdict(i) for i in infos]
        echo_json(rows[0] if method_id else rows)
        return
    con = stdout_console()
    print_fitted(con, [method_info_table(infos[0], con.width) if method_id else methods_table(infos, con.width)])


COMMANDS = [methods_cmd]
