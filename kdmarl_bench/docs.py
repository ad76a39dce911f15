"""Parts of README.md generated from the code, so the docs cannot drift from it.

``python -m kdmarl_bench.docs`` rewrites every generated block of README.md in place;
``--check`` only compares and exits 1 when a block is stale (the test suite runs the check).
A block sits between ``<!-- BEGIN generated:NAME -->`` and ``<!-- END generated:NAME -->``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

BLOCK = re.compile(r"(<!-- BEGIN generated:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END generated:(?P=name) -->)",
                   re.S)


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


def generated_blocks() -> dict[str, str]:
    """Block name → the text it must hold."""
    from kdmarl_bench.cli import main

    return {"cli-reference": cli_reference(main)}


def render_readme(text: str, blocks: dict[str, str]) -> str:
    """``text`` with every generated block it contains replaced by its current content."""
    def sub(m: re.Match) -> str:
        name = m.group("name")
        if name not in blocks:
            return m.group(0)
        return f"{m.group(1)}{blocks[name].rstrip()}\n{m.group(4)}"

    return BLOCK.sub(sub, text)


def stale_blocks(text: str, blocks: dict[str, str]) -> list[str]:
    present = {m.group("name") for m in BLOCK.finditer(text)}
    missing = [name for name in blocks if name not in present]
    changed = [m.group("name") for m in BLOCK.finditer(text)
               if m.group("name") in blocks and m.group("body").rstrip() != blocks[m.group("name")].rstrip()]
    return missing + changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    paths = [a for a in args if a != "--check"] or [str(Path(__file__).resolve().parent.parent / "README.md")]
    blocks = generated_blocks()
    status = 0
    for p in map(Path, paths):
        text = p.read_text(encoding="utf-8")
        stale = stale_blocks(text, blocks)
        if check:
            if stale:
                print(f"{p}: stale generated blocks: {', '.join(stale)} (run: python -m kdmarl_bench.docs)")
                status = 1
        elif stale:
            p.write_text(render_readme(text, blocks), encoding="utf-8")
            print(f"{p}: rewrote {', '.join(stale)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
