"""``run``: a suite → cells → teachers, distillation, evaluation, cost → leaderboard.

Each finished cell is written at once, atomically, keyed by the hash of its full
config; a re-run skips finished cells, so an interrupted run resumes losing nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from kdmarl_bench.cells import (
    RECORD_VERSION,
    CellResult,
    CellSpec,
    RandomScoreJob,
    TeacherJob,
    make_cell_spec,
    run_cell,
)
from kdmarl_bench.envs import get_task
from kdmarl_bench.errors import BackendUnavailable, KdmarlError, TrainingError, UsageError
from kdmarl_bench.executors.base import Executor, InlineExecutor
from kdmarl_bench.executors.events import JobDone, JobEnd, JobFailed, JobProgress, JobStarted, WorkerEvent
from kdmarl_bench.results.analysis.aggregate import build, with_int8_retention
from kdmarl_bench.results.model.records import LatencyEntry, Leaderboard, Record
from kdmarl_bench.results.store.boards import write_leaderboard
from kdmarl_bench.results.store.cells import ResultStore, claim_out_dir
from kdmarl_bench.results.store.provenance import collect_provenance
from kdmarl_bench.safeio import confine, resolve_out
from kdmarl_bench.suite import Cell, Suite, plan
from kdmarl_bench.teachers.resolve import (
    CheckpointBlob,
    TeacherRef,
    read_checkpoint_blob,
    resolve_teacher,
    teacher_path,
    trained_teacher_stem,
    write_checkpoint_blob,
)

__all__ = ["RECORD_VERSION", "RunEvents", "Runner", "cell_spec_for_record", "run_one_cell", "run_suite"]

@dataclass
class RunEvents:
    """Callbacks the CLI uses to draw progress (all optional)."""

    on_plan: Callable[[int, int], None] | None = None
    """(cells total, cells already finished)."""
    on_cell_start: Callable[[Cell], None] | None = None
    on_cell_done: Callable[[Cell, Record, bool], None] | None = None
    """(cell, record, was_cached)."""
    on_train_progress: Callable[[Cell, int, dict], None] | None = None
    on_message: Callable[[str], None] | None = None
    on_cell_lost: Callable[[Cell, str], None] | None = None
    """(cell, why): a worker was lost and the cell has no result (re-run to retry it)."""


@dataclass
class _Drive:
    """The driver loop's state: the jobs submitted and what came back."""

    specs: list[CellSpec]
    """Every planned cell (a cell waiting for its teacher gets the teacher's digest here)."""
    executor: Executor
    records: list[Record | None]
    """Plan order; None until the cell's record is written or read."""
    jobs: dict[int, object] = field(default_factory=dict)
    """Job id → the job (``CellSpec``, ``TeacherJob`` or ``RandomScoreJob``)."""
    cell_of_job: dict[int, int] = field(default_factory=dict)
    """A cell job's id → the cell's index in ``specs``."""
    started: set[int] = field(default_factory=set)
    """Cell jobs whose start was drawn (``on_cell_start`` once per cell)."""
    blobs: dict[str, CheckpointBlob] = field(default_factory=dict)
    """Task → its teacher's weights, once they exist."""
    teacher_jobs: dict[str, int] = field(default_factory=dict)
    """Task → the job training its teacher."""
    waiting: dict[str, list[int]] = field(default_factory=dict)
    """Task → cells waiting for its teacher job (executors that do not pass results between jobs)."""

    def submit(self, job: object, teacher: object = None, cell_index: int | None = None) -> int:
        job_id = len(self.jobs)
        self.jobs[job_id] = job
        if cell_index is not None:
            self.cell_of_job[job_id] = cell_index
        self.executor.submit(job_id, job, teacher)
        return job_id


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    return torch.device(device)


