"""``run``: a suite → cells → teachers, distillation, evaluation, cost → leaderboard.

Each finished cell is written at once, atomically, keyed by the hash of its full
config; a re-run skips finished cells, so an interrupted run resumes losing nothing.
"""

from __future__ import annotations

import dataclasses
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from kdmarl_bench.checkpoint import weights_sha256
from kdmarl_bench.envs import get_task
from kdmarl_bench.errors import BackendUnavailable, UsageError
from kdmarl_bench.evaluate import evaluate
from kdmarl_bench.results.store import ResultStore, cell_key, claim_out_dir
from kdmarl_bench.safeio import confine, task_dirname
from kdmarl_bench.suite import Cell, Suite, plan

RECORD_VERSION = 1


@dataclass
class RunEvents:
    """Callbacks the CLI uses to draw progress (all optional)."""

    on_plan: Callable[[int, int], None] | None = None
    """(cells total, cells already finished)."""
    on_cell_start: Callable[[Cell], None] | None = None
    on_cell_done: Callable[[Cell, dict, bool], None] | None = None
    """(cell, record, was_cached)."""
    on_train_progress: Callable[[Cell, int, dict], None] | None = None
    on_message: Callable[[str], None] | None = None


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    return torch.device(device)


class Runner:
    def __init__(self, suite: Suite, out_dir: str | Path, device: str = "auto", events: RunEvents | None = None,
                 retry_failed: bool = False):
        self.suite = suite
        self.out = Path(out_dir)
        self.device = resolve_device(device)
        self.events = events or RunEvents()
        self.retry_failed = retry_failed
        self.store = ResultStore(self.out)
        self._teachers: dict[str, tuple] = {}
        self._digests: dict[str, str] = {}

    # ---- teachers ------------------------------------------------------------------
    def teacher(self, task_id: str):
        """(policy, card, ref, weights path) for a task, loaded or trained once per run."""
        if task_id in self._teachers:
            return self._teachers[task_id]
        from kdmarl_bench.teachers.zoo import load_teacher, resolve_ref

        spec = get_task(task_id).spec
        src = self.suite.teacher_for(task_id)
        if src.source == "train":
            stem = confine(self.out, Path("teachers") / task_dirname(task_id), "teacher checkpoint")
            path = stem.with_suffix(".safetensors")
            if not path.exists():
                from kdmarl_bench.teachers.train import train_teacher

                self._msg(f"training teacher for {task_id} ({src.steps:,} steps)")
                train_teacher(task_id, src.steps, 0, stem,
                              command=f"kdmarl-bench run {self.suite.path} (teacher.source = 'train')")
            ref = str(path.relative_to(self.out))
            policy, card = load_teacher(str(path), spec)
        elif src.source.startswith("zoo"):
            ref = f"zoo:{task_id}" if src.source == "zoo" else src.source
            policy, card = load_teacher(ref, spec)
            path = resolve_ref(ref)
        else:
            # Checkpoint paths in cells are relative to the run dir, like the students'.
            policy, card = load_teacher(src.source, spec)
            path = Path(src.source).with_suffix(".safetensors")
            ref = os.path.relpath(path.resolve(), self.out.resolve())
        self._teachers[task_id] = (policy, card, ref, path)
        return self._teachers[task_id]

    def random_score(self, task_id: str, episodes: int, eval_seed: int) -> float | None:
        """R_rand under the same protocol (return tasks only), cached like a cell."""
        spec = get_task(task_id).spec
        if spec.metric != "return":
            return None
        key = cell_key({"kind": "random-score", "task": task_id, "episodes": episodes, "eval_seed": eval_seed})
        if self.store.has(key):
            return self.store.load_score(key)
        res = evaluate(None, task_id, episodes, eval_seed)
        self.store.save(key, {"kind": "random-score", "task": task_id, "score": res.score, "episodes": episodes,
                              "eval_seed": eval_seed})
        return res.score

    # ---- cells -----------------------------------------------------------------------
    def key(self, cell: Cell) -> str:
        # The teacher's weights are part of a cell's identity: a retrained zoo teacher must
        # not be mistaken for the one a finished cell was distilled from.
        # So is the method's resolved config: changing a default must not reuse old cells.
        from kdmarl_bench.methods import METHODS

        method = METHODS.get(cell.base_method or cell.method).from_overrides(cell.method_config)
        return cell_key({"record_version": RECORD_VERSION, **cell.config(),
                         "teacher_sha256": self.teacher_digest(cell.task),
                         "resolved_config": dataclasses.asdict(method.config)})

    def teacher_digest(self, task_id: str) -> str:
        if task_id not in self._digests:
            path = self.teacher(task_id)[3]
            self._digests[task_id] = weights_sha256(path)
        return self._digests[task_id]

    def run(self) -> list[dict]:
        cells = plan(self.suite)
        # Check every backend and teacher up front: fail before hours of work, not midway.
        for task_id in self.suite.tasks:
            task = get_task(task_id)
            why = task.availability()
            if why is not None:
                raise BackendUnavailable(f"task {task_id!r} cannot run here: {why}")
            self.teacher(task_id)
        keys = [self.key(c) for c in cells]
        done = sum(1 for k in keys if self._finished(k))
        if self.events.on_plan:
            self.events.on_plan(len(cells), done)
        records = []
        for cell, key in zip(cells, keys, strict=True):
            if self._finished(key):
                rec = self.store.load_cell(key, cell.task, cell.method, cell.seed)
                if self.events.on_cell_done:
                    self.events.on_cell_done(cell, rec, True)
            else:
                if self.events.on_cell_start:
                    self.events.on_cell_start(cell)
                rec = self.run_cell(cell)
                self.store.save(key, rec)
                if self.events.on_cell_done:
                    self.events.on_cell_done(cell, rec, False)
            records.append(rec)
        return records

    def _finished(self, key: str) -> bool:
        if not self.store.has(key):
            return False
        return not (self.retry_failed and self.store.load(key).get("error"))

    def run_cell(self, cell: Cell) -> dict:
        from kdmarl_bench.methods import METHODS
        from kdmarl_bench.methods.base import DistillContext, NonFiniteLoss

        task = get_task(cell.task)
        spec = task.spec
        teacher, _, tref, _ = self.teacher(cell.task)
        method_cls = METHODS.get(cell.base_method or cell.method)
        record = {
            "task": cell.task,
            "backend": spec.backend,
            "backend_versions": task.versions(),
            "metric": spec.metric,
            "method": cell.method,
            "base_method": cell.base_method or cell.method,
            "student": None,
            "seed": cell.seed,
            "eval_seed": cell.eval_seed,
            "eval_episodes": cell.eval_episodes,
            "teacher": tref,
            "teacher_sha256": self.teacher_digest(cell.task),
            "method_config": {},
            "budget": {"env_steps": cell.env_steps},
            "train": None,
            "checkpoint": None if method_cls.trains_student else tref,
            "error": None,
        }
        policy = teacher
        if method_cls.trains_student:
            from kdmarl_bench.checkpoint import save_checkpoint
            from kdmarl_bench.models.capacity import student_widths
            from kdmarl_bench.models.policy import StudentPolicy

            size = cell.size
            widths = student_widths(spec.obs_dims, size.hidden, size.scale)
            record["student"] = {"size": size.label, "widths": [list(w) for w in widths]}
            method = method_cls.from_overrides(cell.method_config)
            record["method_config"] = dataclasses.asdict(method.config)
            # Same seed → same student init for every method (paired comparison).
            torch.manual_seed(10_007 * cell.seed + 1)
            student = StudentPolicy(spec.obs_dims, spec.n_actions, widths)
            ctx = DistillContext(
                spec=spec,
                make_env=lambda n: task.make(n),
                teacher=teacher,
                student=student,
                env_steps=cell.env_steps,
                num_envs=cell.num_envs,
                seed=cell.seed,
                device=self.device,
                progress=(lambda s, m: self.events.on_train_progress(cell, s, m)) if self.events.on_train_progress else None,
            )
            try:
                stats = method.train(ctx)
            except NonFiniteLoss as exc:
                record.update(score=None, episode_scores=[], error=f"{type(exc).__name__}: {exc}")
                return record
            except (UsageError, BackendUnavailable):
                raise
            except Exception as exc:  # a method bug must not lose the other cells' results
                tb = traceback.format_exc(limit=4)
                record.update(score=None, episode_scores=[], error=f"{type(exc).__name__}: {exc}\n{tb}")
                return record
            record["train"] = stats.to_dict()
            ckpt = confine(self.out, Path("students") / task_dirname(cell.task) / cell.method / size.label
                           / f"seed{cell.seed}", "student checkpoint")
            save_checkpoint(student, ckpt, {
                "kind": "student",
                "task": cell.task,
                "method": cell.method,
                "method_config": record["method_config"],
                "teacher": tref,
                "seed": cell.seed,
                "env_steps": stats.env_steps,
                "suite": self.suite.info(),
            })
            record["checkpoint"] = str(ckpt.with_suffix(".safetensors").relative_to(self.out))
            policy = student.eval()

        # ---- evaluate (greedy, paired eval seed) ----------------------------------------
        t0 = time.perf_counter()
        res = evaluate(policy, cell.task, cell.eval_episodes, cell.eval_seed)
        record.update(
            score=res.score,
            episode_scores=res.episode_scores,
            win_rate=res.win_rate,
            mean_return=sum(res.returns) / len(res.returns),
            eval_wall_s=round(time.perf_counter() - t0, 2),
            random_score=self.random_score(cell.task, cell.eval_episodes, cell.eval_seed),
        )
        # ---- cost --------------------------------------------------------------------
        from kdmarl_bench.profiling.policy import profile_policy

        prof = self.suite.profile
        cost, latency = profile_policy(policy, iters=prof.iters, warmup=prof.warmup, threads=prof.threads,
                                       batch_sizes=prof.batch_sizes, cuda=prof.cuda, paths=prof.paths)
        record.update(cost=cost, latency=latency)
        return record

    def _msg(self, text: str) -> None:
        if self.events.on_message:
            self.events.on_message(text)


