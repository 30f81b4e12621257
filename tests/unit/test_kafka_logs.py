"""librdkafka log lines become deduplicated structlog events with counts."""

from __future__ import annotations

import logging

import pytest
import structlog

from bgcut_stream.observability.kafka_logs import KafkaLogHandler, normalize
from tests.support.clock import Clock


def fail_line(ms: int) -> logging.LogRecord:
    message = (
        "b:9092/bootstrap: Connect to ipv4#10.0.0.1:9092 failed: refused "
        f"(after {ms}ms in state CONNECT)"
    )
    return logging.LogRecord(
        "librdkafka",
        logging.ERROR,
        __file__,
        1,
        "%s [%s] %s",
        ("FAIL", "rdkafka#consumer-1", message),
        None,
    )


def test_repeats_are_counted_not_flooded() -> None:
    """Many repeats of one error give one event at once and one counted event per interval."""
    clock = Clock(0.0)
    handler = KafkaLogHandler(repeat_interval_s=60, clock=clock)
    with structlog.testing.capture_logs() as events:
        for ms in range(500):
            handler.emit(fail_line(ms))
        clock.now = 61
        handler.emit(fail_line(1))
        handler.emit(fail_line(2))
        handler.flush()
    assert [e["count"] for e in events] == [1, 501, 502]
    assert {e["facility"] for e in events} == {"FAIL"}
    assert {e["log_level"] for e in events} == {"error"}
    assert "after" not in events[0]["message"]


def test_distinct_errors_each_get_an_event() -> None:
    """A different message is reported at once even while another one is being suppressed."""
    handler = KafkaLogHandler(clock=Clock(0.0))
    other = logging.LogRecord(
        "librdkafka", logging.WARNING, __file__, 1, "%s [%s] %s", ("SASL", "c", "auth failed"), None
    )
    with structlog.testing.capture_logs() as events:
        handler.emit(fail_line(0))
        handler.emit(fail_line(3))
        handler.emit(other)
    assert [(e["facility"], e["count"]) for e in events] == [("FAIL", 1), ("SASL", 1)]
    assert handler.counts() == {
        normalize(fail_line(0).args[2]).join(["FAIL ", ""]): 2,
        "SASL auth failed": 1,
    }


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("x failed (after 0ms in state CONNECT)", "x failed"),
        ("x failed (after 12ms in state UP, 4 identical error(s) suppressed)", "x failed"),
        ("1/1 brokers are down", "1/1 brokers are down"),
    ],
)
def test_normalize(raw: str, clean: str) -> None:
    """Timing suffixes that vary between repeats are dropped from the dedup key."""
    assert normalize(raw) == clean
