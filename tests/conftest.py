import os
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

# `tests.factories` imports the same way under `python -m pytest` and a bare `pytest`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Deterministic and quiet: one torch thread (2-core machines, JAX has its own pool).
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
