"""What a method's config looks like: every field with its type, default and docstring.

Config dataclasses document each field with a string literal right below it (the
attribute-docstring convention). Python keeps those only in the source, so they are read
back with ``ast`` from each class of the config's MRO (base fields first, as
``dataclasses.fields`` orders them).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
from dataclasses import dataclass
from functools import cache
from typing import Any

from kdmarl_bench.methods import METHODS


@dataclass(frozen=True)
class ConfigField:
    """One field of a method's config dataclass."""

    name: str
    type: str
    """The annotation as written (``float``, ``bool``, ...)."""
    default: Any
    doc: str
    """The field's docstring ('' when it has none)."""


@dataclass(frozen=True)
class MethodInfo:
    """A registered method as ``kdmarl-bench methods`` shows it."""

    id: str
    summary: str
    """First paragraph of the method module's docstring."""
    trains_student: bool
    uses_teacher: bool
    fields: tuple[ConfigField, ...]
    kind: str = "action-imitation"
    """``METHOD_KINDS``: what the method distills (the headline compares the focus with action imitation)."""


@cache
def _field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of one class body: ``name: T = v`` followed by a string literal."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (e.g. a zip without .py files): fields stay undocumented
        return {}
    body = ast.parse(source).body[0].body
    docs = {}
    for stmt, nxt in zip(body, body[1:], strict=False):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):
            docs[stmt.target.id] = inspect.cleandoc(nxt.value.value)
    return docs


def config_fields(config_cls: type) -> tuple[ConfigField, ...]:
    """Every field of a config dataclass with its default and docstring."""
    docs: dict[str, str] = {}
    for klass in reversed(config_cls.__mro__):
        if dataclasses.is_dataclass(klass):
            docs.update(_field_docs(klass))
    defaults = config_cls()
    return tuple(
        ConfigField(f.name, f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type)),
                    getattr(defaults, f.name), docs.get(f.name, ""))
        for f in dataclasses.fields(config_cls)
    )


def _summary(method_cls: type) -> str:
    import sys

    doc = inspect.getdoc(sys.modules[method_cls.__module__]) or inspect.getdoc(method_cls) or ""
    first = " ".join(doc.split("\n\n", 1)[0].split())
    # Module docstrings open with "``id``: ..."; the id is shown in its own column.
    return re.sub(r"^``[^`]+``:\s*", "", first).replace("``", "")


def describe_method(method_id: str) -> MethodInfo:
    """The registered method ``method_id`` (UsageError with 'did you mean' when unknown)."""
    cls = METHODS.get(method_id, "methods")
    return MethodInfo(id=method_id, summary=_summary(cls), trains_student=cls.trains_student,
                      uses_teacher=cls.uses_teacher, fields=config_fields(cls.config_cls), kind=cls.kind)


def describe_methods() -> list[MethodInfo]:
    return [describe_method(name) for name in METHODS.names()]
