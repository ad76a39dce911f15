"""The ``kdmarl-bench`` command line: parse → call the library → render.

Heavy imports (torch, jax, mpe2) happen inside commands, so ``--help`` is instant.
"""

from __future__ import annotations

import click

from kdmarl_bench import __version__

COMMAND_MODULES = (
    "kdmarl_bench.commands.envs",
    "kdmarl_bench.commands.evaluate",
    "kdmarl_bench.commands.plan",
    "kdmarl_bench.commands.results",
    "kdmarl_bench.commands.train",
    "kdmarl_bench.commands.profile",
    "kdmarl_bench.commands.run",
    "kdmarl_bench.commands.methods",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kdmarl-bench")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or log lines on stderr (results and errors still print).")
def main(quiet: bool) -> None:
    """Benchmark knowledge distillation of MARL teachers into small per-agent students."""
    from kdmarl_bench.commands.common import set_quiet

    set_quiet(quiet)


def _install_commands() -> None:
    import importlib

    for mod_name in COMMAND_MODULES:
        mod = importlib.import_module(mod_name)
        for cmd in getattr(mod, "COMMANDS", ()):
            main.add_command(cmd)


_install_commands()
