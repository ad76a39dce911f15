"""The bundled teacher zoo: ``kdmarl_bench/zoo/<family>_<name>.{safetensors,json}``.

Every zoo teacher was trained by ``kdmarl-bench train-teacher``; its card records the
exact command, steps, seed, wall time and the score under the evaluation protocol.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kdmarl_bench.checkpoint import check_dims, load_card, load_checkpoint, weights_sha256
from kdmarl_bench.envs import get_task
from kdmarl_bench.errors import UsageError
from kdmarl_bench.models.policy import TeamPolicy
from kdmarl_bench.registry import suggest
from kdmarl_bench.safeio import is_inside

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"
SUPERSEDED_DIR = ZOO_DIR / "superseded"
"""Zoo teachers that a newer one replaced, as ``<stem>-<sha256[:12]>.{safetensors,json}``: boards made with
them name them ``zoo:TASK`` plus the weights' digest, so they stay verifiable and re-runnable."""


def zoo_key(task_id: str, kind: str = "local") -> str:
    """A zoo entry's name: ``TASK`` for a local teacher, ``TASK@privileged`` for a centralized expert."""
    return task_id if kind == "local" else f"{task_id}@{kind}"


def zoo_path(key: str) -> Path:
    """``smax/3m`` → ``zoo/smax_3m.safetensors``; ``smax/3m@privileged`` → ``zoo/smax_3m-privileged.safetensors`` (a second dot would read as a suffix)."""
    task_id, _, kind = key.partition("@")
    return ZOO_DIR / (task_id.replace("/", "_") + (f"-{kind}" if kind else "") + ".safetensors")


def _card_key(card: dict) -> str:
    view = (card.get("architecture") or {}).get("view", "full")
    return zoo_key(card["task"], "privileged" if view == "privileged" else "local")


