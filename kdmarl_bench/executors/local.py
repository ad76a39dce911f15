"""``--executor local``: a process pool on this machine (default: one worker per usable core).

Workers are started with ``spawn`` (JAX is not fork-safe) and with :data:`WORKER_ENV` in their
environment, so XLA and BLAS use one thread each; torch uses ``threads`` per worker. Workers ignore
SIGINT: the driver decides, and on Ctrl-C terminates them all. Workers die with the driver, even when it is
SIGKILLed (``die_with_parent``: parent-death signal on Linux plus a watchdog on the parent pid).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import queue
import signal
from typing import Any

from kdmarl_bench.executors.base import WORKER_ENV, Executor, die_with_parent, worker_entry
from kdmarl_bench.executors.events import JobDone, JobEnd, JobFailed, WorkerEvent

_EVENTS: Any = None  # the worker's end of the progress queue (set by _init_worker)


def _init_worker(events: Any, driver_pid: int) -> None:
    global _EVENTS
    die_with_parent(driver_pid)  # a SIGKILLed driver leaves no worker behind
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The driver ends idle workers with SIGTERM; they die quietly (the CLI's SIGTERM → Ctrl-C path,
    # inherited through the imports, is for the driver only and would print a traceback per worker).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _EVENTS = events


def _run(job_id: int, job: Any, teacher: Any, device: str, threads: int) -> Any:
    return worker_entry(job_id, job, teacher, device, threads, _EVENTS)


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, workers: int, threads: int = 1, device: str = "cpu"):
        if workers < 1:
            raise ValueError(f"need at least one worker, got {workers}")
        self.workers = workers
        self.threads = threads
        self.device = device
        ctx = mp.get_context("spawn")
        self._events = ctx.Queue()
        # The workers inherit the environment at spawn: set the thread pins for them here.
        os.environ.update(WORKER_ENV)
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                            initargs=(self._events, os.getpid()))
        self._futures: dict[cf.Future, int] = {}

    def submit(self, job_id: int, job: Any, teacher: Any = None) -> None:
        fut = self._pool.submit(_run, job_id, job, teacher, self.device, self.threads)
        self._futures[fut] = job_id

    def wait(self, timeout: float) -> list[JobEnd]:
        if not self._futures:
            return []
        done, _ = cf.wait(list(self._futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out: list[JobEnd] = []
        for fut in done:
            job_id = self._futures.pop(fut)
            err = fut.exception()
            out.append(JobFailed(job_id, err) if err else JobDone(job_id, fut.result()))
        return out

    def events(self) -> list[WorkerEvent]:
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except (queue.Empty, OSError, ValueError):
                return out

    def pending(self) -> int:
        return len(self._futures)

    def stop(self) -> None:
        # Terminate the worker processes themselves: cancelling futures would let running cells finish.
        procs = list(getattr(self._pool, "_processes", {}).values())
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._futures.clear()
        self._close_queue()

    def close(self) -> None:
        # Every result is in: the idle workers are terminated rather than left to tear down torch and
        # JAX (seconds each), so the profile phase starts at once on a quiet machine.
        self.stop()

    def _close_queue(self) -> None:
        self._events.close()
        self._events.cancel_join_thread()
