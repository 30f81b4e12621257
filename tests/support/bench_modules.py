"""Load a module of ``bench/`` (a folder of scripts, not a package) for a unit test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).parents[2] / "bench"


def load(name: str) -> ModuleType:
    """``bench/<name>.py``, imported afresh under ``name``."""
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a NamedTuple or dataclass in it looks its module up by name
    spec.loader.exec_module(module)
    return module
