"""How often does `kdmarl-bench gate` cry wolf on an honest rerun, and how often does it catch a real regression?

Everything runs through the real ``kdmarl_bench.results.gate.checks.gate`` at its default thresholds
(retention drop 0.05, FLOPs +0, latency +25%) on pseudo-boards resampled from the committed ones:

* **honest reruns** — baseline and current are both drawn from the same cell distribution: for
  every (task, method, size) of a committed board, ``n`` seeds drawn with replacement from its
  recorded seeds, distinct within a board (a board of two copies of one seed would have no seed
  variance, which no real rerun produces), and within each drawn seed its eval episodes drawn
  with replacement, the same episode draw for every method of that seed (evaluation is paired:
  every method plays the same eval episodes); score and retention are recomputed from them
  against that seed's teacher on the same episodes. At n = 3 of 3 recorded seeds both boards hold
  the same seeds and differ by the episode draw only — the weaker test, shown for completeness. Sources:
  ``baselines/mpe.json`` and ``baselines/smax.json`` (3 seeds, 100 / 32 episodes) at n = 2 and
  n = 3 seeds, ``baselines/quickstart.json`` (2 seeds) at n = 2. A false alarm is a ``fail``.
* **regressions** — the current board (resampled the same way) carries a real defect:
  (a) *students 4× narrower*: every method's ``auto`` rows replaced by the same method's rows at
      a 4× narrower size (MPE: ``w8`` for the 32-wide ``auto``; SMAX 3m: ``w16`` for the 64-wide
      ``auto``; widths checked from the records);
  (b) *learning rate 0*: every ``auto`` student replaced by the untrained student (``StudentPolicy``
      initialised with the runner's ``torch.manual_seed(10_007 * seed + 1)``, evaluated with
      ``kdmarl_bench.evaluate`` on the board's eval seeds and episode counts; cached in
      ``benchmarks/data/untrained_students.json``, ``--recompute`` re-evaluates);
  (c) *a weaker teacher*: quickstart's spread rows (teacher −13.1 and its students) replaced by
      ``baselines/sweep.json``'s, distilled from the first-stage spread teacher (−14.6). Retention
      does not drop (the students keep as much of the weaker teacher); the gate must catch the
      teacher itself (``teacher_score``, and ``teacher_sha256``).
  (d) *one seed collapses*: on a 2-seed board, the first seed of every ``kd-marl`` ``auto`` row is
      replaced by the untrained student of (b) (random-policy level: retention ≈ 0.9 → ≈ 0 on that seed,
      the mean halved), the other seed untouched. The mean test cannot call that with two seeds; the
      gate's collapse floor (a seed below both 0.6 × the baseline's worst seed and that seed − drop − 4 seed
      sd) must.
  A regressed check counts towards *detection* only when, on the full committed data (all seeds,
  all episodes), its drop exceeds the threshold (retention: mean of the regressed rows − mean of
  the originals < −0.05; teacher: score change < −0.05 of the teacher's gap over random). The
  other regressed checks are listed apart ("below threshold"), with what the gate said.

Prints per scenario: runs, checks judged, and the rates of fail / inconclusive / pass; per gate
run the fraction that exits 1 (and that would with ``--strict``).

    python benchmarks/gate_calibration.py [--reps 300] [--seed 0] [--recompute]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from kdmarl_bench.envs import get_task
from kdmarl_bench.evaluate import evaluate
from kdmarl_bench.models.policy import StudentPolicy
from kdmarl_bench.results.gate.checks import FAIL, INCONCLUSIVE, PASS, gate
from kdmarl_bench.results.model.records import TEACHER, Leaderboard, Record

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "untrained_students.json"
DROP = 0.05
NARROW = {"mpe": ("auto", "w8"), "smax/3m": ("auto", "w16")}


# ---------------------------------------------------------------------------------------------
# boards


def load(name: str) -> dict:
    data = json.loads((ROOT / "baselines" / f"{name}.json").read_text())
    for r in data["records"]:
        r["latency"] = []  # latency is not what this calibrates (and it keeps the gate fast)
    return data


def cells(data: dict) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for r in data["records"]:
        typed = Record.from_dict(r)
        if typed.ok:
            out[typed.key].append(r)
    return out


def rescored(r: dict, idx: np.ndarray | None, seed: int, teacher: dict | None) -> dict:
    """A copy of record ``r`` on the episodes ``idx`` (all when None), as seed ``seed``: score and
    retention recomputed against ``teacher`` (the same task and seed's teacher record) on the same
    episodes — evaluation is paired, every method plays the same eval episodes."""
    eps = np.asarray(r["episode_scores"], dtype=float)
    idx = np.arange(eps.size) if idx is None else idx
    new = dict(r)
    new["seed"] = seed
    new["episode_scores"] = eps[idx].tolist()
    new["score"] = float(eps[idx].mean())
    if r["method"] == TEACHER:
        new["teacher_score"], new["retention"] = new["score"], 1.0
        return new
    t = float(np.asarray(teacher["episode_scores"], dtype=float)[idx].mean())
    rnd = r.get("random_score")
    new["teacher_score"] = t
    new["retention"] = (new["score"] - rnd) / (t - rnd) if r["metric"] == "return" else new["score"] / t
    return new


def teachers(groups: dict[tuple, list[dict]]) -> dict[tuple, dict]:
    return {(k[0], r["seed"]): r for k, recs in groups.items() if k[1] == TEACHER for r in recs}


def resample(groups: dict[tuple, list[dict]], n: int, rng: np.random.Generator,
             teacher_groups: dict[tuple, list[dict]] | None = None) -> list[dict]:
    """A pseudo-board of ``n`` seeds. Per task and seed slot, one recorded seed (distinct within
    the board, as a real board's seeds are: two copies of one seed would fake a board without
    seed variance; with replacement only when ``n`` exceeds the recorded seeds) and one resample
    (with replacement) of its eval episodes, shared by every cell of the task (as a
    real board evaluates every method of a seed on the same eval episodes); each cell takes its
    record of that seed, on those episodes. ``teacher_groups``: where each cell's retention
    teacher comes from (default: ``groups``' own teacher rows)."""
    by_seed = teachers(teacher_groups or groups)
    tasks = sorted({k[0] for k in groups})
    out = []
    for task in tasks:
        seeds = sorted({s for (t, s) in by_seed if t == task})
        m = len(by_seed[(task, seeds[0])]["episode_scores"])
        picks = rng.choice(seeds, size=n, replace=n > len(seeds))
        slots = [(int(seed), rng.integers(0, m, size=m)) for seed in picks]
        for key, recs in groups.items():
            if key[0] != task:
                continue
            mine = {r["seed"]: r for r in recs}
            for i, (seed, idx) in enumerate(slots):
                if seed in mine:
                    out.append(rescored(mine[seed], idx, i, by_seed[(task, seed)]))
    return out


def board_with(template: dict, records: list[dict]) -> dict:
    b = dict(template)
    b["records"] = records
    return b


def relabel(recs: list[dict], method: str, size: str) -> list[dict]:
    out = []
    for r in recs:
        r = copy.deepcopy(r)
        r["method"] = method
        r["student"] = {**(r.get("student") or {}), "size": size}
        out.append(r)
    return out


# ---------------------------------------------------------------------------------------------
# (b) untrained students


def untrained_records(boards: dict[str, dict], recompute: bool) -> dict[str, list[dict]]:
    """Per task: one record per seed of the untrained auto-size student (cached)."""
    if DATA.exists() and not recompute:
        return json.loads(DATA.read_text())
    import torch

    out: dict[str, list[dict]] = {}
    for data in boards.values():
        groups = cells(data)
        for (task, method, size), recs in groups.items():
            if method != "kd-marl" or size != "auto" or task in out:
                continue
            spec = get_task(task).spec
            out[task] = []
            for r in sorted(recs, key=lambda r: r["seed"]):
                torch.manual_seed(10_007 * r["seed"] + 1)
                policy = StudentPolicy(spec.obs_dims, spec.n_actions, [tuple(w) for w in r["student"]["widths"]])
                res = evaluate(policy.eval(), task, r["eval_episodes"], r["eval_seed"])
                out[task].append({"seed": r["seed"], "eval_seed": r["eval_seed"], "widths": r["student"]["widths"],
                                  "episode_scores": res.episode_scores, "score": res.score})
                print(f"untrained {task} seed {r['seed']}: {res.score:.3f}", flush=True)
    DATA.parent.mkdir(parents=True, exist_ok=True)
    DATA.write_text(json.dumps(out, indent=1) + "\n")
    return out


def untrained_cells(groups: dict[tuple, list[dict]], untrained: dict[str, list[dict]]) -> dict[tuple, list[dict]]:
    """Every method's auto rows replaced by the untrained student on the same seeds."""
    out = dict(groups)
    for (task, method, size), recs in groups.items():
        if method == TEACHER or size != "auto" or task not in untrained:
            continue
        by_seed = {u["seed"]: u for u in untrained[task]}
        out[(task, method, size)] = [
            {**r, "episode_scores": by_seed[r["seed"]]["episode_scores"], "score": by_seed[r["seed"]]["score"],
             "retention": None}
            for r in recs
        ]
    return out


# ---------------------------------------------------------------------------------------------
# scenarios


def collapse_one_seed(records: list[dict], untrained: dict[str, list[dict]]) -> list[dict]:
    """A resampled board whose first seed (slot 0) of every kd-marl auto row played as the untrained student:
    its episodes, score and retention (against the same board's teacher of that seed) replaced."""
    teacher = {(r["task"], r["seed"]): r for r in records if r["method"] == TEACHER}
    out = []
    for r in records:
        if r["method"] == "kd-marl" and Record.from_dict(r).size == "auto" and r["seed"] == 0 and r["task"] in untrained:
            u = untrained[r["task"]][0]
            t = teacher[(r["task"], 0)]["score"]
            score = float(np.mean(u["episode_scores"]))
            rnd = r.get("random_score")
            r = {**r, "episode_scores": list(u["episode_scores"]), "score": score,
                 "retention": (score - rnd) / (t - rnd) if r["metric"] == "return" else score / t}
        out.append(r)
    return out


def run_collapse(name: str, template: dict, groups, untrained, reps: int, rng) -> dict:
    """Gate runs of an honest 2-seed baseline against a current board with one collapsed seed per kd-marl auto row."""
    verdicts: Counter = Counter()
    runs_fail = runs_strict = 0
    for _ in range(reps):
        base = board_with(template, resample(groups, 2, rng))
        cur = board_with(template, collapse_one_seed(resample(groups, 2, rng), untrained))
        res = gate(Leaderboard.from_dict(cur), Leaderboard.from_dict(base))
        runs_fail += res.exit_code == 1
        runs_strict += bool(res.failures or res.inconclusive)
        for c in res.checks:
            if c.name == "retention" and c.method == "kd-marl" and c.size == "auto" and c.task in untrained:
                verdicts[c.verdict] += 1
    return {"name": name, "n": 2, "reps": reps, "unchanged": Counter(), "regressed": verdicts, "below": Counter(),
            "runs_fail": runs_fail / reps, "runs_strict": runs_strict / reps,
            "n_true": len({t for t in untrained if any(k[0] == t and k[1] == "kd-marl" and k[2] == "auto"
                                                       for k in groups)}), "n_below": 0}


def narrow_cells(groups: dict[tuple, list[dict]]) -> dict[tuple, list[dict]]:
    out = dict(groups)
    for (task, method, size), recs in groups.items():
        wide, narrow = NARROW.get(task, NARROW.get(task.split("/")[0], (None, None)))
        if size != wide or method == TEACHER or (task, method, narrow) not in groups:
            continue
        small = groups[(task, method, narrow)]
        w_wide, w_small = recs[0]["student"]["widths"][0][0], small[0]["student"]["widths"][0][0]
        assert w_wide == 4 * w_small, (task, method, w_wide, w_small)
        out[(task, method, size)] = relabel(small, method, size)
    return out


def truth(base: dict[tuple, list[dict]], cur: dict[tuple, list[dict]]) -> dict[tuple, float]:
    """Full-data change per regressed check: retention (students) or the teacher's normalised score."""
    out = {}
    t_base, t_cur = teachers(base), teachers(cur)

    def ret(recs: list[dict], by_seed: dict) -> float:
        return float(np.mean([rescored(r, None, r["seed"], by_seed[(r["task"], r["seed"])])["retention"]
                              for r in recs]))

    for key, recs in cur.items():
        if recs is base.get(key):
            continue
        if key[1] == TEACHER:
            b = np.concatenate([r["episode_scores"] for r in base[key]])
            c = np.concatenate([r["episode_scores"] for r in recs])
            rnd = [r["random_score"] for r in base[key] if r.get("random_score") is not None]
            gap = b.mean() - (np.mean(rnd) if rnd else 0.0)
            out[(*key, "teacher_score")] = float((c.mean() - b.mean()) / gap)
        else:
            out[(*key, "retention")] = ret(recs, t_cur) - ret(base[key], t_base)
    return out


def run(name: str, template: dict, base_groups, cur_groups, n: int, reps: int, rng) -> dict:
    true = truth(base_groups, cur_groups)
    per_check: Counter = Counter()
    regressed: Counter = Counter()
    below: Counter = Counter()
    runs_fail = runs_strict = 0
    for _ in range(reps):
        base = board_with(template, resample(base_groups, n, rng))
        cur = board_with(template, resample(cur_groups, n, rng))
        res = gate(Leaderboard.from_dict(cur), Leaderboard.from_dict(base))
        runs_fail += res.exit_code == 1
        runs_strict += bool(res.failures or res.inconclusive)
        for c in res.checks:
            if c.name not in ("retention", "teacher_score", "teacher_sha256"):
                continue
            key = (c.task, c.method, c.size, c.name)
            if c.name == "teacher_sha256":
                key = (c.task, c.method, c.size, "teacher_score")
                if key in true and true[key] < -DROP:
                    regressed["sha:" + c.verdict] += 1
                continue
            if key in true:
                (regressed if true[key] < -DROP else below)[c.verdict] += 1
            else:
                per_check[c.verdict] += 1
    return {"name": name, "n": n, "reps": reps, "unchanged": per_check, "regressed": regressed, "below": below,
            "runs_fail": runs_fail / reps, "runs_strict": runs_strict / reps,
            "n_true": sum(v < -DROP for v in true.values()), "n_below": sum(v >= -DROP for v in true.values())}


def rates(c: Counter) -> str:
    total = sum(c[v] for v in (FAIL, INCONCLUSIVE, PASS))
    if not total:
        return "—"
    return " / ".join(f"{100 * c[v] / total:.1f}" for v in (FAIL, INCONCLUSIVE, PASS)) + f"  ({total})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=300, help="Pseudo-board pairs per scenario.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--recompute", action="store_true", help="Re-evaluate the untrained students.")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    boards = {n: load(n) for n in ("mpe", "smax", "quickstart", "sweep")}
    groups = {n: cells(b) for n, b in boards.items()}
    untrained = untrained_records({n: boards[n] for n in ("mpe", "smax")}, args.recompute)

    results = []
    for n_seeds in (2, 3):
        for src in ("mpe", "smax"):
            g = groups[src]
            results.append(run(f"honest rerun · {src}", boards[src], g, g, n_seeds, args.reps, rng))
            results.append(run(f"(a) 4× narrower · {src}", boards[src], g, narrow_cells(g), n_seeds, args.reps, rng))
            results.append(run(f"(b) lr = 0 · {src}", boards[src], g, untrained_cells(g, untrained), n_seeds,
                               args.reps, rng))
    for src in ("mpe", "smax"):
        results.append(run_collapse(f"(d) one seed collapses · {src}", boards[src], groups[src], untrained,
                                    args.reps, rng))
    qs = groups["quickstart"]
    results.append(run("honest rerun · quickstart", boards["quickstart"], qs, qs, 2, args.reps, rng))
    weaker = dict(qs)
    for key in qs:
        if key[0] == "mpe/simple_spread_v3":
            weaker[key] = groups["sweep"][key]
    results.append(run("(c) weaker teacher · quickstart", boards["quickstart"], qs, weaker, 2, args.reps, rng))

    table = Table(title=f"gate calibration at the default thresholds (retention drop {DROP}; {args.reps} board pairs each)")
    for col in ("scenario", "seeds", "unchanged checks: fail / inconcl. / pass %",
                "regressed > 0.05: fail / inconcl. / pass %", "regressed ≤ 0.05: fail / inconcl. / pass %",
                "runs exit 1", "runs exit 1 --strict"):
        table.add_column(col)
    for r in results:
        reg = rates(r["regressed"]) if r["n_true"] else "—"
        if r["regressed"].get("sha:" + FAIL) is not None or r["regressed"].get("sha:" + PASS) is not None:
            tot = r["regressed"]["sha:" + FAIL] + r["regressed"]["sha:" + PASS]
            reg += f"; teacher_sha256 fail {100 * r['regressed']['sha:' + FAIL] / tot:.0f}%"
        table.add_row(r["name"], str(r["n"]), rates(r["unchanged"]), f"{reg} [{r['n_true']} checks]",
                      f"{rates(r['below'])} [{r['n_below']} checks]" if r["n_below"] else "—",
                      f"{100 * r['runs_fail']:.1f}%", f"{100 * r['runs_strict']:.1f}%")
    Console(width=220).print(table)
    honest = [r for r in results if r["name"].startswith("honest")]
    fa = sum(r["unchanged"][FAIL] for r in honest) / max(1, sum(sum(r["unchanged"].values()) for r in honest))
    worst = max(honest, key=lambda r: r["runs_fail"])
    print(f"false alarms on honest reruns: {100 * worst['runs_fail']:.1f}% of gate runs at worst "
          f"({worst['name']}, {worst['n']} seeds); {100 * fa:.2f}% of all unchanged checks")
    reg = [r for r in results if not r["name"].startswith("honest")]
    print("detection, gate runs that exit 1: " + "; ".join(
        f"{r['name']} n={r['n']} {100 * r['runs_fail']:.1f}%" for r in reg))
    det_fail = sum(r["regressed"][FAIL] for r in reg)
    det_tot = sum(r["regressed"][v] for r in reg for v in (FAIL, INCONCLUSIVE, PASS))
    det_flag = det_fail + sum(r["regressed"][INCONCLUSIVE] for r in reg)
    print(f"detection, regressed checks (> {DROP} on the full data): {100 * det_fail / max(1, det_tot):.1f}% fail, "
          f"{100 * det_flag / max(1, det_tot):.1f}% fail or inconclusive (exit 1 with --strict), "
          f"{100 * (1 - det_flag / max(1, det_tot)):.1f}% pass")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