class Runner:
    """The driver: plans cells, hands them to an executor, writes every result, then profiles."""

    def __init__(self, suite: Suite, out_dir: str | Path, device: str = "auto", events: RunEvents | None = None,
                 retry_failed: bool = False, executor: Executor | None = None, log_dir: str | Path | None = None,
                 teacher_pins: dict[str, str] | None = None):
        self.suite = suite
        self.teacher_pins = dict(teacher_pins or {})
        """Task → the weights digest of the teacher to use (a board's, when it is re-run cell by cell): picks
        a superseded generation of a zoo teacher. Empty for a run: ``zoo`` is this version's teacher."""
        self.log_dir = None if log_dir is None else str(Path(log_dir).resolve())
        """``run --log-dir``: TensorBoard events per cell under this folder (None: off)."""
        self.out = resolve_out(out_dir)
        """The run folder, absolute with symlinks resolved once: every output path is built from it."""
        self.device = resolve_device(device)
        self.events = events or RunEvents()
        self.retry_failed = retry_failed
        self.executor = executor
        self.store = ResultStore(self.out)
        self._teachers: dict[str, TeacherRef] = {}
        self._random: dict[tuple, float | None] = {}
        """(task, eval episodes, eval seed) → the random policy's score (None: win-rate task or not yet)."""

    # ---- teachers ------------------------------------------------------------------
    def teacher_ref(self, task_id: str) -> TeacherRef:
        """The task's teacher reference (and digest once its weights exist), resolved once per run."""
        if task_id not in self._teachers:
            # A board's recorded digest (verify), else the suite's own pin of a zoo generation.
            pin = self.teacher_pins.get(task_id) or self.suite.override(task_id).teacher_sha256
            self._teachers[task_id] = resolve_teacher(task_id, self.suite.teacher_for(task_id), self.out, pin)
        return self._teachers[task_id]

    # ---- cells -----------------------------------------------------------------------
    def specs(self) -> list[CellSpec]:
        """Every planned cell, self-contained (see :class:`kdmarl_bench.cells.CellSpec`)."""
        return [make_cell_spec(c, self.teacher_ref(c.task), self.suite.profile, self.suite.info(), self.log_dir)
                for c in plan(self.suite)]

    def key(self, cell: Cell) -> str:
        # The teacher's weights are part of a cell's identity: a retrained zoo teacher must
        # not be mistaken for the one a finished cell was distilled from.
        # So is the method's resolved config: changing a default must not reuse old cells.
        return make_cell_spec(cell, self.teacher_ref(cell.task), self.suite.profile, self.suite.info()).key

    def _finished(self, spec: CellSpec) -> bool:
        """Whether an earlier run finished this cell: its file is there (a failed one counts unless
        ``--retry-failed``) and so is its student's checkpoint. A cell whose student is gone (a
        committed board that ships some seeds' students only) is trained again: that regenerates it."""
        if not self.store.has(spec.key):
            return False
        if self.store.failed(spec.key):
            return not self.retry_failed
        return spec.base_method == "teacher" or (self.out / f"{spec.checkpoint_stem}.safetensors").is_file()

    def run(self) -> list[Record]:
        """Run (or resume) every cell; returns the records in plan order, latency attached."""
        executor = self.executor or InlineExecutor(str(self.device))
        try:
            # Check every backend and teacher up front: fail before hours of work, not midway.
            for task_id in self.suite.tasks:
                why = get_task(task_id).availability()
                if why is not None:
                    raise BackendUnavailable(f"task {task_id!r} cannot run here: {why}")
                self.teacher_ref(task_id)
            # ... and every deployment runtime the profile asks for (exit 3 with the install command).
            from kdmarl_bench.profiling.deploy import require_paths
            from kdmarl_bench.profiling.runtimes import require_runtime

            # ... and every FLOP-target size against the teachers that exist already (the others at their cells).
            from kdmarl_bench.teachers.resolve import check_student_params, resolve_flops_sizes

            check_student_params(self.suite)
            resolve_flops_sizes(self.suite, self.out)
            require_paths(self.suite.profile.paths)
            if self.suite.profile.quantize:
                require_runtime("onnxruntime")
            specs = self.specs()
            records = self._drive(specs, executor)
        except BaseException:
            executor.stop()  # Ctrl-C or an error: stop every worker; finished cells are already on disk
            raise
        executor.close()
        # ---- profile phase: on the driver, with every worker gone ----------------------
        done = [(s, r) for s, r in zip(specs, records, strict=True) if r is not None]
        done = self._fill_random_scores(done)
        done = self._attach_latency(done)
        lost = [s for s, r in zip(specs, records, strict=True) if r is None]
        if lost:
            names = "; ".join(s.cell.label() for s in lost[:5]) + (" ..." if len(lost) > 5 else "")
            raise TrainingError(f"{len(lost)} cell(s) have no result because their worker was lost ({names}); "
                                f"the other cells are saved in {self.out}: run the same command to retry")
        return [r for _, r in done]

    # ---- the driver loop ---------------------------------------------------------------
    def _drive(self, specs: list[CellSpec], executor: Executor) -> list[Record | None]:
        """Submit every job (random-policy scores, teachers the suite trains, cells), then handle what the
        executor reports until none is left; returns the records in plan order (None: its worker was lost)."""
        d = _Drive(specs, executor, [None] * len(specs))
        cached = [i for i, s in enumerate(specs) if s.teacher.sha256 is not None and self._finished(s)]
        if self.events.on_plan:
            self.events.on_plan(len(specs), len(cached))
        self._load_cached(d, cached)
        todo = [i for i in range(len(specs)) if d.records[i] is None]
        self._submit_random_scores(d, todo)
        self._submit_teachers(d, todo)
        self._submit_cells(d, todo)
        while executor.pending() or any(d.waiting.values()):
            ended = executor.wait(timeout=0.25)
            for ev in [*executor.events(), *ended]:
                self._handle(d, ev)
        return d.records

    def _load_cached(self, d: _Drive, cached: list[int]) -> None:
        """Records an earlier run finished (the same key): read, not run again."""
        for i in cached:
            spec = d.specs[i]
            d.records[i] = self.store.load_cell(spec.key, spec.cell.task, spec.cell.method, spec.cell.seed)
            if self.events.on_cell_done:
                self.events.on_cell_done(spec.cell, d.records[i], True)

    def _submit_random_scores(self, d: _Drive, todo: list[int]) -> None:
        """Random-policy scores first (short, and every record of a return task needs one)."""
        for i in todo:
            c = d.specs[i].cell
            rj = RandomScoreJob(c.task, c.eval_episodes, c.eval_seed)
            if (rj.task, rj.episodes, rj.eval_seed) in self._random:
                continue
            if get_task(c.task).spec.metric != "return":
                self._random[(rj.task, rj.episodes, rj.eval_seed)] = None
            elif self.store.has(rj.key):
                self._random[(rj.task, rj.episodes, rj.eval_seed)] = self.store.load_score(rj.key)
            else:
                self._random[(rj.task, rj.episodes, rj.eval_seed)] = None
                d.submit(rj)

    def _submit_teachers(self, d: _Drive, todo: list[int]) -> None:
        """Teachers the suite trains are jobs their cells depend on; the others' weights are read once."""
        for task in dict.fromkeys(d.specs[i].cell.task for i in todo):
            ref = self.teacher_ref(task)
            if ref.sha256 is None:
                self._msg(f"training teacher for {task} ({ref.steps:,} steps)")
                d.teacher_jobs[task] = d.submit(TeacherJob(
                    task, ref.steps, f"kdmarl-bench run {self.suite.path} (teacher.source = 'train')", ref.kind))
            else:
                d.blobs[task] = read_checkpoint_blob(ref, self.out)

    def _submit_cells(self, d: _Drive, todo: list[int]) -> None:
        """A cell whose teacher is being trained waits for it, or (Ray) depends on the teacher job's result."""
        for i in todo:
            task = d.specs[i].cell.task
            if task in d.blobs:
                d.submit(d.specs[i], d.blobs[task], i)
            elif d.executor.resolves_dependencies:
                d.submit(d.specs[i], d.executor.handle(d.teacher_jobs[task]), i)
            else:
                d.waiting.setdefault(task, []).append(i)

    # ---- one handler per (event, job) kind ----------------------------------------------
    def _handle(self, d: _Drive, ev: WorkerEvent | JobEnd) -> None:
        if isinstance(ev, JobFailed) and isinstance(ev.error, KdmarlError):
            raise ev.error  # a user's mistake (exit 2, 3, 4), not a lost worker
        job = d.jobs.get(ev.job_id)
        handler = _HANDLERS.get((type(ev), type(job)))
        if handler is not None:  # e.g. a teacher's start and progress are not drawn
            handler(self, d, ev, job)

    def _cell_started(self, d: _Drive, ev: JobStarted | JobDone, job: CellSpec) -> None:
        if ev.job_id not in d.started:
            d.started.add(ev.job_id)
            if self.events.on_cell_start:
                self.events.on_cell_start(job.cell)

    def _cell_progress(self, d: _Drive, ev: JobProgress, job: CellSpec) -> None:
        if ev.job_id in d.started and self.events.on_train_progress and d.records[d.cell_of_job[ev.job_id]] is None:
            self.events.on_train_progress(job.cell, ev.steps, {})

    def _cell_done(self, d: _Drive, ev: JobDone, job: CellSpec) -> None:
        i = d.cell_of_job[ev.job_id]
        if d.records[i] is not None:  # recorded once, even if a retry also reported
            return
        self._cell_started(d, ev, job)
        d.records[i] = self._record(i, d.specs, ev.result)
        if self.events.on_cell_done:
            self.events.on_cell_done(d.specs[i].cell, d.records[i], False)

    def _cell_failed(self, d: _Drive, ev: JobFailed, job: CellSpec) -> None:
        self._lost(job, ev.why)

    def _teacher_done(self, d: _Drive, ev: JobDone, job: TeacherJob) -> None:
        blob: CheckpointBlob = ev.result
        write_checkpoint_blob(blob, confine(self.out, trained_teacher_stem(self.out, job.task, job.kind),
                                            "teacher checkpoint"), self.out)
        self._teachers[job.task] = replace(self.teacher_ref(job.task), sha256=blob.sha256)
        d.blobs[job.task] = blob
        for i in d.waiting.pop(job.task, []):
            d.specs[i] = d.specs[i].with_teacher_digest(blob.sha256)
            if self._finished(d.specs[i]):  # a cell an earlier run finished with this same teacher
                self._load_cached(d, [i])
            else:
                d.submit(d.specs[i], blob, i)

    def _teacher_failed(self, d: _Drive, ev: JobFailed, job: TeacherJob) -> None:
        self._msg(f"[red]teacher training for {job.task} failed[/]: {ev.why}")
        for i in d.waiting.pop(job.task, []):
            self._lost(d.specs[i], ev.why)

    def _random_done(self, d: _Drive, ev: JobDone, job: RandomScoreJob) -> None:
        self._random[(job.task, job.episodes, job.eval_seed)] = ev.result
        if ev.result is not None:
            self.store.save_score(job.key, job.task, ev.result, job.episodes, job.eval_seed)

    def _random_failed(self, d: _Drive, ev: JobFailed, job: RandomScoreJob) -> None:
        self._msg(f"random-policy score for {job.task} failed: {ev.why}")

    def _record(self, i: int, specs: list[CellSpec], result: CellResult) -> Record:
        """Write a worker's result: the student checkpoint, then the cell file (atomically, once)."""
        spec = specs[i]
        rec = result.record
        if spec.teacher.sha256 is None:  # submitted before its teacher was trained (Ray dependency)
            spec = specs[i] = spec.with_teacher_digest(rec.teacher_sha256)
        if result.student is not None:
            weights = write_checkpoint_blob(result.student, confine(self.out, spec.checkpoint_stem, "student checkpoint"),
                                            self.out)
            rec = replace(rec, checkpoint=str(weights.relative_to(self.out)))
        c = spec.cell
        rec = replace(rec, random_score=self._random.get((c.task, c.eval_episodes, c.eval_seed)))
        self.store.save(spec.key, rec)
        return rec

    def _fill_random_scores(self, done: list[tuple[CellSpec, Record]]) -> list[tuple[CellSpec, Record]]:
        """A cell saved before its task's random-policy score arrived gets it now (file rewritten)."""
        out = []
        for spec, rec in done:
            c = spec.cell
            score = self._random.get((c.task, c.eval_episodes, c.eval_seed))
            if rec.random_score is None and not rec.error and score is not None:
                rec = replace(rec, random_score=score)
                self.store.save(spec.key, rec)
            out.append((spec, rec))
        return out

    def _lost(self, spec: CellSpec, why: str) -> None:
        if self.events.on_cell_lost:
            self.events.on_cell_lost(spec.cell, why)
        self._msg(f"[red]lost[/] {spec.cell.label()}: {why}")

    # ---- profile phase -----------------------------------------------------------------
    def _attach_latency(self, done: list[tuple[CellSpec, Record]]) -> list[tuple[CellSpec, Record]]:
        """Time every distinct architecture of each task once (interleaved with its teacher) and put
        the measurement on every row that shares it. Runs on the driver with no worker busy."""
        from kdmarl_bench.checkpoint import load_checkpoint
        from kdmarl_bench.profiling.phase import annotate, arch_id, profile_task

        paths = self.suite.profile.paths
        latency: dict[int, list[LatencyEntry]] = {}
        for task in self.suite.tasks:
            rows = [(n, s, r) for n, (s, r) in enumerate(done) if s.cell.task == task and not r.error]
            if not rows:
                continue
            teacher = None
            students: dict[str, object] = {}
            arch_of: list[tuple[int, str, str]] = []
            for n, spec, rec in rows:
                if spec.base_method == "teacher":
                    if teacher is None:
                        policy, _ = load_checkpoint(teacher_path(self.teacher_ref(task), self.out))
                        teacher = (arch_id(policy, paths), policy)
                    arch_of.append((n, teacher[0], "teacher"))
                else:
                    policy, _ = load_checkpoint(self.out / rec.checkpoint)
                    a = arch_id(policy, paths)
                    students.setdefault(a, policy)
                    arch_of.append((n, a, "student"))
            measured = profile_task(self.out, task, teacher, students, self.suite.profile, self.events.on_message)
            roles = {"teacher"} if teacher else set()
            if students:
                roles.add("student")
            counts: dict[str, int] = {}
            for _, a, _ in arch_of:
                counts[a] = counts.get(a, 0) + 1
            for n, a, role in arch_of:
                latency[n] = [LatencyEntry.from_dict(e) for e in annotate(measured[a], a, role, roles, counts[a])]
        return [(s, replace(r, latency=latency[n]) if n in latency else r) for n, (s, r) in enumerate(done)]

    def _msg(self, text: str) -> None:
        if self.events.on_message:
            self.events.on_message(text)


