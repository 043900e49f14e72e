"""The test oracles (PyTorch, and the peer autograd libraries the benches time).

`require("torch")` skips a test module when the library is missing, except where CI set
MINIGRAD_REQUIRE_ORACLES=1 (`.ci/run` installs PyTorch and does): there a missing oracle fails
the run, so the parity suite can never pass by being silently skipped.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

REQUIRED = os.environ.get("MINIGRAD_REQUIRE_ORACLES") == "1"


def require(name: str) -> ModuleType:
    """Import oracle `name`; skip if it is missing, or fail when CI requires the oracles."""
    if REQUIRED and name == "torch":
        return importlib.import_module(name)  # ImportError fails the module: the oracle is gone
    return pytest.importorskip(name)
