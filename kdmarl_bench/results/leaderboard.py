"""The JSON leaderboard: build it from cell records, validate it, read and write it.

Layout (schema ``kdmarl-bench/leaderboard``, version 1; see
``kdmarl_bench/schemas/leaderboard.schema.json``): ``suite``, ``provenance``, ``protocol``,
``records`` (one per task × method × seed, teacher included), ``summary`` (one per task ×
method × student size, with bootstrap CIs and a ``latency_summary`` of the 1-thread CPU and
CUDA decentralized latency) and ``aggregate`` (per method × size across tasks: IQM and mean
retention with stratified bootstrap CIs, the retention ``performance_profile`` with CI bands,
and KD-MARL's probability of improvement over every other method). Every CI uses
``protocol.bootstrap`` (n_resamples, random_state, confidence).

Records with a non-null ``error`` (a failed cell, e.g. a NaN loss) are kept in ``records``
but left out of every statistic.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from kdmarl_bench.errors import UsageError
from kdmarl_bench.results import stats
from kdmarl_bench.results.store import write_json_atomic
from kdmarl_bench.safeio import loads_json

SCHEMA_ID = "kdmarl-bench/leaderboard"
SCHEMA_VERSION = 1
TEACHER = "teacher"
TEACHER_SIZE = "full"
KD_MARL = "kd-marl"
DEFAULT_BOOTSTRAP = {"n_resamples": 2000, "random_state": 0, "confidence": 0.95}
_METHOD_RANK = {TEACHER: 0, KD_MARL: 1}

Key = tuple[str, str, str]


# ---------------------------------------------------------------------------------------------
# small helpers shared by render / compare / gate


def size_label(record: dict) -> str:
    """A record's student size label; the teacher (``student`` null) is ``"full"``."""
    student = record.get("student")
    if isinstance(student, dict) and student.get("size"):
        return str(student["size"])
    return TEACHER_SIZE


def method_sort_key(method: str) -> tuple[int, str]:
    """Teacher first, then KD-MARL, then the rest alphabetically."""
    return (_METHOD_RANK.get(method, 2), method)


def summary_key(row: dict) -> Key:
    return (row["task"], row["method"], row["size"])


def summary_index(data: dict) -> dict[Key, dict]:
    """``{(task, method, size): summary row}`` of a leaderboard."""
    return {summary_key(r): r for r in data.get("summary", [])}


def teacher_summary(data: dict, task: str) -> dict | None:
    """The teacher's summary row of ``task`` in a leaderboard, if any."""
    for row in data.get("summary", []):
        if row["task"] == task and row["method"] == TEACHER:
            return row
    return None


def is_ok(record: dict) -> bool:
    """A record that counts in the statistics: no error and a finite score."""
    return record.get("error") is None and is_finite_number(record.get("score"))


