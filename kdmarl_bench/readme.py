"""README blocks generated from the committed boards (``baselines/*.json``) and from the code.

Every number the README quotes from a board sits in a block between markers::

    <!-- BEGIN generated:NAME -->
    ...
    <!-- END generated:NAME -->

and is rendered here from the board, never typed by hand. ``benchmarks/readme_tables.py`` rewrites
the blocks (``--check``: exit 1 when the README differs) and ``tests/cli/test_readme_numbers.py``
fails when a committed board and the README disagree. Each block is one call of the public
renderers in :mod:`kdmarl_bench.results` (so a refactor of those only needs re-pointing here).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kdmarl_bench.checkpoint import load_card
from kdmarl_bench.cli import main
from kdmarl_bench.docs import cli_reference
from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.analysis.headline import headline
from kdmarl_bench.results.render.markdown import (
    curve_table_markdown,
    headline_curve_markdown,
    headline_markdown,
    leaderboard_markdown,
    markdown_table,
    verdict_markdown,
)
from kdmarl_bench.results.render.report.deployment import int8_markdown
from kdmarl_bench.results.render.report.improvement import poi_markdown
from kdmarl_bench.results.store.boards import read_leaderboard
from kdmarl_bench.teachers.zoo import zoo_teachers

BLOCK_RE = re.compile(
    r"(?P<begin><!-- BEGIN generated:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(?P<end><!-- END generated:(?P=name) -->)",
    re.S,
)
_BEGIN_RE = re.compile(r"<!-- BEGIN generated:([\w.-]+) -->")


@dataclass(frozen=True)
class Block:
    """One generated README block."""

    boards: tuple[str, ...]
    """Board stems under ``baselines/`` (``quickstart`` → ``baselines/quickstart.json``) it is read from."""
    render: Callable[[list], str]
    """Markdown from the loaded boards, in ``boards`` order."""
    from_files: Callable[[Path], str] | None = None
    """Instead of boards: markdown from other committed files, given the ``baselines/`` folder
    (tuning studies, the zoo's teacher cards)."""


# ----------------------------------------------------------------------------- the README's blocks

_LIMITED2_VERDICT = Block(("limited2",), lambda b: verdict_markdown(headline(b[0])))
"""limited v2's verdict: tuned kd-marl against the best tuned imitation baseline of each task."""

BLOCKS: dict[str, Block] = {
    # the quickstart baseline, every (task, method, size) row
    "quickstart": Block(("quickstart",), lambda b: leaderboard_markdown(b[0])),
    # KD-MARL against the best baseline per task at the default size
    "quickstart-headline": Block(("quickstart",), lambda b: headline_markdown(headline(b[0]))),
    # probability that KD-MARL beats each method across the quickstart's tasks
    "quickstart-poi": Block(("quickstart",), lambda b: poi_markdown(b[0])),
    # the reference boards' headline at the default size, then at half width and the smallest size
    "reference-headline": Block(("mpe", "smax"), lambda b: headline_markdown(headline(b[0]) + headline(b[1]))),
    "reference-headline-half": Block(
        ("mpe", "smax"), lambda b: headline_markdown(headline(b[0], "auto-x0.5") + headline(b[1], "auto-x0.5"))
    ),
    "reference-headline-smallest": Block(
        ("mpe", "smax"), lambda b: headline_markdown(headline(b[0], "w8") + headline(b[1], "w16"))
    ),
    "reference-poi-mpe": Block(("mpe",), lambda b: poi_markdown(b[0])),
    "reference-poi-smax": Block(("smax",), lambda b: poi_markdown(b[0])),
    # the limited-observation board: headline at its headline size (x20), per budget point, every curve
    "limited-headline": Block(("limited",), lambda b: headline_markdown(headline(b[0]))),
    "limited-headline-curves": Block(("limited",), lambda b: headline_curve_markdown(headline(b[0]))),
    "limited-headline-auto": Block(("limited",), lambda b: headline_markdown(headline(b[0], "auto"))),
    "limited-curves": Block(("limited",), lambda b: curve_table_markdown(b[0])),
    "limited-poi": Block(("limited",), lambda b: poi_markdown(b[0])),
    # the fair-fight check (issue 19): kd-marl v1 and with equal supervision vs bc on smax/3m@hetero
    "fairfight-verdict": Block(("fairfight",), lambda b: verdict_markdown(headline(b[0]))),
    "fairfight-v2-verdict": Block(("fairfight",), lambda b: verdict_markdown(headline(b[0], focus="kd-marl-v2"))),
    "fairfight": Block(("fairfight",), lambda b: leaderboard_markdown(b[0])),
    "fairfight-curves": Block(("fairfight",), lambda b: curve_table_markdown(b[0])),
    # limited v2 (issue 20): its verdict (tuned kd-marl against the best tuned imitation baseline), the
    # untuned kd-marl's, every row, every curve
    "limited2-verdict": _LIMITED2_VERDICT,
    "current-finding": _LIMITED2_VERDICT,  # the README's first screen states the same verdict
    "limited2-headline": Block(("limited2",), lambda b: headline_markdown(headline(b[0]))),
    "limited2-headline-curves": Block(("limited2",), lambda b: headline_curve_markdown(headline(b[0]))),
    "limited2-v1-verdict": Block(("limited2",), lambda b: verdict_markdown(headline(b[0], focus="kd-marl"))),
    "limited2": Block(("limited2",), lambda b: leaderboard_markdown(b[0])),
    "limited2-curves": Block(("limited2",), lambda b: curve_table_markdown(b[0])),
    "limited2-160k-verdict": Block(("limited2-160k",), lambda b: verdict_markdown(headline(b[0]))),
    "limited2-160k-headline-curves": Block(("limited2-160k",), lambda b: headline_curve_markdown(headline(b[0]))),
    "limited2-160k-headline": Block(("limited2-160k",), lambda b: headline_markdown(headline(b[0]))),
    "limited2-160k-curves": Block(("limited2-160k",), lambda b: curve_table_markdown(b[0])),
    # the tuning sweep behind the method defaults
    "sweep": Block(("sweep",), lambda b: leaderboard_markdown(b[0])),
    # the deployment board: every row, and the int8 twins next to their fp32 students
    "deploy": Block(("deploy",), lambda b: leaderboard_markdown(b[0])),
    "deploy-int8": Block(("deploy",), lambda b: int8_markdown(b[0])),
    # limited v2 (issue 20): the equal-budget tuning studies, and the privileged teachers' margins
    "limited2-tuning": Block((), lambda b: "", from_files=lambda d: _tuning_markdown(d / "limited2-tune")),
    "teacher-margins": Block((), lambda b: "", from_files=lambda d: _margins_markdown()),
    "limited2-views": Block((), lambda b: "", from_files=lambda d: _views_markdown(d / "measurements" / "limited2-views.json")),
    "smax3m-teachers": Block((), lambda b: "", from_files=lambda d: _fresh_teachers_markdown(
        d / "measurements" / "smax_3m-teachers.json")),
    # every command and option, from click's own help (no board)
    "cli-reference": Block((), lambda b: _cli_reference()),
}


def _cli_reference() -> str:
    return cli_reference(main)


def _fmt(v: object) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _tuning_markdown(folder: Path) -> str:
    """One row per committed study (``STUDY/study.json``): its budget, every trial's objective and
    the best config (what the board's suite uses)."""
    rows = []
    for path in sorted(folder.glob("*/study.json")):
        study = json.loads(path.read_text(encoding="utf-8"))
        values = " · ".join(f"{t['value']:.3f}" for t in study["trials"])
        params = ", ".join(f"{k} {_fmt(v)}" for k, v in study["best"]["params"].items())
        name = study["method"] + ("" if study["base_method"] == study["method"] else f" ({study['base_method']})")
        rows.append([name, f"{study['budget']['trials']} × {len(study['budget']['seeds'])}", values,
                     f"{study['best']['value']:.3f}", params])
    return markdown_table(["method", "trials × tuning seeds", "objective (suite primary) per trial", "best",
                           "best config"], rows)


def _views_markdown(path: Path) -> str:
    """Per task and agent: how well the teacher's greedy action is predicted from the teacher's input
    and from the student's view (``benchmarks/view_information.py``), and the mask leak."""
    rows = []
    for r in json.loads(path.read_text(encoding="utf-8"))["rows"]:
        leak = "—" if r["hidden_attacks"] is None else f"{r['hidden_attacks']:.1%}"
        rows.append([r["target"], r["agent"], f"{r['acc_teacher_input']:.1%}", f"{r['acc_student_view']:.1%}",
                     f"{r['gap_points']:.1f}", leak])
    return markdown_table(["task@view", "agent", "from the teacher's input", "from the student's view", "gap (points)",
                           "attacks on hidden enemies in the mask"], rows, right=range(2, 6))


def _fresh_teachers_markdown(path: Path) -> str:
    """The smax/3m teachers on the same fresh greedy episodes (``benchmarks/teacher_fresh.py``)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = [[f"`{r['teacher']}`", r["what"], " · ".join(f"{x:.3f}" for x in r["per_seed"]),
             f"**{r['win_rate']:.3f}** [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]"] for r in data["rows"]]
    seeds = data["eval_seeds"]
    return markdown_table(["teacher", "what", f"win rate per eval seed ({data['episodes_per_seed']} episodes each, "
                           f"seeds {seeds[0]}–{seeds[-1]})", "all episodes [95% CI]"], rows)


def _margins_markdown() -> str:
    """Each privileged zoo teacher against the local one on the same eval seeds (its card's ``margin``,
    written by ``benchmarks/teacher_margin.py``)."""
    rows = []
    for key, zoo in sorted(zoo_teachers().items()):
        if not key.endswith("@privileged"):
            continue
        m = load_card(zoo.path).get("margin")
        if m is None:
            continue
        cells = [f"{r['local']:.3f} → {r['privileged']:.3f}, {r['margin']:+.3f} [{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}]"
                 for r in (m["greedy"], m["sampled"])]
        rows.append([zoo.task, m["metric"], str(m["episodes"]), *cells])
    return markdown_table(["task", "metric", "episodes", "greedy: local → privileged, margin [95% CI]",
                           "sampled: local → privileged, margin [95% CI]"], rows)


# ----------------------------------------------------------------------------- rendering and splicing


def render_blocks(baselines: str | Path, names: list[str] | None = None) -> dict[str, str]:
    """The text of each named block (default: all), rendered from ``baselines/<board>.json``."""
    baselines = Path(baselines)
    cache: dict = {}
    out = {}
    for name in names if names is not None else list(BLOCKS):
        block = BLOCKS[name]
        if block.from_files is not None:
            text = block.from_files(baselines)
            out[name] = text if text.endswith("\n") else text + "\n"
            continue
        for stem in block.boards:
            if stem not in cache:
                cache[stem] = read_leaderboard(baselines / f"{stem}.json")
        text = block.render([cache[s] for s in block.boards])
        out[name] = text if text.endswith("\n") else text + "\n"
    return out


def readme_blocks(text: str, where: str = "README") -> dict[str, str]:
    """The generated blocks found in a README: name → body (unknown or unclosed blocks are errors)."""
    found = {m["name"]: m["body"] for m in BLOCK_RE.finditer(text)}
    for name in _BEGIN_RE.findall(text):
        if name not in found:
            raise UsageError(f"{where}: '<!-- BEGIN generated:{name} -->' has no matching END marker")
    unknown = sorted(set(found) - set(BLOCKS))
    if unknown:
        raise UsageError(f"{where}: unknown generated block(s) {', '.join(unknown)}; valid choices: "
                         f"{', '.join(BLOCKS)}")
    return found


def splice(text: str, blocks: dict[str, str], where: str = "README") -> str:
    """``text`` with the body of every generated block it contains replaced by ``blocks[name]``."""
    readme_blocks(text, where)  # validates markers and names
    return BLOCK_RE.sub(lambda m: m["begin"] + blocks[m["name"]] + m["end"], text)


def regenerate(readme: str | Path, baselines: str | Path) -> tuple[str, str]:
    """(current text, text with every block re-rendered from the committed boards)."""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    names = list(readme_blocks(text, str(readme)))
    return text, splice(text, render_blocks(baselines, names), str(readme))
