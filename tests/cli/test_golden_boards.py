"""Every committed board reads, shows, gates (against itself), exports, compares and reports
byte-identically to its goldens in ``tests/golden/NAME/`` (issue 22: the safety net of refactors
that must not change what users see).

The outputs, their normalisation and how to regenerate them after a change that is *meant* to alter
an output: ``tests/golden/regenerate.py`` (``PYTHONPATH=$PWD python tests/golden/regenerate.py``).
"""

from __future__ import annotations

import warnings

import pytest

from tests.golden.regenerate import (
    GOLDEN_DIR,
    INDEX,
    REGENERATE,
    ROOT,
    capture,
    committed_boards,
    differences,
    golden_folder,
)

BOARDS = committed_boards()


def test_every_committed_board_has_goldens():
    assert BOARDS, "no leaderboard found under baselines/*.json"
    missing = [b.stem for b in BOARDS if not (golden_folder(b) / INDEX).is_file()]
    assert not missing, (f"committed board(s) without goldens: {', '.join(missing)}; generate them with "
                         f"`{REGENERATE} {' '.join(missing)}` and commit tests/golden/")
    stale = sorted(p.name for p in GOLDEN_DIR.iterdir()
                   if p.is_dir() and p.name != "__pycache__" and p.name not in {b.stem for b in BOARDS})
    assert not stale, f"golden folder(s) without a committed board baselines/NAME.json (delete them): {stale}"


@pytest.mark.parametrize("board", BOARDS, ids=[b.stem for b in BOARDS])
def test_board_outputs_are_byte_identical_to_the_goldens(board, tmp_path):
    folder = golden_folder(board)
    if not (folder / INDEX).is_file():
        pytest.fail(f"{board.relative_to(ROOT)} has no goldens: run `{REGENERATE} {board.stem}` and commit "
                    f"{folder.relative_to(ROOT)}/")
    cap = capture(board, cached=True)
    problems = differences(cap, folder, keep=tmp_path / "actual")
    if cap.reads and not cap.served:
        warnings.warn("the golden test cached no board read (the commands no longer call the read function "
                      "tests/golden/regenerate.py imports): correct, but slower; point its import at the new one",
                      stacklevel=1)
    assert not problems, (f"{board.relative_to(ROOT)}: {len(problems)} output(s) changed. If the change is "
                          f"intended, regenerate with `{REGENERATE} {board.stem}` and review the diff.\n"
                          + "\n".join(problems))