def zoo_tasks() -> list[str]:
    """Every zoo entry's key (``TASK`` or ``TASK@privileged``)."""
    out = []
    for card in sorted(ZOO_DIR.glob("*.json")):
        try:
            out.append(_card_key(load_card(card)))
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
    """Zoo key (``TASK`` or ``TASK@privileged``) → its bundled teacher (cards that do not parse are left out)."""
    out = {}
    for card_path in sorted(ZOO_DIR.glob("*.json")):
        try:
            card = load_card(card_path)
            out[_card_key(card)] = ZooEntry(card["task"], float(card["eval"]["score"]), int(card["env_steps"]),
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


def zoo_generation(ref: str, sha256: str | None) -> Path:
    """``zoo:TASK`` as the generation whose weights have digest ``sha256``: the bundled file when it matches
    (or no digest is given), else the superseded copy (``SUPERSEDED_DIR``); UsageError when this install has
    neither."""
    current = resolve_ref(ref)
    if sha256 is None:
        return current
    current_sha = weights_sha256(current)
    if current_sha == sha256:
        return current
    old = SUPERSEDED_DIR / f"{current.stem}-{sha256[:12]}.safetensors"
    if old.is_file() and weights_sha256(old) == sha256:
        return old
    have = [current_sha[:12], *sorted(p.stem.rsplit("-", 1)[-1] for p in
                                      SUPERSEDED_DIR.glob(f"{current.stem}-*.safetensors"))]
    raise UsageError(f"{ref}: no zoo generation with weights sha256 {sha256[:12]}… in this install (it has "
                     f"{', '.join(have)}); the board was made with a teacher this version does not ship")


def resolve_checkpoint_ref(ref: str, base_dir: str | os.PathLike, allow_outside: bool, where: str,
                           sha256: str | None = None) -> Path:
    """A leaderboard's checkpoint reference as a path: ``zoo:TASK`` → the bundled file (the superseded
    generation with digest ``sha256`` when the record names one), else relative to ``base_dir`` (the
    leaderboard's folder). A path leaving that folder (absolute, ``..``, a symlink out) is refused unless
    ``allow_outside``."""
    if ref.startswith("zoo:"):
        return zoo_generation(ref, sha256)
    base = Path(base_dir)
    full = Path(ref) if Path(ref).is_absolute() else base / ref
    stem = full.with_suffix("") if full.suffix in (".safetensors", ".json") else full
    # The card is read too: it must stay inside like the weights (a card linked out, or to /dev/zero, is refused).
    if not allow_outside:
        for p in (full, stem.with_suffix(".safetensors"), stem.with_suffix(".json")):
            if not is_inside(base, p):
                what = "" if p == full else f" (its file {p.name}, a link to {os.path.realpath(p)!r})"
                raise UsageError(f"{where}: checkpoint {ref!r}{what} lies outside the leaderboard's folder "
                                 f"{str(base)!r}; refusing to load it (pass --allow-outside-paths if you trust this "
                                 "leaderboard)")
    return full


def load_policy_ref(ref: str) -> tuple[TeamPolicy, dict]:
    return load_checkpoint(resolve_ref(ref))


def load_teacher(ref: str, spec, kind: str | None = None) -> tuple[TeamPolicy, dict]:
    """Load a teacher for ``spec`` from ``zoo`` / ``zoo:TASK`` / a path; dims are checked, and its kind
    (``local`` or ``privileged``) when ``kind`` is given."""
    if ref == "zoo":
        ref = f"zoo:{zoo_key(spec.id, kind or 'local')}"
    path = resolve_ref(ref)
    card = load_card(path)
    check_dims(card, spec, path)
    policy, card = load_checkpoint(path)
    if card.get("kind") != "teacher" or policy.architecture()["class"] != "TeacherPolicy":
        raise UsageError(f"{path}: is not a teacher checkpoint (kind={card.get('kind')!r})")
    have = "privileged" if policy.view == "privileged" else "local"
    if kind is not None and have != kind:
        flag = " --privileged" if kind == "privileged" else ""
        raise UsageError(f"{path}: is a {have} teacher but the suite asks for a {kind} one; train one with "
                         f"'kdmarl-bench train-teacher {spec.id}{flag}'")
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
        teacher = suite.teacher_for(task_id)
        src, kind = teacher.source, teacher.kind
        field = f"task.{task_id}.teacher" if suite.override(task_id).teacher is not None else "teacher.source"
        if src == "zoo" and zoo_key(task_id, kind) not in have:
            stem = f"teachers/{task_id.replace('/', '_')}" + ("-privileged" if kind == "privileged" else "")
            flag = " --privileged" if kind == "privileged" else ""
            what = "privileged (centralized-expert) zoo teacher" if kind == "privileged" else "bundled zoo teacher"
            raise UsageError(
                f"{suite.path}: field '{field}': tasks[{i}] {task_id!r} has no {what} "
                f"(zoo teachers: {', '.join(sorted(have)) or 'none'}); train one with "
                f"'kdmarl-bench train-teacher {task_id}{flag} --out {stem}' and set [task.\"{task_id}\"] "
                f"teacher = \"{stem}.safetensors\", or set [teacher] source = \"train\""
            )
        if src.startswith("zoo:"):
            resolve_ref(src)  # raises with 'did you mean' for an unknown zoo task
        elif src not in ("zoo", "train") and not Path(src).with_suffix(".safetensors").exists():
            raise UsageError(f"{suite.path}: field '{field}': teacher checkpoint {src!r} for {task_id!r} not found")
        if src not in ("zoo", "train") and not src.startswith("zoo:"):
            # plan refuses what run would die on: a student (or other) checkpoint given as the teacher, and
            # weights that do not load (dims, dtype, NaN) — the same checks run makes, before any work.
            card = load_card(src)
            cls = card["architecture"].get("class")
            if card.get("kind") != "teacher" or cls != "TeacherPolicy":
                raise UsageError(f"{suite.path}: field '{field}': {src!r} is a {card.get('kind')!r} checkpoint "
                                 f"({cls}), not a teacher; give a checkpoint made by train-teacher (kind 'teacher')")
            load_teacher(src, get_task(task_id).spec, kind)
