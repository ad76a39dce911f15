"""Rich tables for the commands that describe the tool itself (``methods``, ``envs``, ``plan``).

Each is fitted to the terminal by ``kdmarl_bench.results.fit``: ids, names and numbers stay on one
line, descriptions wrap between words, and columns that do not fit are named in a note.
Results tables (leaderboards, compare, gate) live in ``kdmarl_bench.results.render``.
"""

from __future__ import annotations

from typing import Any

from kdmarl_bench.methods.describe import MethodInfo
from kdmarl_bench.results.fit import Column, FitResult, fit_table


def _fmt_default(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()  # as TOML writes it
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


_METHODS_FIT = (Column("id"), Column("trains", 2), Column("teacher", 1), Column("kind", 3),
                Column("fields", 4, right=True), Column("what it is", wrap=True))


def methods_table(infos: list[MethodInfo], width: int = 240) -> FitResult:
    rows = [[m.id, "student" if m.trains_student else "-", "yes" if m.uses_teacher else "no", m.kind,
             str(len(m.fields)), m.summary] for m in infos]
    return fit_table(_METHODS_FIT, rows, width, title="kdmarl-bench methods (`kdmarl-bench methods ID` for its config)")


_METHOD_INFO_FIT = (Column("field"), Column("type", 1), Column("default", right=True), Column("meaning", wrap=True))


def method_info_table(info: MethodInfo, width: int = 240) -> FitResult:
    rows = [[f.name, f.type, _fmt_default(f.default), f.doc] for f in info.fields]
    return fit_table(_METHOD_INFO_FIT, rows, width, title=f"{info.id}: {info.summary}")


_PLAN_FIT = (Column("task"), Column("method"), Column("size"), Column("seed", right=True),
             Column("env steps", 1, right=True), Column("episodes × seeds", 3, right=True, compact_name="episodes"), Column("teacher", 2))


def plan_table(title: str, rows: list[list[str]], width: int = 240) -> FitResult:
    """``plan``'s cells: task (``TASK@VIEW``), method, size, seed, env steps, eval episodes, teacher."""
    return fit_table(_PLAN_FIT, rows, width, title=title)


_ENVS_FIT = (Column("id"), Column("agents", 1, right=True), Column("obs dims", 3, right=True),
             Column("state", 6, right=True), Column("actions", 4, right=True), Column("limit", 7, right=True),
             Column("metric", 2), Column("teacher", 5, right=True), Column("views", 8), Column("available"))


def envs_table(title: str, rows: list[list[str]], width: int = 240) -> FitResult:
    """``envs``'s tasks: id, agents, obs dims, state, actions, episode limit, metric, zoo teacher,
    views beyond full, available here."""
    return fit_table(_ENVS_FIT, rows, width, title=title)
