"""Re-evaluate committed students on fresh eval seeds: does each score hold off the seeds it was measured on?

For a sample of a leaderboard's records with checkpoints, the policy is loaded from its
checkpoint, evaluated with the same protocol (greedy, same episode count) on a new
eval seed, and the fresh score is checked against the 95% bootstrap CI of the recorded
per-episode scores (``inside``). A fresh sample's mean lands in that CI only ~83% of the time
even for an honest record (both samples are noisy), so the pass/fail verdict is ``holds``: the
fresh score is not significantly *below* the recorded one (the 95% bootstrap CI of fresh −
recorded episode means reaches 0). A score that only holds on the original eval seeds fails it;
a fresh score significantly above the recorded one is reported (``inside`` false) but is not an
inflated result.

``retrain_leaderboard`` (``verify --retrain N``) goes further: it trains sampled cells again on
this machine from the board's suite and record, and judges each new score against the 95%
prediction interval of a new seed from the board's own seeds of that (task, method, size).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kdmarl_bench.checkpoint import load_checkpoint
from kdmarl_bench.errors import UsageError
from kdmarl_bench.evaluate import evaluate
from kdmarl_bench.results import noise
from kdmarl_bench.results.stats import diff_ci, mean_ci
from kdmarl_bench.suite import Cell, ProfileSettings, Suite


@dataclass
class Verification:
    task: str
    method: str
    size: str
    seed: int
    checkpoint: str
    recorded: float
    ci95: tuple[float, float]
    fresh: float
    fresh_seed: int
    inside: bool
    """Fresh score within the recorded episodes' 95% CI (the literal check)."""
    diff_ci95: tuple[float, float]
    """95% bootstrap CI of (fresh − recorded) mean episode score."""
    holds: bool
    """``diff_ci95``'s upper bound is >= 0 (fresh not significantly worse): the verdict."""

    def to_dict(self) -> dict:
        return asdict(self)


def record_problem(r: dict, fresh_seed: int) -> str | None:
    """Why a leaderboard record cannot be re-evaluated (checked before its checkpoint is touched), or None."""
    from kdmarl_bench.envs import TASKS
    from kdmarl_bench.suite import SEED_MAX

    if not isinstance(r.get("task"), str) or r["task"] not in TASKS:
        return f"unknown task {r.get('task')!r}"
    seed = r.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= SEED_MAX - fresh_seed:
        return f"seed {seed!r} is not an integer in [0, {SEED_MAX - fresh_seed}] (fresh eval seed = {fresh_seed} + seed)"
    scores = r.get("episode_scores")
    if not isinstance(scores, list) or not scores:
        return "has no episode scores (0 episodes) to compare against"
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in scores):
        return "has a non-numeric or non-finite episode score"
    if not isinstance(r.get("score"), (int, float)) or not math.isfinite(r["score"]):
        return f"score {r.get('score')!r} is not a finite number"
    return None


