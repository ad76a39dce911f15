"""gate(): retention judged on rerun noise (pass / fail / inconclusive), the teacher, FLOPs and
teacher-relative latency against a baseline."""

from __future__ import annotations

import copy

import pytest

from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.gate.checks import gate as gate_typed
from kdmarl_bench.results.render.markdown import gate_markdown
from tests.factories import make_leaderboard, make_record, standard_records, typed


def gate(current: dict, baseline: dict, **settings):
    """The gate on two board dicts, typed the way reading their files types them."""
    return gate_typed(typed(current), typed(baseline), **settings)


@pytest.fixture(scope="module")
def base() -> dict:
    return make_leaderboard()


def _find(result, task, method, name):
    return next(c for c in result.checks if (c.task, c.method, c.name) == (task, method, name))


def test_gate_on_itself_passes(base):
    result = gate(base, base)
    assert result.passed and not result.failures and result.exit_code == 0
    # per task: teacher score + flops; kd-marl and bc retention + flops + latency
    assert len(result.checks) == 2 * (2 + 2 * 3)
    assert {c.name for c in result.checks} == {"teacher_score", "retention", "flops", "latency"}
    # 3 seeds with a seed sd of 0.05–0.125 cannot resolve a 0.05 drop: inconclusive, not fail
    ret = [c for c in result.checks if c.name == "retention"]
    assert {c.verdict for c in ret} == {"inconclusive"}
    assert all("need ≥" in c.detail for c in ret)
    assert gate(base, base, strict=True).exit_code == 1
    assert gate(base, base, max_retention_drop=0.5).exit_code == 0
    assert {c.verdict for c in gate(base, base, max_retention_drop=0.5).checks if c.name == "retention"} == {"pass"}


def test_retention_drop_fails_with_both_values(base):
    recs = standard_records()
    for r in recs:
        if r["method"] == "kd-marl" and r["task"] == "smax/3m":
            r["score"] -= 0.3
    current = make_leaderboard(recs)
    result = gate(current, base)
    assert not result.passed
    [fail] = result.failures
    assert (fail.task, fail.method, fail.name) == ("smax/3m", "kd-marl", "retention")
    assert fail.current == pytest.approx(0.65) and fail.baseline == pytest.approx(0.95)
    assert fail.limit == pytest.approx(0.90)
    assert fail.verdict == "fail" and "established" in fail.detail and "[-0.413, -0.187]" in fail.detail
    line = fail.describe()
    assert "0.650" in line and "0.950" in line and "FAIL" in line


def test_retention_drop_within_noise_is_inconclusive(base):
    # kd-marl smax retention 0.70/0.95/1.0: mean 0.883 < limit 0.90, but the interval reaches +0.2.
    recs = standard_records()
    for r in recs:
        if r["method"] == "kd-marl" and r["task"] == "smax/3m" and r["seed"] == 0:
            r["score"] = 0.70
    current = make_leaderboard(recs)
    result = gate(current, base)
    check = _find(result, "smax/3m", "kd-marl", "retention")
    assert check.current < check.limit
    assert check.passed and check.verdict == "inconclusive"
    assert "cannot tell a drop of 0.05 from noise with 3 seeds: need ≥" in check.detail
    assert result.exit_code == 0 and gate(current, base, strict=True).exit_code == 1


def test_flops_increase_fails_and_tolerance_allows_it(base):
    recs = standard_records()
    for r in recs:
        if r["method"] == "bc" and r["task"] == "mpe/simple_spread":
            r["cost"]["flops"] = 550.0
    current = make_leaderboard(recs)
    result = gate(current, base)
    [fail] = result.failures
    assert (fail.method, fail.name, fail.current, fail.baseline) == ("bc", "flops", 550.0, 500.0)
    assert gate(current, base, max_flops_increase=0.1).passed
    # fewer FLOPs is always fine
    assert gate(base, current).passed


def test_latency_is_relative_to_the_teacher(base):
    # a machine twice as slow: every p50 doubles → ratios unchanged → pass
    recs = standard_records()
    for r in recs:
        for e in r["latency"]:
            e["p50_ms"] *= 2
    assert gate(make_leaderboard(recs), base).passed
    # only the student gets 50% slower → ratio 0.25 → 0.375 > 0.25 × 1.25
    recs = standard_records()
    for r in recs:
        if r["method"] == "kd-marl" and r["task"] == "smax/3m":
            for e in r["latency"]:
                e["p50_ms"] *= 1.5
    result = gate(make_leaderboard(recs), base)
    [fail] = result.failures
    assert (
        fail.name == "latency"
        and fail.current == pytest.approx(0.375)
        and fail.baseline == pytest.approx(0.25)
    )
    assert gate(make_leaderboard(recs), base, max_latency_increase=0.6).passed


