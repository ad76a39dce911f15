"""Rich tables for the commands that describe the tool itself (``methods``, ``envs``, ``plan``).

Results tables (leaderboards, compare, gate) live in ``kdmarl_bench.results.render``.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from kdmarl_bench.methods.describe import MethodInfo


def _fmt_default(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()  # as TOML writes it
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def methods_table(infos: list[MethodInfo]) -> Table:
    table = Table(title="kdmarl-bench methods (`kdmarl-bench methods ID` for its config)")
    table.add_column("id", no_wrap=True)
    table.add_column("trains", no_wrap=True)
    table.add_column("teacher", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("fields", justify="right", no_wrap=True)
    table.add_column("what it is", ratio=1)
    for m in infos:
        table.add_row(m.id, "student" if m.trains_student else "-", "yes" if m.uses_teacher else "no", m.kind,
                      str(len(m.fields)), m.summary)
    return table


def method_info_table(info: MethodInfo) -> Table:
    table = Table(title=f"{info.id}: {info.summary}", title_justify="left")
    table.add_column("field", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("default", no_wrap=True, justify="right")
    table.add_column("meaning", ratio=1)
    for f in info.fields:
        table.add_row(f.name, f.type, _fmt_default(f.default), f.doc)
    return table
