"""How busy the service keeps its API slots: a gauge of the slots held and their integral.

``bgcut_jobs_in_flight`` is how many jobs hold one of the ``BGCUT_MAX_IN_FLIGHT`` slots at the
scrape; ``bgcut_slot_busy_seconds_total`` is the slot-seconds held so far, exact at every scrape
(each job's time in a slot, including the time of jobs still running). So
``rate(bgcut_slot_busy_seconds_total[5m]) / bgcut_jobs_in_flight_limit`` is the share of the
in-flight cap that was busy over those 5 minutes, which a gauge sampled every 15-30 s cannot
tell: lag rising while it is near 1 means capacity (scale out, or raise the cap if the API
allows); lag rising while it is well below 1 means records wait for something else (a partition
cap, key ordering, the event loop).

Written from the event loop only; the ``/metrics`` thread reads one tuple, a consistent snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


class SlotMeter:
    """Slots held now, and slot-seconds held since start; a prometheus-client collector."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = 0  # the in-flight cap, set by whoever owns the slots
        self._clock = clock
        self._state: tuple[int, float, float] = (0, 0.0, clock())  # (held, seconds, as of)

    def _move(self, delta: int) -> None:
        held, seconds, since = self._state
        now = self._clock()
        self._state = (held + delta, seconds + held * (now - since), now)

    def acquired(self) -> None:
        """A job took a slot."""
        self._move(1)

    def released(self) -> None:
        """A job gave its slot back."""
        self._move(-1)

    def read(self) -> tuple[int, float]:
        """(slots held now, slot-seconds held until now)."""
        held, seconds, since = self._state
        return held, seconds + held * (self._clock() - since)

    def collect(self) -> Iterator[Metric]:
        """The three families, read at once."""
        held, seconds = self.read()
        yield GaugeMetricFamily("bgcut_jobs_in_flight", "Jobs holding an API slot now.", value=held)
        yield GaugeMetricFamily(
            "bgcut_jobs_in_flight_limit",
            "API slots (BGCUT_MAX_IN_FLIGHT): the most jobs that call the API at once.",
            value=self.limit,
        )
        yield CounterMetricFamily(
            "bgcut_slot_busy_seconds",
            "Slot-seconds held by jobs (the integral of bgcut_jobs_in_flight over time).",
            value=seconds,
        )

    def describe(self) -> Iterator[Metric]:
        """The same families (the registry checks their names once, at registration)."""
        return self.collect()
