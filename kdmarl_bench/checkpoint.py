"""Checkpoints: ``NAME.safetensors`` (weights) + ``NAME.json`` (card).

The card says what the weights are (kind, task, architecture), how they were made
(method, steps, seed, wall time, the exact command) and how well they score.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from kdmarl_bench.envs.registry import get_view
from kdmarl_bench.errors import UsageError
from kdmarl_bench.models.policy import TeamPolicy, build_policy
from kdmarl_bench.safeio import (
    MAX_CARD_BYTES,
    MAX_PARAMS,
    MAX_WIDTH,
    read_json,
    write_bytes_atomic,
    write_json_atomic,
)

CARD_VERSION = 1


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_suffix(".safetensors"), p.with_suffix(".json")


def save_checkpoint(policy: TeamPolicy, path: str | Path, card: dict) -> Path:
    """Write weights and card atomically (fresh ``O_EXCL|O_NOFOLLOW`` temp files renamed into place, the mode
    of any new file; a full disk names the file); returns the .safetensors path."""
    weights, card_path = _paths(path)
    state = {k: v.detach().contiguous().cpu() for k, v in policy.state_dict().items()}
    write_bytes_atomic(weights, save(state))
    full = {"card_version": CARD_VERSION, "architecture": policy.architecture(), **card}
    write_json_atomic(card_path, full)
    return weights


def weights_sha256(path: str | Path) -> str:
    """sha256 of a checkpoint's weights file: the identity of a teacher that cells and
    warm-started cards record."""
    weights, _ = _paths(path)
    return hashlib.sha256(weights.read_bytes()).hexdigest()


def load_card(path: str | Path) -> dict:
    _, card_path = _paths(path)
    if not card_path.exists():
        raise UsageError(f"{card_path}: checkpoint card not found (a checkpoint is NAME.safetensors + NAME.json)")
    card = read_json(card_path, "checkpoint card", max_bytes=MAX_CARD_BYTES)
    if not isinstance(card, dict) or not isinstance(card.get("architecture"), dict) or not isinstance(card.get("task"), str):
        raise UsageError(f"{card_path}: checkpoint card lacks 'architecture' (a table) or 'task' (a task id)")
    return card


# ---------------------------------------------------------------------------------------------
# checking a card before building anything from it

ACTIVATIONS = ("relu", "tanh")
WEIGHT_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
"""safetensors dtype codes a checkpoint's tensors may have (bool, integer or float8 weights are refused)."""
MAX_AGENTS = 1024
MAX_DIM = 1_000_000
"""Largest observation, state or action size a card may declare."""


def _ints(val: object, lo: int, hi: int, min_len: int = 1, max_len: int = MAX_AGENTS) -> bool:
    return (isinstance(val, list) and min_len <= len(val) <= max_len
            and all(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi for v in val))


def check_architecture(arch: dict, card_path: str | Path) -> None:
    """Refuse a card whose architecture is malformed or absurd (widths, sizes) before anything is allocated."""
    def bad(field: str, msg: str) -> UsageError:
        return UsageError(f"{card_path}: field 'architecture.{field}': {msg}")

    cls = arch.get("class")
    if cls not in ("TeacherPolicy", "StudentPolicy"):
        raise bad("class", f"unknown policy class {cls!r}; valid choices: TeacherPolicy, StudentPolicy")
    if not _ints(arch.get("obs_dims"), 1, MAX_DIM):
        raise bad("obs_dims", f"expected 1 to {MAX_AGENTS} sizes in [1, {MAX_DIM:,}], got {str(arch.get('obs_dims'))[:80]}")
    n = len(arch["obs_dims"])
    if not _ints(arch.get("n_actions"), 1, MAX_DIM, n, n):
        raise bad("n_actions", f"expected {n} sizes in [1, {MAX_DIM:,}] (one per agent), got {str(arch.get('n_actions'))[:80]}")
    if arch.get("activation", "relu") not in ACTIVATIONS:
        raise bad("activation", f"unknown activation {arch.get('activation')!r}; valid choices: {', '.join(ACTIVATIONS)}")
    view = arch.get("view", "full")
    if not (isinstance(view, str) and 0 < len(view) <= 64):
        raise bad("view", f"expected a view name (a short string), got {str(view)[:80]!r}")
    width_rule = f"a list of 1 to 16 widths, each in [1, {MAX_WIDTH:,}]"
    if cls == "TeacherPolicy":
        if not (isinstance(arch.get("state_dim"), int) and not isinstance(arch.get("state_dim"), bool)
                and 1 <= arch["state_dim"] <= MAX_DIM):
            raise bad("state_dim", f"expected an integer in [1, {MAX_DIM:,}], got {arch.get('state_dim')!r}")
        for key in ("actor_hidden", "critic_hidden"):
            if not _ints(arch.get(key), 1, MAX_WIDTH, 1, 16):
                raise bad(key, f"expected {width_rule}, got {str(arch.get(key))[:80]}")
    else:
        widths = arch.get("widths")
        if not (isinstance(widths, list) and len(widths) == n and all(_ints(w, 1, MAX_WIDTH, 1, 16) for w in widths)):
            raise bad("widths", f"expected one entry per agent ({n}), each {width_rule}; got {str(widths)[:80]}")


