"""``--executor ray``: each job is a Ray Core task, on this machine or a cluster.

Connects to ``address`` (``--ray-address``), else ``RAY_ADDRESS``, else starts a local instance bound
to 127.0.0.1. A teacher the suite trains is a task whose result (the checkpoint as bytes) is an
argument of its students' tasks, so Ray runs them after it, wherever they land. A task whose worker
dies is retried (``max_retries``); the driver records a cell once, whatever the retries. Workers may
be other machines: they get the teacher as bytes and send the record and the student back, and only
the driver writes into ``--out``. Workers need ``kdmarl-bench`` installed (same version).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from typing import Any

from kdmarl_bench.errors import BackendUnavailable, UsageError
from kdmarl_bench.executors.base import WORKER_ENV, Executor, usable_cores, worker_entry
from kdmarl_bench.executors.events import JobDone, JobEnd, JobFailed, WorkerEvent
from kdmarl_bench.signals import deferred_interrupts, install_sigterm

INSTALL_HINT = 'pip install "kdmarl-bench[ray]"'
MAX_RETRIES = 3
"""Re-runs of a task whose worker process or node was lost."""
CONNECT_TIMEOUT_S = 30.0
"""Default ``--ray-timeout``: how long to try reaching a cluster's address before exit 2."""
_ADDRESS_RE = re.compile(r"^(?:(ray)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):([0-9]{1,5})$")


def parse_address(address: str) -> tuple[str, int]:
    """(host, port) of ``HOST:PORT`` or ``ray://HOST:PORT``; UsageError (exit 2) naming the address otherwise.
    ``auto`` (an already running local cluster) is Ray's own and passes unparsed."""
    m = _ADDRESS_RE.match(address.strip())
    if not m or not 1 <= int(m.group(3)) <= 65535:
        raise UsageError(f"--ray-address {address!r}: not a Ray address; expected HOST:PORT (the head node's GCS "
                         "port, e.g. 10.0.0.5:6379), ray://HOST:PORT (Ray Client), or auto")
    return m.group(2).strip("[]"), int(m.group(3))


def wait_reachable(address: str, timeout: float) -> None:
    """Try a TCP connection to ``address`` until it answers or ``timeout`` seconds pass (then UsageError, exit 2):
    Ray itself would retry an unreachable head node for ever."""
    host, port = parse_address(address)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise UsageError(f"--ray-address {address!r}: no Ray cluster answered within {timeout:g} s ({last}); "
                             "check the address and that the head node runs, or raise --ray-timeout")
        try:
            with socket.create_connection((host, port), timeout=min(left, 5.0)):
                return
        except OSError as exc:
            last = exc.strerror or str(exc) or type(exc).__name__
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailable(f"--executor ray needs Ray, which is not installed here: {INSTALL_HINT}") from exc
    return ray


def _remote_entry(job_id: int, job: Any, teacher: Any, device: str, threads: int, events: Any) -> Any:
    return worker_entry(job_id, job, teacher, device, threads, events)


_REAPER = """
import os, select, signal, sys

driver, me, known = int(sys.argv[1]), os.getpid(), {}


def scan():
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                fields = stat[stat.rindex(")") + 2:].split()
                children.setdefault(int(fields[1]), []).append((int(entry), fields[19]))
            except (OSError, ValueError, IndexError):
                pass
    stack = [driver]
    while stack:
        for pid, start in children.get(stack.pop(), []):
            if pid != me:
                known[pid] = start
                stack.append(pid)


while os.getppid() == driver:  # the driver is alive: learn the processes it (and Ray) started
    scan()
    ready, _, _ = select.select([0], [], [], 1.0)
    if ready and not os.read(0, 1):  # the driver closed the pipe: a normal end
        break
for pid, start in known.items():
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        if stat[stat.rindex(")") + 2:].split()[19] == start:  # the same process, not a reused pid
            os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass
"""
"""The reaper's program (run with ``python -c``; Linux ``/proc``)."""


