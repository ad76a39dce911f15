"""Training snapshots without code execution: one ``.safetensors`` file, tensors + a JSON tree.

A MAPPO snapshot holds weights, optimizer moments, RNG states, the env's full state (for mpe2
that is a graph of plain Python objects) and a few scalars. It is written as one safetensors
file: every array is a tensor entry, and the structure around them is a JSON tree kept in the
file's string metadata (one file, so one atomic rename keeps tensors and structure together).

Reading it never runs code from the file. The JSON tree names only these node kinds: JSON
scalars, lists, tuples, dicts, arrays (by tensor name), numpy scalars and dtypes, numpy random
generators (bit generator from a fixed list), dataclasses from ``DATACLASSES``, and plain
objects whose class is among ``classes`` — the classes of the live object graph the snapshot is
restored into (the freshly built env), passed in by the caller. Such an object is created with
``object.__new__`` and its ``__dict__`` filled from the tree, as ``copy.deepcopy`` would. Shared
and cyclic references survive through node ids.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from kdmarl_bench.errors import UsageError
from kdmarl_bench.safeio import file_mode, fsync_dir, loads_json

FORMAT = "kdmarl-bench/training-snapshot"
FORMAT_VERSION = 1
MAX_TREE_DEPTH = 256
"""Deepest JSON nesting accepted in a snapshot's tree (an mpe2 env graph reaches ~40)."""

BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


# ---------------------------------------------------------------------------------------------
# encoding


class _Encoder:
    def __init__(self, dataclass_types: dict[str, type]):
        self.tensors: dict[str, np.ndarray] = {}
        self.ids: dict[int, int] = {}
        self.keep: list[Any] = []  # keeps encoded objects alive so id() stays unique
        self.dataclass_names = {cls: name for name, cls in dataclass_types.items()}

    def _array(self, arr: np.ndarray) -> str:
        name = f"t{len(self.tensors)}"
        self.tensors[name] = np.ascontiguousarray(arr)
        return name

    def _memo(self, obj: Any) -> tuple[bool, int]:
        key = id(obj)
        if key in self.ids:
            return True, self.ids[key]
        self.ids[key] = len(self.ids)
        self.keep.append(obj)
        return False, self.ids[key]

    def encode(self, obj: Any) -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, float)) and type(obj) in (int, float):
            return obj
        if isinstance(obj, torch.Tensor):
            t = obj.detach().cpu().contiguous()
            return {"tensor": self._array(t.numpy()), "dtype": str(t.dtype).removeprefix("torch.")}
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                raise TypeError("cannot snapshot an object array")
            return {"ndarray": self._array(obj)}
        if isinstance(obj, np.generic):
            return {"npscalar": obj.dtype.str, "value": obj.item()}
        if isinstance(obj, np.dtype):
            return {"npdtype": obj.str}
        if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
            return {"tuple": [self.encode(v) for v in obj]}
        if isinstance(obj, list):
            seen, ref = self._memo(obj)
            if seen:
                return {"ref": ref}
            if obj and all(type(v) is float for v in obj):  # long float lists (episode returns) as one tensor
                return {"floats": self._array(np.asarray(obj, dtype=np.float64)), "id": ref}
            return {"list": [self.encode(v) for v in obj], "id": ref}
        if isinstance(obj, dict):
            seen, ref = self._memo(obj)
            if seen:
                return {"ref": ref}
            return {"dict": [[self.encode(k), self.encode(v)] for k, v in obj.items()], "id": ref}
        if isinstance(obj, np.random.Generator):
            seen, ref = self._memo(obj)
            if seen:
                return {"ref": ref}
            state = obj.bit_generator.state
            return {"npgen": state["bit_generator"], "state": self.encode(state), "id": ref}
        if dataclasses.is_dataclass(obj) and type(obj) in self.dataclass_names:
            return {"dataclass": self.dataclass_names[type(obj)],
                    "fields": {f.name: self.encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}
        if hasattr(obj, "__dict__") and not isinstance(obj, type) and not callable(obj):
            seen, ref = self._memo(obj)
            if seen:
                return {"ref": ref}
            cls = type(obj)
            return {"object": f"{cls.__module__}:{cls.__qualname__}",
                    "attrs": {k: self.encode(v) for k, v in vars(obj).items()}, "id": ref}
        raise TypeError(f"cannot snapshot a value of type {type(obj).__module__}.{type(obj).__qualname__}")


def save_snapshot(path: str | os.PathLike, state: dict, dataclass_types: dict[str, type] | None = None) -> Path:
    """Write ``state`` to ``path`` (a ``.safetensors`` file) atomically: readers see the old snapshot or
    the new one, never half (unique temp file in the same folder, fsync, rename)."""
    path = Path(path)
    enc = _Encoder(dataclass_types or {})
    tree = json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "tree": enc.encode(state)}, allow_nan=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        save_file(enc.tensors, tmp_name, metadata={"kdmarl_snapshot": tree})
        os.chmod(tmp, file_mode())
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


# ---------------------------------------------------------------------------------------------
# decoding


def reachable_classes(roots: Iterable[Any], limit: int = 1_000_000) -> dict[str, type]:
    """``module:qualname`` → class for every plain object reachable from ``roots`` (the allow-list)."""
    out: dict[str, type] = {}
    seen: set[int] = set()
    stack = list(roots)
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, np.ndarray, torch.Tensor)):
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type) and not callable(obj):
            cls = type(obj)
            out[f"{cls.__module__}:{cls.__qualname__}"] = cls
            stack.extend(vars(obj).values())
    return out