def is_finite_number(x: Any) -> bool:
    """A real number (not a bool), neither NaN nor infinite: a value the leaderboard can rank."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def sanitize(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf → None, numpy scalars/arrays → Python, tuples → lists."""
    if isinstance(obj, dict):
        return {str(k): sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitize(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return sanitize(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return obj.as_posix()
    return obj


def _ci(lo: float, hi: float) -> list[float] | None:
    return [float(lo), float(hi)] if math.isfinite(lo) and math.isfinite(hi) else None


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def cpu_p50_ms(record: dict) -> float | None:
    """The 1-thread, decentralized (batch 1 preferred) eager CPU p50 of a record, in ms."""
    entry = latency_entry(record, "cpu", threads=1)
    return float(entry["p50_ms"]) if entry else None


def latency_entry(record: dict, device: str, threads: int | None = 1, path: str = "eager") -> dict | None:
    """A record's decentralized latency entry on ``device`` ('cpu' or 'cuda'), batch 1 preferred.

    On the CPU only entries timed with ``threads`` threads count; CUDA entries ignore threads.
    ``path`` is the deployment path (``eager`` PyTorch, or ``torchscript``); entries without
    one are eager.
    """
    candidates = [
        e
        for e in record.get("latency") or []
        if str(e.get("device", "")).split(":")[0] == device
        and e.get("mode") == "decentralized"
        and e.get("path", "eager") == path
        and (device != "cpu" or e.get("threads") == threads)
        and is_finite_number(e.get("p50_ms"))
    ]
    candidates.sort(key=lambda e: (e.get("batch") != 1, e.get("batch") or 0))
    return candidates[0] if candidates else None


def _latency_group(entries: list[dict]) -> dict | None:
    """Means over seeds of one latency profile (p50/p90/p99, Timer median), any mismatch, max CV."""
    if not entries:
        return None
    first = entries[0]
    mismatches = [bool(e["timer_mismatch"]) for e in entries if isinstance(e.get("timer_mismatch"), bool)]
    cvs = [float(e["cv"]) for e in entries if is_finite_number(e.get("cv"))]
    return {
        "device": str(first.get("device")),
        "device_name": first.get("device_name"),
        "threads": first.get("threads"),
        "batch": first.get("batch"),
        "mode": first.get("mode"),
        "n_seeds": len(entries),
        "p50_ms": _mean_of(e.get("p50_ms") for e in entries),
        "p90_ms": _mean_of(e.get("p90_ms") for e in entries),
        "p99_ms": _mean_of(e.get("p99_ms") for e in entries),
        "timer_median_ms": _mean_of(e.get("timer_median_ms") for e in entries),
        "timer_mismatch": any(mismatches) if mismatches else None,
        "cv_max": max(cvs) if cvs else None,
        "throughput_decisions_per_s": _mean_of(e.get("throughput_decisions_per_s") for e in entries),
    }


def latency_summary(records: list[dict]) -> dict:
    """``{"cpu": ..., "cuda": ...}``: the 1-thread CPU and the CUDA decentralized latency over seeds.

    Each is null when no record has such an entry; p50/p90/p99 and ``timer_median_ms`` are
    means over seeds, ``timer_mismatch`` is true when any seed's Timer cross-check disagreed
    and ``cv_max`` is the largest coefficient of variation of any seed.
    """
    out = {}
    for device, threads in (("cpu", 1), ("cuda", None)):
        entries = [e for e in (latency_entry(r, device, threads) for r in records) if e is not None]
        out[device] = _latency_group(entries)
    return out


# ---------------------------------------------------------------------------------------------
# building


def _complete_record(record: dict) -> dict:
    """A copy with the nullable fields defaulted and the per-seed retention filled in."""
    r = copy.deepcopy(dict(record))
    for field, default in (
        ("student", None),
        ("episode_scores", []),
        ("win_rate", None),
        ("teacher_score", None),
        ("random_score", None),
        ("retention", None),
        ("train", None),
        ("cost", None),
        ("latency", []),
        ("checkpoint", None),
        ("error", None),
        ("backend_versions", {}),
    ):
        r.setdefault(field, default)
    if r["method"] == TEACHER and r["teacher_score"] is None and is_finite_number(r.get("score")):
        r["teacher_score"] = r["score"]
    if r["retention"] is None and is_ok(r) and is_finite_number(r["teacher_score"]):
        metric = r.get("metric")
        if metric == "win_rate" or (metric == "return" and is_finite_number(r["random_score"])):
            r["retention"] = stats.retention(r["score"], r["teacher_score"], metric, r["random_score"])
    return r


def _record_sort_key(r: dict) -> tuple:
    return (r["task"], method_sort_key(r["method"]), size_label(r), r.get("seed", 0))


def _mean_of(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if is_finite_number(v)]
    return float(np.mean(vals)) if vals else None


def _summaries(records: list[dict], boot: dict) -> list[dict]:
    groups: dict[Key, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["task"], r["method"], size_label(r))].append(r)
    rows: list[dict] = []
    for (task, method, size), recs in groups.items():
        ok = [r for r in recs if is_ok(r)]
        kw = {
            "confidence": boot["confidence"],
            "n_resamples": boot["n_resamples"],
            "random_state": boot["random_state"],
        }
        s_mean, s_lo, s_hi = stats.mean_ci([r["score"] for r in ok], **kw)
        rets = [r["retention"] for r in ok if is_finite_number(r.get("retention"))]
        r_mean, r_lo, r_hi = stats.mean_ci(rets, **kw)
        costs = [r["cost"] for r in recs if isinstance(r.get("cost"), dict)]
        flops = _mean_of(c.get("flops") for c in costs)
        params = _mean_of(c.get("params") for c in costs)
        rows.append(
            {
                "task": task,
                "method": method,
                "size": size,
                "metric": recs[0].get("metric"),
                "backend": recs[0].get("backend"),
                "n_seeds": len(ok),
                "n_failed": len(recs) - len(ok),
                "score_mean": _num(s_mean),
                "score_ci95": _ci(s_lo, s_hi),
                "retention_mean": _num(r_mean),
                "retention_ci95": _ci(r_lo, r_hi),
                "flops": flops,
                "params": None if params is None else int(round(params)),
                "flops_reduction": None,
                "latency_cpu_p50_ms": _mean_of(cpu_p50_ms(r) for r in ok),
                "latency_speedup_cpu": None,
                "latency_summary": latency_summary(ok),
            }
        )
    teachers = {row["task"]: row for row in rows if row["method"] == TEACHER}
    for row in rows:
        t = teachers.get(row["task"])
        if t is None:
            continue
        if t["flops"] and row["flops"]:
            row["flops_reduction"] = t["flops"] / row["flops"]
        if t["latency_cpu_p50_ms"] and row["latency_cpu_p50_ms"]:
            row["latency_speedup_cpu"] = t["latency_cpu_p50_ms"] / row["latency_cpu_p50_ms"]
    rows.sort(key=lambda r: (r["task"], method_sort_key(r["method"]), -(r["flops"] or 0.0), r["size"]))
    return rows


def _retention_columns(records: list[dict]) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """``{(method, size): {task: finite per-seed retentions}}``."""
    cols: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if is_ok(r) and is_finite_number(r.get("retention")):
            cols[(r["method"], size_label(r))][r["task"]].append(float(r["retention"]))
    return {k: {t: np.asarray(v) for t, v in sorted(d.items())} for k, d in cols.items()}


def _aggregates(records: list[dict], boot: dict) -> list[dict]:
    kw = {
        "n_resamples": boot["n_resamples"],
        "random_state": boot["random_state"],
        "confidence": boot["confidence"],
    }
    columns = _retention_columns(records)
    out: list[dict] = []
    for (method, size), by_task in sorted(
        columns.items(), key=lambda kv: (method_sort_key(kv[0][0]), kv[0][1])
    ):
        cols = list(by_task.values())
        iqm, iqm_lo, iqm_hi = stats.stratified_bootstrap_ci(cols, stats.aggregate_iqm, **kw)
        mean, mean_lo, mean_hi = stats.stratified_bootstrap_ci(cols, stats.aggregate_mean, **kw)
        entry: dict[str, Any] = {
            "method": method,
            "size": size,
            "n_tasks": len(cols),
            "n_runs": int(sum(c.size for c in cols)),
            "iqm_retention": _num(iqm),
            "iqm_retention_ci95": _ci(iqm_lo, iqm_hi),
            "mean_retention": _num(mean),
            "mean_retention_ci95": _ci(mean_lo, mean_hi),
            "performance_profile": _performance_profile(cols, boot),
        }
        if method == KD_MARL:
            pois = []
            for (other_m, other_s), other_by_task in sorted(
                columns.items(), key=lambda kv: (method_sort_key(kv[0][0]), kv[0][1])
            ):
                if other_m == KD_MARL or (other_m != TEACHER and other_s != size):
                    continue
                common = sorted(set(by_task) & set(other_by_task))
                if not common:
                    continue
                p, lo, hi = stats.probability_of_improvement(
                    [by_task[t] for t in common], [other_by_task[t] for t in common], **kw
                )
                pois.append(
                    {
                        "method": other_m,
                        "size": other_s,
                        "n_tasks": len(common),
                        "value": _num(p),
                        "ci95": _ci(lo, hi),
                    }
                )
            entry["probability_of_improvement"] = pois
        out.append(entry)
    return out


def _performance_profile(cols: list[np.ndarray], boot: dict) -> dict:
    """Fraction of runs with retention > tau on ``stats.PROFILE_TAUS``, with a stratified CI band."""
    taus = np.asarray(stats.PROFILE_TAUS)
    frac, lo, hi = stats.performance_profile_ci(
        cols,
        taus,
        n_resamples=boot["n_resamples"],
        random_state=boot["random_state"],
        confidence=boot["confidence"],
    )
    return {"taus": taus.tolist(), "fraction": frac.tolist(), "ci95_lo": lo.tolist(), "ci95_hi": hi.tolist()}


def build_leaderboard(records: list[dict], suite_info: dict, protocol: dict, provenance: dict) -> dict:
    """Assemble a leaderboard dict (records, summaries with bootstrap CIs, aggregates).

    ``protocol.bootstrap`` (n_resamples, random_state, confidence) sets every CI; missing
    entries take the defaults (2000, 0, 0.95) and are recorded. Records with an ``error`` are
    kept but excluded from the statistics. Per-seed ``retention`` is computed from
    ``score``/``teacher_score``/``random_score`` when a record leaves it null.
    """
    boot = {**DEFAULT_BOOTSTRAP, **(protocol.get("bootstrap") or {})}
    protocol = {**protocol, "bootstrap": boot}
    recs = sorted((_complete_record(r) for r in records), key=_record_sort_key)
    data = {
        "schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "suite": dict(suite_info),
        "provenance": dict(provenance),
        "protocol": protocol,
        "records": recs,
        "summary": _summaries(recs, boot),
        "aggregate": _aggregates(recs, boot),
    }
    return sanitize(data)


def with_derived_fields(data: dict) -> dict:
    """A copy where summary rows and aggregates written before ``latency_summary`` and
    ``performance_profile`` existed get them, recomputed from the records (same bootstrap)."""
    data = copy.deepcopy(data)
    boot = {**DEFAULT_BOOTSTRAP, **((data.get("protocol") or {}).get("bootstrap") or {})}
    records = data.get("records", [])
    if any("latency_summary" not in row for row in data.get("summary", [])):
        groups: dict[Key, list[dict]] = defaultdict(list)
        for r in records:
            if is_ok(r):
                groups[(r["task"], r["method"], size_label(r))].append(r)
        for row in data.get("summary", []):
            row.setdefault("latency_summary", latency_summary(groups.get(summary_key(row), [])))
    if any("performance_profile" not in a for a in data.get("aggregate", [])):
        columns = _retention_columns(records)
        for a in data.get("aggregate", []):
            cols = list(columns.get((a["method"], a["size"]), {}).values())
            if cols:
                a.setdefault("performance_profile", _performance_profile(cols, boot))
    return sanitize(data)


# ---------------------------------------------------------------------------------------------
# validation and I/O


@functools.lru_cache(maxsize=1)
def schema() -> dict:
    """The leaderboard JSON Schema (draft 2020-12) shipped with the package."""
    path = Path(__file__).resolve().parent.parent / "schemas" / "leaderboard.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(schema())


def _short(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate(data: Any, path: str | os.PathLike | None = None) -> None:
    """Check ``data`` against the leaderboard schema; UsageError naming the file, JSON path and problem."""
    where = str(path) if path is not None else "leaderboard"
    if not isinstance(data, dict):
        raise UsageError(
            f"{where}: not a kdmarl-bench leaderboard (expected a JSON object, got {type(data).__name__})"
        )
    if data.get("schema") != SCHEMA_ID:
        raise UsageError(
            f"{where}: not a kdmarl-bench leaderboard (field 'schema' is {data.get('schema')!r}, "
            f"expected {SCHEMA_ID!r})"
        )
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise UsageError(
            f"{where}: leaderboard schema_version {version} was written by a newer kdmarl-bench; "
            f"this version reads schema_version {SCHEMA_VERSION}"
        )
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(data))
    if error is not None:
        hint = ""
        if "then" in error.schema_path:
            hint = " (a null score is allowed only for a failed cell, i.e. when 'error' is set)"
        raise UsageError(f"{where}: invalid leaderboard at {error.json_path}: {_short(error.message)}{hint}")


def load_leaderboard(path: str | os.PathLike) -> dict:
    """Read and validate a leaderboard file; UsageError (naming the file) when it cannot be used."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: leaderboard file not found") from exc
    except IsADirectoryError as exc:
        raise UsageError(f"{path}: is a directory, expected a leaderboard JSON file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"{path}: cannot read leaderboard: {reason}") from exc
    data = loads_json(text, str(path), "leaderboard")  # bounded nesting: see safeio
    validate(data, path)
    return data


def write_leaderboard(path: str | os.PathLike, data: dict) -> Path:
    """Validate then write atomically (NaN/inf are stored as null)."""
    data = sanitize(data)
    validate(data, path)
    return write_json_atomic(path, data)


# ---------------------------------------------------------------------------------------------
# provenance


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else "unknown"


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def _gpu_and_threads() -> tuple[str | None, int | None]:
    torch = sys.modules.get("torch")
    if torch is None and _version("torch") is not None:
        try:
            import torch  # a run has it loaded already; imported here only for the GPU name
        except Exception:  # pragma: no cover - a broken torch install
            torch = None
    if torch is None:
        return None, os.cpu_count()
    gpu = None
    try:
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except Exception:  # pragma: no cover - driver trouble is not our failure
        gpu = None
    return gpu, int(torch.get_num_threads())


def collect_provenance(threads: int | None = None) -> dict:
    """Where and with what a leaderboard was made (versions via importlib.metadata)."""
    from kdmarl_bench import __version__

    gpu, torch_threads = _gpu_and_threads()
    return {
        "kdmarl_bench": __version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "jax": _version("jax"),
        "mpe2": _version("mpe2"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "gpu": gpu,
        "threads": threads if threads is not None else torch_threads,
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
