"""The gate's result as a JUnit XML report (``gate --junit``), one test case per check."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from kdmarl_bench.results.gate.checks import (
    FAIL,
    INCONCLUSIVE,
    NOISY,
    SKIPPED,
    Check,
    GateResult,
    fmt_limit,
    fmt_value,
)


def _is_failure(check: Check, strict: bool) -> bool:
    return check.verdict == FAIL or (strict and check.verdict == INCONCLUSIVE)


def _is_skipped(check: Check, strict: bool) -> bool:
    return check.verdict in (SKIPPED, NOISY) or (not strict and check.verdict == INCONCLUSIVE)


def gate_junit(result: GateResult, suite_name: str = "kdmarl-bench gate") -> str:
    """JUnit XML: one testcase per check (classname = task, name = method [size] check); a
    ``failure`` whose message holds the current and baseline values for every regression,
    ``skipped`` where the current leaderboard lacks the measurement, the latency is noisy or
    (without ``strict``) the check is inconclusive."""
    n = len(result.checks)
    n_fail = sum(_is_failure(c, result.strict) for c in result.checks)
    n_skip = sum(_is_skipped(c, result.strict) for c in result.checks)
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
        if _is_failure(c, result.strict):
            kind = "regression" if c.verdict == FAIL else "inconclusive"
            failure = ET.SubElement(case, "failure", {"message": message, "type": kind})
            failure.text = c.describe()
        elif _is_skipped(c, result.strict):
            ET.SubElement(case, "skipped", {"message": c.detail})
        out = ET.SubElement(case, "system-out")
        out.text = c.describe()
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
