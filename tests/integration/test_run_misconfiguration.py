"""`bgcut-stream run` misconfigured: one actionable JSON line, a non-zero exit, no secret echoed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bgcut_stream.localstack import free_port

pytestmark = pytest.mark.integration
SECRET = "hunter2-very-secret"


def run_service(env: dict[str, str], cwd: Path) -> tuple[int, list[dict[str, object]]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BGCUT_", "KAFKA_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "bgcut_stream", "run"],
        env={**base, "BGCUT_METRICS_PORT": str(free_port()), **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )
    assert SECRET not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    lines = [json.loads(line) for line in proc.stderr.splitlines()]  # every line is JSON
    return proc.returncode, lines


def failure(lines: list[dict[str, object]]) -> str:
    (failed,) = [line for line in lines if line["event"] == "startup_failed"]
    assert failed["level"] == "error"
    return str(failed["error"])


@pytest.mark.parametrize(
    ("env", "code", "expected"),
    [
        (
            {"BGCUT_KAFKA_CONFIG": '{"sasl.password": "' + SECRET + '", oops'},
            2,
            "BGCUT_KAFKA_CONFIG: Expecting property name",
        ),
        (
            {"BGCUT_KAFKA_CONFIG": '["' + SECRET + '"]'},
            2,
            "BGCUT_KAFKA_CONFIG must be a JSON object",
        ),
        (
            {"BGCUT_KAFKA_CONFIG": '{"sasl.pasword": "' + SECRET + '"}'},
            2,
            'No such configuration property: "sasl.pasword"',
        ),
        (
            {"BGCUT_LOG_LEVEL": "verbose"},
            2,
            "BGCUT_LOG_LEVEL: log level must be one of DEBUG, INFO",
        ),
        (
            {"BGCUT_API_API_KEY_FILE": "/nonexistent/api-key"},
            2,
            "BGCUT_API_API_KEY_FILE /nonexistent/api-key: No such file",
        ),
    ],
    ids=[
        "bad-json",
        "not-an-object",
        "unknown-librdkafka-key",
        "bad-log-level",
        "missing-key-file",
    ],
)
def test_bad_settings_fail_in_one_line(
    env: dict[str, str], code: int, expected: str, tmp_path: Path
) -> None:
    """Each bad setting gives exactly one error line naming the variable, and exit code 2."""
    returncode, lines = run_service(env, tmp_path)
    assert returncode == code
    assert expected in failure(lines)
    assert len(lines) == 1


def test_unreachable_brokers_fail_in_one_line_with_counted_client_logs(tmp_path: Path) -> None:
    """No broker: librdkafka's repeated FAIL lines are counted JSON events, one error, exit 3."""
    returncode, lines = run_service(
        {
            "BGCUT_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "BGCUT_KAFKA_STARTUP_TIMEOUT_S": "2",
            "BGCUT_KAFKA_SASL_USERNAME": "svc",
            "BGCUT_KAFKA_SASL_PASSWORD": SECRET,
            "BGCUT_KAFKA_CONFIG": json.dumps(
                {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN"}
            ),
        },
        tmp_path,
    )
    assert returncode == 3
    assert "cannot reach Kafka at 127.0.0.1:" in failure(lines)
    client = [line for line in lines if line["event"] == "kafka_client"]
    messages = [str(line["message"]) for line in client]
    assert client, "librdkafka's connection errors should be logged"
    assert len(messages) <= 2 * len(set(messages))  # first occurrence + one counted repeat each
    assert max(int(str(line["count"])) for line in client) > 1  # the repeats were counted