def verify_leaderboard(data: dict, path: str | Path, sample: int = 4, fresh_seed: int = 777_000,
                       rng_seed: int = 0, include_teacher: bool = False,
                       allow_outside: bool = False,
                       progress: Callable[[int, int, str], None] | None = None) -> list[Verification]:
    """Re-evaluate ``sample`` records. Checkpoint paths are relative to the leaderboard's folder; one that
    leaves it (absolute, ``..``, a symlink out) is refused (UsageError) unless ``allow_outside``.
    ``progress(done, total, label)`` is called before each record and once at the end."""
    from kdmarl_bench.checkpoint import check_dims
    from kdmarl_bench.envs import get_task
    from kdmarl_bench.errors import UsageError
    from kdmarl_bench.safeio import resolve_checkpoint_ref

    base = Path(path).resolve().parent
    candidates = [(i, r) for i, r in enumerate(data["records"]) if r.get("checkpoint") and not r.get("error")
                  and (include_teacher or r["method"] != "teacher")]
    picked = random.Random(rng_seed).sample(candidates, min(sample, len(candidates)))
    out = []
    for n, (i, r) in enumerate(picked):
        ck = r["checkpoint"]
        label = f"{r.get('task')} · {r.get('method')} · {(r.get('student') or {}).get('size', 'full')} · seed {r.get('seed')}"
        where = f"{path}: record {i} ({label})"
        if progress is not None:
            progress(n, len(picked), label)
        problem = record_problem(r, fresh_seed)
        if problem:
            raise UsageError(f"{where}: {problem}")
        ck_path = resolve_checkpoint_ref(ck, base, allow_outside, where)
        policy, card = load_checkpoint(ck_path)
        if card["task"] != r["task"]:
            raise UsageError(f"{where}: checkpoint {ck!r} was made for task {card['task']!r}, not the record's "
                             f"{r['task']!r}")
        check_dims(card, get_task(r["task"]).spec, ck_path)
        episodes = len(r["episode_scores"])
        seed = fresh_seed + int(r["seed"])
        res = evaluate(policy, r["task"], episodes, seed)
        _, lo, hi = mean_ci(r["episode_scores"], random_state=0)
        _, dlo, dhi = diff_ci(res.episode_scores, r["episode_scores"], random_state=0)
        size = (r.get("student") or {}).get("size", "full")
        out.append(Verification(r["task"], r["method"], size, int(r["seed"]), ck, float(r["score"]), (lo, hi),
                                res.score, seed, lo <= res.score <= hi, (dlo, dhi), dhi >= 0.0))
    if progress is not None:
        progress(len(picked), len(picked), "")
    return out


# ---------------------------------------------------------------------------------------------
# verify --retrain: retrain sampled cells here, judge each against the board's seed-to-seed spread


@dataclass
class Retrained:
    """One cell of a board trained again on this machine and judged against its own (task,
    method, size)'s seeds: a 95% prediction interval for a *new* seed (``noise.prediction_interval``:
    seed-to-seed variance, floored by episode sampling, partially pooled with the task's other
    cells) — reproducibility across hosts is statistical, not bit identity."""

    task: str
    method: str
    size: str
    seed: int
    recorded: float
    """The board's score for this seed."""
    retrained: float
    """The score of the student trained here from the same cell (same seed, config, budget, eval seed)."""
    cell_mean: float
    """Mean score over the board's seeds of this (task, method, size)."""
    n_seeds: int
    interval: tuple[float, float]
    """95% prediction interval for one new seed of this cell."""
    df: float
    verdict: str
    """``holds`` (inside), ``outside`` (exit 1), or ``inconclusive`` (no degrees of freedom: one seed, no prior)."""
    identical: bool
    """Bit-identical to the recorded score (expected on the host that made the board)."""
    notes: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


RunCell = Callable[[Suite, Cell, Path], dict]


def run_cell_here(suite: Suite, cell: Cell, out_dir: Path) -> dict:
    """Train and evaluate one cell with the runner's own code (``runner.run_one_cell``) into
    ``out_dir``: the one place verify calls into the runner."""
    from kdmarl_bench.cells import make_cell_spec
    from kdmarl_bench.runner import Runner, run_one_cell

    runner = Runner(suite, out_dir, device="cpu")
    spec = make_cell_spec(cell, runner.teacher_ref(cell.task), suite.profile, suite.info())
    return run_one_cell(spec, out_dir, device="cpu")


def _find_suite(data: dict, board_path: Path) -> Suite:
    """The board's suite file: ``suite.path`` as given, beside the board, or a bundled suite."""
    from kdmarl_bench.suite import load_suite, resolve_suite_path

    info = data.get("suite") or {}
    raw = info.get("path")
    tries = []
    if raw:
        tries += [Path(raw), board_path.parent / raw, board_path.parent.parent / raw]
    if info.get("name"):
        tries.append(resolve_suite_path(str(info["name"])))
    for cand in tries:
        if cand.is_file():
            return load_suite(cand)
    raise UsageError(
        f"{board_path}: field suite.path: cannot find the suite file {raw!r} (tried "
        f"{', '.join(str(t) for t in tries)}); --retrain needs the suite the board was run from"
    )