_HANDLERS: dict[tuple[type, type], Callable[[Runner, _Drive, Any, Any], None]] = {
    (JobStarted, CellSpec): Runner._cell_started,
    (JobProgress, CellSpec): Runner._cell_progress,
    (JobDone, CellSpec): Runner._cell_done,
    (JobFailed, CellSpec): Runner._cell_failed,
    (JobDone, TeacherJob): Runner._teacher_done,
    (JobFailed, TeacherJob): Runner._teacher_failed,
    (JobDone, RandomScoreJob): Runner._random_done,
    (JobFailed, RandomScoreJob): Runner._random_failed,
}
"""(event kind, job kind) → the ``Runner`` method that handles it; a pair not listed is ignored."""


def run_one_cell(spec: CellSpec, out_dir: str | Path, device: str = "cpu") -> Record:
    """Run one cell here, in this process (``verify --retrain``): the student checkpoint is written
    under ``out_dir`` (at ``spec.checkpoint_stem``), the record is returned, not saved. No latency."""
    out = resolve_out(out_dir)
    result = run_cell(spec, read_checkpoint_blob(spec.teacher, out), str(resolve_device(device)))
    rec = result.record
    if result.student is not None:
        weights = write_checkpoint_blob(result.student, confine(out, spec.checkpoint_stem, "student checkpoint"), out)
        rec = replace(rec, checkpoint=str(weights.relative_to(out)))
    return rec


