"""The README's result tables are the committed boards' (issue 10, item 3).

Every ``<!-- BEGIN generated:NAME -->`` block of README.md must equal what
``kdmarl_bench.readme`` renders from ``baselines/*.json``; ``benchmarks/readme_tables.py``
rewrites them and ``--check`` reports a difference with exit 1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kdmarl_bench.errors import UsageError
from kdmarl_bench.readme import BLOCKS, readme_blocks, regenerate, render_blocks, splice

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SCRIPT = ROOT / "benchmarks" / "readme_tables.py"


@pytest.fixture(scope="module")
def committed():
    return readme_blocks(README.read_text(encoding="utf-8"))


def test_every_block_is_in_the_readme(committed):
    assert set(committed) == set(BLOCKS)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_readme_block_matches_its_board(committed, name):
    expected = render_blocks(ROOT / "baselines", [name])[name]
    assert committed[name] == expected, (
        f"README block {name!r} differs from {BLOCKS[name].boards}: run `python benchmarks/readme_tables.py`")


def test_quickstart_block_has_a_row_per_summary_of_the_board(committed):
    board = json.loads((ROOT / "baselines" / "quickstart.json").read_text())
    rows = [line for line in committed["quickstart"].splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) - 1 == len(board["summary"]) > 0  # minus the header


def copy_readme_and_boards(tmp_path: Path) -> tuple[Path, Path]:
    """The README and what its blocks read: every committed board, the measurements and the tuning
    studies' ``study.json`` (not the students)."""
    readme = tmp_path / "README.md"
    shutil.copy(README, readme)
    base = tmp_path / "baselines"
    base.mkdir()
    src = ROOT / "baselines"
    for path in [*src.glob("*.json"), *src.glob("measurements/*.json"), *src.glob("*-tune/*/study.json")]:
        (base / path.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, base / path.relative_to(src))
    return readme, base


def test_a_changed_board_number_is_caught(tmp_path):
    readme, base = copy_readme_and_boards(tmp_path)
    board = json.loads((base / "quickstart.json").read_text())
    row = next(s for s in board["summary"] if s["method"] == "kd-marl")
    row["retention_mean"] -= 0.031  # a 3.1-point drop in one cell of one table
    (base / "quickstart.json").write_text(json.dumps(board))
    old, new = regenerate(readme, base)
    assert old != new
    changed = {n for n, body in readme_blocks(new).items() if body != readme_blocks(old)[n]}
    assert changed == {"quickstart", "quickstart-headline"}
    assert f"{100 * row['retention_mean']:.1f}%" in readme_blocks(new)["quickstart"]


def test_a_hand_edited_readme_number_is_caught(tmp_path):
    readme, base = copy_readme_and_boards(tmp_path)
    text = readme.read_text(encoding="utf-8")
    block = readme_blocks(text)["reference-headline"]
    edited = block.replace("%", "0%", 1)
    readme.write_text(text.replace(block, edited), encoding="utf-8")
    old, new = regenerate(readme, base)
    assert readme_blocks(old)["reference-headline"] == edited
    assert readme_blocks(new)["reference-headline"] == block


def test_unknown_or_unclosed_blocks_are_errors():
    with pytest.raises(UsageError, match="unknown generated block.*nope.*valid choices: quickstart"):
        readme_blocks("<!-- BEGIN generated:nope -->\nx\n<!-- END generated:nope -->\n")
    with pytest.raises(UsageError, match="quickstart.*no matching END"):
        readme_blocks("<!-- BEGIN generated:quickstart -->\nx\n")
    # text outside the markers is left alone
    text = "intro\n<!-- BEGIN generated:quickstart -->\nold\n<!-- END generated:quickstart -->\noutro\n"
    assert splice(text, {"quickstart": "new\n"}) == text.replace("old", "new")


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT)


def test_script_check_and_write(tmp_path):
    readme, base = copy_readme_and_boards(tmp_path)
    common = ("--readme", str(readme), "--baselines", str(base))
    assert run_script("--check", *common).returncode == 0
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.replace("| smax/3m | kd-marl |", "| smax/3m | kd-marl (edited) |"), encoding="utf-8")
    res = run_script("--check", *common)
    assert res.returncode == 1 and "kd-marl (edited)" in res.stdout and "readme_tables.py" in res.stderr
    assert "(edited)" in readme.read_text(encoding="utf-8")  # --check writes nothing
    assert run_script(*common).returncode == 0
    assert readme.read_text(encoding="utf-8") == text
    (base / "mpe.json").unlink()
    res = run_script("--check", *common)
    assert res.returncode == 2 and "mpe.json" in res.stderr


def test_the_teacher_table_quotes_the_zoo_cards():
    """The README's **Teachers** table: each task's greedy score and env-steps are its zoo card's."""
    from kdmarl_bench.checkpoint import load_card
    from kdmarl_bench.teachers.zoo import zoo_path

    text = README.read_text(encoding="utf-8")
    table = text[text.index("| task | env-steps | wall (1 thread) | greedy score | random policy |"):]
    lines = table.splitlines()[2:]
    rows = lines[:next(i for i, r in enumerate(lines) if not r.startswith("| "))]
    seen = set()
    for line in rows:
        task, steps, _, score, _ = (c.strip() for c in line.strip("|").split("|"))
        card = load_card(zoo_path(task))
        quoted = float(score.split()[-1].replace("−", "-"))
        assert quoted == round(card["eval"]["score"], 2), (task, quoted, card["eval"]["score"])
        total = sum(float(p.strip().rstrip("M")) for p in steps.split("+")) * 1e6
        assert abs(total - card["env_steps"]) / card["env_steps"] < 0.05, (task, steps, card["env_steps"])
        seen.add(task)
    assert "smax/3m" in seen and len(seen) >= 8
