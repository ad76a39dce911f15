"""A self-contained cell and the work a worker does with it.

:class:`CellSpec` carries everything one cell needs (the planned :class:`~kdmarl_bench.suite.Cell`,
the resolved method config, the teacher reference and digest, the suite's identity) as plain,
picklable data, so a worker in another process or on another machine runs it without the suite
file or the run directory. Workers never write results: :func:`execute_job` returns the record and
the student's weights as bytes, and the driver writes cell files and checkpoints.

Latency is not measured here: a busy worker would time its neighbours. The driver times every
distinct architecture once per run after training (:mod:`kdmarl_bench.profiling.phase`).
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kdmarl_bench.errors import BackendUnavailable, UsageError
from kdmarl_bench.results.model.records import Cost, CurvePoint, Record, Student
from kdmarl_bench.results.store.cells import cell_key
from kdmarl_bench.safeio import task_dirname
from kdmarl_bench.suite import Cell
from kdmarl_bench.suite_tables import ProfileSettings
from kdmarl_bench.teachers.resolve import CheckpointBlob, TeacherRef

if TYPE_CHECKING:
    from kdmarl_bench.evaluate import EvalResult
    from kdmarl_bench.methods.base import DistillContext

RECORD_VERSION = 1
"""Part of every cell key. Records no longer carry latency in the cell file (it is attached from
``OUT/latency/`` when the leaderboard is built), but the keys are unchanged so old run dirs resume."""


# ---------------------------------------------------------------------------------
# the cell and the other jobs a worker runs
@dataclass(frozen=True)
class CellSpec:
    """One cell with everything a worker needs to run it."""

    cell: Cell
    """The planned (task, method, size, seed) with its budget and eval protocol."""
    method_config: dict[str, Any]
    """The method's resolved config (defaults + suite overrides), as ``dataclasses.asdict``."""
    teacher: TeacherRef
    """The task's teacher: reference and weights digest (None until a suite-trained teacher exists)."""
    profile: ProfileSettings
    """How the driver's profile phase times this cell's policy."""
    suite: dict[str, str]
    """The suite's identity (name, version, sha256, path) for the student's checkpoint card."""
    log_dir: str | None = None
    """``run --log-dir``: this cell's TensorBoard event folder (not part of the key)."""

    @property
    def key(self) -> str:
        """Names ``cells/<key>.json``: the hash of everything that determines the result."""
        if self.teacher.sha256 is None:
            raise ValueError(f"{self.cell.label()}: the teacher is not trained yet, so the cell has no key")
        from kdmarl_bench.methods import (
            METHODS,  # as in make_cell_spec: the methods pull in torch and the envs
        )

        revision = METHODS.get(self.base_method).revision
        return cell_key({"record_version": RECORD_VERSION, **self.cell.config(),
                         "teacher_sha256": self.teacher.sha256, "resolved_config": self.method_config,
                         **({"method_revision": revision} if revision > 1 else {})})

    @property
    def base_method(self) -> str:
        return self.cell.base_method or self.cell.method

    @property
    def checkpoint_stem(self) -> str:
        """Where the driver writes the student, relative to the run dir (no extension)."""
        c = self.cell
        return f"students/{task_dirname(c.task)}/{c.method}/{c.size_label}/seed{c.seed}"

    def with_teacher_digest(self, sha256: str) -> CellSpec:
        return replace(self, teacher=replace(self.teacher, sha256=sha256))


def make_cell_spec(cell: Cell, teacher: TeacherRef, profile: ProfileSettings, suite: dict[str, str],
                   log_root: str | None = None) -> CellSpec:
    """Resolve the method config once (defaults + overrides); the key and the worker use this copy.
    ``log_root`` (``run --log-dir``) gives the cell a TensorBoard folder under it."""
    from kdmarl_bench.methods import METHODS

    method = METHODS.get(cell.base_method or cell.method).from_overrides(cell.method_config)
    spec = CellSpec(cell, dataclasses.asdict(method.config), teacher, profile, dict(suite))
    if log_root is not None:
        from kdmarl_bench.training_log import cell_log_dir

        spec = replace(spec, log_dir=str(cell_log_dir(log_root, spec.checkpoint_stem)))
    return spec


@dataclass(frozen=True)
class TeacherJob:
    """Train a suite's teacher (``[teacher] source = "train"``); the result is a CheckpointBlob."""

    task: str
    steps: int
    command: str
    kind: str = "local"
    """``privileged``: train the centralized expert (``[teacher] kind``)."""

    def label(self) -> str:
        return f"{self.task} · {'privileged ' if self.kind == 'privileged' else ''}teacher training · {self.steps:,} steps"


