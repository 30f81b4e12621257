"""Deploy tooling: helm (built by `make tools` into .bgcut/tools/bin) and promtool."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "bgcut-stream"
TOOLS = ROOT / ".bgcut" / "tools" / "bin"


def tool(name: str) -> str:
    """Path of a required tool; `make tools` installs them (no silent skip)."""
    found = shutil.which(name, path=f"{TOOLS}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail(f"{name} not found: run `make tools` (helm via go install, promtool via apt)")
    return found


@pytest.fixture(scope="session")
def helm() -> str:
    """The helm binary."""
    return tool("helm")


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary (Debian's prometheus package)."""
    return tool("promtool")
