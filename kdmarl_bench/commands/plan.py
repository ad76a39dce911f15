"""``kdmarl-bench plan``: validate a suite and list its cells, doing no work."""

from __future__ import annotations

import click

from kdmarl_bench.commands.common import echo_json, handle_errors, stdout_console
from kdmarl_bench.results.render.fit import print_fitted
from kdmarl_bench.results.render.terminal import plan_table
from kdmarl_bench.results.render.text import task_label
from kdmarl_bench.suite import load_suite, plan


@click.command("plan")
@click.argument("suite_path", metavar="SUITE")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def plan_cmd(suite_path, as_json):
    """Validate SUITE (a .toml path or a bundled name) and list the cells it expands to."""
    import dataclasses

    # torch: loaded when this command runs, not at the CLI's start-up
    from kdmarl_bench.methods import METHODS
    from kdmarl_bench.teachers.resolve import check_student_params, resolve_flops_sizes
    from kdmarl_bench.teachers.zoo import check_teacher_sources

    suite = load_suite(suite_path)
    check_teacher_sources(suite)
    check_student_params(suite)
    flops_sizes = resolve_flops_sizes(suite)
    cells = plan(suite)
    # Each method's config as the run will use it: the registered defaults with the suite's overrides.
    resolved = {m: dataclasses.asdict(METHODS.get(suite.method_base[m]).from_overrides(suite.method_config.get(m, {}))
                                      .config) for m in suite.methods}
    if as_json:
        echo_json({"suite": suite.info(), "n_cells": len(cells),
                   "methods": {m: {"method": suite.method_base[m], "overrides": suite.method_config.get(m, {}),
                                   "resolved_config": resolved[m]} for m in suite.methods},
                   "cells": [{**c.config(), "view": c.view, "teacher_kind": c.teacher.kind,
                              "resolved_config": resolved[c.method]} for c in cells],
                   "primary": suite.primary,
                   "eval_seeds": {t: suite.eval_seed_count(t) for t in suite.tasks},
                   **({"tune": {"seeds": list(suite.tune.seeds), "trials": suite.tune.budget(),
                                "tasks": list(suite.tune.tasks or suite.tasks),
                                "spaces": {m: [d.to_dict() for d in dims] for m, dims in suite.tune.spaces.items()}}}
                      if suite.tune is not None else {}),
                   **({"flops_sizes": [r.to_dict() for r in flops_sizes]} if flops_sizes else {})})
        return

    rows = []
    for c in cells:
        teacher = c.teacher.source + (f" ({c.teacher.kind})" if c.teacher.kind != "local" else "")
        rows.append([task_label(c.task, c.view), c.method, c.size_label, str(c.seed), f"{c.env_steps:,}",
                     f"{c.eval_episodes} × {c.eval_seeds}", teacher])
    con = stdout_console()
    print_fitted(con, [plan_table(f"suite {suite.name} v{suite.version}: {len(cells)} cells", rows, con.width)])
    primary = ("auc: mean retention over the learning curve's points" if suite.primary == "auc"
               else "final: retention at the final budget point")
    con.print(f"primary metric: [bold]{primary}[/] (pre-registered: the headline, PoI and gate judge it; "
              "every student is scored greedy and sampled)", highlight=False)
    if suite.tune is not None:
        on = "" if suite.tune.tasks is None else f" on {', '.join(suite.tune.tasks)}"
        con.print(f"tuning: {suite.tune.trials} trials per method{on}, seeds {list(suite.tune.seeds)} "
                  f"({', '.join(f'{m}: {len(d)} dims' for m, d in suite.tune.spaces.items())})", highlight=False)
    for r in flops_sizes:
        got = (f"widths {[w[0] for w in r.widths]} → {r.reduction:.1f}× fewer FLOPs than the teacher"
               if r.widths is not None else "resolved once the suite's teacher is trained")
        con.print(f"size [bold]{r.size}[/] (flops_reduction {r.target:g}) on {r.task}: {got}", highlight=False)
    for m in suite.methods:
        overrides = suite.method_config.get(m, {})
        shown = ", ".join(f"{k}={resolved[m][k]!r}" for k in overrides) or "all defaults"
        base = f" ({suite.method_base[m]})" if suite.method_base[m] != m else ""
        con.print(f"[bold]{m}[/]{base}: {shown} · every field: kdmarl-bench methods {suite.method_base[m]}",
                  highlight=False)


COMMANDS = [plan_cmd]