class _Decoder:
    def __init__(self, where: str, tensors: dict[str, np.ndarray], classes: dict[str, type],
                 dataclass_types: dict[str, type]):
        self.where = where
        self.tensors = tensors
        self.classes = classes
        self.dataclass_types = dataclass_types
        self.memo: dict[int, Any] = {}

    def bad(self, msg: str) -> UsageError:
        return UsageError(f"{self.where}: not a valid training snapshot ({msg}); delete it to start over")

    def _tensor(self, name: Any) -> np.ndarray:
        if not isinstance(name, str) or name not in self.tensors:
            raise self.bad(f"unknown tensor {name!r}")
        return self.tensors[name]

    def _register(self, node: dict, obj: Any) -> Any:
        ref = node.get("id")
        if not isinstance(ref, int) or isinstance(ref, bool) or ref in self.memo:
            raise self.bad(f"bad node id {ref!r}")
        self.memo[ref] = obj
        return obj

    def decode(self, node: Any) -> Any:  # noqa: C901 - one branch per node kind, flat on purpose
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or not node:
            raise self.bad(f"unexpected node {str(node)[:80]!r}")
        if "ref" in node:
            if node["ref"] not in self.memo:
                raise self.bad(f"reference to unknown node {node['ref']!r}")
            return self.memo[node["ref"]]
        if "tensor" in node:
            arr = self._tensor(node["tensor"])
            t = torch.from_numpy(arr.copy())
            want = getattr(torch, str(node.get("dtype")), None)
            if not isinstance(want, torch.dtype) or t.dtype != want:
                raise self.bad(f"tensor {node['tensor']!r} has dtype {t.dtype}, the tree says {node.get('dtype')!r}")
            return t
        if "ndarray" in node:
            return self._tensor(node["ndarray"]).copy()
        if "floats" in node:
            return self._register(node, [float(x) for x in self._tensor(node["floats"]).tolist()])
        if "npscalar" in node:
            try:
                return np.dtype(str(node["npscalar"])).type(node["value"])
            except (TypeError, ValueError) as exc:
                raise self.bad(f"bad numpy scalar: {exc}") from exc
        if "npdtype" in node:
            try:
                dt = np.dtype(str(node["npdtype"]))
            except TypeError as exc:
                raise self.bad(f"bad numpy dtype: {exc}") from exc
            if dt.hasobject:
                raise self.bad("object dtypes are not allowed")
            return dt
        if "tuple" in node:
            return tuple(self.decode(v) for v in self._list(node["tuple"]))
        if "list" in node:
            out: list = self._register(node, [])
            out.extend(self.decode(v) for v in self._list(node["list"]))
            return out
        if "dict" in node:
            d: dict = self._register(node, {})
            for pair in self._list(node["dict"]):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise self.bad("dict entries must be [key, value] pairs")
                key = self.decode(pair[0])
                try:
                    hash(key)
                except TypeError as exc:
                    raise self.bad(f"unhashable dict key {key!r}") from exc
                d[key] = self.decode(pair[1])
            return d
        if "npgen" in node:
            name = node["npgen"]
            if name not in BIT_GENERATORS:
                raise self.bad(f"unknown bit generator {name!r}; valid: {', '.join(BIT_GENERATORS)}")
            gen = self._register(node, np.random.Generator(getattr(np.random, name)()))
            try:
                gen.bit_generator.state = self.decode(node.get("state"))
            except (TypeError, ValueError, KeyError) as exc:
                raise self.bad(f"bad {name} state: {exc}") from exc
            return gen
        if "dataclass" in node:
            cls = self.dataclass_types.get(node["dataclass"])
            fields = node.get("fields")
            if cls is None or not isinstance(fields, dict):
                raise self.bad(f"unknown record type {node['dataclass']!r}")
            names = {f.name for f in dataclasses.fields(cls)}
            if set(fields) != names:
                raise self.bad(f"{node['dataclass']} fields {sorted(fields)} differ from {sorted(names)}")
            return cls(**{k: self.decode(v) for k, v in fields.items()})
        if "object" in node:
            cls = self.classes.get(node["object"]) if isinstance(node["object"], str) else None
            if cls is None:
                raise self.bad(f"class {node['object']!r} is not part of this environment")
            obj = self._register(node, object.__new__(cls))
            attrs = node.get("attrs")
            if not isinstance(attrs, dict):
                raise self.bad("object without attributes")
            obj.__dict__.update({str(k): self.decode(v) for k, v in attrs.items()})
            return obj
        raise self.bad(f"unknown node kind {sorted(node)[:3]}")

    def _list(self, val: Any) -> list:
        if not isinstance(val, list):
            raise self.bad("expected a list")
        return val


def load_snapshot(path: str | os.PathLike, classes: dict[str, type] | None = None,
                  dataclass_types: dict[str, type] | None = None) -> dict:
    """Read a snapshot written by ``save_snapshot``; UsageError naming the file when it is not one."""
    where = str(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except (SafetensorError, OSError, ValueError) as exc:
        raise UsageError(f"{where}: not a valid training snapshot ({exc}); delete it to start over") from exc
    text = meta.get("kdmarl_snapshot")
    if text is None:
        raise UsageError(f"{where}: not a kdmarl-bench training snapshot (no 'kdmarl_snapshot' metadata)")
    doc = loads_json(text, where, "training snapshot tree", max_depth=MAX_TREE_DEPTH)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != FORMAT_VERSION:
        raise UsageError(f"{where}: not a kdmarl-bench training snapshot of version {FORMAT_VERSION}")
    state = _Decoder(where, tensors, classes or {}, dataclass_types or {}).decode(doc.get("tree"))
    if not isinstance(state, dict):
        raise UsageError(f"{where}: training snapshot does not hold a table of state")
    return state
