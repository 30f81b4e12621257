"""Local java servers on 127.0.0.1: ports, java lookup, and the process base class."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

HOST = "127.0.0.1"


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


def require_free_port(port: int, error: type[Exception]) -> None:
    """Raise ``error`` with what to do when something listens on ``port`` of 127.0.0.1."""
    if port_in_use(port):
        raise error(
            f"port {port} on {HOST} is already in use: stop the process holding it "
            "or choose another with --port"
        )


def require_java(error: type[Exception], instead: str) -> str:
    """Path of ``java``; raises ``error`` saying to install Java 17+ or else ``instead``."""
    java = shutil.which("java")
    if java is None:
        raise error(
            "java not found on PATH: install a Java 17+ runtime (e.g. apt-get install "
            f"openjdk-17-jre-headless) or {instead}"
        )
    return java


def alive(pid: int) -> bool:
    """Tell whether ``pid`` still runs; reaps it when it is our zombie child."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as another user
    return True


class LocalProcess:
    """Base of a local server process: start, readiness wait, pid, log tail and stop.

    Its pid and log files are ``<stem>.pid`` and ``<stem>.log`` in ``state_dir``, next to the
    file holding the address it serves at. Subclasses set ``name`` (how error messages call the
    process) and ``startup_error`` (raised when start-up fails).
    """

    name: ClassVar[str]
    startup_error: ClassVar[type[Exception]]

    def __init__(self, state_dir: Path, stem: str, address_file: str) -> None:
        self.state_dir = state_dir.resolve()
        self._stem = stem
        self._address_file = address_file

    @property
    def pid_file(self) -> Path:
        """File holding the running process's pid."""
        return self.state_dir / f"{self._stem}.pid"

    @property
    def log_file(self) -> Path:
        """File receiving the process's stdout and stderr (and its own log, if it writes one)."""
        return self.state_dir / f"{self._stem}.log"

    @property
    def address_file(self) -> Path:
        """File holding the address the running process serves at."""
        return self.state_dir / self._address_file

    def address(self) -> str | None:
        """The address the running process serves at, or None when it is not running."""
        if self.pid() is None or not self.address_file.exists():
            return None
        return self.address_file.read_text().strip()

    def pid(self) -> int | None:
        """Pid of the running process, or None (a stale pid file is ignored)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if alive(pid) else None

    def last_log_lines(self, count: int = 8) -> str:
        """The log's last lines joined on one line, for error messages."""
        if not self.log_file.exists():
            return "(no log)"
        lines = self.log_file.read_text(errors="replace").strip().splitlines()[-count:]
        return " | ".join(line.strip() for line in lines)

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop the process: SIGTERM, wait, then SIGKILL. Return whether one was running."""
        pid = self.pid()
        if pid is None:
            self._cleanup_pid()
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.1)
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            while alive(pid):
                time.sleep(0.05)
        self._cleanup_pid()
        return True

    def _spawn(
        self, argv: Sequence[str], address: str, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in a new session, output appended to the log; write pid and address."""
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        self.address_file.write_text(address)
        return proc

    def _wait_until_ready(
        self,
        proc: subprocess.Popen[bytes],
        probe: Callable[[], bool],
        timeout_s: float,
        not_ready: str,
    ) -> None:
        """Poll ``probe`` until it says ready; stop and raise ``startup_error`` on exit or timeout.

        ``not_ready`` completes the timeout message ``<name> <not_ready> within <N>s``.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._cleanup_pid()
                raise self.startup_error(
                    f"{self.name} exited with code {proc.returncode} during start-up; "
                    f"last log lines: {self.last_log_lines()}"
                )
            if probe():
                return
            time.sleep(0.3)
        self.down()
        raise self.startup_error(
            f"{self.name} {not_ready} within {timeout_s:.0f}s; "
            f"last log lines: {self.last_log_lines()}"
        )

    def _cleanup_pid(self) -> None:
        self.pid_file.unlink(missing_ok=True)
        self.address_file.unlink(missing_ok=True)