def fill_teacher_scores(records: list[dict]) -> list[dict]:
    """Give every record the teacher's score on the same (task, seed) — the retention base."""
    teacher = {(r["task"], r["seed"]): r.get("score") for r in records
               if r.get("base_method", r["method"]) == "teacher" and not r.get("error")}
    out = []
    for r in records:
        r = dict(r)
        r["teacher_score"] = teacher.get((r["task"], r["seed"]))
        out.append(r)
    return out


def build_suite_leaderboard(suite: Suite, records: list[dict]) -> dict:
    from kdmarl_bench.results.leaderboard import build_leaderboard, collect_provenance

    protocol = {
        "eval_episodes": {t: suite.eval_episodes(t) for t in suite.tasks},
        "seeds": list(suite.seeds),
        "greedy": True,
        "eval_seed_base": suite.eval.seed_base,
        "budget_env_steps": {t: suite.env_steps(t) for t in suite.tasks},
    }
    return build_leaderboard(fill_teacher_scores(records), suite.info(), protocol,
                             collect_provenance(threads=torch.get_num_threads()))


def rebase_checkpoints(records: list[dict], out_dir: Path, leaderboard_path: Path) -> list[dict]:
    """Checkpoint paths in cells are relative to the run dir; a leaderboard's are relative to it."""
    base = leaderboard_path.resolve().parent
    out = []
    for r in records:
        ck = r.get("checkpoint")
        if ck and not ck.startswith("zoo:") and not Path(ck).is_absolute():
            r = {**r, "checkpoint": os.path.relpath((out_dir / ck).resolve(), base)}
        out.append(r)
    return out


def run_suite(suite: Suite, out_dir: str | Path, device: str = "auto", events: RunEvents | None = None,
              retry_failed: bool = False, leaderboard_path: str | Path | None = None) -> tuple[dict, Path]:
    """Run (or resume) every cell, then write the leaderboard (default ``out_dir/leaderboard.json``)."""
    from kdmarl_bench.results.leaderboard import write_leaderboard

    out_dir = Path(out_dir)
    with claim_out_dir(out_dir):  # writable, and no second run on the same folder
        runner = Runner(suite, out_dir, device, events, retry_failed)
        records = runner.run()
        target = Path(leaderboard_path) if leaderboard_path else out_dir / "leaderboard.json"
        board = build_suite_leaderboard(suite, rebase_checkpoints(records, out_dir, target))
        path = write_leaderboard(target, board)
    return board, path
