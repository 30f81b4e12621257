"""``bgcut-stream run``: the stream service.

Misconfiguration ends in one JSON log line (``startup_failed``) naming the setting to fix and a
non-zero exit: 2 for bad settings (values never echoed: they may hold credentials), 3 when the
brokers cannot be reached or refuse the client's settings, 1 for a failure while running.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any, NoReturn

import structlog
import typer
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from pydantic import ValidationError

from bgcut_stream.client.settings import ClientSettings
from bgcut_stream.events.exceptions import RegistryConfigError, RegistryUnavailableError
from bgcut_stream.observability.logging import configure
from bgcut_stream.stream.service import StreamService, settle_heap
from bgcut_stream.stream.settings import StreamSettings
from bgcut_stream.stream.topics import ensure_topics

log = structlog.get_logger("bgcut_stream.run")
CONFIG_ERROR = 2
KAFKA_ERROR = 3


async def serve(service: StreamService) -> None:
    """Run until SIGTERM or SIGINT, then drain and exit."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    settle_heap()
    await service.run(stop)


def _env_name(model: type[Any], loc: tuple[int | str, ...]) -> str:
    prefix = model.model_config.get("env_prefix", "")
    field = str(loc[0]) if loc else ""
    return f"{prefix}{field}".upper() if field else model.__name__


def describe(exc: ValidationError, model: type[Any]) -> str:
    """Which settings are wrong and why, without their values."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{_env_name(model, error['loc'])}: {message}")
    return "; ".join(parts)


def _fail(code: int, error: str, **context: Any) -> NoReturn:
    log.error("startup_failed", error=error, exit_code=code, **context)
    raise typer.Exit(code)


def _redact(text: str, config: dict[str, Any]) -> str:
    for key, value in config.items():
        if (
            isinstance(value, str)
            and len(value) >= 3
            and any(word in key for word in ("password", "secret", "key", "token", "user.info"))
        ):
            text = text.replace(value, "***")
    return text


def check_kafka(settings: StreamSettings) -> None:
    """Reach the brokers with the service's own client settings, or fail in one line."""
    config = settings.kafka()
    servers = settings.kafka_bootstrap_servers
    try:
        admin = AdminClient(config)
    except (KafkaException, ValueError, TypeError) as exc:
        detail = exc.args[0].str() if isinstance(exc.args[0], KafkaError) else str(exc)
        _fail(
            CONFIG_ERROR,
            f"Kafka client settings rejected: {_redact(detail, config)}; "
            "fix BGCUT_KAFKA_CONFIG (librdkafka property names: "
            "https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md)",
        )
    try:
        admin.list_topics(timeout=settings.kafka_startup_timeout_s)
    except KafkaException as exc:
        admin.poll(0)  # serve librdkafka's queued log lines (counted, not flooded)
        error = exc.args[0]
        reason = error.str() if isinstance(error, KafkaError) else str(exc)
        _fail(
            KAFKA_ERROR,
            f"cannot reach Kafka at {servers} within {settings.kafka_startup_timeout_s:g}s "
            f"({_redact(reason, config)}); check BGCUT_KAFKA_BOOTSTRAP_SERVERS, the network "
            "policy, and BGCUT_KAFKA_CONFIG security.protocol/sasl.* for this cluster",
        )
    admin.poll(0)


def load_settings() -> tuple[StreamSettings, ClientSettings]:
    """Both settings objects, or a one-line error naming the bad variables."""
    try:
        settings = StreamSettings()
    except ValidationError as exc:
        _fail(CONFIG_ERROR, describe(exc, StreamSettings))
    try:
        client = ClientSettings()
    except ValidationError as exc:
        _fail(CONFIG_ERROR, describe(exc, ClientSettings))
    return settings, client


def run(
    create_topics: bool = typer.Option(False, help="Create missing topics first (dev, demo)."),
) -> None:
    """Consume ImageJobs and publish ImageResults. Configured by BGCUT_* and BGCUT_API_* vars."""
    json_logs = os.environ.get("BGCUT_LOG_JSON", "true").strip().lower() not in {"0", "false"}
    configure("INFO", json_logs)  # until the settings say otherwise: errors below are JSON too
    settings, client = load_settings()
    kafka_logs = configure(settings.log_level, settings.log_json)
    try:
        check_kafka(settings)
        if create_topics:
            ensure_topics(settings)
        asyncio.run(serve(StreamService(settings, client)))
    except typer.Exit:
        raise
    except RegistryConfigError as exc:
        _fail(CONFIG_ERROR, str(exc))
    except (KafkaException, TimeoutError, RegistryUnavailableError) as exc:
        log.error(  # noqa: TRY400 - a known failure: one line, no traceback
            "service_failed", error=_redact(str(exc), settings.kafka()), exit_code=1
        )
        raise typer.Exit(1) from None
    except Exception as exc:  # a bug: one JSON event with its traceback, never a raw one
        log.exception("service_failed", error=_redact(repr(exc), settings.kafka()), exit_code=1)
        raise typer.Exit(1) from None
    finally:
        kafka_logs.flush()  # the last count of each repeated librdkafka message
