"""Which teacher a suite's task uses, its identity (sha256 of the weights), and moving it to workers.

A suite names a teacher per task as ``zoo`` (bundled), ``zoo:TASK``, ``train`` (trained with the
suite into ``OUT/teachers/``) or a checkpoint path. :func:`resolve_teacher` turns that into a
:class:`TeacherRef`: plain data a cell carries to any worker. The driver reads the weights once and
ships them as a :class:`CheckpointBlob` (bytes), so a worker on another machine needs neither the run
directory nor the suite's checkpoint path; it checks the bytes against the reference's digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from kdmarl_bench.checkpoint import load_card, weights_sha256
from kdmarl_bench.envs import get_task
from kdmarl_bench.envs.registry import get_view
from kdmarl_bench.errors import UsageError
from kdmarl_bench.models.capacity import resolve_widths, student_widths
from kdmarl_bench.safeio import MAX_PARAMS, write_bytes_atomic, write_json_atomic
from kdmarl_bench.suite_tables import TeacherSource
from kdmarl_bench.teachers.train import train_teacher
from kdmarl_bench.teachers.zoo import load_teacher, resolve_ref, zoo_generation, zoo_key

TEACHER_SEED = 0
"""Seed of teachers trained with a suite (``[teacher] source = "train"``)."""


@dataclass(frozen=True)
class TeacherRef:
    """A task's teacher as a cell records it."""

    task: str
    source: str
    """The suite's setting: ``zoo``, ``zoo:TASK``, ``train`` or a checkpoint path."""
    steps: int
    """Training env-steps (``train`` only)."""
    ref: str
    """What records store: ``zoo:TASK``, or the weights path relative to the run directory."""
    sha256: str | None
    """sha256 of the weights file; None while a ``train`` teacher is not trained yet."""
    kind: str = "local"
    """``local`` or ``privileged`` (the centralized expert; ``[teacher] kind``)."""

    @property
    def trained_in_run(self) -> bool:
        return self.source == "train"


@dataclass(frozen=True)
class CheckpointBlob:
    """A checkpoint as bytes: a teacher travelling from the driver to a worker, or a trained teacher or
    student coming back to the driver, which alone writes into the run directory."""

    weights: bytes
    """The ``.safetensors`` file."""
    card: str
    """The ``.json`` card."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.weights).hexdigest()


def trained_teacher_stem(out_dir: str | Path, task_id: str, kind: str = "local") -> Path:
    """``OUT/teachers/<family>_<name>[-privileged]``: where a suite-trained teacher lives (no extension)."""
    return Path(out_dir) / "teachers" / (task_id.replace("/", "_") + ("" if kind == "local" else f"-{kind}"))


def teacher_path(ref: TeacherRef, out_dir: str | Path) -> Path:
    """The weights file of a reference on this machine."""
    if ref.ref.startswith("zoo:"):
        return zoo_generation(ref.ref, ref.sha256)  # a superseded zoo teacher when the digest names one
    if ref.trained_in_run:
        return Path(out_dir) / ref.ref
    return Path(ref.source).with_suffix(".safetensors")  # the suite's path, as given


def resolve_teacher(task_id: str, src: TeacherSource, out_dir: str | Path, pin: str | None = None) -> TeacherRef:
    """The reference (and digest, when the weights exist) of a task's teacher.

    Checks a given checkpoint fits the task (dims) so a wrong teacher fails before any work.
    ``pin`` (a weights digest a board recorded) picks that generation of a ``zoo`` teacher, superseded or
    not (``verify --retrain`` of a board made before the zoo teacher was replaced); without it ``zoo`` is
    the bundled teacher of this version.
    """
    out = Path(out_dir)
    kind = src.kind
    if src.source == "train":
        path = trained_teacher_stem(out, task_id, kind).with_suffix(".safetensors")
        ref = TeacherRef(task_id, src.source, src.steps, str(path.relative_to(out)), None, kind)
        return replace(ref, sha256=weights_sha256(path)) if path.exists() else ref
    spec = get_task(task_id).spec
    if src.source.startswith("zoo"):
        name = f"zoo:{zoo_key(task_id, kind)}" if src.source == "zoo" else src.source
        load_teacher(name, spec, kind)  # existence, dims and kind, with the zoo's own messages
        # A pinned digest makes ``teacher_path`` below find that generation (or refuse, naming the ones here).
        ref = TeacherRef(task_id, src.source, src.steps, name, pin, kind)
    else:
        load_teacher(src.source, spec, kind)
        path = Path(src.source).with_suffix(".safetensors")
        # Checkpoint paths in cells are relative to the run dir, like the students'.
        ref = TeacherRef(task_id, src.source, src.steps, os.path.relpath(path.resolve(), out.resolve()), None, kind)
    return replace(ref, sha256=weights_sha256(teacher_path(ref, out)))


def read_checkpoint_blob(ref: TeacherRef, out_dir: str | Path) -> CheckpointBlob:
    weights = teacher_path(ref, out_dir)
    return CheckpointBlob(weights.read_bytes(), weights.with_suffix(".json").read_text(encoding="utf-8"))


def load_teacher_blob(blob: CheckpointBlob, task_id: str, expect_sha256: str | None = None):
    """The frozen teacher policy from shipped bytes (safetensors: tensors only, no code), dims checked."""
    if expect_sha256 is not None and blob.sha256 != expect_sha256:
        raise UsageError(f"teacher for {task_id}: shipped weights have sha256 {blob.sha256[:12]}…, "
                         f"the cell expects {expect_sha256[:12]}…")
    with tempfile.TemporaryDirectory(prefix="kdmarl-teacher-") as tmp:
        path = write_checkpoint_blob(blob, Path(tmp) / "teacher")
        policy, _ = load_teacher(str(path), get_task(task_id).spec)
    return policy


def write_checkpoint_blob(blob: CheckpointBlob, stem: str | Path, root: str | Path | None = None) -> Path:
    """Write weights and card next to each other (atomically each, through fresh ``O_EXCL|O_NOFOLLOW`` temp
    files); with ``root`` (the run folder) every folder below it must be a real folder. Returns the weights path."""
    stem = Path(stem)
    weights = write_bytes_atomic(stem.with_suffix(".safetensors"), blob.weights, root=root)
    write_json_atomic(stem.with_suffix(".json"), json.loads(blob.card), root=root)
    return weights


def train_teacher_blob(task_id: str, steps: int, command: str, kind: str = "local") -> CheckpointBlob:
    """Train a suite's teacher in a scratch folder and return it as bytes (runs on any worker)."""
    with tempfile.TemporaryDirectory(prefix="kdmarl-train-") as tmp:
        stem = Path(tmp) / task_id.replace("/", "_")
        path, _ = train_teacher(task_id, steps, TEACHER_SEED, stem, command=command,
                                privileged=kind == "privileged")
        return CheckpointBlob(path.read_bytes(), path.with_suffix(".json").read_text(encoding="utf-8"))


def teacher_architecture(task_id: str, src: TeacherSource, out_dir: str | Path | None = None) -> dict | None:
    """The teacher's ``architecture`` from its card, or None while a ``train`` teacher does not exist yet."""
    if src.source == "train":
        if out_dir is None:
            return None
        path = trained_teacher_stem(out_dir, task_id, src.kind).with_suffix(".json")
        return load_card(path)["architecture"] if path.exists() else None
    ref = f"zoo:{zoo_key(task_id, src.kind)}" if src.source == "zoo" else src.source
    return load_card(resolve_ref(ref))["architecture"]


@dataclass(frozen=True)
class ResolvedSize:
    """A ``flops_reduction`` size resolved for one task (``plan`` shows these)."""

    task: str
    size: str
    target: float
    widths: list[list[int]] | None
    """Per-agent hidden widths; None while the task's teacher is not trained yet."""
    reduction: float | None
    """Achieved teacher FLOPs / student FLOPs (None as ``widths``)."""

    def to_dict(self) -> dict:
        return {"task": self.task, "size": self.size, "flops_reduction_target": self.target,
                "widths": self.widths, "flops_reduction": self.reduction}


def resolve_flops_sizes(suite, out_dir: str | Path | None = None) -> list[ResolvedSize]:
    """Resolve every ``flops_reduction`` size of a suite per task (UsageError naming the file and field when a
    target cannot be met); the cells resolve the same widths with the same function (``cells.run_cell``)."""
    out = []
    for i, size in enumerate(suite.sizes):
        if size.flops_reduction is None:
            continue
        for task_id in suite.tasks:
            arch = teacher_architecture(task_id, suite.teacher_for(task_id), out_dir)
            if arch is None:
                out.append(ResolvedSize(task_id, size.label, size.flops_reduction, None, None))
                continue
            view = get_view(task_id, suite.view_for(task_id), f"{suite.path}: field 'task.{task_id}.view'", students=True)
            where = f"{suite.path}: field 'students.sizes[{i}].flops_reduction' (task {task_id}, view {view.name})"
            widths, fit = resolve_widths(view.obs_dims, get_task(task_id).spec.n_actions, None, 1.0,
                                         size.flops_reduction, arch, where)
            out.append(ResolvedSize(task_id, size.label, size.flops_reduction, [list(w) for w in widths],
                                    round(fit.reduction, 4)))
    return out


def check_student_params(suite) -> None:
    """Refuse, at ``plan`` and before ``run`` starts, a student size whose network would exceed the checkpoint
    cap (``safeio.MAX_PARAMS``) on some task: counted from the widths, nothing allocated (``[65536, 65536]``
    is 12.9 billion parameters; ``run`` would otherwise die allocating it, far into the run)."""
    def mlp_params(dims: list[int]) -> int:
        return sum(a * b + b for a, b in zip(dims[:-1], dims[1:], strict=True))

    for i, size in enumerate(suite.sizes):
        if size.flops_reduction is not None:  # widths searched up to MAX_TARGET_WIDTH: always within the cap
            continue
        for task_id in suite.tasks:
            view = get_view(task_id, suite.view_for(task_id), f"{suite.path}: field 'task.{task_id}.view'", students=True)
            n_actions = get_task(task_id).spec.n_actions
            widths = student_widths(tuple(view.obs_dims), size.hidden, size.scale)
            n = sum(mlp_params([d, *w, a]) for d, w, a in zip(view.obs_dims, widths, n_actions, strict=True))
            if n > MAX_PARAMS:
                field = "hidden" if size.hidden is not None else "scale"
                raise UsageError(f"{suite.path}: field 'students.sizes[{i}].{field}': size {size.label!r} gives a "
                                 f"student of {n:,} parameters on {task_id} (at most {MAX_PARAMS:,}); use smaller "
                                 "widths")
