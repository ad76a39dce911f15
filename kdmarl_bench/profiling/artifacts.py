"""Deployable artifacts: a checkpoint's policy exported per agent with a manifest a device team can trust.

``export_checkpoint(ref, fmt, out_dir, int8=False)`` writes into ``out_dir`` (and nowhere else):

* one model file per distinct deployed module: ``agent{i}.onnx`` / ``agent{i}.pte`` for a student's
  own actors; a teacher's parameter-shared actor once, ``shared{k}.onnx``, fed
  ``obs_i ++ one_hot(i, n_agents)`` by each agent it serves;
* ``manifest.json``: task, checkpoint identity, per-agent file, input layout, observation and action
  sizes, opset and runtime versions, the sha256 and size of every file, and the equivalence check
  against the eager policy (fp32: max |logit diff| and greedy-action identity on random and
  recorded observations; int8: the same numbers, reported without a pass/fail bound).

Every file is written through a temporary file and renamed, the manifest last: a manifest on disk
always describes complete files. ``load_exported(out_dir)`` verifies each file's sha256 against
the manifest and returns a :class:`~kdmarl_bench.profiling.runtimes.RuntimePolicy` that
``kdmarl_bench.evaluate.evaluate`` can score. Files are only read as ONNX/ExecuTorch programs, never deserialized as Python objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kdmarl_bench.checkpoint import weights_sha256
from kdmarl_bench.deploy_runtimes import checkpoint_formats, checkpoint_runtime
from kdmarl_bench.deploy_runtimes.base import require_runtime
from kdmarl_bench.deploy_runtimes.onnxruntime import ONNX_OPSET, onnx_opset
from kdmarl_bench.deploy_runtimes.onnxruntime_int8 import quantize_int8
from kdmarl_bench.envs import get_task
from kdmarl_bench.errors import UsageError
from kdmarl_bench.profiling.deploy import recorded_observations
from kdmarl_bench.profiling.runtimes import (
    ExportUnit,
    RuntimePolicy,
    RuntimeTeam,
    check_equivalence,
    export_units,
    make_session,
    runtime_versions,
    sha256,
    write_atomic_bytes,
)
from kdmarl_bench.teachers.zoo import load_policy_ref, resolve_ref

__all__ = ["CHECKPOINT_FORMATS", "ExportResult", "export_checkpoint", "load_exported"]


CHECKPOINT_FORMATS = checkpoint_formats()
"""The checkpoint formats registered when this module was imported (the others take a leaderboard)."""
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


@dataclass
class ExportResult:
    out_dir: Path
    manifest_path: Path
    files: list[Path]
    """Model files written (manifest excluded)."""
    manifest: dict


def _inside(out_dir: Path, name: str) -> Path:
    dest = (out_dir / name).resolve()
    if dest.parent != out_dir.resolve():
        raise UsageError(f"{name!r}: would be written outside --out {out_dir}")
    return dest


def export_checkpoint(ref: str, fmt: str, out_dir: Path, *, int8: bool = False, recorded: bool = True,
                      on_step: Callable[[str], None] | None = None) -> ExportResult:
    """Export the policy of checkpoint ``ref`` (path or ``zoo:TASK``) as ``fmt`` into ``out_dir``.

    ``recorded``: also check equivalence on observations recorded in the task's environment
    (skipped, and said so in the manifest, when the task's backend is not installed here).
    ``on_step(text)`` is told as each step starts (the CLI shows it, so a slow export is not silent).
    """
    step = on_step or (lambda text: None)
    if fmt not in checkpoint_formats():
        raise UsageError(f"unknown export format {fmt!r} for a checkpoint; valid choices: "
                         f"{', '.join(checkpoint_formats())}")
    if int8 and fmt != "onnx":
        raise UsageError("--int8 is available for --format onnx only (ONNX Runtime dynamic quantization); "
                         "export ExecuTorch in fp32")
    deploy_runtime = checkpoint_runtime(fmt)
    runtime, ext = deploy_runtime.name, deploy_runtime.file_ext
    require_runtime(runtime)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir}: exists and is not a directory")

    step(f"loading {ref}")
    policy, card = load_policy_ref(ref)
    actors, obs_dims = policy.deploy_actors(), list(policy.obs_dims)
    task = get_task(card["task"])
    spec = task.spec

    # ---- export (and quantize) every distinct module --------------------------------------------
    units = export_units(actors, obs_dims)
    exporter = deploy_runtime.export
    models = []
    for k, u in enumerate(units):
        step(f"exporting module {k + 1}/{len(units)} to {fmt} (agents {', '.join(map(str, u.agents))})")
        models.append(exporter(u.module, u.in_dim))
    if int8:
        step("quantizing to int8 (ONNX Runtime dynamic)")
        models = [quantize_int8(m) for m in models]
    step(f"loading the {runtime} session")
    team = RuntimeTeam.build(actors, obs_dims, runtime, models=models)

    # ---- check against eager before anything is written ---------------------------------------
    observations, recorded_note = None, None
    if recorded:
        why = task.availability()
        if why is None:
            step(f"recording observations in {spec.id}")
            observations = recorded_observations(policy, spec.id)
        else:
            recorded_note = f"recorded observations skipped: {why}"
    step("checking equivalence against eager")
    eq = check_equivalence(actors, team, recorded=observations, atol=None if int8 else deploy_runtime.atol)

    # ---- write files, then the manifest -------------------------------------------------------
    step(f"writing {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    files, file_entries, agent_file = [], [], {}
    shared_k = 0
    for unit, model in zip(units, models, strict=True):
        if len(unit.agents) == 1 and not unit.append_agent_id:
            name = f"agent{unit.agents[0]}{ext}"
        else:
            name = f"shared{shared_k}{ext}"
            shared_k += 1
        dest = _inside(out_dir, name)
        write_atomic_bytes(dest, model)
        files.append(dest)
        for i in unit.agents:
            agent_file[i] = (name, unit)
        file_entries.append({
            "file": name,
            "bytes": len(model),
            "sha256": sha256(model),
            "agents": list(unit.agents),
            "input": {"name": "obs", "dtype": "float32", "shape": ["batch", unit.in_dim]},
            "output": {"name": "logits", "dtype": "float32", "shape": ["batch", unit.n_actions]},
        })
    agents = []
    for i in range(len(obs_dims)):
        name, unit = agent_file[i]
        layout = [{"field": "observation", "start": 0, "stop": obs_dims[i]}]
        if unit.append_agent_id:
            layout.append({"field": f"one_hot(agent={i}, n={len(obs_dims)})", "start": obs_dims[i],
                           "stop": obs_dims[i] + len(obs_dims)})
        agents.append({
            "index": i,
            "name": spec.agent_names[i] if i < len(spec.agent_names) else f"agent_{i}",
            "file": name,
            "obs_dim": obs_dims[i],
            "n_actions": int(policy.n_actions[i]),
            "input_layout": layout,
            "action": "argmax of logits over the available actions (unavailable ones masked out)",
        })
    versions = runtime_versions(runtime)
    if fmt == "onnx":
        versions["opset"] = str(onnx_opset(models[0]) if models else ONNX_OPSET)
    weights_path = resolve_ref(ref)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "format": fmt,
        "runtime": runtime,
        "precision": "int8" if int8 else "fp32",
        "quantization": "onnxruntime.quantization.quantize_dynamic (QInt8 weights, per tensor)" if int8 else None,
        "task": spec.to_dict(),
        "view": policy.view,
        "source": {
            "checkpoint": ref,
            "kind": card.get("kind"),
            "method": card.get("method"),
            "seed": card.get("seed"),
            "weights_sha256": weights_sha256(weights_path),
            "architecture": card.get("architecture"),
        },
        "versions": versions,
        "agents": agents,
        "files": file_entries,
        "equivalence": {**eq.to_dict(), "note": recorded_note},
    }
    manifest_path = _inside(out_dir, MANIFEST)
    write_atomic_bytes(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
    return ExportResult(out_dir, manifest_path, files, manifest)


def load_exported(out_dir: Path, threads: int = 1) -> tuple[RuntimePolicy, dict]:
    """Open an export written by :func:`export_checkpoint` (sha256 of every file verified)."""
    out_dir = Path(out_dir)
    manifest_path = out_dir / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError as exc:
        raise UsageError(f"{manifest_path}: not found (not a kdmarl-bench export folder)") from exc
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{manifest_path}: not valid JSON: {exc}") from exc
    runtime = manifest["runtime"]
    require_runtime(runtime)
    units, models = [], []
    n_agents = len(manifest["agents"])
    for f in manifest["files"]:
        path = _inside(out_dir, f["file"])
        data = path.read_bytes()
        if sha256(data) != f["sha256"]:
            raise UsageError(f"{path}: sha256 does not match {manifest_path} (file changed after export)")
        append = any(len(a["input_layout"]) > 1 for a in manifest["agents"] if a["index"] in f["agents"])
        units.append(ExportUnit(module=None, in_dim=int(f["input"]["shape"][1]),
                                n_actions=int(f["output"]["shape"][1]), agents=list(f["agents"]),
                                append_agent_id=append))
        models.append(data)
    obs_dims = [int(a["obs_dim"]) for a in manifest["agents"]]
    team = RuntimeTeam(runtime, units, models, [make_session(runtime, m, threads) for m in models], n_agents,
                       obs_dims)
    view = manifest.get("view", "full")  # manifests before views existed were full-view students
    return RuntimePolicy(team, [int(a["n_actions"]) for a in manifest["agents"]], view=view), manifest
