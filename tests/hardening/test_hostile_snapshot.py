"""Issue 11, case 1: a swapped training snapshot must never run code (train-teacher --resume)."""

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner

from kdmarl_bench.cli import main

PACKAGE = Path(__file__).resolve().parents[2] / "kdmarl_bench"


class _Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _resume(out: Path):
    return CliRunner().invoke(main, ["train-teacher", "mpe/simple_speaker_listener_v4", "--steps", "200",
                                     "--hidden", "32,32", "--num-envs", "4", "--rollout-len", "25",
                                     "--eval-episodes", "2", "--out", str(out), "--resume"])


def test_malicious_pickle_snapshot_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    # A snapshot in the old torch.save format whose unpickling runs a command.
    (tmp_path / "t.train.pt").write_bytes(pickle.dumps({"config": _Payload(marker)}))
    res = _resume(tmp_path / "t")
    assert not marker.exists(), "unpickling the planted snapshot ran its payload"
    assert res.exit_code == 2, res.output
    assert "t.train.pt" in res.output and "not loaded" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "t.safetensors").exists()


def _plant_snapshot(path: Path, tree: dict, tensors: dict | None = None) -> None:
    from safetensors.numpy import save_file

    doc = {"format": "kdmarl-bench/training-snapshot", "version": 1, "tree": tree}
    save_file(tensors or {"t0": np.zeros(1, np.float32)}, str(path), metadata={"kdmarl_snapshot": json.dumps(doc)})


def test_snapshot_naming_a_foreign_class_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    tree = {"dict": [["config", {"object": "subprocess:Popen", "id": 0,
                                 "attrs": {"args": ["touch", str(marker)]}}]], "id": 1}
    _plant_snapshot(tmp_path / "t.train.safetensors", tree)
    res = _resume(tmp_path / "t")
    assert res.exit_code == 2, res.output
    assert "t.train.safetensors" in res.output and "'subprocess:Popen' is not part of this environment" in res.output
    assert not marker.exists()


def test_snapshot_that_is_not_safetensors_is_refused(tmp_path):
    (tmp_path / "t.train.safetensors").write_bytes(pickle.dumps({"a": 1}))
    res = _resume(tmp_path / "t")
    assert res.exit_code == 2 and "not a valid training snapshot" in res.output, res.output


def test_snapshot_with_a_deep_tree_is_refused(tmp_path):
    from safetensors.numpy import save_file

    deep = '{"format": "kdmarl-bench/training-snapshot", "version": 1, "tree": ' + "[" * 50_000 + "]" * 50_000 + "}"
    save_file({"t0": np.zeros(1, np.float32)}, str(tmp_path / "t.train.safetensors"),
              metadata={"kdmarl_snapshot": deep})
    res = _resume(tmp_path / "t")
    assert res.exit_code == 2 and "deeper than" in res.output, res.output


def test_snapshot_round_trip_keeps_types_and_shared_references(tmp_path):
    from kdmarl_bench.teachers.mappo import SNAPSHOT_RECORDS, TrainLog
    from kdmarl_bench.teachers.snapshot import load_snapshot, save_snapshot

    shared = [1, 2]
    gen = np.random.default_rng(5)
    gen.random(3)
    state = {"a": shared, "b": shared, 3: (1.5, float("nan"), None), "t": torch.arange(4), "u": torch.rand(2, 2),
             "rng": gen, "g": torch.Generator().manual_seed(1).get_state(), "ret": [0.1, 0.2, -3.5],
             "log": TrainLog(5, 1.0, 2, float("nan"), None, {"pg": 0.5}), "big": 2**100, "i64": np.int64(7)}
    path = save_snapshot(tmp_path / "s.safetensors", state, SNAPSHOT_RECORDS)
    back = load_snapshot(path, {}, SNAPSHOT_RECORDS)
    assert back["a"] is back["b"] and back["a"] == [1, 2]
    assert back[3][0] == 1.5 and np.isnan(back[3][1]) and back[3][2] is None and isinstance(back[3], tuple)
    assert torch.equal(back["t"], state["t"]) and torch.equal(back["u"], state["u"])
    assert back["rng"].random() == gen.random()
    assert torch.equal(back["g"], state["g"]) and back["ret"] == [0.1, 0.2, -3.5]
    assert isinstance(back["log"], TrainLog) and back["log"].losses == {"pg": 0.5}
    assert back["big"] == 2**100 and back["i64"] == 7 and isinstance(back["i64"], np.int64)
    # mode like any other file the tool writes
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_package_has_no_pickle_loading():
    out = subprocess.run(["grep", "-rn", r"weights_only=False\|pickle", str(PACKAGE)], capture_output=True, text=True)
    assert out.stdout == "", out.stdout
    # and no torch.load at all: every file the tool reads is JSON or safetensors
    hits = [p for p in PACKAGE.rglob("*.py") if re.search(r"torch\.load\(|\bnp\.load\(", p.read_text())]
    assert hits == [], hits
    assert sys.modules.get("kdmarl_bench") is not None