def test_latency_spike_in_one_seed_is_not_a_regression(base):
    # One seed timed during a burst of other work (p50 ×1.85, as measured once on this
    # machine); the other seed of the same architecture is as fast as ever → pass.
    recs = standard_records()
    spiked = [r for r in recs if r["method"] == "bc" and r["task"] == "smax/3m"]
    assert len(spiked) >= 2
    for e in spiked[0]["latency"]:
        e["p50_ms"] *= 1.85
    for absolute in (False, True):
        assert gate(make_leaderboard(recs), base, absolute_latency=absolute).passed
    # every seed slower is a real regression, in both modes
    for r in spiked[1:]:
        for e in r["latency"]:
            e["p50_ms"] *= 1.85
    for absolute in (False, True):
        [fail] = gate(make_leaderboard(recs), base, absolute_latency=absolute).failures
        assert fail.method == "bc" and fail.name.startswith("latency")


def test_missing_latency_in_current_is_skipped_not_failed(base):
    recs = standard_records()
    for r in recs:
        r["latency"] = []
    result = gate(make_leaderboard(recs), base)
    assert result.passed
    assert any(c.name == "latency" and c.detail.startswith("skipped") for c in result.checks)


def test_missing_method_fails(base):
    current = make_leaderboard([r for r in standard_records() if r["method"] != "bc"])
    result = gate(current, base)
    assert not result.passed
    missing = [c for c in result.failures if c.name == "present"]
    assert {(c.task, c.method) for c in missing} == {("smax/3m", "bc"), ("mpe/simple_spread", "bc")}


def test_all_seeds_failed_fails(base):
    recs = [r for r in standard_records() if not (r["method"] == "kd-marl" and r["task"] == "smax/3m")]
    recs += [make_record("smax/3m", "kd-marl", s, None, 1.0, error="NaN loss") for s in range(3)]
    check = _find(gate(make_leaderboard(recs), base), "smax/3m", "kd-marl", "retention")
    assert not check.passed and "3 failed" in check.detail


def test_extra_rows_in_current_are_ignored(base):
    recs = standard_records() + [make_record("smax/3m", "dagger", s, 0.2, 1.0) for s in range(3)]
    assert gate(make_leaderboard(recs), base).passed


def test_suite_mismatch_and_bad_tolerance(base):
    other = make_leaderboard(suite_name="paper")
    with pytest.raises(UsageError, match="suite 'paper'.*suite 'ci'"):
        gate(other, base)
    with pytest.raises(UsageError, match="max_retention_drop"):
        gate(base, base, max_retention_drop=-0.1)


def test_backend_mismatch_refused(base):
    recs = standard_records()
    for r in recs:
        if r["task"] == "smax/3m":
            r["backend"] = "smacv2"
    with pytest.raises(UsageError, match="different backends"):
        gate(make_leaderboard(recs), base, current_name="cur.json", baseline_name="base.json")


def test_gate_markdown_lists_every_check(base):
    recs = standard_records()
    for r in recs:
        if r["method"] == "kd-marl" and r["task"] == "smax/3m":
            r["score"] -= 0.45  # retention 0.95 → 0.50
    result = gate(make_leaderboard(recs), base)
    md = gate_markdown(result)
    assert md.startswith("## kdmarl-bench gate: ❌ failed (1 of")
    body = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| status")]
    assert len(body) == len(result.checks)
    assert any("**FAIL**" in line and "0.500" in line and "0.950" in line for line in body)
    assert "✅ passed (4 inconclusive" in gate_markdown(gate(base, base))
    assert "INCONCLUSIVE" in gate_markdown(gate(base, base))
    as_dict = result.to_dict()
    assert as_dict["passed"] is False and as_dict["n_failed"] == 1


# ---------------------------------------------------------------------------------------------
# re-runs, JUnit XML and absolute latency


