"""Run, probe and stop a local Apicurio Registry (Confluent API at ``/apis/ccompat/v7``)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bgcut_stream.kafka_local.broker import default_cache_dir
from bgcut_stream.localproc import HOST, LocalProcess, free_port, require_free_port, require_java
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


class LocalRegistry(LocalProcess):
    """A registry process whose pid, log, config and H2 data live in ``config.state_dir``."""

    name = "the registry"
    startup_error = StartupError

    def __init__(self, config: RegistryConfig) -> None:
        super().__init__(config.state_dir, "registry", address_file="url")
        self.config = config

    url_file = LocalProcess.address_file
    """File holding the Confluent-API base URL of the running registry."""

    def url(self) -> str | None:
        """The registry's Confluent-API base URL, or None when it is not running."""
        return self.address()

    def up(self) -> str:
        """Start the registry (if not running) and return its URL once it answers."""
        running = self.url()
        if running is not None:
            return running
        java = require_java(RegistryLocalError, "set SCHEMA_REGISTRY_URL to an existing registry")
        port = self.config.port or free_port()
        require_free_port(port, StartupError)
        jar = resolve_app(self.config.cache_dir, self.config.version)
        self._write_properties(port)
        url = f"http://{HOST}:{port}{CCOMPAT_PATH}"
        proc = self._spawn(
            [
                java,
                f"-Xmx{self.config.heap}",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Djava.awt.headless=true",
                "-jar",
                str(jar),
            ],
            address=url,
            cwd=self.state_dir,
        )
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
        def healthy() -> bool:
            try:
                return httpx.get(health_url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        self._wait_until_ready(proc, healthy, self.config.startup_timeout_s, "did not become ready")
