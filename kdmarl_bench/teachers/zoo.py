"""The bundled teacher zoo: ``kdmarl_bench/zoo/<family>_<name>.{safetensors,json}``.

Every zoo teacher was trained by ``kdmarl-bench train-teacher``; its card records the
exact command, steps, seed, wall time and the score under the evaluation protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kdmarl_bench.checkpoint import check_dims, load_card, load_checkpoint
from kdmarl_bench.errors import UsageError
from kdmarl_bench.models.policy import TeamPolicy
from kdmarl_bench.registry import suggest

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"


def zoo_path(task_id: str) -> Path:
    return ZOO_DIR / (task_id.replace("/", "_") + ".safetensors")


def zoo_tasks() -> list[str]:
    out = []
    for card in sorted(ZOO_DIR.glob("*.json")):
        try:
            out.append(load_card(card)["task"])
        except UsageError:
            continue
    return out


@dataclass(frozen=True)
class ZooEntry:
    """A bundled teacher as its card describes it."""

    task: str
    score: float
    """Greedy score on the card's evaluation (win rate on SMAX, mean team return on MPE)."""
    env_steps: int
    path: Path


def zoo_teachers() -> dict[str, ZooEntry]:
    """Task id → its bundled teacher (cards that do not parse are left out)."""
    out = {}
    for card_path in sorted(ZOO_DIR.glob("*.json")):
        try:
            card = load_card(card_path)
            out[card["task"]] = ZooEntry(card["task"], float(card["eval"]["score"]), int(card["env_steps"]),
                                         card_path.with_suffix(".safetensors"))
        except (UsageError, KeyError, TypeError, ValueError):
            continue
    return out


def resolve_ref(ref: str) -> Path:
    """``zoo:TASK`` → the bundled checkpoint path; anything else is a path."""
    if ref.startswith("zoo:"):
        task = ref[4:]
        p = zoo_path(task)
        if not p.exists():
            have = zoo_tasks()
            raise UsageError(
                f"{ref}: no bundled teacher for {task!r}{suggest(task, have)}; zoo teachers: {', '.join(have) or 'none'}"
            )
        return p
    return Path(ref)


def load_policy_ref(ref: str) -> tuple[TeamPolicy, dict]:
    return load_checkpoint(resolve_ref(ref))


def load_teacher(ref: str, spec) -> tuple[TeamPolicy, dict]:
    """Load a teacher for ``spec`` from ``zoo`` / ``zoo:TASK`` / a path; dims are checked."""
    if ref == "zoo":
        ref = f"zoo:{spec.id}"
    path = resolve_ref(ref)
    card = load_card(path)
    check_dims(card, spec, path)
    policy, card = load_checkpoint(path)
    if card.get("kind") != "teacher" or policy.architecture()["class"] != "TeacherPolicy":
        raise UsageError(f"{path}: is not a teacher checkpoint (kind={card.get('kind')!r})")
    for p in policy.parameters():
        p.requires_grad_(False)
    return policy, card


def check_teacher_sources(suite) -> None:
    """Refuse, before any work, a suite task whose teacher cannot be had.

    ``zoo`` needs a bundled teacher for the task; a checkpoint path must exist; ``train``
    always works (the run trains one).
    """
    have = zoo_teachers()
    for i, task_id in enumerate(suite.tasks):
        src = suite.teacher_for(task_id).source
        field = f"task.{task_id}.teacher" if "teacher" in suite.task_overrides.get(task_id, {}) else "teacher.source"
        if src == "zoo" and task_id not in have:
            stem = f"teachers/{task_id.replace('/', '_')}"
            raise UsageError(
                f"{suite.path}: field '{field}': tasks[{i}] {task_id!r} has no bundled zoo teacher "
                f"(zoo teachers: {', '.join(sorted(have)) or 'none'}); train one with "
                f"'kdmarl-bench train-teacher {task_id} --out {stem}' and set [task.\"{task_id}\"] "
                f"teacher = \"{stem}.safetensors\", or set [teacher] source = \"train\""
            )
        if src.startswith("zoo:"):
            resolve_ref(src)  # raises with 'did you mean' for an unknown zoo task
        elif src not in ("zoo", "train") and not Path(src).with_suffix(".safetensors").exists():
            raise UsageError(f"{suite.path}: field '{field}': teacher checkpoint {src!r} for {task_id!r} not found")
