"""Profiling cost of a quickstart run: every cell timed on its own (before) vs the profile phase (after).

    python benchmarks/profile_phase.py [SUITE]

Before the profile phase, ``run`` timed each cell's policy separately (``profile_policy``): for the
quickstart that is 2 teacher and 6 student cells per task. The profile phase times each distinct
architecture once, teacher and students interleaved (``profile_task``). This script does both, side
by side, on the suite's profile settings with the zoo teacher and an auto-sized student per task,
and prints the seconds and the teacher/student p50 ratio (1 thread, eager) each way.
"""

from __future__ import annotations

import sys
import tempfile
import time

import torch

from kdmarl_bench.envs import get_task
from kdmarl_bench.models.capacity import student_widths
from kdmarl_bench.models.policy import StudentPolicy
from kdmarl_bench.profiling.phase import arch_id, profile_task
from kdmarl_bench.profiling.policy import profile_policy
from kdmarl_bench.suite import load_suite, plan
from kdmarl_bench.teachers.zoo import load_teacher


def p50_1thread(entries: list[dict]) -> float:
    return next(e["p50_ms"] for e in entries if e["threads"] == 1 and e["mode"] == "decentralized"
                and e.get("path", "eager") == "eager" and e["device"] == "cpu")


def main() -> None:
    suite = load_suite(sys.argv[1] if len(sys.argv) > 1 else "quickstart")
    prof = suite.profile
    torch.set_num_threads(1)
    before = after = 0.0
    for task in suite.tasks:
        spec = get_task(task).spec
        teacher, _ = load_teacher("zoo", spec)
        student = StudentPolicy(spec.obs_dims, spec.n_actions, student_widths(spec.obs_dims, None, 1.0))
        cells = [c for c in plan(suite) if c.task == task]
        n_teacher = sum(1 for c in cells if c.size is None)
        n_student = len(cells) - n_teacher
        each = {}
        for name, policy in (("teacher", teacher), ("student", student)):
            t0 = time.perf_counter()
            _, lat = profile_policy(policy, iters=prof.iters, warmup=prof.warmup, threads=prof.threads,
                                    batch_sizes=prof.batch_sizes, cuda=prof.cuda, paths=prof.paths)
            each[name] = (time.perf_counter() - t0, p50_1thread(lat))
        before += n_teacher * each["teacher"][0] + n_student * each["student"][0]
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            ta, sa = arch_id(teacher, prof.paths), arch_id(student, prof.paths)
            measured = profile_task(tmp, task, (ta, teacher), {sa: student}, prof)
            phase_s = time.perf_counter() - t0
        after += phase_s
        print(f"{task}: per cell teacher {each['teacher'][0]:.1f} s, student {each['student'][0]:.1f} s "
              f"({n_teacher} + {n_student} cells); profile phase {phase_s:.1f} s; teacher/student p50 "
              f"separately {each['teacher'][1] / each['student'][1]:.2f}, interleaved "
              f"{p50_1thread(measured[ta]) / p50_1thread(measured[sa]):.2f}")
    print(f"{suite.name}: profiling before {before:.1f} s (every cell alone), after {after:.1f} s "
          f"(profile phase) = {after / before:.2f}x")


if __name__ == "__main__":
    main()
