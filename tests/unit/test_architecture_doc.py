"""ARCHITECTURE.md stays true to the code (issue 10, item 6).

Every path or dotted module it names in backticks must exist (a dotted name may end in a
top-level function, class or constant of that module), every package under kdmarl_bench/ must be
named, and every module file must appear in it (so a new module cannot go unmentioned); so must
every benchmark script under benchmarks/.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "ARCHITECTURE.md"
PACKAGE = ROOT / "kdmarl_bench"

_BACKTICKED = re.compile(r"`([^`\s]+)`")
_PATH = re.compile(r"^(kdmarl_bench|tests|benchmarks|baselines|\.ci)/[\w./*-]*$")
_DOTTED = re.compile(r"^kdmarl_bench(\.\w+)+$")


def named_in(text: str) -> tuple[set[str], set[str]]:
    """(paths, dotted names) named in backticks."""
    tokens = set(_BACKTICKED.findall(text))
    return {t for t in tokens if _PATH.match(t)}, {t for t in tokens if _DOTTED.match(t)}


def _top_level_names(module_file: Path) -> set[str]:
    names = set()
    for node in ast.parse(module_file.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def dotted_exists(name: str) -> bool:
    """``kdmarl_bench.a.b`` is a module or package, or ``kdmarl_bench.a.NAME`` a top-level name of one."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:cut])
        module = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if module.is_file():
            rest = parts[cut:]
            return not rest or (len(rest) == 1 and rest[0] in _top_level_names(module))
    return False


_PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_]*[A-Z]\b")  # `methods/NAME.py`: any file there


def path_exists(path: str) -> bool:
    pattern = _PLACEHOLDER.sub("*", path.rstrip("/"))
    if "*" in pattern:
        return any(ROOT.glob(pattern))
    return (ROOT / pattern).exists()


@pytest.fixture(scope="module")
def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_named_path_exists(doc_text):
    paths, _ = named_in(doc_text)
    assert len(paths) > 40  # the module table is there
    missing = sorted(p for p in paths if not path_exists(p))
    assert not missing, f"ARCHITECTURE.md names paths that do not exist: {missing}"


def test_every_dotted_module_exists(doc_text):
    _, dotted = named_in(doc_text)
    missing = sorted(d for d in dotted if not dotted_exists(d))
    assert not missing, f"ARCHITECTURE.md names modules that do not exist: {missing}"


def _mentions(text: str, rel: str) -> bool:
    dotted = rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    return f"`{rel}`" in text or f"`{rel}/`" in text or f"`{dotted}`" in text


def test_every_package_is_named(doc_text):
    packages = sorted(str(p.parent.relative_to(ROOT)) for p in PACKAGE.rglob("__init__.py")
                      if "__pycache__" not in p.parts)
    assert "kdmarl_bench/results" in packages
    unnamed = [p for p in packages
               if f"`{p}/" not in doc_text and f"`{p}`" not in doc_text and f"`{p.replace('/', '.')}" not in doc_text]
    assert not unnamed, f"packages missing from ARCHITECTURE.md: {unnamed}"


def test_every_module_file_is_named(doc_text):
    # every module file; of the __init__.py files only the top package's (the rest are packages)
    modules = sorted(str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                     if p.name != "__init__.py" or p.parent == PACKAGE)
    unnamed = [m for m in modules if not _mentions(doc_text, m)]
    assert not unnamed, f"modules missing from ARCHITECTURE.md's table: {unnamed}"


def test_every_benchmark_script_is_named(doc_text):
    scripts = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "benchmarks").glob("*.py"))
    assert "benchmarks/readme_tables.py" in scripts
    unnamed = [s for s in scripts if f"`{s}`" not in doc_text]
    assert not unnamed, f"benchmark scripts missing from ARCHITECTURE.md: {unnamed}"


def test_the_checks_can_fail():
    paths, dotted = named_in("see `kdmarl_bench/nope.py`, `kdmarl_bench.results.nope` and "
                             "`kdmarl_bench.results.gate.checks.gate`")
    assert paths == {"kdmarl_bench/nope.py"} and not path_exists("kdmarl_bench/nope.py")
    assert not dotted_exists("kdmarl_bench.results.nope")
    assert dotted_exists("kdmarl_bench.results.gate.checks.gate") and dotted_exists("kdmarl_bench.results")
    assert not dotted_exists("kdmarl_bench.results.gate.checks.no_such_function")
    assert not _mentions("`kdmarl_bench/results/gate.py`", "kdmarl_bench/results/stats.py")
    assert path_exists("kdmarl_bench/methods/NAME.py") and not path_exists("kdmarl_bench/nope/NAME.py")
