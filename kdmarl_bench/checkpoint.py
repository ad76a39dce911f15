"""Checkpoints: ``NAME.safetensors`` (weights) + ``NAME.json`` (card).

The card says what the weights are (kind, task, architecture), how they were made
(method, steps, seed, wall time, the exact command) and how well they score.
"""

from __future__ import annotations

import json
from pathlib import Path

from kdmarl_bench.errors import UsageError
from kdmarl_bench.models.policy import TeamPolicy, build_policy

CARD_VERSION = 1


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_suffix(".safetensors"), p.with_suffix(".json")


def save_checkpoint(policy: TeamPolicy, path: str | Path, card: dict) -> Path:
    """Write weights and card atomically; returns the .safetensors path."""
    from safetensors.torch import save_file

    from kdmarl_bench.results.store import write_json_atomic

    weights, card_path = _paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in policy.state_dict().items()}
    tmp = weights.with_name(weights.name + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(weights)
    full = {"card_version": CARD_VERSION, "architecture": policy.architecture(), **card}
    write_json_atomic(card_path, full)
    return weights


def weights_sha256(path: str | Path) -> str:
    """sha256 of a checkpoint's weights file: the identity of a teacher that cells and
    warm-started cards record."""
    import hashlib

    weights, _ = _paths(path)
    return hashlib.sha256(weights.read_bytes()).hexdigest()


def load_card(path: str | Path) -> dict:
    _, card_path = _paths(path)
    try:
        card = json.loads(card_path.read_text())
    except FileNotFoundError as exc:
        raise UsageError(f"{card_path}: checkpoint card not found (a checkpoint is NAME.safetensors + NAME.json)") from exc
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{card_path}: checkpoint card is not valid JSON: {exc}") from exc
    if not isinstance(card, dict) or "architecture" not in card or "task" not in card:
        raise UsageError(f"{card_path}: checkpoint card lacks 'architecture' or 'task'")
    return card


def load_checkpoint(path: str | Path) -> tuple[TeamPolicy, dict]:
    """Load (policy, card); any missing or corrupt part raises UsageError naming the file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, _ = _paths(path)
    card = load_card(path)
    try:
        policy = build_policy(card["architecture"])
    except (TypeError, ValueError, KeyError) as exc:
        raise UsageError(f"{weights.with_suffix('.json')}: invalid architecture in card: {exc}") from exc
    if not weights.exists():
        raise UsageError(f"{weights}: checkpoint weights not found")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UsageError(f"{weights}: corrupt checkpoint weights: {exc}") from exc
    try:
        policy.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise UsageError(f"{weights}: weights do not match the card's architecture: {' '.join(first)}") from exc
    policy.eval()
    return policy, card


def check_dims(card: dict, spec, path: str | Path) -> None:
    """Refuse a checkpoint whose architecture does not fit the task's dims."""
    arch = card["architecture"]
    want = {"obs_dims": list(spec.obs_dims), "n_actions": list(spec.n_actions)}
    if arch.get("class") == "TeacherPolicy":
        want["state_dim"] = spec.state_dim
    for key, val in want.items():
        if arch.get(key) != val:
            raise UsageError(
                f"{path}: checkpoint was made for {card.get('task')!r} and does not fit task {spec.id!r}: "
                f"{key} is {arch.get(key)} in the checkpoint but {val} in the task"
            )