@dataclass(frozen=True)
class RandomScoreJob:
    """R_rand under the same protocol (return tasks only); the result is a float."""

    task: str
    episodes: int
    eval_seed: int

    @property
    def key(self) -> str:
        return cell_key({"kind": "random-score", "task": self.task, "episodes": self.episodes,
                         "eval_seed": self.eval_seed})

    def label(self) -> str:
        return f"{self.task} · random policy score"


@dataclass(frozen=True)
class CellResult:
    """What a worker sends back for one cell: the record and, for students, the weights."""

    record: Record
    student: CheckpointBlob | None = None


Job = CellSpec | TeacherJob | RandomScoreJob
ProgressFn = Callable[[int, dict], None]
"""``progress(env_steps_done, metrics)`` from a training loop."""


# ---------------------------------------------------------------------------------
# running one job (in a worker, or inline)
def execute_job(job: Job, teacher: CheckpointBlob | None, device: str = "cpu",
                progress: ProgressFn | None = None) -> CellResult | CheckpointBlob | float | None:
    """Run one job; the same function serves every executor (pure apart from the scratch dir)."""
    if isinstance(job, TeacherJob):
        from kdmarl_bench.teachers.resolve import train_teacher_blob

        return train_teacher_blob(job.task, job.steps, job.command, job.kind)
    if isinstance(job, RandomScoreJob):
        from kdmarl_bench.envs import get_task
        from kdmarl_bench.evaluate import evaluate

        if get_task(job.task).spec.metric != "return":
            return None
        return evaluate(None, job.task, job.episodes, job.eval_seed).score
    return run_cell(job, teacher, device, progress)


