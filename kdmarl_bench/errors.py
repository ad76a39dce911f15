"""Error classes. Each maps to a CLI exit code (see DESIGN.md: CLI conventions)."""

from __future__ import annotations


class KdmarlError(Exception):
    """Base class for errors a user can cause and fix; never shown as a traceback."""

    exit_code = 2


class UsageError(KdmarlError):
    """Bad input: an invalid suite, leaderboard, checkpoint or name (exit 2)."""

    exit_code = 2


class BackendUnavailable(KdmarlError):
    """A needed backend (e.g. StarCraft II) is not installed here (exit 3)."""

    exit_code = 3


class TrainingError(KdmarlError):
    """A training run failed (e.g. a NaN loss); recorded per cell, the run goes on."""

    exit_code = 4


class NonFiniteLoss(RuntimeError):
    """Raised by a training loop (a method, MAPPO) when a loss becomes NaN/inf; the runner records it for
    the cell."""
