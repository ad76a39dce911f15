"""One generic JSON codec for the frozen dataclasses of the results data model.

``to_json(obj)`` writes a dataclass's fields, in its ``_json_order`` (default: declaration order),
encoding nested dataclasses, lists, tuples and dicts; ``from_json(cls, data)`` reads one back by
the class's type hints (a nested dataclass, ``X | None``, ``list[X]``, ``dict[str, X]``). Scalars
pass through unchanged, so the JSON a board was read from is the JSON it is written as.

Per-field rules live in the field's metadata (``json_field``):

- ``when``: a predicate on the object; the field is written only when it holds (``omit_none``
  writes a field only when it is not None, ``omit_default`` only when it differs from its default);
- ``read_default``: the value a missing key reads as (a missing or null non-optional dataclass
  reads as the dataclass decoded from ``{}``).

A class with an ``extra: dict`` field keeps every key it does not declare there (written last, in
its order), so a round trip loses nothing; a class without one drops unknown keys. A class may
define ``_json_encode(self)`` / ``_json_decode(cls, value)`` to replace the generic form (``CI``
is a ``[lo, hi]`` list), and ``_json_fixup(self)`` to derive a field an older file lacks.

``sanitize`` makes any value JSON-safe (NaN/inf → null, numpy → Python). This module sits at the
bottom of ``results/``: it imports nothing from the package.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

EXTRA = "extra"
"""The field that carries the keys a class does not declare."""

_MISSING = dataclasses.MISSING


def json_field(*, default: Any = _MISSING, default_factory: Any = _MISSING, when: Callable[[Any], bool] | None = None,
               read_default: Any = _MISSING, omit_none: bool = False, omit_default: bool = False) -> Any:
    """A dataclass field with codec rules (see the module docstring)."""
    metadata: dict[str, Any] = {}
    if when is not None:
        metadata["when"] = when
    if read_default is not _MISSING:
        metadata["read_default"] = read_default
    if omit_none:
        metadata["omit_none"] = True
    if omit_default:
        metadata["omit_default"] = True
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def omit_none(default: Any = None) -> Any:
    """An optional field written only when it is not None (older boards lack it)."""
    return json_field(default=default, omit_none=True)


def omit_default(default: Any) -> Any:
    """A field written only when it differs from ``default`` (older boards stay byte-identical)."""
    return json_field(default=default, omit_default=True)


# ---------------------------------------------------------------------------------------------
# introspection (cached per class)


@dataclasses.dataclass(frozen=True)
class _FieldInfo:
    name: str
    hint: Any
    field: dataclasses.Field


@functools.cache
def _fields(cls: type) -> tuple[_FieldInfo, ...]:
    """The fields of ``cls`` in JSON order, ``extra`` excluded."""
    hints = typing.get_type_hints(cls)
    by_name = {f.name: f for f in dataclasses.fields(cls) if f.name != EXTRA}
    order = getattr(cls, "_json_order", None) or tuple(by_name)
    if set(order) != set(by_name):
        raise TypeError(f"{cls.__name__}._json_order does not list exactly its fields: "
                        f"{sorted(set(order) ^ set(by_name))}")
    return tuple(_FieldInfo(name, hints[name], by_name[name]) for name in order)


@functools.cache
def _has_extra(cls: type) -> bool:
    return any(f.name == EXTRA for f in dataclasses.fields(cls))


def _written(obj: Any, info: _FieldInfo) -> bool:
    meta = info.field.metadata
    value = getattr(obj, info.name)
    if meta.get("omit_none") and value is None:
        return False
    if meta.get("omit_default") and value == info.field.default:
        return False
    when = meta.get("when")
    return when is None or bool(when(obj))


# ---------------------------------------------------------------------------------------------
# encoding


def sanitize(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf → None, numpy scalars/arrays → Python, tuples → lists."""
    if isinstance(obj, dict):
        return {str(k): sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitize(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return sanitize(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return obj.as_posix()
    return obj




def encode(value: Any) -> Any:
    """The JSON form of a value: dataclasses by ``to_json``, containers element-wise."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(value)
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


def to_json(obj: Any) -> Any:
    """A dataclass instance as JSON (a dict, or the class's own ``_json_encode`` form)."""
    custom = getattr(obj, "_json_encode", None)
    if custom is not None:
        return custom()
    cls = type(obj)
    out = {info.name: encode(getattr(obj, info.name)) for info in _fields(cls) if _written(obj, info)}
    if _has_extra(cls):
        out.update(getattr(obj, EXTRA))
    return out


# ---------------------------------------------------------------------------------------------
# decoding


def _is_codec_class(tp: Any) -> bool:
    return isinstance(tp, type) and (dataclasses.is_dataclass(tp) or hasattr(tp, "_json_decode"))


def _optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def decode(hint: Any, value: Any) -> Any:
    """``value`` (parsed JSON) as type ``hint``; only dataclasses are built, scalars pass through."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        targets = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        for tp in targets:
            if _is_codec_class(tp):
                if isinstance(value, tp):
                    return value
                if hasattr(tp, "_json_decode"):
                    return tp._json_decode(value)
                return from_json(tp, value) if isinstance(value, dict) else None
        if len(targets) == 1:
            return decode(targets[0], value)
        return value
    if origin in (list, tuple) and isinstance(value, (list, tuple)):
        args = typing.get_args(hint)
        return [decode(args[0], v) for v in value] if args else list(value)
    if origin is dict and isinstance(value, dict):
        args = typing.get_args(hint)
        return {k: decode(args[1], v) for k, v in value.items()} if args else dict(value)
    if _is_codec_class(hint):
        if isinstance(value, hint):
            return value
        if hasattr(hint, "_json_decode"):
            return hint._json_decode(value)
        return from_json(hint, value if isinstance(value, dict) else {})
    return value


def from_json(cls: type, data: dict) -> Any:
    """An instance of dataclass ``cls`` from its JSON form (see the module docstring)."""
    kwargs: dict[str, Any] = {}
    for info in _fields(cls):
        meta = info.field.metadata
        if info.name in data:
            kwargs[info.name] = decode(info.hint, data[info.name])
        elif "read_default" in meta:
            kwargs[info.name] = decode(info.hint, _copy(meta["read_default"]))
        elif _is_codec_class(info.hint):
            kwargs[info.name] = decode(info.hint, {})
        elif info.field.default is _MISSING and info.field.default_factory is _MISSING:
            raise ValueError(f"{cls.__name__}: field {info.name!r} is missing")
    if _has_extra(cls):
        names = {info.name for info in _fields(cls)}
        kwargs[EXTRA] = {k: v for k, v in data.items() if k not in names}
    obj = cls(**kwargs)
    fixup = getattr(obj, "_json_fixup", None)
    return fixup() if fixup is not None else obj


def sanitized(obj: Any) -> Any:
    """A JSON-safe copy of a dataclass instance (NaN/inf → None, numpy → Python): what writing it
    and reading it back gives."""
    return from_json(type(obj), sanitize(to_json(obj)))


def _copy(value: Any) -> Any:
    """A fresh copy of a mutable read default."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class JsonCodec:
    """Mixin: ``to_dict`` / ``from_dict`` of a results dataclass, through the generic codec."""

    __slots__ = ()

    def to_dict(self) -> dict:
        return to_json(self)

    @classmethod
    def from_dict(cls, data: dict):
        return from_json(cls, data)
