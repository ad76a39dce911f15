"""The bundled teacher zoo: ``kdmarl_bench/zoo/<family>_<name>.{safetensors,json}``.

Every zoo teacher was trained by ``kdmarl-bench train-teacher``; its card records the
exact command, steps, seed, wall time and the score under the evaluation protocol.
"""

from __future__ import annotations

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
