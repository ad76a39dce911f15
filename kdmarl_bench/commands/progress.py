"""The ``run`` progress display: one overall bar (done / running / failed, ETA) and a line per running cell."""

from __future__ import annotations

import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from kdmarl_bench.results.model.records import Record
from kdmarl_bench.runner import RunEvents
from kdmarl_bench.suite import Cell


def eta_seconds(remaining: int, finished_here: int, elapsed_s: float) -> float | None:
    """Time left at the rate cells finished so far in this run (None before the first one)."""
    if finished_here <= 0 or elapsed_s <= 0:
        return None
    return remaining * elapsed_s / finished_here


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "ETA —"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"ETA {h}:{m:02d}:{s:02d}" if h else f"ETA {m}:{s:02d}"


class RunProgress:
    """Rich progress bound to :class:`RunEvents`; counts are what the driver has seen, not guesses."""

    def __init__(self, console):
        self.console = console
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console)
        self.overall: TaskID | None = None
        self.total = 0
        self.done = 0
        self.failed = 0
        self.finished_here = 0
        self.t0 = time.monotonic()
        self.running: dict[tuple, TaskID] = {}

    def __enter__(self) -> RunProgress:
        self.bar.__enter__()
        self.overall = self.bar.add_task("cells", total=None, status="")
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    @staticmethod
    def _id(cell: Cell) -> tuple:
        return (cell.task, cell.method, cell.size_label, cell.seed)

    def _refresh(self) -> None:
        remaining = self.total - self.done
        eta = eta_seconds(remaining, self.finished_here, time.monotonic() - self.t0)
        status = f"done {self.done} · running {len(self.running)} · failed {self.failed} · {_fmt(eta)}"
        self.bar.update(self.overall, completed=self.done, status=status)

    def events(self) -> RunEvents:
        err = self.console

        def on_plan(total: int, finished: int) -> None:
            self.total = total
            self.bar.update(self.overall, total=total)
            if finished:
                err.print(f"resuming: {finished}/{total} cells already finished")
            self.t0 = time.monotonic()
            self._refresh()

        def on_cell_start(cell: Cell) -> None:
            steps = cell.env_steps or None
            self.running[self._id(cell)] = self.bar.add_task(
                f"  {cell.method} · {cell.size_label} · seed {cell.seed}", total=steps,
                status=f"{cell.task}" + ("" if steps else " · evaluating"))
            self._refresh()

        def on_cell_done(cell: Cell, rec: Record, cached: bool) -> None:
            task_id = self.running.pop(self._id(cell), None)
            if task_id is not None:
                self.bar.remove_task(task_id)
            self.done += 1
            if rec.error:
                self.failed += 1
            if not cached:
                self.finished_here += 1
                if rec.error:
                    err.print(f"[red]failed[/] {cell.label()}: {rec.error.splitlines()[0]}")
                else:
                    err.print(f"[green]done[/] {cell.label()}: score {rec.score:.3f}")
            self._refresh()

        def on_cell_lost(cell: Cell, why: str) -> None:
            task_id = self.running.pop(self._id(cell), None)
            if task_id is not None:
                self.bar.remove_task(task_id)
            self.failed += 1
            self._refresh()

        def on_train(cell: Cell, steps: int, metrics: dict) -> None:
            task_id = self.running.get(self._id(cell))
            if task_id is not None:
                self.bar.update(task_id, completed=steps, status=f"{cell.task} · {steps:,}/{cell.env_steps:,} steps")

        return RunEvents(on_plan=on_plan, on_cell_start=on_cell_start, on_cell_done=on_cell_done,
                         on_train_progress=on_train, on_message=err.print, on_cell_lost=on_cell_lost)