def _resolved_overrides(method_cls: Any, recorded: dict, where: str) -> dict:
    """The record's resolved method config as overrides (JSON lists back to tuples)."""
    defaults = method_cls.config_cls()
    fields = {f.name for f in dataclasses.fields(method_cls.config_cls)}
    out = {}
    for k, v in recorded.items():
        if k not in fields:
            raise UsageError(f"{where}: method_config field {k!r} is not a field of this version's "
                             f"{method_cls.__name__} config; the cell cannot be retrained as recorded")
        out[k] = tuple(v) if isinstance(v, list) and isinstance(getattr(defaults, k), tuple) else v
    return out


def reconstruct_cell(suite: Suite, record: dict, where: str) -> tuple[Cell, list[str]]:
    """The suite's cell for a record (task, method, size, seed), with the record's budget, eval
    seed and episodes and resolved method config; UsageError when the record does not fit it."""
    from kdmarl_bench.methods import METHODS
    from kdmarl_bench.models.capacity import student_widths
    from kdmarl_bench.suite import plan

    size = (record.get("student") or {}).get("size", "full")
    matches = [c for c in plan(suite) if (c.task, c.method, c.size_label, c.seed)
               == (record["task"], record["method"], size, int(record["seed"]))]
    if not matches:
        raise UsageError(f"{where}: no cell of suite {suite.path} is ({record['task']}, {record['method']}, "
                         f"{size}, seed {record['seed']})")
    cell = matches[0]
    notes = []
    method_cls = METHODS.get(cell.base_method or cell.method)
    recorded_cfg = record.get("method_config") or {}
    if recorded_cfg:
        current = json.loads(json.dumps(dataclasses.asdict(method_cls.from_overrides(cell.method_config).config)))
        if current != recorded_cfg:
            notes.append("method defaults changed since the board: retrained with the recorded config")
            cell = dataclasses.replace(cell, method_config=_resolved_overrides(method_cls, recorded_cfg, where))
    budget = (record.get("budget") or {}).get("env_steps")
    if isinstance(budget, int) and budget != cell.env_steps:
        notes.append(f"env_steps {budget:,} from the record (suite now says {cell.env_steps:,})")
        cell = dataclasses.replace(cell, env_steps=budget)
    episodes = len(record.get("episode_scores") or []) or cell.eval_episodes
    eval_seed = record.get("eval_seed", cell.eval_seed)
    cell = dataclasses.replace(cell, eval_episodes=int(episodes), eval_seed=int(eval_seed))
    widths = (record.get("student") or {}).get("widths")
    if cell.size is not None and widths is not None:
        from kdmarl_bench.envs.views import get_view

        dims = get_view(cell.task, cell.view, where, students=True).obs_dims
        mine = [list(w) for w in student_widths(dims, cell.size.hidden, cell.size.scale)]
        if mine != widths:
            raise UsageError(f"{where}: student widths {widths} do not match size {size!r} of the suite ({mine})")
    return cell, notes


def _cell_scores(data: dict) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in data["records"]:
        if r.get("error") is None and isinstance(r.get("score"), (int, float)) and math.isfinite(r["score"]):
            groups[(r["task"], r["method"], (r.get("student") or {}).get("size", "full"))].append(r)
    return groups


def judge_retrained(value: float, seed_scores: list[float], floor: float = 0.0,
                    prior: noise.VariancePrior | None = None) -> tuple[str, noise.Interval]:
    """``holds`` / ``outside`` / ``inconclusive`` for a retrained cell's score against the 95%
    prediction interval of a new seed from the board's seeds of that (task, method, size)."""
    iv = noise.prediction_interval(seed_scores, floor=floor, prior=prior or noise.VariancePrior())
    if iv.df <= 0:
        return "inconclusive", iv
    return ("holds" if iv.lo <= value <= iv.hi else "outside"), iv