def _rerun_records(seed: int = 7) -> list[dict]:
    """The same suite run again: every score and latency moves a little (within noise)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    recs = standard_records()
    for r in recs:
        if r["method"] == "teacher":
            continue
        if r["metric"] == "win_rate":
            r["score"] = float(min(1.0, max(0.0, r["score"] + rng.uniform(-0.03, 0.03))))
        else:
            r["score"] = float(r["score"] + rng.uniform(-1.0, 1.0))
    for r in recs:
        for e in r["latency"]:
            e["p50_ms"] *= float(rng.uniform(0.95, 1.05))
    return recs


def test_rerun_within_noise_passes(base):
    result = gate(make_leaderboard(_rerun_records()), base)
    assert result.passed, [c.describe() for c in result.failures]
    assert any(c.current != c.baseline for c in result.checks if c.name == "retention")


def test_student_four_times_larger_fails(base):
    recs = standard_records()
    for r in recs:
        if r["method"] == "kd-marl" and r["task"] == "smax/3m":
            r["cost"]["flops"] *= 4
    result = gate(make_leaderboard(recs), base)
    [fail] = result.failures
    assert (fail.task, fail.method, fail.name) == ("smax/3m", "kd-marl", "flops")
    assert (fail.current, fail.baseline) == (4000.0, 1000.0)
    assert "4.000× the baseline FLOPs" in fail.detail
    assert "4,000" in fail.describe() and "1,000" in fail.describe()


def test_lowered_retention_fails(base):
    recs = standard_records()
    for r in recs:
        if r["method"] == "bc" and r["task"] == "mpe/simple_spread":
            r["score"] -= 50.0  # retention 0.5/0.625/0.75 → -0.125/0.0/0.125
    result = gate(make_leaderboard(recs), base)
    [fail] = result.failures
    assert (fail.task, fail.method, fail.name) == ("mpe/simple_spread", "bc", "retention")
    assert fail.current == pytest.approx(0.0, abs=1e-9) and fail.baseline == pytest.approx(0.625)
    # half that drop, with this cell's seed spread (sd 0.125), is not established at 3 seeds
    recs = standard_records()
    for r in recs:
        if r["method"] == "bc" and r["task"] == "mpe/simple_spread":
            r["score"] -= 20.0
    check = _find(gate(make_leaderboard(recs), base), "mpe/simple_spread", "bc", "retention")
    assert check.verdict == "inconclusive"


def _junit(result):
    import xml.etree.ElementTree as ET

    from kdmarl_bench.results.render.junit import gate_junit

    return ET.fromstring(gate_junit(result))


def test_junit_xml_counts_and_failure_values(base):
    recs = standard_records()
    for r in recs:
        if r["method"] == "kd-marl" and r["task"] == "smax/3m":
            r["score"] -= 0.3
            r["cost"]["flops"] *= 4
    result = gate(make_leaderboard(recs), base)
    root = _junit(result)
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(result.checks) == int(suite.get("tests")) == int(root.get("tests"))
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == 2 == int(suite.get("failures"))
    # the three other retention checks are inconclusive at 3 seeds: skipped unless --strict
    assert suite.get("errors") == "0" and suite.get("skipped") == "3"
    by_name = {(c.get("classname"), c.get("name")): c for c in cases}
    ret = by_name[("smax/3m", "kd-marl [small] retention")].find("failure")
    assert "current 0.650" in ret.get("message") and "baseline 0.950" in ret.get("message")
    flops = by_name[("smax/3m", "kd-marl [small] flops")].find("failure")
    assert "current 4,000 vs baseline 1,000" in flops.get("message")
    # passing cases carry both values too
    ok = by_name[("smax/3m", "bc [small] retention")]
    assert ok.find("failure") is None and "baseline 0.600" in ok.find("system-out").text
    assert ok.find("skipped") is not None and "inconclusive" in ok.find("skipped").get("message")
    strict = _junit(gate(make_leaderboard(recs), base, strict=True)).find("testsuite")
    assert strict.get("failures") == "5" and strict.get("skipped") == "0"
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["max_retention_drop"] == "0.05"


def test_junit_marks_missing_latency_skipped(base):
    recs = standard_records()
    for r in recs:
        r["latency"] = []
    root = _junit(gate(make_leaderboard(recs), base, max_retention_drop=0.5))
    [suite] = root.findall("testsuite")
    assert int(suite.get("skipped")) == 4 == len(suite.findall("testcase/skipped"))
    assert suite.get("failures") == "0"


def test_absolute_latency_compares_ms_and_includes_the_teacher(base):
    recs = standard_records()
    for r in recs:
        for e in r["latency"]:
            e["p50_ms"] *= 2  # a machine twice as slow
    slower = make_leaderboard(recs)
    assert gate(slower, base).passed  # ratios to the teacher are unchanged
    result = gate(slower, base, absolute_latency=True)
    assert not result.passed
    lat = [c for c in result.checks if c.name == "latency_ms"]
    assert len(lat) == 6 and not any(c.passed for c in lat)  # teacher, kd-marl, bc on 2 tasks
    teacher = _find(result, "smax/3m", "teacher", "latency_ms")
    assert teacher.current == pytest.approx(0.16) and teacher.baseline == pytest.approx(0.08)
    assert "0.1600 ms" in teacher.describe() and "0.0800 ms" in teacher.describe()
    assert gate(slower, base, absolute_latency=True, max_latency_increase=1.0).passed
    assert result.settings["latency"] == "absolute"
    md = gate_markdown(result)
    assert "absolute CPU p50 ms" in md
    body = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| status")]
    assert len(body) == len(result.checks)
    assert any("latency_ms" in line and "0.1600 ms" in line and "0.0800 ms" in line for line in body)


# ---------------------------------------------------------------------------------------------
# the teacher, noisy latency, and boards the gate refuses


def test_another_teacher_fails_even_when_retention_holds(base):
    recs = standard_records()
    for r in recs:
        r["teacher_sha256"] = "a" * 64
    same = make_leaderboard(recs)
    for r in recs:
        if r["task"] == "mpe/simple_spread":
            r["teacher_sha256"] = "b" * 64
    other = make_leaderboard(recs)
    assert _find(gate(same, same), "mpe/simple_spread", "teacher", "teacher_sha256").verdict == "pass"
    result = gate(other, same)
    [fail] = result.failures
    assert (fail.task, fail.name) == ("mpe/simple_spread", "teacher_sha256")
    assert "another teacher" in fail.detail and fail.current == "b" * 12 and fail.baseline == "a" * 12


def test_weaker_teacher_score_fails():
    recs = standard_records()
    for r in recs:  # spread teacher −20 on a random of −100; spread the episodes a little
        if r["method"] == "teacher" and r["task"] == "mpe/simple_spread":
            r["episode_scores"] = [-21.0, -19.0, -20.5, -19.5] * 25
    base = make_leaderboard(recs)
    for r in recs:  # −30: 12.5% of the teacher's 80-point gap over random
        if r["method"] == "teacher" and r["task"] == "mpe/simple_spread":
            r["score"] = -30.0
            r["episode_scores"] = [x - 10.0 + (3.0 if j % 2 else -3.0) for j, x in enumerate(r["episode_scores"])]
    result = gate(make_leaderboard(recs), base)
    check = _find(result, "mpe/simple_spread", "teacher", "teacher_score")
    assert check.verdict == "fail" and check.current == pytest.approx(-30.0)
    assert check.limit == pytest.approx(-20.0 - 0.05 * 80)
    # same seeds and episode counts: the boards played the same episodes, paired per episode
    assert "change -0.125" in check.detail and "paired t over 300 episodes" in check.detail
    assert _find(gate(base, base), "mpe/simple_spread", "teacher", "teacher_score").verdict == "pass"
    for r in recs:  # other episode counts: no pairing, Welch over all episodes
        if r["method"] == "teacher" and r["task"] == "mpe/simple_spread":
            r["episode_scores"] = r["episode_scores"][:80]
    check = _find(gate(make_leaderboard(recs), base), "mpe/simple_spread", "teacher", "teacher_score")
    assert check.verdict == "fail" and "Welch over 240 + 300 episodes" in check.detail


def test_noisy_latency_is_not_judged(base):
    recs = standard_records()
    for r in recs:
        if r["method"] == "kd-marl" and r["task"] == "smax/3m":
            for e in r["latency"]:
                e["p50_ms"] *= 3
                e["noisy"] = True
    result = gate(make_leaderboard(recs), base)
    check = _find(result, "smax/3m", "kd-marl", "latency")
    assert check.verdict == "noisy" and check.passed and "noisy, not judged" in check.detail
    assert check.describe().startswith("NOISY")
    # the older flag means the same; a noisy baseline side too
    recs = standard_records()
    for r in recs:
        if r["method"] == "teacher" and r["task"] == "smax/3m":
            for e in r["latency"]:
                e["timer_mismatch"] = True
    check = _find(gate(base, make_leaderboard(recs)), "smax/3m", "bc", "latency")
    assert check.verdict == "noisy" and "teacher timing is noisy" in check.detail
    # one clean seed is enough to judge it
    recs = standard_records()
    for r in recs:
        if r["method"] == "kd-marl" and r["task"] == "smax/3m" and r["seed"] > 0:
            for e in r["latency"]:
                e["p50_ms"] *= 3
                e["noisy"] = True
    assert _find(gate(make_leaderboard(recs), base), "smax/3m", "kd-marl", "latency").verdict == "pass"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("side", ["baseline", "current"])
def test_non_finite_summary_or_record_values_are_refused(base, bad, side):
    broken = copy.deepcopy(base)
    broken["summary"][2]["retention_mean"] = bad
    args = (base, broken) if side == "baseline" else (broken, base)
    with pytest.raises(UsageError, match=rf"{side}.json: field summary\[2\]\.retention_mean is"):
        gate(*args, current_name="current.json", baseline_name="baseline.json")
    broken = copy.deepcopy(base)
    broken["records"][4]["episode_scores"][1] = bad
    args = (base, broken) if side == "baseline" else (broken, base)
    with pytest.raises(UsageError, match=r"records\[4\]\.episode_scores\[1\]"):
        gate(*args, current_name="current.json", baseline_name="baseline.json")


def test_no_comparable_checks_is_refused(base):
    empty = copy.deepcopy(base)
    empty["summary"], empty["records"] = [], []
    with pytest.raises(UsageError, match="no comparable checks between current and empty.json"):
        gate(base, empty, baseline_name="empty.json")
