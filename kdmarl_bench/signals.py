"""Ctrl-C and SIGTERM: one clean path (KeyboardInterrupt → exit 130), never a half-imported library.

A Ctrl-C that lands inside ``import numpy``/``scipy``/``torch``/``jax`` can leave a module
half-initialised; a library that swallows the KeyboardInterrupt then fails later with a
RecursionError or a segfault instead of exiting 130. So the heavy imports run with interrupts
deferred: a signal that arrives meanwhile is held and raised as soon as the import is done.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import threading
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that it takes Ctrl-C's clean path."""


def _raise_terminated(signum, frame):  # noqa: ARG001 - signal handler signature
    raise Terminated()


def install_sigterm() -> None:
    """Make SIGTERM raise ``Terminated`` (a KeyboardInterrupt) in the main thread."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block is done, then raise KeyboardInterrupt / Terminated."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum, frame):  # noqa: ARG001
        received.append(signum)

    old_int = signal.signal(signal.SIGINT, hold)
    old_term = signal.signal(signal.SIGTERM, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    if received:
        raise Terminated() if received[0] == signal.SIGTERM else KeyboardInterrupt()


HEAVY_MODULES = ("numpy", "scipy.stats", "torch")
"""Imported (interrupts deferred) before any command body runs; jax and mpe2 are imported the same way
where they are first needed (envs/smax.py, envs/mpe.py)."""


def import_heavy(names: tuple[str, ...] = HEAVY_MODULES) -> None:
    with deferred_interrupts():
        for name in names:
            try:
                importlib.import_module(name)
            except ImportError:  # an optional backend; the command reports it where it is needed
                pass
