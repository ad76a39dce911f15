"""ResultStore: atomic per-cell JSON files keyed by a hash of the cell config."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kdmarl_bench import safeio
from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.model.records import Record
from kdmarl_bench.results.store.cells import ResultStore, cell_key
from kdmarl_bench.safeio import write_json_atomic
from tests.factories import make_record

CONFIG = {"task": "smax/3m", "method": "kd-marl", "seed": 0, "student": {"widths": [32, 32]}, "budget": 1000}


def _record(score: float) -> Record:
    return Record.from_dict(make_record("smax/3m", "kd-marl", 0, score, 1.0))


def test_save_load_roundtrip(tmp_path: Path):
    store = ResultStore(tmp_path)
    key = cell_key(CONFIG)
    assert not store.has(key)
    record = _record(0.75)
    path = store.save(key, record)
    assert path == tmp_path / "cells" / f"{key}.json"
    assert store.has(key)
    assert store.load(key) == record.to_dict()
    assert store.load_cell(key, "smax/3m", "kd-marl", 0) == record
    assert store.all() == [record.to_dict()]
    assert len(store) == 1
    with pytest.raises(KeyError):
        store.load("0" * 16)


def test_key_is_stable_and_sensitive():
    key = cell_key(CONFIG)
    assert len(key) == 16 and all(c in "0123456789abcdef" for c in key)
    reordered = dict(reversed(list(CONFIG.items())))
    assert cell_key(reordered) == key  # key order does not matter
    assert cell_key(json.loads(json.dumps(CONFIG))) == key
    for change in ({"seed": 1}, {"method": "bc"}, {"budget": 1001}, {"student": {"widths": [32, 16]}}):
        assert cell_key({**CONFIG, **change}) != key
    assert cell_key({**CONFIG, "extra": None}) != key
    assert cell_key({**CONFIG, "path": Path("a/b")}) == cell_key({**CONFIG, "path": "a/b"})


def _crashing_fdopen(exc: BaseException):
    """An ``os.fdopen`` whose file writes half of what it is given, then raises ``exc`` (the process
    "dies" or the disk fills in the middle of the write)."""
    real_fdopen = os.fdopen

    def fdopen(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)

        class Half:
            def __enter__(self):
                return self

            def __exit__(self, *exc_info):
                f.close()

            def write(self, text):
                f.write(text[: max(1, len(text) // 2)])
                f.flush()
                raise exc

        return Half()

    return fdopen


def test_crash_mid_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    store = ResultStore(tmp_path)
    key = cell_key(CONFIG)
    store.save(key, _record(1.0))
    before = store.path(key).read_bytes()

    monkeypatch.setattr(safeio.os, "fdopen", _crashing_fdopen(KeyboardInterrupt("simulated crash")))
    with pytest.raises(KeyboardInterrupt):
        store.save(key, _record(0.5))
    monkeypatch.undo()

    assert store.path(key).read_bytes() == before
    assert store.load(key) == _record(1.0).to_dict()
    assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == [f"{key}.json"]  # no temp files


def test_crash_on_first_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(safeio.os, "fdopen", _crashing_fdopen(OSError("disk full")))
    target = tmp_path / "out" / "leaderboard.json"
    with pytest.raises(OSError):
        write_json_atomic(target, {"a": 1})
    assert list((tmp_path / "out").iterdir()) == []


def test_write_json_atomic_overwrites(tmp_path: Path):
    target = tmp_path / "lb.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["lb.json"]


def test_corrupt_cell_file_names_the_file(tmp_path: Path):
    store = ResultStore(tmp_path)
    store.save(cell_key(CONFIG), _record(1.0))
    bad = tmp_path / "cells" / "badc0ffee0000000.json"
    bad.write_text('{"score": ')
    with pytest.raises(UsageError, match="badc0ffee0000000.json") as exc:
        store.all()
    assert "corrupt" in str(exc.value)
    bad.write_text("[1, 2]")
    with pytest.raises(UsageError, match="badc0ffee0000000.json"):
        store.load("badc0ffee0000000")


def test_all_ignores_leftover_temp_files(tmp_path: Path):
    store = ResultStore(tmp_path)
    key = cell_key(CONFIG)
    store.save(key, _record(1.0))
    (tmp_path / "cells" / f".{key}.json.abc123.tmp").write_text('{"partial"')
    assert store.all() == [_record(1.0).to_dict()]


def test_invalid_key_rejected(tmp_path: Path):
    with pytest.raises(ValueError):
        ResultStore(tmp_path).path("../escape")