class _Reaper:
    """A tiny process that kills the local Ray instance's processes once the driver is gone, however it went
    (a SIGKILLed driver cannot run ``ray.shutdown``; Ray's task workers follow their raylet, but its dashboard
    and runtime-env agents outlive it). Every second it notes the driver's descendants from ``/proc``; when the
    driver dies (its parent changes) or closes the pipe after ``ray.shutdown``, it SIGKILLs those still alive."""

    def __init__(self) -> None:
        import subprocess
        import sys

        self._proc = None
        if not os.path.isdir("/proc"):  # not Linux: Ray's own clean-up only
            return
        self._proc = subprocess.Popen([sys.executable, "-c", _REAPER, str(os.getpid())], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def close(self) -> None:
        """After ``ray.shutdown``: the reaper kills whatever Ray left, and exits."""
        if self._proc is None:
            return
        try:
            self._proc.stdin.close()
            self._proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - best effort at the end of a run
            pass


@contextlib.contextmanager
def _keep_sigterm_handler(ray: Any):
    """Stop ``ray.init`` from replacing the SIGTERM handler with its own (``sys.exit(15)``) for the block."""
    utils = getattr(getattr(ray, "_private", None), "utils", None)
    original = getattr(utils, "set_sigterm_handler", None)
    if original is None:
        yield
        return
    utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        utils.set_sigterm_handler = original


class RayExecutor(Executor):
    name = "ray"
    resolves_dependencies = True

    def __init__(self, workers: int | None = None, threads: int = 1, device: str = "cpu", address: str | None = None,
                 timeout: float = CONNECT_TIMEOUT_S):
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address and address != "auto":
            parse_address(address)  # a malformed address is the user's input: exit 2 before importing Ray
        ray = import_ray()
        self._ray = ray
        self.threads = threads
        self.device = device
        self._started_here = False
        self._reaper: _Reaper | None = None
        if not ray.is_initialized():
            if address and address != "auto":
                wait_reachable(address, timeout)
            # Ray's start-up installs its own SIGTERM handler (exit 15, or an abort later); a SIGTERM meanwhile
            # is held, our handler put back, then it takes the tool's interrupt path (exit 130).
            try:
                with deferred_interrupts(), _keep_sigterm_handler(ray):
                    if address:
                        ray.init(address=address, log_to_driver=False)
                    else:
                        self._reaper = _Reaper()  # the instance dies with this driver, even by SIGKILL mid-start
                        ray.init(address="local", num_cpus=workers or usable_cores(), include_dashboard=False,
                                 _node_ip_address="127.0.0.1", log_to_driver=False)
                        self._started_here = True
            except KeyboardInterrupt:
                install_sigterm()
                if ray.is_initialized():
                    ray.shutdown()
                self._close_reaper()
                raise
            except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
                install_sigterm()
                self._close_reaper()
                where = f"--ray-address {address!r}" if address else "a local Ray instance"
                raise UsageError(f"{where}: Ray could not start or connect: {str(exc).splitlines()[0][:300]}") from exc
            install_sigterm()
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = min(workers, cpus) if workers else cpus
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # The progress queue lives on the driver's node: losing another node must not take it (and every task
        # that reports to it) down with it.
        here = ray.get_runtime_context().get_node_id()
        self._events = Queue(actor_options={"num_cpus": 0,
                                            "scheduling_strategy": NodeAffinitySchedulingStrategy(here, soft=True)})
        # Each task takes threads CPUs, so Ray never runs more tasks on a node than it has cores.
        # The thread pins go with every task (workers start with them, before torch or jax is imported).
        self._remote = ray.remote(num_cpus=threads, max_retries=MAX_RETRIES, retry_exceptions=False,
                                  runtime_env={"env_vars": dict(WORKER_ENV)})(_remote_entry)
        self._refs: dict[Any, int] = {}
        self._by_id: dict[int, Any] = {}
        self._queued: list[tuple[int, Any, Any]] = []

    # Only ``workers`` tasks are in flight at once (--jobs caps a cluster too); the rest wait here.
    def submit(self, job_id: int, job: Any, teacher: Any = None) -> None:
        self._queued.append((job_id, job, teacher))
        self._fill()

    def _fill(self) -> None:
        while self._queued and len(self._refs) < self.workers:
            job_id, job, teacher = self._queued.pop(0)
            ref = self._remote.remote(job_id, job, teacher, self.device, self.threads, self._events)
            self._refs[ref] = job_id
            self._by_id[job_id] = ref

    def handle(self, job_id: int) -> Any:
        ref = self._by_id.get(job_id)
        if ref is None:  # not in flight yet: start it now so students can depend on its ref
            for i, (jid, job, teacher) in enumerate(self._queued):
                if jid == job_id:
                    del self._queued[i]
                    ref = self._remote.remote(jid, job, teacher, self.device, self.threads, self._events)
                    self._refs[ref] = jid
                    self._by_id[jid] = ref
                    break
            else:
                raise KeyError(job_id)
        return ref

    def wait(self, timeout: float) -> list[JobEnd]:
        ray = self._ray
        if not self._refs:
            self._fill()
            if not self._refs:
                return []
        done, _ = ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        out: list[JobEnd] = []
        for ref in done:
            job_id = self._refs.pop(ref)
            try:
                out.append(JobDone(job_id, ray.get(ref)))
            except ray.exceptions.RayTaskError as exc:
                out.append(JobFailed(job_id, exc.as_instanceof_cause()))
            except ray.exceptions.RayError as exc:  # retries exhausted: worker or node lost
                out.append(JobFailed(job_id, exc))
        self._fill()
        return out

    def events(self) -> list[WorkerEvent]:
        out = []
        while not self._events.empty():
            try:
                out.extend(self._events.get_nowait_batch(self._events.qsize()))
            except Exception:  # the queue actor is gone (shutdown): nothing more to report
                break
        return out

    def pending(self) -> int:
        return len(self._refs) + len(self._queued)

    def describe(self) -> str:
        where = "local Ray instance (127.0.0.1)" if self._started_here else "Ray cluster"
        return f"ray executor on a {where}, {self.workers} worker(s)"

    def stop(self) -> None:
        for ref in list(self._refs):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # already finished or gone
                pass
        self._refs.clear()
        self._queued.clear()
        self.close()

    def close(self) -> None:
        try:
            self._ray.kill(self._events.actor)
        except Exception:
            pass
        if self._started_here:
            self._ray.shutdown()
        self._close_reaper()

    def _close_reaper(self) -> None:
        if self._reaper is not None:
            self._reaper.close()
            self._reaper = None
