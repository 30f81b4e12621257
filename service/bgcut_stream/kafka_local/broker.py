"""Run, probe and stop a single-node combined broker+controller Kafka on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bgcut_stream.kafka_local.exceptions import JavaMissingError, PortInUseError, StartupError
from bgcut_stream.kafka_local.jars import DEFAULT_KAFKA_VERSION, resolve_jars
from bgcut_stream.localproc import (
    HOST,
    LocalProcess,
    free_port,
    port_in_use,
    require_free_port,
    require_java,
)

# HOST, free_port and port_in_use moved to bgcut_stream.localproc; callers still import them here.
__all__ = ["HOST", "BrokerConfig", "LocalBroker", "default_cache_dir", "free_port", "port_in_use"]

_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data_dir}
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.segment.bytes=16777216
log.retention.check.interval.ms=60000
"""

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def default_cache_dir() -> Path:
    """Folder for downloaded jars (``BGCUT_CACHE_DIR``, else ``~/.cache/bgcut-stream``)."""
    env = os.environ.get("BGCUT_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "bgcut-stream"


@dataclass
class BrokerConfig:
    """Where the broker keeps its state and which ports it listens on (0 = pick a free one)."""

    state_dir: Path = field(default_factory=lambda: Path(".bgcut") / "kafka")
    port: int = 9092
    controller_port: int = 0
    cache_dir: Path = field(default_factory=default_cache_dir)
    version: str = DEFAULT_KAFKA_VERSION
    heap: str = "512m"
    startup_timeout_s: float = 90.0


class LocalBroker(LocalProcess):
    """A Kafka broker process whose pid, logs and data live in ``config.state_dir``."""

    name = "kafka"
    startup_error = StartupError

    def __init__(self, config: BrokerConfig) -> None:
        super().__init__(config.state_dir, "broker", address_file="bootstrap")
        self.config = config

    bootstrap_file = LocalProcess.address_file
    """File holding ``host:port`` of the running broker."""

    @property
    def ports_file(self) -> Path:
        """File holding the ports the data dir was formatted for."""
        return self.state_dir / "ports"

    def _previous_ports(self) -> tuple[int, int] | None:
        try:
            port, controller = self.ports_file.read_text().split()
            return int(port), int(controller)
        except (FileNotFoundError, ValueError):
            return None

    def bootstrap_servers(self) -> str | None:
        """``host:port`` of the running broker, or None when it is not running."""
        return self.address()

    def up(self) -> str:
        """Start the broker (if not running) and return its bootstrap servers once it answers."""
        running = self.bootstrap_servers()
        if running is not None:
            return running
        java = require_java(JavaMissingError, "set KAFKA_BOOTSTRAP_SERVERS to an existing cluster")
        previous = self._previous_ports()
        port = self.config.port or (previous[0] if previous else free_port())
        controller_port = self.config.controller_port or (previous[1] if previous else free_port())
        for taken in (port, controller_port):
            require_free_port(taken, PortInUseError)
        libs = resolve_jars(self.config.cache_dir, self.config.version)
        classpath = f"{libs}/*"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data_dir = self.state_dir / "data"
        props = self.state_dir / "server.properties"
        props.write_text(
            _SERVER_PROPERTIES.format(
                host=HOST, port=port, controller_port=controller_port, data_dir=data_dir
            )
        )
        log4j = self.state_dir / "log4j2.properties"
        log4j.write_text(_LOG4J2.format(log_file=self.log_file))
        # The formatted voter set names the controller port: other ports need fresh storage.
        if previous != (port, controller_port) and data_dir.exists():
            shutil.rmtree(data_dir)
        self.ports_file.write_text(f"{port} {controller_port}")
        if not (data_dir / "meta.properties").exists():
            self._format(java, classpath, props)
        bootstrap = f"{HOST}:{port}"
        proc = self._spawn(
            [
                java,
                f"-Xmx{self.config.heap}",
                f"-Xms{self.config.heap}",
                "-XX:+UseG1GC",
                "-XX:TieredStopAtLevel=1",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={log4j}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(props),
            ],
            address=bootstrap,
        )
        self._wait_ready(proc, bootstrap)
        return bootstrap

    def _format(self, java: str, classpath: str, props: Path) -> None:
        cluster_id = uuid.uuid4().hex[:22]
        cmd = [
            java,
            "-Xmx256m",
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(props),
            "--standalone",
            "--ignore-formatted",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if proc.returncode != 0:
            raise StartupError(f"kafka storage format failed: {proc.stderr.strip()[-300:]}")

    def _wait_ready(self, proc: subprocess.Popen[bytes], bootstrap: str) -> None:
        from confluent_kafka.admin import AdminClient  # noqa: PLC0415 - keeps CLI start-up light

        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})

        def answers() -> bool:
            try:
                meta = admin.list_topics(timeout=2)
            except Exception:  # noqa: BLE001 - any client error means "not ready yet"
                return False
            return bool(meta.brokers)

        self._wait_until_ready(
            proc, answers, self.config.startup_timeout_s, "did not answer a metadata request"
        )