def cell_spec_for_record(suite: Suite, record: Record, out_dir: str | Path) -> CellSpec:
    """The planned cell of ``suite`` a leaderboard record came from (task, method, size, seed), with the
    teacher the record names (its digest: a superseded zoo teacher stays usable)."""
    pins = {record.task: record.teacher_sha256} if record.teacher_sha256 else {}
    for spec in Runner(suite, out_dir, device="cpu", teacher_pins=pins).specs():
        c = spec.cell
        if (c.task, c.method, c.size_label, c.seed) == (record.task, record.method, record.size, record.seed):
            return spec
    raise UsageError(f"{suite.path}: no cell of suite {suite.name!r} matches record "
                     f"{record.task} · {record.method} · {record.size} · seed {record.seed}")


def fill_teacher_scores(records: list[Record]) -> list[Record]:
    """Give every record the teacher's score on the same (task, seed) — the retention base (and its
    int8 twin, when it has one, the retention against it)."""
    teachers = {(r.task, r.seed): r for r in records if r.base == "teacher" and not r.error}
    out = []
    for r in records:
        teacher = teachers.get((r.task, r.seed))
        r = replace(r, teacher_score=None if teacher is None else teacher.score)
        if r.score_sampled is not None:  # sampled retention is against the teacher's sampled score
            r = replace(r, teacher_score_sampled=None if teacher is None else teacher.score_sampled)
        out.append(with_int8_retention(r))
    return out


