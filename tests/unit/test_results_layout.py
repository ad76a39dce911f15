"""kdmarl_bench/results/ is split by stage, and no module imports a higher stage (issue 22, item 2).

The stages from the ground up: model < analysis < store < gate < render. Every import counts,
function-local and ``TYPE_CHECKING`` ones included, so a climb cannot hide inside a function. Outside
``results/`` a results module may import only the floors below it (errors, safeio, registry,
deploy_runtimes, the package's ``__version__``). The CLI starts without torch and scipy.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "kdmarl_bench" / "results"
STAGES = ("model", "analysis", "store", "gate", "render")
BELOW_RESULTS = {"kdmarl_bench", "kdmarl_bench.errors", "kdmarl_bench.safeio", "kdmarl_bench.registry",
                 "kdmarl_bench.deploy_runtimes"}


def _imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) of every ``kdmarl_bench`` import in ``source``, wherever it sits."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "kdmarl_bench.results":  # ``from kdmarl_bench.results import analysis``
                out += [(node.lineno, f"kdmarl_bench.results.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return [(line, mod) for line, mod in out if mod == "kdmarl_bench" or mod.startswith("kdmarl_bench.")]


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["kdmarl_bench", "results"] else None


def climbs(stage: str, source: str) -> list[str]:
    """The imports of a module of ``stage`` that reach a higher stage, or above ``results/``."""
    bad = []
    for line, mod in _imported_modules(source):
        target = _stage(mod)
        if target is not None:
            if target not in STAGES or STAGES.index(target) > STAGES.index(stage):
                bad.append(f"line {line}: {mod}")
        elif mod not in BELOW_RESULTS:
            bad.append(f"line {line}: {mod}")
    return bad


def test_every_results_module_sits_in_a_stage():
    loose = sorted(p.name for p in RESULTS.glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules directly under results/: {loose}"
    assert sorted(p.name for p in RESULTS.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(STAGES)


def test_no_results_module_imports_a_higher_stage():
    found = {}
    for stage in STAGES:
        for path in sorted((RESULTS / stage).rglob("*.py")):
            bad = climbs(stage, path.read_text(encoding="utf-8"))
            if bad:
                found[str(path.relative_to(ROOT))] = bad
    assert not found, f"imports that climb: {found}"


def test_the_check_sees_a_climb():
    # a local import in a function is an import too
    src = "def f():\n    from kdmarl_bench.results.render.text import DASH\n    return DASH\n"
    assert climbs("analysis", src) == ["line 2: kdmarl_bench.results.render.text"]
    assert climbs("render", src) == []
    assert climbs("model", "from kdmarl_bench.results import analysis\n") == ["line 1: kdmarl_bench.results.analysis"]
    assert climbs("model", "import kdmarl_bench.methods\n") == ["line 1: kdmarl_bench.methods"]
    assert climbs("store", "from kdmarl_bench.safeio import write_json_atomic\n") == []


def test_the_cli_starts_without_torch_or_scipy():
    code = "import sys, kdmarl_bench.cli; print(sorted(m for m in ('torch', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
