"""Deploy tooling: helm (built by `make tools` into .bgcut/tools/bin) and promtool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "bgcut-stream"
TOOLS = ROOT / ".bgcut" / "tools" / "bin"
KUBE_VERSION = "1.30.0"


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


def render(
    helm: str, *sets: str, values: dict[str, Any] | None = None, tmp: Path | None = None
) -> list[dict[str, Any]]:
    args = [helm, "template", "rel", str(CHART), "--kube-version", KUBE_VERSION]
    for item in sets:
        args += ["--set", item]
    if values is not None and tmp is not None:
        path = tmp / "values.json"
        path.write_text(json.dumps(values))
        args += ["-f", str(path)]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in docs}
