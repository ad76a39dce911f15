"""The deployment-runtime registry: every place that lists, exports, opens or shortens a runtime reads it.

A fake runtime (a single linear layer serialized as raw float32 bytes, run with numpy) is
registered in the test only, and shows up in ``profile --paths``, ``export --format``, the
deployment code and the leaderboard's path codes without any other file knowing it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from kdmarl_bench.commands.profile import _parse_paths, paths_help
from kdmarl_bench.deploy_runtimes import (
    RUNTIMES,
    DeployRuntime,
    checkpoint_formats,
    checkpoint_runtime,
    runtimes,
)
from kdmarl_bench.deploy_runtimes.base import install_hint
from kdmarl_bench.errors import BackendUnavailable
from kdmarl_bench.profiling.deploy import deploy, deploy_entry, deploy_paths, require_paths
from kdmarl_bench.results.render.text import fmt_best_path, path_codes

SCHEMAS = Path(__file__).resolve().parents[2] / "kdmarl_bench" / "schemas"


# ---- a fake runtime: y = W x + b from raw bytes -------------------------------------------------


class _LinearSession:
    def __init__(self, model: bytes, threads: int = 1):
        header = np.frombuffer(model[:8], dtype=np.int32)
        out_dim, in_dim = int(header[0]), int(header[1])
        flat = np.frombuffer(model[8:], dtype=np.float32)
        self.w = flat[: out_dim * in_dim].reshape(out_dim, in_dim)
        self.b = flat[out_dim * in_dim:]

    def prepare(self, obs: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(obs, dtype=np.float32)

    def call(self, prepared: np.ndarray) -> np.ndarray:
        return prepared @ self.w.T + self.b

    def run(self, obs: np.ndarray) -> np.ndarray:
        return self.call(self.prepare(obs))


def _export_linear(module: nn.Module, in_dim: int) -> bytes:
    linear = module if isinstance(module, nn.Linear) else next(m for m in module.modules() if isinstance(m, nn.Linear))
    w = linear.weight.detach().numpy().astype(np.float32)
    header = np.array([w.shape[0], in_dim], dtype=np.int32).tobytes()
    return header + np.concatenate([w.ravel(), linear.bias.detach().numpy().astype(np.float32)]).tobytes()


FAKE = DeployRuntime(name="linear-np", short="lnp", rank=99, extra="linear", modules=(), export=_export_linear,
                     session=_LinearSession, export_format="linear", file_ext=".lin")


@pytest.fixture
def fake_runtime(monkeypatch):
    monkeypatch.setattr(RUNTIMES, "_items", {**RUNTIMES._items, FAKE.name: FAKE})
    return FAKE


# ---- the built-in runtimes ------------------------------------------------------------------------


def test_builtin_runtimes_in_their_order_with_their_codes():
    assert deploy_paths() == ("eager", "torchscript", "onnxruntime", "executorch")
    assert checkpoint_formats() == ("onnx", "executorch")
    assert checkpoint_runtime("onnx").name == "onnxruntime" and checkpoint_runtime("executorch").file_ext == ".pte"
    assert path_codes() == {"eager": "eager", "torchscript": "ts", "onnxruntime": "ort",
                            "onnxruntime-int8": "onnxruntime-int8", "executorch": "et"}
    assert RUNTIMES.get("onnxruntime-int8").atol is None and not RUNTIMES.get("onnxruntime-int8").selectable
    assert install_hint("executorch") == \
        "pip install 'kdmarl-bench[deploy]'  (onnx, onnxscript, onnxruntime, executorch)"


@pytest.mark.parametrize("schema", ["leaderboard.schema.json", "leaderboard.v2.schema.json"])
def test_the_schema_enum_of_latency_paths_is_the_registry(schema):
    text = (SCHEMAS / schema).read_text()
    enums = [e for e in _enums(json.loads(text)) if "eager" in e]
    assert enums, f"{schema}: no latency path enum found"
    for enum in enums:
        assert tuple(enum) == deploy_paths(), f"{schema}: path enum {enum} differs from the runtime registry"


def _enums(node):
    if isinstance(node, dict):
        if isinstance(node.get("enum"), list):
            yield node["enum"]
        for v in node.values():
            yield from _enums(v)
    elif isinstance(node, list):
        for v in node:
            yield from _enums(v)


def test_unknown_path_and_format_say_the_valid_choices():
    with pytest.raises(Exception, match=r"'ort'.*valid choices: eager, torchscript, onnxruntime, executorch"):
        _parse_paths("eager,ort", None)
    with pytest.raises(ValueError, match="valid: onnx, executorch"):
        checkpoint_runtime("tflite")
    with pytest.raises(ValueError, match="runs outside PyTorch"):
        deploy([nn.Linear(3, 2)], "onnxruntime")


# ---- a runtime added by one module -----------------------------------------------------------------


def test_a_registered_runtime_is_listed_everywhere(fake_runtime):
    assert deploy_paths()[-1] == "linear-np"
    assert "linear-np" in paths_help() and "linear-np need `pip install 'kdmarl-bench[linear]'`" in paths_help()
    assert _parse_paths("linear-np", None) == ("eager", "linear-np")
    assert checkpoint_formats() == ("onnx", "executorch", "linear")
    assert checkpoint_runtime("linear") is fake_runtime
    assert fmt_best_path("linear-np", 0.0123) == "0.012 lnp"
    assert [r.name for r in runtimes(exported=False)] == ["eager", "torchscript"]


def test_a_registered_runtime_is_exported_checked_and_timed(fake_runtime):
    torch.manual_seed(0)
    actors = [nn.Linear(6, 4), nn.Linear(5, 3)]
    require_paths(["linear-np"])
    entry = deploy_entry(actors, [6, 5], "linear-np", warmup=1, iters=10, repeats=1)
    assert entry["path"] == "linear-np"
    assert entry["equivalence"]["passed"] and entry["equivalence"]["max_abs_diff"] < 1e-5
    assert entry["file_bytes"] == 8 + 4 * (6 * 4 + 4) + 8 + 4 * (5 * 3 + 3)
    assert entry["p50_ms"] > 0


def test_a_registered_runtime_missing_its_module_exits_3_naming_its_extra(monkeypatch):
    needy = DeployRuntime(name="needy", short="nd", rank=98, extra="needy", modules=("no_such_module_kdmarl",),
                          export=_export_linear, session=_LinearSession)
    monkeypatch.setattr(RUNTIMES, "_items", {**RUNTIMES._items, needy.name: needy})
    with pytest.raises(BackendUnavailable, match=r"no_such_module_kdmarl.*pip install 'kdmarl-bench\[needy\]'"):
        require_paths(["needy"])


FAKE_MODULE = '''
from kdmarl_bench.deploy_runtimes import RUNTIMES, DeployRuntime

RUNTIMES.add("tflite", DeployRuntime(name="tflite", short="tfl", rank=40, extra="tflite", modules=("tflite_runtime",),
                                     export=lambda module, in_dim: b"", session=lambda model, threads=1: None,
                                     export_format="tflite", file_ext=".tflite"))
'''


def test_a_runtime_module_shows_in_the_cli_choices_and_help(tmp_path):
    """A module of its own, imported before the CLI: ``profile --paths`` and ``export --format`` offer it."""
    (tmp_path / "fake_tflite_runtime.py").write_text(textwrap.dedent(FAKE_MODULE))
    code = ("import sys, fake_tflite_runtime\nfrom kdmarl_bench.cli import main\n"
            "main(sys.argv[1:], prog_name='kdmarl-bench')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "COLUMNS": "400"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                              timeout=120)

    profile_help = cli("profile", "--help")
    assert profile_help.returncode == 0, profile_help.stderr
    text = " ".join(profile_help.stdout.split())  # help is wrapped to the terminal
    assert "executorch, tflite." in text
    assert "tflite need `pip install" in text and "bench[tflite]'` (else exit 3)" in text
    export_help = cli("export", "--help")
    assert "|onnx|executorch|tflite]" in export_help.stdout
    assert "onnx / executorch / tflite: one model per agent" in " ".join(export_help.stdout.split())
    wrong = cli("export", "board.json", "--format", "tflit")
    assert wrong.returncode == 2 and "'tflite'" in wrong.stderr