def build_suite_leaderboard(suite: Suite, records: list[Record]) -> Leaderboard:
    protocol = {
        "eval_episodes": {t: suite.eval_episodes(t) for t in suite.tasks},
        "seeds": list(suite.seeds),
        "greedy": True,
        "sampled": True,
        "eval_seeds": {t: suite.eval_seed_count(t) for t in suite.tasks},
        "eval_seed_base": suite.eval.seed_base,
        "budget_env_steps": {t: suite.env_steps(t) for t in suite.tasks},
    }
    task_seeds = suite.task_seeds()
    if task_seeds is not None:
        protocol["task_seeds"] = task_seeds
    return build(fill_teacher_scores(records), suite.info(), protocol,
                 collect_provenance(threads=torch.get_num_threads()))


def rebase_checkpoints(records: list[Record], out_dir: Path, leaderboard_path: Path) -> list[Record]:
    """Checkpoint paths in cells are relative to the run dir; a leaderboard's are relative to it."""
    base = leaderboard_path.resolve().parent
    out = []
    for r in records:
        ck = r.checkpoint
        if ck and not ck.startswith("zoo:") and not Path(ck).is_absolute():
            r = replace(r, checkpoint=os.path.relpath((out_dir / ck).resolve(), base))
        out.append(r)
    return out


def run_suite(suite: Suite, out_dir: str | Path, device: str = "auto", events: RunEvents | None = None,
              retry_failed: bool = False, leaderboard_path: str | Path | None = None,
              executor: Executor | None = None, log_dir: str | Path | None = None) -> tuple[Leaderboard, Path]:
    """Run (or resume) every cell, then write the leaderboard (default ``out_dir/leaderboard.json``).

    ``executor`` None runs the cells one by one in this process; see :mod:`kdmarl_bench.executors`."""
    out_dir = resolve_out(out_dir)  # once: every path below is built from the absolute, resolved folder
    with claim_out_dir(out_dir):  # writable, and no second run on the same folder
        if log_dir is not None:
            from kdmarl_bench.training_log import check_tensorboard

            check_tensorboard()
        runner = Runner(suite, out_dir, device, events, retry_failed, executor, log_dir)
        records = runner.run()
        target = Path(leaderboard_path) if leaderboard_path else out_dir / "leaderboard.json"
        board = build_suite_leaderboard(suite, rebase_checkpoints(records, out_dir, target))
        path = write_leaderboard(target, board)
    return board, path
