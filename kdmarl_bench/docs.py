"""The README's command reference, generated from click's own help so it cannot drift.

It is the ``cli-reference`` block of :mod:`kdmarl_bench.readme` (rewritten with
``python benchmarks/readme_tables.py``; a test fails when it is stale).
"""

from __future__ import annotations

import click


def _md(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _metavar(kind: click.ParamType) -> str:
    if isinstance(kind, click.Choice):
        return "|".join(map(str, kind.choices))
    if isinstance(kind, click.Path):
        return "DIR" if not kind.file_okay else "FILE" if not kind.dir_okay else "PATH"
    if isinstance(kind, click.types.IntParamType):
        return "N"
    if isinstance(kind, click.types.FloatParamType):
        return "X"
    return "TEXT"


def _option_row(opt: click.Option) -> str:
    names = ", ".join(f"`{o}`" for o in [*opt.opts, *opt.secondary_opts])
    if not opt.is_flag:
        names += f" `{opt.metavar or _metavar(opt.type)}`"
    names = names.replace("|", "\\|")  # a pipe inside a table cell, even in code, ends the cell
    default = ""
    if opt.show_default and opt.default not in (None, "", ()) and not opt.is_flag:
        default = f"`{opt.default}`"
    elif opt.is_flag and opt.secondary_opts:
        default = f"`{opt.opts[0] if opt.default else opt.secondary_opts[0]}`"
    return f"| {names} | {default} | {_md(opt.help or '')} |"


def cli_reference(group: click.Group) -> str:
    """Markdown: every command's usage, what it does, and every option with its default and help."""
    ctx = click.Context(group, info_name="kdmarl-bench")
    parts = []
    for name in sorted(group.commands):
        cmd = group.commands[name]
        sub = click.Context(cmd, info_name=name, parent=ctx)
        usage = " ".join(cmd.collect_usage_pieces(sub))
        parts.append(f"#### `kdmarl-bench {name} {usage}`\n")
        parts.append(_md(cmd.help.split("\n\n", 1)[0] if cmd.help else "") + "\n")
        options = [p for p in cmd.params if isinstance(p, click.Option) and not p.hidden]
        if options:
            parts.append("| option | default | meaning |\n|---|---|---|")
            parts.extend(_option_row(o) for o in options)
            parts.append("")
    return "\n".join(parts)
