"""structlog configuration: JSON lines (or console) with job context bound per task.

Standard-library loggers (httpx, botocore, uvicorn) and librdkafka's log lines go through the
same renderer, so a JSON log stream stays JSON; librdkafka's repeats are counted, not flooded
(see ``kafka_logs``).
"""

from __future__ import annotations

import logging
import sys

import structlog

from bgcut_stream.observability import kafka_logs

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(level: str) -> int:
    """The numeric level of a level name; ValueError naming the valid ones otherwise."""
    name = level.strip().upper()
    if name not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
    return int(logging.getLevelName(name))


def configure(level: str = "INFO", json: bool = True) -> kafka_logs.KafkaLogHandler:
    """Route structlog, stdlib logging and librdkafka to stderr at ``level``."""
    numeric = log_level(level)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            timestamper,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[
                structlog.processors.add_log_level,
                structlog.stdlib.add_logger_name,
                timestamper,
                structlog.processors.format_exc_info,
            ],
        )
    )
    handler.set_name("bgcut")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "bgcut"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return kafka_logs.install(numeric)
