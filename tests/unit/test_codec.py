"""The generic JSON codec of the results data model (``results/model/codec.py``): its rules on small
dataclasses, the round trip of every committed board, and the agreement of the dataclasses with
the leaderboard JSON Schema."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kdmarl_bench.results.model import codec, records
from kdmarl_bench.results.model.codec import JsonCodec, json_field, omit_default, omit_none
from kdmarl_bench.results.model.records import CI, Leaderboard
from kdmarl_bench.results.model.schema import SCHEMA_VERSION, schema
from kdmarl_bench.results.store.boards import parse_leaderboard, read_json, read_leaderboard, sanitize
from kdmarl_bench.results.store.migrate import migrate

ROOT = Path(__file__).resolve().parents[2]
BOARDS = sorted((ROOT / "baselines").glob("*.json"))


# ---------------------------------------------------------------------------------------------
# the codec's rules on small dataclasses


@dataclass(frozen=True)
class Inner(JsonCodec):
    a: int
    b: float | None = omit_none()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outer(JsonCodec):
    name: str
    inner: Inner | None
    inners: list[Inner]
    by_key: dict[str, Inner]
    interval: CI | None = None
    mode: str = omit_default("auto")
    shown: int | None = json_field(default=None, when=lambda o: o.mode != "auto")
    tags: tuple[str, ...] = json_field(default=(), read_default=("x",))

    _json_order = ("mode", "name", "inner", "inners", "by_key", "interval", "shown", "tags")


def test_codec_writes_fields_in_json_order_with_omission_rules():
    obj = Outer("o", Inner(1), [Inner(2, 0.5)], {"k": Inner(3, extra={"z": 9})}, CI(0.1, 0.2), tags=("t",))
    assert json.dumps(obj.to_dict()) == json.dumps({
        "name": "o", "inner": {"a": 1}, "inners": [{"a": 2, "b": 0.5}], "by_key": {"k": {"a": 3, "z": 9}},
        "interval": [0.1, 0.2], "tags": ["t"]})
    shown = dataclasses.replace(obj, mode="fixed", shown=None)
    assert list(shown.to_dict())[:2] == ["mode", "name"]
    assert shown.to_dict()["shown"] is None  # `when` holds: written even when None


def test_codec_reads_nested_types_defaults_and_extra():
    data = {"name": "o", "inner": None, "inners": [{"a": 2, "q": [1]}], "by_key": {"k": {"a": 3, "b": 1.5}},
            "interval": [0.3, 0.4], "unknown": 1}
    obj = Outer.from_dict(data)
    assert obj.inner is None
    assert obj.inners == [Inner(2, extra={"q": [1]})]
    assert obj.by_key == {"k": Inner(3, 1.5)}
    assert obj.interval == CI(0.3, 0.4)
    assert obj.tags == ["x"]  # read_default for a missing key
    assert not hasattr(obj, "unknown")  # a class without `extra` drops unknown keys
    # an interval that is not two finite numbers reads as None (the one CI rule)
    assert Outer.from_dict({**data, "interval": [0.3, None]}).interval is None


def test_codec_names_a_missing_required_field():
    with pytest.raises(ValueError, match=r"Inner: field 'a' is missing"):
        Inner.from_dict({"b": 1.0})


def test_codec_refuses_a_json_order_that_misses_a_field():
    @dataclass(frozen=True)
    class Bad(JsonCodec):
        x: int
        y: int
        _json_order = ("x",)

    with pytest.raises(TypeError, match=r"Bad._json_order.*'y'"):
        Bad(1, 2).to_dict()


# ---------------------------------------------------------------------------------------------
# every committed board


def _canonical(path: Path) -> dict:
    """The board as the reader sees it before typing: validated, migrated to the current version."""
    return sanitize(migrate(sanitize(read_json(path)), in_place=True))


def _first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The path of the first value (or key, or key order) where two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b) and set(a) == set(b):
            return f"{where}: key order {list(a)} vs {list(b)}"
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{where}.{key}: only on one side"
            found = _first_difference(a[key], b[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} vs {len(b)} items"
        return next((d for i, (x, y) in enumerate(zip(a, b, strict=True)) if (d := _first_difference(x, y, f"{where}[{i}]"))),
                    None)
    return None if type(a) is type(b) and a == b else f"{where}: {a!r} vs {b!r}"


def _unordered(obj: Any) -> Any:
    """JSON with every object's keys sorted (for comparing content, not order)."""
    if isinstance(obj, dict):
        return {k: _unordered(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [_unordered(v) for v in obj]
    return obj


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.name)
def test_board_round_trips_through_the_codec(path):
    data = _canonical(path)
    board = Leaderboard.from_dict(data)
    dumped = sanitize(board.to_dict())
    # nothing dropped, nothing invented, no value changed
    assert _first_difference(_unordered(dumped), _unordered(data)) is None
    # a current-version file is written back byte for byte
    if json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION:
        assert json.dumps(dumped, indent=2) + "\n" == path.read_text(encoding="utf-8")
    # the written form is a fixed point: typed → JSON → typed → JSON
    again = Leaderboard.from_dict(dumped)
    assert again == board
    assert _first_difference(sanitize(again.to_dict()), dumped) is None


def test_a_nested_mismatch_is_caught():
    path = ROOT / "baselines" / "fairfight.json"  # current version, with latency and learning curves
    data = _canonical(path)
    board = Leaderboard.from_dict(data)
    rec = next(i for i, r in enumerate(data["records"]) if r["latency"])
    row = next(i for i, s in enumerate(data["summary"]) if s.get("retention_curve"))
    for edit, where in (
        (lambda d: d["records"][rec]["latency"][0].__setitem__("p50_ms", 123.25), f".records[{rec}].latency[0].p50_ms"),
        (lambda d: d["summary"][row]["retention_curve"][0].__setitem__("retention_ci95", [0.0, 0.5]),
         f".summary[{row}].retention_curve[0].retention_ci95"),
        (lambda d: d["records"][rec]["cost"].__setitem__("flops_extra_note", "x"), f".records[{rec}].cost.flops_extra_note"),
    ):
        changed = json.loads(json.dumps(data))
        edit(changed)
        typed = Leaderboard.from_dict(changed)
        assert typed != board
        found = _first_difference(sanitize(typed.to_dict()), sanitize(board.to_dict()))
        assert found is not None and found.startswith(where), found
    # a reordered nested object is a difference too (the file is compared byte for byte)
    swapped = json.loads(json.dumps(data))
    first = swapped["records"][rec]["latency"][0]
    swapped["records"][rec]["latency"][0] = dict(reversed(list(first.items())))
    assert "key order" in _first_difference(swapped, data)


def test_read_leaderboard_gives_the_typed_board():
    board = read_leaderboard(ROOT / "baselines" / "quickstart.json")
    assert isinstance(board, Leaderboard)
    assert board == parse_leaderboard(json.loads((ROOT / "baselines" / "quickstart.json").read_text()))


# ---------------------------------------------------------------------------------------------
# the dataclasses agree with the JSON Schema

_DEFS = schema()["$defs"]
_SCHEMA_PATHS = {  # dataclass → where its object lies in the current schema
    "SuiteInfo": "properties.suite", "Provenance": "properties.provenance", "Protocol": "properties.protocol",
    "Bootstrap": "properties.protocol.properties.bootstrap", "Record": "$defs.record", "Student": "$defs.student",
    "TrainStats": "$defs.record.properties.train", "Cost": "$defs.cost", "LatencyEntry": "$defs.latency",
    "CurvePoint": "$defs.curve_point", "Summary": "$defs.summary", "LatencyGroup": "$defs.latency_group",
    "LatencySummary": "$defs.summary.properties.latency_summary", "CurveSummaryPoint": "$defs.curve_summary_point",
    "Aggregate": "$defs.aggregate", "PerformanceProfile": "$defs.performance_profile", "Improvement": "$defs.poi"}


def _at(path: str) -> dict:
    node = schema()
    for part in path.split("."):
        node = node[part]
    return node


_SCHEMA_OF = {getattr(records, name): _at(path) for name, path in _SCHEMA_PATHS.items()}
OPEN_KEYS = {
    records.Record: {"eval_seeds"},
    records.Student: {"flops_reduction_target", "flops_reduction"},
    records.Protocol: {"eval_seeds", "sampled"},
}
"""Keys the schema declares that a dataclass keeps in its ``extra`` (open to readers, not typed)."""

_JSON_TYPES = {str: {"string"}, int: {"integer"}, float: {"number", "integer"}, bool: {"boolean"},
               list: {"array"}, tuple: {"array"}, dict: {"object"}}


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = {**_DEFS[node["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _object_schema(node: dict) -> dict:
    """The object branch of a (possibly nullable) schema node."""
    node = _resolve(node)
    for branch in node.get("oneOf", node.get("anyOf", [])):
        branch = _resolve(branch)
        if branch.get("type") == "object" or "properties" in branch:
            return branch
    return node


def _schema_types(node: dict) -> set[str]:
    """The JSON types a schema node admits (``integer`` counted as a ``number``)."""
    node = _resolve(node)
    out: set[str] = set()
    if "type" in node:
        out |= set([node["type"]] if isinstance(node["type"], str) else node["type"])
    for branch in node.get("oneOf", []) + node.get("anyOf", []):
        out |= _schema_types(branch)
    for value in node.get("enum", []) + ([node["const"]] if "const" in node else []):
        out.add({str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}[type(value)])
    if not out and "properties" in node:
        out.add("object")
    return out


def _hint_types(hint: Any) -> set[str] | None:
    """The JSON types a field's type hint holds; None for ``Any``."""
    if hint is Any:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        out: set[str] = set()
        for arg in typing.get_args(hint):
            sub = _hint_types(arg)
            if sub is None:
                return None
            out |= sub
        return out
    if hint is type(None):
        return {"null"}
    if hint is CI:
        return {"array"}
    if dataclasses.is_dataclass(hint):
        return {"object"}
    return set(_JSON_TYPES[origin or hint])


@pytest.mark.parametrize("cls", list(_SCHEMA_OF), ids=lambda c: c.__name__)
def test_dataclass_agrees_with_the_schema(cls):
    node = _object_schema(_SCHEMA_OF[cls])
    props = node["properties"]
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != codec.EXTRA}
    assert sorted(set(fields) - set(props)) == [], f"{cls.__name__}: fields the schema does not declare"
    undeclared = set(props) - set(fields) - OPEN_KEYS.get(cls, set())
    assert sorted(undeclared) == [], f"{cls.__name__}: schema properties the dataclass does not declare"
    assert OPEN_KEYS.get(cls, set()) <= set(props) - set(fields), f"{cls.__name__}: OPEN_KEYS out of date"
    if OPEN_KEYS.get(cls) or node.get("additionalProperties") is not False and any(
            f.name == codec.EXTRA for f in dataclasses.fields(cls)):
        assert any(f.name == codec.EXTRA for f in dataclasses.fields(cls)), f"{cls.__name__} has open keys but no extra"
    for name, fld in fields.items():
        held = _hint_types(hints[name])
        admitted = _schema_types(props[name])
        if held is None or not admitted:
            continue
        where = f"{cls.__name__}.{name}: schema {sorted(admitted)}, dataclass {sorted(held)}"
        assert admitted - {"null"} <= held, where
        if "null" in admitted:
            assert "null" in held, where
        elif "null" in held:  # the codec must never write a null the schema refuses
            assert fld.metadata.get("omit_none") or fld.metadata.get("when"), where


def test_legacy_method_kinds_are_the_registry_kinds():
    from kdmarl_bench.methods import METHODS  # imports torch

    for name, kind in records.LEGACY_METHOD_KINDS.items():
        assert name in METHODS, f"{name}: no longer registered (keep its kind for old boards, drop this check)"
        assert METHODS.get(name).kind == kind, name
