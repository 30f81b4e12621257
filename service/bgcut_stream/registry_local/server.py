"""Run, probe and stop a local Apicurio Registry (Confluent API at ``/apis/ccompat/v7``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bgcut_stream.kafka_local.broker import HOST, _alive, default_cache_dir, free_port, port_in_use
from bgcut_stream.registry_local.dist import DEFAULT_REGISTRY_VERSION, resolve_app
from bgcut_stream.registry_local.exceptions import RegistryLocalError, StartupError

CCOMPAT_PATH = "/apis/ccompat/v7"

# Quarkus reads ``config/application.properties`` below its working directory (the state dir),
# so the basic-auth password never appears on a command line.
_PROPERTIES = """\
quarkus.http.host={host}
quarkus.http.port={port}
quarkus.http.access-log.enabled=false
quarkus.log.level=WARN
apicurio.storage.kind=sql
apicurio.storage.sql.kind=h2
apicurio.datasource.url=jdbc:h2:file:{data_dir}/registry
apicurio.datasource.jdbc.initial-size=2
apicurio.datasource.jdbc.min-size=2
apicurio.datasource.jdbc.max-size=10
"""

_BASIC_AUTH = """\
quarkus.http.auth.basic=true
quarkus.security.users.embedded.enabled=true
quarkus.security.users.embedded.plain-text=true
quarkus.security.users.embedded.users.{user}={password}
quarkus.security.users.embedded.roles.{user}=sr-admin
quarkus.http.auth.permission.registry.paths=/apis/*
quarkus.http.auth.permission.registry.policy=authenticated
"""


@dataclass
class RegistryConfig:
    """Where the registry keeps its state, its port (0 = a free one) and optional basic auth."""

    state_dir: Path = field(default_factory=lambda: Path(".bgcut") / "registry")
    port: int = 8081
    cache_dir: Path = field(default_factory=default_cache_dir)
    version: str = DEFAULT_REGISTRY_VERSION
    heap: str = "256m"
    basic_auth_user_info: str | None = None
    startup_timeout_s: float = 120.0


class LocalRegistry:
    """A registry process whose pid, log, config and H2 data live in ``config.state_dir``."""

    def __init__(self, config: RegistryConfig) -> None:
        self.config = config
        self.state_dir = config.state_dir.resolve()

    @property
    def pid_file(self) -> Path:
        """File holding the running registry's pid."""
        return self.state_dir / "registry.pid"

    @property
    def log_file(self) -> Path:
        """The registry's stdout and stderr."""
        return self.state_dir / "registry.log"

    @property
    def url_file(self) -> Path:
        """File holding the Confluent-API base URL of the running registry."""
        return self.state_dir / "url"

    def url(self) -> str | None:
        """The registry's Confluent-API base URL, or None when it is not running."""
        if self.pid() is None or not self.url_file.exists():
            return None
        return self.url_file.read_text().strip()

    def pid(self) -> int | None:
        """Pid of the running registry, or None (a stale pid file is ignored)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def up(self) -> str:
        """Start the registry (if not running) and return its URL once it answers."""
        running = self.url()
        if running is not None:
            return running
        java = shutil.which("java")
        if java is None:
            raise RegistryLocalError(
                "java not found on PATH: install a Java 17+ runtime (e.g. apt-get install "
                "openjdk-17-jre-headless) or set SCHEMA_REGISTRY_URL to an existing registry"
            )
        port = self.config.port or free_port()
        if port_in_use(port):
            raise StartupError(
                f"port {port} on {HOST} is already in use: stop the process holding it "
                "or choose another with --port"
            )
        jar = resolve_app(self.config.cache_dir, self.config.version)
        self._write_properties(port)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                [
                    java,
                    f"-Xmx{self.config.heap}",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    "-Djava.awt.headless=true",
                    "-jar",
                    str(jar),
                ],
                cwd=self.state_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        url = f"http://{HOST}:{port}{CCOMPAT_PATH}"
        self.url_file.write_text(url)
        self._wait_ready(proc, f"http://{HOST}:{port}/health/ready")
        return url

    def _write_properties(self, port: int) -> None:
        config_dir = self.state_dir / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        text = _PROPERTIES.format(host=HOST, port=port, data_dir=self.state_dir / "data")
        if self.config.basic_auth_user_info:
            user, sep, password = self.config.basic_auth_user_info.partition(":")
            if not sep or not user or not password:
                raise RegistryLocalError("basic auth user info must be USER:PASSWORD")
            text += _BASIC_AUTH.format(user=user, password=password)
        props = config_dir / "application.properties"
        props.touch(mode=0o600)
        props.chmod(0o600)
        props.write_text(text)

    def _wait_ready(self, proc: subprocess.Popen[bytes], health_url: str) -> None:
        deadline = time.monotonic() + self.config.startup_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._cleanup_pid()
                raise StartupError(
                    f"the registry exited with code {proc.returncode} during start-up; "
                    f"last log lines: {self.last_log_lines()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health_url, timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        self.down()
        raise StartupError(
            f"the registry did not become ready within {self.config.startup_timeout_s:.0f}s; "
            f"last log lines: {self.last_log_lines()}"
        )

    def last_log_lines(self, count: int = 8) -> str:
        """The log's last lines joined on one line, for error messages."""
        if not self.log_file.exists():
            return "(no log)"
        lines = self.log_file.read_text(errors="replace").strip().splitlines()[-count:]
        return " | ".join(line.strip() for line in lines)

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop the registry: SIGTERM, wait, then SIGKILL. Return whether one was running."""
        pid = self.pid()
        if pid is None:
            self._cleanup_pid()
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self._cleanup_pid()
        return True

    def _cleanup_pid(self) -> None:
        self.pid_file.unlink(missing_ok=True)
        self.url_file.unlink(missing_ok=True)
