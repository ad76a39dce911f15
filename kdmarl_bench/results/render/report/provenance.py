"""Report section ``provenance``: suite, software, host and evaluation protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdmarl_bench.results.model.records import Leaderboard
from kdmarl_bench.results.render.markdown import markdown_table
from kdmarl_bench.results.render.report.base import Section, SectionOutput, register_section
from kdmarl_bench.results.render.text import DASH


def provenance_markdown(board: Leaderboard) -> str:
    suite, prov, proto = board.suite, board.provenance, board.protocol
    boot = proto.bootstrap
    episodes: Any = proto.eval_episodes
    if isinstance(episodes, dict):
        episodes = ", ".join(f"{k}: {v}" for k, v in sorted(episodes.items()))
    rows = [
        ["suite", f"{suite.name} v{suite.version} (sha256 {str(suite.sha256)[:12]}…)"],
        ["method under test (focus)", suite.focus],
        ["kdmarl-bench", f"{prov.kdmarl_bench} (git {str(prov.git_commit)[:12]})"],
        [
            "python / torch / jax / mpe2",
            " / ".join(str(v or DASH) for v in (prov.python, prov.torch, prov.jax, prov.mpe2)),
        ],
        ["platform", str(prov.platform)],
        ["CPU / GPU", f"{prov.cpu or DASH} / {prov.gpu or 'none'}"],
        ["threads", str(prov.threads)],
        ["created", str(prov.created_at)],
        ["eval episodes", str(episodes)],
        ["seeds", ", ".join(str(s) for s in proto.seeds)],
        *[[f"seeds on {task}", ", ".join(str(s) for s in seeds)] for task, seeds in (proto.task_seeds or {}).items()],
        ["eval seed base", str(proto.eval_seed_base)],
        ["policy", "greedy (argmax over available actions)" if proto.greedy else "stochastic"],
        [
            "bootstrap",
            f"{boot.n_resamples} resamples, random_state {boot.random_state}, "
            f"confidence {boot.confidence} (percentile CIs; stratified by task across tasks)",
        ],
    ]
    backends: dict[str, tuple[str, dict]] = {}
    for r in board.records:
        backends.setdefault(r.task, (r.backend, r.backend_versions))
    for task, (backend, versions) in sorted(backends.items()):
        vers = ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) or "no versions recorded"
        rows.append([f"backend of {task}", f"{backend} ({vers})"])
    return markdown_table(["field", "value"], rows)


def provenance_section(board: Leaderboard, out_dir: Path | None) -> SectionOutput:
    return SectionOutput("\n".join(["## Provenance and protocol", "", provenance_markdown(board)]))


register_section(Section("provenance", provenance_section))