def _card_param_count(arch: dict) -> int:
    """Parameters the card's architecture has (linear layers), computed without building anything."""

    def mlp(dims: list[int]) -> int:
        return sum(a * b + b for a, b in zip(dims[:-1], dims[1:], strict=True))

    obs, acts, n = arch["obs_dims"], arch["n_actions"], len(arch["obs_dims"])
    if arch["class"] == "TeacherPolicy":
        actors = sum(mlp([o + n, *arch["actor_hidden"], a]) for o, a in zip(obs, acts, strict=True))
        return actors + mlp([arch["state_dim"], *arch["critic_hidden"], 1])
    return sum(mlp([o, *w, a]) for o, w, a in zip(obs, arch["widths"], acts, strict=True))


def load_checkpoint(path: str | Path) -> tuple[TeamPolicy, dict]:
    """Load (policy, card); any missing, corrupt, inconsistent or non-finite part raises UsageError naming
    the file. The card is checked against the weights' header (names and shapes) before the policy is built."""
    weights, card_path = _paths(path)
    card = load_card(path)
    arch = card["architecture"]
    check_architecture(arch, card_path)
    n_params = _card_param_count(arch)
    if n_params > MAX_PARAMS:
        raise UsageError(f"{card_path}: the card's architecture has {n_params:,} parameters (at most {MAX_PARAMS:,} "
                         "are loaded); refusing to allocate it")
    if not weights.exists():
        raise UsageError(f"{weights}: checkpoint weights not found")
    try:
        with torch.device("meta"):  # shapes only, nothing allocated
            expected = {k: tuple(v.shape) for k, v in build_policy(arch).state_dict().items()}
    except (TypeError, ValueError, KeyError) as exc:
        raise UsageError(f"{card_path}: invalid architecture in card: {exc}") from exc
    try:
        with safe_open(str(weights), framework="pt") as f:
            slices = {k: f.get_slice(k) for k in f.keys()}  # noqa: SIM118 - no __iter__
            found = {k: tuple(sl.get_shape()) for k, sl in slices.items()}
            dtypes = {k: sl.get_dtype() for k, sl in slices.items()}
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise UsageError(f"{weights}: corrupt checkpoint weights: {exc}") from exc
    for k, dt in dtypes.items():
        if dt not in WEIGHT_DTYPES:
            raise UsageError(f"{weights}: tensor {k!r} has dtype {dt}; checkpoint weights must be one of "
                             f"{', '.join(WEIGHT_DTYPES.values())}")
    if found != expected:
        diff = sorted(set(found) ^ set(expected)) or [k for k in expected if found.get(k) != expected[k]]
        k = diff[0]
        raise UsageError(f"{weights}: weights do not match the architecture in {card_path.name} "
                         f"(card task {card['task']!r}): tensor {k!r} is {found.get(k, 'missing')} in the weights "
                         f"but {expected.get(k, 'absent')} in the card")
    try:
        state = _load_file(weights)
    except (SafetensorError, OSError, ValueError) as exc:
        raise UsageError(f"{weights}: corrupt checkpoint weights: {exc}") from exc
    for name, t in state.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            bad = int((~torch.isfinite(t)).sum())
            raise UsageError(f"{weights}: tensor {name!r} holds {bad} non-finite value(s) (NaN or Inf); "
                             "the checkpoint is broken")
    policy = build_policy(arch)
    try:
        policy.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise UsageError(f"{weights}: weights do not match the card's architecture: {' '.join(first)}") from exc
    policy.eval()
    return policy, card


def _load_file(weights: Path) -> dict:
    return load_file(str(weights))


def check_dims(card: dict, spec, path: str | Path) -> None:
    """Refuse a checkpoint whose architecture does not fit the task's dims."""
    arch = card["architecture"]
    view = arch.get("view", "full")
    if not isinstance(view, str):
        raise UsageError(f"{path}: architecture.view must be a string, got {view!r}")
    where = f"{path}: architecture.view"
    want = {"obs_dims": list(get_view(spec.id, view, where).obs_dims), "n_actions": list(spec.n_actions)}
    if arch.get("class") == "TeacherPolicy":
        want["state_dim"] = spec.state_dim
    for key, val in want.items():
        if arch.get(key) != val:
            if card.get("task") == spec.id:  # the card names this task, but its network cannot play it
                raise UsageError(
                    f"{path}: the card says task {spec.id!r} but its architecture does not fit that task: "
                    f"{key} is {arch.get(key)} in the checkpoint but {val} in {spec.id!r}"
                )
            raise UsageError(
                f"{path}: checkpoint was made for {card.get('task')!r} and does not fit task {spec.id!r}: "
                f"{key} is {arch.get(key)} in the checkpoint but {val} in the task"
            )
