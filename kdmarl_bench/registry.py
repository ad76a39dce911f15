"""A small generic registry: names → objects, with "did you mean" on unknown names."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from kdmarl_bench.errors import UsageError

T = TypeVar("T")


def suggest(name: str, choices: list[str], n: int = 3) -> str:
    """Return a ' (did you mean: a, b?)' hint, or '' when nothing is close."""
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    if not close:
        # Fall back to substring matches ("3m" → "smax/3m").
        close = [c for c in choices if name and name in c][:n]
    return f" (did you mean: {', '.join(close)}?)" if close else ""


class Registry(Generic[T]):
    """Maps kebab-case ids to registered objects; unknown ids raise UsageError."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        self.register(name)(obj)

    def get(self, name: str, where: str = "") -> T:
        if name not in self._items:
            raise UsageError(self.unknown_message(name, where))
        return self._items[name]

    def unknown_message(self, name: str, where: str = "") -> str:
        names = sorted(self._items)
        prefix = f"{where}: " if where else ""
        return (
            f"{prefix}unknown {self.kind} {name!r}{suggest(name, names)}; "
            f"valid choices: {', '.join(names)}"
        )

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())
