"""Where cells run: inline, a local process pool, or a Ray cluster — one interface (:class:`Executor`).

``make_executor("local", jobs=N)`` / ``make_executor("ray", jobs=N, address=...)`` build one; the
runner (the *driver*) submits jobs, collects results and alone writes the run directory.
"""

from kdmarl_bench.errors import UsageError
from kdmarl_bench.executors.base import WORKER_ENV, Executor, InlineExecutor, usable_cores, worker_entry
from kdmarl_bench.executors.local import LocalExecutor
from kdmarl_bench.executors.ray import RayExecutor

EXECUTORS = ("local", "ray", "inline")


def make_executor(name: str, jobs: int | None = None, threads: int = 1, device: str = "cpu",
                  address: str | None = None, timeout: float = 30.0) -> Executor:
    """An executor by name. ``jobs`` None = usable cores (local) or the cluster's CPUs (ray); ``timeout``: seconds
    to reach a Ray cluster's ``address`` before exit 2."""
    if name == "local":
        return LocalExecutor(jobs or usable_cores(), threads=threads, device=device)
    if name == "inline":  # this process, one cell at a time: for debuggers and profilers
        return InlineExecutor(device)
    if name == "ray":
        return RayExecutor(jobs, threads=threads, device=device, address=address, timeout=timeout)
    raise UsageError(f"--executor {name!r}: unknown executor; valid choices: {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "WORKER_ENV", "Executor", "InlineExecutor", "make_executor", "usable_cores", "worker_entry"]
