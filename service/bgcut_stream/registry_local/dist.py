"""Resolve the Apicurio Registry application (``-all.tar.gz`` assembly) from Maven Central."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

from bgcut_stream.registry_local.exceptions import MavenError

DEFAULT_REGISTRY_VERSION = "3.0.9"
ARTIFACT = "io.apicurio:apicurio-registry-app"

_COMPLETE_MARKER = ".complete"


def runner_jar(app_dir: Path) -> Path:
    """The Quarkus runner jar inside an extracted application folder."""
    jars = sorted(app_dir.glob("*-runner.jar"))
    if not jars:
        raise MavenError(f"no *-runner.jar in {app_dir}: delete the folder and run again")
    return jars[0]


def resolve_app(cache_dir: Path, version: str = DEFAULT_REGISTRY_VERSION) -> Path:
    """Return the runner jar of Apicurio Registry ``version``, downloading it once."""
    target = cache_dir / "apicurio-registry" / version
    app_dir = target / "app"
    if (target / _COMPLETE_MARKER).exists():
        return runner_jar(app_dir)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenError(
            "mvn not found on PATH: install Maven (e.g. apt-get install maven) "
            "or set SCHEMA_REGISTRY_URL to an existing Schema Registry"
        )
    download = target / "download"
    for stale in (download, app_dir):
        if stale.exists():
            shutil.rmtree(stale)
    download.mkdir(parents=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "dependency:copy",
        f"-Dartifact={ARTIFACT}:{version}:tar.gz:all",
        f"-DoutputDirectory={download}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
    archives = sorted(download.glob("*.tar.gz"))
    if proc.returncode != 0 or not archives:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise MavenError(
            f"mvn could not resolve {ARTIFACT}:{version} (tar.gz:all) from Maven Central: "
            + (" | ".join(tail) or "no archive downloaded")
        )
    app_dir.mkdir()
    with tarfile.open(archives[0]) as archive:
        archive.extractall(app_dir, filter="data")
    shutil.rmtree(download)
    jar = runner_jar(app_dir)
    (target / _COMPLETE_MARKER).write_text(version)
    return jar
