"""Run, probe and stop a single-node combined broker+controller Kafka on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bgcut_stream.kafka_local.exceptions import JavaMissingError, PortInUseError, StartupError
from bgcut_stream.kafka_local.jars import DEFAULT_KAFKA_VERSION, resolve_jars

HOST = "127.0.0.1"

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


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Tell whether something listens on ``port`` of 127.0.0.1 (TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


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


class LocalBroker:
    """A Kafka broker process whose pid, logs and data live in ``config.state_dir``."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.state_dir = config.state_dir.resolve()

    @property
    def pid_file(self) -> Path:
        """File holding the running broker's pid."""
        return self.state_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        """The broker's own log (log4j) plus its stdout/stderr."""
        return self.state_dir / "broker.log"

    @property
    def bootstrap_file(self) -> Path:
        """File holding ``host:port`` of the running broker."""
        return self.state_dir / "bootstrap"

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
        if self.pid() is None or not self.bootstrap_file.exists():
            return None
        return self.bootstrap_file.read_text().strip()

    def pid(self) -> int | None:
        """Pid of the running broker, or None (a stale pid file is ignored)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def up(self) -> str:
        """Start the broker (if not running) and return its bootstrap servers once it answers."""
        running = self.bootstrap_servers()
        if running is not None:
            return running
        java = shutil.which("java")
        if java is None:
            raise JavaMissingError(
                "java not found on PATH: install a Java 17+ runtime (e.g. apt-get install "
                "openjdk-17-jre-headless) or set KAFKA_BOOTSTRAP_SERVERS to an existing cluster"
            )
        previous = self._previous_ports()
        port = self.config.port or (previous[0] if previous else free_port())
        controller_port = self.config.controller_port or (previous[1] if previous else free_port())
        for taken in (port, controller_port):
            if port_in_use(taken):
                raise PortInUseError(
                    f"port {taken} on {HOST} is already in use: stop the process holding it "
                    "or choose another with --port"
                )
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
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
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
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        bootstrap = f"{HOST}:{port}"
        self.bootstrap_file.write_text(bootstrap)
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
        deadline = time.monotonic() + self.config.startup_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._cleanup_pid()
                raise StartupError(
                    f"kafka exited with code {proc.returncode} during start-up; "
                    f"last log lines: {self.last_log_lines()}"
                )
            try:
                meta = admin.list_topics(timeout=2)
            except Exception:  # noqa: BLE001 - any client error means "not ready yet"
                time.sleep(0.3)
                continue
            if meta.brokers:
                return
        self.down()
        raise StartupError(
            f"kafka did not answer a metadata request within {self.config.startup_timeout_s:.0f}s; "
            f"last log lines: {self.last_log_lines()}"
        )

    def last_log_lines(self, count: int = 8) -> str:
        """The broker log's last lines joined on one line, for error messages."""
        if not self.log_file.exists():
            return "(no log)"
        lines = self.log_file.read_text(errors="replace").strip().splitlines()[-count:]
        return " | ".join(line.strip() for line in lines)

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker: SIGTERM, wait, then SIGKILL. Return whether one was running."""
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
        self.bootstrap_file.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Tell whether ``pid`` still runs; reaps it when it is our zombie child."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
