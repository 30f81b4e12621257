"""``observability.slots``: slots held now and slot-seconds held, exact at every read."""

from __future__ import annotations

from bgcut_stream.observability.metrics import StreamMetrics
from bgcut_stream.observability.slots import SlotMeter
from tests.support.clock import Clock


def test_slot_seconds_are_the_integral_of_the_slots_held() -> None:
    """Two jobs overlapping: 1 s alone, 2 s together, 1 s alone again, then 1 s idle."""
    clock = Clock()
    meter = SlotMeter(clock)
    meter.acquired()
    clock.now += 1
    meter.acquired()
    clock.now += 2
    meter.released()
    clock.now += 1
    assert meter.read() == (1, 1 + 2 * 2 + 1)
    meter.released()
    clock.now += 1
    assert meter.read() == (0, 6)


def test_a_job_still_running_counts_up_to_the_read() -> None:
    """A long job's time is in the counter at every scrape, not only when it ends."""
    clock = Clock()
    meter = SlotMeter(clock)
    meter.acquired()
    clock.now += 30
    assert meter.read() == (1, 30)
    clock.now += 30
    assert meter.read() == (1, 60)


def test_the_service_registry_exports_the_three_families() -> None:
    metrics = StreamMetrics()
    metrics.slots.limit = 16
    metrics.slots.acquired()
    registry = metrics.registry
    assert registry.get_sample_value("bgcut_jobs_in_flight") == 1
    assert registry.get_sample_value("bgcut_jobs_in_flight_limit") == 16
    busy = registry.get_sample_value("bgcut_slot_busy_seconds_total")
    assert busy is not None
    assert busy >= 0