def _score_noise(data: dict, groups: dict[tuple, list[dict]], key: tuple) -> tuple[float, noise.VariancePrior]:
    """(episode floor of this cell's seed scores, prior fitted to the task's other student cells)."""
    teacher = {(r["task"], r["seed"]): r.get("episode_scores") or [] for r in data["records"]
               if r["method"] == "teacher" and r.get("error") is None}

    def floor(recs: list[dict]) -> float:
        diffs = []
        for r in recs:
            eps, t = r.get("episode_scores") or [], teacher.get((r["task"], r["seed"]), [])
            diffs.append([a - b for a, b in zip(eps, t, strict=True)] if len(t) == len(eps) else eps)
        return noise.episode_floor(diffs)

    variances, dfs = [], []
    for k, recs in groups.items():
        if k[0] == key[0] and k[1] != "teacher":
            s2, df = noise.pooled_variance([[r["score"] for r in recs]])
            if df:
                variances.append(max(s2, floor(recs)))
                dfs.append(df)
    return floor(groups[key]), noise.fit_variance_prior(variances, dfs)


def retrain_leaderboard(data: dict, path: str | Path, n: int = 2, rng_seed: int = 0,
                        run_cell: RunCell | None = None,
                        on_start: Callable[[Cell], None] | None = None) -> list[Retrained]:
    """Retrain ``n`` sampled student cells of a board here (in a temporary folder, never the
    board's) and judge each against the board's seed-to-seed spread of its (task, method, size)."""
    board_path = Path(path)
    suite = _find_suite(data, board_path)
    # Profiling settings do not change what is trained or evaluated: time little.
    suite = dataclasses.replace(suite, profile=ProfileSettings(iters=20, warmup=2, threads=(1,), batch_sizes=(),
                                                               cuda="off", paths=("eager",)))
    groups = _cell_scores(data)
    candidates = [r for recs in groups.values() for r in recs if r["method"] != "teacher"
                  and (r.get("student") or {}).get("size")]
    candidates.sort(key=lambda r: (r["task"], r["method"], r["student"]["size"], r["seed"]))
    picked = random.Random(rng_seed).sample(candidates, min(n, len(candidates)))
    run_cell = run_cell or run_cell_here
    out = []
    with tempfile.TemporaryDirectory(prefix="kdmarl-verify-retrain-") as tmp:
        for i, r in enumerate(picked):
            where = f"{board_path}: records ({r['task']}, {r['method']}, {r['student']['size']}, seed {r['seed']})"
            cell, notes = reconstruct_cell(suite, r, where)
            if on_start:
                on_start(cell)
            rec = run_cell(suite, cell, Path(tmp) / f"cell{i}")
            if r.get("teacher_sha256") and rec.get("teacher_sha256") and rec["teacher_sha256"] != r["teacher_sha256"]:
                raise UsageError(f"{where}: the board's teacher (sha256 {r['teacher_sha256'][:12]}) is not the "
                                 f"teacher this suite resolves to here ({rec['teacher_sha256'][:12]})")
            if rec.get("error"):
                raise UsageError(f"{where}: retraining failed: {rec['error'].splitlines()[0]}")
            key = (r["task"], r["method"], r["student"]["size"])
            floor, prior = _score_noise(data, groups, key)
            seed_scores = [float(x["score"]) for x in groups[key]]
            verdict, iv = judge_retrained(float(rec["score"]), seed_scores, floor, prior)
            out.append(Retrained(r["task"], r["method"], key[2], int(r["seed"]), float(r["score"]),
                                 float(rec["score"]), iv.estimate, len(seed_scores), (iv.lo, iv.hi), iv.df,
                                 verdict, float(rec["score"]) == float(r["score"]), notes))
    return out
