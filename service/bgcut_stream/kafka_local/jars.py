"""Resolve ``org.apache.kafka:kafka_2.13`` and its runtime dependencies from Maven Central."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bgcut_stream.kafka_local.exceptions import MavenError

DEFAULT_KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>bgcut-stream.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

_COMPLETE_MARKER = ".complete"


def resolve_jars(cache_dir: Path, version: str = DEFAULT_KAFKA_VERSION) -> Path:
    """Return a folder holding every runtime jar of Kafka ``version``, downloading it once."""
    target = cache_dir / "kafka" / version
    libs = target / "libs"
    if (target / _COMPLETE_MARKER).exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenError(
            "mvn not found on PATH: install Maven (e.g. apt-get install maven) "
            "or point KAFKA_BOOTSTRAP_SERVERS at an existing cluster"
        )
    target.mkdir(parents=True, exist_ok=True)
    (target / "pom.xml").write_text(_POM.format(kafka=version, log4j=LOG4J_VERSION))
    if libs.exists():
        shutil.rmtree(libs)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(target / "pom.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={libs}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise MavenError(
            f"mvn could not resolve org.apache.kafka:kafka_2.13:{version} from Maven Central: "
            + " | ".join(tail)
        )
    (target / _COMPLETE_MARKER).write_text(version)
    return libs
