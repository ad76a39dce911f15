"""The suite file's schema machinery: rules declared on dataclass fields, and a collector that reports
every problem of a file at once.

A table of a suite file (``[budget]``, ``[teacher]``, ``[task."ID"]``, ...) is a frozen dataclass in
``kdmarl_bench/suite.py`` whose fields carry a :class:`Rule` (``toml_field``): the TOML type it accepts,
its checks and how the TOML value becomes the field's. :func:`read_table` reads such a table: every
unknown key ("did you mean"), missing required key, wrong type and failed check is recorded in
:class:`Problems`, and reading goes on. ``Problems.raise_all`` then raises one ``UsageError`` (exit 2)
listing them all, one line each, each naming the file and the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kdmarl_bench.errors import UsageError
from kdmarl_bench.registry import suggest

Check = Callable[[Any], "str | None"]
"""Why a value is wrong (the message after the field's name), or None when it is fine."""


class _Missing:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Missing()
"""The default of a field the file must give."""


class FieldProblem(UsageError):
    """One problem of a suite file: a field and what is wrong with it."""

    def __init__(self, path: str, field_name: str, msg: str):
        super().__init__(f"{path}: field '{field_name}': {msg}")
        self.field_name = field_name


class Problems:
    """Every problem found in one suite file, in the order found. ``err`` makes one to ``raise`` (a
    step that cannot go on); ``add`` records one and lets the caller go on; ``attempt`` runs a step and
    records what it raises, so one broken table never hides another's problems."""

    def __init__(self, path: str):
        self.path = path
        self.found: list[FieldProblem] = []

    def err(self, field_name: str, msg: str) -> FieldProblem:
        return FieldProblem(self.path, field_name, msg)

    def add(self, field_name: str, msg: str) -> None:
        self.found.append(self.err(field_name, msg))

    def attempt(self, step: Callable[..., Any], *args: Any, failed: Any = None) -> Any:
        """``step(*args)``, or ``failed`` when it raises a problem (recorded)."""
        try:
            return step(*args)
        except FieldProblem as exc:
            self.found.append(exc)
            return failed

    def __bool__(self) -> bool:
        return bool(self.found)

    def raise_all(self) -> None:
        """Raise every problem at once: one problem as its own message, several one per line."""
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            lines = "\n".join(str(p) for p in self.found)
            raise UsageError(f"{self.path}: {len(self.found)} problems (each listed below):\n{lines}")

    # ---- the checks every table shares -------------------------------------------------------
    def typed(self, data: dict, key: str, typ: type | tuple, where: str, default: Any = REQUIRED) -> Any:
        """``data[key]`` when it has TOML type ``typ`` (a bool is never an int), else raise."""
        if key not in data:
            if default is REQUIRED:
                raise self.err(f"{where}{key}", "required field is missing")
            return default
        problem = type_problem(data[key], typ)
        if problem:
            raise self.err(f"{where}{key}", problem)
        return data[key]

    def unknown_keys(self, data: dict, allowed: set[str] | list[str], where: str) -> None:
        """Record every key of ``data`` not in ``allowed``, with "did you mean" and the valid fields."""
        names = sorted(allowed)
        for key in data:
            if key not in allowed:
                self.add(f"{where}{key}", f"unknown field{suggest(key, names)}; valid fields: {', '.join(names)}")


def type_problem(val: Any, typ: type | tuple) -> str | None:
    """Why ``val`` is not of TOML type ``typ`` (``int`` refuses a bool), or None."""
    ok = isinstance(val, typ) and not (typ in (int, float, (int, float)) and isinstance(val, bool))
    if ok:
        return None
    tname = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
    return f"expected {tname}, got {type(val).__name__} ({val!r})"


# ---------------------------------------------------------------------------------
# rules declared on dataclass fields
@dataclass(frozen=True)
class Rule:
    """How one key of a suite table is read into a dataclass field."""

    toml: type | tuple[type, ...] = object
    """TOML type(s) accepted (``object``: any, the checks decide)."""
    checks: tuple[Check, ...] = ()
    """Checks of the whole value, in order; the first that fails is the field's problem."""
    item: Check | None = None
    """Check of each element of a list value; a bad element is reported as ``field[i]``."""
    convert: Callable[[Any], Any] | None = None
    """TOML value → field value (e.g. list → tuple); None keeps it."""


def toml_field(default: Any = REQUIRED, toml: type | tuple[type, ...] = object, *checks: Check,
               item: Check | None = None, convert: Callable[[Any], Any] | None = None) -> Any:
    """A dataclass field read from a suite table by :func:`read_table` (a function as ``default`` is the
    default's factory)."""
    meta = {"toml": Rule(toml, checks, item, convert)}
    if default is REQUIRED:
        return dataclasses.field(metadata=meta)
    if callable(default):
        return dataclasses.field(default_factory=default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


class Bad:
    """Stands for a field whose value had a problem (recorded): later checks that need it skip."""

    def __repr__(self) -> str:
        return "BAD"


BAD: Any = Bad()


def read_table(problems: Problems, raw: dict, cls: type, where: str) -> dict[str, Any]:
    """Read the suite table ``raw`` by the rules of ``cls``'s fields (those with a :class:`Rule`): every
    problem is recorded. Returns field → value for the keys given (converted), ``BAD`` for a key with a
    problem; keys not given are left out (the dataclass default applies)."""
    rules = {f.name: f.metadata["toml"] for f in dataclasses.fields(cls) if "toml" in f.metadata}
    problems.unknown_keys(raw, set(rules), where)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in rules:
            continue
        if f.name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.add(f"{where}{f.name}", "required field is missing")
                out[f.name] = BAD
            continue
        out[f.name] = read_value(problems, raw[f.name], rules[f.name], f"{where}{f.name}")
    return out


def read_value(problems: Problems, val: Any, rule: Rule, field_name: str) -> Any:
    """One value by its rule: the converted value, or ``BAD`` (its problems recorded)."""
    problem = type_problem(val, rule.toml) if rule.toml is not object else None
    for check in rule.checks:
        if problem:
            break
        problem = check(val)
    if problem:
        problems.add(field_name, problem)
        return BAD
    if rule.item is not None:
        bad = [(i, p) for i, p in ((i, rule.item(v)) for i, v in enumerate(val)) if p]
        for i, p in bad:
            problems.add(f"{field_name}[{i}]", p)
        if bad:
            return BAD
    return rule.convert(val) if rule.convert else val


def good(*values: Any) -> bool:
    """True when none of ``values`` had a problem (checks that need them may run)."""
    return not any(v is BAD or v is None for v in values)


# ---------------------------------------------------------------------------------
# checks
def positive(high: int) -> Check:
    """An integer in (0, ``high``]."""
    return lambda v: None if 0 < v <= high else f"must be > 0 and <= {high:,}, got {v}"


def one_of(what: str, choices: Callable[[], Any], extra: str = "") -> Check:
    """A name among ``choices()`` (read when first checked: some registries import torch)."""

    def check(v: Any) -> str | None:
        names = list(choices())
        if v in names:
            return None
        return f"unknown {what} {v!r}{suggest(str(v), names)}; valid choices: {', '.join(names)}{extra}"

    return check