def run_cell(spec: CellSpec, teacher_blob: CheckpointBlob | None, device: str = "cpu",
             progress: ProgressFn | None = None) -> CellResult:
    """Distill (or just evaluate) one cell and count its cost; nothing is written.

    ``teacher_blob`` None loads the teacher from ``spec.teacher.ref`` (the zoo, or a path that
    exists on this machine); either way the weights must match ``spec.teacher.sha256``.
    """
    import torch

    from kdmarl_bench.envs import get_task
    from kdmarl_bench.evaluate import evaluate_protocol
    from kdmarl_bench.methods import METHODS
    from kdmarl_bench.methods.base import DistillContext, NonFiniteLoss
    from kdmarl_bench.profiling.flops import count_policy_cost
    from kdmarl_bench.teachers.resolve import load_teacher_blob

    cell = spec.cell
    task = get_task(cell.task)
    env_spec = task.spec
    if teacher_blob is None:
        raise ValueError(f"{cell.label()}: no teacher weights were shipped with the cell")
    teacher = load_teacher_blob(teacher_blob, cell.task, spec.teacher.sha256)
    teacher_sha = teacher_blob.sha256
    method_cls = METHODS.get(spec.base_method)
    record = Record(
        task=cell.task, backend=env_spec.backend, backend_versions=task.versions(), metric=env_spec.metric,
        method=cell.method, base_method=spec.base_method, student=None, seed=cell.seed, score=None,
        episode_scores=[], win_rate=None, teacher_score=None, random_score=None, retention=None,
        budget={"env_steps": cell.env_steps}, train=None, cost=None, latency=[],
        checkpoint=None if method_cls.trains_student else spec.teacher.ref, error=None,
        teacher_kind="privileged" if teacher.view == "privileged" else "local", method_kind=method_cls.kind,
        view=cell.view,
        extra={"eval_seed": cell.eval_seed, "eval_episodes": cell.eval_episodes, "teacher": spec.teacher.ref,
               "teacher_sha256": teacher_sha, "method_config": {}},
    )
    policy = teacher
    student_blob = None
    if method_cls.trains_student:
        from kdmarl_bench.envs.registry import get_view
        from kdmarl_bench.models.capacity import resolve_widths
        from kdmarl_bench.models.policy import StudentPolicy

        size = cell.size
        view = get_view(cell.task, cell.view, "cell view", students=True)
        widths, fit = resolve_widths(view.obs_dims, env_spec.n_actions, size.hidden, size.scale, size.flops_reduction,
                                     teacher.architecture(), f"{cell.label()}: size {size.label!r}")
        fitted = {} if fit is None else {"flops_reduction_target": fit.target,
                                         "flops_reduction": round(fit.reduction, 4)}
        method = method_cls.from_overrides(cell.method_config)
        method_config = dataclasses.asdict(method.config)
        record = replace(record, student=Student([list(w) for w in widths], size.label, extra=fitted),
                         extra={**record.extra, "method_config": method_config})
        # Same seed → same student init for every method (paired comparison).
        torch.manual_seed(10_007 * cell.seed + 1)
        student = StudentPolicy(view.obs_dims, env_spec.n_actions, widths, view=view.name)
        from kdmarl_bench.training_log import CellLog, tee

        log = CellLog(spec.log_dir) if spec.log_dir else None
        ctx = DistillContext(spec=env_spec, make_env=lambda n: task.make(n), teacher=teacher, student=student,
                             env_steps=cell.env_steps, num_envs=cell.num_envs, seed=cell.seed,
                             device=torch.device(device), progress=tee(log, progress), eval_at=tuple(cell.eval_at),
                             evaluate=lambda pol: evaluate_protocol(pol, cell.task, cell.eval_episodes,
                                                                    cell.eval_seed_list))
        try:
            stats = method.train(ctx)
        except NonFiniteLoss as exc:
            record = replace(record, error=f"{type(exc).__name__}: {exc}")
            return CellResult(record)
        except (UsageError, BackendUnavailable):
            raise
        except Exception as exc:  # a method bug must not lose the other cells' results
            tb = traceback.format_exc(limit=4)
            record = replace(record, error=f"{type(exc).__name__}: {exc}\n{tb}")
            return CellResult(record)
        finally:
            if log is not None and record.error is not None:
                log.close()
        # Intermediate evaluations ran inside train(): their time is not training time.
        stats = stats.finished(ctx.eval_wall_s)
        record = replace(record, train=stats)
        policy = student.eval()
        student_blob = student_checkpoint_blob(student, {
            "kind": "student",
            "task": cell.task,
            "method": cell.method,
            "method_config": method_config,
            "teacher": spec.teacher.ref,
            "view": cell.view,
            "seed": cell.seed,
            "env_steps": stats.env_steps,
            "suite": spec.suite,
        })

    # ---- evaluate (greedy and sampled, paired eval seeds) ------------------------------
    t0 = time.perf_counter()
    res = evaluate_protocol(policy, cell.task, cell.eval_episodes, cell.eval_seed_list)
    sampled = res.sampled
    seeds = {} if res.eval_seeds is None else {"eval_seeds": res.eval_seeds}
    record = replace(
        record, score=res.score, episode_scores=res.episode_scores, win_rate=res.win_rate,
        score_sampled=None if sampled is None else sampled.score,
        episode_scores_sampled=None if sampled is None else sampled.episode_scores,
        random_score=None,  # the driver's random-score job fills it
        extra={**record.extra, "mean_return": res.mean_return, **seeds,
               "eval_wall_s": round(time.perf_counter() - t0, 2)},
    )
    if method_cls.trains_student:
        curve = learning_curve(ctx, stats.env_steps, res)
        record = replace(record, curve=curve)
        if log is not None:
            log.curve(curve)
            log.final(res.score, stats.env_steps)
            log.close()
    # ---- cost (counted here; latency is timed by the driver's profile phase) --------
    from kdmarl_bench.profiling.memory import memory_footprint

    actors, obs_dims = policy.deploy_actors(), list(policy.obs_dims)
    record = replace(record, cost=Cost.from_dict(count_policy_cost(actors, obs_dims)), latency=[],
                     extra={**record.extra, "memory": memory_footprint(actors, obs_dims).to_dict()})
    # ---- int8 twin ([profile] quantize): scored under the same protocol ---------------
    if "int8" in spec.profile.quantize and method_cls.trains_student:
        from kdmarl_bench.profiling.quantize import int8_result

        # Its retention is filled by the driver once the teacher's score is known (with_int8_retention).
        int8 = int8_result(policy, cell.task, cell.eval_episodes, cell.eval_seed_list, fp32_score=res.score,
                           warmup=spec.profile.warmup, iters=spec.profile.iters)
        record = replace(record, extra={**record.extra, "int8": int8})
    return CellResult(record, student_blob)


def learning_curve(ctx: DistillContext, env_steps_used: int, final: EvalResult) -> list[CurvePoint]:
    """The record's ``curve``: the intermediate points the method reached, then every other budget
    point (the final one, and any the method stopped short of) with the final evaluation ``final``."""
    done = {c.env_steps: c for c in ctx.curve}
    return [done.get(p) or CurvePoint.of(p, env_steps_used, final) for p in ctx.budget_points()]


def student_checkpoint_blob(policy, card: dict) -> CheckpointBlob:
    """The same bytes ``save_checkpoint`` writes (safetensors + card), built in memory."""
    import json

    from safetensors.torch import save

    from kdmarl_bench.checkpoint import CARD_VERSION

    state = {k: v.detach().contiguous().cpu() for k, v in policy.state_dict().items()}
    full = {"card_version": CARD_VERSION, "architecture": policy.architecture(), **card}
    return CheckpointBlob(save(state), json.dumps(full, indent=2))
