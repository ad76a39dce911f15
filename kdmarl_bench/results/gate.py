"""Turn a leaderboard into pass/fail against a baseline leaderboard (for CI).

Per (task, method, size) in the baseline:

- ``present``   the row exists in the current leaderboard;
- ``retention`` mean retention ≥ baseline − ``max_retention_drop``; noise-aware: it fails
  only when the current CI's upper bound is below that limit;
- ``flops``     FLOPs ≤ baseline × (1 + ``max_flops_increase``);
- ``latency``   the 1-thread CPU p50 *relative to the teacher of the same leaderboard*
  ≤ baseline ratio × (1 + ``max_latency_increase``) — a ratio, so a faster or slower CI
  machine does not trip it;
- ``latency_ms`` (instead of ``latency`` with ``absolute_latency=True``, teacher included): the
  absolute 1-thread CPU p50 in ms ≤ baseline × (1 + ``max_latency_increase``), for baselines
  measured on the same machine.

Both use the *fastest seed's* p50 of a (task, method, size): every seed deploys the same
architecture, and a busy machine only ever adds time, so the minimum is the least disturbed
timing of it (one seed timed during a burst of other work must not fail the gate).

``gate_markdown`` and ``gate_junit`` list every check with both values (JUnit XML: one
testcase per check, a ``failure`` per regression, ``skipped`` where the current leaderboard
lacks the measurement).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.compare import check_compatible
from kdmarl_bench.results.leaderboard import (
    TEACHER,
    TEACHER_SIZE,
    cpu_p50_ms,
    is_ok,
    method_sort_key,
    size_label,
    summary_index,
)
from kdmarl_bench.results.leaderboard import is_finite_number as _ok
from kdmarl_bench.results.render import markdown_table

_REL_EPS = 1e-9  # float slack for "no increase allowed"


@dataclass
class Check:
    task: str
    method: str
    size: str
    name: str  # present | retention | flops | latency | latency_ms
    current: Any
    baseline: Any
    limit: Any
    passed: bool
    detail: str = ""

    def describe(self) -> str:
        """One line with both values, e.g. for the CLI."""
        status = "PASS" if self.passed else "FAIL"
        text = (
            f"{status} {self.task} {self.method} {self.size} {self.name}: current {fmt_value(self.name, self.current)}"
            f" vs baseline {fmt_value(self.name, self.baseline)}"
        )
        if self.limit is not None:
            text += f" (limit {fmt_limit(self.name, self.limit)})"
        if self.detail:
            text += f" — {self.detail}"
        return text


@dataclass
class GateResult:
    passed: bool
    checks: list[Check] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "n_checks": len(self.checks),
            "n_failed": len(self.failures),
            "settings": dict(self.settings),
            "checks": [dataclasses.asdict(c) for c in self.checks],
        }


def fmt_value(name: str, v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if name == "flops":
        return f"{v:,.0f}"
    if name == "latency_ms":
        return f"{v:.4f} ms"
    return f"{v:.3f}"


def fmt_limit(name: str, v: Any) -> str:
    return ("≥ " if name == "retention" else "≤ ") + fmt_value(name, v)


def _fastest_p50(data: dict, task: str, method: str, size: str) -> float | None:
    """The lowest 1-thread CPU p50 (ms) over the seeds of (task, method, size) that count in
    the summary (``is_ok``, as for its mean p50)."""
    p50s = [
        cpu_p50_ms(r) for r in data.get("records", [])
        if r.get("task") == task and r.get("method") == method and size_label(r) == size and is_ok(r)
    ]
    p50s = [v for v in p50s if _ok(v)]
    return min(p50s) if p50s else None


def _relative_latency(data: dict, row: dict) -> tuple[float | None, str]:
    """(method p50 / teacher p50, explanation) in one leaderboard, fastest seed of each."""
    p50 = _fastest_p50(data, row["task"], row["method"], row["size"])
    t50 = _fastest_p50(data, row["task"], TEACHER, TEACHER_SIZE)
    if not _ok(p50) or not _ok(t50) or t50 <= 0:
        return None, "no 1-thread CPU latency for the method or its teacher"
    return p50 / t50, f"{p50:.4f} ms / teacher {t50:.4f} ms (fastest seeds)"


def _check_retention(key: tuple, cur: dict, base: dict, drop: float) -> Check | None:
    b = base.get("retention_mean")
    if not _ok(b):
        return None
    limit = b - drop
    c = cur.get("retention_mean")
    if not _ok(c):
        n_failed = cur.get("n_failed") or 0
        return Check(
            *key, "retention", None, b, limit, False, f"no successful seeds in current ({n_failed} failed)"
        )
    ci = cur.get("retention_ci95")
    hi = ci[1] if ci and _ok(ci[1]) else c
    if c >= limit:
        return Check(*key, "retention", c, b, limit, True, "")
    if hi >= limit:
        detail = f"mean below the limit but CI upper bound {hi:.3f} reaches it: within noise"
        return Check(*key, "retention", c, b, limit, True, detail)
    detail = f"CI upper bound {hi:.3f} is below baseline {b:.3f} − {drop:g} = {limit:.3f}" + (
        f"; {cur['n_failed']} seed(s) failed" if cur.get("n_failed") else ""
    )
    return Check(*key, "retention", c, b, limit, False, detail)


def _check_flops(key: tuple, cur: dict, base: dict, inc: float) -> Check | None:
    b = base.get("flops")
    if not _ok(b):
        return None
    limit = b * (1.0 + inc)
    c = cur.get("flops")
    if not _ok(c):
        return Check(*key, "flops", None, b, limit, False, "FLOPs not counted in the current leaderboard")
    passed = c <= limit * (1.0 + _REL_EPS)
    detail = "" if passed else f"{c / b:.3f}× the baseline FLOPs (allowed {1 + inc:.3f}×)"
    return Check(*key, "flops", c, b, limit, passed, detail)


def _check_latency(
    key: tuple, cur_data: dict, cur: dict, base_data: dict, base: dict, inc: float
) -> Check | None:
    b, b_why = _relative_latency(base_data, base)
    if b is None:
        return None
    limit = b * (1.0 + inc)
    c, c_why = _relative_latency(cur_data, cur)
    if c is None:
        return Check(*key, "latency", None, b, limit, True, f"skipped: current has {c_why}")
    passed = c <= limit * (1.0 + _REL_EPS)
    detail = f"p50 relative to the teacher: current {c_why}, baseline {b_why}"
    return Check(*key, "latency", c, b, limit, passed, detail)


def _check_latency_absolute(
    key: tuple, cur_data: dict, cur: dict, base_data: dict, base: dict, inc: float
) -> Check | None:
    b = _fastest_p50(base_data, base["task"], base["method"], base["size"])
    if not _ok(b):
        return None
    limit = b * (1.0 + inc)
    c = _fastest_p50(cur_data, cur["task"], cur["method"], cur["size"])
    if not _ok(c):
        return Check(*key, "latency_ms", None, b, limit, True, "skipped: current has no 1-thread CPU latency")
    passed = c <= limit * (1.0 + _REL_EPS)
    detail = f"absolute 1-thread CPU p50: {c / b:.3f}× the baseline (allowed {1 + inc:.3f}×)"
    return Check(*key, "latency_ms", c, b, limit, passed, detail)


def gate(
    current: dict,
    baseline: dict,
    max_retention_drop: float = 0.05,
    max_flops_increase: float = 0.0,
    max_latency_increase: float = 0.25,
    *,
    absolute_latency: bool = False,
    current_name: str = "current",
    baseline_name: str = "baseline",
) -> GateResult:
    """Check ``current`` against ``baseline``; UsageError when they are not comparable.

    Latency is compared as a ratio to each leaderboard's own teacher unless
    ``absolute_latency`` (then absolute ms, the teacher included).
    """
    for opt, value in (
        ("max_retention_drop", max_retention_drop),
        ("max_flops_increase", max_flops_increase),
        ("max_latency_increase", max_latency_increase),
    ):
        if not _ok(value) or value < 0:
            raise UsageError(f"{opt} must be a number ≥ 0, got {value!r}")
    cur_suite = (current.get("suite") or {}).get("name")
    base_suite = (baseline.get("suite") or {}).get("name")
    if cur_suite != base_suite:
        raise UsageError(
            f"cannot gate {current_name} (suite {cur_suite!r}) against {baseline_name} (suite {base_suite!r}): "
            "a leaderboard is only gated against a baseline of the same suite"
        )
    check_compatible(baseline_name, baseline, current_name, current)

    cur_index = summary_index(current)
    base_index = summary_index(baseline)
    checks: list[Check] = []
    for key in sorted(base_index, key=lambda k: (k[0], method_sort_key(k[1]), k[2])):
        base = base_index[key]
        cur = cur_index.get(key)
        if cur is None:
            checks.append(
                Check(*key, "present", "missing", "present", None, False, f"missing from {current_name}")
            )
            continue
        new = [_check_flops(key, cur, base, max_flops_increase)]
        if key[1] != TEACHER:
            new.insert(0, _check_retention(key, cur, base, max_retention_drop))
        if absolute_latency:
            new.append(_check_latency_absolute(key, current, cur, baseline, base, max_latency_increase))
        elif key[1] != TEACHER:
            new.append(_check_latency(key, current, cur, baseline, base, max_latency_increase))
        checks.extend(c for c in new if c is not None)
    settings = {
        "max_retention_drop": max_retention_drop,
        "max_flops_increase": max_flops_increase,
        "max_latency_increase": max_latency_increase,
        "latency": "absolute" if absolute_latency else "relative to the teacher",
        "current": current_name,
        "baseline": baseline_name,
    }
    return GateResult(passed=all(c.passed for c in checks), checks=checks, settings=settings)


def gate_markdown(result: GateResult) -> str:
    """A markdown report listing every check with both values (for a CI job summary)."""
    n_fail = len(result.failures)
    verdict = "✅ passed" if result.passed else f"❌ failed ({n_fail} of {len(result.checks)} checks)"
    lines = [f"## kdmarl-bench gate: {verdict}", ""]
    s = result.settings
    if s:
        latency_how = (
            "absolute CPU p50 ms" if s.get("latency") == "absolute" else "p50 relative to the teacher"
        )
        lines += [
            f"Current `{s.get('current')}` vs baseline `{s.get('baseline')}`; max retention drop "
            f"{s.get('max_retention_drop')}, max FLOPs increase {s.get('max_flops_increase')}, "
            f"max latency increase {s.get('max_latency_increase')} ({latency_how}).",
            "",
        ]
    header = ["status", "task", "method", "size", "check", "current", "baseline", "limit", "detail"]
    rows = [
        [
            "PASS" if c.passed else "**FAIL**",
            c.task,
            c.method,
            c.size,
            c.name,
            fmt_value(c.name, c.current),
            fmt_value(c.name, c.baseline),
            fmt_limit(c.name, c.limit) if c.limit is not None else "",
            c.detail,
        ]
        for c in result.checks
    ]
    if rows:
        lines.append(markdown_table(header, rows, right=(5, 6, 7)))
    else:
        lines.append("No checks: the baseline has no summary rows.\n")
    return "\n".join(lines)


def _is_skipped(check: Check) -> bool:
    return check.passed and check.detail.startswith("skipped")


def gate_junit(result: GateResult, suite_name: str = "kdmarl-bench gate") -> str:
    """JUnit XML: one testcase per check (classname = task, name = method [size] check); a
    ``failure`` whose message holds the current and baseline values for every regression,
    ``skipped`` where the current leaderboard lacks the measurement."""
    import xml.etree.ElementTree as ET

    n = len(result.checks)
    n_fail = len(result.failures)
    n_skip = sum(_is_skipped(c) for c in result.checks)
    counts = {"tests": str(n), "failures": str(n_fail), "errors": "0", "skipped": str(n_skip), "time": "0"}
    root = ET.Element("testsuites", {"name": suite_name, **counts})
    suite = ET.SubElement(root, "testsuite", {"name": suite_name, **counts})
    props = ET.SubElement(suite, "properties")
    for key, value in result.settings.items():
        ET.SubElement(props, "property", {"name": str(key), "value": str(value)})
    for c in result.checks:
        case = ET.SubElement(
            suite, "testcase", {"classname": c.task, "name": f"{c.method} [{c.size}] {c.name}", "time": "0"}
        )
        message = f"current {fmt_value(c.name, c.current)} vs baseline {fmt_value(c.name, c.baseline)}"
        if c.limit is not None:
            message += f" (limit {fmt_limit(c.name, c.limit)})"
        if not c.passed:
            failure = ET.SubElement(case, "failure", {"message": message, "type": "regression"})
            failure.text = c.describe()
        elif _is_skipped(c):
            ET.SubElement(case, "skipped", {"message": c.detail})
        out = ET.SubElement(case, "system-out")
        out.text = c.describe()
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
