"""The project's local Schema Registry CLI: up, status, down, and its failure paths."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from bgcut_stream.kafka_local.broker import HOST, free_port
from tests.support.cli import run_cli

pytestmark = pytest.mark.integration


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("registry", *args, env=env, timeout=300)


def test_up_status_down_with_basic_auth(tmp_path: Path) -> None:
    """`registry up --basic-auth` serves the Confluent API only to the secret's credentials."""
    state = str(tmp_path / "registry")
    port = free_port()
    env = {**os.environ, "BGCUT_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "cli-user:cli pass"}
    up = _cli("up", "--state-dir", state, "--port", str(port), "--basic-auth", env=env)
    try:
        assert up.returncode == 0, up.stderr
        url = up.stdout.strip()
        assert url == f"http://{HOST}:{port}/apis/ccompat/v7"
        assert _cli("status", "--state-dir", state).stdout.strip() == url
        assert httpx.get(f"{url}/subjects", auth=("cli-user", "cli pass")).status_code == 200
        assert httpx.get(f"{url}/subjects", auth=("cli-user", "wrong")).status_code == 401
        assert "cli pass" not in (tmp_path / "registry" / "registry.log").read_text()
    finally:
        down = _cli("down", "--state-dir", state)
    assert down.stdout.strip() == "stopped"
    status = _cli("status", "--state-dir", state)
    assert (status.returncode, status.stdout.strip()) == (1, "not running")


def test_up_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    """A port someone else holds: exit 2 and one actionable line, no traceback."""
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _cli("up", "--state-dir", str(tmp_path / "r"), "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: port {port} on {HOST} is already in use: stop the process holding it "
        "or choose another with --port"
    )


def test_basic_auth_without_the_secret_is_refused(tmp_path: Path) -> None:
    """--basic-auth with no credentials in the environment: exit 2, names the variable."""
    env = {k: v for k, v in os.environ.items() if "BASIC_AUTH" not in k}
    result = _cli("up", "--state-dir", str(tmp_path / "r"), "--basic-auth", env=env)
    assert result.returncode == 2
    assert "BGCUT_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO=USER:PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr
