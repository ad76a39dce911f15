"""The one build step pyproject.toml cannot declare: ship the top-level ``suites/*.toml`` (the one
source of the bundled suites) inside the package as ``kdmarl_bench/suites/``, so a wheel installed
anywhere resolves ``kdmarl-bench run quickstart`` without the clone. Everything else is in
pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SUITES = Path(__file__).resolve().parent / "suites"


class BuildPyWithSuites(build_py):
    """``build_py`` that also copies ``suites/*.toml`` into the built package's ``suites/`` folder."""

    def run(self) -> None:
        super().run()
        dest = Path(self.build_lib) / "kdmarl_bench" / "suites"
        dest.mkdir(parents=True, exist_ok=True)
        for toml in sorted(SUITES.glob("*.toml")):
            shutil.copy2(toml, dest / toml.name)


setup(cmdclass={"build_py": BuildPyWithSuites})
