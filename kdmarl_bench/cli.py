"""The ``kdmarl-bench`` command line: parse → call the library → render.

Heavy imports (torch, jax, mpe2) happen inside commands, so ``--help`` is instant.

Every way out goes through ``KdmarlCli.main``: a user error exits with its code (2, 3, ...),
Ctrl-C or SIGTERM at any moment exits 130 with one line, and an unexpected exception (a bug)
exits 70 with one line naming the file that holds its full traceback. Finished cells are never
touched on the way out (each was written atomically when it finished).
"""

from __future__ import annotations

import errno
import sys

from kdmarl_bench.commands.common import crash_dir, set_quiet
from kdmarl_bench.errors import KdmarlError

EXIT_INTERNAL_ERROR = 70
"""An unexpected exception (a bug in kdmarl-bench or a library): not 1, which gate/verify use for a verdict."""
EXIT_INTERRUPTED = 130
"""Ctrl-C or SIGTERM."""


# From here on a Ctrl-C (even during the imports below) ends with 130 and one line, not a traceback.
try:
    from kdmarl_bench.signals import Terminated, install_sigterm

    install_sigterm()
    import click

    from kdmarl_bench import __version__
except KeyboardInterrupt:
    sys.stderr.write("interrupted\n")
    sys.exit(EXIT_INTERRUPTED)

COMMAND_MODULES = (
    "kdmarl_bench.commands.envs",
    "kdmarl_bench.commands.evaluate",
    "kdmarl_bench.commands.plan",
    "kdmarl_bench.commands.results",
    "kdmarl_bench.commands.train",
    "kdmarl_bench.commands.profile",
    "kdmarl_bench.commands.run",
    "kdmarl_bench.commands.methods",
    "kdmarl_bench.commands.show",
    "kdmarl_bench.commands.tune",
)


def _write_traceback(text: str) -> str:
    """Save a crash's traceback: under the run's output folder when a command named one, else in the user's
    cache (``$XDG_CACHE_HOME/kdmarl-bench/crashes``) or the temp folder. Returns the file's path."""
    import os
    import tempfile
    import time
    from pathlib import Path

    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kdmarl-bench" / "crashes"
    for folder in (crash_dir(), cache, Path(tempfile.gettempdir())):
        if folder is None:
            continue
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            path = Path(folder) / name
            path.write_text(text, encoding="utf-8")
            return str(path)
        except OSError:
            continue
    return "(could not be written; it follows)\n" + text


_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
"""Write failures that are the machine's state, not a bug: exit 2 with the file named."""


def _forget_interrupt() -> None:
    """Keep the exit code 130 after a handled Ctrl-C.

    CPython sets a process-wide "unhandled KeyboardInterrupt" flag when a Ctrl-C ends a piece of code
    run through its C API (some libraries run such code while they are imported); the flag survives
    our catching the exception, and at exit the interpreter then kills itself with SIGINT (exit
    status -2) instead of exiting 130. Running an empty statement through the same C API clears it.
    """
    import ctypes

    try:
        ctypes.pythonapi.PyRun_SimpleStringFlags(b"", None)
    except (AttributeError, OSError):  # not CPython: nothing to clear
        pass


def _exit_promptly(code: int) -> None:
    """Exit with ``code`` without the interpreter's teardown of every module.

    Freeing torch's and XLA's runtimes at interpreter shutdown takes 1-4 s after the last line is
    printed, during which the terminal looks hung. Everything a normal exit guarantees that we rely
    on still happens: non-daemon threads are joined, the atexit handlers run and both streams are
    flushed; every file we write is closed (and renamed into place) before a command returns.
    """
    import atexit
    import os
    import threading

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to say
            pass
    os._exit(code)


class KdmarlCli(click.Group):
    """The command group, with one top-level handler for interrupts and unexpected errors."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            try:
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            except click.exceptions.Abort as exc:
                # click turns Ctrl-C into Abort ("Aborted!", exit 1); take it back to the interrupt path.
                interrupt = exc.__cause__ if isinstance(exc.__cause__, KeyboardInterrupt) else exc.__context__
                if isinstance(interrupt, KeyboardInterrupt):
                    raise interrupt from None
                raise
        except KeyboardInterrupt as exc:
            _forget_interrupt()
            what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
            click.echo(f"{what}: nothing was lost; finished results are kept", err=True)
            code = EXIT_INTERRUPTED
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            code = 1
        except click.ClickException as exc:
            if not standalone_mode:
                raise
            exc.show()
            code = exc.exit_code
        except KdmarlError as exc:  # a library error that a command did not wrap
            click.echo(f"Error: {exc}", err=True)
            code = exc.exit_code
        except SystemExit:
            raise
        except OSError as exc:
            if exc.errno not in _STORAGE_ERRNOS:
                return self._internal_error(exc, standalone_mode)
            # A full disk or a folder that became read-only mid-run: not a bug, and nothing finished is lost.
            click.echo(f"Error: cannot write {exc.filename or 'a file'}: {exc.strerror or exc}; every result "
                       "finished before this is kept; free space (or fix permissions) and re-run to resume", err=True)
            code = 2
        except Exception as exc:  # noqa: BLE001 - the one place every unexpected error ends up
            return self._internal_error(exc, standalone_mode)
        else:
            if not standalone_mode:
                return rv
            code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
        if not standalone_mode:
            return code
        if args is None:  # a real process (the console script, python -m), not a test runner's call
            _exit_promptly(code)
        sys.exit(code)

    @staticmethod
    def _internal_error(exc: BaseException, standalone_mode: bool):
        import traceback

        where = _write_traceback("".join(traceback.format_exception(exc)))
        first = str(exc).splitlines()[0] if str(exc) else ""
        click.echo(f"internal error ({type(exc).__name__}: {first[:200]}); this is a bug in kdmarl-bench "
                   f"or a library, not your input. Full traceback: {where}", err=True)
        if not standalone_mode:
            return EXIT_INTERNAL_ERROR
        sys.exit(EXIT_INTERNAL_ERROR)


@click.group(cls=KdmarlCli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kdmarl-bench")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or log lines on stderr (results and errors still print).")
def main(quiet: bool) -> None:
    """Benchmark knowledge distillation of MARL teachers into small per-agent students."""
    set_quiet(quiet)


def _install_commands() -> None:
    import importlib

    for mod_name in COMMAND_MODULES:
        mod = importlib.import_module(mod_name)
        for cmd in getattr(mod, "COMMANDS", ()):
            main.add_command(cmd)


try:
    _install_commands()
except KeyboardInterrupt:
    sys.stderr.write("interrupted\n")
    sys.exit(EXIT_INTERRUPTED)
